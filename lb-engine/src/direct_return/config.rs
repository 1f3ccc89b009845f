//! What a [`DirectReturn`](super::DirectReturn) is configured with, and
//! how its one service is named: by its VIPs.

use core::fmt;
use core::str::FromStr;
use std::net::IpAddr;

use lb_algos::Policy;
use lb_packet::MacAddr;
use serde::{Deserialize, Serialize};

use crate::{
    HealthCheck, HealthSettings, KeyParseError, SelectionSettings, SessionSettings, Weighted,
};

fn default_weight() -> u32 {
    1
}

fn default_policy() -> Policy {
    Policy::SrcIpHash
}

/// A server behind a [`DirectReturn`](super::DirectReturn) load balancer,
/// known by its MAC. It must hold every VIP on a loopback interface and not
/// answer ARP for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DsrBackendConfig {
    /// Its MAC address.
    pub mac: MacAddr,
    /// Relative share of new flows (default 1); 0 drains it.
    #[serde(default = "default_weight")]
    pub weight: u32,
}

/// Configuration of a [`DirectReturn`](super::DirectReturn) engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectReturnConfig {
    /// The virtual IPs answered for (any number).
    pub vips: Vec<IpAddr>,
    /// The MAC clients reach the VIPs at: ARP replies carry it, and frames
    /// to it are balanced.
    pub mac: MacAddr,
    /// Source MAC of frames sent out of the backend port: that port's own
    /// address. It must differ from `mac` when both ports share a bridge,
    /// or the bridge learns the frontend's MAC on the backend port. Defaults
    /// to `mac`, right for a one-armed engine.
    #[serde(default)]
    pub backend_port_mac: Option<MacAddr>,
    /// The servers.
    #[serde(default)]
    pub backends: Vec<DsrBackendConfig>,
    /// How new flows pick a server (default source-IP hash).
    #[serde(default = "default_policy")]
    pub policy: Policy,
    /// One port for both sides.
    #[serde(default)]
    pub one_armed: bool,
    /// The session table.
    #[serde(default)]
    pub sessions: SessionSettings,
    /// Backend selection.
    #[serde(default)]
    pub selection: SelectionSettings,
    /// Health checks: the probe source, passive detection, panic mode.
    #[serde(default)]
    pub health: HealthSettings,
    /// Active probes of the servers, sent to the first VIP at each
    /// server's MAC (the path data takes); without it, passive detection
    /// alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
}

/// The one service of a direct-return engine, as configuration: its VIPs
/// and the servers behind them all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DsrServiceConfig {
    /// The VIPs.
    pub vips: VipList,
    /// How new flows pick a server.
    pub policy: Policy,
    /// The servers.
    pub backends: Vec<DsrBackendConfig>,
}

/// The VIPs of a direct-return engine, sorted and without repeats: the
/// name of its one service, written comma-separated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct VipList(Vec<IpAddr>);

impl VipList {
    /// The list of `vips`, sorted, each once.
    pub fn new<A: Into<IpAddr>>(vips: impl IntoIterator<Item = A>) -> Self {
        let mut vips: Vec<IpAddr> = vips.into_iter().map(Into::into).collect();
        vips.sort_unstable();
        vips.dedup();
        VipList(vips)
    }

    /// The VIPs, sorted.
    pub fn as_slice(&self) -> &[IpAddr] {
        &self.0
    }

    /// True if `vip` is one of them.
    #[inline]
    pub fn contains(&self, vip: IpAddr) -> bool {
        self.0.binary_search(&vip).is_ok()
    }

    /// The list with `vip` too.
    pub(crate) fn with(&self, vip: IpAddr) -> Self {
        VipList::new(self.0.iter().copied().chain([vip]))
    }

    /// The list without `vip`.
    pub(crate) fn without(&self, vip: IpAddr) -> Self {
        VipList(self.0.iter().copied().filter(|&v| v != vip).collect())
    }
}

impl fmt::Display for VipList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, vip) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            write!(f, "{vip}")?;
        }
        Ok(())
    }
}

impl FromStr for VipList {
    type Err = KeyParseError;

    /// `VIP[,VIP...]`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let vips = s
            .split(',')
            .filter(|vip| !vip.is_empty())
            .map(|vip| vip.trim().parse())
            .collect::<Result<Vec<IpAddr>, _>>()
            .map_err(|_| KeyParseError {
                expected: "VIP[,VIP...]",
            })?;
        Ok(VipList::new(vips))
    }
}

impl Serialize for VipList {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for VipList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(VipList::new(Vec::<IpAddr>::deserialize(deserializer)?))
    }
}

impl Weighted for DsrBackendConfig {
    fn weight(&self) -> u32 {
        self.weight
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn vip_lists_are_sorted_sets() {
        let list: VipList = "10.0.0.2,10.0.0.1,10.0.0.2".parse().unwrap();
        assert_eq!(list.to_string(), "10.0.0.1,10.0.0.2");
        assert!(list.contains(Ipv4Addr::new(10, 0, 0, 1).into()));
        assert_eq!(
            list.without(Ipv4Addr::new(10, 0, 0, 1).into()).to_string(),
            "10.0.0.2"
        );
        assert_eq!(
            list.with(Ipv4Addr::new(10, 0, 0, 0).into()).as_slice()[0],
            IpAddr::from(Ipv4Addr::new(10, 0, 0, 0))
        );
        assert!("10.0.0.1,nope".parse::<VipList>().is_err());
        assert_eq!("".parse::<VipList>(), Ok(VipList::default()));
    }
}
