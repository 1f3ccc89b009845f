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
