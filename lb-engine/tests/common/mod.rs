//! Frames for the engine fixtures, built by etherparse so that expected
//! outputs come from full serialisation, never from the code under test.

#![allow(dead_code, unreachable_pub)]

pub mod flows;
pub mod health;
pub mod rp;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacket, EtherType, IcmpEchoHeader, Icmpv4Type, IpHeaders,
    IpNumber, Ipv4Extensions, Ipv4Header, PacketBuilder, icmpv4::DestUnreachableHeader,
};
use lb_packet::MacAddr;

/// An endpoint of these IPv4 fixtures, as the IPv4 type they compare with.
pub fn v4(endpoint: SocketAddr) -> SocketAddrV4 {
    match endpoint {
        SocketAddr::V4(v4) => v4,
        SocketAddr::V6(v6) => panic!("an IPv4 fixture met {v6}"),
    }
}

pub const CLIENT_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0c]);
pub const ROUTER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0f]);
pub const BACKEND_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xb1]);

pub fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

pub fn ep(ip: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ip, port)
}

/// IPv4 header parameters most fixtures share.
#[derive(Clone)]
pub struct Ip {
    pub ttl: u8,
    pub ident: u16,
    pub more_fragments: bool,
    pub fragment_offset: u16,
    pub options: Vec<u8>,
}

impl Default for Ip {
    fn default() -> Self {
        Ip {
            ttl: 64,
            ident: 7,
            more_fragments: false,
            fragment_offset: 0,
            options: Vec::new(),
        }
    }
}

fn ip_header(src: Ipv4Addr, dst: Ipv4Addr, proto: IpNumber, ip: &Ip) -> IpHeaders {
    let mut header = Ipv4Header::new(0, ip.ttl, proto, src.octets(), dst.octets()).unwrap();
    header.identification = ip.ident;
    header.more_fragments = ip.more_fragments;
    header.fragment_offset = ip.fragment_offset.try_into().unwrap();
    header.options = ip.options[..].try_into().unwrap();
    IpHeaders::Ipv4(header, Ipv4Extensions::default())
}

pub fn tcp(
    macs: (MacAddr, MacAddr),
    src: SocketAddrV4,
    dst: SocketAddrV4,
    flags: &str,
    payload: &[u8],
) -> Vec<u8> {
    tcp_with(macs, src, dst, flags, payload, &Ip::default())
}

pub fn tcp_with(
    (src_mac, dst_mac): (MacAddr, MacAddr),
    src: SocketAddrV4,
    dst: SocketAddrV4,
    flags: &str,
    payload: &[u8],
    ip: &Ip,
) -> Vec<u8> {
    let mut builder = PacketBuilder::ethernet2(src_mac.0, dst_mac.0)
        .ip(ip_header(*src.ip(), *dst.ip(), IpNumber::TCP, ip))
        .tcp(src.port(), dst.port(), 1000, 64240);
    for flag in flags.chars() {
        builder = match flag {
            'S' => builder.syn(),
            'A' => builder.ack(1),
            'F' => builder.fin(),
            'R' => builder.rst(),
            'P' => builder.psh(),
            _ => panic!("flag {flag}"),
        };
    }
    let mut bytes = Vec::new();
    builder.write(&mut bytes, payload).unwrap();
    bytes
}

/// A TCP segment with these sequence and acknowledgment numbers, built
/// by lb-packet's own builder (its bytes are checked against etherparse's
/// in lb-packet's tests).
pub fn segment(
    (src_mac, dst_mac): (MacAddr, MacAddr),
    from: SocketAddrV4,
    to: SocketAddrV4,
    flags: lb_packet::TcpFlags,
    seq: u32,
    ack: u32,
) -> Vec<u8> {
    use lb_packet::{EthernetRepr, FrameRepr, Ipv4Repr, TcpRepr};
    let tcp = TcpRepr {
        seq,
        ack,
        ..TcpRepr::new(from.port(), to.port(), flags)
    };
    let ethernet = EthernetRepr::new(src_mac, dst_mac);
    FrameRepr::ipv4(ethernet, Ipv4Repr::new(*from.ip(), *to.ip()), tcp, b"")
        .to_vec()
        .unwrap()
}

pub fn udp(
    macs: (MacAddr, MacAddr),
    src: SocketAddrV4,
    dst: SocketAddrV4,
    payload: &[u8],
) -> Vec<u8> {
    udp_with(macs, src, dst, payload, &Ip::default())
}

pub fn udp_with(
    (src_mac, dst_mac): (MacAddr, MacAddr),
    src: SocketAddrV4,
    dst: SocketAddrV4,
    payload: &[u8],
    ip: &Ip,
) -> Vec<u8> {
    let mut bytes = Vec::new();
    PacketBuilder::ethernet2(src_mac.0, dst_mac.0)
        .ip(ip_header(*src.ip(), *dst.ip(), IpNumber::UDP, ip))
        .udp(src.port(), dst.port())
        .write(&mut bytes, payload)
        .unwrap();
    bytes
}

/// A UDP frame whose checksum field is 0 ("none").
pub fn udp_unchecked(
    macs: (MacAddr, MacAddr),
    src: SocketAddrV4,
    dst: SocketAddrV4,
    payload: &[u8],
) -> Vec<u8> {
    let mut bytes = udp(macs, src, dst, payload);
    bytes[14 + 20 + 6..14 + 20 + 8].fill(0);
    bytes
}

