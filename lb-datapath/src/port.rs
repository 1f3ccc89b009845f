//! Naming the ports an engine sees.

use core::fmt;

/// A port of an engine, numbered from 0 in the order the engine's
/// configuration lists them; a [`Datapath`](crate::Datapath) opens its ports
/// in the same order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PortId(pub u16);

impl PortId {
    /// The port's position, for indexing.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

impl fmt::Display for PortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "port {}", self.0)
    }
}
