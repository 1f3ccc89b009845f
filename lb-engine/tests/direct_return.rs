//! DirectReturn fixtures: frame in, verdict and exact frame out.

mod common;

use std::net::Ipv4Addr;
use std::time::Instant;

use common::*;
use lb_engine::{
    BACKEND_PORT, Control, DirectReturn, DirectReturnConfig, DropReason, DsrBackendConfig, Engine,
    FRONTEND_PORT, Observe, Verdict,
};
use lb_packet::MacAddr;

const LB_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xaa]);
const LB_BACKEND_PORT_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xab]);

fn server(n: u8) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, 0x5e, n])
}
fn vip() -> Ipv4Addr {
    ip(10, 0, 0, 100)
}

fn config(servers: u8) -> DirectReturnConfig {
    DirectReturnConfig {
        vips: vec![vip().into(), ip(10, 0, 0, 101).into()],
        mac: LB_MAC,
        backend_port_mac: Some(LB_BACKEND_PORT_MAC),
        backends: (1..=servers)
            .map(|n| DsrBackendConfig {
                mac: server(n),
                weight: 1,
            })
            .collect(),
        policy: lb_algos::Policy::SrcIpHash,
        one_armed: false,
        sessions: Default::default(),
        selection: Default::default(),
        health: Default::default(),
        health_check: None,
    }
}

#[test]
fn answers_arp_for_each_vip_and_nothing_else() {
    let mut lb = DirectReturn::new(&config(2)).unwrap();
    let now = Instant::now();
    let client = ip(10, 0, 0, 2);
    for vip in [vip(), ip(10, 0, 0, 101)] {
        let request = arp(
            true,
            (CLIENT_MAC, client),
            (MacAddr::ZERO, vip),
            MacAddr::BROADCAST,
        );
        let reply = arp(false, (LB_MAC, vip), (CLIENT_MAC, client), CLIENT_MAC);
        assert_eq!(
            run(&mut lb, now, FRONTEND_PORT, &request),
            (Verdict::Reply, reply)
        );
    }
    let other = arp(
        true,
        (CLIENT_MAC, client),
        (MacAddr::ZERO, ip(10, 0, 0, 7)),
        MacAddr::BROADCAST,
    );
    assert_eq!(
        run(&mut lb, now, FRONTEND_PORT, &other).0,
        Verdict::Drop(DropReason::NotForUs)
    );
}

#[test]
fn rewrites_only_the_ethernet_header_with_a_bridge_safe_source() {
    let mut lb = DirectReturn::new(&config(1)).unwrap();
    let now = Instant::now();
    let (c, v) = (ep(ip(10, 0, 0, 2), 40000), ep(vip(), 80));
    for (input, output) in [
        (
            tcp((CLIENT_MAC, LB_MAC), c, v, "S", b""),
            tcp((LB_BACKEND_PORT_MAC, server(1)), c, v, "S", b""),
        ),
        (
            udp((CLIENT_MAC, LB_MAC), c, v, b"hello"),
            udp((LB_BACKEND_PORT_MAC, server(1)), c, v, b"hello"),
        ),
        (
            echo((CLIENT_MAC, LB_MAC), *c.ip(), vip(), true, 3, 1),
            echo((LB_BACKEND_PORT_MAC, server(1)), *c.ip(), vip(), true, 3, 1),
        ),
    ] {
        assert_eq!(
            run(&mut lb, now, FRONTEND_PORT, &input),
            (Verdict::Forward(BACKEND_PORT), output)
        );
    }
}

#[test]
fn drops_what_is_not_for_it() {
    let mut lb = DirectReturn::new(&config(1)).unwrap();
    let now = Instant::now();
    let (c, v) = (ep(ip(10, 0, 0, 2), 40000), ep(vip(), 80));
    let cases = [
        (
            FRONTEND_PORT,
            tcp((CLIENT_MAC, ROUTER_MAC), c, v, "S", b""),
            DropReason::NotForUs,
        ),
        (
            FRONTEND_PORT,
            tcp((CLIENT_MAC, LB_MAC), c, ep(ip(10, 0, 0, 9), 80), "S", b""),
            DropReason::NotForUs,
        ),
        (
            FRONTEND_PORT,
            ipv6((CLIENT_MAC, LB_MAC)),
            DropReason::NotForUs,
        ),
        (
            FRONTEND_PORT,
            gre((CLIENT_MAC, LB_MAC), *c.ip(), vip()),
            DropReason::UnsupportedProtocol,
        ),
        (
            BACKEND_PORT,
            tcp((server(1), CLIENT_MAC), v, c, "SA", b""),
            DropReason::WrongPort,
        ),
        (
            FRONTEND_PORT,
            tcp((CLIENT_MAC, LB_MAC), c, v, "S", b"")[..30].to_vec(),
            DropReason::Malformed,
        ),
    ];
    for (port, input, reason) in cases {
        assert_eq!(
            run(&mut lb, now, port, &input).0,
            Verdict::Drop(reason),
            "{reason}"
        );
    }
    let stats = lb.stats(now);
    assert_eq!(stats.traffic.drops(DropReason::NotForUs), 3);
    assert_eq!(stats.traffic.drops(DropReason::WrongPort), 1);
}

