//! The known answers DESIGN.md lists, and the edge cases every policy must
//! survive without panicking or looping.

use std::net::Ipv4Addr;

use lb_algos::{
    Backend, BuildError, DEFAULT_TABLE_SIZE, HashKey, Maglev, Permutation, Policy, SelectorConfig,
};
use lb_packet::{FlowKey, Protocol};

fn flow(n: u32) -> FlowKey {
    FlowKey {
        src: Ipv4Addr::from(0x0a00_0000 | n).into(),
        dst: Ipv4Addr::new(10, 255, 0, 1).into(),
        src_port: (n % 50_000) as u16 + 1024,
        dst_port: 80,
        proto: Protocol::Tcp,
    }
}

fn slot_counts(table: &Maglev, backends: usize) -> Vec<usize> {
    let mut counts = vec![0; backends];
    for slot in table.slots() {
        counts[slot.expect("table full")] += 1;
    }
    counts
}

const ALL_POLICIES: [Policy; 5] = [
    Policy::Random,
    Policy::RoundRobin,
    Policy::SrcIpHash,
    Policy::FlowHash,
    Policy::Maglev,
];

#[test]
fn paper_table_1_and_removal() {
    let p = |offset, skip| Permutation {
        offset,
        skip,
        weight: 1,
    };
    let table =
        Maglev::with_permutations(7, &[p(3, 4), p(0, 2), p(3, 1)], HashKey::default()).unwrap();
    let slots: Vec<usize> = table.slots().map(Option::unwrap).collect();
    assert_eq!(slots, [1, 0, 1, 0, 2, 2, 0], "[B1,B0,B1,B0,B2,B2,B0]");

    let without_b1 = Maglev::with_permutations(7, &[p(3, 4), p(3, 1)], HashKey::default()).unwrap();
    let slots: Vec<usize> = without_b1.slots().map(Option::unwrap).collect();
    assert_eq!(slots, [0, 0, 0, 0, 1, 1, 1], "[B0,B0,B0,B0,B2,B2,B2]");
}

#[test]
fn weights_one_to_two() {
    let backends = [Backend::new("b0", 1), Backend::new("b1", 2)];
    let table = Maglev::new(&backends, HashKey::default(), DEFAULT_TABLE_SIZE).unwrap();
    assert_eq!(slot_counts(&table, 2), [21_846, 43_691]);
}

#[test]
fn weights_two_one_one() {
    let backends = [
        Backend::new("b0", 2),
        Backend::new("b1", 1),
        Backend::new("b2", 1),
    ];
    let table = Maglev::new(&backends, HashKey::default(), DEFAULT_TABLE_SIZE).unwrap();
    assert_eq!(slot_counts(&table, 3), [32_769, 16_384, 16_384]);
}

#[test]
fn four_hundred_equal_backends_balance_within_one_slot() {
    let backends: Vec<Backend> = (0..400)
        .map(|i| Backend::new(format!("backend-{i}").as_str(), 1))
        .collect();
    let table = Maglev::new(&backends, HashKey::default(), DEFAULT_TABLE_SIZE).unwrap();
    let counts = slot_counts(&table, 400);
    let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    assert!(max - min <= 1, "min {min} max {max}");
}

#[test]
fn no_backends_or_all_drained_picks_none() {
    let drained = [Backend::new("a", 0), Backend::new("b", 0)];
    for policy in ALL_POLICIES {
        for backends in [&[][..], &drained[..]] {
            let selector = policy.build(backends, &SelectorConfig::default()).unwrap();
            for n in 0..100 {
                assert_eq!(selector.pick(&flow(n)), None, "{policy} with {backends:?}");
            }
        }
    }
}

#[test]
fn drained_backend_gets_no_new_flows() {
    let backends = [
        Backend::new("a", 3),
        Backend::new("drained", 0),
        Backend::new("c", 1),
    ];
    for policy in ALL_POLICIES {
        let selector = policy.build(&backends, &SelectorConfig::default()).unwrap();
        for n in 0..2_000 {
            assert_ne!(
                selector.pick(&flow(n)),
                Some(1),
                "{policy} picked the drained backend"
            );
        }
    }
}

