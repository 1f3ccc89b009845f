//! [`IpCidr`]: an address (IPv4 or IPv6) with the prefix length of its
//! network.

use core::fmt;
use core::str::FromStr;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// An address and the prefix length of its network, written `IP/PREFIX`
/// (`10.0.0.253/24`, `fd00::253/64`) in configuration and on command lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IpCidr {
    /// The address.
    pub ip: IpAddr,
    /// The prefix length: 0 to 32 for IPv4, to 128 for IPv6.
    pub prefix_len: u8,
}

impl IpCidr {
    /// True when `other` is in this address's network (never for an
    /// address of the other family).
    pub fn contains(&self, other: IpAddr) -> bool {
        let (bits, mine, theirs) = match (self.ip, other) {
            (IpAddr::V4(mine), IpAddr::V4(theirs)) => (
                32,
                u128::from(u32::from(mine)),
                u128::from(u32::from(theirs)),
            ),
            (IpAddr::V6(mine), IpAddr::V6(theirs)) => (128, u128::from(mine), u128::from(theirs)),
            _ => return false,
        };
        let host_bits = bits - u32::from(self.prefix_len);
        mine.checked_shr(host_bits).unwrap_or(0) == theirs.checked_shr(host_bits).unwrap_or(0)
    }
}

impl FromStr for IpCidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || {
            format!(
                "invalid address {s:?}; expected IP/PREFIX like 192.168.0.100/24 or fd00::100/64"
            )
        };
        let (ip, prefix) = s.split_once('/').ok_or_else(invalid)?;
        let prefix_len: u8 = prefix.parse().map_err(|_| invalid())?;
        let ip: IpAddr = ip.parse().map_err(|_| invalid())?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if prefix_len > max {
            return Err(invalid());
        }
        Ok(IpCidr { ip, prefix_len })
    }
}

impl TryFrom<String> for IpCidr {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<IpCidr> for String {
    fn from(cidr: IpCidr) -> Self {
        cidr.to_string()
    }
}

impl fmt::Display for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.ip, self.prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn parses_prints_and_contains() {
        let cidr: IpCidr = "192.168.0.100/24".parse().unwrap();
        assert_eq!(
            (cidr.ip, cidr.prefix_len),
            (Ipv4Addr::new(192, 168, 0, 100).into(), 24)
        );
        assert_eq!(cidr.to_string(), "192.168.0.100/24");
        assert!(cidr.contains(Ipv4Addr::new(192, 168, 0, 1).into()));
        assert!(!cidr.contains(Ipv4Addr::new(192, 168, 1, 1).into()));
        let everything: IpCidr = "10.0.0.1/0".parse().unwrap();
        assert!(everything.contains(Ipv4Addr::new(203, 0, 113, 9).into()));
        let v6: IpCidr = "fd00::100/64".parse().unwrap();
        assert_eq!(v6.to_string(), "fd00::100/64");
        assert!(v6.contains("fd00::1:2".parse().unwrap()));
        assert!(!v6.contains("fd01::1".parse().unwrap()));
        assert!(!v6.contains(Ipv4Addr::new(192, 168, 0, 1).into()));
        assert!(!cidr.contains("::ffff:192.168.0.1".parse().unwrap()));
        let all6: IpCidr = "::/0".parse().unwrap();
        assert!(all6.contains("2001:db8::1".parse().unwrap()));
        for bad in [
            "192.168.0.100",
            "192.168.0.100/33",
            "x/24",
            "1.2.3.4/-1",
            "fd00::1/129",
        ] {
            assert!(
                bad.parse::<IpCidr>().unwrap_err().contains("IP/PREFIX"),
                "{bad}"
            );
        }
    }
}
