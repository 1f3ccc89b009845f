//! [`SessionTable`]: bounded, keyed, two-way connection tracking.
//!
//! This file finds and adds sessions; `removal` evicts, expires and
//! removes them.

mod batch;
mod expiry;
mod index;
mod insertion;
mod keys;
mod removal;
mod restore;
mod views;

pub use batch::KeyHash;
pub use removal::RemovedSession;
pub use views::{Hit, SessionInfo};

use core::fmt;
use core::time::Duration;
use std::hash::{BuildHasher, RandomState};
use std::time::Instant;

use lb_packet::{FlowHasher, FlowKey, HashKey};

use crate::SessionStats;
use crate::config::{ConfigError, MAX_CAPACITY, MAX_TIMEOUT, SessionConfig};
use crate::segment::TcpSeen;
use crate::tracker::Tracker;
use crate::{Direction, SessionState};
use batch::NO_HINT;
use index::Index;
use keys::{Probe, StoredKeys};

/// No slot: ends of the unassured list, and the empty free list.
const NIL: u32 = u32::MAX;
/// Slots the expiry sweep visits on each insert.
const SWEEP_PER_INSERT: usize = 4;
/// Slots a full table scans for an expired session before evicting a live one.
const RECLAIM_SCAN: usize = 64;
/// Sessions the index has room for before it first grows.
const INITIAL_SESSIONS: usize = 4096;

/// A session in the table. In this order, what a lookup reads and writes
/// (keys, tracker, expiry, value) comes first, the list links last: a
/// session that straddles two cache lines then needs its second line less
/// often.
#[repr(C)]
struct Entry<V> {
    /// Forward (client-side) key, then reverse (reply) key.
    keys: StoredKeys,
    tracker: Tracker,
    /// The low byte of its expiry (see `expiry`): beside the tracker, in
    /// bytes the session would otherwise pad.
    expires_low: u8,
    value: V,
    /// Neighbours in the list of unassured sessions, oldest first (NIL when
    /// assured, or at an end).
    older: u32,
    newer: u32,
}

enum Slot<V> {
    Occupied(Entry<V>),
    Vacant { next_free: u32 },
}

/// A connection table: each session is found from either direction, never
/// holds more than its capacity, and forgets idle sessions by protocol- and
/// state-dependent timeouts.
///
/// **Bounded.** Slots for `capacity` sessions are reserved up front (and
/// touched only as used); the index grows with the sessions to a bound set
/// by the capacity. A full table first reclaims expired sessions, then
/// evicts the oldest *unassured* session (half-open TCP, unreplied UDP);
/// assured ones (a reply came back, or the client finished a handshake) are
/// never evicted, so a SYN flood from random sources cannot push out
/// established connections. With nothing to evict, the new session is
/// refused. [`stats`](Self::stats) counts each outcome.
///
/// **Keyed.** Keys are hashed with SipHash-1-3 under a random per-process
/// key (or one from the configuration), so no client can aim collisions at
/// the table.
///
/// **Amortised expiry.** Time is always an argument. An expired session is
/// dropped when a lookup meets it; besides, every insert sweeps a few slots
/// and [`expire`](Self::expire) sweeps as many as asked, so the work per
/// packet stays constant however large the table grows.
pub struct SessionTable<V> {
    slots: Vec<Slot<V>>,
    /// The high part of when each slot's session expires
    /// ([`expiry::VACANT`] for none). Apart from the slots so that a sweep
    /// reads sixteen of them per cache line instead of one.
    expiry: Vec<u32>,
    free_head: u32,
    /// `slot << 1 | direction` for each of a session's two keys.
    index: Index,
    hasher: FlowHasher,
    config: SessionConfig,
    epoch: Option<Instant>,
    /// The last time asked for and its ticks: a batch's frames share one.
    last_tick: (Option<Instant>, u64),
    len: usize,
    oldest_unassured: u32,
    newest_unassured: u32,
    /// Sessions in the unassured list.
    unassured: usize,
    sweep_cursor: usize,
    stats: SessionStats,
    reports_departures: bool,
    /// Sessions let go of, not yet popped (a stack: order is of no use).
    departed: Vec<RemovedSession<V>>,
}

fn tag(slot: u32, direction: Direction) -> u32 {
    slot << 1 | u32::from(direction == Direction::Reverse)
}

fn untag(tag: u32) -> (u32, Direction) {
    let direction = if tag & 1 == 0 {
        Direction::Forward
    } else {
        Direction::Reverse
    };
    (tag >> 1, direction)
}

fn millis(duration: Duration) -> u64 {
    duration.as_secs().saturating_mul(1000) + u64::from(duration.subsec_millis())
}

/// The entry and direction of an index tag. Tags only ever name occupied
/// slots.
#[inline]
fn entry_of<V>(slots: &[Slot<V>], tag: u32) -> Option<(&Entry<V>, Direction)> {
    let (slot, direction) = untag(tag);
    match slots.get(slot as usize) {
        Some(Slot::Occupied(entry)) => Some((entry, direction)),
        _ => None,
    }
}

