//! Property tests: frames built by etherparse's `PacketBuilder`, rewritten
//! by this crate, and checked against etherparse's full checksum
//! recomputation, which shares no code with ours.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacket, EtherType as EpEtherType, IpHeaders, IpNumber,
    Ipv4Extensions, Ipv4Header, PacketBuilder, VlanId,
};
use etherparse::{Icmpv4Type, icmpv4::DestUnreachableHeader};
mod common;

use common::{apply, assert_checksums_recomputed, endpoint, op};
use lb_packet::{FlowKey, Frame, MacAddr};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Transport {
    Tcp {
        src: u16,
        dst: u16,
        seq: u32,
        syn: bool,
        ack: Option<u32>,
    },
    Udp {
        src: u16,
        dst: u16,
        zero_checksum: bool,
    },
    Echo {
        id: u16,
        seq: u16,
    },
}

#[derive(Debug, Clone)]
struct Spec {
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    vlan: Option<u16>,
    src: [u8; 4],
    dst: [u8; 4],
    ttl: u8,
    options: Vec<u8>,
    transport: Transport,
    payload: Vec<u8>,
}

fn transport() -> impl Strategy<Value = Transport> {
    prop_oneof![
        (
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            any::<bool>(),
            any::<Option<u32>>()
        )
            .prop_map(|(src, dst, seq, syn, ack)| Transport::Tcp {
                src,
                dst,
                seq,
                syn,
                ack
            }),
        (any::<u16>(), any::<u16>(), any::<bool>()).prop_map(|(src, dst, zero_checksum)| {
            Transport::Udp {
                src,
                dst,
                zero_checksum,
            }
        }),
        (any::<u16>(), any::<u16>()).prop_map(|(id, seq)| Transport::Echo { id, seq }),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        (
            any::<[u8; 6]>(),
            any::<[u8; 6]>(),
            proptest::option::of(0u16..4095),
        ),
        (any::<[u8; 4]>(), any::<[u8; 4]>(), 1u8..=255),
        (0usize..=10).prop_flat_map(|words| proptest::collection::vec(any::<u8>(), words * 4)),
        transport(),
        proptest::collection::vec(any::<u8>(), 0..96),
    )
        .prop_map(
            |((src_mac, dst_mac, vlan), (src, dst, ttl), options, transport, payload)| Spec {
                src_mac,
                dst_mac,
                vlan,
                src,
                dst,
                ttl,
                options,
                transport,
                payload,
            },
        )
}

fn ipv4_header(spec: &Spec) -> IpHeaders {
    let mut header = Ipv4Header::new(0, spec.ttl, IpNumber::TCP, spec.src, spec.dst).unwrap();
    header.options = spec.options[..].try_into().unwrap();
    IpHeaders::Ipv4(header, Ipv4Extensions::default())
}

