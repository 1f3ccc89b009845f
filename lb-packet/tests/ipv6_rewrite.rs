//! IPv6 rewrites checked against etherparse: NAT, echo replies, the hop
//! limit and the packet an ICMPv6 error quotes come out exactly as
//! etherparse builds the rewritten packet from scratch (so every checksum
//! equals a full recomputation); NAT then reverse NAT restores every byte;
//! and lb's own builder writes what etherparse writes.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use etherparse::{Icmpv6Type, PacketBuilder};
use lb_packet::{
    EthernetRepr, Frame, FrameRepr, Icmpv6Repr, Ipv6Repr, MacAddr, RewriteError, TcpFlags, TcpRepr,
    UdpRepr,
};
use proptest::prelude::*;

const SRC_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const DST_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

#[derive(Debug, Clone, Copy)]
enum Transport {
    Tcp,
    Udp,
    Echo { seq: u16 },
}

/// A packet's addresses, ports (echo: the identifier is `dst.port`) and
/// payload.
#[derive(Debug, Clone)]
struct Packet {
    src: SocketAddrV6,
    dst: SocketAddrV6,
    hop_limit: u8,
    transport: Transport,
    payload: Vec<u8>,
}

fn endpoint() -> impl Strategy<Value = SocketAddrV6> {
    (any::<u128>(), any::<u16>()).prop_map(|(ip, port)| SocketAddrV6::new(ip.into(), port, 0, 0))
}

fn packet() -> impl Strategy<Value = Packet> {
    let transport = prop_oneof![
        Just(Transport::Tcp),
        Just(Transport::Udp),
        any::<u16>().prop_map(|seq| Transport::Echo { seq }),
    ];
    (
        endpoint(),
        endpoint(),
        any::<u8>(),
        transport,
        proptest::collection::vec(any::<u8>(), 0..120),
    )
        .prop_map(|(src, mut dst, hop_limit, transport, payload)| {
            if let Transport::Echo { .. } = transport {
                // One identifier stands for both ports.
                dst.set_port(src.port());
            }
            Packet {
                src,
                dst,
                hop_limit,
                transport,
                payload,
            }
        })
}

/// The frame etherparse builds for `packet`, with `macs`.
fn build(packet: &Packet, macs: ([u8; 6], [u8; 6])) -> Vec<u8> {
    let ip = PacketBuilder::ethernet2(macs.0, macs.1).ipv6(
        packet.src.ip().octets(),
        packet.dst.ip().octets(),
        packet.hop_limit,
    );
    let (src, dst) = (packet.src.port(), packet.dst.port());
    let mut bytes = Vec::new();
    let written = match packet.transport {
        Transport::Tcp => ip
            .tcp(src, dst, 1000, 512)
            .syn()
            .write(&mut bytes, &packet.payload),
        Transport::Udp => ip.udp(src, dst).write(&mut bytes, &packet.payload),
        Transport::Echo { seq } => ip
            .icmpv6_echo_request(dst, seq)
            .write(&mut bytes, &packet.payload),
    };
    written.expect("etherparse builds the packet");
    bytes
}

/// `packet` with new endpoints; an echo's identifier follows `dst`.
fn moved(packet: &Packet, src: SocketAddrV6, dst: SocketAddrV6) -> Packet {
    let src = match packet.transport {
        Transport::Echo { .. } => SocketAddrV6::new(*src.ip(), dst.port(), 0, 0),
        _ => src,
    };
    Packet {
        src,
        dst,
        ..packet.clone()
    }
}

