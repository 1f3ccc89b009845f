//! The reverse proxy over IPv6, beside IPv4 in one configuration: each
//! frame out is compared byte for byte with the frame etherparse builds
//! for what should come out (so every checksum is a full recomputation).

use std::net::Ipv6Addr;
use std::time::Instant;

use etherparse::{Icmpv6Type, PacketBuilder};
use lb_engine::{Control, Engine, Observe, PortId, ReverseProxy, ReverseProxyConfig, Verdict};
use lb_packet::{Frame, MacAddr};

const FRONTEND: PortId = PortId(0);
const BACKENDS: PortId = PortId(1);
const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x0c];
const ROUTER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x0f];

const CLIENT: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
const VIP: Ipv6Addr = Ipv6Addr::new(0xfd0d, 0, 0, 0, 0, 0, 0, 0x13);
const BACKEND: Ipv6Addr = Ipv6Addr::new(0xfd01, 0, 0, 0, 0, 0, 0, 2);
const ROUTER: Ipv6Addr = Ipv6Addr::new(0xfd01, 0, 0, 0, 0, 0, 0, 1);

/// IPv4 and IPv6 services side by side: tcp/80 (to 8080), udp/53 and
/// ping on each VIP.
const CONFIG: &str = r#"
[[service]]
vip = "10.0.0.1"
port = 80
proto = "tcp"
[[service.backend]]
ip = "192.168.1.2"
port = 8080

[[service]]
vip = "fd0d::13"
port = 80
proto = "tcp"
[[service.backend]]
ip = "fd01::2"
port = 8080

[[service]]
vip = "fd0d::13"
port = 53
proto = "all"
[[service.backend]]
ip = "fd01::2"
"#;

fn engine() -> ReverseProxy {
    let config: ReverseProxyConfig = toml::from_str(CONFIG).unwrap();
    ReverseProxy::new(vec![None], &config).unwrap()
}

/// A frame from `macs.0` to `macs.1` between two IPv6 addresses, built by
/// etherparse.
fn ip6(macs: ([u8; 6], [u8; 6]), src: Ipv6Addr, dst: Ipv6Addr) -> PacketBuilder6 {
    PacketBuilder6 {
        macs,
        src: src.octets(),
        dst: dst.octets(),
    }
}

struct PacketBuilder6 {
    macs: ([u8; 6], [u8; 6]),
    src: [u8; 16],
    dst: [u8; 16],
}

impl PacketBuilder6 {
    fn step(&self) -> etherparse::PacketBuilderStep<etherparse::IpHeaders> {
        PacketBuilder::ethernet2(self.macs.0, self.macs.1).ipv6(self.src, self.dst, 64)
    }

    fn tcp(&self, ports: (u16, u16), syn: bool, payload: &[u8]) -> Vec<u8> {
        let tcp = self.step().tcp(ports.0, ports.1, 1000, 64_000);
        let tcp = if syn { tcp.syn() } else { tcp.ack(5000) };
        let mut bytes = Vec::new();
        tcp.write(&mut bytes, payload).unwrap();
        bytes
    }

    fn udp(&self, ports: (u16, u16), payload: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        self.step()
            .udp(ports.0, ports.1)
            .write(&mut bytes, payload)
            .unwrap();
        bytes
    }

    fn echo(&self, request: bool, id: u16) -> Vec<u8> {
        let step = if request {
            self.step().icmpv6_echo_request(id, 7)
        } else {
            self.step().icmpv6_echo_reply(id, 7)
        };
        let mut bytes = Vec::new();
        step.write(&mut bytes, b"ping").unwrap();
        bytes
    }

    fn too_big(&self, mtu: u32, quote: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        self.step()
            .icmpv6(Icmpv6Type::PacketTooBig { mtu })
            .write(&mut bytes, quote)
            .unwrap();
        bytes
    }
}

/// Runs `input` in on `port`; returns the verdict and the bytes after.
fn run(lb: &mut ReverseProxy, now: Instant, port: PortId, input: &[u8]) -> (Verdict, Vec<u8>) {
    let mut frame = input.to_vec();
    let verdict = lb.handle_frame(now, port, &mut frame);
    (verdict, frame)
}