pub fn echo(
    (src_mac, dst_mac): (MacAddr, MacAddr),
    src: Ipv4Addr,
    dst: Ipv4Addr,
    request: bool,
    id: u16,
    seq: u16,
) -> Vec<u8> {
    let builder =
        PacketBuilder::ethernet2(src_mac.0, dst_mac.0).ipv4(src.octets(), dst.octets(), 64);
    let header = IcmpEchoHeader { id, seq };
    let icmp_type = if request {
        Icmpv4Type::EchoRequest(header)
    } else {
        Icmpv4Type::EchoReply(header)
    };
    let mut bytes = Vec::new();
    builder
        .icmpv4(icmp_type)
        .write(&mut bytes, b"abcdefgh")
        .unwrap();
    bytes
}

/// An ICMP fragmentation-needed error from `from` to `to` quoting the first
/// 28 bytes of `offending` (an Ethernet frame).
pub fn frag_needed(
    macs: (MacAddr, MacAddr),
    from: Ipv4Addr,
    to: Ipv4Addr,
    offending: &[u8],
) -> Vec<u8> {
    let needed = DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: 1400 };
    unreachable(macs, (from, to, 255), needed, offending)
}

/// An ICMP port-unreachable error from `from` to `to` quoting the first
/// 28 bytes of `offending` (an Ethernet frame).
pub fn port_unreachable(
    macs: (MacAddr, MacAddr),
    from: Ipv4Addr,
    to: Ipv4Addr,
    offending: &[u8],
) -> Vec<u8> {
    unreachable(macs, (from, to, 64), DestUnreachableHeader::Port, offending)
}

/// An ICMP destination-unreachable error of `kind` from `from` to `to`
/// with `ttl`, quoting the first 28 bytes of `offending`'s IPv4 packet.
fn unreachable(
    (src_mac, dst_mac): (MacAddr, MacAddr),
    (from, to, ttl): (Ipv4Addr, Ipv4Addr, u8),
    kind: DestUnreachableHeader,
    offending: &[u8],
) -> Vec<u8> {
    let mut bytes = Vec::new();
    PacketBuilder::ethernet2(src_mac.0, dst_mac.0)
        .ipv4(from.octets(), to.octets(), ttl)
        .icmpv4(Icmpv4Type::DestinationUnreachable(kind))
        .write(&mut bytes, &offending[14..14 + 28])
        .unwrap();
    bytes
}

/// Runs `input` through `engine` on `port`; the verdict and the frame out.
pub fn run(
    engine: &mut impl lb_engine::Engine,
    now: std::time::Instant,
    port: lb_engine::PortId,
    input: &[u8],
) -> (lb_engine::Verdict, Vec<u8>) {
    let mut frame = input.to_vec();
    let verdict = engine.handle_frame(now, port, &mut frame);
    (verdict, frame)
}

pub fn arp(
    op_request: bool,
    sender: (MacAddr, Ipv4Addr),
    target: (MacAddr, Ipv4Addr),
    eth_dst: MacAddr,
) -> Vec<u8> {
    let op = if op_request {
        ArpOperation::REQUEST
    } else {
        ArpOperation::REPLY
    };
    let packet = ArpPacket::new(
        ArpHardwareId::ETHERNET,
        EtherType::IPV4,
        op,
        &sender.0.0,
        &sender.1.octets(),
        &target.0.0,
        &target.1.octets(),
    )
    .unwrap();
    let mut bytes = Vec::new();
    PacketBuilder::ethernet2(sender.0.0, eth_dst.0)
        .arp(packet)
        .write(&mut bytes)
        .unwrap();
    bytes
}

/// A minimal IPv6 frame (ICMPv6 echo request).
pub fn ipv6((src_mac, dst_mac): (MacAddr, MacAddr)) -> Vec<u8> {
    let mut bytes = Vec::new();
    PacketBuilder::ethernet2(src_mac.0, dst_mac.0)
        .ipv6(
            [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            64,
        )
        .icmpv6_echo_request(1, 1)
        .write(&mut bytes, b"v6")
        .unwrap();
    bytes
}

/// A GRE packet (protocol 47), which no engine balances.
pub fn gre((src_mac, dst_mac): (MacAddr, MacAddr), src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let mut bytes = Vec::new();
    let header = Ipv4Header::new(4, 64, IpNumber(47), src.octets(), dst.octets()).unwrap();
    PacketBuilder::ethernet2(src_mac.0, dst_mac.0)
        .ip(IpHeaders::Ipv4(header, Ipv4Extensions::default()))
        .write(&mut bytes, IpNumber(47), &[0, 0, 0x08, 0x00])
        .unwrap();
    bytes
}

/// The IPv4 header checksum of `header` (its checksum field skipped).
pub fn ip_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .enumerate()
        .filter(|(i, _)| *i != 5)
        .map(|(_, w)| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 frame with a raw payload (for non-first fragments).
pub fn raw_ipv4(
    macs: (MacAddr, MacAddr),
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    ipp: &Ip,
    payload: &[u8],
) -> Vec<u8> {
    let mut header = etherparse::Ipv4Header::new(
        payload.len() as u16,
        ipp.ttl,
        etherparse::IpNumber(proto),
        src.octets(),
        dst.octets(),
    )
    .unwrap();
    header.identification = ipp.ident;
    header.more_fragments = ipp.more_fragments;
    header.fragment_offset = ipp.fragment_offset.try_into().unwrap();
    let mut bytes = Vec::new();
    PacketBuilder::ethernet2(macs.0.0, macs.1.0)
        .ip(etherparse::IpHeaders::Ipv4(header, Default::default()))
        .write(&mut bytes, etherparse::IpNumber(proto), payload)
        .unwrap();
    bytes
}
