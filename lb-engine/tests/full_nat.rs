//! Full-NAT services (`source_nat`) fixtures: backends see the load
//! balancer's address and a port of its range, replies go back to the
//! client with the Ethernet addresses of its own frames; ports run out
//! cleanly. Expected frames are built whole by etherparse.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant, SystemTime};

use common::rp::{BACKENDS, FRONTEND, IN, backend, client, vip};
use common::*;
use etherparse::PacketBuilder;
use lb_engine::{
    BackendConfig, ConfigError, Control, DropReason, Engine, Observe, Persist, ReverseProxy,
    ReverseProxyConfig, ServiceSelector, Verdict,
};
use lb_packet::{Frame, MacAddr, TcpFlags};

/// tcp, udp and ping on 10.0.0.1:80 to 192.168.1.2:8080, from
/// 192.168.1.250 and two ports.
const CONFIG: &str = r#"
[[service]]
vip = "10.0.0.1"
port = 80
proto = "all"
source_nat = { ip = "192.168.1.250", ports = "40000-40001" }
backend = [{ ip = "192.168.1.2", port = 8080 }]
"#;

fn snat() -> Ipv4Addr {
    ip(192, 168, 1, 250)
}

fn snat_mac() -> MacAddr {
    MacAddr::local_for(snat().into())
}

/// Replies from the backend to the load balancer's address.
fn from_backend() -> (MacAddr, MacAddr) {
    (BACKEND_MAC, snat_mac())
}

/// What replies to the client carry: from the MAC it addressed, to its own.
const TO_CLIENT: (MacAddr, MacAddr) = (ROUTER_MAC, CLIENT_MAC);

fn engine(config: &str) -> ReverseProxy {
    let config: ReverseProxyConfig = toml::from_str(config).unwrap();
    ReverseProxy::new(vec![None], &config).unwrap()
}

/// The source port a frame to the backend came from.
fn source_port(frame: &[u8]) -> u16 {
    Frame::parse(frame).unwrap().flow_key().unwrap().src_port
}

#[test]
fn tcp_udp_and_ping_reach_backends_from_the_load_balancer() {
    let mut lb = engine(CONFIG);
    let now = Instant::now();
    let (c, v, b) = (ep(client(), 40000), ep(vip(), 80), ep(backend(), 8080));
    let (verdict, out) = run(&mut lb, now, FRONTEND, &tcp(IN, c, v, "S", b""));
    assert_eq!(verdict, Verdict::Forward(BACKENDS));
    let port = source_port(&out);
    assert!((40000..=40001).contains(&port), "{port}");
    let s = ep(snat(), port);
    assert_eq!(
        out,
        tcp(IN, s, b, "S", b""),
        "the client's L2, the NAT's L3"
    );
    rp_check(
        &mut lb,
        now,
        BACKENDS,
        &tcp(from_backend(), b, s, "SA", b""),
        FRONTEND,
        &tcp(TO_CLIENT, v, c, "SA", b""),
    );
    rp_check(
        &mut lb,
        now,
        FRONTEND,
        &tcp(IN, c, v, "PA", b"GET /"),
        BACKENDS,
        &tcp(IN, s, b, "PA", b"GET /"),
    );

    let (uc, ub) = (ep(client(), 5353), ep(backend(), 8080));
    let (verdict, out) = run(&mut lb, now, FRONTEND, &udp(IN, uc, v, b"query"));
    assert_eq!(verdict, Verdict::Forward(BACKENDS));
    let us = ep(snat(), source_port(&out));
    assert_eq!(out, udp(IN, us, ub, b"query"));
    rp_check(
        &mut lb,
        now,
        BACKENDS,
        &udp(from_backend(), ub, us, b"answer"),
        FRONTEND,
        &udp(TO_CLIENT, v, uc, b"answer"),
    );

    // Ping: the echo identifier is the allocated port, both ways.
    let (verdict, out) = run(
        &mut lb,
        now,
        FRONTEND,
        &echo(IN, client(), vip(), true, 77, 1),
    );
    assert_eq!(verdict, Verdict::Forward(BACKENDS));
    let id = source_port(&out);
    assert!((40000..=40001).contains(&id), "{id}");
    assert_eq!(out, echo(IN, snat(), backend(), true, id, 1));
    rp_check(
        &mut lb,
        now,
        BACKENDS,
        &echo(from_backend(), backend(), snat(), false, id, 1),
        FRONTEND,
        &echo(TO_CLIENT, vip(), client(), false, 77, 1),
    );
}

/// [`common::rp::check`] with the ports the verdict forwards to.
fn rp_check(
    lb: &mut ReverseProxy,
    now: Instant,
    port: lb_engine::PortId,
    input: &[u8],
    to: lb_engine::PortId,
    output: &[u8],
) {
    common::rp::check(lb, now, port, input, Verdict::Forward(to), output);
}

