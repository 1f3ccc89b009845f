//! From clients to backends: sessions found or made, then DNAT.

use std::net::SocketAddr;
use std::time::Instant;

use lb_packet::{FlowKey, Frame, Icmp, MacAddr, Protocol, TcpFlags};
use lb_session::{Direction, Segment};

use super::{FragmentRewrite, ReverseProxy, RpSession, ServiceKey, backend_of};
use crate::core::fragments::DatagramId;
use crate::core::services::Owner;
use crate::health::passive::retried_syn;
use crate::{DropReason, PortId, Verdict};

/// Where a session's flow goes: the backend, and the client as the
/// backend sees it (the client itself, its address moved by the source
/// rewrite, or a full-NAT service's address and port).
#[derive(Debug, Clone, Copy)]
pub(super) struct Route {
    backend: SocketAddr,
    client: SocketAddr,
}

impl Route {
    #[inline]
    pub(super) fn of(reverse: &FlowKey) -> Self {
        Route {
            backend: backend_of(reverse),
            client: reverse.dst_endpoint(),
        }
    }
}

impl ReverseProxy {
    /// A frame from a client, on frontend `port`.
    pub(super) fn handle_frontend(
        &mut self,
        now: Instant,
        port: PortId,
        frame: &mut Frame<&mut [u8]>,
    ) -> Verdict {
        let to_backends = Verdict::Forward(self.backend_port);
        let Some(dst) = frame.dst_ip() else {
            self.copy_moved_arp_reply(frame);
            return to_backends;
        };
        if !self.is_vip(dst) {
            self.track_direct(now, port, frame);
            return to_backends;
        }
        // IPv4 fragments only: an IPv6 one carries no ports, and is dropped.
        let fragment = frame
            .ipv4()
            .filter(|header| header.is_fragment())
            .map(|header| (DatagramId::of(&header), header.more_fragments()));
        if let Some(key) = &frame.flow_key() {
            let hash = self.core.hash_of(key);
            let segment = frame.tcp_segment().map(Segment::from);
            let lookup = self.core.sessions.lookup_hashed(now, key, hash, segment);
            let (session, route) = match lookup {
                Some(hit) if hit.direction == Direction::Forward => {
                    let found = (*hit.value, Route::of(&hit.key(Direction::Reverse)));
                    match retried_syn(hit.previous, segment.map(|s| s.flags)) {
                        None => found,
                        Some(unanswered) => {
                            match self.retry(now, key, segment, found.0, unanswered) {
                                Ok(Some(retried)) => retried,
                                Ok(None) => found,
                                Err(reason) => return Verdict::Drop(reason),
                            }
                        }
                    }
                }
                Some(_) => return Verdict::Drop(DropReason::NoSession),
                None => match self.new_session(
                    now,
                    port,
                    key,
                    segment,
                    (frame.src_mac(), frame.dst_mac()),
                ) {
                    Ok(opened) => opened,
                    Err(reason) => return Verdict::Drop(reason),
                },
            };
            let Route { backend, client } = route;
            let rewritten = match key.proto {
                Protocol::Icmp => frame.set_dst_addr(backend.ip()),
                _ => frame.set_dst(backend),
            };
            let moved = client == key.src_endpoint() || frame.set_src(client).is_ok();
            if rewritten.is_err() || !moved {
                return Verdict::Drop(DropReason::Malformed);
            }
            if let Some((datagram, true)) = fragment {
                let rewrite = FragmentRewrite {
                    src: (client.ip() != key.src).then_some(client.ip()),
                    dst: Some(backend.ip()),
                    port: self.backend_port,
                    nat: 0,
                };
                self.fragments.remember(now, datagram, rewrite);
            }
            self.core.count(session.owner, frame.wire_size());
            return to_backends;
        }
        if let Some((datagram, _)) = fragment {
            return match self.fragments.lookup(now, &datagram) {
                Some(rewrite) if rewrite.apply(frame) => to_backends,
                _ => Verdict::Drop(DropReason::Fragment),
            };
        }
        if let Some(Icmp::Error { .. }) = frame.icmp() {
            // About a packet we sent the client: VIP:port -> client.
            let Some(quoted) = frame.quoted_flow() else {
                return Verdict::Drop(DropReason::NoSession);
            };
            let reverse = match self.core.sessions.peek_with_keys(&quoted.reversed()) {
                Some((Direction::Forward, _, [_, reverse])) => reverse,
                _ => return Verdict::Drop(DropReason::NoSession),
            };
            let backend = backend_of(&reverse);
            // The backend sent its packet to the client as it sees it.
            let client = reverse.dst_endpoint();
            let moved = client == quoted.dst_endpoint()
                || (frame.set_quoted_dst(client).is_ok()
                    && (frame.src_ip() != Some(quoted.dst)
                        || frame.set_src_addr(client.ip()).is_ok()));
            let translated = moved
                && frame.set_dst_addr(backend.ip()).is_ok()
                && frame.set_quoted_src(backend).is_ok();
            return if translated {
                to_backends
            } else {
                Verdict::Drop(DropReason::Malformed)
            };
        }
        if frame.is_fragment() {
            // IPv6: no ports in any fragment, and lb does not reassemble.
            return Verdict::Drop(DropReason::Fragment);
        }
        Verdict::Drop(DropReason::UnsupportedProtocol)
    }

