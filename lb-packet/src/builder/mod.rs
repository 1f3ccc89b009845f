//! Frames built from a description of their headers, in the manner of
//! smoltcp's `Repr::emit`: every field is a value in a plain struct, and
//! [`FrameRepr::emit`] writes the bytes with each length and checksum
//! filled in. Emitting allocates nothing; [`FrameRepr::to_vec`] does.

mod icmpv6;
mod network;
mod transport;

use crate::MacAddr;
use crate::error::BuildError;
use crate::layout::put;
use crate::wire::{arp, ethernet, ethertype, ipv4, ipv6, vlan};

pub use icmpv6::Icmpv6Repr;
pub use network::{ArpRepr, Ipv4Repr, Ipv6Repr};
pub use transport::{IcmpRepr, TcpRepr, TransportRepr, UdpRepr};

/// A whole frame: the Ethernet header and what it carries.
///
/// ```
/// use std::net::Ipv4Addr;
/// use lb_packet::{
///     EthernetRepr, FrameRepr, Ipv4Repr, MacAddr, Protocol, TcpFlags, TcpRepr,
/// };
///
/// let (client, lb) = (MacAddr([2, 0, 0, 0, 0, 2]), MacAddr([2, 0, 0, 0, 0, 1]));
/// let syn = FrameRepr::ipv4(
///     EthernetRepr::new(client, lb),
///     Ipv4Repr::new(Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1)),
///     TcpRepr::new(40000, 80, TcpFlags::SYN),
///     b"",
/// );
/// let mut buffer = [0u8; 1514];
/// let len = syn.emit(&mut buffer)?;
/// assert_eq!(len, 54);
/// let frame = lb_packet::Frame::parse(&buffer[..len])?;
/// assert_eq!(frame.flow_key().unwrap().proto, Protocol::Tcp);
/// assert_eq!(frame.l4_checksum_valid(), Some(true));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRepr<'a> {
    /// The Ethernet header; its ethertype follows from `packet`.
    pub ethernet: EthernetRepr,
    /// What the frame carries.
    pub packet: PacketRepr<'a>,
    /// Pad with zeros to the 60-byte Ethernet minimum. A NIC or the kernel
    /// usually pads on its own; a tap, a pcap or a byte-exact test may not.
    pub pad: bool,
}

/// An Ethernet II header, optionally 802.1Q-tagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    /// Source MAC address.
    pub src: MacAddr,
    /// Destination MAC address.
    pub dst: MacAddr,
    /// The VLAN identifier of an 802.1Q tag (0 to 4095; priority 0), or
    /// None for an untagged frame.
    pub vlan_id: Option<u16>,
}

/// What an Ethernet frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PacketRepr<'a> {
    /// An ARP packet.
    Arp(ArpRepr),
    /// An IPv4 packet: header, transport header, then `payload`.
    Ipv4 {
        /// The IPv4 header; lengths, protocol and checksum are derived.
        header: Ipv4Repr<'a>,
        /// The transport header; lengths and checksum are derived.
        transport: TransportRepr<'a>,
        /// What follows the transport header (for an ICMP error, the quote).
        payload: &'a [u8],
    },
    /// An IPv6 packet: header, transport header, then `payload`.
    Ipv6 {
        /// The IPv6 header; payload length and next header are derived.
        header: Ipv6Repr,
        /// The transport header; lengths and checksum are derived.
        transport: TransportRepr<'a>,
        /// What follows the transport header (for an ICMPv6 error, the
        /// quote).
        payload: &'a [u8],
    },
}

impl EthernetRepr {
    /// An untagged header.
    pub const fn new(src: MacAddr, dst: MacAddr) -> Self {
        EthernetRepr {
            src,
            dst,
            vlan_id: None,
        }
    }
}

/// Where each part of a frame goes, every length validated.
struct Plan {
    /// Start of the network header.
    l3: usize,
    /// Length of the IP header, options included (0 for ARP).
    ip_header_len: usize,
    /// End of the headers, where the payload starts.
    payload_at: usize,
    /// End of the packet, where the padding starts.
    end: usize,
    /// Length of the frame, padding included.
    len: usize,
}

impl<'a> FrameRepr<'a> {
    /// An unpadded frame carrying ARP.
    pub const fn arp(ethernet: EthernetRepr, arp: ArpRepr) -> Self {
        FrameRepr {
            ethernet,
            packet: PacketRepr::Arp(arp),
            pad: false,
        }
    }

    /// An unpadded frame carrying IPv4.
    pub fn ipv4(
        ethernet: EthernetRepr,
        header: Ipv4Repr<'a>,
        transport: impl Into<TransportRepr<'a>>,
        payload: &'a [u8],
    ) -> Self {
        FrameRepr {
            ethernet,
            packet: PacketRepr::Ipv4 {
                header,
                transport: transport.into(),
                payload,
            },
            pad: false,
        }
    }

    /// An unpadded frame carrying IPv6.
    pub fn ipv6(
        ethernet: EthernetRepr,
        header: Ipv6Repr,
        transport: impl Into<TransportRepr<'a>>,
        payload: &'a [u8],
    ) -> Self {
        FrameRepr {
            ethernet,
            packet: PacketRepr::Ipv6 {
                header,
                transport: transport.into(),
                payload,
            },
            pad: false,
        }
    }

