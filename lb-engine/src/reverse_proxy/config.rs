//! What a [`ReverseProxy`](super::ReverseProxy) is configured with:
//! services, their backends, and how both are named.

use core::fmt;
use core::str::FromStr;
use std::net::{Ipv4Addr, SocketAddrV4};

use lb_algos::Policy;
use lb_packet::Protocol;
use serde::{Deserialize, Serialize};

use crate::{ConfigError, KeyParseError, SelectionSettings, SessionSettings, Weighted};

/// What a [`ReverseProxy`](super::ReverseProxy) reads from its
/// configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReverseProxyConfig {
    /// The services (`[[service]]` tables).
    #[serde(default, rename = "service")]
    pub services: Vec<ServiceConfig>,
    /// The session table.
    #[serde(default)]
    pub sessions: SessionSettings,
    /// Backend selection.
    #[serde(default)]
    pub selection: SelectionSettings,
}

impl ReverseProxyConfig {
    /// These services, with default session and selection settings.
    pub fn with_services(services: impl IntoIterator<Item = ServiceConfig>) -> Self {
        ReverseProxyConfig {
            services: services.into_iter().collect(),
            ..ReverseProxyConfig::default()
        }
    }
}

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

impl From<Protocol> for ServiceProtocol {
    fn from(proto: Protocol) -> Self {
        match proto {
            Protocol::Tcp => ServiceProtocol::Tcp,
            Protocol::Udp => ServiceProtocol::Udp,
            Protocol::Icmp => ServiceProtocol::Icmp,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Relative share of new flows (default 1); 0 drains it.
    #[serde(default = "default_weight")]
    pub weight: u32,
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

    /// How the backend is named: its address, and its port if it has one.
    pub fn addr(&self) -> BackendAddr {
        BackendAddr {
            ip: self.ip,
            port: self.port,
        }
    }
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

    /// The key as URL path segments: `VIP/PROTO/PORT`, or `VIP/icmp`.
    pub fn path(&self) -> String {
        match self.proto {
            Protocol::Icmp => format!("{}/icmp", self.vip),
            proto => format!("{}/{}/{}", self.vip, proto, self.port),
        }
    }

    /// Where a backend at `backend` receives this service's flows: its
    /// port, or the service's; port 0 for ICMP.
    pub fn backend_endpoint(&self, backend: BackendAddr) -> Result<SocketAddrV4, ConfigError> {
        let port = match self.proto {
            Protocol::Icmp => 0,
            _ => backend.port.unwrap_or(self.port),
        };
        if port == 0 && self.proto != Protocol::Icmp {
            return Err(ConfigError::ZeroPort(*self));
        }
        Ok(SocketAddrV4::new(backend.ip, port))
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

impl<'de> Deserialize<'de> for ServiceKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

const SERVICE_FORMS: KeyParseError = KeyParseError {
    expected: "VIP:PORT/tcp, VIP:PORT/udp or VIP/icmp",
};

/// The one parser of `VIP:PORT/PROTO` (and `VIP/icmp`, and the path form
/// `VIP/PROTO/PORT`), `all` among the protocols.
fn parse_service(s: &str) -> Option<(Ipv4Addr, u16, ServiceProtocol)> {
    let protocol = |name: &str| match name {
        "tcp" => Some(ServiceProtocol::Tcp),
        "udp" => Some(ServiceProtocol::Udp),
        "icmp" => Some(ServiceProtocol::Icmp),
        "all" => Some(ServiceProtocol::All),
        _ => None,
    };
    let parts: Vec<&str> = s.split('/').collect();
    let (vip, proto, port) = match parts[..] {
        [addr, "icmp"] => (addr.split(':').next()?, ServiceProtocol::Icmp, "0"),
        [vip, proto @ ("tcp" | "udp" | "all"), port] => (vip, protocol(proto)?, port),
        [addr, proto] => {
            let (vip, port) = addr.rsplit_once(':')?;
            (vip, protocol(proto)?, port)
        }
        _ => return None,
    };
    Some((vip.parse().ok()?, port.parse().ok()?, proto))
}

impl FromStr for ServiceKey {
    type Err = KeyParseError;

    /// `VIP:PORT/tcp`, `VIP:PORT/udp` or `VIP/icmp`; also the path form
    /// of [`path`](Self::path), `VIP/tcp/PORT`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match parse_service(s).ok_or(SERVICE_FORMS)? {
            (_, _, ServiceProtocol::All) => Err(SERVICE_FORMS),
            (vip, port, proto) => Ok(ServiceKey::new(vip, proto.expand()[0], port)),
        }
    }
}

impl FromStr for ServiceConfig {
    type Err = KeyParseError;

    /// A service without backends from `VIP:PORT/PROTO`, where PROTO may
    /// also be `all`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (vip, port, proto) = parse_service(s).ok_or(KeyParseError {
            expected: "VIP:PORT/tcp, VIP:PORT/udp, VIP:PORT/all or VIP/icmp",
        })?;
        Ok(ServiceConfig::new(vip, port, proto))
    }
}

