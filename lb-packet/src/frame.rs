//! [`Frame`]: a validated, zero-copy view over an Ethernet frame.
//!
//! This file holds the frame and its headers down to IP; `transport` reads
//! what the transport header says and `verify` checks its checksum.

mod transport;
mod verify;

use crate::MacAddr;
use crate::arp::ArpView;
use crate::error::ParseError;
use crate::ipv4::Ipv4View;
use crate::ipv6::Ipv6View;
use crate::layout::{IpLayout, Layout, Network, Transport, be16};
use crate::offload::{ChecksumOffload, GsoKind, Offload, PackedOffload, WireSize};
use crate::segment;
use crate::tcp_flags::TcpFlags;
use crate::wire::{arp, ethernet, ethertype, ipv6, tcp, udp, vlan};

/// What an Ethernet frame carries (behind its 802.1Q tag, if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtherType {
    /// ARP for IPv4 over Ethernet (validated).
    Arp,
    /// IPv4 (validated down to the transport header).
    Ipv4,
    /// IPv6 (validated down to the transport header, past extension
    /// headers).
    Ipv6,
    /// Anything else, with its ethertype.
    Other(u16),
}

/// A TCP segment as [`Frame::tcp_segment`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful with [`TcpFlags::ACK`]).
    pub ack: u32,
    /// Control flags.
    pub flags: TcpFlags,
    /// The data after the header, up to the IPv4 total length.
    pub payload: &'a [u8],
}

/// An Ethernet II frame, validated once by [`Frame::parse`].
///
/// `parse` checks every length the frame's headers claim, the IPv4 header
/// checksum, and the transport header of first fragments. Afterwards no
/// accessor or setter can panic or fail for a reason `parse` could have
/// seen, whatever the bytes were: setters that do not apply to this kind
/// of frame return a [`RewriteError`](crate::RewriteError) and leave it
/// untouched.
///
/// Reading needs `T: AsRef<[u8]>`, writing also `AsMut<[u8]>`, so the same
/// code serves `&[u8]`, `&mut [u8]`, `Vec<u8>` or a datapath's own buffer.
///
/// ```
/// use std::net::Ipv4Addr;
/// use lb_packet::{ArpOp, EtherType, Frame, MacAddr};
///
/// let mac: MacAddr = "02:00:00:00:00:01".parse()?;
/// let bytes = lb_packet::arp_request(mac, Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1));
/// let frame = Frame::parse(&bytes[..])?;
/// assert_eq!(frame.ethertype(), EtherType::Arp);
/// let arp = frame.arp().expect("an ARP frame");
/// assert_eq!((arp.op(), arp.target_ip()), (ArpOp::Request, Ipv4Addr::new(10, 0, 0, 1)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A frame handed over with offloads pending (a partial checksum, a TCP
/// super-frame) is parsed with [`Frame::parse_offloaded`]: the setters then
/// keep the partial checksum right instead, and [`Frame::offload`] says
/// what the next device must still do.
#[derive(Debug, Clone)]
pub struct Frame<T> {
    pub(crate) buffer: T,
    pub(crate) layout: Layout,
    pub(crate) offload: PackedOffload,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Validates `buffer` as an Ethernet frame.
    // Always inlined: returned through memory, the packed layout costs a
    // store-forwarding stall that is a third of the whole parse.
    #[inline(always)]
    pub fn parse(buffer: T) -> Result<Self, ParseError> {
        let layout = Layout::parse(buffer.as_ref())?;
        Ok(Frame {
            buffer,
            layout,
            offload: PackedOffload::NONE,
        })
    }

    /// Validates `buffer` as an Ethernet frame that a device has not
    /// finished, as `offload` says. On IP, a partial checksum must be the
    /// TCP or UDP checksum and a super-frame TCP of the frame's family
    /// ([`ParseError::OffloadMismatch`] otherwise); frames of other kinds
    /// are passed on as they are, so their offload is not checked here.
    #[inline(always)]
    pub fn parse_offloaded(buffer: T, offload: Offload) -> Result<Self, ParseError> {
        let layout = Layout::parse(buffer.as_ref())?;
        if offload != Offload::NONE {
            check_offload(&layout, &offload)?;
        }
        Ok(Frame {
            buffer,
            layout,
            offload: PackedOffload::new(&offload),
        })
    }

    /// What a device must still do to this frame: [`Offload::NONE`] unless
    /// it was parsed with [`Frame::parse_offloaded`].
    #[inline]
    pub fn offload(&self) -> Offload {
        self.offload.unpack()
    }

    /// How many packets and bytes the frame is on the wire: a super-frame
    /// counts each segment with its headers.
    #[inline]
    pub fn wire_size(&self) -> WireSize {
        if self.offload.has_gso() {
            segment::wire_size(self.as_bytes(), &self.offload.unpack())
        } else {
            WireSize::single(self.len())
        }
    }

    /// True when the transport checksum is partial (see
    /// [`ChecksumOffload::Partial`]).
    #[inline]
    pub(crate) fn is_checksum_partial(&self) -> bool {
        self.offload.is_partial()
    }

