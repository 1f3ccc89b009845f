//! Behaviour of the session table and SNAT allocator, one rule at a time.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::*;

use lb_packet::{FlowKey, HashKey, Protocol, TcpFlags};
use lb_session::{
    ConfigError, Direction, InsertError, PortRange, Segment, SessionConfig, SessionState,
    SessionTable, SnatAllocator, SnatError, Timeouts,
};

/// A table whose unassured sessions may fill it: for the rules that
/// apply whatever the share.
fn unshared_table(capacity: usize) -> SessionTable<u32> {
    SessionTable::new(SessionConfig {
        capacity,
        unassured_percent: 100,
        ..SessionConfig::default()
    })
    .unwrap()
}

/// Inserts a TCP session and completes its handshake.
fn establish(table: &mut SessionTable<u32>, now: Instant, client: u32) -> FlowKey {
    let forward = key(client, Protocol::Tcp);
    table
        .insert(now, forward, reply(forward), SYN, client)
        .unwrap();
    assert_eq!(
        table.lookup(now, &reply(forward), SYN_ACK).unwrap().state,
        SessionState::TcpSynReceived
    );
    assert_eq!(
        table.lookup(now, &forward, ACK).unwrap().state,
        SessionState::TcpEstablished
    );
    forward
}

#[test]
fn found_from_both_directions() {
    let mut table = table(16);
    let now = Instant::now();
    let forward = key(1, Protocol::Udp);
    table
        .insert(now, forward, reply(forward), NOT_TCP, 7)
        .unwrap();
    let hit = table.lookup(now, &forward, NOT_TCP).unwrap();
    assert_eq!(
        (hit.direction, *hit.value, hit.state),
        (Direction::Forward, 7, SessionState::UdpUnreplied)
    );
    let hit = table.lookup(now, &reply(forward), NOT_TCP).unwrap();
    assert_eq!(
        (hit.direction, hit.state),
        (Direction::Reverse, SessionState::UdpReplied)
    );
    *hit.value = 8;
    assert_eq!(table.peek(&forward), Some((Direction::Forward, &8)));
    assert!(
        table.lookup(now, &forward.reversed(), NOT_TCP).is_none(),
        "not the reply key"
    );
}

#[test]
fn timeouts_follow_protocol_and_state() {
    let timeouts = Timeouts::default();
    let start = Instant::now();
    let mut table = table(16);
    let half_open = key(1, Protocol::Tcp);
    table
        .insert(start, half_open, reply(half_open), SYN, 1)
        .unwrap();
    let established = establish(&mut table, start, 2);
    let udp = key(3, Protocol::Udp);
    table.insert(start, udp, reply(udp), NOT_TCP, 3).unwrap();

    let just_before = start + timeouts.tcp_half_open - Duration::from_millis(1);
    assert!(table.contains(just_before, &half_open));
    let after = start + timeouts.tcp_half_open;
    assert!(
        table.lookup(after, &half_open, ACK).is_none(),
        "half-open expired at 30 s"
    );
    assert!(
        table.lookup(after, &udp, NOT_TCP).is_none(),
        "unreplied UDP expired at 30 s"
    );
    assert!(
        table.lookup(after, &established, ACK).is_some(),
        "established lives 2 h"
    );
    let idle = after + timeouts.tcp_established;
    assert!(table.lookup(idle, &established, ACK).is_none());
    assert_eq!(table.stats().expired, 3);
    assert!(table.is_empty());
}

#[test]
fn rst_and_fin_shorten_the_timeout() {
    let timeouts = Timeouts::default();
    let now = Instant::now();
    let mut table = table(16);
    let reset = establish(&mut table, now, 1);
    assert_eq!(
        table
            .lookup(now, &reply(reset), Some(TcpFlags::RST))
            .unwrap()
            .state,
        SessionState::TcpReset
    );
    let closed = establish(&mut table, now, 2);
    let fin = Some(TcpFlags::FIN | TcpFlags::ACK);
    table.lookup(now, &closed, fin).unwrap();
    assert_eq!(
        table.lookup(now, &reply(closed), fin).unwrap().state,
        SessionState::TcpTimeWait
    );
    assert!(!table.contains(now + timeouts.tcp_reset, &reset));
    assert!(table.contains(now + timeouts.tcp_reset, &closed));
    assert!(!table.contains(now + timeouts.tcp_fin, &closed));
}

