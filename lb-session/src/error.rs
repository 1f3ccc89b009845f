//! Why a session could not be created.

/// Why [`SessionTable::insert`](crate::SessionTable::insert) refused a
/// session. The table is unchanged apart from expired entries it reclaimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InsertError {
    /// Full of assured sessions, none expired: nothing may be evicted.
    #[error("session table full")]
    Full,
    /// A live session, not over, already uses one of the keys.
    #[error("a live session already has this key")]
    KeyInUse,
    /// The forward and reverse keys are the same flow.
    #[error("forward and reverse keys are identical")]
    SameKeys,
}
