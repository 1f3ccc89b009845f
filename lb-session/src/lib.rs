//! Connection tables for load balancers: the memory that keeps a flow on
//! its backend, lets NAT translate replies, and must survive attack.
//!
//! A [`SessionTable`] maps each flow, seen from either end, to a value of
//! the caller's choosing (a backend, a NAT mapping). It holds at most its
//! capacity, reclaims expired sessions first, then evicts unassured ones
//! (half-open TCP, unreplied UDP) so that floods cannot push out
//! established connections; given whole TCP [`Segment`]s it assures a
//! session only after a real handshake (see [`TcpSeen`]), so a blind
//! attacker cannot fake established ones; keys are hashed with keyed SipHash; idle
//! timeouts depend on protocol and TCP state ([`Timeouts`]); expiry is
//! amortised over inserts and an explicit [`SessionTable::expire`].
//! [`SnatAllocator`] picks full-NAT source ports that collide with no live
//! session.
//!
//! This crate performs no I/O and never reads the clock: every call that
//! needs the time takes `now`.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use std::time::{Duration, Instant};
//! use lb_packet::{FlowKey, Protocol, TcpFlags};
//! use lb_session::{Direction, SessionConfig, SessionTable};
//!
//! let mut table = SessionTable::new(SessionConfig::default())?;
//! let start = Instant::now();
//! let client = FlowKey {
//!     src: Ipv4Addr::new(10, 0, 0, 2).into(),
//!     dst: Ipv4Addr::new(10, 0, 0, 1).into(), // the VIP
//!     src_port: 40000,
//!     dst_port: 80,
//!     proto: Protocol::Tcp,
//! };
//! // Replies come from the backend the flow was sent to.
//! let reply = FlowKey { src: Ipv4Addr::new(192, 168, 1, 2).into(), src_port: 8080, ..client.reversed() };
//! table.insert(start, client, reply, Some(TcpFlags::SYN), "backend-1")?;
//!
//! let hit = table.lookup(start + Duration::from_millis(1), &reply, Some(TcpFlags::SYN | TcpFlags::ACK));
//! let hit = hit.expect("the reply finds the session");
//! assert_eq!((hit.direction, *hit.value), (Direction::Reverse, "backend-1"));
//!
//! // Half-open sessions time out after 30 s by default.
//! assert!(table.lookup(start + Duration::from_secs(31), &client, None::<TcpFlags>).is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod error;
mod prefetch;
mod segment;
mod snat;
mod state;
mod stats;
mod table;
mod timeouts;
mod tracker;

pub use config::{ConfigError, MAX_CAPACITY, MAX_TIMEOUT, SessionConfig};
pub use error::InsertError;
pub use segment::{SeenRepr, Segment, TcpSeen};
pub use snat::{PortRange, SnatAllocator, SnatError};
pub use state::{Direction, SessionState};
pub use stats::SessionStats;
pub use table::{Hit, KeyHash, RemovedSession, SessionInfo, SessionTable};
pub use timeouts::Timeouts;
pub use tracker::Tracker;
