//! The builder reproduces known frames byte for byte: one or more per
//! protocol, each laid out with its fields in comments in `frames/`, with
//! checksums computed independently of this crate.

use std::net::Ipv4Addr;

use lb_packet::{
    ArpRepr, EthernetRepr, Frame, FrameRepr, Icmp, IcmpRepr, Ipv4Repr, MacAddr, TcpFlags, TcpRepr,
    TransportRepr, UdpRepr,
};

mod frames;
use frames::*;

const LB: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const CLIENT: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const ROUTER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);

/// From the client to the load balancer, as every frame in `frames/` but
/// the replies.
const TO_LB: EthernetRepr = EthernetRepr::new(CLIENT, LB);

/// Ident 1, DF, TTL 64: the IPv4 header most vectors share.
const fn ipv4(src: Ipv4Addr, dst: Ipv4Addr) -> Ipv4Repr<'static> {
    Ipv4Repr {
        ident: 1,
        ..Ipv4Repr::new(src, dst)
    }
}

fn emit(frame: FrameRepr<'_>) -> Vec<u8> {
    let bytes = frame.to_vec().expect("valid fields");
    // The allocation-free path writes the same bytes.
    let mut buffer = [0xa5; 128];
    let len = frame.emit(&mut buffer).expect("fits");
    assert_eq!(&buffer[..len], &bytes[..]);
    bytes
}

#[test]
fn tcp() {
    let syn = TcpRepr {
        window: 0x7210,
        ..TcpRepr::new(40000, 80, TcpFlags::SYN)
    };
    let frame = FrameRepr::ipv4(TO_LB, ipv4(CLIENT_IP, VIP), syn, b"");
    assert_eq!(emit(frame), TCP_SYN);

    let options = [2, 4, 5, 0xb4];
    let header = Ipv4Repr {
        tos: 0x10,
        ident: 0x1c46,
        ..Ipv4Repr::new(CLIENT_IP, VIP)
    };
    let syn = TcpRepr {
        seq: 0x0102_0304,
        window: 64240,
        options: &options,
        ..TcpRepr::new(40000, 80, TcpFlags::SYN)
    };
    assert_eq!(
        emit(FrameRepr::ipv4(TO_LB, header, syn, b"")),
        TCP_SYN_OPTIONS
    );
}

#[test]
fn vlan_tagged_tcp() {
    let syn_ack = TcpRepr {
        seq: 5,
        ack: 9,
        window: 0x7210,
        ..TcpRepr::new(40000, 80, TcpFlags::SYN | TcpFlags::ACK)
    };
    let ethernet = EthernetRepr {
        vlan_id: Some(42),
        ..TO_LB
    };
    let frame = FrameRepr::ipv4(ethernet, ipv4(CLIENT_IP, VIP), syn_ack, b"");
    assert_eq!(emit(frame), VLAN_TCP);
}

#[test]
fn udp_padded_and_with_ip_options() {
    let datagram = UdpRepr::new(5353, 53);
    let frame = FrameRepr::ipv4(TO_LB, ipv4(CLIENT_IP, VIP), datagram, b"hi!");
    assert_eq!(emit(frame.padded()), UDP_PADDED);
    assert_eq!(
        emit(frame).len(),
        UDP_PADDED.len() - 15,
        "padding only on request"
    );

    let router_alert = [0x94, 0x04, 0x00, 0x00];
    let header = Ipv4Repr {
        options: &router_alert,
        ..ipv4(CLIENT_IP, VIP)
    };
    let frame = FrameRepr::ipv4(TO_LB, header, datagram, b"opts");
    assert_eq!(emit(frame), UDP_IP_OPTIONS);
}

#[test]
fn fragments() {
    // The first fragment's UDP header covers the whole datagram, so the
    // caller writes it: the builder takes it as payload.
    let header = Ipv4Repr {
        ident: 77,
        dont_fragment: false,
        more_fragments: true,
        ..Ipv4Repr::new(CLIENT_IP, VIP)
    };
    let udp = TransportRepr::Raw { protocol: 17 };
    let first = FrameRepr::ipv4(TO_LB, header, udp, &UDP_FIRST_FRAGMENT[34..]);
    assert_eq!(emit(first), UDP_FIRST_FRAGMENT);
    let last = Ipv4Repr {
        more_fragments: false,
        fragment_offset: 24,
        ..header
    };
    let last = FrameRepr::ipv4(TO_LB, last, udp, &[0x42; 8]);
    assert_eq!(emit(last), UDP_LAST_FRAGMENT);
}

