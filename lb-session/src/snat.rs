//! Source ports for full NAT.

use core::fmt;
use core::str::FromStr;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use lb_packet::{FlowHasher, FlowKey, HashKey, Protocol};

use crate::SessionTable;

/// An inclusive range of ports, `first-last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    first: u16,
    last: u16,
}

impl PortRange {
    /// Linux's default ephemeral range, 32768-60999.
    pub const EPHEMERAL: PortRange = PortRange {
        first: 32768,
        last: 60999,
    };

    /// The ports `first..=last`; port 0 is not a port.
    pub fn new(first: u16, last: u16) -> Result<Self, SnatError> {
        if first == 0 || first > last {
            return Err(SnatError::BadRange { first, last });
        }
        Ok(PortRange { first, last })
    }

    /// First port.
    pub fn first(&self) -> u16 {
        self.first
    }

    /// Last port.
    pub fn last(&self) -> u16 {
        self.last
    }

    /// Number of ports.
    pub fn len(&self) -> u32 {
        u32::from(self.last - self.first) + 1
    }

    /// Always false: a range holds at least one port.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Default for PortRange {
    fn default() -> Self {
        PortRange::EPHEMERAL
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl FromStr for PortRange {
    type Err = SnatError;

    /// `LO-HI`, or a single port.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || SnatError::Unparsable(s.to_owned());
        let (first, last) = s.split_once('-').unwrap_or((s, s));
        let first = first.trim().parse().map_err(|_| invalid())?;
        let last = last.trim().parse().map_err(|_| invalid())?;
        PortRange::new(first, last)
    }
}

/// As text, `LO-HI`.
#[cfg(feature = "serde")]
impl serde::Serialize for PortRange {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for PortRange {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Why no port could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnatError {
    /// Every port of the range has a live session towards this destination.
    #[error("no free source port on {proxy} towards {remote} ({proto})")]
    Exhausted {
        /// The proxy's address.
        proxy: Ipv4Addr,
        /// The destination.
        remote: SocketAddrV4,
        /// The protocol.
        proto: Protocol,
    },
    /// A range with port 0 or `first > last`.
    #[error("invalid port range {first}-{last}: expected 1 <= first <= last")]
    BadRange {
        /// First port given.
        first: u16,
        /// Last port given.
        last: u16,
    },
    /// Not `LO-HI`.
    #[error("invalid port range {0:?}: expected LO-HI, like 32768-60999")]
    Unparsable(String),
}

/// Chooses source ports for connections a full NAT makes on their
/// clients' behalf.
///
/// A port is free towards a destination when no live session in the table
/// expects replies from that destination to it, so ports are per
/// (proxy address, destination, protocol), collide with no live mapping, and
/// come free again as their sessions expire: the allocator keeps no state
/// of its own. The search starts at a keyed hash of the client's flow, so
/// ports are not predictable from outside.
#[derive(Debug, Clone)]
pub struct SnatAllocator {
    range: PortRange,
    hasher: FlowHasher,
}

impl SnatAllocator {
    /// An allocator over `range`, hashing with `key`.
    pub fn new(range: PortRange, key: HashKey) -> Self {
        SnatAllocator {
            range,
            hasher: FlowHasher::new(key),
        }
    }

    /// The range ports come from.
    pub fn range(&self) -> PortRange {
        self.range
    }

    /// The key a reply from `remote` to `proxy:port` carries.
    pub fn reply_key(proxy: Ipv4Addr, port: u16, remote: SocketAddrV4, proto: Protocol) -> FlowKey {
        // ICMP echo carries its identifier in both port slots.
        let src_port = if proto == Protocol::Icmp {
            port
        } else {
            remote.port()
        };
        FlowKey {
            src: *remote.ip(),
            dst: proxy,
            src_port,
            dst_port: port,
            proto,
        }
    }

    /// A free port on `proxy` for `client`'s new connection to `remote`.
    pub fn allocate<V>(
        &self,
        table: &mut SessionTable<V>,
        now: Instant,
        client: &FlowKey,
        proxy: Ipv4Addr,
        remote: SocketAddrV4,
    ) -> Result<u16, SnatError> {
        let len = self.range.len();
        let start = (self.hasher.flow(client) % u64::from(len)) as u32;
        for step in 0..len {
            let offset = (start + step) % len;
            // offset < len <= 65536 - first, so the sum is a port.
            let port = self.range.first + offset as u16;
            if !table.contains(now, &Self::reply_key(proxy, port, remote, client.proto)) {
                return Ok(port);
            }
        }
        Err(SnatError::Exhausted {
            proxy,
            remote,
            proto: client.proto,
        })
    }
}
