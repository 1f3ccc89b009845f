//! [`SrcIpRewrite`]: Polycube lbrp's `src-ip-rewrite`. Clients in one
//! range reach the backends from the same host offset in another, so the
//! backends' replies to that range can be routed back to the load
//! balancer instead of to the clients.

use std::net::{IpAddr, SocketAddr};

use lb_packet::{ArpOp, Frame};
use serde::{Deserialize, Serialize};

use super::{ARP_COPY_CAPACITY, ReverseProxy};
use crate::{ConfigError, DropReason, IpCidr, Verdict};

/// Which client addresses are rewritten, and into what: a client at
/// `ip_range`'s host offset `n` reaches the backends as `new_ip_range`'s
/// host `n`, and replies to that address are translated back. Only flows
/// to a VIP are rewritten; both ranges are of one family and prefix
/// length, and do not overlap.
///
/// ```toml
/// [src_ip_rewrite]
/// ip_range = "10.0.0.0/24"
/// new_ip_range = "20.0.0.0/24"
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SrcIpRewrite {
    /// The clients whose source is rewritten.
    pub ip_range: IpCidr,
    /// Where their sources are moved to.
    pub new_ip_range: IpCidr,
}

impl SrcIpRewrite {
    /// Refuses ranges that cannot map one onto the other.
    pub fn check(&self) -> Result<(), ConfigError> {
        let (from, to) = (self.ip_range, self.new_ip_range);
        let refuse = |why: String| Err(ConfigError::SrcIpRewrite(why));
        if from.ip.is_ipv4() != to.ip.is_ipv4() {
            return refuse(format!(
                "ip_range {from} and new_ip_range {to} are of different address families"
            ));
        }
        if !from.ip.is_ipv4() {
            return refuse(format!(
                "ip_range {from}: IPv6 ranges are not supported (neighbor discovery for rewritten addresses is not translated)"
            ));
        }
        if from.prefix_len != to.prefix_len {
            return refuse(format!(
                "ip_range {from} and new_ip_range {to} need the same prefix length (/{} and /{})",
                from.prefix_len, to.prefix_len
            ));
        }
        if from.overlaps(&to) {
            return refuse(format!("ip_range {from} and new_ip_range {to} overlap"));
        }
        Ok(())
    }

    /// Where a client at `client` appears to the backends, if it is in
    /// `ip_range`.
    #[inline]
    pub fn map(&self, client: IpAddr) -> Option<IpAddr> {
        self.ip_range.translate(client, &self.new_ip_range)
    }

    /// The client a rewritten address stands for, if it is in
    /// `new_ip_range`.
    #[inline]
    pub fn unmap(&self, rewritten: IpAddr) -> Option<IpAddr> {
        self.new_ip_range.translate(rewritten, &self.ip_range)
    }

    /// Refuses `addr` as a `what` (`backend`, `health source`) in
    /// `new_ip_range`: replies to it would be translated back to a client.
    pub fn check_address(&self, what: &'static str, addr: IpAddr) -> Result<(), ConfigError> {
        refuse_in(what, addr, &[self.new_ip_range])
    }

    /// Refuses a VIP in either range: traffic to it would be taken for a
    /// client's.
    pub fn check_vip(&self, vip: IpAddr) -> Result<(), ConfigError> {
        refuse_in("VIP", vip, &[self.new_ip_range, self.ip_range])
    }
}

/// Refuses `addr` as a `what` when one of `ranges` holds it.
fn refuse_in(what: &str, addr: IpAddr, ranges: &[IpCidr]) -> Result<(), ConfigError> {
    match ranges.iter().find(|range| range.contains(addr)) {
        Some(range) => Err(ConfigError::SrcIpRewrite(format!(
            "{what} {addr} is in {range}, a range of rewritten client addresses"
        ))),
        None => Ok(()),
    }
}

impl ReverseProxy {
    /// Sets or removes the rewrite of clients' addresses, refused when a
    /// VIP, backend or the probe source is in its way. Sessions keep the
    /// addresses they were made with; new flows take the new ranges.
    pub(super) fn change_rewrite(
        &mut self,
        rewrite: Option<SrcIpRewrite>,
    ) -> Result<(), ConfigError> {
        if let Some(rewrite) = &rewrite {
            for (_, service) in self.core.services.iter() {
                rewrite.check_vip(service.key.vip)?;
                for (_, member) in service.backends.members() {
                    rewrite.check_address("backend", member.target.ip())?;
                }
            }
        }
        self.install_rewrite(rewrite)
    }

