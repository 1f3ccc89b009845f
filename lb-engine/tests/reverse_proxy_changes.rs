//! A running ReverseProxy changed: backends added, drained and removed,
//! sessions expiring, configurations refused and reloaded; each flow keeps
//! its backend while it can.

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::rp::*;
use common::*;
use lb_engine::{
    BackendAddr, BackendConfig, ConfigError, Control, DropReason, Engine, Observe, ReverseProxy,
    ReverseProxyConfig, ServiceKey, Verdict,
};

fn two_backend_engine() -> ReverseProxy {
    let config: ReverseProxyConfig = toml::from_str(
        r#"
        [[service]]
        vip = "10.0.0.1"
        port = 80
        proto = "tcp"
        [[service.backend]]
        ip = "192.168.1.2"
        [[service.backend]]
        ip = "192.168.1.3"
        "#,
    )
    .unwrap();
    ReverseProxy::new(vec![None], &config).unwrap()
}

/// Sends a segment from `port`; returns where it went (destination address).
fn send(
    lb: &mut ReverseProxy,
    now: Instant,
    src_port: u16,
    flags: &str,
) -> Result<Ipv4Addr, Verdict> {
    let mut frame = tcp(IN, ep(client(), src_port), ep(vip(), 80), flags, b"");
    match lb.handle_frame(now, FRONTEND, &mut frame) {
        Verdict::Forward(BACKENDS) => Ok(lb_packet::Frame::parse(&frame[..])
            .unwrap()
            .ipv4()
            .unwrap()
            .dst()),
        other => Err(other),
    }
}

#[test]
fn sessions_keep_their_backend_while_backends_change() {
    let mut lb = two_backend_engine();
    let now = Instant::now();
    let key = ServiceKey::new(vip(), lb_packet::Protocol::Tcp, 80);
    let flows: Vec<(u16, Ipv4Addr)> = (1000..1100)
        .map(|port| (port, send(&mut lb, now, port, "S").unwrap()))
        .collect();
    for extra in 4..20 {
        lb.set_backend(key, &BackendConfig::new(ip(192, 168, 1, extra), 1))
            .unwrap();
    }
    for &(port, backend) in &flows {
        assert_eq!(
            send(&mut lb, now, port, "A"),
            Ok(backend),
            "flow {port} moved"
        );
    }
    // New flows now reach the new backends too.
    let fresh: Vec<Ipv4Addr> = (2000..2200)
        .map(|port| send(&mut lb, now, port, "S").unwrap())
        .collect();
    assert!(fresh.iter().any(|addr| addr.octets()[3] >= 4));

    // Removing 192.168.1.3 ends only its sessions.
    let ended = lb
        .remove_backend(
            key.into(),
            BackendAddr {
                ip: ip(192, 168, 1, 3).into(),
                port: None,
            },
        )
        .unwrap();
    assert_eq!(
        ended,
        flows.iter().filter(|f| f.1 == ip(192, 168, 1, 3)).count()
            + fresh.iter().filter(|a| **a == ip(192, 168, 1, 3)).count()
    );
    for &(port, backend) in &flows {
        let now_at = send(&mut lb, now, port, "A").unwrap();
        if backend == ip(192, 168, 1, 3) {
            assert_ne!(now_at, backend, "a removed backend gets nothing");
        } else {
            assert_eq!(now_at, backend);
        }
    }
}

#[test]
fn drained_backend_keeps_its_flows_and_takes_no_new_ones() {
    let mut lb = two_backend_engine();
    let now = Instant::now();
    let key = ServiceKey::new(vip(), lb_packet::Protocol::Tcp, 80);
    let flows: Vec<(u16, Ipv4Addr)> = (1000..1100)
        .map(|port| (port, send(&mut lb, now, port, "S").unwrap()))
        .collect();
    lb.set_backend(key, &BackendConfig::new(ip(192, 168, 1, 2), 0))
        .unwrap();
    for &(port, backend) in &flows {
        assert_eq!(send(&mut lb, now, port, "A"), Ok(backend));
    }
    for port in 3000..3200 {
        assert_eq!(send(&mut lb, now, port, "S"), Ok(ip(192, 168, 1, 3)));
    }
    let drained = lb.stats(now).services[0]
        .backends
        .iter()
        .find(|b| b.name == "192.168.1.2:80")
        .unwrap()
        .clone();
    assert_eq!(drained.weight, 0);
    assert!(drained.sessions > 0);
    // Everything drained: no backend for new flows.
    lb.set_backend(key, &BackendConfig::new(ip(192, 168, 1, 3), 0))
        .unwrap();
    assert_eq!(
        send(&mut lb, now, 4000, "S"),
        Err(Verdict::Drop(DropReason::NoBackend))
    );
}

