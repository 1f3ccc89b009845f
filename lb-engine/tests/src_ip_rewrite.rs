//! Source-IP rewrite (Polycube lbrp's `src-ip-rewrite`) fixtures: clients
//! in `ip_range` reach the backends from the same host offset in
//! `new_ip_range`, and everything coming back is translated home. Expected
//! frames are built whole by etherparse (every checksum computed afresh).

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use common::rp::*;
use common::*;

use lb_engine::IpCidr;
use lb_engine::{
    BackendConfig, ConfigError, Control, DropReason, Engine, Observe, ReverseProxy,
    ReverseProxyConfig, ServiceKey, SrcIpRewrite, Verdict,
};
use lb_packet::Protocol;
use proptest::prelude::*;

/// Clients 10.0.0.2 and .3 are rewritten into 20.0.0.6 and .7; 10.0.0.2
/// is `client()`.
const REWRITE: &str = r#"
[src_ip_rewrite]
ip_range = "10.0.0.2/31"
new_ip_range = "20.0.0.6/31"
"#;

fn moved() -> Ipv4Addr {
    ip(20, 0, 0, 6)
}

fn rewriting() -> ReverseProxy {
    let config: ReverseProxyConfig = toml::from_str(&format!("{REWRITE}{CONFIG}")).unwrap();
    ReverseProxy::new(vec![None], &config).unwrap()
}

fn ranges(from: &str, to: &str) -> SrcIpRewrite {
    SrcIpRewrite {
        ip_range: from.parse().unwrap(),
        new_ip_range: to.parse().unwrap(),
    }
}

#[test]
fn ranges_map_host_offsets_both_ways() {
    let rewrite = ranges("10.0.0.0/24", "20.0.0.0/24");
    let at = |a: u8, b: u8, c: u8, d: u8| IpAddr::V4(ip(a, b, c, d));
    assert_eq!(rewrite.map(at(10, 0, 0, 3)), Some(at(20, 0, 0, 3)));
    assert_eq!(rewrite.unmap(at(20, 0, 0, 3)), Some(at(10, 0, 0, 3)));
    assert_eq!(rewrite.map(at(10, 0, 1, 3)), None, "outside ip_range");
    assert_eq!(
        rewrite.unmap(at(10, 0, 0, 3)),
        None,
        "not a rewritten address"
    );
    // Polycube writes ranges with host bits set: they do not matter.
    let written = ranges("10.0.0.1/24", "20.0.0.1/24");
    assert_eq!(written.map(at(10, 0, 0, 200)), Some(at(20, 0, 0, 200)));
    let single = ranges("10.0.0.9/32", "20.0.0.1/32");
    assert_eq!(single.map(at(10, 0, 0, 9)), Some(at(20, 0, 0, 1)));
    assert_eq!(single.map(at(10, 0, 0, 8)), None);
}

proptest! {
    /// Any address of ip_range lands at its host offset in new_ip_range and
    /// comes back; anything else is not moved.
    #[test]
    fn mapping_keeps_host_bits_and_inverts(
        prefix_len in 1u8..=32,
        from in any::<u32>(),
        to in any::<u32>(),
        host in any::<u32>(),
        stranger in any::<u32>(),
    ) {
        let cidr = |bits: u32| IpCidr { ip: Ipv4Addr::from(bits).into(), prefix_len };
        let rewrite = SrcIpRewrite { ip_range: cidr(from), new_ip_range: cidr(to) };
        prop_assume!(rewrite.check().is_ok());
        let host_mask = u32::MAX.checked_shr(u32::from(prefix_len)).unwrap_or(0);
        let client = IpAddr::V4(Ipv4Addr::from((from & !host_mask) | (host & host_mask)));
        let moved = rewrite.map(client).unwrap();
        prop_assert!(rewrite.new_ip_range.contains(moved));
        let IpAddr::V4(moved_v4) = moved else { unreachable!() };
        prop_assert_eq!(u32::from(moved_v4) & host_mask, host & host_mask);
        prop_assert_eq!(u32::from(moved_v4) & !host_mask, to & !host_mask);
        prop_assert_eq!(rewrite.unmap(moved), Some(client));
        prop_assert_eq!(rewrite.unmap(client), None);
        let stranger = IpAddr::V4(stranger.into());
        if !rewrite.ip_range.contains(stranger) {
            prop_assert_eq!(rewrite.map(stranger), None);
        }
    }
}

