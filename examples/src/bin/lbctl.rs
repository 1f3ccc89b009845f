//! `lbctl`: the command-line client of the admin API of `lb-rp`, `lb-dsr`
//! and `lb-proxy`, with tables for people and `--json` for scripts.

// A command-line client talks on standard output.
#![allow(clippy::print_stdout)]

use std::process::exit;

use clap::{Parser, Subcommand};
use lb_examples::cli::{admin_addr, parse_or_exit};
use serde_json::{Value, json};

const PROGRAM: &str = "lbctl";

/// Reads and changes a running load balancer through its admin endpoint.
///
/// Services are written `VIP:PORT/PROTO` (`VIP/icmp`); backends `IP[:PORT]` for
/// lb-rp, a MAC for lb-dsr, an IP for lb-proxy (which have no services, so
/// the service is left out).
#[derive(Debug, Parser)]
#[command(name = PROGRAM, version)]
struct Cli {
    /// The admin endpoint: PORT (on loopback) or HOST:PORT.
    #[arg(long, global = true, default_value = "127.0.0.1:9901", value_parser = admin_addr)]
    admin: std::net::SocketAddr,
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
        client: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
enum ServiceCommand {
    /// List services with their backends.
    List,
    /// Add a service: VIP:PORT/tcp, VIP:PORT/udp, VIP/icmp or VIP:PORT/all.
    Add {
        /// The service.
        service: String,
        /// Selection policy (default maglev).
        #[arg(long)]
        policy: Option<String>,
        /// A backend, `IP[:PORT][@WEIGHT]` (repeat for more).
        #[arg(long = "backend")]
        backends: Vec<String>,
    },
    /// Remove a service and end its sessions.
    Del {
        /// The service.
        service: String,
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
}

#[derive(Debug, Subcommand)]
enum VipCommand {
    /// Answer for another VIP.
    Add {
        /// The VIP.
        vip: String,
    },
    /// Stop answering for a VIP and end its sessions.
    Del {
        /// The VIP.
        vip: String,
    },
}

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("{PROGRAM}: {message}");
    exit(1)
}

/// `VIP:PORT/PROTO` as the path `VIP/PROTO/PORT` (`VIP/icmp` as is).
fn service_path(service: &str) -> String {
    let Some((addr, proto)) = service.rsplit_once('/') else {
        fail(format_args!(
            "invalid service {service:?}: expected VIP:PORT/PROTO or VIP/icmp"
        ))
    };
    match addr.split_once(':') {
        Some((vip, port)) if proto != "icmp" => format!("services/{vip}/{proto}/{port}"),
        _ => format!("services/{}/icmp", addr.split(':').next().unwrap_or(addr)),
    }
}

/// The backends path for `[SERVICE] BACKEND`, and the backend.
fn backend_target(target: &[String]) -> (String, String) {
    match target {
        [service, backend] => (
            format!("{}/backends", service_path(service)),
            backend.clone(),
        ),
        [backend] => ("backends".to_owned(), backend.clone()),
        _ => fail("give [SERVICE] BACKEND"),
    }
}

/// A backend to add, as the API takes it.
fn backend_body(backend: &str, weight: u32) -> Value {
    if backend.parse::<lb_packet::MacAddr>().is_ok() {
        return json!({ "mac": backend, "weight": weight });
    }
    match backend.parse::<std::net::SocketAddrV4>() {
        Ok(addr) => json!({ "ip": addr.ip().to_string(), "port": addr.port(), "weight": weight }),
        Err(_) => json!({ "ip": backend, "weight": weight }),
    }
}

/// `IP[:PORT][@WEIGHT]` for `service add --backend`.
fn service_backend(text: &str) -> Value {
    let (addr, weight) = match text.split_once('@') {
        Some((addr, weight)) => (
            addr,
            weight
                .parse()
                .unwrap_or_else(|_| fail(format_args!("invalid weight in {text:?}"))),
        ),
        None => (text, 1u32),
    };
    let mut body = backend_body(addr, weight);
    if body.get("port").is_none() {
        body["port"] = Value::Null;
    }
    body
}

struct Client {
    agent: ureq::Agent,
    base: String,
}

impl Client {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
        let url = format!("{}/{path}", self.base);
        let result = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            ("PUT", Some(body)) => self.agent.put(&url).send_json(body),
            (_, Some(body)) => self.agent.post(&url).send_json(body),
            (_, None) => self.agent.post(&url).send_empty(),
        };
        let mut response = result.unwrap_or_else(|e| {
            fail(format_args!(
                "cannot reach the admin endpoint at {}: {e}",
                self.base
            ))
        });
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, text)
    }

    /// The JSON of a successful call; the API's error otherwise.
    fn json(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, text) = self.call(method, path, body);
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !(200..300).contains(&status) {
            let message = value
                .get("error")
                .and_then(Value::as_str)
                .map_or_else(|| value.to_string(), str::to_owned);
            fail(format_args!("{message} (HTTP {status})"));
        }
        value
    }
}

