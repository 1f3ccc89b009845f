//! Offloaded frames: TCP super-frames and partial checksums, as a tap or
//! packet socket with virtio-net headers hands them over, rewritten in
//! place and then finished in software (segmented, checksums completed).
//!
//! The property: rewriting a super-frame once and segmenting the result
//! gives exactly the segments that segmenting first and rewriting each
//! segment (with full checksums) gives; and every segment's checksums equal
//! etherparse's full recomputation.

mod common;

use common::{apply, assert_checksums_recomputed, op};
use etherparse::{NetHeaders, PacketBuilder, PacketHeaders, TransportHeader};
use lb_packet::{
    ChecksumOffload, Frame, Gso, GsoKind, Offload, ParseError, SegmentError, WireSize, segment,
};
use proptest::prelude::*;

/// Ethernet, IPv4 (no options) and the TCP header without options.
const IPV4_L4: usize = 14 + 20;
const IPV6_L4: usize = 14 + 40;

#[derive(Debug, Clone)]
struct SuperFrame {
    ipv6: bool,
    src: [u8; 16],
    dst: [u8; 16],
    ports: (u16, u16),
    seq: u32,
    flags: (bool, bool, bool, bool),
    /// TCP options: a timestamp option, as Linux sends, or none.
    timestamps: Option<(u32, u32)>,
    payload: Vec<u8>,
    mss: u16,
}

fn super_frame(ipv6: bool) -> impl Strategy<Value = SuperFrame> {
    (
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        any::<(u16, u16)>(),
        any::<u32>(),
        any::<(bool, bool, bool, bool)>(),
        proptest::option::of(any::<(u32, u32)>()),
        proptest::collection::vec(any::<u8>(), 0..20_000),
        64u16..3000,
    )
        .prop_map(
            move |(src, dst, ports, seq, flags, timestamps, payload, mss)| SuperFrame {
                ipv6,
                src,
                dst,
                ports,
                seq,
                flags,
                timestamps,
                payload,
                mss,
            },
        )
}

/// One's-complement sum of big-endian words, folded.
fn fold_sum(words: impl IntoIterator<Item = u32>) -> u16 {
    let mut total: u64 = words.into_iter().map(u64::from).sum();
    while total > 0xffff {
        total = (total & 0xffff) + (total >> 16);
    }
    total as u16
}

fn words(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
}

/// The frame with full checksums, as etherparse builds it, and its offload.
fn build(spec: &SuperFrame) -> (Vec<u8>, Offload) {
    let ethernet = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let ip = if spec.ipv6 {
        ethernet.ipv6(spec.src, spec.dst, 64)
    } else {
        let (src, dst) = (&spec.src[..4], &spec.dst[..4]);
        ethernet.ipv4(src.try_into().unwrap(), dst.try_into().unwrap(), 64)
    };
    let mut tcp = ip.tcp(spec.ports.0, spec.ports.1, spec.seq, 502).ack(7);
    let (fin, psh, cwr, ece) = spec.flags;
    if fin {
        tcp = tcp.fin();
    }
    if psh {
        tcp = tcp.psh();
    }
    if cwr {
        tcp = tcp.cwr();
    }
    if ece {
        tcp = tcp.ece();
    }
    if let Some((value, echo)) = spec.timestamps {
        use etherparse::TcpOptionElement::{Noop, Timestamp};
        tcp = tcp.options(&[Noop, Noop, Timestamp(value, echo)]).unwrap();
    }
    let mut bytes = Vec::new();
    tcp.write(&mut bytes, &spec.payload).unwrap();
    let l4 = if spec.ipv6 { IPV6_L4 } else { IPV4_L4 };
    let offload = Offload {
        checksum: ChecksumOffload::Partial {
            start: l4 as u16,
            offset: 16,
        },
        gso: Some(Gso {
            kind: if spec.ipv6 {
                GsoKind::Tcp6
            } else {
                GsoKind::Tcp4
            },
            size: spec.mss,
            header_len: 0,
            ecn: cwr,
        }),
    };
    (bytes, offload)
}

