//! A session's protocol state, advanced by the packets it sees.

use lb_packet::{Protocol, TcpFlags};

use crate::Timeouts;

/// Which way a packet travels relative to the session's first packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Same direction as the packet that created the session (client side).
    Forward,
    /// The reply direction.
    Reverse,
}

/// Where a session is in its protocol's life.
///
/// TCP follows the handshake and teardown closely enough to pick timeouts:
/// it does not check sequence numbers. It also works when only the forward
/// direction is visible (direct server return): the client's ACK after its
/// SYN completes the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum SessionState {
    /// TCP: SYN seen from the client.
    TcpSynSent,
    /// TCP: SYN-ACK seen from the server.
    TcpSynReceived,
    /// TCP: handshake complete, or picked up mid-stream.
    TcpEstablished,
    /// TCP: FIN seen in one direction.
    TcpFinWait,
    /// TCP: FIN seen in both directions.
    TcpTimeWait,
    /// TCP: RST seen.
    TcpReset,
    /// UDP: no reply yet.
    UdpUnreplied,
    /// UDP: a reply was seen.
    UdpReplied,
    /// ICMP echo: no reply yet.
    IcmpUnreplied,
    /// ICMP echo: a reply was seen.
    IcmpReplied,
}

/// A state plus what it needs to remember: which sides sent a FIN, and
/// whether the session is assured.
///
/// A session is assured once it is seen to be a real exchange: a reply came
/// back, or the client completed a TCP handshake. Tables never evict assured
/// sessions to make room for new ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tracker {
    pub(crate) state: SessionState,
    pub(crate) assured: bool,
    fin_forward: bool,
    fin_reverse: bool,
}

impl Tracker {
    /// The state of a session created by a packet with these flags.
    pub(crate) fn new(proto: Protocol, tcp_flags: Option<TcpFlags>) -> Self {
        let state = match proto {
            Protocol::Tcp => match tcp_flags.unwrap_or_default() {
                flags if flags.contains(TcpFlags::RST) => SessionState::TcpReset,
                flags if flags.contains(TcpFlags::SYN) => SessionState::TcpSynSent,
                // Mid-stream pickup (say, after a restart): established, but
                // unassured until the other side confirms it.
                _ => SessionState::TcpEstablished,
            },
            Protocol::Udp => SessionState::UdpUnreplied,
            Protocol::Icmp => SessionState::IcmpUnreplied,
        };
        Tracker {
            state,
            assured: false,
            fin_forward: false,
            fin_reverse: false,
        }
    }

    /// Advances on a packet seen in `direction`.
    pub(crate) fn advance(&mut self, direction: Direction, tcp_flags: Option<TcpFlags>) {
        use SessionState::*;
        let reverse = direction == Direction::Reverse;
        let mut handshake_done = false;
        self.state = match self.state {
            UdpUnreplied | UdpReplied if reverse => UdpReplied,
            IcmpUnreplied | IcmpReplied if reverse => IcmpReplied,
            UdpUnreplied | UdpReplied | IcmpUnreplied | IcmpReplied => self.state,
            tcp => {
                let flags = tcp_flags.unwrap_or_default();
                let next = self.advance_tcp(tcp, direction, flags);
                handshake_done =
                    matches!(tcp, TcpSynSent | TcpSynReceived) && next == TcpEstablished;
                next
            }
        };
        self.assured |= reverse || handshake_done;
    }

    fn advance_tcp(
        &mut self,
        state: SessionState,
        direction: Direction,
        flags: TcpFlags,
    ) -> SessionState {
        use SessionState::*;
        let forward = direction == Direction::Forward;
        let syn = flags.contains(TcpFlags::SYN);
        let ack = flags.contains(TcpFlags::ACK);
        if flags.contains(TcpFlags::RST) {
            return TcpReset;
        }
        if forward && syn && !ack && matches!(state, TcpTimeWait | TcpReset) {
            // The client reuses the tuple for a new connection.
            (self.fin_forward, self.fin_reverse) = (false, false);
            return TcpSynSent;
        }
        match state {
            TcpSynSent if !forward && syn && ack => TcpSynReceived,
            // The client only ACKs without SYN after the server's SYN-ACK,
            // so this holds even when replies bypass us.
            TcpSynSent | TcpSynReceived if forward && ack && !syn => TcpEstablished,
            TcpEstablished | TcpFinWait if flags.contains(TcpFlags::FIN) => {
                if forward {
                    self.fin_forward = true;
                } else {
                    self.fin_reverse = true;
                }
                if self.fin_forward && self.fin_reverse {
                    TcpTimeWait
                } else {
                    TcpFinWait
                }
            }
            other => other,
        }
    }

