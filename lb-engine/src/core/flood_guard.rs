//! Katran's flood guard: past a rate of new flows, new flows get no
//! session.

use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(1);

/// Counts new flows in one-second windows (Katran's `is_under_flood`): the
/// first `limit` of a window may have a session, the rest are forwarded
/// statelessly by the consistent hash. Spoofed floods then cost a hash and
/// a rewrite per SYN instead of a table insert and an eviction, and leave
/// the table to the connections it holds. A limit of 0 never engages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FloodGuard {
    limit: u32,
    window_start: Option<Instant>,
    seen: u32,
}

impl FloodGuard {
    pub(crate) fn new(limit: u32) -> Self {
        FloodGuard {
            limit,
            window_start: None,
            seen: 0,
        }
    }

    /// Counts a new flow at `now`; true when it may have a session.
    #[inline]
    pub(crate) fn admits(&mut self, now: Instant) -> bool {
        if self.limit == 0 {
            return true;
        }
        match self.window_start {
            Some(start) if now.saturating_duration_since(start) < WINDOW => {
                self.seen = self.seen.saturating_add(1);
                self.seen <= self.limit
            }
            _ => {
                self.window_start = Some(now);
                self.seen = 1;
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_the_limit_per_second_then_resets() {
        let start = Instant::now();
        let mut guard = FloodGuard::new(3);
        let admitted = (0..5)
            .filter(|i| guard.admits(start + Duration::from_millis(i * 100)))
            .count();
        assert_eq!(admitted, 3);
        assert!(guard.admits(start + Duration::from_millis(1000)));
        assert!(guard.admits(start + Duration::from_millis(1500)));
        assert!(guard.admits(start + Duration::from_millis(1999)));
        assert!(!guard.admits(start + Duration::from_millis(1999)));
    }

    #[test]
    fn zero_never_engages() {
        let now = Instant::now();
        let mut guard = FloodGuard::new(0);
        assert!((0..100_000).all(|_| guard.admits(now)));
    }
}
