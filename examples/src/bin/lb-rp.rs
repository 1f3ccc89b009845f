//! `lb-rp`: the reverse-proxy NAT load balancer (Polycube `lbrp`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use lb_engine::{Control, ReverseProxy, ReverseProxyConfig, ServiceConfig};
use lb_examples::cli::{AdminArgs, InterfaceSpec, RunArgs, fail, parse_or_exit};
use lb_examples::scale_out::{InstanceArgs, warn_shared};
use lb_examples::serve::{Signals, serve, start_admin};

const PROGRAM: &str = "lb-rp";

/// Reverse-proxy load balancer: DNAT from virtual services to backends,
/// and back. One frontend is SINGLE mode; several, each IF=IP, MULTI mode.
#[derive(Debug, Parser)]
#[command(name = PROGRAM, version)]
struct Cli {
    /// Check FILE as a configuration (every rule a start or reload
    /// applies, one frontend assumed) and exit: 0 if it loads, 2 with the
    /// reason if not. Opens no interface; takes no other flag.
    #[arg(long, value_name = "FILE", exclusive = true)]
    check_config: Option<PathBuf>,
    /// Frontend interface towards clients, IF or IF=IP (repeat for MULTI mode).
    #[arg(long, required_unless_present = "check_config", value_name = "IF[=IP]")]
    frontend: Vec<InterfaceSpec>,
    /// Backend interface towards the servers.
    #[arg(long, required_unless_present = "check_config", value_name = "IF")]
    backend: Option<InterfaceSpec>,
    /// TOML file with the services, as `[[service]]` tables.
    #[arg(long, required_unless_present = "check_config", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    instance: InstanceArgs,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    admin: AdminArgs,
}

fn load(path: &PathBuf) -> anyhow::Result<ReverseProxyConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("config {}", path.display()))?;
    lb_examples::cli::parse_toml(path, &text)
}

fn main() {
    let cli: Cli = parse_or_exit(PROGRAM);
    let done = match &cli.check_config {
        Some(path) => check_config(path),
        None => start(&cli),
    };
    if let Err(error) = done {
        fail(PROGRAM, format_args!("{error:#}"));
    }
}

/// `--check-config FILE`: loads it as a start would, touching nothing.
fn check_config(path: &PathBuf) -> anyhow::Result<()> {
    let config = load(path)?;
    let engine = ReverseProxy::new(vec![None], &config)
        .with_context(|| format!("config {}", path.display()))?;
    let services = engine.services().len();
    eprintln!(
        "{PROGRAM}: config {}: valid, {services} services",
        path.display()
    );
    Ok(())
}

fn start(cli: &Cli) -> anyhow::Result<()> {
    let log = lb_examples::logging::init(PROGRAM, &cli.run.log)?;
    // Required by the parser unless --check-config is given.
    let (Some(backend), Some(config_path)) = (&cli.backend, &cli.config) else {
        anyhow::bail!("give --backend and --config");
    };
    if backend.ip.is_some() {
        anyhow::bail!("--backend takes an interface name only");
    }
    let multi = cli.frontend.len() > 1;
    if multi && cli.frontend.iter().any(|f| f.ip.is_none()) {
        anyhow::bail!("with several --frontend, each needs an address: --frontend IF=IP");
    }
    let mut config = load(config_path)?;
    cli.instance.prepare(
        &config.selection,
        "[selection] hash_key",
        policies(&config.services),
        &mut config.health,
    );
    let mut engine = ReverseProxy::new(cli.frontend.iter().map(|f| f.ip).collect(), &config)
        .with_context(|| format!("config {}", config_path.display()))?;
    warn_shared(engine.shared_backends());
    for service in engine.services() {
        let backends: Vec<String> = service
            .backends
            .iter()
            .map(|b| format!("{}:{} weight {}", b.ip, b.port.unwrap_or(0), b.weight))
            .collect();
        for key in service.keys() {
            tracing::info!(
                "service {key} ({}): {}",
                service.policy,
                backends.join(", ")
            );
        }
    }
    let frontends: Vec<_> = cli.frontend.iter().map(|f| f.ip).collect();
    let mut loaded = config;
    // The services as the engine showed them after the last load, so the
    // API's changes since are told apart from the file's own spelling.
    let mut as_loaded = engine.services();
    let mut interfaces: Vec<String> = cli.frontend.iter().map(|f| f.name.clone()).collect();
    interfaces.push(backend.name.clone());
    let signals = Signals::install()?;
    let reload_signals = signals.clone();
    let path = config_path.clone();
    let instance = cli.instance.clone();
    let admin = start_admin::<ReverseProxy>(&cli.admin, log)?;
    serve(
        PROGRAM,
        &cli.run,
        &interfaces,
        &mut engine,
        &signals,
        admin,
        move |engine: &mut ReverseProxy| {
            if reload_signals.take_reload() {
                let reloaded = reload(
                    engine,
                    &frontends,
                    &instance,
                    &path,
                    &mut loaded,
                    &mut as_loaded,
                );
                match reloaded {
                    Ok(changes) => tracing::info!("reloaded {}: {changes}", path.display()),
                    Err(error) => {
                        tracing::warn!("reload failed, configuration unchanged: {error:#}")
                    }
                }
            }
        },
    )
}

