//! Fuzz bodies, kept in the library so the one-line targets in `fuzz/` and
//! the stable corpus replay test exercise the same code. Each panics only
//! when a property is broken. Behind the `testing` feature: for fuzzers and
//! tests, not part of the supported API.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::layout::Transport;
use crate::wire::{icmp, ipv4, tcp, udp};
use crate::{Frame, MacAddr, Offload, Protocol, VIRTIO_NET_HDR_LEN, segment};

/// Parses `data` and reads every field; then applies each rewrite that the
/// frame admits and checks the result still parses with the same shape.
pub fn parse(data: &[u8]) {
    let Ok(frame) = Frame::parse(data) else {
        return;
    };
    read_everything(&frame);
    let mut copy = data.to_vec();
    let mut frame = Frame::parse(&mut copy[..]).expect("parse is deterministic");
    let _ = frame.decrement_ttl();
    let _ = frame.make_echo_reply();
    let _ = frame.make_arp_reply(MacAddr([2, 0, 0, 0, 0, 1]));
    let _ = frame.make_neighbor_advertisement(MacAddr([2, 0, 0, 0, 0, 1]));
    let _ = frame.set_quoted_src(SocketAddrV4::new(Ipv4Addr::new(10, 9, 8, 7), 4242));
    let _ = frame.set_quoted_dst(SocketAddrV4::new(Ipv4Addr::new(10, 9, 8, 6), 4243));
    let _ = frame.set_quoted_src(SocketAddrV6::new(
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 7),
        4242,
        0,
        0,
    ));
    let _ = frame.set_quoted_dst(SocketAddrV6::new(
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 6),
        4243,
        0,
        0,
    ));
    let _ = frame.set_src_addr(Ipv4Addr::new(172, 16, 0, 1));
    let _ = frame.set_src_addr(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1));
    let _ = frame.recompute_l4_checksum();
    let reparsed = Frame::parse(frame.as_bytes()).expect("rewrites keep a frame valid");
    assert_eq!(reparsed.ethertype(), frame.ethertype());
    read_everything(&reparsed);
}

fn read_everything<T: AsRef<[u8]>>(frame: &Frame<T>) {
    let _ = (
        frame.dst_mac(),
        frame.src_mac(),
        frame.vlan_id(),
        frame.ethertype(),
        frame.len(),
    );
    if let Some(arp) = frame.arp() {
        let _ = (
            arp.op(),
            arp.sender_mac(),
            arp.sender_ip(),
            arp.target_mac(),
            arp.target_ip(),
        );
    }
    if let Some(ip) = frame.ipv4() {
        let _ = (
            ip.src(),
            ip.dst(),
            ip.protocol(),
            ip.ttl(),
            ip.ident(),
            ip.header_len(),
        );
        let _ = (
            ip.total_len(),
            ip.dont_fragment(),
            ip.is_fragment(),
            ip.fragment_offset(),
        );
    }
    if let Some(ip) = frame.ipv6() {
        let _ = (ip.src(), ip.dst(), ip.next_header(), ip.hop_limit());
        let _ = (ip.payload_len(), ip.traffic_class(), ip.flow_label());
    }
    let _ = (
        frame.flow_key(),
        frame.tcp_flags(),
        frame.icmp(),
        frame.quoted_flow(),
        frame.ip_packet(),
        frame.src_ip(),
        frame.dst_ip(),
    );
    let _ = (
        frame.neighbor_solicitation(),
        frame.neighbor_advertisement(),
    );
    let _ = frame.l4_checksum_valid();
}

