//! Property tests of the frame builder: frames it emits for random fields
//! are read back by etherparse, which shares no code with it, field for
//! field, with every checksum recomputed by etherparse; and by this crate's
//! own parser, which must find the same flow with a valid checksum.

use std::net::Ipv4Addr;

use etherparse::icmpv4::{DestUnreachableHeader, TimeExceededCode};
use etherparse::{
    IcmpEchoHeader, Icmpv4Type, LinkExtHeader, LinkHeader, NetHeaders, PacketHeaders,
    TransportHeader,
};
use lb_packet::{
    ArpOp, ArpRepr, BuildError, EthernetRepr, Frame, FrameRepr, IcmpRepr, Ipv4Repr, MacAddr,
    Protocol, TcpFlags, TcpRepr, TransportRepr, UdpRepr,
};
use proptest::prelude::*;

/// A transport header's fields, owning what a repr borrows.
#[derive(Debug, Clone)]
enum Transport {
    Tcp {
        ports: (u16, u16),
        seq: u32,
        ack: u32,
        flags: u8,
        window: u16,
        options: Vec<u8>,
    },
    Udp {
        ports: (u16, u16),
    },
    Icmp(IcmpRepr),
}

/// A frame's fields. ICMP errors quote `quoted`, a TCP or UDP packet built
/// the same way.
#[derive(Debug, Clone)]
struct Spec {
    ethernet: EthernetRepr,
    ip: ([u8; 4], [u8; 4], u8, u16, u8, bool),
    ip_options: Vec<u8>,
    transport: Transport,
    payload: Vec<u8>,
    pad: bool,
}

fn options() -> impl Strategy<Value = Vec<u8>> {
    (0usize..=10).prop_flat_map(|words| proptest::collection::vec(any::<u8>(), words * 4))
}

fn ethernet() -> impl Strategy<Value = EthernetRepr> {
    (
        any::<[u8; 6]>(),
        any::<[u8; 6]>(),
        proptest::option::of(0u16..4096),
    )
        .prop_map(|(src, dst, vlan_id)| EthernetRepr {
            src: MacAddr(src),
            dst: MacAddr(dst),
            vlan_id,
        })
}

fn port_transport() -> impl Strategy<Value = Transport> {
    prop_oneof![
        (
            any::<(u16, u16)>(),
            any::<u32>(),
            any::<u32>(),
            any::<u8>(),
            any::<u16>(),
            options()
        )
            .prop_map(|(ports, seq, ack, flags, window, options)| Transport::Tcp {
                ports,
                seq,
                ack,
                flags,
                window,
                options
            }),
        any::<(u16, u16)>().prop_map(|ports| Transport::Udp { ports }),
    ]
}

fn icmp() -> impl Strategy<Value = IcmpRepr> {
    prop_oneof![
        any::<(u16, u16)>().prop_map(|(id, seq)| IcmpRepr::EchoRequest { id, seq }),
        any::<(u16, u16)>().prop_map(|(id, seq)| IcmpRepr::EchoReply { id, seq }),
        any::<u8>().prop_map(|code| IcmpRepr::DestUnreachable { code }),
        any::<u16>().prop_map(|next_hop_mtu| IcmpRepr::FragmentationNeeded { next_hop_mtu }),
        any::<u8>().prop_map(|code| IcmpRepr::TimeExceeded { code }),
    ]
}

fn spec(transport: impl Strategy<Value = Transport>) -> impl Strategy<Value = Spec> {
    (
        ethernet(),
        any::<([u8; 4], [u8; 4], u8, u16, u8, bool)>(),
        options(),
        transport,
        proptest::collection::vec(any::<u8>(), 0..96),
        any::<bool>(),
    )
        .prop_map(|(ethernet, ip, ip_options, transport, payload, pad)| Spec {
            ethernet,
            ip,
            ip_options,
            transport,
            payload,
            pad,
        })
}

fn is_error(icmp: IcmpRepr) -> bool {
    !matches!(
        icmp,
        IcmpRepr::EchoRequest { .. } | IcmpRepr::EchoReply { .. }
    )
}

