//! Making sessions: their keys checked, room made, and a slot and both
//! index entries filled.

use std::time::Instant;

use lb_packet::{FlowHasher, FlowKey};

use super::expiry;
use super::index::TagHashes;
use super::keys::StoredKeys;
use super::{
    Entry, KeyHash, NIL, SWEEP_PER_INSERT, SessionTable, Slot, entry_of, millis, tag, untag,
};
use crate::prefetch::prefetch;
use crate::segment::TcpSeen;
use crate::tracker::Tracker;
use crate::{Direction, InsertError};

impl<V> SessionTable<V> {
    /// Creates a session for a packet with key `forward` whose replies will
    /// carry `reverse`. Makes room as the type docs describe; refuses when
    /// a live session already has either key, unless that one is over
    /// (closed both ways, or reset: it gives way, counted as evicted).
    #[inline]
    pub fn insert(
        &mut self,
        now: Instant,
        forward: FlowKey,
        reverse: FlowKey,
        tcp: impl TcpSeen,
        value: V,
    ) -> Result<&mut V, InsertError> {
        let hashes = [self.hash(&forward), self.hash(&reverse)];
        let now = self.check_keys(now, [&forward, &reverse], hashes)?;
        self.sweep(now, SWEEP_PER_INSERT);
        let tracker = Tracker::new(forward.proto, tcp.seen().0);
        self.make_room_for(now, &tracker)?;
        let expires_at = now + millis(tracker.timeout(&self.config.timeouts));
        self.place(hashes, &forward, &reverse, tracker, expires_at, value)
    }

    /// Refuses keys that are one flow, or that a live session has, unless
    /// that session is over (closed both ways, or reset): it gives way, as
    /// a TCP stack lets a new connection take a 4-tuple in TIME_WAIT (a
    /// client's port reused through a VIP for a backend it reached
    /// directly before). The time in ticks.
    pub(super) fn check_keys(
        &mut self,
        now: Instant,
        [forward, reverse]: [&FlowKey; 2],
        [forward_hash, reverse_hash]: [KeyHash; 2],
    ) -> Result<u64, InsertError> {
        if forward == reverse {
            return Err(InsertError::SameKeys);
        }
        let now = self.ticks(now);
        for (key, hash) in [(forward, forward_hash), (reverse, reverse_hash)] {
            let Some(slot) = self.live_slot(now, key, hash) else {
                continue;
            };
            if !self
                .entry(slot)
                .is_some_and(|entry| entry.tracker.is_over())
            {
                return Err(InsertError::KeyInUse);
            }
            self.depart(slot);
            self.stats.evicted += 1;
        }
        Ok(now)
    }

    /// Makes room for a session with `tracker`: unassured sessions keep
    /// to their share (the oldest goes), and a full table reclaims or
    /// evicts one.
    pub(super) fn make_room_for(&mut self, now: u64, tracker: &Tracker) -> Result<(), InsertError> {
        if !tracker.assured() && self.unassured >= self.unassured_limit() {
            self.evict_oldest_unassured(now);
        }
        if self.len >= self.config.capacity {
            self.make_room(now)?;
        }
        Ok(())
    }

    /// Puts a session in a free slot and indexes both its keys (their
    /// hashes given); there is room, and neither key is in use.
    pub(super) fn place(
        &mut self,
        [forward_hash, reverse_hash]: [KeyHash; 2],
        forward: &FlowKey,
        reverse: &FlowKey,
        tracker: Tracker,
        expires_at: u64,
        value: V,
    ) -> Result<&mut V, InsertError> {
        let assured = tracker.assured();
        let entry = Entry {
            keys: StoredKeys::new(forward, reverse),
            older: NIL,
            newer: NIL,
            tracker,
            expires_low: expiry::low(expires_at),
            value,
        };
        let slot = match self.free_head {
            NIL => {
                self.slots.push(Slot::Occupied(entry));
                self.expiry.push(expiry::high(expires_at));
                // len < capacity <= MAX_CAPACITY: the index fits in 31 bits.
                u32::try_from(self.slots.len() - 1).unwrap_or(NIL)
            }
            free => {
                if let Some(Slot::Vacant { next_free }) = self.slots.get(free as usize) {
                    self.free_head = *next_free;
                }
                self.slots[free as usize] = Slot::Occupied(entry);
                self.expiry[free as usize] = expiry::high(expires_at);
                free
            }
        };
        if !assured {
            self.link_unassured(slot);
        }
        let hashes = SessionHashes {
            slots: &self.slots,
            hasher: &self.hasher,
        };
        self.index
            .insert(forward_hash.hash, tag(slot, Direction::Forward), &hashes);
        self.index
            .insert(reverse_hash.hash, tag(slot, Direction::Reverse), &hashes);
        self.len += 1;
        self.stats.inserted += 1;
        match self.entry_mut(slot) {
            Some(entry) => Ok(&mut entry.value),
            None => Err(InsertError::Full),
        }
    }
}

/// The sessions as the index's source of hashes: it keeps none, and needs
/// them to move its entries as it grows.
struct SessionHashes<'a, V> {
    slots: &'a [Slot<V>],
    hasher: &'a FlowHasher,
}

impl<V> TagHashes for SessionHashes<'_, V> {
    fn hash(&self, tag: u32) -> u64 {
        // Tags only ever name occupied slots.
        entry_of(self.slots, tag).map_or(0, |(entry, direction)| {
            self.hasher.flow(&entry.keys.get(direction))
        })
    }

    fn prefetch(&self, tag: u32) {
        if let Some(slot) = self.slots.get(untag(tag).0 as usize) {
            prefetch(slot);
        }
    }
}