#[test]
fn tcp_to_an_ipv6_vip_is_translated_both_ways() {
    let (mut lb, now) = (engine(), Instant::now());
    let client_to_vip = ip6((CLIENT_MAC, ROUTER_MAC), CLIENT, VIP);
    let syn = client_to_vip.tcp((40000, 80), true, b"");
    let (verdict, out) = run(&mut lb, now, FRONTEND, &syn);
    assert_eq!(verdict, Verdict::Forward(BACKENDS));
    let to_backend = ip6((CLIENT_MAC, ROUTER_MAC), CLIENT, BACKEND);
    assert_eq!(out, to_backend.tcp((40000, 8080), true, b""), "DNAT");

    let reply = ip6((ROUTER_MAC, CLIENT_MAC), BACKEND, CLIENT).tcp((8080, 40000), false, b"hi");
    let (verdict, out) = run(&mut lb, now, BACKENDS, &reply);
    assert_eq!(verdict, Verdict::Forward(FRONTEND));
    let from_vip = ip6((ROUTER_MAC, CLIENT_MAC), VIP, CLIENT);
    assert_eq!(out, from_vip.tcp((80, 40000), false, b"hi"), "reverse NAT");

    // The IPv4 service beside it is untouched by all this.
    let sessions = lb.stats(now).sessions;
    assert_eq!(sessions, 1);
}

#[test]
fn udp_and_ping_to_an_ipv6_vip_go_through_the_backend() {
    let (mut lb, now) = (engine(), Instant::now());
    let query = ip6((CLIENT_MAC, ROUTER_MAC), CLIENT, VIP).udp((5000, 53), b"query");
    let (verdict, out) = run(&mut lb, now, FRONTEND, &query);
    assert_eq!(verdict, Verdict::Forward(BACKENDS));
    let expected = ip6((CLIENT_MAC, ROUTER_MAC), CLIENT, BACKEND).udp((5000, 53), b"query");
    assert_eq!(out, expected);

    let ping = ip6((CLIENT_MAC, ROUTER_MAC), CLIENT, VIP).echo(true, 99);
    let (verdict, out) = run(&mut lb, now, FRONTEND, &ping);
    assert_eq!(verdict, Verdict::Forward(BACKENDS));
    assert_eq!(
        out,
        ip6((CLIENT_MAC, ROUTER_MAC), CLIENT, BACKEND).echo(true, 99)
    );
    let pong = ip6((ROUTER_MAC, CLIENT_MAC), BACKEND, CLIENT).echo(false, 99);
    let (verdict, out) = run(&mut lb, now, BACKENDS, &pong);
    assert_eq!(verdict, Verdict::Forward(FRONTEND));
    assert_eq!(
        out,
        ip6((ROUTER_MAC, CLIENT_MAC), VIP, CLIENT).echo(false, 99)
    );
}

/// Path MTU discovery through the NAT: a router on the backend side says
/// the client's segment to the backend was too big; the client must hear
/// it about its own segment to the VIP.
#[test]
fn a_packet_too_big_reaches_the_client_about_the_vip() {
    let (mut lb, now) = (engine(), Instant::now());
    let syn = ip6((CLIENT_MAC, ROUTER_MAC), CLIENT, VIP).tcp((40000, 80), true, b"");
    assert_eq!(
        run(&mut lb, now, FRONTEND, &syn).0,
        Verdict::Forward(BACKENDS)
    );

    let big = [0x55u8; 600];
    let sent = ip6((CLIENT_MAC, ROUTER_MAC), CLIENT, BACKEND).tcp((40000, 8080), false, &big);
    let error = ip6((ROUTER_MAC, CLIENT_MAC), ROUTER, CLIENT).too_big(1400, &sent[14..]);
    let (verdict, out) = run(&mut lb, now, BACKENDS, &error);
    assert_eq!(verdict, Verdict::Forward(FRONTEND));
    let as_sent = ip6((CLIENT_MAC, ROUTER_MAC), CLIENT, VIP).tcp((40000, 80), false, &big);
    let expected = ip6((ROUTER_MAC, CLIENT_MAC), ROUTER, CLIENT).too_big(1400, &as_sent[14..]);
    assert_eq!(out, expected);
    let frame = Frame::parse(&out[..]).unwrap();
    assert_eq!(frame.l4_checksum_valid(), Some(true));
}

