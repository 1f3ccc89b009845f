//! The transport headers a [`FrameRepr`](crate::FrameRepr) can carry.

use super::Icmpv6Repr;
use crate::TcpFlags;
use crate::checksum;
use crate::error::BuildError;
use crate::layout::put;
use crate::wire::{icmp, ip_proto, tcp, udp};

/// What follows the IP header, before the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportRepr<'a> {
    /// A TCP header.
    Tcp(TcpRepr<'a>),
    /// A UDP header.
    Udp(UdpRepr),
    /// An ICMP header (IPv4 only).
    Icmp(IcmpRepr),
    /// An ICMPv6 header (IPv6 only).
    Icmpv6(Icmpv6Repr),
    /// No header: the payload follows the IP header as it is, under
    /// this protocol number. For non-first fragments, a first fragment
    /// whose transport header the caller wrote, IPv6 extension headers,
    /// or other protocols.
    Raw {
        /// The IPv4 protocol number (IPv6: next header).
        protocol: u8,
    },
}

/// A TCP header. Data offset and checksum are derived; the urgent pointer
/// is 0.
///
/// The checksum covers the payload given, so a segment split over IPv4
/// fragments is built with [`TransportRepr::Raw`] instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful with [`TcpFlags::ACK`]).
    pub ack: u32,
    /// Control flags.
    pub flags: TcpFlags,
    /// Receive window.
    pub window: u16,
    /// Options as they go on the wire, padded by the caller: a multiple of
    /// 4 bytes, at most 40.
    pub options: &'a [u8],
}

/// A UDP header. Length and checksum are derived; a checksum that comes
/// out 0 is sent as 0xffff, since 0 means "none".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

/// An ICMPv4 header; the checksum is derived.
///
/// For an error, the payload is the quote: the offending packet's IPv4
/// header and at least the first 8 bytes of its data (RFC 792), for
/// instance a prefix of [`Frame::ipv4_packet`](crate::Frame::ipv4_packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IcmpRepr {
    /// Echo request (type 8).
    EchoRequest {
        /// Identifier.
        id: u16,
        /// Sequence number.
        seq: u16,
    },
    /// Echo reply (type 0).
    EchoReply {
        /// Identifier.
        id: u16,
        /// Sequence number.
        seq: u16,
    },
    /// Destination unreachable (type 3): code 0 net, 1 host, 2 protocol,
    /// 3 port, ... (RFC 792, RFC 1812).
    DestUnreachable {
        /// ICMP code.
        code: u8,
    },
    /// Destination unreachable, fragmentation needed and DF set (type 3
    /// code 4), with the MTU of the next hop (RFC 1191).
    FragmentationNeeded {
        /// The largest packet the next hop takes.
        next_hop_mtu: u16,
    },
    /// Time exceeded (type 11): code 0 TTL in transit, 1 reassembly.
    TimeExceeded {
        /// ICMP code.
        code: u8,
    },
}

impl<'a> TcpRepr<'a> {
    /// A segment with these ports and flags: sequence and acknowledgment
    /// numbers 0, window 65535, no options.
    pub const fn new(src_port: u16, dst_port: u16, flags: TcpFlags) -> Self {
        TcpRepr {
            src_port,
            dst_port,
            seq: 0,
            ack: 0,
            flags,
            window: u16::MAX,
            options: &[],
        }
    }
}

impl UdpRepr {
    /// A datagram header with these ports.
    pub const fn new(src_port: u16, dst_port: u16) -> Self {
        UdpRepr { src_port, dst_port }
    }
}

impl<'a> From<TcpRepr<'a>> for TransportRepr<'a> {
    fn from(tcp: TcpRepr<'a>) -> Self {
        TransportRepr::Tcp(tcp)
    }
}

impl From<UdpRepr> for TransportRepr<'_> {
    fn from(udp: UdpRepr) -> Self {
        TransportRepr::Udp(udp)
    }
}

impl From<IcmpRepr> for TransportRepr<'_> {
    fn from(icmp: IcmpRepr) -> Self {
        TransportRepr::Icmp(icmp)
    }
}

impl From<Icmpv6Repr> for TransportRepr<'_> {
    fn from(icmp: Icmpv6Repr) -> Self {
        TransportRepr::Icmpv6(icmp)
    }
}

