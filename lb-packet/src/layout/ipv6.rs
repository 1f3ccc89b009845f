//! Validating an IPv6 packet (RFC 8200): the fixed header, a bounded walk
//! over its extension headers, and the transport header that follows.
//!
//! What each extension header means for the walk:
//! - hop-by-hop options (first only, as RFC 8200 requires), routing,
//!   destination options and authentication (RFC 4302): stepped over by
//!   their length field, which must stay within the payload;
//! - fragment: an atomic fragment (offset 0, no more fragments, RFC 6946)
//!   is stepped over; any other fragment carries no transport header to
//!   read, first or not (lb does not reassemble, and unlike IPv4 keeps no
//!   ports from first fragments);
//! - ESP, "no next header" and anything unknown end the walk: the payload
//!   is opaque, never read as ports.
//!
//! A chain longer than [`MAX_EXTENSION_HEADERS`] is refused, so the walk
//! is bounded whatever the bytes (and `l4` stays far below 64 KiB: eight
//! headers of at most 2 KiB each).

use super::{Layout, Network, QUOTED_TRANSPORT_LEN, QuotedPorts, TransportParts, be16};
use super::{parse_transport, transport_code};
use crate::error::ParseError;
use crate::wire::{icmp, icmpv6, ip_proto, ipv6, ipv6_ext, udp};

/// Extension headers walked before a packet is refused. RFC 8200 sets no
/// limit; real packets carry one or two, and RFC 9098 documents middle
/// boxes dropping long chains.
pub(crate) const MAX_EXTENSION_HEADERS: usize = 8;

#[inline(never)]
pub(super) fn parse_ipv6(frame: &[u8], l3: usize) -> Result<Layout, ParseError> {
    let ip = &frame[l3..];
    if ip.len() < ipv6::HEADER_LEN {
        return Err(ParseError::TruncatedIpv6);
    }
    if ip[ipv6::VERSION_CLASS_FLOW] >> 4 != ipv6::VERSION {
        return Err(ParseError::BadIpVersion);
    }
    let payload_len = be16(ip, ipv6::PAYLOAD_LEN);
    let end = ipv6::HEADER_LEN + usize::from(payload_len);
    if ip.len() < end {
        return Err(ParseError::TruncatedIpv6);
    }
    let packet = &ip[..end];
    let (next_header, l4) = walk_extension_headers(packet)?;
    let segment = &packet[l4..];
    let transport = match next_header {
        Some(ip_proto::TCP) => parse_transport(segment, ip_proto::TCP, false)?,
        Some(ip_proto::UDP) => {
            let parts = parse_transport(segment, ip_proto::UDP, false)?;
            // Optional over IPv4, mandatory over IPv6 (RFC 8200 8.1).
            if be16(segment, udp::CHECKSUM) == 0 {
                return Err(ParseError::ZeroUdpChecksum);
            }
            parts
        }
        Some(ip_proto::ICMPV6) => parse_icmpv6(segment)?,
        Some(ipv6_ext::FRAGMENT) => (transport_code::FRAGMENT, 0),
        _ => (transport_code::OPAQUE, 0),
    };
    // The walk is bounded (see the module): l3 + l4 fits in 16 bits.
    let l4 = u16::try_from(l3 + l4).map_err(|_| ParseError::BadIpv6Extension)?;
    Ok(Layout::ip(Network::Ipv6, l3, l4, payload_len, transport))
}

