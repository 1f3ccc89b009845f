//! What a session table is built with.

use lb_packet::HashKey;

use crate::Timeouts;

/// Largest capacity a table accepts: slots are named by 31-bit indices.
pub const MAX_CAPACITY: usize = 1 << 30;

/// Longest idle timeout a table accepts: a year, far from where the
/// millisecond clock arithmetic could overflow.
pub const MAX_TIMEOUT: core::time::Duration = core::time::Duration::from_secs(365 * 24 * 3600);

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
    /// The share of the capacity unassured sessions may take, in percent
    /// (default 50): beyond it each new session evicts the oldest
    /// unassured one, so a flood of half-open sessions leaves room for
    /// connections that complete.
    pub unassured_percent: u8,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            capacity: 1 << 18,
            timeouts: Timeouts::default(),
            hash_key: None,
            unassured_percent: 50,
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
    /// An unassured share of 0, or above 100 percent.
    #[error("unassured share {0}% is outside 1..=100")]
    UnassuredShare(u8),
    /// A timeout of zero, or longer than [`MAX_TIMEOUT`].
    #[error("timeout {name} = {seconds} s is outside 1 ms to one year")]
    Timeout {
        /// Which timeout.
        name: &'static str,
        /// Its value, in seconds.
        seconds: u64,
    },
    /// The memory for this many sessions could not be reserved.
    #[error("no memory for {0} sessions: give a smaller capacity")]
    OutOfMemory(usize),
}
