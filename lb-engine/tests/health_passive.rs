//! Passive detection, overrides and panic mode in each engine: backends
//! judged by the handshakes of real traffic (RST, ICMP unreachable,
//! silence), clients' retries sent elsewhere, ejection with back-off.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use common::health::{dst_of, syn};
use common::rp::{BACKENDS, FRONTEND};
use common::{tcp, udp};
use lb_engine::{
    Control, DirectReturn, DirectReturnConfig, DropReason, Engine, Health, HealthOverride,
    HealthReason, MacAddr, Observe, PassiveFailure, ReverseProxy, ReverseProxyConfig,
    ServiceSelector, Verdict,
};
use lb_packet::{EthernetRepr, Frame, FrameRepr, IcmpRepr, Ipv4Repr};

const VIP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80);

fn backend(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 1, last)
}

/// A reverse proxy over `count` backends on tcp/80 (passive detection
/// only), with `extra` lines in `[health]`.
fn proxy(count: u8, extra: &str) -> ReverseProxy {
    let backends: Vec<String> = (2..2 + count)
        .map(|n| format!("{{ ip = \"192.168.1.{n}\" }}"))
        .collect();
    let text = format!(
        "[health]\n{extra}\n[selection]\nhash_key = \"000102030405060708090a0b0c0d0e0f\"\n[[service]]\nvip = \"10.0.0.1\"\nport = 80\nproto = \"tcp\"\nbackend = [{}]\n",
        backends.join(", ")
    );
    let config: ReverseProxyConfig = toml::from_str(&text).unwrap();
    ReverseProxy::new(vec![None], &config).unwrap()
}

fn client(n: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 9, (n >> 8) as u8, n as u8), 40000 + n)
}

/// Sends a client's SYN; where it went.
fn send_syn(engine: &mut ReverseProxy, now: Instant, from: SocketAddrV4) -> Ipv4Addr {
    let mut frame = syn(VIP, from);
    assert_eq!(
        engine.handle_frame(now, FRONTEND, &mut frame),
        Verdict::Forward(BACKENDS)
    );
    dst_of(&frame)
}

/// The backend's answer to a client's SYN: `flags` from `at:80`.
fn answer(
    engine: &mut ReverseProxy,
    now: Instant,
    at: Ipv4Addr,
    to: SocketAddrV4,
    flags: &str,
) -> Verdict {
    let macs = (
        MacAddr([2, 0, 0, 0, 0xb0, 1]),
        MacAddr([2, 0, 0, 0, 0, 0x0c]),
    );
    let mut frame = tcp(macs, SocketAddrV4::new(at, 80), to, flags, b"");
    engine.handle_frame(now, BACKENDS, &mut frame)
}

fn health_of(engine: &ReverseProxy, now: Instant, at: Ipv4Addr) -> lb_engine::BackendStats {
    let name = SocketAddrV4::new(at, 80).to_string();
    engine.stats(now).services[0]
        .backends
        .iter()
        .find(|b| b.name == name)
        .cloned()
        .unwrap()
}

#[test]
fn a_refused_syn_is_retried_elsewhere() {
    let mut engine = proxy(2, "");
    let now = Instant::now();
    let first = send_syn(&mut engine, now, client(1));
    // The RST is held back: the client retries, and reaches the other one.
    let verdict = answer(&mut engine, now, first, client(1), "RA");
    assert_eq!(verdict, Verdict::Drop(DropReason::BackendRefused));
    let second = send_syn(&mut engine, now + Duration::from_secs(1), client(1));
    assert_ne!(first, second);
    assert_eq!(
        answer(&mut engine, now, second, client(1), "SA"),
        Verdict::Forward(FRONTEND)
    );
    let refused = health_of(&engine, now, first);
    assert_eq!(refused.health_detail.passive_failures, 1);
    assert_eq!(
        refused.health_detail.last_passive_failure,
        Some(PassiveFailure::Refused)
    );
    assert_eq!(health_of(&engine, now, second).health, Health::Up);
    assert_eq!(
        engine.stats(now).traffic.drops(DropReason::BackendRefused),
        1
    );

    // With one backend there is nowhere else: the client learns at once.
    let mut alone = proxy(1, "");
    let only = send_syn(&mut alone, now, client(1));
    assert_eq!(
        answer(&mut alone, now, only, client(1), "RA"),
        Verdict::Forward(FRONTEND)
    );
}

