//! ReverseProxy fixtures, Katran style: a frame in on a port, the exact
//! verdict and bytes out, expected frames built by etherparse.

mod common;

use std::net::Ipv4Addr;
use std::time::Instant;

use common::rp::*;
use common::*;

use lb_engine::{DropReason, Engine, Observe, PortId, ReverseProxy, ReverseProxyConfig, Verdict};

#[test]
fn tcp_handshake_data_and_replies() {
    let mut lb = engine();
    let now = Instant::now();
    let (c, v, b) = (ep(client(), 40000), ep(vip(), 80), ep(backend(), 8080));
    check(
        &mut lb,
        now,
        FRONTEND,
        &tcp(IN, c, v, "S", b""),
        Verdict::Forward(BACKENDS),
        &tcp(IN, c, b, "S", b""),
    );
    check(
        &mut lb,
        now,
        BACKENDS,
        &tcp(OUT, b, c, "SA", b""),
        Verdict::Forward(FRONTEND),
        &tcp(OUT, v, c, "SA", b""),
    );
    check(
        &mut lb,
        now,
        FRONTEND,
        &tcp(IN, c, v, "A", b""),
        Verdict::Forward(BACKENDS),
        &tcp(IN, c, b, "A", b""),
    );
    let request = b"GET / HTTP/1.0\r\n\r\n";
    check(
        &mut lb,
        now,
        FRONTEND,
        &tcp(IN, c, v, "PA", request),
        Verdict::Forward(BACKENDS),
        &tcp(IN, c, b, "PA", request),
    );
    check(
        &mut lb,
        now,
        BACKENDS,
        &tcp(OUT, b, c, "PA", b"200 OK"),
        Verdict::Forward(FRONTEND),
        &tcp(OUT, v, c, "PA", b"200 OK"),
    );
    let stats = lb.stats(now);
    let service = stats
        .services
        .iter()
        .find(|s| s.name == "10.0.0.1:80/tcp")
        .unwrap();
    assert_eq!(
        (
            service.counters.new_flows,
            service.counters.packets,
            service.sessions
        ),
        (1, 5, 1)
    );
    assert_eq!(service.backends[0].counters.packets, 5);
    assert_eq!(stats.traffic.forwarded, 5);
}

#[test]
fn udp_exchange_and_checksum_zero() {
    let mut lb = engine();
    let now = Instant::now();
    let (c, v, b) = (ep(client(), 5000), ep(vip(), 53), ep(backend(), 5353));
    check(
        &mut lb,
        now,
        FRONTEND,
        &udp(IN, c, v, b"query"),
        Verdict::Forward(BACKENDS),
        &udp(IN, c, b, b"query"),
    );
    check(
        &mut lb,
        now,
        BACKENDS,
        &udp(OUT, b, c, b"answer"),
        Verdict::Forward(FRONTEND),
        &udp(OUT, v, c, b"answer"),
    );
    let other = ep(client(), 5001);
    check(
        &mut lb,
        now,
        FRONTEND,
        &udp_unchecked(IN, other, v, b"no checksum"),
        Verdict::Forward(BACKENDS),
        &udp_unchecked(IN, other, b, b"no checksum"),
    );
}

#[test]
fn ping_to_the_vip() {
    let mut lb = engine();
    let now = Instant::now();
    check(
        &mut lb,
        now,
        FRONTEND,
        &echo(IN, client(), vip(), true, 77, 1),
        Verdict::Forward(BACKENDS),
        &echo(IN, client(), backend(), true, 77, 1),
    );
    check(
        &mut lb,
        now,
        BACKENDS,
        &echo(OUT, backend(), client(), false, 77, 1),
        Verdict::Forward(FRONTEND),
        &echo(OUT, vip(), client(), false, 77, 1),
    );
}