#[test]
fn bad_configurations_are_named() {
    let backends = [Backend::new("a", 1), Backend::new("b", 1)];
    let build = |size| Maglev::new(&backends, HashKey::default(), size).unwrap_err();
    assert_eq!(build(65_536), BuildError::TableSizeNotPrime(65_536));
    assert_eq!(build(1), BuildError::TableSizeNotPrime(1));
    assert_eq!(build(0), BuildError::TableSizeNotPrime(0));
    let many: Vec<Backend> = (0..8)
        .map(|i| Backend::new(format!("{i}").as_str(), 1))
        .collect();
    assert_eq!(
        Maglev::new(&many, HashKey::default(), 7).unwrap_err(),
        BuildError::TableTooSmall {
            size: 7,
            backends: 8
        }
    );
    assert!(matches!(build(1 << 30), BuildError::TableTooLarge(_)));

    let duplicate = [
        Backend::new("a", 1),
        Backend::new("b", 2),
        Backend::new("a", 3),
    ];
    for policy in ALL_POLICIES {
        let error = policy
            .build(&duplicate, &SelectorConfig::default())
            .unwrap_err();
        assert_eq!(error, BuildError::DuplicateBackend("a".into()), "{policy}");
        assert_eq!(error.to_string(), "duplicate backend \"a\"");
    }
    let bad = Permutation {
        offset: 7,
        skip: 1,
        weight: 1,
    };
    assert!(matches!(
        Maglev::with_permutations(7, &[bad], HashKey::default()),
        Err(BuildError::InvalidPermutation { offset: 7, .. })
    ));
}

#[test]
fn policy_names_round_trip() {
    for policy in ALL_POLICIES {
        assert_eq!(policy.name().parse::<Policy>().unwrap(), policy);
    }
    assert_eq!("5-tuple".parse::<Policy>().unwrap(), Policy::FlowHash);
    assert_eq!("src-ip".parse::<Policy>().unwrap(), Policy::SrcIpHash);
    assert!(
        "fastest"
            .parse::<Policy>()
            .unwrap_err()
            .to_string()
            .contains("unknown policy")
    );
}

#[test]
fn sizes_chosen_from_the_backend_count() {
    assert_eq!(Maglev::size_for(0), 1021);
    assert_eq!(Maglev::size_for(1), 1021);
    assert_eq!(Maglev::size_for(2), 2039);
    assert_eq!(Maglev::size_for(3), 4093);
    assert_eq!(Maglev::size_for(5), 8191);
    assert_eq!(Maglev::size_for(33), DEFAULT_TABLE_SIZE);
    assert_eq!(Maglev::size_for(655), DEFAULT_TABLE_SIZE);
    assert_eq!(Maglev::size_for(656), 131_071);
    assert_eq!(Maglev::size_for(usize::MAX), 16_777_213);
    let mut previous = 0;
    for backends in [1, 2, 3, 5, 10, 11, 20, 21, 100, 328, 1000, 5000] {
        let size = Maglev::size_for(backends);
        assert!(size >= previous, "grows with the count");
        assert!(size >= 100 * backends as u64, "100 slots per backend");
        assert!(
            size >= (1000 * backends as u64).min(DEFAULT_TABLE_SIZE),
            "1000 slots per backend up to 65537"
        );
        previous = size;
        // Prime (the build accepts it), and equal weights get equal shares
        // to within 1%.
        let set: Vec<Backend> = (0..backends)
            .map(|n| Backend::new(format!("b{n}").as_str(), 1))
            .collect();
        let table = Maglev::new(&set, HashKey::default(), size).unwrap();
        let counts = slot_counts(&table, backends);
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        let fair = size as f64 / backends as f64;
        assert!(
            (*max - *min) as f64 <= fair / 100.0 + 1.0,
            "{backends}: {min}..{max}"
        );
    }
}
