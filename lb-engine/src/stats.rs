//! Counters: per verdict, per drop reason, per service and backend.

use std::collections::BTreeMap;

use lb_algos::Policy;
use lb_packet::WireSize;
use lb_session::SessionStats;
use serde::{Deserialize, Serialize};

use crate::{DropReason, Health, HealthDetail, ProbeKind, Verdict};

/// Frames and bytes an engine saw, by what it did with them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// New flows sent on without a session because the table had no room
    /// or the flood guard held them back (their replies are translated
    /// from the backend endpoint).
    #[serde(default)]
    pub stateless: u64,
    /// Of those, the flows the flood guard held back: more new flows came
    /// in their second than `flood_guard` allows.
    #[serde(default)]
    pub flood_guarded: u64,
    /// Replies with no session translated back from their backend
    /// endpoint (the reverse proxy).
    #[serde(default)]
    pub stateless_replies: u64,
    /// TCP packets without SYN that found no session and were sent on by
    /// their pick: behind ECMP, flows another instance had until now (a
    /// rise means instances came or went); else sessions this one lost.
    #[serde(default)]
    pub non_syn_misses: u64,
    /// Source ports a full NAT took over from a half-open or closed
    /// connection because its destination had none free.
    #[serde(default)]
    pub ports_taken_over: u64,
    /// Resets sent to clients whose connection found no source port.
    #[serde(default)]
    pub refused: u64,
    /// Dropped frames by [`DropReason::index`]; written as a map from
    /// [`DropReason::name`] to count.
    #[serde(with = "drops_by_name")]
    pub drops: [u64; DropReason::COUNT],
}

mod drops_by_name {
    use super::*;

    pub(super) fn serialize<S: serde::Serializer>(
        drops: &[u64; DropReason::COUNT],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_map(
            DropReason::ALL
                .iter()
                .map(|reason| (reason.name(), drops[reason.index()])),
        )
    }

    /// Reasons this build does not know (a newer peer's) are skipped.
    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<[u64; DropReason::COUNT], D::Error> {
        let named = BTreeMap::<String, u64>::deserialize(deserializer)?;
        let mut drops = [0; DropReason::COUNT];
        for reason in DropReason::ALL {
            drops[reason.index()] = named.get(reason.name()).copied().unwrap_or(0);
        }
        Ok(drops)
    }
}

impl TrafficCounters {
    /// Counts one frame and its verdict: a super-frame as the packets it
    /// is on the wire.
    #[inline]
    pub fn record(&mut self, size: WireSize, verdict: Verdict) {
        let packets = u64::from(size.packets);
        self.frames_in += packets;
        self.bytes_in += size.bytes;
        match verdict {
            Verdict::Forward(_) => self.forwarded += packets,
            Verdict::Reply => self.replied += packets,
            Verdict::Flood => self.flooded += packets,
            Verdict::Consumed => self.consumed += packets,
            Verdict::Drop(reason) => self.drop(reason, packets),
        }
    }

    /// Counts `frames` dropped for `reason` (frames the engine held and
    /// gave up on, as well as frames handed to it).
    pub fn drop(&mut self, reason: DropReason, frames: u64) {
        self.dropped += frames;
        self.drops[reason.index()] += frames;
    }

    /// The frames by what became of them, each with its snake_case name:
    /// forwarded, replied, flooded, consumed, dropped, originated.
    pub fn outcomes(&self) -> [(&'static str, u64); 6] {
        [
            ("forwarded", self.forwarded),
            ("replied", self.replied),
            ("flooded", self.flooded),
            ("consumed", self.consumed),
            ("dropped", self.dropped),
            ("originated", self.originated),
        ]
    }

    /// Frames dropped for `reason`.
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops[reason.index()]
    }
}

/// Packets, bytes and new flows through one service or backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowCounters {
    /// Sessions created.
    pub new_flows: u64,
    /// Packets in either direction.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl FlowCounters {
    /// Counts a frame: a super-frame as the packets it is on the wire.
    #[inline]
    pub fn packet(&mut self, size: WireSize) {
        self.packets += u64::from(size.packets);
        self.bytes += size.bytes;
    }
}

/// Which load balancer a [`Stats`] snapshot comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EngineKind {
    /// [`ReverseProxy`](crate::ReverseProxy).
    ReverseProxy,
    /// [`DirectReturn`](crate::DirectReturn).
    DirectReturn,
    /// [`NatProxy`](crate::NatProxy).
    NatProxy,
}

impl EngineKind {
    /// The snake_case name metrics and logs use.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::ReverseProxy => "reverse_proxy",
            EngineKind::DirectReturn => "direct_return",
            EngineKind::NatProxy => "nat_proxy",
        }
    }
}

/// Whether a backend takes new flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BackendState {
    /// It takes new flows by its weight.
    Active,
    /// Weight 0: its sessions go on, it takes no new flows.
    Draining,
}

