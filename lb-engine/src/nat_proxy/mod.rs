//! [`NatProxy`]: the one-armed full-NAT proxy of the MirageOS demo.
//!
//! `config` holds what it is configured with, `control` changes its
//! destinations while it runs, `forward` takes a client's connection to a
//! destination (SNAT and DNAT), `reverse` brings replies and ICMP errors
//! back; ARP is answered and resolved here.

mod config;
mod control;
mod forward;
mod ports;
mod reverse;

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use lb_packet::{ArpOp, FlowKey, Frame, MacAddr};

pub use config::{DestinationConfig, NatProxyConfig, ProxyServiceConfig};

use crate::core::arp_resolver::ArpResolver;
use crate::core::services::{Owned, Owner};
use crate::core::{Balancer, Core, is_neighbor_discovery, unicast};
use crate::health::prober::ProbeTarget;
use crate::{ConfigError, DropReason, EngineKind, IpCidr, PortId, ProbeKind, Verdict};

/// The proxy's only port.
pub const PROXY_PORT: PortId = PortId(0);

/// The slot of the proxy's one service.
const SERVICE: u32 = 0;

/// Both halves of a translated connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProxySession {
    client: SocketAddr,
    /// Where the client's frames came from: the client, or its router.
    client_mac: MacAddr,
    /// The address and port the client connected to.
    listen: SocketAddr,
    dest: SocketAddr,
    snat_port: u16,
    dest_slot: u32,
    /// The sequence number of the client's FIN, once sent: a new
    /// connection may take the port over only past it.
    client_fin: Option<u32>,
}

impl Owned for ProxySession {
    #[inline]
    fn owner(&self) -> Owner {
        Owner {
            service: SERVICE,
            backend: self.dest_slot,
        }
    }

    fn snat(&self, _: &FlowKey) -> Option<(SocketAddr, u16)> {
        Some((self.dest, self.snat_port))
    }
}

/// A one-armed full-NAT proxy (the MirageOS random proxy, without its bugs).
///
/// It owns an address (IPv4 or IPv6) and a MAC on one port: it answers
/// ARP (neighbor solicitations) for its address and every ping to it. Each new TCP or UDP connection to it is
/// sent to a destination picked from `dst_addrs` (random by default), on
/// the same port, from the proxy's address and a source port of its SNAT
/// range; replies are translated back. Sessions follow TCP through
/// retransmissions, FIN and RST, and time out when idle. Next hops are
/// resolved with the proxy's own ARP requests (neighbor solicitations);
/// frames wait for an answer
/// in a bounded queue for a bounded time, then are dropped and counted.
/// ICMP errors about a connection are translated with it. Fragmented
/// datagrams are dropped ([`DropReason::Fragment`]).
///
/// Source ports are unique per destination and allocated in constant
/// time; a destination with none free has a half-open or closed
/// connection's port taken over (a closed one only past its sequence
/// numbers), and failing that the client's SYN is answered with a reset
/// at once ([`DropReason::PortsExhausted`], counted as refused). A TCP
/// segment of a connection the proxy does not have (another instance's
/// behind ECMP, or one it lost) is answered with a reset too, as a host
/// that does not know a connection answers, so the client learns at once
/// ([`DropReason::NoSession`]).
///
/// Behind ECMP, each instance sends its connections on from its own
/// address, so their replies come back to it; its connections live only
/// there, and end with it (their clients are reset). Clients reach the
/// instances at a shared address ([`NatProxyConfig::vips`]).
pub struct NatProxy {
    ip: IpAddr,
    /// Sorted.
    vips: Vec<IpAddr>,
    mac: MacAddr,
    /// The proxy's address and its network's prefix: who is on-link.
    network: IpCidr,
    gateway: Option<IpAddr>,
    /// Resets owed to clients.
    /// Sorted.
    denied_ports: Vec<u16>,
    /// One service, [`SERVICE`], keyed by the proxy's address; its
    /// backends are the destinations.
    core: Core<IpAddr, IpAddr, ProxySession>,
    resolver: ArpResolver,
}

impl core::fmt::Debug for NatProxy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NatProxy")
            .field("ip", &self.ip)
            .field("mac", &self.mac)
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

