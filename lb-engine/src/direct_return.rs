//! [`DirectReturn`]: layer-2 direct server return, as Polycube's `lbdsr`.

use std::net::Ipv4Addr;
use std::time::Instant;

use lb_algos::{Policy, SelectorConfig};
use lb_packet::{ArpOp, FlowKey, Frame, Icmp, MacAddr};
use lb_session::{Direction, InsertError, SessionTable};
use serde::{Deserialize, Serialize};

use crate::backend_pool::BackendPool;
use crate::config::{ConfigError, SelectionSettings, SessionSettings};
use crate::fragments::{DatagramId, FragmentTracker};
use crate::stats::{FlowCounters, ServiceStats, TrafficCounters};
use crate::sweep::SweepSchedule;
use crate::{DropReason, Engine, PortId, SessionFilter, SessionView, Stats, Verdict};

const FRAGMENT_CAPACITY: usize = 4096;

/// The frontend port; also the only port of a one-armed engine.
pub const FRONTEND_PORT: PortId = PortId(0);
/// The backend port of a two-armed engine.
pub const BACKEND_PORT: PortId = PortId(1);

fn default_weight() -> u32 {
    1
}

fn default_policy() -> Policy {
    Policy::SrcIpHash
}

/// A server behind a [`DirectReturn`] load balancer, known by its MAC. It
/// must hold every VIP on a loopback interface and not answer ARP for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DsrBackendConfig {
    /// Its MAC address.
    pub mac: MacAddr,
    /// Relative share of new flows (default 1); 0 drains it.
    #[serde(default = "default_weight")]
    pub weight: u32,
}

/// Configuration of a [`DirectReturn`] engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectReturnConfig {
    /// The virtual IPs answered for (any number).
    pub vips: Vec<Ipv4Addr>,
    /// The MAC clients reach the VIPs at: ARP replies carry it, and frames
    /// to it are balanced.
    pub mac: MacAddr,
    /// Source MAC of frames sent out of the backend port: that port's own
    /// address. It must differ from `mac` when both ports share a bridge,
    /// or the bridge learns the frontend's MAC on the backend port. Defaults
    /// to `mac`, right for a one-armed engine.
    #[serde(default)]
    pub backend_port_mac: Option<MacAddr>,
    /// The servers.
    #[serde(default)]
    pub backends: Vec<DsrBackendConfig>,
    /// How new flows pick a server (default source-IP hash).
    #[serde(default = "default_policy")]
    pub policy: Policy,
    /// One port for both sides.
    #[serde(default)]
    pub one_armed: bool,
    /// The session table.
    #[serde(default)]
    pub sessions: SessionSettings,
    /// Backend selection.
    #[serde(default)]
    pub selection: SelectionSettings,
}

/// Direct server return at layer 2 (Polycube `lbdsr`, without its limits).
///
/// The engine answers ARP for its VIPs with its own MAC. A frame to that
/// MAC and a VIP is sent to a server chosen by the policy, with only the
/// Ethernet header changed: destination the server's MAC, source the
/// backend port's own MAC. IP and transport headers are untouched, and the
/// server replies to the client directly. Sessions keep each flow on its
/// server while servers come and go; removing a server ends its sessions;
/// weight 0 drains it. Any number of VIPs and servers.
///
/// Ports: [`FRONTEND_PORT`] and [`BACKEND_PORT`], or only the frontend when
/// one-armed. Frames on the frontend that are not for the engine's MAC and
/// a VIP, and anything arriving on the backend port, are dropped and
/// counted.
pub struct DirectReturn {
    /// Sorted, deduplicated.
    vips: Vec<Ipv4Addr>,
    mac: MacAddr,
    backend_port_mac: MacAddr,
    one_armed: bool,
    backends: BackendPool<MacAddr>,
    selector_config: SelectorConfig,
    sessions: SessionTable<u32>,
    fragments: FragmentTracker<u32>,
    counters: FlowCounters,
    traffic: TrafficCounters,
    sweep: SweepSchedule,
}