fn build(spec: &Spec) -> Vec<u8> {
    let ethernet = PacketBuilder::ethernet2(spec.src_mac, spec.dst_mac);
    let ip = match spec.vlan {
        Some(vlan) => ethernet
            .single_vlan(VlanId::try_new(vlan).unwrap())
            .ip(ipv4_header(spec)),
        None => ethernet.ip(ipv4_header(spec)),
    };
    let mut bytes = Vec::new();
    match spec.transport {
        Transport::Tcp {
            src,
            dst,
            seq,
            syn,
            ack,
        } => {
            let mut tcp = ip.tcp(src, dst, seq, 1024);
            if syn {
                tcp = tcp.syn();
            }
            if let Some(ack) = ack {
                tcp = tcp.ack(ack);
            }
            tcp.write(&mut bytes, &spec.payload).unwrap();
        }
        Transport::Udp {
            src,
            dst,
            zero_checksum,
        } => {
            ip.udp(src, dst).write(&mut bytes, &spec.payload).unwrap();
            if zero_checksum {
                let l4 = bytes.len() - spec.payload.len() - 8;
                bytes[l4 + 6..l4 + 8].fill(0);
            }
        }
        Transport::Echo { id, seq } => {
            ip.icmpv4_echo_request(id, seq)
                .write(&mut bytes, &spec.payload)
                .unwrap();
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn rewrites_match_full_recomputation(spec in spec(), ops in proptest::collection::vec(op(), 1..8)) {
        let mut bytes = build(&spec);
        let udp_unchecked = matches!(spec.transport, Transport::Udp { zero_checksum: true, .. });
        assert_checksums_recomputed(&bytes, udp_unchecked);
        for op in &ops {
            let mut frame = Frame::parse(&mut bytes[..]).expect("still valid");
            apply(&mut frame, op);
            assert_checksums_recomputed(&bytes, udp_unchecked);
        }
    }

    #[test]
    fn every_truncation_is_an_error(spec in spec()) {
        let bytes = build(&spec);
        prop_assert!(Frame::parse(&bytes[..]).is_ok());
        for len in 0..bytes.len() {
            prop_assert!(Frame::parse(&bytes[..len]).is_err(), "accepted {len} of {} bytes", bytes.len());
        }
    }

    #[test]
    fn arp_truncations_are_errors(sender in any::<[u8; 6]>(), spa in any::<[u8; 4]>(), tpa in any::<[u8; 4]>()) {
        let arp = ArpPacket::new(
            ArpHardwareId::ETHERNET, EpEtherType::IPV4, ArpOperation::REQUEST,
            &sender, &spa, &[0; 6], &tpa,
        ).unwrap();
        let mut bytes = Vec::new();
        PacketBuilder::ethernet2(sender, [0xff; 6]).arp(arp).write(&mut bytes).unwrap();
        let frame = Frame::parse(&bytes[..]).unwrap();
        prop_assert_eq!(frame.arp().unwrap().target_ip(), Ipv4Addr::from(tpa));
        prop_assert_eq!(&bytes[..], &lb_packet::arp_request(MacAddr(sender), spa.into(), tpa.into())[..]);
        for len in 0..bytes.len() {
            prop_assert!(Frame::parse(&bytes[..len]).is_err());
        }
    }

    #[test]
    fn nat_then_reverse_restores_the_original(spec in spec(), dnat in endpoint(), snat in endpoint()) {
        let original = build(&spec);
        let mut bytes = original.clone();
        let mut frame = Frame::parse(&mut bytes[..]).unwrap();
        let key = frame.flow_key().unwrap();
        frame.set_dst(dnat).unwrap();
        frame.set_src(snat).unwrap();
        let rewritten = frame.flow_key().unwrap();
        prop_assert_eq!(rewritten.src_endpoint(), SocketAddr::V4(snat));
        // ICMP echo has one identifier for both "ports": the last write wins.
        let dst_port = if matches!(spec.transport, Transport::Echo { .. }) { snat.port() } else { dnat.port() };
        prop_assert_eq!(rewritten.dst_endpoint(), SocketAddr::V4(SocketAddrV4::new(*dnat.ip(), dst_port)));
        frame.set_src(key.src_endpoint()).unwrap();
        frame.set_dst(key.dst_endpoint()).unwrap();
        prop_assert_eq!(bytes, original);
    }

    #[test]
    fn icmp_error_quote_translation(spec in spec(), quote_extra in 0usize..32, new in endpoint(), rewrite_src in any::<bool>()) {
        // The offending packet, as an IPv4 datagram without Ethernet.
        let inner_frame = build(&Spec { vlan: None, ..spec.clone() });
        let inner = &inner_frame[14..];
        let header_len = usize::from(inner[0] & 0x0f) * 4;
        let quote = &inner[..(header_len + 8 + quote_extra).min(inner.len())];
        let mut bytes = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 9], [2, 0, 0, 0, 0, 8])
            .ipv4([10, 255, 0, 1], spec.src, 64)
            .icmpv4(Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: 1400 }))
            .write(&mut bytes, quote)
            .unwrap();
        let mut frame = Frame::parse(&mut bytes[..]).unwrap();
        let quoted = frame.quoted_flow().expect("quote carries ports");
        let expected_key = Frame::parse(&inner_frame[..]).unwrap().flow_key().unwrap();
        prop_assert_eq!(quoted, expected_key);
        if rewrite_src { frame.set_quoted_src(new).unwrap() } else { frame.set_quoted_dst(new).unwrap() }
        assert_checksums_recomputed(&bytes, false);

        // The quote must now be the head of the same packet built with the
        // new endpoint: addresses, ports, and both inner checksums.
        let mut moved = spec.clone();
        moved.vlan = None;
        let port = new.port();
        if rewrite_src { moved.src = new.ip().octets() } else { moved.dst = new.ip().octets() }
        moved.transport = match spec.transport {
            Transport::Tcp { dst, seq, syn, ack, .. } if rewrite_src => Transport::Tcp { src: port, dst, seq, syn, ack },
            Transport::Tcp { src, seq, syn, ack, .. } => Transport::Tcp { src, dst: port, seq, syn, ack },
            Transport::Udp { dst, zero_checksum, .. } if rewrite_src => Transport::Udp { src: port, dst, zero_checksum },
            Transport::Udp { src, zero_checksum, .. } => Transport::Udp { src, dst: port, zero_checksum },
            Transport::Echo { seq, .. } => Transport::Echo { id: port, seq },
        };
        let expected = build(&moved);
        let quote_start = 14 + 20 + 8;
        // A quote that ends inside the TCP checksum keeps its half: there is
        // no whole field to update.
        let half_checksum = matches!(spec.transport, Transport::Tcp { .. }) && quote.len() == header_len + 17;
        let compared = quote.len() - usize::from(half_checksum);
        prop_assert_eq!(&bytes[quote_start..quote_start + compared], &expected[14..14 + compared]);
    }
}

