//! Backends in stable slots, with the selector over them.

use core::fmt::Display;

use lb_algos::{Backend, BackendId, BuildError, Maglev, Policy, Selector, SelectorConfig};
use lb_packet::FlowKey;

use std::time::Instant;

use crate::stats::{BackendState, BackendStats, FlowCounters};
use crate::{BackendHealth, HealthOverride};

/// A backend: where it is (an address, a MAC), its weight, its counters,
/// its health and when it is probed next.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Member<T> {
    pub(crate) target: T,
    pub(crate) weight: u32,
    pub(crate) counters: FlowCounters,
    pub(crate) health: BackendHealth,
    pub(crate) next_probe: Option<Instant>,
    /// Sessions in the table that name it, kept as they open and close so
    /// stats need no walk of the table.
    pub(crate) sessions: usize,
}

impl<T> Member<T> {
    fn new(target: T, weight: u32) -> Self {
        Member {
            target,
            weight,
            counters: FlowCounters::default(),
            health: BackendHealth::new(),
            next_probe: None,
            sessions: 0,
        }
    }

    /// Counts towards the panic threshold: it has weight, and no operator
    /// forced it down.
    fn is_candidate(&self) -> bool {
        self.weight > 0 && self.health.forced() != Some(HealthOverride::Down)
    }
}

/// The backends of one service. Slots are stable: a removed backend leaves
/// a hole, so a session naming a slot never finds another backend in it.
/// The selector is rebuilt on every change, before the change is kept:
/// a change the selector refuses leaves the pool as it was.
///
/// The selector holds the usable backends only (weight 0 for the others,
/// so Maglev leaves the rest of the table as it was), unless fewer than
/// `panic_threshold` percent of the candidates are usable: then it holds
/// every candidate (panic mode, as Envoy's).
pub(crate) struct BackendPool<T> {
    policy: Policy,
    /// Maglev slots, when set; else chosen from the backend count.
    table_size: Option<u64>,
    slots: Vec<Option<Member<T>>>,
    selector: Box<dyn Selector>,
    /// Selector index -> slot.
    picks: Vec<u32>,
    panic_threshold: u8,
    panic: bool,
}

impl<T> core::fmt::Debug for BackendPool<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BackendPool")
            .field("policy", &self.policy)
            .field("slots", &self.slots.len())
            .finish()
    }
}