#[test]
fn retransmitted_syn_keeps_the_session() {
    let now = Instant::now();
    let mut table = table(16);
    let forward = key(1, Protocol::Tcp);
    table.insert(now, forward, reply(forward), SYN, 42).unwrap();
    for retry in 1..4 {
        let hit = table
            .lookup(now + Duration::from_secs(retry), &forward, SYN)
            .unwrap();
        assert_eq!((*hit.value, hit.state), (42, SessionState::TcpSynSent));
    }
    assert_eq!(
        table.insert(now, forward, reply(forward), SYN, 43),
        Err(InsertError::KeyInUse)
    );
}

/// A client that reached a backend directly, then reaches it through a
/// VIP from the same port: the new session's reply key is the old one's.
/// It gives way once closed both ways (its backend's TCP takes the new
/// connection over TIME_WAIT), not while open.
#[test]
fn a_session_that_is_over_gives_way_to_one_with_its_key() {
    let now = Instant::now();
    let mut table = table(16);
    let direct = FlowKey {
        dst: Ipv4Addr::new(192, 168, 1, 2).into(),
        dst_port: 8080,
        ..key(1, Protocol::Tcp)
    };
    let (through_vip, shared) = (key(1, Protocol::Tcp), direct.reversed());
    assert_eq!(reply(through_vip), shared);
    table.insert(now, direct, shared, SYN, 1).unwrap();
    table.lookup(now, &shared, SYN_ACK).unwrap();
    table.lookup(now, &direct, ACK).unwrap();
    assert_eq!(
        table.insert(now, through_vip, shared, SYN, 2),
        Err(InsertError::KeyInUse)
    );
    let fin = Some(TcpFlags::FIN | TcpFlags::ACK);
    table.lookup(now, &shared, fin).unwrap();
    table.lookup(now, &direct, fin).unwrap();
    assert_eq!(table.insert(now, through_vip, shared, SYN, 2), Ok(&mut 2));
    assert!(!table.contains(now, &direct));
    let hit = table.lookup(now, &shared, SYN_ACK).unwrap();
    assert_eq!((hit.direction, *hit.value), (Direction::Reverse, 2));
    assert_eq!((table.len(), table.stats().evicted), (1, 1));
}

/// The client's SYN on its tuple after the connection closed both ways
/// opens a new connection: the closed session goes and the lookup misses,
/// for the caller to choose afresh. A SYN on a live one is a retry.
#[test]
fn a_syn_on_a_closed_session_is_a_new_connection() {
    let now = Instant::now();
    let mut table = table(16);
    let closed = establish(&mut table, now, 1);
    let fin = Some(TcpFlags::FIN | TcpFlags::ACK);
    table.lookup(now, &closed, fin).unwrap();
    table.lookup(now, &reply(closed), fin).unwrap();
    assert!(table.lookup(now, &closed, SYN).is_none());
    assert_eq!((table.len(), table.stats().evicted), (0, 1));
    table.insert(now, closed, reply(closed), SYN, 2).unwrap();
    let retried = table.lookup(now, &closed, SYN).unwrap();
    assert_eq!(
        (*retried.value, retried.state),
        (2, SessionState::TcpSynSent)
    );
}