impl IcmpRepr {
    /// Writes the header but its checksum into `header` (zeroed).
    fn emit(self, header: &mut [u8]) {
        let echo = |header: &mut [u8], id: u16, seq: u16| {
            put(header, icmp::ID, id.to_be_bytes());
            put(header, icmp::SEQ, seq.to_be_bytes());
        };
        let (icmp_type, code) = match self {
            IcmpRepr::EchoRequest { id, seq } => {
                echo(header, id, seq);
                (icmp::ECHO_REQUEST, 0)
            }
            IcmpRepr::EchoReply { id, seq } => {
                echo(header, id, seq);
                (icmp::ECHO_REPLY, 0)
            }
            IcmpRepr::DestUnreachable { code } => (icmp::DEST_UNREACHABLE, code),
            IcmpRepr::FragmentationNeeded { next_hop_mtu } => {
                put(header, icmp::NEXT_HOP_MTU, next_hop_mtu.to_be_bytes());
                (icmp::DEST_UNREACHABLE, icmp::FRAGMENTATION_NEEDED)
            }
            IcmpRepr::TimeExceeded { code } => (icmp::TIME_EXCEEDED, code),
        };
        header[icmp::TYPE] = icmp_type;
        header[icmp::CODE] = code;
    }
}

impl TransportRepr<'_> {
    /// The IPv4 protocol number (IPv6: next header).
    pub(crate) fn protocol(&self) -> u8 {
        match self {
            TransportRepr::Tcp(_) => ip_proto::TCP,
            TransportRepr::Udp(_) => ip_proto::UDP,
            TransportRepr::Icmp(_) => ip_proto::ICMP,
            TransportRepr::Icmpv6(_) => ip_proto::ICMPV6,
            TransportRepr::Raw { protocol } => *protocol,
        }
    }

    pub(crate) fn header_len(&self) -> Result<usize, BuildError> {
        Ok(match self {
            TransportRepr::Tcp(tcp) => {
                let options = tcp.options.len();
                if options % 4 != 0 || options > tcp::MAX_OPTIONS_LEN {
                    return Err(BuildError::BadTcpOptions(options));
                }
                tcp::MIN_HEADER_LEN + options
            }
            TransportRepr::Udp(_) => udp::HEADER_LEN,
            TransportRepr::Icmp(_) => icmp::HEADER_LEN,
            TransportRepr::Icmpv6(repr) => repr.header_len(),
            TransportRepr::Raw { .. } => 0,
        })
    }

    /// Writes the header and its checksum into `segment`: zeroed up to the
    /// payload, which is in place. `addrs` are the IP source and
    /// destination, for the pseudo-header.
    pub(crate) fn emit(&self, segment: &mut [u8], addrs: &[u8]) {
        // At most 65535: the IP length was checked.
        let segment_len = segment.len() as u16;
        let pseudo = checksum::pseudo_header(addrs, self.protocol(), u32::from(segment_len));
        match self {
            TransportRepr::Tcp(repr) => {
                put(segment, tcp::SRC_PORT, repr.src_port.to_be_bytes());
                put(segment, tcp::DST_PORT, repr.dst_port.to_be_bytes());
                put(segment, tcp::SEQ, repr.seq.to_be_bytes());
                put(segment, tcp::ACK, repr.ack.to_be_bytes());
                // At most 60 bytes: 15 words, in the high nibble.
                let words = (tcp::MIN_HEADER_LEN + repr.options.len()) / 4;
                segment[tcp::DATA_OFFSET] = (words as u8) << 4;
                segment[tcp::FLAGS] = repr.flags.bits();
                put(segment, tcp::WINDOW, repr.window.to_be_bytes());
                segment[tcp::OPTIONS..tcp::OPTIONS + repr.options.len()]
                    .copy_from_slice(repr.options);
                let sum = checksum::finish(pseudo + checksum::sum(segment));
                put(segment, tcp::CHECKSUM, sum.to_be_bytes());
            }
            TransportRepr::Udp(repr) => {
                put(segment, udp::SRC_PORT, repr.src_port.to_be_bytes());
                put(segment, udp::DST_PORT, repr.dst_port.to_be_bytes());
                put(segment, udp::LENGTH, segment_len.to_be_bytes());
                let sum = checksum::finish(pseudo + checksum::sum(segment));
                put(
                    segment,
                    udp::CHECKSUM,
                    checksum::udp_on_wire(sum).to_be_bytes(),
                );
            }
            TransportRepr::Icmp(repr) => {
                repr.emit(segment);
                // ICMP has no pseudo-header.
                let sum = checksum::finish(checksum::sum(segment));
                put(segment, icmp::CHECKSUM, sum.to_be_bytes());
            }
            TransportRepr::Icmpv6(repr) => {
                repr.emit(segment);
                let sum = checksum::finish(pseudo + checksum::sum(segment));
                put(segment, icmp::CHECKSUM, sum.to_be_bytes());
            }
            TransportRepr::Raw { .. } => {}
        }
    }
}