#[test]
fn arp_ipv6_and_other_destinations_pass_unchanged() {
    let mut lb = engine();
    let now = Instant::now();
    let who_has_vip = arp(
        true,
        (CLIENT_MAC, client()),
        (lb_packet::MacAddr::ZERO, vip()),
        lb_packet::MacAddr::BROADCAST,
    );
    check(
        &mut lb,
        now,
        FRONTEND,
        &who_has_vip,
        Verdict::Forward(BACKENDS),
        &who_has_vip,
    );
    let answer = arp(
        false,
        (BACKEND_MAC, vip()),
        (CLIENT_MAC, client()),
        CLIENT_MAC,
    );
    check(
        &mut lb,
        now,
        BACKENDS,
        &answer,
        Verdict::Forward(FRONTEND),
        &answer,
    );
    for (port, out) in [
        (FRONTEND, Verdict::Forward(BACKENDS)),
        (BACKENDS, Verdict::Forward(FRONTEND)),
    ] {
        check(&mut lb, now, port, &ipv6(IN), out, &ipv6(IN));
    }
    // Straight to a backend, and its answer: no NAT.
    let direct = tcp(IN, ep(client(), 40001), ep(backend(), 8080), "S", b"");
    check(
        &mut lb,
        now,
        FRONTEND,
        &direct,
        Verdict::Forward(BACKENDS),
        &direct,
    );
    let answer = tcp(OUT, ep(backend(), 8080), ep(client(), 40001), "SA", b"");
    check(
        &mut lb,
        now,
        BACKENDS,
        &answer,
        Verdict::Forward(FRONTEND),
        &answer,
    );
    let gre_elsewhere = gre(IN, client(), ip(10, 9, 9, 9));
    check(
        &mut lb,
        now,
        FRONTEND,
        &gre_elsewhere,
        Verdict::Forward(BACKENDS),
        &gre_elsewhere,
    );
}

#[test]
fn vip_traffic_that_cannot_be_balanced_is_dropped_and_counted() {
    let mut lb = engine();
    let now = Instant::now();
    let cases = [
        (gre(IN, client(), vip()), DropReason::UnsupportedProtocol),
        (
            tcp(IN, ep(client(), 1), ep(vip(), 443), "S", b""),
            DropReason::NoService,
        ),
        (
            tcp(IN, ep(client(), 1), ep(vip(), 80), "R", b""),
            DropReason::NoSession,
        ),
        (
            tcp(IN, ep(client(), 1), ep(vip(), 80), "S", b"")[..40].to_vec(),
            DropReason::Malformed,
        ),
    ];
    for (input, reason) in cases {
        let mut frame = input.clone();
        assert_eq!(
            lb.handle_frame(now, FRONTEND, &mut frame),
            Verdict::Drop(reason)
        );
    }
    let stats = lb.stats(now);
    for reason in [
        DropReason::UnsupportedProtocol,
        DropReason::NoService,
        DropReason::NoSession,
        DropReason::Malformed,
    ] {
        assert_eq!(stats.traffic.drops(reason), 1, "{reason}");
    }
}

/// A client that fetched from a backend directly, then through the VIP
/// from the same port (its kernel reuses a port towards another address):
/// both flows' replies come from the backend to that port. The new one
/// waits while the direct one is open, and takes over once it closed.
#[test]
fn a_reused_client_port_takes_over_a_closed_direct_flow() {
    let mut lb = engine();
    let now = Instant::now();
    let (c, v, b) = (ep(client(), 40000), ep(vip(), 80), ep(backend(), 8080));
    let direct = |lb: &mut ReverseProxy, port, (from, to), flags| {
        let frame = tcp(
            if port == FRONTEND { IN } else { OUT },
            from,
            to,
            flags,
            b"",
        );
        let out = if port == FRONTEND { BACKENDS } else { FRONTEND };
        check(lb, now, port, &frame, Verdict::Forward(out), &frame);
    };
    direct(&mut lb, FRONTEND, (c, b), "S");
    direct(&mut lb, BACKENDS, (b, c), "SA");
    // The handshake's last ACK, acknowledging the backend's SYN (seq 1000).
    let ack = segment(IN, c, b, lb_packet::TcpFlags::ACK, 1001, 1001);
    check(
        &mut lb,
        now,
        FRONTEND,
        &ack,
        Verdict::Forward(BACKENDS),
        &ack,
    );
    let through_vip = tcp(IN, c, v, "S", b"");
    let mut frame = through_vip.clone();
    assert_eq!(
        lb.handle_frame(now, FRONTEND, &mut frame),
        Verdict::Drop(DropReason::KeyInUse)
    );
    direct(&mut lb, BACKENDS, (b, c), "FA");
    direct(&mut lb, FRONTEND, (c, b), "FA");
    let (vip_syn, backend_syn) = (through_vip, tcp(IN, c, b, "S", b""));
    check(
        &mut lb,
        now,
        FRONTEND,
        &vip_syn,
        Verdict::Forward(BACKENDS),
        &backend_syn,
    );
    let mut syn_ack = tcp(OUT, b, c, "SA", b"");
    let verdict = lb.handle_frame(now, BACKENDS, &mut syn_ack);
    assert_eq!(verdict, Verdict::Forward(FRONTEND));
    assert_eq!(syn_ack, tcp(OUT, v, c, "SA", b""), "the reply from the VIP");
    assert_eq!(lb.stats(now).traffic.drops(DropReason::KeyInUse), 1);
}