/// A frame spec, and for ICMP errors the frame whose packet it quotes
/// (its IPv4 header and 8 to 40 bytes of what follows).
fn frame() -> impl Strategy<Value = (Spec, Option<Vec<u8>>)> {
    let tcp_udp = spec(port_transport());
    let any = spec(prop_oneof![
        port_transport(),
        icmp().prop_map(Transport::Icmp)
    ]);
    (any, tcp_udp, 8usize..=40).prop_map(|(mut spec, inner, extra)| match spec.transport {
        Transport::Icmp(icmp) if is_error(icmp) => {
            let inner = repr(&inner).to_vec().expect("valid fields");
            let packet = Frame::parse(&inner[..])
                .unwrap()
                .ipv4_packet()
                .unwrap()
                .to_vec();
            let header_len = usize::from(packet[0] & 0x0f) * 4;
            spec.payload = packet[..packet.len().min(header_len + extra)].to_vec();
            (spec, Some(inner))
        }
        _ => (spec, None),
    })
}

fn repr(spec: &Spec) -> FrameRepr<'_> {
    let (src, dst, ttl, ident, tos, dont_fragment) = spec.ip;
    let header = Ipv4Repr {
        ttl,
        ident,
        tos,
        dont_fragment,
        options: &spec.ip_options,
        ..Ipv4Repr::new(src.into(), dst.into())
    };
    let transport = match &spec.transport {
        Transport::Tcp {
            ports,
            seq,
            ack,
            flags,
            window,
            options,
        } => TransportRepr::Tcp(TcpRepr {
            seq: *seq,
            ack: *ack,
            window: *window,
            options,
            ..TcpRepr::new(ports.0, ports.1, TcpFlags::from_bits(*flags))
        }),
        Transport::Udp { ports } => UdpRepr::new(ports.0, ports.1).into(),
        Transport::Icmp(icmp) => (*icmp).into(),
    };
    let frame = FrameRepr::ipv4(spec.ethernet, header, transport, &spec.payload);
    if spec.pad { frame.padded() } else { frame }
}

fn expected_icmp(icmp: IcmpRepr) -> Icmpv4Type {
    let unknown = |type_u8, code_u8| Icmpv4Type::Unknown {
        type_u8,
        code_u8,
        bytes5to8: [0; 4],
    };
    match icmp {
        IcmpRepr::EchoRequest { id, seq } => Icmpv4Type::EchoRequest(IcmpEchoHeader { id, seq }),
        IcmpRepr::EchoReply { id, seq } => Icmpv4Type::EchoReply(IcmpEchoHeader { id, seq }),
        IcmpRepr::DestUnreachable { code } => DestUnreachableHeader::from_values(code, 0)
            .map_or(unknown(3, code), Icmpv4Type::DestinationUnreachable),
        IcmpRepr::FragmentationNeeded { next_hop_mtu } => {
            Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::FragmentationNeeded {
                next_hop_mtu,
            })
        }
        IcmpRepr::TimeExceeded { code } => {
            TimeExceededCode::from_u8(code).map_or(unknown(11, code), Icmpv4Type::TimeExceeded)
        }
        other => panic!("no expectation for {other:?}"),
    }
}

