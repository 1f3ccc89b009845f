//! [`ReverseProxy`]: the NAT load balancer of Polycube's `lbrp`.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use lb_algos::SelectorConfig;
use lb_packet::{EtherType, FlowKey, Frame, Icmp, Protocol, TcpFlags};
use lb_session::{Direction, InsertError, SessionTable};
use serde::{Deserialize, Serialize};

use crate::backend_pool::BackendPool;
use crate::config::{
    BackendConfig, ConfigError, SelectionSettings, ServiceConfig, ServiceKey, SessionSettings,
};
use crate::fragments::{DatagramId, FragmentTracker};
use crate::stats::{FlowCounters, ServiceStats, TrafficCounters};
use crate::sweep::SweepSchedule;
use crate::{DropReason, Engine, PortId, SessionFilter, SessionView, Stats, Verdict};

/// Datagrams whose later fragments the engine remembers how to translate.
const FRAGMENT_CAPACITY: usize = 4096;

/// What a [`ReverseProxy`] reads from its configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReverseProxyConfig {
    /// The services (`[[service]]` tables).
    #[serde(default, rename = "service")]
    pub services: Vec<ServiceConfig>,
    /// The session table.
    #[serde(default)]
    pub sessions: SessionSettings,
    /// Backend selection.
    #[serde(default)]
    pub selection: SelectionSettings,
}

impl ReverseProxyConfig {
    /// These services, with default session and selection settings.
    pub fn with_services(services: impl IntoIterator<Item = ServiceConfig>) -> Self {
        ReverseProxyConfig {
            services: services.into_iter().collect(),
            ..ReverseProxyConfig::default()
        }
    }
}

#[derive(Debug)]
struct Service {
    key: ServiceKey,
    backends: BackendPool<SocketAddrV4>,
    counters: FlowCounters,
}

/// What a session remembers: where the flow goes and how to undo the NAT.
#[derive(Debug, Clone, Copy)]
struct RpSession {
    service: u32,
    backend: u32,
    /// What the client connected to.
    vip: SocketAddrV4,
    /// Where the flow goes (for ICMP, the port is the echo identifier).
    backend_addr: SocketAddrV4,
    /// The frontend the client is behind.
    frontend: PortId,
}

/// How later fragments of a translated datagram are rewritten.
#[derive(Debug, Clone, Copy)]
struct FragmentRewrite {
    addr: Ipv4Addr,
    port: PortId,
}

/// The reverse-proxy load balancer (Polycube `lbrp`), with frontend ports
/// towards clients and one backend port towards the servers.
///
/// A packet from a frontend to a service `vip:port/proto` is sent to a
/// backend chosen by the service's policy, with its destination rewritten
/// (DNAT); the backend's replies get the VIP back as source. Sessions keep
/// each flow on its backend while backends come and go; removing a backend
/// ends its sessions, weight 0 lets them finish. ICMP errors about a
/// translated flow are translated with it, quoted header included. ARP,
/// IPv6 and other ethertypes, and IPv4 to addresses that are not VIPs, pass
/// through unchanged.
///
/// Ports: frontends are ports `0..n` in the order given, the backend port
/// is `n`. One frontend is SINGLE mode; several, each with an address, is
/// MULTI mode: traffic from the backend side that belongs to no session
/// (ARP included) goes to the frontend whose address is its destination,
/// else to every frontend.
///
/// IP options are kept (headers of any length are handled). Fragments: a
/// first fragment is translated like any packet, and the later fragments
/// of its datagram follow it for 10 s; a later fragment to a VIP whose
/// first was not seen is dropped ([`DropReason::Fragment`]); payload bytes
/// are never read as ports.
pub struct ReverseProxy {
    frontends: Vec<Option<Ipv4Addr>>,
    backend_port: PortId,
    /// Sorted, deduplicated.
    vips: Vec<Ipv4Addr>,
    services: Vec<Option<Service>>,
    service_index: HashMap<ServiceKey, u32>,
    sessions: SessionTable<RpSession>,
    fragments: FragmentTracker<FragmentRewrite>,
    selector_config: SelectorConfig,
    traffic: TrafficCounters,
    sweep: SweepSchedule,
}