/// A client that reuses its port for a new connection once the old one
/// closed both ways opens a new flow: picked afresh (not sent to a backend
/// drained since) and counted.
#[test]
fn a_closed_flow_reopened_on_its_tuple_is_a_new_flow() {
    let mut lb = two_backend_engine();
    let now = Instant::now();
    let first = send(&mut lb, now, 1000, "S").unwrap();
    let (c, b) = (ep(client(), 1000), ep(first, 80));
    let from_backend = |lb: &mut ReverseProxy, frame: Vec<u8>| {
        let mut frame = frame;
        assert_eq!(
            lb.handle_frame(now, BACKENDS, &mut frame),
            Verdict::Forward(FRONTEND)
        );
    };
    from_backend(&mut lb, tcp(OUT, b, c, "SA", b""));
    // The handshake's last ACK, acknowledging the SYN-ACK (seq 1000).
    let v = ep(vip(), 80);
    let mut ack = segment(IN, c, v, lb_packet::TcpFlags::ACK, 1001, 1001);
    assert_eq!(
        lb.handle_frame(now, FRONTEND, &mut ack),
        Verdict::Forward(BACKENDS)
    );
    assert_eq!(send(&mut lb, now, 1000, "FA"), Ok(first));
    from_backend(&mut lb, tcp(OUT, b, c, "FA", b""));
    let key = ServiceKey::new(vip(), lb_packet::Protocol::Tcp, 80);
    lb.set_backend(key, &BackendConfig::new(first, 0)).unwrap();
    let other = send(&mut lb, now, 1000, "S").unwrap();
    assert_ne!(other, first, "not to the drained backend");
    let service = &lb.stats(now).services[0];
    assert_eq!((service.counters.new_flows, service.sessions), (2, 1));
}

#[test]
fn sessions_expire_and_are_swept() {
    let mut lb = engine();
    let start = Instant::now();
    let mut query = udp(IN, ep(client(), 5000), ep(vip(), 53), b"q");
    lb.handle_frame(start, FRONTEND, &mut query);
    assert_eq!(lb.stats(start).sessions, 1);
    let later = start + Duration::from_secs(31);
    lb.handle_timeout(later);
    assert_eq!(lb.stats(later).sessions, 0);
    assert!(lb.poll_timeout().unwrap() > later);
}