/// The server a client's flow went to.
fn chosen(
    lb: &mut DirectReturn,
    now: Instant,
    client: Ipv4Addr,
    port: u16,
    flags: &str,
) -> Result<MacAddr, Verdict> {
    let input = tcp(
        (CLIENT_MAC, LB_MAC),
        ep(client, port),
        ep(vip(), 80),
        flags,
        b"",
    );
    match run(lb, now, FRONTEND_PORT, &input) {
        (Verdict::Forward(BACKEND_PORT), out) => Ok(MacAddr(out[..6].try_into().unwrap())),
        (verdict, _) => Err(verdict),
    }
}

#[test]
fn source_ip_hash_keeps_each_client_on_one_server() {
    let mut lb = DirectReturn::new(&config(8)).unwrap();
    let now = Instant::now();
    let mut used = std::collections::HashSet::new();
    for n in 0..64 {
        let client = ip(10, 1, 0, n);
        let first = chosen(&mut lb, now, client, 1000, "S").unwrap();
        used.insert(first);
        for port in 1001..1010 {
            assert_eq!(
                chosen(&mut lb, now, client, port, "S"),
                Ok(first),
                "client {client}"
            );
        }
    }
    assert!(
        used.len() >= 6,
        "clients spread over the servers: {}",
        used.len()
    );
}

#[test]
fn sessions_survive_server_changes_and_end_with_their_server() {
    let mut lb = DirectReturn::new(&config(2)).unwrap();
    let now = Instant::now();
    let flows: Vec<(Ipv4Addr, MacAddr)> = (0..50)
        .map(|n| {
            (
                ip(10, 2, 0, n),
                chosen(&mut lb, now, ip(10, 2, 0, n), 5000, "S").unwrap(),
            )
        })
        .collect();
    for n in 3..=30 {
        lb.set_backend(DsrBackendConfig {
            mac: server(n),
            weight: 1,
        })
        .unwrap();
    }
    for &(client, server_mac) in &flows {
        assert_eq!(chosen(&mut lb, now, client, 5000, "A"), Ok(server_mac));
    }
    let vips = lb.sole_service().unwrap();
    let ended = lb.remove_backend(vips, server(1)).unwrap();
    assert_eq!(ended, flows.iter().filter(|f| f.1 == server(1)).count());
    for &(client, server_mac) in &flows {
        let now_at = chosen(&mut lb, now, client, 5000, "A").unwrap();
        assert_eq!(now_at == server_mac, server_mac != server(1));
    }
    // Drain server 2: its flows stay, new clients go elsewhere.
    lb.set_backend(DsrBackendConfig {
        mac: server(2),
        weight: 0,
    })
    .unwrap();
    for &(client, server_mac) in flows.iter().filter(|f| f.1 == server(2)) {
        assert_eq!(chosen(&mut lb, now, client, 5000, "A"), Ok(server_mac));
    }
    for n in 0..100 {
        assert_ne!(chosen(&mut lb, now, ip(10, 3, 0, n), 1, "S"), Ok(server(2)));
    }
    assert!(
        lb.set_backend(DsrBackendConfig {
            mac: MacAddr::BROADCAST,
            weight: 1
        })
        .is_err()
    );
}

#[test]
fn one_armed_sends_back_out_of_the_same_port() {
    let mut one_armed = config(1);
    one_armed.one_armed = true;
    one_armed.backend_port_mac = None;
    let mut lb = DirectReturn::new(&one_armed).unwrap();
    assert_eq!(lb.port_count(), 1);
    let (c, v) = (ep(ip(10, 0, 0, 2), 40000), ep(vip(), 80));
    let (verdict, out) = run(
        &mut lb,
        Instant::now(),
        FRONTEND_PORT,
        &tcp((CLIENT_MAC, LB_MAC), c, v, "S", b""),
    );
    assert_eq!(
        (verdict, out),
        (Verdict::Reply, tcp((LB_MAC, server(1)), c, v, "S", b""))
    );
}

