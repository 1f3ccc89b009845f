//! `lb-throughput`: one service, one load, several ways through a namespace
//! topology, measured in one run:
//!
//! - (a) a trivial userspace tap bridge: the tap datapath's own ceiling,
//! - (b) `lb-rp` on tap, with offloads (virtio-net headers), without, and
//!   busy polling,
//! - (c) `lb-rp` on pnet (veths), the same three,
//! - (d) the Linux kernel doing the load balancing with nftables DNAT.
//!
//! Each way gets 64-byte UDP from a generator in its own process (raw
//! frames over 1024 flows, as fast as it can; one way of lb-rp over a
//! million flows, each sent once before measuring so that all are live
//! sessions), TCP bulk transfer (iperf3),
//! and ping round trips through the VIP; the table gives delivered packets
//! per second at the sink, offered load, CPU, TCP throughput and latency
//! percentiles, with ratios to (a) and (d). Needs root.

// A measurement tool reports on standard output.
#![allow(clippy::print_stdout)]

mod bridge;
mod generator;
mod measure;
mod report;
mod ways;

use std::net::Ipv4Addr;
use std::path::PathBuf;

use anyhow::{Context, ensure};
use clap::{Parser, Subcommand};
use lb_lab::{DatapathKind, Lab, is_root, run as sh};
use lb_packet::MacAddr;

use crate::bridge::bridge;
use crate::generator::generate;
use crate::measure::{Figures, measure, medians};
use crate::report::print_table;
use crate::ways::{kernel, userspace};

const VIP: &str = "172.16.0.100";
const UDP_PORT: u16 = 9;
/// Flows of the UDP load, unless a way says otherwise.
const FLOWS: u32 = 1024;
/// Flows of the way that measures lb-rp with a large session table.
const MANY_FLOWS: u32 = 1 << 20;
const GEN_MAC: &str = "02:00:00:00:0a:02";
const SINK_MAC: &str = "02:00:00:00:0a:03";

/// The kernel's way, measured last.
const KERNEL_WAY: &str = "(d) kernel nftables DNAT";

/// A userspace way: its name, datapath, whether lb-rp (else the bridge)
/// does the work, lb-rp's extra flags, and the UDP load's flows.
type UserspaceWay = (
    &'static str,
    DatapathKind,
    bool,
    &'static [&'static str],
    u32,
);

/// The userspace ways. The kernel's way comes last.
const USERSPACE_WAYS: [UserspaceWay; 9] = [
    (
        "(a) userspace tap bridge",
        DatapathKind::Tap,
        false,
        &[],
        FLOWS,
    ),
    ("(b) lb-rp on tap", DatapathKind::Tap, true, &[], FLOWS),
    (
        "(b) lb-rp on tap, 1M flows",
        DatapathKind::Tap,
        true,
        &[],
        MANY_FLOWS,
    ),
    (
        "(b) lb-rp on tap, --no-offload",
        DatapathKind::Tap,
        true,
        &["--no-offload"],
        FLOWS,
    ),
    (
        "(b) lb-rp on tap, --busy-poll-us 50",
        DatapathKind::Tap,
        true,
        &["--busy-poll-us", "50"],
        FLOWS,
    ),
    (
        "(b) lb-rp on tap, --busy-poll-us 5000",
        DatapathKind::Tap,
        true,
        &["--busy-poll-us", "5000"],
        FLOWS,
    ),
    ("(c) lb-rp on pnet", DatapathKind::Pnet, true, &[], FLOWS),
    (
        "(c) lb-rp on pnet, --no-offload",
        DatapathKind::Pnet,
        true,
        &["--no-offload"],
        FLOWS,
    ),
    (
        "(c) lb-rp on pnet, --busy-poll-us 5000",
        DatapathKind::Pnet,
        true,
        &["--busy-poll-us", "5000"],
        FLOWS,
    ),
];

#[derive(Debug, Parser)]
#[command(name = "lb-throughput", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure every way (the default).
    Run {
        /// Seconds of UDP and TCP load for each way.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Rounds over the ways; the table gives each figure's median.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Only these ways (repeatable): a way's whole name picks it alone,
        /// anything else every way whose name contains it, e.g.
        /// `--only pnet --only kernel`; every way when absent.
        #[arg(long)]
        only: Vec<String>,
    },
    /// Send 64-byte UDP frames as fast as possible (run inside a namespace).
    Generate {
        /// Interface to send on.
        #[arg(long)]
        iface: String,
        /// Destination MAC of the frames.
        #[arg(long)]
        dst_mac: MacAddr,
        /// Source address (of the first 60,000 flows; the rest come from
        /// 10.0.0.101 and on).
        #[arg(long)]
        src: Ipv4Addr,
        /// Flows to take turns over.
        #[arg(long, default_value_t = FLOWS)]
        flows: u32,
        /// Seconds to send for.
        #[arg(long)]
        seconds: u64,
        /// Send each flow's frame once and stop.
        #[arg(long)]
        once: bool,
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
        only: Vec::new(),
    }) {
        Command::Run {
            seconds,
            rounds,
            only,
        } => measure_all(seconds, rounds.max(1), &only),
        Command::Generate {
            iface,
            dst_mac,
            src,
            flows,
            seconds,
            once,
        } => generate(&iface, dst_mac, src, flows, seconds, once),
        Command::Bridge { taps } => bridge(&taps),
    }
}

/// Every way (or those named in `only`), `rounds` times, each in a fresh
/// lab; prints the medians.
fn measure_all(seconds: u64, rounds: usize, only: &[String]) -> anyhow::Result<()> {
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
    let names = USERSPACE_WAYS.map(|way| way.0);
    let picks = |filter: &str, name: &str| {
        let whole = names.contains(&filter) || filter == KERNEL_WAY;
        if whole {
            name == filter
        } else {
            name.contains(filter)
        }
    };
    let chosen = |name: &str| only.is_empty() || only.iter().any(|o| picks(o, name));
    let ways: Vec<Option<usize>> = (0..USERSPACE_WAYS.len())
        .filter(|&way| chosen(USERSPACE_WAYS[way].0))
        .map(Some)
        .chain(chosen(KERNEL_WAY).then_some(None))
        .collect();
    ensure!(!ways.is_empty(), "no way's name contains any of {only:?}");
    let mut samples: Vec<(&'static str, Vec<Figures>)> = Vec::new();
    let rp = Some(rp.as_str());
    for round in 0..rounds {
        for (slot, way) in ways.iter().enumerate() {
            let mut lab = Lab::new()?;
            let setup = match way.map(|way| USERSPACE_WAYS[way]) {
                Some((name, datapath, with_rp, flags, flows)) => {
                    let rp = rp.filter(|_| with_rp);
                    userspace(&mut lab, name, datapath, rp, flags, flows)?
                }
                None => kernel(&mut lab)?,
            };
            eprintln!("round {}/{rounds}: {} ...", round + 1, setup.name);
            let figures = measure(&mut lab, &setup, seconds).with_context(|| setup.name)?;
            if round == 0 {
                samples.push((setup.name, Vec::new()));
            }
            samples[slot].1.push(figures);
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
