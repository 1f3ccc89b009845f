//! Why an engine dropped a frame; each reason has its own counter.

use core::fmt;

use lb_packet::ParseError;

/// Why a frame was dropped. The discriminant indexes the drop counters in
/// [`Stats`](crate::Stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
#[non_exhaustive]
pub enum DropReason {
    /// The frame failed validation (truncated, bad lengths, bad IPv4
    /// checksum, IPv6 extension headers past their bounds, UDP over IPv6
    /// without a checksum, ...).
    Malformed,
    /// Addressed to a VIP (or the proxy) but no service matches its
    /// protocol and port.
    NoService,
    /// The service has no backend that takes new flows (none, or all
    /// drained).
    NoBackend,
    /// The session table is full of assured sessions.
    TableFull,
    /// Belongs to no known session and cannot start one (a TCP segment
    /// without SYN, an ICMP error about an unknown flow, ...).
    NoSession,
    /// A non-first fragment whose first fragment was not seen.
    Fragment,
    /// A protocol the engine does not balance.
    UnsupportedProtocol,
    /// Not addressed to this load balancer.
    NotForUs,
    /// Arrived on a port that takes no traffic of this kind (for direct
    /// server return: anything on the backend port).
    WrongPort,
    /// A destination port the configuration denies.
    DeniedPort,
    /// No route: off-link destination and no gateway.
    NoRoute,
    /// TTL reached zero.
    TtlExpired,
    /// The next hop did not answer ARP in time, or its queue was full.
    ArpUnresolved,
    /// No source port left for NAT towards that destination.
    PortsExhausted,
    /// A backend's RST refusing a new connection, held back so that the
    /// client's retried SYN goes to another backend and succeeds.
    BackendRefused,
    /// A new flow whose replies would carry the key of an open session's
    /// (a client's port reused towards another address that leads to the
    /// same backend): the two could not be told apart. One that is over
    /// gives way.
    KeyInUse,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 16] = [
        DropReason::Malformed,
        DropReason::NoService,
        DropReason::NoBackend,
        DropReason::TableFull,
        DropReason::NoSession,
        DropReason::Fragment,
        DropReason::UnsupportedProtocol,
        DropReason::NotForUs,
        DropReason::WrongPort,
        DropReason::DeniedPort,
        DropReason::NoRoute,
        DropReason::TtlExpired,
        DropReason::ArpUnresolved,
        DropReason::PortsExhausted,
        DropReason::BackendRefused,
        DropReason::KeyInUse,
    ];

    /// Number of reasons.
    pub const COUNT: usize = Self::ALL.len();

    /// The counter index.
    pub fn index(self) -> usize {
        self as usize
    }

    /// A snake_case name for metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::NoService => "no_service",
            DropReason::NoBackend => "no_backend",
            DropReason::TableFull => "table_full",
            DropReason::NoSession => "no_session",
            DropReason::Fragment => "fragment",
            DropReason::UnsupportedProtocol => "unsupported_protocol",
            DropReason::NotForUs => "not_for_us",
            DropReason::WrongPort => "wrong_port",
            DropReason::DeniedPort => "denied_port",
            DropReason::NoRoute => "no_route",
            DropReason::TtlExpired => "ttl_expired",
            DropReason::ArpUnresolved => "arp_unresolved",
            DropReason::PortsExhausted => "ports_exhausted",
            DropReason::BackendRefused => "backend_refused",
            DropReason::KeyInUse => "key_in_use",
        }
    }
}

impl From<ParseError> for DropReason {
    fn from(_: ParseError) -> Self {
        DropReason::Malformed
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_follow_the_list() {
        for (index, reason) in DropReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), index, "{reason}");
        }
    }
}
