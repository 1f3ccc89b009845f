//! Read-only view of an IPv4 header.

use std::net::Ipv4Addr;

use crate::layout::{array_at, be16};
use crate::wire::ipv4;

/// The IPv4 header inside a parsed [`Frame`](crate::Frame).
///
/// Invariant: `bytes` is the whole header (20 to 60 bytes, checksum
/// verified), so no accessor can fail.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4View<'a> {
    bytes: &'a [u8],
}

impl<'a> Ipv4View<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        debug_assert!(bytes.len() >= ipv4::MIN_HEADER_LEN);
        Ipv4View { bytes }
    }

    /// Source address.
    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::from(array_at::<4>(self.bytes, ipv4::SRC))
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::from(array_at::<4>(self.bytes, ipv4::DST))
    }

    /// Protocol number (6 TCP, 17 UDP, 1 ICMP, ...).
    pub fn protocol(&self) -> u8 {
        self.bytes[ipv4::PROTOCOL]
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.bytes[ipv4::TTL]
    }

    /// Identification field (groups the fragments of one datagram).
    pub fn ident(&self) -> u16 {
        be16(self.bytes, ipv4::IDENT)
    }

    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        self.bytes.len()
    }

    /// True when the header carries options (IHL > 5).
    pub fn has_options(&self) -> bool {
        self.bytes.len() > ipv4::MIN_HEADER_LEN
    }

    /// Total length field: header plus payload, Ethernet padding excluded.
    pub fn total_len(&self) -> u16 {
        be16(self.bytes, ipv4::TOTAL_LEN)
    }

    /// The DF flag.
    pub fn dont_fragment(&self) -> bool {
        self.flags_fragment() & ipv4::DONT_FRAGMENT != 0
    }

    /// The MF flag.
    pub fn more_fragments(&self) -> bool {
        self.flags_fragment() & ipv4::MORE_FRAGMENTS != 0
    }

    /// Fragment offset in bytes.
    pub fn fragment_offset(&self) -> u16 {
        (self.flags_fragment() & ipv4::FRAGMENT_OFFSET) * 8
    }

    fn flags_fragment(&self) -> u16 {
        be16(self.bytes, ipv4::FLAGS_FRAGMENT)
    }

    /// True for any fragment, first or not.
    pub fn is_fragment(&self) -> bool {
        self.more_fragments() || self.fragment_offset() != 0
    }
}