/// Reads `bytes` with etherparse and checks every field against `spec`.
fn assert_etherparse_reads(bytes: &[u8], spec: &Spec) {
    let headers = PacketHeaders::from_ethernet_slice(bytes).expect("etherparse reads it");
    let Some(LinkHeader::Ethernet2(ethernet)) = &headers.link else {
        panic!("no Ethernet header")
    };
    assert_eq!(ethernet.source, spec.ethernet.src.0);
    assert_eq!(ethernet.destination, spec.ethernet.dst.0);
    let vlan = headers.link_exts.first().map(|ext| match ext {
        LinkExtHeader::Vlan(vlan) => vlan.vlan_id.value(),
        other => panic!("unexpected {other:?}"),
    });
    assert_eq!(vlan, spec.ethernet.vlan_id);

    let Some(NetHeaders::Ipv4(ip, _)) = &headers.net else {
        panic!("not IPv4")
    };
    let (src, dst, ttl, ident, tos, dont_fragment) = spec.ip;
    assert_eq!((ip.source, ip.destination), (src, dst));
    assert_eq!((ip.time_to_live, ip.identification), (ttl, ident));
    assert_eq!((ip.dscp.value() << 2) | ip.ecn.value(), tos);
    assert_eq!(ip.dont_fragment, dont_fragment);
    assert!(!ip.more_fragments);
    assert_eq!(ip.fragment_offset.value(), 0);
    assert_eq!(&ip.options[..], &spec.ip_options[..]);
    assert_eq!(
        ip.header_checksum,
        ip.calc_header_checksum(),
        "IPv4 checksum"
    );

    let payload = headers.payload.slice();
    assert_eq!(payload, &spec.payload[..]);
    match (
        headers.transport.as_ref().expect("a transport header"),
        &spec.transport,
    ) {
        (
            TransportHeader::Tcp(tcp),
            Transport::Tcp {
                ports,
                seq,
                ack,
                flags,
                window,
                options,
            },
        ) => {
            assert_eq!((tcp.source_port, tcp.destination_port), *ports);
            assert_eq!(
                (tcp.sequence_number, tcp.acknowledgment_number),
                (*seq, *ack)
            );
            let bits = [
                tcp.fin, tcp.syn, tcp.rst, tcp.psh, tcp.ack, tcp.urg, tcp.ece, tcp.cwr,
            ];
            let read = bits
                .iter()
                .rev()
                .fold(0u8, |byte, &bit| byte << 1 | u8::from(bit));
            assert_eq!(read, *flags);
            assert!(!tcp.ns);
            assert_eq!(tcp.window_size, *window);
            assert_eq!(tcp.urgent_pointer, 0);
            assert_eq!(tcp.options.as_slice(), &options[..]);
            assert_eq!(
                tcp.checksum,
                tcp.calc_checksum_ipv4(ip, payload).unwrap(),
                "TCP"
            );
        }
        (TransportHeader::Udp(udp), Transport::Udp { ports }) => {
            assert_eq!((udp.source_port, udp.destination_port), *ports);
            assert_eq!(usize::from(udp.length), 8 + payload.len());
            assert_eq!(
                udp.checksum,
                udp.calc_checksum_ipv4(ip, payload).unwrap(),
                "UDP"
            );
        }
        (TransportHeader::Icmpv4(header), Transport::Icmp(icmp)) => {
            assert_eq!(header.icmp_type, expected_icmp(*icmp));
            assert_eq!(
                header.checksum,
                header.icmp_type.calc_checksum(payload),
                "ICMP"
            );
        }
        (read, built) => panic!("built {built:?}, read {read:?}"),
    }
}

