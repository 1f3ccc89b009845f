//! Zero-copy views over Ethernet frames, and the in-place rewrites a load
//! balancer makes to them.
//!
//! [`Frame::parse`] validates a frame once (Ethernet II with an optional
//! 802.1Q tag, ARP, IPv4 with options, TCP, UDP, ICMP echo and ICMP errors
//! with their quoted header; IPv6 and other ethertypes are recognised);
//! afterwards no accessor or setter panics, whatever the bytes. Rewrites
//! (DNAT, SNAT, MACs, TTL, the header inside an ICMP error) happen in the
//! caller's buffer and keep every checksum right by RFC 1624 incremental
//! update; ARP and echo replies are built in place from the request.
//!
//! This crate performs no I/O, allocates nothing, and keeps no state: it
//! does not reassemble fragments (a non-first fragment simply has no ports),
//! parse IPv6 beyond its ethertype, or decide anything. Deciding is for
//! `lb-algos`, `lb-session` and `lb-engine`.
//!
//! ```
//! use std::net::{Ipv4Addr, SocketAddrV4};
//! use lb_packet::{Frame, Protocol};
//!
//! // A TCP SYN from 10.0.0.2:40000 to the VIP 10.0.0.1:80.
//! let mut bytes = [
//!     0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00, // Ethernet, IPv4
//!     0x45, 0x00, 0x00, 0x28, 0x00, 0x01, 0x40, 0x00, // IPv4: IHL 5, length 40, DF
//!     0x40, 0x06, 0x26, 0xcd, // TTL 64, TCP, header checksum
//!     10, 0, 0, 2, 10, 0, 0, 1, // source, destination
//!     0x9c, 0x40, 0x00, 0x50, // TCP ports 40000 -> 80
//!     0, 0, 0, 0, 0, 0, 0, 0, // sequence, acknowledgment
//!     0x50, 0x02, 0x72, 0x10, // data offset 5, SYN, window
//!     0x8d, 0x3f, 0x00, 0x00, // checksum, urgent pointer
//! ];
//! let mut frame = Frame::parse(&mut bytes[..])?;
//! let key = frame.flow_key().expect("TCP carries ports");
//! assert_eq!((key.proto, key.dst_port), (Protocol::Tcp, 80));
//!
//! // DNAT to a backend; both checksums are updated, not recomputed.
//! frame.set_dst(SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, 2), 8080))?;
//! assert_eq!(frame.l4_checksum_valid(), Some(true));
//! let frame = Frame::parse(frame.as_bytes())?; // the IPv4 checksum verifies too
//! assert_eq!(frame.flow_key().unwrap().dst_port, 8080);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod arp;
mod checksum;
mod error;
mod flow;
mod flow_hash;
mod frame;
mod icmp;
mod ipv4;
mod layout;
mod mac;
mod reply;
mod rewrite;
mod tcp_flags;
mod wire;

#[doc(hidden)]
pub mod fuzzing;

pub use arp::{ArpOp, ArpView};
pub use checksum::internet_checksum;
pub use error::{ParseError, RewriteError};
pub use flow::{CANONICAL_LEN, FlowKey, Protocol};
pub use flow_hash::{FlowHasher, HashKey};
pub use frame::{EtherType, Frame};
pub use icmp::Icmp;
pub use ipv4::Ipv4View;
pub use mac::{MacAddr, MacParseError};
pub use reply::{ARP_FRAME_LEN, REPLY_TTL, arp_request};
pub use tcp_flags::TcpFlags;
