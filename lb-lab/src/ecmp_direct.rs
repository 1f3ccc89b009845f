//! Direct-return load balancers side by side behind one ECMP route: the
//! router hashes each flow over a link to each, which answers ARP for the
//! VIP there, and the servers, holding the VIP on loopback, reply to the
//! clients through the router directly.
//!
//! ```text
//!                          ┌─ dsr1 ─┐
//!  client 10.0.0.2 ── r1 ──┼─ dsr2 ─┼── lan ─┬─ s1 192.168.1.2 (VIP on lo)
//!                     │    └─ dsr3 ─┘        ├─ s2 192.168.1.3
//!                     └─ 192.168.1.1 ────────┴─ ...
//! ```
//!
//! A direct-return load balancer has no address of its own to speak BGP
//! or BFD from (it answers ARP for its VIPs only, and passes nothing
//! through), so the route is static here: [`route`](DirectEcmpNetwork::route)
//! sets its paths, as a health checker on the router would.

use std::net::Ipv4Addr;

use lb_datapath::DatapathKind;

use crate::ecmp::{client_and_router, lan_on_router};
use crate::{Host, Lab, Path};

/// A server of the LAN: its namespace, address and MAC.
#[derive(Debug, Clone)]
pub struct LanServer {
    /// Its namespace and address.
    pub host: Host,
    /// Its MAC, which the load balancers send its flows to.
    pub mac: String,
}

/// The topology above, on veths (the pnet datapath): build it, start a
/// load balancer on each path, then [`route`](Self::route) the VIP.
#[derive(Debug, Clone)]
pub struct DirectEcmpNetwork {
    /// The client's namespace.
    pub client: String,
    /// The router.
    pub r1: String,
    /// The servers' LAN (a bridge).
    pub lan: String,
    /// The paths: a load balancer each, its front towards r1, its back on
    /// the LAN.
    pub paths: Vec<Path>,
    /// The servers.
    pub servers: Vec<LanServer>,
}

impl DirectEcmpNetwork {
    /// The namespaces, the servers (holding `vip`), and a path for each of
    /// `instances` load balancers; `vip` not routed yet.
    pub fn build(
        lab: &mut Lab,
        instances: usize,
        servers: usize,
        vip: Ipv4Addr,
    ) -> anyhow::Result<Self> {
        let (client, r1) = client_and_router(lab)?;
        let lan = lab.netns("lan")?;
        lan_on_router(lab, &r1, &lan, "192.168.1.1/24")?;
        let mut hosts = Vec::with_capacity(servers);
        for n in 1..=servers {
            let addr = Ipv4Addr::new(192, 168, 1, u8::try_from(n + 1)?);
            let mac = format!("02:00:00:00:02:{n:02x}");
            let (ns, _) = lab.direct_return_server(
                &lan,
                &format!("s{n}"),
                &format!("{addr}/24"),
                &mac,
                &vip.to_string(),
            )?;
            lab.ip(&ns, &["route", "add", "default", "via", "192.168.1.1"])?;
            hosts.push(LanServer {
                host: Host { ns, addr },
                mac,
            });
        }
        let mut paths = Vec::with_capacity(instances);
        for n in 1..=instances {
            let ns = lab.netns(&format!("dsr{n}"))?;
            let front = lab.wire(DatapathKind::Pnet, &lab.name(&format!("f{n}")), &r1);
            let back = lab.wire(DatapathKind::Pnet, &lab.name(&format!("b{n}")), &lan);
            lab.connect_before(DatapathKind::Pnet, &ns, &[&front, &back])?;
            lab.ip(&lan, &["link", "set", &back.peer_if, "master", "br0"])?;
            paths.push(Path { ns, front, back });
        }
        Ok(DirectEcmpNetwork {
            client,
            r1,
            lan,
            paths,
            servers: hosts,
        })
    }

    /// Routes `vip` on r1 over the paths `live` (indices), one next hop
    /// each: r1 resolves the VIP itself on each link, and the load
    /// balancer there answers.
    pub fn route(&self, lab: &Lab, vip: Ipv4Addr, live: &[usize]) -> anyhow::Result<()> {
        let vip = format!("{vip}/32");
        let mut args = vec!["route", "replace", vip.as_str()];
        for &index in live {
            args.extend(["nexthop", "dev", self.paths[index].front.peer_if.as_str()]);
        }
        lab.ip(&self.r1, &args)
    }
}
