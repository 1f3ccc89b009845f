//! [`NatProxy`]: the one-armed full-NAT proxy of the MirageOS demo.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use lb_algos::{Policy, SelectorConfig};
use lb_packet::{ArpOp, FlowKey, Frame, Icmp, MacAddr, TcpFlags};
use lb_session::{Direction, InsertError, PortRange, SessionTable, SnatAllocator};
use serde::{Deserialize, Serialize};

use crate::arp_resolver::{ArpResolver, ArpSettings};
use crate::backend_pool::BackendPool;
use crate::config::{ConfigError, SelectionSettings, SessionSettings};
use crate::stats::{FlowCounters, ServiceStats, TrafficCounters};
use crate::sweep::SweepSchedule;
use crate::{DropReason, Engine, PortId, SessionFilter, SessionView, Stats, Transmit, Verdict};

/// The proxy's only port.
pub const PROXY_PORT: PortId = PortId(0);

fn default_policy() -> Policy {
    Policy::Random
}

/// Configuration of a [`NatProxy`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatProxyConfig {
    /// The proxy's own address, which clients connect to.
    pub ip: Ipv4Addr,
    /// Prefix length of its network: destinations inside are on-link.
    pub prefix_len: u8,
    /// The proxy's MAC.
    pub mac: MacAddr,
    /// Router for destinations off-link.
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
    /// Where connections are sent (the port is kept).
    pub dst_addrs: Vec<Ipv4Addr>,
    /// How a connection picks a destination (default random).
    #[serde(default = "default_policy")]
    pub policy: Policy,
    /// Source ports towards destinations (default 32768-60999).
    #[serde(default)]
    pub snat_ports: PortRange,
    /// Ports on the proxy that take no connections.
    #[serde(default)]
    pub denied_ports: Vec<u16>,
    /// The session table.
    #[serde(default)]
    pub sessions: SessionSettings,
    /// Destination selection.
    #[serde(default)]
    pub selection: SelectionSettings,
    /// Next-hop resolution.
    #[serde(default)]
    pub arp: ArpSettings,
}

/// Both halves of a translated connection.
#[derive(Debug, Clone, Copy)]
struct ProxySession {
    client: SocketAddrV4,
    /// Where the client's frames came from: the client, or its router.
    client_mac: MacAddr,
    /// The proxy port the client connected to.
    listen_port: u16,
    dest: SocketAddrV4,
    snat_port: u16,
    dest_slot: u32,
}

/// A one-armed full-NAT proxy (the MirageOS random proxy, without its bugs).
///
/// It owns an address and a MAC on one port: it answers ARP for its
/// address and every ping to it. Each new TCP or UDP connection to it is
/// sent to a destination picked from `dst_addrs` (random by default), on
/// the same port, from the proxy's address and a source port of its SNAT
/// range; replies are translated back. Sessions follow TCP through
/// retransmissions, FIN and RST, and time out when idle. Next hops are
/// resolved with the proxy's own ARP requests; frames wait for an answer
/// in a bounded queue for a bounded time, then are dropped and counted.
/// ICMP errors about a connection are translated with it. Fragmented
/// datagrams are dropped ([`DropReason::Fragment`]).
pub struct NatProxy {
    ip: Ipv4Addr,
    mac: MacAddr,
    netmask: u32,
    gateway: Option<Ipv4Addr>,
    destinations: BackendPool<Ipv4Addr>,
    selector_config: SelectorConfig,
    snat: SnatAllocator,
    /// Sorted.
    denied_ports: Vec<u16>,
    sessions: SessionTable<ProxySession>,
    resolver: ArpResolver,
    counters: FlowCounters,
    traffic: TrafficCounters,
    sweep: SweepSchedule,
}

impl core::fmt::Debug for NatProxy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NatProxy")
            .field("ip", &self.ip)
            .field("mac", &self.mac)
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

