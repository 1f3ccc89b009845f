//! `lb-throughput`: one service, one load, four ways through a namespace
//! topology, measured in one run:
//!
//! - (a) a trivial userspace tap bridge: the tap datapath's own ceiling,
//! - (b) `lb-rp` on tap,
//! - (c) `lb-rp` on pnet (veths),
//! - (d) the Linux kernel doing the load balancing with nftables DNAT.
//!
//! Each way gets 64-byte UDP from a generator in its own process (raw
//! frames over 1024 flows, as fast as it can), TCP bulk transfer (iperf3),
//! and ping round trips through the VIP; the table gives delivered packets
//! per second at the sink, offered load, CPU, TCP throughput and latency
//! percentiles, with ratios to (a) and (d). Needs root.

// A measurement tool reports on standard output.
#![allow(clippy::print_stdout)]

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::{Parser, Subcommand};
use lb_datapath_tap::TapDatapath;
use lb_engine::{Engine, PortId, RunOptions, SessionFilter, SessionView, Stats, Verdict, run};
use lb_engine::{ReverseProxyConfig, ServiceConfig};
use lb_lab::{DatapathKind, Lab, LoadBalancer, ReverseProxyFlags, Wire, is_root, run as sh};
use lb_packet::{MacAddr, internet_checksum};

const VIP: &str = "172.16.0.100";
const UDP_PORT: u16 = 9;
const FLOWS: u16 = 1024;
const GEN_MAC: &str = "02:00:00:00:0a:02";
const SINK_MAC: &str = "02:00:00:00:0a:03";

#[derive(Debug, Parser)]
#[command(name = "lb-throughput", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure all four ways (the default).
    Run {
        /// Seconds of UDP and TCP load for each way.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Rounds over the four ways; the table gives each figure's median.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Send 64-byte UDP frames as fast as possible (run inside a namespace).
    Generate {
        /// Interface to send on.
        #[arg(long)]
        iface: String,
        /// Destination MAC of the frames.
        #[arg(long)]
        dst_mac: MacAddr,
        /// Source address.
        #[arg(long)]
        src: Ipv4Addr,
        /// Seconds to send for.
        #[arg(long)]
        seconds: u64,
    },
    /// Copy frames between two taps, unchanged (the datapath's ceiling).
    Bridge {
        /// The two taps.
        #[arg(num_args = 2)]
        taps: Vec<String>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run {
        seconds: 5,
        rounds: 3,
    }) {
        Command::Run { seconds, rounds } => measure_all(seconds, rounds.max(1)),
        Command::Generate {
            iface,
            dst_mac,
            src,
            seconds,
        } => generate(&iface, dst_mac, src, seconds),
        Command::Bridge { taps } => bridge(&taps),
    }
}

/// A 64-byte UDP frame (60 bytes plus the FCS the NIC adds) of flow `n`.
fn udp_frame(src_mac: MacAddr, dst_mac: MacAddr, src: Ipv4Addr, n: u16) -> Vec<u8> {
    let dst: Ipv4Addr = VIP.parse().unwrap_or(Ipv4Addr::UNSPECIFIED);
    let payload = [0u8; 18];
    let mut frame = Vec::with_capacity(60);
    frame.extend_from_slice(&dst_mac.octets());
    frame.extend_from_slice(&src_mac.octets());
    frame.extend_from_slice(&[0x08, 0x00]);
    let total = 20 + 8 + payload.len() as u16;
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let checksum = internet_checksum(&[&ip]);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    frame.extend_from_slice(&ip);
    let src_port = 10_000 + n;
    let mut udp = [0u8; 8];
    udp[0..2].copy_from_slice(&src_port.to_be_bytes());
    udp[2..4].copy_from_slice(&UDP_PORT.to_be_bytes());
    udp[4..6].copy_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    let pseudo = [0, 17, udp[4], udp[5]];
    let checksum = internet_checksum(&[&src.octets(), &dst.octets(), &pseudo, &udp, &payload]);
    udp[6..8].copy_from_slice(&(if checksum == 0 { 0xffff } else { checksum }).to_be_bytes());
    frame.extend_from_slice(&udp);
    frame.extend_from_slice(&payload);
    frame
}

/// The generator: raw frames through a packet socket, one flow after another.
fn generate(iface: &str, dst_mac: MacAddr, src: Ipv4Addr, seconds: u64) -> anyhow::Result<()> {
    let interface = pnet::datalink::interfaces()
        .into_iter()
        .find(|i| i.name == iface)
        .with_context(|| format!("no interface {iface}"))?;
    let src_mac = interface
        .mac
        .map(|m| MacAddr(m.octets()))
        .unwrap_or(MacAddr::ZERO);
    let frames: Vec<Vec<u8>> = (0..FLOWS)
        .map(|n| udp_frame(src_mac, dst_mac, src, n))
        .collect();
    let config = pnet::datalink::Config {
        write_buffer_size: 1 << 16,
        ..Default::default()
    };
    let pnet::datalink::Channel::Ethernet(mut tx, _rx) =
        pnet::datalink::channel(&interface, config)?
    else {
        bail!("not an Ethernet channel");
    };
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut sent: u64 = 0;
    while Instant::now() < deadline {
        for frame in &frames {
            if let Some(Ok(())) = tx.send_to(frame, None) {
                sent += 1;
            }
        }
    }
    println!("{sent}");
    Ok(())
}

