//! Load balancers side by side behind ECMP routes that BGP keeps, the way
//! Maglev and Katran scale out: BIRD on a router on each side, a BGP
//! session over each load balancer (which passes it through, as any
//! traffic not to a VIP), each session watched by BFD.
//!
//! ```text
//!                       ┌─ 10.1.1.1 ── lb1 ── 10.1.1.2 ─┐
//!  client 10.0.0.2 ── r1 ─ 10.1.2.1 ── lb2 ── 10.1.2.2 ─ r2 192.168.1.1 ── br0 ─┬─ b1 192.168.1.2
//!                       └─ 10.1.3.1 ── lb3 ── 10.1.3.2 ─┘                       ├─ b2 192.168.1.3
//!                                                                               └─ ...
//! ```
//!
//! r2 announces the VIP to r1 over every session, r1 the client subnet to
//! r2; both install the routes with a next hop per live session, and hash
//! each flow's 5-tuple over them (`fib_multipath_hash_policy=1`), so a
//! request and its reply usually cross different load balancers. When a
//! load balancer stops, BFD (100 ms, three missed) takes its session down
//! and both routers withdraw its path; when it runs again, the path comes
//! back.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::bail;
use lb_datapath::DatapathKind;

use crate::{Host, Lab, Wire};

/// The client subnet r1 announces.
const CLIENT_NET: &str = "10.0.0.0/24";

/// One load balancer's place: its namespace and its two ports.
#[derive(Debug, Clone)]
pub struct Path {
    /// Where it runs.
    pub ns: String,
    /// Its port towards r1 (the clients).
    pub front: Wire,
    /// Its port towards r2 (the backends).
    pub back: Wire,
}

/// The topology above, on veths (the pnet datapath): build it, start a
/// load balancer on each path, then [`start_bgp`](Self::start_bgp).
#[derive(Debug, Clone)]
pub struct EcmpNetwork {
    /// The client's namespace.
    pub client: String,
    /// The router on the clients' side.
    pub r1: String,
    /// The router on the backends' side.
    pub r2: String,
    /// The paths, one load balancer each.
    pub paths: Vec<Path>,
    /// The backends, `b1` at 192.168.1.2 onwards.
    pub backends: Vec<Host>,
}

/// BIRD's configuration for a router of AS `local` peering with AS
/// `remote` at `neighbors`, announcing `announce`.
fn bird_config(
    router_id: &str,
    local: u32,
    remote: u32,
    neighbors: &[String],
    announce: &str,
) -> String {
    let sessions: String = neighbors
        .iter()
        .enumerate()
        .map(|(n, neighbor)| {
            format!("protocol bgp path{n} from lb_path {{ neighbor {neighbor}; }}\n")
        })
        .collect();
    format!(
        "router id {router_id};\n\
         log stderr all;\n\
         protocol device {{ scan time 1; }}\n\
         protocol static {{ ipv4; route {announce} blackhole; }}\n\
         protocol kernel {{ ipv4 {{ import none; export where source = RTS_BGP; }}; merge paths on; }}\n\
         protocol bfd {{ interface \"*\" {{ min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }}; }}\n\
         template bgp lb_path {{\n  local as {local}; neighbor as {remote}; bfd on;\n  \
         hold time 3; keepalive time 1; connect retry time 1; error wait time 1, 2;\n  \
         ipv4 {{ import all; export where source = RTS_STATIC; }};\n}}\n\
         {sessions}"
    )
}

/// The client at 10.0.0.2 behind router r1 at 10.0.0.1, which forwards
/// and hashes each flow's 5-tuple over the next hops of a multipath route;
/// their namespaces.
pub(crate) fn client_and_router(lab: &mut Lab) -> anyhow::Result<(String, String)> {
    let (client, r1) = (lab.netns("client")?, lab.netns("r1")?);
    let (client_if, r1_if) = (lab.name("c"), lab.name("r"));
    lab.veth((&client, &client_if), (&r1, &r1_if))?;
    lab.ip(&client, &["addr", "add", "10.0.0.2/24", "dev", &client_if])?;
    lab.ip(&client, &["route", "add", "default", "via", "10.0.0.1"])?;
    lab.ip(&r1, &["addr", "add", "10.0.0.1/24", "dev", &r1_if])?;
    router(lab, &r1)?;
    Ok((client, r1))
}

/// Makes `ns` a router that hashes each flow's 5-tuple over a multipath
/// route's next hops, and lets replies come in on another path than
/// their requests left on.
fn router(lab: &Lab, ns: &str) -> anyhow::Result<()> {
    for setting in [
        "net.ipv4.ip_forward=1",
        "net.ipv4.fib_multipath_hash_policy=1",
        "net.ipv4.conf.all.rp_filter=0",
        "net.ipv4.conf.default.rp_filter=0",
    ] {
        lab.exec(ns, &["sysctl", "-qw", setting])?;
    }
    Ok(())
}

