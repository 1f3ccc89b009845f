//! The 5-tuple that names a flow.

use core::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

/// The transport protocols a [`FlowKey`] can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Protocol {
    /// ICMPv4 (1); flows are echo exchanges keyed by identifier.
    Icmp = 1,
    /// TCP (6).
    Tcp = 6,
    /// UDP (17).
    Udp = 17,
}

impl Protocol {
    /// The IPv4 protocol number.
    pub const fn number(self) -> u8 {
        self as u8
    }

    /// The protocol for an IPv4 protocol number, if it is one of the three.
    pub const fn from_number(number: u8) -> Option<Self> {
        match number {
            1 => Some(Protocol::Icmp),
            6 => Some(Protocol::Tcp),
            17 => Some(Protocol::Udp),
            _ => None,
        }
    }

    /// `"icmp"`, `"tcp"` or `"udp"`.
    pub const fn name(self) -> &'static str {
        match self {
            Protocol::Icmp => "icmp",
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A flow's 5-tuple, as seen in one direction.
///
/// For ICMP echo the identifier stands in both port slots, so a request's
/// key [`reversed`](Self::reversed) is the key of its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Source port (ICMP echo: identifier).
    pub src_port: u16,
    /// Destination port (ICMP echo: identifier).
    pub dst_port: u16,
    /// Transport protocol.
    pub proto: Protocol,
}

/// Length of [`FlowKey::canonical_bytes`].
pub const CANONICAL_LEN: usize = 13;

impl FlowKey {
    /// The key of the same flow seen from the other end.
    pub const fn reversed(self) -> Self {
        FlowKey {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            proto: self.proto,
        }
    }

    /// Source address and port.
    pub const fn src_endpoint(self) -> SocketAddrV4 {
        SocketAddrV4::new(self.src, self.src_port)
    }

    /// Destination address and port.
    pub const fn dst_endpoint(self) -> SocketAddrV4 {
        SocketAddrV4::new(self.dst, self.dst_port)
    }

    /// `src ‖ dst ‖ src_port ‖ dst_port ‖ proto`, all in network byte order.
    ///
    /// Hash these bytes (never `#[derive(Hash)]`, whose output may change
    /// between compiler versions) so every instance agrees on a flow's hash.
    pub fn canonical_bytes(self) -> [u8; CANONICAL_LEN] {
        let mut bytes = [0u8; CANONICAL_LEN];
        bytes[0..4].copy_from_slice(&self.src.octets());
        bytes[4..8].copy_from_slice(&self.dst.octets());
        bytes[8..10].copy_from_slice(&self.src_port.to_be_bytes());
        bytes[10..12].copy_from_slice(&self.dst_port.to_be_bytes());
        bytes[12] = self.proto.number();
        bytes
    }
}

impl fmt::Display for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} -> {}",
            self.proto,
            self.src_endpoint(),
            self.dst_endpoint()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_bytes_are_network_order() {
        let key = FlowKey {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(192, 168, 1, 2),
            src_port: 0x1234,
            dst_port: 80,
            proto: Protocol::Tcp,
        };
        assert_eq!(
            key.canonical_bytes(),
            [10, 0, 0, 1, 192, 168, 1, 2, 0x12, 0x34, 0, 80, 6]
        );
        assert_eq!(key.reversed().reversed(), key);
        assert_eq!(key.to_string(), "tcp 10.0.0.1:4660 -> 192.168.1.2:80");
    }

    #[test]
    fn protocol_numbers_round_trip() {
        for proto in [Protocol::Icmp, Protocol::Tcp, Protocol::Udp] {
            assert_eq!(Protocol::from_number(proto.number()), Some(proto));
        }
        assert_eq!(Protocol::from_number(47), None);
    }
}
