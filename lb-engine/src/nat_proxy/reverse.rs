//! Back to clients: replies from destinations, and ICMP errors about a
//! translated connection from either side.

use std::net::SocketAddr;
use std::time::Instant;

use lb_packet::Frame;
use lb_session::Direction;

use super::{NatProxy, ProxySession};
use crate::core::services::Owned;
use crate::health::passive::is_unreachable;
use crate::{DropReason, PassiveFailure, Verdict};

impl NatProxy {
    pub(super) fn return_to_client(
        &mut self,
        frame: &mut Frame<&mut [u8]>,
        session: &ProxySession,
    ) -> Verdict {
        let translated =
            frame.set_src(session.listen).is_ok() && frame.set_dst(session.client).is_ok();
        if !translated {
            return Verdict::Drop(DropReason::Malformed);
        }
        if frame.decrement_ttl().is_err() {
            return Verdict::Drop(DropReason::TtlExpired);
        }
        self.core.count(session.owner(), frame.wire_size());
        frame.set_src_mac(self.mac);
        frame.set_dst_mac(session.client_mac);
        Verdict::Reply
    }

    /// An ICMP error about a translated connection, from either side.
    pub(super) fn translate_error(
        &mut self,
        now: Instant,
        frame: &mut Frame<&mut [u8]>,
    ) -> Verdict {
        let Some(quoted) = frame.quoted_flow() else {
            return Verdict::Drop(DropReason::NoSession);
        };
        let Some((direction, session)) = self
            .core
            .sessions
            .peek(&quoted.reversed())
            .map(|(d, s)| (d, *s))
        else {
            return Verdict::Drop(DropReason::NoSession);
        };
        let proxy_snat = SocketAddr::new(self.ip, session.snat_port);
        match direction {
            // About what we sent the destination: proxy:snat -> dest.
            Direction::Reverse => {
                if is_unreachable(frame.icmp_error()) {
                    self.core
                        .passive_failure(now, session.owner(), PassiveFailure::Unreachable);
                }
                let ok = frame.set_dst_addr(session.client.ip()).is_ok()
                    && frame.set_quoted_src(session.client).is_ok()
                    && frame.set_quoted_dst(session.listen).is_ok();
                if !ok || frame.decrement_ttl().is_err() {
                    return Verdict::Drop(DropReason::Malformed);
                }
                frame.set_src_mac(self.mac);
                frame.set_dst_mac(session.client_mac);
                Verdict::Reply
            }
            // About what we sent the client: listen -> client.
            Direction::Forward => {
                let ok = frame.set_src_addr(self.ip).is_ok()
                    && frame.set_dst_addr(session.dest.ip()).is_ok()
                    && frame.set_quoted_src(session.dest).is_ok()
                    && frame.set_quoted_dst(proxy_snat).is_ok();
                if !ok {
                    return Verdict::Drop(DropReason::Malformed);
                }
                self.route(now, frame, session.dest.ip())
            }
        }
    }
}