#[test]
fn ranges_that_cannot_work_are_refused() {
    let message = |rewrite: SrcIpRewrite| rewrite.check().unwrap_err().to_string();
    assert_eq!(
        message(ranges("10.0.0.0/24", "20.0.0.0/16")),
        "src_ip_rewrite: ip_range 10.0.0.0/24 and new_ip_range 20.0.0.0/16 need the same prefix length (/24 and /16)"
    );
    assert_eq!(
        message(ranges("10.0.0.0/24", "10.0.0.128/24")),
        "src_ip_rewrite: ip_range 10.0.0.0/24 and new_ip_range 10.0.0.128/24 overlap"
    );
    assert_eq!(
        message(ranges("10.0.0.0/24", "fd00::/120")),
        "src_ip_rewrite: ip_range 10.0.0.0/24 and new_ip_range fd00::/120 are of different address families"
    );
    assert!(message(ranges("fd00::/120", "fd01::/120")).contains("IPv6 ranges are not supported"));
    let refused = |extra: &str| {
        let text = format!("{extra}{CONFIG}");
        let config: ReverseProxyConfig = toml::from_str(&text).unwrap();
        ReverseProxy::new(vec![None], &config)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        refused("[src_ip_rewrite]\nip_range = \"10.0.0.0/24\"\nnew_ip_range = \"20.0.0.0/24\"\n"),
        "src_ip_rewrite: VIP 10.0.0.1 is in 10.0.0.0/24, a range of rewritten client addresses"
    );
    assert_eq!(
        refused(
            "[src_ip_rewrite]\nip_range = \"10.0.0.0/28\"\nnew_ip_range = \"192.168.1.0/28\"\n"
        ),
        "src_ip_rewrite: VIP 10.0.0.1 is in 10.0.0.0/28, a range of rewritten client addresses"
    );
    assert_eq!(
        refused(
            "[src_ip_rewrite]\nip_range = \"10.0.0.2/31\"\nnew_ip_range = \"192.168.1.2/31\"\n"
        ),
        "src_ip_rewrite: backend 192.168.1.2 is in 192.168.1.2/31, a range of rewritten client addresses"
    );
    assert_eq!(
        refused(
            "[health]\nsource = \"20.0.0.6/24\"\n[src_ip_rewrite]\nip_range = \"10.0.0.2/31\"\nnew_ip_range = \"20.0.0.6/31\"\n"
        ),
        "src_ip_rewrite: health source 20.0.0.6 is in 20.0.0.6/31, a range of rewritten client addresses"
    );
    // Backends inside ip_range are fine: Polycube's own test has them.
    let mut lb = rewriting();
    let tcp80 = ServiceKey::new(IpAddr::V4(vip()), Protocol::Tcp, 80).into();
    lb.add_backend(tcp80, &BackendConfig::new(ip(10, 0, 0, 3), 1))
        .unwrap();
    assert_eq!(
        lb.add_backend(tcp80, &BackendConfig::new(ip(20, 0, 0, 7), 1))
            .unwrap_err()
            .to_string(),
        "src_ip_rewrite: backend 20.0.0.7 is in 20.0.0.6/31, a range of rewritten client addresses"
    );
    // Nor can a rewrite be set at run time over a backend.
    let refused = lb.set_src_ip_rewrite(Some(ranges("10.0.0.2/31", "192.168.1.2/31")));
    assert!(matches!(refused, Err(ConfigError::SrcIpRewrite(_))));
    assert_eq!(
        lb.src_ip_rewrite(),
        Ok(Some(ranges("10.0.0.2/31", "20.0.0.6/31")))
    );
}

