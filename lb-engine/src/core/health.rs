//! Health on the shared core: probes scheduled and concluded, passive
//! signals from the engines' paths, overrides, and the selector rebuilt
//! whenever a backend starts or stops taking new flows.

use core::fmt::Display;
use core::hash::Hash;
use std::collections::VecDeque;
use std::time::Instant;

use lb_algos::BackendId;
use lb_packet::{FlowKey, Frame, TcpFlags};
use lb_session::SessionState;

use super::Core;
use super::services::{Owned, Owner};
use crate::health::passive::reply_verdict;
use crate::health::prober::{Concluded, ProbeTarget, Prober};
use crate::health::schedule::{first_probe, next_probe};
use crate::{
    BackendHealth, ConfigError, DropReason, HealthEvent, HealthOverride, HealthReason,
    HealthSettings, PassiveFailure, PortId, Verdict,
};

/// Health events kept for the reader at most; older ones are dropped.
const EVENT_LIMIT: usize = 1024;

/// What the core keeps for health: settings, the prober (with a probe
/// source), events not yet read, and when timed work is next due.
#[derive(Debug)]
pub(crate) struct HealthState {
    pub(crate) settings: HealthSettings,
    pub(crate) prober: Option<Prober>,
    events: VecDeque<HealthEvent>,
    /// The earliest scheduled probe or ejection end.
    due: Option<Instant>,
}

impl HealthState {
    /// Health with `settings`, probing out of `port` when they name a
    /// source; `seed` feeds jitter, probe ports and sequence numbers.
    pub(crate) fn new(settings: HealthSettings, port: PortId, seed: u64) -> Self {
        let prober = settings.source.map(|source| {
            let mac = settings.source_mac(source.ip);
            Prober::new(source, mac, settings.gateway, port, seed)
        });
        HealthState {
            settings,
            prober,
            events: VecDeque::new(),
            due: None,
        }
    }

    fn wake_at(&mut self, at: Instant) {
        self.due = Some(self.due.map_or(at, |due| due.min(at)));
    }
}

