//! lb-rp under spoofed floods (issue 20, finding 1): plain SYNs at 20 kpps
//! into a 4096-session table, and SYN + blind-ACK pairs at 30 k frames/s,
//! with the backends' SYN-ACKs routed back through the load balancer.
//! Measured: new connections during and after the flood (goal: 95%
//! during, all two seconds after), and the longest stall of a paced
//! stream that runs throughout (service port 9000). The SYN flood runs
//! again with Katran's flood guard on (`flood_guard`), which forwards new
//! flows past its rate without a session; the processor time lb-rp spent
//! during each flood is printed beside the figures.
//!
//! `LB_RP=PATH` runs another lb-rp binary (an older build, for a before
//! and after).

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::failover::{routed_servers, start_servers};
use common::*;

const FLOOD: &str = env!("CARGO_BIN_EXE_lb-flood");
const VIP: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 100);

#[derive(Debug)]
struct Figures {
    /// New connections made during the flood, and how many were tried.
    during: (usize, usize),
    /// Of 20 connections two seconds after.
    after: usize,
    /// The stream's longest time without progress.
    stall: Duration,
    /// Processor time lb-rp used from the flood's start until it ended.
    cpu: Duration,
    /// New flows the flood guard forwarded without a session.
    flood_guarded: u64,
}

/// `kind` of flood at `rate`, with `[sessions] flood_guard = guard` if
/// given.
fn flood(kind: &str, rate: u32, guard: Option<u32>) -> anyhow::Result<Option<Figures>> {
    let Some(mut lab) = lab() else {
        return Ok(None);
    };
    let datapath = DatapathKind::Tap;
    let net = RoutedNetwork::build(&mut lab, datapath, 3)?;
    // Written by hand, so that an older lb-rp (LB_RP) reads it too.
    let backends = backend_list(&net);
    let guard_line = guard.map_or(String::new(), |rate| format!("flood_guard = {rate}\n"));
    let text = format!(
        "[sessions]\ncapacity = 4096\n{guard_line}[[service]]\nvip = \"{VIP}\"\nport = 8000\nproto = \"tcp\"\nbackend = [{backends}]\n[[service]]\nvip = \"{VIP}\"\nport = 9000\nproto = \"tcp\"\nbackend = [{backends}]\n"
    );
    let config = lab.write_file("rp.toml", &text)?;
    let flags = ReverseProxyFlags::new(datapath, &net.front, &net.back, &config);
    let binary = std::env::var("LB_RP").unwrap_or_else(|_| env!("CARGO_BIN_EXE_lb-rp").to_owned());
    let lb = lab.start_lb(&net.lb_ns, binary, flags.args())?;
    net.attach(&mut lab)?;
    // The backends' answers to spoofed sources come back through the LB.
    lab.ip(
        &net.router,
        &["route", "add", "10.200.0.0/16", "via", "10.0.0.2"],
    )?;
    let servers = routed_servers(&lab, &net, 8000);
    start_servers(&mut lab, &servers)?;
    for host in &net.backends {
        lab.paced_server(&host.ns, host.addr, 9000)?;
    }
    let url = format!("http://{VIP}:8000");
    lab.http_get(&net.client, &format!("{url}/id"))?;
    let stream = lab.stream(&net.client, VIP, 9000)?;
    std::thread::sleep(Duration::from_millis(500));

    let router_mac = router_mac(&lab, &net)?;
    let seconds = 5;
    let flood_args = [
        "--iface",
        &net.front.peer_if,
        "--dst-mac",
        &router_mac,
        "--target",
        &format!("{VIP}:8000"),
        "--rate",
        &rate.to_string(),
        "--seconds",
        &seconds.to_string(),
        "--kind",
        kind,
    ];
    let mut full = vec![FLOOD];
    full.extend(flood_args);
    let cpu_before = lb.cpu_time()?;
    lab.spawn(&net.client, &full)?;

    // A new connection every 50 ms while it lasts, and the stream watched.
    let codes = lab.path("codes");
    let tries = 80;
    let script = format!(
        "for i in $(seq {tries}); do curl -s -o /dev/null -m 2 -w '%{{http_code}}\\n' {url}/id >> {} & sleep 0.05; done; wait",
        codes.display()
    );
    lab.spawn(&net.client, &["sh", "-c", &script])?;
    let stall = stream.longest_stall(Duration::from_secs(seconds + 2));
    let cpu = lb.cpu_time()? - cpu_before;
    let text = std::fs::read_to_string(&codes).unwrap_or_default();
    let during = (text.lines().filter(|c| *c == "200").count(), tries);
    std::thread::sleep(Duration::from_secs(1));
    let after = (0..20)
        .filter(|_| lab.http_get(&net.client, &format!("{url}/id")).is_ok())
        .count();
    let (status, log) = lb.stop()?;
    assert!(status.success(), "{log}");
    let flood_guarded = counter(&log, "flood guarded");
    if guard.is_some() {
        assert!(log.contains("flood guard: "), "the guard is logged: {log}");
    }
    Ok(Some(Figures {
        during,
        after,
        stall,
        cpu,
        flood_guarded,
    }))
}

fn check(what: &str, figures: Option<Figures>) {
    let Some(figures) = figures else { return };
    eprintln!(
        "FIGURES {what}: {} of {} new connections during, {} of 20 after, longest stall {} ms, \
         lb-rp processor time during the flood {} ms, {} flows past the flood guard",
        figures.during.0,
        figures.during.1,
        figures.after,
        figures.stall.as_millis(),
        figures.cpu.as_millis(),
        figures.flood_guarded,
    );
    assert!(
        figures.during.0 * 100 >= figures.during.1 * 95,
        "{figures:?}"
    );
    assert_eq!(figures.after, 20, "{figures:?}");
    assert!(figures.stall < Duration::from_secs(1), "{figures:?}");
}

/// One test, the floods one after the other: run side by side they would
/// measure each other.
#[test]
fn floods_leave_room_for_real_connections() -> anyhow::Result<()> {
    check(
        "lb-rp, 20 kpps spoofed SYNs, capacity 4096",
        flood("syn", 20_000, None)?,
    );
    check(
        "lb-rp, 30 k/s spoofed SYN + blind ACK",
        flood("syn-ack", 30_000, None)?,
    );
    let guarded = flood("syn", 20_000, Some(2000))?;
    if let Some(figures) = &guarded {
        // 5 s at 20 kpps against 2000 a second: most went without a session.
        assert!(figures.flood_guarded > 50_000, "{figures:?}");
    }
    check(
        "lb-rp, 20 kpps spoofed SYNs, capacity 4096, flood_guard = 2000",
        guarded,
    );
    Ok(())
}
