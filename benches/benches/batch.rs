//! The reverse proxy's established path as live sessions grow from a
//! thousand to a million, frames drawn uniformly from all of them: frame by
//! frame (`handle_frame`) beside batches (`handle_batch`, which hashes and
//! prefetches every frame's session first) of several sizes. Each figure is
//! per frame, the copy of the frame into its buffer included, as a datapath
//! hands over fresh frames.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use lb_engine::{
    Engine, PortId, ReverseProxy, ReverseProxyConfig, RxBatch, SessionSettings, Verdict,
};
use lb_packet::{EthernetRepr, FrameRepr, Ipv4Repr, MacAddr, TcpFlags, TcpRepr};

const FRONTEND: PortId = PortId(0);
const FRAME: usize = 64;

/// A reverse proxy with one service and room for `sessions`, all of which
/// may be half-open (the benchmark's flows only ever send a SYN and ACKs).
fn engine(sessions: usize) -> ReverseProxy {
    let mut config: ReverseProxyConfig = toml::from_str(
        r#"
        [[service]]
        vip = "10.0.0.1"
        port = 80
        proto = "tcp"
        [[service.backend]]
        ip = "192.168.1.2"
        port = 8080
        [[service.backend]]
        ip = "192.168.1.3"
        port = 8080
        "#,
    )
    .unwrap();
    config.sessions = SessionSettings {
        capacity: sessions,
        unassured_percent: 100,
        ..SessionSettings::default()
    };
    ReverseProxy::new(vec![None], &config).unwrap()
}

/// Client `n`'s 64-byte TCP segment to the VIP.
fn client_frame(n: u32, flags: u8) -> [u8; FRAME] {
    let (client, lb) = (MacAddr([2, 0, 0, 0, 0, 2]), MacAddr([2, 0, 0, 0, 0, 1]));
    let bytes = FrameRepr::ipv4(
        EthernetRepr::new(client, lb),
        Ipv4Repr::new(Ipv4Addr::from(0x0a00_0000 + n), Ipv4Addr::new(10, 0, 0, 1)),
        TcpRepr::new(1024 + (n % 60000) as u16, 80, TcpFlags::from_bits(flags)),
        b"",
    )
    .to_vec()
    .unwrap();
    let mut frame = [0; FRAME];
    frame[..bytes.len()].copy_from_slice(&bytes);
    frame
}

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

fn established(c: &mut Criterion) {
    let now = Instant::now();
    for (name, flows) in [("1K", 1u32 << 10), ("64K", 1 << 16), ("1M", 1 << 20)] {
        let mut lb = engine(flows as usize);
        for n in 0..flows {
            let verdict = lb.handle_frame(now, FRONTEND, &mut client_frame(n, 0x02));
            assert!(matches!(verdict, Verdict::Forward(_)));
        }
        let frames: Vec<[u8; FRAME]> = (0..flows).map(|n| client_frame(n, 0x10)).collect();
        let order = uniform(flows, 1 << 20);
        let mut group = c.benchmark_group(format!("rp_established_{name}_sessions"));
        let mut next = 0;
        group.bench_function("per_frame", |b| {
            let mut buffer = [0u8; FRAME];
            b.iter(|| {
                next = (next + 1) % order.len();
                buffer.copy_from_slice(&frames[order[next] as usize]);
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
                            next = (next + 1) % order.len();
                            let frame = &frames[order[next] as usize];
                            batch.free_buffer().unwrap()[..FRAME].copy_from_slice(frame);
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