/// An engine that forwards every frame to the other port: all datapath,
/// no load balancing.
struct Bridge;

impl Engine for Bridge {
    fn port_count(&self) -> usize {
        2
    }
    fn handle_frame(&mut self, _now: Instant, port: PortId, _frame: &mut [u8]) -> Verdict {
        Verdict::Forward(PortId(1 - port.0.min(1)))
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn stats(&self, _now: Instant) -> Stats {
        Stats {
            engine: "bridge",
            traffic: Default::default(),
            sessions: 0,
            session_capacity: 0,
            session_table: Default::default(),
            services: Vec::new(),
        }
    }
    fn reset_counters(&mut self) {}
    fn sessions(&self, _now: Instant, _filter: &SessionFilter, _limit: usize) -> Vec<SessionView> {
        Vec::new()
    }
}

fn bridge(taps: &[String]) -> anyhow::Result<()> {
    let names: Vec<&str> = taps.iter().map(String::as_str).collect();
    let mut datapath = TapDatapath::open(&names)?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, std::sync::Arc::clone(&stop))?;
    }
    println!("bridge ready");
    use std::io::Write;
    std::io::stdout().flush()?;
    run(&mut datapath, &mut Bridge, &stop, RunOptions::default())?;
    Ok(())
}

/// One way through, set up and ready to measure.
struct Setup {
    name: &'static str,
    gen_ns: String,
    gen_if: String,
    /// MAC the generator's frames go to.
    next_hop: String,
    sink_ns: String,
    sink_if: String,
    /// The process doing the work, if userspace.
    worker: Option<LoadBalancer>,
}

