//! The four ways through, each set up in its own lab: (a), (b) and (c)
//! put a userspace middle box on one subnet, (d) a kernel router.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use lb_engine::{ReverseProxyConfig, ServiceConfig, SessionSettings};
use lb_lab::{DatapathKind, Lab, LoadBalancer, ReverseProxyFlags, Wire};

use crate::{FLOWS, GEN_MAC, SINK_MAC, UDP_PORT, VIP};

/// One way through, set up and ready to measure.
pub(crate) struct Setup {
    pub(crate) name: &'static str,
    pub(crate) gen_ns: String,
    pub(crate) gen_if: String,
    /// MAC the generator's frames go to.
    pub(crate) next_hop: String,
    pub(crate) sink_ns: String,
    pub(crate) sink_if: String,
    /// Flows of the UDP load.
    pub(crate) flows: u32,
    /// The process doing the work, if userspace.
    pub(crate) worker: Option<LoadBalancer>,
}

/// lb-rp's services: the UDP load, iperf3 and ping, all to `backend`;
/// room for `flows` sessions that never see a reply, beyond the default.
fn rp_config(lab: &Lab, backend: Ipv4Addr, flows: u32) -> anyhow::Result<PathBuf> {
    let vip: Ipv4Addr = VIP.parse()?;
    let mut config = ReverseProxyConfig::with_services([
        ServiceConfig::udp(vip, UDP_PORT).backend(backend, 1),
        ServiceConfig::tcp(vip, 5201).backend(backend, 1),
        ServiceConfig::icmp(vip).backend(backend, 1),
    ]);
    if flows > FLOWS {
        config.sessions = SessionSettings {
            capacity: 2 * flows as usize,
            unassured_percent: 100,
            ..SessionSettings::default()
        };
    }
    lab.write_config("rp.toml", &config)
}

/// Generator and sink on one subnet with the middle box between them (a,
/// b, c): the generator reaches the VIP through the sink's address. lb-rp
/// runs with its `extra` flags (`--no-offload`, `--busy-poll-us N`).
pub(crate) fn userspace(
    lab: &mut Lab,
    name: &'static str,
    datapath: DatapathKind,
    rp: Option<&str>,
    extra: &[&str],
    flows: u32,
) -> anyhow::Result<Setup> {
    let offloads = !extra.contains(&"--no-offload");
    let (mid, gen_ns, sink_ns) = (lab.netns("mid")?, lab.netns("gen")?, lab.netns("sink")?);
    let front = lab.wire(datapath, &lab.name("f"), &gen_ns);
    let back = lab.wire(datapath, &lab.name("b"), &sink_ns);
    lab.connect_before(datapath, &mid, &[&front, &back])?;
    if datapath == DatapathKind::Pnet && !offloads {
        // Plain packet sockets need full checksums from their peers.
        for wire in [&front, &back] {
            lab.no_tx_offload(&wire.peer_ns, &wire.peer_if)?;
        }
    }
    let self_exe = std::env::current_exe()?.to_string_lossy().into_owned();
    let worker = match rp {
        Some(rp) => {
            let config = rp_config(lab, Ipv4Addr::new(10, 0, 0, 3), flows)?;
            let mut args = ReverseProxyFlags::new(datapath, &front, &back, &config).args();
            args.extend(extra.iter().map(|flag| (*flag).to_owned()));
            lab.start_lb(&mid, rp, args)?
        }
        None => lab.start_lb(&mid, &self_exe, ["bridge", &front.lb_if, &back.lb_if])?,
    };
    lab.connect_after(datapath, &mid, &[&front, &back])?;
    finish_hosts(lab, &gen_ns, &front, &sink_ns, &back, rp.is_none())?;
    Ok(Setup {
        name,
        gen_ns,
        gen_if: front.peer_if.clone(),
        next_hop: SINK_MAC.into(),
        sink_ns,
        sink_if: back.peer_if.clone(),
        flows,
        worker: Some(worker),
    })
}