/// Parses `bytes` with this crate and checks the flow and its checksum.
fn assert_frame_reads(bytes: &[u8], spec: &Spec, quoted: Option<&[u8]>) {
    let frame = Frame::parse(bytes).expect("lb-packet parses it");
    assert_eq!(frame.vlan_id(), spec.ethernet.vlan_id);
    assert_eq!(frame.l4_checksum_valid(), Some(true));
    let (src, dst, ..) = spec.ip;
    match &spec.transport {
        &Transport::Tcp {
            seq, ack, flags, ..
        } => {
            let segment = frame.tcp_segment().expect("a TCP segment");
            assert_eq!((segment.seq, segment.ack), (seq, ack));
            assert_eq!(segment.flags, TcpFlags::from_bits(flags));
            assert_eq!(
                segment.payload,
                &spec.payload[..],
                "payload, padding excluded"
            );
        }
        _ => assert_eq!(frame.tcp_segment(), None),
    }
    let key = frame.flow_key();
    let ports = match spec.transport {
        Transport::Tcp { ports, .. } => Some((Protocol::Tcp, ports)),
        Transport::Udp { ports } => Some((Protocol::Udp, ports)),
        Transport::Icmp(IcmpRepr::EchoRequest { id, .. } | IcmpRepr::EchoReply { id, .. }) => {
            Some((Protocol::Icmp, (id, id)))
        }
        Transport::Icmp(_) => None,
    };
    match ports {
        Some((proto, ports)) => {
            let key = key.expect("a flow key");
            assert_eq!(
                (key.src, key.dst),
                (Ipv4Addr::from(src).into(), Ipv4Addr::from(dst).into())
            );
            assert_eq!(((key.src_port, key.dst_port), key.proto), (ports, proto));
        }
        None => {
            assert_eq!(key, None, "an ICMP error is not a flow");
            let inner = Frame::parse(quoted.expect("errors quote")).unwrap();
            assert_eq!(frame.quoted_flow(), inner.flow_key());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn emitted_frames_read_back_field_for_field((spec, quoted) in frame()) {
        let repr = repr(&spec);
        let bytes = repr.to_vec().expect("valid fields");
        let packet_len = 20 + spec.ip_options.len() + match &spec.transport {
            Transport::Tcp { options, .. } => 20 + options.len(),
            Transport::Udp { .. } | Transport::Icmp(_) => 8,
        } + spec.payload.len();
        let unpadded = 14 + 4 * usize::from(spec.ethernet.vlan_id.is_some()) + packet_len;
        let expected_len = if spec.pad { unpadded.max(60) } else { unpadded };
        prop_assert_eq!(bytes.len(), expected_len);
        prop_assert!(bytes[unpadded..].iter().all(|&b| b == 0), "padding is zeros");
        prop_assert_eq!(repr.buffer_len(), Ok(bytes.len()));
        assert_etherparse_reads(&bytes, &spec);
        assert_frame_reads(&bytes, &spec, quoted.as_deref());
    }

    #[test]
    fn emit_writes_the_same_bytes_over_anything(spec in spec(port_transport()), junk in any::<u8>(), spare in 0usize..16) {
        let repr = repr(&spec);
        let expected = repr.to_vec().unwrap();
        let mut buffer = vec![junk; expected.len() + spare];
        prop_assert_eq!(repr.emit(&mut buffer), Ok(expected.len()));
        prop_assert_eq!(&buffer[..expected.len()], &expected[..]);
        prop_assert!(buffer[expected.len()..].iter().all(|&b| b == junk), "nothing written past the frame");
    }

    #[test]
    fn every_too_small_buffer_is_an_error(spec in spec(port_transport())) {
        let repr = repr(&spec);
        let needed = repr.buffer_len().unwrap();
        for available in 0..needed {
            let mut buffer = vec![0xa5; available];
            prop_assert_eq!(repr.emit(&mut buffer), Err(BuildError::BufferTooSmall { needed, available }));
            prop_assert!(buffer.iter().all(|&b| b == 0xa5), "nothing written on error");
        }
    }

    #[test]
    fn fragments_carry_their_payload_as_is(
        ethernet in ethernet(),
        // etherparse reads 51 as an IPv4 extension header (AH), fragment or not.
        protocol in any::<u8>().prop_filter("not AH", |&protocol| protocol != 51),
        units in 1u16..8192,
        more_fragments in any::<bool>(),
        payload in proptest::collection::vec(any::<u8>(), 0..96),
    ) {
        let header = Ipv4Repr {
            more_fragments,
            dont_fragment: false,
            fragment_offset: units * 8,
            ..Ipv4Repr::new(Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1))
        };
        let bytes = FrameRepr::ipv4(ethernet, header, TransportRepr::Raw { protocol }, &payload).to_vec().unwrap();
        let headers = PacketHeaders::from_ethernet_slice(&bytes).unwrap();
        let Some(NetHeaders::Ipv4(ip, _)) = &headers.net else { panic!("not IPv4") };
        prop_assert_eq!(ip.header_checksum, ip.calc_header_checksum());
        prop_assert_eq!((ip.protocol.0, ip.more_fragments), (protocol, more_fragments));
        prop_assert_eq!(ip.fragment_offset.value(), units);
        prop_assert_eq!(headers.payload.slice(), &payload[..]);
        let frame = Frame::parse(&bytes[..]).unwrap();
        let view = frame.ipv4().unwrap();
        prop_assert_eq!((view.fragment_offset(), view.is_fragment()), (units * 8, true));
        prop_assert_eq!(frame.flow_key(), None);
    }

    #[test]
    fn arp_reads_back(
        ethernet in ethernet(),
        op in prop_oneof![Just(ArpOp::Request), Just(ArpOp::Reply), any::<u16>().prop_map(ArpOp::Other)],
        macs in any::<([u8; 6], [u8; 6])>(),
        ips in any::<([u8; 4], [u8; 4])>(),
        pad in any::<bool>(),
    ) {
        let arp = ArpRepr {
            op,
            sender_mac: MacAddr(macs.0),
            sender_ip: ips.0.into(),
            target_mac: MacAddr(macs.1),
            target_ip: ips.1.into(),
        };
        let repr = FrameRepr { pad, ..FrameRepr::arp(ethernet, arp) };
        let bytes = repr.to_vec().unwrap();
        let tag = 4 * usize::from(ethernet.vlan_id.is_some());
        prop_assert_eq!(bytes.len(), if pad { 60 } else { 42 + tag });
        let headers = PacketHeaders::from_ethernet_slice(&bytes).unwrap();
        let Some(NetHeaders::Arp(read)) = &headers.net else { panic!("not ARP") };
        let read = read.try_eth_ipv4().expect("Ethernet/IPv4 ARP");
        let code = match op { ArpOp::Request => 1, ArpOp::Reply => 2, ArpOp::Other(code) => code };
        prop_assert_eq!(read.operation.0, code);
        prop_assert_eq!((read.sender_mac, read.target_mac), macs);
        prop_assert_eq!((read.sender_ipv4, read.target_ipv4), ips);
        let frame = Frame::parse(&bytes[..]).unwrap();
        let view = frame.arp().unwrap();
        prop_assert_eq!((view.op(), view.sender_ip(), view.target_mac()), (op, arp.sender_ip, arp.target_mac));
    }

    #[test]
    fn any_fields_emit_or_fail_cleanly(
        ethernet_bytes in any::<([u8; 6], [u8; 6], Option<u16>)>(),
        ip_options in proptest::collection::vec(any::<u8>(), 0..48),
        fragment_offset in any::<u16>(),
        more_fragments in any::<bool>(),
        tcp_options in proptest::collection::vec(any::<u8>(), 0..48),
        which in 0u8..4,
        payload_len in prop_oneof![0usize..64, 65_400usize..65_600],
        buffer_len in prop_oneof![0usize..128, 65_400usize..65_700],
    ) {
        let (src, dst, vlan_id) = ethernet_bytes;
        let ethernet = EthernetRepr { src: MacAddr(src), dst: MacAddr(dst), vlan_id };
        let header = Ipv4Repr {
            options: &ip_options,
            fragment_offset,
            more_fragments,
            ..Ipv4Repr::new(Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1))
        };
        let transport = match which {
            0 => TransportRepr::Tcp(TcpRepr { options: &tcp_options, ..TcpRepr::new(1, 2, TcpFlags::ACK) }),
            1 => UdpRepr::new(1, 2).into(),
            2 => IcmpRepr::EchoRequest { id: 1, seq: 2 }.into(),
            _ => TransportRepr::Raw { protocol: 253 },
        };
        let payload = vec![0x5a; payload_len];
        let repr = FrameRepr::ipv4(ethernet, header, transport, &payload);
        let mut buffer = vec![0; buffer_len];
        let transport_len = match which { 0 => 20 + tcp_options.len(), 3 => 0, _ => 8 };
        let packet_len = 20 + ip_options.len() + transport_len + payload_len;
        let needed = 14 + 4 * usize::from(vlan_id.is_some()) + packet_len;
        let mut allowed = vec![];
        if vlan_id.is_some_and(|id| id > 4095) { allowed.push(BuildError::BadVlanId(vlan_id.unwrap())) }
        if ip_options.len() % 4 != 0 || ip_options.len() > 40 { allowed.push(BuildError::BadIpOptions(ip_options.len())) }
        if fragment_offset % 8 != 0 { allowed.push(BuildError::BadFragmentOffset(fragment_offset)) }
        if which == 0 && (tcp_options.len() % 4 != 0 || tcp_options.len() > 40) { allowed.push(BuildError::BadTcpOptions(tcp_options.len())) }
        if packet_len > 65_535 { allowed.push(BuildError::PacketTooLong(packet_len)) }
        match repr.emit(&mut buffer) {
            Ok(len) => {
                prop_assert!(allowed.is_empty(), "accepted despite {allowed:?}");
                prop_assert_eq!(len, needed);
                let frame = Frame::parse(&buffer[..len]);
                prop_assert!(frame.is_ok(), "{frame:?}");
            }
            Err(BuildError::BufferTooSmall { needed: said, available }) => {
                prop_assert!(allowed.is_empty(), "too small reported before {allowed:?}");
                prop_assert_eq!((said, available), (needed, buffer_len));
                prop_assert!(buffer_len < needed);
            }
            Err(error) => {
                prop_assert!(allowed.contains(&error), "{error} not among {allowed:?}");
                prop_assert!(!error.to_string().is_empty());
            }
        }
    }
}

#[test]
fn the_longest_ipv4_packet_fits_and_one_more_byte_does_not() {
    let header = Ipv4Repr::new(Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1));
    let ethernet = EthernetRepr::new(MacAddr([2, 0, 0, 0, 0, 2]), MacAddr([2, 0, 0, 0, 0, 1]));
    let payload = vec![7; 65_535 - 20 - 8];
    let fits = FrameRepr::ipv4(ethernet, header, UdpRepr::new(53, 53), &payload);
    let bytes = fits.to_vec().unwrap();
    let frame = Frame::parse(&bytes[..]).unwrap();
    assert_eq!(frame.ipv4().unwrap().total_len(), 65_535);
    assert_eq!(frame.l4_checksum_valid(), Some(true));
    let too_long = FrameRepr::ipv4(
        ethernet,
        header,
        UdpRepr::new(53, 53),
        &bytes[..payload.len() + 1],
    );
    assert_eq!(too_long.to_vec(), Err(BuildError::PacketTooLong(65_536)));
}