#[test]
fn an_unanswered_syn_is_retried_elsewhere() {
    let mut engine = proxy(3, "");
    let now = Instant::now();
    let first = send_syn(&mut engine, now, client(7));
    let retry = send_syn(&mut engine, now + Duration::from_secs(1), client(7));
    assert_ne!(first, retry, "the retry goes to another backend");
    let silent = health_of(&engine, now, first);
    assert_eq!(
        silent.health_detail.last_passive_failure,
        Some(PassiveFailure::Silence)
    );
    // Its replies are translated from the new backend.
    assert_eq!(
        answer(&mut engine, now, retry, client(7), "SA"),
        Verdict::Forward(FRONTEND)
    );
    assert_eq!(
        answer(&mut engine, now, first, client(7), "SA"),
        Verdict::Forward(FRONTEND)
    );
}

#[test]
fn consecutive_failures_eject_with_growing_back_off() {
    let mut engine = proxy(
        3,
        "[health.passive]\nconsecutive_failures = 3\nbase_ejection_ms = 1000",
    );
    let start = Instant::now();
    let failing = backend(2);
    let eject = |engine: &mut ReverseProxy, now: Instant, clients: u16| {
        let mut failures = 0;
        for n in clients..clients + 400 {
            if send_syn(engine, now, client(n)) == failing {
                answer(engine, now, failing, client(n), "RA");
                failures += 1;
                if failures == 3 {
                    return;
                }
            }
        }
        panic!("too few flows to {failing}");
    };
    eject(&mut engine, start, 0);
    let ejected = health_of(&engine, start, failing);
    assert_eq!(ejected.health, Health::Down);
    assert_eq!(ejected.health_detail.ejected_for_ms, Some(1000));
    let event = engine.poll_health_event().expect("an event");
    assert!(
        !event.usable && matches!(event.reason, HealthReason::Ejected { for_ms: 1000, .. }),
        "{event}"
    );
    // No new flow reaches it while ejected...
    for n in 1000..1100 {
        assert_ne!(send_syn(&mut engine, start, client(n)), failing);
    }
    // ...and it is back when the ejection ends (the engine's timer says when).
    let deadline = engine.poll_timeout().unwrap();
    assert!(deadline <= start + Duration::from_millis(1000));
    engine.handle_timeout(start + Duration::from_millis(1000));
    assert_eq!(
        engine.poll_health_event().map(|e| e.reason),
        Some(HealthReason::EjectionOver)
    );
    let later = start + Duration::from_millis(1000);
    eject(&mut engine, later, 2000);
    assert_eq!(
        health_of(&engine, later, failing)
            .health_detail
            .ejected_for_ms,
        Some(2000),
        "twice as long"
    );
}

#[test]
fn icmp_unreachable_from_the_backend_side_counts() {
    let mut engine = proxy(2, "");
    let now = Instant::now();
    let to = send_syn(&mut engine, now, client(3));
    // A router on the way says the backend's host is unreachable.
    let mut quoted = syn(SocketAddrV4::new(to, 80), client(3));
    let quote = Frame::parse(&mut quoted[..])
        .unwrap()
        .ipv4_packet()
        .unwrap()[..28]
        .to_vec();
    let ethernet = EthernetRepr::new(
        MacAddr([2, 0, 0, 0, 0, 0xfe]),
        MacAddr([2, 0, 0, 0, 0, 0x0c]),
    );
    let header = Ipv4Repr::new(Ipv4Addr::new(192, 168, 1, 254), *client(3).ip());
    let mut error = FrameRepr::ipv4(
        ethernet,
        header,
        IcmpRepr::DestUnreachable { code: 1 },
        &quote,
    )
    .to_vec()
    .unwrap();
    assert_eq!(
        engine.handle_frame(now, BACKENDS, &mut error),
        Verdict::Forward(FRONTEND)
    );
    let detail = health_of(&engine, now, to).health_detail;
    assert_eq!(
        detail.last_passive_failure,
        Some(PassiveFailure::Unreachable)
    );
}

