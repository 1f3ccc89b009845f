//! `ReverseProxy::handle_frame` for established flows and for new ones
//! (IPv4, and established IPv6 flows beside them), and
//! the stages an established packet goes through, each timed alone so the
//! report can give each stage's share; and the stats snapshot `/stats`
//! takes.

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use lb_engine::{Engine, Observe, ReverseProxy, SessionSettings, Verdict};
use lb_packet::{
    EthernetRepr, FlowKey, Frame, FrameRepr, HashKey, Ipv6Repr, MacAddr, TcpFlags, TcpRepr,
};
use lb_session::{SessionConfig, SessionTable};

mod common;
use common::{FRONTEND, client_frame, engine, engine_of, engine_with};

/// Established flows the benchmark cycles through.
const FLOWS: u32 = 1024;

/// The same service on an IPv6 VIP, to IPv6 backends.
fn engine_v6() -> ReverseProxy {
    engine_of(
        r#"
        [[service]]
        vip = "fd0d::1"
        port = 80
        proto = "tcp"
        [[service.backend]]
        ip = "fd01::2"
        port = 8080
        [[service.backend]]
        ip = "fd01::3"
        port = 8080
        "#,
        SessionSettings {
            capacity: 1 << 16,
            ..SessionSettings::default()
        },
    )
}

/// Client `n`'s segment to the IPv6 VIP: 74 bytes.
fn client_frame_v6(n: u32, flags: u8) -> Vec<u8> {
    let (client, lb) = (MacAddr([2, 0, 0, 0, 0, 2]), MacAddr([2, 0, 0, 0, 0, 1]));
    FrameRepr::ipv6(
        EthernetRepr::new(client, lb),
        Ipv6Repr::new(
            Ipv6Addr::from(0xfd00_u128 << 112 | u128::from(n)),
            Ipv6Addr::new(0xfd0d, 0, 0, 0, 0, 0, 0, 1),
        ),
        TcpRepr::new(1024 + (n % 60000) as u16, 80, TcpFlags::from_bits(flags)),
        b"",
    )
    .to_vec()
    .unwrap()
}

/// Established flows cycled through as `established` does, after their
/// SYNs made sessions: `frame(n, flags)` builds client `n`'s segment.
fn established(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    mut lb: ReverseProxy,
    frame: impl Fn(u32, u8) -> Vec<u8>,
) {
    let now = Instant::now();
    for n in 0..FLOWS {
        let mut syn = frame(n, 0x02);
        assert!(matches!(
            lb.handle_frame(now, FRONTEND, &mut syn),
            Verdict::Forward(_)
        ));
    }
    let originals: Vec<Vec<u8>> = (0..FLOWS).map(|n| frame(n, 0x10)).collect();
    let mut buffers = originals.clone();
    // Every iteration starts from a fresh copy, as a datapath hands over
    // fresh frames; the copy alone is the first stage below.
    let mut next = 0;
    group.bench_function(name, |b| {
        b.iter(|| {
            next = (next + 1) % originals.len();
            buffers[next].copy_from_slice(&originals[next]);
            lb.handle_frame(now, FRONTEND, black_box(&mut buffers[next]))
        })
    });
}