#[test]
fn the_load_balancer_answers_for_its_address_and_keeps_strays_off_the_clients() {
    let mut lb = engine(CONFIG);
    let now = Instant::now();
    let asking = (BACKEND_MAC, backend());
    let request = arp(true, asking, (MacAddr([0; 6]), snat()), MacAddr::BROADCAST);
    let answer = arp(false, (snat_mac(), snat()), asking, BACKEND_MAC);
    common::rp::check(&mut lb, now, BACKENDS, &request, Verdict::Reply, &answer);
    // Another address is not ours to answer: it passes, as before.
    let other = arp(
        true,
        asking,
        (MacAddr([0; 6]), ip(192, 168, 1, 9)),
        MacAddr::BROADCAST,
    );
    common::rp::check(
        &mut lb,
        now,
        BACKENDS,
        &other,
        Verdict::Forward(FRONTEND),
        &other,
    );
    // A segment to the NAT's address of no session goes nowhere.
    let (verdict, _) = run(
        &mut lb,
        now,
        BACKENDS,
        &tcp(
            from_backend(),
            ep(backend(), 8080),
            ep(snat(), 40000),
            "A",
            b"",
        ),
    );
    assert_eq!(verdict, Verdict::Drop(DropReason::NoSession));
}

#[test]
fn exhausted_ports_refuse_new_connections_with_a_reset_and_spare_the_rest() {
    let mut lb = engine(CONFIG);
    let now = Instant::now();
    let v = ep(vip(), 80);
    let mut ports = Vec::new();
    for n in 0..2 {
        let (verdict, out) = run(
            &mut lb,
            now,
            FRONTEND,
            &tcp(IN, ep(client(), 41000 + n), v, "S", b""),
        );
        assert_eq!(verdict, Verdict::Forward(BACKENDS));
        ports.push(source_port(&out));
    }
    ports.sort_unstable();
    assert_eq!(ports, [40000, 40001]);
    let third = ep(client(), 41002);
    let syn = tcp_with_seq(third, v, 1000);
    let (verdict, _) = run(&mut lb, now, FRONTEND, &syn);
    assert_eq!(verdict, Verdict::Drop(DropReason::PortsExhausted));
    let mut reset = Vec::new();
    assert_eq!(lb.poll_transmit(&mut reset), Some(FRONTEND));
    let frame = Frame::parse(&reset[..]).unwrap();
    assert_eq!((frame.src_mac(), frame.dst_mac()), TO_CLIENT);
    let key = frame.flow_key().unwrap();
    assert_eq!(
        (key.src_endpoint(), key.dst_endpoint()),
        (v.into(), third.into())
    );
    let flags = frame.tcp_segment().unwrap().flags;
    assert_eq!(
        flags,
        TcpFlags::RST | TcpFlags::ACK,
        "a reset acknowledging the SYN"
    );
    assert_eq!(lb.poll_transmit(&mut reset), None);
    let stats = lb.stats(now);
    let service = stats
        .services
        .iter()
        .find(|s| s.name == "10.0.0.1:80/tcp")
        .unwrap();
    assert_eq!(service.refused, 1);
    assert_eq!(stats.traffic.refused, 1);
    assert_eq!(stats.traffic.drops(DropReason::PortsExhausted), 1);
    // The first two go on.
    for n in 0..2 {
        let (verdict, _) = run(
            &mut lb,
            now,
            FRONTEND,
            &tcp(IN, ep(client(), 41000 + n), v, "A", b"data"),
        );
        assert_eq!(verdict, Verdict::Forward(BACKENDS));
    }
    // Their sessions ended, the ports come back.
    let all: ServiceSelector = "10.0.0.1:80/all".parse().unwrap();
    let at = "192.168.1.2:8080".parse().unwrap();
    lb.remove_backend(all, at).unwrap();
    lb.add_backend(all, &BackendConfig::new(backend(), 1).port(8080))
        .unwrap();
    let (verdict, _) = run(&mut lb, now, FRONTEND, &syn);
    assert_eq!(verdict, Verdict::Forward(BACKENDS));
}

/// A SYN with sequence number `seq`.
fn tcp_with_seq(src: SocketAddrV4, dst: SocketAddrV4, seq: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    PacketBuilder::ethernet2(IN.0.0, IN.1.0)
        .ipv4(src.ip().octets(), dst.ip().octets(), 64)
        .tcp(src.port(), dst.port(), seq, 64240)
        .syn()
        .write(&mut bytes, b"")
        .unwrap();
    bytes
}

