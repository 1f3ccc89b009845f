//! Read-only view of an IPv4 header.

use std::net::Ipv4Addr;

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
        debug_assert!(bytes.len() >= 20);
        Ipv4View { bytes }
    }

    /// Source address.
    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::new(
            self.bytes[12],
            self.bytes[13],
            self.bytes[14],
            self.bytes[15],
        )
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::new(
            self.bytes[16],
            self.bytes[17],
            self.bytes[18],
            self.bytes[19],
        )
    }

    /// Protocol number (6 TCP, 17 UDP, 1 ICMP, ...).
    pub fn protocol(&self) -> u8 {
        self.bytes[9]
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.bytes[8]
    }

    /// Identification field (groups the fragments of one datagram).
    pub fn ident(&self) -> u16 {
        u16::from_be_bytes([self.bytes[4], self.bytes[5]])
    }

    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        self.bytes.len()
    }

    /// True when the header carries options (IHL > 5).
    pub fn has_options(&self) -> bool {
        self.bytes.len() > 20
    }

    /// Total length field: header plus payload, Ethernet padding excluded.
    pub fn total_len(&self) -> u16 {
        u16::from_be_bytes([self.bytes[2], self.bytes[3]])
    }

    /// The DF flag.
    pub fn dont_fragment(&self) -> bool {
        self.bytes[6] & 0x40 != 0
    }

    /// The MF flag.
    pub fn more_fragments(&self) -> bool {
        self.bytes[6] & 0x20 != 0
    }

    /// Fragment offset in bytes.
    pub fn fragment_offset(&self) -> u16 {
        (u16::from_be_bytes([self.bytes[6], self.bytes[7]]) & 0x1fff) * 8
    }

    /// True for any fragment, first or not.
    pub fn is_fragment(&self) -> bool {
        self.more_fragments() || self.fragment_offset() != 0
    }
}
