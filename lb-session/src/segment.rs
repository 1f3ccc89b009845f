//! What a session table reads of a packet to follow TCP: its flags alone,
//! or a whole segment, whose sequence numbers let it verify a handshake.

use lb_packet::{TcpFlags, TcpSegment};

/// A TCP segment as the table follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Segment {
    /// Control flags.
    pub flags: TcpFlags,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// It carries data.
    pub has_data: bool,
}

impl From<TcpSegment<'_>> for Segment {
    #[inline]
    fn from(segment: TcpSegment<'_>) -> Self {
        Segment {
            flags: segment.flags,
            seq: segment.seq,
            ack: segment.ack,
            has_data: !segment.payload.is_empty(),
        }
    }
}

/// What one packet tells the table of TCP (`None`: it is not TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Not TCP.
    Nothing,
    /// Flags only: the table cannot verify a handshake and trusts the
    /// client's ACK after its SYN.
    Flags(TcpFlags),
    /// A whole segment: the client's ACK assures the session only if it
    /// acknowledges the server's SYN-ACK.
    Segment(Segment),
}

impl Seen {
    pub(crate) fn flags(self) -> TcpFlags {
        match self {
            Seen::Nothing => TcpFlags::default(),
            Seen::Flags(flags) => flags,
            Seen::Segment(segment) => segment.flags,
        }
    }
}

/// What a packet tells a [`SessionTable`](crate::SessionTable) of TCP:
///
/// - `Option<TcpFlags>`, the flags alone: enough for a load balancer that
///   sees only the client's side (direct server return), which has to
///   trust the client's ACK after its SYN as the end of the handshake;
/// - `Option<Segment>`, whole segments: the table then assures a session
///   only after a real exchange (the client's ACK acknowledges the ISN of
///   the server's SYN-ACK, or data went both ways), which a blind attacker
///   spoofing clients cannot fake.
///
/// `None` for a packet that is not TCP.
pub trait TcpSeen: Copy {
    #[doc(hidden)]
    fn seen(self) -> SeenRepr;
}

/// The crate's reading of a [`TcpSeen`]; not for use outside it.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct SeenRepr(pub(crate) Seen);

impl TcpSeen for Option<TcpFlags> {
    #[inline]
    fn seen(self) -> SeenRepr {
        SeenRepr(self.map_or(Seen::Nothing, Seen::Flags))
    }
}

impl TcpSeen for Option<Segment> {
    #[inline]
    fn seen(self) -> SeenRepr {
        SeenRepr(self.map_or(Seen::Nothing, Seen::Segment))
    }
}
