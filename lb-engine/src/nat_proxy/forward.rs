//! Connections from clients: echo answered, sessions found or made, each
//! translated to its destination (SNAT to the proxy, DNAT to the
//! destination).

use std::net::SocketAddr;
use std::time::Instant;

use lb_packet::{FlowKey, Frame, Icmp, MacAddr, TcpFlags};
use lb_session::{Direction, Segment, SnatAllocator};

use super::{NatProxy, PROXY_PORT, ProxySession, SERVICE};
use crate::core::services::Owned;
use crate::health::passive::retried_syn;
use crate::{DropReason, Verdict};

impl NatProxy {
    /// An IP frame: to the proxy, or not for us.
    pub(super) fn handle_ip(&mut self, now: Instant, frame: &mut Frame<&mut [u8]>) -> Verdict {
        let Some(dst) = frame.dst_ip() else {
            return Verdict::Drop(DropReason::NotForUs);
        };
        if !self.takes_connections_on(dst) {
            return self
                .core
                .handle_probe_frame(now, frame)
                .unwrap_or(Verdict::Drop(DropReason::NotForUs));
        }
        if frame.ipv4().is_some_and(|header| header.is_fragment()) {
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
        let hash = self.core.hash_of(&key);
        let segment = frame.tcp_segment().map(Segment::from);
        let flags = segment.map(|s| s.flags);
        match self.core.sessions.lookup_hashed(now, &key, hash, segment) {
            Some(hit) if hit.direction == Direction::Forward => {
                if let Some(fin) = segment.filter(|s| s.flags.contains(TcpFlags::FIN)) {
                    hit.value.client_fin = Some(fin.seq);
                }
                let (session, previous, state) = (*hit.value, hit.previous, hit.state);
                if state != previous {
                    self.note_state(session.dest, &key, session.snat_port, previous, state);
                }
                let session = match retried_syn(previous, flags) {
                    None => session,
                    Some(unanswered) => match self.retry(now, &key, segment, session, unanswered) {
                        Ok(session) => session,
                        Err(reason) => return Verdict::Drop(reason),
                    },
                };
                self.forward_to_destination(now, frame, &session)
            }
            Some(hit) => {
                let (session, previous, state) = (*hit.value, hit.previous, hit.state);
                if state != previous {
                    self.note_state(session.dest, &key, session.snat_port, previous, state);
                }
                if let Some(held) = self.core.judge_reply(now, session.owner(), previous, flags) {
                    return held;
                }
                self.return_to_client(frame, &session)
            }
            None => match self.new_session(now, &key, frame.src_mac(), segment) {
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
        segment: Option<Segment>,
    ) -> Result<ProxySession, DropReason> {
        if let Some(segment) = segment {
            // Only a SYN opens a connection; anything else is of one this
            // proxy does not have, which the client hears of at once.
            let flags = segment.flags;
            if flags.contains(TcpFlags::RST) {
                return Err(DropReason::NoSession);
            }
            if !flags.contains(TcpFlags::SYN) || flags.contains(TcpFlags::ACK) {
                let macs = (self.mac, client_mac);
                self.core.resets.owe(key, segment, macs, PROXY_PORT);
                return Err(DropReason::NoSession);
            }
        }
        if self.denied_ports.binary_search(&key.dst_port).is_ok() {
            return Err(DropReason::DeniedPort);
        }
        let dest_slot = self
            .core
            .services
            .get(SERVICE)
            .and_then(|service| service.backends.pick(key))
            .ok_or(DropReason::NoBackend)?;
        self.open(now, key, client_mac, segment, dest_slot)
    }

    /// A client retrying its SYN on a connection its destination never
    /// answered (`unanswered`: silence; else it refused): the retry goes to
    /// another destination when this one is failing.
    #[cold]
    fn retry(
        &mut self,
        now: Instant,
        key: &FlowKey,
        segment: Option<Segment>,
        session: ProxySession,
        unanswered: bool,
    ) -> Result<ProxySession, DropReason> {
        let Some(other) = self
            .core
            .retry_target(now, session.owner(), key, unanswered)
        else {
            return Ok(session);
        };
        self.core.remove_session(key);
        self.open(now, key, session.client_mac, segment, other)
    }

    /// Opens the connection of `key` to the destination in `dest_slot`.
    fn open(
        &mut self,
        now: Instant,
        key: &FlowKey,
        client_mac: MacAddr,
        segment: Option<Segment>,
        dest_slot: u32,
    ) -> Result<ProxySession, DropReason> {
        let dest_addr = self
            .core
            .services
            .get(SERVICE)
            .and_then(|service| service.backends.get(dest_slot))
            .ok_or(DropReason::NoBackend)?
            .target;
        let dest = SocketAddr::new(dest_addr, key.dst_port);
        let Some(snat_port) = self.source_port(key, dest, segment) else {
            if let Some(syn) = segment {
                let macs = (self.mac, client_mac);
                self.core.resets.owe(key, syn, macs, PROXY_PORT);
                self.core.traffic.refused += 1;
            }
            return Err(DropReason::PortsExhausted);
        };
        let session = ProxySession {
            client: key.src_endpoint(),
            client_mac,
            listen: key.dst_endpoint(),
            dest,
            snat_port,
            dest_slot,
            client_fin: None,
        };
        let reverse = SnatAllocator::reply_key(self.ip, snat_port, dest, key.proto);
        if let Err(reason) = self.core.open_session(now, *key, reverse, segment, session) {
            if let Some(snat) = self.core.snat.get_mut(self.ip) {
                snat.release(self.ip, dest, key.proto, snat_port);
            }
            return Err(reason);
        }
        Ok(session)
    }

    fn forward_to_destination(
        &mut self,
        now: Instant,
        frame: &mut Frame<&mut [u8]>,
        session: &ProxySession,
    ) -> Verdict {
        let translated = frame
            .set_src(SocketAddr::new(self.ip, session.snat_port))
            .is_ok()
            && frame.set_dst(session.dest).is_ok();
        if !translated {
            return Verdict::Drop(DropReason::Malformed);
        }
        self.core.count(session.owner(), frame.wire_size());
        self.route(now, frame, session.dest.ip())
    }
}
