//! `lb-dsr`: the direct-server-return load balancer (Polycube `lbdsr`).

use std::net::IpAddr;

use clap::{Parser, ValueEnum};
use lb_algos::Policy;
use lb_engine::{DirectReturn, DirectReturnConfig, DsrBackendConfig};
use lb_examples::cli::{AdminArgs, RunArgs, fail, parse_or_exit};
use lb_examples::health_args::HealthArgs;
use lb_examples::scale_out::InstanceArgs;
use lb_examples::serve::{Signals, serve, start_admin};
use lb_packet::MacAddr;

const PROGRAM: &str = "lb-dsr";

/// How a new flow picks a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Algorithm {
    /// Hash of the client address: a client always reaches one server.
    SrcIp,
    /// Hash of the 5-tuple.
    #[value(name = "5-tuple")]
    FiveTuple,
    /// Weighted Maglev consistent hashing of the 5-tuple.
    Maglev,
}

/// Direct-server-return load balancer at layer 2: answers ARP for the VIPs
/// and forwards each flow to a server by rewriting the destination MAC;
/// servers (holding the VIPs on loopback) reply to clients directly.
#[derive(Debug, Parser)]
#[command(name = PROGRAM, version)]
struct Cli {
    /// Interface towards clients.
    #[arg(long, value_name = "IF")]
    frontend: String,
    /// Interface towards the servers; without it the load balancer is one-armed.
    #[arg(long, value_name = "IF")]
    backend: Option<String>,
    /// A virtual IP (repeat for more).
    #[arg(long = "vip", required = true, value_name = "IP")]
    vips: Vec<IpAddr>,
    /// The load balancer's MAC, answered for the VIPs.
    #[arg(long, value_name = "MAC")]
    mac: MacAddr,
    /// A server's MAC (repeat for more).
    #[arg(long = "backend-mac", required = true, value_name = "MAC")]
    backend_macs: Vec<MacAddr>,
    /// Source MAC of frames out of the backend port; by default derived
    /// from --mac (02: and its last five bytes, the last one flipped).
    #[arg(long, value_name = "MAC")]
    backend_port_mac: Option<MacAddr>,
    /// How new flows pick a server.
    #[arg(long, value_enum, default_value = "src-ip")]
    algorithm: Algorithm,
    /// New flows per second that may have a session (Katran's flood
    /// guard); beyond it, new flows go to their pick without one. 0 (the
    /// default) turns it off.
    #[arg(long, value_name = "N", default_value_t = 0)]
    flood_guard: u32,
    /// Key of the hash algorithms, 32 hex digits: instances that share it
    /// (and their servers) pick alike, and clients cannot predict picks.
    /// Default: a built-in key, the same everywhere.
    #[arg(long, value_name = "HEX")]
    hash_key: Option<String>,
    #[command(flatten)]
    instance: InstanceArgs,
    #[command(flatten)]
    health: HealthArgs,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    admin: AdminArgs,
}

/// A MAC of the backend port distinct from the frontend's, so a bridge
/// joining both ports learns each on its own side.
fn derived_backend_port_mac(mac: MacAddr) -> MacAddr {
    let mut octets = mac.octets();
    octets[0] = 0x02;
    octets[5] ^= 0x01;
    MacAddr(octets)
}

fn main() {
    let cli: Cli = parse_or_exit(PROGRAM);
    if let Err(error) = start(&cli) {
        fail(PROGRAM, format_args!("{error:#}"));
    }
}

fn start(cli: &Cli) -> anyhow::Result<()> {
    let log = lb_examples::logging::init(PROGRAM, &cli.run.log)?;
    let policy = match cli.algorithm {
        Algorithm::SrcIp => Policy::SrcIpHash,
        Algorithm::FiveTuple => Policy::FlowHash,
        Algorithm::Maglev => Policy::Maglev,
    };
    let one_armed = cli.backend.is_none();
    let backend_port_mac = if one_armed {
        cli.mac
    } else {
        cli.backend_port_mac
            .unwrap_or(derived_backend_port_mac(cli.mac))
    };
    let (mut health, health_check) = cli.health.settings();
    let selection = lb_engine::SelectionSettings {
        hash_key: cli.hash_key.clone(),
        ..Default::default()
    };
    let policies = [("vips".to_owned(), policy)];
    cli.instance
        .prepare(&selection, "--hash-key", policies, &mut health);
    let config = DirectReturnConfig {
        vips: cli.vips.clone(),
        mac: cli.mac,
        backend_port_mac: Some(backend_port_mac),
        backends: cli
            .backend_macs
            .iter()
            .map(|&mac| DsrBackendConfig { mac, weight: 1 })
            .collect(),
        policy,
        one_armed,
        sessions: lb_engine::SessionSettings {
            flood_guard: cli.flood_guard,
            ..Default::default()
        },
        selection,
        health,
        health_check,
    };
    let mut engine = DirectReturn::new(&config)?;
    let vips: Vec<String> = cli.vips.iter().map(IpAddr::to_string).collect();
    tracing::info!(
        "VIPs {} at {}, {} servers, {policy}",
        vips.join(", "),
        cli.mac,
        cli.backend_macs.len()
    );
    if !one_armed {
        tracing::info!("backend port source MAC {backend_port_mac}");
    }
    let mut interfaces = vec![cli.frontend.clone()];
    interfaces.extend(cli.backend.clone());
    let signals = Signals::install()?;
    let admin = start_admin::<DirectReturn>(&cli.admin, log)?;
    serve(
        PROGRAM,
        &cli.run,
        &interfaces,
        &mut engine,
        &signals,
        admin,
        |_| {},
    )
}