#[test]
fn full_table_evicts_oldest_unassured_never_assured() {
    let now = Instant::now();
    let mut table = table(4);
    let established = [establish(&mut table, now, 1), establish(&mut table, now, 2)];
    let first_syn = key(10, Protocol::Tcp);
    table
        .insert(now, first_syn, reply(first_syn), SYN, 10)
        .unwrap();
    let second_syn = key(11, Protocol::Tcp);
    table
        .insert(now, second_syn, reply(second_syn), SYN, 11)
        .unwrap();
    let third_syn = key(12, Protocol::Tcp);
    table
        .insert(now, third_syn, reply(third_syn), SYN, 12)
        .unwrap();
    assert_eq!(table.len(), 4);
    assert!(
        !table.contains(now, &first_syn),
        "the oldest half-open session went"
    );
    assert!(table.contains(now, &second_syn) && table.contains(now, &third_syn));
    assert!(established.iter().all(|key| table.contains(now, key)));
    assert_eq!(table.stats().evicted, 1);

    // Once every session is assured, new ones are refused.
    table.lookup(now, &second_syn, SYN).unwrap();
    table.lookup(now, &reply(second_syn), SYN_ACK).unwrap();
    table.lookup(now, &reply(third_syn), SYN_ACK).unwrap();
    let refused = key(13, Protocol::Tcp);
    assert_eq!(
        table.insert(now, refused, reply(refused), SYN, 13),
        Err(InsertError::Full)
    );
    assert_eq!(table.stats().refused, 1);
    assert_eq!(table.len(), 4);
}

#[test]
fn full_table_reclaims_expired_before_evicting() {
    let start = Instant::now();
    let mut table = unshared_table(2);
    let old = establish(&mut table, start, 1);
    let fresh = key(2, Protocol::Udp);
    let later = start + Timeouts::default().tcp_established;
    table
        .insert(
            later - Duration::from_secs(1),
            fresh,
            reply(fresh),
            NOT_TCP,
            2,
        )
        .unwrap();
    let newcomer = key(3, Protocol::Udp);
    table
        .insert(later, newcomer, reply(newcomer), NOT_TCP, 3)
        .unwrap();
    assert!(!table.contains(later, &old));
    assert!(
        table.contains(later, &fresh),
        "the unassured but live session stays"
    );
    assert_eq!((table.stats().expired, table.stats().evicted), (1, 0));
}

#[test]
fn expire_sweeps_without_packets() {
    let start = Instant::now();
    let mut table = unshared_table(64);
    for client in 0..50 {
        let forward = key(client, Protocol::Udp);
        table
            .insert(start, forward, reply(forward), NOT_TCP, client)
            .unwrap();
    }
    let later = start + Duration::from_secs(31);
    let mut reclaimed = 0;
    for _ in 0..64 {
        let swept = table.expire(later, 16);
        assert!(swept <= 16);
        reclaimed += swept;
    }
    assert_eq!(reclaimed, 50);
    assert!(table.is_empty());
    assert_eq!(table.iter(later).count(), 0);
}

#[test]
fn remove_retain_and_iter() {
    let now = Instant::now();
    let mut table = table(16);
    for client in 0..6 {
        let forward = key(client, Protocol::Udp);
        table
            .insert(now, forward, reply(forward), NOT_TCP, client)
            .unwrap();
    }
    assert_eq!(table.remove(&reply(key(0, Protocol::Udp))), Some(0));
    assert_eq!(table.remove(&key(0, Protocol::Udp)), None);
    assert_eq!(table.retain(|_, value| *value % 2 == 0), 3);
    let mut left: Vec<u32> = table.iter(now).map(|session| *session.value).collect();
    left.sort();
    assert_eq!(left, [2, 4]);
    let info = table.iter(now).next().unwrap();
    assert_eq!(info.reverse, reply(info.forward));
    assert_eq!(info.expires_in, Timeouts::default().udp_unreplied);
    // Removed keys are free again.
    let forward = key(1, Protocol::Udp);
    table
        .insert(now, forward, reply(forward), NOT_TCP, 1)
        .unwrap();
    assert_eq!(table.stats().removed, 4);
}

