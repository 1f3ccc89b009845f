//! Why a configuration, or a change to a running engine, was refused.

use core::fmt;
use std::net::IpAddr;

use lb_algos::BuildError;
use lb_packet::MacAddr;

use crate::ServiceKey;

/// Why a configuration, or a change to one, was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Two services answer on the same VIP, protocol and port.
    #[error("duplicate service {0}")]
    DuplicateService(String),
    /// No such service.
    #[error("no service {0}")]
    UnknownService(String),
    /// The service has this backend already.
    #[error("service {service} already has backend {backend}")]
    DuplicateBackend {
        /// The service.
        service: String,
        /// The backend.
        backend: String,
    },
    /// No such backend.
    #[error("service {service} has no backend {backend}")]
    UnknownBackend {
        /// The service.
        service: String,
        /// The backend.
        backend: String,
    },
    /// The engine answers for this VIP already.
    #[error("VIP {0} exists")]
    DuplicateVip(IpAddr),
    /// The engine does not answer for this VIP.
    #[error("no VIP {0}")]
    UnknownVip(IpAddr),
    /// A TCP or UDP service, or one of its backends, on port 0.
    #[error("service {0} needs a port between 1 and 65535")]
    ZeroPort(ServiceKey),
    /// A MAC the engine would answer with or send to is not unicast.
    #[error("MAC {0} is not unicast")]
    NotUnicast(MacAddr),
    /// An address that cannot be what the configuration makes it.
    #[error("{what} {addr} {why}")]
    Address {
        /// What it was given as (`VIP`, `backend`).
        what: &'static str,
        /// The address.
        addr: IpAddr,
        /// Why it cannot be one.
        why: &'static str,
    },
    /// A prefix length above the address's bits (32 or 128).
    #[error("prefix length {prefix_len} is above {max}")]
    PrefixTooLong {
        /// The prefix length given.
        prefix_len: u8,
        /// The most the address's family takes.
        max: u8,
    },
    /// The proxy was given no destination.
    #[error("give at least one destination address")]
    NoDestinations,
    /// The gateway is not another address of the proxy's own network.
    #[error("gateway {0} is not another address of the proxy's network")]
    GatewayOffLink(IpAddr),
    /// A destination that is the proxy itself.
    #[error("destination {0} is the proxy itself")]
    DestinationIsProxy(IpAddr),
    /// A destination off-link, with no gateway to reach it.
    #[error("destination {0} is off-link and there is no gateway")]
    NoRoute(IpAddr),
    /// Not 32 hex digits.
    #[error("invalid hash key: expected 32 hex digits")]
    BadHashKey(String),
    /// A Maglev table size for a service whose policy is not Maglev.
    #[error("service {0}: maglev_table_size applies to the maglev policy only")]
    TableSizeWithoutMaglev(ServiceKey),
    /// The selection policy could not be built.
    #[error("backend selection: {0}")]
    Selector(BuildError),
    /// The session table could not be built.
    #[error("session table: {0}")]
    Sessions(lb_session::ConfigError),
    /// Health-check settings that cannot work.
    #[error("health checks: {0}")]
    Health(&'static str),
    /// A service's or backend's name that cannot be one.
    #[error("name {0:?}: give 1 to 64 characters, none of them control characters")]
    Name(String),
    /// A source-IP rewrite whose ranges cannot work, or an address in
    /// them that cannot be there.
    #[error("src_ip_rewrite: {0}")]
    SrcIpRewrite(String),
    /// The ports do not fit the engine's mode.
    #[error("ports: {0}")]
    Ports(PortsError),
    /// The engine has no such thing to change (services of a single-service
    /// engine, VIPs of one whose VIPs are its services).
    #[error("{0}")]
    Unsupported(&'static str),
}

// Not `#[from]`: the message says the inner error already, and a source
// would have error chains (anyhow's `{:#}`) say it twice.
impl From<BuildError> for ConfigError {
    fn from(error: BuildError) -> Self {
        ConfigError::Selector(error)
    }
}

impl From<lb_session::ConfigError> for ConfigError {
    fn from(error: lb_session::ConfigError) -> Self {
        ConfigError::Sessions(error)
    }
}

/// How the ports given to an engine fail to fit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortsError {
    /// Not between 1 and 65534 frontends.
    FrontendCount(usize),
    /// Several frontends, and one without an address.
    MultiWithoutAddress,
}

impl fmt::Display for PortsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortsError::FrontendCount(n) => {
                write!(f, "give between 1 and 65534 frontends, not {n}")
            }
            PortsError::MultiWithoutAddress => {
                f.write_str("MULTI mode needs an address on every frontend")
            }
        }
    }
}

/// What kind of refusal a [`ConfigError`] is, for callers that answer
/// differently (the admin API's 400, 404 and 409).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The configuration or change cannot work.
    Invalid,
    /// It names a service, backend or VIP that does not exist.
    Unknown,
    /// It adds one that exists.
    Duplicate,
    /// The engine has no such thing.
    Unsupported,
}

impl ConfigError {
    /// `service` has no backend `backend`.
    pub fn unknown_backend(service: impl fmt::Display, backend: impl fmt::Display) -> Self {
        ConfigError::UnknownBackend {
            service: service.to_string(),
            backend: backend.to_string(),
        }
    }

    /// `service` has backend `backend` already.
    pub fn duplicate_backend(service: impl fmt::Display, backend: impl fmt::Display) -> Self {
        ConfigError::DuplicateBackend {
            service: service.to_string(),
            backend: backend.to_string(),
        }
    }

    /// What kind of refusal this is.
    pub fn kind(&self) -> ConfigErrorKind {
        match self {
            ConfigError::DuplicateService(_)
            | ConfigError::DuplicateBackend { .. }
            | ConfigError::DuplicateVip(_) => ConfigErrorKind::Duplicate,
            ConfigError::UnknownService(_)
            | ConfigError::UnknownBackend { .. }
            | ConfigError::UnknownVip(_) => ConfigErrorKind::Unknown,
            ConfigError::Unsupported(_) => ConfigErrorKind::Unsupported,
            _ => ConfigErrorKind::Invalid,
        }
    }
}

/// Text that does not name a service, backend or VIP list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}")]
pub struct KeyParseError {
    /// The forms accepted.
    pub expected: &'static str,
}
