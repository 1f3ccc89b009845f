//! [`BackendHealth`]: one backend's health, as a state machine fed with
//! probe results and passive signals. Pure: time is an argument.

use core::fmt;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::settings::{HealthCheck, PassiveSettings};

/// What is known of a backend's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Nothing yet: no probe answered, no handshake seen. It takes flows.
    Unknown,
    /// Probes pass, or handshakes complete.
    Up,
    /// Probes fail, it is ejected, or an operator forced it down. It takes
    /// no new flows.
    Down,
}

impl Health {
    /// The lowercase name the API and tables use.
    pub fn name(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An operator's word on a backend, which outranks every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthOverride {
    /// Up whatever the checks say.
    Up,
    /// Down whatever the checks say.
    Down,
}

/// How one active probe ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProbeResult {
    /// The expected answer came.
    Passed,
    /// No answer within the timeout.
    TimedOut,
    /// Refused: a RST, or ICMP port unreachable.
    Refused,
    /// ICMP destination unreachable (net, host, ...).
    Unreachable,
    /// An HTTP answer with a status other than 2xx or 3xx.
    BadStatus(u16),
    /// An answer that is not HTTP.
    BadReply,
}

impl ProbeResult {
    /// True for [`ProbeResult::Passed`].
    pub fn passed(self) -> bool {
        self == ProbeResult::Passed
    }
}

impl fmt::Display for ProbeResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeResult::Passed => f.write_str("passed"),
            ProbeResult::TimedOut => f.write_str("timed out"),
            ProbeResult::Refused => f.write_str("refused"),
            ProbeResult::Unreachable => f.write_str("unreachable"),
            ProbeResult::BadStatus(status) => write!(f, "HTTP status {status}"),
            ProbeResult::BadReply => f.write_str("not an HTTP answer"),
        }
    }
}

/// A new flow's handshake that the backend failed, seen in real traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassiveFailure {
    /// The backend answered a SYN with RST.
    Refused,
    /// An ICMP destination unreachable about a flow to the backend.
    Unreachable,
    /// The client retried its SYN: the backend never answered it.
    Silence,
}

impl fmt::Display for PassiveFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PassiveFailure::Refused => "a SYN answered with RST",
            PassiveFailure::Unreachable => "ICMP unreachable",
            PassiveFailure::Silence => "a SYN left unanswered",
        })
    }
}

/// Counts of what a backend's checks saw, since it was added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCounters {
    /// Probes that passed.
    pub probes_passed: u64,
    /// Probes that failed.
    pub probes_failed: u64,
    /// Handshakes the backend failed (passive detection).
    pub handshakes_failed: u64,
    /// Times passive detection ejected it.
    pub ejections: u64,
}

/// A backend's health and why, as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthDetail {
    /// How the last probe ended, if one did.
    pub last_probe: Option<ProbeResult>,
    /// Consecutive probes that ended the same way as the last.
    pub probe_streak: u32,
    /// Consecutive failed handshakes since the last good one.
    pub passive_failures: u32,
    /// What the last failed handshake was.
    pub last_passive_failure: Option<PassiveFailure>,
    /// Milliseconds until an ejection ends, while ejected.
    pub ejected_for_ms: Option<u64>,
    /// An operator's override.
    pub forced: Option<HealthOverride>,
    /// Counts since it was added.
    #[serde(flatten)]
    pub counters: HealthCounters,
}

/// One backend's health: active probe results against `rise`/`fall`,
/// passive failures against ejection, and an operator's override.
///
/// A backend is *usable* (takes new flows) unless forced down, down by
/// its probes, or ejected; forced up, it is usable whatever else. A probe
/// that finds it up ends an ejection (probes see the backend itself,
/// handshakes may fail for other reasons). Each
/// `record_*` method returns true when usability changed, so the caller
/// rebuilds its selector only then. It starts [`Health::Unknown`] and
/// usable: `fall` failed probes take it down, `rise` passes bring it back
/// (one pass makes an unknown backend up).
///
/// ```
/// use lb_engine::{BackendHealth, Health, HealthCheck, ProbeKind, ProbeResult};
///
/// let check = HealthCheck { rise: 2, fall: 2, ..HealthCheck::new(ProbeKind::Tcp) };
/// let mut health = BackendHealth::new();
/// assert!(!health.record_probe(ProbeResult::TimedOut, &check));
/// assert!(health.record_probe(ProbeResult::Refused, &check), "down after fall = 2");
/// assert_eq!((health.health(), health.is_usable()), (Health::Down, false));
/// assert!(!health.record_probe(ProbeResult::Passed, &check));
/// assert!(health.record_probe(ProbeResult::Passed, &check), "up after rise = 2");
/// assert_eq!(health.health(), Health::Up);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendHealth {
    active: Health,
    last_probe: Option<ProbeResult>,
    probe_streak: u32,
    passive_failures: u32,
    last_passive_failure: Option<PassiveFailure>,
    /// Ejections that still count towards the next one's length.
    ejections: u32,
    ejected_until: Option<Instant>,
    passive_up: bool,
    forced: Option<HealthOverride>,
    counters: HealthCounters,
}

