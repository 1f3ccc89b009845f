//! Fuzz bodies and the engines they drive, kept in the library (behind the
//! `testing` feature) so the one-line target in `fuzz/`, the stable corpus
//! replay and the allocation test share them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use lb_packet::{Frame, MacAddr};

use crate::{
    DirectReturn, DirectReturnConfig, DsrBackendConfig, Engine, HealthCheck, HealthSettings,
    NatProxy, NatProxyConfig, Observe, Persist, PortId, ProbeKind, ReverseProxy,
    ReverseProxyConfig, SessionFilter, SessionSettings, Verdict,
};

/// Sessions the fuzzed engines hold, small so eviction is exercised.
const FUZZ_SESSIONS: usize = 16;

/// A small table whose batches are always prefetched, so that the batch
/// path is fuzzed whole.
fn fuzz_sessions() -> SessionSettings {
    SessionSettings {
        capacity: FUZZ_SESSIONS,
        prefetch_from: 0,
        ..SessionSettings::default()
    }
}

/// The reverse proxy the fuzzer drives: VIPs 10.0.0.1 and fd0d::1, each
/// with tcp/80, udp/53 and icmp services (health-checked over IPv4), two
/// frontends (MULTI mode), backend port 2.
pub fn fuzz_reverse_proxy() -> ReverseProxy {
    let mut config: ReverseProxyConfig = toml_services();
    config.sessions = fuzz_sessions();
    // A small prime table builds in microseconds, not milliseconds.
    config.selection.maglev_table_size = Some(31);
    let frontends = vec![
        Some(Ipv4Addr::new(10, 0, 0, 254).into()),
        Some(Ipv4Addr::new(10, 1, 0, 254).into()),
    ];
    ReverseProxy::new(frontends, &config).unwrap_or_else(|e| panic!("fuzz config: {e}"))
}

fn toml_services() -> ReverseProxyConfig {
    use crate::{BackendConfig, ServiceConfig, ServiceProtocol};
    // Named, so that stats write names in.
    let backend = |ip: IpAddr, port| BackendConfig {
        ip,
        port: Some(port),
        weight: 1,
        name: Some(format!("server {ip}")),
    };
    // Maglev for TCP, cheaper policies (each built per input) elsewhere.
    let service = |vip: IpAddr, port, proto, backends| ServiceConfig {
        vip,
        port,
        proto,
        policy: match proto {
            ServiceProtocol::Tcp => lb_algos::Policy::Maglev,
            ServiceProtocol::Udp => lb_algos::Policy::FlowHash,
            _ => lb_algos::Policy::RoundRobin,
        },
        maglev_table_size: None,
        backends,
        // Probes come from an IPv4 source.
        health: (proto == ServiceProtocol::Tcp && vip.is_ipv4()).then(|| HealthCheck {
            kind: ProbeKind::Http,
            interval_ms: 100,
            timeout_ms: 50,
            ..HealthCheck::new(ProbeKind::Http)
        }),
        name: Some(format!("{proto:?} on {vip}")),
        source_nat: None,
    };
    let families: [(IpAddr, [IpAddr; 2]); 2] = [
        (
            Ipv4Addr::new(10, 0, 0, 1).into(),
            [
                Ipv4Addr::new(192, 168, 1, 2).into(),
                Ipv4Addr::new(192, 168, 1, 3).into(),
            ],
        ),
        (
            Ipv6Addr::new(0xfd0d, 0, 0, 0, 0, 0, 0, 1).into(),
            [
                Ipv6Addr::new(0xfd01, 0, 0, 0, 0, 0, 0, 2).into(),
                Ipv6Addr::new(0xfd01, 0, 0, 0, 0, 0, 0, 3).into(),
            ],
        ),
    ];
    let services = families
        .into_iter()
        .flat_map(|(vip, [b2, b3])| {
            [
                service(
                    vip,
                    80,
                    ServiceProtocol::Tcp,
                    vec![backend(b2, 8080), backend(b3, 8080)],
                ),
                service(vip, 53, ServiceProtocol::Udp, vec![backend(b2, 5353)]),
                service(vip, 0, ServiceProtocol::Icmp, vec![backend(b2, 0)]),
            ]
        })
        .collect();
    ReverseProxyConfig {
        services,
        health: fuzz_health("192.168.1.253/24"),
        ..ReverseProxyConfig::default()
    }
}

