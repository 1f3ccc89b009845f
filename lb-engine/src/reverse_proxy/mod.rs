//! [`ReverseProxy`]: the NAT load balancer of Polycube's `lbrp`.
//!
//! `config` holds services and backends, `keys` names them, `control`
//! changes them while the engine runs, `forward` is the path from clients
//! to backends (DNAT), `reverse` the way back (reverse NAT, steering in
//! MULTI mode), `src_rewrite` moves clients' addresses for the backends,
//! `names` keeps what operators call services and backends.

mod config;
mod control;
mod endpoints;
mod forward;
mod full_nat;
mod keys;
mod macs;
mod names;
mod reverse;
mod runtime;
mod selector;
mod src_rewrite;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use lb_packet::{FlowKey, Frame, MacAddr};
use serde::{Deserialize, Serialize};

pub use config::{BackendConfig, ReverseProxyConfig, ServiceConfig, ServiceProtocol, SourceNat};
pub use endpoints::SharedBackend;
pub use keys::{BackendAddr, ServiceKey};
pub use selector::ServiceSelector;
pub use src_rewrite::SrcIpRewrite;

use crate::core::fragments::FragmentTracker;
use crate::core::services::{Owned, Owner};
use crate::core::{Balancer, Core};
use crate::health::prober::ProbeTarget;
use crate::{ConfigError, DropReason, EngineKind, PortId, PortsError, Verdict};
use endpoints::ReverseEndpoints;
use macs::MacPairs;
use names::Names;

/// Datagrams whose later fragments the engine remembers how to translate.
const FRAGMENT_CAPACITY: usize = 4096;

/// What a session remembers besides its keys. The keys say the rest: the
/// VIP endpoint is the forward key's destination, the backend's (for ICMP,
/// with the echo identifier for port) the reverse key's source.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RpSession {
    owner: Owner,
    /// The frontend the client is behind.
    frontend: PortId,
    /// Full NAT: the Ethernet addresses its replies go back with, in
    /// [`MacPairs`]; 0 for a session that holds no source port.
    nat: u16,
}

// One cache line per session entry, with both IPv4 keys.
const _: () = assert!(core::mem::size_of::<RpSession>() == 12);

/// Where a session's flow goes: the source of its replies.
#[inline]
fn backend_of(reverse: &FlowKey) -> SocketAddr {
    reverse.src_endpoint()
}

/// What a session's client connected to.
#[inline]
fn vip_of(forward: &FlowKey) -> SocketAddr {
    forward.dst_endpoint()
}

impl Owned for RpSession {
    #[inline]
    fn owner(&self) -> Owner {
        self.owner
    }

    /// A full-NAT session's port, read from its reply key.
    fn snat(&self, reverse: &FlowKey) -> Option<(SocketAddr, u16)> {
        (self.nat != 0).then(|| full_nat::held_port(reverse))
    }
}

/// What a saved session keeps beside its keys and owner.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct SavedRpSession {
    /// The frontend the client is behind.
    frontend: u16,
    /// Full NAT: the client's MAC and the one it addressed.
    macs: Option<([u8; 6], [u8; 6])>,
}

/// How later fragments of a translated datagram are rewritten: the
/// addresses its first fragment got, and where it went.
#[derive(Debug, Clone, Copy)]
struct FragmentRewrite {
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    port: PortId,
    /// A full-NAT session's MAC pair, for fragments going to its client.
    nat: u16,
}

impl FragmentRewrite {
    /// Rewrites a later fragment as its first was; false if it cannot be.
    fn apply(&self, frame: &mut Frame<&mut [u8]>) -> bool {
        let src_ok = self.src.is_none_or(|src| frame.set_src_addr(src).is_ok());
        src_ok && self.dst.is_none_or(|dst| frame.set_dst_addr(dst).is_ok())
    }
}

/// ARP replies copied for the backend side, waiting to be sent.
const ARP_COPY_CAPACITY: usize = 64;

/// The reverse-proxy load balancer (Polycube `lbrp`), with frontend ports
/// towards clients and one backend port towards the servers.
///
/// A packet from a frontend to a service `vip:port/proto` is sent to a
/// backend chosen by the service's policy, with its destination rewritten
/// (DNAT); the backend's replies get the VIP back as source. Sessions keep
/// each flow on its backend while backends come and go; removing a backend
/// ends its sessions, weight 0 lets them finish. ICMP errors about a
/// translated flow are translated with it, quoted header included. VIPs
/// and backends are IPv4 or IPv6 (a service's of one family). ARP,
/// neighbor discovery, other ethertypes, and IP to addresses that are not
/// VIPs, pass through unchanged.
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
    /// What the engine started with, for [`Control::config`](crate::Control::config);
    /// its services are the engine's own.
    settings: ReverseProxyConfig,
    frontends: Vec<Option<IpAddr>>,
    backend_port: PortId,
    /// Sorted, deduplicated.
    vips: Vec<IpAddr>,
    core: Core<ServiceKey, SocketAddr, RpSession>,
    fragments: FragmentTracker<FragmentRewrite>,
    /// The reverse NAT of replies that have no session.
    endpoints: ReverseEndpoints,
    /// Clients' addresses moved for the backends.
    rewrite: Option<SrcIpRewrite>,
    /// Full-NAT services' sources, by key and by slot.
    source_nat: HashMap<ServiceKey, SourceNat>,
    nat_by_slot: Vec<Option<SourceNat>>,
    /// The `source_nat` addresses, each with the MAC it answers with.
    nat_addrs: Vec<(IpAddr, MacAddr)>,
    /// Where full-NAT sessions' replies go at L2.
    macs: MacPairs,
    /// Names given to services and backends.
    names: Names,
    /// Frames of its own for the backend side: clients' ARP replies with
    /// their addresses moved.
    arp_copies: VecDeque<Vec<u8>>,
}

