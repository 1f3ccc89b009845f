//! The table against a reference model that states the documented rules
//! plainly (linear scans, no index, no sweeping), and a flood.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use lb_packet::{FlowKey, HashKey, Protocol, TcpFlags};
use lb_session::{Direction, InsertError, SessionConfig, SessionState, SessionTable, Timeouts};
use proptest::prelude::*;

const CAPACITY: usize = 6;

/// Millisecond timeouts so tests can cross them.
fn timeouts() -> Timeouts {
    let ms = Duration::from_millis;
    Timeouts {
        tcp_half_open: ms(50),
        tcp_established: ms(400),
        tcp_fin: ms(100),
        tcp_reset: ms(20),
        udp_unreplied: ms(60),
        udp_replied: ms(200),
        icmp: ms(80),
    }
}

/// Twelve keys: six TCP, six UDP, so inserts collide often; a third of
/// them IPv6, so sessions pair keys of either family (stored packed, or
/// boxed).
fn pool(index: usize) -> FlowKey {
    let proto = if index < 6 {
        Protocol::Tcp
    } else {
        Protocol::Udp
    };
    let host = (index % 6) as u8;
    let (src, dst): (std::net::IpAddr, std::net::IpAddr) = if host % 3 == 0 {
        (
            std::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(host)).into(),
            std::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 1, 1).into(),
        )
    } else {
        (
            Ipv4Addr::new(10, 0, 0, host).into(),
            Ipv4Addr::new(10, 0, 1, 1).into(),
        )
    };
    FlowKey {
        src,
        dst,
        src_port: 1000 + index as u16,
        dst_port: 80,
        proto,
    }
}

#[derive(Debug, Clone)]
enum Op {
    Insert {
        forward: usize,
        reverse: usize,
        flags: u8,
        value: u32,
    },
    Lookup {
        key: usize,
        flags: u8,
    },
    Advance(u64),
    Expire(usize),
    Remove(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let flags = prop_oneof![
        Just(0x02u8),
        Just(0x12),
        Just(0x10),
        Just(0x11),
        Just(0x04),
        Just(0x18)
    ];
    prop_oneof![
        (0..12usize, 0..12usize, flags.clone(), any::<u32>()).prop_map(
            |(forward, reverse, flags, value)| Op::Insert {
                forward,
                reverse,
                flags,
                value
            }
        ),
        (0..12usize, flags).prop_map(|(key, flags)| Op::Lookup { key, flags }),
        (0..150u64).prop_map(Op::Advance),
        (0..8usize).prop_map(Op::Expire),
        (0..12usize).prop_map(Op::Remove),
    ]
}

#[derive(Debug, Clone)]
struct ModelSession {
    keys: [FlowKey; 2],
    value: u32,
    state: SessionState,
    assured: bool,
    fins: [bool; 2],
    expires_at: u64,
}

/// The documented rules, restated.
#[derive(Debug, Default)]
struct Model {
    /// In insertion order: the oldest unassured session is the first one.
    sessions: Vec<ModelSession>,
}

fn timeout(state: SessionState, assured: bool) -> Duration {
    use SessionState::*;
    let t = timeouts();
    match state {
        TcpSynSent | TcpSynReceived => t.tcp_half_open,
        TcpEstablished if assured => t.tcp_established,
        TcpEstablished => t.tcp_half_open,
        TcpFinWait | TcpTimeWait => t.tcp_fin,
        TcpReset => t.tcp_reset,
        UdpUnreplied => t.udp_unreplied,
        UdpReplied => t.udp_replied,
        _ => t.icmp,
    }
}

impl Model {
    fn live(&mut self, now: u64) {
        self.sessions.retain(|s| s.expires_at > now);
    }

    fn find(&self, key: &FlowKey) -> Option<(usize, Direction)> {
        self.sessions.iter().enumerate().find_map(|(i, s)| {
            if s.keys[0] == *key {
                Some((i, Direction::Forward))
            } else if s.keys[1] == *key {
                Some((i, Direction::Reverse))
            } else {
                None
            }
        })
    }

