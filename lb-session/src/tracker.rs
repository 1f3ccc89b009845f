//! [`Tracker`]: a session's state plus what it remembers to advance it:
//! FINs seen, data seen each way, the server's ISN, whether it is assured.
//! It is written out as six bytes and read back to restore a session.

use lb_packet::{Protocol, TcpFlags};

use crate::segment::Seen;
use crate::{Direction, SessionState, Timeouts};

/// Bits of [`Tracker::marks`].
const FIN_FORWARD: u8 = 1;
const FIN_REVERSE: u8 = 2;
const DATA_FORWARD: u8 = 4;
const DATA_REVERSE: u8 = 8;
const ASSURED: u8 = 16;
const ALL_MARKS: u8 = FIN_FORWARD | FIN_REVERSE | DATA_FORWARD | DATA_REVERSE | ASSURED;

/// All a table follows of a session: its state, and what it needs to
/// remember to advance it. Opaque; [`to_bytes`](Self::to_bytes) and
/// [`from_bytes`](Self::from_bytes) carry it across a restart (see
/// [`SessionTable::restore`](crate::SessionTable::restore)).
///
/// A session is assured once it is seen to be a real exchange, until it
/// closes (RST, or FIN both ways); tables never evict assured sessions to
/// make room for new ones. UDP and ICMP:
/// a reply came back. TCP with whole segments: the client's ACK
/// acknowledged the server's SYN-ACK (its ISN + 1, which only a client
/// that received it knows), or data went both ways (a connection picked up
/// mid-stream). TCP with flags only: any reply, or the client's ACK after
/// its SYN (all a load balancer that sees one direction can go by).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Six bytes, not eight: a session keeps the low byte of its expiry in the
// two a `u32` would align to.
#[repr(C, packed(2))]
pub struct Tracker {
    pub(crate) state: SessionState,
    marks: u8,
    /// The server's initial sequence number, from its SYN-ACK.
    server_isn: u32,
}

impl Tracker {
    /// The state of a session created by a packet of `proto`.
    pub(crate) fn new(proto: Protocol, seen: Seen) -> Self {
        let state = match proto {
            Protocol::Tcp => match seen.flags() {
                flags if flags.contains(TcpFlags::RST) => SessionState::TcpReset,
                flags if flags.contains(TcpFlags::SYN) => SessionState::TcpSynSent,
                // Mid-stream pickup (say, after a restart): established, but
                // unassured until the other side confirms it.
                _ => SessionState::TcpEstablished,
            },
            Protocol::Udp => SessionState::UdpUnreplied,
            Protocol::Icmp => SessionState::IcmpUnreplied,
        };
        let mut tracker = Tracker {
            state,
            marks: 0,
            server_isn: 0,
        };
        tracker.note_data(Direction::Forward, seen);
        tracker
    }

    /// The connection is over: closed both ways, or reset.
    #[inline]
    pub fn is_over(&self) -> bool {
        matches!(
            self.state,
            SessionState::TcpTimeWait | SessionState::TcpReset
        )
    }

    /// A client's SYN on a connection closed both ways: a new connection
    /// on its tuple (the client's port reused), not this one.
    #[inline]
    pub(crate) fn is_reopened_by(&self, direction: Direction, seen: Seen) -> bool {
        let flags = seen.flags();
        self.state == SessionState::TcpTimeWait
            && direction == Direction::Forward
            && flags.contains(TcpFlags::SYN)
            && !flags.contains(TcpFlags::ACK)
    }

    /// Never evicted for room.
    #[inline]
    pub fn assured(&self) -> bool {
        self.marks & ASSURED != 0
    }

    /// Its protocol state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// Six bytes that [`from_bytes`](Self::from_bytes) reads back.
    pub fn to_bytes(&self) -> [u8; 6] {
        let isn = self.server_isn.to_be_bytes();
        [
            self.state.code(),
            self.marks,
            isn[0],
            isn[1],
            isn[2],
            isn[3],
        ]
    }

