//! When probes go out: jittered intervals from a seeded generator, so
//! tests replay exactly and probes of many backends spread out.

use std::time::{Duration, Instant};

use super::settings::HealthCheck;

/// A small seeded generator (SplitMix64): jitter, probe ports, sequence
/// numbers. Not for secrets; the seed is an argument, as the time is.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A duration in `[0, span)`, or zero for an empty span.
    fn below(&mut self, span: Duration) -> Duration {
        let nanos = u64::try_from(span.as_nanos()).unwrap_or(u64::MAX);
        match nanos {
            0 => Duration::ZERO,
            n => Duration::from_nanos(self.next_u64() % n),
        }
    }
}

/// When the first probe of a backend goes out: anywhere in the first
/// interval, so backends added together are not probed together.
pub(crate) fn first_probe(now: Instant, check: &HealthCheck, rng: &mut Rng) -> Instant {
    now + rng.below(check.interval(false))
}

/// When the next probe goes out after one sent at `now`: one interval
/// (the faster one while `down`), shortened by up to `jitter_percent`.
/// Never later than the interval, so detection stays within
/// `fall x interval + timeout`.
pub(crate) fn next_probe(now: Instant, check: &HealthCheck, down: bool, rng: &mut Rng) -> Instant {
    let interval = check.interval(down);
    let span = interval * u32::from(check.jitter_percent) / 100;
    now + interval - rng.below(span)
}

#[cfg(test)]
mod tests {
    use super::Rng;
    use super::*;
    use crate::ProbeKind;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn probes_stay_within_their_jitter(seed in any::<u64>(), interval_ms in 1u64..10_000, jitter in 0u8..=50, down in any::<bool>()) {
            let check = HealthCheck { interval_ms, jitter_percent: jitter, timeout_ms: 1, ..HealthCheck::new(ProbeKind::Tcp) };
            let mut rng = Rng::new(seed);
            let now = Instant::now();
            let interval = check.interval(down);
            for _ in 0..16 {
                let gap = next_probe(now, &check, down, &mut rng) - now;
                prop_assert!(gap <= interval);
                prop_assert!(gap >= interval - interval * u32::from(jitter) / 100);
                prop_assert!(first_probe(now, &check, &mut rng) - now < check.interval(false));
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule() {
        let check = HealthCheck::new(ProbeKind::Http);
        let now = Instant::now();
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let gaps = |rng: &mut Rng| -> Vec<Instant> {
            (0..8)
                .map(|_| next_probe(now, &check, false, rng))
                .collect()
        };
        let first = gaps(&mut a);
        assert_eq!(first, gaps(&mut b));
        assert!(
            first.windows(2).any(|w| w[0] != w[1]),
            "jittered: {first:?}"
        );
    }
}
