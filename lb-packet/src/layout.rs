//! Where each header of a frame starts, found and validated once.
//!
//! Every offset a [`Layout`] holds has been checked against the buffer it
//! was parsed from, so readers and writers index with them freely: the
//! buffer's length never changes after parsing, hence no access can go out
//! of bounds whatever bytes are later written.

mod ipv6;

use crate::checksum;
use crate::error::ParseError;
use crate::wire::{arp, ethernet, ethertype, icmp, ip_proto, ipv4, tcp, udp, vlan};

/// Offsets of a validated frame, bit-packed into one `u64`.
///
/// Packed by hand because the compiler assembles a struct of small fields
/// through the stack, and the store-forwarding stall that follows cost a
/// third of the whole parse. Bits: 0..16 `l4` (the start of the
/// transport header: IPv4 `l3 + IHL * 4`, IPv6 past its extension
/// headers), 16..32 the IPv4 total length (the packet ends at `l3 +
/// total_len`) or the IPv6 payload length (it ends at `l3 + 40 +
/// payload_len`), 32..40 the quote offset (ICMP errors: quoted transport
/// header minus `l4`, at most 68), 40..48 `l3` (14, or 18 behind an
/// 802.1Q tag), 48..56 [`Network`], 56..64 a [`transport_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout(u64);

const TOTAL_LEN_SHIFT: u32 = 16;
const QUOTE_OFFSET_SHIFT: u32 = 32;
const L3_SHIFT: u32 = 40;
const NETWORK_SHIFT: u32 = 48;
const TRANSPORT_SHIFT: u32 = 56;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Network {
    /// `l3 + 28 <= len`, IPv4 over Ethernet.
    Arp,
    Ipv4,
    Ipv6,
    /// Any other ethertype (read it from the frame).
    Other,
}

/// What follows the IP header, as stored in a [`Layout`]: one of these
/// codes, or `ICMP_ERROR_QUOTED + QuotedPorts` for an ICMP error whose
/// quoted IP header is whole (ICMP for IPv4, ICMPv6 for IPv6).
mod transport_code {
    pub(super) const OPAQUE: u8 = 0;
    pub(super) const TCP: u8 = 1;
    pub(super) const UDP: u8 = 2;
    pub(super) const ICMP_ECHO: u8 = 3;
    pub(super) const ICMP_OTHER: u8 = 4;
    pub(super) const ICMP_ERROR_UNQUOTED: u8 = 5;
    pub(super) const ICMP_ERROR_QUOTED: u8 = 6;
    /// Past the quoted codes (6 to 9): an IPv6 fragment (not atomic),
    /// opaque like [`OPAQUE`] but known to be a fragment.
    pub(super) const FRAGMENT: u8 = 10;
}

/// An IP packet's offsets, decoded from a [`Layout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpLayout {
    /// Start of the transport header: IPv4 `l3 + IHL * 4`; IPv6 past the
    /// extension headers.
    pub(crate) l4: usize,
    /// End of the packet, as its IP header gives it (Ethernet padding
    /// follows).
    pub(crate) end: usize,
    pub(crate) transport: Transport,
    /// IPv6 (else IPv4): which header sits at `l3`, and of what family an
    /// ICMP error's quote is.
    pub(crate) ipv6: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// No transport header to read: a non-first fragment (IPv6: any
    /// fragment), or a protocol other than TCP, UDP and ICMP (ICMPv6).
    Opaque,
    /// `l4 + data offset <= end`.
    Tcp,
    /// `l4 + 8 <= end`.
    Udp,
    /// Echo request or reply, `l4 + 8 <= end`.
    IcmpEcho,
    /// Destination unreachable, source quench, redirect, time exceeded or
    /// parameter problem; the quote when its IPv4 header is whole.
    IcmpError(Option<Quote>),
    /// Any other ICMP message, `l4 + 8 <= end`.
    IcmpOther,
}

/// The IP header (and start of transport header) quoted by an ICMP error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quote {
    /// Start of the quoted IP header, whole within the packet.
    pub(crate) l3: usize,
    /// Start of the quoted transport header.
    pub(crate) l4: usize,
    pub(crate) ports: QuotedPorts,
}

/// What the quote's first transport bytes are. Port-bearing variants
/// guarantee `l4 + 8 <= end` (RFC 792 quotes at least 64 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum QuotedPorts {
    None = 0,
    /// Checksum (bytes 16..18) present only when `l4 + 18 <= end`.
    Tcp,
    Udp,
    IcmpEcho,
}

