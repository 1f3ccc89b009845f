//! What an ICMPv4 message is, as far as load balancing cares.

/// An ICMPv4 message inside a parsed [`Frame`](crate::Frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmp {
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
    /// An error quoting the packet that caused it: destination unreachable
    /// (3, fragmentation needed is code 4), source quench (4), redirect (5),
    /// time exceeded (11) or parameter problem (12). See
    /// [`Frame::quoted_flow`](crate::Frame::quoted_flow).
    Error {
        /// ICMP type.
        icmp_type: u8,
        /// ICMP code.
        code: u8,
    },
    /// Any other message.
    Other {
        /// ICMP type.
        icmp_type: u8,
        /// ICMP code.
        code: u8,
    },
}
