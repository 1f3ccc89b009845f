//! Offloaded frames through the reverse proxy, as a datapath with
//! virtio-net headers hands them over: a TCP super-frame with a partial
//! checksum is translated once, keeps its offload, and segments into
//! exactly the segments of the translated flow, each checksum right; the
//! counters count the packets it is on the wire.

mod common;

use std::time::Instant;

use common::rp::{BACKENDS, FRONTEND, IN, OUT, backend, client, engine, vip};
use common::{ep, tcp};
use lb_engine::{DropReason, Engine, Observe, Verdict};
use lb_packet::{ChecksumOffload, Frame, Gso, GsoKind, Offload, segment};

/// Ethernet and IPv4 headers, no options: where TCP starts.
const L4: usize = 34;
const MSS: u16 = 1448;

/// `bytes` (full checksums) as the kernel hands it over with TSO: the TCP
/// checksum field holds the folded pseudo-header sum, not complemented.
fn as_super_frame(mut bytes: Vec<u8>) -> (Vec<u8>, Offload) {
    let mut sum: u32 = bytes[26..34]
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    sum += 6 + (bytes.len() - L4) as u32;
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    bytes[L4 + 16..L4 + 18].copy_from_slice(&(sum as u16).to_be_bytes());
    let offload = Offload {
        checksum: ChecksumOffload::Partial {
            start: L4 as u16,
            offset: 16,
        },
        gso: Some(Gso {
            kind: GsoKind::Tcp4,
            size: MSS,
            header_len: 66,
            ecn: false,
        }),
    };
    (bytes, offload)
}

fn segments(bytes: &[u8], offload: &Offload) -> Vec<Vec<u8>> {
    let mut scratch = vec![0u8; 65_536];
    let mut out = Vec::new();
    segment(bytes, offload, &mut scratch, |s| out.push(s.to_vec())).unwrap();
    out
}

#[test]
fn a_super_frame_is_translated_once_and_counted_per_segment() {
    let (mut lb, now) = (engine(), Instant::now());
    let (c, v, b) = (ep(client(), 40000), ep(vip(), 80), ep(backend(), 8080));
    let mut syn = tcp(IN, c, v, "S", b"");
    assert_eq!(
        lb.handle_frame(now, FRONTEND, &mut syn),
        Verdict::Forward(BACKENDS)
    );

    let payload: Vec<u8> = (0..10_000u32).map(|n| (n % 251) as u8).collect();
    let (mut frame, mut offload) = as_super_frame(tcp(IN, c, v, "AP", &payload));
    let before = offload;
    let verdict = lb.handle_offloaded(now, FRONTEND, &mut frame, &mut offload);
    assert_eq!(verdict, Verdict::Forward(BACKENDS));
    assert_eq!(offload, before, "the offload goes on with the frame");

    // What the backend must receive: the translated flow, built whole by
    // etherparse and segmented the same way.
    let (expected, _) = as_super_frame(tcp(IN, c, b, "AP", &payload));
    let ours = segments(&frame, &offload);
    assert_eq!(ours, segments(&expected, &offload));
    assert_eq!(ours.len(), 7, "10,000 bytes in segments of {MSS}");
    for s in &ours {
        assert_eq!(
            Frame::parse(&s[..]).unwrap().l4_checksum_valid(),
            Some(true)
        );
    }

    // The backend's super-frame back: reverse NAT, offload kept.
    let (mut reply, mut offload) = as_super_frame(tcp(OUT, b, c, "A", &payload[..5000]));
    assert_eq!(
        lb.handle_offloaded(now, BACKENDS, &mut reply, &mut offload),
        Verdict::Forward(FRONTEND)
    );
    let (expected, _) = as_super_frame(tcp(OUT, v, c, "A", &payload[..5000]));
    assert_eq!(segments(&reply, &offload), segments(&expected, &offload));

    // SYN, 7 segments in, 4 segments back: packets and wire bytes.
    let stats = lb.stats(now);
    let wire = |frames: &[Vec<u8>]| frames.iter().map(Vec::len).sum::<usize>() as u64;
    let expected_bytes = syn.len() as u64 + wire(&ours) + wire(&segments(&reply, &offload));
    assert_eq!(stats.traffic.frames_in, 1 + 7 + 4);
    assert_eq!(stats.traffic.forwarded, 1 + 7 + 4);
    assert_eq!(stats.traffic.bytes_in, expected_bytes);
    let service = stats
        .services
        .iter()
        .find(|s| s.name.ends_with(":80/tcp"))
        .unwrap();
    assert_eq!(
        (service.counters.packets, service.counters.bytes),
        (12, expected_bytes)
    );
}

#[test]
fn offload_metadata_that_does_not_fit_the_frame_is_dropped_as_malformed() {
    let (mut lb, now) = (engine(), Instant::now());
    let (c, v) = (ep(client(), 40001), ep(vip(), 80));
    let (mut frame, mut offload) = as_super_frame(tcp(IN, c, v, "S", &[1; 3000]));
    // The checksum said to be UDP's, in a TCP frame.
    offload.checksum = ChecksumOffload::Partial {
        start: L4 as u16,
        offset: 6,
    };
    assert_eq!(
        lb.handle_offloaded(now, FRONTEND, &mut frame, &mut offload),
        Verdict::Drop(DropReason::Malformed)
    );
}
