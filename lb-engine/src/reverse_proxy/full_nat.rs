//! Full-NAT services (`source_nat`, IPVS's FNAT): a new flow reaches the
//! backends from an address the load balancer owns and a port the NAT
//! proxy's allocator hands out, so backends reply to the load balancer
//! whatever their routes say. Replies get the VIP and the client back,
//! and the Ethernet addresses the client's frames came with.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use lb_packet::{ArpOp, FlowKey, Frame, MacAddr, Protocol, TcpFlags};
use lb_session::{PortRange, Segment, SnatAllocator};

use super::forward::Route;
use super::{ReverseProxy, RpSession, ServiceConfig, SourceNat};
use crate::core::services::Owner;
use crate::core::{same_family, unicast, unicast_address};
use crate::{ConfigError, DropReason, PortId, Verdict};

/// The peer a full-NAT port is allocated towards: the backend endpoint,
/// its port 0 for ICMP (whose identifier is the allocated port).
fn remote_of(backend: IpAddr, port: u16, proto: Protocol) -> SocketAddr {
    let port = if proto == Protocol::Icmp { 0 } else { port };
    SocketAddr::new(backend, port)
}

/// The source port a full-NAT session holds, and towards whom: read from
/// its reply key.
pub(super) fn held_port(reverse: &FlowKey) -> (SocketAddr, u16) {
    let remote = remote_of(reverse.src, reverse.src_port, reverse.proto);
    (remote, reverse.dst_port)
}

impl ReverseProxy {
    /// Refuses `source_nat` settings that cannot work, alone and across
    /// `services`: of the VIP's family, unicast, none a VIP, backend or
    /// the probe source, one range and MAC per address.
    pub(super) fn check_source_nats(&self, services: &[ServiceConfig]) -> Result<(), ConfigError> {
        let vips: HashSet<IpAddr> = services.iter().map(|s| s.vip).collect();
        let backends: HashSet<IpAddr> = services
            .iter()
            .flat_map(|s| s.backends.iter().map(|b| b.ip))
            .collect();
        let mut seen: HashMap<IpAddr, (PortRange, MacAddr)> = HashMap::new();
        for service in services {
            let Some(nat) = &service.source_nat else {
                continue;
            };
            unicast_address("source_nat", nat.ip)?;
            same_family("source_nat", nat.ip, service.vip)?;
            self.check_rewritten("source_nat", nat.ip)?;
            unicast(nat.mac())?;
            let clash = |why| ConfigError::Address {
                what: "source_nat",
                addr: nat.ip,
                why,
            };
            if vips.contains(&nat.ip) {
                return Err(clash("is a VIP"));
            }
            if backends.contains(&nat.ip) {
                return Err(clash("is a backend"));
            }
            if self.settings.health.source.is_some_and(|s| s.ip == nat.ip) {
                return Err(clash("is the health probes' source"));
            }
            let settings = (nat.ports, nat.mac());
            if *seen.entry(nat.ip).or_insert(settings) != settings {
                return Err(clash(
                    "has another port range or MAC in another service: give it one",
                ));
            }
        }
        Ok(())
    }

    /// Refreshes what follows from the services' `source_nat`: each
    /// slot's, the addresses answered for, their port allocators.
    pub(super) fn source_nats_changed(&mut self) {
        let mut by_slot = Vec::new();
        let mut owned: Vec<(IpAddr, MacAddr)> = Vec::new();
        let mut pools: Vec<(IpAddr, PortRange)> = Vec::new();
        for (slot, service) in self.core.services.iter() {
            let nat = self.source_nat.get(&service.key).copied();
            let slot = slot as usize;
            if by_slot.len() <= slot {
                by_slot.resize(slot + 1, None);
            }
            by_slot[slot] = nat;
            if let Some(nat) = nat
                && !owned.iter().any(|(ip, _)| *ip == nat.ip)
            {
                owned.push((nat.ip, nat.mac()));
                pools.push((nat.ip, nat.ports));
            }
        }
        self.nat_by_slot = by_slot;
        self.nat_addrs = owned;
        let hash_key = self.core.selector.hash_key;
        self.core.snat.set(&pools, hash_key);
    }