#[test]
fn tcp_flows_reach_backends_from_the_new_range() {
    let mut lb = rewriting();
    let now = Instant::now();
    let (c, v, b) = (ep(client(), 40000), ep(vip(), 80), ep(backend(), 8080));
    let m = ep(moved(), 40000);
    for (flags, payload) in [("S", &b""[..]), ("A", b""), ("PA", b"GET /")] {
        check(
            &mut lb,
            now,
            FRONTEND,
            &tcp(IN, c, v, flags, payload),
            Verdict::Forward(BACKENDS),
            &tcp(IN, m, b, flags, payload),
        );
    }
    check(
        &mut lb,
        now,
        BACKENDS,
        &tcp(OUT, b, m, "SA", b""),
        Verdict::Forward(FRONTEND),
        &tcp(OUT, v, c, "SA", b""),
    );
    check(
        &mut lb,
        now,
        BACKENDS,
        &tcp(OUT, b, m, "PA", b"200 OK"),
        Verdict::Forward(FRONTEND),
        &tcp(OUT, v, c, "PA", b"200 OK"),
    );
    // A client outside ip_range keeps its address.
    let outside = ep(ip(10, 0, 0, 9), 40000);
    check(
        &mut lb,
        now,
        FRONTEND,
        &tcp(IN, outside, v, "S", b""),
        Verdict::Forward(BACKENDS),
        &tcp(IN, outside, b, "S", b""),
    );
    // Traffic to no VIP is not the rewrite's: it passes unchanged.
    let direct = tcp(IN, c, ep(ip(10, 0, 0, 77), 22), "S", b"");
    check(
        &mut lb,
        now,
        FRONTEND,
        &direct,
        Verdict::Forward(BACKENDS),
        &direct,
    );
}

#[test]
fn udp_and_ping_both_ways() {
    let mut lb = rewriting();
    let now = Instant::now();
    let (c, v, b) = (ep(client(), 5000), ep(vip(), 53), ep(backend(), 5353));
    let m = ep(moved(), 5000);
    check(
        &mut lb,
        now,
        FRONTEND,
        &udp(IN, c, v, b"query"),
        Verdict::Forward(BACKENDS),
        &udp(IN, m, b, b"query"),
    );
    check(
        &mut lb,
        now,
        BACKENDS,
        &udp(OUT, b, m, b"answer"),
        Verdict::Forward(FRONTEND),
        &udp(OUT, v, c, b"answer"),
    );
    // No checksum stays no checksum.
    check(
        &mut lb,
        now,
        BACKENDS,
        &udp_unchecked(OUT, b, m, b"zero"),
        Verdict::Forward(FRONTEND),
        &udp_unchecked(OUT, v, c, b"zero"),
    );
    check(
        &mut lb,
        now,
        FRONTEND,
        &echo(IN, client(), vip(), true, 77, 1),
        Verdict::Forward(BACKENDS),
        &echo(IN, moved(), backend(), true, 77, 1),
    );
    check(
        &mut lb,
        now,
        BACKENDS,
        &echo(OUT, backend(), moved(), false, 77, 1),
        Verdict::Forward(FRONTEND),
        &echo(OUT, vip(), client(), false, 77, 1),
    );
}

#[test]
fn icmp_errors_name_each_side_its_own_addresses() {
    let mut lb = rewriting();
    let now = Instant::now();
    let (c, v, b) = (ep(client(), 40000), ep(vip(), 80), ep(backend(), 8080));
    let m = ep(moved(), 40000);
    let mut syn = tcp(IN, c, v, "S", b"");
    lb.handle_frame(now, FRONTEND, &mut syn);
    // A router on the client side cannot pass the VIP's big segments: the
    // backend hears of the segment it sent, to the moved address.
    let router = ip(10, 0, 0, 254);
    check(
        &mut lb,
        now,
        FRONTEND,
        &frag_needed(
            (ROUTER_MAC, BACKEND_MAC),
            router,
            vip(),
            &tcp(OUT, v, c, "SA", b""),
        ),
        Verdict::Forward(BACKENDS),
        &frag_needed(
            (ROUTER_MAC, BACKEND_MAC),
            router,
            backend(),
            &tcp(OUT, b, m, "SA", b""),
        ),
    );
    // The client itself complains: its own address is moved too.
    check(
        &mut lb,
        now,
        FRONTEND,
        &frag_needed(IN, client(), vip(), &tcp(OUT, v, c, "SA", b"")),
        Verdict::Forward(BACKENDS),
        &frag_needed(IN, moved(), backend(), &tcp(OUT, b, m, "SA", b"")),
    );
    // The backend refuses a UDP query: the client sees the VIP refuse its own.
    let (uc, uv, ub) = (ep(client(), 5000), ep(vip(), 53), ep(backend(), 5353));
    let um = ep(moved(), 5000);
    let mut query = udp(IN, uc, uv, b"q");
    lb.handle_frame(now, FRONTEND, &mut query);
    let unreachable = |from: Ipv4Addr, to: Ipv4Addr, quoted: &[u8]| {
        port_unreachable((BACKEND_MAC, CLIENT_MAC), from, to, quoted)
    };
    check(
        &mut lb,
        now,
        BACKENDS,
        &unreachable(backend(), moved(), &udp(IN, um, ub, b"q")),
        Verdict::Forward(FRONTEND),
        &unreachable(vip(), client(), &udp(IN, uc, uv, b"q")),
    );
}