impl core::fmt::Debug for DirectReturn {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DirectReturn")
            .field("vips", &self.vips)
            .field("mac", &self.mac)
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

impl DirectReturn {
    /// An engine from its configuration.
    pub fn new(config: &DirectReturnConfig) -> Result<Self, ConfigError> {
        let backend_port_mac = config.backend_port_mac.unwrap_or(config.mac);
        if config.mac.is_multicast() || backend_port_mac.is_multicast() {
            return Err(ConfigError::Invalid(format!(
                "the load balancer's MAC must be unicast, not {}",
                if config.mac.is_multicast() {
                    config.mac
                } else {
                    backend_port_mac
                }
            )));
        }
        if let Some(bad) = config.backends.iter().find(|b| b.mac.is_multicast()) {
            return Err(ConfigError::Invalid(format!(
                "backend MAC {} is not unicast",
                bad.mac
            )));
        }
        let selector_config = config.selection.selector_config()?;
        let backends = config.backends.iter().map(|b| (b.mac, b.weight));
        let backends = BackendPool::new(config.policy, backends, &selector_config)?;
        let mut vips = config.vips.clone();
        vips.sort_unstable();
        vips.dedup();
        Ok(DirectReturn {
            vips,
            mac: config.mac,
            backend_port_mac,
            one_armed: config.one_armed,
            backends,
            selector_config,
            sessions: SessionTable::new(config.sessions.table_config())?,
            fragments: FragmentTracker::new(FRAGMENT_CAPACITY),
            counters: FlowCounters::default(),
            traffic: TrafficCounters::default(),
            sweep: SweepSchedule::default(),
        })
    }

    /// The VIPs answered for.
    pub fn vips(&self) -> &[Ipv4Addr] {
        &self.vips
    }

    /// Answers for another VIP.
    pub fn add_vip(&mut self, vip: Ipv4Addr) {
        if let Err(at) = self.vips.binary_search(&vip) {
            self.vips.insert(at, vip);
        }
    }

    /// Stops answering for a VIP and ends its sessions; returns how many.
    pub fn remove_vip(&mut self, vip: Ipv4Addr) -> Result<usize, ConfigError> {
        let at = self
            .vips
            .binary_search(&vip)
            .map_err(|_| ConfigError::Invalid(format!("no VIP {vip}")))?;
        self.vips.remove(at);
        Ok(self.sessions.retain(|key, _| key.dst != vip))
    }

    /// The servers and their weights.
    pub fn backends(&self) -> Vec<DsrBackendConfig> {
        self.backends
            .members()
            .map(|(_, b)| DsrBackendConfig {
                mac: b.target,
                weight: b.weight,
            })
            .collect()
    }

    /// Adds a server, or sets the weight of one (0 drains it).
    pub fn set_backend(&mut self, backend: DsrBackendConfig) -> Result<(), ConfigError> {
        if backend.mac.is_multicast() {
            return Err(ConfigError::Invalid(format!(
                "backend MAC {} is not unicast",
                backend.mac
            )));
        }
        Ok(self
            .backends
            .upsert(backend.mac, backend.weight, &self.selector_config)?)
    }

    /// Removes a server and ends its sessions; returns how many.
    pub fn remove_backend(&mut self, mac: MacAddr) -> Result<usize, ConfigError> {
        let slot = self
            .backends
            .remove(mac, &self.selector_config)?
            .ok_or_else(|| ConfigError::Invalid(format!("no backend {mac}")))?;
        Ok(self.sessions.retain(|_, backend| *backend != slot))
    }

    fn is_vip(&self, addr: Ipv4Addr) -> bool {
        self.vips.binary_search(&addr).is_ok()
    }

    fn out_port(&self) -> Verdict {
        if self.one_armed {
            Verdict::Reply
        } else {
            Verdict::Forward(BACKEND_PORT)
        }
    }