/// Probes from `source`, on a fixed seed so that runs repeat.
fn fuzz_health(source: &str) -> HealthSettings {
    HealthSettings {
        source: source.parse().ok(),
        seed: Some(1),
        ..HealthSettings::default()
    }
}

/// The DSR engine the fuzzer drives: VIPs 10.0.0.1 and fd0d::1 at
/// 02:00:00:00:00:aa.
pub fn fuzz_direct_return() -> DirectReturn {
    let config = DirectReturnConfig {
        vips: vec![
            Ipv4Addr::new(10, 0, 0, 1).into(),
            Ipv6Addr::new(0xfd0d, 0, 0, 0, 0, 0, 0, 1).into(),
        ],
        mac: MacAddr([2, 0, 0, 0, 0, 0xaa]),
        backend_port_mac: Some(MacAddr([2, 0, 0, 0, 0, 0xab])),
        backends: (1..4)
            .map(|n| DsrBackendConfig {
                mac: MacAddr([2, 0, 0, 0, 0x5e, n]),
                weight: 1,
            })
            .collect(),
        policy: lb_algos::Policy::FlowHash,
        one_armed: false,
        sessions: fuzz_sessions(),
        selection: Default::default(),
        health: fuzz_health("10.0.0.253/24"),
        health_check: Some(HealthCheck {
            port: Some(80),
            interval_ms: 100,
            timeout_ms: 50,
            ..HealthCheck::new(ProbeKind::Tcp)
        }),
    };
    DirectReturn::new(&config).unwrap_or_else(|e| panic!("fuzz config: {e}"))
}

/// The proxy the fuzzer drives: 10.0.0.1/24 at 02:00:00:00:00:aa (and VIP
/// 10.0.0.9), sending to 10.0.0.2 and 10.0.0.3, gateway 10.0.0.254.
pub fn fuzz_nat_proxy() -> NatProxy {
    let config = NatProxyConfig {
        ip: Ipv4Addr::new(10, 0, 0, 1).into(),
        vips: vec![Ipv4Addr::new(10, 0, 0, 9).into()],
        prefix_len: 24,
        mac: MacAddr([2, 0, 0, 0, 0, 0xaa]),
        gateway: Some(Ipv4Addr::new(10, 0, 0, 254).into()),
        dst_addrs: vec![
            Ipv4Addr::new(10, 0, 0, 2).into(),
            Ipv4Addr::new(10, 0, 0, 3).into(),
        ],
        policy: lb_algos::Policy::Random,
        snat_ports: "40000-40063".parse().unwrap_or_default(),
        denied_ports: vec![22],
        sessions: fuzz_sessions(),
        selection: Default::default(),
        arp: Default::default(),
        health: fuzz_health("10.0.0.253/24"),
        health_check: Some(HealthCheck {
            interval_ms: 100,
            timeout_ms: 50,
            ..HealthCheck::new(ProbeKind::Icmp)
        }),
    };
    NatProxy::new(&config).unwrap_or_else(|e| panic!("fuzz config: {e}"))
}

/// Splits fuzz input into frames: each record is a port byte, a
/// milliseconds-to-wait byte, a big-endian u16 length, and the frame.
pub fn records(mut data: &[u8]) -> Vec<(u8, u8, &[u8])> {
    let mut records = Vec::new();
    while let [port, wait, high, low, rest @ ..] = data {
        let len = usize::from(u16::from_be_bytes([*high, *low])).min(rest.len());
        records.push((*port, *wait, &rest[..len]));
        data = &rest[len..];
    }
    records
}

/// Encodes frames as [`records`] reads them.
pub fn encode_records(frames: &[(u8, u8, Vec<u8>)]) -> Vec<u8> {
    let mut data = Vec::new();
    for (port, wait, frame) in frames {
        data.extend_from_slice(&[*port, *wait]);
        data.extend_from_slice(&u16::try_from(frame.len()).unwrap_or(u16::MAX).to_be_bytes());
        data.extend_from_slice(frame);
    }
    data
}

