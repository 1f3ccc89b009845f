//! One bucket of the index, a cache line of sixteen words: the
//! fingerprints of its twelve ways (a byte each, in three words), the
//! overflow count, then the twelve tags; and the SWAR that compares a
//! fingerprint with all twelve at once.

/// Entries in a bucket.
pub(super) const WAYS: usize = 12;
/// Words of a bucket, a cache line: the fingerprints of its ways (a byte
/// each), the overflow count, then the tags.
pub(super) const WORDS: usize = 16;
pub(super) const OVERFLOW: usize = 3;
pub(super) const TAGS: usize = 4;
/// A byte of one in each way's place.
pub(super) const EVERY_WAY: u128 = ((1 << (8 * WAYS)) - 1) / 0xff;
/// The high bit of each way's byte.
pub(super) const EVERY_WAYS_HIGH_BIT: u128 = EVERY_WAY * 0x80;

/// The byte of a hash that stands for it among its bucket's
/// fingerprints; never zero, which marks a free entry.
#[inline]
pub(super) fn fingerprint(hash: u32) -> u8 {
    (hash as u8).max(1)
}

/// A bucket's fingerprints, way 0 in the low byte.
#[inline]
pub(super) fn fingerprints(bucket: &[u32; WORDS]) -> u128 {
    u128::from(bucket[0]) | u128::from(bucket[1]) << 32 | u128::from(bucket[2]) << 64
}

/// Sets the fingerprint of `way` (0: free).
#[inline]
pub(super) fn set_fingerprint(bucket: &mut [u32; WORDS], way: usize, fingerprint: u8) {
    let (word, shift) = (way / 4, way % 4 * 8);
    bucket[word] = bucket[word] & !(0xff << shift) | u32::from(fingerprint) << shift;
}

/// Which of a bucket's `fingerprints` are `fingerprint`: the high bit of
/// each such way's byte (exactly those, no false positive).
#[inline]
pub(super) fn ways_with(fingerprints: u128, fingerprint: u8) -> u128 {
    let low_seven_bits = EVERY_WAY * 0x7f;
    let zero_where_equal = fingerprints ^ (EVERY_WAY * u128::from(fingerprint));
    !(((zero_where_equal & low_seven_bits) + low_seven_bits) | zero_where_equal | low_seven_bits)
        & EVERY_WAYS_HIGH_BIT
}

/// The way of the lowest byte flagged by [`ways_with`].
#[inline]
pub(super) fn first_way(ways: u128) -> usize {
    ways.trailing_zeros() as usize / 8
}

/// A bucket's used ways, each with its tag.
pub(super) fn used_ways(bucket: &[u32; WORDS]) -> impl Iterator<Item = (usize, u32)> + '_ {
    let mut used = ways_with(fingerprints(bucket), 0) ^ EVERY_WAYS_HIGH_BIT;
    core::iter::from_fn(move || {
        let way = (used != 0).then(|| first_way(used))?;
        used &= used - 1;
        Some((way, bucket[TAGS + way]))
    })
}
