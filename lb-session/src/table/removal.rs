//! Making room and letting go: eviction, expiry sweeps, and removal.

use std::time::Instant;

use lb_packet::FlowKey;

use super::{NIL, RECLAIM_SCAN, SessionTable, Slot, VACANT, tag, untag};
use crate::{Direction, InsertError};

impl<V> SessionTable<V> {
    /// Reclaims an expired session, else evicts the oldest unassured one.
    pub(super) fn make_room(&mut self, now: u64) -> Result<(), InsertError> {
        let oldest = self.oldest_unassured;
        if oldest != NIL && self.is_expired(oldest, now) {
            self.remove_slot(oldest);
            self.stats.expired += 1;
            return Ok(());
        }
        if self.sweep(now, RECLAIM_SCAN) > 0 {
            return Ok(());
        }
        if oldest != NIL {
            self.remove_slot(oldest);
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
        self.remove_slot(oldest);
    }

    /// Visits up to `budget` slots round-robin, removing expired sessions.
    pub(super) fn sweep(&mut self, now: u64, budget: usize) -> usize {
        let mut removed = 0;
        for _ in 0..budget.min(self.expiry.len()) {
            self.sweep_cursor += 1;
            if self.sweep_cursor >= self.expiry.len() {
                self.sweep_cursor = 0;
            }
            if self.expiry[self.sweep_cursor] <= now {
                let slot = u32::try_from(self.sweep_cursor).unwrap_or(NIL);
                self.remove_slot(slot);
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

    /// Removes the session with `key` (either direction).
    pub fn remove(&mut self, key: &FlowKey) -> Option<V> {
        let (slot, _) = untag(self.find(key)?);
        let value = self.remove_slot(slot);
        self.stats.removed += 1;
        value
    }

    /// Keeps only the sessions for which `keep` returns true; returns how
    /// many were removed. Visits every session: for control-plane changes
    /// (a backend leaving), not for the packet path.
    pub fn retain(&mut self, mut keep: impl FnMut(&FlowKey, &mut V) -> bool) -> usize {
        let mut removed = 0;
        for index in 0..self.slots.len() {
            let slot = u32::try_from(index).unwrap_or(NIL);
            let drop = match self.entry_mut(slot) {
                Some(entry) => !keep(&entry.keys[0], &mut entry.value),
                None => false,
            };
            if drop {
                self.remove_slot(slot);
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

    pub(super) fn remove_slot(&mut self, slot: u32) -> Option<V> {
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
        self.expiry[slot as usize] = VACANT;
        for (key, direction) in [
            (&entry.keys[0], Direction::Forward),
            (&entry.keys[1], Direction::Reverse),
        ] {
            let wanted = tag(slot, direction);
            if let Ok(found) = self
                .index
                .find_entry(self.hasher.flow(key), |&tag| tag == wanted)
            {
                found.remove();
            }
        }
        self.len -= 1;
        Some(entry.value)
    }
}