/// Reloads the file: checked as at startup, whole; then its services
/// replace the running ones (the file wins over changes made through the
/// API since). Refuses a file without services, and changes to the other
/// sections, which take a restart. Says what changed, and which changes
/// made through the API since the last load it undid.
fn reload(
    engine: &mut ReverseProxy,
    frontends: &[Option<std::net::IpAddr>],
    instance: &InstanceArgs,
    path: &PathBuf,
    loaded: &mut ReverseProxyConfig,
    as_loaded: &mut Vec<ServiceConfig>,
) -> anyhow::Result<String> {
    let mut config = load(path)?;
    instance.adjust(&mut config.health);
    ReverseProxy::new(frontends.to_vec(), &config)
        .with_context(|| format!("config {}", path.display()))?;
    if config.services.is_empty() {
        anyhow::bail!("the file has no services; remove services through the API instead");
    }
    let sections = [
        ("[sessions]", config.sessions == loaded.sessions),
        ("[selection]", config.selection == loaded.selection),
        ("[health]", config.health == loaded.health),
    ];
    if let Some((section, _)) = sections.iter().find(|(_, same)| !same) {
        anyhow::bail!("{section} changed, which takes a restart");
    }
    let before = engine.services();
    let through_api = changes(as_loaded, &before);
    // The new file was checked whole above: out of the way while the
    // services change, the new rewrite then fits them.
    let rewrite = engine.src_ip_rewrite()?;
    let rewrite_change = (config.src_ip_rewrite != rewrite).then(|| match config.src_ip_rewrite {
        Some(new) => format!(
            "src_ip_rewrite now {} -> {}",
            new.ip_range, new.new_ip_range
        ),
        None => "src_ip_rewrite removed".to_owned(),
    });
    engine.set_src_ip_rewrite(None)?;
    if let Err(error) = engine.replace_services(&config.services) {
        engine.set_src_ip_rewrite(rewrite)?;
        return Err(error.into());
    }
    engine.set_src_ip_rewrite(config.src_ip_rewrite)?;
    instance.warn_policies(policies(&config.services));
    warn_shared(engine.shared_backends());
    *loaded = config;
    *as_loaded = engine.services();
    let changed = changes(&before, as_loaded);
    // The API's changes to what the file changes again are replaced; a
    // file that has them (`lbctl config save`) replaces none.
    let replaced: Vec<&Change> = through_api
        .iter()
        .filter(|api| changed.iter().any(|c| c.same_subject(api)))
        .collect();
    let said = |changes: &[&Change]| {
        let said: Vec<String> = changes.iter().map(ToString::to_string).collect();
        said.join("; ")
    };
    let changed: Vec<&Change> = changed.iter().collect();
    let services = match (changed.is_empty(), replaced.is_empty()) {
        (true, _) => None,
        (false, true) => Some(said(&changed)),
        (false, false) => Some(format!(
            "{}; the API's changes since the last load are replaced: {}",
            said(&changed),
            said(&replaced)
        )),
    };
    let said: Vec<String> = rewrite_change.into_iter().chain(services).collect();
    Ok(if said.is_empty() {
        "no change".to_owned()
    } else {
        said.join("; ")
    })
}

/// Each service's name and policy, for the scale-out checks.
fn policies(services: &[ServiceConfig]) -> Vec<(String, lb_engine::Policy)> {
    services
        .iter()
        .flat_map(|s| s.keys().map(move |key| (key.to_string(), s.policy)))
        .collect()
}

/// One line of what differs between two service lists: a service's
/// policy, or one of its backends with its weight, gone (`-`) or there
/// (`+`).
#[derive(Debug, PartialEq, Eq)]
struct Change {
    sign: char,
    service: String,
    /// `policy`, or `backend IP:PORT`.
    subject: String,
    /// The policy, or `weight W`.
    value: String,
}

impl Change {
    fn same_subject(&self, other: &Change) -> bool {
        (&self.service, &self.subject) == (&other.service, &other.subject)
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Change {
            sign,
            service,
            subject,
            value,
        } = self;
        write!(f, "{sign}{service} {subject} {value}")
    }
}

/// What differs between two service lists, for the log.
fn changes(before: &[ServiceConfig], after: &[ServiceConfig]) -> Vec<Change> {
    let named = |services: &[ServiceConfig]| -> Vec<(String, String, String)> {
        services
            .iter()
            .flat_map(|service| {
                let key = service
                    .keys()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(",");
                let mut entries =
                    vec![(key.clone(), "policy".to_owned(), service.policy.to_string())];
                entries.extend(service.backends.iter().map(|b| {
                    let at = format!("backend {}:{}", b.ip, b.port.unwrap_or(service.port));
                    (key.clone(), at, format!("weight {}", b.weight))
                }));
                entries
            })
            .collect()
    };
    let (old, new) = (named(before), named(after));
    let change = |sign| {
        move |(service, subject, value): &(String, String, String)| Change {
            sign,
            service: service.clone(),
            subject: subject.clone(),
            value: value.clone(),
        }
    };
    let gone = old.iter().filter(|e| !new.contains(e)).map(change('-'));
    let there = new.iter().filter(|e| !old.contains(e)).map(change('+'));
    gone.chain(there).collect()
}