/// The frame as the kernel hands it over with TSO: the TCP checksum field
/// holds the folded pseudo-header sum, not complemented.
fn make_partial(bytes: &mut [u8], ipv6: bool) {
    let (l4, addrs) = if ipv6 {
        (IPV6_L4, &bytes[22..54])
    } else {
        (IPV4_L4, &bytes[26..34])
    };
    let tcp_len = (bytes.len() - l4) as u32;
    let partial = fold_sum(words(addrs).chain([6, tcp_len]));
    bytes[l4 + 16..l4 + 18].copy_from_slice(&partial.to_be_bytes());
}

fn segments(bytes: &[u8], offload: &Offload) -> Vec<Vec<u8>> {
    let mut scratch = vec![0u8; 65_536];
    let mut out = Vec::new();
    segment(bytes, offload, &mut scratch, |frame| {
        out.push(frame.to_vec())
    })
    .unwrap();
    out
}

/// TCP checksum of an IPv6 segment, by etherparse.
fn assert_ipv6_checksum(bytes: &[u8]) {
    let headers = PacketHeaders::from_ethernet_slice(bytes).unwrap();
    let (Some(NetHeaders::Ipv6(ip, _)), Some(TransportHeader::Tcp(tcp))) =
        (&headers.net, &headers.transport)
    else {
        panic!("not TCP over IPv6")
    };
    let payload = headers.payload.slice();
    assert_eq!(tcp.checksum, tcp.calc_checksum_ipv6(ip, payload).unwrap());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn rewriting_a_super_frame_equals_rewriting_each_segment(
        spec in super_frame(false),
        ops in proptest::collection::vec(op(), 1..6),
    ) {
        let (mut bytes, offload) = build(&spec);
        make_partial(&mut bytes, false);

        let mut rewritten = bytes.clone();
        let mut frame = Frame::parse_offloaded(&mut rewritten[..], offload).unwrap();
        for op in &ops {
            apply(&mut frame, op);
        }
        prop_assert_eq!(frame.offload(), offload);
        let ours = segments(&rewritten, &offload);

        let mut reference = segments(&bytes, &offload);
        for segment in &mut reference {
            let mut frame = Frame::parse(&mut segment[..]).unwrap();
            for op in &ops {
                apply(&mut frame, op);
            }
        }
        prop_assert_eq!(&ours, &reference);
        let expected = spec.payload.len().div_ceil(usize::from(spec.mss)).max(1);
        prop_assert_eq!(ours.len(), expected);
        let parsed = Frame::parse_offloaded(&rewritten[..], offload).unwrap();
        let bytes_on_wire: usize = ours.iter().map(Vec::len).sum();
        prop_assert_eq!(parsed.wire_size(), WireSize { packets: expected as u32, bytes: bytes_on_wire as u64 });
        for segment in &ours {
            assert_checksums_recomputed(segment, false);
        }
    }

    #[test]
    fn segments_carry_the_stream_in_order(spec in super_frame(false)) {
        let (mut bytes, offload) = build(&spec);
        make_partial(&mut bytes, false);
        let out = segments(&bytes, &offload);
        let mut payload = Vec::new();
        let (fin, psh, cwr, _) = spec.flags;
        for (index, segment) in out.iter().enumerate() {
            let headers = PacketHeaders::from_ethernet_slice(segment).unwrap();
            let Some(NetHeaders::Ipv4(ip, _)) = &headers.net else { panic!("IPv4") };
            let Some(TransportHeader::Tcp(tcp)) = &headers.transport else { panic!("TCP") };
            let last = index + 1 == out.len();
            prop_assert_eq!(tcp.sequence_number, spec.seq.wrapping_add(payload.len() as u32));
            prop_assert_eq!((tcp.fin, tcp.psh, tcp.cwr), (fin && last, psh && last, cwr && index == 0));
            prop_assert_eq!(ip.identification, (index as u16).wrapping_add(0));
            prop_assert!(headers.payload.slice().len() <= usize::from(spec.mss));
            payload.extend_from_slice(headers.payload.slice());
        }
        prop_assert_eq!(payload, spec.payload);
    }

    #[test]
    fn ipv6_super_frames_segment_with_valid_checksums(spec in super_frame(true)) {
        let (mut bytes, offload) = build(&spec);
        make_partial(&mut bytes, true);
        let out = segments(&bytes, &offload);
        prop_assert_eq!(out.len(), spec.payload.len().div_ceil(usize::from(spec.mss)).max(1));
        let mut payload = Vec::new();
        for segment in &out {
            assert_ipv6_checksum(segment);
            payload.extend_from_slice(&segment[IPV6_L4 + 20 + if spec.timestamps.is_some() { 12 } else { 0 }..]);
        }
        prop_assert_eq!(payload, spec.payload);
    }

    /// A frame with only its checksum partial (TCP or UDP, any size): the
    /// rewrites then completion give the rewrites of the complete frame.
    #[test]
    fn completing_a_partial_checksum_after_rewrites(
        spec in super_frame(false),
        udp in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..6),
    ) {
        let payload = &spec.payload[..spec.payload.len().min(1400)];
        let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(spec.src[..4].try_into().unwrap(), spec.dst[..4].try_into().unwrap(), 64);
        let mut complete = Vec::new();
        let offset = if udp {
            builder.udp(spec.ports.0, spec.ports.1).write(&mut complete, payload).unwrap();
            6
        } else {
            builder.tcp(spec.ports.0, spec.ports.1, spec.seq, 100).write(&mut complete, payload).unwrap();
            16
        };
        let protocol = if udp { 17 } else { 6 };
        let mut partial = complete.clone();
        let pseudo = fold_sum(words(&partial[26..34]).chain([protocol, (partial.len() - IPV4_L4) as u32]));
        partial[IPV4_L4 + offset..IPV4_L4 + offset + 2].copy_from_slice(&pseudo.to_be_bytes());
        let offload = Offload {
            checksum: ChecksumOffload::Partial { start: IPV4_L4 as u16, offset: offset as u16 },
            gso: None,
        };
        let mut frame = Frame::parse_offloaded(&mut partial[..], offload).unwrap();
        prop_assert_eq!(frame.l4_checksum_valid(), None);
        let mut reference = Frame::parse(&mut complete[..]).unwrap();
        for op in &ops {
            apply(&mut frame, op);
            apply(&mut reference, op);
        }
        let finished = segments(&partial, &offload);
        prop_assert_eq!(finished.len(), 1);
        assert_checksums_recomputed(&finished[0], false);
        prop_assert_eq!(&finished[0], &complete);
    }
}