impl core::fmt::Debug for ReverseProxy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReverseProxy")
            .field("frontends", &self.frontends)
            .field("services", &self.service_index.len())
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

fn port_id(index: usize) -> PortId {
    PortId(u16::try_from(index).unwrap_or(u16::MAX))
}

impl ReverseProxy {
    /// An engine with these frontends (an address each in MULTI mode) and
    /// services.
    pub fn new(
        frontends: Vec<Option<Ipv4Addr>>,
        config: &ReverseProxyConfig,
    ) -> Result<Self, ConfigError> {
        if frontends.is_empty() || frontends.len() >= usize::from(u16::MAX) {
            return Err(ConfigError::Ports(
                "give between 1 and 65534 frontends".into(),
            ));
        }
        if frontends.len() > 1 && frontends.iter().any(Option::is_none) {
            return Err(ConfigError::Ports(
                "MULTI mode needs an address on every frontend".into(),
            ));
        }
        let mut engine = ReverseProxy {
            backend_port: port_id(frontends.len()),
            frontends,
            vips: Vec::new(),
            services: Vec::new(),
            service_index: HashMap::new(),
            sessions: SessionTable::new(config.sessions.table_config())?,
            fragments: FragmentTracker::new(FRAGMENT_CAPACITY),
            selector_config: config.selection.selector_config()?,
            traffic: TrafficCounters::default(),
            sweep: SweepSchedule::default(),
        };
        engine.check_services(&config.services)?;
        for service in &config.services {
            engine.add_service(service)?;
        }
        Ok(engine)
    }

    /// The port towards the backends.
    pub fn backend_port(&self) -> PortId {
        self.backend_port
    }

    /// True with more than one frontend.
    pub fn is_multi(&self) -> bool {
        self.frontends.len() > 1
    }

    /// Checks a whole service list, alone and against itself.
    fn check_services(&self, services: &[ServiceConfig]) -> Result<(), ConfigError> {
        let mut seen = HashMap::new();
        for service in services {
            for key in service.keys() {
                if seen.insert(key, ()).is_some() {
                    return Err(ConfigError::DuplicateService(key));
                }
            }
            self.check_service(service)?;
        }
        Ok(())
    }

    fn check_service(&self, service: &ServiceConfig) -> Result<(), ConfigError> {
        for key in service.keys() {
            if key.port == 0 && key.proto != Protocol::Icmp {
                return Err(ConfigError::ZeroPort(key));
            }
            self.pool(key, service)?;
        }
        Ok(())
    }

    /// The backends of `service` as served on `key`.
    fn pool(
        &self,
        key: ServiceKey,
        service: &ServiceConfig,
    ) -> Result<BackendPool<SocketAddrV4>, ConfigError> {
        let targets = service
            .backends
            .iter()
            .map(|backend| Ok((backend_addr(key, backend)?, backend.weight)))
            .collect::<Result<Vec<(SocketAddrV4, u32)>, ConfigError>>()?;
        let mut seen = std::collections::HashSet::new();
        if let Some((twice, _)) = targets.iter().find(|(addr, _)| !seen.insert(*addr)) {
            return Err(ConfigError::DuplicateBackend {
                service: key,
                backend: twice.to_string(),
            });
        }
        Ok(BackendPool::new(
            service.policy,
            targets,
            &self.selector_config,
        )?)
    }

    /// Adds a service (all three for `proto = "all"`). Refused, with nothing
    /// changed, if one of its keys exists or its backends are invalid.
    pub fn add_service(&mut self, config: &ServiceConfig) -> Result<(), ConfigError> {
        if let Some(key) = config
            .keys()
            .find(|key| self.service_index.contains_key(key))
        {
            return Err(ConfigError::DuplicateService(key));
        }
        self.check_services(core::slice::from_ref(config))?;
        for key in config.keys() {
            let service = Service {
                key,
                backends: self.pool(key, config)?,
                counters: FlowCounters::default(),
            };
            let slot = match self.services.iter().position(Option::is_none) {
                Some(free) => {
                    self.services[free] = Some(service);
                    free
                }
                None => {
                    self.services.push(Some(service));
                    self.services.len() - 1
                }
            };
            self.service_index
                .insert(key, u32::try_from(slot).unwrap_or(u32::MAX));
        }
        self.rebuild_vips();
        Ok(())
    }

