//! Polycube's `test_srcIpRewrite.sh` topology: hosts that are clients
//! and backends at once, each behind a load balancer of its own, the
//! load balancers' backend ports on one bridge with a router.

use std::net::Ipv4Addr;

use lb_datapath::DatapathKind;

use crate::{Host, Lab, Wire};

/// `n` hosts, host `i` at 10.0.0.`i`/24 behind load balancer `i` (its
/// frontend), every load balancer's backend port on bridge `br0`, and a
/// router on the bridge at 10.0.0.254/24 and 20.0.0.254/24, every host's
/// default route:
///
/// ```text
///  h1 10.0.0.1 ── lb1 ──┐
///  h2 10.0.0.2 ── lb2 ──┼── br0 ── router 10.0.0.254, 20.0.0.254
///  h3 10.0.0.3 ── lb3 ──┘
/// ```
///
/// Backends reach a client's rewritten address (20.0.0.x) only through the
/// router, so their replies come back over the bridge to the load
/// balancer that rewrote it. [`build`](Self::build) makes everything but
/// the load balancers; start load balancer `i` on `fronts[i]` and
/// `backs[i]` in [`lb_ns`](Self::lb_ns), then [`attach`](Self::attach).
#[derive(Debug, Clone)]
pub struct SharedBridge {
    /// Where the load balancers run.
    pub lb_ns: String,
    /// The namespace of the bridge.
    pub lan: String,
    /// The router's namespace.
    pub router: String,
    /// The hosts, 10.0.0.1 onwards.
    pub hosts: Vec<Host>,
    /// Each load balancer's frontend wire, towards its host.
    pub fronts: Vec<Wire>,
    /// Each load balancer's backend wire, towards the bridge.
    pub backs: Vec<Wire>,
    datapath: DatapathKind,
}

impl SharedBridge {
    /// The router's address on the hosts' network.
    pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);

    /// `n` hosts and their load balancers' wires for `datapath`.
    pub fn build(lab: &mut Lab, datapath: DatapathKind, n: usize) -> anyhow::Result<Self> {
        let (lb_ns, lan) = (lab.netns("lb")?, lab.netns("lan")?);
        lab.bridge(&lan)?;
        let (router, router_if) = lab.host_on_bridge(&lan, "router", "10.0.0.254/24")?;
        lab.ip(
            &router,
            &["addr", "add", "20.0.0.254/24", "dev", &router_if],
        )?;
        // It forwards out of the interface it heard on: a redirect would
        // send a host straight to another host's MAC, past its load
        // balancer.
        lab.exec(
            &router,
            &[
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
                "net.ipv4.conf.all.send_redirects=0",
                &format!("net.ipv4.conf.{router_if}.send_redirects=0"),
            ],
        )?;
        let (mut hosts, mut fronts, mut backs) = (Vec::new(), Vec::new(), Vec::new());
        for i in 1..=n {
            let ns = lab.netns(&format!("h{i}"))?;
            fronts.push(lab.wire(datapath, &lab.name(&format!("f{i}")), &ns));
            backs.push(lab.wire(datapath, &lab.name(&format!("b{i}")), &lan));
            hosts.push(Host {
                ns,
                addr: Ipv4Addr::new(10, 0, 0, u8::try_from(i)?),
            });
        }
        let wires: Vec<&Wire> = fronts.iter().chain(&backs).collect();
        lab.connect_before(datapath, &lb_ns, &wires)?;
        Ok(SharedBridge {
            lb_ns,
            lan,
            router,
            hosts,
            fronts,
            backs,
            datapath,
        })
    }

    /// Finishes wiring once the load balancers run: backend ports on the
    /// bridge, the hosts' addresses and default routes.
    pub fn attach(&self, lab: &mut Lab) -> anyhow::Result<()> {
        let wires: Vec<&Wire> = self.fronts.iter().chain(&self.backs).collect();
        lab.connect_after(self.datapath, &self.lb_ns, &wires)?;
        for back in &self.backs {
            lab.ip(&self.lan, &["link", "set", &back.peer_if, "master", "br0"])?;
        }
        let gateway = Self::GATEWAY.to_string();
        for (host, front) in self.hosts.iter().zip(&self.fronts) {
            let addr = format!("{}/24", host.addr);
            lab.ip(&host.ns, &["addr", "add", &addr, "dev", &front.peer_if])?;
            lab.ip(&host.ns, &["route", "add", "default", "via", &gateway])?;
        }
        Ok(())
    }
}
