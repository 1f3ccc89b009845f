//! How long an idle session lives, by protocol and TCP state.

use core::time::Duration;

/// Idle timeouts. A session's timer restarts on every packet; which timeout
/// applies depends on its [`SessionState`](crate::SessionState).
///
/// The defaults follow the NAT behaviour RFCs and Linux conntrack: half-open
/// TCP short (so SYN floods age out fast), established TCP at the 2 h 4 min
/// RFC 5382 requires, closing connections a few minutes at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Timeouts {
    /// TCP before the handshake completes, and TCP picked up mid-stream
    /// until a reply confirms it. Default 30 s.
    pub tcp_half_open: Duration,
    /// TCP after the handshake. Default 2 h 4 min (RFC 5382 REQ-5).
    pub tcp_established: Duration,
    /// TCP after a FIN in either direction (covers TIME_WAIT). Default 120 s.
    pub tcp_fin: Duration,
    /// TCP after a RST. Default 10 s.
    pub tcp_reset: Duration,
    /// UDP before any reply. Default 30 s.
    pub udp_unreplied: Duration,
    /// UDP once a reply was seen. Default 120 s (RFC 4787 REQ-5).
    pub udp_replied: Duration,
    /// ICMP echo exchanges. Default 30 s.
    pub icmp: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_half_open: Duration::from_secs(30),
            tcp_established: Duration::from_secs(2 * 3600 + 4 * 60),
            tcp_fin: Duration::from_secs(120),
            tcp_reset: Duration::from_secs(10),
            udp_unreplied: Duration::from_secs(30),
            udp_replied: Duration::from_secs(120),
            icmp: Duration::from_secs(30),
        }
    }
}

impl Timeouts {
    /// Every timeout by name, in declaration order.
    pub fn named(&self) -> [(&'static str, Duration); 7] {
        [
            ("tcp_half_open", self.tcp_half_open),
            ("tcp_established", self.tcp_established),
            ("tcp_fin", self.tcp_fin),
            ("tcp_reset", self.tcp_reset),
            ("udp_unreplied", self.udp_unreplied),
            ("udp_replied", self.udp_replied),
            ("icmp", self.icmp),
        ]
    }
}