#[test]
fn icmp_echo() {
    let request = IcmpRepr::EchoRequest { id: 0x1234, seq: 1 };
    let frame = FrameRepr::ipv4(TO_LB, ipv4(CLIENT_IP, VIP), request, b"pingpong");
    assert_eq!(emit(frame), ECHO_REQUEST);
    let reply = IcmpRepr::EchoReply { id: 0x1234, seq: 1 };
    let to_client = EthernetRepr::new(LB, CLIENT);
    let frame = FrameRepr::ipv4(to_client, ipv4(VIP, CLIENT_IP), reply, b"pingpong");
    assert_eq!(emit(frame), ECHO_REPLY);
}

#[test]
fn icmp_errors_quote_the_packet_given() {
    // The frag-needed vector quotes a 1500-byte segment the VIP sent.
    let header = Ipv4Repr {
        ident: 9,
        ttl: 255,
        dont_fragment: false,
        ..Ipv4Repr::new(ROUTER_IP, VIP)
    };
    let frag_needed = IcmpRepr::FragmentationNeeded { next_hop_mtu: 1400 };
    let quote = &FRAG_NEEDED[14 + 20 + 8..];
    let frame = FrameRepr::ipv4(TO_LB, header, frag_needed, quote);
    assert_eq!(emit(frame), FRAG_NEEDED);

    // Time exceeded, quoting a datagram built here and cut to its IPv4
    // header plus 8 bytes, with the TTL it had when it expired.
    let expired = Ipv4Repr {
        ttl: 1,
        ..ipv4(CLIENT_IP, VIP)
    };
    let datagram = FrameRepr::ipv4(TO_LB, expired, UdpRepr::new(5353, 53), b"hi!");
    let datagram = emit(datagram);
    let datagram = Frame::parse(&datagram[..]).unwrap();
    let quote = &datagram.ipv4_packet().unwrap()[..20 + 8];
    let header = Ipv4Repr {
        ident: 256,
        dont_fragment: false,
        ..Ipv4Repr::new(ROUTER_IP, CLIENT_IP)
    };
    let to_client = EthernetRepr::new(MacAddr([2, 0, 0, 0, 0, 0xfe]), CLIENT);
    let time_exceeded = IcmpRepr::TimeExceeded { code: 0 };
    let bytes = emit(FrameRepr::ipv4(to_client, header, time_exceeded, quote));
    assert_eq!(bytes, TIME_EXCEEDED);

    let frame = Frame::parse(&bytes[..]).unwrap();
    assert_eq!(
        frame.icmp(),
        Some(Icmp::Error {
            icmp_type: 11,
            code: 0
        })
    );
    assert_eq!(frame.quoted_flow(), datagram.flow_key());
    assert_eq!(frame.l4_checksum_valid(), Some(true));
}

#[test]
fn arp() {
    let request = ArpRepr::request(CLIENT, CLIENT_IP, VIP);
    let to_all = EthernetRepr::new(CLIENT, MacAddr::BROADCAST);
    assert_eq!(emit(FrameRepr::arp(to_all, request)), ARP_REQUEST);
    assert_eq!(
        lb_packet::arp_request(CLIENT, CLIENT_IP, VIP),
        ARP_REQUEST,
        "arp_request is this frame"
    );
    let lb = MacAddr([2, 0, 0, 0, 0, 0xaa]);
    let reply = ArpRepr::reply(lb, VIP, CLIENT, CLIENT_IP);
    let frame = FrameRepr::arp(EthernetRepr::new(lb, CLIENT), reply);
    assert_eq!(emit(frame), ARP_REPLY);
    let padded = emit(frame.padded());
    assert_eq!((&padded[..42], &padded[42..]), (ARP_REPLY, &[0; 18][..]));
}
