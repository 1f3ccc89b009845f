//! From backends to clients: reverse NAT for sessions, and where the rest
//! of the backend side's traffic goes.

use std::net::IpAddr;
use std::time::Instant;

use lb_packet::{EtherType, Frame, Icmp, Protocol};
use lb_session::{Direction, Segment};

use super::{FragmentRewrite, ReverseProxy, port_id, vip_of};
use crate::core::fragments::DatagramId;
use crate::core::is_neighbor_discovery;
use crate::health::passive::is_unreachable;
use crate::{DropReason, PassiveFailure, PortId, Verdict};

impl ReverseProxy {
    /// A frame from the backend side.
    pub(super) fn handle_backend(&mut self, now: Instant, frame: &mut Frame<&mut [u8]>) -> Verdict {
        match frame.ethertype() {
            EtherType::Ipv4 | EtherType::Ipv6 => {}
            EtherType::Arp => {
                if let Some(verdict) = self.core.handle_probe_frame(now, frame) {
                    return verdict;
                }
                if let Some(verdict) = self.answer_for_source_nat(frame) {
                    return verdict;
                }
                let target = self.arp_target(frame);
                return self.steer(target);
            }
            _ => return self.steer(None),
        }
        let (Some(src), Some(dst)) = (frame.src_ip(), frame.dst_ip()) else {
            return self.steer(None);
        };
        if is_neighbor_discovery(frame) {
            if let Some(verdict) = self.core.handle_probe_frame(now, frame) {
                return verdict;
            }
            if let Some(verdict) = self.answer_for_source_nat(frame) {
                return verdict;
            }
            // A solicitation goes where its target is, as ARP does.
            let solicited = frame.neighbor_solicitation().map(|s| s.target.into());
            return self.steer(solicited.or(Some(dst)));
        }
        // IPv4 fragments only: an IPv6 one carries no ports, and is steered.
        let fragment = frame
            .ipv4()
            .filter(|header| header.is_fragment())
            .map(|header| (DatagramId::of(&header), header.more_fragments()));
        if let Some(key) = &frame.flow_key() {
            let hash = self.core.hash_of(key);
            let segment = frame.tcp_segment().map(Segment::from);
            let flags = segment.map(|s| s.flags);
            let lookup = self.core.sessions.lookup_hashed(now, key, hash, segment);
            let (session, previous, forward) = match lookup {
                Some(hit) if hit.direction == Direction::Reverse => {
                    (*hit.value, hit.previous, hit.key(Direction::Forward))
                }
                _ => return self.probe_reply_or_steer(now, frame, dst),
            };
            if let Some(held) = self.core.judge_reply(now, session.owner, previous, flags) {
                return held;
            }
            let vip = vip_of(&forward);
            let client = forward.src_endpoint();
            let rewritten = match key.proto {
                Protocol::Icmp => frame.set_src_addr(vip.ip()),
                _ => frame.set_src(vip),
            };
            // Back to the client's own address if the source rewrite or
            // full NAT moved it.
            let moved = client == key.dst_endpoint() || frame.set_dst(client).is_ok();
            if rewritten.is_err() || !moved {
                return Verdict::Drop(DropReason::Malformed);
            }
            if session.nat != 0 {
                self.restore_macs(frame, session.nat);
            }
            if let Some((datagram, true)) = fragment {
                let rewrite = FragmentRewrite {
                    src: Some(vip.ip()),
                    dst: (client.ip() != dst).then_some(client.ip()),
                    port: session.frontend,
                    nat: session.nat,
                };
                self.fragments.remember(now, datagram, rewrite);
            }
            self.core.count(session.owner, frame.wire_size());
            return Verdict::Forward(session.frontend);
        }
        if let Some((datagram, _)) = fragment {
            return match self.fragments.lookup(now, &datagram) {
                Some(rewrite) if rewrite.apply(frame) => {
                    self.restore_macs(frame, rewrite.nat);
                    Verdict::Forward(rewrite.port)
                }
                _ => self.steer(Some(dst)),
            };
        }
        if let Some(Icmp::Error { .. }) = frame.icmp() {
            // About a packet we sent the backend: client -> backend:port.
            let Some(reply) = frame.quoted_flow().map(|quoted| quoted.reversed()) else {
                return self.probe_reply_or_steer(now, frame, dst);
            };
            let (session, forward) = match self.core.sessions.peek_with_keys(&reply) {
                Some((Direction::Reverse, session, [forward, _])) => (*session, forward),
                _ => return self.probe_reply_or_steer(now, frame, dst),
            };
            let vip = vip_of(&forward);
            if is_unreachable(frame.icmp_error()) {
                self.core
                    .passive_failure(now, session.owner, PassiveFailure::Unreachable);
            }
            // Errors from the backend itself must not show its address.
            let outer_ok = src != reply.src || frame.set_src_addr(vip.ip()).is_ok();
            // The client's own address back, if the source rewrite moved it.
            let client = forward.src_endpoint();
            let moved = client == reply.dst_endpoint()
                || (frame.set_dst_addr(client.ip()).is_ok()
                    && frame.set_quoted_src(client).is_ok());
            return if outer_ok && moved && frame.set_quoted_dst(vip).is_ok() {
                self.restore_macs(frame, session.nat);
                Verdict::Forward(session.frontend)
            } else {
                Verdict::Drop(DropReason::Malformed)
            };
        }
        self.probe_reply_or_steer(now, frame, dst)
    }

    /// A frame of no session: a probe's reply, or traffic to steer (a
    /// reply whose backend endpoint names its VIP endpoint translated
    /// first).
    fn probe_reply_or_steer(
        &mut self,
        now: Instant,
        frame: &mut Frame<&mut [u8]>,
        dst: IpAddr,
    ) -> Verdict {
        if let Some(verdict) = self.core.handle_probe_frame(now, frame) {
            return verdict;
        }
        if self.is_source_nat(dst) {
            // Its sessions are gone: no client has that address.
            return Verdict::Drop(DropReason::NoSession);
        }
        let stateless = frame
            .flow_key()
            .and_then(|key| self.endpoints.vip_of(key.proto, key.src_endpoint()));
        if let Some(client) = self.rewrite.and_then(|rewrite| rewrite.unmap(dst)) {
            return self.stateless_to_moved(frame, stateless, client);
        }
        if let Some(vip) = stateless {
            if frame.set_src(vip).is_err() {
                return Verdict::Drop(DropReason::Malformed);
            }
            self.core.traffic.stateless_replies += 1;
        }
        self.steer(Some(dst))
    }

    /// Where traffic from the backend side that belongs to no session goes.
    pub(super) fn steer(&self, dst: Option<IpAddr>) -> Verdict {
        if !self.is_multi() {
            return Verdict::Forward(PortId(0));
        }
        match dst.and_then(|dst| self.frontends.iter().position(|ip| *ip == Some(dst))) {
            Some(index) => Verdict::Forward(port_id(index)),
            None => Verdict::Flood,
        }
    }
}
