//! Counters: per verdict, per drop reason, per service and backend.

use lb_session::SessionStats;
use serde::Serialize;

use crate::{DropReason, Verdict};

/// Frames and bytes an engine saw, by what it did with them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TrafficCounters {
    /// Frames handed to the engine.
    pub frames_in: u64,
    /// Their bytes.
    pub bytes_in: u64,
    /// Frames sent on to another port.
    pub forwarded: u64,
    /// Frames sent back out of their own port.
    pub replied: u64,
    /// Frames sent out of every other port.
    pub flooded: u64,
    /// Frames the engine kept (queued, or learned from).
    pub consumed: u64,
    /// Frames dropped, all reasons together.
    pub dropped: u64,
    /// Frames the engine originated (ARP requests, released queues).
    pub originated: u64,
    /// Dropped frames by [`DropReason::index`].
    #[serde(serialize_with = "serialize_drops")]
    pub drops: [u64; DropReason::COUNT],
}

fn serialize_drops<S: serde::Serializer>(
    drops: &[u64; DropReason::COUNT],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(
        DropReason::ALL
            .iter()
            .map(|reason| (reason.name(), drops[reason.index()])),
    )
}

impl TrafficCounters {
    /// Counts one frame of `len` bytes and its verdict.
    #[inline]
    pub fn record(&mut self, len: usize, verdict: Verdict) {
        self.frames_in += 1;
        self.bytes_in += len as u64;
        match verdict {
            Verdict::Forward(_) => self.forwarded += 1,
            Verdict::Reply => self.replied += 1,
            Verdict::Flood => self.flooded += 1,
            Verdict::Consumed => self.consumed += 1,
            Verdict::Drop(reason) => {
                self.dropped += 1;
                self.drops[reason.index()] += 1;
            }
        }
    }

    /// Frames dropped for `reason`.
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops[reason.index()]
    }
}

/// Packets, bytes and new flows through one service or backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FlowCounters {
    /// Sessions created.
    pub new_flows: u64,
    /// Packets in either direction.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl FlowCounters {
    /// Counts a packet of `len` bytes.
    #[inline]
    pub fn packet(&mut self, len: usize) {
        self.packets += 1;
        self.bytes += len as u64;
    }
}

/// A backend in a [`Stats`] snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackendStats {
    /// How the configuration names it (`ip:port`, a MAC, an IP).
    pub name: String,
    /// Its weight; 0 means draining.
    pub weight: u32,
    /// Live sessions on it.
    pub sessions: usize,
    /// Its counters.
    #[serde(flatten)]
    pub counters: FlowCounters,
}

/// A service in a [`Stats`] snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceStats {
    /// How the configuration names it (`vip:port/proto`, ...).
    pub name: String,
    /// Selection policy.
    pub policy: String,
    /// Live sessions.
    pub sessions: usize,
    /// Its counters.
    #[serde(flatten)]
    pub counters: FlowCounters,
    /// Its backends.
    pub backends: Vec<BackendStats>,
}

/// A snapshot of an engine's counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Which engine: `reverse_proxy`, `direct_return` or `nat_proxy`.
    pub engine: &'static str,
    /// Frames by verdict and drop reason.
    pub traffic: TrafficCounters,
    /// Live sessions.
    pub sessions: usize,
    /// Session table capacity.
    pub session_capacity: usize,
    /// What the session table did.
    #[serde(serialize_with = "serialize_session_stats")]
    pub session_table: SessionStats,
    /// Per service and backend.
    pub services: Vec<ServiceStats>,
}

fn serialize_session_stats<S: serde::Serializer>(
    stats: &SessionStats,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map([
        ("inserted", stats.inserted),
        ("expired", stats.expired),
        ("evicted", stats.evicted),
        ("refused", stats.refused),
        ("removed", stats.removed),
    ])
}
