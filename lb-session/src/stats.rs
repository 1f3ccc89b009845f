//! Counters of what a session table did.

/// Cumulative counts since the table was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SessionStats {
    /// Sessions created.
    pub inserted: u64,
    /// Sessions removed because their idle timeout passed.
    pub expired: u64,
    /// Live, unassured sessions removed to make room for new ones.
    pub evicted: u64,
    /// New sessions refused: the table was full of assured sessions.
    pub refused: u64,
    /// Sessions removed by the caller.
    pub removed: u64,
}
