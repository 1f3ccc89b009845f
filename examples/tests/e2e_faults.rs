//! Faults injected for real into lb-rp's own links (issue 20, finding 3):
//! its links taken down for 2 s, three times, while a stream runs through
//! the VIP (its veths on the pnet datapath; its taps, from the side they
//! were moved to). The process lives on, the stream resumes, the log says
//! what happened. A tap deleted outright is made again. And frames
//! the kernel drops while lb-rp cannot read (stopped with SIGSTOP) are
//! counted in `/stats` and logged.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::*;
use lb_engine::{ReverseProxyConfig, ServiceConfig};

const RP: &str = env!("CARGO_BIN_EXE_lb-rp");
const VIP: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 100);

/// lb-rp running between a client and one backend (service `VIP:9000`,
/// admin API on 9901), wired.
fn start_rp(
    lab: &mut Lab,
    datapath: DatapathKind,
) -> anyhow::Result<(RoutedNetwork, LoadBalancer)> {
    let net = RoutedNetwork::build(lab, datapath, 1)?;
    let config = lab.write_config(
        "rp.toml",
        &ReverseProxyConfig::with_services([
            ServiceConfig::tcp(VIP, 9000).backend(net.backends[0].addr, 1)
        ]),
    )?;
    let flags = ReverseProxyFlags {
        admin: Some(9901),
        ..ReverseProxyFlags::new(datapath, &net.front, &net.back, &config)
    };
    let lb = lab.start_lb(&net.lb_ns, RP, flags.args())?;
    net.attach(lab)?;
    Ok((net, lb))
}

fn link_flaps(datapath: DatapathKind) -> anyhow::Result<()> {
    let Some(mut lab) = lab() else { return Ok(()) };
    let (net, lb) = start_rp(&mut lab, datapath)?;
    let backend = &net.backends[0];
    // The backend streams a line every 0.2 s on each connection.
    let listen = format!("TCP-LISTEN:9000,bind={},reuseaddr,fork", backend.addr);
    lab.spawn(
        &backend.ns,
        &[
            "socat",
            &listen,
            "SYSTEM:while echo tick; do sleep 0.2; done",
        ],
    )?;
    lab.wait_for_tcp(&backend.ns, backend.addr, 9000)?;
    let stream = lab.path("stream");
    let script = format!("socat -u TCP:{VIP}:9000 CREATE:{}", stream.display());
    lab.spawn(&net.client, &["sh", "-c", &script])?;
    let lines = || std::fs::read_to_string(&stream).map_or(0, |text| text.lines().count());
    std::thread::sleep(Duration::from_secs(1));
    assert!(lines() > 0, "the stream runs");

    // A veth's end is in the load balancer's namespace; a tap is where it
    // was moved to.
    let end = |wire: &Wire| match datapath {
        DatapathKind::Pnet => (net.lb_ns.clone(), wire.lb_if.clone()),
        DatapathKind::Tap => (wire.peer_ns.clone(), wire.peer_if.clone()),
    };
    for (ns, link) in [end(&net.front), end(&net.back), end(&net.front)] {
        lab.ip(&ns, &["link", "set", "dev", &link, "down"])?;
        std::thread::sleep(Duration::from_secs(2));
        lab.ip(&ns, &["link", "set", "dev", &link, "up"])?;
        // A link going down takes its routes along; the client's default
        // route comes back as a network's routing would bring it.
        lab.ip(
            &net.client,
            &["route", "replace", "default", "via", "10.0.0.1"],
        )?;
        std::thread::sleep(Duration::from_millis(500));
    }
    // TCP retransmits across each 2 s gap; give the last one time.
    let before = lines();
    let resumed = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(200));
        lines() > before + 2
    });
    if !resumed {
        let (status, log) = lb.stop()?;
        let now = lines();
        panic!("the stream did not resume: {before} lines, then {now}; lb-rp {status}: {log}");
    }
    let probe = lab.exec(
        &net.client,
        &[
            "sh",
            "-c",
            &format!("timeout 5 socat -u TCP:{VIP}:9000 - | head -1"),
        ],
    )?;
    assert_eq!(probe.trim(), "tick", "a new connection works");
    let (status, log) = lb.stop()?;
    assert!(status.success(), "lb-rp died: {log}");
    if datapath == DatapathKind::Pnet {
        // A packet socket hears its link go down and frames come back.
        assert!(log.contains(": link down, waiting for it"), "{log}");
        assert!(log.contains(": link up, frames arrive again"), "{log}");
    }
    Ok(())
}

