//! What the property tests share: etherparse's independent checksum
//! check, and random rewrites. Each test file uses only part of it.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddrV4};

use etherparse::{NetHeaders, PacketHeaders, TransportHeader};
use lb_packet::{Frame, MacAddr, RewriteError};
use proptest::prelude::*;

/// Asserts every checksum in `bytes` equals etherparse's recomputation.
/// `udp_unchecked`: the UDP checksum must be 0 ("none") instead.
pub(crate) fn assert_checksums_recomputed(bytes: &[u8], udp_unchecked: bool) {
    let headers = PacketHeaders::from_ethernet_slice(bytes).expect("etherparse reads it");
    let Some(NetHeaders::Ipv4(ip, _)) = &headers.net else {
        panic!("not IPv4")
    };
    assert_eq!(
        ip.header_checksum,
        ip.calc_header_checksum(),
        "IPv4 header checksum"
    );
    let payload = headers.payload.slice();
    match headers.transport.expect("transport header") {
        TransportHeader::Tcp(tcp) => {
            assert_eq!(
                tcp.checksum,
                tcp.calc_checksum_ipv4(ip, payload).unwrap(),
                "TCP"
            )
        }
        TransportHeader::Udp(udp) if udp_unchecked => assert_eq!(udp.checksum, 0, "UDP none"),
        TransportHeader::Udp(udp) => {
            assert_eq!(
                udp.checksum,
                udp.calc_checksum_ipv4(ip, payload).unwrap(),
                "UDP"
            )
        }
        TransportHeader::Icmpv4(icmp) => {
            assert_eq!(icmp.checksum, icmp.icmp_type.calc_checksum(payload), "ICMP")
        }
        other => panic!("unexpected transport {other:?}"),
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Op {
    SetSrc(SocketAddrV4),
    SetDst(SocketAddrV4),
    SetSrcAddr(Ipv4Addr),
    SetDstAddr(Ipv4Addr),
    DecrementTtl,
    SwapMacs,
    SetMacs([u8; 6], [u8; 6]),
    EchoReply,
}

pub(crate) fn endpoint() -> impl Strategy<Value = SocketAddrV4> {
    (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddrV4::new(ip.into(), port))
}

pub(crate) fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        endpoint().prop_map(Op::SetSrc),
        endpoint().prop_map(Op::SetDst),
        any::<[u8; 4]>().prop_map(|ip| Op::SetSrcAddr(ip.into())),
        any::<[u8; 4]>().prop_map(|ip| Op::SetDstAddr(ip.into())),
        Just(Op::DecrementTtl),
        Just(Op::SwapMacs),
        (any::<[u8; 6]>(), any::<[u8; 6]>()).prop_map(|(a, b)| Op::SetMacs(a, b)),
        Just(Op::EchoReply),
    ]
}

pub(crate) fn apply(frame: &mut Frame<&mut [u8]>, op: &Op) {
    let ttl = frame.ipv4().unwrap().ttl();
    let is_echo_request = matches!(frame.icmp(), Some(lb_packet::Icmp::EchoRequest { .. }));
    match *op {
        Op::SetSrc(endpoint) => frame.set_src(endpoint).unwrap(),
        Op::SetDst(endpoint) => frame.set_dst(endpoint).unwrap(),
        Op::SetSrcAddr(addr) => frame.set_src_addr(addr).unwrap(),
        Op::SetDstAddr(addr) => frame.set_dst_addr(addr).unwrap(),
        Op::DecrementTtl => match frame.decrement_ttl() {
            Ok(()) => assert_eq!(frame.ipv4().unwrap().ttl(), ttl - 1),
            Err(error) => assert_eq!((error, ttl <= 1), (RewriteError::TtlExpired, true)),
        },
        Op::SwapMacs => frame.swap_macs(),
        Op::SetMacs(src, dst) => {
            frame.set_src_mac(MacAddr(src));
            frame.set_dst_mac(MacAddr(dst));
        }
        Op::EchoReply => match frame.make_echo_reply() {
            Ok(()) => assert!(is_echo_request),
            Err(error) => assert_eq!(
                (error, is_echo_request),
                (RewriteError::NotEchoRequest, false)
            ),
        },
    }
}