#[test]
fn bad_inputs_are_refused() {
    assert_eq!(
        SessionTable::<u8>::new(SessionConfig {
            capacity: 0,
            ..SessionConfig::default()
        })
        .unwrap_err(),
        ConfigError::Capacity(0)
    );
    for (timeout, seconds) in [
        (Duration::ZERO, 0),
        (Duration::from_secs(u64::MAX), u64::MAX),
    ] {
        let timeouts = Timeouts {
            udp_replied: timeout,
            ..Timeouts::default()
        };
        let config = SessionConfig {
            timeouts,
            ..SessionConfig::default()
        };
        assert_eq!(
            SessionTable::<u8>::new(config).unwrap_err(),
            ConfigError::Timeout {
                name: "udp_replied",
                seconds
            }
        );
    }
    let mut table = table(4);
    let forward = key(1, Protocol::Udp);
    assert_eq!(
        table.insert(Instant::now(), forward, forward, NOT_TCP, 1),
        Err(InsertError::SameKeys)
    );
}

/// Gives back the ports of every session the table let go of.
fn release_departed(table: &mut SessionTable<u32>, snat: &mut SnatAllocator) {
    while let Some(gone) = table.pop_departed() {
        let remote = SocketAddr::new(gone.reverse.src, gone.reverse.src_port);
        let port = u16::try_from(gone.value).unwrap();
        snat.release(gone.reverse.dst, remote, gone.forward.proto, port);
    }
}

#[test]
fn snat_ports_avoid_live_mappings_and_come_back_on_expiry() {
    let start = Instant::now();
    let mut table = table(64);
    table.report_departures();
    let proxy = IpAddr::from(Ipv4Addr::new(192, 168, 0, 100));
    let remote = SocketAddr::from((Ipv4Addr::new(192, 168, 0, 1), 80));
    let mut snat = SnatAllocator::new(PortRange::new(5000, 5003).unwrap(), HashKey::default());
    let mut ports = Vec::new();
    for client in 0..4 {
        let forward = FlowKey {
            dst: proxy,
            ..key(client, Protocol::Tcp)
        };
        let port = snat.allocate(&forward, proxy, remote).unwrap();
        assert!((5000..=5003).contains(&port));
        let reply = SnatAllocator::reply_key(proxy, port, remote, Protocol::Tcp);
        table
            .insert(start, forward, reply, SYN, u32::from(port))
            .unwrap();
        ports.push(port);
    }
    ports.sort();
    assert_eq!(ports, [5000, 5001, 5002, 5003], "no collision");
    assert_eq!(snat.in_use(), 4);
    let fifth = FlowKey {
        dst: proxy,
        ..key(4, Protocol::Tcp)
    };
    let error = snat.allocate(&fifth, proxy, remote).unwrap_err();
    assert!(matches!(error, SnatError::Exhausted { .. }));
    assert!(
        error
            .to_string()
            .contains("no free source port on 192.168.0.100 towards 192.168.0.1:80")
    );
    // Another destination has its own ports.
    let elsewhere = SocketAddr::from((Ipv4Addr::new(192, 168, 0, 2), 80));
    let other = snat.allocate(&fifth, proxy, elsewhere).unwrap();
    snat.release(proxy, elsewhere, Protocol::Tcp, other);
    // The half-open sessions expire and free their ports.
    let later = start + Timeouts::default().tcp_half_open;
    assert_eq!(table.expire(later, 64), 4);
    release_departed(&mut table, &mut snat);
    assert_eq!(snat.in_use(), 0, "every port given back");
    assert!(snat.allocate(&fifth, proxy, remote).is_ok());
}