#[test]
fn overrides_outrank_health_and_sessions_stay() {
    let mut engine = proxy(2, "");
    let now = Instant::now();
    let service: ServiceSelector = "10.0.0.1:80/tcp".parse().unwrap();
    let to = send_syn(&mut engine, now, client(1));
    answer(&mut engine, now, to, client(1), "SA");
    engine
        .force_health(
            service,
            SocketAddrV4::new(to, 80).into(),
            Some(HealthOverride::Down),
        )
        .unwrap();
    let forced = health_of(&engine, now, to);
    assert_eq!(
        (forced.health, forced.health_detail.forced),
        (Health::Down, Some(HealthOverride::Down))
    );
    assert_eq!(forced.sessions, 1, "its session goes on");
    let macs = (
        MacAddr([2, 0, 0, 0, 0, 0x0c]),
        MacAddr([2, 0, 0, 0, 0, 0x0f]),
    );
    let mut data = tcp(macs, client(1), VIP, "A", b"more");
    assert_eq!(
        engine.handle_frame(now, FRONTEND, &mut data),
        Verdict::Forward(BACKENDS)
    );
    assert_eq!(dst_of(&data), to, "a live session outranks health");
    for n in 10..60 {
        assert_ne!(send_syn(&mut engine, now, client(n)), to);
    }
    engine
        .force_health(service, SocketAddrV4::new(to, 80).into(), None)
        .unwrap();
    assert!((100..200).any(|n| send_syn(&mut engine, now, client(n)) == to));
    let unknown = engine.force_health(service, SocketAddrV4::new(backend(9), 80).into(), None);
    assert!(unknown.unwrap_err().to_string().contains("has no backend"));
}

#[test]
fn below_the_panic_threshold_every_backend_takes_flows() {
    let now = Instant::now();
    let service: ServiceSelector = "10.0.0.1:80/tcp".parse().unwrap();
    // Two of three ejected by an operator would leave one; forced backends
    // stay out even in panic, so eject by passive failures instead.
    let mut engine = proxy(
        3,
        "panic_threshold = 50\n[health.passive]\nconsecutive_failures = 1\nmax_ejection_percent = 100",
    );
    for failing in [backend(2), backend(3)] {
        let n = (0..400)
            .find(|&n| send_syn(&mut engine, now, client(n)) == failing)
            .unwrap();
        answer(&mut engine, now, failing, client(n), "RA");
    }
    let stats = engine.stats(now);
    assert!(stats.services[0].panic, "one of three usable is below 50%");
    let mut reached: Vec<Ipv4Addr> = (1000..1200)
        .map(|n| send_syn(&mut engine, now, client(n)))
        .collect();
    reached.sort();
    reached.dedup();
    assert_eq!(reached.len(), 3, "panic: all of them");

    // Threshold 0: never panic; with every backend down, new flows drop.
    let mut strict = proxy(1, "panic_threshold = 0");
    strict
        .force_health(
            service,
            SocketAddrV4::new(backend(2), 80).into(),
            Some(HealthOverride::Down),
        )
        .unwrap();
    let mut frame = syn(VIP, client(1));
    assert_eq!(
        strict.handle_frame(now, FRONTEND, &mut frame),
        Verdict::Drop(DropReason::NoBackend)
    );
}

/// Maglev is rebuilt without a down backend: flows of the others keep
/// their backends (the table of the same key, rebuilt, moves few).
#[test]
fn a_down_backend_leaves_the_others_their_flows() {
    let now = Instant::now();
    let service: ServiceSelector = "10.0.0.1:80/tcp".parse().unwrap();
    let mut before = proxy(5, "");
    let mut after = proxy(5, "");
    let down = backend(4);
    after
        .force_health(
            service,
            SocketAddrV4::new(down, 80).into(),
            Some(HealthOverride::Down),
        )
        .unwrap();
    let (mut kept, mut others) = (0, 0);
    for n in 0..2000 {
        let was = send_syn(&mut before, now, client(n));
        let is = send_syn(&mut after, now, client(n));
        assert_ne!(is, down);
        if was != down {
            others += 1;
            kept += usize::from(was == is);
        }
    }
    assert!(kept * 100 >= others * 97, "{kept} of {others} kept");
}