    /// A client talking to a backend endpoint directly, not through a VIP:
    /// its flow gets a session that translates nothing, so that its
    /// replies are not taken for replies to a VIP and passed unchanged.
    #[cold]
    fn track_direct(&mut self, now: Instant, frontend: PortId, frame: &Frame<&mut [u8]>) {
        let Some(key) = frame.flow_key() else {
            return;
        };
        let to = key.dst_endpoint();
        if !self.endpoints.serves(key.proto, to) {
            return;
        }
        let segment = frame.tcp_segment().map(Segment::from);
        if self.core.sessions.lookup(now, &key, segment).is_none() {
            // Untranslated: its keys name the backend endpoint both ways.
            let session = RpSession {
                owner: Owner::NONE,
                frontend,
                nat: 0,
            };
            let _ = self
                .core
                .open_session(now, key, key.reversed(), segment, session);
        }
    }

    /// The session for a flow's first packet here: its service's pick,
    /// the same on every instance (a packet mid-stream, counted, is of a
    /// flow another instance had).
    fn new_session(
        &mut self,
        now: Instant,
        frontend: PortId,
        key: &FlowKey,
        segment: Option<Segment>,
        macs: (MacAddr, MacAddr),
    ) -> Result<(RpSession, Route), DropReason> {
        self.core.count_non_syn_miss(segment.map(|s| s.flags));
        if segment.is_some_and(|s| s.flags.contains(TcpFlags::RST)) {
            return Err(DropReason::NoSession);
        }
        let service_key = ServiceKey::new(key.dst, key.proto, key.dst_port);
        let services = &self.core.services;
        let service = services.slot(&service_key).ok_or(DropReason::NoService)?;
        let backend = services
            .get(service)
            .ok_or(DropReason::NoService)?
            .backends
            .pick(key)
            .ok_or(DropReason::NoBackend)?;
        let owner = Owner { service, backend };
        self.open(now, frontend, key, segment, owner, macs)
    }

    /// A client retrying its SYN on a session its backend never answered
    /// (`unanswered`: silence; else it refused): the retry goes to another
    /// backend when this one is failing (the new session, and where it
    /// goes), else the session stays (None).
    #[cold]
    fn retry(
        &mut self,
        now: Instant,
        key: &FlowKey,
        segment: Option<Segment>,
        session: RpSession,
        unanswered: bool,
    ) -> Result<Option<(RpSession, Route)>, DropReason> {
        let Some(backend) = self.core.retry_target(now, session.owner, key, unanswered) else {
            return Ok(None);
        };
        self.core.remove_session(key);
        let owner = Owner {
            backend,
            ..session.owner
        };
        let macs = self.macs.get(session.nat).unwrap_or_default();
        self.open(now, session.frontend, key, segment, owner, macs)
            .map(Some)
    }

    /// Opens the session of a flow to the backend of `owner`; the session,
    /// and where its flow goes. `macs` are the client's frame's (source,
    /// destination): a full-NAT session's replies go back with them.
    fn open(
        &mut self,
        now: Instant,
        frontend: PortId,
        key: &FlowKey,
        segment: Option<Segment>,
        owner: Owner,
        macs: (MacAddr, MacAddr),
    ) -> Result<(RpSession, Route), DropReason> {
        let target = self
            .core
            .services
            .get(owner.service)
            .and_then(|service| service.backends.get(owner.backend))
            .ok_or(DropReason::NoBackend)?
            .target;
        let backend_addr = match key.proto {
            // Echo replies carry the client's identifier back.
            Protocol::Icmp => SocketAddr::new(target.ip(), key.dst_port),
            _ => target,
        };
        if let Some(nat) = self
            .nat_by_slot
            .get(owner.service as usize)
            .copied()
            .flatten()
        {
            return self.open_full_nat(now, frontend, key, segment, owner, backend_addr, nat, macs);
        }
        let client = match &self.rewrite {
            Some(rewrite) => rewrite.map(key.src).unwrap_or(key.src),
            None => key.src,
        };
        let reverse = FlowKey {
            src: backend_addr.ip(),
            dst: client,
            src_port: backend_addr.port(),
            dst_port: key.src_port,
            proto: key.proto,
        };
        let session = RpSession {
            owner,
            frontend,
            nat: 0,
        };
        self.core.admit(now, *key, reverse, segment, session)?;
        Ok((session, Route::of(&reverse)))
    }
}
