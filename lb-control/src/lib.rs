//! The admin HTTP endpoint: read a running engine and change it, off the
//! packet path.
//!
//! A thread serves HTTP (tiny_http). Every request becomes a command that
//! the packet thread runs between two batches, with the engine to itself:
//! reads see a consistent snapshot, and a change lands between two frames
//! or, when refused, not at all.
//!
//! Routes, for every engine:
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/ready` | 200 once the packet loop turns |
//! | GET | `/stats` | counters as JSON |
//! | GET | `/stats/prometheus` | counters in the Prometheus text format |
//! | POST | `/stats/reset` | counters back to zero |
//! | GET | `/services` | services, backends, weights, state, counters, live sessions |
//! | GET | `/sessions?service=&backend=&client=&limit=` | live sessions (at most `limit`, default 100, cap 10000) |
//!
//! and the changes each engine takes ([`routes`]).

pub mod prometheus;
pub mod routes;

use std::io::Read;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use anyhow::Context;
use lb_engine::{Engine, SessionFilter};
use serde_json::json;

pub use routes::AdminRoutes;

/// Largest request body accepted.
const MAX_BODY: u64 = 1 << 20;
/// Longest a request waits for the packet thread.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_SESSIONS: usize = 100;
const MAX_SESSIONS: usize = 10_000;

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Body.
    pub body: String,
    /// Its content type.
    pub content_type: &'static str,
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        let body = serde_json::to_string_pretty(value).unwrap_or_default() + "\n";
        Reply {
            status,
            body,
            content_type: "application/json",
        }
    }

    /// A JSON error `{"error": message}`.
    pub fn error(status: u16, message: impl std::fmt::Display) -> Self {
        Reply::json(status, &json!({ "error": message.to_string() }))
    }
}

/// Work for the packet thread.
type Command<E> = Box<dyn FnOnce(&mut E, Instant) -> Reply + Send>;

/// The packet thread's end: run what the admin thread sent.
#[derive(Debug)]
pub struct AdminCommands<E> {
    commands: Receiver<(Command<E>, Sender<Reply>)>,
}

impl<E> AdminCommands<E> {
    /// Runs every pending command against `engine`.
    pub fn apply(&self, engine: &mut E) {
        while let Ok((command, reply)) = self.commands.try_recv() {
            let _ = reply.send(command(engine, Instant::now()));
        }
    }
}

/// `PORT` or `HOST:PORT`; a bare port listens on loopback.
pub fn parse_admin_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| format!("invalid admin address {text:?}; expected PORT or HOST:PORT"))
}

/// Starts the admin endpoint on `addr`; returns the packet thread's end and
/// the address it listens on.
pub fn start<E: Engine + AdminRoutes + 'static>(
    addr: SocketAddr,
) -> anyhow::Result<(AdminCommands<E>, SocketAddr)> {
    let server =
        tiny_http::Server::http(addr).map_err(|e| anyhow::anyhow!("admin endpoint {addr}: {e}"))?;
    let bound = server
        .server_addr()
        .to_ip()
        .context("admin endpoint is not on IP")?;
    let (sender, commands) = mpsc::channel();
    std::thread::Builder::new()
        .name("admin".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                serve(request, &sender);
            }
        })
        .context("starting the admin thread")?;
    Ok((AdminCommands { commands }, bound))
}

fn serve<E: Engine + AdminRoutes + 'static>(
    mut request: tiny_http::Request,
    sender: &Sender<(Command<E>, Sender<Reply>)>,
) {
    let mut body = String::new();
    let reply = match request.as_reader().take(MAX_BODY).read_to_string(&mut body) {
        Err(_) => Reply::error(400, "the body is not UTF-8 text"),
        Ok(_) => match command::<E>(request.method().as_str(), request.url(), body) {
            Err(reply) => reply,
            Ok(command) => {
                let (reply_to, reply) = mpsc::channel();
                match sender.send((command, reply_to)) {
                    Err(_) => Reply::error(503, "the load balancer is stopping"),
                    Ok(()) => reply
                        .recv_timeout(COMMAND_TIMEOUT)
                        .unwrap_or_else(|_| Reply::error(503, "the packet loop did not answer")),
                }
            }
        },
    };
    let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], reply.content_type.as_bytes());
    let mut response = tiny_http::Response::from_string(reply.body).with_status_code(reply.status);
    if let Ok(header) = header {
        response = response.with_header(header);
    }
    let _ = request.respond(response);
}

/// The command for a request, or the reply refusing it.
fn command<E: Engine + AdminRoutes + 'static>(
    method: &str,
    url: &str,
    body: String,
) -> Result<Command<E>, Reply> {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segments_ref: Vec<&str> = segments.iter().map(String::as_str).collect();
    Ok(match (method, segments_ref.as_slice()) {
        ("GET", ["ready"]) => Box::new(|_, _| Reply {
            status: 200,
            body: "ready\n".into(),
            content_type: "text/plain",
        }),
        ("GET", ["stats"]) => Box::new(|engine: &mut E, now| {
            Reply::json(
                200,
                &serde_json::to_value(engine.stats(now)).unwrap_or_default(),
            )
        }),
        ("GET", ["stats", "prometheus"]) => Box::new(|engine: &mut E, now| Reply {
            status: 200,
            body: prometheus::render(&engine.stats(now)),
            content_type: "text/plain; version=0.0.4",
        }),
        ("POST", ["stats", "reset"]) => Box::new(|engine: &mut E, _| {
            engine.reset_counters();
            Reply::json(200, &json!({ "reset": true }))
        }),
        ("GET", ["services"]) => {
            Box::new(|engine: &mut E, now| Reply::json(200, &services_view(&engine.stats(now))))
        }
        ("GET", ["sessions"]) => {
            let (filter, limit) = session_query(query)?;
            Box::new(move |engine: &mut E, now| {
                Reply::json(
                    200,
                    &serde_json::to_value(engine.sessions(now, &filter, limit)).unwrap_or_default(),
                )
            })
        }
        (_, ["ready" | "stats" | "sessions"] | ["stats", "prometheus" | "reset"]) => {
            return Err(Reply::error(
                405,
                format!("{method} is not allowed on {path}"),
            ));
        }
        (m, ["services"]) if m != "POST" => {
            return Err(Reply::error(
                405,
                format!("{method} is not allowed on {path}"),
            ));
        }
        _ => {
            let (method, segments) = (method.to_owned(), segments.clone());
            Box::new(move |engine: &mut E, _| {
                let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
                match engine.change(&method, &segments, &body) {
                    Ok((status, value)) => Reply::json(status, &value),
                    Err(error) => Reply::error(error.status, error.message),
                }
            })
        }
    })
}

fn session_query(query: &str) -> Result<(SessionFilter, usize), Reply> {
    let mut filter = SessionFilter::default();
    let mut limit = DEFAULT_SESSIONS;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        match key {
            "service" => filter.service = Some(value),
            "backend" => filter.backend = Some(value),
            "client" => {
                filter.client = Some(
                    value
                        .parse()
                        .map_err(|_| Reply::error(400, format!("invalid client {value:?}")))?,
                )
            }
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_SESSIONS).contains(n))
                    .ok_or_else(|| {
                        Reply::error(
                            400,
                            format!("limit must be 1..={MAX_SESSIONS}, not {value:?}"),
                        )
                    })?;
            }
            other => return Err(Reply::error(400, format!("unknown parameter {other:?}"))),
        }
    }
    Ok((filter, limit))
}

/// `%XX` escapes decoded (and `+` left alone).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Services with each backend's state (`active`, or `draining` at weight 0).
fn services_view(stats: &lb_engine::Stats) -> serde_json::Value {
    let services: Vec<serde_json::Value> = stats
        .services
        .iter()
        .map(|service| {
            let backends: Vec<serde_json::Value> = service
                .backends
                .iter()
                .map(|b| {
                    json!({
                        "name": b.name,
                        "weight": b.weight,
                        "state": if b.weight == 0 { "draining" } else { "active" },
                        "sessions": b.sessions,
                        "new_flows": b.counters.new_flows,
                        "packets": b.counters.packets,
                        "bytes": b.counters.bytes,
                    })
                })
                .collect();
            json!({
                "name": service.name,
                "policy": service.policy,
                "sessions": service.sessions,
                "new_flows": service.counters.new_flows,
                "packets": service.counters.packets,
                "bytes": service.counters.bytes,
                "backends": backends,
            })
        })
        .collect();
    json!(services)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_addresses() {
        assert_eq!(
            parse_admin_addr("9901").unwrap(),
            "127.0.0.1:9901".parse().unwrap()
        );
        assert_eq!(
            parse_admin_addr("0.0.0.0:80").unwrap(),
            "0.0.0.0:80".parse().unwrap()
        );
        assert!(parse_admin_addr("nowhere").is_err());
    }

    #[test]
    fn percent_escapes() {
        assert_eq!(percent_decode("10.0.0.1%3A80%2Ftcp"), "10.0.0.1:80/tcp");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
