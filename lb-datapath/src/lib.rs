//! Moving Ethernet frames for a set of ports: the [`Datapath`] trait that
//! every frame source of `lb` implements, the [`RxBatch`] frames arrive in,
//! and the datapaths that need no device: [`MemoryDatapath`] for tests and
//! simulations, [`PcapDatapath`] to replay captures; [`Capture`] records
//! any datapath to a pcapng file. Also what device datapaths share:
//! [`PortRotation`] to read ports fairly and, on Linux, [`Poller`] to wait
//! for them, [`Waker`] to end a wait from another thread and [`vnet`] to
//! read and write frames behind virtio-net headers; and the capture file formats ([`PcapReader`] reads classic
//! pcap and pcapng, [`PcapWriter`] and [`PcapngWriter`] write them).
//!
//! This crate moves bytes and decides nothing: it knows no load balancer,
//! backend or session. Device datapaths live in their own crates
//! (`lb-datapath-tap`, `lb-datapath-pnet`); `lb-engine` drives any of them.
//!
//! ```
//! use std::time::Instant;
//! use lb_datapath::{Datapath, MemoryDatapath, PortId, RxBatch};
//!
//! let mut datapath = MemoryDatapath::new(2, Instant::now());
//! datapath.inject(PortId(0), vec![0u8; 60]);
//! let mut batch = RxBatch::new(8, 2048);
//! assert_eq!(datapath.recv(&mut batch, None)?, 1);
//! let (port, frame) = batch.frame(0).expect("one frame");
//! datapath.send(PortId(1), frame)?;
//! assert_eq!(port, PortId(0));
//! assert_eq!(datapath.take_sent().len(), 1);
//! # Ok::<(), std::io::Error>(())
//! ```

mod capture;
mod datapath;
mod event;
mod kind;
mod memory;
mod pcap;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod poller;
mod port;
mod replay;
mod rotation;
mod send_report;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod vnet;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod waker;

pub use capture::Capture;
pub use datapath::{Datapath, RxBatch, send_finished};
pub use event::{PortEvent, PortEventKind, PortEventSink};
pub use kind::{DatapathKind, UnknownDatapath};
pub use memory::MemoryDatapath;
pub use pcap::{CapturedFrame, Direction, PcapReader, PcapWriter, PcapngWriter};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use poller::Poller;
pub use port::PortId;
pub use replay::PcapDatapath;
pub use rotation::PortRotation;
pub use send_report::{SendReport, is_port_down};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use waker::Waker;