impl<V> SessionTable<V> {
    /// An empty table.
    pub fn new(config: SessionConfig) -> Result<Self, ConfigError> {
        if config.capacity == 0 || config.capacity > MAX_CAPACITY {
            return Err(ConfigError::Capacity(config.capacity));
        }
        if config.unassured_percent == 0 || config.unassured_percent > 100 {
            return Err(ConfigError::UnassuredShare(config.unassured_percent));
        }
        for (name, timeout) in config.timeouts.named() {
            if timeout.is_zero() || timeout > MAX_TIMEOUT {
                let seconds = timeout.as_secs();
                return Err(ConfigError::Timeout { name, seconds });
            }
        }
        let (mut slots, mut expiry) = (Vec::new(), Vec::new());
        let out_of_memory = |_| ConfigError::OutOfMemory(config.capacity);
        slots
            .try_reserve_exact(config.capacity)
            .map_err(out_of_memory)?;
        expiry
            .try_reserve_exact(config.capacity)
            .map_err(out_of_memory)?;
        let key = config.hash_key.unwrap_or_else(|| {
            let random = RandomState::new();
            let mut key = [0u8; 16];
            key[..8].copy_from_slice(&random.hash_one(0u8).to_le_bytes());
            key[8..].copy_from_slice(&random.hash_one(1u8).to_le_bytes());
            HashKey(key)
        });
        Ok(SessionTable {
            slots,
            expiry,
            free_head: NIL,
            // Grown with the sessions, not sized for the capacity: a sparse
            // index spreads a few live keys over many cache lines. Two keys
            // per session.
            index: Index::new(
                2 * config.capacity.min(INITIAL_SESSIONS),
                2 * config.capacity,
            ),
            hasher: FlowHasher::new(key),
            config,
            epoch: None,
            last_tick: (None, 0),
            len: 0,
            oldest_unassured: NIL,
            newest_unassured: NIL,
            unassured: 0,
            sweep_cursor: 0,
            stats: SessionStats::default(),
            reports_departures: false,
            departed: Vec::new(),
        })
    }

    /// Live and not yet reclaimed sessions.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the table holds no session.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most sessions the table holds.
    pub fn capacity(&self) -> usize {
        self.config.capacity
    }

    /// What the table did so far.
    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// Sets the counters of [`stats`](Self::stats) back to zero.
    pub fn reset_stats(&mut self) {
        self.stats = SessionStats::default();
    }

    /// Bytes the table has allocated: its slots, their expiry times and its
    /// index.
    pub fn allocated_bytes(&self) -> usize {
        self.slots.capacity() * size_of::<Slot<V>>()
            + self.expiry.capacity() * size_of::<u32>()
            + self.index.allocation_size()
    }

    /// Unassured sessions held at most before the oldest makes room.
    fn unassured_limit(&self) -> usize {
        (self.config.capacity * usize::from(self.config.unassured_percent) / 100).max(1)
    }

    #[inline]
    fn ticks(&mut self, now: Instant) -> u64 {
        if self.last_tick.0 == Some(now) {
            return self.last_tick.1;
        }
        let epoch = *self.epoch.get_or_insert(now);
        let ticks = millis(now.saturating_duration_since(epoch));
        self.last_tick = (Some(now), ticks);
        ticks
    }

    #[inline]
    fn find(&self, key: &FlowKey) -> Option<u32> {
        self.find_hashed(key, self.hash(key))
    }

    #[inline]
    /// The tag of `key`: its hash's hint when that holds the key (a key
    /// is in one live session at most, so that is the one the index has),
    /// else what the index has.
    fn find_hashed(&self, key: &FlowKey, hash: KeyHash) -> Option<u32> {
        let (slots, probe) = (&self.slots, Probe::of(key));
        let is_match = |tag| {
            entry_of(slots, tag)
                .is_some_and(|(entry, direction)| entry.keys.matches(direction, &probe))
        };
        if hash.hint != NO_HINT && is_match(hash.hint) {
            return Some(hash.hint);
        }
        self.index.find(hash.hash, is_match)
    }

    fn entry_mut(&mut self, slot: u32) -> Option<&mut Entry<V>> {
        match self.slots.get_mut(slot as usize) {
            Some(Slot::Occupied(entry)) => Some(entry),
            _ => None,
        }
    }

    /// True when the slot's session has expired (never for a vacant slot).
    fn is_expired(&self, slot: u32, now: u64) -> bool {
        self.expiry
            .get(slot as usize)
            .is_some_and(|&high| expiry::is_due(high, || Some(self.entry(slot)?.expires_low), now))
    }

    fn entry(&self, slot: u32) -> Option<&Entry<V>> {
        match self.slots.get(slot as usize) {
            Some(Slot::Occupied(entry)) => Some(entry),
            _ => None,
        }
    }

