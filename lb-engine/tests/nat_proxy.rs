//! NatProxy fixtures: ARP, ping, connections through NAT with next-hop
//! resolution, retransmissions, RST, timeouts, limits.

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::*;
use lb_engine::{DropReason, Engine, NatProxy, NatProxyConfig, Observe, PROXY_PORT, Verdict};
use lb_packet::{Frame, MacAddr};

const PROXY_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x64]);

fn dest_mac(n: u8) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, 0xd0, n])
}
fn proxy() -> Ipv4Addr {
    ip(192, 168, 0, 100)
}
fn client() -> Ipv4Addr {
    ip(192, 168, 0, 50)
}
fn dest(n: u8) -> Ipv4Addr {
    ip(192, 168, 0, n)
}

fn config() -> NatProxyConfig {
    NatProxyConfig {
        ip: proxy().into(),
        vips: Vec::new(),
        prefix_len: 24,
        mac: PROXY_MAC,
        gateway: None,
        dst_addrs: vec![dest(1).into(), dest(2).into()],
        policy: lb_algos::Policy::RoundRobin,
        snat_ports: "20000-20999".parse().unwrap(),
        denied_ports: vec![22],
        sessions: Default::default(),
        selection: Default::default(),
        arp: Default::default(),
        health: Default::default(),
        health_check: None,
    }
}

fn handle(proxy: &mut NatProxy, now: Instant, input: &[u8]) -> (Verdict, Vec<u8>) {
    let mut frame = input.to_vec();
    let verdict = proxy.handle_frame(now, PROXY_PORT, &mut frame);
    (verdict, frame)
}

fn drain(proxy: &mut NatProxy) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut buffer = Vec::new();
    while let Some(port) = proxy.poll_transmit(&mut buffer) {
        assert_eq!(port, PROXY_PORT);
        frames.push(buffer.clone());
    }
    frames
}

const FROM_CLIENT: (MacAddr, MacAddr) = (CLIENT_MAC, PROXY_MAC);

fn ttl63() -> Ip {
    Ip {
        ttl: 63,
        ..Ip::default()
    }
}

/// Resolves `dest(n)` by answering the proxy's ARP request.
fn answer_arp(lb: &mut NatProxy, now: Instant, n: u8) {
    let reply = arp(
        false,
        (dest_mac(n), dest(n)),
        (PROXY_MAC, proxy()),
        PROXY_MAC,
    );
    assert_eq!(handle(lb, now, &reply).0, Verdict::Consumed);
}

#[test]
fn answers_arp_and_every_ping() {
    let mut p = NatProxy::new(&config()).unwrap();
    let now = Instant::now();
    let request = arp(
        true,
        (CLIENT_MAC, client()),
        (MacAddr::ZERO, proxy()),
        MacAddr::BROADCAST,
    );
    let reply = arp(
        false,
        (PROXY_MAC, proxy()),
        (CLIENT_MAC, client()),
        CLIENT_MAC,
    );
    assert_eq!(handle(&mut p, now, &request), (Verdict::Reply, reply));
    for seq in 0..5 {
        let ping = echo(FROM_CLIENT, client(), proxy(), true, 9, seq);
        let pong = echo((PROXY_MAC, CLIENT_MAC), proxy(), client(), false, 9, seq);
        assert_eq!(handle(&mut p, now, &ping), (Verdict::Reply, pong));
    }
    let elsewhere = arp(
        true,
        (CLIENT_MAC, client()),
        (MacAddr::ZERO, dest(1)),
        MacAddr::BROADCAST,
    );
    assert_eq!(
        handle(&mut p, now, &elsewhere).0,
        Verdict::Drop(DropReason::NotForUs)
    );
}

