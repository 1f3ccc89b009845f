//! Known frames, byte for byte, parsed and rewritten: each expected output
//! was computed independently (full checksum recomputation, not this
//! crate's incremental update). The frames are in `frames/`.

use std::net::{Ipv4Addr, SocketAddrV4};

use lb_packet::{
    ArpOp, EtherType, FlowKey, Frame, Icmp, MacAddr, ParseError, Protocol, RewriteError, TcpFlags,
};

mod frames;
use frames::*;

fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

fn rewritten(input: &[u8], rewrite: impl FnOnce(&mut Frame<&mut [u8]>)) -> Vec<u8> {
    let mut bytes = input.to_vec();
    let mut frame = Frame::parse(&mut bytes[..]).expect("input parses");
    rewrite(&mut frame);
    bytes
}

#[test]
fn tcp_syn_flow_and_dnat() {
    let frame = Frame::parse(TCP_SYN).unwrap();
    assert_eq!(frame.ethertype(), EtherType::Ipv4);
    assert_eq!(frame.vlan_id(), None);
    let key = frame.flow_key().unwrap();
    assert_eq!(
        key,
        FlowKey {
            src: ip(10, 0, 0, 2).into(),
            dst: ip(10, 0, 0, 1).into(),
            src_port: 40000,
            dst_port: 80,
            proto: Protocol::Tcp
        }
    );
    assert_eq!(frame.tcp_flags(), Some(TcpFlags::SYN));
    assert_eq!(frame.l4_checksum_valid(), Some(true));
    let header = frame.ipv4().unwrap();
    assert_eq!(
        (header.ttl(), header.header_len(), header.is_fragment()),
        (64, 20, false)
    );
    assert!(header.dont_fragment());

    let out = rewritten(TCP_SYN, |f| {
        f.set_dst(SocketAddrV4::new(ip(192, 168, 1, 2), 8080))
            .unwrap()
    });
    assert_eq!(out, TCP_SYN_DNAT);
    // And back: reverse NAT restores the original exactly.
    let back = rewritten(&out, |f| {
        f.set_dst(SocketAddrV4::new(ip(10, 0, 0, 1), 80)).unwrap()
    });
    assert_eq!(back, TCP_SYN);
}

#[test]
fn udp_with_padding_uses_ip_length_and_snat() {
    let frame = Frame::parse(UDP_PADDED).unwrap();
    assert_eq!(frame.len(), 60);
    assert_eq!(
        frame.l4_checksum_valid(),
        Some(true),
        "padding is not part of the datagram"
    );
    assert_eq!(frame.flow_key().unwrap().dst_port, 53);
    let out = rewritten(UDP_PADDED, |f| {
        f.set_src(SocketAddrV4::new(ip(10, 1, 1, 1), 40001))
            .unwrap()
    });
    assert_eq!(out, UDP_PADDED_SNAT);
}

#[test]
fn udp_checksum_zero_stays_zero() {
    let frame = Frame::parse(UDP_NO_CHECKSUM).unwrap();
    assert_eq!(frame.l4_checksum_valid(), None, "no checksum to check");
    let out = rewritten(UDP_NO_CHECKSUM, |f| {
        f.set_dst(SocketAddrV4::new(ip(192, 168, 1, 2), 5300))
            .unwrap()
    });
    let udp_checksum = &out[14 + 20 + 6..14 + 20 + 8];
    assert_eq!(udp_checksum, [0, 0]);
    Frame::parse(&out[..]).expect("IPv4 checksum still right");
}

#[test]
fn echo_request_becomes_reply() {
    let frame = Frame::parse(ECHO_REQUEST).unwrap();
    assert_eq!(frame.icmp(), Some(Icmp::EchoRequest { id: 0x1234, seq: 1 }));
    let key = frame.flow_key().unwrap();
    assert_eq!(
        (key.proto, key.src_port, key.dst_port),
        (Protocol::Icmp, 0x1234, 0x1234)
    );
    let out = rewritten(ECHO_REQUEST, |f| f.make_echo_reply().unwrap());
    assert_eq!(out, ECHO_REPLY);
    let reply = Frame::parse(&out[..]).unwrap();
    assert_eq!(reply.flow_key(), Some(key.reversed()));
    assert_eq!(reply.icmp(), Some(Icmp::EchoReply { id: 0x1234, seq: 1 }));
    // A reply is not a request: no second reply.
    let mut again = out.clone();
    let mut frame = Frame::parse(&mut again[..]).unwrap();
    assert_eq!(frame.make_echo_reply(), Err(RewriteError::NotEchoRequest));
}