#[derive(Debug, Default, Clone)]
struct Figures {
    offered_pps: f64,
    delivered_pps: f64,
    cpu_busy: f64,
    worker_cpu: Option<f64>,
    tcp_gbps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// lb-rp's services: the UDP load, iperf3 and ping, all to `backend`.
fn rp_config(lab: &Lab, backend: Ipv4Addr) -> anyhow::Result<PathBuf> {
    let vip: Ipv4Addr = VIP.parse()?;
    lab.write_config(
        "rp.toml",
        &ReverseProxyConfig::with_services([
            ServiceConfig::udp(vip, UDP_PORT).backend(backend, 1),
            ServiceConfig::tcp(vip, 5201).backend(backend, 1),
            ServiceConfig::icmp(vip).backend(backend, 1),
        ]),
    )
}

/// Generator and sink on one subnet with the middle box between them (a,
/// b, c): the generator reaches the VIP through the sink's address.
fn userspace(
    lab: &mut Lab,
    name: &'static str,
    datapath: DatapathKind,
    rp: Option<&str>,
) -> anyhow::Result<Setup> {
    let (mid, gen_ns, sink_ns) = (lab.netns("mid")?, lab.netns("gen")?, lab.netns("sink")?);
    let front = lab.wire(datapath, &lab.name("f"), &gen_ns);
    let back = lab.wire(datapath, &lab.name("b"), &sink_ns);
    lab.connect_before(datapath, &mid, &[&front, &back])?;
    let self_exe = std::env::current_exe()?.to_string_lossy().into_owned();
    let worker = match rp {
        Some(rp) => {
            let config = rp_config(lab, Ipv4Addr::new(10, 0, 0, 3))?;
            let flags = ReverseProxyFlags::new(datapath, &front, &back, &config);
            lab.start_lb(&mid, rp, flags.args())?
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
fn kernel(lab: &mut Lab) -> anyhow::Result<Setup> {
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
        name: "(d) kernel nftables DNAT",
        gen_ns,
        gen_if,
        next_hop: SINK_MAC.into(),
        sink_ns,
        sink_if,
        worker: None,
    })
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

/// CPU jiffies a process (and its threads) used.
fn process_jiffies(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after_name
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    fields.get(10).copied().unwrap_or(0) + fields.get(11).copied().unwrap_or(0)
}

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

fn measure(lab: &mut Lab, setup: &Setup, seconds: u64) -> anyhow::Result<Figures> {
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
    let pings = lab.exec(
        &setup.gen_ns,
        &["ping", "-c", "1000", "-i", "0.002", "-W", "1", VIP],
    )?;
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

    // UDP flood.
    let self_exe = std::env::current_exe()?.to_string_lossy().into_owned();
    let before = sink_counter(lab, setup)?;
    let (busy0, total0) = cpu_jiffies();
    let worker0 = setup.worker.as_ref().map(|w| process_jiffies(w.pid()));
    let started = Instant::now();
    let secs = seconds.to_string();
    let sent = lab.exec(
        &setup.gen_ns,
        &[
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
            "--seconds",
            &secs,
        ],
    )?;
    let elapsed = started.elapsed().as_secs_f64();
    // Frames still in flight land in a moment.
    std::thread::sleep(Duration::from_millis(300));
    let delivered = sink_counter(lab, setup)? - before;
    let (busy1, total1) = cpu_jiffies();
    figures.offered_pps = sent.trim().parse::<f64>().unwrap_or(0.0) / elapsed;
    figures.delivered_pps = delivered as f64 / elapsed;
    figures.cpu_busy = 100.0 * (busy1 - busy0) as f64 / (total1 - total0).max(1) as f64;
    if let (Some(worker), Some(start)) = (&setup.worker, worker0) {
        let ticks = 100.0; // USER_HZ
        figures.worker_cpu =
            Some(100.0 * (process_jiffies(worker.pid()) - start) as f64 / ticks / elapsed);
    }

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

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Each figure's median over `rounds`.
fn medians(rounds: &[Figures]) -> Figures {
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
    }
}

fn measure_all(seconds: u64, rounds: usize) -> anyhow::Result<()> {
    ensure!(
        is_root(),
        "lb-throughput needs root (network namespaces, taps, nftables)"
    );
    let rp: PathBuf = std::env::current_exe()?.with_file_name("lb-rp");
    ensure!(
        rp.exists(),
        "lb-rp is not next to lb-throughput; build both: cargo build --release -p lb-examples -p lb-benches"
    );
    let rp = rp.to_string_lossy().into_owned();
    sh("nft", &["--version"]).context("nftables (nft) is needed")?;
    sh("iperf3", &["--version"]).context("iperf3 is needed")?;
    let mut samples: Vec<(&'static str, Vec<Figures>)> = Vec::new();
    for round in 0..rounds {
        for way in 0..4 {
            let mut lab = Lab::new()?;
            let setup = match way {
                0 => userspace(
                    &mut lab,
                    "(a) userspace tap bridge",
                    DatapathKind::Tap,
                    None,
                )?,
                1 => userspace(&mut lab, "(b) lb-rp on tap", DatapathKind::Tap, Some(&rp))?,
                2 => userspace(&mut lab, "(c) lb-rp on pnet", DatapathKind::Pnet, Some(&rp))?,
                _ => kernel(&mut lab)?,
            };
            eprintln!("round {}/{rounds}: {} ...", round + 1, setup.name);
            let figures = measure(&mut lab, &setup, seconds).with_context(|| setup.name)?;
            if round == 0 {
                samples.push((setup.name, Vec::new()));
            }
            samples[way].1.push(figures);
        }
    }
    let results: Vec<(&'static str, Figures)> = samples
        .iter()
        .map(|(name, f)| (*name, medians(f)))
        .collect();
    println!("medians of {rounds} rounds");
    print_table(&results);
    Ok(())
}

fn print_table(results: &[(&'static str, Figures)]) {
    let bridge = results[0].1.delivered_pps.max(1.0);
    let kernel = results[3].1.delivered_pps.max(1.0);
    println!(
        "64-byte UDP over {FLOWS} flows, generator at full speed; TCP: iperf3; latency: 1000 pings"
    );
    println!(
        "| way | offered kpps | delivered kpps | vs (a) | vs (d) | CPU busy | worker CPU | TCP Gbit/s | p50 ms | p99 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (name, f) in results {
        println!(
            "| {name} | {:.0} | {:.0} | {:.2} | {:.2} | {:.0}% | {} | {:.2} | {:.3} | {:.3} |",
            f.offered_pps / 1e3,
            f.delivered_pps / 1e3,
            f.delivered_pps / bridge,
            f.delivered_pps / kernel,
            f.cpu_busy,
            f.worker_cpu
                .map_or("kernel".to_owned(), |c| format!("{c:.0}%")),
            f.tcp_gbps,
            f.p50_ms,
            f.p99_ms
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lb_packet::Frame;

    #[test]
    fn generated_frames_are_valid_udp_to_the_vip() -> anyhow::Result<()> {
        let (src_mac, dst_mac) = (
            MacAddr::from([2, 0, 0, 0, 0, 1]),
            MacAddr::from([2, 0, 0, 0, 0, 2]),
        );
        for n in [0, 1, 4321] {
            let bytes = udp_frame(src_mac, dst_mac, Ipv4Addr::new(10, 0, 0, 2), n);
            assert_eq!(bytes.len(), 60);
            let frame = Frame::parse(&bytes[..])?;
            assert_eq!(frame.l4_checksum_valid(), Some(true));
            let key = frame.flow_key().context("no flow")?;
            assert_eq!(
                (key.dst.to_string(), key.dst_port, key.src_port),
                (VIP.into(), UDP_PORT, 10_000 + n)
            );
        }
        Ok(())
    }
}