impl NatProxy {
    /// A proxy from its configuration.
    pub fn new(config: &NatProxyConfig) -> Result<Self, ConfigError> {
        let max = if config.ip.is_ipv4() { 32 } else { 128 };
        if config.prefix_len > max {
            return Err(ConfigError::PrefixTooLong {
                prefix_len: config.prefix_len,
                max,
            });
        }
        let mac = unicast(config.mac)?;
        if config.dst_addrs.is_empty() {
            return Err(ConfigError::NoDestinations);
        }
        let mut core = Core::new(
            EngineKind::NatProxy,
            &config.sessions,
            &config.selection,
            &config.health,
            PROXY_PORT,
        )?;
        let check = config.health_check.as_ref();
        core.check_probe(check, config.dst_addrs.iter().copied())?;
        if check.is_some_and(|c| c.kind != ProbeKind::Icmp && c.port.is_none()) {
            return Err(ConfigError::Health(
                "proxy probes need a port (tcp:80), except icmp",
            ));
        }
        if config
            .health
            .source
            .is_some_and(|source| source.ip == config.ip)
        {
            return Err(ConfigError::Health(
                "the probe source must be another address than the proxy's own",
            ));
        }
        let hash_key = core.selector.hash_key;
        core.snat.set(&[(config.ip, config.snat_ports)], hash_key);
        let mut vips = config.vips.clone();
        vips.sort_unstable();
        vips.dedup();
        let mut engine = NatProxy {
            ip: config.ip,
            vips,
            mac,
            network: IpCidr {
                ip: config.ip,
                prefix_len: config.prefix_len,
            },
            gateway: config.gateway,
            denied_ports: config.denied_ports.clone(),
            core,
            resolver: ArpResolver::new(mac, config.ip, config.arp),
        };
        if let Some(gateway) = config.gateway {
            crate::core::same_family("gateway", gateway, config.ip)?;
            if !engine.on_link(gateway) || gateway == config.ip {
                return Err(ConfigError::GatewayOffLink(gateway));
            }
        }
        engine.denied_ports.sort_unstable();
        for &vip in &engine.vips {
            crate::core::unicast_address("VIP", vip)?;
            crate::core::same_family("VIP", vip, config.ip)?;
            if vip == config.ip {
                return Err(ConfigError::Address {
                    what: "VIP",
                    addr: vip,
                    why: "is the proxy's own address",
                });
            }
        }
        for &addr in &config.dst_addrs {
            engine.check_destination(addr)?;
        }
        let destinations = engine.core.pool(
            config.policy,
            config.dst_addrs.iter().map(|&addr| (addr, 1)),
            None,
        )?;
        engine
            .core
            .services
            .insert(config.ip, destinations, config.health_check.clone());
        Ok(engine)
    }

    fn check_destination(&self, addr: IpAddr) -> Result<(), ConfigError> {
        crate::core::same_family("destination", addr, self.ip)?;
        if self.takes_connections_on(addr) {
            return Err(ConfigError::DestinationIsProxy(addr));
        }
        if self.next_hop(addr).is_none() {
            return Err(ConfigError::NoRoute(addr));
        }
        Ok(())
    }

    /// True for the proxy's own address and its VIPs.
    #[inline]
    fn takes_connections_on(&self, addr: IpAddr) -> bool {
        addr == self.ip || self.vips.binary_search(&addr).is_ok()
    }

    fn on_link(&self, addr: IpAddr) -> bool {
        self.network.contains(addr)
    }

    /// The address to resolve to reach `addr`.
    fn next_hop(&self, addr: IpAddr) -> Option<IpAddr> {
        if self.on_link(addr) {
            Some(addr)
        } else {
            self.gateway
        }
    }

    /// ARP, or neighbor discovery: answered for the proxy's own address
    /// (a router routes the VIPs to it), learnt from when about it.
    fn handle_arp(&mut self, now: Instant, frame: &mut Frame<&mut [u8]>) -> Verdict {
        if let Some(arp) = frame.arp() {
            let (op, sender, sender_mac, target) =
                (arp.op(), arp.sender_ip(), arp.sender_mac(), arp.target_ip());
            let for_us = IpAddr::from(target) == self.ip;
            self.resolver.learn(now, sender.into(), sender_mac, for_us);
            return match op {
                ArpOp::Request if for_us && frame.make_arp_reply(self.mac).is_ok() => {
                    Verdict::Reply
                }
                ArpOp::Reply if for_us => Verdict::Consumed,
                _ => Verdict::Drop(DropReason::NotForUs),
            };
        }
        if let Some(advertisement) = frame.neighbor_advertisement() {
            if let Some(mac) = advertisement.target_mac {
                let target = advertisement.target.into();
                self.resolver
                    .learn(now, target, mac, advertisement.solicited);
            }
            return Verdict::Consumed;
        }
        let Some(solicitation) = frame.neighbor_solicitation() else {
            return Verdict::Drop(DropReason::NotForUs);
        };
        let for_us = IpAddr::from(solicitation.target) == self.ip;
        if let Some(mac) = solicitation.source_mac {
            self.resolver
                .learn(now, solicitation.source.into(), mac, for_us);
        }
        if for_us && frame.make_neighbor_advertisement(self.mac).is_ok() {
            Verdict::Reply
        } else {
            Verdict::Drop(DropReason::NotForUs)
        }
    }

