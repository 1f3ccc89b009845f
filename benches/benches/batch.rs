//! The reverse proxy's established path as live sessions grow from a
//! thousand to a million, frames drawn uniformly from all of them: frame by
//! frame (`handle_frame`) beside batches (`handle_batch`, which hashes and
//! prefetches every frame's session first) of several sizes. Each figure is
//! per frame, the writing of the frame into its buffer included, as a
//! datapath hands over fresh frames.

use std::hint::black_box;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use lb_engine::{Engine, RxBatch, SessionSettings, Verdict};

mod common;
use common::{FRONTEND, client_frame, engine_with};

/// Bytes of each frame.
const FRAME: usize = 64;

/// A sequence of flows drawn uniformly from `flows` (a fixed-seed LCG).
fn uniform(flows: u32, count: usize) -> Vec<u32> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..count)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) % u64::from(flows)) as u32
        })
        .collect()
}

/// Where client frames differ from one another: the IPv4 checksum and
/// source address, the source port, the TCP checksum.
const VARYING: [core::ops::Range<usize>; 3] = [24..30, 34..36, 50..52];
const VARYING_LEN: usize = 10;

/// Client frames in the order they arrive, uniformly drawn from `flows`,
/// each written from a template and its varying bytes: a datapath hands
/// over frames fresh in cache, and the varying bytes, read one after
/// another, cost the harness a line every six frames where whole frames
/// drawn from a million would cost it a cache miss each.
struct Arrivals {
    template: [u8; FRAME],
    varying: Vec<[u8; VARYING_LEN]>,
}

impl Arrivals {
    fn new(flows: u32) -> Self {
        let template: [u8; FRAME] = client_frame(0, 0x10)[..FRAME].try_into().unwrap();
        let of_flow: Vec<[u8; VARYING_LEN]> = (0..flows)
            .map(|n| {
                let frame = client_frame(n, 0x10);
                let bytes: Vec<u8> = VARYING
                    .iter()
                    .flat_map(|range| &frame[range.clone()])
                    .copied()
                    .collect();
                bytes.try_into().unwrap()
            })
            .collect();
        for n in [1, flows - 1] {
            let mut stamped = [0; FRAME];
            stamp(&template, &of_flow[n as usize], &mut stamped);
            assert_eq!(stamped[..], client_frame(n, 0x10)[..FRAME]);
        }
        let varying = uniform(flows, 1 << 20)
            .into_iter()
            .map(|n| of_flow[n as usize])
            .collect();
        Arrivals { template, varying }
    }

    fn len(&self) -> usize {
        self.varying.len()
    }

    /// Writes arrival `index` into `buffer`.
    #[inline]
    fn write(&self, index: usize, buffer: &mut [u8]) {
        stamp(&self.template, &self.varying[index], buffer);
    }
}

/// `template` with `varying` written over it, into `buffer`.
#[inline]
fn stamp(template: &[u8; FRAME], mut varying: &[u8], buffer: &mut [u8]) {
    buffer[..FRAME].copy_from_slice(template);
    for range in VARYING {
        let (bytes, rest) = varying.split_at(range.len());
        buffer[range].copy_from_slice(bytes);
        varying = rest;
    }
}

fn established(c: &mut Criterion) {
    let now = Instant::now();
    for (name, flows) in [("1K", 1u32 << 10), ("64K", 1 << 16), ("1M", 1 << 20)] {
        // Every benchmark flow is half-open: let them fill the table.
        let mut lb = engine_with(SessionSettings {
            capacity: flows as usize,
            unassured_percent: 100,
            ..SessionSettings::default()
        });
        for n in 0..flows {
            let verdict = lb.handle_frame(now, FRONTEND, &mut client_frame(n, 0x02));
            assert!(matches!(verdict, Verdict::Forward(_)));
        }
        let arrivals = Arrivals::new(flows);
        let mut group = c.benchmark_group(format!("rp_established_{name}_sessions"));
        let mut next = 0;
        group.bench_function("per_frame", |b| {
            let mut buffer = [0u8; FRAME];
            b.iter(|| {
                next = (next + 1) % arrivals.len();
                arrivals.write(next, &mut buffer);
                lb.handle_frame(now, FRONTEND, black_box(&mut buffer))
            })
        });
        for size in [8usize, 32, 64] {
            let mut batch = RxBatch::new(size, 2048);
            let mut verdicts = Vec::with_capacity(size);
            let mut next = 0;
            let id = BenchmarkId::new("batch", size);
            group.bench_function(id, |b| {
                b.iter_custom(|frames_wanted| {
                    let batches = frames_wanted.div_ceil(size as u64);
                    let start = Instant::now();
                    for _ in 0..batches {
                        batch.clear();
                        for _ in 0..size {
                            next = (next + 1) % arrivals.len();
                            arrivals.write(next, batch.free_buffer().unwrap());
                            batch.commit(FRONTEND, FRAME);
                        }
                        lb.handle_batch(now, &mut batch, &mut verdicts);
                        black_box(&verdicts);
                    }
                    // Per frame, as the per-frame figure.
                    start.elapsed() * frames_wanted as u32 / (batches * size as u64) as u32
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, established);
criterion_main!(benches);
