//! `lbctl`: the command-line client of the admin API of `lb-rp`, `lb-dsr`
//! and `lb-proxy`, with tables for people and `--json` for scripts.

// A command-line client talks on standard output.
#![allow(clippy::print_stdout)]

mod client;
mod tables;

use std::net::IpAddr;
use std::process::exit;

use clap::{Parser, Subcommand};
use lb_control::api::{
    BackendAdded, HealthBody, HealthForce, HealthForced, Removed, Reset, ServiceStats,
    ServicesAdded, SessionView, SrcIpRewrite, SrcIpRewriteState, Stats, VipAdded, VipBody,
    WeightBody, WeightSet,
};
use lb_engine::{
    BackendConfig, DestinationConfig, DsrBackendConfig, IpCidr, MacAddr, ServiceConfig,
    ServiceSelector, SourceNat,
};
use lb_examples::cli::{admin_addr, parse_or_exit};
use serde::Serialize;

use client::Client;

const PROGRAM: &str = "lbctl";

/// Reads and changes a running load balancer through its admin endpoint.
///
/// Services are written `VIP:PORT/PROTO` (`VIP/icmp`; an IPv6 VIP in
/// brackets before a port, `[fd0d::13]:80/tcp`; `VIP:PORT/all` changes an
/// all service's three halves together); backends `IP[:PORT]`
/// (`[fd01::2]:8080`) for lb-rp, a MAC for lb-dsr, an IP for lb-proxy
/// (which have no services, so the service is left out).
#[derive(Debug, Parser)]
#[command(name = PROGRAM, version)]
struct Cli {
    /// The admin endpoint: PORT (on loopback) or HOST:PORT.
    #[arg(long, global = true, default_value = "127.0.0.1:9901", value_parser = admin_addr)]
    admin: std::net::SocketAddr,
    /// The admin API's bearer token, in FILE: sent with every request.
    #[arg(long, global = true, value_name = "FILE")]
    admin_token_file: Option<std::path::PathBuf>,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
    /// The rewrite of clients' source addresses (lb-rp; Polycube lbrp's
    /// src-ip-rewrite).
    #[command(subcommand)]
    SrcIpRewrite(SrcIpRewriteCommand),
    /// The running configuration (lb-rp), API changes included.
    #[command(subcommand)]
    Config(ConfigCommand),
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
enum ServiceCommand {
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
enum BackendCommand {
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
enum ConfigCommand {
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
enum SrcIpRewriteCommand {
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
enum VipCommand {
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
fn parsed<T: std::str::FromStr<Err: std::fmt::Display>>(text: &str) -> Result<T, String> {
    text.parse().map_err(|e| format!("{e}"))
}

pub(crate) fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("{PROGRAM}: {message}");
    exit(1)
}

/// The backends path for `[SERVICE] BACKEND`, and the backend.
fn backend_target(target: &[String]) -> (String, &str) {
    match target {
        [service, backend] => match service.parse::<ServiceSelector>() {
            Ok(key) => (format!("services/{}/backends", key.path()), backend),
            Err(error) => fail(format_args!("invalid service {service:?}: {error}")),
        },
        [backend] => ("backends".to_owned(), backend),
        _ => fail("give [SERVICE] BACKEND"),
    }
}

/// A backend to add, in the shape the engine behind the endpoint takes:
/// a service's `IP[:PORT]` (lb-rp), a MAC (lb-dsr), or an IP (lb-proxy).
#[derive(Serialize)]
#[serde(untagged)]
enum NewBackend {
    Service(BackendConfig),
    Server(DsrBackendConfig),
    Destination(DestinationConfig),
}

fn new_backend(for_service: bool, backend: &str, weight: u32, name: Option<String>) -> NewBackend {
    let invalid = |expected: &str| -> ! {
        fail(format_args!(
            "invalid backend {backend:?}: expected {expected}"
        ))
    };
    if for_service {
        let addr: lb_engine::BackendAddr = backend.parse().unwrap_or_else(|_| invalid("IP[:PORT]"));
        return NewBackend::Service(BackendConfig {
            ip: addr.ip,
            port: addr.port,
            weight,
            name,
        });
    }
    if name.is_some() {
        fail("--name is for backends of lb-rp's services");
    }
    if let Ok(mac) = backend.parse::<MacAddr>() {
        return NewBackend::Server(DsrBackendConfig { mac, weight });
    }
    match backend.parse() {
        Ok(ip) => NewBackend::Destination(DestinationConfig { ip, weight }),
        Err(_) => invalid("a MAC (lb-dsr) or an IP (lb-proxy)"),
    }
}

/// A table for people; for scripts, the API's JSON as it came.
fn show<T>(json: bool, (value, text): (T, String), table: impl FnOnce(&T)) {
    if json {
        print!("{text}");
    } else {
        table(&value);
    }
}

fn main() {
    let cli: Cli = parse_or_exit(PROGRAM);
    let token = cli.admin_token_file.as_deref().map(|path| {
        lb_examples::cli::read_token(path).unwrap_or_else(|e| fail(format_args!("{e:#}")))
    });
    let client = Client::new(cli.admin, token);
    let json = cli.json;
    match cli.command {
        Command::Ready => {
            let (status, text) = client.call("GET", "ready", None::<&()>);
            if status != 200 {
                fail(format_args!("not ready (HTTP {status})"));
            }
            print!("{text}");
        }
        Command::Stats { prometheus: true } => {
            print!("{}", client.call("GET", "stats/prometheus", None::<&()>).1)
        }
        Command::Stats { prometheus: false } => {
            show(json, client.get::<Stats>("GET", "stats"), tables::stats)
        }
        Command::Reset => show(json, client.get::<Reset>("POST", "stats/reset"), |_| {
            println!("counters reset")
        }),
        Command::Service(ServiceCommand::List) => show(
            json,
            client.get::<Vec<ServiceStats>>("GET", "services"),
            |s: &Vec<ServiceStats>| tables::services(s),
        ),
        Command::Service(ServiceCommand::Add {
            mut service,
            policy,
            backends,
            name,
            source_nat,
        }) => {
            service.policy = policy.unwrap_or(service.policy);
            service.backends = backends;
            service.name = name;
            service.source_nat = source_nat;
            show(
                json,
                client.typed::<ServicesAdded>("POST", "services", Some(&service)),
                |added| println!("added {}", added.added.join(", ")),
            );
        }
        Command::Service(ServiceCommand::Del { service }) => show(
            json,
            client.get::<Removed>("DELETE", &format!("services/{}", service.path())),
            |removed| {
                println!(
                    "removed {}, {} sessions ended",
                    removed.removed, removed.sessions_ended
                )
            },
        ),
        Command::Backend(BackendCommand::List { service }) => {
            let (services, _) = client.get::<Vec<ServiceStats>>("GET", "services");
            let selected: Vec<ServiceStats> = services
                .into_iter()
                .filter(|s| service.as_deref().is_none_or(|name| s.name == name))
                .collect();
            let text = serde_json::to_string_pretty(&selected).unwrap_or_default() + "\n";
            show(json, (selected, text), |s: &Vec<ServiceStats>| {
                tables::services(s)
            });
        }
        Command::Backend(BackendCommand::Add {
            target,
            weight,
            name,
        }) => {
            let (path, backend) = backend_target(&target);
            let body = new_backend(target.len() == 2, backend, weight, name);
            show(
                json,
                client.typed::<BackendAdded>("POST", &path, Some(&body)),
                |added| println!("added {:?} with weight {}", added.added, added.weight),
            );
        }
        Command::Backend(BackendCommand::Set { target, weight }) => {
            let (path, backend) = backend_target(&target);
            show(
                json,
                client.typed::<WeightSet>(
                    "PUT",
                    &format!("{path}/{backend}"),
                    Some(&WeightBody { weight }),
                ),
                |set| println!("{} now has weight {}", set.backend, set.weight),
            );
        }
        Command::Backend(BackendCommand::Drain { target }) => {
            let (path, backend) = backend_target(&target);
            show(
                json,
                client.get::<WeightSet>("POST", &format!("{path}/{backend}/drain")),
                |set| println!("{} draining (weight 0)", set.backend),
            );
        }
        Command::Backend(BackendCommand::Health { mut target }) => {
            let force = match target.pop().as_deref() {
                Some("up") => HealthForce::Up,
                Some("down") => HealthForce::Down,
                Some("auto") => HealthForce::Auto,
                other => fail(format_args!(
                    "invalid health {:?}: expected up, down or auto",
                    other.unwrap_or_default()
                )),
            };
            let (path, backend) = backend_target(&target);
            show(
                json,
                client.typed::<HealthForced>(
                    "PUT",
                    &format!("{path}/{backend}/health"),
                    Some(&HealthBody { force }),
                ),
                |forced| match forced.force {
                    HealthForce::Auto => println!("{}: its checks decide", forced.backend),
                    HealthForce::Up => println!("{} forced up", forced.backend),
                    HealthForce::Down => println!("{} forced down", forced.backend),
                },
            );
        }
        Command::Backend(BackendCommand::Del { target }) => {
            let (path, backend) = backend_target(&target);
            show(
                json,
                client.get::<Removed>("DELETE", &format!("{path}/{backend}")),
                |removed| {
                    println!(
                        "removed {}, {} sessions ended",
                        removed.removed, removed.sessions_ended
                    )
                },
            );
        }
        Command::Vip(VipCommand::Add { vip }) => show(
            json,
            client.typed::<VipAdded>("POST", "vips", Some(&VipBody { vip })),
            |added| println!("added {}", added.added),
        ),
        Command::Vip(VipCommand::Del { vip }) => show(
            json,
            client.get::<Removed>("DELETE", &format!("vips/{vip}")),
            |removed| {
                println!(
                    "removed {}, {} sessions ended",
                    removed.removed, removed.sessions_ended
                )
            },
        ),
        Command::SrcIpRewrite(command) => {
            let route = "src-ip-rewrite";
            let reply = match command {
                SrcIpRewriteCommand::Show => client.get::<SrcIpRewriteState>("GET", route),
                SrcIpRewriteCommand::Set {
                    ip_range,
                    new_ip_range,
                } => client.typed::<SrcIpRewriteState>(
                    "PUT",
                    route,
                    Some(&SrcIpRewrite {
                        ip_range,
                        new_ip_range,
                    }),
                ),
                SrcIpRewriteCommand::Del => client.get::<SrcIpRewriteState>("DELETE", route),
            };
            show(json, reply, |state| match state.src_ip_rewrite {
                Some(r) => println!("{} -> {}", r.ip_range, r.new_ip_range),
                None => println!("no source-IP rewrite"),
            });
        }
        Command::Config(ConfigCommand::Show) => {
            let path = if json { "config" } else { "config/toml" };
            print!("{}", client.text("GET", path));
        }
        Command::Config(ConfigCommand::Save { file }) => {
            let text = client.text("GET", "config/toml");
            lb_examples::cli::write_whole(&file, text.as_bytes())
                .unwrap_or_else(|e| fail(format_args!("cannot write {}: {e}", file.display())));
            println!("saved the running configuration to {}", file.display());
        }
        Command::Sessions {
            service,
            backend,
            client: from,
            limit,
        } => {
            let mut query = format!("sessions?limit={limit}");
            let from = from.map(|ip| ip.to_string());
            for (key, value) in [("service", service), ("backend", backend), ("client", from)] {
                if let Some(value) = value {
                    query += &format!("&{key}={}", value.replace('/', "%2F").replace(':', "%3A"));
                }
            }
            show(
                json,
                client.get::<Vec<SessionView>>("GET", &query),
                |s: &Vec<SessionView>| tables::sessions(s),
            );
        }
    }
}
