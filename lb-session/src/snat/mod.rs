//! Source ports for full NAT: the ranges they come from, and the
//! allocator that hands them out.

mod allocator;

pub use allocator::SnatAllocator;

use core::fmt;
use core::str::FromStr;
use std::net::{IpAddr, SocketAddr};

use lb_packet::Protocol;

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

    /// True when `port` is one of the range's.
    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
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
    /// Every port of the range is in use towards this destination.
    #[error("no free source port on {proxy} towards {remote} ({proto})")]
    Exhausted {
        /// The proxy's address.
        proxy: IpAddr,
        /// The destination.
        remote: SocketAddr,
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
    /// A port claimed outside the allocator's range.
    #[error("port {port} is outside the range {range}")]
    OutOfRange {
        /// The port.
        port: u16,
        /// The range.
        range: PortRange,
    },
}
