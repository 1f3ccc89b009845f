//! Maglev's fill against the plainest reading of its definition: every
//! backend, in turn, walks its own permutation to its next free slot, with
//! Katran's weighted turns. However the library speeds the fill up, the
//! table must be this one, slot for slot.

use lb_algos::{Backend, DEFAULT_TABLE_SIZE, HashKey, Maglev, Permutation};
use proptest::prelude::*;

/// The fill, probe by probe, with no shortcuts.
fn reference_fill(size: u64, permutations: &[Permutation]) -> Vec<Option<usize>> {
    let mut table = vec![None; size as usize];
    let max_weight = permutations.iter().map(|p| p.weight).max().unwrap_or(0);
    if max_weight == 0 {
        return table;
    }
    let mut next: Vec<u64> = permutations.iter().map(|p| p.offset).collect();
    let mut credit = vec![0u64; permutations.len()];
    let mut filled = 0;
    loop {
        for (backend, p) in permutations.iter().enumerate() {
            if p.weight == 0 {
                continue;
            }
            credit[backend] += u64::from(p.weight);
            if credit[backend] < u64::from(max_weight) {
                continue;
            }
            credit[backend] -= u64::from(max_weight);
            while table[next[backend] as usize].is_some() {
                next[backend] = (next[backend] + p.skip) % size;
            }
            table[next[backend] as usize] = Some(backend);
            next[backend] = (next[backend] + p.skip) % size;
            filled += 1;
            if filled == size {
                return table;
            }
        }
    }
}

fn permutations(size: u64) -> impl Strategy<Value = Vec<Permutation>> {
    let permutation = (0..size, 1..size, 0u32..=5).prop_map(|(offset, skip, weight)| Permutation {
        offset,
        skip,
        weight,
    });
    proptest::collection::vec(permutation, 1..=(size as usize).min(40))
}

fn sized_permutations() -> impl Strategy<Value = (u64, Vec<Permutation>)> {
    prop_oneof![Just(7u64), Just(13), Just(251), Just(1009), Just(4099)]
        .prop_flat_map(|size| (Just(size), permutations(size)))
}

proptest! {
    #[test]
    fn maglev_fills_exactly_as_defined((size, permutations) in sized_permutations()) {
        let table = Maglev::with_permutations(size, &permutations, HashKey::default()).unwrap();
        let slots: Vec<Option<usize>> = table.slots().collect();
        prop_assert_eq!(slots, reference_fill(size, &permutations));
    }
}

/// A production-sized table, pinned: 1000 backends with mixed weights at
/// the default size must give this table on every machine and build.
#[test]
fn thousand_backend_table_is_pinned() {
    let backends: Vec<Backend> = (0..1000)
        .map(|i| Backend::new(format!("backend-{i}").as_str(), 1 + i % 7))
        .collect();
    let table = Maglev::new(&backends, HashKey::default(), DEFAULT_TABLE_SIZE).unwrap();
    // FNV-1a over the slots' backend indices.
    let fingerprint = table.slots().fold(0xcbf2_9ce4_8422_2325u64, |hash, slot| {
        let index = slot.map_or(u64::MAX, |index| index as u64);
        (hash ^ index).wrapping_mul(0x0100_0000_01b3)
    });
    assert_eq!(fingerprint, 0x8b71_b0f2_4438_8f84);
}
