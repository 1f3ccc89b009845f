//! How services and backends of a reverse proxy are named, written and
//! parsed: `VIP:PORT/PROTO` and `IP[:PORT]`, in one place.

use core::fmt;
use core::hash::{Hash, Hasher};
use core::str::FromStr;
use std::net::{IpAddr, SocketAddr, SocketAddrV4, SocketAddrV6};

use lb_packet::Protocol;
use serde::{Deserialize, Serialize};

use super::ServiceProtocol;
use crate::{ConfigError, KeyParseError};

/// Names one service: VIP, protocol, and port (0 for ICMP). Written as
/// `VIP:PORT/tcp`, `VIP:PORT/udp` or `VIP/icmp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServiceKey {
    /// Virtual IP.
    pub vip: IpAddr,
    /// Protocol.
    pub proto: Protocol,
    /// Port; always 0 for ICMP.
    pub port: u16,
}

impl ServiceKey {
    /// The key, with the port cleared for ICMP.
    pub fn new(vip: impl Into<IpAddr>, proto: Protocol, port: u16) -> Self {
        let port = if proto == Protocol::Icmp { 0 } else { port };
        ServiceKey {
            vip: vip.into(),
            proto,
            port,
        }
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
    /// A backend of the other family than the VIP is refused: the reverse
    /// proxy translates addresses, not families.
    pub fn backend_endpoint(&self, backend: BackendAddr) -> Result<SocketAddr, ConfigError> {
        crate::core::same_family("backend", backend.ip, self.vip)?;
        let port = match self.proto {
            Protocol::Icmp => 0,
            _ => backend.port.unwrap_or(self.port),
        };
        if port == 0 && self.proto != Protocol::Icmp {
            return Err(ConfigError::ZeroPort(*self));
        }
        Ok(SocketAddr::new(backend.ip, port))
    }
}

/// In one word for an IPv4 VIP: a new flow looks its service up by key,
/// and a derived hash would feed the address's variant, length and bytes,
/// and the protocol's variant, to the hasher one by one.
impl Hash for ServiceKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let tail = u64::from(self.port) << 8 | u64::from(self.proto.number());
        match self.vip {
            IpAddr::V4(vip) => state.write_u64(u64::from(u32::from(vip)) << 24 | tail),
            IpAddr::V6(vip) => {
                state.write_u128(u128::from(vip));
                state.write_u64(tail);
            }
        }
    }
}

impl fmt::Display for ServiceKey {
    /// `10.0.0.1:80/tcp`, `[fd0d::13]:80/tcp`, `fd0d::13/icmp`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.proto {
            Protocol::Icmp => write!(f, "{}/icmp", self.vip),
            proto => write!(f, "{}/{}", SocketAddr::new(self.vip, self.port), proto),
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
    expected: "VIP:PORT/tcp, VIP:PORT/udp or VIP/icmp ([IPv6]:PORT/tcp)",
};

/// An address as written alone: `10.0.0.1`, `fd0d::13` or `[fd0d::13]`.
fn parse_ip(s: &str) -> Option<IpAddr> {
    let bare = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(s);
    bare.parse().ok()
}

/// An address and port: `10.0.0.1:80` or `[fd0d::13]:80`.
fn parse_endpoint(s: &str) -> Option<(IpAddr, u16)> {
    let endpoint: SocketAddr = s.parse().ok()?;
    Some((endpoint.ip(), endpoint.port()))
}

