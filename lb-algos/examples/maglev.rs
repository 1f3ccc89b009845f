//! Weighted Maglev by hand: build a table for three backends weighted
//! 1:2:3, see each one's share of the slots and of 10,000 flows, then take
//! one backend out and count how many flows of the others moved (Maglev's
//! promise: almost none).
//!
//! Run with `cargo run -p lb-algos --example maglev`.

// An example talks on standard output.
#![allow(clippy::print_stdout)]

use std::net::{Ipv4Addr, SocketAddrV4};

use lb_algos::{Backend, HashKey, Maglev, Selector};
use lb_packet::{FlowKey, Protocol};

const TABLE_SIZE: u64 = 65_537;

fn backend(last: u8, weight: u32) -> Backend {
    Backend::new(
        SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, last), 80),
        weight,
    )
}

fn flow(n: u32) -> FlowKey {
    FlowKey {
        src: Ipv4Addr::from(0x0a00_0000 + n).into(),
        dst: Ipv4Addr::new(10, 0, 0, 1).into(),
        src_port: 1024 + (n % 50_000) as u16,
        dst_port: 80,
        proto: Protocol::Tcp,
    }
}

fn main() -> Result<(), lb_algos::BuildError> {
    // Instances that share the key (and the backends) pick alike.
    let key = HashKey([7; 16]);
    let all = [backend(2, 1), backend(3, 2), backend(4, 3)];
    let table = Maglev::new(&all, key, TABLE_SIZE)?;
    let mut slots = [0usize; 3];
    for owner in table.slots().flatten() {
        slots[owner] += 1;
    }
    let flows: Vec<FlowKey> = (0..10_000).map(flow).collect();
    let picks: Vec<Option<usize>> = flows.iter().map(|f| table.pick(f)).collect();
    println!("backend        weight  slots   flows");
    for (index, b) in all.iter().enumerate() {
        let picked = picks.iter().filter(|&&p| p == Some(index)).count();
        println!(
            "192.168.1.{}   {:>6}  {:>5}  {:>6}",
            index + 2,
            b.weight,
            slots[index],
            picked
        );
    }

    // 192.168.1.3 leaves; the others keep nearly all their flows.
    let remaining = [all[0].clone(), all[2].clone()];
    let smaller = Maglev::new(&remaining, key, TABLE_SIZE)?;
    let stayed = |index: usize, new_index: usize| {
        flows
            .iter()
            .zip(&picks)
            .filter(|(_, p)| **p == Some(index))
            .filter(|(f, _)| smaller.pick(f) == Some(new_index))
            .count()
    };
    let kept = stayed(0, 0) + stayed(2, 1);
    let had = picks.iter().filter(|p| matches!(p, Some(0 | 2))).count();
    println!(
        "after removing 192.168.1.3: {kept} of the other backends' {had} flows stayed put ({:.2}% moved)",
        100.0 * (had - kept) as f64 / had as f64
    );
    Ok(())
}
