//! The skeleton every engine shares: services with their backend pools,
//! the session table, the traffic counters and the sweep schedule, and the
//! one frame path that parses, dispatches and counts.
//!
//! An engine composes a [`Core`] and implements [`Balancer`] (what it does
//! with a parsed frame, and any timed work of its own); the rest is written
//! here once: the [`Engine`](crate::Engine) and [`Observe`](crate::Observe)
//! implementations (parse, dispatch, count the verdict, sweep sessions,
//! stats, session listings), mapping a full table to a drop reason, and
//! ending the sessions of a removed backend.

mod addresses;
pub(crate) mod arp_resolver;
pub(crate) mod backend_pool;
pub(crate) mod batch;
mod fingerprint;
mod flood_guard;
pub(crate) mod fragments;
mod health;
mod resets;
pub(crate) mod services;
mod skeleton;
mod snat_pools;
mod sweep;

use core::fmt::Display;
use core::hash::Hash;
use std::net::IpAddr;
use std::time::Instant;

use lb_algos::{BackendId, Policy, SelectorConfig};
use lb_packet::{FlowKey, TcpFlags, WireSize};
use lb_session::{InsertError, KeyHash, RemovedSession, SessionTable, TcpSeen, Tracker};

use crate::stats::TrafficCounters;
use crate::{
    ConfigError, DropReason, EngineKind, HealthSettings, PortId, SelectionSettings, SessionFilter,
    SessionSettings, SessionView, Stats,
};
pub(crate) use addresses::{is_neighbor_discovery, same_family, unicast, unicast_address};
use backend_pool::BackendPool;
use batch::BatchScratch;
use flood_guard::FloodGuard;
pub(crate) use health::HealthState;
use resets::Resets;
use services::{Owned, Owner, ServiceSlots};
pub(crate) use skeleton::Balancer;
use snat_pools::SnatPools;
use sweep::SweepSchedule;

/// Services keyed by `K` with backends at `T`, sessions holding `V`.
pub(crate) struct Core<K, T, V> {
    pub(crate) services: ServiceSlots<K, T>,
    pub(crate) sessions: SessionTable<V>,
    pub(crate) traffic: TrafficCounters,
    pub(crate) selector: SelectorConfig,
    /// The Maglev table size of services that set none (`None`: chosen
    /// from each one's backend count).
    table_size: Option<u64>,
    pub(crate) health: HealthState,
    /// Source ports, for an engine that translates sources (full NAT):
    /// each session's port is given back as it ends.
    pub(crate) snat: SnatPools,
    /// Resets owed to clients.
    pub(crate) resets: Resets,
    /// What the datapath last said its kernel side dropped.
    pub(crate) kernel_drops: u64,
    /// What the run loop last said its datapath could not send.
    pub(crate) unsent_port_down: u64,
    pub(crate) send_errors: u64,
    kind: EngineKind,
    sweep: SweepSchedule,
    flood_guard: FloodGuard,
    /// What a batch's first pass found.
    pub(crate) batch: BatchScratch,
}

impl<K, T, V> core::fmt::Debug for Core<K, T, V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Core")
            .field("kind", &self.kind)
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

