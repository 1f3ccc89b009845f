//! When engines look for idle sessions.

use std::time::{Duration, Instant};

use lb_session::SessionTable;

/// How often idle sessions are looked for.
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);
/// Slots examined per sweep: bounds the pause one sweep adds to a batch.
const SWEEP_BUDGET: usize = 1024;

/// Expires idle sessions a bounded number at a time, every [`SWEEP_INTERVAL`].
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SweepSchedule {
    next: Option<Instant>,
}

impl SweepSchedule {
    /// Sweeps `sessions` if a sweep is due at `now`.
    pub(crate) fn run<V>(&mut self, now: Instant, sessions: &mut SessionTable<V>) {
        if self.next.is_none_or(|due| due <= now) {
            sessions.expire(now, SWEEP_BUDGET);
            self.next = Some(now + SWEEP_INTERVAL);
        }
    }

    /// When the next sweep is due; `None` until the first has run.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.next
    }
}