    /// A tracker from [`to_bytes`](Self::to_bytes); `None` for bytes no
    /// tracker writes.
    pub fn from_bytes(bytes: [u8; 6]) -> Option<Self> {
        let [state, marks, isn @ ..] = bytes;
        if marks & !ALL_MARKS != 0 {
            return None;
        }
        Some(Tracker {
            state: SessionState::from_code(state)?,
            marks,
            server_isn: u32::from_be_bytes(isn),
        })
    }

    fn has(&self, mark: u8) -> bool {
        self.marks & mark != 0
    }

    /// Advances on a packet seen in `direction`.
    pub(crate) fn advance(&mut self, direction: Direction, seen: Seen) {
        use SessionState::*;
        let reverse = direction == Direction::Reverse;
        let mut confirmed = false;
        self.state = match self.state {
            UdpUnreplied | UdpReplied if reverse => UdpReplied,
            IcmpUnreplied | IcmpReplied if reverse => IcmpReplied,
            UdpUnreplied | UdpReplied | IcmpUnreplied | IcmpReplied => self.state,
            tcp => {
                let next = self.advance_tcp(tcp, direction, seen);
                confirmed = match seen {
                    Seen::Segment(segment) => {
                        tcp == TcpSynReceived
                            && next == TcpEstablished
                            && segment.ack == self.server_isn.wrapping_add(1)
                    }
                    // Flags only: any reply, or the client's ACK after its SYN.
                    _ => {
                        reverse
                            || matches!(tcp, TcpSynSent | TcpSynReceived) && next == TcpEstablished
                    }
                };
                next
            }
        };
        let udp_or_icmp = matches!(self.state, UdpReplied | IcmpReplied);
        self.note_data(direction, seen);
        let both_ways = self.has(DATA_FORWARD) && self.has(DATA_REVERSE);
        if confirmed || both_ways || udp_or_icmp {
            self.marks |= ASSURED;
        }
        if self.is_over() {
            // Its slot may go to a new session before a live one's.
            self.marks &= !ASSURED;
        }
    }

    fn note_data(&mut self, direction: Direction, seen: Seen) {
        if let Seen::Segment(segment) = seen {
            if segment.has_data {
                self.marks |= match direction {
                    Direction::Forward => DATA_FORWARD,
                    Direction::Reverse => DATA_REVERSE,
                };
            }
        }
    }