#[test]
fn arp_request_answered_in_place() {
    let frame = Frame::parse(ARP_REQUEST).unwrap();
    let arp = frame.arp().unwrap();
    assert_eq!(arp.op(), ArpOp::Request);
    assert_eq!(
        (arp.sender_ip(), arp.target_ip()),
        (ip(10, 0, 0, 2), ip(10, 0, 0, 1))
    );
    assert_eq!(frame.flow_key(), None);
    let lb_mac: MacAddr = "02:00:00:00:00:aa".parse().unwrap();
    let out = rewritten(ARP_REQUEST, |f| f.make_arp_reply(lb_mac).unwrap());
    assert_eq!(out, ARP_REPLY);
    let mut reply = out.clone();
    let mut frame = Frame::parse(&mut reply[..]).unwrap();
    assert_eq!(
        frame.make_arp_reply(lb_mac),
        Err(RewriteError::NotArpRequest)
    );
}

#[test]
fn arp_addresses_rewritten_in_place() {
    let out = rewritten(ARP_REQUEST, |f| {
        f.set_arp_sender_ip(ip(20, 0, 0, 2)).unwrap();
        f.set_arp_target_ip(ip(10, 0, 0, 7)).unwrap();
    });
    let mut expected = ARP_REQUEST.to_vec();
    // Sender IP at 28..32, target IP at 38..42: nothing else moves.
    expected[28] = 20;
    expected[41] = 7;
    assert_eq!(out, expected);
    let mut echo = ECHO_REQUEST.to_vec();
    let mut frame = Frame::parse(&mut echo[..]).unwrap();
    assert_eq!(
        frame.set_arp_target_ip(ip(10, 0, 0, 7)),
        Err(RewriteError::NotArp)
    );
    assert_eq!(echo, ECHO_REQUEST, "refused, unchanged");
}

#[test]
fn arp_request_builder_matches_vector() {
    let asker: MacAddr = "02:00:00:00:00:02".parse().unwrap();
    let built = lb_packet::arp_request(asker, ip(10, 0, 0, 2), ip(10, 0, 0, 1));
    assert_eq!(&built[..], ARP_REQUEST);
}

#[test]
fn frag_needed_quote_translated_for_backend() {
    let frame = Frame::parse(FRAG_NEEDED).unwrap();
    assert_eq!(
        frame.icmp(),
        Some(Icmp::Error {
            icmp_type: 3,
            code: 4
        })
    );
    assert_eq!(frame.l4_checksum_valid(), Some(true));
    let quoted = frame.quoted_flow().unwrap();
    assert_eq!(
        quoted.src_endpoint(),
        SocketAddrV4::new(ip(10, 0, 0, 1), 80).into()
    );
    assert_eq!(
        quoted.dst_endpoint(),
        SocketAddrV4::new(ip(10, 0, 0, 2), 40000).into()
    );
    assert_eq!(frame.flow_key(), None, "an error is not a flow of its own");

    let backend = SocketAddrV4::new(ip(192, 168, 1, 2), 8080);
    let out = rewritten(FRAG_NEEDED, |f| {
        f.set_dst_addr(*backend.ip()).unwrap();
        f.set_quoted_src(backend).unwrap();
    });
    assert_eq!(out, FRAG_NEEDED_DNAT);
}