#[test]
fn ip_options_are_kept() {
    let mut lb = engine();
    let now = Instant::now();
    let options = Ip {
        options: vec![0x94, 0x04, 0x00, 0x00],
        ..Ip::default()
    };
    let (c, v, b) = (ep(client(), 5000), ep(vip(), 53), ep(backend(), 5353));
    check(
        &mut lb,
        now,
        FRONTEND,
        &udp_with(IN, c, v, b"opts", &options),
        Verdict::Forward(BACKENDS),
        &udp_with(IN, c, b, b"opts", &options),
    );
}

#[test]
fn fragments_follow_their_first() {
    let mut lb = engine();
    let now = Instant::now();
    let (c, v, b) = (ep(client(), 5000), ep(vip(), 53), ep(backend(), 5353));
    let first = Ip {
        more_fragments: true,
        ident: 99,
        ..Ip::default()
    };
    let payload = [7u8; 32];
    // The first fragment carries the UDP header: translate it like a packet.
    let mut first_in = udp_with(IN, c, v, &payload, &first);
    let mut first_out = udp_with(IN, c, b, &payload, &first);
    // Keep only 16 payload bytes in this fragment (length fields stay as built).
    for frame in [&mut first_in, &mut first_out] {
        frame.truncate(14 + 20 + 8 + 16);
        frame[14 + 2..14 + 4].copy_from_slice(&(20u16 + 8 + 16).to_be_bytes());
        let checksum = ip_checksum(&frame[14..34]);
        frame[14 + 10..14 + 12].copy_from_slice(&checksum.to_be_bytes());
    }
    check(
        &mut lb,
        now,
        FRONTEND,
        &first_in,
        Verdict::Forward(BACKENDS),
        &first_out,
    );
    // A later fragment: no ports in it, only the address changes.
    let later = Ip {
        fragment_offset: 3,
        ident: 99,
        ..Ip::default()
    };
    let later_in = raw_ipv4(IN, client(), vip(), 17, &later, &[8u8; 16]);
    let later_out = raw_ipv4(IN, client(), backend(), 17, &later, &[8u8; 16]);
    check(
        &mut lb,
        now,
        FRONTEND,
        &later_in,
        Verdict::Forward(BACKENDS),
        &later_out,
    );
    // A fragment of a datagram whose first was never seen.
    let orphan = raw_ipv4(
        IN,
        client(),
        vip(),
        17,
        &Ip {
            fragment_offset: 3,
            ident: 100,
            ..Ip::default()
        },
        &[9u8; 16],
    );
    let mut frame = orphan.clone();
    assert_eq!(
        lb.handle_frame(now, FRONTEND, &mut frame),
        Verdict::Drop(DropReason::Fragment)
    );
}

