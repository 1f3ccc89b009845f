//! An engine's services in stable slots, each with its backend pool and
//! counters, and found by key.

use core::fmt::Display;
use core::hash::Hash;
use std::collections::HashMap;
use std::net::SocketAddr;

use std::time::Instant;

use lb_algos::BackendId;
use lb_packet::{FlowKey, WireSize};

use super::backend_pool::{BackendPool, Member};
use crate::HealthCheck;
use crate::stats::{BackendStats, FlowCounters, ServiceStats};

/// Which service and backend a session belongs to, by slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Owner {
    pub(crate) service: u32,
    pub(crate) backend: u32,
}

impl Owner {
    /// No service's: a session the engine keeps for its own reasons (a
    /// client talking to a backend directly), counted nowhere.
    pub(crate) const NONE: Owner = Owner {
        service: u32::MAX,
        backend: u32::MAX,
    };
}

/// A session value that knows its [`Owner`].
pub(crate) trait Owned {
    fn owner(&self) -> Owner;

    /// The destination and source port its full NAT took, to give back
    /// when it ends; `reverse` is its reply key.
    fn snat(&self, reverse: &FlowKey) -> Option<(SocketAddr, u16)> {
        let _ = reverse;
        None
    }
}

/// A service: what it is called, its backends, its counters, how its
/// backends are probed.
#[derive(Debug)]
pub(crate) struct Service<K, T> {
    pub(crate) key: K,
    pub(crate) backends: BackendPool<T>,
    pub(crate) counters: FlowCounters,
    pub(crate) check: Option<HealthCheck>,
    /// New flows refused for want of a source port (full NAT).
    pub(crate) refused: u64,
}

/// Services in slots that stay put: a removed service leaves a hole, so a
/// session naming a slot never finds another service in it.
#[derive(Debug)]
pub(crate) struct ServiceSlots<K, T> {
    slots: Vec<Option<Service<K, T>>>,
    index: HashMap<K, u32>,
}

fn slot_index(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

impl<K: Clone + Eq + Hash + Display, T: Copy + PartialEq + Display + Into<BackendId>>
    ServiceSlots<K, T>
{
    pub(crate) fn new() -> Self {
        ServiceSlots {
            slots: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// Adds a service under `key` (which must be new), its backends
    /// probed by `check`; returns its slot.
    pub(crate) fn insert(
        &mut self,
        key: K,
        backends: BackendPool<T>,
        check: Option<HealthCheck>,
    ) -> u32 {
        let service = Service {
            key: key.clone(),
            backends,
            counters: FlowCounters::default(),
            check,
            refused: 0,
        };
        let slot = match self.slots.iter().position(Option::is_none) {
            Some(free) => {
                self.slots[free] = Some(service);
                free
            }
            None => {
                self.slots.push(Some(service));
                self.slots.len() - 1
            }
        };
        let slot = slot_index(slot);
        self.index.insert(key, slot);
        slot
    }

    /// Removes the service under `key`; its slot, if it had one.
    pub(crate) fn remove(&mut self, key: &K) -> Option<u32> {
        let slot = self.index.remove(key)?;
        self.slots[slot as usize] = None;
        Some(slot)
    }

    /// Gives the service in `slot` a new key.
    pub(crate) fn rekey(&mut self, slot: u32, key: K) {
        if let Some(service) = self.get_mut(slot) {
            let old = core::mem::replace(&mut service.key, key.clone());
            self.index.remove(&old);
            self.index.insert(key, slot);
        }
    }

    /// The slot of the service under `key`.
    #[inline]
    pub(crate) fn slot(&self, key: &K) -> Option<u32> {
        self.index.get(key).copied()
    }

    pub(crate) fn contains(&self, key: &K) -> bool {
        self.index.contains_key(key)
    }

    #[inline]
    pub(crate) fn get(&self, slot: u32) -> Option<&Service<K, T>> {
        self.slots.get(slot as usize)?.as_ref()
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, slot: u32) -> Option<&mut Service<K, T>> {
        self.slots.get_mut(slot as usize)?.as_mut()
    }

    /// The services with their slots, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &Service<K, T>)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(index, slot)| Some((slot_index(index), slot.as_ref()?)))
    }

    /// The keys, in slot order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &K> {
        self.iter().map(|(_, service)| &service.key)
    }

    /// Counts a frame on its service and backend.
    #[inline]
    pub(crate) fn count(&mut self, owner: Owner, size: WireSize) {
        if let Some(service) = self.get_mut(owner.service) {
            service.counters.packet(size);
            if let Some(backend) = service.backends.get_mut(owner.backend) {
                backend.counters.packet(size);
            }
        }
    }

    /// Counts a new flow of the service in `slot` refused for want of a
    /// source port.
    pub(crate) fn refused(&mut self, slot: u32) {
        if let Some(service) = self.get_mut(slot) {
            service.refused += 1;
        }
    }

    /// Counts a new flow on its service and backend.
    pub(crate) fn new_flow(&mut self, owner: Owner) {
        if let Some(service) = self.get_mut(owner.service) {
            service.counters.new_flows += 1;
            if let Some(backend) = service.backends.get_mut(owner.backend) {
                backend.counters.new_flows += 1;
            }
        }
    }

    /// Counts a session opened on its backend.
    #[inline]
    pub(crate) fn session_opened(&mut self, owner: Owner) {
        if let Some(backend) = self.member_mut(owner) {
            backend.sessions += 1;
        }
    }

    /// Counts a session gone from its backend.
    #[inline]
    pub(crate) fn session_closed(&mut self, owner: Owner) {
        if let Some(backend) = self.member_mut(owner) {
            backend.sessions = backend.sessions.saturating_sub(1);
        }
    }

    fn member_mut(&mut self, owner: Owner) -> Option<&mut Member<T>> {
        self.get_mut(owner.service)?.backends.get_mut(owner.backend)
    }

    /// Every counter back to zero.
    pub(crate) fn reset_counters(&mut self) {
        for service in self.slots.iter_mut().flatten() {
            service.counters = FlowCounters::default();
            service.refused = 0;
            service.backends.reset_counters();
        }
    }

    /// The services as stats show them, sorted by name.
    pub(crate) fn stats(&self, now: Instant) -> Vec<ServiceStats> {
        let mut services: Vec<ServiceStats> = self
            .iter()
            .map(|(_, service)| {
                let backends: Vec<BackendStats> = service.backends.stats(now);
                ServiceStats {
                    name: service.key.to_string(),
                    label: None,
                    policy: service.backends.policy(),
                    maglev_table_size: service.backends.table_size(),
                    health_check: service.check.as_ref().map(|check| check.kind),
                    panic: service.backends.is_panicking(),
                    sessions: backends.iter().map(|b| b.sessions).sum(),
                    counters: service.counters,
                    refused: service.refused,
                    backends,
                }
            })
            .collect();
        services.sort_by(|a, b| a.name.cmp(&b.name));
        services
    }
}
