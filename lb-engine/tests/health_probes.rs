//! Active health checks through the reverse proxy, against simulated
//! backends on a virtual clock: probe frames checked field by field by
//! etherparse, thresholds timed, new flows steered by the result.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use common::health::{Behaviour, Sim, SimBackend, dst_of, syn};
use common::rp::{BACKENDS, FRONTEND};
use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use lb_engine::{
    Engine, Health, Observe, PortId, ProbeKind, ProbeResult, ReverseProxy, ReverseProxyConfig,
    Verdict,
};

const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SOURCE: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 253);

/// A reverse proxy with a tcp/80 (or udp/53) service over backends .2 and
/// .3, probed as `check` says (a `[service.health]` body).
fn proxy(proto: &str, check: &str) -> ReverseProxy {
    let text = format!(
        r#"
        [health]
        source = "192.168.1.253/24"
        seed = 42
        [[service]]
        vip = "10.0.0.1"
        port = 80
        proto = "{proto}"
        backend = [{{ ip = "192.168.1.2" }}, {{ ip = "192.168.1.3" }}]
        [service.health]
        {check}
        "#
    );
    let config: ReverseProxyConfig = toml::from_str(&text).unwrap();
    ReverseProxy::new(vec![None], &config).unwrap()
}

fn sim_of(engine: ReverseProxy, b2: Behaviour, b3: Behaviour) -> Sim<ReverseProxy> {
    Sim::new(
        engine,
        BACKENDS,
        vec![SimBackend::new(2, b2), SimBackend::new(3, b3)],
    )
}

/// Where `count` new connections go.
fn new_flows_to(sim: &mut Sim<ReverseProxy>, count: u16) -> Vec<Ipv4Addr> {
    (0..count)
        .map(|n| {
            let client =
                SocketAddrV4::new(Ipv4Addr::new(10, 9, (n >> 8) as u8, n as u8), 40000 + n);
            let mut frame = syn(SocketAddrV4::new(VIP, 80), client);
            let verdict = sim.engine.handle_frame(sim.now, FRONTEND, &mut frame);
            assert_eq!(verdict, Verdict::Forward(BACKENDS));
            dst_of(&frame)
        })
        .collect()
}

#[test]
fn tcp_probes_take_a_dead_backend_out_and_bring_it_back() {
    let check = "kind = \"tcp\"\ninterval_ms = 300\ntimeout_ms = 200\nrise = 2\nfall = 2";
    let mut sim = sim_of(proxy("tcp", check), Behaviour::Live, Behaviour::Dead);
    sim.run(Duration::from_secs(2));
    // fall x interval + timeout, after a first probe within one interval.
    let down = sim.changed_at("192.168.1.3", false).expect("marked down");
    assert!(
        down <= Duration::from_millis(300 + 2 * 300 + 200),
        "{down:?}"
    );
    assert_eq!(
        sim.changed_at("192.168.1.2", false),
        None,
        "the live one stays"
    );
    let b3 = sim.health_of("192.168.1.3");
    assert_eq!(b3.health, Health::Down);
    assert_eq!(b3.health_detail.last_probe, Some(ProbeResult::TimedOut));
    assert_eq!(sim.health_of("192.168.1.2").health, Health::Up);
    let flows = new_flows_to(&mut sim, 60);
    assert!(
        flows.iter().all(|ip| *ip == Ipv4Addr::new(192, 168, 1, 2)),
        "{flows:?}"
    );

    // The server comes back: up again within rise x the faster interval.
    sim.backends[1].behaviour = Behaviour::Live;
    let back = sim.now - sim.start;
    sim.run(Duration::from_secs(2));
    let up = sim.changed_at("192.168.1.3", true).expect("back up") - back;
    assert!(up <= Duration::from_millis(2 * 150 + 150), "{up:?}");
    let flows = new_flows_to(&mut sim, 60);
    assert!(
        flows.contains(&Ipv4Addr::new(192, 168, 1, 3)),
        "back in rotation"
    );
    let stats = sim.engine.stats(sim.now);
    assert_eq!(stats.services[0].health_check, Some(ProbeKind::Tcp));
    assert!(stats.traffic.originated > 0);
}

