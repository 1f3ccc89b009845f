//! Next-hop MAC resolution for an engine that owns an address: a neighbour
//! cache, filled by ARP for an IPv4 address and by neighbor discovery for
//! an IPv6 one, and frames held (bounded, briefly) while a request is out.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use lb_packet::MacAddr;
use serde::{Deserialize, Serialize};

/// ARP timing and limits, in configuration units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArpSettings {
    /// How long a learned address is trusted, in seconds (default 60).
    pub cache_secs: u64,
    /// How long frames wait for an answer, in milliseconds (default 1000).
    pub resolve_ms: u64,
    /// Interval between repeated requests, in milliseconds (default 250).
    pub retry_ms: u64,
    /// Frames held at most, all next hops together (default 64).
    pub queue_limit: usize,
    /// Frames held at most for one next hop (default 16).
    pub queue_per_hop: usize,
    /// Addresses cached at most (default 4096).
    pub cache_limit: usize,
}

impl Default for ArpSettings {
    fn default() -> Self {
        ArpSettings {
            cache_secs: 60,
            resolve_ms: 1000,
            retry_ms: 250,
            queue_limit: 64,
            queue_per_hop: 16,
            cache_limit: 4096,
        }
    }
}

#[derive(Debug)]
struct Pending {
    frames: Vec<Vec<u8>>,
    deadline: Instant,
    next_request: Instant,
}

/// Why a frame could not be held for resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueFull;

/// A frame waiting to be sent: a request, made when it leaves, or a frame
/// released by an answer.
#[derive(Debug)]
enum Outgoing {
    Request(IpAddr),
    Released(Vec<u8>),
}

/// The cache and the frames waiting on it.
#[derive(Debug)]
pub(crate) struct ArpResolver {
    mac: MacAddr,
    ip: IpAddr,
    settings: ArpSettings,
    cache: HashMap<IpAddr, (MacAddr, Instant)>,
    pending: HashMap<IpAddr, Pending>,
    queued: usize,
    outbox: VecDeque<Outgoing>,
}

impl ArpResolver {
    pub(crate) fn new(mac: MacAddr, ip: IpAddr, settings: ArpSettings) -> Self {
        ArpResolver {
            mac,
            ip,
            settings,
            cache: HashMap::new(),
            pending: HashMap::new(),
            queued: 0,
            outbox: VecDeque::new(),
        }
    }

    /// The MAC of `ip`, if known and fresh.
    pub(crate) fn lookup(&self, now: Instant, ip: IpAddr) -> Option<MacAddr> {
        self.cache
            .get(&ip)
            .filter(|entry| entry.1 > now)
            .map(|entry| entry.0)
    }

    /// Records that `ip` is at `mac`; frames waiting for it are addressed
    /// and released. `solicited`: an answer to our request, or a request
    /// for our address (RFC 826 merges those); others only refresh.
    pub(crate) fn learn(&mut self, now: Instant, ip: IpAddr, mac: MacAddr, solicited: bool) {
        if mac.is_multicast() || ip.is_unspecified() {
            return;
        }
        let known = self.cache.contains_key(&ip) || self.pending.contains_key(&ip);
        if !solicited && !known {
            return;
        }
        if !known && self.cache.len() >= self.settings.cache_limit {
            self.cache.retain(|_, entry| entry.1 > now);
            if self.cache.len() >= self.settings.cache_limit {
                return;
            }
        }
        self.cache.insert(
            ip,
            (mac, now + Duration::from_secs(self.settings.cache_secs)),
        );
        if let Some(pending) = self.pending.remove(&ip) {
            self.queued -= pending.frames.len();
            for mut frame in pending.frames {
                frame[0..6].copy_from_slice(&mac.0);
                frame[6..12].copy_from_slice(&self.mac.0);
                self.outbox.push_back(Outgoing::Released(frame));
            }
        }
    }

    /// Holds `frame` until `next_hop` resolves, asking for it if nobody has.
    /// A next hop of the other family than the resolver's own address
    /// cannot be asked for: refused as if the queue were full.
    pub(crate) fn enqueue(
        &mut self,
        now: Instant,
        next_hop: IpAddr,
        frame: &[u8],
    ) -> Result<(), QueueFull> {
        if next_hop.is_ipv4() != self.ip.is_ipv4() {
            return Err(QueueFull);
        }
        let held = self.pending.get(&next_hop).map_or(0, |p| p.frames.len());
        if self.queued >= self.settings.queue_limit || held >= self.settings.queue_per_hop {
            return Err(QueueFull);
        }
        let settings = self.settings;
        let pending = self.pending.entry(next_hop).or_insert_with(|| Pending {
            frames: Vec::new(),
            deadline: now + Duration::from_millis(settings.resolve_ms),
            next_request: now,
        });
        pending.frames.push(frame.to_vec());
        self.queued += 1;
        if pending.next_request <= now {
            pending.next_request = now + Duration::from_millis(settings.retry_ms);
            self.outbox.push_back(Outgoing::Request(next_hop));
        }
        Ok(())
    }

    /// Repeats due requests and gives up on overdue next hops; returns how
    /// many frames were dropped.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> usize {
        let mut dropped = 0;
        let retry = Duration::from_millis(self.settings.retry_ms);
        let outbox = &mut self.outbox;
        self.pending.retain(|&next_hop, pending| {
            if pending.deadline <= now {
                dropped += pending.frames.len();
                return false;
            }
            if pending.next_request <= now {
                pending.next_request = now + retry;
                outbox.push_back(Outgoing::Request(next_hop));
            }
            true
        });
        self.queued -= dropped;
        dropped
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has work.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.pending
            .values()
            .map(|p| p.next_request.min(p.deadline))
            .min()
    }

    /// Writes the next frame to send (an ARP request or a neighbor
    /// solicitation, or a released frame) into `buffer`; false when there
    /// is none.
    pub(crate) fn pop_into(&mut self, buffer: &mut Vec<u8>) -> bool {
        let Some(outgoing) = self.outbox.pop_front() else {
            return false;
        };
        buffer.clear();
        match (outgoing, self.ip) {
            (Outgoing::Request(IpAddr::V4(next_hop)), IpAddr::V4(ip)) => {
                buffer.extend_from_slice(&lb_packet::arp_request(self.mac, ip, next_hop));
            }
            (Outgoing::Request(IpAddr::V6(next_hop)), IpAddr::V6(ip)) => {
                let request = lb_packet::neighbor_solicitation(self.mac, ip, next_hop);
                buffer.extend_from_slice(&request);
            }
            // enqueue() holds no next hop of the other family.
            (Outgoing::Request(_), _) => return false,
            (Outgoing::Released(frame), _) => buffer.extend_from_slice(&frame),
        }
        true
    }
}
