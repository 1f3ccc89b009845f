//! The network headers a [`FrameRepr`](crate::FrameRepr) can carry: ARP,
//! IPv4 and IPv6.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::checksum;
use crate::error::BuildError;
use crate::layout::put;
use crate::wire::{arp, ethertype, ipv4, ipv6};
use crate::{ArpOp, MacAddr};

/// An ARP packet for IPv4 over Ethernet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    /// The operation.
    pub op: ArpOp,
    /// Sender hardware address.
    pub sender_mac: MacAddr,
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address (zero in a request).
    pub target_mac: MacAddr,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

/// An IPv4 header. Version, header length, total length, protocol and
/// checksum are derived when it is emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr<'a> {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Time to live.
    pub ttl: u8,
    /// Identification.
    pub ident: u16,
    /// Type of service: DSCP and ECN.
    pub tos: u8,
    /// The DF flag.
    pub dont_fragment: bool,
    /// The MF flag.
    pub more_fragments: bool,
    /// Fragment offset in bytes: a multiple of 8.
    pub fragment_offset: u16,
    /// Options as they go on the wire, padded by the caller: a multiple of
    /// 4 bytes, at most 40.
    pub options: &'a [u8],
}

/// An IPv6 header. Version, payload length and next header are derived
/// when it is emitted; no extension headers (put them in the payload under
/// [`TransportRepr::Raw`](crate::TransportRepr::Raw)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class: DSCP and ECN.
    pub traffic_class: u8,
    /// Flow label: 20 bits (higher bits are dropped).
    pub flow_label: u32,
}

impl ArpRepr {
    /// Who has `target_ip`? Tell `sender_ip` at `sender_mac`.
    pub const fn request(sender_mac: MacAddr, sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Self {
        ArpRepr {
            op: ArpOp::Request,
            sender_mac,
            sender_ip,
            target_mac: MacAddr::ZERO,
            target_ip,
        }
    }

    /// `sender_ip` is at `sender_mac`, told to `target_ip` at `target_mac`.
    pub const fn reply(
        sender_mac: MacAddr,
        sender_ip: Ipv4Addr,
        target_mac: MacAddr,
        target_ip: Ipv4Addr,
    ) -> Self {
        ArpRepr {
            op: ArpOp::Reply,
            sender_mac,
            sender_ip,
            target_mac,
            target_ip,
        }
    }

    pub(super) fn emit(&self, packet: &mut [u8]) {
        put(
            packet,
            arp::HARDWARE_TYPE,
            arp::HARDWARE_ETHERNET.to_be_bytes(),
        );
        put(packet, arp::PROTOCOL_TYPE, ethertype::IPV4.to_be_bytes());
        packet[arp::HARDWARE_LEN] = arp::MAC_LEN;
        packet[arp::PROTOCOL_LEN] = arp::IP_LEN;
        put(packet, arp::OPERATION, self.op.code().to_be_bytes());
        put(packet, arp::SENDER_MAC, self.sender_mac.0);
        put(packet, arp::SENDER_IP, self.sender_ip.octets());
        put(packet, arp::TARGET_MAC, self.target_mac.0);
        put(packet, arp::TARGET_IP, self.target_ip.octets());
    }
}

impl<'a> Ipv4Repr<'a> {
    /// A header as Linux sends a TCP segment: TTL 64, DF set, ident 0,
    /// TOS 0, not a fragment, no options.
    pub const fn new(src: Ipv4Addr, dst: Ipv4Addr) -> Self {
        Ipv4Repr {
            src,
            dst,
            ttl: 64,
            ident: 0,
            tos: 0,
            dont_fragment: true,
            more_fragments: false,
            fragment_offset: 0,
            options: &[],
        }
    }

    pub(super) fn header_len(&self) -> Result<usize, BuildError> {
        let options = self.options.len();
        if options % 4 != 0 || options > ipv4::MAX_OPTIONS_LEN {
            return Err(BuildError::BadIpOptions(options));
        }
        if self.fragment_offset % 8 != 0 {
            return Err(BuildError::BadFragmentOffset(self.fragment_offset));
        }
        Ok(ipv4::MIN_HEADER_LEN + options)
    }

    /// Writes the header, checksum included, into `header` (zeroed, as
    /// long as [`header_len`](Self::header_len) said).
    pub(super) fn emit(&self, header: &mut [u8], total_len: u16, protocol: u8) {
        // At most 60 bytes: 15 words.
        header[ipv4::VERSION_IHL] = (ipv4::VERSION << 4) | (header.len() / 4) as u8;
        header[ipv4::TOS] = self.tos;
        put(header, ipv4::TOTAL_LEN, total_len.to_be_bytes());
        put(header, ipv4::IDENT, self.ident.to_be_bytes());
        let mut flags_fragment = self.fragment_offset / 8;
        if self.dont_fragment {
            flags_fragment |= ipv4::DONT_FRAGMENT;
        }
        if self.more_fragments {
            flags_fragment |= ipv4::MORE_FRAGMENTS;
        }
        put(header, ipv4::FLAGS_FRAGMENT, flags_fragment.to_be_bytes());
        header[ipv4::TTL] = self.ttl;
        header[ipv4::PROTOCOL] = protocol;
        put(header, ipv4::SRC, self.src.octets());
        put(header, ipv4::DST, self.dst.octets());
        header[ipv4::OPTIONS..].copy_from_slice(self.options);
        let sum = checksum::finish(checksum::sum(header));
        put(header, ipv4::CHECKSUM, sum.to_be_bytes());
    }
}

impl Ipv6Repr {
    /// A header as Linux sends a TCP segment: hop limit 64, traffic class
    /// and flow label 0.
    pub const fn new(src: Ipv6Addr, dst: Ipv6Addr) -> Self {
        Ipv6Repr {
            src,
            dst,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
        }
    }

    /// Writes the 40-byte header into `header` (zeroed).
    pub(super) fn emit(&self, header: &mut [u8], payload_len: u16, next_header: u8) {
        let version_class_flow = u32::from(ipv6::VERSION) << 28
            | u32::from(self.traffic_class) << 20
            | self.flow_label & 0x000f_ffff;
        put(
            header,
            ipv6::VERSION_CLASS_FLOW,
            version_class_flow.to_be_bytes(),
        );
        put(header, ipv6::PAYLOAD_LEN, payload_len.to_be_bytes());
        header[ipv6::NEXT_HEADER] = next_header;
        header[ipv6::HOP_LIMIT] = self.hop_limit;
        put(header, ipv6::SRC, self.src.octets());
        put(header, ipv6::DST, self.dst.octets());
    }
}