#[test]
fn non_vip_ipv6_and_neighbor_discovery_pass_unchanged() {
    let (mut lb, now) = (engine(), Instant::now());
    // Client to the router itself, not a VIP.
    let direct = ip6((CLIENT_MAC, ROUTER_MAC), CLIENT, ROUTER).udp((5000, 9999), b"x");
    assert_eq!(
        run(&mut lb, now, FRONTEND, &direct),
        (Verdict::Forward(BACKENDS), direct.clone())
    );
    // The router asking for the client's MAC, and the answer.
    let asking = lb_packet::neighbor_solicitation(MacAddr(ROUTER_MAC), ROUTER, CLIENT);
    assert_eq!(
        run(&mut lb, now, BACKENDS, &asking),
        (Verdict::Forward(FRONTEND), asking.to_vec())
    );
    let mut answer = asking;
    let mut frame = Frame::parse(&mut answer[..]).unwrap();
    frame
        .make_neighbor_advertisement(MacAddr(CLIENT_MAC))
        .unwrap();
    assert_eq!(
        run(&mut lb, now, FRONTEND, &answer),
        (Verdict::Forward(BACKENDS), answer.to_vec())
    );
}

/// An IPv6 fragment to a VIP carries no ports (lb does not reassemble):
/// dropped, counted as a fragment.
#[test]
fn ipv6_fragments_to_a_vip_are_counted_as_fragments() {
    let (mut lb, now) = (engine(), Instant::now());
    let mut bytes = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, ROUTER_MAC)
        .ipv6(CLIENT.octets(), VIP.octets(), 64)
        .udp(5000, 53)
        .write(&mut bytes, &[7; 32])
        .unwrap();
    // Next header 44, then a fragment header (offset 0, more to come).
    let mut fragment = bytes[..54].to_vec();
    fragment[20] = 44;
    fragment.extend_from_slice(&[17, 0, 0, 1, 0, 0, 0, 9]);
    fragment.extend_from_slice(&bytes[54..]);
    fragment[18..20].copy_from_slice(&(40u16 + 8).to_be_bytes());
    assert_eq!(
        run(&mut lb, now, FRONTEND, &fragment).0,
        Verdict::Drop(lb_engine::DropReason::Fragment)
    );
}

#[test]
fn a_backend_of_the_other_family_is_a_named_error() {
    let mixed = CONFIG.replace(
        "ip = \"fd01::2\"\nport = 8080",
        "ip = \"192.168.1.9\"\nport = 8080",
    );
    let config: ReverseProxyConfig = toml::from_str(&mixed).unwrap();
    let error = ReverseProxy::new(vec![None], &config).unwrap_err();
    assert_eq!(
        error.to_string(),
        "backend 192.168.1.9 is IPv4 where IPv6 is needed"
    );
    // At runtime too, and nothing changes.
    let mut lb = engine();
    let key = "[fd0d::13]:80/tcp".parse().unwrap();
    let backend: lb_engine::BackendConfig = "10.9.9.9:80".parse().unwrap();
    let error = lb.set_backend(key, &backend).unwrap_err();
    assert_eq!(
        error.to_string(),
        "backend 10.9.9.9 is IPv4 where IPv6 is needed"
    );
    assert_eq!(lb.services().len(), 5);
}

