//! What a [`NatProxy`](super::NatProxy) is configured with.

use std::net::IpAddr;

use lb_algos::Policy;
use lb_packet::MacAddr;
use lb_session::PortRange;
use serde::{Deserialize, Serialize};

use crate::{
    ArpSettings, HealthCheck, HealthSettings, SelectionSettings, SessionSettings, Weighted,
};

fn default_policy() -> Policy {
    Policy::Random
}

fn default_weight() -> u32 {
    1
}

/// Configuration of a [`NatProxy`](super::NatProxy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatProxyConfig {
    /// The proxy's own address, which clients connect to, and the source
    /// of its connections to destinations.
    pub ip: IpAddr,
    /// More addresses clients connect to, routed to the proxy rather than
    /// answered for in ARP: behind ECMP, one shared by several instances.
    /// Their connections go on from `ip`, this instance's own, so the
    /// destinations' replies come back to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vips: Vec<IpAddr>,
    /// Prefix length of its network: destinations inside are on-link.
    pub prefix_len: u8,
    /// The proxy's MAC.
    pub mac: MacAddr,
    /// Router for destinations off-link.
    #[serde(default)]
    pub gateway: Option<IpAddr>,
    /// Where connections are sent (the port is kept).
    pub dst_addrs: Vec<IpAddr>,
    /// How a connection picks a destination (default random).
    #[serde(default = "default_policy")]
    pub policy: Policy,
    /// Source ports towards destinations (default 32768-60999).
    #[serde(default)]
    pub snat_ports: PortRange,
    /// Ports on the proxy that take no connections.
    #[serde(default)]
    pub denied_ports: Vec<u16>,
    /// The session table.
    #[serde(default)]
    pub sessions: SessionSettings,
    /// Destination selection.
    #[serde(default)]
    pub selection: SelectionSettings,
    /// Next-hop resolution.
    #[serde(default)]
    pub arp: ArpSettings,
    /// Health checks: the probe source (another address the proxy owns),
    /// passive detection, panic mode.
    #[serde(default)]
    pub health: HealthSettings,
    /// Active probes of the destinations; without it, passive detection
    /// alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
}

/// A destination of the proxy: where connections go, on the port they
/// came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationConfig {
    /// Its address.
    pub ip: IpAddr,
    /// Relative share of new connections (default 1); 0 drains it.
    #[serde(default = "default_weight")]
    pub weight: u32,
}

/// The one service of a proxy, as configuration: its address and its
/// destinations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyServiceConfig {
    /// The proxy's address.
    pub ip: IpAddr,
    /// How a connection picks a destination.
    pub policy: Policy,
    /// The destinations.
    pub destinations: Vec<DestinationConfig>,
}

impl Weighted for DestinationConfig {
    fn weight(&self) -> u32 {
        self.weight
    }
}