/// Walks the extension headers of `packet` (cut to its payload length):
/// the next header after the last one and where it starts (the fragment
/// header's own value for a fragment that is not atomic: no transport
/// header to read), or `None` for a payload not to be read (ESP, no next
/// header).
#[inline]
fn walk_extension_headers(packet: &[u8]) -> Result<(Option<u8>, usize), ParseError> {
    let mut next_header = packet[ipv6::NEXT_HEADER];
    let mut at = ipv6::HEADER_LEN;
    for walked in 0..=MAX_EXTENSION_HEADERS {
        let is_extension = matches!(
            next_header,
            ipv6_ext::HOP_BY_HOP
                | ipv6_ext::ROUTING
                | ipv6_ext::DESTINATION_OPTIONS
                | ipv6_ext::AUTHENTICATION
                | ipv6_ext::FRAGMENT
        );
        match next_header {
            ipv6_ext::ESP | ipv6_ext::NO_NEXT_HEADER => return Ok((None, at)),
            _ if !is_extension => return Ok((Some(next_header), at)),
            ipv6_ext::HOP_BY_HOP if walked > 0 => return Err(ParseError::BadIpv6Extension),
            _ if walked == MAX_EXTENSION_HEADERS => return Err(ParseError::BadIpv6Extension),
            _ => {}
        }
        let header = packet
            .get(at..at + ipv6_ext::MIN_LEN)
            .ok_or(ParseError::BadIpv6Extension)?;
        let len = match next_header {
            ipv6_ext::FRAGMENT => {
                let offset_flags = be16(header, ipv6_ext::FRAGMENT_OFFSET_FLAGS);
                let atomic =
                    offset_flags & (ipv6_ext::FRAGMENT_OFFSET | ipv6_ext::MORE_FRAGMENTS) == 0;
                if !atomic {
                    return Ok((Some(ipv6_ext::FRAGMENT), at + ipv6_ext::FRAGMENT_HEADER_LEN));
                }
                ipv6_ext::FRAGMENT_HEADER_LEN
            }
            ipv6_ext::AUTHENTICATION => (usize::from(header[ipv6_ext::LENGTH]) + 2) * 4,
            _ => (usize::from(header[ipv6_ext::LENGTH]) + 1) * 8,
        };
        if at + len > packet.len() {
            return Err(ParseError::BadIpv6Extension);
        }
        next_header = header[ipv6_ext::NEXT_HEADER];
        at += len;
    }
    Err(ParseError::BadIpv6Extension)
}

/// An ICMPv6 message: echo, one of the four errors (with its quote when
/// the quoted IPv6 header is whole), or another type (neighbour discovery
/// among them).
#[inline]
fn parse_icmpv6(segment: &[u8]) -> Result<TransportParts, ParseError> {
    if segment.len() < icmp::HEADER_LEN {
        return Err(ParseError::TruncatedIcmp);
    }
    Ok(match segment[icmp::TYPE] {
        icmpv6::ECHO_REQUEST | icmpv6::ECHO_REPLY => (transport_code::ICMP_ECHO, 0),
        icmpv6::DEST_UNREACHABLE
        | icmpv6::PACKET_TOO_BIG
        | icmpv6::TIME_EXCEEDED
        | icmpv6::PARAMETER_PROBLEM => match parse_quote(&segment[icmp::HEADER_LEN..]) {
            Some((ports, offset)) => (transport_code::ICMP_ERROR_QUOTED + ports as u8, offset),
            None => (transport_code::ICMP_ERROR_UNQUOTED, 0),
        },
        _ => (transport_code::ICMP_OTHER, 0),
    })
}

