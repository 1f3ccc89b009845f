//! Zero-copy views over Ethernet frames, and the in-place rewrites a load
//! balancer makes to them.
//!
//! [`Frame::parse`] validates a frame once (Ethernet II with an optional
//! 802.1Q tag, ARP, IPv4 with options, IPv6 with a bounded walk over its
//! extension headers, TCP, UDP, ICMP and ICMPv6 echo and errors with their
//! quoted header; other ethertypes are recognised);
//! afterwards no accessor or setter panics, whatever the bytes. Rewrites
//! (DNAT, SNAT, MACs, TTL or hop limit, the header inside an ICMP error)
//! happen in the caller's buffer, on IPv4 and IPv6 alike, and keep every
//! checksum right by RFC 1624 incremental update; ARP and echo replies and
//! neighbor advertisements are built in place from the request.
//! [`FlowKey`] names a flow of either family and hashes an IPv4 one as it
//! always has. [`FrameRepr`] builds frames from scratch (Ethernet with an
//! optional 802.1Q tag, ARP, IPv4 with options and fragments, IPv6, TCP,
//! UDP, ICMP and ICMPv6 echo and errors, neighbor discovery) into the
//! caller's buffer, every length and checksum filled in.
//!
//! This crate performs no I/O, allocates nothing (bar
//! [`FrameRepr::to_vec`]) and keeps no state: it does not reassemble
//! fragments (a non-first fragment simply has no ports; an IPv6 fragment
//! none at all), or decide anything. Deciding is for `lb-algos`,
//! `lb-session` and `lb-engine`.
//!
//! ```
//! use std::net::{Ipv4Addr, SocketAddrV4};
//! use lb_packet::{EthernetRepr, Frame, FrameRepr, Ipv4Repr, MacAddr, Protocol, TcpFlags, TcpRepr};
//!
//! // A TCP SYN from 10.0.0.2:40000 to the VIP 10.0.0.1:80.
//! let (client, lb) = (MacAddr([2, 0, 0, 0, 0, 2]), MacAddr([2, 0, 0, 0, 0, 1]));
//! let mut bytes = FrameRepr::ipv4(
//!     EthernetRepr::new(client, lb),
//!     Ipv4Repr::new(Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1)),
//!     TcpRepr::new(40000, 80, TcpFlags::SYN),
//!     b"",
//! )
//! .to_vec()?;
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
mod builder;
mod checksum;
mod error;
mod flow;
mod flow_hash;
mod frame;
mod icmp;
mod ipv4;
mod ipv6;
mod layout;
mod mac;
mod ndp;
mod offload;
mod reply;
mod rewrite;
mod segment;
mod tcp_flags;
mod wire;

#[cfg(feature = "testing")]
pub mod fuzzing;

pub use arp::{ArpOp, ArpView};
pub use builder::{
    ArpRepr, EthernetRepr, FrameRepr, IcmpRepr, Icmpv6Repr, Ipv4Repr, Ipv6Repr, PacketRepr,
    TcpRepr, TransportRepr, UdpRepr,
};
pub use checksum::internet_checksum;
pub use error::{BuildError, ParseError, RewriteError};
pub use flow::{CANONICAL_LEN, CANONICAL_LEN_V6, CanonicalBytes, FlowKey, Protocol};
pub use flow_hash::{FlowHasher, HashKey};
pub use frame::{EtherType, Frame, TcpSegment};
pub use icmp::{Icmp, IcmpError};
pub use ipv4::Ipv4View;
pub use ipv6::Ipv6View;
pub use mac::{MacAddr, MacParseError};
pub use ndp::{
    NEIGHBOR_SOLICITATION_FRAME_LEN, NeighborAdvertisement, NeighborSolicitation,
    neighbor_solicitation, solicited_node, unsolicited_advertisement,
};
pub use offload::{
    ChecksumOffload, Gso, GsoKind, Offload, OffloadError, VIRTIO_NET_HDR_LEN, WireSize,
};
pub use reply::{ARP_FRAME_LEN, REPLY_TTL, arp_request};
pub use segment::{SegmentError, segment};
pub use tcp_flags::TcpFlags;
