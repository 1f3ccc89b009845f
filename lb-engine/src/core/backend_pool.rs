//! Backends in stable slots, with the selector over them.

use core::fmt::Display;

use lb_algos::{Backend, BackendId, BuildError, Policy, Selector, SelectorConfig};
use lb_packet::FlowKey;

use crate::stats::{BackendState, BackendStats, FlowCounters};

/// A backend: where it is (an address, a MAC), its weight, its counters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Member<T> {
    pub(crate) target: T,
    pub(crate) weight: u32,
    pub(crate) counters: FlowCounters,
}

/// The backends of one service. Slots are stable: a removed backend leaves
/// a hole, so a session naming a slot never finds another backend in it.
/// The selector is rebuilt on every change, before the change is kept:
/// a change the selector refuses leaves the pool as it was.
pub(crate) struct BackendPool<T> {
    policy: Policy,
    slots: Vec<Option<Member<T>>>,
    selector: Box<dyn Selector>,
    /// Selector index -> slot.
    picks: Vec<u32>,
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
    /// A pool of `targets`, each with its weight.
    pub(crate) fn new(
        policy: Policy,
        targets: impl IntoIterator<Item = (T, u32)>,
        config: &SelectorConfig,
    ) -> Result<Self, BuildError> {
        let slots: Vec<Option<Member<T>>> = targets
            .into_iter()
            .map(|(target, weight)| {
                Some(Member {
                    target,
                    weight,
                    counters: FlowCounters::default(),
                })
            })
            .collect();
        let (selector, picks) = build(policy, &slots, config)?;
        Ok(BackendPool {
            policy,
            slots,
            selector,
            picks,
        })
    }

    /// The selection policy.
    pub(crate) fn policy(&self) -> Policy {
        self.policy
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
                let member = Some(Member {
                    target,
                    weight,
                    counters: FlowCounters::default(),
                });
                match slots.iter().position(Option::is_none) {
                    Some(free) => slots[free] = member,
                    None => slots.push(member),
                }
            }
        }
        self.install(self.policy, slots, config)
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
        self.install(self.policy, slots, config)?;
        Ok(Some(slot))
    }

    /// Changes the selection policy.
    pub(crate) fn set_policy(
        &mut self,
        policy: Policy,
        config: &SelectorConfig,
    ) -> Result<(), BuildError> {
        self.install(policy, self.slots.clone(), config)
    }

    fn install(
        &mut self,
        policy: Policy,
        slots: Vec<Option<Member<T>>>,
        config: &SelectorConfig,
    ) -> Result<(), BuildError> {
        let (selector, picks) = build(policy, &slots, config)?;
        (self.policy, self.slots, self.selector, self.picks) = (policy, slots, selector, picks);
        Ok(())
    }

    /// Every backend's counters back to zero.
    pub(crate) fn reset_counters(&mut self) {
        for member in self.slots.iter_mut().flatten() {
            member.counters = FlowCounters::default();
        }
    }

    /// The backends as stats show them, with `live` sessions per slot.
    pub(crate) fn stats(&self, live: impl Fn(u32) -> usize) -> Vec<BackendStats> {
        self.members()
            .map(|(slot, member)| BackendStats {
                name: member.target.to_string(),
                weight: member.weight,
                state: BackendState::of_weight(member.weight),
                sessions: live(slot),
                counters: member.counters,
            })
            .collect()
    }
}

/// The selector over the occupied slots, and its index -> slot map.
fn build<T: Copy + Into<BackendId>>(
    policy: Policy,
    slots: &[Option<Member<T>>],
    config: &SelectorConfig,
) -> Result<(Box<dyn Selector>, Vec<u32>), BuildError> {
    let (mut backends, mut picks) = (Vec::new(), Vec::new());
    for (index, member) in slots.iter().enumerate() {
        if let Some(member) = member {
            backends.push(Backend::new(member.target, member.weight));
            picks.push(slot_index(index));
        }
    }
    Ok((policy.build(&backends, config)?, picks))
}
