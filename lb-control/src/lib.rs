//! The admin HTTP API of `lb` as a library: read a running engine and
//! change it, off the packet path, with typed requests and answers.
//!
//! A thread serves HTTP (hyper, connections as tasks of one tokio
//! runtime, each bounded in time and size, at most 1024 at once). Every
//! request becomes a command that the packet thread runs between two
//! batches ([`AdminCommands::apply`]), woken at once by an eventfd its
//! datapath watches ([`AdminCommands::waker`]), with the engine to itself: reads see a consistent snapshot, and a
//! change lands between two frames or, when refused, not at all. One
//! router serves every engine through its [`Observe`] and [`Control`]
//! traits; refusals map the engine's typed [`ConfigError`] to a status
//! (400 invalid, 404 unknown, 409 duplicate), never by reading messages.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/` | the live dashboard: a page that polls `/stats` (add `#token=T` to its address when a token guards reads) |
//! | GET | `/ready` | 200 once the packet loop turns |
//! | GET | `/stats` | counters as JSON ([`api::Stats`]) |
//! | GET | `/stats/prometheus` | counters in the Prometheus text format |
//! | POST | `/stats/reset` | counters back to zero |
//! | GET, PUT | `/log` | the process's log level, `{"level": "debug"}` (a level or `RUST_LOG` directives), when the binary gives one ([`AdminOptions::log`]) |
//! | GET | `/services` | services, backends, weights, state, health and why, counters, live sessions |
//! | GET | `/sessions?service=&backend=&client=&limit=` | live sessions (default 100, at most 10000) |
//! | POST | `/services` | add a service (the engine's service configuration as JSON) |
//! | DELETE | `/services/SERVICE` | remove it and end its sessions |
//! | POST | `/services/SERVICE/backends` | add a backend (the engine's backend configuration) |
//! | PUT | `/services/SERVICE/backends/BACKEND` | set its weight, `{"weight": N}` |
//! | POST | `/services/SERVICE/backends/BACKEND/drain` | weight 0: sessions stay, no new flows |
//! | PUT | `/services/SERVICE/backends/BACKEND/health` | `{"force": "down"}`, `"up"`, or `"auto"` (its checks decide) |
//! | DELETE | `/services/SERVICE/backends/BACKEND` | remove it and end its sessions |
//! | any | `/backends/...` | the same, on an engine with one service |
//! | POST, DELETE | `/vips`, `/vips/IP` | VIPs of the direct-return engine |
//!
//! `SERVICE` is the engine's service key in path form (`VIP/tcp/PORT`,
//! `VIP/udp/PORT`, `VIP/icmp` for the reverse proxy); `BACKEND` its
//! backend key (`IP[:PORT]`, a MAC, an IP).
//!
//! Who may call it ([`AdminOptions`]): on a loopback address anyone may
//! read, and write unless a bearer token is set; on any other address it
//! starts only with a token, required for every request. Browsers cannot
//! write: a request whose `Origin` is not its `Host` is refused, as is a
//! body that is not `application/json` (what a form can send), and on
//! loopback a `Host` that is neither an address nor `localhost` (DNS
//! rebinding).
//!
//! This crate serves HTTP and renders counters; it moves no frames.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use std::time::Instant;
//! use lb_engine::{ReverseProxy, ReverseProxyConfig, ServiceConfig};
//!
//! let config = ReverseProxyConfig::with_services([
//!     ServiceConfig::tcp(Ipv4Addr::new(10, 0, 0, 1), 80).backend(Ipv4Addr::new(192, 168, 1, 2), 1),
//! ]);
//! let mut engine = ReverseProxy::new(vec![None], &config)?;
//! let (commands, addr) = lb_control::start::<ReverseProxy>("127.0.0.1:0".parse()?)?;
//! // The packet loop calls this between batches (lb_engine::run_with does).
//! commands.apply(&mut engine);
//! println!("admin API on http://{addr}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Observe`]: lb_engine::Observe
//! [`Control`]: lb_engine::Control
//! [`ConfigError`]: lb_engine::ConfigError

pub mod api;
mod guard;
mod log_level;
pub mod prometheus;
mod query;
mod reply;
mod router;
mod server;

pub use log_level::{LogControl, LogFilter, LogLevel};
pub use reply::Reply;
pub use router::{Command, Routable, route};
pub use server::{
    AdminCommands, AdminOptions, BODY_TIMEOUT, CONNECTION_LIFETIME, HEADER_TIMEOUT, MAX_BODY,
    MAX_CONNECTIONS, MAX_HEADER_BYTES, parse_admin_addr, start, start_with,
};
