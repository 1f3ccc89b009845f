//! Frames from clients: ARP for the VIPs answered, the rest sent to a
//! server by its MAC.

use std::time::Instant;

use lb_packet::{ArpOp, FlowKey, Frame, Icmp, TcpFlags};
use lb_session::{Direction, SessionState};

use super::{DirectReturn, DsrSession, SERVICE};
use crate::core::fragments::DatagramId;
use crate::core::services::Owned;
use crate::health::passive::{client_acked, retried_syn};
use crate::{DropReason, Verdict};

impl DirectReturn {
    pub(super) fn handle_frontend(
        &mut self,
        now: Instant,
        frame: &mut Frame<&mut [u8]>,
    ) -> Verdict {
        if let Some(arp) = frame.arp() {
            let for_us = arp.op() == ArpOp::Request && self.is_vip(arp.target_ip().into());
            return if for_us && frame.make_arp_reply(self.mac).is_ok() {
                Verdict::Reply
            } else {
                self.not_for_us(now, frame, DropReason::NotForUs)
            };
        }
        if let Some(solicitation) = frame.neighbor_solicitation() {
            let for_us = self.is_vip(solicitation.target.into());
            return if for_us && frame.make_neighbor_advertisement(self.mac).is_ok() {
                Verdict::Reply
            } else {
                self.not_for_us(now, frame, DropReason::NotForUs)
            };
        }
        if frame.dst_mac() != self.mac {
            return self.not_for_us(now, frame, DropReason::NotForUs);
        }
        let Some(dst) = frame.dst_ip() else {
            return Verdict::Drop(DropReason::NotForUs);
        };
        if !self.is_vip(dst) {
            return Verdict::Drop(DropReason::NotForUs);
        }
        // IPv4 only: an IPv6 fragment carries no ports, and is dropped.
        let header = frame.ipv4();
        let datagram = header.as_ref().map(DatagramId::of);
        let is_fragment = header.as_ref().is_some_and(|h| h.is_fragment());
        let more_fragments = header.as_ref().is_some_and(|h| h.more_fragments());
        let session = if let Some(key) = frame.flow_key() {
            let hash = self.core.hash_of(&key);
            let flags = frame.tcp_flags();
            let session = match self.core.sessions.lookup_hashed(now, &key, hash, flags) {
                Some(hit) if hit.direction == Direction::Forward => {
                    let previous = hit.previous;
                    let session = *hit.value;
                    self.passive(now, &key, flags, previous, session)
                }
                Some(_) => return Verdict::Drop(DropReason::NoSession),
                None => match self.new_session(now, &key, flags) {
                    Ok(session) => session,
                    Err(reason) => return Verdict::Drop(reason),
                },
            };
            if let (true, Some(datagram)) = (more_fragments, datagram) {
                self.fragments.remember(now, datagram, session.0);
            }
            session
        } else if let (true, Some(datagram)) = (is_fragment, datagram) {
            match self.fragments.lookup(now, &datagram) {
                Some(backend) => DsrSession(backend),
                None => return Verdict::Drop(DropReason::Fragment),
            }
        } else if let Some(Icmp::Error { .. }) = frame.icmp() {
            // About a packet the server sent from the VIP: to that server.
            match frame
                .quoted_flow()
                .and_then(|quoted| self.core.sessions.peek(&quoted.reversed()))
            {
                Some((Direction::Forward, session)) => *session,
                _ => return Verdict::Drop(DropReason::NoSession),
            }
        } else if frame.is_fragment() {
            // IPv6: no ports in any fragment, and lb does not reassemble.
            return Verdict::Drop(DropReason::Fragment);
        } else {
            return Verdict::Drop(DropReason::UnsupportedProtocol);
        };
        let Some(server) = self
            .core
            .services
            .get(SERVICE)
            .and_then(|service| service.backends.get(session.0))
            .map(|member| member.target)
        else {
            return Verdict::Drop(DropReason::NoBackend);
        };
        self.core.count(session.owner(), frame.wire_size());
        frame.set_dst_mac(server);
        frame.set_src_mac(self.backend_port_mac);
        self.out_port()
    }

    /// What a client's packet says of its server, when only the forward
    /// half is visible: its ACK after the SYN means the server answered;
    /// its retried SYN means it did not, and the retry goes elsewhere when
    /// the server is failing (the session follows: replies bypass us).
    #[inline]
    fn passive(
        &mut self,
        now: Instant,
        key: &FlowKey,
        flags: Option<TcpFlags>,
        previous: SessionState,
        session: DsrSession,
    ) -> DsrSession {
        if client_acked(previous, flags) {
            self.core.passive_success(session.owner());
            return session;
        }
        if retried_syn(previous, flags) != Some(true) {
            return session;
        }
        let Some(other) = self.core.retry_target(now, session.owner(), key, true) else {
            return session;
        };
        self.core.reassign(key, DsrSession(other));
        DsrSession(other)
    }

    fn new_session(
        &mut self,
        now: Instant,
        key: &FlowKey,
        tcp_flags: Option<TcpFlags>,
    ) -> Result<DsrSession, DropReason> {
        self.core.count_non_syn_miss(tcp_flags);
        let backend = self
            .core
            .services
            .get(SERVICE)
            .and_then(|service| service.backends.pick(key))
            .ok_or(DropReason::NoBackend)?;
        let session = DsrSession(backend);
        // Replies bypass us; the reverse key only has to be distinct. With
        // no room in the table, the flow goes on by its pick alone.
        self.core
            .admit(now, *key, key.reversed(), tcp_flags, session)?;
        Ok(session)
    }
}
