//! Floods against the reverse proxy: blind handshakes never take the
//! table from real connections, and a full table still forwards new flows
//! (without a session, their replies translated from the backend endpoint).

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use common::rp::{BACKENDS, FRONTEND};
use lb_engine::{
    Engine, MacAddr, Observe, ReverseProxy, ReverseProxyConfig, SessionFilter, Verdict,
};
use lb_packet::{EthernetRepr, Frame, FrameRepr, Ipv4Repr, TcpFlags, TcpRepr};

const VIP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80);
const BACKEND: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, 2), 8080);

fn proxy(capacity: usize) -> ReverseProxy {
    proxy_with(&format!("capacity = {capacity}"))
}

/// A proxy with one service and these `[sessions]` settings.
fn proxy_with(sessions: &str) -> ReverseProxy {
    let text = format!(
        "[sessions]\n{sessions}\n[[service]]\nvip = \"10.0.0.1\"\nport = 80\nproto = \"tcp\"\nbackend = [{{ ip = \"192.168.1.2\", port = 8080 }}]\n"
    );
    let config: ReverseProxyConfig = toml::from_str(&text).unwrap();
    ReverseProxy::new(vec![None], &config).unwrap()
}

/// A segment from a client's router to the load balancer.
fn segment(from: SocketAddrV4, to: SocketAddrV4, flags: TcpFlags, seq: u32, ack: u32) -> Vec<u8> {
    let macs = (MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
    common::segment(macs, from, to, flags, seq, ack)
}

fn client(n: u32) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(0x0a09_0000 + n), 40000)
}

/// Runs `frame` through on `port`; the verdict and the frame's source.
fn run(
    lb: &mut ReverseProxy,
    port: lb_engine::PortId,
    mut frame: Vec<u8>,
) -> (Verdict, SocketAddrV4) {
    let verdict = lb.handle_frame(Instant::now(), port, &mut frame);
    let key = Frame::parse(&frame[..]).unwrap().flow_key().unwrap();
    (verdict, common::v4(key.src_endpoint()))
}

/// A real handshake: SYN, the backend's SYN-ACK (ISN 5000), the ACK of it.
fn handshake(lb: &mut ReverseProxy, from: SocketAddrV4) {
    let syn = TcpFlags::SYN;
    assert_eq!(
        run(lb, FRONTEND, segment(from, VIP, syn, 1, 0)).0,
        Verdict::Forward(BACKENDS)
    );
    let (verdict, source) = run(
        lb,
        BACKENDS,
        segment(BACKEND, from, syn | TcpFlags::ACK, 5000, 2),
    );
    assert_eq!((verdict, source), (Verdict::Forward(FRONTEND), VIP));
    assert_eq!(
        run(lb, FRONTEND, segment(from, VIP, TcpFlags::ACK, 2, 5001)).0,
        Verdict::Forward(BACKENDS)
    );
}

fn assured(lb: &ReverseProxy) -> usize {
    let sessions = lb.sessions(Instant::now(), &SessionFilter::default(), 100_000);
    sessions.iter().filter(|s| s.assured).count()
}

#[test]
fn blind_handshakes_never_take_the_table() {
    let mut lb = proxy(1024);
    // Spoofed SYNs, each followed by an ACK guessing the server's ISN.
    for n in 0..10_000 {
        run(
            &mut lb,
            FRONTEND,
            segment(client(n), VIP, TcpFlags::SYN, 1, 0),
        );
        run(
            &mut lb,
            FRONTEND,
            segment(client(n), VIP, TcpFlags::ACK, 2, n.wrapping_mul(7919)),
        );
    }
    assert_eq!(assured(&lb), 0);
    assert!(
        lb.stats(Instant::now()).sessions <= 512,
        "within the unassured share"
    );
    for n in 0..100 {
        handshake(&mut lb, client(100_000 + n));
    }
    assert_eq!(assured(&lb), 100, "every real connection is assured");
}

#[test]
fn a_full_table_still_forwards_new_flows() {
    let mut lb = proxy(4);
    for n in 0..4 {
        handshake(&mut lb, client(n));
    }
    assert_eq!(assured(&lb), 4);
    // No room: the newcomer goes on by its pick, and its backend's reply
    // is translated from the backend endpoint.
    let (verdict, _) = run(
        &mut lb,
        FRONTEND,
        segment(client(9), VIP, TcpFlags::SYN, 1, 0),
    );
    assert_eq!(verdict, Verdict::Forward(BACKENDS));
    let reply = segment(BACKEND, client(9), TcpFlags::SYN | TcpFlags::ACK, 5000, 2);
    assert_eq!(
        run(&mut lb, BACKENDS, reply),
        (Verdict::Forward(FRONTEND), VIP)
    );
    let traffic = lb.stats(Instant::now()).traffic;
    assert_eq!((traffic.stateless, traffic.stateless_replies), (1, 1));
    assert_eq!(traffic.dropped, 0, "nothing refused");
}

