//! A session table under a spoofed SYN flood: 500 established connections,
//! then 200,000 SYNs from random sources into a table of 10,000. The flood
//! churns through the unassured sessions; every established one survives.
//!
//! Run with `cargo run -p lb-session --example syn_flood`.

// An example talks on standard output.
#![allow(clippy::print_stdout)]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use lb_packet::{FlowKey, HashKey, Protocol, TcpFlags};
use lb_session::{SessionConfig, SessionTable};

const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn client(src: u32, port: u16) -> FlowKey {
    FlowKey {
        src: Ipv4Addr::from(src).into(),
        dst: VIP.into(),
        src_port: port,
        dst_port: 80,
        proto: Protocol::Tcp,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut table = SessionTable::new(SessionConfig {
        capacity: 10_000,
        // Time and keys are arguments: the example is the same every run.
        hash_key: Some(HashKey([3; 16])),
        ..SessionConfig::default()
    })?;
    let start = Instant::now();
    let backend = Ipv4Addr::new(192, 168, 1, 2);
    let reply_to = |key: FlowKey| FlowKey {
        src: backend.into(),
        ..key.reversed()
    };
    // Real connections: SYN, SYN-ACK from the backend, ACK.
    let real: Vec<FlowKey> = (0..500).map(|n| client(0x0a01_0000 + n, 40_000)).collect();
    for &key in &real {
        table.insert(start, key, reply_to(key), Some(TcpFlags::SYN), "backend")?;
        table.lookup(start, &reply_to(key), Some(TcpFlags::SYN | TcpFlags::ACK));
        table.lookup(start, &key, Some(TcpFlags::ACK));
    }
    // The flood: a fresh spoofed source for every SYN, 10 us apart.
    let mut state = 0x2545_f491_u32;
    for n in 0..200_000u32 {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let now = start + Duration::from_micros(10 * u64::from(n));
        let spoofed = client(state, (n % 60_000) as u16 + 1024);
        let _ = table.insert(
            now,
            spoofed,
            reply_to(spoofed),
            Some(TcpFlags::SYN),
            "backend",
        );
    }
    let later = start + Duration::from_secs(3);
    let survived = real
        .iter()
        .filter(|key| table.lookup(later, key, Some(TcpFlags::ACK)).is_some())
        .count();
    let stats = table.stats();
    println!(
        "{} sessions of at most {}; {} inserted, {} evicted, {} refused",
        table.len(),
        table.capacity(),
        stats.inserted,
        stats.evicted,
        stats.refused
    );
    println!("established connections that survived the flood: {survived} of 500");
    Ok(())
}
