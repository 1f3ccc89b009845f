//! Smooth weighted round-robin.

use core::cmp::Ordering as CmpOrdering;
use core::sync::atomic::{AtomicU64, Ordering};
use std::collections::BinaryHeap;

use lb_packet::FlowKey;

use crate::canonical::{Ranked, canonical_order};
use crate::{Backend, BuildError, Selector};

/// Longest schedule a [`RoundRobin`] keeps. Weights whose sum (after
/// dividing by their common divisor) exceeds it are scaled down to fit,
/// each non-zero weight staying at least 1.
pub const MAX_SCHEDULE_LEN: u64 = 1 << 16;

/// Weighted round-robin without bursts: over any `sum(weights)` consecutive
/// picks each backend gets exactly its weight, and its picks are spread
/// evenly (earliest-deadline-first, as Envoy schedules weighted hosts).
///
/// The schedule is computed once at build time; `pick` is an atomic
/// increment and an index, whatever the flow.
#[derive(Debug)]
pub struct RoundRobin {
    schedule: Vec<u32>,
    next: AtomicU64,
}

/// A backend's next turn: its `(turn + 1)`-th pick is due at time
/// `(turn + 1) / weight` of a period.
#[derive(Debug, PartialEq, Eq)]
struct Deadline {
    turn: u64,
    weight: u64,
    /// Canonical rank, to break ties the same way everywhere.
    rank: usize,
}

impl Ord for Deadline {
    /// Reversed, so the max-heap pops the earliest deadline (then lowest rank).
    fn cmp(&self, other: &Self) -> CmpOrdering {
        let mine = u128::from(self.turn + 1) * u128::from(other.weight);
        let theirs = u128::from(other.turn + 1) * u128::from(self.weight);
        theirs.cmp(&mine).then_with(|| other.rank.cmp(&self.rank))
    }
}

impl PartialOrd for Deadline {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Weights reduced by their common divisor, scaled to fit the schedule.
fn schedule_weights(ranked: &[Ranked]) -> Vec<u64> {
    let weights: Vec<u64> = ranked
        .iter()
        .map(|backend| u64::from(backend.weight))
        .collect();
    let divisor = weights.iter().fold(0, |acc, &w| gcd(acc, w)).max(1);
    let reduced: Vec<u64> = weights.iter().map(|w| w / divisor).collect();
    let total: u64 = reduced.iter().sum();
    if total <= MAX_SCHEDULE_LEN {
        return reduced;
    }
    reduced
        .iter()
        .map(|&w| match w {
            0 => 0,
            w => (u128::from(w) * u128::from(MAX_SCHEDULE_LEN) / u128::from(total))
                .try_into()
                .unwrap_or(1)
                .max(1),
        })
        .collect()
}

impl RoundRobin {
    /// A round-robin selector over `backends`.
    pub fn new(backends: &[Backend]) -> Result<Self, BuildError> {
        let ranked = canonical_order(backends)?;
        let weights = schedule_weights(&ranked);
        let period: u64 = weights.iter().sum();
        let mut heap: BinaryHeap<Deadline> = weights
            .iter()
            .enumerate()
            .filter(|(_, weight)| **weight > 0)
            .map(|(rank, &weight)| Deadline {
                turn: 0,
                weight,
                rank,
            })
            .collect();
        let mut schedule = Vec::new();
        for _ in 0..period {
            let Some(mut earliest) = heap.pop() else {
                break;
            };
            schedule.push(ranked[earliest.rank].index);
            earliest.turn += 1;
            heap.push(earliest);
        }
        Ok(RoundRobin {
            schedule,
            next: AtomicU64::new(0),
        })
    }
}

impl Selector for RoundRobin {
    fn pick(&self, _flow: &FlowKey) -> Option<usize> {
        let len = u64::try_from(self.schedule.len())
            .ok()
            .filter(|&len| len > 0)?;
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % len;
        let slot = usize::try_from(turn).ok()?;
        self.schedule.get(slot).map(|&index| index as usize)
    }
}