    /// Sets the rewrite, checked alone and against the probe source: the
    /// services are checked against it next ([`check_rewritten`]).
    ///
    /// [`check_rewritten`]: Self::check_rewritten
    pub(super) fn install_rewrite(
        &mut self,
        rewrite: Option<SrcIpRewrite>,
    ) -> Result<(), ConfigError> {
        if let Some(rewrite) = &rewrite {
            rewrite.check()?;
            if let Some(source) = self.settings.health.source {
                rewrite.check_address("health source", source.ip)?;
            }
        }
        self.rewrite = rewrite;
        Ok(())
    }

    /// Where an ARP packet from the backend side goes: its target, moved
    /// back to the client's own address when a request asks for a
    /// rewritten one (Polycube's way: the client answers for itself, and
    /// [`copy_moved_arp_reply`](Self::copy_moved_arp_reply) tells the
    /// backend side).
    pub(super) fn arp_target(&self, frame: &mut Frame<&mut [u8]>) -> Option<IpAddr> {
        let arp = frame.arp()?;
        let target = arp.target_ip();
        let client = match (&self.rewrite, arp.op()) {
            (Some(rewrite), ArpOp::Request) => rewrite.unmap(target.into()),
            _ => None,
        };
        match client {
            Some(IpAddr::V4(client)) if frame.set_arp_target_ip(client).is_ok() => {
                Some(client.into())
            }
            _ => Some(target.into()),
        }
    }

    /// A client's ARP reply, on its way to the backend side: a copy of it
    /// follows, saying the client's rewritten address is at its MAC, so
    /// that the backends' router delivers replies to it here.
    #[cold]
    pub(super) fn copy_moved_arp_reply(&mut self, frame: &Frame<&mut [u8]>) {
        let Some(rewrite) = &self.rewrite else {
            return;
        };
        let moved = frame
            .arp()
            .filter(|arp| arp.op() == ArpOp::Reply)
            .and_then(|arp| rewrite.map(arp.sender_ip().into()));
        let Some(IpAddr::V4(moved)) = moved else {
            return;
        };
        if self.arp_copies.len() >= ARP_COPY_CAPACITY {
            return;
        }
        let mut copy = frame.as_bytes().to_vec();
        if let Ok(mut view) = Frame::parse(&mut copy[..])
            && view.set_arp_sender_ip(moved).is_ok()
        {
            self.arp_copies.push_back(copy);
        }
    }

    /// A reply from the backend side to a rewritten client address that
    /// has no session: translated back whole when its backend endpoint
    /// names its VIP endpoint (as Polycube does, statelessly), else
    /// dropped: no client has that address.
    #[cold]
    pub(super) fn stateless_to_moved(
        &mut self,
        frame: &mut Frame<&mut [u8]>,
        vip: Option<SocketAddr>,
        client: IpAddr,
    ) -> Verdict {
        let Some(vip) = vip else {
            return Verdict::Drop(DropReason::NoSession);
        };
        if frame.set_src(vip).is_err() || frame.set_dst_addr(client).is_err() {
            return Verdict::Drop(DropReason::Malformed);
        }
        self.core.traffic.stateless_replies += 1;
        self.steer(Some(client))
    }

    /// Refuses `addr` as a `what` (`backend`, `source_nat`) in the
    /// rewrite's way.
    pub(super) fn check_rewritten(
        &self,
        what: &'static str,
        addr: IpAddr,
    ) -> Result<(), ConfigError> {
        self.rewrite
            .as_ref()
            .map_or(Ok(()), |rewrite| rewrite.check_address(what, addr))
    }

    /// Refuses a VIP in the rewrite's ranges.
    pub(super) fn check_rewritten_vip(&self, vip: IpAddr) -> Result<(), ConfigError> {
        self.rewrite
            .as_ref()
            .map_or(Ok(()), |rewrite| rewrite.check_vip(vip))
    }
}
