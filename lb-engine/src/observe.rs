//! Reading a running engine: counters and live sessions.

use std::time::Instant;

use crate::{HealthEvent, SessionFilter, SessionView, Stats};

/// What an engine shows of itself, apart from moving frames: counters and
/// sessions, as typed snapshots an admin endpoint or a test can read.
pub trait Observe {
    /// A snapshot of the counters at `now`.
    fn stats(&self, now: Instant) -> Stats;

    /// Sets every counter back to zero (sessions stay).
    fn reset_counters(&mut self);

    /// Up to `limit` live sessions that match `filter`.
    fn sessions(&self, now: Instant, filter: &SessionFilter, limit: usize) -> Vec<SessionView>;

    /// The next change of a backend's health not yet read (the newest
    /// thousand are kept), for logs.
    fn poll_health_event(&mut self) -> Option<HealthEvent> {
        None
    }
}