    /// The same frame, padded to the 60-byte Ethernet minimum.
    pub const fn padded(self) -> Self {
        FrameRepr { pad: true, ..self }
    }

    /// The length [`emit`](Self::emit) writes, padding included.
    pub fn buffer_len(&self) -> Result<usize, BuildError> {
        Ok(self.plan()?.len)
    }

    /// Writes the frame at the start of `buffer` and returns its length.
    /// Bytes past that length are left as they were.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize, BuildError> {
        let plan = self.plan()?;
        let available = buffer.len();
        let frame = buffer
            .get_mut(..plan.len)
            .ok_or(BuildError::BufferTooSmall {
                needed: plan.len,
                available,
            })?;
        // Reserved bits, unused fields and checksums start out zero.
        frame[..plan.payload_at].fill(0);
        frame[plan.end..].fill(0);
        self.emit_ethernet(frame);
        let packet = &mut frame[plan.l3..plan.end];
        match &self.packet {
            PacketRepr::Arp(arp) => arp.emit(packet),
            PacketRepr::Ipv4 {
                header,
                transport,
                payload,
            } => {
                // plan() checked that the length fits.
                let total_len = packet.len() as u16;
                let (ip_header, segment) = packet.split_at_mut(plan.ip_header_len);
                header.emit(ip_header, total_len, transport.protocol());
                let payload_at = segment.len() - payload.len();
                segment[payload_at..].copy_from_slice(payload);
                // Source and destination addresses, adjacent.
                transport.emit(segment, &ip_header[ipv4::SRC..ipv4::DST + 4]);
            }
            PacketRepr::Ipv6 {
                header,
                transport,
                payload,
            } => {
                let (ip_header, segment) = packet.split_at_mut(ipv6::HEADER_LEN);
                // plan() checked that the length fits.
                header.emit(ip_header, segment.len() as u16, transport.protocol());
                let payload_at = segment.len() - payload.len();
                segment[payload_at..].copy_from_slice(payload);
                transport.emit(segment, &ip_header[ipv6::SRC..ipv6::DST + 16]);
            }
        }
        Ok(plan.len)
    }

    /// The frame in a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, BuildError> {
        let mut bytes = vec![0; self.buffer_len()?];
        self.emit(&mut bytes)?;
        Ok(bytes)
    }

    fn plan(&self) -> Result<Plan, BuildError> {
        let l3 = match self.ethernet.vlan_id {
            None => ethernet::HEADER_LEN,
            Some(id) if id <= vlan::ID_MASK => ethernet::HEADER_LEN + vlan::TAG_LEN,
            Some(id) => return Err(BuildError::BadVlanId(id)),
        };
        let (ip_header_len, payload_at, end) = match &self.packet {
            PacketRepr::Arp(_) => (0, l3 + arp::LEN, l3 + arp::LEN),
            PacketRepr::Ipv4 {
                header,
                transport,
                payload,
            } => {
                if matches!(transport, TransportRepr::Icmpv6(_)) {
                    return Err(BuildError::WrongFamily);
                }
                let header_len = header.header_len()?;
                let headers_len = header_len + transport.header_len()?;
                let packet_len = headers_len + payload.len();
                if packet_len > usize::from(u16::MAX) {
                    return Err(BuildError::PacketTooLong(packet_len));
                }
                (header_len, l3 + headers_len, l3 + packet_len)
            }
            PacketRepr::Ipv6 {
                transport, payload, ..
            } => {
                if matches!(transport, TransportRepr::Icmp(_)) {
                    return Err(BuildError::WrongFamily);
                }
                let transport_len = transport.header_len()?;
                let payload_len = transport_len + payload.len();
                if payload_len > usize::from(u16::MAX) {
                    return Err(BuildError::PacketTooLong(payload_len));
                }
                let headers_len = ipv6::HEADER_LEN + transport_len;
                let packet_len = ipv6::HEADER_LEN + payload_len;
                (ipv6::HEADER_LEN, l3 + headers_len, l3 + packet_len)
            }
        };
        let len = if self.pad {
            end.max(ethernet::MIN_FRAME_LEN)
        } else {
            end
        };
        Ok(Plan {
            l3,
            ip_header_len,
            payload_at,
            end,
            len,
        })
    }

    fn emit_ethernet(&self, frame: &mut [u8]) {
        let EthernetRepr { src, dst, vlan_id } = self.ethernet;
        put(frame, ethernet::DST, dst.0);
        put(frame, ethernet::SRC, src.0);
        let carried = match self.packet {
            PacketRepr::Arp(_) => ethertype::ARP,
            PacketRepr::Ipv4 { .. } => ethertype::IPV4,
            PacketRepr::Ipv6 { .. } => ethertype::IPV6,
        };
        match vlan_id {
            Some(id) => {
                put(frame, ethernet::ETHERTYPE, ethertype::VLAN.to_be_bytes());
                put(frame, vlan::TCI, id.to_be_bytes());
                put(frame, vlan::ETHERTYPE, carried.to_be_bytes());
            }
            None => put(frame, ethernet::ETHERTYPE, carried.to_be_bytes()),
        }
    }
}
