//! Backend selection: which backend takes a new flow.
//!
//! A [`Selector`] is built from a set of [`Backend`]s (a stable
//! [`BackendId`] and a weight each) and then answers, for each new flow,
//! the index of the backend to use. Built-in [`Policy`]s: weighted
//! [`Random`], smooth weighted [`RoundRobin`], weighted source-address and
//! 5-tuple hashing ([`WeightedHash`]), and weighted [`Maglev`].
//!
//! Selectors are immutable and allocation-free on lookup; when the set or a
//! weight changes, build a new one. What they build depends on the set, not
//! on the order it is listed in, and hash policies hash a flow's canonical
//! bytes with keyed SipHash, so load balancers sharing a [`HashKey`] and a
//! set agree on every flow. Weight 0 drains a backend (no new flows); with
//! no backend to take a flow, `pick` returns `None`.
//!
//! This crate performs no I/O and keeps no per-flow state: remembering
//! which backend a flow went to is `lb-session`'s job.
//!
//! ```
//! use std::net::{Ipv4Addr, SocketAddrV4};
//! use lb_algos::{Backend, Policy, SelectorConfig};
//! use lb_packet::{FlowKey, Protocol};
//!
//! let backends = [
//!     Backend::new(SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, 2), 8080), 10),
//!     Backend::new(SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, 3), 8080), 5),
//! ];
//! let selector = Policy::Maglev.build(&backends, &SelectorConfig::default())?;
//! let flow = FlowKey {
//!     src: Ipv4Addr::new(10, 0, 0, 2).into(),
//!     dst: Ipv4Addr::new(10, 0, 0, 1).into(),
//!     src_port: 40000,
//!     dst_port: 80,
//!     proto: Protocol::Tcp,
//! };
//! let chosen = selector.pick(&flow).expect("two backends with weight");
//! assert_eq!(selector.pick(&flow), Some(chosen), "same flow, same backend");
//! # Ok::<(), lb_algos::BuildError>(())
//! ```

mod backend;
mod canonical;
mod error;
mod maglev;
mod random;
mod reduce;
mod round_robin;
mod selector;
mod weighted_hash;
mod weighted_points;

pub use backend::{Backend, BackendId};
pub use error::BuildError;
pub use lb_packet::HashKey;
pub use maglev::{DEFAULT_TABLE_SIZE, MAX_TABLE_SIZE, Maglev, Permutation};
pub use random::Random;
pub use round_robin::{MAX_SCHEDULE_LEN, RoundRobin};
pub use selector::{Policy, PolicyParseError, Selector, SelectorConfig};
pub use weighted_hash::{HashInput, WeightedHash};
