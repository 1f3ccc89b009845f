//! Configuration shared by the engines: services, backends, sessions,
//! selection. Every type deserialises from the TOML the binaries read.

use core::fmt;
use core::str::FromStr;
use core::time::Duration;
use std::net::{Ipv4Addr, SocketAddrV4};

use lb_algos::{BuildError, HashKey, Policy, SelectorConfig};
use lb_packet::Protocol;
use lb_session::{SessionConfig, Timeouts};
use serde::{Deserialize, Serialize};

/// The protocol a service balances; `all` is TCP, UDP and ICMP at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceProtocol {
    /// TCP on the service port.
    Tcp,
    /// UDP on the service port.
    Udp,
    /// ICMP echo (ping) to the VIP; ports do not apply.
    Icmp,
    /// All three.
    All,
}

impl ServiceProtocol {
    /// The protocols this stands for.
    pub fn expand(self) -> &'static [Protocol] {
        match self {
            ServiceProtocol::Tcp => &[Protocol::Tcp],
            ServiceProtocol::Udp => &[Protocol::Udp],
            ServiceProtocol::Icmp => &[Protocol::Icmp],
            ServiceProtocol::All => &[Protocol::Tcp, Protocol::Udp, Protocol::Icmp],
        }
    }
}

fn default_weight() -> u32 {
    1
}

/// A backend of a reverse-proxy service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    /// Its address.
    pub ip: Ipv4Addr,
    /// Its port; defaults to the service's. Ignored for ICMP.
    #[serde(default)]
    pub port: Option<u16>,
    /// Relative share of new flows (default 1); 0 drains it.
    #[serde(default = "default_weight")]
    pub weight: u32,
}

/// A virtual service: `vip:port/proto` and the backends behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The virtual IP clients connect to.
    pub vip: Ipv4Addr,
    /// The port clients connect to; ignored for ICMP.
    #[serde(default)]
    pub port: u16,
    /// The protocol(s).
    pub proto: ServiceProtocol,
    /// How new flows pick a backend (default Maglev).
    #[serde(default)]
    pub policy: Policy,
    /// The backends.
    #[serde(default, rename = "backend")]
    pub backends: Vec<BackendConfig>,
}

impl BackendConfig {
    /// A backend at `ip` with `weight`, on the service's port.
    pub fn new(ip: Ipv4Addr, weight: u32) -> Self {
        BackendConfig {
            ip,
            port: None,
            weight,
        }
    }

    /// The same backend on `port` instead of the service's.
    pub fn port(self, port: u16) -> Self {
        BackendConfig {
            port: Some(port),
            ..self
        }
    }
}

impl ServiceConfig {
    /// A service on `vip:port` for `proto`, with no backends yet and the
    /// default policy (Maglev).
    pub fn new(vip: Ipv4Addr, port: u16, proto: ServiceProtocol) -> Self {
        ServiceConfig {
            vip,
            port,
            proto,
            policy: Policy::default(),
            backends: Vec::new(),
        }
    }

    /// A TCP service on `vip:port`.
    pub fn tcp(vip: Ipv4Addr, port: u16) -> Self {
        Self::new(vip, port, ServiceProtocol::Tcp)
    }

    /// A UDP service on `vip:port`.
    pub fn udp(vip: Ipv4Addr, port: u16) -> Self {
        Self::new(vip, port, ServiceProtocol::Udp)
    }

    /// Ping to `vip`, answered through a backend.
    pub fn icmp(vip: Ipv4Addr) -> Self {
        Self::new(vip, 0, ServiceProtocol::Icmp)
    }

    /// TCP and UDP on `vip:port`, and ping to `vip`.
    pub fn all(vip: Ipv4Addr, port: u16) -> Self {
        Self::new(vip, port, ServiceProtocol::All)
    }

    /// With another backend at `ip` on the service's port.
    pub fn backend(self, ip: Ipv4Addr, weight: u32) -> Self {
        self.with_backend(BackendConfig::new(ip, weight))
    }

    /// With another backend.
    pub fn with_backend(mut self, backend: BackendConfig) -> Self {
        self.backends.push(backend);
        self
    }

    /// With this selection policy.
    pub fn policy(self, policy: Policy) -> Self {
        ServiceConfig { policy, ..self }
    }

    /// The keys this service answers on (three for `all`).
    pub fn keys(&self) -> impl Iterator<Item = ServiceKey> + '_ {
        self.proto
            .expand()
            .iter()
            .map(|&proto| ServiceKey::new(self.vip, proto, self.port))
    }
}