/// The quote of an ICMPv6 error and the offset of its transport header
/// from the start of the message, if its fixed IPv6 header is whole. Ports
/// are read only when the transport header follows that header directly
/// (a quote with extension headers maps back to no flow).
#[inline]
fn parse_quote(quoted: &[u8]) -> Option<(QuotedPorts, u8)> {
    if quoted.len() < ipv6::HEADER_LEN || quoted[ipv6::VERSION_CLASS_FLOW] >> 4 != ipv6::VERSION {
        return None;
    }
    let has_ports = quoted.len() - ipv6::HEADER_LEN >= QUOTED_TRANSPORT_LEN;
    let ports = match quoted[ipv6::NEXT_HEADER] {
        _ if !has_ports => QuotedPorts::None,
        ip_proto::TCP => QuotedPorts::Tcp,
        ip_proto::UDP => QuotedPorts::Udp,
        ip_proto::ICMPV6
            if matches!(
                quoted[ipv6::HEADER_LEN + icmp::TYPE],
                icmpv6::ECHO_REQUEST | icmpv6::ECHO_REPLY
            ) =>
        {
            QuotedPorts::IcmpEcho
        }
        _ => QuotedPorts::None,
    };
    Some((ports, (icmp::HEADER_LEN + ipv6::HEADER_LEN) as u8))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{IpLayout, Quote, Transport};

    const TCP: u8 = ip_proto::TCP;
    const L4: usize = 14 + 40;

    /// An Ethernet frame carrying IPv6 from fd00::1 to fd00::2 with next
    /// header `next`, then `rest` (extension headers and transport), the
    /// payload length set to match.
    fn frame(next: u8, rest: &[u8]) -> Vec<u8> {
        let mut bytes = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd];
        bytes.extend_from_slice(&[0x60, 0, 0, 0]);
        bytes.extend_from_slice(&(rest.len() as u16).to_be_bytes());
        bytes.extend_from_slice(&[next, 64]);
        for last in [1, 2] {
            bytes.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last]);
        }
        bytes.extend_from_slice(rest);
        bytes
    }

    /// An 8-byte options header (hop-by-hop or destination options) whose
    /// next header is `next`: PadN over its six option bytes.
    fn options(next: u8) -> [u8; 8] {
        [next, 0, 1, 4, 0, 0, 0, 0]
    }

    /// A 20-byte TCP header, data offset 5.
    fn tcp() -> [u8; 20] {
        let mut header = [0u8; 20];
        header[12] = 5 << 4;
        header
    }

    fn layout(bytes: &[u8]) -> Result<IpLayout, ParseError> {
        let layout = Layout::parse(bytes)?;
        assert_eq!(layout.ipv4_layout(), None);
        layout.ipv6_layout().ok_or(ParseError::TruncatedIpv6)
    }

    fn concat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn transport_directly_after_the_fixed_header() {
        let bytes = frame(TCP, &tcp());
        let expected = IpLayout {
            l4: L4,
            end: L4 + 20,
            transport: Transport::Tcp,
            ipv6: true,
        };
        assert_eq!(layout(&bytes), Ok(expected));
    }

    #[test]
    fn options_routing_and_authentication_headers_are_stepped_over() {
        // Hop-by-hop, then destination options, then TCP.
        let rest = concat(&[&options(60), &options(TCP), &tcp()]);
        let walked = layout(&frame(0, &rest)).map(|ip| (ip.l4, ip.transport));
        assert_eq!(walked, Ok((L4 + 16, Transport::Tcp)));
        // A routing header of 24 bytes (length 2), then authentication of
        // 16 bytes (length 2: (2 + 2) * 4), then TCP.
        let mut routing = [0u8; 24];
        routing[..2].copy_from_slice(&[51, 2]);
        let mut authentication = [0u8; 16];
        authentication[..2].copy_from_slice(&[TCP, 2]);
        let rest = concat(&[&routing, &authentication, &tcp()]);
        let walked = layout(&frame(43, &rest)).map(|ip| (ip.l4, ip.transport));
        assert_eq!(walked, Ok((L4 + 40, Transport::Tcp)));
    }

    #[test]
    fn malformed_chains_are_refused() {
        // Hop-by-hop anywhere but first.
        let rest = concat(&[&options(0), &options(TCP), &tcp()]);
        assert_eq!(layout(&frame(60, &rest)), Err(ParseError::BadIpv6Extension));
        // An options header claiming 16 bytes where 8 are left.
        let mut long = options(TCP);
        long[1] = 1;
        assert_eq!(layout(&frame(60, &long)), Err(ParseError::BadIpv6Extension));
        // Cut inside the first 8 bytes of an extension header.
        assert_eq!(
            layout(&frame(60, &options(TCP)[..4])),
            Err(ParseError::BadIpv6Extension)
        );
        // Eight destination options headers pass, nine do not.
        for (count, expected) in [
            (8, Ok(Transport::Tcp)),
            (9, Err(ParseError::BadIpv6Extension)),
        ] {
            let mut rest: Vec<u8> = (1..count).flat_map(|_| options(60)).collect();
            rest.extend_from_slice(&options(TCP));
            rest.extend_from_slice(&tcp());
            let walked = layout(&frame(60, &rest)).map(|ip| ip.transport);
            assert_eq!(walked, expected, "{count} headers");
        }
    }

    #[test]
    fn fragments_esp_and_unknown_headers_are_opaque() {
        let fragment = |offset_flags: u16| {
            let [high, low] = offset_flags.to_be_bytes();
            [TCP, 0, high, low, 0, 0, 0, 7]
        };
        // First fragment (more to come), a later one: no transport read.
        for offset_flags in [0x0001, 0x0008, 0x0009] {
            let rest = concat(&[&fragment(offset_flags), &tcp()]);
            let walked = layout(&frame(44, &rest)).map(|ip| (ip.l4, ip.transport));
            assert_eq!(walked, Ok((L4 + 8, Transport::Opaque)), "{offset_flags:#x}");
            let known = Layout::parse(&frame(44, &rest)).map(|l| l.is_ipv6_fragment());
            assert_eq!(known, Ok(true), "{offset_flags:#x}: known for a fragment");
        }
        // An atomic fragment is a whole packet.
        let rest = concat(&[&fragment(0), &tcp()]);
        let walked = layout(&frame(44, &rest)).map(|ip| ip.transport);
        assert_eq!(walked, Ok(Transport::Tcp));
        let known = Layout::parse(&frame(44, &rest)).map(|l| l.is_ipv6_fragment());
        assert_eq!(known, Ok(false));
        // ESP, no next header, an unknown protocol: opaque, even if the
        // bytes that follow look like TCP.
        for next in [50, 59, 132] {
            let walked = layout(&frame(next, &tcp())).map(|ip| (ip.l4, ip.transport));
            assert_eq!(walked, Ok((L4, Transport::Opaque)), "next header {next}");
            let known = Layout::parse(&frame(next, &tcp())).map(|l| l.is_ipv6_fragment());
            assert_eq!(known, Ok(false), "next header {next}");
        }
    }

    #[test]
    fn udp_needs_a_checksum() {
        let udp = |checksum: u16| {
            let [high, low] = checksum.to_be_bytes();
            [0, 53, 0, 53, 0, 9, high, low, 0xaa]
        };
        assert_eq!(
            layout(&frame(17, &udp(0))),
            Err(ParseError::ZeroUdpChecksum)
        );
        let parsed = layout(&frame(17, &udp(0x1234))).map(|ip| ip.transport);
        assert_eq!(parsed, Ok(Transport::Udp));
    }

    #[test]
    fn icmpv6_messages_and_quotes() {
        let icmp = |kind: u8, rest: &[u8]| concat(&[&[kind, 0, 0, 0, 0, 0, 0, 0], rest]);
        let transport = |bytes: Vec<u8>| layout(&bytes).map(|ip| ip.transport);
        assert_eq!(
            transport(frame(58, &icmp(128, &[]))),
            Ok(Transport::IcmpEcho)
        );
        // Neighbour solicitation: 24 bytes, another type.
        assert_eq!(
            transport(frame(58, &icmp(135, &[0; 16]))),
            Ok(Transport::IcmpOther)
        );
        assert_eq!(
            transport(frame(58, &[129, 0, 0])),
            Err(ParseError::TruncatedIcmp)
        );
        // Packet too big quoting a TCP packet: its fixed header and ports.
        let quoted = &frame(TCP, &tcp())[14..14 + 48];
        let quote = Quote {
            l3: L4 + 8,
            l4: L4 + 48,
            ports: QuotedPorts::Tcp,
        };
        assert_eq!(
            transport(frame(58, &icmp(2, quoted))),
            Ok(Transport::IcmpError(Some(quote)))
        );
        // The same quote cut inside its ports: the header alone.
        let cut = Quote {
            ports: QuotedPorts::None,
            ..quote
        };
        assert_eq!(
            transport(frame(58, &icmp(1, &quoted[..44]))),
            Ok(Transport::IcmpError(Some(cut)))
        );
        // Cut inside its fixed header, or not IPv6: no quote.
        for bad in [&quoted[..39], &[0x45; 48][..]] {
            assert_eq!(
                transport(frame(58, &icmp(3, bad))),
                Ok(Transport::IcmpError(None))
            );
        }
    }

    #[test]
    fn truncations_and_versions_are_refused() {
        let bytes = frame(TCP, &tcp());
        for len in [14, 20, 53] {
            assert_eq!(
                layout(&bytes[..len]),
                Err(ParseError::TruncatedIpv6),
                "{len}"
            );
        }
        // The payload length claims one byte more than there is.
        let mut long = bytes.clone();
        long[19] += 1;
        assert_eq!(layout(&long), Err(ParseError::TruncatedIpv6));
        let mut version4 = bytes;
        version4[14] = 0x40;
        assert_eq!(layout(&version4), Err(ParseError::BadIpVersion));
    }
}
