//! Mapping a hash onto a range.

/// Maps a uniform 64-bit hash onto `0..n` by multiply-shift (Lemire), which
/// is as uniform as `%` and costs a multiplication instead of a division.
#[inline]
pub(crate) fn reduce(hash: u64, n: u64) -> u64 {
    ((u128::from(hash) * u128::from(n)) >> 64) as u64
}
