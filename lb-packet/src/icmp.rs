//! What an ICMP or ICMPv6 message is, as far as load balancing cares.

/// An ICMP (ICMPv6) message inside a parsed [`Frame`](crate::Frame); the
/// types of [`Icmp::Error`] and [`Icmp::Other`] are the family's own (see
/// [`Frame::icmp_error`](crate::Frame::icmp_error) for both in one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmp {
    /// Echo request (ICMP type 8, ICMPv6 128).
    EchoRequest {
        /// Identifier.
        id: u16,
        /// Sequence number.
        seq: u16,
    },
    /// Echo reply (ICMP type 0, ICMPv6 129).
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

/// What an ICMP or ICMPv6 error says, the same for both families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IcmpError {
    /// Port unreachable (ICMP 3/3, ICMPv6 1/4): nothing listens there.
    PortUnreachable,
    /// Any other destination unreachable (ICMP 3, ICMPv6 1).
    Unreachable,
    /// The packet was too big for the next hop: ICMP's fragmentation
    /// needed (3/4) or ICMPv6's packet too big (2). About the path, not
    /// the destination.
    PacketTooBig {
        /// The MTU of the next hop (0 when an old router gave none).
        mtu: u32,
    },
    /// Time (TTL, hop limit or reassembly) exceeded (ICMP 11, ICMPv6 3).
    TimeExceeded,
    /// Source quench, redirect, parameter problem.
    Other,
}

impl<T: AsRef<[u8]>> crate::Frame<T> {
    /// The error this frame carries, if it is an ICMP or ICMPv6 error.
    pub fn icmp_error(&self) -> Option<IcmpError> {
        use crate::layout::{Transport, array_at, be16};
        use crate::wire::{icmp, icmpv6};

        let ip = self.ip_layout()?;
        let Transport::IcmpError(_) = ip.transport else {
            return None;
        };
        // An error's 8-byte header is here.
        let bytes = self.as_bytes();
        let (icmp_type, code) = (bytes[ip.l4 + icmp::TYPE], bytes[ip.l4 + icmp::CODE]);
        Some(if ip.ipv6 {
            match (icmp_type, code) {
                (icmpv6::DEST_UNREACHABLE, 4) => IcmpError::PortUnreachable,
                (icmpv6::DEST_UNREACHABLE, _) => IcmpError::Unreachable,
                (icmpv6::PACKET_TOO_BIG, _) => IcmpError::PacketTooBig {
                    mtu: u32::from_be_bytes(array_at(bytes, ip.l4 + icmpv6::MTU)),
                },
                (icmpv6::TIME_EXCEEDED, _) => IcmpError::TimeExceeded,
                _ => IcmpError::Other,
            }
        } else {
            match (icmp_type, code) {
                (icmp::DEST_UNREACHABLE, 3) => IcmpError::PortUnreachable,
                (icmp::DEST_UNREACHABLE, icmp::FRAGMENTATION_NEEDED) => IcmpError::PacketTooBig {
                    mtu: u32::from(be16(bytes, ip.l4 + icmp::NEXT_HOP_MTU)),
                },
                (icmp::DEST_UNREACHABLE, _) => IcmpError::Unreachable,
                (icmp::TIME_EXCEEDED, _) => IcmpError::TimeExceeded,
                _ => IcmpError::Other,
            }
        })
    }
}