    /// Removes a service and ends its sessions; returns how many.
    pub fn remove_service(&mut self, key: ServiceKey) -> Result<usize, ConfigError> {
        let slot = self
            .service_index
            .remove(&key)
            .ok_or(ConfigError::UnknownService(key))?;
        self.services[slot as usize] = None;
        self.rebuild_vips();
        Ok(self.sessions.retain(|_, session| session.service != slot))
    }

    /// Adds a backend to a service, or sets the weight of one it has (0
    /// drains it: its sessions stay, it gets no new flows).
    pub fn set_backend(
        &mut self,
        key: ServiceKey,
        backend: BackendConfig,
    ) -> Result<(), ConfigError> {
        let addr = backend_addr(key, &backend)?;
        let selector_config = self.selector_config;
        let service = self.service_mut(key)?;
        service
            .backends
            .upsert(addr, backend.weight, &selector_config)
            .map_err(ConfigError::from)
    }

    /// Removes a backend from a service and ends its sessions; returns how
    /// many. `port` defaults to the service's.
    pub fn remove_backend(
        &mut self,
        key: ServiceKey,
        ip: Ipv4Addr,
        port: Option<u16>,
    ) -> Result<usize, ConfigError> {
        let addr = backend_addr(
            key,
            &BackendConfig {
                ip,
                port,
                weight: 0,
            },
        )?;
        let selector_config = self.selector_config;
        let service_slot = *self
            .service_index
            .get(&key)
            .ok_or(ConfigError::UnknownService(key))?;
        let service = self.service_mut(key)?;
        let removed = service
            .backends
            .remove(addr, &selector_config)
            .map_err(ConfigError::from)?;
        let backend = removed.ok_or(ConfigError::UnknownBackend {
            service: key,
            backend: addr.to_string(),
        })?;
        Ok(self
            .sessions
            .retain(|_, s| !(s.service == service_slot && s.backend == backend)))
    }

    /// Replaces the whole service list by `services`, as a configuration
    /// reload does: services and backends that remain keep their sessions
    /// and counters; the others end theirs. All or nothing.
    pub fn replace_services(&mut self, services: &[ServiceConfig]) -> Result<(), ConfigError> {
        self.check_services(services)?;
        let wanted: HashMap<ServiceKey, &ServiceConfig> = services
            .iter()
            .flat_map(|s| s.keys().map(move |key| (key, s)))
            .collect();
        let gone: Vec<ServiceKey> = self
            .service_index
            .keys()
            .filter(|key| !wanted.contains_key(key))
            .copied()
            .collect();
        for key in gone {
            self.remove_service(key)?;
        }
        for (&key, config) in &wanted {
            if !self.service_index.contains_key(&key) {
                let single = ServiceConfig {
                    proto: single_proto(key.proto),
                    ..(*config).clone()
                };
                self.add_service(&single)?;
                continue;
            }
            let keep: Vec<SocketAddrV4> = config
                .backends
                .iter()
                .map(|b| backend_addr(key, b))
                .collect::<Result<_, _>>()?;
            let current: Vec<SocketAddrV4> = self
                .service(key)
                .map(|s| s.backends.members().map(|(_, b)| b.target).collect())
                .unwrap_or_default();
            for addr in current.into_iter().filter(|addr| !keep.contains(addr)) {
                self.remove_backend(key, *addr.ip(), Some(addr.port()))?;
            }
            for backend in &config.backends {
                self.set_backend(key, *backend)?;
            }
            let selector_config = self.selector_config;
            let service = self.service_mut(key)?;
            if service.backends.policy() != config.policy {
                service
                    .backends
                    .set_policy(config.policy, &selector_config)
                    .map_err(ConfigError::from)?;
            }
        }
        Ok(())
    }