/// Names one service: VIP, protocol, and port (0 for ICMP). Written as
/// `VIP:PORT/tcp`, `VIP:PORT/udp` or `VIP/icmp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceKey {
    /// Virtual IP.
    pub vip: Ipv4Addr,
    /// Protocol.
    pub proto: Protocol,
    /// Port; always 0 for ICMP.
    pub port: u16,
}

impl ServiceKey {
    /// The key, with the port cleared for ICMP.
    pub fn new(vip: Ipv4Addr, proto: Protocol, port: u16) -> Self {
        let port = if proto == Protocol::Icmp { 0 } else { port };
        ServiceKey { vip, proto, port }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.proto {
            Protocol::Icmp => write!(f, "{}/icmp", self.vip),
            proto => write!(f, "{}:{}/{}", self.vip, self.port, proto),
        }
    }
}

impl Serialize for ServiceKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl FromStr for ServiceKey {
    type Err = ConfigError;

    /// `VIP:PORT/tcp`, `VIP:PORT/udp` or `VIP/icmp`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || ConfigError::BadServiceKey(s.to_owned());
        let (addr, proto) = s.rsplit_once('/').ok_or_else(invalid)?;
        let proto = match proto {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "icmp" => Protocol::Icmp,
            _ => return Err(invalid()),
        };
        if proto == Protocol::Icmp {
            let vip = addr
                .split(':')
                .next()
                .unwrap_or(addr)
                .parse()
                .map_err(|_| invalid())?;
            return Ok(ServiceKey::new(vip, proto, 0));
        }
        let addr: SocketAddrV4 = addr.parse().map_err(|_| invalid())?;
        Ok(ServiceKey::new(*addr.ip(), proto, addr.port()))
    }
}

/// Idle timeouts in seconds, as configuration files write them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeoutSettings {
    /// TCP before the handshake completes.
    pub tcp_half_open: u64,
    /// Established TCP.
    pub tcp_established: u64,
    /// TCP after a FIN.
    pub tcp_fin: u64,
    /// TCP after a RST.
    pub tcp_reset: u64,
    /// UDP before a reply.
    pub udp_unreplied: u64,
    /// UDP after a reply.
    pub udp_replied: u64,
    /// ICMP echo.
    pub icmp: u64,
}

impl Default for TimeoutSettings {
    fn default() -> Self {
        let t = Timeouts::default();
        TimeoutSettings {
            tcp_half_open: t.tcp_half_open.as_secs(),
            tcp_established: t.tcp_established.as_secs(),
            tcp_fin: t.tcp_fin.as_secs(),
            tcp_reset: t.tcp_reset.as_secs(),
            udp_unreplied: t.udp_unreplied.as_secs(),
            udp_replied: t.udp_replied.as_secs(),
            icmp: t.icmp.as_secs(),
        }
    }
}

impl From<TimeoutSettings> for Timeouts {
    fn from(t: TimeoutSettings) -> Self {
        Timeouts {
            tcp_half_open: Duration::from_secs(t.tcp_half_open),
            tcp_established: Duration::from_secs(t.tcp_established),
            tcp_fin: Duration::from_secs(t.tcp_fin),
            tcp_reset: Duration::from_secs(t.tcp_reset),
            udp_unreplied: Duration::from_secs(t.udp_unreplied),
            udp_replied: Duration::from_secs(t.udp_replied),
            icmp: Duration::from_secs(t.icmp),
        }
    }
}

/// Session table settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionSettings {
    /// Most sessions held (default 262144).
    pub capacity: usize,
    /// Idle timeouts.
    pub timeouts: TimeoutSettings,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            capacity: 1 << 18,
            timeouts: TimeoutSettings::default(),
        }
    }
}

impl SessionSettings {
    /// The session table configuration, with a random table key.
    pub fn table_config(&self) -> SessionConfig {
        SessionConfig {
            capacity: self.capacity,
            timeouts: self.timeouts.into(),
            hash_key: None,
        }
    }
}

/// Backend selection settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SelectionSettings {
    /// SipHash key for the hash policies, 32 hex digits. Load balancers
    /// that share it (and their backends) pick alike; the default is all
    /// zeros, so set your own to keep clients from predicting picks.
    pub hash_key: Option<String>,
    /// Maglev table size, a prime (default 65537).
    pub maglev_table_size: u64,
    /// Seed for the random policy.
    pub seed: u64,
}

impl Default for SelectionSettings {
    fn default() -> Self {
        SelectionSettings {
            hash_key: None,
            maglev_table_size: lb_algos::DEFAULT_TABLE_SIZE,
            seed: 0,
        }
    }
}