impl Layout {
    #[inline(always)]
    fn non_ip(l3: usize, network: Network) -> Self {
        let network = match network {
            Network::Arp => 0,
            Network::Ipv4 => 1,
            Network::Ipv6 => 2,
            Network::Other => 3,
        };
        Layout(((l3 as u64) << L3_SHIFT) | (network << NETWORK_SHIFT))
    }

    /// `length`: IPv4's total length, IPv6's payload length.
    #[inline(always)]
    fn ip(
        network: Network,
        l3: usize,
        l4: u16,
        length: u16,
        (transport, quote_offset): TransportParts,
    ) -> Self {
        let network = Layout::non_ip(l3, network).0;
        Layout(
            network
                | u64::from(l4)
                | (u64::from(length) << TOTAL_LEN_SHIFT)
                | (u64::from(quote_offset) << QUOTE_OFFSET_SHIFT)
                | (u64::from(transport) << TRANSPORT_SHIFT),
        )
    }

    #[inline(always)]
    fn byte(self, shift: u32) -> u8 {
        (self.0 >> shift) as u8
    }

    #[inline(always)]
    fn half(self, shift: u32) -> u16 {
        (self.0 >> shift) as u16
    }

    /// Start of the network header.
    #[inline]
    pub(crate) fn l3(&self) -> usize {
        usize::from(self.byte(L3_SHIFT))
    }

    #[inline]
    pub(crate) fn network(&self) -> Network {
        match self.byte(NETWORK_SHIFT) {
            0 => Network::Arp,
            1 => Network::Ipv4,
            2 => Network::Ipv6,
            _ => Network::Other,
        }
    }

    /// The IPv4 offsets, if this is IPv4.
    #[inline]
    pub(crate) fn ipv4_layout(&self) -> Option<IpLayout> {
        if self.network() != Network::Ipv4 {
            return None;
        }
        let total_len = usize::from(self.half(TOTAL_LEN_SHIFT));
        Some(self.ip_layout(self.l3() + total_len, false))
    }

    /// The IPv6 offsets, if this is IPv6.
    #[inline]
    pub(crate) fn ipv6_layout(&self) -> Option<IpLayout> {
        if self.network() != Network::Ipv6 {
            return None;
        }
        let payload_len = usize::from(self.half(TOTAL_LEN_SHIFT));
        Some(self.ip_layout(
            self.l3() + crate::wire::ipv6::HEADER_LEN + payload_len,
            true,
        ))
    }

    /// True for an IPv6 packet that is a fragment (not an atomic one).
    #[inline]
    pub(crate) fn is_ipv6_fragment(&self) -> bool {
        self.network() == Network::Ipv6 && self.byte(TRANSPORT_SHIFT) == transport_code::FRAGMENT
    }

    /// The offsets of an IP packet of either family.
    #[inline]
    pub(crate) fn any_ip_layout(&self) -> Option<IpLayout> {
        match self.network() {
            Network::Ipv4 => self.ipv4_layout(),
            Network::Ipv6 => self.ipv6_layout(),
            Network::Arp | Network::Other => None,
        }
    }

    /// The offsets of an IP packet (of either family) that ends at `end`.
    #[inline(always)]
    fn ip_layout(&self, end: usize, ipv6: bool) -> IpLayout {
        let l4 = usize::from(self.half(0));
        let quote_offset = usize::from(self.byte(QUOTE_OFFSET_SHIFT));
        let quote = |ports| {
            Transport::IcmpError(Some(Quote {
                l3: l4 + icmp::HEADER_LEN,
                l4: l4 + quote_offset,
                ports,
            }))
        };
        let transport = match self.byte(TRANSPORT_SHIFT) {
            transport_code::TCP => Transport::Tcp,
            transport_code::UDP => Transport::Udp,
            transport_code::ICMP_ECHO => Transport::IcmpEcho,
            transport_code::ICMP_OTHER => Transport::IcmpOther,
            transport_code::ICMP_ERROR_UNQUOTED => Transport::IcmpError(None),
            6 => quote(QuotedPorts::None),
            7 => quote(QuotedPorts::Tcp),
            8 => quote(QuotedPorts::Udp),
            9 => quote(QuotedPorts::IcmpEcho),
            _ => Transport::Opaque,
        };
        IpLayout {
            l4,
            end,
            transport,
            ipv6,
        }
    }
}