#[test]
fn later_fragments_follow_their_first_both_ways() {
    let mut lb = rewriting();
    let now = Instant::now();
    let (c, v, b) = (ep(client(), 5000), ep(vip(), 53), ep(backend(), 5353));
    let m = ep(moved(), 5000);
    let first = Ip {
        more_fragments: true,
        ident: 99,
        ..Ip::default()
    };
    let later = Ip {
        fragment_offset: 3,
        ident: 99,
        ..Ip::default()
    };
    let first_fragment = |macs, src, dst| {
        let mut frame = udp_with(macs, src, dst, &[7u8; 32], &first);
        frame.truncate(14 + 20 + 8 + 16);
        frame[14 + 2..14 + 4].copy_from_slice(&(20u16 + 8 + 16).to_be_bytes());
        let checksum = ip_checksum(&frame[14..34]);
        frame[14 + 10..14 + 12].copy_from_slice(&checksum.to_be_bytes());
        frame
    };
    check(
        &mut lb,
        now,
        FRONTEND,
        &first_fragment(IN, c, v),
        Verdict::Forward(BACKENDS),
        &first_fragment(IN, m, b),
    );
    check(
        &mut lb,
        now,
        FRONTEND,
        &raw_ipv4(IN, client(), vip(), 17, &later, &[8u8; 16]),
        Verdict::Forward(BACKENDS),
        &raw_ipv4(IN, moved(), backend(), 17, &later, &[8u8; 16]),
    );
    let back = Ip {
        ident: 5,
        ..first.clone()
    };
    let back_later = Ip { ident: 5, ..later };
    let mut reply = udp_with(OUT, b, m, &[1u8; 32], &back);
    let mut expected = udp_with(OUT, v, c, &[1u8; 32], &back);
    for frame in [&mut reply, &mut expected] {
        frame.truncate(14 + 20 + 8 + 16);
        frame[14 + 2..14 + 4].copy_from_slice(&(20u16 + 8 + 16).to_be_bytes());
        let checksum = ip_checksum(&frame[14..34]);
        frame[14 + 10..14 + 12].copy_from_slice(&checksum.to_be_bytes());
    }
    check(
        &mut lb,
        now,
        BACKENDS,
        &reply,
        Verdict::Forward(FRONTEND),
        &expected,
    );
    check(
        &mut lb,
        now,
        BACKENDS,
        &raw_ipv4(OUT, backend(), moved(), 17, &back_later, &[2u8; 16]),
        Verdict::Forward(FRONTEND),
        &raw_ipv4(OUT, vip(), client(), 17, &back_later, &[2u8; 16]),
    );
}