#[test]
fn direct_return_retries_unanswered_syns_elsewhere() {
    let config: DirectReturnConfig = toml::from_str(
        r#"
        vips = ["10.0.0.1"]
        mac = "02:00:00:00:00:aa"
        backends = [{ mac = "02:00:00:00:5e:01" }, { mac = "02:00:00:00:5e:02" }]
        policy = "flow-hash"
        one_armed = true
        "#,
    )
    .unwrap();
    let mut engine = DirectReturn::new(&config).unwrap();
    let now = Instant::now();
    let send = |engine: &mut DirectReturn, flags: &str, at: Instant| {
        let macs = (
            MacAddr([2, 0, 0, 0, 0, 0x0c]),
            MacAddr([2, 0, 0, 0, 0, 0xaa]),
        );
        let mut frame = tcp(macs, client(5), VIP, flags, b"");
        assert_eq!(
            engine.handle_frame(at, lb_engine::FRONTEND_PORT, &mut frame),
            Verdict::Reply
        );
        Frame::parse(&frame[..]).unwrap().dst_mac()
    };
    let first = send(&mut engine, "S", now);
    let retry = send(&mut engine, "S", now + Duration::from_secs(1));
    assert_ne!(first, retry);
    assert_eq!(
        send(&mut engine, "A", now),
        retry,
        "the session follows the retry"
    );
    let stats = engine.stats(now);
    let failed = stats.services[0]
        .backends
        .iter()
        .find(|b| b.name == first.to_string())
        .unwrap();
    assert_eq!(
        failed.health_detail.last_passive_failure,
        Some(PassiveFailure::Silence)
    );
    let answered = stats.services[0]
        .backends
        .iter()
        .find(|b| b.name == retry.to_string())
        .unwrap();
    assert_eq!(
        answered.health,
        Health::Up,
        "the client's ACK shows it answered"
    );
    // UDP has no handshake to judge.
    let macs = (
        MacAddr([2, 0, 0, 0, 0, 0x0c]),
        MacAddr([2, 0, 0, 0, 0, 0xaa]),
    );
    let mut datagram = udp(macs, client(6), VIP, b"x");
    assert_eq!(
        engine.handle_frame(now, lb_engine::FRONTEND_PORT, &mut datagram),
        Verdict::Reply
    );
}

#[test]
fn the_proxy_retries_refused_connections_elsewhere() {
    let config: lb_engine::NatProxyConfig = toml::from_str(
        r#"
        ip = "192.168.0.100"
        prefix_len = 24
        mac = "02:00:00:00:00:64"
        dst_addrs = ["192.168.0.1", "192.168.0.2"]
        policy = "round-robin"
        "#,
    )
    .unwrap();
    let mut proxy = lb_engine::NatProxy::new(&config).unwrap();
    let now = Instant::now();
    let proxy_mac = MacAddr([2, 0, 0, 0, 0, 0x64]);
    let proxy_ip = Ipv4Addr::new(192, 168, 0, 100);
    for n in 1..=2 {
        let mac = MacAddr([2, 0, 0, 0, 0xd0, n]);
        let mut reply = common::arp(
            false,
            (mac, Ipv4Addr::new(192, 168, 0, n)),
            (proxy_mac, proxy_ip),
            proxy_mac,
        );
        proxy.handle_frame(now, lb_engine::PROXY_PORT, &mut reply);
    }
    let client = SocketAddrV4::new(Ipv4Addr::new(192, 168, 0, 50), 41000);
    let macs = (MacAddr([2, 0, 0, 0, 0, 0x50]), proxy_mac);
    let send_syn = |proxy: &mut lb_engine::NatProxy| {
        let mut frame = tcp(macs, client, SocketAddrV4::new(proxy_ip, 80), "S", b"");
        assert_eq!(
            proxy.handle_frame(now, lb_engine::PROXY_PORT, &mut frame),
            Verdict::Reply
        );
        let key = Frame::parse(&frame[..]).unwrap().flow_key().unwrap();
        (common::v4(key.dst_endpoint()), key.src_port)
    };
    let (first, snat_port) = send_syn(&mut proxy);
    let refusal = (MacAddr([2, 0, 0, 0, 0xd0, 1]), proxy_mac);
    let mut rst = tcp(
        refusal,
        first,
        SocketAddrV4::new(proxy_ip, snat_port),
        "RA",
        b"",
    );
    let verdict = proxy.handle_frame(now, lb_engine::PROXY_PORT, &mut rst);
    assert_eq!(verdict, Verdict::Drop(DropReason::BackendRefused));
    let (second, _) = send_syn(&mut proxy);
    assert_ne!(
        first.ip(),
        second.ip(),
        "the retry goes to the other destination"
    );
}

#[test]
fn a_down_backend_can_end_its_sessions() {
    let mut engine = proxy(2, "end_sessions_on_down = true");
    let now = Instant::now();
    let service: ServiceSelector = "10.0.0.1:80/tcp".parse().unwrap();
    let to = send_syn(&mut engine, now, client(1));
    answer(&mut engine, now, to, client(1), "SA");
    assert_eq!(engine.stats(now).sessions, 1);
    engine
        .force_health(
            service,
            SocketAddrV4::new(to, 80).into(),
            Some(HealthOverride::Down),
        )
        .unwrap();
    assert_eq!(engine.stats(now).sessions, 0, "IPVS's expire_nodest_conn");
}
