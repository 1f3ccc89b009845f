//! Backends as selectors see them: a stable identity and a weight.

use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use lb_packet::MacAddr;

/// A backend's stable identity: the bytes its place in a Maglev table is
/// derived from, and the order selectors sort backends in.
///
/// Build it from what names the backend to its load balancer (an address,
/// a MAC, a name), never from its position in a list: then the same set of
/// backends gives the same selection on every instance, in any order.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackendId(Box<[u8]>);

impl BackendId {
    /// An identity from raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        BackendId(bytes.into())
    }

    /// The identity's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<&str> for BackendId {
    fn from(name: &str) -> Self {
        BackendId::from_bytes(name.as_bytes())
    }
}

impl From<Ipv4Addr> for BackendId {
    fn from(addr: Ipv4Addr) -> Self {
        BackendId::from_bytes(&addr.octets())
    }
}

impl From<Ipv6Addr> for BackendId {
    fn from(addr: Ipv6Addr) -> Self {
        BackendId::from_bytes(&addr.octets())
    }
}

impl From<IpAddr> for BackendId {
    /// The address's own octets: 4 for IPv4 (as from an [`Ipv4Addr`]),
    /// 16 for IPv6.
    fn from(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(v4) => v4.into(),
            IpAddr::V6(v6) => v6.into(),
        }
    }
}

impl From<SocketAddrV4> for BackendId {
    /// Address then port, network byte order.
    fn from(addr: SocketAddrV4) -> Self {
        let mut bytes = [0u8; 6];
        bytes[..4].copy_from_slice(&addr.ip().octets());
        bytes[4..].copy_from_slice(&addr.port().to_be_bytes());
        BackendId::from_bytes(&bytes)
    }
}

impl From<SocketAddrV6> for BackendId {
    /// Address then port, network byte order.
    fn from(addr: SocketAddrV6) -> Self {
        let mut bytes = [0u8; 18];
        bytes[..16].copy_from_slice(&addr.ip().octets());
        bytes[16..].copy_from_slice(&addr.port().to_be_bytes());
        BackendId::from_bytes(&bytes)
    }
}

impl From<SocketAddr> for BackendId {
    /// As from a [`SocketAddrV4`] or a [`SocketAddrV6`]: an IPv4 backend
    /// keeps its identity, and its Maglev slots, in a dual-stack set.
    fn from(addr: SocketAddr) -> Self {
        match addr {
            SocketAddr::V4(v4) => v4.into(),
            SocketAddr::V6(v6) => v6.into(),
        }
    }
}

impl From<MacAddr> for BackendId {
    fn from(mac: MacAddr) -> Self {
        BackendId::from_bytes(&mac.octets())
    }
}

impl fmt::Debug for BackendId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match core::str::from_utf8(&self.0) {
            Ok(name) if name.chars().all(|c| c.is_ascii_graphic()) => write!(f, "{name:?}"),
            _ => write!(f, "{:02x?}", &self.0),
        }
    }
}

/// A backend to select from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    /// Stable identity.
    pub id: BackendId,
    /// Relative share of new flows; 0 drains the backend (no new flows).
    pub weight: u32,
}

impl Backend {
    /// A backend with the given identity and weight.
    pub fn new(id: impl Into<BackendId>, weight: u32) -> Self {
        Backend {
            id: id.into(),
            weight,
        }
    }
}