/// The one parser of `VIP:PORT/PROTO` (and `VIP/icmp`, and the path form
/// `VIP/PROTO/PORT`), `all` among the protocols. An IPv6 VIP takes
/// brackets before a port, `[fd0d::13]:80/tcp`, as in a URL.
pub(super) fn parse_service(s: &str) -> Option<(IpAddr, u16, ServiceProtocol)> {
    let protocol = |name: &str| match name {
        "tcp" => Some(ServiceProtocol::Tcp),
        "udp" => Some(ServiceProtocol::Udp),
        "icmp" => Some(ServiceProtocol::Icmp),
        "all" => Some(ServiceProtocol::All),
        _ => None,
    };
    let parts: Vec<&str> = s.split('/').collect();
    match parts[..] {
        [addr, "icmp"] => {
            let vip = parse_ip(addr).or_else(|| parse_endpoint(addr).map(|(ip, _)| ip))?;
            Some((vip, 0, ServiceProtocol::Icmp))
        }
        [vip, proto @ ("tcp" | "udp" | "all"), port] => {
            Some((parse_ip(vip)?, port.parse().ok()?, protocol(proto)?))
        }
        [addr, proto] => {
            let (vip, port) = parse_endpoint(addr)?;
            Some((vip, port, protocol(proto)?))
        }
        _ => None,
    }
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

/// Names a backend within its service: `IP`, on the service's port, or
/// `IP:PORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BackendAddr {
    /// Its address.
    pub ip: IpAddr,
    /// Its port, when it is not the service's.
    pub port: Option<u16>,
}

impl From<SocketAddrV4> for BackendAddr {
    fn from(addr: SocketAddrV4) -> Self {
        SocketAddr::V4(addr).into()
    }
}

impl From<SocketAddrV6> for BackendAddr {
    fn from(addr: SocketAddrV6) -> Self {
        SocketAddr::V6(addr).into()
    }
}

impl From<SocketAddr> for BackendAddr {
    fn from(addr: SocketAddr) -> Self {
        BackendAddr {
            ip: addr.ip(),
            port: Some(addr.port()),
        }
    }
}

impl fmt::Display for BackendAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}", SocketAddr::new(self.ip, port)),
            None => write!(f, "{}", self.ip),
        }
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
        if let Some((ip, port)) = parse_endpoint(s) {
            return Ok(BackendAddr {
                ip,
                port: Some(port),
            });
        }
        let ip = parse_ip(s).ok_or(KeyParseError {
            expected: "IP or IP:PORT ([IPv6]:PORT)",
        })?;
        Ok(BackendAddr { ip, port: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BackendConfig, ServiceConfig};
    use std::net::Ipv4Addr;

    #[test]
    fn service_keys_parse_and_print() {
        for text in [
            "10.0.0.1:80/tcp",
            "10.0.0.1:53/udp",
            "10.0.0.1/icmp",
            "[fd0d::13]:80/tcp",
            "[fd0d::13]:53/udp",
            "fd0d::13/icmp",
        ] {
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
        assert_eq!(
            "[fd0d::13]/icmp"
                .parse::<ServiceKey>()
                .map(|k| k.to_string()),
            Ok("fd0d::13/icmp".to_owned())
        );
        assert_eq!(
            "[fd0d::13]:80/icmp".parse::<ServiceKey>().map(|k| k.path()),
            Ok("fd0d::13/icmp".to_owned())
        );
        for bad in [
            "fd0d::13:80/tcp",
            "[fd0d::13]/tcp",
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
        let v6: ServiceKey = "[fd0d::13]:80/tcp".parse().unwrap();
        for (text, endpoint) in [
            ("fd00::2", "[fd00::2]:80"),
            ("[fd00::2]", "[fd00::2]:80"),
            ("[fd00::2]:8080", "[fd00::2]:8080"),
        ] {
            let addr: BackendAddr = text.parse().unwrap();
            assert_eq!(v6.backend_endpoint(addr).unwrap().to_string(), endpoint);
        }
        assert_eq!(
            "[fd00::2]:8080".parse::<BackendAddr>().unwrap().to_string(),
            "[fd00::2]:8080"
        );
        let weighted6: BackendConfig = "[fd00::9]:5353@4".parse().unwrap();
        assert_eq!((weighted6.port, weighted6.weight), (Some(5353), 4));
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
}