    /// The services, as configuration (one per protocol).
    pub fn services(&self) -> Vec<ServiceConfig> {
        let mut services: Vec<ServiceConfig> = self
            .services
            .iter()
            .flatten()
            .map(|service| ServiceConfig {
                vip: service.key.vip,
                port: service.key.port,
                proto: single_proto(service.key.proto),
                policy: service.backends.policy(),
                backends: service
                    .backends
                    .members()
                    .map(|(_, b)| BackendConfig {
                        ip: *b.target.ip(),
                        port: Some(b.target.port()),
                        weight: b.weight,
                    })
                    .collect(),
            })
            .collect();
        services.sort_by_key(|s| (s.vip, s.port, s.proto as u8));
        services
    }

    fn service(&self, key: ServiceKey) -> Option<&Service> {
        let slot = *self.service_index.get(&key)?;
        self.services.get(slot as usize)?.as_ref()
    }

    fn service_mut(&mut self, key: ServiceKey) -> Result<&mut Service, ConfigError> {
        let slot = *self
            .service_index
            .get(&key)
            .ok_or(ConfigError::UnknownService(key))?;
        self.services
            .get_mut(slot as usize)
            .and_then(Option::as_mut)
            .ok_or(ConfigError::UnknownService(key))
    }

    fn rebuild_vips(&mut self) {
        self.vips = self.service_index.keys().map(|key| key.vip).collect();
        self.vips.sort_unstable();
        self.vips.dedup();
    }

    fn is_vip(&self, addr: Ipv4Addr) -> bool {
        self.vips.binary_search(&addr).is_ok()
    }

    /// Where traffic from the backend side that belongs to no session goes.
    fn steer(&self, dst: Option<Ipv4Addr>) -> Verdict {
        if !self.is_multi() {
            return Verdict::Forward(PortId(0));
        }
        match dst.and_then(|dst| self.frontends.iter().position(|ip| *ip == Some(dst))) {
            Some(index) => Verdict::Forward(port_id(index)),
            None => Verdict::Flood,
        }
    }

    fn count(&mut self, session: &RpSession, len: usize) {
        if let Some(Some(service)) = self.services.get_mut(session.service as usize) {
            service.counters.packet(len);
            if let Some(backend) = service.backends.get_mut(session.backend) {
                backend.counters.packet(len);
            }
        }
    }

    fn handle_frontend(
        &mut self,
        now: Instant,
        port: PortId,
        frame: &mut Frame<&mut [u8]>,
    ) -> Verdict {
        let to_backends = Verdict::Forward(self.backend_port);
        let Some(header) = frame.ipv4() else {
            return to_backends;
        };
        let (src, dst, ident, protocol) = (
            header.src(),
            header.dst(),
            header.ident(),
            header.protocol(),
        );
        let more_fragments = header.more_fragments();
        if !self.is_vip(dst) {
            return to_backends;
        }
        let datagram = DatagramId {
            src,
            dst,
            ident,
            protocol,
        };
        if let Some(key) = frame.flow_key() {
            let session = match self.sessions.lookup(now, &key, frame.tcp_flags()) {
                Some(hit) if hit.direction == Direction::Forward => *hit.value,
                Some(_) => return Verdict::Drop(DropReason::NoSession),
                None => match self.new_session(now, port, &key, frame.tcp_flags()) {
                    Ok(session) => session,
                    Err(reason) => return Verdict::Drop(reason),
                },
            };
            let rewritten = match key.proto {
                Protocol::Icmp => frame.set_dst_addr(*session.backend_addr.ip()),
                _ => frame.set_dst(session.backend_addr),
            };
            if rewritten.is_err() {
                return Verdict::Drop(DropReason::Malformed);
            }
            if more_fragments {
                let rewrite = FragmentRewrite {
                    addr: *session.backend_addr.ip(),
                    port: self.backend_port,
                };
                self.fragments.remember(now, datagram, rewrite);
            }
            self.count(&session, frame.len());
            return to_backends;
        }
        if frame.ipv4().is_some_and(|header| header.is_fragment()) {
            return match self.fragments.lookup(now, &datagram) {
                Some(rewrite) if frame.set_dst_addr(rewrite.addr).is_ok() => to_backends,
                _ => Verdict::Drop(DropReason::Fragment),
            };
        }
        if let Some(Icmp::Error { .. }) = frame.icmp() {
            // About a packet we sent the client: VIP:port -> client.
            let Some(quoted) = frame.quoted_flow() else {
                return Verdict::Drop(DropReason::NoSession);
            };
            let session = match self.sessions.peek(&quoted.reversed()) {
                Some((Direction::Forward, session)) => *session,
                _ => return Verdict::Drop(DropReason::NoSession),
            };
            let translated = frame.set_dst_addr(*session.backend_addr.ip()).is_ok()
                && frame.set_quoted_src(session.backend_addr).is_ok();
            return if translated {
                to_backends
            } else {
                Verdict::Drop(DropReason::Malformed)
            };
        }
        Verdict::Drop(DropReason::UnsupportedProtocol)
    }

