//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Rewrites never re-sum a packet: each changed 16-bit word is folded into a
//! [`ChecksumDelta`], which then adjusts every checksum covering that word with
//! eqn. 3 of RFC 1624, `HC' = ~(~HC + ~m + m')`. For a checksum that was right
//! before, the result equals a full recomputation bit for bit.

/// One's-complement sum of `data` as big-endian 16-bit words, folded to at
/// most 0xffff (so several sums can be added in a `u32`). An odd trailing
/// byte is padded with zero, as RFC 1071 says.
#[inline]
pub(crate) fn sum(data: &[u8]) -> u32 {
    // Summing 32-bit words and folding at the end gives the same one's-
    // complement sum (RFC 1071 section 2(B)) in half the steps.
    let mut words = data.chunks_exact(4);
    let mut total: u64 = 0;
    for word in &mut words {
        total += u64::from(u32::from_be_bytes([word[0], word[1], word[2], word[3]]));
    }
    let mut tail = words.remainder().chunks_exact(2);
    for pair in &mut tail {
        total += u64::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = tail.remainder() {
        total += u64::from(*last) << 8;
    }
    while total > 0xffff {
        total = (total & 0xffff) + (total >> 16);
    }
    u32::from(total as u16)
}

/// [`sum`] of a fixed-size block whose length is a multiple of 4, unrolled.
#[inline(always)]
pub(crate) fn sum_array<const N: usize>(data: &[u8; N]) -> u32 {
    let mut total: u64 = 0;
    for word in data.chunks_exact(4) {
        total += u64::from(u32::from_be_bytes([word[0], word[1], word[2], word[3]]));
    }
    // Three rounds bring N / 4 words of 32 bits down to 16 bits.
    total = (total & 0xffff) + (total >> 16);
    total = (total & 0xffff) + (total >> 16);
    total = (total & 0xffff) + (total >> 16);
    u32::from(total as u16)
}

/// Folds carries back into the low 16 bits (end-around carry).
#[inline]
pub(crate) fn fold(mut total: u32) -> u16 {
    total = (total & 0xffff) + (total >> 16);
    total = (total & 0xffff) + (total >> 16);
    total as u16
}

/// The Internet checksum (RFC 1071) to store over `chunks`, summed as if
/// concatenated: every chunk but the last must have an even length. For
/// building frames from scratch; rewrites keep checksums right on their own.
///
/// A UDP checksum that comes out 0 is sent as 0xffff (0 means "none").
///
/// ```
/// // An IPv4 header with its checksum field zeroed: 0xb861 goes there.
/// let header = [
///     0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
///     0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
/// ];
/// assert_eq!(lb_packet::internet_checksum(&[&header]), 0xb861);
/// ```
pub fn internet_checksum(chunks: &[&[u8]]) -> u16 {
    finish(chunks.iter().map(|chunk| sum(chunk)).sum())
}

/// The checksum to store for data whose unfolded sum is `total`.
#[inline]
pub(crate) fn finish(total: u32) -> u16 {
    !fold(total)
}

/// Unfolded sum of the TCP/UDP pseudo-header (RFC 9293 section 3.1,
/// RFC 768): `addrs` is the source and destination address as they sit in
/// the IPv4 header, `segment_len` the transport header plus payload.
#[inline]
pub(crate) fn pseudo_header(addrs: &[u8], protocol: u8, segment_len: u32) -> u32 {
    sum(addrs) + u32::from(protocol) + segment_len
}

/// A computed UDP checksum as sent: 0 means "none", so a computed 0 goes
/// out as 0xffff, its other one's-complement encoding (RFC 768).
#[inline]
pub(crate) fn udp_on_wire(computed: u16) -> u16 {
    match computed {
        0 => 0xffff,
        other => other,
    }
}

/// The accumulated difference `sum(~m + m')` of the words a rewrite changed.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct ChecksumDelta(u32);

impl ChecksumDelta {
    /// Records that a 16-bit word changed from `old` to `new`.
    #[inline]
    pub(crate) fn word(&mut self, old: u16, new: u16) {
        self.0 += u32::from(!old) + u32::from(new);
    }

    /// Records that a 32-bit field (an IPv4 address) changed.
    #[inline]
    pub(crate) fn double_word(&mut self, old: [u8; 4], new: [u8; 4]) {
        self.word(
            u16::from_be_bytes([old[0], old[1]]),
            u16::from_be_bytes([new[0], new[1]]),
        );
        self.word(
            u16::from_be_bytes([old[2], old[3]]),
            u16::from_be_bytes([new[2], new[3]]),
        );
    }

    /// Merges another delta into this one.
    #[inline]
    pub(crate) fn add(&mut self, other: ChecksumDelta) {
        self.0 += other.0;
    }

    /// The checksum that replaces `checksum` once the recorded words changed.
    #[inline]
    pub(crate) fn apply(self, checksum: u16) -> u16 {
        !fold(u32::from(!checksum) + self.0)
    }

    /// As [`apply`](Self::apply), for a partial checksum (offload's
    /// `NEEDS_CSUM`): the field holds the folded pseudo-header sum, not
    /// complemented, so the change is added as it is (the partial branch of
    /// the kernel's `inet_proto_csum_replace4`).
    #[inline]
    pub(crate) fn apply_partial(self, partial: u16) -> u16 {
        fold(u32::from(partial) + self.0)
    }

    /// As [`apply`](Self::apply), for UDP: 0 means "no checksum" and stays 0,
    /// and a computed 0 is sent as 0xffff (RFC 768).
    #[inline]
    pub(crate) fn apply_udp(self, checksum: u16) -> u16 {
        if checksum == 0 {
            return 0;
        }
        udp_on_wire(self.apply(checksum))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the sum of 0001 f203 f4f5 f6f7 is ddf2 (folded).
        assert_eq!(
            fold(sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])),
            0xddf2
        );
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
    }

    #[test]
    fn incremental_update_matches_full_recomputation() {
        let mut data = [0x45u8, 0x00, 0x00, 0x54, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01];
        let checksum = finish(sum(&data));
        let old = u16::from_be_bytes([data[4], data[5]]);
        data[4..6].copy_from_slice(&0xbeefu16.to_be_bytes());
        let mut delta = ChecksumDelta::default();
        delta.word(old, 0xbeef);
        assert_eq!(delta.apply(checksum), finish(sum(&data)));
    }

    #[test]
    fn rfc1624_corner_case() {
        // RFC 1624 section 3: the other words sum to 0xcd7a and one word
        // goes 0x5555 -> 0x3285. The old checksum is 0xdd2f; eqn. 3 must give
        // 0x0000 where eqn. 2 gave the wrong 0xffff.
        let mut delta = ChecksumDelta::default();
        delta.word(0x5555, 0x3285);
        assert_eq!(delta.apply(0xdd2f), 0x0000);
    }

    #[test]
    fn udp_zero_stays_zero_and_computed_zero_is_ffff() {
        let mut delta = ChecksumDelta::default();
        delta.word(0x1111, 0x2222);
        assert_eq!(delta.apply_udp(0), 0);
        // Choose a change that makes the regular result 0.
        let mut to_zero = ChecksumDelta::default();
        to_zero.word(0x5555, 0x3285);
        assert_eq!(to_zero.apply(0xdd2f), 0);
        assert_eq!(to_zero.apply_udp(0xdd2f), 0xffff);
    }
}