#[test]
fn ip_options_shift_the_transport_header() {
    let frame = Frame::parse(UDP_IP_OPTIONS).unwrap();
    let header = frame.ipv4().unwrap();
    assert_eq!((header.header_len(), header.has_options()), (24, true));
    let key = frame.flow_key().unwrap();
    assert_eq!((key.src_port, key.dst_port), (5353, 53));
    assert_eq!(frame.l4_checksum_valid(), Some(true));
    let out = rewritten(UDP_IP_OPTIONS, |f| {
        f.set_dst(SocketAddrV4::new(ip(192, 168, 1, 2), 5300))
            .unwrap()
    });
    assert_eq!(out, UDP_IP_OPTIONS_DNAT);
}

#[test]
fn vlan_tag_is_skipped_and_kept() {
    let frame = Frame::parse(VLAN_TCP).unwrap();
    assert_eq!(frame.vlan_id(), Some(42));
    assert_eq!(frame.ethertype(), EtherType::Ipv4);
    assert_eq!(frame.tcp_flags(), Some(TcpFlags::SYN | TcpFlags::ACK));
    let out = rewritten(VLAN_TCP, |f| {
        f.set_dst(SocketAddrV4::new(ip(192, 168, 1, 2), 8080))
            .unwrap()
    });
    assert_eq!(
        &out[..18],
        &VLAN_TCP[..18],
        "Ethernet header and tag untouched"
    );
    let rewritten = Frame::parse(&out[..]).unwrap();
    assert_eq!(
        rewritten.flow_key().unwrap().dst_endpoint(),
        SocketAddrV4::new(ip(192, 168, 1, 2), 8080).into()
    );
    assert_eq!(rewritten.l4_checksum_valid(), Some(true));
}

#[test]
fn fragments_first_has_ports_others_do_not() {
    let first = Frame::parse(UDP_FIRST_FRAGMENT).unwrap();
    assert!(first.ipv4().unwrap().more_fragments());
    assert_eq!(first.flow_key().unwrap().dst_port, 53);
    assert_eq!(
        first.l4_checksum_valid(),
        None,
        "checksum spans the other fragments"
    );

    let last = Frame::parse(UDP_LAST_FRAGMENT).unwrap();
    assert_eq!(last.ipv4().unwrap().fragment_offset(), 24);
    assert_eq!(last.flow_key(), None, "payload bytes are not ports");
    let backend = SocketAddrV4::new(ip(192, 168, 1, 2), 5300);
    let mut bytes = UDP_LAST_FRAGMENT.to_vec();
    let mut frame = Frame::parse(&mut bytes[..]).unwrap();
    assert_eq!(frame.set_dst(backend), Err(RewriteError::NoPorts));
    assert_eq!(
        frame.as_bytes(),
        UDP_LAST_FRAGMENT,
        "a refused rewrite changes nothing"
    );
    frame.set_dst_addr(*backend.ip()).unwrap();
    assert_eq!(
        &bytes[14 + 20..],
        &UDP_LAST_FRAGMENT[14 + 20..],
        "payload untouched"
    );
    let frame = Frame::parse(&bytes[..]).unwrap();
    assert_eq!(frame.ipv4().unwrap().dst(), *backend.ip());
}

#[test]
fn ttl_decrement_and_expiry() {
    let out = rewritten(TCP_SYN, |f| f.decrement_ttl().unwrap());
    let frame = Frame::parse(&out[..]).expect("header checksum updated");
    assert_eq!(frame.ipv4().unwrap().ttl(), 63);
    let mut bytes = TCP_SYN.to_vec();
    bytes[14 + 8] = 1;
    // Fix the header checksum for TTL 1 (0x40 -> 0x01 in the high byte).
    let checksum = u16::from_be_bytes([bytes[24], bytes[25]]) + 0x3f00;
    bytes[24..26].copy_from_slice(&checksum.to_be_bytes());
    let mut frame = Frame::parse(&mut bytes[..]).unwrap();
    assert_eq!(frame.decrement_ttl(), Err(RewriteError::TtlExpired));
}

