//! What `lbctl` takes on its command line.

use std::net::IpAddr;

use clap::{Parser, Subcommand};
use lb_engine::{BackendConfig, IpCidr, MacAddr, ServiceConfig, ServiceSelector, SourceNat};

use lb_examples::cli::admin_addr;

use crate::PROGRAM;

/// A number of seconds above zero, at most a day.
fn positive_seconds(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|seconds| (0.01..=86_400.0).contains(seconds))
        .ok_or_else(|| format!("expected seconds between 0.01 and 86400, not {text:?}"))
}

/// Reads and changes a running load balancer through its admin endpoint.
///
/// Services are written `VIP:PORT/PROTO` (`VIP/icmp`; an IPv6 VIP in
/// brackets before a port, `[fd0d::13]:80/tcp`; `VIP:PORT/all` changes an
/// all service's three halves together); backends `IP[:PORT]`
/// (`[fd01::2]:8080`) for lb-rp, a MAC for lb-dsr, an IP for lb-proxy
/// (which have no services, so the service is left out).
#[derive(Debug, Parser)]
#[command(name = PROGRAM, version)]
pub(crate) struct Cli {
    /// The admin endpoint: PORT (on loopback) or HOST:PORT.
    #[arg(long, global = true, default_value = "127.0.0.1:9901", value_parser = admin_addr)]
    pub(crate) admin: std::net::SocketAddr,
    /// The admin API's bearer token, in FILE: sent with every request.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) admin_token_file: Option<std::path::PathBuf>,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Is the packet loop running?
    Ready,
    /// Counters.
    Stats {
        /// In the Prometheus text format.
        #[arg(long)]
        prometheus: bool,
    },
    /// Set every counter back to zero.
    Reset,
    /// Virtual services (lb-rp).
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Backends of a service (lb-rp), or of the load balancer (lb-dsr, lb-proxy).
    #[command(subcommand)]
    Backend(BackendCommand),
    /// Virtual IPs (lb-dsr).
    #[command(subcommand)]
    Vip(VipCommand),
    /// The frontend's MAC and algorithm (lb-dsr; Polycube lbdsr's
    /// `frontend set mac=` and `algorithm`).
    #[command(subcommand)]
    Frontend(FrontendCommand),
    /// The rewrite of clients' source addresses (lb-rp; Polycube lbrp's
    /// src-ip-rewrite).
    #[command(subcommand)]
    SrcIpRewrite(SrcIpRewriteCommand),
    /// The running configuration (lb-rp), API changes included.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The load balancer's log level (Polycube's `loglevel`).
    #[command(subcommand)]
    Log(LogCommand),
    /// Rates per service and backend (packets and new flows a second),
    /// refreshed like `top` until interrupted.
    Top {
        /// Seconds between readings.
        #[arg(long, default_value_t = 1.0, value_parser = positive_seconds)]
        interval: f64,
        /// Stop after N views (the first has no rates yet).
        #[arg(long, value_name = "N")]
        count: Option<u64>,
    },
    /// Live sessions.
    Sessions {
        /// Only this service.
        #[arg(long)]
        service: Option<String>,
        /// Only this backend.
        #[arg(long)]
        backend: Option<String>,
        /// Only this client address.
        #[arg(long)]
        client: Option<IpAddr>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

// Parsed once a run: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub(crate) enum ServiceCommand {
    /// List services with their backends.
    List,
    /// Add a service: VIP:PORT/tcp, VIP:PORT/udp, VIP/icmp or VIP:PORT/all.
    Add {
        /// The service.
        #[arg(value_parser = parsed::<ServiceConfig>)]
        service: ServiceConfig,
        /// Selection policy (default maglev).
        #[arg(long)]
        policy: Option<lb_engine::Policy>,
        /// A backend, `IP[:PORT][@WEIGHT]` (repeat for more).
        #[arg(long = "backend", value_parser = parsed::<BackendConfig>)]
        backends: Vec<BackendConfig>,
        /// What to call it (shown beside its key in stats and Prometheus).
        #[arg(long)]
        name: Option<String>,
        /// Full NAT: backends see connections from `IP` (a port of
        /// `FIRST-LAST`, default 32768-60999), an address lb-rp answers
        /// ARP for on the backend side.
        #[arg(long, value_name = "IP[:FIRST-LAST]", value_parser = parsed::<SourceNat>)]
        source_nat: Option<SourceNat>,
    },
    /// Remove a service and end its sessions.
    Del {
        /// The service.
        #[arg(value_parser = parsed::<ServiceSelector>)]
        service: ServiceSelector,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum BackendCommand {
    /// List backends (of one service, if given).
    List {
        /// The service.
        service: Option<String>,
    },
    /// Add a backend: `[SERVICE] BACKEND`.
    Add {
        /// `[SERVICE] BACKEND`
        #[arg(num_args = 1..=2, required = true)]
        target: Vec<String>,
        /// Its weight.
        #[arg(long, default_value_t = 1)]
        weight: u32,
        /// What to call it (lb-rp).
        #[arg(long)]
        name: Option<String>,
    },
    /// Change a backend's weight: `[SERVICE] BACKEND` --weight W.
    Set {
        /// `[SERVICE] BACKEND`
        #[arg(num_args = 1..=2, required = true)]
        target: Vec<String>,
        /// The new weight; 0 drains.
        #[arg(long)]
        weight: u32,
    },
    /// Drain a backend (weight 0: sessions stay, no new flows).
    Drain {
        /// `[SERVICE] BACKEND`
        #[arg(num_args = 1..=2, required = true)]
        target: Vec<String>,
    },
    /// Remove a backend and end its sessions.
    Del {
        /// `[SERVICE] BACKEND`
        #[arg(num_args = 1..=2, required = true)]
        target: Vec<String>,
    },
    /// Force a backend's health: `[SERVICE] BACKEND up|down|auto` (auto:
    /// its checks decide again). A live session outranks health.
    Health {
        /// `[SERVICE] BACKEND up|down|auto`
        #[arg(num_args = 2..=3, required = true)]
        target: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Print it, as lb-rp's configuration file (TOML; JSON with --json).
    Show,
    /// Write it to FILE, which lb-rp then reads (`--config FILE`, or on
    /// SIGHUP): replaced whole, through a temporary file beside it.
    Save {
        /// Where to write it.
        file: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum SrcIpRewriteCommand {
    /// Print the ranges.
    Show,
    /// Clients in --ip-range reach the backends from the same host offset
    /// in --new-ip-range (same prefix length); new flows only.
    Set {
        /// The clients' range, `IP/PREFIX`.
        #[arg(long, value_parser = parsed::<IpCidr>)]
        ip_range: IpCidr,
        /// The range they are moved to.
        #[arg(long, value_parser = parsed::<IpCidr>)]
        new_ip_range: IpCidr,
    },
    /// Stop rewriting (live sessions keep their addresses).
    Del,
}

#[derive(Debug, Subcommand)]
pub(crate) enum LogCommand {
    /// Print the filter in force.
    Show,
    /// Put a level in force at once, until the process stops or it is set
    /// again: off, error, warn, info, debug, trace (every frame), or
    /// RUST_LOG directives (`info,lb_engine::frames=trace`).
    Set {
        /// The level or directives.
        level: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum FrontendCommand {
    /// Print the MACs and the algorithm.
    Show,
    /// Change the MAC the VIPs are answered with (announced at once), the
    /// algorithm (live sessions keep their servers), or both.
    Set {
        /// The new MAC.
        #[arg(long)]
        mac: Option<MacAddr>,
        /// src-ip, 5-tuple, maglev, random or round-robin.
        #[arg(long)]
        algorithm: Option<lb_engine::Policy>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum VipCommand {
    /// Answer for another VIP.
    Add {
        /// The VIP.
        vip: IpAddr,
    },
    /// Stop answering for a VIP and end its sessions.
    Del {
        /// The VIP.
        vip: IpAddr,
    },
}

/// Parses a flag's value with the engine's own parser.
pub(crate) fn parsed<T: std::str::FromStr<Err: std::fmt::Display>>(
    text: &str,
) -> Result<T, String> {
    text.parse().map_err(|e| format!("{e}"))
}
