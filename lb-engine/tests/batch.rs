//! `handle_batch` decides exactly as `handle_frame` frame by frame: the
//! same verdicts, the same bytes out, the same frames originated, the same
//! counters and sessions, whatever the frames and wherever the batches
//! split. Frame sequences come from the committed engine fuzz corpus and
//! from a generator of clients, backends and everything in between.

mod common;

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use common::*;
use lb_engine::fuzzing::{
    fuzz_direct_return, fuzz_nat_proxy, fuzz_reverse_proxy, fuzz_rewriting_proxy, records,
};
use lb_engine::{Engine, Observe, PortId, RxBatch, SessionFilter};
use lb_packet::MacAddr;
use proptest::prelude::*;

const LB_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xaa]);
/// Frames are cut to this length, in both paths alike.
const FRAME_SIZE: usize = 9018;

/// Drives one engine frame by frame and a twin in batches of `sizes`
/// (cycled), and asserts they agree at every step.
fn agree<E: Engine + Observe>(make: impl Fn() -> E, frames: &[(u8, u8, &[u8])], sizes: &[usize]) {
    let (mut single, mut batched) = (make(), make());
    let ports = u16::try_from(single.port_count()).unwrap();
    let mut batch = RxBatch::new(64, FRAME_SIZE);
    let mut verdicts = Vec::new();
    let mut now = Instant::now();
    let mut rest = frames;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(size.clamp(1, 64).min(rest.len()));
        rest = tail;
        now += Duration::from_millis(u64::from(chunk[0].1) * 40);
        batch.clear();
        let mut expected = Vec::new();
        for &(port, _, bytes) in chunk {
            let port = PortId(u16::from(port) % ports);
            let bytes = &bytes[..bytes.len().min(FRAME_SIZE)];
            batch.free_buffer().unwrap()[..bytes.len()].copy_from_slice(bytes);
            batch.commit(port, bytes.len());
            let mut frame = bytes.to_vec();
            let verdict = single.handle_frame(now, port, &mut frame);
            expected.push((verdict, frame));
        }
        batched.handle_batch(now, &mut batch, &mut verdicts);
        assert_eq!(verdicts.len(), expected.len());
        for (index, (verdict, frame)) in expected.iter().enumerate() {
            assert_eq!(verdicts[index], *verdict, "frame {index} of the batch");
            assert_eq!(batch.frame(index).unwrap().1, &frame[..]);
        }
        for engine in [&mut single, &mut batched] {
            if engine.poll_timeout().is_none_or(|deadline| deadline <= now) {
                engine.handle_timeout(now);
            }
        }
        // Probes of several backends leave in the order of a map that is
        // per instance: compared as sets.
        assert_eq!(originated(&mut single), originated(&mut batched));
    }
    assert_eq!(single.stats(now), batched.stats(now));
    let all = SessionFilter::default();
    assert_eq!(
        single.sessions(now, &all, usize::MAX),
        batched.sessions(now, &all, usize::MAX)
    );
}

/// The frames `engine` originates now, with their ports, sorted.
fn originated(engine: &mut impl Engine) -> Vec<(PortId, Vec<u8>)> {
    let mut frames = Vec::new();
    let mut buffer = Vec::new();
    while let Some(port) = engine.poll_transmit(&mut buffer) {
        frames.push((port, buffer.clone()));
    }
    frames.sort();
    frames
}

fn agree_everywhere(frames: &[(u8, u8, &[u8])], sizes: &[usize]) {
    agree(fuzz_reverse_proxy, frames, sizes);
    agree(fuzz_direct_return, frames, sizes);
    agree(fuzz_nat_proxy, frames, sizes);
    agree(fuzz_rewriting_proxy, frames, sizes);
}

#[test]
fn batches_agree_with_single_frames_over_the_fuzz_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/engines");
    let mut inputs = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        // Batch sizes from the input too, so splits fall everywhere.
        let sizes: Vec<usize> = data
            .iter()
            .take(8)
            .map(|&b| usize::from(b % 64) + 1)
            .collect();
        agree_everywhere(
            &records(&data),
            if sizes.is_empty() { &[1] } else { &sizes },
        );
        inputs += 1;
    }
    assert!(inputs > 100, "only {inputs} inputs in {}", dir.display());
}

/// A frame between one of a few clients and the load balancers' VIP
/// 10.0.0.1 (or their backends), in either direction.
fn frame() -> impl Strategy<Value = (u8, u8, Vec<u8>)> {
    let client = (0u8..6).prop_map(|n| ep(ip(10, 0, 0, 50 + n), 40000 + u16::from(n)));
    let backend = prop_oneof![
        Just(ep(ip(192, 168, 1, 2), 8080)),
        Just(ep(ip(192, 168, 1, 3), 8080)),
        Just(ep(ip(192, 168, 1, 2), 5353)),
        Just(ep(ip(10, 0, 0, 2), 80)),
    ];
    let vip = prop_oneof![Just(ep(ip(10, 0, 0, 1), 80)), Just(ep(ip(10, 0, 0, 1), 53))];
    let flags = prop_oneof![
        Just("S"),
        Just("SA"),
        Just("A"),
        Just("FA"),
        Just("R"),
        Just("PA")
    ];
    let bytes = (client, backend, vip, flags, 0u8..6).prop_map(
        |(client, backend, vip, flags, kind): (SocketAddrV4, SocketAddrV4, _, _, _)| {
            let to_lb = (CLIENT_MAC, LB_MAC);
            let from_backend = (BACKEND_MAC, CLIENT_MAC);
            match kind {
                0 => tcp(to_lb, client, vip, flags, b"GET /"),
                1 => udp(to_lb, client, vip, b"query"),
                2 => tcp(from_backend, backend, client, flags, b"200 OK"),
                3 => udp(from_backend, backend, client, b"answer"),
                4 => echo(to_lb, *client.ip(), *vip.ip(), true, 7, 1),
                _ => tcp(
                    to_lb,
                    client,
                    SocketAddrV4::new(ip(10, 0, 0, 1), 22),
                    flags,
                    b"",
                ),
            }
        },
    );
    (0u8..3, prop_oneof![8 => Just(0u8), 1 => 1u8..255], bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn batches_agree_with_single_frames(
        frames in proptest::collection::vec(frame(), 1..300),
        sizes in proptest::collection::vec(1usize..=64, 1..8),
    ) {
        let frames: Vec<(u8, u8, &[u8])> =
            frames.iter().map(|(port, wait, bytes)| (*port, *wait, &bytes[..])).collect();
        agree_everywhere(&frames, &sizes);
    }
}