/// Sets the IPv4 header checksum of an untagged frame, after a test
/// changed its header.
fn fix_ipv4_checksum(bytes: &mut [u8]) {
    let Some(&version_ihl) = bytes.get(14) else {
        return;
    };
    let end = 14 + usize::from(version_ihl & 0x0f) * 4;
    if bytes.len() < end.max(34) {
        return;
    }
    bytes[24..26].fill(0);
    let sum: u32 = bytes[14..end]
        .chunks(2)
        .map(|pair| {
            u32::from(u16::from_be_bytes([
                pair[0],
                pair.get(1).copied().unwrap_or(0),
            ]))
        })
        .sum();
    let folded = (sum & 0xffff) + (sum >> 16);
    let folded = (folded & 0xffff) + (folded >> 16);
    bytes[24..26].copy_from_slice(&(!(folded as u16)).to_be_bytes());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// A peeked flow key is the parsed frame's, whatever one header byte
    /// says (the IPv4 checksum made right again, so that the parse gets
    /// to judge the rest); and plain IPv4 TCP and UDP frames have one.
    #[test]
    fn a_peeked_flow_key_is_the_parsed_one(spec in spec(), at in 0usize..40, value in any::<u8>()) {
        let mut bytes = build(&spec);
        let plain = spec.vlan.is_none()
            && spec.options.is_empty()
            && !matches!(spec.transport, Transport::Echo { .. });
        prop_assert_eq!(FlowKey::peek(&bytes).is_some(), plain);
        if let Some(byte) = bytes.get_mut(at) {
            *byte = value;
        }
        fix_ipv4_checksum(&mut bytes);
        if let (Some(peeked), Ok(frame)) = (FlowKey::peek(&bytes), Frame::parse(&bytes[..])) {
            prop_assert_eq!(frame.flow_key(), Some(peeked));
        }
    }
}
