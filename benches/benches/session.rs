//! The session table at one million sessions: filling it, lookup hits,
//! inserts into a full table, and the expiry sweep (worst and usual case),
//! each beside `std::collections::HashMap` doing the same work in the same
//! run; bytes per session and the longest single insert.

use std::collections::HashMap;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use lb_packet::{FlowKey, Protocol};
use lb_session::{SessionConfig, SessionTable};

const SESSIONS: u32 = 1_000_000;
/// Flows a lookup benchmark cycles through: the active set of a busy LB.
const HOT: u32 = 4096;

fn flow(n: u32) -> FlowKey {
    FlowKey {
        src: (Ipv4Addr::from(0x0a00_0000 + n)).into(),
        dst: Ipv4Addr::new(10, 255, 0, 1).into(),
        src_port: 1024 + (n % 60_000) as u16,
        dst_port: 80,
        proto: Protocol::Udp,
    }
}

fn reply(forward: FlowKey) -> FlowKey {
    FlowKey {
        src: Ipv4Addr::new(192, 168, 1, 2).into(),
        ..forward.reversed()
    }
}

/// An empty table with room for one million sessions.
fn empty_table() -> SessionTable<[u64; 2]> {
    let config = SessionConfig {
        capacity: SESSIONS as usize,
        // Every benchmark session is unassured; let them fill the table.
        unassured_percent: 100,
        ..SessionConfig::default()
    };
    SessionTable::new(config).unwrap()
}

/// A full table of one million sessions, each with a 16-byte value.
fn full_table(now: Instant) -> SessionTable<[u64; 2]> {
    let mut table = empty_table();
    for n in 0..SESSIONS {
        let forward = flow(n);
        table
            .insert(
                now,
                forward,
                reply(forward),
                None::<lb_packet::TcpFlags>,
                [u64::from(n); 2],
            )
            .unwrap();
    }
    table
}

/// The longest single insert while filling a table from empty (its index
/// grows on the way), and the same for a std map given both keys.
fn worst_inserts(now: Instant) -> (Duration, Duration) {
    let mut table = empty_table();
    let mut map = HashMap::new();
    let (mut worst_table, mut worst_map) = (Duration::ZERO, Duration::ZERO);
    for n in 0..SESSIONS {
        let forward = flow(n);
        let start = Instant::now();
        table
            .insert(
                now,
                forward,
                reply(forward),
                None::<lb_packet::TcpFlags>,
                [0; 2],
            )
            .unwrap();
        worst_table = worst_table.max(start.elapsed());
        let start = Instant::now();
        map.insert(forward, [0; 2]);
        map.insert(reply(forward), [0; 2]);
        worst_map = worst_map.max(start.elapsed());
    }
    (worst_table, worst_map)
}

/// The same sessions in a std map: both keys, as the table indexes both.
fn full_map() -> HashMap<FlowKey, [u64; 2]> {
    filled_map(HashMap::with_capacity(2 * SESSIONS as usize))
}

fn filled_map(mut map: HashMap<FlowKey, [u64; 2]>) -> HashMap<FlowKey, [u64; 2]> {
    for n in 0..SESSIONS {
        map.insert(flow(n), [u64::from(n); 2]);
        map.insert(reply(flow(n)), [u64::from(n); 2]);
    }
    map
}

fn sessions(c: &mut Criterion) {
    let now = Instant::now();
    // Filling from empty: the index grows as it goes (the std map too).
    let (table, map) = worst_inserts(now);
    eprintln!(
        "longest single insert filling 1M sessions: SessionTable {table:?}, std HashMap with both keys {map:?}"
    );
    let mut group = c.benchmark_group("session_fill_1M");
    group.sample_size(10);
    group.bench_function("lb_session_from_empty", |b| b.iter(|| full_table(now)));
    group.bench_function("std_hashmap_from_empty", |b| {
        b.iter(|| filled_map(HashMap::new()))
    });
    group.finish();

    let mut table = full_table(now);
    let mut map = full_map();
    let table_bytes = table.allocated_bytes() as f64 / f64::from(SESSIONS);
    let map_bytes = map.capacity() as f64 * (size_of::<(FlowKey, [u64; 2])>() as f64 + 1.0)
        / f64::from(SESSIONS);
    eprintln!(
        "bytes per session (16-byte value): SessionTable {table_bytes:.1}, std HashMap with both keys {map_bytes:.1}"
    );

    // Spread the hot set over the whole table.
    let hot: Vec<FlowKey> = (0..HOT).map(|i| flow(i * (SESSIONS / HOT))).collect();
    let everywhere: Vec<FlowKey> = (0..SESSIONS)
        .map(|i| flow(i.wrapping_mul(2_654_435_761) % SESSIONS))
        .collect();
    let mut group = c.benchmark_group("session_lookup_hit_1M");
    for (name, keys) in [("hot_4k_flows", &hot), ("uniform_1M_flows", &everywhere)] {
        let mut next = 0;
        group.bench_function(format!("lb_session_{name}"), |b| {
            b.iter(|| {
                next = (next + 1) % keys.len();
                table
                    .lookup(now, black_box(&keys[next]), None::<lb_packet::TcpFlags>)
                    .map(|hit| hit.value[0])
            })
        });
        let mut next = 0;
        group.bench_function(format!("std_hashmap_{name}"), |b| {
            b.iter(|| {
                next = (next + 1) % keys.len();
                map.get(black_box(&keys[next])).map(|value| value[0])
            })
        });
    }
    group.finish();

    // Inserting into a full table evicts the oldest unassured session each
    // time; the std map inserts and removes one to stay the same size.
    let mut group = c.benchmark_group("session_insert_full_1M");
    let mut fresh = SESSIONS;
    group.bench_function("lb_session_insert_evicting", |b| {
        b.iter(|| {
            fresh += 1;
            let forward = flow(fresh);
            table
                .insert(
                    now,
                    black_box(forward),
                    reply(forward),
                    None::<lb_packet::TcpFlags>,
                    [0; 2],
                )
                .is_ok()
        })
    });
    let mut oldest = 0;
    let mut fresh = SESSIONS;
    group.bench_function("std_hashmap_insert_and_remove", |b| {
        b.iter(|| {
            fresh += 1;
            map.insert(black_box(flow(fresh)), [0; 2]);
            map.remove(&flow(oldest));
            oldest += 1;
        })
    });
    group.finish();
    drop(map);

    // The sweep an insert pays: visiting four slots, each holding an expired
    // session that it removes (the worst case).
    let later = now + Duration::from_secs(3600);
    let mut group = c.benchmark_group("session_expiry_1M");
    group.sample_size(10);
    group.bench_function("sweep_4_expired_slots", |b| {
        b.iter_batched_ref(
            || full_table(now),
            |table| {
                for _ in 0..1000 {
                    black_box(table.expire(later, 4));
                }
            },
            BatchSize::PerIteration,
        )
    });
    // The timer's sweep on a busy table: a budget of 1024 slots (what the
    // engines visit every 100 ms) over sessions that are all still live.
    let mut table = full_table(now);
    group.bench_function("sweep_1024_live_slots", |b| {
        b.iter(|| black_box(table.expire(now, 1024)))
    });
    group.finish();
}

criterion_group!(benches, sessions);
criterion_main!(benches);