impl Default for BackendHealth {
    fn default() -> Self {
        Self::new()
    }
}

impl BackendHealth {
    /// A backend nothing is known of yet.
    pub const fn new() -> Self {
        BackendHealth {
            active: Health::Unknown,
            last_probe: None,
            probe_streak: 0,
            passive_failures: 0,
            last_passive_failure: None,
            ejections: 0,
            ejected_until: None,
            passive_up: false,
            forced: None,
            counters: HealthCounters {
                probes_passed: 0,
                probes_failed: 0,
                handshakes_failed: 0,
                ejections: 0,
            },
        }
    }

    /// Whether it takes new flows.
    pub fn is_usable(&self) -> bool {
        match self.forced {
            Some(forced) => forced == HealthOverride::Up,
            None => self.active != Health::Down && self.ejected_until.is_none(),
        }
    }

    /// Its health, all signals together.
    pub fn health(&self) -> Health {
        match self.forced {
            Some(HealthOverride::Up) => Health::Up,
            Some(HealthOverride::Down) => Health::Down,
            None if !self.is_usable() => Health::Down,
            None if self.active == Health::Up || self.passive_up => Health::Up,
            None => Health::Unknown,
        }
    }

    /// An operator's override, if one is in force.
    pub fn forced(&self) -> Option<HealthOverride> {
        self.forced
    }

    /// When the current ejection ends.
    pub fn ejected_until(&self) -> Option<Instant> {
        self.ejected_until
    }

    /// Its health and why, at `now`.
    pub fn detail(&self, now: Instant) -> HealthDetail {
        HealthDetail {
            last_probe: self.last_probe,
            probe_streak: self.probe_streak,
            passive_failures: self.passive_failures,
            last_passive_failure: self.last_passive_failure,
            ejected_for_ms: self.ejected_until.map(|until| {
                let left = until.saturating_duration_since(now).as_millis();
                u64::try_from(left).unwrap_or(u64::MAX)
            }),
            forced: self.forced,
            counters: self.counters,
        }
    }

    /// Applies an operator's override, or lifts it with `None`.
    pub fn force(&mut self, forced: Option<HealthOverride>) -> bool {
        self.changes_usability(|health| health.forced = forced)
    }

    /// Records a probe's result against `check`'s `rise` and `fall`.
    pub fn record_probe(&mut self, result: ProbeResult, check: &HealthCheck) -> bool {
        self.changes_usability(|health| {
            let same = health.last_probe.map(ProbeResult::passed) == Some(result.passed());
            health.probe_streak = if same { health.probe_streak + 1 } else { 1 };
            health.last_probe = Some(result);
            if result.passed() {
                health.counters.probes_passed += 1;
                let needed = if health.active == Health::Down {
                    check.rise
                } else {
                    1
                };
                if health.probe_streak >= needed {
                    health.active = Health::Up;
                    // Probes outrank passive detection, as Envoy's
                    // `successful_active_health_check_uneject_host`.
                    health.ejected_until = None;
                    health.passive_failures = 0;
                }
            } else {
                health.counters.probes_failed += 1;
                if health.probe_streak >= check.fall {
                    health.active = Health::Down;
                }
            }
        })
    }

    /// Records a handshake the backend completed: passive failures start
    /// counting again, and ejections weigh less.
    pub fn record_passive_success(&mut self) {
        if self.passive_failures > 0 || !self.passive_up {
            self.passive_failures = 0;
            self.passive_up = true;
            self.ejections = self.ejections.saturating_sub(1);
        }
    }

    /// Records a handshake the backend failed at `now`; with `may_eject`
    /// (the service's ejection cap allows one more), enough of them in a
    /// row eject it for a time that grows with each ejection.
    pub fn record_passive_failure(
        &mut self,
        now: Instant,
        failure: PassiveFailure,
        passive: &PassiveSettings,
        may_eject: bool,
    ) -> bool {
        self.changes_usability(|health| {
            health.passive_failures = health.passive_failures.saturating_add(1);
            health.last_passive_failure = Some(failure);
            health.passive_up = false;
            health.counters.handshakes_failed += 1;
            let due = health.passive_failures >= passive.consecutive_failures;
            if due && may_eject && health.ejected_until.is_none() {
                health.ejections = health.ejections.saturating_add(1);
                health.counters.ejections += 1;
                health.ejected_until = Some(now + passive.ejection(health.ejections));
                health.passive_failures = 0;
            }
        })
    }

