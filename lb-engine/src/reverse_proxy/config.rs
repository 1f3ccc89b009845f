//! What a [`ReverseProxy`](super::ReverseProxy) is configured with:
//! services, their backends, and how both are named.

use core::str::FromStr;
use std::net::IpAddr;

use lb_algos::Policy;
use lb_packet::{MacAddr, Protocol};
use lb_session::PortRange;
use serde::{Deserialize, Serialize};

use super::keys::{BackendAddr, ServiceKey, parse_service};
use super::src_rewrite::SrcIpRewrite;
use crate::{
    ConfigError, HealthCheck, HealthSettings, KeyParseError, SelectionSettings, SessionSettings,
    Weighted,
};

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
    /// Health checks: the probe source, passive detection, panic mode.
    #[serde(default)]
    pub health: HealthSettings,
    /// Clients' source addresses rewritten on their way to the backends
    /// (`[src_ip_rewrite]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_ip_rewrite: Option<SrcIpRewrite>,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    /// Its address.
    pub ip: IpAddr,
    /// Its port; defaults to the service's. Ignored for ICMP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Relative share of new flows (default 1); 0 drains it.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// What operators call it (polycubectl's `name=`), shown in stats and
    /// Prometheus labels beside its address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl BackendConfig {
    /// A backend at `ip` with `weight`, on the service's port.
    pub fn new(ip: impl Into<IpAddr>, weight: u32) -> Self {
        BackendConfig {
            ip: ip.into(),
            port: None,
            weight,
            name: None,
        }
    }

    /// The same backend, called `name`.
    pub fn named(self, name: impl Into<String>) -> Self {
        BackendConfig {
            name: Some(name.into()),
            ..self
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
    pub vip: IpAddr,
    /// The port clients connect to; ignored for ICMP.
    #[serde(default)]
    pub port: u16,
    /// The protocol(s).
    pub proto: ServiceProtocol,
    /// How new flows pick a backend (default Maglev).
    #[serde(default)]
    pub policy: Policy,
    /// Slots of its Maglev table, a prime; by default `[selection]`'s, else
    /// chosen from the backend count (1021 up to 10 backends, then at
    /// least 100 per backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maglev_table_size: Option<u64>,
    /// The backends.
    #[serde(default, rename = "backend")]
    pub backends: Vec<BackendConfig>,
    /// Active probes of its backends (`[service.health]`); without it,
    /// passive detection alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthCheck>,
    /// What operators call it (polycubectl's `name=`), shown in stats and
    /// Prometheus labels beside its key; an `all` service's three halves
    /// share it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Full NAT: the backends see connections from this address the load
    /// balancer owns, not from the clients, and reply to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_nat: Option<SourceNat>,
}

/// A full-NAT service's source: each new flow reaches the backends from
/// `ip` and a port of `ports` (ICMP echo: an identifier of them), and the
/// load balancer answers ARP (neighbor discovery) for `ip` on the backend
/// side with `mac`. Services may share an address, with one range and MAC.
///
/// ```toml
/// source_nat = { ip = "192.168.1.250", ports = "40000-40099" }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceNat {
    /// The address backends see.
    pub ip: IpAddr,
    /// Its source ports (default 32768-60999).
    #[serde(default)]
    pub ports: PortRange,
    /// The MAC it answers ARP with (default `02:00` and the address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
}

impl SourceNat {
    /// The MAC it answers with.
    pub fn mac(&self) -> MacAddr {
        self.mac.unwrap_or_else(|| MacAddr::local_for(self.ip))
    }
}

impl FromStr for SourceNat {
    type Err = KeyParseError;

    /// `IP` (ports 32768-60999) or `IP:FIRST-LAST` (`[IPv6]:FIRST-LAST`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const FORMS: KeyParseError = KeyParseError {
            expected: "IP or IP:FIRST-LAST ([IPv6]:FIRST-LAST), like 192.168.1.250:40000-40999",
        };
        let (ip, ports) = match s.rsplit_once(':') {
            Some((ip, ports)) if ports.contains('-') => (ip, ports.parse().map_err(|_| FORMS)?),
            _ => (s, PortRange::default()),
        };
        let bare = ip
            .strip_prefix('[')
            .and_then(|ip| ip.strip_suffix(']'))
            .unwrap_or(ip);
        Ok(SourceNat {
            ip: bare.parse().map_err(|_| FORMS)?,
            ports,
            mac: None,
        })
    }
}

/// Refuses a name that would not print on one line: 1 to 64 characters,
/// none of them control characters.
pub(crate) fn check_name(name: &str) -> Result<(), ConfigError> {
    let length = name.chars().count();
    if (1..=64).contains(&length) && !name.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(ConfigError::Name(name.to_owned()))
    }
}

impl ServiceConfig {
    /// A service on `vip:port` for `proto`, with no backends yet and the
    /// default policy (Maglev).
    pub fn new(vip: impl Into<IpAddr>, port: u16, proto: ServiceProtocol) -> Self {
        ServiceConfig {
            vip: vip.into(),
            port,
            proto,
            policy: Policy::default(),
            maglev_table_size: None,
            backends: Vec::new(),
            health: None,
            name: None,
            source_nat: None,
        }
    }

    /// The same service, called `name`.
    pub fn named(self, name: impl Into<String>) -> Self {
        ServiceConfig {
            name: Some(name.into()),
            ..self
        }
    }

    /// A TCP service on `vip:port`.
    pub fn tcp(vip: impl Into<IpAddr>, port: u16) -> Self {
        Self::new(vip, port, ServiceProtocol::Tcp)
    }

    /// A UDP service on `vip:port`.
    pub fn udp(vip: impl Into<IpAddr>, port: u16) -> Self {
        Self::new(vip, port, ServiceProtocol::Udp)
    }

    /// Ping to `vip`, answered through a backend.
    pub fn icmp(vip: impl Into<IpAddr>) -> Self {
        Self::new(vip, 0, ServiceProtocol::Icmp)
    }

    /// TCP and UDP on `vip:port`, and ping to `vip`.
    pub fn all(vip: impl Into<IpAddr>, port: u16) -> Self {
        Self::new(vip, port, ServiceProtocol::All)
    }

    /// With another backend at `ip` on the service's port.
    pub fn backend(self, ip: impl Into<IpAddr>, weight: u32) -> Self {
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

    /// With active probes of its backends.
    pub fn health(self, check: HealthCheck) -> Self {
        ServiceConfig {
            health: Some(check),
            ..self
        }
    }

    /// The keys this service answers on (three for `all`).
    pub fn keys(&self) -> impl Iterator<Item = ServiceKey> + '_ {
        self.proto
            .expand()
            .iter()
            .map(|&proto| ServiceKey::new(self.vip, proto, self.port))
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
        Ok(BackendConfig {
            ip,
            port,
            weight,
            name: None,
        })
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
    use std::net::Ipv4Addr;

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