/// MULTI mode over IPv6: each frontend has its client's address; what
/// comes from the backend side with no session goes to the frontend of its
/// destination, and a solicitation to the frontend of its target.
#[test]
fn multi_mode_steers_by_ipv6_destination_and_solicited_target() {
    let config: ReverseProxyConfig = toml::from_str(CONFIG).unwrap();
    let frontends = vec![
        Some("fd00::11".parse().unwrap()),
        Some("fd00::12".parse().unwrap()),
    ];
    let mut lb = ReverseProxy::new(frontends, &config).unwrap();
    let now = Instant::now();
    let backends = PortId(2);
    let second: Ipv6Addr = "fd00::12".parse().unwrap();
    let to_second = ip6((ROUTER_MAC, CLIENT_MAC), ROUTER, second).udp((9, 9), b"x");
    assert_eq!(
        run(&mut lb, now, backends, &to_second).0,
        Verdict::Forward(PortId(1))
    );
    let asking = lb_packet::neighbor_solicitation(MacAddr(ROUTER_MAC), ROUTER, second);
    assert_eq!(
        run(&mut lb, now, backends, &asking).0,
        Verdict::Forward(PortId(1))
    );
    // Nobody's: every frontend.
    let stranger = ip6((ROUTER_MAC, CLIENT_MAC), ROUTER, CLIENT).udp((9, 9), b"x");
    assert_eq!(run(&mut lb, now, backends, &stranger).0, Verdict::Flood);
}

/// Active checks of IPv6 backends from an IPv6 probe source: the prober
/// finds the backend by neighbor discovery, then sends its SYN over IPv6,
/// and the backend's SYN-ACK passes the probe. A probe source of the other
/// family is refused.
#[test]
fn ipv6_backends_are_probed_from_an_ipv6_source() {
    use lb_engine::Health;
    let text = r#"
        [health]
        source = "fd01::fd/64"
        seed = 7
        [[service]]
        vip = "fd0d::13"
        port = 80
        proto = "tcp"
        backend = [{ ip = "fd01::2" }]
        [service.health]
        kind = "tcp"
        interval_ms = 100
        timeout_ms = 50
        rise = 1
        fall = 1
    "#;
    let config: ReverseProxyConfig = toml::from_str(text).unwrap();
    let mut lb = ReverseProxy::new(vec![None], &config).unwrap();
    let source: Ipv6Addr = "fd01::fd".parse().unwrap();
    let mut now = Instant::now();
    let mut out = Vec::new();
    let mut answered = 0;
    for _ in 0..40 {
        now += std::time::Duration::from_millis(10);
        lb.handle_timeout(now);
        while lb.poll_transmit(&mut out).is_some() {
            let frame = Frame::parse(&out[..]).unwrap();
            if let Some(asked) = frame.neighbor_solicitation() {
                assert_eq!((asked.source, asked.target), (source, BACKEND));
                let mut answer = out.clone();
                let mut frame = Frame::parse(&mut answer[..]).unwrap();
                frame
                    .make_neighbor_advertisement(MacAddr(ROUTER_MAC))
                    .unwrap();
                assert_eq!(run(&mut lb, now, BACKENDS, &answer).0, Verdict::Consumed);
                continue;
            }
            let key = frame.flow_key().unwrap();
            assert_eq!(
                (key.src, key.dst, key.dst_port),
                (source.into(), BACKEND.into(), 80)
            );
            assert_eq!(frame.l4_checksum_valid(), Some(true));
            let segment = frame.tcp_segment().unwrap();
            if segment.flags == lb_packet::TcpFlags::SYN {
                let mut syn_ack = Vec::new();
                PacketBuilder::ethernet2(ROUTER_MAC, frame.src_mac().0)
                    .ipv6(BACKEND.octets(), source.octets(), 64)
                    .tcp(80, key.src_port, 9000, 64_000)
                    .syn()
                    .ack(segment.seq.wrapping_add(1))
                    .write(&mut syn_ack, b"")
                    .unwrap();
                let verdict = run(&mut lb, now, BACKENDS, &syn_ack).0;
                assert!(
                    matches!(verdict, Verdict::Consumed | Verdict::Reply),
                    "{verdict:?}"
                );
                answered += 1;
            }
        }
    }
    assert!(answered >= 2, "probes answered: {answered}");
    let stats = lb.stats(now);
    assert_eq!(stats.services[0].backends[0].health, Health::Up);

    let mixed = text.replace("fd01::fd/64", "192.168.1.253/24");
    let config: ReverseProxyConfig = toml::from_str(&mixed).unwrap();
    let error = ReverseProxy::new(vec![None], &config).unwrap_err();
    assert_eq!(
        error.to_string(),
        "health-checked address fd01::2 is IPv6 where IPv4 is needed"
    );
}