impl NatProxy {
    /// A proxy from its configuration.
    pub fn new(config: &NatProxyConfig) -> Result<Self, ConfigError> {
        if config.prefix_len > 32 {
            return Err(ConfigError::Invalid(format!(
                "prefix length {} is above 32",
                config.prefix_len
            )));
        }
        if config.mac.is_multicast() {
            return Err(ConfigError::Invalid(format!(
                "MAC {} is not unicast",
                config.mac
            )));
        }
        if config.dst_addrs.is_empty() {
            return Err(ConfigError::Invalid(
                "give at least one destination address".into(),
            ));
        }
        let netmask = u32::MAX
            .checked_shl(32 - u32::from(config.prefix_len))
            .unwrap_or(0);
        let selector_config = config.selection.selector_config()?;
        let mut engine = NatProxy {
            ip: config.ip,
            mac: config.mac,
            netmask,
            gateway: config.gateway,
            // Replaced once the destinations are checked against the above.
            destinations: BackendPool::new(Policy::Random, [], &selector_config)?,
            selector_config,
            snat: SnatAllocator::new(config.snat_ports, selector_config.hash_key),
            denied_ports: config.denied_ports.clone(),
            sessions: SessionTable::new(config.sessions.table_config())?,
            resolver: ArpResolver::new(config.mac, config.ip, config.arp),
            counters: FlowCounters::default(),
            traffic: TrafficCounters::default(),
            sweep: SweepSchedule::default(),
        };
        if let Some(gateway) = config.gateway {
            if !engine.on_link(gateway) || gateway == config.ip {
                return Err(ConfigError::Invalid(format!(
                    "gateway {gateway} is not another address of {}/{}",
                    config.ip, config.prefix_len
                )));
            }
        }
        engine.denied_ports.sort_unstable();
        for &addr in &config.dst_addrs {
            engine.check_destination(addr)?;
        }
        let destinations = config.dst_addrs.iter().map(|&addr| (addr, 1));
        engine.destinations = BackendPool::new(config.policy, destinations, &selector_config)?;
        Ok(engine)
    }

    fn check_destination(&self, addr: Ipv4Addr) -> Result<(), ConfigError> {
        if addr == self.ip {
            return Err(ConfigError::Invalid(format!(
                "destination {addr} is the proxy itself"
            )));
        }
        if self.next_hop(addr).is_none() {
            return Err(ConfigError::Invalid(format!(
                "destination {addr} is off-link and there is no gateway"
            )));
        }
        Ok(())
    }

    /// Adds a destination, or sets the weight of one (0 drains it).
    pub fn set_destination(&mut self, addr: Ipv4Addr, weight: u32) -> Result<(), ConfigError> {
        self.check_destination(addr)?;
        Ok(self
            .destinations
            .upsert(addr, weight, &self.selector_config)?)
    }

    /// Removes a destination and ends its sessions; returns how many.
    pub fn remove_destination(&mut self, addr: Ipv4Addr) -> Result<usize, ConfigError> {
        let slot = self
            .destinations
            .remove(addr, &self.selector_config)?
            .ok_or_else(|| ConfigError::Invalid(format!("no destination {addr}")))?;
        Ok(self.sessions.retain(|_, session| session.dest_slot != slot))
    }

    /// The destinations and their weights.
    pub fn destinations(&self) -> Vec<(Ipv4Addr, u32)> {
        self.destinations
            .members()
            .map(|(_, d)| (d.target, d.weight))
            .collect()
    }

    fn on_link(&self, addr: Ipv4Addr) -> bool {
        (u32::from(addr) ^ u32::from(self.ip)) & self.netmask == 0
    }

    /// The address to resolve to reach `addr`.
    fn next_hop(&self, addr: Ipv4Addr) -> Option<Ipv4Addr> {
        if self.on_link(addr) {
            Some(addr)
        } else {
            self.gateway
        }
    }

    fn handle_arp(&mut self, now: Instant, frame: &mut Frame<&mut [u8]>) -> Verdict {
        let Some(arp) = frame.arp() else {
            return Verdict::Drop(DropReason::NotForUs);
        };
        let (op, sender, sender_mac, target) =
            (arp.op(), arp.sender_ip(), arp.sender_mac(), arp.target_ip());
        let for_us = target == self.ip;
        self.resolver.learn(now, sender, sender_mac, for_us);
        match op {
            ArpOp::Request if for_us && frame.make_arp_reply(self.mac).is_ok() => Verdict::Reply,
            ArpOp::Reply if for_us => Verdict::Consumed,
            _ => Verdict::Drop(DropReason::NotForUs),
        }
    }

