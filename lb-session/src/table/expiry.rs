//! When sessions expire, in milliseconds since the table's epoch, split in
//! two so that a session costs four bytes less than a whole `u64` apart:
//! the high bits, in units of 256 ms, in an array beside the sessions (a
//! sweep reads sixteen a cache line), and the low byte in the session,
//! where a lookup is anyway and a sweep looks only for a session due
//! within the current 256 ms.

/// The high part of a vacant slot's expiry: never, so sweeps pass it by.
pub(super) const VACANT: u32 = u32::MAX;

/// The high part of `ticks`: 256 ms units, reaching 34 years (then
/// staying there, short of [`VACANT`]).
#[inline]
pub(super) fn high(ticks: u64) -> u32 {
    u32::try_from(ticks >> 8).map_or(VACANT - 1, |high| high.min(VACANT - 1))
}

/// The low byte of `ticks`.
#[inline]
pub(super) fn low(ticks: u64) -> u8 {
    ticks as u8
}

/// The ticks of an expiry from its two parts.
#[inline]
pub(super) fn join(high: u32, low: u8) -> u64 {
    u64::from(high) << 8 | u64::from(low)
}

/// True when an expiry of `high` part is due at `now`; its low byte is
/// asked for only when the high parts are equal (`None`: not due).
#[inline]
pub(super) fn is_due(high_part: u32, low_part: impl FnOnce() -> Option<u8>, now: u64) -> bool {
    match high_part.cmp(&high(now)) {
        core::cmp::Ordering::Less => true,
        core::cmp::Ordering::Greater => false,
        core::cmp::Ordering::Equal => low_part().is_some_and(|low| u64::from(low) <= now & 0xff),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_low_byte_costs_a_session_nothing() {
        // A session with a 16-byte value: one cache line, as before.
        assert_eq!(size_of::<crate::table::Slot<[u64; 2]>>(), 64);
    }

    proptest! {
        /// Split, an expiry is due exactly when the whole one would be.
        #[test]
        fn due_exactly_when_whole(at in 0u64..1 << 40, now in 0u64..1 << 40, near in 0u64..600) {
            for now in [now, at.saturating_sub(near), at + near] {
                prop_assert_eq!(is_due(high(at), || Some(low(at)), now), at <= now);
                prop_assert_eq!(join(high(at), low(at)), at);
            }
            prop_assert!(!is_due(VACANT, || None, now));
        }
    }
}