#[test]
fn icmp_errors_are_translated_both_ways() {
    let mut lb = engine(CONFIG);
    let now = Instant::now();
    let (c, v, b) = (ep(client(), 40000), ep(vip(), 80), ep(backend(), 8080));
    let (_, out) = run(&mut lb, now, FRONTEND, &tcp(IN, c, v, "S", b""));
    let s = ep(snat(), source_port(&out));
    // A router on the client's side cannot pass the VIP's segments.
    let router = ip(10, 0, 0, 254);
    rp_check(
        &mut lb,
        now,
        FRONTEND,
        &frag_needed(
            (ROUTER_MAC, BACKEND_MAC),
            router,
            vip(),
            &tcp(TO_CLIENT, v, c, "SA", b""),
        ),
        BACKENDS,
        &frag_needed(
            (ROUTER_MAC, BACKEND_MAC),
            router,
            backend(),
            &tcp(from_backend(), b, s, "SA", b""),
        ),
    );
    // The backend refuses a datagram: the client hears it from the VIP.
    let uc = ep(client(), 5353);
    let (_, out) = run(&mut lb, now, FRONTEND, &udp(IN, uc, v, b"q"));
    let us = ep(snat(), source_port(&out));
    rp_check(
        &mut lb,
        now,
        BACKENDS,
        &port_unreachable(from_backend(), backend(), snat(), &udp(IN, us, b, b"q")),
        FRONTEND,
        &port_unreachable(TO_CLIENT, vip(), client(), &udp(IN, uc, v, b"q")),
    );
}

#[test]
fn sources_that_cannot_work_are_refused() {
    let refused = |nat: &str| {
        let config: ReverseProxyConfig = toml::from_str(&CONFIG.replace(
            "source_nat = { ip = \"192.168.1.250\", ports = \"40000-40001\" }",
            nat,
        ))
        .unwrap();
        ReverseProxy::new(vec![None], &config)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        refused("source_nat = { ip = \"10.0.0.1\" }"),
        "source_nat 10.0.0.1 is a VIP"
    );
    assert_eq!(
        refused("source_nat = { ip = \"192.168.1.2\" }"),
        "source_nat 192.168.1.2 is a backend"
    );
    assert_eq!(
        refused("source_nat = { ip = \"fd00::250\" }"),
        "source_nat fd00::250 is IPv6 where IPv4 is needed"
    );
    assert_eq!(
        refused("source_nat = { ip = \"255.255.255.255\" }"),
        "source_nat 255.255.255.255 is the broadcast address"
    );
    let two = format!(
        "{CONFIG}[[service]]\nvip = \"10.0.0.5\"\nport = 80\nproto = \"tcp\"\nsource_nat = {{ ip = \"192.168.1.250\", ports = \"50000-50009\" }}\nbackend = [{{ ip = \"192.168.1.3\" }}]\n"
    );
    let config: ReverseProxyConfig = toml::from_str(&two).unwrap();
    assert_eq!(
        ReverseProxy::new(vec![None], &config)
            .unwrap_err()
            .to_string(),
        "source_nat 192.168.1.250 has another port range or MAC in another service: give it one"
    );
    let mut lb = engine(CONFIG);
    let all: ServiceSelector = "10.0.0.1:80/all".parse().unwrap();
    assert_eq!(
        lb.add_backend(all, &BackendConfig::new(snat(), 1)),
        Err(ConfigError::Address {
            what: "backend",
            addr: snat().into(),
            why: "is a source_nat address",
        })
    );
    // A service added at run time is checked against the running ones.
    let clash: lb_engine::ServiceConfig = toml::from_str::<ReverseProxyConfig>(&two)
        .unwrap()
        .services
        .remove(1);
    assert!(lb.add_service(&clash).is_err());
}

#[test]
fn sessions_come_back_after_a_restart_with_their_ports_and_macs() {
    let start = Instant::now();
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut old = engine(CONFIG);
    let (c, v, b) = (ep(client(), 40000), ep(vip(), 80), ep(backend(), 8080));
    let (_, out) = run(&mut old, start, FRONTEND, &tcp(IN, c, v, "S", b""));
    let s = ep(snat(), source_port(&out));
    let saved = old.save_sessions(start, wall);
    let mut new = engine(CONFIG);
    let restored = new.restore_sessions(start, wall, &saved).unwrap();
    assert_eq!(restored.restored, 1);
    rp_check(
        &mut new,
        start,
        BACKENDS,
        &tcp(from_backend(), b, s, "SA", b""),
        FRONTEND,
        &tcp(TO_CLIENT, v, c, "SA", b""),
    );
    // Its port is taken: one is left, then none.
    let (verdict, out) = run(
        &mut new,
        start,
        FRONTEND,
        &tcp(IN, ep(client(), 40001), v, "S", b""),
    );
    assert_eq!(verdict, Verdict::Forward(BACKENDS));
    assert_ne!(source_port(&out), s.port());
    let (verdict, _) = run(
        &mut new,
        start,
        FRONTEND,
        &tcp(IN, ep(client(), 40002), v, "S", b""),
    );
    assert_eq!(verdict, Verdict::Drop(DropReason::PortsExhausted));
}
