//! [`IpCidr`]: an address (IPv4 or IPv6) with the prefix length of its
//! network.

use core::fmt;
use core::str::FromStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
        if self.ip.is_ipv4() != other.is_ipv4() {
            return false;
        }
        let host = self.host_mask();
        bits_of(self.ip) & !host == bits_of(other) & !host
    }

    /// True when the two networks share an address (never across
    /// families).
    pub fn overlaps(&self, other: &IpCidr) -> bool {
        self.contains(other.ip) || other.contains(self.ip)
    }

    /// The address at `addr`'s place in this network moved to the same
    /// place in `into` (its host bits kept, its network bits replaced):
    /// None when `addr` is not in this network, or `into` is of the other
    /// family. With a longer prefix in `into`, host bits it does not have
    /// are lost.
    pub fn translate(&self, addr: IpAddr, into: &IpCidr) -> Option<IpAddr> {
        if !self.contains(addr) || into.ip.is_ipv4() != addr.is_ipv4() {
            return None;
        }
        let host = into.host_mask();
        let moved = (bits_of(into.ip) & !host) | (bits_of(addr) & host);
        Some(match addr {
            // The IPv4 bits are the low 32 of `moved`.
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(moved as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(moved)),
        })
    }

    /// The host part's bits, as [`bits_of`] places them.
    fn host_mask(&self) -> u128 {
        let bits = if self.ip.is_ipv4() { 32 } else { 128 };
        let host_bits = bits - u32::from(self.prefix_len.min(bits as u8));
        1u128
            .checked_shl(host_bits)
            .map_or(u128::MAX, |one| one - 1)
    }
}

/// An address as a number (an IPv4 one in the low 32 bits).
fn bits_of(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
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
