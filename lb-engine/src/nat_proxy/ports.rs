//! Source ports: taken from the allocator, and taken over from half-open
//! and closed connections when a destination has none left.

use std::net::SocketAddr;

use lb_packet::FlowKey;
use lb_session::{Segment, SessionState, SnatAllocator};

use super::NatProxy;

/// Candidates looked at for taking over before a new connection is
/// refused. Each is looked at once (those not taken are dropped from the
/// queue), so the cost is constant amortised, and bounded per SYN.
const TAKEOVER_TRIES: usize = 64;
/// Whether a new connection may take a port from the one holding it.
enum Takeover {
    /// Yes: it is half-open, or closed with sequence numbers behind.
    Take,
    /// Closed, but the new SYN is behind its sequence: maybe for another.
    NotYet,
    /// Established: it keeps its port.
    Never,
}

/// True when `later` comes after `earlier` in sequence space.
fn seq_after(later: u32, earlier: u32) -> bool {
    (later.wrapping_sub(earlier) as i32) > 0
}

impl NatProxy {
    /// A source port towards `dest` for the new connection `key`: a free
    /// one, else one taken over from a half-open or closed connection
    /// (oldest first; a closed one only when the new SYN's sequence number
    /// is past the old connection's, as a destination's TIME_WAIT requires).
    pub(super) fn source_port(
        &mut self,
        key: &FlowKey,
        dest: SocketAddr,
        segment: Option<Segment>,
    ) -> Option<u16> {
        let snat = self.core.snat.get_mut(self.ip)?;
        if let Ok(port) = snat.allocate(key, self.ip, dest) {
            return Some(port);
        }
        for _ in 0..TAKEOVER_TRIES {
            let snat = self.core.snat.get_mut(self.ip)?;
            let port = snat.reclaim_candidate(self.ip, dest, key.proto)?;
            let reply = SnatAllocator::reply_key(self.ip, port, dest, key.proto);
            match self.takeover(&reply, segment) {
                Takeover::Take => {
                    // Gives the port back, to be allocated again at once.
                    self.core.remove_session(&reply);
                    self.core.traffic.ports_taken_over += 1;
                    let snat = self.core.snat.get_mut(self.ip)?;
                    return snat.allocate(key, self.ip, dest).ok();
                }
                Takeover::NotYet => self.mark_closed(dest, key, port),
                Takeover::Never => {}
            }
        }
        None
    }

    fn takeover(&self, reply: &FlowKey, segment: Option<Segment>) -> Takeover {
        match self.core.sessions.state(reply) {
            Some(
                SessionState::TcpSynSent
                | SessionState::TcpSynReceived
                | SessionState::TcpReset
                | SessionState::UdpUnreplied,
            ) => Takeover::Take,
            Some(SessionState::TcpTimeWait) => {
                let fin = self
                    .core
                    .sessions
                    .peek(reply)
                    .and_then(|(_, session)| session.client_fin);
                match (fin, segment) {
                    (None, _) => Takeover::Take,
                    (Some(fin), Some(syn)) if seq_after(syn.seq, fin) => Takeover::Take,
                    _ => Takeover::NotYet,
                }
            }
            // Established, or gone (its port came back on its own).
            _ => Takeover::Never,
        }
    }

    /// Notes a session's change of state: a connection that just closed
    /// may give up its port early.
    pub(super) fn note_state(
        &mut self,
        dest: SocketAddr,
        key: &FlowKey,
        snat_port: u16,
        previous: SessionState,
        state: SessionState,
    ) {
        let closed = |state| matches!(state, SessionState::TcpTimeWait | SessionState::TcpReset);
        if closed(state) && !closed(previous) {
            self.mark_closed(dest, key, snat_port);
        }
    }

    /// Queues `port` of the connection to `dest` for taking over.
    fn mark_closed(&mut self, dest: SocketAddr, key: &FlowKey, port: u16) {
        if let Some(snat) = self.core.snat.get_mut(self.ip) {
            snat.closed(self.ip, dest, key.proto, port);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::seq_after;

    #[test]
    fn sequence_numbers_compare_across_wrap() {
        assert!(seq_after(10, 5));
        assert!(!seq_after(5, 10));
        assert!(!seq_after(7, 7));
        assert!(seq_after(3, u32::MAX - 3), "past the wrap");
        assert!(!seq_after(u32::MAX - 3, 3));
    }
}