#[test]
fn arp_for_a_moved_address_reaches_its_client_and_its_answer_comes_back_moved() {
    let mut lb = rewriting();
    let now = Instant::now();
    // The backends' router asks for the moved address: the client is asked.
    let router = (ROUTER_MAC, ip(20, 0, 0, 254));
    let broadcast = lb_packet::MacAddr::BROADCAST;
    let unknown = lb_packet::MacAddr([0; 6]);
    check(
        &mut lb,
        now,
        BACKENDS,
        &arp(true, router, (unknown, moved()), broadcast),
        Verdict::Forward(FRONTEND),
        &arp(true, router, (unknown, client()), broadcast),
    );
    // The client answers for itself; the answer goes on, and a copy says
    // the moved address is at the client's MAC.
    let answer = arp(false, (CLIENT_MAC, client()), router, ROUTER_MAC);
    check(
        &mut lb,
        now,
        FRONTEND,
        &answer,
        Verdict::Forward(BACKENDS),
        &answer,
    );
    let mut buffer = Vec::new();
    assert_eq!(lb.poll_transmit(&mut buffer), Some(BACKENDS));
    assert_eq!(
        buffer,
        arp(false, (CLIENT_MAC, moved()), router, ROUTER_MAC)
    );
    assert_eq!(lb.poll_transmit(&mut buffer), None);
    // Someone outside ip_range: no copy; a request for an address not
    // moved: untouched.
    let other = arp(false, (CLIENT_MAC, ip(10, 0, 0, 9)), router, ROUTER_MAC);
    check(
        &mut lb,
        now,
        FRONTEND,
        &other,
        Verdict::Forward(BACKENDS),
        &other,
    );
    assert_eq!(lb.poll_transmit(&mut buffer), None);
    let plain = arp(true, router, (unknown, ip(10, 0, 0, 9)), broadcast);
    check(
        &mut lb,
        now,
        BACKENDS,
        &plain,
        Verdict::Forward(FRONTEND),
        &plain,
    );
}

#[test]
fn replies_without_a_session_are_translated_statelessly_or_dropped() {
    let mut lb = rewriting();
    let now = Instant::now();
    let (c, v, b) = (ep(client(), 40000), ep(vip(), 80), ep(backend(), 8080));
    let m = ep(moved(), 40000);
    // The request went through another instance: Polycube's stateless way.
    check(
        &mut lb,
        now,
        BACKENDS,
        &tcp(OUT, b, m, "SA", b""),
        Verdict::Forward(FRONTEND),
        &tcp(OUT, v, c, "SA", b""),
    );
    assert_eq!(lb.stats(now).traffic.stateless_replies, 1);
    // From an endpoint that serves no single VIP: no client has that
    // address, so it goes nowhere.
    let mut stray = tcp(OUT, ep(backend(), 9999), m, "SA", b"");
    assert_eq!(
        lb.handle_frame(now, BACKENDS, &mut stray),
        Verdict::Drop(DropReason::NoSession)
    );
}

#[test]
fn sessions_keep_their_addresses_when_the_rewrite_changes() {
    let mut lb = rewriting();
    let now = Instant::now();
    let (c, v, b) = (ep(client(), 40000), ep(vip(), 80), ep(backend(), 8080));
    let m = ep(moved(), 40000);
    let mut syn = tcp(IN, c, v, "S", b"");
    lb.handle_frame(now, FRONTEND, &mut syn);
    lb.set_src_ip_rewrite(None).unwrap();
    assert_eq!(lb.config().unwrap().src_ip_rewrite, None);
    check(
        &mut lb,
        now,
        FRONTEND,
        &tcp(IN, c, v, "A", b""),
        Verdict::Forward(BACKENDS),
        &tcp(IN, m, b, "A", b""),
    );
    check(
        &mut lb,
        now,
        BACKENDS,
        &tcp(OUT, b, m, "A", b"ok"),
        Verdict::Forward(FRONTEND),
        &tcp(OUT, v, c, "A", b"ok"),
    );
    // New flows are not moved any more.
    let fresh = ep(client(), 40001);
    check(
        &mut lb,
        now,
        FRONTEND,
        &tcp(IN, fresh, v, "S", b""),
        Verdict::Forward(BACKENDS),
        &tcp(IN, fresh, b, "S", b""),
    );
    lb.set_src_ip_rewrite(Some(ranges("10.0.0.2/31", "20.0.0.6/31")))
        .unwrap();
    assert_eq!(
        lb.config().unwrap().src_ip_rewrite,
        Some(ranges("10.0.0.2/31", "20.0.0.6/31"))
    );
}
