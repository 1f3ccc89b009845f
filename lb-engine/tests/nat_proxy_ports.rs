//! The proxy's source ports under pressure: a range smaller than the
//! connections asked for refuses the extra ones at once with a reset and
//! keeps the established ones; half-open and closed connections give their
//! ports up to new ones (closed ones only past their sequence numbers);
//! ports come back as sessions end.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use common::segment;

use lb_engine::{
    DropReason, Engine, MacAddr, NatProxy, NatProxyConfig, Observe, PROXY_PORT, Verdict,
};
use lb_packet::{ArpOp, ArpRepr, EthernetRepr, Frame, FrameRepr, PacketRepr, TcpFlags};

const PROXY: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 100);
const DEST: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
const PROXY_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x64]);
const DEST_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0xd0, 1]);
const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x50]);
/// The destination's ISN in every SYN-ACK.
const SERVER_ISN: u32 = 7000;
const LISTEN: SocketAddrV4 = SocketAddrV4::new(PROXY, 80);
const REMOTE: SocketAddrV4 = SocketAddrV4::new(DEST, 80);

fn proxy() -> NatProxy {
    let text = r#"
        ip = "192.168.0.100"
        prefix_len = 24
        mac = "02:00:00:00:00:64"
        dst_addrs = ["192.168.0.1"]
        snat_ports = "6000-6099"
    "#;
    let config: NatProxyConfig = toml::from_str(text).unwrap();
    let mut proxy = NatProxy::new(&config).unwrap();
    learn_dest(&mut proxy, Instant::now());
    proxy
}

/// Tells the proxy the destination's MAC, so frames go out at once.
fn learn_dest(lb: &mut NatProxy, now: Instant) {
    assert_eq!(
        lb.handle_frame(now, PROXY_PORT, &mut arp_reply()),
        Verdict::Consumed
    );
}

/// An ARP reply from the destination to the proxy.
fn arp_reply() -> Vec<u8> {
    let repr = ArpRepr {
        op: ArpOp::Reply,
        sender_mac: DEST_MAC,
        sender_ip: DEST,
        target_mac: PROXY_MAC,
        target_ip: PROXY,
    };
    FrameRepr {
        ethernet: EthernetRepr::new(DEST_MAC, PROXY_MAC),
        packet: PacketRepr::Arp(repr),
        pad: false,
    }
    .to_vec()
    .unwrap()
}

fn client(n: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 9, (n >> 8) as u8, n as u8), 40000)
}

/// The client's frame to the proxy; the verdict and what it became.
fn from_client(
    lb: &mut NatProxy,
    now: Instant,
    c: SocketAddrV4,
    flags: TcpFlags,
    seq: u32,
    ack: u32,
) -> (Verdict, Vec<u8>) {
    let mut frame = segment((CLIENT_MAC, PROXY_MAC), c, LISTEN, flags, seq, ack);
    let verdict = lb.handle_frame(now, PROXY_PORT, &mut frame);
    (verdict, frame)
}

/// The destination's frame to the proxy's source port `port`.
fn from_dest(lb: &mut NatProxy, now: Instant, port: u16, flags: TcpFlags, seq: u32, ack: u32) {
    let to = SocketAddrV4::new(PROXY, port);
    let mut frame = segment((DEST_MAC, PROXY_MAC), REMOTE, to, flags, seq, ack);
    assert_eq!(lb.handle_frame(now, PROXY_PORT, &mut frame), Verdict::Reply);
}

/// Opens a connection from `c` with ISN `isn`: SYN, the destination's
/// SYN-ACK, the client's ACK of it. The source port it took.
fn connect(lb: &mut NatProxy, now: Instant, c: SocketAddrV4, isn: u32) -> u16 {
    let (verdict, out) = from_client(lb, now, c, TcpFlags::SYN, isn, 0);
    assert_eq!(verdict, Verdict::Reply, "the SYN goes to the destination");
    let port = Frame::parse(&out[..]).unwrap().flow_key().unwrap().src_port;
    let syn_ack = TcpFlags::SYN | TcpFlags::ACK;
    from_dest(lb, now, port, syn_ack, SERVER_ISN, isn + 1);
    let (verdict, _) = from_client(lb, now, c, TcpFlags::ACK, isn + 1, SERVER_ISN + 1);
    assert_eq!(verdict, Verdict::Reply);
    port
}

/// The resets the proxy owes, as (client, ack number, flags).
fn resets(lb: &mut NatProxy) -> Vec<(SocketAddrV4, u32, TcpFlags)> {
    let mut buffer = Vec::new();
    let mut out = Vec::new();
    while lb.poll_transmit(&mut buffer).is_some() {
        let frame = Frame::parse(&buffer[..]).unwrap();
        assert_eq!(frame.dst_mac(), CLIENT_MAC);
        let key = frame.flow_key().unwrap();
        assert_eq!(
            key.src_endpoint(),
            LISTEN.into(),
            "from the address it called"
        );
        assert_eq!(frame.l4_checksum_valid(), Some(true));
        let tcp = frame.tcp_segment().unwrap();
        out.push((common::v4(key.dst_endpoint()), tcp.ack, tcp.flags));
    }
    out
}

