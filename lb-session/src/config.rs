//! What a session table is built with.

use lb_packet::HashKey;

use crate::Timeouts;

/// Largest capacity a table accepts: slots are named by 31-bit indices.
pub const MAX_CAPACITY: usize = 1 << 30;

/// Configuration of a [`SessionTable`](crate::SessionTable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Most sessions held at once; memory for them is reserved up front.
    pub capacity: usize,
    /// Idle timeouts by protocol and state.
    pub timeouts: Timeouts,
    /// Key for the table's hash. `None` draws one at random (from the
    /// standard library's per-process random hash state), so nobody can
    /// predict which flows collide.
    pub hash_key: Option<HashKey>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            capacity: 1 << 18,
            timeouts: Timeouts::default(),
            hash_key: None,
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Capacity 0, or above [`MAX_CAPACITY`].
    #[error("session capacity {0} is outside 1..={MAX_CAPACITY}")]
    Capacity(usize),
}