proptest! {
    #[test]
    fn nat_gives_the_bytes_of_a_fresh_build_and_reverses_exactly(
        packet in packet(),
        new_src in endpoint(),
        new_dst in endpoint(),
    ) {
        let original = build(&packet, (SRC_MAC, DST_MAC));
        let mut bytes = original.clone();
        let mut frame = Frame::parse(&mut bytes[..]).unwrap();
        frame.set_src(new_src).unwrap();
        frame.set_dst(new_dst).unwrap();
        let expected = build(&moved(&packet, new_src, new_dst), (SRC_MAC, DST_MAC));
        prop_assert_eq!(frame.as_bytes(), &expected[..]);

        frame.set_dst(packet.dst).unwrap();
        frame.set_src(packet.src).unwrap();
        prop_assert_eq!(frame.as_bytes(), &original[..]);

        // An address of the other family changes nothing.
        let v4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80);
        prop_assert_eq!(frame.set_dst(v4), Err(RewriteError::FamilyMismatch));
        prop_assert_eq!(frame.set_src_addr(*v4.ip()), Err(RewriteError::FamilyMismatch));
        prop_assert_eq!(frame.as_bytes(), &original[..]);
    }

    #[test]
    fn address_only_rewrites_and_the_hop_limit(
        packet in packet(),
        new_src in any::<u128>(),
        new_dst in any::<u128>(),
    ) {
        let mut bytes = build(&packet, (SRC_MAC, DST_MAC));
        let mut frame = Frame::parse(&mut bytes[..]).unwrap();
        let (new_src, new_dst) = (Ipv6Addr::from(new_src), Ipv6Addr::from(new_dst));
        frame.set_src_addr(new_src).unwrap();
        frame.set_dst_addr(new_dst).unwrap();
        let decremented = frame.decrement_ttl();
        let mut expected = moved(
            &packet,
            SocketAddrV6::new(new_src, packet.src.port(), 0, 0),
            SocketAddrV6::new(new_dst, packet.dst.port(), 0, 0),
        );
        if packet.hop_limit > 1 {
            prop_assert_eq!(decremented, Ok(()));
            expected.hop_limit -= 1;
        } else {
            prop_assert_eq!(decremented, Err(RewriteError::TtlExpired));
        }
        prop_assert_eq!(frame.as_bytes(), &build(&expected, (SRC_MAC, DST_MAC))[..]);
    }

    #[test]
    fn an_echo_request_becomes_its_reply(
        packet in packet().prop_filter("echo", |p| matches!(p.transport, Transport::Echo { .. })),
    ) {
        let Transport::Echo { seq } = packet.transport else { unreachable!() };
        let mut bytes = build(&packet, (SRC_MAC, DST_MAC));
        let mut frame = Frame::parse(&mut bytes[..]).unwrap();
        frame.make_echo_reply().unwrap();
        let mut expected = Vec::new();
        PacketBuilder::ethernet2(DST_MAC, SRC_MAC)
            .ipv6(packet.dst.ip().octets(), packet.src.ip().octets(), 64)
            .icmpv6_echo_reply(packet.dst.port(), seq)
            .write(&mut expected, &packet.payload)
            .unwrap();
        prop_assert_eq!(frame.as_bytes(), &expected[..]);
        // A reply is no request.
        prop_assert_eq!(frame.make_echo_reply(), Err(RewriteError::NotEchoRequest));
    }

    /// A router tells the sender (the load balancer's backend side) that
    /// the packet was too big; NAT translates the error's destination and
    /// the packet it quotes, whole or cut after the ports.
    #[test]
    fn a_packet_too_big_is_translated_with_its_quote(
        packet in packet(),
        router in any::<u128>(),
        client in endpoint(),
        vip in endpoint(),
        mtu in 1280u32..9000,
        cut in any::<bool>(),
    ) {
        let router = Ipv6Addr::from(router);
        let error = |quoted: &Packet, to: Ipv6Addr| {
            let inner = build(quoted, (SRC_MAC, DST_MAC));
            // The IP packet, cut after the transport's first 8 bytes or not.
            let quote = if cut { &inner[14..14 + 48] } else { &inner[14..] };
            let mut bytes = Vec::new();
            PacketBuilder::ethernet2(SRC_MAC, DST_MAC)
                .ipv6(router.octets(), to.octets(), 64)
                .icmpv6(Icmpv6Type::PacketTooBig { mtu })
                .write(&mut bytes, quote)
                .unwrap();
            bytes
        };
        let mut bytes = error(&packet, *packet.src.ip());
        let mut frame = Frame::parse(&mut bytes[..]).unwrap();
        let quoted = frame.quoted_flow().unwrap();
        prop_assert_eq!(
            (quoted.src_endpoint(), quoted.dst_endpoint()),
            (packet.src.into(), packet.dst.into())
        );
        // The quote is of a packet from the backend side: it now reads
        // as from the VIP to the client, and the error goes to the client.
        frame.set_quoted_src(vip).unwrap();
        frame.set_quoted_dst(client).unwrap();
        frame.set_dst_addr(*client.ip()).unwrap();
        let translated = moved(&packet, vip, client);
        prop_assert_eq!(frame.as_bytes(), &error(&translated, *client.ip())[..]);
        prop_assert_eq!(frame.l4_checksum_valid(), Some(true));
    }

    #[test]
    fn the_builder_writes_what_etherparse_writes(packet in packet()) {
        let ethernet = EthernetRepr::new(MacAddr(SRC_MAC), MacAddr(DST_MAC));
        let header = Ipv6Repr { hop_limit: packet.hop_limit, ..Ipv6Repr::new(*packet.src.ip(), *packet.dst.ip()) };
        let (src, dst) = (packet.src.port(), packet.dst.port());
        let repr = match packet.transport {
            Transport::Tcp => FrameRepr::ipv6(
                ethernet,
                header,
                TcpRepr { seq: 1000, window: 512, ..TcpRepr::new(src, dst, TcpFlags::SYN) },
                &packet.payload,
            ),
            Transport::Udp => FrameRepr::ipv6(ethernet, header, UdpRepr::new(src, dst), &packet.payload),
            Transport::Echo { seq } => FrameRepr::ipv6(
                ethernet,
                header,
                Icmpv6Repr::EchoRequest { id: dst, seq },
                &packet.payload,
            ),
        };
        prop_assert_eq!(repr.to_vec().unwrap(), build(&packet, (SRC_MAC, DST_MAC)));
    }
}