    /// Finds the session a packet with `key` belongs to, in either
    /// direction, and records the packet: the state advances with
    /// `tcp_flags` and the idle timer restarts. An expired session is
    /// removed and not found; so is a session closed both ways that the
    /// client's SYN reopens (its port reused): that is a new connection,
    /// for the caller to make a session of its own, chosen afresh, as
    /// conntrack does.
    #[inline]
    pub fn lookup(&mut self, now: Instant, key: &FlowKey, tcp: impl TcpSeen) -> Option<Hit<'_, V>> {
        self.lookup_hashed(now, key, self.hash(key), tcp)
    }

    /// As [`lookup`](Self::lookup), with the key's [`hash`](Self::hash)
    /// computed before (by a batch that [prefetched](Self::prefetch) it).
    #[inline]
    pub fn lookup_hashed(
        &mut self,
        now: Instant,
        key: &FlowKey,
        hash: KeyHash,
        tcp: impl TcpSeen,
    ) -> Option<Hit<'_, V>> {
        let now = self.ticks(now);
        let (slot, direction) = untag(self.find_hashed(key, hash)?);
        if self.is_expired(slot, now) {
            self.depart(slot);
            self.stats.expired += 1;
            return None;
        }
        let (timeouts, seen) = (self.config.timeouts, tcp.seen().0);
        let entry = self.entry_mut(slot)?;
        if entry.tracker.is_reopened_by(direction, seen) {
            // A new connection on a closed one's tuple: the caller makes it
            // a session of its own, chosen afresh (as conntrack does).
            self.depart(slot);
            self.stats.evicted += 1;
            return None;
        }
        let (was_assured, previous) = (entry.tracker.assured(), entry.tracker.state);
        entry.tracker.advance(direction, seen);
        let expires_at = now + millis(entry.tracker.timeout(&timeouts));
        entry.expires_low = expiry::low(expires_at);
        let assured = entry.tracker.assured();
        if let Some(high) = self.expiry.get_mut(slot as usize) {
            *high = expiry::high(expires_at);
        }
        if assured && !was_assured {
            self.unlink_unassured(slot);
        } else if was_assured && !assured {
            // Closed (RST, FIN both ways): evictable like a half-open one.
            self.link_unassured(slot);
        }
        let entry = self.entry_mut(slot)?;
        Some(Hit {
            direction,
            previous,
            state: entry.tracker.state,
            value: &mut entry.value,
            keys: &entry.keys,
        })
    }

    /// True when a live session has `key` (either direction); an expired
    /// one is removed. Does not refresh the session.
    pub fn contains(&mut self, now: Instant, key: &FlowKey) -> bool {
        let now = self.ticks(now);
        self.live_slot(now, key, self.hash(key)).is_some()
    }

    /// The slot of the live session with `key`; an expired one is removed.
    fn live_slot(&mut self, now: u64, key: &FlowKey, hash: KeyHash) -> Option<u32> {
        let (slot, _) = untag(self.find_hashed(key, hash)?);
        if self.entry(slot).is_some() && !self.is_expired(slot, now) {
            return Some(slot);
        }
        self.depart(slot);
        self.stats.expired += 1;
        None
    }

    /// The session with `key` (either direction), without recording a
    /// packet. It may have expired without being reclaimed yet.
    pub fn peek(&self, key: &FlowKey) -> Option<(Direction, &V)> {
        let (slot, direction) = untag(self.find(key)?);
        Some((direction, &self.entry(slot)?.value))
    }

    /// As [`peek`](Self::peek), with the session's forward and reverse
    /// keys: for NAT that reads its endpoints from them.
    pub fn peek_with_keys(&self, key: &FlowKey) -> Option<(Direction, &V, [FlowKey; 2])> {
        let (slot, direction) = untag(self.find(key)?);
        let entry = self.entry(slot)?;
        Some((direction, &entry.value, entry.keys.pair()))
    }

    /// The protocol state of the session with `key` (either direction),
    /// without recording a packet. It may have expired without being
    /// reclaimed yet.
    pub fn state(&self, key: &FlowKey) -> Option<SessionState> {
        let (slot, _) = untag(self.find(key)?);
        Some(self.entry(slot)?.tracker.state)
    }

    /// The value of the session with `key` (either direction), writable,
    /// without recording a packet.
    pub fn peek_mut(&mut self, key: &FlowKey) -> Option<&mut V> {
        let (slot, _) = untag(self.find(key)?);
        Some(&mut self.entry_mut(slot)?.value)
    }

    /// Live sessions, in no particular order.
    pub fn iter(&self, now: Instant) -> impl Iterator<Item = SessionInfo<'_, V>> + '_ {
        let now = self
            .epoch
            .map_or(0, |epoch| millis(now.saturating_duration_since(epoch)));
        let slots = self.slots.iter().zip(&self.expiry);
        slots.filter_map(move |(slot, &high)| {
            let Slot::Occupied(entry) = slot else {
                return None;
            };
            let expires_at = expiry::join(high, entry.expires_low);
            (expires_at > now).then(|| SessionInfo {
                forward: entry.keys.get(Direction::Forward),
                reverse: entry.keys.get(Direction::Reverse),
                state: entry.tracker.state,
                assured: entry.tracker.assured(),
                tracker: entry.tracker,
                expires_in: Duration::from_millis(expires_at - now),
                value: &entry.value,
            })
        })
    }
}

impl<V> fmt::Debug for SessionTable<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionTable")
            .field("len", &self.len)
            .field("capacity", &self.config.capacity)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