#[test]
fn multicast_macs_are_refused() {
    let mut bad = config(1);
    bad.mac = MacAddr([0x01, 0, 0x5e, 0, 0, 1]);
    assert!(
        DirectReturn::new(&bad)
            .unwrap_err()
            .to_string()
            .contains("unicast")
    );
}

/// Polycube's `frontend set mac=`: the VIPs answered with the new MAC at
/// once (a gratuitous ARP each), frames to the old one not taken; and
/// `algorithm`: live sessions keep their servers, new flows follow it.
#[test]
fn the_frontend_mac_and_algorithm_change_at_run_time() {
    let mut lb = DirectReturn::new(&config(4)).unwrap();
    let now = Instant::now();
    let new_mac = MacAddr([0x02, 0, 0, 0, 0, 0xcc]);
    // The backend port's MAC was set apart: it stays.
    let view = lb
        .set_frontend(&lb_engine::FrontendChange {
            mac: Some(new_mac),
            algorithm: None,
        })
        .unwrap();
    assert_eq!(
        (view.mac, view.backend_port_mac),
        (new_mac, LB_BACKEND_PORT_MAC)
    );
    let mut buffer = Vec::new();
    for announced in [vip(), ip(10, 0, 0, 101)] {
        assert_eq!(lb.poll_transmit(&mut buffer), Some(FRONTEND_PORT));
        assert_eq!(
            buffer,
            lb_packet::arp_request(new_mac, announced, announced)
        );
    }
    assert_eq!(lb.poll_transmit(&mut buffer), None);
    let client = ep(ip(10, 0, 0, 2), 40000);
    let syn = |dst_mac| tcp((CLIENT_MAC, dst_mac), client, ep(vip(), 80), "S", b"");
    let (verdict, _) = run(&mut lb, now, FRONTEND_PORT, &syn(LB_MAC));
    assert_eq!(verdict, Verdict::Drop(DropReason::NotForUs));
    let (verdict, out) = run(&mut lb, now, FRONTEND_PORT, &syn(new_mac));
    assert_eq!(verdict, Verdict::Forward(BACKEND_PORT));
    let to_server = |frame: &[u8]| lb_packet::Frame::parse(frame).unwrap().dst_mac();
    let first = to_server(&out);

    // A thousand sessions, then the algorithm changes under them.
    let flows: Vec<_> = (0..1000u16)
        .map(|n| {
            let from = ep(ip(10, 1, (n >> 8) as u8, n as u8), 1000 + n);
            let frame = tcp((CLIENT_MAC, new_mac), from, ep(vip(), 80), "S", b"");
            let (_, out) = run(&mut lb, now, FRONTEND_PORT, &frame);
            (from, to_server(&out))
        })
        .collect();
    let view = lb
        .set_frontend(&lb_engine::FrontendChange {
            mac: None,
            algorithm: Some(lb_algos::Policy::Maglev),
        })
        .unwrap();
    assert_eq!(view.algorithm, lb_algos::Policy::Maglev);
    assert_eq!(lb.frontend().unwrap(), view);
    for (from, server) in &flows {
        let frame = tcp((CLIENT_MAC, new_mac), *from, ep(vip(), 80), "A", b"");
        let (_, out) = run(&mut lb, now, FRONTEND_PORT, &frame);
        assert_eq!(to_server(&out), *server, "a live session keeps its server");
    }
    let ack = tcp((CLIENT_MAC, new_mac), client, ep(vip(), 80), "A", b"");
    let (_, out) = run(&mut lb, now, FRONTEND_PORT, &ack);
    assert_eq!(to_server(&out), first, "the first flow's session too");
    // New flows follow Maglev now: some land elsewhere than source-IP
    // hashing sent their address's first flow.
    let moved = flows
        .iter()
        .filter(|(from, server)| {
            let fresh = ep(*from.ip(), from.port() + 10000);
            let frame = tcp((CLIENT_MAC, new_mac), fresh, ep(vip(), 80), "S", b"");
            to_server(&run(&mut lb, now, FRONTEND_PORT, &frame).1) != *server
        })
        .count();
    assert!(moved > 100, "{moved} of 1000 new flows went elsewhere");
    // A MAC that cannot be one is refused, nothing changed.
    let refused = lb.set_frontend(&lb_engine::FrontendChange {
        mac: Some(MacAddr::BROADCAST),
        algorithm: None,
    });
    assert!(refused.is_err());
    assert_eq!(lb.frontend().unwrap().mac, new_mac);
}