impl BackendState {
    /// The snake_case name the API and tables use.
    pub fn name(self) -> &'static str {
        match self {
            BackendState::Active => "active",
            BackendState::Draining => "draining",
        }
    }

    /// The state a backend of `weight` is in.
    pub fn of_weight(weight: u32) -> Self {
        if weight == 0 {
            BackendState::Draining
        } else {
            BackendState::Active
        }
    }
}

/// A backend in a [`Stats`] snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendStats {
    /// How the configuration names it (`ip:port`, a MAC, an IP).
    pub name: String,
    /// The name it was given (`name = "..."`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Its weight; 0 means draining.
    pub weight: u32,
    /// Whether it takes new flows by its weight.
    pub state: BackendState,
    /// Whether it is healthy: a down backend takes no new flows.
    pub health: Health,
    /// Why: the last probe, passive failures, ejection, override.
    pub health_detail: HealthDetail,
    /// Live sessions on it.
    pub sessions: usize,
    /// Its counters.
    #[serde(flatten)]
    pub counters: FlowCounters,
}

/// A service in a [`Stats`] snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStats {
    /// How the configuration names it (`vip:port/proto`, ...).
    pub name: String,
    /// The name it was given (`name = "..."`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Selection policy.
    pub policy: Policy,
    /// The size of its Maglev table, with that policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maglev_table_size: Option<u64>,
    /// What its active probes do, if it has any.
    pub health_check: Option<ProbeKind>,
    /// True while too few backends are usable and new flows spread over
    /// all of them regardless of health (panic mode).
    pub panic: bool,
    /// Live sessions.
    pub sessions: usize,
    /// Its counters.
    #[serde(flatten)]
    pub counters: FlowCounters,
    /// New flows refused for want of a source port (full NAT).
    #[serde(default)]
    pub refused: u64,
    /// Its backends.
    pub backends: Vec<BackendStats>,
}

/// A snapshot of an engine's counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Which engine.
    pub engine: EngineKind,
    /// Frames by verdict and drop reason.
    pub traffic: TrafficCounters,
    /// Live sessions.
    pub sessions: usize,
    /// Session table capacity.
    pub session_capacity: usize,
    /// What the session table did.
    pub session_table: SessionStats,
    /// Frames the kernel dropped before the datapath read them (a tap's
    /// or a packet socket's full queue), since the datapath opened: never
    /// seen by the engine, so in no other counter, and not reset.
    #[serde(default)]
    pub kernel_drops: u64,
    /// Frames the datapath could not send because their port was down
    /// (a link down, a tap whose interface is not up, a device gone).
    #[serde(default)]
    pub unsent_port_down: u64,
    /// Frames the datapath failed to send for any other reason.
    #[serde(default)]
    pub send_errors: u64,
    /// A hash of what decides each new flow's pick (the selection key and
    /// seed; each service's policy, table size and backends with their
    /// weights; not health): instances behind ECMP that show the same one
    /// send every flow to the same backend. 16 hex digits.
    #[serde(default)]
    pub selection_fingerprint: String,
    /// Per service and backend.
    pub services: Vec<ServiceStats>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_written_by_name_and_read_back() {
        let mut traffic = TrafficCounters::default();
        traffic.record(WireSize::single(60), Verdict::Drop(DropReason::NoBackend));
        traffic.drop(DropReason::ArpUnresolved, 3);
        let json = serde_json::to_value(traffic).unwrap();
        assert_eq!(json["drops"]["no_backend"], 1);
        assert_eq!(json["drops"]["arp_unresolved"], 3);
        assert_eq!(json["dropped"], 4);
        let mut from_newer = json.clone();
        from_newer["drops"]["a_reason_from_the_future"] = 7.into();
        let read: TrafficCounters = serde_json::from_value(from_newer).unwrap();
        assert_eq!(read, traffic);
    }

    #[test]
    fn backend_stats_read_back_with_their_health() {
        let now = std::time::Instant::now();
        let mut health = crate::BackendHealth::new();
        let check = crate::HealthCheck::new(crate::ProbeKind::Http);
        health.record_probe(crate::ProbeResult::BadStatus(503), &check);
        let backend = BackendStats {
            name: "192.168.1.2:80".into(),
            label: Some("web 1".into()),
            weight: 1,
            state: BackendState::Active,
            health: health.health(),
            health_detail: health.detail(now),
            sessions: 2,
            counters: FlowCounters::default(),
        };
        let json = serde_json::to_value(&backend).unwrap();
        assert_eq!(json["health"], "unknown");
        assert_eq!(json["health_detail"]["last_probe"]["bad_status"], 503);
        assert_eq!(json["label"], "web 1");
        let read: BackendStats = serde_json::from_value(json).unwrap();
        assert_eq!(read, backend);
    }
}