    /// Ends an ejection that is over at `now`.
    pub fn end_ejection(&mut self, now: Instant) -> bool {
        self.changes_usability(|health| {
            if health.ejected_until.is_some_and(|until| until <= now) {
                health.ejected_until = None;
            }
        })
    }

    /// True when ejected or about to be: passive failures have reached
    /// the threshold, or it is ejected now.
    pub(crate) fn is_failing(&self) -> bool {
        self.passive_failures > 0 || self.ejected_until.is_some() || !self.is_usable()
    }

    fn changes_usability(&mut self, change: impl FnOnce(&mut Self)) -> bool {
        let before = self.is_usable();
        change(self);
        before != self.is_usable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProbeKind;
    use proptest::prelude::*;
    use std::time::Duration;

    fn check(rise: u32, fall: u32) -> HealthCheck {
        HealthCheck {
            rise,
            fall,
            ..HealthCheck::new(ProbeKind::Tcp)
        }
    }

    #[test]
    fn an_override_outranks_every_check() {
        let check = check(1, 1);
        let mut health = BackendHealth::new();
        assert!(health.force(Some(HealthOverride::Down)));
        assert!(!health.record_probe(ProbeResult::Passed, &check));
        assert_eq!((health.health(), health.is_usable()), (Health::Down, false));
        assert!(health.force(Some(HealthOverride::Up)));
        assert!(!health.record_probe(ProbeResult::TimedOut, &check));
        assert_eq!((health.health(), health.is_usable()), (Health::Up, true));
        assert!(health.force(None), "lifted: the failed probe counts");
        assert_eq!(health.health(), Health::Down);
    }

    #[test]
    fn ejections_grow_and_end_on_time() {
        let passive = PassiveSettings {
            consecutive_failures: 2,
            base_ejection_ms: 1000,
            max_ejection_ms: 2500,
            ..PassiveSettings::default()
        };
        let start = Instant::now();
        let mut health = BackendHealth::new();
        let mut now = start;
        for (round, expected) in [(1, 1000), (2, 2000), (3, 2500), (4, 2500)] {
            assert!(!health.record_passive_failure(now, PassiveFailure::Silence, &passive, true));
            assert!(
                health.record_passive_failure(now, PassiveFailure::Refused, &passive, true),
                "round {round}"
            );
            let until = health.ejected_until().unwrap();
            assert_eq!(
                until - now,
                Duration::from_millis(expected),
                "round {round}"
            );
            assert!(!health.end_ejection(until - Duration::from_millis(1)));
            assert!(health.end_ejection(until));
            assert!(health.is_usable());
            now = until;
        }
        assert_eq!(health.detail(now).counters.ejections, 4);
        health.record_passive_success();
        assert_eq!(health.health(), Health::Up);
    }

    #[test]
    fn a_passing_probe_ends_an_ejection() {
        let passive = PassiveSettings {
            consecutive_failures: 1,
            ..PassiveSettings::default()
        };
        let mut health = BackendHealth::new();
        let now = Instant::now();
        assert!(health.record_passive_failure(now, PassiveFailure::Refused, &passive, true));
        assert!(health.record_probe(ProbeResult::Passed, &check(2, 2)));
        assert_eq!(
            (health.health(), health.ejected_until()),
            (Health::Up, None)
        );
    }

    #[test]
    fn the_ejection_cap_holds_a_backend_in() {
        let passive = PassiveSettings::default();
        let mut health = BackendHealth::new();
        let now = Instant::now();
        for _ in 0..10 {
            assert!(!health.record_passive_failure(now, PassiveFailure::Silence, &passive, false));
        }
        assert!(health.is_usable() && health.is_failing());
        assert_eq!(health.health(), Health::Unknown);
    }

    proptest! {
        /// Against a model: down exactly when the last `fall` probes failed
        /// (from up or unknown), up again exactly when the last `rise`
        /// passed.
        #[test]
        fn thresholds_match_a_model(rise in 1u32..5, fall in 1u32..5, results in proptest::collection::vec(any::<bool>(), 0..64)) {
            let check = check(rise, fall);
            let mut health = BackendHealth::new();
            let mut down = false;
            let mut history: Vec<bool> = Vec::new();
            for passed in results {
                let result = if passed { ProbeResult::Passed } else { ProbeResult::TimedOut };
                let changed = health.record_probe(result, &check);
                history.push(passed);
                let tail = |n: u32, value: bool| history.len() >= n as usize
                    && history.iter().rev().take(n as usize).all(|&p| p == value);
                let was = down;
                if down && tail(rise, true) { down = false; }
                if !down && tail(fall, false) { down = true; }
                prop_assert_eq!(changed, was != down);
                prop_assert_eq!(health.is_usable(), !down);
            }
        }
    }
}