#[inline]
pub(crate) fn be16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(array_at(bytes, at))
}

/// `N` bytes from `at`, with one bounds check instead of `N`.
#[inline(always)]
pub(crate) fn array_at<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut array = [0; N];
    array.copy_from_slice(&bytes[at..at + N]);
    array
}

/// Writes `N` bytes at `at`: the counterpart of [`array_at`].
#[inline(always)]
pub(crate) fn put<const N: usize>(bytes: &mut [u8], at: usize, value: [u8; N]) {
    bytes[at..at + N].copy_from_slice(&value);
}

impl Layout {
    #[inline(always)]
    pub(crate) fn parse(frame: &[u8]) -> Result<Self, ParseError> {
        if frame.len() < ethernet::HEADER_LEN {
            return Err(ParseError::TruncatedEthernet);
        }
        let mut l3 = ethernet::HEADER_LEN;
        let mut ethertype = be16(frame, ethernet::ETHERTYPE);
        if ethertype == ethertype::VLAN {
            if frame.len() < ethernet::HEADER_LEN + vlan::TAG_LEN {
                return Err(ParseError::TruncatedEthernet);
            }
            ethertype = be16(frame, vlan::ETHERTYPE);
            l3 += vlan::TAG_LEN;
        }
        match ethertype {
            ethertype::ARP => {
                parse_arp(&frame[l3..])?;
                Ok(Layout::non_ip(l3, Network::Arp))
            }
            ethertype::IPV4 => parse_ipv4(frame, l3),
            ethertype::IPV6 => ipv6::parse_ipv6(frame, l3),
            _ => Ok(Layout::non_ip(l3, Network::Other)),
        }
    }
}

#[inline]
fn parse_arp(packet: &[u8]) -> Result<(), ParseError> {
    if packet.len() < arp::LEN {
        return Err(ParseError::TruncatedArp);
    }
    if be16(packet, arp::HARDWARE_TYPE) != arp::HARDWARE_ETHERNET
        || be16(packet, arp::PROTOCOL_TYPE) != ethertype::IPV4
        || packet[arp::HARDWARE_LEN] != arp::MAC_LEN
        || packet[arp::PROTOCOL_LEN] != arp::IP_LEN
    {
        return Err(ParseError::UnsupportedArp);
    }
    Ok(())
}

/// How much of the offending packet's data an ICMP error quotes at least
/// (RFC 792: 64 bits), so enough for ports or an echo identifier.
const QUOTED_TRANSPORT_LEN: usize = 8;

/// What follows an IPv4 header, and the quote's offset within the segment.
type TransportParts = (u8, u8);

#[inline(always)]
fn parse_ipv4(frame: &[u8], l3: usize) -> Result<Layout, ParseError> {
    let ip = &frame[l3..];
    if ip.len() < ipv4::MIN_HEADER_LEN {
        return Err(ParseError::TruncatedIpv4);
    }
    if ip[ipv4::VERSION_IHL] >> 4 != ipv4::VERSION {
        return Err(ParseError::BadIpVersion);
    }
    let header_words = ip[ipv4::VERSION_IHL] & 0x0f;
    let header_len = usize::from(header_words) * 4;
    if header_len < ipv4::MIN_HEADER_LEN {
        return Err(ParseError::BadIpHeaderLength);
    }
    let total_len = be16(ip, ipv4::TOTAL_LEN);
    if usize::from(total_len) < header_len {
        return Err(ParseError::BadIpTotalLength);
    }
    if ip.len() < usize::from(total_len) {
        return Err(ParseError::TruncatedIpv4);
    }
    let header_sum = match header_len {
        // The common case, unrolled: no options.
        ipv4::MIN_HEADER_LEN => checksum::sum_array(&array_at::<{ ipv4::MIN_HEADER_LEN }>(ip, 0)),
        _ => checksum::sum(&ip[..header_len]),
    };
    if checksum::fold(header_sum) != 0xffff {
        return Err(ParseError::BadIpChecksum);
    }
    let fragment = be16(ip, ipv4::FLAGS_FRAGMENT);
    let (transport, quote_offset) = if fragment & ipv4::FRAGMENT_OFFSET == 0 {
        let more_fragments = fragment & ipv4::MORE_FRAGMENTS != 0;
        parse_transport(
            &ip[header_len..usize::from(total_len)],
            ip[ipv4::PROTOCOL],
            more_fragments,
        )?
    } else {
        (transport_code::OPAQUE, 0)
    };
    // l3 is 14 or 18 and the IPv4 header at most 60 bytes: l4 fits in u16.
    const UNTAGGED: u16 = ethernet::HEADER_LEN as u16;
    const TAGGED: u16 = UNTAGGED + vlan::TAG_LEN as u16;
    let l2_len = if l3 == ethernet::HEADER_LEN {
        UNTAGGED
    } else {
        TAGGED
    };
    let l4 = u16::from(header_words) * 4 + l2_len;
    Ok(Layout::ip(
        Network::Ipv4,
        l3,
        l4,
        total_len,
        (transport, quote_offset),
    ))
}

