//! The load balancers of `lb`, as sans-IO engines: they take a frame, the
//! port it arrived on and the time, and say what to do with it.
//!
//! - [`ReverseProxy`]: NAT load balancing to `vip:port/proto` services
//!   (Polycube's `lbrp`).
//! - [`DirectReturn`]: direct server return at layer 2 (Polycube's `lbdsr`).
//! - [`NatProxy`]: a one-armed full-NAT proxy (the MirageOS random proxy).
//!
//! Each engine offers three traits: [`Engine`], the data plane the run
//! loop drives; [`Observe`], typed snapshots of counters and sessions; and
//! [`Control`], the changes it takes while running (services, backends,
//! weights), refused with a typed [`ConfigError`]. The three share one
//! skeleton (the frame path, the session table, counters, the sweep of idle
//! sessions), so each engine's own code is only what makes it different:
//! its configuration, its forward and reverse paths, its control.
//!
//! Engines perform no I/O and read no clock. A [`Datapath`] (crate
//! `lb-datapath`, with in-memory and pcap datapaths; `lb-datapath-tap` and
//! `lb-datapath-pnet` for devices) moves frames for a set of ports, and
//! [`run`] drives an engine with one. Everything a configuration built in
//! code needs is re-exported here.
//!
//! A frame's path through a [`ReverseProxy`]:
//!
//! ```text
//!  datapath rx ──► Frame::parse ──► from a frontend?
//!                     │ invalid          │ yes                       │ no (backend port)
//!                     ▼                  ▼                           ▼
//!              Drop(Malformed)    dst is a VIP? ── no ──► pass   session (reverse key)?
//!                                        │ yes                      │ yes        │ no
//!                                        ▼                          ▼            ▼
//!                                 session lookup ── miss ──►   SNAT to VIP    pass / steer
//!                                        │ hit      service, selector, insert   │
//!                                        ▼                 │                     │
//!                                  DNAT to backend ◄───────┘                     │
//!                                        │                                       │
//!                                        └──► verdict counted, Forward(port) ◄───┘
//! ```
//!
//! [`run`] hands the engine whole batches ([`Engine::handle_batch`]): every
//! frame's flow is hashed and its session prefetched before the first
//! frame takes the path above, so that at a million sessions the batch's
//! cache misses overlap; the verdicts are those of the frames one by one.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use std::time::Instant;
//! use lb_engine::{BackendConfig, Engine, Observe, PortId, ReverseProxy, ReverseProxyConfig, ServiceConfig, Verdict};
//! use lb_packet::{EthernetRepr, FrameRepr, Ipv4Repr, MacAddr, TcpFlags, TcpRepr};
//!
//! let config = ReverseProxyConfig::with_services([
//!     ServiceConfig::tcp(Ipv4Addr::new(10, 0, 0, 1), 80)
//!         .with_backend(BackendConfig::new(Ipv4Addr::new(192, 168, 1, 2), 10).port(8080)),
//! ]);
//! // SINGLE mode: port 0 is the frontend, port 1 the backends.
//! let mut engine = ReverseProxy::new(vec![None], &config)?;
//! // A TCP SYN from 10.0.0.2:40000 to the VIP.
//! let mut syn = FrameRepr::ipv4(
//!     EthernetRepr::new(MacAddr([2, 0, 0, 0, 0, 2]), MacAddr([2, 0, 0, 0, 0, 1])),
//!     Ipv4Repr::new(Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1)),
//!     TcpRepr::new(40000, 80, TcpFlags::SYN),
//!     b"",
//! )
//! .to_vec()?;
//! let verdict = engine.handle_frame(Instant::now(), PortId(0), &mut syn);
//! assert_eq!(verdict, Verdict::Forward(engine.backend_port()));
//! let frame = lb_packet::Frame::parse(&syn[..])?;
//! assert_eq!(frame.ipv4().unwrap().dst(), Ipv4Addr::new(192, 168, 1, 2));
//! assert_eq!(engine.stats(Instant::now()).services[0].counters.new_flows, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cidr;
mod control;
mod core;
mod direct_return;
mod drop_reason;
mod engine;
mod error;
mod health;
mod nat_proxy;
mod observe;
mod persist;
mod reverse_proxy;
mod run;
mod session_view;
mod settings;
mod stats;
mod verdict;

#[cfg(feature = "testing")]
pub mod fuzzing;

pub use cidr::IpCidr;
pub use control::{Control, Weighted};
pub use core::arp_resolver::ArpSettings;
pub use direct_return::{
    BACKEND_PORT, DirectReturn, DirectReturnConfig, DsrBackendConfig, DsrServiceConfig,
    FRONTEND_PORT, FrontendChange, FrontendView, VipList,
};
pub use drop_reason::DropReason;
pub use engine::Engine;
pub use error::{ConfigError, ConfigErrorKind, KeyParseError, PortsError};
pub use health::{
    BackendHealth, Health, HealthCheck, HealthCounters, HealthDetail, HealthEvent, HealthOverride,
    HealthReason, HealthSettings, PassiveFailure, PassiveSettings, ProbeKind, ProbeResult,
};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use lb_datapath::Waker;
pub use lb_datapath::{Datapath, PortId, RxBatch};
pub use nat_proxy::{DestinationConfig, NatProxy, NatProxyConfig, PROXY_PORT, ProxyServiceConfig};
pub use observe::Observe;
pub use persist::{Persist, Restored, StateError};
pub use reverse_proxy::{
    BackendAddr, BackendConfig, ReverseProxy, ReverseProxyConfig, ServiceConfig, ServiceKey,
    ServiceProtocol, ServiceSelector, SharedBackend, SourceNat, SrcIpRewrite,
};
pub use run::{RunOptions, RunSummary, run, run_with};
pub use session_view::{SessionFilter, SessionView};
pub use settings::{SelectionSettings, SessionSettings, TimeoutSettings};
pub use stats::{
    BackendState, BackendStats, EngineKind, FlowCounters, ServiceStats, Stats, TrafficCounters,
};
pub use verdict::Verdict;

// What a configuration built in code needs, so embedders depend on one crate.
pub use lb_algos::Policy;
pub use lb_packet::{MacAddr, Protocol};
pub use lb_session::{PortRange, SessionState};
