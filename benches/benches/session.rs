//! The session table at one million sessions: filling it, lookup hits,
//! inserts into a full table, and the expiry sweep (worst and usual case),
//! each beside `std::collections::HashMap` and hashbrown's map doing the
//! same work in the same run; bytes per session and the longest single
//! insert.

use std::collections::HashMap;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Criterion, criterion_group, criterion_main};
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

/// A map as a reference: it holds both keys of each session, as the
/// table indexes both.
trait Reference: Sized {
    const NAME: &str;
    /// Room for `sessions` sessions (twice as many keys).
    fn for_sessions(sessions: usize) -> Self;
    fn put(&mut self, key: FlowKey, value: [u64; 2]);
    fn find(&self, key: &FlowKey) -> Option<&[u64; 2]>;
    fn take(&mut self, key: &FlowKey);
    fn bytes(&self) -> usize;
}

macro_rules! reference {
    ($map:ty, $name:literal) => {
        impl Reference for $map {
            const NAME: &str = $name;
            fn for_sessions(sessions: usize) -> Self {
                <$map>::with_capacity(2 * sessions)
            }
            fn put(&mut self, key: FlowKey, value: [u64; 2]) {
                self.insert(key, value);
            }
            fn find(&self, key: &FlowKey) -> Option<&[u64; 2]> {
                self.get(key)
            }
            fn take(&mut self, key: &FlowKey) {
                self.remove(key);
            }
            /// Both are SwissTables: a control byte per bucket.
            fn bytes(&self) -> usize {
                self.capacity() * (size_of::<(FlowKey, [u64; 2])>() + 1)
            }
        }
    };
}

type StdMap = HashMap<FlowKey, [u64; 2]>;
type Hashbrown = hashbrown::HashMap<FlowKey, [u64; 2]>;
reference!(StdMap, "std_hashmap");
reference!(Hashbrown, "hashbrown");

/// The longest single insert while filling a table from empty (its index
/// grows on the way).
fn worst_insert(now: Instant) -> Duration {
    let mut table = empty_table();
    let mut worst = Duration::ZERO;
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
        worst = worst.max(start.elapsed());
    }
    worst
}

/// How many fills the longest insert is measured over: one fill alone may
/// catch the scheduler taking this shared machine's core away.
const FILLS: usize = 5;

/// `worst` of [`FILLS`] fills: the median and the range.
fn over_fills(mut worst: impl FnMut() -> Duration) -> String {
    let mut each: Vec<Duration> = (0..FILLS).map(|_| worst()).collect();
    each.sort();
    format!(
        "{:?} [{:?} to {:?}]",
        each[FILLS / 2],
        each[0],
        each[FILLS - 1]
    )
}

/// The same for a map, both keys of a session inserted at once.
fn worst_insert_of<M: Reference>() -> Duration {
    let mut map = M::for_sessions(0);
    let mut worst = Duration::ZERO;
    for n in 0..SESSIONS {
        let start = Instant::now();
        map.put(flow(n), [0; 2]);
        map.put(reply(flow(n)), [0; 2]);
        worst = worst.max(start.elapsed());
    }
    worst
}

/// The same sessions in a map, from `map` on.
fn filled<M: Reference>(mut map: M) -> M {
    for n in 0..SESSIONS {
        map.put(flow(n), [u64::from(n); 2]);
        map.put(reply(flow(n)), [u64::from(n); 2]);
    }
    map
}

fn fill<M: Reference>(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.bench_function(format!("{}_from_empty", M::NAME), |b| {
        b.iter(|| filled(M::for_sessions(0)))
    });
}

fn lookups<M: Reference>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    map: &M,
    keys: &[FlowKey],
    name: &str,
) {
    let mut next = 0;
    group.bench_function(format!("{}_{name}", M::NAME), |b| {
        b.iter(|| {
            next = (next + 1) % keys.len();
            map.find(black_box(&keys[next])).map(|value| value[0])
        })
    });
}

/// A full map stays full: each insert removes the oldest.
fn insert_and_remove<M: Reference>(group: &mut BenchmarkGroup<'_, WallTime>, map: &mut M) {
    let (mut oldest, mut fresh) = (0, SESSIONS);
    group.bench_function(format!("{}_insert_and_remove", M::NAME), |b| {
        b.iter(|| {
            fresh += 1;
            map.put(black_box(flow(fresh)), [0; 2]);
            map.take(&flow(oldest));
            oldest += 1;
        })
    });
}

fn sessions(c: &mut Criterion) {
    let now = Instant::now();
    // Filling from empty: the index grows as it goes (the maps too).
    eprintln!(
        "longest single insert filling 1M sessions, median [range] of {FILLS} fills: SessionTable {}, std HashMap {}, hashbrown {} (the maps given both keys)",
        over_fills(|| worst_insert(now)),
        over_fills(worst_insert_of::<StdMap>),
        over_fills(worst_insert_of::<Hashbrown>)
    );
    let mut group = c.benchmark_group("session_fill_1M");
    group.sample_size(10);
    group.bench_function("lb_session_from_empty", |b| b.iter(|| full_table(now)));
    fill::<StdMap>(&mut group);
    fill::<Hashbrown>(&mut group);
    group.finish();

    let mut table = full_table(now);
    let mut std_map = filled(StdMap::for_sessions(SESSIONS as usize));
    let mut hashbrown = filled(Hashbrown::for_sessions(SESSIONS as usize));
    let per_session = |bytes: usize| bytes as f64 / f64::from(SESSIONS);
    eprintln!(
        "bytes per session (16-byte value): SessionTable {:.1}, std HashMap {:.1}, hashbrown {:.1} (the maps holding both keys)",
        per_session(table.allocated_bytes()),
        per_session(std_map.bytes()),
        per_session(hashbrown.bytes())
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
        lookups(&mut group, &std_map, keys, name);
        lookups(&mut group, &hashbrown, keys, name);
    }
    group.finish();

    // Inserting into a full table evicts the oldest unassured session each
    // time; the maps insert and remove one to stay the same size.
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
    insert_and_remove(&mut group, &mut std_map);
    insert_and_remove(&mut group, &mut hashbrown);
    group.finish();
    drop((std_map, hashbrown));

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
