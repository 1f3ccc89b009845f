//! `lb-proxy`: the one-armed NAT proxy (the MirageOS random proxy).

use std::net::IpAddr;

use clap::Parser;
use lb_algos::Policy;
use lb_engine::{IpCidr, NatProxy, NatProxyConfig};
use lb_examples::cli::{AdminArgs, RunArgs, fail, parse_or_exit};
use lb_examples::health_args::HealthArgs;
use lb_examples::serve::{Signals, serve, start_admin};
use lb_packet::MacAddr;
use lb_session::PortRange;

const PROGRAM: &str = "lb-proxy";

/// One-armed full-NAT proxy: owns an address, answers ARP and ping, and
/// sends each new TCP/UDP connection to one of the destinations (same port)
/// from its own address and a port of its range.
#[derive(Debug, Parser)]
#[command(name = PROGRAM, version)]
struct Cli {
    /// The interface (tap or NIC).
    #[arg(long, value_name = "IF")]
    iface: String,
    /// The proxy's own address and prefix: clients connect to it, and its
    /// connections to destinations come from it.
    #[arg(long, value_name = "IP/PREFIX")]
    ip: IpCidr,
    /// Another address clients connect to, routed to the proxy (not
    /// answered in ARP): behind ECMP, one several instances share (repeat
    /// for more). Its connections go on from --ip, this instance's own.
    #[arg(long = "vip", value_name = "IP")]
    vips: Vec<IpAddr>,
    /// Destinations, comma-separated.
    #[arg(
        long,
        value_name = "IP[,IP...]",
        value_delimiter = ',',
        required = true
    )]
    dst_addrs: Vec<IpAddr>,
    /// Router for off-link destinations.
    #[arg(long, value_name = "IP")]
    gateway: Option<IpAddr>,
    /// The proxy's MAC; by default 02:00 followed by its address.
    #[arg(long, value_name = "MAC")]
    mac: Option<MacAddr>,
    /// Source ports towards destinations.
    #[arg(long, value_name = "LO-HI", default_value = "32768-60999")]
    snat_ports: PortRange,
    /// A port on the proxy that takes no connections (repeat for more).
    #[arg(long = "deny-port", value_name = "PORT")]
    deny_ports: Vec<u16>,
    /// How a connection picks its destination.
    #[arg(long, default_value = "random")]
    policy: Policy,
    #[command(flatten)]
    health: HealthArgs,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    admin: AdminArgs,
}

fn main() {
    let cli: Cli = parse_or_exit(PROGRAM);
    if let Err(error) = start(&cli) {
        fail(PROGRAM, format_args!("{error:#}"));
    }
}

fn start(cli: &Cli) -> anyhow::Result<()> {
    let log = lb_examples::logging::init(PROGRAM, &cli.run.log)?;
    let mac = cli.mac.unwrap_or(MacAddr::local_for(cli.ip.ip));
    let (health, health_check) = cli.health.settings();
    let config = NatProxyConfig {
        ip: cli.ip.ip,
        vips: cli.vips.clone(),
        prefix_len: cli.ip.prefix_len,
        mac,
        gateway: cli.gateway,
        dst_addrs: cli.dst_addrs.clone(),
        policy: cli.policy,
        snat_ports: cli.snat_ports,
        denied_ports: cli.deny_ports.clone(),
        sessions: Default::default(),
        selection: Default::default(),
        arp: Default::default(),
        health,
        health_check,
    };
    let mut engine = NatProxy::new(&config)?;
    let destinations: Vec<String> = cli.dst_addrs.iter().map(IpAddr::to_string).collect();
    tracing::info!(
        "{}/{} at {mac} -> {} ({}), source ports {}",
        cli.ip.ip,
        cli.ip.prefix_len,
        destinations.join(", "),
        cli.policy,
        cli.snat_ports
    );
    let signals = Signals::install()?;
    let admin = start_admin::<NatProxy>(&cli.admin, log)?;
    serve(
        PROGRAM,
        &cli.run,
        std::slice::from_ref(&cli.iface),
        &mut engine,
        &signals,
        admin,
        |_| {},
    )
}