fn slot_index(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

impl<T: Copy + PartialEq + Display + Into<BackendId>> BackendPool<T> {
    /// A pool of `targets`, each with its weight, and a Maglev table of
    /// `table_size` slots (`None`: chosen from the backend count).
    pub(crate) fn new(
        policy: Policy,
        targets: impl IntoIterator<Item = (T, u32)>,
        config: &SelectorConfig,
        panic_threshold: u8,
        table_size: Option<u64>,
    ) -> Result<Self, BuildError> {
        let slots: Vec<Option<Member<T>>> = targets
            .into_iter()
            .map(|(target, weight)| Some(Member::new(target, weight)))
            .collect();
        let Built {
            selector,
            picks,
            panic,
        } = build(policy, table_size, &slots, config, panic_threshold)?;
        Ok(BackendPool {
            policy,
            table_size,
            slots,
            selector,
            picks,
            panic_threshold,
            panic,
        })
    }

    /// True while too few backends are usable and health is ignored.
    pub(crate) fn is_panicking(&self) -> bool {
        self.panic
    }

    /// The slot of a backend for a flow whose backend at `failed` failed
    /// it: the flow's own pick if that is another backend, else a pick
    /// under a perturbed key (the same for every instance), else the first
    /// other usable backend. None when there is no other.
    pub(crate) fn pick_other(&self, flow: &FlowKey, failed: u32) -> Option<u32> {
        let usable = |slot: &u32| {
            *slot != failed
                && self
                    .get(*slot)
                    .is_some_and(|m| m.weight > 0 && m.health.is_usable())
        };
        (0..8u16)
            .filter_map(|attempt| {
                let perturbed = FlowKey {
                    src_port: flow.src_port ^ attempt.wrapping_mul(0x9e37),
                    ..*flow
                };
                self.pick(&perturbed)
            })
            .find(usable)
            .or_else(|| self.members().map(|(slot, _)| slot).find(usable))
    }

    /// True when the service has a usable backend other than `slot`.
    pub(crate) fn has_other(&self, slot: u32) -> bool {
        self.members()
            .any(|(other, m)| other != slot && m.weight > 0 && m.health.is_usable())
    }

    /// The members, writable, for health checks.
    pub(crate) fn members_mut(&mut self) -> impl Iterator<Item = (u32, &mut Member<T>)> {
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(|(index, slot)| Some((slot_index(index), slot.as_mut()?)))
    }

    /// Rebuilds the selector after a backend's health changed.
    pub(crate) fn refresh(&mut self, config: &SelectorConfig) -> Result<(), BuildError> {
        self.install(self.policy, self.table_size, self.slots.clone(), config)
    }

    /// How many backends are ejected now.
    pub(crate) fn ejected(&self) -> usize {
        self.members()
            .filter(|(_, m)| m.health.ejected_until().is_some())
            .count()
    }

    /// The selection policy.
    pub(crate) fn policy(&self) -> Policy {
        self.policy
    }

    /// The Maglev table size set for the pool, if one was.
    pub(crate) fn configured_table_size(&self) -> Option<u64> {
        self.table_size
    }

    /// The Maglev table's size now, for a Maglev pool.
    pub(crate) fn table_size(&self) -> Option<u64> {
        (self.policy == Policy::Maglev)
            .then(|| resolved_size(self.table_size, self.members().count()))
    }

    /// The slot of the backend for a new flow.
    pub(crate) fn pick(&self, flow: &FlowKey) -> Option<u32> {
        self.selector
            .pick(flow)
            .and_then(|pick| self.picks.get(pick).copied())
    }

    /// The backend in `slot`.
    pub(crate) fn get(&self, slot: u32) -> Option<&Member<T>> {
        self.slots.get(slot as usize)?.as_ref()
    }

    /// The backend in `slot`, writable.
    pub(crate) fn get_mut(&mut self, slot: u32) -> Option<&mut Member<T>> {
        self.slots.get_mut(slot as usize)?.as_mut()
    }

    /// The backends with their slots, in slot order.
    pub(crate) fn members(&self) -> impl Iterator<Item = (u32, &Member<T>)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(index, slot)| Some((slot_index(index), slot.as_ref()?)))
    }

    /// The slot of the backend at `target`.
    pub(crate) fn find(&self, target: T) -> Option<u32> {
        self.members()
            .find(|(_, member)| member.target == target)
            .map(|(slot, _)| slot)
    }

    /// Adds a backend at `target`, or gives the one there `weight`.
    pub(crate) fn upsert(
        &mut self,
        target: T,
        weight: u32,
        config: &SelectorConfig,
    ) -> Result<(), BuildError> {
        let mut slots = self.slots.clone();
        match slots
            .iter_mut()
            .flatten()
            .find(|member| member.target == target)
        {
            Some(existing) => existing.weight = weight,
            None => {
                let member = Some(Member::new(target, weight));
                match slots.iter().position(Option::is_none) {
                    Some(free) => slots[free] = member,
                    None => slots.push(member),
                }
            }
        }
        self.install(self.policy, self.table_size, slots, config)
    }

    /// Removes the backend at `target`; its slot, if it had one.
    pub(crate) fn remove(
        &mut self,
        target: T,
        config: &SelectorConfig,
    ) -> Result<Option<u32>, BuildError> {
        let Some(slot) = self.find(target) else {
            return Ok(None);
        };
        let mut slots = self.slots.clone();
        slots[slot as usize] = None;
        self.install(self.policy, self.table_size, slots, config)?;
        Ok(Some(slot))
    }

    /// Changes the selection policy and the Maglev table size (`None`:
    /// chosen from the backend count); unchanged if refused.
    pub(crate) fn reshape(
        &mut self,
        policy: Policy,
        table_size: Option<u64>,
        config: &SelectorConfig,
    ) -> Result<(), BuildError> {
        self.install(policy, table_size, self.slots.clone(), config)
    }

    /// Builds the selector for `slots` with `policy` and `table_size`,
    /// then keeps all four; unchanged if the build is refused.
    fn install(
        &mut self,
        policy: Policy,
        table_size: Option<u64>,
        slots: Vec<Option<Member<T>>>,
        config: &SelectorConfig,
    ) -> Result<(), BuildError> {
        let built = build(policy, table_size, &slots, config, self.panic_threshold)?;
        (self.policy, self.table_size, self.slots) = (policy, table_size, slots);
        (self.selector, self.picks, self.panic) = (built.selector, built.picks, built.panic);
        Ok(())
    }

    /// Every backend's counters back to zero.
    pub(crate) fn reset_counters(&mut self) {
        for member in self.slots.iter_mut().flatten() {
            member.counters = FlowCounters::default();
        }
    }

    /// The backends as stats show them at `now`, with `live` sessions per
    /// slot.
    pub(crate) fn stats(&self, now: Instant) -> Vec<BackendStats> {
        self.members()
            .map(|(_, member)| BackendStats {
                name: member.target.to_string(),
                label: None,
                weight: member.weight,
                state: BackendState::of_weight(member.weight),
                health: member.health.health(),
                health_detail: member.health.detail(now),
                sessions: member.sessions,
                counters: member.counters,
            })
            .collect()
    }
}

/// A selector over a pool's slots.
struct Built {
    selector: Box<dyn Selector>,
    /// Selector index -> slot.
    picks: Vec<u32>,
    /// Built in panic mode.
    panic: bool,
}

/// The Maglev table size of a pool of `backends`: `configured`, or chosen
/// from the count.
fn resolved_size(configured: Option<u64>, backends: usize) -> u64 {
    configured.unwrap_or_else(|| Maglev::size_for(backends))
}

/// The selector over the occupied slots.
fn build<T: Copy + Into<BackendId>>(
    policy: Policy,
    table_size: Option<u64>,
    slots: &[Option<Member<T>>],
    config: &SelectorConfig,
    panic_threshold: u8,
) -> Result<Built, BuildError> {
    let members = || slots.iter().flatten();
    let candidates = members().filter(|m| m.is_candidate()).count();
    let usable = members()
        .filter(|m| m.is_candidate() && m.health.is_usable())
        .count();
    let panic = usable * 100 < usize::from(panic_threshold) * candidates;
    let (mut backends, mut picks) = (Vec::new(), Vec::new());
    for (index, member) in slots.iter().enumerate() {
        if let Some(member) = member {
            let takes = member.health.is_usable() || panic && member.is_candidate();
            let weight = if takes { member.weight } else { 0 };
            backends.push(Backend::new(member.target, weight));
            picks.push(slot_index(index));
        }
    }
    let config = SelectorConfig {
        maglev_table_size: resolved_size(table_size, backends.len()),
        ..*config
    };
    Ok(Built {
        selector: policy.build(&backends, &config)?,
        picks,
        panic,
    })
}