    /// The idle timeout that applies now.
    pub(crate) fn timeout(&self, timeouts: &Timeouts) -> core::time::Duration {
        use SessionState::*;
        match self.state {
            TcpSynSent | TcpSynReceived => timeouts.tcp_half_open,
            TcpEstablished if self.assured => timeouts.tcp_established,
            TcpEstablished => timeouts.tcp_half_open,
            TcpFinWait | TcpTimeWait => timeouts.tcp_fin,
            TcpReset => timeouts.tcp_reset,
            UdpUnreplied => timeouts.udp_unreplied,
            UdpReplied => timeouts.udp_replied,
            IcmpUnreplied | IcmpReplied => timeouts.icmp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{Forward, Reverse};
    use SessionState::*;

    const SYN: TcpFlags = TcpFlags::SYN;
    const ACK: TcpFlags = TcpFlags::ACK;

    fn run(start: TcpFlags, packets: &[(Direction, TcpFlags)]) -> Tracker {
        let mut tracker = Tracker::new(Protocol::Tcp, Some(start));
        for &(direction, flags) in packets {
            tracker.advance(direction, Some(flags));
        }
        tracker
    }

    #[test]
    fn full_handshake_and_teardown() {
        let t = run(SYN, &[(Reverse, SYN | ACK)]);
        assert_eq!((t.state, t.assured), (TcpSynReceived, true));
        let t = run(SYN, &[(Reverse, SYN | ACK), (Forward, ACK)]);
        assert_eq!(t.state, TcpEstablished);
        let fin = TcpFlags::FIN | ACK;
        let t = run(SYN, &[(Reverse, SYN | ACK), (Forward, ACK), (Forward, fin)]);
        assert_eq!(t.state, TcpFinWait);
        let t = run(
            SYN,
            &[
                (Reverse, SYN | ACK),
                (Forward, ACK),
                (Forward, fin),
                (Reverse, fin),
            ],
        );
        assert_eq!(t.state, TcpTimeWait);
    }

    #[test]
    fn forward_only_handshake_assures() {
        let t = run(SYN, &[(Forward, SYN), (Forward, ACK)]);
        assert_eq!(
            (t.state, t.assured),
            (TcpEstablished, true),
            "retransmitted SYN, then ACK"
        );
    }

    #[test]
    fn mid_stream_pickup_waits_for_a_reply() {
        let timeouts = Timeouts::default();
        let t = run(ACK, &[(Forward, ACK)]);
        assert_eq!((t.state, t.assured), (TcpEstablished, false));
        assert_eq!(t.timeout(&timeouts), timeouts.tcp_half_open);
        let t = run(ACK, &[(Reverse, ACK)]);
        assert_eq!(t.timeout(&timeouts), timeouts.tcp_established);
    }

    #[test]
    fn reset_from_any_state_and_reuse_after_it() {
        let t = run(
            SYN,
            &[
                (Reverse, SYN | ACK),
                (Forward, ACK),
                (Reverse, TcpFlags::RST),
            ],
        );
        assert_eq!(t.state, TcpReset);
        let t = run(SYN, &[(Forward, TcpFlags::RST), (Forward, SYN)]);
        assert_eq!(t.state, TcpSynSent);
    }

    #[test]
    fn udp_and_icmp_become_replied() {
        let mut udp = Tracker::new(Protocol::Udp, None);
        udp.advance(Forward, None);
        assert_eq!((udp.state, udp.assured), (UdpUnreplied, false));
        udp.advance(Reverse, None);
        assert_eq!((udp.state, udp.assured), (UdpReplied, true));
        let mut icmp = Tracker::new(Protocol::Icmp, None);
        icmp.advance(Reverse, None);
        assert_eq!(icmp.state, IcmpReplied);
    }
}