/// A LAN (a bridge in namespace `lan`) on router `r1` at `addr` (with
/// prefix); r1's interface on it.
pub(crate) fn lan_on_router(
    lab: &mut Lab,
    r1: &str,
    lan: &str,
    addr: &str,
) -> anyhow::Result<String> {
    lab.bridge(lan)?;
    let (router_end, lan_end) = (lab.name("rl"), lab.name("lr"));
    lab.veth((r1, &router_end), (lan, &lan_end))?;
    lab.ip(lan, &["link", "set", &lan_end, "master", "br0"])?;
    lab.ip(r1, &["addr", "add", addr, "dev", &router_end])?;
    Ok(router_end)
}

impl EcmpNetwork {
    /// The namespaces, routers, backends, and a path for each of
    /// `instances` load balancers, wired but not routed yet.
    pub fn build(lab: &mut Lab, instances: usize, backends: usize) -> anyhow::Result<Self> {
        let (client, r1) = client_and_router(lab)?;
        let r2 = lab.netns("r2")?;
        router(lab, &r2)?;
        let mut paths = Vec::with_capacity(instances);
        for n in 1..=instances {
            let ns = lab.netns(&format!("lb{n}"))?;
            let front = lab.wire(DatapathKind::Pnet, &lab.name(&format!("f{n}")), &r1);
            let back = lab.wire(DatapathKind::Pnet, &lab.name(&format!("b{n}")), &r2);
            lab.connect_before(DatapathKind::Pnet, &ns, &[&front, &back])?;
            lab.ip(
                &r1,
                &[
                    "addr",
                    "add",
                    &format!("10.1.{n}.1/24"),
                    "dev",
                    &front.peer_if,
                ],
            )?;
            lab.ip(
                &r2,
                &[
                    "addr",
                    "add",
                    &format!("10.1.{n}.2/24"),
                    "dev",
                    &back.peer_if,
                ],
            )?;
            paths.push(Path { ns, front, back });
        }
        lab.bridge(&r2)?;
        lab.ip(&r2, &["addr", "add", "192.168.1.1/24", "dev", "br0"])?;
        let mut hosts = Vec::with_capacity(backends);
        for n in 1..=backends {
            let addr = Ipv4Addr::new(192, 168, 1, u8::try_from(n + 1)?);
            let (ns, _) = lab.host_on_bridge(&r2, &format!("s{n}"), &format!("{addr}/24"))?;
            lab.ip(&ns, &["route", "add", "default", "via", "192.168.1.1"])?;
            hosts.push(Host { ns, addr });
        }
        Ok(EcmpNetwork {
            client,
            r1,
            r2,
            paths,
            backends: hosts,
        })
    }

    /// Starts BIRD on both routers: r2 announces `vip`, r1 the client
    /// subnet, over a session per path. Returns once r1 routes `vip` over
    /// every path (within 20 s).
    pub fn start_bgp(&self, lab: &mut Lab, vip: Ipv4Addr) -> anyhow::Result<()> {
        let count = self.paths.len();
        let peers =
            |end: u8| -> Vec<String> { (1..=count).map(|n| format!("10.1.{n}.{end}")).collect() };
        let vip_net = format!("{vip}/32");
        for (router, id, local, remote, neighbors, announce) in [
            (&self.r1, "10.9.0.1", 65001, 65002, peers(2), CLIENT_NET),
            (
                &self.r2,
                "10.9.0.2",
                65002,
                65001,
                peers(1),
                vip_net.as_str(),
            ),
        ] {
            let name = if router == &self.r1 { "r1" } else { "r2" };
            let config = lab.write_file(
                &format!("bird-{name}.conf"),
                &bird_config(id, local, remote, &neighbors, announce),
            )?;
            let (config, socket) = (
                config.to_string_lossy().into_owned(),
                lab.path(&format!("bird-{name}.ctl"))
                    .to_string_lossy()
                    .into_owned(),
            );
            let pid = lab
                .path(&format!("bird-{name}.pid"))
                .to_string_lossy()
                .into_owned();
            lab.spawn(
                router,
                &["bird", "-f", "-c", &config, "-s", &socket, "-P", &pid],
            )?;
        }
        self.wait_paths(lab, vip, count, Duration::from_secs(20))?;
        Ok(())
    }

    /// How many next hops `router` routes `prefix` over now.
    pub fn next_hops(&self, lab: &Lab, router: &str, prefix: &str) -> anyhow::Result<usize> {
        let routes = lab.exec(router, &["ip", "route", "show", prefix])?;
        let hops = routes.matches("nexthop via").count();
        Ok(if hops == 0 && routes.contains(" via ") {
            1
        } else {
            hops
        })
    }

    /// Waits until both routers route over `count` paths (r1 to `vip`, r2
    /// to the clients); how long that took.
    pub fn wait_paths(
        &self,
        lab: &Lab,
        vip: Ipv4Addr,
        count: usize,
        within: Duration,
    ) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let vip_net = format!("{vip}/32");
        loop {
            let (forward, back) = (
                self.next_hops(lab, &self.r1, &vip_net)?,
                self.next_hops(lab, &self.r2, CLIENT_NET)?,
            );
            if (forward, back) == (count, count) {
                return Ok(started.elapsed());
            }
            if started.elapsed() > within {
                bail!("routes over {forward} and {back} paths, not {count}, after {within:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
