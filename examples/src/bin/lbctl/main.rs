//! `lbctl`: the command-line client of the admin API of `lb-rp`, `lb-dsr`
//! and `lb-proxy`, with tables for people and `--json` for scripts.
//!
//! Exit status: 0 when done (or when whoever reads the output goes away
//! first, as `lbctl stats | head` does), 1 when the load balancer refused
//! the request or could not be reached, 2 for a mistake on the command
//! line.

/// `print!`, ending quietly when the reader of standard output is gone.
macro_rules! out {
    ($($arg:tt)*) => { $crate::emit(format_args!($($arg)*)) };
}

/// `println!`, ending quietly when the reader of standard output is gone.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::emit(format_args!("{}\n", format_args!($($arg)*))) };
}

mod args;
mod client;
mod tables;
mod top;

use std::process::exit;

use lb_control::LogFilter;
use lb_control::api::{
    BackendAdded, HealthBody, HealthForce, HealthForced, Removed, Reset, ServiceStats,
    ServicesAdded, SessionView, SrcIpRewrite, SrcIpRewriteState, Stats, VipAdded, VipBody,
    WeightBody, WeightSet,
};
use lb_engine::{
    BackendConfig, DestinationConfig, DsrBackendConfig, FrontendChange, FrontendView, MacAddr,
    ServiceSelector,
};
use lb_examples::cli::parse_or_exit;
use serde::Serialize;

use args::{
    BackendCommand, Cli, Command, ConfigCommand, FrontendCommand, LogCommand, ServiceCommand,
    SrcIpRewriteCommand, VipCommand,
};
use client::Client;

const PROGRAM: &str = "lbctl";

/// Writes to standard output: a closed pipe ends the program with status
/// 0 (the reader has what it wanted), any other failure with 1.
pub(crate) fn emit(text: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            exit(0);
        }
        fail(format_args!("cannot write the output: {error}"));
    }
}

/// A failure (the endpoint unreachable, a change refused): one line,
/// status 1.
pub(crate) fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("{PROGRAM}: {message}");
    exit(1)
}

/// A mistake on the command line that the parser cannot see: one line,
/// status 2, as the parser's own.
fn usage(message: impl std::fmt::Display) -> ! {
    lb_examples::cli::fail(PROGRAM, message)
}

/// The backends path for `[SERVICE] BACKEND`, and the backend.
fn backend_target(target: &[String]) -> (String, &str) {
    match target {
        [service, backend] => match service.parse::<ServiceSelector>() {
            Ok(key) => (format!("services/{}/backends", key.path()), backend),
            Err(error) => usage(format_args!("invalid service {service:?}: {error}")),
        },
        [backend] => ("backends".to_owned(), backend),
        _ => usage("give [SERVICE] BACKEND"),
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
        usage(format_args!(
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
        usage("--name is for backends of lb-rp's services");
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
        out!("{text}");
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
            out!("{text}");
        }
        Command::Stats { prometheus: true } => {
            out!("{}", client.call("GET", "stats/prometheus", None::<&()>).1)
        }
        Command::Stats { prometheus: false } => {
            show(json, client.get::<Stats>("GET", "stats"), tables::stats)
        }
        Command::Top { .. } if json => usage("top shows tables; for JSON, lbctl --json stats"),
        Command::Top { interval, count } => {
            top::top(&client, std::time::Duration::from_secs_f64(interval), count)
        }
        Command::Reset => show(json, client.get::<Reset>("POST", "stats/reset"), |_| {
            outln!("counters reset")
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
                |added| outln!("added {}", added.added.join(", ")),
            );
        }
        Command::Service(ServiceCommand::Del { service }) => show(
            json,
            client.get::<Removed>("DELETE", &format!("services/{}", service.path())),
            |removed| {
                outln!(
                    "removed {}, {} sessions ended",
                    removed.removed,
                    removed.sessions_ended
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
                |added| outln!("added {:?} with weight {}", added.added, added.weight),
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
                |set| outln!("{} now has weight {}", set.backend, set.weight),
            );
        }
        Command::Backend(BackendCommand::Drain { target }) => {
            let (path, backend) = backend_target(&target);
            show(
                json,
                client.get::<WeightSet>("POST", &format!("{path}/{backend}/drain")),
                |set| outln!("{} draining (weight 0)", set.backend),
            );
        }
        Command::Backend(BackendCommand::Health { mut target }) => {
            let force = match target.pop().as_deref() {
                Some("up") => HealthForce::Up,
                Some("down") => HealthForce::Down,
                Some("auto") => HealthForce::Auto,
                other => usage(format_args!(
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
                    HealthForce::Auto => outln!("{}: its checks decide", forced.backend),
                    HealthForce::Up => outln!("{} forced up", forced.backend),
                    HealthForce::Down => outln!("{} forced down", forced.backend),
                },
            );
        }
        Command::Backend(BackendCommand::Del { target }) => {
            let (path, backend) = backend_target(&target);
            show(
                json,
                client.get::<Removed>("DELETE", &format!("{path}/{backend}")),
                |removed| {
                    outln!(
                        "removed {}, {} sessions ended",
                        removed.removed,
                        removed.sessions_ended
                    )
                },
            );
        }
        Command::Vip(VipCommand::Add { vip }) => show(
            json,
            client.typed::<VipAdded>("POST", "vips", Some(&VipBody { vip })),
            |added| outln!("added {}", added.added),
        ),
        Command::Vip(VipCommand::Del { vip }) => show(
            json,
            client.get::<Removed>("DELETE", &format!("vips/{vip}")),
            |removed| {
                outln!(
                    "removed {}, {} sessions ended",
                    removed.removed,
                    removed.sessions_ended
                )
            },
        ),
        Command::Log(command) => {
            let reply = match command {
                LogCommand::Show => client.get::<LogFilter>("GET", "log"),
                LogCommand::Set { level } => {
                    client.typed::<LogFilter>("PUT", "log", Some(&LogFilter { level }))
                }
            };
            show(json, reply, |filter| outln!("log level {}", filter.level));
        }
        Command::Frontend(command) => {
            let reply = match command {
                FrontendCommand::Show => client.get::<FrontendView>("GET", "frontend"),
                FrontendCommand::Set { mac, algorithm } => client.typed::<FrontendView>(
                    "PUT",
                    "frontend",
                    Some(&FrontendChange { mac, algorithm }),
                ),
            };
            show(json, reply, |view| {
                outln!(
                    "mac {}  backend port mac {}  algorithm {}",
                    view.mac,
                    view.backend_port_mac,
                    view.algorithm
                )
            });
        }
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
                Some(r) => outln!("{} -> {}", r.ip_range, r.new_ip_range),
                None => outln!("no source-IP rewrite"),
            });
        }
        Command::Config(ConfigCommand::Show) => {
            let path = if json { "config" } else { "config/toml" };
            out!("{}", client.text("GET", path));
        }
        Command::Config(ConfigCommand::Save { file }) => {
            let text = client.text("GET", "config/toml");
            lb_examples::cli::write_whole(&file, text.as_bytes())
                .unwrap_or_else(|e| fail(format_args!("cannot write {}: {e}", file.display())));
            outln!("saved the running configuration to {}", file.display());
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