fn finish_hosts(
    lab: &Lab,
    gen_ns: &str,
    front: &Wire,
    sink_ns: &str,
    back: &Wire,
    sink_owns_vip: bool,
) -> anyhow::Result<()> {
    // Fixed MACs, and static neighbours, so nothing waits on ARP.
    for (ns, iface, mac) in [
        (gen_ns, &front.peer_if, GEN_MAC),
        (sink_ns, &back.peer_if, SINK_MAC),
    ] {
        lab.ip(ns, &["link", "set", "dev", iface, "down"])?;
        lab.ip(ns, &["link", "set", "dev", iface, "address", mac])?;
        lab.ip(ns, &["link", "set", "dev", iface, "up"])?;
    }
    lab.ip(
        gen_ns,
        &["addr", "add", "10.0.0.2/24", "dev", &front.peer_if],
    )?;
    lab.ip(
        gen_ns,
        &["route", "add", &format!("{VIP}/32"), "via", "10.0.0.3"],
    )?;
    lab.ip(
        gen_ns,
        &[
            "neigh",
            "replace",
            "10.0.0.3",
            "lladdr",
            SINK_MAC,
            "dev",
            &front.peer_if,
        ],
    )?;
    lab.ip(
        sink_ns,
        &["addr", "add", "10.0.0.3/24", "dev", &back.peer_if],
    )?;
    lab.ip(
        sink_ns,
        &[
            "neigh",
            "replace",
            "10.0.0.2",
            "lladdr",
            GEN_MAC,
            "dev",
            &back.peer_if,
        ],
    )?;
    if sink_owns_vip {
        // A plain bridge does no NAT: the sink answers for the VIP itself.
        lab.ip(sink_ns, &["addr", "add", &format!("{VIP}/32"), "dev", "lo"])?;
    }
    Ok(())
}

/// The kernel as the load balancer (d): a router namespace with nftables
/// DNAT of the VIP to the sink, jhash over the flow into a map.
pub(crate) fn kernel(lab: &mut Lab) -> anyhow::Result<Setup> {
    let (mid, gen_ns, sink_ns) = (lab.netns("mid")?, lab.netns("gen")?, lab.netns("sink")?);
    let (gen_if, mid_front, mid_back, sink_if) =
        (lab.name("g"), lab.name("f"), lab.name("b"), lab.name("s"));
    lab.veth((&gen_ns, &gen_if), (&mid, &mid_front))?;
    lab.veth((&mid, &mid_back), (&sink_ns, &sink_if))?;
    lab.ip(
        &gen_ns,
        &["link", "set", "dev", &gen_if, "address", GEN_MAC],
    )?;
    lab.ip(
        &mid,
        &["link", "set", "dev", &mid_front, "address", SINK_MAC],
    )?;
    lab.ip(&gen_ns, &["addr", "add", "10.0.0.2/24", "dev", &gen_if])?;
    lab.ip(&gen_ns, &["route", "add", "default", "via", "10.0.0.1"])?;
    lab.ip(
        &gen_ns,
        &[
            "neigh", "replace", "10.0.0.1", "lladdr", SINK_MAC, "dev", &gen_if,
        ],
    )?;
    lab.ip(&mid, &["addr", "add", "10.0.0.1/24", "dev", &mid_front])?;
    lab.ip(&mid, &["addr", "add", "192.168.1.1/24", "dev", &mid_back])?;
    lab.ip(
        &sink_ns,
        &["addr", "add", "192.168.1.2/24", "dev", &sink_if],
    )?;
    lab.ip(&sink_ns, &["route", "add", "default", "via", "192.168.1.1"])?;
    lab.exec(&mid, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
    let rules = format!(
        "table ip lb {{\n  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n    \
         ip daddr {VIP} dnat to jhash ip saddr . ip protocol mod 1 map {{ 0 : 192.168.1.2 }}\n  }}\n}}\n"
    );
    let file = lab.write_file("lb.nft", &rules)?;
    lab.exec(&mid, &["nft", "-f", &file.to_string_lossy()])?;
    Ok(Setup {
        name: crate::KERNEL_WAY,
        gen_ns,
        gen_if,
        next_hop: SINK_MAC.into(),
        sink_ns,
        sink_if,
        flows: FLOWS,
        worker: None,
    })
}