    fn advance_tcp(
        &mut self,
        state: SessionState,
        direction: Direction,
        seen: Seen,
    ) -> SessionState {
        use SessionState::*;
        let flags = seen.flags();
        let forward = direction == Direction::Forward;
        let syn = flags.contains(TcpFlags::SYN);
        let ack = flags.contains(TcpFlags::ACK);
        let verified = matches!(seen, Seen::Segment(_));
        if flags.contains(TcpFlags::RST) {
            return TcpReset;
        }
        if forward && syn && !ack && state == TcpReset {
            // The client starts over (a closed connection's tuple reused is
            // a new session: see `is_reopened_by`).
            self.marks &= ASSURED;
            return TcpSynSent;
        }
        match state {
            TcpSynSent if !forward && syn && ack => {
                if let Seen::Segment(segment) = seen {
                    self.server_isn = segment.seq;
                }
                TcpSynReceived
            }
            // The client only ACKs without SYN after the server's SYN-ACK,
            // so this holds even when replies bypass us; with segments, an
            // ACK is only believed once the SYN-ACK was seen, and must
            // acknowledge it.
            TcpSynSent if forward && ack && !syn && !verified => TcpEstablished,
            TcpSynReceived if forward && ack && !syn => match seen {
                Seen::Segment(segment) if segment.ack != self.server_isn.wrapping_add(1) => {
                    TcpSynReceived
                }
                _ => TcpEstablished,
            },
            TcpEstablished | TcpFinWait if flags.contains(TcpFlags::FIN) => {
                self.marks |= if forward { FIN_FORWARD } else { FIN_REVERSE };
                if self.has(FIN_FORWARD) && self.has(FIN_REVERSE) {
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
            TcpEstablished if self.assured() => timeouts.tcp_established,
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
        let mut tracker = Tracker::new(Protocol::Tcp, Seen::Flags(start));
        for &(direction, flags) in packets {
            tracker.advance(direction, Seen::Flags(flags));
        }
        tracker
    }

    #[test]
    fn full_handshake_and_teardown() {
        let t = run(SYN, &[(Reverse, SYN | ACK)]);
        assert_eq!((t.state, t.assured()), (TcpSynReceived, true));
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
            (t.state, t.assured()),
            (TcpEstablished, true),
            "retransmitted SYN, then ACK"
        );
    }

    #[test]
    fn mid_stream_pickup_waits_for_a_reply() {
        let timeouts = Timeouts::default();
        let t = run(ACK, &[(Forward, ACK)]);
        assert_eq!((t.state, t.assured()), (TcpEstablished, false));
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
        let mut udp = Tracker::new(Protocol::Udp, Seen::Nothing);
        udp.advance(Forward, Seen::Nothing);
        assert_eq!((udp.state, udp.assured()), (UdpUnreplied, false));
        udp.advance(Reverse, Seen::Nothing);
        assert_eq!((udp.state, udp.assured()), (UdpReplied, true));
        let mut icmp = Tracker::new(Protocol::Icmp, Seen::Nothing);
        icmp.advance(Reverse, Seen::Nothing);
        assert_eq!(icmp.state, IcmpReplied);
    }

    fn segment(flags: TcpFlags, seq: u32, ack: u32, has_data: bool) -> Seen {
        Seen::Segment(crate::Segment {
            flags,
            seq,
            ack,
            has_data,
        })
    }

    #[test]
    fn with_segments_only_a_real_handshake_assures() {
        let syn = segment(SYN, 100, 0, false);
        let mut t = Tracker::new(Protocol::Tcp, syn);
        // A blind attacker's ACK, with no SYN-ACK seen: nothing.
        t.advance(Forward, segment(ACK, 101, 12345, false));
        assert_eq!((t.state, t.assured()), (TcpSynSent, false));
        // The server's SYN-ACK alone does not assure either.
        t.advance(Reverse, segment(SYN | ACK, 7000, 101, false));
        assert_eq!((t.state, t.assured()), (TcpSynReceived, false));
        // An ACK that does not acknowledge the server's ISN + 1: nothing.
        t.advance(Forward, segment(ACK, 101, 7000, false));
        assert_eq!((t.state, t.assured()), (TcpSynReceived, false));
        t.advance(Forward, segment(ACK, 101, 7001, false));
        assert_eq!((t.state, t.assured()), (TcpEstablished, true));
        assert_eq!(
            t.timeout(&Timeouts::default()),
            Timeouts::default().tcp_established
        );
    }

    #[test]
    fn bytes_carry_every_state_and_mark() {
        let syn = segment(SYN, 100, 0, true);
        let mut t = Tracker::new(Protocol::Tcp, syn);
        t.advance(Reverse, segment(SYN | ACK, 0xdead_beef, 101, true));
        t.advance(Forward, segment(ACK, 101, 0xdead_bef0, false));
        t.advance(
            Forward,
            segment(TcpFlags::FIN | ACK, 101, 0xdead_bef0, false),
        );
        assert_eq!(Tracker::from_bytes(t.to_bytes()), Some(t));
        for proto in [Protocol::Udp, Protocol::Icmp] {
            let fresh = Tracker::new(proto, Seen::Nothing);
            assert_eq!(Tracker::from_bytes(fresh.to_bytes()), Some(fresh));
        }
        assert_eq!(Tracker::from_bytes([200, 0, 0, 0, 0, 0]), None, "no state");
        assert_eq!(Tracker::from_bytes([0, 0x80, 0, 0, 0, 0]), None, "no mark");
    }

    #[test]
    fn with_segments_a_pickup_is_assured_by_data_both_ways() {
        let mut t = Tracker::new(Protocol::Tcp, segment(ACK, 1, 1, true));
        t.advance(Forward, segment(ACK, 2, 1, true));
        assert!(!t.assured(), "data one way only");
        t.advance(Reverse, segment(ACK, 1, 3, false));
        assert!(!t.assured(), "a bare reply");
        t.advance(Reverse, segment(ACK, 1, 3, true));
        assert!(t.assured());
    }
}