    fn handle_frontend(&mut self, now: Instant, frame: &mut Frame<&mut [u8]>) -> Verdict {
        if let Some(arp) = frame.arp() {
            let for_us = arp.op() == ArpOp::Request && self.is_vip(arp.target_ip());
            return if for_us && frame.make_arp_reply(self.mac).is_ok() {
                Verdict::Reply
            } else {
                Verdict::Drop(DropReason::NotForUs)
            };
        }
        if frame.dst_mac() != self.mac {
            return Verdict::Drop(DropReason::NotForUs);
        }
        let Some(header) = frame.ipv4() else {
            return Verdict::Drop(DropReason::NotForUs);
        };
        if !self.is_vip(header.dst()) {
            return Verdict::Drop(DropReason::NotForUs);
        }
        let datagram = DatagramId {
            src: header.src(),
            dst: header.dst(),
            ident: header.ident(),
            protocol: header.protocol(),
        };
        let (is_fragment, more_fragments) = (header.is_fragment(), header.more_fragments());
        let backend = if let Some(key) = frame.flow_key() {
            let backend = match self.sessions.lookup(now, &key, frame.tcp_flags()) {
                Some(hit) if hit.direction == Direction::Forward => *hit.value,
                Some(_) => return Verdict::Drop(DropReason::NoSession),
                None => match self.new_session(now, &key, frame) {
                    Ok(backend) => backend,
                    Err(reason) => return Verdict::Drop(reason),
                },
            };
            if more_fragments {
                self.fragments.remember(now, datagram, backend);
            }
            backend
        } else if is_fragment {
            match self.fragments.lookup(now, &datagram) {
                Some(backend) => backend,
                None => return Verdict::Drop(DropReason::Fragment),
            }
        } else if let Some(Icmp::Error { .. }) = frame.icmp() {
            // About a packet the server sent from the VIP: to that server.
            match frame
                .quoted_flow()
                .and_then(|quoted| self.sessions.peek(&quoted.reversed()))
            {
                Some((Direction::Forward, backend)) => *backend,
                _ => return Verdict::Drop(DropReason::NoSession),
            }
        } else {
            return Verdict::Drop(DropReason::UnsupportedProtocol);
        };
        let Some(member) = self.backends.get_mut(backend) else {
            return Verdict::Drop(DropReason::NoBackend);
        };
        member.counters.packet(frame.len());
        self.counters.packet(frame.len());
        frame.set_dst_mac(member.target);
        frame.set_src_mac(self.backend_port_mac);
        self.out_port()
    }

    fn new_session(
        &mut self,
        now: Instant,
        key: &FlowKey,
        frame: &Frame<&mut [u8]>,
    ) -> Result<u32, DropReason> {
        let backend = self.backends.pick(key).ok_or(DropReason::NoBackend)?;
        // Replies bypass us; the reverse key only has to be distinct.
        match self
            .sessions
            .insert(now, *key, key.reversed(), frame.tcp_flags(), backend)
        {
            Ok(_) => {}
            Err(InsertError::Full) => return Err(DropReason::TableFull),
            Err(_) => return Err(DropReason::NoSession),
        }
        self.counters.new_flows += 1;
        if let Some(member) = self.backends.get_mut(backend) {
            member.counters.new_flows += 1;
        }
        Ok(backend)
    }
}

impl Engine for DirectReturn {
    fn port_count(&self) -> usize {
        if self.one_armed { 1 } else { 2 }
    }

    fn handle_frame(&mut self, now: Instant, port: PortId, frame: &mut [u8]) -> Verdict {
        let len = frame.len();
        let verdict = if port != FRONTEND_PORT {
            Verdict::Drop(DropReason::WrongPort)
        } else {
            match Frame::parse(frame) {
                Ok(mut frame) => self.handle_frontend(now, &mut frame),
                Err(error) => Verdict::Drop(error.into()),
            }
        };
        self.traffic.record(len, verdict);
        verdict
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.sweep.run(now, &mut self.sessions);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.sweep.deadline()
    }

    fn stats(&self, now: Instant) -> Stats {
        let mut live = vec![0usize; self.backends.slot_count()];
        for session in self.sessions.iter(now) {
            if let Some(count) = live.get_mut(*session.value as usize) {
                *count += 1;
            }
        }
        let backends = self
            .backends
            .stats(|slot| live.get(slot as usize).copied().unwrap_or(0));
        let vips: Vec<String> = self.vips.iter().map(Ipv4Addr::to_string).collect();
        Stats {
            engine: "direct_return",
            traffic: self.traffic,
            sessions: self.sessions.len(),
            session_capacity: self.sessions.capacity(),
            session_table: self.sessions.stats(),
            services: vec![ServiceStats {
                name: vips.join(","),
                policy: self.backends.policy().to_string(),
                sessions: live.iter().sum(),
                counters: self.counters,
                backends,
            }],
        }
    }

    fn reset_counters(&mut self) {
        self.traffic = TrafficCounters::default();
        self.counters = FlowCounters::default();
        self.sessions.reset_stats();
        self.backends.reset_counters();
    }

    fn sessions(&self, now: Instant, filter: &SessionFilter, limit: usize) -> Vec<SessionView> {
        let vips: Vec<String> = self.vips.iter().map(Ipv4Addr::to_string).collect();
        let service = vips.join(",");
        self.sessions
            .iter(now)
            .filter_map(|session| {
                let backend = self.backends.get(*session.value)?;
                filter.view(&session, service.clone(), backend.target.to_string())
            })
            .take(limit)
            .collect()
    }
}