impl core::fmt::Debug for ReverseProxy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReverseProxy")
            .field("frontends", &self.frontends)
            .field("vips", &self.vips)
            .field("core", &self.core)
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
        frontends: Vec<Option<IpAddr>>,
        config: &ReverseProxyConfig,
    ) -> Result<Self, ConfigError> {
        if frontends.is_empty() || frontends.len() >= usize::from(u16::MAX) {
            return Err(ConfigError::Ports(PortsError::FrontendCount(
                frontends.len(),
            )));
        }
        if frontends.len() > 1 && frontends.iter().any(Option::is_none) {
            return Err(ConfigError::Ports(PortsError::MultiWithoutAddress));
        }
        let backend_port = port_id(frontends.len());
        let mut engine = ReverseProxy {
            settings: ReverseProxyConfig {
                services: Vec::new(),
                src_ip_rewrite: None,
                ..config.clone()
            },
            backend_port,
            frontends,
            vips: Vec::new(),
            core: Core::new(
                EngineKind::ReverseProxy,
                &config.sessions,
                &config.selection,
                &config.health,
                backend_port,
            )?,
            fragments: FragmentTracker::new(FRAGMENT_CAPACITY),
            endpoints: ReverseEndpoints::default(),
            rewrite: None,
            source_nat: HashMap::new(),
            nat_by_slot: Vec::new(),
            nat_addrs: Vec::new(),
            macs: MacPairs::default(),
            names: Names::default(),
            arp_copies: VecDeque::new(),
        };
        engine.install_rewrite(config.src_ip_rewrite)?;
        engine.check_services_but_pools(&config.services)?;
        for service in &config.services {
            engine.insert_pools(service)?;
        }
        engine.services_changed();
        Ok(engine)
    }

    /// The port towards the backends.
    pub fn backend_port(&self) -> PortId {
        self.backend_port
    }

    /// The backend endpoints several services share: replies from them
    /// need the session of the instance that forwarded the request (a
    /// configuration to warn about behind ECMP).
    pub fn shared_backends(&self) -> &[SharedBackend] {
        self.endpoints.shared()
    }

    /// True with more than one frontend.
    pub fn is_multi(&self) -> bool {
        self.frontends.len() > 1
    }

    #[inline]
    fn is_vip(&self, addr: IpAddr) -> bool {
        self.vips.binary_search(&addr).is_ok()
    }

    /// Refreshes what follows from the services and their backends: the
    /// VIPs, and the reverse NAT of replies without a session.
    fn services_changed(&mut self) {
        self.vips = self.core.services.keys().map(|key| key.vip).collect();
        self.vips.sort_unstable();
        self.vips.dedup();
        let services = self.core.services.iter().map(|(_, service)| {
            let backends = service.backends.members().map(|(_, m)| m.target).collect();
            (service.key, backends)
        });
        self.endpoints = ReverseEndpoints::build(services);
        self.source_nats_changed();
    }
}

impl Balancer for ReverseProxy {
    type Key = ServiceKey;
    type Target = SocketAddr;
    type Session = RpSession;
    type Extra = SavedRpSession;

    fn core(&self) -> &Core<ServiceKey, SocketAddr, RpSession> {
        &self.core
    }

    fn core_mut(&mut self) -> &mut Core<ServiceKey, SocketAddr, RpSession> {
        &mut self.core
    }

    fn ports(&self) -> usize {
        self.frontends.len() + 1
    }

    fn label(&self, stats: &mut crate::Stats) {
        self.names.label(stats);
    }

    fn saved_extra(&self, session: &RpSession) -> SavedRpSession {
        SavedRpSession {
            frontend: session.frontend.0,
            macs: self.macs.get(session.nat).map(|(a, b)| (a.0, b.0)),
        }
    }

    /// The session again (its keys, restored with it, keep its VIP and
    /// backend, and a full-NAT one's port); the frontend must still be
    /// one, and a full-NAT session's address still a `source_nat`.
    fn rebuild(
        &mut self,
        owner: Owner,
        _: &FlowKey,
        reverse: &FlowKey,
        saved: SavedRpSession,
    ) -> Option<RpSession> {
        let frontend = PortId(saved.frontend);
        if frontend.index() >= self.frontends.len() {
            return None;
        }
        let nat = match saved.macs {
            Some((client, addressed)) if self.is_source_nat(reverse.dst) => {
                self.macs.intern((MacAddr(client), MacAddr(addressed)))?
            }
            Some(_) => return None,
            None => 0,
        };
        Some(RpSession {
            owner,
            frontend,
            nat,
        })
    }

    /// The backend itself, on the check's port or its own.
    fn probe_target(_: &ServiceKey, target: SocketAddr, port: u16) -> Option<ProbeTarget> {
        let port = if port == 0 { target.port() } else { port };
        Some(ProbeTarget {
            ip: target.ip(),
            port,
            mac: None,
        })
    }

    /// Clients' ARP replies with their addresses moved, and resets owed
    /// to clients a full-NAT service had no port for.
    fn originate(&mut self, buffer: &mut Vec<u8>) -> Option<PortId> {
        let Some(copy) = self.arp_copies.pop_front() else {
            return self.core.resets.pop_into(buffer);
        };
        buffer.clear();
        buffer.extend_from_slice(&copy);
        Some(self.backend_port)
    }

    #[inline]
    fn dispatch(&mut self, now: Instant, port: PortId, frame: &mut Frame<&mut [u8]>) -> Verdict {
        if port == self.backend_port {
            self.handle_backend(now, frame)
        } else if port.index() < self.frontends.len() {
            self.handle_frontend(now, port, frame)
        } else {
            Verdict::Drop(DropReason::WrongPort)
        }
    }
}