#[test]
fn connection_through_nat_with_arp_resolution() {
    let mut p = NatProxy::new(&config()).unwrap();
    let now = Instant::now();
    let (c, listen) = (ep(client(), 40000), ep(proxy(), 80));
    // The destination's MAC is unknown: the SYN waits, an ARP request goes out.
    assert_eq!(
        handle(&mut p, now, &tcp(FROM_CLIENT, c, listen, "S", b"")).0,
        Verdict::Consumed
    );
    let sent = drain(&mut p);
    assert_eq!(
        sent,
        [lb_packet::arp_request(PROXY_MAC, proxy(), dest(1)).to_vec()]
    );
    answer_arp(&mut p, now, 1);
    let released = drain(&mut p);
    assert_eq!(released.len(), 1);
    let snat_port = Frame::parse(&released[0][..])
        .unwrap()
        .flow_key()
        .unwrap()
        .src_port;
    assert!((20000..=20999).contains(&snat_port));
    let outside = ep(proxy(), snat_port);
    assert_eq!(
        released[0],
        tcp_with(
            (PROXY_MAC, dest_mac(1)),
            outside,
            ep(dest(1), 80),
            "S",
            b"",
            &ttl63()
        )
    );

    // The answer is translated back to the client.
    let answer = tcp(
        (dest_mac(1), PROXY_MAC),
        ep(dest(1), 80),
        outside,
        "SA",
        b"",
    );
    let expected = tcp_with((PROXY_MAC, CLIENT_MAC), listen, c, "SA", b"", &ttl63());
    assert_eq!(handle(&mut p, now, &answer), (Verdict::Reply, expected));

    // A retransmitted SYN takes the same mapping, now without waiting.
    let again = tcp_with(
        (PROXY_MAC, dest_mac(1)),
        outside,
        ep(dest(1), 80),
        "S",
        b"",
        &ttl63(),
    );
    assert_eq!(
        handle(&mut p, now, &tcp(FROM_CLIENT, c, listen, "S", b"")),
        (Verdict::Reply, again)
    );
    // Data both ways, then RST: forwarded, and the session ends soon after.
    let data = tcp_with(
        (PROXY_MAC, dest_mac(1)),
        outside,
        ep(dest(1), 80),
        "PA",
        b"hi",
        &ttl63(),
    );
    assert_eq!(
        handle(&mut p, now, &tcp(FROM_CLIENT, c, listen, "PA", b"hi")),
        (Verdict::Reply, data)
    );
    let reset = tcp((dest_mac(1), PROXY_MAC), ep(dest(1), 80), outside, "R", b"");
    assert_eq!(handle(&mut p, now, &reset).0, Verdict::Reply);
    let later = now + Duration::from_secs(11);
    let stray = tcp(FROM_CLIENT, c, listen, "A", b"");
    assert_eq!(
        handle(&mut p, later, &stray).0,
        Verdict::Drop(DropReason::NoSession)
    );

    let stats = p.stats(now);
    assert_eq!(stats.services[0].counters.new_flows, 1);
    assert_eq!(
        stats.traffic.originated, 2,
        "one ARP request, one released frame"
    );
}

#[test]
fn connections_spread_over_destinations_with_distinct_ports() {
    let mut p = NatProxy::new(&config()).unwrap();
    let now = Instant::now();
    answer_arp(&mut p, now, 1);
    answer_arp(&mut p, now, 2);
    let mut seen = std::collections::HashMap::new();
    for port in 40000..40010u16 {
        let (verdict, out) = handle(
            &mut p,
            now,
            &tcp(FROM_CLIENT, ep(client(), port), ep(proxy(), 8080), "S", b""),
        );
        assert_eq!(verdict, Verdict::Reply);
        let key = Frame::parse(&out[..]).unwrap().flow_key().unwrap();
        assert_eq!(
            (key.src, key.dst_port),
            (proxy().into(), 8080),
            "port kept, source is the proxy"
        );
        assert!(
            seen.insert((key.dst, key.src_port), port).is_none(),
            "ports never collide"
        );
    }
    let per_dest = |n| seen.keys().filter(|k| k.0 == dest(n)).count();
    assert_eq!((per_dest(1), per_dest(2)), (5, 5));
}

#[test]
fn udp_round_trip_and_icmp_error_translation() {
    let mut p = NatProxy::new(&config()).unwrap();
    let now = Instant::now();
    answer_arp(&mut p, now, 1);
    let (c, listen) = (ep(client(), 5000), ep(proxy(), 53));
    let (verdict, out) = handle(&mut p, now, &udp(FROM_CLIENT, c, listen, b"query"));
    assert_eq!(verdict, Verdict::Reply);
    let outside = ep(
        proxy(),
        Frame::parse(&out[..]).unwrap().flow_key().unwrap().src_port,
    );
    assert_eq!(
        out,
        udp_with(
            (PROXY_MAC, dest_mac(1)),
            outside,
            ep(dest(1), 53),
            b"query",
            &ttl63()
        )
    );
    let answer = udp(
        (dest_mac(1), PROXY_MAC),
        ep(dest(1), 53),
        outside,
        b"answer",
    );
    assert_eq!(
        handle(&mut p, now, &answer),
        (
            Verdict::Reply,
            udp_with((PROXY_MAC, CLIENT_MAC), listen, c, b"answer", &ttl63())
        )
    );

    // A router near the destination reports the big datagram we sent it.
    let router = ip(192, 168, 0, 254);
    let we_sent = udp((PROXY_MAC, dest_mac(1)), outside, ep(dest(1), 53), b"query");
    let client_sent = udp((PROXY_MAC, dest_mac(1)), c, listen, b"query");
    let error_in = frag_needed((dest_mac(1), PROXY_MAC), router, proxy(), &we_sent);
    let (verdict, out) = handle(&mut p, now, &error_in);
    assert_eq!(verdict, Verdict::Reply);
    let mut expected = frag_needed((PROXY_MAC, CLIENT_MAC), router, client(), &client_sent);
    expected[14 + 8] = 254; // TTL 255, decremented
    let checksum = u16::from_be_bytes([expected[24], expected[25]]) + 0x0100;
    expected[24..26].copy_from_slice(&checksum.to_be_bytes());
    assert_eq!(out, expected);
}