/// Feeds a frame sequence to one engine on arbitrary ports, after a flood
/// that fills its session table, then restarts it: its sessions saved and
/// put back into a new one. The input's first byte chooses: bit 0 floods,
/// bits 1 and 2 pick the engine (the reverse proxy, DSR, the NAT proxy,
/// the reverse proxy moving clients' sources), bit 3 skips the restart. One engine an input,
/// not all four, and a restart for half of them, so that the fuzzer runs
/// ten thousand inputs a second.
/// Properties: nothing panics; every frame sent re-parses (so its IPv4
/// checksum is right) and keeps a valid transport checksum if it came in
/// with one; no engine holds more sessions than its capacity; a new engine
/// reads back every session the old one saved.
pub fn engines(data: &[u8]) {
    let first = data.first().copied().unwrap_or(0);
    run_engine(usize::from(first >> 1 & 3), data, first & 8 == 0);
}

/// [`engines`] on every engine in turn, each restarted, whatever the
/// first byte says: what the stable replay of the corpus runs.
pub fn each_engine(data: &[u8]) {
    for engine in 0..4 {
        run_engine(engine, data, true);
    }
}

fn run_engine(engine: usize, data: &[u8], restarts: bool) {
    let records = records(data);
    let flood = data.first().is_some_and(|first| first & 1 == 1);
    let mut fuzzed = build(engine);
    let now = drive(fuzzed.as_mut(), &records, flood);
    if restarts {
        restart(fuzzed.as_ref(), build(engine).as_mut(), now);
    } else {
        // At the end, not per frame: a snapshot formats every name, and
        // lb-session's model test checks the bound after every operation.
        let stats = fuzzed.stats(now);
        assert!(stats.sessions <= stats.session_capacity);
    }
}

/// Engine 0 (the reverse proxy), 1 (DSR), 2 (the NAT proxy) or 3 (the
/// reverse proxy moving clients' sources).
fn build(engine: usize) -> Box<dyn Fuzzed> {
    match engine {
        1 => Box::new(fuzz_direct_return()),
        2 => Box::new(fuzz_nat_proxy()),
        3 => Box::new(fuzz_rewriting_proxy()),
        _ => Box::new(fuzz_reverse_proxy()),
    }
}

/// [`fuzz_reverse_proxy`] with clients 10.0.0.64 to 10.0.0.127 moved to
/// 20.0.0.64 to 20.0.0.127 for the backends, and a full-NAT service on
/// 10.0.0.2 (tcp/80 and udp/80, eight source ports on 192.168.1.250, so
/// that they run out).
pub fn fuzz_rewriting_proxy() -> ReverseProxy {
    use crate::{Control, ServiceConfig, SourceNat};
    let mut engine = fuzz_reverse_proxy();
    let rewrite = crate::SrcIpRewrite {
        ip_range: range("10.0.0.64/26"),
        new_ip_range: range("20.0.0.64/26"),
    };
    engine
        .set_src_ip_rewrite(Some(rewrite))
        .unwrap_or_else(|e| panic!("fuzz rewrite: {e}"));
    let ports =
        lb_session::PortRange::new(40000, 40007).unwrap_or_else(|e| panic!("fuzz ports: {e}"));
    let full_nat = ServiceConfig {
        source_nat: Some(SourceNat {
            ip: Ipv4Addr::new(192, 168, 1, 250).into(),
            ports,
            mac: None,
        }),
        ..ServiceConfig::all(Ipv4Addr::new(10, 0, 0, 2), 80)
            .backend(Ipv4Addr::new(192, 168, 1, 2), 1)
    };
    engine
        .add_service(&full_nat)
        .unwrap_or_else(|e| panic!("fuzz full NAT: {e}"));
    engine
}

fn range(text: &str) -> crate::IpCidr {
    text.parse()
        .unwrap_or_else(|e| panic!("fuzz range {text}: {e}"))
}