    /// The whole frame.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Length of the whole frame in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Always false: a valid frame holds at least an Ethernet header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination MAC address.
    pub fn dst_mac(&self) -> MacAddr {
        MacAddr(self.mac_at(ethernet::DST))
    }

    /// Source MAC address.
    pub fn src_mac(&self) -> MacAddr {
        MacAddr(self.mac_at(ethernet::SRC))
    }

    fn mac_at(&self, at: usize) -> [u8; 6] {
        let mut mac = [0; 6];
        mac.copy_from_slice(&self.as_bytes()[at..at + 6]);
        mac
    }

    /// The 802.1Q VLAN identifier, if the frame is tagged.
    pub fn vlan_id(&self) -> Option<u16> {
        let bytes = self.as_bytes();
        (be16(bytes, ethernet::ETHERTYPE) == ethertype::VLAN)
            .then(|| be16(bytes, vlan::TCI) & vlan::ID_MASK)
    }

    /// What the frame carries.
    pub fn ethertype(&self) -> EtherType {
        match self.layout.network() {
            Network::Arp => EtherType::Arp,
            Network::Ipv4 => EtherType::Ipv4,
            Network::Ipv6 => EtherType::Ipv6,
            // The ethertype is the last field before the network header.
            Network::Other => EtherType::Other(be16(self.as_bytes(), self.layout.l3() - 2)),
        }
    }

    /// The ARP packet, if this is ARP.
    pub fn arp(&self) -> Option<ArpView<'_>> {
        match self.layout.network() {
            Network::Arp => {
                let l3 = self.layout.l3();
                self.as_bytes()[l3..l3 + arp::LEN]
                    .try_into()
                    .ok()
                    .map(ArpView::new)
            }
            _ => None,
        }
    }

    pub(crate) fn ipv4_layout(&self) -> Option<IpLayout> {
        self.layout.ipv4_layout()
    }

    /// The IPv4 header, if this is IPv4.
    pub fn ipv4(&self) -> Option<Ipv4View<'_>> {
        let ip = self.ipv4_layout()?;
        Some(Ipv4View::new(&self.as_bytes()[self.layout.l3()..ip.l4]))
    }

    /// True for a fragment of an IP packet: an IPv4 one (first or not; a
    /// first one still has its ports), or an IPv6 one that is not atomic
    /// (no ports to read, first or not).
    pub fn is_fragment(&self) -> bool {
        self.layout.is_ipv6_fragment() || self.ipv4().is_some_and(|header| header.is_fragment())
    }

    /// The fixed IPv6 header, if this is IPv6.
    pub fn ipv6(&self) -> Option<Ipv6View<'_>> {
        self.layout.ipv6_layout()?;
        let l3 = self.layout.l3();
        Some(Ipv6View::new(&self.as_bytes()[l3..l3 + ipv6::HEADER_LEN]))
    }

    /// The IP packet (IPv4 or IPv6), from its header to the end its length
    /// gives (Ethernet padding excluded): what an ICMP (ICMPv6) error about
    /// this frame quotes, cut to the length the error carries.
    pub fn ip_packet(&self) -> Option<&[u8]> {
        let ip = self.layout.any_ip_layout()?;
        Some(&self.as_bytes()[self.layout.l3()..ip.end])
    }

    /// The IPv4 packet, from its header to the end its total length gives
    /// (Ethernet padding excluded): what an ICMP error about this frame
    /// quotes, cut to the length the error carries
    /// (see [`IcmpRepr`](crate::IcmpRepr)).
    pub fn ipv4_packet(&self) -> Option<&[u8]> {
        let ip = self.ipv4_layout()?;
        Some(&self.as_bytes()[self.layout.l3()..ip.end])
    }
}

/// Checks that `offload` describes the IP frame of `layout`, if it is one.
#[inline(never)]
fn check_offload(layout: &Layout, offload: &Offload) -> Result<(), ParseError> {
    let Some(ip) = layout.any_ip_layout() else {
        return match offload.gso {
            Some(_) => Err(ParseError::OffloadMismatch),
            None => Ok(()),
        };
    };
    let checksum_at = match ip.transport {
        Transport::Tcp => Some(ip.l4 + tcp::CHECKSUM),
        Transport::Udp => Some(ip.l4 + udp::CHECKSUM),
        _ => None,
    };
    let partial_fits = match offload.checksum {
        ChecksumOffload::Partial { start, offset } => {
            usize::from(start) == ip.l4
                && Some(usize::from(start) + usize::from(offset)) == checksum_at
        }
        _ => true,
    };
    let gso_kind = if ip.ipv6 {
        GsoKind::Tcp6
    } else {
        GsoKind::Tcp4
    };
    let gso_fits = offload.gso.is_none_or(|gso| {
        gso.kind == gso_kind
            && ip.transport == Transport::Tcp
            && matches!(offload.checksum, ChecksumOffload::Partial { .. })
    });
    if partial_fits && gso_fits {
        Ok(())
    } else {
        Err(ParseError::OffloadMismatch)
    }
}