#[test]
fn snat_reuses_given_back_ports_last_and_offers_half_open_ones_for_takeover() {
    let proxy = IpAddr::from(Ipv4Addr::new(192, 168, 0, 100));
    let remote = SocketAddr::from((Ipv4Addr::new(192, 168, 0, 1), 443));
    let mut snat = SnatAllocator::new(PortRange::new(6000, 6099).unwrap(), HashKey([7; 16]));
    let client = key(0, Protocol::Tcp);
    let ports: Vec<u16> = (0..100)
        .map(|_| snat.allocate(&client, proxy, remote).unwrap())
        .collect();
    let mut sorted = ports.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 100, "the permutation covers the range once");
    assert_ne!(ports[..5], [6000, 6001, 6002, 6003, 6004], "not in order");
    assert!(snat.allocate(&client, proxy, remote).is_err());
    // Every port came out reclaimable (half-open), oldest first.
    assert_eq!(
        snat.reclaim_candidate(proxy, remote, Protocol::Tcp),
        Some(ports[0])
    );
    // Given back, ports come out again in the order they came back.
    snat.release(proxy, remote, Protocol::Tcp, ports[7]);
    snat.release(proxy, remote, Protocol::Tcp, ports[3]);
    assert_eq!(snat.allocate(&client, proxy, remote), Ok(ports[7]));
    assert_eq!(snat.allocate(&client, proxy, remote), Ok(ports[3]));
    for &port in &ports {
        snat.release(proxy, remote, Protocol::Tcp, port);
    }
    assert_eq!(snat.in_use(), 0);
    assert_eq!(
        snat.reclaim_candidate(proxy, remote, Protocol::Tcp),
        None,
        "a destination's state goes with its last port"
    );
}

#[test]
fn port_ranges_parse_and_validate() {
    assert_eq!("1024-2047".parse::<PortRange>().unwrap().len(), 1024);
    assert_eq!("8080".parse::<PortRange>().unwrap().len(), 1);
    assert_eq!(
        "9-3".parse::<PortRange>().unwrap_err(),
        SnatError::BadRange { first: 9, last: 3 }
    );
    assert!(matches!(
        "0-10".parse::<PortRange>(),
        Err(SnatError::BadRange { .. })
    ));
    assert!(
        "lots"
            .parse::<PortRange>()
            .unwrap_err()
            .to_string()
            .contains("expected LO-HI")
    );
}

fn segment(bits: u8, seq: u32, ack: u32) -> Option<Segment> {
    Some(Segment {
        flags: TcpFlags::from_bits(bits),
        seq,
        ack,
        has_data: false,
    })
}

/// With whole segments, a flood of spoofed SYNs followed by blind ACKs
/// leaves only unassured sessions, which keep to their share of the table
/// and make way for real connections.
#[test]
fn blind_handshakes_never_assure_and_keep_to_their_share() {
    let mut table = table(100);
    let now = Instant::now();
    for client in 0..1000 {
        let forward = key(client, Protocol::Tcp);
        table
            .insert(now, forward, reply(forward), segment(0x02, 1, 0), client)
            .expect("a new flow always gets a session");
        table.lookup(now, &forward, segment(0x10, 2, 0xdead_beef));
    }
    let live: Vec<bool> = table.iter(now).map(|s| s.assured).collect();
    assert_eq!(live.len(), 50, "half the table at most");
    assert!(live.iter().all(|assured| !assured));
    // A real client: SYN, the backend's SYN-ACK (ISN 9000), its ACK of 9001.
    let forward = key(5000, Protocol::Tcp);
    table
        .insert(now, forward, reply(forward), segment(0x02, 1, 0), 5000)
        .unwrap();
    table.lookup(now, &reply(forward), segment(0x12, 9000, 2));
    let hit = table.lookup(now, &forward, segment(0x10, 2, 9001)).unwrap();
    assert_eq!(hit.state, SessionState::TcpEstablished);
    assert!(table.iter(now).any(|s| s.assured && s.forward == forward));
}

/// A closed connection gives up its protection: its slot goes to a new
/// flow before a live connection's does.
#[test]
fn closed_sessions_are_evicted_first() {
    let mut table = table(2);
    let now = Instant::now();
    let (closed, live) = (establish(&mut table, now, 1), establish(&mut table, now, 2));
    table.lookup(now, &closed, Some(TcpFlags::RST));
    let newcomer = key(3, Protocol::Tcp);
    table
        .insert(now, newcomer, reply(newcomer), SYN, 3)
        .expect("the closed session makes room");
    assert!(table.contains(now, &live) && !table.contains(now, &closed));
    let share = SessionTable::<u32>::new(SessionConfig {
        unassured_percent: 0,
        ..SessionConfig::default()
    });
    assert_eq!(share.err(), Some(ConfigError::UnassuredShare(0)));
}
