//! ICMPv6 messages a [`FrameRepr`](crate::FrameRepr) can carry over IPv6.

use std::net::Ipv6Addr;

use crate::MacAddr;
use crate::layout::put;
use crate::wire::{icmp, icmpv6, ndp};

/// An ICMPv6 message (RFC 4443, RFC 4861); the checksum is derived.
///
/// For an error, the payload is the quote: as much of the offending packet
/// as fits in the minimum IPv6 MTU of 1280 bytes, for instance a prefix of
/// [`Frame::ip_packet`](crate::Frame::ip_packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Icmpv6Repr {
    /// Echo request (type 128).
    EchoRequest {
        /// Identifier.
        id: u16,
        /// Sequence number.
        seq: u16,
    },
    /// Echo reply (type 129).
    EchoReply {
        /// Identifier.
        id: u16,
        /// Sequence number.
        seq: u16,
    },
    /// Destination unreachable (type 1): code 0 no route, 1 prohibited,
    /// 3 address, 4 port, ...
    DestUnreachable {
        /// ICMPv6 code.
        code: u8,
    },
    /// Packet too big (type 2), with the MTU of the next hop (RFC 8201).
    PacketTooBig {
        /// The largest packet the next hop takes.
        mtu: u32,
    },
    /// Time exceeded (type 3): code 0 hop limit in transit, 1 reassembly.
    TimeExceeded {
        /// ICMPv6 code.
        code: u8,
    },
    /// Neighbor solicitation (type 135): who has `target`? Send with hop
    /// limit 255.
    NeighborSolicitation {
        /// The address asked about.
        target: Ipv6Addr,
        /// The asker's MAC, as a source link-layer address option (required
        /// when the solicitation is multicast).
        source_mac: Option<MacAddr>,
    },
    /// Neighbor advertisement (type 136): `target` is at `target_mac`.
    /// Send with hop limit 255.
    NeighborAdvertisement {
        /// The address told about.
        target: Ipv6Addr,
        /// The R flag: the sender is a router.
        router: bool,
        /// The S flag: an answer to a solicitation.
        solicited: bool,
        /// The O flag: replace a cached link-layer address.
        overrides: bool,
        /// The MAC, as a target link-layer address option.
        target_mac: Option<MacAddr>,
    },
}

impl Icmpv6Repr {
    /// Length of the message header (NDP options included).
    pub(super) fn header_len(&self) -> usize {
        let mac_option = |mac: &Option<MacAddr>| mac.map_or(0, |_| ndp::MAC_OPTION_LEN);
        match self {
            Icmpv6Repr::NeighborSolicitation { source_mac, .. } => {
                ndp::OPTIONS + mac_option(source_mac)
            }
            Icmpv6Repr::NeighborAdvertisement { target_mac, .. } => {
                ndp::OPTIONS + mac_option(target_mac)
            }
            _ => icmp::HEADER_LEN,
        }
    }

    /// Writes the header but its checksum into `header` (zeroed).
    pub(super) fn emit(self, header: &mut [u8]) {
        let echo = |header: &mut [u8], id: u16, seq: u16| {
            put(header, icmp::ID, id.to_be_bytes());
            put(header, icmp::SEQ, seq.to_be_bytes());
        };
        let mac_option = |header: &mut [u8], kind: u8, mac: Option<MacAddr>| {
            if let Some(mac) = mac {
                header[ndp::OPTIONS] = kind;
                header[ndp::OPTIONS + 1] = 1;
                put(header, ndp::OPTIONS + 2, mac.0);
            }
        };
        let (icmp_type, code) = match self {
            Icmpv6Repr::EchoRequest { id, seq } => {
                echo(header, id, seq);
                (icmpv6::ECHO_REQUEST, 0)
            }
            Icmpv6Repr::EchoReply { id, seq } => {
                echo(header, id, seq);
                (icmpv6::ECHO_REPLY, 0)
            }
            Icmpv6Repr::DestUnreachable { code } => (icmpv6::DEST_UNREACHABLE, code),
            Icmpv6Repr::PacketTooBig { mtu } => {
                put(header, icmpv6::MTU, mtu.to_be_bytes());
                (icmpv6::PACKET_TOO_BIG, 0)
            }
            Icmpv6Repr::TimeExceeded { code } => (icmpv6::TIME_EXCEEDED, code),
            Icmpv6Repr::NeighborSolicitation { target, source_mac } => {
                put(header, ndp::TARGET, target.octets());
                mac_option(header, ndp::OPTION_SOURCE_MAC, source_mac);
                (icmpv6::NEIGHBOR_SOLICITATION, 0)
            }
            Icmpv6Repr::NeighborAdvertisement {
                target,
                router,
                solicited,
                overrides,
                target_mac,
            } => {
                let flag = |set: bool, bit: u8| if set { bit } else { 0 };
                header[ndp::FLAGS] = flag(router, ndp::ROUTER)
                    | flag(solicited, ndp::SOLICITED)
                    | flag(overrides, ndp::OVERRIDE);
                put(header, ndp::TARGET, target.octets());
                mac_option(header, ndp::OPTION_TARGET_MAC, target_mac);
                (icmpv6::NEIGHBOR_ADVERTISEMENT, 0)
            }
        };
        header[icmp::TYPE] = icmp_type;
        header[icmp::CODE] = code;
    }
}
