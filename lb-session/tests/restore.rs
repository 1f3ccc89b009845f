//! Sessions put back into another table, as a restarted load balancer
//! does: found from both ends, in the state they left, for the time they
//! had left; assured ones still safe from floods.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::{ACK, NOT_TCP, SYN, SYN_ACK, key, reply, table};

use lb_packet::{FlowKey, Protocol};
use lb_session::{
    Direction, InsertError, SessionConfig, SessionState, SessionTable, Timeouts, Tracker,
};

/// What a restart writes out of a table, assured sessions first.
fn saved(
    table: &SessionTable<u32>,
    now: Instant,
) -> Vec<(FlowKey, FlowKey, [u8; 6], Duration, u32)> {
    let mut saved: Vec<_> = table
        .iter(now)
        .map(|s| {
            (
                s.forward,
                s.reverse,
                s.tracker.to_bytes(),
                s.expires_in,
                *s.value,
            )
        })
        .collect();
    saved.sort_by_key(|s| !Tracker::from_bytes(s.2).unwrap().assured());
    saved
}

fn restore_all(
    into: &mut SessionTable<u32>,
    now: Instant,
    saved: &[(FlowKey, FlowKey, [u8; 6], Duration, u32)],
) -> Vec<Result<(), InsertError>> {
    saved
        .iter()
        .map(|&(forward, reverse, tracker, expires_in, value)| {
            let tracker = Tracker::from_bytes(tracker).unwrap();
            into.restore(now, forward, reverse, tracker, expires_in, value)
                .map(|_| ())
        })
        .collect()
}

#[test]
fn restored_sessions_carry_on_where_they_left() {
    let start = Instant::now();
    let mut old = table(64);
    // An established connection, a half-open one, a replied UDP flow.
    let established = key(1, Protocol::Tcp);
    old.insert(start, established, reply(established), SYN, 1)
        .unwrap();
    old.lookup(start, &reply(established), SYN_ACK).unwrap();
    old.lookup(start, &established, ACK).unwrap();
    let half_open = key(2, Protocol::Tcp);
    old.insert(start, half_open, reply(half_open), SYN, 2)
        .unwrap();
    let udp = key(3, Protocol::Udp);
    old.insert(start, udp, reply(udp), NOT_TCP, 3).unwrap();
    old.lookup(start, &reply(udp), NOT_TCP).unwrap();

    // Ten seconds later, a new process restores them ten seconds on.
    let saved = saved(&old, start + Duration::from_secs(10));
    let later = start + Duration::from_secs(20);
    let mut new = table(64);
    assert!(
        restore_all(&mut new, later, &saved)
            .iter()
            .all(Result::is_ok)
    );
    assert_eq!(new.len(), 3);
    let states: Vec<(SessionState, bool)> = new.iter(later).map(|s| (s.state, s.assured)).collect();
    assert!(states.contains(&(SessionState::TcpEstablished, true)));
    assert!(states.contains(&(SessionState::TcpSynSent, false)));
    assert!(states.contains(&(SessionState::UdpReplied, true)));
    for (forward, value) in [(established, 1), (half_open, 2), (udp, 3)] {
        let hit = new.peek(&reply(forward)).unwrap();
        assert_eq!((hit.0, *hit.1), (Direction::Reverse, value));
    }
    // The half-open one goes on from where it was.
    let hit = new.lookup(later, &reply(half_open), SYN_ACK).unwrap();
    assert_eq!(hit.state, SessionState::TcpSynReceived);
}

#[test]
fn a_restored_session_lives_the_time_it_had_left() {
    let start = Instant::now();
    let mut old = table(64);
    let udp = key(1, Protocol::Udp);
    old.insert(start, udp, reply(udp), NOT_TCP, 1).unwrap();
    // Unreplied UDP lives 30 s by default: 25 s had passed when saved.
    let saved = saved(&old, start + Duration::from_secs(25));
    assert_eq!(saved[0].3, Duration::from_secs(5));
    let later = start + Duration::from_secs(100);
    let mut new = table(64);
    restore_all(&mut new, later, &saved);
    assert!(new.contains(later + Duration::from_millis(4900), &udp));
    assert!(!new.contains(later + Duration::from_millis(5100), &udp));
    // Never longer than the new table's timeout for its state.
    let mut strict = SessionTable::new(SessionConfig {
        timeouts: Timeouts {
            udp_unreplied: Duration::from_secs(1),
            ..Timeouts::default()
        },
        ..SessionConfig::default()
    })
    .unwrap();
    restore_all(&mut strict, later, &saved);
    assert!(!strict.contains(later + Duration::from_millis(1100), &udp));
}

#[test]
fn restored_assured_sessions_survive_a_flood_and_refusals_are_clear() {
    let start = Instant::now();
    let mut old = table(64);
    for client in 0..8 {
        let forward = key(client, Protocol::Udp);
        old.insert(start, forward, reply(forward), NOT_TCP, client)
            .unwrap();
        old.lookup(start, &reply(forward), NOT_TCP).unwrap();
    }
    let saved = saved(&old, start);
    // A smaller table takes what fits, and says so of the rest.
    let mut small = table(4);
    let results = restore_all(&mut small, start, &saved);
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 4);
    assert!(results.contains(&Err(InsertError::Full)));
    // Twice: every key is in use now.
    assert_eq!(
        restore_all(&mut small, start, &saved[..1]),
        [Err(InsertError::KeyInUse)]
    );
    // A flood of new flows evicts none of them.
    for client in 100..10_000 {
        let forward = key(client, Protocol::Udp);
        let _ = small.insert(start, forward, reply(forward), NOT_TCP, client);
    }
    assert_eq!(small.iter(start).filter(|s| s.assured).count(), 4);
}

#[test]
fn claimed_source_ports_are_never_handed_out_again() {
    use lb_session::{PortRange, SnatAllocator, SnatError};

    let proxy = IpAddr::from(Ipv4Addr::new(10, 0, 0, 1));
    let remote = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 9), 80));
    let range = PortRange::new(7000, 7009).unwrap();
    let mut snat = SnatAllocator::new(range, lb_packet::HashKey([3; 16]));
    // Three ports restored from before a restart.
    for port in [7002, 7005, 7009] {
        snat.claim(proxy, remote, Protocol::Tcp, port).unwrap();
    }
    assert_eq!(snat.in_use(), 3);
    let client = key(1, Protocol::Tcp);
    let mut handed: Vec<u16> = (0..7)
        .map(|_| snat.allocate(&client, proxy, remote).unwrap())
        .collect();
    handed.sort_unstable();
    assert_eq!(handed, [7000, 7001, 7003, 7004, 7006, 7007, 7008]);
    assert!(matches!(
        snat.allocate(&client, proxy, remote),
        Err(SnatError::Exhausted { .. })
    ));
    // A claimed port given back is handed out again.
    snat.release(proxy, remote, Protocol::Tcp, 7005);
    assert_eq!(snat.allocate(&client, proxy, remote), Ok(7005));
    assert_eq!(
        snat.claim(proxy, remote, Protocol::Tcp, 80),
        Err(SnatError::OutOfRange { port: 80, range })
    );
}
