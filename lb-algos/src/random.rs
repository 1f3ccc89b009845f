//! Weighted random selection from a seeded generator.

use core::sync::atomic::{AtomicU64, Ordering};

use lb_packet::FlowKey;

use crate::canonical::canonical_order;
use crate::weighted_points::WeightedPoints;
use crate::{Backend, BuildError, Selector};

/// Picks each backend with probability proportional to its weight.
///
/// The generator is SplitMix64 over a counter, so picks are reproducible
/// from the seed and `pick` stays `&self` and lock-free.
#[derive(Debug)]
pub struct Random {
    points: WeightedPoints,
    seed: u64,
    draws: AtomicU64,
}

impl Random {
    /// A random selector over `backends`, seeded with `seed`.
    pub fn new(backends: &[Backend], seed: u64) -> Result<Self, BuildError> {
        let points = WeightedPoints::new(&canonical_order(backends)?);
        Ok(Random {
            points,
            seed,
            draws: AtomicU64::new(0),
        })
    }
}

/// SplitMix64's output function (Steele, Lea, Flood 2014).
fn splitmix64(state: u64) -> u64 {
    let mut z = state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Selector for Random {
    fn pick(&self, _flow: &FlowKey) -> Option<usize> {
        let draw = self.draws.fetch_add(1, Ordering::Relaxed);
        let state = self
            .seed
            .wrapping_add(draw.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        self.points.pick(splitmix64(state))
    }
}