/// Names a backend within its service: `IP`, on the service's port, or
/// `IP:PORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BackendAddr {
    /// Its address.
    pub ip: Ipv4Addr,
    /// Its port, when it is not the service's.
    pub port: Option<u16>,
}

impl From<SocketAddrV4> for BackendAddr {
    fn from(addr: SocketAddrV4) -> Self {
        BackendAddr {
            ip: *addr.ip(),
            port: Some(addr.port()),
        }
    }
}

impl fmt::Display for BackendAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.ip),
            None => write!(f, "{}", self.ip),
        }
    }
}

impl FromStr for BackendConfig {
    type Err = KeyParseError;

    /// `IP[:PORT][@WEIGHT]`, weight 1 unless given.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, weight) = match s.split_once('@') {
            Some((addr, weight)) => (
                addr,
                weight.parse().map_err(|_| KeyParseError {
                    expected: "IP[:PORT][@WEIGHT] with a weight of 0 to 4294967295",
                })?,
            ),
            None => (s, 1),
        };
        let BackendAddr { ip, port } = addr.parse()?;
        Ok(BackendConfig { ip, port, weight })
    }
}

impl Serialize for BackendAddr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl FromStr for BackendAddr {
    type Err = KeyParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(addr) = s.parse::<SocketAddrV4>() {
            return Ok(addr.into());
        }
        let ip = s.parse().map_err(|_| KeyParseError {
            expected: "IP or IP:PORT",
        })?;
        Ok(BackendAddr { ip, port: None })
    }
}

impl Weighted for BackendConfig {
    fn weight(&self) -> u32 {
        self.weight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_keys_parse_and_print() {
        for text in ["10.0.0.1:80/tcp", "10.0.0.1:53/udp", "10.0.0.1/icmp"] {
            let key = text.parse::<ServiceKey>().unwrap();
            assert_eq!(key.to_string(), text);
            assert_eq!(key.path().parse::<ServiceKey>(), Ok(key));
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
            "10.0.0.1/tcp/80/x",
            "10.0.0.1/sctp/80",
        ] {
            assert_eq!(bad.parse::<ServiceKey>(), Err(SERVICE_FORMS), "{bad}");
        }
    }

    #[test]
    fn backend_addresses_default_to_the_service_port() {
        let key: ServiceKey = "10.0.0.1:80/tcp".parse().unwrap();
        let bare: BackendAddr = "192.168.1.2".parse().unwrap();
        assert_eq!(
            key.backend_endpoint(bare).unwrap().to_string(),
            "192.168.1.2:80"
        );
        let ported: BackendAddr = "192.168.1.2:8080".parse().unwrap();
        assert_eq!(ported.to_string(), "192.168.1.2:8080");
        let ping: ServiceKey = "10.0.0.1/icmp".parse().unwrap();
        assert_eq!(ping.backend_endpoint(ported).unwrap().port(), 0);
        let zero: ServiceKey = "10.0.0.1:0/udp".parse().unwrap();
        assert_eq!(
            zero.backend_endpoint(bare),
            Err(ConfigError::ZeroPort(zero))
        );
        assert!("bogus".parse::<BackendAddr>().is_err());
        let weighted: BackendConfig = "192.168.1.9:5353@4".parse().unwrap();
        assert_eq!(
            weighted,
            BackendConfig::new(Ipv4Addr::new(192, 168, 1, 9), 4).port(5353)
        );
        assert_eq!("192.168.1.9".parse::<BackendConfig>().unwrap().weight, 1);
        assert!("192.168.1.9@-1".parse::<BackendConfig>().is_err());
    }

    #[test]
    fn service_configs_take_all() {
        let all: ServiceConfig = "10.0.0.5:53/all".parse().unwrap();
        assert_eq!(all.keys().count(), 3);
        assert!("10.0.0.5:53/all".parse::<ServiceKey>().is_err());
        assert!("10.0.0.5/all".parse::<ServiceConfig>().is_err());
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
}