    fn handle_ipv4(&mut self, now: Instant, frame: &mut Frame<&mut [u8]>) -> Verdict {
        let Some(header) = frame.ipv4() else {
            return Verdict::Drop(DropReason::NotForUs);
        };
        if header.dst() != self.ip {
            return Verdict::Drop(DropReason::NotForUs);
        }
        if header.is_fragment() {
            return Verdict::Drop(DropReason::Fragment);
        }
        match frame.icmp() {
            Some(Icmp::EchoRequest { .. }) => {
                return if frame.make_echo_reply().is_ok() {
                    Verdict::Reply
                } else {
                    Verdict::Drop(DropReason::Malformed)
                };
            }
            Some(Icmp::Error { .. }) => return self.translate_error(now, frame),
            Some(_) => return Verdict::Drop(DropReason::NoSession),
            None => {}
        }
        let Some(key) = frame.flow_key() else {
            return Verdict::Drop(DropReason::UnsupportedProtocol);
        };
        let flags = frame.tcp_flags();
        match self.sessions.lookup(now, &key, flags) {
            Some(hit) if hit.direction == Direction::Forward => {
                let session = *hit.value;
                self.forward_to_destination(now, frame, &session)
            }
            Some(hit) => {
                let session = *hit.value;
                self.return_to_client(frame, &session)
            }
            None => match self.new_session(now, &key, frame.src_mac(), flags) {
                Ok(session) => self.forward_to_destination(now, frame, &session),
                Err(reason) => Verdict::Drop(reason),
            },
        }
    }

    fn new_session(
        &mut self,
        now: Instant,
        key: &FlowKey,
        client_mac: MacAddr,
        flags: Option<TcpFlags>,
    ) -> Result<ProxySession, DropReason> {
        if let Some(flags) = flags {
            // Only a SYN opens a connection; anything else is a stray.
            if !flags.contains(TcpFlags::SYN)
                || flags.contains(TcpFlags::ACK)
                || flags.contains(TcpFlags::RST)
            {
                return Err(DropReason::NoSession);
            }
        }
        if self.denied_ports.binary_search(&key.dst_port).is_ok() {
            return Err(DropReason::DeniedPort);
        }
        let dest_slot = self.destinations.pick(key).ok_or(DropReason::NoBackend)?;
        let dest_addr = self
            .destinations
            .get(dest_slot)
            .ok_or(DropReason::NoBackend)?
            .target;
        let dest = SocketAddrV4::new(dest_addr, key.dst_port);
        let snat_port = self
            .snat
            .allocate(&mut self.sessions, now, key, self.ip, dest)
            .map_err(|_| DropReason::PortsExhausted)?;
        let session = ProxySession {
            client: key.src_endpoint(),
            client_mac,
            listen_port: key.dst_port,
            dest,
            snat_port,
            dest_slot,
        };
        let reverse = SnatAllocator::reply_key(self.ip, snat_port, dest, key.proto);
        match self.sessions.insert(now, *key, reverse, flags, session) {
            Ok(_) => {}
            Err(InsertError::Full) => return Err(DropReason::TableFull),
            Err(_) => return Err(DropReason::NoSession),
        }
        self.counters.new_flows += 1;
        if let Some(destination) = self.destinations.get_mut(dest_slot) {
            destination.counters.new_flows += 1;
        }
        Ok(session)
    }

    fn count(&mut self, session: &ProxySession, len: usize) {
        self.counters.packet(len);
        if let Some(destination) = self.destinations.get_mut(session.dest_slot) {
            destination.counters.packet(len);
        }
    }

    /// Sends a translated frame to `addr`: now if its next hop is known,
    /// else once ARP answers.
    fn route(&mut self, now: Instant, frame: &mut Frame<&mut [u8]>, addr: Ipv4Addr) -> Verdict {
        if frame.decrement_ttl().is_err() {
            return Verdict::Drop(DropReason::TtlExpired);
        }
        let Some(next_hop) = self.next_hop(addr) else {
            return Verdict::Drop(DropReason::NoRoute);
        };
        frame.set_src_mac(self.mac);
        match self.resolver.lookup(now, next_hop) {
            Some(mac) => {
                frame.set_dst_mac(mac);
                Verdict::Reply
            }
            None => match self.resolver.enqueue(now, next_hop, frame.as_bytes()) {
                Ok(()) => Verdict::Consumed,
                Err(_) => Verdict::Drop(DropReason::ArpUnresolved),
            },
        }
    }

    fn forward_to_destination(
        &mut self,
        now: Instant,
        frame: &mut Frame<&mut [u8]>,
        session: &ProxySession,
    ) -> Verdict {
        let translated = frame
            .set_src(SocketAddrV4::new(self.ip, session.snat_port))
            .is_ok()
            && frame.set_dst(session.dest).is_ok();
        if !translated {
            return Verdict::Drop(DropReason::Malformed);
        }
        self.count(session, frame.len());
        self.route(now, frame, *session.dest.ip())
    }