    fn new_session(
        &mut self,
        now: Instant,
        frontend: PortId,
        key: &FlowKey,
        tcp_flags: Option<TcpFlags>,
    ) -> Result<RpSession, DropReason> {
        if tcp_flags.is_some_and(|flags| flags.contains(TcpFlags::RST)) {
            return Err(DropReason::NoSession);
        }
        let service_key = ServiceKey::new(key.dst, key.proto, key.dst_port);
        let service_slot = *self
            .service_index
            .get(&service_key)
            .ok_or(DropReason::NoService)?;
        let service = self
            .services
            .get_mut(service_slot as usize)
            .and_then(Option::as_mut)
            .ok_or(DropReason::NoService)?;
        let backend_slot = service.backends.pick(key).ok_or(DropReason::NoBackend)?;
        let target = service
            .backends
            .get(backend_slot)
            .ok_or(DropReason::NoBackend)?
            .target;
        let backend_addr = match key.proto {
            // Echo replies carry the client's identifier back.
            Protocol::Icmp => SocketAddrV4::new(*target.ip(), key.dst_port),
            _ => target,
        };
        let reverse = FlowKey {
            src: *backend_addr.ip(),
            dst: key.src,
            src_port: backend_addr.port(),
            dst_port: key.src_port,
            proto: key.proto,
        };
        let session = RpSession {
            service: service_slot,
            backend: backend_slot,
            vip: key.dst_endpoint(),
            backend_addr,
            frontend,
        };
        match self.sessions.insert(now, *key, reverse, tcp_flags, session) {
            Ok(_) => {}
            Err(InsertError::Full) => return Err(DropReason::TableFull),
            Err(_) => return Err(DropReason::NoSession),
        }
        service.counters.new_flows += 1;
        if let Some(backend) = service.backends.get_mut(backend_slot) {
            backend.counters.new_flows += 1;
        }
        Ok(session)
    }

    fn handle_backend(&mut self, now: Instant, frame: &mut Frame<&mut [u8]>) -> Verdict {
        match frame.ethertype() {
            EtherType::Ipv4 => {}
            EtherType::Arp => return self.steer(frame.arp().map(|arp| arp.target_ip())),
            _ => return self.steer(None),
        }
        let Some(header) = frame.ipv4() else {
            return self.steer(None);
        };
        let (src, dst, ident, protocol) = (
            header.src(),
            header.dst(),
            header.ident(),
            header.protocol(),
        );
        let more_fragments = header.more_fragments();
        let datagram = DatagramId {
            src,
            dst,
            ident,
            protocol,
        };
        if let Some(key) = frame.flow_key() {
            let session = match self.sessions.lookup(now, &key, frame.tcp_flags()) {
                Some(hit) if hit.direction == Direction::Reverse => *hit.value,
                _ => return self.steer(Some(dst)),
            };
            let rewritten = match key.proto {
                Protocol::Icmp => frame.set_src_addr(*session.vip.ip()),
                _ => frame.set_src(session.vip),
            };
            if rewritten.is_err() {
                return Verdict::Drop(DropReason::Malformed);
            }
            if more_fragments {
                let rewrite = FragmentRewrite {
                    addr: *session.vip.ip(),
                    port: session.frontend,
                };
                self.fragments.remember(now, datagram, rewrite);
            }
            self.count(&session, frame.len());
            return Verdict::Forward(session.frontend);
        }
        if frame.ipv4().is_some_and(|header| header.is_fragment()) {
            return match self.fragments.lookup(now, &datagram) {
                Some(rewrite) if frame.set_src_addr(rewrite.addr).is_ok() => {
                    Verdict::Forward(rewrite.port)
                }
                _ => self.steer(Some(dst)),
            };
        }
        if let Some(Icmp::Error { .. }) = frame.icmp() {
            // About a packet we sent the backend: client -> backend:port.
            let session = match frame
                .quoted_flow()
                .and_then(|q| self.sessions.peek(&q.reversed()))
            {
                Some((Direction::Reverse, session)) => *session,
                _ => return self.steer(Some(dst)),
            };
            // Errors from the backend itself must not show its address.
            let outer_ok =
                src != *session.backend_addr.ip() || frame.set_src_addr(*session.vip.ip()).is_ok();
            return if outer_ok && frame.set_quoted_dst(session.vip).is_ok() {
                Verdict::Forward(session.frontend)
            } else {
                Verdict::Drop(DropReason::Malformed)
            };
        }
        self.steer(Some(dst))
    }
}