    /// Sends a translated frame to `addr`: now if its next hop is known,
    /// else once ARP answers.
    fn route(&mut self, now: Instant, frame: &mut Frame<&mut [u8]>, addr: IpAddr) -> Verdict {
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
            None => {
                // A held frame leaves later without its offload: finish its
                // checksum now. A super-frame cannot be held (it would have
                // to be segmented); its sender retransmits.
                if frame.offload().is_pending() && frame.recompute_l4_checksum().is_err() {
                    return Verdict::Drop(DropReason::ArpUnresolved);
                }
                match self.resolver.enqueue(now, next_hop, frame.as_bytes()) {
                    Ok(()) => Verdict::Consumed,
                    Err(_) => Verdict::Drop(DropReason::ArpUnresolved),
                }
            }
        }
    }
}

impl Balancer for NatProxy {
    type Key = IpAddr;
    type Target = IpAddr;
    type Session = ProxySession;
    /// The client's MAC, and the sequence number of its FIN.
    type Extra = ([u8; 6], Option<u32>);

    fn core(&self) -> &Core<IpAddr, IpAddr, ProxySession> {
        &self.core
    }

    fn core_mut(&mut self) -> &mut Core<IpAddr, IpAddr, ProxySession> {
        &mut self.core
    }

    fn ports(&self) -> usize {
        1
    }

    fn saved_extra(&self, session: &ProxySession) -> Self::Extra {
        (session.client_mac.octets(), session.client_fin)
    }

    /// The connection again, from its keys: the client's, and the
    /// destination's to the proxy's source port, which must be this
    /// proxy's address.
    fn rebuild(
        &mut self,
        owner: Owner,
        forward: &FlowKey,
        reverse: &FlowKey,
        (client_mac, client_fin): Self::Extra,
    ) -> Option<ProxySession> {
        (owner.service == SERVICE && reverse.dst == self.ip).then(|| ProxySession {
            client: forward.src_endpoint(),
            client_mac: MacAddr(client_mac),
            listen: forward.dst_endpoint(),
            dest: SocketAddr::new(reverse.src, forward.dst_port),
            snat_port: reverse.dst_port,
            dest_slot: owner.backend,
            client_fin,
        })
    }

    /// The destination itself, on the check's port.
    fn probe_target(_: &IpAddr, destination: IpAddr, port: u16) -> Option<ProbeTarget> {
        Some(ProbeTarget {
            ip: destination,
            port,
            mac: None,
        })
    }

    #[inline]
    fn dispatch(&mut self, now: Instant, port: PortId, frame: &mut Frame<&mut [u8]>) -> Verdict {
        if port != PROXY_PORT {
            Verdict::Drop(DropReason::WrongPort)
        } else if frame.arp().is_some() || is_neighbor_discovery(frame) {
            match self.core.handle_probe_frame(now, frame) {
                Some(verdict) => verdict,
                None => self.handle_arp(now, frame),
            }
        } else {
            self.handle_ip(now, frame)
        }
    }

    /// ARP: retries due, and frames whose next hop never answered dropped.
    fn on_timeout(&mut self, now: Instant) {
        let unresolved = self.resolver.handle_timeout(now) as u64;
        self.core
            .traffic
            .drop(DropReason::ArpUnresolved, unresolved);
    }

    fn deadline(&self) -> Option<Instant> {
        self.resolver.poll_timeout()
    }

    /// ARP requests, frames released by answers, and resets owed to
    /// clients.
    fn originate(&mut self, buffer: &mut Vec<u8>) -> Option<PortId> {
        if self.resolver.pop_into(buffer) {
            return Some(PROXY_PORT);
        }
        self.core.resets.pop_into(buffer)
    }
}