impl SelectionSettings {
    /// The selector configuration, once the key parses.
    pub fn selector_config(&self) -> Result<SelectorConfig, ConfigError> {
        let hash_key = match &self.hash_key {
            None => HashKey::default(),
            Some(hex) => parse_hash_key(hex)?,
        };
        Ok(SelectorConfig {
            hash_key,
            seed: self.seed,
            maglev_table_size: self.maglev_table_size,
        })
    }
}

fn parse_hash_key(hex: &str) -> Result<HashKey, ConfigError> {
    let invalid = || ConfigError::BadHashKey(hex.to_owned());
    if hex.len() != 32 || !hex.is_ascii() {
        return Err(invalid());
    }
    let mut key = [0u8; 16];
    for (byte, pair) in key.iter_mut().zip(hex.as_bytes().chunks(2)) {
        let pair = core::str::from_utf8(pair).map_err(|_| invalid())?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| invalid())?;
    }
    Ok(HashKey(key))
}

/// Why a configuration, or a change to one, was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Two services answer on the same VIP, protocol and port.
    #[error("duplicate service {0}")]
    DuplicateService(ServiceKey),
    /// A service lists the same backend twice.
    #[error("service {service} lists backend {backend} twice")]
    DuplicateBackend {
        /// The service.
        service: ServiceKey,
        /// The backend.
        backend: String,
    },
    /// A TCP or UDP service, or one of its backends, on port 0.
    #[error("service {0} needs a port between 1 and 65535")]
    ZeroPort(ServiceKey),
    /// No such service.
    #[error("no service {0}")]
    UnknownService(ServiceKey),
    /// No such backend.
    #[error("service {service} has no backend {backend}")]
    UnknownBackend {
        /// The service.
        service: ServiceKey,
        /// The backend.
        backend: String,
    },
    /// Not `VIP:PORT/tcp`, `VIP:PORT/udp` or `VIP/icmp`.
    #[error("invalid service {0:?}: expected VIP:PORT/tcp, VIP:PORT/udp or VIP/icmp")]
    BadServiceKey(String),
    /// Not 32 hex digits.
    #[error("invalid hash key: expected 32 hex digits")]
    BadHashKey(String),
    /// The selection policy could not be built.
    #[error("backend selection: {0}")]
    Selector(#[from] BuildError),
    /// The session table could not be built.
    #[error("session table: {0}")]
    Sessions(#[from] lb_session::ConfigError),
    /// The ports do not fit the engine's mode.
    #[error("ports: {0}")]
    Ports(String),
    /// An address or range that cannot work.
    #[error("{0}")]
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_keys_parse_and_print() {
        for text in ["10.0.0.1:80/tcp", "10.0.0.1:53/udp", "10.0.0.1/icmp"] {
            assert_eq!(text.parse::<ServiceKey>().unwrap().to_string(), text);
        }
        assert_eq!(
            "10.0.0.1:80/icmp"
                .parse::<ServiceKey>()
                .unwrap()
                .to_string(),
            "10.0.0.1/icmp"
        );
        for bad in [
            "10.0.0.1:80",
            "10.0.0.1/sctp",
            "nope:80/tcp",
            "10.0.0.1/tcp",
        ] {
            assert!(
                matches!(
                    bad.parse::<ServiceKey>(),
                    Err(ConfigError::BadServiceKey(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn builders_write_what_files_say() {
        let built = ServiceConfig::tcp(Ipv4Addr::new(10, 0, 0, 1), 80)
            .backend(Ipv4Addr::new(192, 168, 1, 2), 10)
            .with_backend(BackendConfig::new(Ipv4Addr::new(192, 168, 1, 3), 1).port(8080))
            .policy(Policy::RoundRobin);
        let written: ServiceConfig = toml::from_str(
            r#"
            vip = "10.0.0.1"
            port = 80
            proto = "tcp"
            policy = "round-robin"
            backend = [{ ip = "192.168.1.2", weight = 10 }, { ip = "192.168.1.3", port = 8080 }]
            "#,
        )
        .unwrap();
        assert_eq!(built, written);
        let text = toml::to_string(&built).unwrap();
        assert_eq!(toml::from_str::<ServiceConfig>(&text).unwrap(), built);
    }

    #[test]
    fn hash_keys_are_32_hex_digits() {
        assert_eq!(
            parse_hash_key("000102030405060708090a0b0c0d0e0f")
                .unwrap()
                .0[15],
            15
        );
        assert!(parse_hash_key("00").is_err());
        assert!(parse_hash_key("zz0102030405060708090a0b0c0d0e0f").is_err());
    }
}
