//! Batched lookups: hashing and prefetching first changes no answer, while
//! the table grows past the point where its index drains from one array
//! into another.

mod common;

use std::time::Instant;

use common::{NOT_TCP, key, reply, table};
use lb_packet::Protocol;
use lb_session::Direction;

#[test]
fn hashed_lookups_answer_as_plain_ones_while_the_index_grows() {
    let mut table = table(100_000);
    let now = Instant::now();
    for client in 0..20_000 {
        let forward = key(client, Protocol::Udp);
        table
            .insert(now, forward, reply(forward), NOT_TCP, client)
            .unwrap();
        // Every so often, look up a batch of earlier keys both ways.
        if client % 997 != 0 {
            continue;
        }
        // Clients seen, then one not yet seen.
        let clients: Vec<u32> = (0..32).map(|n| client * n / 32).collect();
        let batch: Vec<_> = clients
            .iter()
            .map(|&seen| (key(seen, Protocol::Udp), Some((Direction::Forward, seen))))
            .chain([(key(client + 1, Protocol::Udp), None)])
            .collect();
        let mut hashes: Vec<_> = batch.iter().map(|(key, _)| table.hash(key)).collect();
        hashes.iter().for_each(|&hash| table.prefetch(hash));
        hashes
            .iter_mut()
            .for_each(|hash| table.prefetch_session(hash));
        for ((key, expected), hash) in batch.iter().zip(hashes) {
            let hashed = table
                .lookup_hashed(now, key, hash, NOT_TCP)
                .map(|hit| (hit.direction, *hit.value));
            assert_eq!(hashed, *expected);
            let plain = table
                .lookup(now, key, NOT_TCP)
                .map(|hit| (hit.direction, *hit.value));
            assert_eq!(plain, *expected);
        }
    }
    for client in 0..20_000 {
        let hit = table.lookup(now, &reply(key(client, Protocol::Udp)), NOT_TCP);
        assert_eq!(
            hit.map(|hit| (hit.direction, *hit.value)),
            Some((Direction::Reverse, client))
        );
    }
}

/// A hint names the slot a key's session had when it was prefetched; the
/// session gone and its slot reused by another flow, the lookup does not
/// take that flow for the key's.
#[test]
fn a_stale_hint_is_no_answer() {
    let mut table = table(16);
    let now = Instant::now();
    let (gone, next) = (key(1, Protocol::Udp), key(2, Protocol::Udp));
    table.insert(now, gone, reply(gone), NOT_TCP, 1).unwrap();
    let mut hash = table.hash(&gone);
    table.prefetch_session(&mut hash);
    assert_eq!(
        table
            .lookup_hashed(now, &gone, hash, NOT_TCP)
            .map(|hit| *hit.value),
        Some(1)
    );
    assert!(table.remove(&gone).is_some());
    table.insert(now, next, reply(next), NOT_TCP, 2).unwrap();
    assert!(table.lookup_hashed(now, &gone, hash, NOT_TCP).is_none());
    assert_eq!(
        table.lookup(now, &next, NOT_TCP).map(|hit| *hit.value),
        Some(2)
    );
    // Put back, the key is found again whatever its old hint said.
    table.insert(now, gone, reply(gone), NOT_TCP, 3).unwrap();
    assert_eq!(
        table
            .lookup_hashed(now, &gone, hash, NOT_TCP)
            .map(|hit| *hit.value),
        Some(3)
    );
}