/// Katran's flood guard: past `flood_guard` new flows in a second, new
/// flows are forwarded by their pick without a session, and picked up
/// when the second is over.
#[test]
fn the_flood_guard_forwards_statelessly_past_its_rate() {
    let mut lb = proxy_with("flood_guard = 100");
    let start = Instant::now();
    let send = |lb: &mut ReverseProxy, at_ms: u64, port, mut frame: Vec<u8>| {
        let at = start + std::time::Duration::from_millis(at_ms);
        let verdict = lb.handle_frame(at, port, &mut frame);
        let key = Frame::parse(&frame[..]).unwrap().flow_key().unwrap();
        (
            verdict,
            common::v4(key.src_endpoint()),
            common::v4(key.dst_endpoint()),
        )
    };
    for n in 0..300 {
        let syn = segment(client(n), VIP, TcpFlags::SYN, 1, 0);
        let (verdict, _, to) = send(&mut lb, u64::from(n), FRONTEND, syn);
        assert_eq!((verdict, to), (Verdict::Forward(BACKENDS), BACKEND));
    }
    let stats = lb.stats(start);
    assert_eq!(stats.sessions, 100);
    let traffic = stats.traffic;
    assert_eq!((traffic.stateless, traffic.flood_guarded), (200, 200));
    // A flow the guard held back: its reply is translated all the same,
    let syn_ack = segment(BACKEND, client(250), TcpFlags::SYN | TcpFlags::ACK, 5000, 2);
    let (verdict, from, _) = send(&mut lb, 400, BACKENDS, syn_ack);
    assert_eq!((verdict, from), (Verdict::Forward(FRONTEND), VIP));
    // and once the second is over its next packet gets a session.
    let ack = segment(client(250), VIP, TcpFlags::ACK, 2, 5001);
    let (verdict, _, to) = send(&mut lb, 1000, FRONTEND, ack);
    assert_eq!((verdict, to), (Verdict::Forward(BACKENDS), BACKEND));
    let stats = lb.stats(start);
    assert_eq!((stats.sessions, stats.traffic.flood_guarded), (101, 200));
    assert_eq!(stats.traffic.dropped, 0, "nothing refused");
}

/// Direct return has no reply to translate: a full table simply sends the
/// newcomer to its pick, without a session.
#[test]
fn direct_return_forwards_statelessly_when_full() {
    let config: lb_engine::DirectReturnConfig = toml::from_str(
        r#"
        vips = ["10.0.0.1"]
        mac = "02:00:00:00:00:aa"
        backends = [{ mac = "02:00:00:00:5e:01" }]
        one_armed = true
        [sessions]
        capacity = 2
        "#,
    )
    .unwrap();
    let mut lb = lb_engine::DirectReturn::new(&config).unwrap();
    let now = Instant::now();
    let send = |lb: &mut lb_engine::DirectReturn, from: SocketAddrV4, flags: TcpFlags| {
        let ethernet = EthernetRepr::new(
            MacAddr([2, 0, 0, 0, 0, 0x0c]),
            MacAddr([2, 0, 0, 0, 0, 0xaa]),
        );
        let tcp = TcpRepr::new(from.port(), 80, flags);
        let mut frame = FrameRepr::ipv4(ethernet, Ipv4Repr::new(*from.ip(), *VIP.ip()), tcp, b"")
            .to_vec()
            .unwrap();
        let verdict = lb.handle_frame(now, lb_engine::FRONTEND_PORT, &mut frame);
        (verdict, Frame::parse(&frame[..]).unwrap().dst_mac())
    };
    for n in 0..2 {
        send(&mut lb, client(n), TcpFlags::SYN);
        send(&mut lb, client(n), TcpFlags::ACK);
    }
    let (verdict, to) = send(&mut lb, client(7), TcpFlags::SYN);
    assert_eq!(
        (verdict, to),
        (Verdict::Reply, MacAddr([2, 0, 0, 0, 0x5e, 1]))
    );
    let stats = lb.stats(now);
    assert_eq!(
        (
            stats.sessions,
            stats.traffic.stateless,
            stats.traffic.dropped
        ),
        (2, 1, 0)
    );
}
