//! One-armed NAT proxies side by side behind one ECMP route to a shared
//! VIP, over a resilient next-hop group (a dead proxy's flows move, the
//! others' stay where they are).
//!
//! ```text
//!  client 10.0.0.2 ── r1 10.2.0.1 ── lan ─┬─ proxy1 10.2.0.11 ─┐
//!                                         ├─ proxy2 10.2.0.12  ├─ VIP, routed to each
//!                                         ├─ proxy3 10.2.0.13 ─┘
//!                                         └─ d1 10.2.0.21, d2 ... (destinations)
//! ```
//!
//! Each proxy sends its connections on from its own address, so the
//! destinations' replies come back to it: a connection lives on the proxy
//! that took it, and dies with it. The route is static; [`route`] sets its
//! paths, as a health checker on the router would.
//!
//! [`route`]: ProxyEcmpNetwork::route

use std::net::Ipv4Addr;

use lb_datapath::DatapathKind;

use crate::ecmp::{client_and_router, lan_on_router};
use crate::{Host, Lab, Wire};

/// Buckets of the resilient group: flows hash to a bucket, a bucket to a
/// proxy, and only a removed proxy's buckets move.
const BUCKETS: &str = "64";

/// The topology above, on veths (the pnet datapath): build it, start a
/// proxy on each wire, then [`route`](Self::route) the VIP.
#[derive(Debug, Clone)]
pub struct ProxyEcmpNetwork {
    /// The client's namespace.
    pub client: String,
    /// The router.
    pub r1: String,
    /// Each proxy's namespace, its wire to the LAN and its address.
    pub proxies: Vec<(Host, Wire)>,
    /// The destinations.
    pub destinations: Vec<Host>,
}

impl ProxyEcmpNetwork {
    /// The namespaces, the destinations, and a wire for each of `instances`
    /// proxies (at 10.2.0.11 onwards); the VIP not routed yet.
    pub fn build(lab: &mut Lab, instances: usize, destinations: usize) -> anyhow::Result<Self> {
        let (client, r1) = client_and_router(lab)?;
        let lan = lab.netns("lan")?;
        let router_end = lan_on_router(lab, &r1, &lan, "10.2.0.1/24")?;
        let mut proxies = Vec::with_capacity(instances);
        for n in 1..=instances {
            let ns = lab.netns(&format!("proxy{n}"))?;
            let wire = lab.wire(DatapathKind::Pnet, &lab.name(&format!("p{n}")), &lan);
            lab.connect_before(DatapathKind::Pnet, &ns, &[&wire])?;
            lab.ip(&lan, &["link", "set", &wire.peer_if, "master", "br0"])?;
            let addr = Ipv4Addr::new(10, 2, 0, u8::try_from(10 + n)?);
            let gateway = format!("10.2.0.{}", 10 + n);
            lab.ip(
                &r1,
                &[
                    "nexthop",
                    "add",
                    "id",
                    &n.to_string(),
                    "via",
                    &gateway,
                    "dev",
                    &router_end,
                ],
            )?;
            proxies.push((Host { ns, addr }, wire));
        }
        let mut hosts = Vec::with_capacity(destinations);
        for n in 1..=destinations {
            let addr = Ipv4Addr::new(10, 2, 0, u8::try_from(20 + n)?);
            let (ns, _) = lab.host_on_bridge(&lan, &format!("d{n}"), &format!("{addr}/24"))?;
            hosts.push(Host { ns, addr });
        }
        Ok(ProxyEcmpNetwork {
            client,
            r1,
            proxies,
            destinations: hosts,
        })
    }

    /// Routes `vip` on r1 over the proxies `live` (indices), through one
    /// resilient next-hop group: a proxy left out loses its buckets to
    /// the others; the others keep theirs.
    pub fn route(&self, lab: &Lab, vip: Ipv4Addr, live: &[usize]) -> anyhow::Result<()> {
        let group: Vec<String> = live.iter().map(|index| (index + 1).to_string()).collect();
        let group = group.join("/");
        let exists = lab
            .exec(&self.r1, &["ip", "nexthop", "show", "id", "100"])
            .is_ok();
        let verb = if exists { "replace" } else { "add" };
        lab.ip(
            &self.r1,
            &[
                "nexthop",
                verb,
                "id",
                "100",
                "group",
                &group,
                "type",
                "resilient",
                "buckets",
                BUCKETS,
            ],
        )?;
        if !exists {
            let vip = format!("{vip}/32");
            lab.ip(&self.r1, &["route", "add", &vip, "nhid", "100"])?;
        }
        Ok(())
    }
}