/// Every frame the prober sent, read by etherparse: from the source, with
/// valid checksums; SYNs answered by SYN-ACK are closed with RST at the
/// next sequence number.
#[test]
fn probe_frames_are_well_formed_and_close_what_they_open() {
    let check = "kind = \"tcp\"\ninterval_ms = 100\ntimeout_ms = 50";
    let mut sim = sim_of(proxy("tcp", check), Behaviour::Live, Behaviour::Refusing);
    sim.run(Duration::from_millis(500));
    let (mut arps, mut syns, mut syns_to_live, mut rsts) = (0, 0, 0, 0);
    let mut syn_seqs = Vec::new();
    for frame in &sim.sent {
        let packet = SlicedPacket::from_ethernet(frame).expect("etherparse reads it");
        let Some(NetSlice::Ipv4(ip)) = &packet.net else {
            arps += 1;
            continue;
        };
        assert_eq!(ip.header().source_addr(), SOURCE);
        let Some(TransportSlice::Tcp(tcp)) = &packet.transport else {
            panic!("a tcp check sends TCP");
        };
        let checksum = tcp
            .to_header()
            .calc_checksum_ipv4(&ip.header().to_header(), tcp.payload())
            .unwrap();
        assert_eq!(tcp.checksum(), checksum, "TCP checksum");
        if tcp.syn() {
            syns += 1;
            syns_to_live +=
                usize::from(ip.header().destination_addr() == Ipv4Addr::new(192, 168, 1, 2));
            syn_seqs.push(tcp.sequence_number());
        } else if tcp.rst() {
            rsts += 1;
            assert!(syn_seqs.contains(&tcp.sequence_number().wrapping_sub(1)));
        }
    }
    assert_eq!(arps, 2, "one ARP request per backend, then cached");
    assert!(syns >= 8, "{syns} SYNs");
    // Each of the live backend's SYN-ACKs, and only those, is answered
    // with RST.
    assert_eq!(
        rsts, syns_to_live,
        "{rsts} RSTs for {syns_to_live} SYNs to the live backend"
    );
    assert_eq!(
        sim.health_of("192.168.1.3").health_detail.last_probe,
        Some(ProbeResult::Refused)
    );
    assert_eq!(sim.health_of("192.168.1.3").health, Health::Down);
}

#[test]
fn http_probes_judge_the_status() {
    let check = "kind = \"http\"\npath = \"/id\"\ninterval_ms = 100\ntimeout_ms = 80\nfall = 2";
    let mut sim = sim_of(proxy("tcp", check), Behaviour::Live, Behaviour::Status(503));
    sim.run(Duration::from_millis(600));
    let b3 = sim.health_of("192.168.1.3");
    assert_eq!(b3.health, Health::Down);
    assert_eq!(
        b3.health_detail.last_probe,
        Some(ProbeResult::BadStatus(503))
    );
    assert_eq!(sim.health_of("192.168.1.2").health, Health::Up);
    assert!(
        sim.health_of("192.168.1.2")
            .health_detail
            .counters
            .probes_passed
            >= 3
    );
    let request = sim
        .sent
        .iter()
        .find_map(|f| {
            let text = String::from_utf8_lossy(f);
            text.find("GET ").map(|at| text[at..].to_string())
        })
        .expect("a request was sent");
    assert!(
        request.starts_with("GET /id HTTP/1.0\r\nHost: 192.168.1.")
            && request.ends_with("\r\n\r\n"),
        "{request:?}"
    );
}

#[test]
fn udp_and_icmp_probes() {
    let udp = "kind = \"udp\"\ninterval_ms = 100\ntimeout_ms = 50\nfall = 2";
    let mut sim = sim_of(proxy("udp", udp), Behaviour::Live, Behaviour::Refusing);
    sim.run(Duration::from_millis(500));
    assert_eq!(sim.health_of("192.168.1.2").health, Health::Up);
    let b3 = sim.health_of("192.168.1.3");
    assert_eq!(
        (b3.health, b3.health_detail.last_probe),
        (Health::Down, Some(ProbeResult::Refused))
    );

    let icmp = "kind = \"icmp\"\ninterval_ms = 100\ntimeout_ms = 50\nfall = 2";
    let mut pinged = sim_of(proxy("tcp", icmp), Behaviour::Live, Behaviour::Dead);
    pinged.run(Duration::from_millis(500));
    assert_eq!(pinged.health_of("192.168.1.2").health, Health::Up);
    let b3 = pinged.health_of("192.168.1.3");
    assert_eq!(
        (b3.health, b3.health_detail.last_probe),
        (Health::Down, Some(ProbeResult::TimedOut))
    );
}

/// The probe source answers ARP with its own MAC, so backends can reply.
#[test]
fn the_probe_source_answers_arp() {
    let mut engine = proxy("tcp", "kind = \"tcp\"");
    let request = lb_packet::arp_request(
        lb_packet::MacAddr([2, 0, 0, 0, 0xb0, 2]),
        Ipv4Addr::new(192, 168, 1, 2),
        SOURCE,
    );
    let mut frame = request.to_vec();
    let verdict = engine.handle_frame(std::time::Instant::now(), BACKENDS, &mut frame);
    assert_eq!(verdict, Verdict::Reply);
    let arp = lb_packet::Frame::parse(&frame[..]).unwrap();
    let arp = arp.arp().unwrap();
    assert_eq!(arp.sender_ip(), SOURCE);
    assert_eq!(
        arp.sender_mac(),
        lb_packet::MacAddr([2, 0, 192, 168, 1, 253])
    );
    // ARP for anything else on the backend side still passes through.
    let mut other = lb_packet::arp_request(
        lb_packet::MacAddr([2, 0, 0, 0, 0xb0, 2]),
        Ipv4Addr::new(192, 168, 1, 2),
        Ipv4Addr::new(192, 168, 1, 254),
    )
    .to_vec();
    let verdict = engine.handle_frame(std::time::Instant::now(), BACKENDS, &mut other);
    assert_eq!(verdict, Verdict::Forward(PortId(0)));
}