    fn insert(
        &mut self,
        now: u64,
        forward: FlowKey,
        reverse: FlowKey,
        flags: TcpFlags,
        value: u32,
    ) -> Result<u32, InsertError> {
        if forward == reverse {
            return Err(InsertError::SameKeys);
        }
        self.live(now);
        for key in [&forward, &reverse] {
            // A session that is over gives way.
            match self.find(key) {
                Some((i, _))
                    if matches!(
                        self.sessions[i].state,
                        SessionState::TcpTimeWait | SessionState::TcpReset
                    ) =>
                {
                    self.sessions.remove(i);
                }
                Some(_) => return Err(InsertError::KeyInUse),
                None => {}
            }
        }
        if self.sessions.len() >= CAPACITY {
            let oldest_unassured = self
                .sessions
                .iter()
                .position(|s| !s.assured)
                .ok_or(InsertError::Full)?;
            self.sessions.remove(oldest_unassured);
        }
        let state = match forward.proto {
            Protocol::Tcp if flags.contains(TcpFlags::RST) => SessionState::TcpReset,
            Protocol::Tcp if flags.contains(TcpFlags::SYN) => SessionState::TcpSynSent,
            Protocol::Tcp => SessionState::TcpEstablished,
            _ => SessionState::UdpUnreplied,
        };
        let expires_at = now + timeout(state, false).as_millis() as u64;
        self.sessions.push(ModelSession {
            keys: [forward, reverse],
            value,
            state,
            assured: false,
            fins: [false; 2],
            expires_at,
        });
        Ok(value)
    }