#[test]
fn icmp_errors_are_translated_with_their_flow() {
    let mut lb = engine();
    let now = Instant::now();
    let (c, v, b) = (ep(client(), 40000), ep(vip(), 80), ep(backend(), 8080));
    let mut syn = tcp(IN, c, v, "S", b"");
    lb.handle_frame(now, FRONTEND, &mut syn);
    // A router on the client side cannot pass the VIP's big segments.
    let router = ip(10, 0, 0, 254);
    let sent_by_backend = tcp(OUT, b, c, "SA", b"");
    let seen_by_client = tcp(OUT, v, c, "SA", b"");
    check(
        &mut lb,
        now,
        FRONTEND,
        &frag_needed((ROUTER_MAC, BACKEND_MAC), router, vip(), &seen_by_client),
        Verdict::Forward(BACKENDS),
        &frag_needed(
            (ROUTER_MAC, BACKEND_MAC),
            router,
            backend(),
            &sent_by_backend,
        ),
    );
    // The backend says port unreachable for UDP: the client must see the VIP.
    let (uc, uv, ub) = (ep(client(), 5000), ep(vip(), 53), ep(backend(), 5353));
    let mut query = udp(IN, uc, uv, b"q");
    lb.handle_frame(now, FRONTEND, &mut query);
    let unreachable = |from: Ipv4Addr, quoted: &[u8]| {
        port_unreachable((BACKEND_MAC, CLIENT_MAC), from, client(), quoted)
    };
    check(
        &mut lb,
        now,
        BACKENDS,
        &unreachable(backend(), &udp(IN, uc, ub, b"q")),
        Verdict::Forward(FRONTEND),
        &unreachable(vip(), &udp(IN, uc, uv, b"q")),
    );
    // An error about no known flow is not ours to translate.
    let mut stray = frag_needed(
        (ROUTER_MAC, BACKEND_MAC),
        router,
        vip(),
        &tcp(OUT, v, ep(client(), 1), "A", b""),
    );
    assert_eq!(
        lb.handle_frame(now, FRONTEND, &mut stray),
        Verdict::Drop(DropReason::NoSession)
    );
}

#[test]
fn multi_mode_steers_by_frontend_address() {
    let config: ReverseProxyConfig = toml::from_str(CONFIG).unwrap();
    let (f0, f1) = (ip(10, 0, 0, 254), ip(10, 1, 0, 254));
    let mut lb = ReverseProxy::new(vec![Some(f0.into()), Some(f1.into())], &config).unwrap();
    let backends = PortId(2);
    let now = Instant::now();
    let far_client = ip(10, 1, 0, 2);
    let (c, v, b) = (ep(far_client, 40000), ep(vip(), 80), ep(backend(), 8080));
    check(
        &mut lb,
        now,
        PortId(1),
        &tcp(IN, c, v, "S", b""),
        Verdict::Forward(backends),
        &tcp(IN, c, b, "S", b""),
    );
    check(
        &mut lb,
        now,
        backends,
        &tcp(OUT, b, c, "SA", b""),
        Verdict::Forward(PortId(1)),
        &tcp(OUT, v, c, "SA", b""),
    );
    // ARP from the backend side goes to the frontend that owns the address.
    let who_has_f1 = arp(
        true,
        (BACKEND_MAC, backend()),
        (lb_packet::MacAddr::ZERO, f1),
        lb_packet::MacAddr::BROADCAST,
    );
    check(
        &mut lb,
        now,
        backends,
        &who_has_f1,
        Verdict::Forward(PortId(1)),
        &who_has_f1,
    );
    let who_has_other = arp(
        true,
        (BACKEND_MAC, backend()),
        (lb_packet::MacAddr::ZERO, ip(10, 2, 0, 1)),
        lb_packet::MacAddr::BROADCAST,
    );
    check(
        &mut lb,
        now,
        backends,
        &who_has_other,
        Verdict::Flood,
        &who_has_other,
    );
    check(
        &mut lb,
        now,
        backends,
        &ipv6(OUT),
        Verdict::Flood,
        &ipv6(OUT),
    );
    let to_f0 = udp(OUT, ep(backend(), 9), ep(f0, 9), b"x");
    check(
        &mut lb,
        now,
        backends,
        &to_f0,
        Verdict::Forward(PortId(0)),
        &to_f0,
    );
}
