//! The 5-tuple that names a flow, in either address family.

use core::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The transport protocols a [`FlowKey`] can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Protocol {
    /// ICMP echo of the flow's family: ICMPv4 (1) over IPv4, ICMPv6 (58)
    /// over IPv6; flows are echo exchanges keyed by identifier.
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

    /// The IPv6 next-header value: as [`number`](Self::number) but 58
    /// (ICMPv6) for [`Protocol::Icmp`].
    pub const fn ipv6_number(self) -> u8 {
        match self {
            Protocol::Icmp => 58,
            other => other as u8,
        }
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
/// key [`reversed`](Self::reversed) is the key of its reply. Keys parsed
/// from frames hold two addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port (ICMP echo: identifier).
    pub src_port: u16,
    /// Destination port (ICMP echo: identifier).
    pub dst_port: u16,
    /// Transport protocol.
    pub proto: Protocol,
}

/// Length of [`FlowKey::canonical_bytes`] for IPv4.
pub const CANONICAL_LEN: usize = 13;
/// Length of [`FlowKey::canonical_bytes`] for IPv6.
pub const CANONICAL_LEN_V6: usize = 37;

/// A flow's canonical bytes: [`CANONICAL_LEN`] of them for IPv4,
/// [`CANONICAL_LEN_V6`] otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanonicalBytes {
    bytes: [u8; CANONICAL_LEN_V6],
    len: u8,
}

impl AsRef<[u8]> for CanonicalBytes {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl core::ops::Deref for CanonicalBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_ref()
    }
}

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
    pub const fn src_endpoint(self) -> SocketAddr {
        SocketAddr::new(self.src, self.src_port)
    }

    /// Destination address and port.
    pub const fn dst_endpoint(self) -> SocketAddr {
        SocketAddr::new(self.dst, self.dst_port)
    }

    /// True when both addresses are IPv6.
    pub const fn is_ipv6(self) -> bool {
        self.src.is_ipv6() && self.dst.is_ipv6()
    }

    /// `src ‖ dst ‖ src_port ‖ dst_port ‖ proto`, all in network byte order.
    /// Addresses are 4 bytes when both are IPv4 (13 bytes in all, as before
    /// IPv6 existed here, so selection does not change for IPv4); otherwise
    /// 16, an IPv4 one [mapped](std::net::Ipv4Addr::to_ipv6_mapped), and
    /// `proto` is the IPv6 number (37 bytes).
    ///
    /// Hash these bytes (never `#[derive(Hash)]`, whose output may change
    /// between compiler versions) so every instance agrees on a flow's hash.
    pub fn canonical_bytes(self) -> CanonicalBytes {
        let mut bytes = [0u8; CANONICAL_LEN_V6];
        let ports_at = match (self.src, self.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                bytes[0..4].copy_from_slice(&src.octets());
                bytes[4..8].copy_from_slice(&dst.octets());
                8
            }
            (src, dst) => {
                bytes[0..16].copy_from_slice(&as_ipv6(src).octets());
                bytes[16..32].copy_from_slice(&as_ipv6(dst).octets());
                32
            }
        };
        bytes[ports_at..ports_at + 2].copy_from_slice(&self.src_port.to_be_bytes());
        bytes[ports_at + 2..ports_at + 4].copy_from_slice(&self.dst_port.to_be_bytes());
        bytes[ports_at + 4] = if ports_at == 8 {
            self.proto.number()
        } else {
            self.proto.ipv6_number()
        };
        CanonicalBytes {
            bytes,
            len: ports_at as u8 + 5,
        }
    }
}

/// An address as IPv6, an IPv4 one mapped (`::ffff:a.b.c.d`).
pub(crate) fn as_ipv6(addr: IpAddr) -> Ipv6Addr {
    match addr {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
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
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn canonical_bytes_are_network_order() {
        let key = FlowKey {
            src: Ipv4Addr::new(10, 0, 0, 1).into(),
            dst: Ipv4Addr::new(192, 168, 1, 2).into(),
            src_port: 0x1234,
            dst_port: 80,
            proto: Protocol::Tcp,
        };
        assert_eq!(
            &*key.canonical_bytes(),
            [10, 0, 0, 1, 192, 168, 1, 2, 0x12, 0x34, 0, 80, 6]
        );
        assert_eq!(key.reversed().reversed(), key);
        assert_eq!(key.to_string(), "tcp 10.0.0.1:4660 -> 192.168.1.2:80");
    }

    #[test]
    fn ipv6_canonical_bytes_hold_whole_addresses_and_the_ipv6_number() {
        let key = FlowKey {
            src: "fd00::1".parse().unwrap(),
            dst: "fd0d::13".parse().unwrap(),
            src_port: 7,
            dst_port: 7,
            proto: Protocol::Icmp,
        };
        let bytes = key.canonical_bytes();
        assert_eq!(bytes.len(), CANONICAL_LEN_V6);
        assert_eq!(bytes[..2], [0xfd, 0x00]);
        assert_eq!(bytes[15], 1);
        assert_eq!(bytes[16..18], [0xfd, 0x0d]);
        assert_eq!(bytes[31], 0x13);
        assert_eq!(bytes[32..], [0, 7, 0, 7, 58]);
        assert_eq!(key.to_string(), "icmp [fd00::1]:7 -> [fd0d::13]:7");
        // One IPv4 address among IPv6 ones is mapped, never cut short.
        let mixed = FlowKey {
            src: Ipv4Addr::new(10, 0, 0, 1).into(),
            ..key
        };
        assert_eq!(
            mixed.canonical_bytes()[..16],
            Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped().octets()
        );
    }

    #[test]
    fn protocol_numbers_round_trip() {
        for proto in [Protocol::Icmp, Protocol::Tcp, Protocol::Udp] {
            assert_eq!(Protocol::from_number(proto.number()), Some(proto));
        }
        assert_eq!(Protocol::from_number(47), None);
        assert_eq!(Protocol::Icmp.ipv6_number(), 58);
        assert_eq!(Protocol::Udp.ipv6_number(), 17);
    }
}