#[test]
fn connections_past_the_range_are_refused_at_once_and_the_first_ones_kept() {
    let mut lb = proxy();
    let now = Instant::now();
    let mut ports: Vec<u16> = (0..100)
        .map(|n| connect(&mut lb, now, client(n), 100))
        .collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 100, "a port each");
    for n in 100..200 {
        let (verdict, _) = from_client(&mut lb, now, client(n), TcpFlags::SYN, 5000 + 7, 0);
        assert_eq!(verdict, Verdict::Drop(DropReason::PortsExhausted));
        let reset = resets(&mut lb);
        assert_eq!(
            reset,
            [(client(n), 5008, TcpFlags::RST | TcpFlags::ACK)],
            "refused at once, acknowledging the SYN"
        );
    }
    // The first hundred still work, on their ports.
    for n in 0..100 {
        let (verdict, _) = from_client(&mut lb, now, client(n), TcpFlags::ACK, 101, SERVER_ISN + 1);
        assert_eq!(verdict, Verdict::Reply);
    }
    let stats = lb.stats(now);
    assert_eq!(stats.traffic.refused, 100);
    assert_eq!(stats.traffic.ports_taken_over, 0, "established ones stay");
    assert_eq!(stats.sessions, 100);
    assert_eq!(stats.services[0].backends[0].sessions, 100);
}

#[test]
fn half_open_connections_give_their_ports_to_new_ones() {
    let mut lb = proxy();
    let now = Instant::now();
    let established: Vec<u16> = (0..10)
        .map(|n| connect(&mut lb, now, client(n), 1))
        .collect();
    // A flood of SYNs nobody answers takes the other ninety ports.
    for n in 10..100 {
        let (verdict, _) = from_client(&mut lb, now, client(n), TcpFlags::SYN, 1, 0);
        assert_eq!(verdict, Verdict::Reply);
    }
    // Each new connection takes a half-open one's port, never an
    // established one's.
    for n in 100..150 {
        let port = connect(&mut lb, now, client(n), 1);
        assert!(!established.contains(&port));
    }
    assert!(resets(&mut lb).is_empty());
    let stats = lb.stats(now);
    assert_eq!(stats.traffic.ports_taken_over, 50);
    assert_eq!(stats.sessions, 100);
    for n in 0..10 {
        let (verdict, _) = from_client(&mut lb, now, client(n), TcpFlags::ACK, 2, SERVER_ISN + 1);
        assert_eq!(verdict, Verdict::Reply, "established connections kept");
    }
}

#[test]
fn closed_connections_give_up_their_ports_only_past_their_sequence() {
    let mut lb = proxy();
    let now = Instant::now();
    let ports: Vec<u16> = (0..100)
        .map(|n| connect(&mut lb, now, client(n), 1000))
        .collect();
    // Every connection closes: the client's FIN at 1001, the destination's.
    let fin_ack = TcpFlags::FIN | TcpFlags::ACK;
    for (n, &port) in (0..100).zip(&ports) {
        let (verdict, _) = from_client(&mut lb, now, client(n), fin_ack, 1001, SERVER_ISN + 1);
        assert_eq!(verdict, Verdict::Reply);
        from_dest(&mut lb, now, port, fin_ack, SERVER_ISN + 1, 1002);
    }
    // A new SYN behind the old connection's sequence would meet the
    // destination's TIME_WAIT: refused. Past it, it takes a port over.
    let (verdict, _) = from_client(&mut lb, now, client(500), TcpFlags::SYN, 900, 0);
    assert_eq!(verdict, Verdict::Drop(DropReason::PortsExhausted));
    assert_eq!(resets(&mut lb).len(), 1);
    for n in 200..250 {
        let port = connect(&mut lb, now, client(n), 50_000);
        assert!(ports.contains(&port));
    }
    assert_eq!(lb.stats(now).traffic.ports_taken_over, 50);
}

/// A client that reuses its port for a new connection once the old one
/// closed both ways opens a new flow: the closed session gives way (its
/// source port back), the new one is chosen and counted afresh.
#[test]
fn a_closed_connection_reopened_on_its_tuple_is_a_new_one() {
    let mut lb = proxy();
    let now = Instant::now();
    let port = connect(&mut lb, now, client(0), 1000);
    let fin_ack = TcpFlags::FIN | TcpFlags::ACK;
    let (verdict, _) = from_client(&mut lb, now, client(0), fin_ack, 1001, SERVER_ISN + 1);
    assert_eq!(verdict, Verdict::Reply);
    from_dest(&mut lb, now, port, fin_ack, SERVER_ISN + 1, 1002);
    connect(&mut lb, now, client(0), 90_000);
    let stats = lb.stats(now);
    assert_eq!(stats.services[0].counters.new_flows, 2);
    assert_eq!(
        (stats.sessions, stats.services[0].backends[0].sessions),
        (1, 1)
    );
}