#[test]
fn ipv6_is_validated_and_unknown_ethertypes_recognised() {
    // An IPv4 packet behind the IPv6 ethertype: its version field says 4.
    let mut ipv6 = TCP_SYN.to_vec();
    ipv6[12..14].copy_from_slice(&[0x86, 0xdd]);
    assert_eq!(
        Frame::parse(&ipv6[..]).err(),
        Some(ParseError::BadIpVersion)
    );
    let mut other = TCP_SYN.to_vec();
    other[12..14].copy_from_slice(&[0x88, 0xcc]);
    let mut frame = Frame::parse(&mut other[..]).unwrap();
    assert_eq!(frame.ethertype(), EtherType::Other(0x88cc));
    assert_eq!(frame.set_dst_addr(ip(1, 2, 3, 4)), Err(RewriteError::NotIp));
}

fn corrupt(input: &[u8], at: usize, value: u8) -> Vec<u8> {
    let mut bytes = input.to_vec();
    bytes[at] = value;
    bytes
}

#[test]
fn malformed_frames_are_named() {
    let cases: [(Vec<u8>, ParseError); 10] = [
        (TCP_SYN[..13].to_vec(), ParseError::TruncatedEthernet),
        (VLAN_TCP[..16].to_vec(), ParseError::TruncatedEthernet),
        (ARP_REQUEST[..41].to_vec(), ParseError::TruncatedArp),
        (corrupt(ARP_REQUEST, 15, 6), ParseError::UnsupportedArp),
        (TCP_SYN[..30].to_vec(), ParseError::TruncatedIpv4),
        (corrupt(TCP_SYN, 14, 0x65), ParseError::BadIpVersion),
        (corrupt(TCP_SYN, 14, 0x44), ParseError::BadIpHeaderLength),
        (corrupt(TCP_SYN, 17, 0x10), ParseError::BadIpTotalLength),
        (corrupt(TCP_SYN, 25, 0xce), ParseError::BadIpChecksum),
        (TCP_SYN[..53].to_vec(), ParseError::TruncatedIpv4),
    ];
    for (bytes, expected) in cases {
        assert_eq!(
            Frame::parse(&bytes[..]).unwrap_err(),
            expected,
            "{bytes:02x?}"
        );
        assert!(!expected.to_string().is_empty());
    }
}

#[test]
fn bad_transport_headers_are_named() {
    // TCP data offset 4 (below the minimum of 5); IPv4 header untouched.
    let bad_offset = corrupt(TCP_SYN, 14 + 20 + 12, 0x40);
    assert_eq!(
        Frame::parse(&bad_offset[..]).unwrap_err(),
        ParseError::BadTcpHeader
    );
    // UDP length 100, longer than the IPv4 payload.
    let mut long_udp = UDP_NO_CHECKSUM.to_vec();
    long_udp[14 + 20 + 5] = 100;
    assert_eq!(
        Frame::parse(&long_udp[..]).unwrap_err(),
        ParseError::BadUdpHeader
    );
}

#[test]
fn icmp_message_rewritten_to_all_zeros_gets_checksum_ffff() {
    // Echo request, id 0, seq 0, no data: its reply is all zeros but the
    // checksum, which must then be 0xffff, not 0x0000.
    let mut bytes = ECHO_REQUEST[..14 + 20 + 8].to_vec();
    bytes[14 + 3] = 28; // IPv4 total length
    bytes[14 + 10..14 + 12].fill(0);
    let header_checksum = !fold(&bytes[14..34]);
    bytes[14 + 10..14 + 12].copy_from_slice(&header_checksum.to_be_bytes());
    bytes[34 + 4..34 + 8].fill(0); // id 0, seq 0
    bytes[34 + 2..34 + 4].copy_from_slice(&0xf7ffu16.to_be_bytes()); // checksum of 08 00 00 .. 00
    let mut frame = Frame::parse(&mut bytes[..]).unwrap();
    assert_eq!(frame.l4_checksum_valid(), Some(true));
    frame.make_echo_reply().unwrap();
    assert_eq!(&frame.as_bytes()[34..], &[0, 0, 0xff, 0xff, 0, 0, 0, 0]);
    assert_eq!(frame.l4_checksum_valid(), Some(true));
}

/// One's-complement sum, folded, of an even-length slice.
fn fold(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}