fn main() {
    let cli: Cli = parse_or_exit(PROGRAM);
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build();
    let client = Client {
        agent: ureq::Agent::new_with_config(config),
        base: format!("http://{}", cli.admin),
    };
    let show = |value: &Value, table: &dyn Fn(&Value)| {
        if cli.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
        } else {
            table(value);
        }
    };
    match &cli.command {
        Command::Ready => {
            let (status, text) = client.call("GET", "ready", None);
            if status != 200 {
                fail(format_args!("not ready (HTTP {status})"));
            }
            print!("{text}");
        }
        Command::Stats { prometheus: true } => {
            print!("{}", client.call("GET", "stats/prometheus", None).1)
        }
        Command::Stats { prometheus: false } => {
            show(&client.json("GET", "stats", None), &print_stats)
        }
        Command::Reset => show(&client.json("POST", "stats/reset", None), &|_| {
            println!("counters reset")
        }),
        Command::Service(ServiceCommand::List) => {
            show(&client.json("GET", "services", None), &print_services)
        }
        Command::Service(ServiceCommand::Add {
            service,
            policy,
            backends,
        }) => {
            let Some((addr, proto)) = service.rsplit_once('/') else {
                fail(format_args!("invalid service {service:?}"))
            };
            let (vip, port) = addr.split_once(':').unwrap_or((addr, "0"));
            let port: u16 = port
                .parse()
                .unwrap_or_else(|_| fail(format_args!("invalid port in {service:?}")));
            let mut body = json!({ "vip": vip, "port": port, "proto": proto });
            if let Some(policy) = policy {
                body["policy"] = json!(policy);
            }
            body["backend"] = Value::Array(backends.iter().map(|b| service_backend(b)).collect());
            show(&client.json("POST", "services", Some(body)), &|v| {
                println!("added {}", v["added"])
            });
        }
        Command::Service(ServiceCommand::Del { service }) => {
            show(&client.json("DELETE", &service_path(service), None), &|v| {
                println!(
                    "removed {}, {} sessions ended",
                    v["removed"], v["sessions_ended"]
                )
            })
        }
        Command::Backend(BackendCommand::List { service }) => {
            let services = client.json("GET", "services", None);
            let wanted = |s: &&Value| service.as_deref().is_none_or(|name| s["name"] == name);
            let selected: Vec<Value> = services
                .as_array()
                .into_iter()
                .flatten()
                .filter(wanted)
                .cloned()
                .collect();
            show(&Value::Array(selected), &print_services);
        }
        Command::Backend(BackendCommand::Add { target, weight }) => {
            let (path, backend) = backend_target(target);
            show(
                &client.json("POST", &path, Some(backend_body(&backend, *weight))),
                &|v| println!("added {} with weight {}", v["added"], v["weight"]),
            );
        }
        Command::Backend(BackendCommand::Set { target, weight }) => {
            let (path, backend) = backend_target(target);
            show(
                &client.json(
                    "PUT",
                    &format!("{path}/{backend}"),
                    Some(json!({ "weight": weight })),
                ),
                &|v| println!("{} now has weight {}", v["backend"], v["weight"]),
            );
        }
        Command::Backend(BackendCommand::Drain { target }) => {
            let (path, backend) = backend_target(target);
            show(
                &client.json("POST", &format!("{path}/{backend}/drain"), None),
                &|v| println!("{} draining (weight 0)", v["backend"]),
            );
        }
        Command::Backend(BackendCommand::Del { target }) => {
            let (path, backend) = backend_target(target);
            show(
                &client.json("DELETE", &format!("{path}/{backend}"), None),
                &|v| {
                    println!(
                        "removed {}, {} sessions ended",
                        v["removed"], v["sessions_ended"]
                    )
                },
            );
        }
        Command::Vip(VipCommand::Add { vip }) => show(
            &client.json("POST", "vips", Some(json!({ "vip": vip }))),
            &|v| println!("added {}", v["added"]),
        ),
        Command::Vip(VipCommand::Del { vip }) => {
            show(&client.json("DELETE", &format!("vips/{vip}"), None), &|v| {
                println!(
                    "removed {}, {} sessions ended",
                    v["removed"], v["sessions_ended"]
                )
            })
        }
        Command::Sessions {
            service,
            backend,
            client: from,
            limit,
        } => {
            let mut query = format!("sessions?limit={limit}");
            for (key, value) in [("service", service), ("backend", backend), ("client", from)] {
                if let Some(value) = value {
                    query += &format!("&{key}={}", value.replace('/', "%2F").replace(':', "%3A"));
                }
            }
            show(&client.json("GET", &query, None), &print_sessions);
        }
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn print_services(services: &Value) {
    for service in services.as_array().into_iter().flatten() {
        println!(
            "{:<24} {:<12} sessions {:>7}  new flows {:>9}  packets {:>11}",
            text(&service["name"]),
            text(&service["policy"]),
            text(&service["sessions"]),
            text(&service["new_flows"]),
            text(&service["packets"])
        );
        for backend in service["backends"].as_array().into_iter().flatten() {
            println!(
                "  {:<22} weight {:>5}  {:<8} sessions {:>7}  new flows {:>9}  packets {:>11}",
                text(&backend["name"]),
                text(&backend["weight"]),
                text(&backend["state"]),
                text(&backend["sessions"]),
                text(&backend["new_flows"]),
                text(&backend["packets"])
            );
        }
    }
}

fn print_stats(stats: &Value) {
    let traffic = &stats["traffic"];
    println!("engine      {}", text(&stats["engine"]));
    for field in [
        "frames_in",
        "bytes_in",
        "forwarded",
        "replied",
        "flooded",
        "consumed",
        "dropped",
        "originated",
    ] {
        println!("{field:<11} {}", text(&traffic[field]));
    }
    if let Some(drops) = traffic["drops"].as_object() {
        for (reason, count) in drops.iter().filter(|(_, count)| count.as_u64() != Some(0)) {
            println!("  drop {reason:<20} {}", text(count));
        }
    }
    println!(
        "sessions    {} of {}",
        text(&stats["sessions"]),
        text(&stats["session_capacity"])
    );
}

fn print_sessions(sessions: &Value) {
    for session in sessions.as_array().into_iter().flatten() {
        println!(
            "{:<44} -> {:<22} {:<16} expires in {:>6} ms",
            text(&session["forward"]),
            text(&session["backend"]),
            text(&session["state"]),
            text(&session["expires_in_ms"])
        );
    }
}