/// The first 6 bytes of `data` give a new address and port (an IPv6
/// address ending in the same 4 bytes for an IPv6 frame), the rest is a
/// frame. DNAT and SNAT to that endpoint, then back: the frame must parse
/// after each step, keep its transport checksum's validity, and come back
/// byte for byte (bar the two encodings of a zero checksum).
pub fn rewrite_round_trip(data: &[u8]) {
    let Some((endpoint, frame_bytes)) = data.split_first_chunk::<6>() else {
        return;
    };
    let Ok(original) = Frame::parse(frame_bytes) else {
        return;
    };
    let Some(key) = original.flow_key() else {
        return;
    };
    let v4 = Ipv4Addr::new(endpoint[0], endpoint[1], endpoint[2], endpoint[3]);
    let addr = if key.is_ipv6() {
        IpAddr::V6(Ipv6Addr::from(u128::from(u32::from(v4)) | 0xfd00 << 112))
    } else {
        IpAddr::V4(v4)
    };
    let new = SocketAddr::new(addr, u16::from_be_bytes([endpoint[4], endpoint[5]]));
    let checksum_was_valid = original.l4_checksum_valid();

    let mut bytes = frame_bytes.to_vec();
    let mut frame = Frame::parse(&mut bytes[..]).expect("parse is deterministic");
    frame
        .set_dst(new)
        .expect("a frame with a flow key has ports");
    frame
        .set_src(new)
        .expect("a frame with a flow key has ports");
    let rewritten = Frame::parse(frame.as_bytes()).expect("NAT keeps the IP checksum valid");
    let rewritten_key = rewritten.flow_key().expect("NAT keeps the ports");
    assert_eq!(rewritten_key.dst_endpoint(), new);
    assert_eq!(rewritten_key.src_endpoint(), new);
    // An all-zero ICMP message with checksum 0 (where 0xffff is right: both
    // encode one's-complement zero) is taken by an incremental update for
    // the right one, so it may come out valid. Any other message keeps its
    // validity.
    let all_zero_icmp = key.proto == Protocol::Icmp
        && original
            .ip_layout()
            .is_some_and(|ip| frame_bytes[ip.l4..ip.end].iter().all(|&b| b == 0));
    if !all_zero_icmp {
        assert_eq!(rewritten.l4_checksum_valid(), checksum_was_valid);
    }

    frame.set_dst(key.dst_endpoint()).expect("still has ports");
    frame.set_src(key.src_endpoint()).expect("still has ports");
    assert_eq!(frame.flow_key(), Some(key));
    let checksum_fields = checksum_offsets(&original);
    for (at, (&before, &after)) in frame_bytes.iter().zip(frame.as_bytes()).enumerate() {
        if before != after {
            // 0xffff and 0x0000 both encode one's-complement zero, and an
            // incremental update may settle on the other one (RFC 1624):
            // only a checksum field may differ, and only that way.
            let field = checksum_fields
                .iter()
                .find(|&&field| at == field || at == field + 1);
            let field = field.unwrap_or_else(|| panic!("round trip changed byte {at}"));
            let zero_encodings = [[0xff, 0xff], [0x00, 0x00]];
            assert!(zero_encodings.contains(&[frame_bytes[*field], frame_bytes[*field + 1]]));
            assert!(
                zero_encodings.contains(&[frame.as_bytes()[*field], frame.as_bytes()[*field + 1]])
            );
        }
    }
}

fn checksum_offsets(frame: &Frame<&[u8]>) -> Vec<usize> {
    let Some(ip) = frame.ip_layout() else {
        return Vec::new();
    };
    let mut offsets = Vec::new();
    if !ip.ipv6 {
        offsets.push(frame.layout.l3() + ipv4::CHECKSUM);
    }
    match ip.transport {
        Transport::Tcp => offsets.push(ip.l4 + tcp::CHECKSUM),
        Transport::Udp => offsets.push(ip.l4 + udp::CHECKSUM),
        Transport::IcmpEcho => offsets.push(ip.l4 + icmp::CHECKSUM),
        _ => {}
    }
    offsets
}

/// A frame behind a virtio-net header, as a datapath with offloads reads
/// it: whatever the header claims, parsing with it, rewriting, counting
/// and segmenting in software never panic; a frame that parses keeps its
/// offload through rewrites, and every segment it is cut into parses.
pub fn offloaded(data: &[u8]) {
    let Some((header, frame_bytes)) = data.split_first_chunk::<VIRTIO_NET_HDR_LEN>() else {
        return;
    };
    let Ok(offload) = Offload::from_virtio_header(header) else {
        return;
    };
    let mut bytes = frame_bytes.to_vec();
    let parsed = match Frame::parse_offloaded(&mut bytes[..], offload) {
        Ok(mut frame) => {
            let _ = frame.wire_size();
            let _ = frame.set_dst(SocketAddrV4::new(Ipv4Addr::new(10, 9, 8, 7), 4242));
            let _ = frame.set_src_addr(Ipv4Addr::new(172, 16, 0, 1));
            let _ = frame.set_dst(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 4242, 0, 0));
            let _ = frame.decrement_ttl();
            read_everything(&frame);
            assert_eq!(frame.offload().gso, offload.gso);
            true
        }
        Err(_) => false,
    };
    let mut scratch = vec![0u8; 65_536];
    let _ = segment(&bytes, &offload, &mut scratch, |out| {
        if parsed && offload.gso.is_some() {
            Frame::parse(out).expect("segments of a valid super-frame parse");
        }
    });
}