impl<K, T, V> Core<K, T, V>
where
    K: Clone + Eq + Hash + Display,
    T: Copy + PartialEq + Display + Into<BackendId>,
    V: Owned,
{
    /// A core with no service yet, probing out of `probe_port` if
    /// `health` names a probe source.
    pub(crate) fn new(
        kind: EngineKind,
        sessions: &SessionSettings,
        selection: &SelectionSettings,
        health: &HealthSettings,
        probe_port: PortId,
    ) -> Result<Self, ConfigError> {
        health.validate()?;
        let mut table = SessionTable::new(sessions.table_config())?;
        table.report_departures();
        Ok(Core {
            services: ServiceSlots::new(),
            sessions: table,
            traffic: TrafficCounters::default(),
            selector: selection.selector_config()?,
            table_size: selection.maglev_table_size,
            health: HealthState::new(*health, probe_port, health.seed()),
            snat: SnatPools::default(),
            resets: Resets::default(),
            kernel_drops: 0,
            unsent_port_down: 0,
            send_errors: 0,
            kind,
            sweep: SweepSchedule::default(),
            flood_guard: FloodGuard::new(sessions.flood_guard),
            batch: BatchScratch::new(sessions.prefetch_from),
        })
    }

    /// The session table's hash of `key`, the flow key of the frame being
    /// handled: found by the batch's first pass, or computed now.
    #[inline]
    pub(crate) fn hash_of(&mut self, key: &FlowKey) -> KeyHash {
        batch::hash_of(&mut self.batch, &self.sessions, key)
    }

    /// A backend pool of `targets` with `policy`, built with this engine's
    /// selection and panic settings, and a Maglev table of `table_size`
    /// slots (else the engine's, else chosen from the backend count).
    pub(crate) fn pool(
        &self,
        policy: Policy,
        targets: impl IntoIterator<Item = (T, u32)>,
        table_size: Option<u64>,
    ) -> Result<BackendPool<T>, ConfigError> {
        let panic = self.health.settings.panic_threshold;
        let table_size = self.table_size(table_size);
        Ok(BackendPool::new(
            policy,
            targets,
            &self.selector,
            panic,
            table_size,
        )?)
    }

    /// The Maglev table size a service asking for `wanted` gets: its own,
    /// else the engine's (`None`: chosen from its backend count).
    pub(crate) fn table_size(&self, wanted: Option<u64>) -> Option<u64> {
        wanted.or(self.table_size)
    }

    /// Refuses a service's active check that cannot work here: settings
    /// out of range, or no probe source to send from.
    pub(crate) fn check_probe(
        &self,
        check: Option<&crate::HealthCheck>,
        targets: impl IntoIterator<Item = IpAddr>,
    ) -> Result<(), ConfigError> {
        let Some(check) = check else { return Ok(()) };
        check.validate()?;
        let Some(prober) = &self.health.prober else {
            return Err(ConfigError::Health(
                "active checks need a probe source: set source in [health]",
            ));
        };
        for target in targets {
            same_family("health-checked address", target, prober.source())?;
        }
        Ok(())
    }

    /// Starts a session for a flow's first packet, and counts the new flow.
    #[inline]
    pub(crate) fn open_session(
        &mut self,
        now: Instant,
        forward: FlowKey,
        reverse: FlowKey,
        tcp: impl TcpSeen,
        value: V,
    ) -> Result<(), DropReason> {
        let owner = value.owner();
        match self.sessions.insert(now, forward, reverse, tcp, value) {
            Ok(_) => {}
            Err(InsertError::Full) => return Err(DropReason::TableFull),
            Err(InsertError::KeyInUse) => return Err(DropReason::KeyInUse),
            Err(_) => return Err(DropReason::NoSession),
        }
        self.services.new_flow(owner);
        self.services.session_opened(owner);
        Ok(())
    }

    /// Puts back a saved session, its source port claimed again (full
    /// NAT), and counts it on its backend.
    pub(crate) fn restore_session(
        &mut self,
        now: Instant,
        forward: FlowKey,
        reverse: FlowKey,
        tracker: Tracker,
        expires_in: core::time::Duration,
        value: V,
    ) -> Result<(), InsertError> {
        let (owner, port) = (value.owner(), value.snat(&reverse));
        if let Some((snat, (remote, port))) = self.snat.get_mut(reverse.dst).zip(port) {
            snat.claim(reverse.dst, remote, forward.proto, port)
                .map_err(|_| InsertError::KeyInUse)?;
        }
        let restored = self
            .sessions
            .restore(now, forward, reverse, tracker, expires_in, value);
        match restored {
            Ok(_) => self.services.session_opened(owner),
            Err(_) => {
                if let Some((snat, (remote, port))) = self.snat.get_mut(reverse.dst).zip(port) {
                    snat.release(reverse.dst, remote, forward.proto, port);
                }
            }
        }
        restored.map(|_| ())
    }

    /// Which engine this is.
    pub(crate) fn kind(&self) -> EngineKind {
        self.kind
    }

    /// Lets go of what each session the table let go of held: its count on
    /// its backend, its source port. Call it after anything that may have
    /// removed sessions.
    #[inline]
    pub(crate) fn settle(&mut self) {
        if self.sessions.has_departed() {
            self.settle_departed();
        }
    }

    #[cold]
    fn settle_departed(&mut self) {
        while let Some(removed) = self.sessions.pop_departed() {
            self.forget(&removed);
        }
    }

    /// Ends the session with `key` (either direction); its value.
    pub(crate) fn remove_session(&mut self, key: &FlowKey) -> Option<V> {
        let removed = self.sessions.remove_entry(key)?;
        self.forget(&removed);
        Some(removed.value)
    }

    fn forget(&mut self, removed: &RemovedSession<V>) {
        self.services.session_closed(removed.value.owner());
        if let Some((remote, port)) = removed.value.snat(&removed.reverse) {
            let (proxy, proto) = (removed.reverse.dst, removed.forward.proto);
            if let Some(snat) = self.snat.get_mut(proxy) {
                snat.release(proxy, remote, proto, port);
            }
        }
    }

    /// Moves the session with `key` to `value`'s backend.
    pub(crate) fn reassign(&mut self, key: &FlowKey, value: V) {
        let owner = value.owner();
        if let Some(held) = self.sessions.peek_mut(key) {
            let previous = core::mem::replace(held, value).owner();
            self.services.session_closed(previous);
            self.services.session_opened(owner);
        }
    }

    /// Starts a session as [`open_session`](Self::open_session) does, or
    /// lets the flow through without one (counted) when the table has no
    /// room or more new flows came this second than the flood guard
    /// allows: for engines whose replies need no state to translate.
    #[inline]
    pub(crate) fn admit(
        &mut self,
        now: Instant,
        forward: FlowKey,
        reverse: FlowKey,
        tcp: impl TcpSeen,
        value: V,
    ) -> Result<(), DropReason> {
        let owner = value.owner();
        if !self.flood_guard.admits(now) {
            self.traffic.flood_guarded += 1;
            return self.pass_statelessly(owner);
        }
        match self.open_session(now, forward, reverse, tcp, value) {
            Err(DropReason::TableFull) => self.pass_statelessly(owner),
            done => done,
        }
    }

    #[cold]
    fn pass_statelessly(&mut self, owner: Owner) -> Result<(), DropReason> {
        self.traffic.stateless += 1;
        self.services.new_flow(owner);
        Ok(())
    }

    /// Counts a frame of a session owned by `owner`.
    #[inline]
    pub(crate) fn count(&mut self, owner: Owner, size: WireSize) {
        self.services.count(owner, size);
    }

    /// Adds a backend to the service in `slot`, or sets the weight of the
    /// one at `target`. Callers found `slot` by key, so it exists.
    pub(crate) fn upsert_backend(
        &mut self,
        slot: u32,
        target: T,
        weight: u32,
    ) -> Result<(), ConfigError> {
        let selector = self.selector;
        let service = self
            .services
            .get_mut(slot)
            .ok_or_else(|| ConfigError::UnknownService(format!("in slot {slot}")))?;
        Ok(service.backends.upsert(target, weight, &selector)?)
    }

    /// Adds a backend at `target` to the service in `slot`; false when it
    /// has one there already (nothing changed).
    pub(crate) fn add_backend(
        &mut self,
        slot: u32,
        target: T,
        weight: u32,
    ) -> Result<bool, ConfigError> {
        if self.has_backend(slot, target) {
            return Ok(false);
        }
        self.upsert_backend(slot, target, weight)?;
        Ok(true)
    }

    /// Sets the weight of the backend at `target` of the service in
    /// `slot`; false when it has none there (nothing changed).
    pub(crate) fn set_weight(
        &mut self,
        slot: u32,
        target: T,
        weight: u32,
    ) -> Result<bool, ConfigError> {
        if !self.has_backend(slot, target) {
            return Ok(false);
        }
        self.upsert_backend(slot, target, weight)?;
        Ok(true)
    }

    fn has_backend(&self, slot: u32, target: T) -> bool {
        self.services
            .get(slot)
            .is_some_and(|service| service.backends.find(target).is_some())
    }

    /// The backends of the service in `slot`, with their weights.
    pub(crate) fn backends(&self, slot: u32) -> Vec<(T, u32)> {
        self.services.get(slot).map_or_else(Vec::new, |service| {
            service
                .backends
                .members()
                .map(|(_, member)| (member.target, member.weight))
                .collect()
        })
    }

    /// Removes the backend at `target` from the service in `slot` and ends
    /// its sessions; how many, or `None` if the service has no such backend.
    pub(crate) fn remove_backend(
        &mut self,
        slot: u32,
        target: T,
    ) -> Result<Option<usize>, ConfigError> {
        let selector = self.selector;
        let Some(service) = self.services.get_mut(slot) else {
            return Ok(None);
        };
        let Some(backend) = service.backends.remove(target, &selector)? else {
            return Ok(None);
        };
        let gone = Owner {
            service: slot,
            backend,
        };
        let ended = self.sessions.retain(|_, value| value.owner() != gone);
        self.settle();
        Ok(Some(ended))
    }

    /// Removes the service under `key` and ends its sessions; how many, or
    /// `None` if there is no such service.
    pub(crate) fn remove_service(&mut self, key: &K) -> Option<usize> {
        let slot = self.services.remove(key)?;
        let ended = self
            .sessions
            .retain(|_, value| value.owner().service != slot);
        self.settle();
        Some(ended)
    }

    /// Sweeps idle sessions when due.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.sweep.run(now, &mut self.sessions);
        self.settle();
    }

    /// When the next sweep or health work is due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match (self.sweep.deadline(), self.health_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A snapshot of every counter and of the sessions per backend (those
    /// the table holds: an expired one counts until it is swept).
    pub(crate) fn stats(&self, now: Instant) -> Stats {
        let services = self.services.stats(now);
        Stats {
            engine: self.kind,
            traffic: self.traffic,
            sessions: self.sessions.len(),
            session_capacity: self.sessions.capacity(),
            session_table: self.sessions.stats(),
            kernel_drops: self.kernel_drops,
            unsent_port_down: self.unsent_port_down,
            send_errors: self.send_errors,
            selection_fingerprint: fingerprint::selection_fingerprint(&self.selector, &services),
            services,
        }
    }

    /// Counts a TCP packet without SYN that found no session: another
    /// instance had its flow until now (behind ECMP), or this one lost it
    /// (a full table, a restart). Katran counts these too.
    #[inline]
    pub(crate) fn count_non_syn_miss(&mut self, flags: Option<TcpFlags>) {
        if flags.is_some_and(|flags| !flags.contains(TcpFlags::SYN)) {
            self.traffic.non_syn_misses += 1;
        }
    }

    /// Every counter back to zero; sessions stay.
    pub(crate) fn reset_counters(&mut self) {
        self.traffic = TrafficCounters::default();
        self.sessions.reset_stats();
        self.services.reset_counters();
    }

    /// Up to `limit` live sessions that match `filter`.
    pub(crate) fn sessions(
        &self,
        now: Instant,
        filter: &SessionFilter,
        limit: usize,
    ) -> Vec<SessionView> {
        self.sessions
            .iter(now)
            .filter_map(|session| {
                let owner = session.value.owner();
                let service = self.services.get(owner.service)?;
                let backend = service.backends.get(owner.backend)?;
                filter.view(
                    &session,
                    service.key.to_string(),
                    backend.target.to_string(),
                )
            })
            .take(limit)
            .collect()
    }
}