#[inline(always)]
fn parse_transport(
    segment: &[u8],
    protocol: u8,
    fragmented: bool,
) -> Result<TransportParts, ParseError> {
    let transport = match protocol {
        ip_proto::TCP => {
            if segment.len() < tcp::MIN_HEADER_LEN {
                return Err(ParseError::BadTcpHeader);
            }
            let data_offset = usize::from(segment[tcp::DATA_OFFSET] >> 4) * 4;
            if data_offset < tcp::MIN_HEADER_LEN || data_offset > segment.len() {
                return Err(ParseError::BadTcpHeader);
            }
            transport_code::TCP
        }
        ip_proto::UDP => {
            if segment.len() < udp::HEADER_LEN {
                return Err(ParseError::BadUdpHeader);
            }
            // A first fragment's UDP length covers the whole datagram.
            let udp_len = usize::from(be16(segment, udp::LENGTH));
            if !fragmented && (udp_len < udp::HEADER_LEN || udp_len > segment.len()) {
                return Err(ParseError::BadUdpHeader);
            }
            transport_code::UDP
        }
        ip_proto::ICMP => {
            if segment.len() < icmp::HEADER_LEN {
                return Err(ParseError::TruncatedIcmp);
            }
            match segment[icmp::TYPE] {
                icmp::ECHO_REPLY | icmp::ECHO_REQUEST => transport_code::ICMP_ECHO,
                icmp::DEST_UNREACHABLE
                | icmp::SOURCE_QUENCH
                | icmp::REDIRECT
                | icmp::TIME_EXCEEDED
                | icmp::PARAMETER_PROBLEM => {
                    return Ok(match parse_quote(&segment[icmp::HEADER_LEN..]) {
                        Some((ports, offset)) => {
                            (transport_code::ICMP_ERROR_QUOTED + ports as u8, offset)
                        }
                        None => (transport_code::ICMP_ERROR_UNQUOTED, 0),
                    });
                }
                _ => transport_code::ICMP_OTHER,
            }
        }
        _ => transport_code::OPAQUE,
    };
    Ok((transport, 0))
}

/// The quote of an ICMP error and the offset of its transport header from
/// the start of the ICMP message, if its IPv4 header is whole. A malformed
/// quote is not an error: the message is still valid ICMP, just not one
/// anybody can map back to a flow.
#[inline]
fn parse_quote(quoted: &[u8]) -> Option<(QuotedPorts, u8)> {
    if quoted.len() < ipv4::MIN_HEADER_LEN || quoted[ipv4::VERSION_IHL] >> 4 != ipv4::VERSION {
        return None;
    }
    let header_words = quoted[ipv4::VERSION_IHL] & 0x0f;
    let header_len = usize::from(header_words) * 4;
    if header_len < ipv4::MIN_HEADER_LEN || quoted.len() < header_len {
        return None;
    }
    let first_fragment = be16(quoted, ipv4::FLAGS_FRAGMENT) & ipv4::FRAGMENT_OFFSET == 0;
    let has_ports = first_fragment && quoted.len() - header_len >= QUOTED_TRANSPORT_LEN;
    let ports = match quoted[ipv4::PROTOCOL] {
        _ if !has_ports => QuotedPorts::None,
        ip_proto::TCP => QuotedPorts::Tcp,
        ip_proto::UDP => QuotedPorts::Udp,
        ip_proto::ICMP
            if matches!(
                quoted[header_len + icmp::TYPE],
                icmp::ECHO_REPLY | icmp::ECHO_REQUEST
            ) =>
        {
            QuotedPorts::IcmpEcho
        }
        _ => QuotedPorts::None,
    };
    Some((ports, icmp::HEADER_LEN as u8 + header_words * 4))
}