impl<K, T, V> Core<K, T, V>
where
    K: Clone + Eq + Hash + Display,
    T: Copy + PartialEq + Display + Into<BackendId>,
    V: Owned,
{
    /// Sends the probes that are due, concludes those out of time, ends
    /// ejections that are over. `target` says where a backend's probe goes
    /// (None: this backend cannot be probed).
    pub(crate) fn run_health(
        &mut self,
        now: Instant,
        target: impl Fn(&K, T, u16) -> Option<ProbeTarget>,
    ) {
        let mut concluded = Vec::new();
        if let Some(prober) = self.health.prober.as_mut() {
            prober.expire(now, &mut concluded);
        }
        for (owner, result) in concluded.drain(..) {
            self.conclude(now, (owner, result));
        }
        let mut due: Option<Instant> = None;
        let mut wake = |at: Instant| due = Some(due.map_or(at, |d: Instant| d.min(at)));
        let mut ended = Vec::new();
        let slots: Vec<u32> = self.services.iter().map(|(slot, _)| slot).collect();
        for service_slot in slots {
            let Some(service) = self.services.get_mut(service_slot) else {
                continue;
            };
            let (key, check) = (&service.key, service.check.as_ref());
            for (backend, member) in service.backends.members_mut() {
                if let Some(until) = member.health.ejected_until() {
                    if until <= now {
                        ended.push(Owner {
                            service: service_slot,
                            backend,
                        });
                    } else {
                        wake(until);
                    }
                }
                let (Some(check), Some(prober)) = (check, self.health.prober.as_mut()) else {
                    continue;
                };
                let at = *member
                    .next_probe
                    .get_or_insert_with(|| first_probe(now, check, prober.rng()));
                if at > now {
                    wake(at);
                    continue;
                }
                let down = !member.health.is_usable();
                let next = next_probe(now, check, down, prober.rng());
                member.next_probe = Some(next);
                wake(next);
                let port = check.port.unwrap_or(0);
                if let Some(to) = target(key, member.target, port) {
                    let owner = Owner {
                        service: service_slot,
                        backend,
                    };
                    let sessions = &self.sessions;
                    let source = prober.source();
                    prober.send(now, owner, check, to, |proto, local| {
                        let reply = FlowKey {
                            src: to.ip,
                            dst: source,
                            src_port: to.port,
                            dst_port: local,
                            proto,
                        };
                        sessions.peek(&reply).is_some()
                    });
                }
            }
        }
        self.health.due = due;
        for owner in ended {
            self.change_health(
                owner,
                |h| h.end_ejection(now),
                |_| HealthReason::EjectionOver,
            );
        }
    }

    /// When health next has timed work.
    pub(crate) fn health_deadline(&self) -> Option<Instant> {
        let probes = self.health.prober.as_ref().and_then(Prober::deadline);
        match (self.health.due, probes) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A frame for the probe source on the backend side: ARP answered or
    /// learned from, a probe's reply concluded. None when it is not for
    /// the probe source (the engine goes on with it).
    pub(crate) fn handle_probe_frame(
        &mut self,
        now: Instant,
        frame: &mut Frame<&mut [u8]>,
    ) -> Option<Verdict> {
        let prober = self.health.prober.as_mut()?;
        if frame.arp().is_some() || super::is_neighbor_discovery(frame) {
            return prober.handle_arp(now, frame);
        }
        if frame.dst_ip()? != prober.source() {
            return None;
        }
        if let Some((owner, result)) = prober.handle(now, frame) {
            self.conclude(now, (owner, result));
        }
        Some(Verdict::Consumed)
    }

    /// Writes the next probe frame into `buffer`.
    pub(crate) fn poll_probe(&mut self, buffer: &mut Vec<u8>) -> Option<PortId> {
        self.health.prober.as_mut()?.pop_into(buffer)
    }

    fn conclude(&mut self, now: Instant, (owner, result): Concluded) {
        let Some(check) = self
            .services
            .get(owner.service)
            .and_then(|service| service.check.clone())
        else {
            return;
        };
        self.change_health(
            owner,
            |health| health.record_probe(result, &check),
            |health| HealthReason::Probe {
                result,
                streak: health.detail(now).probe_streak,
            },
        );
        // A result against the backend's state starts a transition: the
        // next probes come at the faster interval (HAProxy's `fastinter`),
        // so `fall` failures (or `rise` passes) are counted sooner.
        let Some(member) = self
            .services
            .get_mut(owner.service)
            .and_then(|service| service.backends.get_mut(owner.backend))
        else {
            return;
        };
        if result.passed() != member.health.is_usable() {
            let sooner = now + check.interval(true);
            if member.next_probe.is_none_or(|at| at > sooner) {
                member.next_probe = Some(sooner);
                self.health.wake_at(sooner);
            }
        }
    }

    /// The backend of `owner` completed a handshake.
    #[inline]
    pub(crate) fn passive_success(&mut self, owner: Owner) {
        if let Some(member) = self
            .services
            .get_mut(owner.service)
            .and_then(|service| service.backends.get_mut(owner.backend))
        {
            member.health.record_passive_success();
        }
    }

    /// The backend of `owner` failed a handshake at `now`.
    pub(crate) fn passive_failure(&mut self, now: Instant, owner: Owner, failure: PassiveFailure) {
        let passive = self.health.settings.passive;
        if !passive.enabled {
            return;
        }
        let Some(pool) = self.services.get(owner.service).map(|s| &s.backends) else {
            return;
        };
        let members = pool.members().count();
        let cap = (members * usize::from(passive.max_ejection_percent) / 100).max(1);
        let may_eject = pool.ejected() < cap;
        self.change_health(
            owner,
            |health| health.record_passive_failure(now, failure, &passive, may_eject),
            |health| HealthReason::Ejected {
                failure,
                for_ms: health.detail(now).ejected_for_ms.unwrap_or(0),
            },
        );
        if let Some(until) = self.backend_health(owner).and_then(|h| h.ejected_until()) {
            self.health.wake_at(until);
        }
    }

    /// A backend's first answer to a new flow (`previous` is the state
    /// before this reply): counted for passive detection. Returns the
    /// verdict when the reply is held back: a refusal the client should
    /// retry, to another backend.
    #[inline]
    pub(crate) fn judge_reply(
        &mut self,
        now: Instant,
        owner: Owner,
        previous: SessionState,
        flags: Option<TcpFlags>,
    ) -> Option<Verdict> {
        match reply_verdict(previous, flags)? {
            Ok(()) => self.passive_success(owner),
            Err(failure) => {
                self.passive_failure(now, owner, failure);
                if self.should_retry_elsewhere(owner) {
                    return Some(Verdict::Drop(DropReason::BackendRefused));
                }
            }
        }
        None
    }

    /// A client retried the SYN of `flow`, which the backend of `owner`
    /// never answered (`unanswered`: silence; else it refused): a passive
    /// failure. The slot of the backend the retry goes to instead, when
    /// this one is failing and another is usable.
    #[cold]
    pub(crate) fn retry_target(
        &mut self,
        now: Instant,
        owner: Owner,
        flow: &FlowKey,
        unanswered: bool,
    ) -> Option<u32> {
        if unanswered {
            self.passive_failure(now, owner, PassiveFailure::Silence);
        }
        if !self.should_retry_elsewhere(owner) {
            return None;
        }
        self.services
            .get(owner.service)?
            .backends
            .pick_other(flow, owner.backend)
    }

    /// True when the backend of `owner` failed its last handshake or is
    /// not usable, and its service has another backend that is.
    fn should_retry_elsewhere(&self, owner: Owner) -> bool {
        let passive = &self.health.settings.passive;
        let Some(service) = self.services.get(owner.service) else {
            return false;
        };
        passive.enabled
            && passive.retry_elsewhere
            && service
                .backends
                .get(owner.backend)
                .is_some_and(|member| member.health.is_failing())
            && service.backends.has_other(owner.backend)
    }

    /// An operator's override on the backend at `target` of the service in
    /// `slot` (`None` lifts it); false when there is no such backend.
    pub(crate) fn force_health(
        &mut self,
        slot: u32,
        target: T,
        forced: Option<HealthOverride>,
    ) -> Result<bool, ConfigError> {
        let Some(backend) = self
            .services
            .get(slot)
            .and_then(|service| service.backends.find(target))
        else {
            return Ok(false);
        };
        let owner = Owner {
            service: slot,
            backend,
        };
        self.change_health(owner, |h| h.force(forced), |_| HealthReason::Forced(forced));
        Ok(true)
    }

    /// The next health event not yet read.
    pub(crate) fn poll_health_event(&mut self) -> Option<HealthEvent> {
        self.health.events.pop_front()
    }

    fn backend_health(&self, owner: Owner) -> Option<&BackendHealth> {
        let service = self.services.get(owner.service)?;
        Some(&service.backends.get(owner.backend)?.health)
    }

    /// Applies `change` to a backend's health; when it starts or stops
    /// taking new flows, rebuilds the selector, logs an event with
    /// `reason`, and ends its sessions if the settings say so.
    fn change_health(
        &mut self,
        owner: Owner,
        change: impl FnOnce(&mut BackendHealth) -> bool,
        reason: impl FnOnce(&BackendHealth) -> HealthReason,
    ) {
        let selector = self.selector;
        let Some(service) = self.services.get_mut(owner.service) else {
            return;
        };
        let Some(member) = service.backends.get_mut(owner.backend) else {
            return;
        };
        if !change(&mut member.health) {
            return;
        }
        let (health, usable) = (member.health, member.health.is_usable());
        let backend = member.target.to_string();
        // Weights only change, to ones the selector built with before.
        let _ = service.backends.refresh(&selector);
        if self.health.events.len() == EVENT_LIMIT {
            self.health.events.pop_front();
        }
        self.health.events.push_back(HealthEvent {
            service: service.key.to_string(),
            backend,
            usable,
            health: health.health(),
            reason: reason(&health),
            panic: service.backends.is_panicking(),
        });
        if !usable && self.health.settings.end_sessions_on_down {
            self.sessions.retain(|_, value| value.owner() != owner);
            self.settle();
        }
    }
}