#[test]
fn refuses_what_it_must_not_forward() {
    let mut p = NatProxy::new(&config()).unwrap();
    let now = Instant::now();
    let cases = [
        (
            tcp(FROM_CLIENT, ep(client(), 1), ep(proxy(), 22), "S", b""),
            DropReason::DeniedPort,
        ),
        (
            tcp(FROM_CLIENT, ep(client(), 1), ep(proxy(), 80), "A", b""),
            DropReason::NoSession,
        ),
        (
            tcp(FROM_CLIENT, ep(client(), 1), ep(dest(1), 80), "S", b""),
            DropReason::NotForUs,
        ),
        (
            gre(FROM_CLIENT, client(), proxy()),
            DropReason::UnsupportedProtocol,
        ),
        (ipv6(FROM_CLIENT), DropReason::NotForUs),
    ];
    for (input, reason) in cases {
        assert_eq!(
            handle(&mut p, now, &input).0,
            Verdict::Drop(reason),
            "{reason}"
        );
    }
}

#[test]
fn arp_queue_is_bounded_in_size_and_time() {
    let mut p = NatProxy::new(&config()).unwrap();
    let start = Instant::now();
    // Round-robin alternates destinations; 16 frames wait per next hop.
    let mut verdicts = Vec::new();
    for port in 0..40u16 {
        let syn = tcp(
            FROM_CLIENT,
            ep(client(), 30000 + port),
            ep(proxy(), 80),
            "S",
            b"",
        );
        verdicts.push(handle(&mut p, start, &syn).0);
    }
    let consumed = verdicts.iter().filter(|v| **v == Verdict::Consumed).count();
    assert_eq!(consumed, 32);
    assert_eq!(
        verdicts
            .iter()
            .filter(|v| **v == Verdict::Drop(DropReason::ArpUnresolved))
            .count(),
        8
    );
    assert_eq!(drain(&mut p).len(), 2, "one request per next hop");
    // Unanswered: the request is repeated, then the frames are dropped.
    let retry = p.poll_timeout().unwrap();
    assert!(retry <= start + Duration::from_millis(250));
    p.handle_timeout(start + Duration::from_millis(250));
    assert_eq!(drain(&mut p).len(), 2, "requests repeated");
    p.handle_timeout(start + Duration::from_millis(1000));
    let stats = p.stats(start);
    assert_eq!(stats.traffic.drops(DropReason::ArpUnresolved), 8 + 32);
    answer_arp(&mut p, start + Duration::from_millis(1001), 1);
    assert!(drain(&mut p).is_empty(), "nothing left waiting");
}

#[test]
fn off_link_destinations_go_through_the_gateway() {
    let mut with_gateway = config();
    with_gateway.dst_addrs = vec![ip(10, 9, 9, 9).into()];
    assert!(
        NatProxy::new(&with_gateway)
            .unwrap_err()
            .to_string()
            .contains("off-link")
    );
    with_gateway.gateway = Some(ip(192, 168, 0, 254).into());
    let mut p = NatProxy::new(&with_gateway).unwrap();
    let now = Instant::now();
    handle(
        &mut p,
        now,
        &tcp(FROM_CLIENT, ep(client(), 1), ep(proxy(), 80), "S", b""),
    );
    assert_eq!(
        drain(&mut p),
        [lb_packet::arp_request(PROXY_MAC, proxy(), ip(192, 168, 0, 254)).to_vec()]
    );
    with_gateway.gateway = Some(ip(10, 0, 0, 1).into());
    assert!(
        NatProxy::new(&with_gateway).is_err(),
        "gateway must be on-link"
    );
}

#[test]
fn idle_connections_time_out() {
    let mut p = NatProxy::new(&config()).unwrap();
    let start = Instant::now();
    answer_arp(&mut p, start, 1);
    answer_arp(&mut p, start, 2);
    let syn = tcp(FROM_CLIENT, ep(client(), 1234), ep(proxy(), 80), "S", b"");
    handle(&mut p, start, &syn);
    assert_eq!(p.stats(start).sessions, 1);
    let later = start + Duration::from_secs(31);
    p.handle_timeout(later);
    assert_eq!(p.stats(later).sessions, 0);
}
