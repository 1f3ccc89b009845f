//! `lb-rp`: the reverse-proxy NAT load balancer (Polycube `lbrp`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use lb_engine::{Control, ReverseProxy, ReverseProxyConfig};
use lb_examples::cli::{DatapathArgs, InterfaceSpec, admin_addr, fail, parse_or_exit};
use lb_examples::serve::{Signals, log, serve, start_admin};

const PROGRAM: &str = "lb-rp";

/// Reverse-proxy load balancer: DNAT from virtual services to backends,
/// and back. One frontend is SINGLE mode; several, each IF=IP, MULTI mode.
#[derive(Debug, Parser)]
#[command(name = PROGRAM, version)]
struct Cli {
    /// Frontend interface towards clients, IF or IF=IP (repeat for MULTI mode).
    #[arg(long, required = true, value_name = "IF[=IP]")]
    frontend: Vec<InterfaceSpec>,
    /// Backend interface towards the servers.
    #[arg(long, value_name = "IF")]
    backend: InterfaceSpec,
    /// TOML file with the services, as `[[service]]` tables.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    #[command(flatten)]
    datapath: DatapathArgs,
    /// Serve the admin HTTP API here: PORT (on loopback) or HOST:PORT.
    #[arg(long, value_name = "ADDR", value_parser = admin_addr)]
    admin: Option<std::net::SocketAddr>,
}

fn load(path: &PathBuf) -> anyhow::Result<ReverseProxyConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("config {}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        let message = e.to_string();
        let first = message
            .lines()
            .find(|l| !l.trim().is_empty() && !l.contains('|'))
            .unwrap_or("invalid TOML");
        anyhow::anyhow!("config {}: {}", path.display(), first.trim())
    })
}

fn main() {
    let cli: Cli = parse_or_exit(PROGRAM);
    if let Err(error) = start(&cli) {
        fail(PROGRAM, format_args!("{error:#}"));
    }
}

fn start(cli: &Cli) -> anyhow::Result<()> {
    if cli.backend.ip.is_some() {
        anyhow::bail!("--backend takes an interface name only");
    }
    let multi = cli.frontend.len() > 1;
    if multi && cli.frontend.iter().any(|f| f.ip.is_none()) {
        anyhow::bail!("with several --frontend, each needs an address: --frontend IF=IP");
    }
    let config = load(&cli.config)?;
    let frontends = cli.frontend.iter().map(|f| f.ip).collect();
    let mut engine = ReverseProxy::new(frontends, &config)
        .with_context(|| format!("config {}", cli.config.display()))?;
    for service in engine.services() {
        let backends: Vec<String> = service
            .backends
            .iter()
            .map(|b| format!("{}:{} weight {}", b.ip, b.port.unwrap_or(0), b.weight))
            .collect();
        for key in service.keys() {
            log(
                PROGRAM,
                format_args!(
                    "service {key} ({}): {}",
                    service.policy,
                    backends.join(", ")
                ),
            );
        }
    }
    let mut interfaces: Vec<String> = cli.frontend.iter().map(|f| f.name.clone()).collect();
    interfaces.push(cli.backend.name.clone());
    let signals = Signals::install()?;
    let reload_signals = signals.clone();
    let path = cli.config.clone();
    let admin = start_admin::<ReverseProxy>(PROGRAM, cli.admin)?;
    serve(
        PROGRAM,
        &cli.datapath,
        &interfaces,
        &mut engine,
        &signals,
        move |engine: &mut ReverseProxy| {
            if let Some(admin) = &admin {
                admin.apply(engine);
            }
            if reload_signals.take_reload() {
                match load(&path).and_then(|config| Ok(engine.replace_services(&config.services)?))
                {
                    Ok(()) => log(PROGRAM, format_args!("reloaded {}", path.display())),
                    Err(error) => log(
                        PROGRAM,
                        format_args!("reload failed, configuration unchanged: {error:#}"),
                    ),
                }
            }
        },
    )
}
