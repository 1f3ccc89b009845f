//! A lab of Linux network namespaces for the end-to-end tests, the demo
//! and the throughput harness: the namespaces, links, files and processes
//! one experiment makes, all removed when its [`Lab`] is dropped, whether
//! it ended well or not (and those of labs whose process was killed, when
//! the next lab starts).
//!
//! - [`Lab`]: namespaces, veths, bridges, hosts on a bridge, files and
//!   configuration files ([`Lab::write_config`] serialises a config type).
//! - [`Lab::exec`], [`Lab::spawn`], [`Lab::http_server`], [`Lab::curl`]:
//!   commands, background processes, and real servers and clients.
//! - [`Wire`], [`SingleSubnet`], [`RoutedNetwork`]: a load balancer's
//!   ports wired for a [`DatapathKind`], and the two common topologies;
//!   [`SharedBridge`], load balancers side by side on one bridge with a
//!   router (Polycube's source-IP rewrite test); [`BridgedNetwork`],
//!   backends on a bridge with their gateway, where only full NAT works.
//! - [`Lab::paced_server`], [`Lab::stream`], [`Stream::longest_stall`]: a
//!   steady stream whose gaps are the network's.
//! - [`Lab::echo_server`], [`Lab::echoes`], [`Echoes::watch`]: streams
//!   that check every echo, and new connections beside them.
//! - [`EcmpNetwork`]: load balancers side by side behind ECMP routes that
//!   BGP (BIRD, with BFD) keeps; [`DirectEcmpNetwork`], direct-return ones
//!   behind a static ECMP route; [`ProxyEcmpNetwork`], NAT proxies behind a
//!   resilient next-hop group.
//! - [`Lab::capture`], [`check_checksums`]: tcpdump, and its verdict on
//!   every checksum it saw.
//! - [`Lab::start_lb`], [`LoadBalancer`], [`ReverseProxyFlags`],
//!   [`counter`]: a load-balancer binary started until `ready`, stopped
//!   with its exit summary.
//!
//! It does not build or find the binaries (callers pass their paths), and
//! it does no packet work itself: everything shells out to the standard
//! tools (`ip`, `ethtool`, `tcpdump`, `python3`, `socat`, `curl`, `nc`,
//! `bird`),
//! which is what an operator would type. It needs root.
//!
//! ```no_run
//! use lb_lab::{DatapathKind, Lab, SingleSubnet};
//!
//! # fn main() -> anyhow::Result<()> {
//! let mut lab = Lab::new()?;
//! let net = SingleSubnet::build(&mut lab, DatapathKind::Tap)?;
//! // ... start a load balancer on net.front and net.back in net.lb_ns ...
//! net.attach(&mut lab, "10.0.0.100".parse()?)?;
//! lab.http_server(&net.server, SingleSubnet::SERVER_ADDR, 80, "server")?;
//! assert_eq!(lab.http_get(&net.client, "http://10.0.0.3/id")?, "server");
//! # Ok(())
//! # }
//! ```

mod bridged;
mod capture;
mod echo;
mod ecmp;
mod ecmp_direct;
mod ecmp_proxy;
mod lab;
mod load_balancer;
mod process;
mod shared_bridge;
mod stream;
mod topology;

pub use bridged::BridgedNetwork;
pub use capture::{Capture, check_checksums};
pub use echo::{Echoes, Watched};
pub use ecmp::{EcmpNetwork, Path};
pub use ecmp_direct::{DirectEcmpNetwork, LanServer};
pub use ecmp_proxy::ProxyEcmpNetwork;
pub use lab::{Lab, is_root};
pub use lb_datapath::DatapathKind;
pub use load_balancer::{LoadBalancer, ReverseProxyFlags, counter};
pub use process::run;
pub use shared_bridge::SharedBridge;
pub use stream::Stream;
pub use topology::{Host, RoutedNetwork, SingleSubnet, Wire};
