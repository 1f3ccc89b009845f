//! Why a selector could not be built.

use crate::BackendId;

/// Why [`Policy::build`](crate::Policy::build) refused a backend set or
/// configuration. Nothing was built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Two backends share an identity.
    #[error("duplicate backend {0:?}")]
    DuplicateBackend(BackendId),
    /// Maglev table size is not a prime number.
    #[error("Maglev table size {0} is not prime")]
    TableSizeNotPrime(u64),
    /// Maglev table size is smaller than the number of backends.
    #[error("Maglev table size {size} is smaller than the {backends} backends")]
    TableTooSmall {
        /// Requested table size.
        size: u64,
        /// Number of backends.
        backends: usize,
    },
    /// Maglev table size above [`MAX_TABLE_SIZE`](crate::MAX_TABLE_SIZE).
    #[error("Maglev table size {0} exceeds the maximum of {max}", max = crate::MAX_TABLE_SIZE)]
    TableTooLarge(u64),
    /// An explicit permutation with `offset >= size` or `skip` outside `1..size`.
    #[error("permutation (offset {offset}, skip {skip}) does not fit table size {size}")]
    InvalidPermutation {
        /// The offending offset.
        offset: u64,
        /// The offending skip.
        skip: u64,
        /// The table size.
        size: u64,
    },
    /// More backends than a table index can name.
    #[error("too many backends ({0})")]
    TooManyBackends(usize),
}