#[test]
fn offload_metadata_must_fit_the_frame() {
    let spec = SuperFrame {
        ipv6: false,
        src: [10; 16],
        dst: [20; 16],
        ports: (40000, 80),
        seq: 1,
        flags: (false, true, false, false),
        timestamps: None,
        payload: vec![7; 3000],
        mss: 1448,
    };
    let (mut bytes, offload) = build(&spec);
    make_partial(&mut bytes, false);
    // The partial checksum must be TCP's, at the TCP header.
    let mut elsewhere = offload;
    elsewhere.checksum = ChecksumOffload::Partial {
        start: IPV4_L4 as u16,
        offset: 6,
    };
    assert_eq!(
        Frame::parse_offloaded(&bytes[..], elsewhere).err(),
        Some(ParseError::OffloadMismatch)
    );
    let mut scratch = vec![0u8; 65_536];
    assert_eq!(
        segment(&bytes, &elsewhere, &mut scratch, |_| {}),
        Err(SegmentError::Mismatch)
    );
    // IPv6 segmentation of an IPv4 frame.
    let mut wrong_family = offload;
    wrong_family.gso = offload.gso.map(|gso| Gso {
        kind: GsoKind::Tcp6,
        ..gso
    });
    assert_eq!(
        segment(&bytes, &wrong_family, &mut scratch, |_| {}),
        Err(SegmentError::Mismatch)
    );
    // A scratch buffer smaller than one segment.
    assert_eq!(
        segment(&bytes, &offload, &mut scratch[..100], |_| {}),
        Err(SegmentError::ScratchTooSmall {
            needed: IPV4_L4 + 20 + 1448,
            available: 100
        })
    );
    // A super-frame's checksum is completed per segment, never whole.
    let mut frame = Frame::parse_offloaded(&mut bytes[..], offload).unwrap();
    assert_eq!(
        frame.recompute_l4_checksum(),
        Err(lb_packet::RewriteError::SuperFrame)
    );
}