    fn lookup(
        &mut self,
        now: u64,
        key: &FlowKey,
        flags: TcpFlags,
    ) -> Option<(Direction, u32, SessionState)> {
        use SessionState::*;
        self.live(now);
        let (i, direction) = self.find(key)?;
        let s = &mut self.sessions[i];
        let forward = direction == Direction::Forward;
        let (syn, ack, fin) = (
            flags.contains(TcpFlags::SYN),
            flags.contains(TcpFlags::ACK),
            flags.contains(TcpFlags::FIN),
        );
        let before = s.state;
        if before == TcpTimeWait && forward && syn && !ack {
            // A new connection on a closed one's tuple: not this session.
            self.sessions.remove(i);
            return None;
        }
        s.state = match s.state {
            UdpUnreplied | UdpReplied => {
                if forward {
                    s.state
                } else {
                    UdpReplied
                }
            }
            _ if flags.contains(TcpFlags::RST) => TcpReset,
            TcpReset if forward && syn && !ack => {
                s.fins = [false; 2];
                TcpSynSent
            }
            TcpSynSent if !forward && syn && ack => TcpSynReceived,
            TcpSynSent | TcpSynReceived if forward && ack && !syn => TcpEstablished,
            TcpEstablished | TcpFinWait if fin => {
                s.fins[usize::from(!forward)] = true;
                if s.fins == [true, true] {
                    TcpTimeWait
                } else {
                    TcpFinWait
                }
            }
            other => other,
        };
        let handshake = matches!(before, TcpSynSent | TcpSynReceived) && s.state == TcpEstablished;
        s.assured |= !forward || handshake;
        s.expires_at = now + timeout(s.state, s.assured).as_millis() as u64;
        Some((direction, s.value, s.state))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn table_matches_model(ops in proptest::collection::vec(op(), 1..120)) {
        let config = SessionConfig { capacity: CAPACITY, timeouts: timeouts(), hash_key: Some(HashKey([7; 16])), unassured_percent: 100 };
        let mut table = SessionTable::new(config).unwrap();
        let mut model = Model::default();
        let start = Instant::now();
        let mut now = 0u64;
        for op in ops {
            let at = start + Duration::from_millis(now);
            match op {
                Op::Insert { forward, reverse, flags, value } => {
                    let flags = TcpFlags::from_bits(flags);
                    let expected = model.insert(now, pool(forward), pool(reverse), flags, value);
                    let got = table.insert(at, pool(forward), pool(reverse), Some(flags), value).map(|v| *v);
                    prop_assert_eq!(got, expected);
                }
                Op::Lookup { key, flags } => {
                    let flags = TcpFlags::from_bits(flags);
                    let expected = model.lookup(now, &pool(key), flags);
                    let got = table.lookup(at, &pool(key), Some(flags)).map(|hit| (hit.direction, *hit.value, hit.state));
                    prop_assert_eq!(got, expected);
                }
                Op::Advance(ms) => now += ms,
                Op::Expire(budget) => {
                    table.expire(at, budget);
                }
                Op::Remove(key) => {
                    model.live(now);
                    let expected = model.find(&pool(key)).map(|(i, _)| model.sessions.remove(i).value);
                    let got = table.remove(&pool(key));
                    // The table may still hold the session expired; the model has dropped it.
                    if expected.is_some() {
                        prop_assert_eq!(got, expected);
                    }
                }
            }
            prop_assert!(table.len() <= CAPACITY);
            model.live(now);
            let at = start + Duration::from_millis(now);
            let mut live: Vec<(FlowKey, FlowKey, u32)> = table.iter(at).map(|s| (s.forward, s.reverse, *s.value)).collect();
            let mut expected: Vec<(FlowKey, FlowKey, u32)> = model.sessions.iter().map(|s| (s.keys[0], s.keys[1], s.value)).collect();
            live.sort();
            expected.sort();
            prop_assert_eq!(live, expected);
        }
    }
}

/// Millions of half-open sessions from random sources against a few
/// thousand established ones: all established survive, memory stays put.
#[test]
fn syn_flood_cannot_push_out_established_sessions() {
    const CAPACITY: usize = 20_000;
    const ESTABLISHED: u32 = 5_000;
    const FLOOD: u32 = 2_000_000;
    let mut table = SessionTable::new(SessionConfig {
        capacity: CAPACITY,
        ..SessionConfig::default()
    })
    .unwrap();
    let start = Instant::now();
    let vip = Ipv4Addr::new(10, 255, 0, 1);
    let backend = Ipv4Addr::new(192, 168, 1, 2);
    let flow = |src: u32, port: u16| FlowKey {
        src: Ipv4Addr::from(src).into(),
        dst: vip.into(),
        src_port: port,
        dst_port: 80,
        proto: Protocol::Tcp,
    };
    let reply = |forward: FlowKey| FlowKey {
        src: backend.into(),
        ..forward.reversed()
    };
    let ack = Some(TcpFlags::ACK);
    for n in 0..ESTABLISHED {
        let forward = flow(0x0a00_0000 + n, 40000);
        table
            .insert(start, forward, reply(forward), Some(TcpFlags::SYN), n)
            .unwrap();
        table
            .lookup(start, &reply(forward), Some(TcpFlags::SYN | TcpFlags::ACK))
            .unwrap();
        table.lookup(start, &forward, ack).unwrap();
    }
    // A cheap generator for spoofed sources (xorshift).
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut bytes_at_cap = 0;
    for n in 0..FLOOD {
        if n == FLOOD / 2 {
            // Full, with churn for a while: memory has reached its bound.
            bytes_at_cap = table.allocated_bytes();
        }
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let now = start + Duration::from_micros(u64::from(n));
        let forward = flow(
            0xc000_0000 | (state as u32 & 0x3fff_ffff),
            (state >> 40) as u16,
        );
        let _ = table.insert(now, forward, reply(forward), Some(TcpFlags::SYN), n);
        assert!(table.len() <= CAPACITY);
    }
    let end = start + Duration::from_secs(3);
    for n in 0..ESTABLISHED {
        let forward = flow(0x0a00_0000 + n, 40000);
        let hit = table
            .lookup(end, &forward, ack)
            .expect("established session survived");
        assert_eq!(*hit.value, n);
    }
    let stats = table.stats();
    assert!(stats.evicted + stats.expired > u64::from(FLOOD) - CAPACITY as u64);
    assert_eq!(
        stats.refused, 0,
        "there was always a half-open session to evict"
    );
    assert_eq!(
        table.allocated_bytes(),
        bytes_at_cap,
        "memory stays at the cap"
    );
    let per_session = table.allocated_bytes() / CAPACITY;
    assert!(per_session <= 160, "{per_session} bytes per session");
}