fn handle_frame(c: &mut Criterion) {
    let now = Instant::now();
    let mut group = c.benchmark_group("rp_handle_frame");
    established(&mut group, "established", engine(1 << 16), client_frame);
    established(&mut group, "established_ipv6", engine_v6(), client_frame_v6);

    // New flows: a fresh 5-tuple every time, into a table with room that
    // grows from empty (its index rehashes as it goes).
    group.bench_function("new_flow", |b| {
        b.iter_custom(|iterations| {
            let mut lb = engine((iterations as usize + 1).next_power_of_two().max(1 << 10));
            let frames: Vec<Vec<u8>> = (0..iterations.min(1 << 20) as u32)
                .map(|n| client_frame(n, 0x02))
                .collect();
            let mut buffer = frames[0].clone();
            let start = Instant::now();
            for i in 0..iterations as usize {
                buffer.copy_from_slice(&frames[i % frames.len()]);
                black_box(lb.handle_frame(
                    now + Duration::from_nanos(i as u64),
                    FRONTEND,
                    &mut buffer,
                ));
            }
            start.elapsed()
        })
    });

    // New flows in a running LB: the table is full (64K half-open
    // sessions), so each new flow also evicts the oldest half-open one, as
    // expiry would free one in a steady state. No growth of the index.
    const FULL: u32 = 1 << 16;
    const FRESH: u32 = 1 << 18;
    let mut lb = engine(FULL as usize);
    for n in 0..FULL {
        black_box(lb.handle_frame(now, FRONTEND, &mut client_frame(n, 0x02)));
    }
    let fresh: Vec<u8> = (FULL..FULL + FRESH)
        .flat_map(|n| client_frame(n, 0x02))
        .collect();
    let mut buffer = [0u8; 64];
    let mut next = 0;
    group.bench_function("new_flow_evicting", |b| {
        b.iter(|| {
            // A flow comes back only after 2^18 others evicted it.
            next = (next + 1) % FRESH as usize;
            buffer.copy_from_slice(&fresh[next * 64..(next + 1) * 64]);
            lb.handle_frame(now, FRONTEND, black_box(&mut buffer))
        })
    });
    group.finish();
}

/// The stages of an established packet, timed alone on the same frames.
fn stages(c: &mut Criterion) {
    let now = Instant::now();
    let originals: Vec<Vec<u8>> = (0..FLOWS).map(|n| client_frame(n, 0x10)).collect();
    let mut buffers = originals.clone();
    let keys: Vec<FlowKey> = originals
        .iter()
        .map(|f| Frame::parse(&f[..]).unwrap().flow_key().unwrap())
        .collect();
    let mut table = SessionTable::new(SessionConfig {
        capacity: 1 << 16,
        hash_key: Some(HashKey([1; 16])),
        unassured_percent: 100,
        ..SessionConfig::default()
    })
    .unwrap();
    for key in &keys {
        let reverse = FlowKey {
            src: Ipv4Addr::new(192, 168, 1, 2).into(),
            src_port: 8080,
            ..key.reversed()
        };
        table
            .insert(now, *key, reverse, None::<TcpFlags>, [0u64; 3])
            .unwrap();
    }
    let backend = SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, 2), 8080);
    let mut group = c.benchmark_group("rp_established_stages");
    let mut next = 0;
    group.bench_function("1_copy_frame", |b| {
        b.iter(|| {
            next = (next + 1) % originals.len();
            buffers[next].copy_from_slice(black_box(&originals[next]));
        })
    });
    group.bench_function("2_parse_and_flow_key", |b| {
        b.iter(|| {
            next = (next + 1) % originals.len();
            Frame::parse(black_box(&originals[next][..]))
                .ok()
                .and_then(|f| f.flow_key())
        })
    });
    group.bench_function("3_session_lookup", |b| {
        b.iter(|| {
            next = (next + 1) % keys.len();
            table
                .lookup(now, black_box(&keys[next]), None::<TcpFlags>)
                .map(|hit| hit.value[0])
        })
    });
    group.bench_function("4_dnat_rewrite", |b| {
        let mut frame = Frame::parse(&mut buffers[0][..]).unwrap();
        b.iter(|| frame.set_dst(black_box(backend)))
    });
    group.finish();
}

/// A snapshot of every counter with 250,000 sessions in the table, as the
/// admin endpoint's `/stats` takes on the packet thread.
fn stats(c: &mut Criterion) {
    let now = Instant::now();
    let mut lb = engine_with(SessionSettings {
        capacity: 1 << 18,
        unassured_percent: 100,
        ..SessionSettings::default()
    });
    for n in 0..250_000 {
        black_box(lb.handle_frame(now, FRONTEND, &mut client_frame(n, 0x02)));
    }
    assert_eq!(lb.stats(now).sessions, 250_000);
    c.bench_function("observe/stats_250k_sessions", |b| {
        b.iter(|| black_box(lb.stats(now)))
    });
}

criterion_group!(benches, handle_frame, stages, stats);
criterion_main!(benches);