fn single_proto(proto: Protocol) -> crate::config::ServiceProtocol {
    use crate::config::ServiceProtocol;
    match proto {
        Protocol::Tcp => ServiceProtocol::Tcp,
        Protocol::Udp => ServiceProtocol::Udp,
        Protocol::Icmp => ServiceProtocol::Icmp,
    }
}

/// A backend's address for service `key`, its port defaulted and checked.
fn backend_addr(key: ServiceKey, backend: &BackendConfig) -> Result<SocketAddrV4, ConfigError> {
    let port = match key.proto {
        Protocol::Icmp => 0,
        _ => backend.port.unwrap_or(key.port),
    };
    if port == 0 && key.proto != Protocol::Icmp {
        return Err(ConfigError::ZeroPort(key));
    }
    Ok(SocketAddrV4::new(backend.ip, port))
}

impl Engine for ReverseProxy {
    fn port_count(&self) -> usize {
        self.frontends.len() + 1
    }

    fn handle_frame(&mut self, now: Instant, port: PortId, frame: &mut [u8]) -> Verdict {
        let len = frame.len();
        let verdict = match Frame::parse(frame) {
            Err(error) => Verdict::Drop(error.into()),
            Ok(mut frame) if port == self.backend_port => self.handle_backend(now, &mut frame),
            Ok(mut frame) if port.index() < self.frontends.len() => {
                self.handle_frontend(now, port, &mut frame)
            }
            Ok(_) => Verdict::Drop(DropReason::WrongPort),
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
        let mut live: HashMap<(u32, u32), usize> = HashMap::new();
        for session in self.sessions.iter(now) {
            *live
                .entry((session.value.service, session.value.backend))
                .or_default() += 1;
        }
        let mut services: Vec<ServiceStats> = self
            .service_index
            .iter()
            .filter_map(|(key, &slot)| {
                let service = self.services.get(slot as usize)?.as_ref()?;
                let backends = service
                    .backends
                    .stats(|b| live.get(&(slot, b)).copied().unwrap_or(0));
                Some(ServiceStats {
                    name: key.to_string(),
                    policy: service.backends.policy().to_string(),
                    sessions: backends.iter().map(|b| b.sessions).sum(),
                    counters: service.counters,
                    backends,
                })
            })
            .collect();
        services.sort_by(|a, b| a.name.cmp(&b.name));
        Stats {
            engine: "reverse_proxy",
            traffic: self.traffic,
            sessions: self.sessions.len(),
            session_capacity: self.sessions.capacity(),
            session_table: self.sessions.stats(),
            services,
        }
    }

    fn reset_counters(&mut self) {
        self.traffic = TrafficCounters::default();
        self.sessions.reset_stats();
        for service in self.services.iter_mut().flatten() {
            service.counters = FlowCounters::default();
            service.backends.reset_counters();
        }
    }

    fn sessions(&self, now: Instant, filter: &SessionFilter, limit: usize) -> Vec<SessionView> {
        self.sessions
            .iter(now)
            .filter_map(|session| {
                let service = self
                    .services
                    .get(session.value.service as usize)?
                    .as_ref()?;
                let backend = service.backends.get(session.value.backend)?;
                filter.view(
                    &session,
                    service.key.to_string(),
                    backend.target.to_string(),
                )
            })
            .take(limit)
            .collect()
    }
}
