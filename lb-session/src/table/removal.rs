//! Making room and letting go: eviction, expiry sweeps, and removal.

use std::time::Instant;

use lb_packet::FlowKey;

use super::{Entry, NIL, RECLAIM_SCAN, SessionTable, Slot, expiry, tag, untag};
use crate::{Direction, InsertError};

/// A session out of the table: one it let go of on its own (it expired,
/// was evicted for room, or a [`retain`](SessionTable::retain) dropped
/// it), as [`SessionTable::pop_departed`] hands it back, or one taken out
/// by [`SessionTable::remove_entry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedSession<V> {
    /// The key of the packet that created it.
    pub forward: FlowKey,
    /// The key its replies carried.
    pub reverse: FlowKey,
    /// The caller's value.
    pub value: V,
}

impl<V> SessionTable<V> {
    /// Reclaims an expired session, else evicts the oldest unassured one.
    pub(super) fn make_room(&mut self, now: u64) -> Result<(), InsertError> {
        let oldest = self.oldest_unassured;
        if oldest != NIL && self.is_expired(oldest, now) {
            self.depart(oldest);
            self.stats.expired += 1;
            return Ok(());
        }
        if self.sweep(now, RECLAIM_SCAN) > 0 {
            return Ok(());
        }
        if oldest != NIL {
            self.depart(oldest);
            self.stats.evicted += 1;
            return Ok(());
        }
        self.stats.refused += 1;
        Err(InsertError::Full)
    }

    /// Removes the oldest unassured session, counted as expired if it was.
    pub(super) fn evict_oldest_unassured(&mut self, now: u64) {
        let oldest = self.oldest_unassured;
        if oldest == NIL {
            return;
        }
        if self.is_expired(oldest, now) {
            self.stats.expired += 1;
        } else {
            self.stats.evicted += 1;
        }
        self.depart(oldest);
    }

    /// Visits up to `budget` slots round-robin, removing expired sessions.
    pub(super) fn sweep(&mut self, now: u64, budget: usize) -> usize {
        let (mut removed, now_high) = (0, expiry::high(now));
        for _ in 0..budget.min(self.expiry.len()) {
            self.sweep_cursor += 1;
            if self.sweep_cursor >= self.expiry.len() {
                self.sweep_cursor = 0;
            }
            // Most slots are live past the current 256 ms: their high part
            // says so alone.
            if self.expiry[self.sweep_cursor] > now_high {
                continue;
            }
            let slot = u32::try_from(self.sweep_cursor).unwrap_or(NIL);
            if self.is_expired(slot, now) {
                self.depart(slot);
                self.stats.expired += 1;
                removed += 1;
            }
        }
        removed
    }

    /// Removes expired sessions among the next `budget` slots of the sweep;
    /// returns how many. Call it from a timer so idle sessions are
    /// reclaimed even when no new ones arrive.
    pub fn expire(&mut self, now: Instant, budget: usize) -> usize {
        let now = self.ticks(now);
        self.sweep(now, budget)
    }

    /// Removes the session with `key` (either direction) and returns its
    /// value: not reported as departed, the caller has it.
    pub fn remove(&mut self, key: &FlowKey) -> Option<V> {
        self.remove_entry(key).map(|removed| removed.value)
    }

    /// As [`remove`](Self::remove), returning the session's keys too.
    pub fn remove_entry(&mut self, key: &FlowKey) -> Option<RemovedSession<V>> {
        let (slot, _) = untag(self.find(key)?);
        let entry = self.remove_slot(slot)?;
        self.stats.removed += 1;
        let [forward, reverse] = entry.keys.pair();
        Some(RemovedSession {
            forward,
            reverse,
            value: entry.value,
        })
    }

    /// Keeps only the sessions for which `keep` returns true; returns how
    /// many were removed (reported as departed when the table reports
    /// departures). Visits every session: for control-plane changes (a
    /// backend leaving), not for the packet path.
    pub fn retain(&mut self, mut keep: impl FnMut(&FlowKey, &mut V) -> bool) -> usize {
        let mut removed = 0;
        for index in 0..self.slots.len() {
            let slot = u32::try_from(index).unwrap_or(NIL);
            let drop = match self.entry_mut(slot) {
                Some(entry) => !keep(&entry.keys.get(Direction::Forward), &mut entry.value),
                None => false,
            };
            if drop {
                self.depart(slot);
                self.stats.removed += 1;
                removed += 1;
            }
        }
        removed
    }

    /// Appends `slot` to the unassured list, as its newest.
    pub(super) fn link_unassured(&mut self, slot: u32) {
        let newest = self.newest_unassured;
        let Some(entry) = self.entry_mut(slot) else {
            return;
        };
        (entry.older, entry.newer) = (newest, NIL);
        match self.entry_mut(newest) {
            Some(entry) => entry.newer = slot,
            None => self.oldest_unassured = slot,
        }
        self.newest_unassured = slot;
        self.unassured += 1;
    }

    pub(super) fn unlink_unassured(&mut self, slot: u32) {
        let Some(entry) = self.entry_mut(slot) else {
            return;
        };
        let (older, newer) = (entry.older, entry.newer);
        (entry.older, entry.newer) = (NIL, NIL);
        self.unassured -= 1;
        match self.entry_mut(older) {
            Some(entry) => entry.newer = newer,
            None => self.oldest_unassured = newer,
        }
        match self.entry_mut(newer) {
            Some(entry) => entry.older = older,
            None => self.newest_unassured = older,
        }
    }

    /// From now on, keeps each session the table lets go of on its own for
    /// [`pop_departed`](Self::pop_departed), so that whoever tracks
    /// something per session (live counts, NAT ports) can let go too. The
    /// caller must then pop them after each call, or they pile up.
    pub fn report_departures(&mut self) {
        self.reports_departures = true;
    }

    /// A session let go of and not yet popped, if the table
    /// [reports departures](Self::report_departures).
    #[inline]
    pub fn pop_departed(&mut self) -> Option<RemovedSession<V>> {
        self.departed.pop()
    }

    /// True when departed sessions wait to be popped.
    #[inline]
    pub fn has_departed(&self) -> bool {
        !self.departed.is_empty()
    }

    /// Removes the session in `slot`, reporting it if asked to.
    pub(super) fn depart(&mut self, slot: u32) {
        if let Some(entry) = self.remove_slot(slot) {
            if self.reports_departures {
                let [forward, reverse] = entry.keys.pair();
                self.departed.push(RemovedSession {
                    forward,
                    reverse,
                    value: entry.value,
                });
            }
        }
    }

    pub(super) fn remove_slot(&mut self, slot: u32) -> Option<Entry<V>> {
        if !self.entry(slot)?.tracker.assured() {
            self.unlink_unassured(slot);
        }
        let vacant = Slot::Vacant {
            next_free: self.free_head,
        };
        let Slot::Occupied(entry) = core::mem::replace(&mut self.slots[slot as usize], vacant)
        else {
            return None;
        };
        self.free_head = slot;
        self.expiry[slot as usize] = expiry::VACANT;
        for direction in [Direction::Forward, Direction::Reverse] {
            let hash = self.hash(&entry.keys.get(direction));
            self.index.remove(hash.hash, tag(slot, direction));
        }
        self.len -= 1;
        Some(entry)
    }
}
