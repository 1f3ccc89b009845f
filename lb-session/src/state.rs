//! A session's protocol state, advanced by the packets it sees.

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
/// TCP follows the handshake and teardown closely enough to pick timeouts
/// and to tell real connections from spoofed ones (see
/// [`TcpSeen`](crate::TcpSeen)). It also works when only the forward
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

/// Every state, in the order of their one-byte codes (`STATES[code]`).
const STATES: [SessionState; 10] = [
    SessionState::TcpSynSent,
    SessionState::TcpSynReceived,
    SessionState::TcpEstablished,
    SessionState::TcpFinWait,
    SessionState::TcpTimeWait,
    SessionState::TcpReset,
    SessionState::UdpUnreplied,
    SessionState::UdpReplied,
    SessionState::IcmpUnreplied,
    SessionState::IcmpReplied,
];

impl SessionState {
    /// A byte naming the state, for [`Tracker::to_bytes`](crate::Tracker::to_bytes).
    pub(crate) fn code(self) -> u8 {
        match self {
            SessionState::TcpSynSent => 0,
            SessionState::TcpSynReceived => 1,
            SessionState::TcpEstablished => 2,
            SessionState::TcpFinWait => 3,
            SessionState::TcpTimeWait => 4,
            SessionState::TcpReset => 5,
            SessionState::UdpUnreplied => 6,
            SessionState::UdpReplied => 7,
            SessionState::IcmpUnreplied => 8,
            SessionState::IcmpReplied => 9,
        }
    }

    /// The state a [`code`](Self::code) names.
    pub(crate) fn from_code(code: u8) -> Option<Self> {
        STATES.get(usize::from(code)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_name_each_state() {
        for (code, state) in STATES.iter().enumerate() {
            assert_eq!(usize::from(state.code()), code);
            assert_eq!(SessionState::from_code(state.code()), Some(*state));
        }
        assert_eq!(SessionState::from_code(10), None);
    }
}