#[test]
fn checks_that_cannot_work_are_refused() {
    let cases = [
        // No source to probe from.
        "[[service]]\nvip = \"10.0.0.1\"\nport = 80\nproto = \"tcp\"\n[service.health]\nkind = \"tcp\"",
        // A UDP probe of a TCP service.
        "[health]\nsource = \"192.168.1.253/24\"\n[[service]]\nvip = \"10.0.0.1\"\nport = 80\nproto = \"tcp\"\n[service.health]\nkind = \"udp\"",
        // A timeout longer than the interval.
        "[health]\nsource = \"192.168.1.253/24\"\n[[service]]\nvip = \"10.0.0.1\"\nport = 80\nproto = \"tcp\"\n[service.health]\nkind = \"tcp\"\ninterval_ms = 100\ntimeout_ms = 200",
    ];
    for text in cases {
        let config: ReverseProxyConfig = toml::from_str(text).unwrap();
        let error = ReverseProxy::new(vec![None], &config).unwrap_err();
        assert!(error.to_string().starts_with("health checks: "), "{error}");
    }
}

/// Direct return probes the first VIP at each server's MAC, the way
/// clients' frames go; the server answers from the VIP.
#[test]
fn direct_return_probes_the_vip_at_each_server() {
    let config: lb_engine::DirectReturnConfig = toml::from_str(
        r#"
        vips = ["10.0.0.1"]
        mac = "02:00:00:00:00:aa"
        backend_port_mac = "02:00:00:00:00:ab"
        backends = [{ mac = "02:00:00:00:b0:02" }, { mac = "02:00:00:00:b0:03" }]
        [health]
        source = "192.168.1.253/24"
        seed = 3
        [health_check]
        kind = "tcp"
        port = 80
        interval_ms = 100
        timeout_ms = 50
        fall = 2
        "#,
    )
    .unwrap();
    let engine = lb_engine::DirectReturn::new(&config).unwrap();
    let mut servers = vec![
        SimBackend::new(2, Behaviour::Live),
        SimBackend::new(3, Behaviour::Dead),
    ];
    // Each server holds the VIP: it answers whatever reaches its MAC.
    for server in &mut servers {
        server.ip = VIP;
    }
    let mut sim = Sim::new(engine, lb_engine::BACKEND_PORT, servers);
    sim.run(Duration::from_millis(500));
    assert_eq!(sim.health_of("02:00:00:00:b0:02").health, Health::Up);
    assert_eq!(sim.health_of("02:00:00:00:b0:03").health, Health::Down);
    let syn = sim
        .sent
        .iter()
        .find(|f| f[0..6] == [2, 0, 0, 0, 0xb0, 3])
        .expect("a probe to .3");
    assert_eq!(dst_of(syn), VIP);
}

/// The NAT proxy probes its destinations from another address it owns,
/// resolving them with ARP.
#[test]
fn the_proxy_probes_its_destinations() {
    let config: lb_engine::NatProxyConfig = toml::from_str(
        r#"
        ip = "192.168.1.1"
        prefix_len = 24
        mac = "02:00:00:00:00:aa"
        dst_addrs = ["192.168.1.2", "192.168.1.3"]
        [health]
        source = "192.168.1.253/24"
        [health_check]
        kind = "icmp"
        interval_ms = 100
        timeout_ms = 50
        fall = 2
        "#,
    )
    .unwrap();
    let engine = lb_engine::NatProxy::new(&config).unwrap();
    let mut sim = Sim::new(
        engine,
        lb_engine::PROXY_PORT,
        vec![
            SimBackend::new(2, Behaviour::Live),
            SimBackend::new(3, Behaviour::Dead),
        ],
    );
    sim.run(Duration::from_millis(500));
    assert_eq!(sim.health_of("192.168.1.2").health, Health::Up);
    assert_eq!(sim.health_of("192.168.1.3").health, Health::Down);
    let same = toml::from_str::<lb_engine::NatProxyConfig>(
        "ip = \"192.168.1.1\"\nprefix_len = 24\nmac = \"02:00:00:00:00:aa\"\ndst_addrs = [\"192.168.1.2\"]\n[health]\nsource = \"192.168.1.1/24\"",
    )
    .unwrap();
    let error = lb_engine::NatProxy::new(&same).unwrap_err();
    assert!(error.to_string().contains("another address"), "{error}");
}
