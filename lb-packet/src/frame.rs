//! [`Frame`]: a validated, zero-copy view over an Ethernet frame.

use std::net::Ipv4Addr;

use crate::MacAddr;
use crate::arp::ArpView;
use crate::checksum;
use crate::error::ParseError;
use crate::flow::{FlowKey, Protocol};
use crate::icmp::Icmp;
use crate::ipv4::Ipv4View;
use crate::ipv6::Ipv6View;
use crate::layout::{IpLayout, Layout, Network, QuotedPorts, Transport, array_at, be16};
use crate::offload::{ChecksumOffload, GsoKind, Offload, PackedOffload, WireSize};
use crate::segment;
use crate::tcp_flags::TcpFlags;
use crate::wire::{arp, ethernet, ethertype, icmp, ip_proto, ipv4, ipv6, tcp, udp, vlan};

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
    /// finished, as `offload` says. On IPv4, a partial checksum must be the
    /// TCP or UDP checksum and a super-frame TCP
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

    /// The fixed IPv6 header, if this is IPv6.
    pub fn ipv6(&self) -> Option<Ipv6View<'_>> {
        self.layout.ipv6_layout()?;
        let l3 = self.layout.l3();
        Some(Ipv6View::new(&self.as_bytes()[l3..l3 + ipv6::HEADER_LEN]))
    }

    fn addr_at(&self, at: usize) -> Ipv4Addr {
        Ipv4Addr::from(array_at::<4>(self.as_bytes(), at))
    }

    /// The flow's 5-tuple: TCP, UDP and ICMP echo, when the ports are in
    /// this frame (so not for non-first fragments).
    pub fn flow_key(&self) -> Option<FlowKey> {
        let ip = self.ipv4_layout()?;
        let bytes = self.as_bytes();
        let (proto, src_port, dst_port) = match ip.transport {
            Transport::Tcp | Transport::Udp => {
                // Source and destination ports, adjacent in TCP and UDP.
                let [s0, s1, d0, d1] = array_at(bytes, ip.l4 + tcp::SRC_PORT);
                let proto = if ip.transport == Transport::Tcp {
                    Protocol::Tcp
                } else {
                    Protocol::Udp
                };
                (
                    proto,
                    u16::from_be_bytes([s0, s1]),
                    u16::from_be_bytes([d0, d1]),
                )
            }
            Transport::IcmpEcho => {
                let id = be16(bytes, ip.l4 + icmp::ID);
                (Protocol::Icmp, id, id)
            }
            _ => return None,
        };
        // Source and destination addresses, adjacent.
        let [s0, s1, s2, s3, d0, d1, d2, d3] = array_at(bytes, self.layout.l3() + ipv4::SRC);
        Some(FlowKey {
            src: Ipv4Addr::new(s0, s1, s2, s3),
            dst: Ipv4Addr::new(d0, d1, d2, d3),
            src_port,
            dst_port,
            proto,
        })
    }

    /// TCP flags, for TCP packets whose header is in this frame.
    pub fn tcp_flags(&self) -> Option<TcpFlags> {
        let ip = self.ipv4_layout()?;
        matches!(ip.transport, Transport::Tcp)
            .then(|| TcpFlags::from_bits(self.as_bytes()[ip.l4 + tcp::FLAGS]))
    }

    /// The TCP segment: sequence numbers, flags and payload, for TCP
    /// packets whose header is in this frame (what a TCP endpoint, such
    /// as a health probe, needs to follow a connection).
    pub fn tcp_segment(&self) -> Option<TcpSegment<'_>> {
        let ip = self.ipv4_layout()?;
        if ip.transport != Transport::Tcp {
            return None;
        }
        let bytes = self.as_bytes();
        // parse() checked l4 + data offset <= end.
        let data_at = ip.l4 + usize::from(bytes[ip.l4 + tcp::DATA_OFFSET] >> 4) * 4;
        Some(TcpSegment {
            seq: u32::from_be_bytes(array_at(bytes, ip.l4 + tcp::SEQ)),
            ack: u32::from_be_bytes(array_at(bytes, ip.l4 + tcp::ACK)),
            flags: TcpFlags::from_bits(bytes[ip.l4 + tcp::FLAGS]),
            payload: bytes.get(data_at..ip.end).unwrap_or_default(),
        })
    }

    /// The ICMP message, for ICMP packets whose header is in this frame.
    pub fn icmp(&self) -> Option<Icmp> {
        let ip = self.ipv4_layout()?;
        let bytes = self.as_bytes();
        let (icmp_type, code) = (bytes[ip.l4 + icmp::TYPE], bytes[ip.l4 + icmp::CODE]);
        Some(match ip.transport {
            Transport::IcmpEcho => {
                let id = be16(bytes, ip.l4 + icmp::ID);
                let seq = be16(bytes, ip.l4 + icmp::SEQ);
                if icmp_type == icmp::ECHO_REQUEST {
                    Icmp::EchoRequest { id, seq }
                } else {
                    Icmp::EchoReply { id, seq }
                }
            }
            Transport::IcmpError(_) => Icmp::Error { icmp_type, code },
            Transport::IcmpOther => Icmp::Other { icmp_type, code },
            _ => return None,
        })
    }

    /// The flow of the packet an ICMP error quotes, as that packet travelled
    /// (so usually the reverse of this error's own direction). None when the
    /// quote is cut short or carries no ports.
    pub fn quoted_flow(&self) -> Option<FlowKey> {
        let ip = self.ipv4_layout()?;
        let Transport::IcmpError(Some(quote)) = ip.transport else {
            return None;
        };
        let bytes = self.as_bytes();
        let (proto, src_port, dst_port) = match quote.ports {
            QuotedPorts::Tcp => (
                Protocol::Tcp,
                be16(bytes, quote.l4 + tcp::SRC_PORT),
                be16(bytes, quote.l4 + tcp::DST_PORT),
            ),
            QuotedPorts::Udp => (
                Protocol::Udp,
                be16(bytes, quote.l4 + udp::SRC_PORT),
                be16(bytes, quote.l4 + udp::DST_PORT),
            ),
            QuotedPorts::IcmpEcho => {
                let id = be16(bytes, quote.l4 + icmp::ID);
                (Protocol::Icmp, id, id)
            }
            QuotedPorts::None => return None,
        };
        Some(FlowKey {
            src: self.addr_at(quote.l3 + ipv4::SRC),
            dst: self.addr_at(quote.l3 + ipv4::DST),
            src_port,
            dst_port,
            proto,
        })
    }

    /// The IPv4 packet, from its header to the end its total length gives
    /// (Ethernet padding excluded): what an ICMP error about this frame
    /// quotes, cut to the length the error carries
    /// (see [`IcmpRepr`](crate::IcmpRepr)).
    pub fn ipv4_packet(&self) -> Option<&[u8]> {
        let ip = self.ipv4_layout()?;
        Some(&self.as_bytes()[self.layout.l3()..ip.end])
    }

    /// Whether the transport checksum verifies, by full recomputation.
    ///
    /// None when it cannot be checked: not TCP, UDP or ICMP; a fragment
    /// (the checksum covers bytes other frames hold); UDP without one; or a
    /// partial checksum, which a device completes.
    ///
    /// Over IPv6 the pseudo-header covers ICMPv6 too, and an IPv6 fragment
    /// has no transport header to check. A packet still on its way along a
    /// routing header is summed with its final destination, which is not
    /// the one in its header: the check fails for it.
    pub fn l4_checksum_valid(&self) -> Option<bool> {
        if self.is_checksum_partial() {
            return None;
        }
        if let Some(ip) = self.layout.ipv6_layout() {
            let segment = &self.as_bytes()[ip.l4..ip.end];
            let protocol = match ip.transport {
                Transport::Tcp => ip_proto::TCP,
                Transport::Udp => ip_proto::UDP,
                Transport::IcmpEcho | Transport::IcmpError(_) | Transport::IcmpOther => {
                    ip_proto::ICMPV6
                }
                Transport::Opaque => return None,
            };
            let total =
                self.ipv6_pseudo_header_sum(protocol, segment.len()) + checksum::sum(segment);
            return Some(checksum::fold(total) == 0xffff);
        }
        let ip = self.ipv4_layout()?;
        let bytes = self.as_bytes();
        if self.ipv4().is_some_and(|header| header.is_fragment()) {
            return None;
        }
        let segment = &bytes[ip.l4..ip.end];
        let total = match ip.transport {
            Transport::Tcp => self.pseudo_header_sum(ip_proto::TCP) + checksum::sum(segment),
            Transport::Udp if be16(segment, udp::CHECKSUM) == 0 => return None,
            Transport::Udp => self.pseudo_header_sum(ip_proto::UDP) + checksum::sum(segment),
            Transport::IcmpEcho | Transport::IcmpError(_) | Transport::IcmpOther => {
                checksum::sum(segment)
            }
            Transport::Opaque => return None,
        };
        Some(checksum::fold(total) == 0xffff)
    }

    /// Unfolded sum of the IPv6 pseudo-header (RFC 8200 8.1) for an
    /// upper-layer packet of `len` bytes. Call on IPv6 frames only.
    fn ipv6_pseudo_header_sum(&self, protocol: u8, len: usize) -> u32 {
        let l3 = self.layout.l3();
        // Source and destination addresses, adjacent.
        let addrs = &self.as_bytes()[l3 + ipv6::SRC..l3 + ipv6::DST + 16];
        checksum::pseudo_header(addrs, protocol, len as u32)
    }

    /// Unfolded sum of the TCP/UDP pseudo-header. Call on IPv4 frames only.
    pub(crate) fn pseudo_header_sum(&self, protocol: u8) -> u32 {
        let l3 = self.layout.l3();
        let bytes = self.as_bytes();
        let total_len = u32::from(be16(bytes, l3 + ipv4::TOTAL_LEN));
        let segment_len = total_len - u32::from(bytes[l3 + ipv4::VERSION_IHL] & 0x0f) * 4;
        // Source and destination addresses, adjacent.
        let addrs = &bytes[l3 + ipv4::SRC..l3 + ipv4::DST + 4];
        checksum::pseudo_header(addrs, protocol, segment_len)
    }
}

/// Checks that `offload` describes the IPv4 frame of `layout`, if it is one.
#[inline(never)]
fn check_offload(layout: &Layout, offload: &Offload) -> Result<(), ParseError> {
    let Some(ip) = layout.ipv4_layout() else {
        return match offload.gso {
            Some(gso) if gso.kind == GsoKind::Tcp4 => Err(ParseError::OffloadMismatch),
            _ => Ok(()),
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
    let gso_fits = offload.gso.is_none_or(|gso| {
        gso.kind == GsoKind::Tcp4
            && ip.transport == Transport::Tcp
            && matches!(offload.checksum, ChecksumOffload::Partial { .. })
    });
    if partial_fits && gso_fits {
        Ok(())
    } else {
        Err(ParseError::OffloadMismatch)
    }
}
