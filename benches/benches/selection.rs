//! Backend selection: building a Maglev table for 1000 backends (beside the
//! crates.io `maglev` crate building its own, same N and M), and picking a
//! backend for a flow, hashing included, under every policy.

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{Criterion, criterion_group, criterion_main};
use lb_algos::{Backend, DEFAULT_TABLE_SIZE, HashKey, Maglev, Policy, Selector, SelectorConfig};
use lb_packet::{FlowKey, Protocol};

const BACKENDS: usize = 1000;

fn backends() -> Vec<Backend> {
    (0..BACKENDS)
        .map(|i| Backend::new(format!("backend-{i}").as_str(), 1))
        .collect()
}

fn flows() -> Vec<FlowKey> {
    (0..1024u32)
        .map(|i| FlowKey {
            src: (Ipv4Addr::from(0x0a00_0000 + i * 7919)).into(),
            dst: Ipv4Addr::new(10, 255, 0, 1).into(),
            src_port: 1024 + (i as u16).wrapping_mul(31),
            dst_port: 80,
            proto: Protocol::Tcp,
        })
        .collect()
}

fn build(c: &mut Criterion) {
    let backends = backends();
    let names: Vec<String> = (0..BACKENDS).map(|i| format!("backend-{i}")).collect();
    let mut group = c.benchmark_group("maglev_build_n1000_m65537");
    group.sample_size(20);
    group.bench_function("lb_algos", |b| {
        b.iter(|| {
            Maglev::new(black_box(&backends), HashKey::default(), DEFAULT_TABLE_SIZE).unwrap()
        })
    });
    // The crate materialises all N x M permutations (about 0.5 GB here).
    group.sample_size(10);
    group.bench_function("maglev_crate", |b| {
        b.iter(|| {
            maglev::Maglev::with_capacity(black_box(names.clone()), DEFAULT_TABLE_SIZE as usize)
        })
    });
    group.finish();
}

fn lookup(c: &mut Criterion) {
    let backends = backends();
    let flows = flows();
    let config = SelectorConfig {
        hash_key: HashKey(*b"0123456789abcdef"),
        ..SelectorConfig::default()
    };
    let mut group = c.benchmark_group("pick_with_hash");
    // The concrete type, as an engine holding a Maglev table calls it.
    let maglev = Maglev::new(&backends, config.hash_key, DEFAULT_TABLE_SIZE).unwrap();
    let mut next = 0;
    group.bench_function("maglev_direct", |b| {
        b.iter(|| {
            next = (next + 1) % flows.len();
            maglev.pick(black_box(&flows[next]))
        })
    });
    for policy in [
        Policy::Maglev,
        Policy::FlowHash,
        Policy::SrcIpHash,
        Policy::RoundRobin,
        Policy::Random,
    ] {
        let selector = policy.build(&backends, &config).unwrap();
        let mut next = 0;
        group.bench_function(format!("{}_dyn", policy.name()), |b| {
            b.iter(|| {
                next = (next + 1) % flows.len();
                selector.pick(black_box(&flows[next]))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, build, lookup);
criterion_main!(benches);