#[test]
fn ports_come_back_as_sessions_expire() {
    let mut lb = proxy();
    let now = Instant::now();
    for n in 0..100 {
        let (verdict, _) = from_client(&mut lb, now, client(n), TcpFlags::SYN, 1, 0);
        assert_eq!(verdict, Verdict::Reply);
    }
    assert_eq!(lb.stats(now).services[0].backends[0].sessions, 100);
    // Half-open sessions time out; the sweep reclaims them and their ports.
    let later = now + Duration::from_secs(60);
    for _ in 0..1000 {
        lb.handle_timeout(later);
        if lb.stats(later).sessions == 0 {
            break;
        }
    }
    let stats = lb.stats(later);
    assert_eq!(stats.sessions, 0);
    assert_eq!(
        stats.services[0].backends[0].sessions, 0,
        "counted as they go"
    );
    learn_dest(&mut lb, later);
    for n in 100..200 {
        connect(&mut lb, later, client(n), 1);
    }
    assert_eq!(
        lb.stats(later).traffic.ports_taken_over,
        0,
        "every port was free"
    );
}

/// A restart: the proxy's connections written out and put back into a new
/// proxy keep their source ports, replies find their clients, and new
/// connections never get a port a restored one holds.
#[test]
fn restored_connections_keep_their_ports() {
    use lb_engine::Persist;
    use std::time::SystemTime;

    let now = Instant::now();
    let wall = SystemTime::now();
    let mut old = proxy();
    let ports: Vec<u16> = (0..40)
        .map(|n| connect(&mut old, now, client(n), 1))
        .collect();
    let saved = old.save_sessions(now, wall);
    let mut new = proxy();
    let restored = new
        .restore_sessions(now, wall + Duration::from_secs(1), &saved)
        .unwrap();
    assert_eq!((restored.restored, restored.refused), (40, 0));
    // The destination answers a restored connection: back to its client.
    let to = SocketAddrV4::new(PROXY, ports[7]);
    let mut reply = segment((DEST_MAC, PROXY_MAC), REMOTE, to, TcpFlags::ACK, 7001, 2);
    assert_eq!(
        new.handle_frame(now, PROXY_PORT, &mut reply),
        Verdict::Reply
    );
    let key = Frame::parse(&reply[..]).unwrap().flow_key().unwrap();
    assert_eq!(
        (key.src_endpoint(), key.dst_endpoint()),
        (LISTEN.into(), client(7).into())
    );
    // The other 60 ports of the range go to new connections, then none.
    let fresh: Vec<u16> = (100..160)
        .map(|n| connect(&mut new, now, client(n), 1))
        .collect();
    assert!(fresh.iter().all(|port| !ports.contains(port)), "{fresh:?}");
    let (verdict, _) = from_client(&mut new, now, client(200), TcpFlags::SYN, 1, 0);
    assert_eq!(verdict, Verdict::Drop(DropReason::PortsExhausted));
}

/// A segment of a connection the proxy does not have (another instance's
/// behind ECMP, or one it lost) gets a reset at once, its sequence number
/// the segment's acknowledgment number; a stray reset gets nothing.
#[test]
fn segments_of_unknown_connections_are_reset() {
    let mut lb = proxy();
    let now = Instant::now();
    let (verdict, _) = from_client(&mut lb, now, client(1), TcpFlags::ACK, 100, 4242);
    assert_eq!(verdict, Verdict::Drop(DropReason::NoSession));
    let mut buffer = Vec::new();
    assert!(lb.poll_transmit(&mut buffer).is_some());
    let frame = Frame::parse(&buffer[..]).unwrap();
    let tcp = frame.tcp_segment().unwrap();
    assert_eq!((tcp.flags, tcp.seq), (TcpFlags::RST, 4242));
    let key = frame.flow_key().unwrap();
    assert_eq!(
        (key.src_endpoint(), key.dst_endpoint()),
        (LISTEN.into(), client(1).into())
    );
    assert_eq!(frame.l4_checksum_valid(), Some(true));
    let (verdict, _) = from_client(&mut lb, now, client(1), TcpFlags::RST, 100, 0);
    assert_eq!(verdict, Verdict::Drop(DropReason::NoSession));
    assert!(
        lb.poll_transmit(&mut buffer).is_none(),
        "no reset for a reset"
    );
}
