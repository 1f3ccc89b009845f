//! Property tests of every policy, and the disruption Maglev causes when a
//! backend leaves.

use std::net::Ipv4Addr;

use lb_algos::{Backend, BackendId, HashKey, Maglev, Policy, RoundRobin, Selector, SelectorConfig};
use lb_packet::{FlowKey, Protocol};
use proptest::prelude::*;

const SIZE: u64 = 65_537;

fn named(weights: &[u32]) -> Vec<Backend> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| Backend::new(format!("backend-{i}").as_str(), w))
        .collect()
}

/// The table as backend identities, independent of list order.
fn table_ids(table: &Maglev, backends: &[Backend]) -> Vec<Option<BackendId>> {
    table
        .slots()
        .map(|slot| slot.map(|index| backends[index].id.clone()))
        .collect()
}

fn flow_strategy() -> impl Strategy<Value = FlowKey> {
    (
        any::<[u8; 4]>(),
        any::<[u8; 4]>(),
        any::<u16>(),
        any::<u16>(),
        0..3u8,
    )
        .prop_map(|(src, dst, src_port, dst_port, proto)| FlowKey {
            src: src.into(),
            dst: dst.into(),
            src_port,
            dst_port,
            proto: [Protocol::Tcp, Protocol::Udp, Protocol::Icmp][usize::from(proto)],
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn maglev_table_is_full_and_follows_weights(weights in proptest::collection::vec(1u32..=16, 1..=16)) {
        let backends = named(&weights);
        let table = Maglev::new(&backends, HashKey::default(), SIZE).unwrap();
        let mut counts = vec![0u64; backends.len()];
        for slot in table.slots() {
            counts[slot.expect("every slot claimed")] += 1;
        }
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        for (count, &weight) in counts.iter().zip(&weights) {
            let expected = SIZE as f64 * f64::from(weight) / total as f64;
            prop_assert!((*count as f64 - expected).abs() <= expected * 0.01, "{count} vs {expected}");
        }
    }

    #[test]
    fn maglev_ignores_list_order(weights in proptest::collection::vec(0u32..=8, 1..=24), seed in any::<u64>()) {
        let backends = named(&weights);
        let mut shuffled = backends.clone();
        // A deterministic shuffle from the seed.
        let mut state = seed;
        for i in (1..shuffled.len()).rev() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (state >> 33) as usize % (i + 1));
        }
        let a = Maglev::new(&backends, HashKey::default(), 4099).unwrap();
        let b = Maglev::new(&shuffled, HashKey::default(), 4099).unwrap();
        prop_assert_eq!(table_ids(&a, &backends), table_ids(&b, &shuffled));
    }

    #[test]
    fn round_robin_windows_hold_exact_weights(weights in proptest::collection::vec(0u32..=12, 1..=8), start in 0usize..500) {
        let backends = named(&weights);
        let selector = RoundRobin::new(&backends).unwrap();
        let period: u32 = weights.iter().sum();
        prop_assume!(period > 0);
        let flow = FlowKey { src: Ipv4Addr::LOCALHOST.into(), dst: Ipv4Addr::LOCALHOST.into(), src_port: 1, dst_port: 2, proto: Protocol::Tcp };
        for _ in 0..start {
            selector.pick(&flow);
        }
        let mut counts = vec![0u32; backends.len()];
        for _ in 0..period {
            counts[selector.pick(&flow).unwrap()] += 1;
        }
        prop_assert_eq!(counts, weights);
    }

    #[test]
    fn hash_policies_agree_across_instances(weights in proptest::collection::vec(0u32..=8, 1..=12), key in any::<[u8; 16]>(), flows in proptest::collection::vec(flow_strategy(), 1..50)) {
        let backends = named(&weights);
        let reversed: Vec<Backend> = backends.iter().rev().cloned().collect();
        let config = SelectorConfig { hash_key: HashKey(key), ..SelectorConfig::default() };
        for policy in [Policy::SrcIpHash, Policy::FlowHash, Policy::Maglev] {
            let a = policy.build(&backends, &config).unwrap();
            let b = policy.build(&reversed, &config).unwrap();
            for flow in &flows {
                let picked = a.pick(flow).map(|i| backends[i].id.clone());
                prop_assert_eq!(&picked, &a.pick(flow).map(|i| backends[i].id.clone()), "same flow, same answer");
                prop_assert_eq!(&picked, &b.pick(flow).map(|i| reversed[i].id.clone()), "{} disagrees", policy);
            }
        }
    }

    #[test]
    fn src_ip_hash_keeps_a_client_on_one_backend(weights in proptest::collection::vec(1u32..=8, 1..=12), flows in proptest::collection::vec(flow_strategy(), 2..40)) {
        let backends = named(&weights);
        let selector = Policy::SrcIpHash.build(&backends, &SelectorConfig::default()).unwrap();
        let first = flows[0];
        for flow in &flows {
            let same_client = FlowKey { src: first.src, ..*flow };
            prop_assert_eq!(selector.pick(&same_client), selector.pick(&first));
        }
    }
}

#[test]
fn random_follows_weights_and_replays_from_its_seed() {
    let backends = named(&[1, 2, 7]);
    let config = SelectorConfig {
        seed: 42,
        ..SelectorConfig::default()
    };
    let a = Policy::Random.build(&backends, &config).unwrap();
    let b = Policy::Random.build(&backends, &config).unwrap();
    let flow = FlowKey {
        src: Ipv4Addr::LOCALHOST.into(),
        dst: Ipv4Addr::LOCALHOST.into(),
        src_port: 1,
        dst_port: 2,
        proto: Protocol::Udp,
    };
    let mut counts = [0u32; 3];
    for _ in 0..100_000 {
        let pick = a.pick(&flow).unwrap();
        assert_eq!(b.pick(&flow), Some(pick), "same seed, same sequence");
        counts[pick] += 1;
    }
    for (count, expected) in counts.iter().zip([10_000.0, 20_000.0, 70_000.0]) {
        assert!(
            (f64::from(*count) - expected).abs() < expected * 0.05,
            "{counts:?}"
        );
    }
}

/// Fraction of slots whose backend changes when backend `removed` leaves.
fn disruption(backends: &[Backend], removed: usize) -> f64 {
    let before = Maglev::new(backends, HashKey::default(), SIZE).unwrap();
    let mut rest = backends.to_vec();
    rest.remove(removed);
    let after = Maglev::new(&rest, HashKey::default(), SIZE).unwrap();
    let (before, after) = (table_ids(&before, backends), table_ids(&after, &rest));
    let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
    moved as f64 / SIZE as f64
}

#[test]
fn removing_one_of_a_thousand_backends_moves_few_slots() {
    let backends = named(&[1; 1000]);
    let own_share = 1.0 / 1000.0;
    let mut worst: f64 = 0.0;
    for removed in [0, 1, 499, 998, 999] {
        worst = worst.max(disruption(&backends, removed));
    }
    eprintln!(
        "worst disruption removing one of 1000 backends: {:.3}% of slots",
        worst * 100.0
    );
    // Its own 0.1% must move; Maglev keeps the rest nearly still.
    assert!(worst >= own_share);
    assert!(worst <= 0.01, "moved {:.3}% of slots", worst * 100.0);

    // Adding it back restores the identical table.
    let table = Maglev::new(&backends, HashKey::default(), SIZE).unwrap();
    let mut without = backends.clone();
    let gone = without.remove(500);
    let mut again = without.clone();
    again.push(gone);
    let restored = Maglev::new(&again, HashKey::default(), SIZE).unwrap();
    assert_eq!(table_ids(&table, &backends), table_ids(&restored, &again));
}
