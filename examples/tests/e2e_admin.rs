//! lb-rp's admin endpoint under load (issue 20, finding 4), with real
//! tools: a client that announces a body and stalls (nc) while `lbctl`
//! is answered; a browser-style cross-origin write refused (curl); then
//! 250,000 sessions (spoofed SYNs) and 20 clients polling `/stats` in a
//! loop while ping runs through the VIP: its p50 must stay under 1 ms and
//! its p99 within 1.5 ms of the idle one (goal: under 1 ms).
//!
//! `LB_RP=PATH` runs another lb-rp binary (an older build, for a before
//! and after).

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::*;

const LBCTL: &str = env!("CARGO_BIN_EXE_lbctl");
const FLOOD: &str = env!("CARGO_BIN_EXE_lb-flood");
const VIP: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 100);
const SESSIONS: u64 = 250_000;

/// Twenty clients, each on its own keep-alive connection, asking for
/// `/stats` every 50 ms for a minute (400 requests a second; before the
/// counters were kept as sessions open and close, the packet thread would
/// have spent 7 ms of every 2.5 on them).
const POLLERS: &str = r#"
import http.client, threading, time
path = "/stats"
def poll():
    conn = http.client.HTTPConnection("127.0.0.1", 9901, timeout=5)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn.request("GET", path)
            conn.getresponse().read()
            time.sleep(0.05)
        except OSError:
            conn = http.client.HTTPConnection("127.0.0.1", 9901, timeout=5)
for _ in range(20):
    threading.Thread(target=poll).start()
"#;

/// The `p`th percentile of `values` (sorted here).
fn percentile(values: &mut [f64], p: usize) -> f64 {
    values.sort_by(f64::total_cmp);
    let index = (values.len() * p / 100).min(values.len().saturating_sub(1));
    values.get(index).copied().unwrap_or(f64::NAN)
}

/// Round-trip times of `count` pings from `ns` to `to`, 10 ms apart, in ms.
fn ping_times(lab: &Lab, ns: &str, to: Ipv4Addr, count: usize) -> anyhow::Result<Vec<f64>> {
    let out = lab.exec(
        ns,
        &[
            "ping",
            "-c",
            &count.to_string(),
            "-i",
            "0.01",
            "-W",
            "1",
            &to.to_string(),
        ],
    )?;
    Ok(out
        .lines()
        .filter_map(|line| line.split("time=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect())
}

fn sessions(lab: &Lab, lb_ns: &str) -> u64 {
    let text = lab
        .exec(
            lb_ns,
            &["curl", "-s", "-m", "5", "http://127.0.0.1:9901/stats"],
        )
        .unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|stats| stats["sessions"].as_u64())
        .unwrap_or(0)
}

#[test]
fn the_admin_endpoint_holds_up() -> anyhow::Result<()> {
    let Some(mut lab) = lab() else { return Ok(()) };
    let datapath = DatapathKind::Tap;
    let net = RoutedNetwork::build(&mut lab, datapath, 2)?;
    let backends = backend_list(&net);
    // Written by hand, so that an older lb-rp (LB_RP) reads it too.
    let text = format!(
        "[sessions]\ncapacity = 400000\nunassured_percent = 100\ntimeouts = {{ tcp_half_open = 300 }}\n\
         [[service]]\nvip = \"{VIP}\"\nport = 8000\nproto = \"tcp\"\nbackend = [{backends}]\n\
         [[service]]\nvip = \"{VIP}\"\nproto = \"icmp\"\nbackend = [{backends}]\n"
    );
    let config = lab.write_file("rp.toml", &text)?;
    let flags = ReverseProxyFlags {
        admin: Some(9901),
        ..ReverseProxyFlags::new(datapath, &net.front, &net.back, &config)
    };
    let binary = std::env::var("LB_RP").unwrap_or_else(|_| env!("CARGO_BIN_EXE_lb-rp").to_owned());
    let lb = lab.start_lb(&net.lb_ns, binary, flags.args())?;
    net.attach(&mut lab)?;

    // A client announces a body and stalls; lbctl is answered anyway.
    let staller = "(printf 'POST /stats/reset HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nContent-Type: application/json\\r\\nContent-Length: 100000\\r\\n\\r\\n{'; sleep 30) | nc 127.0.0.1 9901";
    lab.spawn(&net.lb_ns, &["sh", "-c", staller])?;
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let answered = lab
        .try_exec(
            &net.lb_ns,
            &["timeout", "5", LBCTL, "--admin", "9901", "stats"],
        )?
        .status
        .success();
    let beside_staller = started.elapsed();

    // A page in a browser cannot write.
    let cross = lab.try_exec(
        &net.lb_ns,
        &[
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-m",
            "5",
            "-X",
            "POST",
            "-H",
            "Origin: http://evil.example",
            "-H",
            "Content-Type: application/json",
            "-d",
            "{}",
            "http://127.0.0.1:9901/stats/reset",
        ],
    )?;
    let cross = String::from_utf8_lossy(&cross.stdout).into_owned();

    // Sessions: 14 s of spoofed SYNs at 25 kpps, for at least 250,000.
    let router_mac = router_mac(&lab, &net)?;
    let target = format!("{VIP}:8000");
    let flood = [
        FLOOD,
        "--iface",
        &net.front.peer_if,
        "--dst-mac",
        &router_mac,
        "--target",
        &target,
        "--rate",
        "25000",
        "--seconds",
        "14",
    ];
    // Runs to its end: the pings below measure a quiet network.
    lab.exec(&net.client, &flood)?;
    std::thread::sleep(Duration::from_secs(1));
    let held = sessions(&lab, &net.lb_ns);

    let mut quiet = ping_times(&lab, &net.client, VIP, 300)?;
    let pollers = lab.write_file("pollers.py", POLLERS)?;
    lab.spawn(&net.lb_ns, &["python3", &pollers.to_string_lossy()])?;
    std::thread::sleep(Duration::from_millis(500));
    let mut polled = ping_times(&lab, &net.client, VIP, 300)?;
    let received = polled.len();
    let (p50, p99) = (percentile(&mut polled, 50), percentile(&mut polled, 99));
    eprintln!(
        "FIGURES lb-rp admin: lbctl beside a stalled client {} ms (answered: {answered}); \
         cross-origin write {cross}; {held} sessions; ping through the VIP idle p50 {:.3} ms \
         p99 {:.3} ms, with 20 /stats pollers p50 {p50:.3} ms p99 {p99:.3} ms ({received} of 300 answered)",
        beside_staller.as_millis(),
        percentile(&mut quiet, 50),
        percentile(&mut quiet, 99),
    );
    let (status, log) = lb.stop()?;
    assert!(status.success(), "{log}");
    assert!(answered && beside_staller < Duration::from_secs(1));
    assert_eq!(cross, "403");
    assert!(held >= SESSIONS, "{held} sessions");
    assert!(received >= 297, "{received} of 300 pings answered");
    // The goal is a p99 under 1 ms. This shared two-core VM's own tail
    // moves from run to run (idle p99 0.3 to 1.0 ms), so the test holds the
    // pollers to what they add: a p50 under 1 ms (10.4 ms before) and at
    // most 1.5 ms on the idle p99 (26 ms p99 before).
    let idle_p99 = percentile(&mut quiet, 99);
    assert!(p50 < 1.0, "ping p50 {p50} ms with pollers");
    assert!(
        p99 < idle_p99 + 1.5,
        "ping p99 {p99} ms with pollers, {idle_p99} ms idle"
    );
    Ok(())
}
