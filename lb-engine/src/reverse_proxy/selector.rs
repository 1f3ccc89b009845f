//! [`ServiceSelector`]: a service as the admin API and `lbctl` name it,
//! one protocol's or an `all` service's three halves at once, as
//! Polycube manages a service created with `ALL`.

use core::fmt;
use core::str::FromStr;
use std::net::{IpAddr, SocketAddr};

use super::keys::parse_service;
use super::{ServiceKey, ServiceProtocol};
use crate::KeyParseError;

const SELECTOR_FORMS: KeyParseError = KeyParseError {
    expected: "VIP:PORT/tcp, VIP:PORT/udp, VIP:PORT/all or VIP/icmp ([IPv6]:PORT/tcp)",
};

/// `VIP:PORT/tcp`, `VIP:PORT/udp`, `VIP/icmp`, or `VIP:PORT/all`: the
/// services a change through [`Control`](crate::Control) applies to, all
/// of them or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceSelector {
    /// Virtual IP.
    pub vip: IpAddr,
    /// Port; 0 for ICMP alone.
    pub port: u16,
    /// The protocol, or `all` three.
    pub proto: ServiceProtocol,
}

impl ServiceSelector {
    /// The services it names: one, or an `all` service's TCP, UDP and
    /// ICMP halves.
    pub fn keys(&self) -> impl Iterator<Item = ServiceKey> + '_ {
        self.proto
            .expand()
            .iter()
            .map(|&proto| ServiceKey::new(self.vip, proto, self.port))
    }

    /// As URL path segments: `VIP/PROTO/PORT` (`VIP/all/PORT`), or
    /// `VIP/icmp`.
    pub fn path(&self) -> String {
        match self.proto {
            ServiceProtocol::All => format!("{}/all/{}", self.vip, self.port),
            _ => self.first().path(),
        }
    }

    /// Its first service (TCP for `all`).
    fn first(&self) -> ServiceKey {
        ServiceKey::new(self.vip, self.proto.expand()[0], self.port)
    }
}

impl From<ServiceKey> for ServiceSelector {
    fn from(key: ServiceKey) -> Self {
        ServiceSelector {
            vip: key.vip,
            port: key.port,
            proto: key.proto.into(),
        }
    }
}

impl fmt::Display for ServiceSelector {
    /// As [`ServiceKey`]'s, and `10.0.0.1:80/all`, `[fd0d::13]:80/all`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.proto {
            ServiceProtocol::All => write!(f, "{}/all", SocketAddr::new(self.vip, self.port)),
            _ => self.first().fmt(f),
        }
    }
}

impl FromStr for ServiceSelector {
    type Err = KeyParseError;

    /// A [`ServiceKey`]'s forms, and `VIP:PORT/all` (`VIP/all/PORT`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (vip, port, proto) = parse_service(s).ok_or(SELECTOR_FORMS)?;
        Ok(ServiceSelector { vip, port, proto })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lb_packet::Protocol;

    #[test]
    fn all_names_three_services_and_reads_back() {
        let all: ServiceSelector = "10.0.0.1:80/all".parse().unwrap();
        let keys: Vec<String> = all.keys().map(|k| k.to_string()).collect();
        assert_eq!(
            keys,
            ["10.0.0.1:80/tcp", "10.0.0.1:80/udp", "10.0.0.1/icmp"]
        );
        assert_eq!(all.to_string(), "10.0.0.1:80/all");
        assert_eq!(all.path(), "10.0.0.1/all/80");
        assert_eq!(all.path().parse::<ServiceSelector>(), Ok(all));
        let v6: ServiceSelector = "[fd0d::13]:80/all".parse().unwrap();
        assert_eq!(v6.to_string(), "[fd0d::13]:80/all");
        let tcp = ServiceKey::new(IpAddr::from([10, 0, 0, 1]), Protocol::Tcp, 80);
        let one = ServiceSelector::from(tcp);
        assert_eq!(one.to_string(), tcp.to_string());
        assert_eq!(one.path(), tcp.path());
        assert_eq!(one.keys().collect::<Vec<_>>(), [tcp]);
        assert_eq!(
            "10.0.0.1/icmp"
                .parse::<ServiceSelector>()
                .unwrap()
                .to_string(),
            "10.0.0.1/icmp"
        );
        assert!("10.0.0.1:80/sctp".parse::<ServiceSelector>().is_err());
    }
}
