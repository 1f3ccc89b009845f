//! [`Ipv4Cidr`]: an address with the prefix length of its network.

use core::fmt;
use core::str::FromStr;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// An address and the prefix length of its network, written `IP/PREFIX`
/// (`10.0.0.253/24`) in configuration and on command lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv4Cidr {
    /// The address.
    pub ip: Ipv4Addr,
    /// The prefix length, 0 to 32.
    pub prefix_len: u8,
}

impl Ipv4Cidr {
    /// True when `other` is in this address's network.
    pub fn contains(&self, other: Ipv4Addr) -> bool {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.prefix_len))
            .unwrap_or(0);
        u32::from(self.ip) & mask == u32::from(other) & mask
    }
}

impl FromStr for Ipv4Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || format!("invalid address {s:?}; expected IP/PREFIX like 192.168.0.100/24");
        let (ip, prefix) = s.split_once('/').ok_or_else(invalid)?;
        let prefix_len: u8 = prefix.parse().map_err(|_| invalid())?;
        if prefix_len > 32 {
            return Err(invalid());
        }
        Ok(Ipv4Cidr {
            ip: ip.parse().map_err(|_| invalid())?,
            prefix_len,
        })
    }
}

impl TryFrom<String> for Ipv4Cidr {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Ipv4Cidr> for String {
    fn from(cidr: Ipv4Cidr) -> Self {
        cidr.to_string()
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.ip, self.prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prints_and_contains() {
        let cidr: Ipv4Cidr = "192.168.0.100/24".parse().unwrap();
        assert_eq!(
            (cidr.ip, cidr.prefix_len),
            (Ipv4Addr::new(192, 168, 0, 100), 24)
        );
        assert_eq!(cidr.to_string(), "192.168.0.100/24");
        assert!(cidr.contains(Ipv4Addr::new(192, 168, 0, 1)));
        assert!(!cidr.contains(Ipv4Addr::new(192, 168, 1, 1)));
        let everything: Ipv4Cidr = "10.0.0.1/0".parse().unwrap();
        assert!(everything.contains(Ipv4Addr::new(203, 0, 113, 9)));
        for bad in ["192.168.0.100", "192.168.0.100/33", "x/24", "1.2.3.4/-1"] {
            assert!(
                bad.parse::<Ipv4Cidr>().unwrap_err().contains("IP/PREFIX"),
                "{bad}"
            );
        }
    }
}