    fn return_to_client(
        &mut self,
        frame: &mut Frame<&mut [u8]>,
        session: &ProxySession,
    ) -> Verdict {
        let translated = frame
            .set_src(SocketAddrV4::new(self.ip, session.listen_port))
            .is_ok()
            && frame.set_dst(session.client).is_ok();
        if !translated {
            return Verdict::Drop(DropReason::Malformed);
        }
        if frame.decrement_ttl().is_err() {
            return Verdict::Drop(DropReason::TtlExpired);
        }
        self.count(session, frame.len());
        frame.set_src_mac(self.mac);
        frame.set_dst_mac(session.client_mac);
        Verdict::Reply
    }

    /// An ICMP error about a translated connection, from either side.
    fn translate_error(&mut self, now: Instant, frame: &mut Frame<&mut [u8]>) -> Verdict {
        let Some(quoted) = frame.quoted_flow() else {
            return Verdict::Drop(DropReason::NoSession);
        };
        let Some((direction, session)) =
            self.sessions.peek(&quoted.reversed()).map(|(d, s)| (d, *s))
        else {
            return Verdict::Drop(DropReason::NoSession);
        };
        let proxy_listen = SocketAddrV4::new(self.ip, session.listen_port);
        let proxy_snat = SocketAddrV4::new(self.ip, session.snat_port);
        match direction {
            // About what we sent the destination: proxy:snat -> dest.
            Direction::Reverse => {
                let ok = frame.set_dst_addr(*session.client.ip()).is_ok()
                    && frame.set_quoted_src(session.client).is_ok()
                    && frame.set_quoted_dst(proxy_listen).is_ok();
                if !ok || frame.decrement_ttl().is_err() {
                    return Verdict::Drop(DropReason::Malformed);
                }
                frame.set_src_mac(self.mac);
                frame.set_dst_mac(session.client_mac);
                Verdict::Reply
            }
            // About what we sent the client: proxy:listen -> client.
            Direction::Forward => {
                let ok = frame.set_src_addr(self.ip).is_ok()
                    && frame.set_dst_addr(*session.dest.ip()).is_ok()
                    && frame.set_quoted_src(session.dest).is_ok()
                    && frame.set_quoted_dst(proxy_snat).is_ok();
                if !ok {
                    return Verdict::Drop(DropReason::Malformed);
                }
                self.route(now, frame, *session.dest.ip())
            }
        }
    }
}

impl Engine for NatProxy {
    fn port_count(&self) -> usize {
        1
    }

    fn handle_frame(&mut self, now: Instant, port: PortId, frame: &mut [u8]) -> Verdict {
        let len = frame.len();
        let verdict = if port != PROXY_PORT {
            Verdict::Drop(DropReason::WrongPort)
        } else {
            match Frame::parse(frame) {
                Err(error) => Verdict::Drop(error.into()),
                Ok(mut frame) if frame.arp().is_some() => self.handle_arp(now, &mut frame),
                Ok(mut frame) => self.handle_ipv4(now, &mut frame),
            }
        };
        self.traffic.record(len, verdict);
        verdict
    }

    fn handle_timeout(&mut self, now: Instant) {
        let unresolved = self.resolver.handle_timeout(now) as u64;
        self.traffic.dropped += unresolved;
        self.traffic.drops[DropReason::ArpUnresolved.index()] += unresolved;
        self.sweep.run(now, &mut self.sessions);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (self.sweep.deadline(), self.resolver.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        let frame = self.resolver.pop()?;
        self.traffic.originated += 1;
        Some(Transmit {
            port: PROXY_PORT,
            frame,
        })
    }

    fn stats(&self, now: Instant) -> Stats {
        let mut live = vec![0usize; self.destinations.slot_count()];
        for session in self.sessions.iter(now) {
            if let Some(count) = live.get_mut(session.value.dest_slot as usize) {
                *count += 1;
            }
        }
        let backends = self
            .destinations
            .stats(|slot| live.get(slot as usize).copied().unwrap_or(0));
        Stats {
            engine: "nat_proxy",
            traffic: self.traffic,
            sessions: self.sessions.len(),
            session_capacity: self.sessions.capacity(),
            session_table: self.sessions.stats(),
            services: vec![ServiceStats {
                name: self.ip.to_string(),
                policy: self.destinations.policy().to_string(),
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
        self.destinations.reset_counters();
    }

    fn sessions(&self, now: Instant, filter: &SessionFilter, limit: usize) -> Vec<SessionView> {
        let service = self.ip.to_string();
        self.sessions
            .iter(now)
            .filter_map(|session| {
                let destination = self.destinations.get(session.value.dest_slot)?;
                filter.view(&session, service.clone(), destination.target.to_string())
            })
            .take(limit)
            .collect()
    }
}