/// Saves `old`'s sessions at `now` and puts them back into `new`, built
/// alike: each one is accounted for, none is orphaned or lost for room.
fn restart(old: &dyn Fuzzed, new: &mut dyn Fuzzed, now: Instant) {
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let listed = old
        .sessions(now, &SessionFilter::default(), usize::MAX)
        .len();
    assert!(listed <= FUZZ_SESSIONS, "{listed} sessions");
    let saved = old.save_sessions(now, wall);
    let restored = new
        .restore_sessions(now, wall, &saved)
        .unwrap_or_else(|e| panic!("a saved file did not read back: {e}"));
    assert!(restored.restored >= listed, "{restored:?} of {listed}");
    assert_eq!((restored.orphaned, restored.refused), (0, 0));
    let stats = new.stats(now);
    assert!(stats.sessions <= stats.session_capacity);
}

/// Spoofed SYNs, each followed by a blind ACK, to every fuzzed engine's
/// address (10.0.0.1:80 at 02:00:00:00:00:aa): a quarter more clients than
/// a fuzzed table holds, so that the last ones evict the first.
fn flood_frames() -> &'static [Vec<u8>] {
    static FRAMES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FRAMES.get_or_init(build_flood_frames)
}

fn build_flood_frames() -> Vec<Vec<u8>> {
    use lb_packet::{EthernetRepr, FrameRepr, Ipv4Repr, TcpFlags, TcpRepr};
    let ethernet = EthernetRepr::new(
        MacAddr([2, 0, 0, 0, 0, 0x0c]),
        MacAddr([2, 0, 0, 0, 0, 0xaa]),
    );
    let clients = u32::try_from(FUZZ_SESSIONS + FUZZ_SESSIONS / 4).unwrap_or(u32::MAX);
    (0..clients)
        .flat_map(|n| {
            let ip = Ipv4Repr::new(Ipv4Addr::from(0x0ac8_0000 + n), Ipv4Addr::new(10, 0, 0, 1));
            [(TcpFlags::SYN, 0), (TcpFlags::ACK, n.wrapping_mul(7919))].map(|(flags, ack)| {
                let tcp = TcpRepr {
                    seq: 1,
                    ack,
                    ..TcpRepr::new(40000, 80, flags)
                };
                FrameRepr::ipv4(ethernet, ip, tcp, b"")
                    .to_vec()
                    .unwrap_or_default()
            })
        })
        .collect()
}

/// An engine the fuzzer drives, reads and restarts.
trait Fuzzed: Engine + Observe + Persist {}

impl<E: Engine + Observe + Persist> Fuzzed for E {}

/// Runs the frames through `engine`; the time it ended at.
fn drive(engine: &mut dyn Fuzzed, records: &[(u8, u8, &[u8])], flood: bool) -> Instant {
    let mut originated = Vec::new();
    let mut now = Instant::now();
    let ports = engine.port_count();
    let flood = if flood { flood_frames() } else { &[] };
    let flooding = flood.iter().map(|frame| (0, 0, frame.as_slice()));
    let mut frame = Vec::new();
    for (port, wait, bytes) in flooding.chain(records.iter().copied()) {
        now += Duration::from_millis(u64::from(wait) * 40);
        let port = PortId(u16::from(port) % u16::try_from(ports).unwrap_or(1));
        let valid_in = Frame::parse(bytes).ok().and_then(|f| f.l4_checksum_valid());
        frame.clear();
        frame.extend_from_slice(bytes);
        let verdict = engine.handle_frame(now, port, &mut frame);
        if let Verdict::Forward(out) = verdict {
            assert!(
                out.index() < ports,
                "forwarded to a port that does not exist"
            );
        }
        if matches!(
            verdict,
            Verdict::Forward(_) | Verdict::Reply | Verdict::Flood
        ) {
            let out = Frame::parse(&frame[..])
                .unwrap_or_else(|e| panic!("sent a frame that does not parse: {e}"));
            if valid_in == Some(true) {
                assert_eq!(
                    out.l4_checksum_valid(),
                    Some(true),
                    "broke a valid transport checksum"
                );
            }
        }
        // As the run loop does: no deadline yet means call it anyway.
        if engine.poll_timeout().is_none_or(|deadline| deadline <= now) {
            engine.handle_timeout(now);
        }
        while let Some(port) = engine.poll_transmit(&mut originated) {
            assert!(port.index() < ports);
            Frame::parse(&originated[..])
                .unwrap_or_else(|e| panic!("originated an invalid frame: {e}"));
        }
    }
    now
}
