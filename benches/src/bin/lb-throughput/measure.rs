//! Measuring one way: latency by ping, the UDP flood's offered and
//! delivered rates and CPU, TCP bulk throughput; medians over rounds.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use lb_lab::Lab;

use crate::ways::Setup;
use crate::{FLOWS, UDP_PORT, VIP};

/// What one measurement of one way found.
#[derive(Debug, Default, Clone)]
pub(crate) struct Figures {
    pub(crate) offered_pps: f64,
    pub(crate) delivered_pps: f64,
    pub(crate) cpu_busy: f64,
    pub(crate) worker_cpu: Option<f64>,
    pub(crate) tcp_gbps: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    /// The worker's CPU while the pings ran (an idle path but for them).
    pub(crate) ping_cpu: Option<f64>,
}

/// Busy and total jiffies of the whole machine.
fn cpu_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// UDP packets the sink's ingress rule counted so far.
fn sink_counter(lab: &Lab, setup: &Setup) -> anyhow::Result<u64> {
    let listing = lab.exec(&setup.sink_ns, &["nft", "list", "table", "netdev", "sink"])?;
    let packets = listing
        .split_whitespace()
        .skip_while(|word| *word != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .context("no packet counter at the sink")?;
    Ok(packets)
}

/// Ping latency, then the UDP flood, then TCP bulk, through `setup`.
pub(crate) fn measure(lab: &mut Lab, setup: &Setup, seconds: u64) -> anyhow::Result<Figures> {
    let mut figures = Figures::default();
    // The sink counts and drops the UDP load at ingress, before the stack.
    let rules = format!(
        "table netdev sink {{\n  chain ingress {{\n    type filter hook ingress device {} priority 0; policy accept;\n    \
         udp dport {UDP_PORT} counter drop\n  }}\n}}\n",
        setup.sink_if
    );
    let file = lab.write_file(&format!("sink-{}.nft", setup.sink_ns), &rules)?;
    lab.exec(&setup.sink_ns, &["nft", "-f", &file.to_string_lossy()])?;

    // Latency first, on an idle path: ping through the VIP.
    lab.exec(&setup.gen_ns, &["ping", "-c", "3", "-W", "2", VIP])
        .context("ping through the VIP")?;
    let worker0 = setup.worker.as_ref().and_then(|w| w.cpu_time().ok());
    let started = Instant::now();
    let pings = lab.exec(
        &setup.gen_ns,
        &["ping", "-c", "1000", "-i", "0.002", "-W", "1", VIP],
    )?;
    figures.ping_cpu = worker_cpu(setup, worker0, started.elapsed().as_secs_f64());
    let mut rtts: Vec<f64> = pings
        .lines()
        .filter_map(|l| {
            l.split("time=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect();
    rtts.sort_by(f64::total_cmp);
    ensure!(!rtts.is_empty(), "no ping answered: {pings}");
    figures.p50_ms = rtts[rtts.len() / 2];
    figures.p99_ms = rtts[(rtts.len() * 99 / 100).min(rtts.len() - 1)];

    // UDP flood, every flow sent first so that each has a session (twice
    // for many: a middle box making sessions drops some of the first turn).
    let self_exe = std::env::current_exe()?.to_string_lossy().into_owned();
    let flows = setup.flows.to_string();
    let generate = |seconds: &str, once: bool| {
        let mut args = vec![
            "nice",
            "-n",
            "0",
            &self_exe,
            "generate",
            "--iface",
            &setup.gen_if,
            "--dst-mac",
            &setup.next_hop,
            "--src",
            "10.0.0.2",
            "--flows",
            &flows,
            "--seconds",
            seconds,
        ];
        if once {
            args.push("--once");
        }
        lab.exec(&setup.gen_ns, &args)
    };
    for _ in 0..if setup.flows > FLOWS { 2 } else { 1 } {
        generate("60", true)?;
    }
    let before = sink_counter(lab, setup)?;
    let (busy0, total0) = cpu_jiffies();
    let worker0 = setup.worker.as_ref().and_then(|w| w.cpu_time().ok());
    let started = Instant::now();
    let secs = seconds.to_string();
    let sent = generate(&secs, false)?;
    let elapsed = started.elapsed().as_secs_f64();
    // Frames still in flight land in a moment.
    std::thread::sleep(Duration::from_millis(300));
    let delivered = sink_counter(lab, setup)? - before;
    let (busy1, total1) = cpu_jiffies();
    figures.offered_pps = sent.trim().parse::<f64>().unwrap_or(0.0) / elapsed;
    figures.delivered_pps = delivered as f64 / elapsed;
    figures.cpu_busy = 100.0 * (busy1 - busy0) as f64 / (total1 - total0).max(1) as f64;
    figures.worker_cpu = worker_cpu(setup, worker0, elapsed);

    // TCP bulk.
    lab.spawn(&setup.sink_ns, &["iperf3", "-s", "-1"])?;
    std::thread::sleep(Duration::from_millis(300));
    let report = lab.exec(&setup.gen_ns, &["iperf3", "-c", VIP, "-t", &secs, "-J"])?;
    let json: serde_json::Value = serde_json::from_str(&report).context("iperf3 report")?;
    figures.tcp_gbps = json["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or(0.0)
        / 1e9;
    Ok(figures)
}

/// The worker's CPU share (percent of one core) over `elapsed` seconds
/// since it had used `start`.
fn worker_cpu(setup: &Setup, start: Option<Duration>, elapsed: f64) -> Option<f64> {
    let used = setup
        .worker
        .as_ref()?
        .cpu_time()
        .ok()?
        .checked_sub(start?)?;
    Some(100.0 * used.as_secs_f64() / elapsed)
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Each figure's median over `rounds`.
pub(crate) fn medians(rounds: &[Figures]) -> Figures {
    let of = |f: fn(&Figures) -> f64| median(rounds.iter().map(f));
    Figures {
        offered_pps: of(|f| f.offered_pps),
        delivered_pps: of(|f| f.delivered_pps),
        cpu_busy: of(|f| f.cpu_busy),
        worker_cpu: rounds[0]
            .worker_cpu
            .map(|_| of(|f| f.worker_cpu.unwrap_or(0.0))),
        tcp_gbps: of(|f| f.tcp_gbps),
        p50_ms: of(|f| f.p50_ms),
        p99_ms: of(|f| f.p99_ms),
        ping_cpu: rounds[0]
            .ping_cpu
            .map(|_| of(|f| f.ping_cpu.unwrap_or(0.0))),
    }
}