#[test]
fn configuration_errors_are_named_and_change_nothing() {
    let parse = |text: &str| toml::from_str::<ReverseProxyConfig>(text);
    let duplicate = parse(
        r#"
        [[service]]
        vip = "10.0.0.1"
        port = 80
        proto = "all"
        [[service]]
        vip = "10.0.0.1"
        port = 80
        proto = "tcp"
        "#,
    )
    .unwrap();
    assert_eq!(
        ReverseProxy::new(vec![None], &duplicate)
            .unwrap_err()
            .to_string(),
        "duplicate service 10.0.0.1:80/tcp"
    );
    let twice = parse(
        r#"
        [[service]]
        vip = "10.0.0.1"
        port = 80
        proto = "tcp"
        [[service.backend]]
        ip = "192.168.1.2"
        [[service.backend]]
        ip = "192.168.1.2"
        port = 80
        "#,
    )
    .unwrap();
    assert!(matches!(
        ReverseProxy::new(vec![None], &twice),
        Err(ConfigError::DuplicateBackend { .. })
    ));
    let no_port = parse("[[service]]\nvip = \"10.0.0.1\"\nproto = \"udp\"\n").unwrap();
    assert!(matches!(
        ReverseProxy::new(vec![None], &no_port),
        Err(ConfigError::ZeroPort(_))
    ));
    assert!(parse("[[service]]\nvip = \"10.0.0.300\"\nproto = \"tcp\"\n").is_err());
    assert!(parse("[[service]]\nvip = \"10.0.0.1\"\nproto = \"sctp\"\n").is_err());
    assert!(
        parse("[[service]]\nvip = \"10.0.0.1\"\nproto = \"tcp\"\npolicy = \"fastest\"\n").is_err()
    );
    let config: ReverseProxyConfig = parse(CONFIG).unwrap();
    assert!(matches!(
        ReverseProxy::new(vec![Some(ip(1, 1, 1, 1).into()), None], &config),
        Err(ConfigError::Ports(_))
    ));
    // Values that parse but cannot work: each refused with its reason.
    let service = |vip: &str, backend: &str| {
        format!(
            "[[service]]\nvip = \"{vip}\"\nport = 80\nproto = \"tcp\"\nbackend = [{{ ip = \"{backend}\" }}]\n"
        )
    };
    for (text, expected) in [
        (
            service("0.0.0.0", "192.168.1.2"),
            "VIP 0.0.0.0 is unspecified (0.0.0.0)",
        ),
        (
            service("255.255.255.255", "192.168.1.2"),
            "VIP 255.255.255.255 is the broadcast address",
        ),
        (
            service("224.0.0.5", "192.168.1.2"),
            "VIP 224.0.0.5 is a multicast address",
        ),
        (
            service("10.0.0.1", "0.0.0.0"),
            "backend 0.0.0.0 is unspecified (0.0.0.0)",
        ),
        (
            service("10.0.0.1", "10.0.0.1"),
            "backend 10.0.0.1 is a VIP: its replies would be taken for clients' requests",
        ),
        (
            format!(
                "[sessions]\ntimeouts = {{ tcp_established = 0 }}\n{}",
                service("10.0.0.1", "192.168.1.2")
            ),
            "session table: timeout tcp_established = 0 s is outside 1 ms to one year",
        ),
        (
            format!(
                "[sessions]\ntimeouts = {{ tcp_established = 18446744073709551615 }}\n{}",
                service("10.0.0.1", "192.168.1.2")
            ),
            "session table: timeout tcp_established = 18446744073709551615 s is outside 1 ms to one year",
        ),
    ] {
        let config = parse(&text).unwrap();
        let error = ReverseProxy::new(vec![None], &config).unwrap_err();
        assert_eq!(error.to_string(), expected);
    }

    // Runtime changes that fail leave the running configuration as it was.
    let mut lb = engine();
    let before = lb.services();
    let key = ServiceKey::new(vip(), lb_packet::Protocol::Tcp, 80);
    assert!(lb.add_service(&config.services[0]).is_err());
    assert!(matches!(
        lb.remove_backend(
            key.into(),
            BackendAddr {
                ip: ip(1, 2, 3, 4).into(),
                port: None
            }
        ),
        Err(ConfigError::UnknownBackend { .. })
    ));
    let unknown = ServiceKey::new(vip(), lb_packet::Protocol::Tcp, 81);
    assert_eq!(
        lb.remove_service(unknown.into()),
        Err(ConfigError::UnknownService(unknown.to_string()))
    );
    assert_eq!(lb.services(), before);
}

#[test]
fn reload_keeps_sessions_of_remaining_backends() {
    let mut lb = two_backend_engine();
    let now = Instant::now();
    let flows: Vec<(u16, Ipv4Addr)> = (1000..1050)
        .map(|port| (port, send(&mut lb, now, port, "S").unwrap()))
        .collect();
    let reloaded: ReverseProxyConfig = toml::from_str(
        r#"
        [[service]]
        vip = "10.0.0.1"
        port = 80
        proto = "tcp"
        [[service.backend]]
        ip = "192.168.1.2"
        weight = 5
        [[service.backend]]
        ip = "192.168.1.9"
        [[service]]
        vip = "10.0.0.5"
        port = 22
        proto = "tcp"
        "#,
    )
    .unwrap();
    lb.replace_services(&reloaded.services).unwrap();
    for &(port, backend) in flows.iter().filter(|f| f.1 == ip(192, 168, 1, 2)) {
        assert_eq!(send(&mut lb, now, port, "A"), Ok(backend));
    }
    let names: Vec<String> = lb
        .services()
        .iter()
        .map(|s| format!("{}:{}", s.vip, s.port))
        .collect();
    assert_eq!(names, ["10.0.0.1:80", "10.0.0.5:22"]);
    let weights: Vec<u32> = lb.services()[0].backends.iter().map(|b| b.weight).collect();
    assert_eq!(weights, [5, 1]);
}