    /// True when `ip` is a `source_nat` address.
    #[inline]
    pub(super) fn is_source_nat(&self, ip: IpAddr) -> bool {
        self.nat_addrs.iter().any(|(own, _)| *own == ip)
    }

    /// Answers ARP and neighbor solicitations for a `source_nat` address
    /// from the backend side; None for anything else.
    pub(super) fn answer_for_source_nat(&self, frame: &mut Frame<&mut [u8]>) -> Option<Verdict> {
        let (target, request) = match frame.arp() {
            Some(arp) => (IpAddr::from(arp.target_ip()), arp.op() == ArpOp::Request),
            None => (frame.neighbor_solicitation()?.target.into(), true),
        };
        let &(_, mac) = self.nat_addrs.iter().find(|(ip, _)| *ip == target)?;
        let answered = match (request, frame.arp().is_some()) {
            (false, _) => return Some(Verdict::Consumed),
            (true, true) => frame.make_arp_reply(mac),
            (true, false) => frame.make_neighbor_advertisement(mac),
        };
        Some(match answered {
            Ok(()) => Verdict::Reply,
            Err(_) => Verdict::Drop(DropReason::Malformed),
        })
    }

    /// Opens a full-NAT session to `backend` (for ICMP, with the echo
    /// identifier for port): a source port from `nat`'s range, replies
    /// going back with `macs` (the client's, the one it addressed).
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    pub(super) fn open_full_nat(
        &mut self,
        now: Instant,
        frontend: PortId,
        key: &FlowKey,
        segment: Option<Segment>,
        owner: Owner,
        backend: SocketAddr,
        nat: SourceNat,
        macs: (MacAddr, MacAddr),
    ) -> Result<(RpSession, Route), DropReason> {
        let nat_index = self.macs.intern(macs).ok_or(DropReason::TableFull)?;
        let remote = remote_of(backend.ip(), backend.port(), key.proto);
        let allocated = self
            .core
            .snat
            .get_mut(nat.ip)
            .and_then(|pool| pool.allocate(key, nat.ip, remote).ok());
        let Some(port) = allocated else {
            self.refuse(key, segment, frontend, macs, owner.service);
            return Err(DropReason::PortsExhausted);
        };
        let reverse = SnatAllocator::reply_key(nat.ip, port, remote, key.proto);
        let session = RpSession {
            owner,
            frontend,
            nat: nat_index,
        };
        if let Err(reason) = self.core.open_session(now, *key, reverse, segment, session) {
            if let Some(pool) = self.core.snat.get_mut(nat.ip) {
                pool.release(nat.ip, remote, key.proto, port);
            }
            return Err(reason);
        }
        Ok((session, Route::of(&reverse)))
    }

    /// A new flow of a full-NAT service found no free source port: counted
    /// on its service, and a SYN answered with a reset from the VIP.
    #[cold]
    fn refuse(
        &mut self,
        key: &FlowKey,
        segment: Option<Segment>,
        frontend: PortId,
        (client_mac, addressed): (MacAddr, MacAddr),
        service: u32,
    ) {
        self.core.services.refused(service);
        if let Some(syn) = segment.filter(|s| s.flags.contains(TcpFlags::SYN)) {
            let macs = (addressed, client_mac);
            self.core.resets.owe(key, syn, macs, frontend);
            self.core.traffic.refused += 1;
        }
    }

    /// Gives a frame going back to a full-NAT session's client the
    /// Ethernet addresses of the client's own frames, reversed.
    #[inline]
    pub(super) fn restore_macs(&self, frame: &mut Frame<&mut [u8]>, nat: u16) {
        if let Some((client, addressed)) = self.macs.get(nat) {
            frame.set_src_mac(addressed);
            frame.set_dst_mac(client);
        }
    }
}