/// lb-rp's backend tap deleted (`ip link del`, where it was moved to):
/// lb-rp lives, says so, makes the tap again in its namespace within a
/// second or two; wired again as an operator would, it carries new
/// connections.
#[test]
fn a_deleted_tap_is_opened_again() -> anyhow::Result<()> {
    let Some(mut lab) = lab() else { return Ok(()) };
    let datapath = DatapathKind::Tap;
    let (net, lb) = start_rp(&mut lab, datapath)?;
    let backend = &net.backends[0];
    let listen = format!("TCP-LISTEN:9000,bind={},reuseaddr,fork", backend.addr);
    lab.spawn(&backend.ns, &["socat", &listen, "SYSTEM:echo tick"])?;
    lab.wait_for_tcp(&backend.ns, backend.addr, 9000)?;
    let connect = format!("timeout 5 socat -u TCP:{VIP}:9000 - | head -1");
    let probe = |lab: &Lab| lab.exec(&net.client, &["sh", "-c", &connect]);
    assert_eq!(probe(&lab)?.trim(), "tick");

    lab.ip(&net.back.peer_ns, &["link", "del", &net.back.peer_if])?;
    let tap = net.back.lb_if.clone();
    let reopened = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        lab.try_exec(&net.lb_ns, &["ip", "link", "show", &tap])
            .is_ok_and(|out| out.status.success())
    });
    assert!(reopened, "no tap {tap} again in lb-rp's namespace");
    // Wired again: moved out, up, the router's address on it.
    lab.connect_after(datapath, &net.lb_ns, &[&net.back])?;
    lab.ip(
        &net.router,
        &["addr", "add", "10.0.0.1/24", "dev", &net.back.peer_if],
    )?;
    lab.ip(
        &net.client,
        &["route", "replace", "default", "via", "10.0.0.1"],
    )?;
    // The router's interface is new, and so is its MAC: the client
    // forgets the old one, as the new interface's gratuitous ARP would
    // make it (else it sends to the old MAC until its entry ages, 15 to
    // 45 s).
    lab.ip(&net.client, &["neigh", "flush", "all"])?;
    let works = (0..10).any(|_| probe(&lab).is_ok_and(|out| out.trim() == "tick"));
    let (status, log) = lb.stop()?;
    assert!(works, "no new connection after the tap came back: {log}");
    assert!(status.success(), "lb-rp died: {log}");
    assert!(log.contains(&format!("{tap} is gone (")), "{log}");
    assert!(log.contains(&format!("{tap} opened again")), "{log}");
    Ok(())
}

#[test]
fn link_flaps_do_not_stop_lb_rp_on_pnet() -> anyhow::Result<()> {
    link_flaps(DatapathKind::Pnet)
}

#[test]
fn link_flaps_do_not_stop_lb_rp_on_taps() -> anyhow::Result<()> {
    link_flaps(DatapathKind::Tap)
}

/// lb-rp stopped (`kill -STOP`) while 20,000 frames arrive, then resumed:
/// its datapath's queue overflowed in the kernel (issue 20, finding 7).
/// `/stats` counts what the kernel dropped, and the log says so.
fn kernel_drops(datapath: DatapathKind) -> anyhow::Result<()> {
    let Some(mut lab) = lab() else { return Ok(()) };
    let (net, lb) = start_rp(&mut lab, datapath)?;
    let pid = lb.pid().to_string();
    let router_mac = router_mac(&lab, &net)?;
    lab.exec(&net.lb_ns, &["kill", "-STOP", &pid])?;
    let flood = lab.try_exec(
        &net.client,
        &[
            env!("CARGO_BIN_EXE_lb-flood"),
            "--iface",
            &net.front.peer_if,
            "--dst-mac",
            &router_mac,
            "--target",
            "172.16.0.100:9000",
            "--rate",
            "20000",
            "--seconds",
            "1",
        ],
    );
    lab.exec(&net.lb_ns, &["kill", "-CONT", &pid])?;
    flood?;
    std::thread::sleep(Duration::from_millis(1500));
    let stats = lab.exec(
        &net.lb_ns,
        &["curl", "-sf", "-m", "5", "http://127.0.0.1:9901/stats"],
    )?;
    let stats: serde_json::Value = serde_json::from_str(&stats)?;
    let dropped = stats["kernel_drops"].as_u64().unwrap_or(0);
    let received = stats["traffic"]["frames_in"].as_u64().unwrap_or(0);
    let (status, log) = lb.stop()?;
    eprintln!(
        "FIGURES kernel drops ({datapath}): 20000 frames sent while lb-rp was stopped, \
         {received} read, {dropped} dropped by the kernel"
    );
    assert!(status.success(), "{log}");
    assert!(dropped >= 1000, "{dropped} kernel drops: {stats}");
    assert!(received + dropped <= 20_500, "{received} + {dropped}");
    assert!(log.contains("the kernel dropped"), "{log}");
    assert!(
        log.contains(&format!("kernel drops before reading: {dropped}")),
        "{log}"
    );
    Ok(())
}

#[test]
fn kernel_drops_are_counted_on_pnet() -> anyhow::Result<()> {
    kernel_drops(DatapathKind::Pnet)
}

#[test]
fn kernel_drops_are_counted_on_taps() -> anyhow::Result<()> {
    kernel_drops(DatapathKind::Tap)
}
