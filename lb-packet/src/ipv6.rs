//! Read-only view of the fixed IPv6 header.

use std::net::Ipv6Addr;

use crate::layout::{array_at, be16};
use crate::wire::ipv6;

/// The fixed IPv6 header inside a parsed [`Frame`](crate::Frame).
///
/// Invariant: `bytes` is the whole 40-byte header, so no accessor can fail.
#[derive(Debug, Clone, Copy)]
pub struct Ipv6View<'a> {
    bytes: &'a [u8],
}

impl<'a> Ipv6View<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        debug_assert!(bytes.len() >= ipv6::HEADER_LEN);
        Ipv6View { bytes }
    }

    /// Source address.
    pub fn src(&self) -> Ipv6Addr {
        Ipv6Addr::from(array_at::<16>(self.bytes, ipv6::SRC))
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv6Addr {
        Ipv6Addr::from(array_at::<16>(self.bytes, ipv6::DST))
    }

    /// The fixed header's next header: the transport protocol, or the
    /// first extension header.
    pub fn next_header(&self) -> u8 {
        self.bytes[ipv6::NEXT_HEADER]
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.bytes[ipv6::HOP_LIMIT]
    }

    /// Payload length: everything after the fixed header, extension
    /// headers included.
    pub fn payload_len(&self) -> u16 {
        be16(self.bytes, ipv6::PAYLOAD_LEN)
    }

    /// Traffic class (DSCP and ECN).
    pub fn traffic_class(&self) -> u8 {
        (self.version_class_flow() >> 20) as u8
    }

    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        self.version_class_flow() & 0x000f_ffff
    }

    fn version_class_flow(&self) -> u32 {
        u32::from_be_bytes(array_at(self.bytes, ipv6::VERSION_CLASS_FLOW))
    }
}