/// Both families' errors read alike: etherparse builds each kind.
#[test]
fn icmp_errors_of_both_families_read_alike() {
    use etherparse::{IcmpEchoHeader, Icmpv4Type, icmpv4, icmpv6};
    use lb_packet::IcmpError;

    let quote = build(
        &Packet {
            src: SocketAddrV6::new(Ipv6Addr::LOCALHOST, 1, 0, 0),
            dst: SocketAddrV6::new(Ipv6Addr::LOCALHOST, 2, 0, 0),
            hop_limit: 64,
            transport: Transport::Udp,
            payload: vec![],
        },
        (SRC_MAC, DST_MAC),
    );
    let v6 = |kind: Icmpv6Type| {
        let mut bytes = Vec::new();
        PacketBuilder::ethernet2(SRC_MAC, DST_MAC)
            .ipv6([1; 16], [2; 16], 64)
            .icmpv6(kind)
            .write(&mut bytes, &quote[14..])
            .unwrap();
        Frame::parse(&bytes[..]).unwrap().icmp_error()
    };
    let v4 = |kind: Icmpv4Type| {
        let mut bytes = Vec::new();
        PacketBuilder::ethernet2(SRC_MAC, DST_MAC)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .icmpv4(kind)
            .write(&mut bytes, &[0x45; 28])
            .unwrap();
        Frame::parse(&bytes[..]).ok().and_then(|f| f.icmp_error())
    };
    use icmpv6::DestUnreachableCode as Du6;
    assert_eq!(
        v6(Icmpv6Type::DestinationUnreachable(Du6::Port)),
        Some(IcmpError::PortUnreachable)
    );
    assert_eq!(
        v6(Icmpv6Type::DestinationUnreachable(Du6::Address)),
        Some(IcmpError::Unreachable)
    );
    assert_eq!(
        v6(Icmpv6Type::PacketTooBig { mtu: 1400 }),
        Some(IcmpError::PacketTooBig { mtu: 1400 })
    );
    assert_eq!(
        v6(Icmpv6Type::TimeExceeded(
            icmpv6::TimeExceededCode::HopLimitExceeded
        )),
        Some(IcmpError::TimeExceeded)
    );
    use icmpv4::DestUnreachableHeader as Du4;
    assert_eq!(
        v4(Icmpv4Type::DestinationUnreachable(Du4::Port)),
        Some(IcmpError::PortUnreachable)
    );
    assert_eq!(
        v4(Icmpv4Type::DestinationUnreachable(Du4::Host)),
        Some(IcmpError::Unreachable)
    );
    assert_eq!(
        v4(Icmpv4Type::DestinationUnreachable(
            Du4::FragmentationNeeded { next_hop_mtu: 1400 }
        )),
        Some(IcmpError::PacketTooBig { mtu: 1400 })
    );
    assert_eq!(
        v4(Icmpv4Type::TimeExceeded(
            icmpv4::TimeExceededCode::TtlExceededInTransit
        )),
        Some(IcmpError::TimeExceeded)
    );
    assert_eq!(
        v4(Icmpv4Type::EchoRequest(IcmpEchoHeader { id: 1, seq: 1 })),
        None
    );
}
