//! Instances behind ECMP decide alike without talking: a packet that
//! reaches an instance without its flow's session goes where the instance
//! that saw the SYN sent it, a reply is translated back by whichever
//! instance it reaches (where its backend endpoint says which VIP), and
//! instances configured alike, in any order, show the same fingerprint.

mod common;

use std::time::Instant;

use common::flows::*;
use common::rp::FRONTEND;
use lb_engine::{
    BackendConfig, Control, DirectReturn, DirectReturnConfig, Engine, HealthOverride, Observe,
    ReverseProxy, ServiceSelector, Verdict,
};
use lb_packet::{Frame, TcpFlags};

const KEY: &str = "[selection]\nhash_key = \"000102030405060708090a0b0c0d0e0f\"\n";

#[test]
fn a_packet_mid_stream_goes_where_the_syn_went() {
    let now = Instant::now();
    let mut saw_syn = proxy_with(&[2, 3, 4, 5], KEY);
    let mut other = proxy_with(&[2, 3, 4, 5], KEY);
    for n in 0..300 {
        let c = client(n);
        let picked = from_client(&mut saw_syn, now, c, TcpFlags::SYN, 1, 0).unwrap();
        let ack = from_client(&mut other, now, c, TcpFlags::ACK, 2, SERVER_ISN + 1);
        assert_eq!(ack, Some(picked), "client {n}");
    }
    let stats = other.stats(now);
    assert_eq!(stats.traffic.non_syn_misses, 300, "counted as Katran does");
    assert_eq!(stats.sessions, 300, "each flow keeps its backend here now");
    assert_eq!(saw_syn.stats(now).traffic.non_syn_misses, 0);
    // Picked up mid-stream: established, not assured until it is seen
    // to be a real exchange.
    let views = other.sessions(now, &Default::default(), 1);
    assert_eq!(views[0].state, lb_engine::SessionState::TcpEstablished);
    assert!(!views[0].assured);
}

#[test]
fn replies_are_translated_by_any_instance_unless_ambiguous() {
    let now = Instant::now();
    let mut lb = proxy(&[2, 3]);
    let backend = from_client(&mut lb, now, client(1), TcpFlags::SYN, 1, 0).unwrap();
    // Another instance, which never saw the request, gets the reply.
    let mut other = proxy(&[2, 3]);
    let reply = from_backend(
        &mut other,
        now,
        backend,
        client(1),
        TcpFlags::SYN | TcpFlags::ACK,
    );
    assert_eq!(reply, (Verdict::Forward(FRONTEND), VIP));
    assert_eq!(other.stats(now).traffic.stateless_replies, 1);
    assert!(other.shared_backends().is_empty());

    // The same backend endpoint behind a second VIP: only a session can
    // tell which VIP a reply comes from, and the configuration says so.
    let second = "[[service]]\nvip = \"10.0.0.2\"\nport = 80\nproto = \"tcp\"\n\
                  backend = [{ ip = \"192.168.1.2\", port = 8080 }]\n";
    let mut shared = proxy_with(&[2, 3], second);
    let listed = shared.shared_backends();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].backend.to_string(), "192.168.1.2:8080");
    assert_eq!(listed[0].vips.len(), 2);
    let b2 = "192.168.1.2:8080".parse().unwrap();
    let passed = from_backend(
        &mut shared,
        now,
        b2,
        client(1),
        TcpFlags::SYN | TcpFlags::ACK,
    );
    assert_eq!(passed, (Verdict::Forward(FRONTEND), b2), "untranslated");
    let b3 = "192.168.1.3:8080".parse().unwrap();
    let translated = from_backend(&mut shared, now, b3, client(1), TcpFlags::ACK);
    assert_eq!(translated, (Verdict::Forward(FRONTEND), VIP));
}

#[test]
fn instances_configured_alike_in_any_order_show_one_fingerprint() {
    let now = Instant::now();
    let fingerprint = |lb: &ReverseProxy| lb.stats(now).selection_fingerprint;
    let two_services = "[[service]]\nvip = \"10.0.0.9\"\nport = 53\nproto = \"udp\"\n\
                        backend = [{ ip = \"192.168.1.7\" }, { ip = \"192.168.1.8\", weight = 2 }]\n";
    let mut a = proxy_with(&[2, 3, 4], &format!("{two_services}{KEY}"));
    // The same services listed the other way round, backends reversed.
    let reversed = "[[service]]\nvip = \"10.0.0.9\"\nport = 53\nproto = \"udp\"\n\
                    backend = [{ ip = \"192.168.1.8\", weight = 2 }, { ip = \"192.168.1.7\" }]\n\
                    [[service]]\nvip = \"10.0.0.1\"\nport = 80\nproto = \"tcp\"\nbackend = [\
                    { ip = \"192.168.1.4\", port = 8080 }, { ip = \"192.168.1.3\", port = 8080 }, \
                    { ip = \"192.168.1.2\", port = 8080 }]\n";
    let config = toml::from_str(&format!("{reversed}{KEY}")).unwrap();
    let mut b = ReverseProxy::new(vec![None], &config).unwrap();
    assert_eq!(fingerprint(&a).len(), 16);
    assert_eq!(fingerprint(&a), fingerprint(&b));

    // Health is left out: instances disagree on it only for a moment.
    let web: ServiceSelector = "10.0.0.1:80/tcp".parse().unwrap();
    let b2 = "192.168.1.2:8080".parse().unwrap();
    a.force_health(web, b2, Some(HealthOverride::Down)).unwrap();
    assert_eq!(fingerprint(&a), fingerprint(&b));
    // A weight, a backend, a key: all change it.
    let before = fingerprint(&a);
    a.set_weight(web, b2, 5).unwrap();
    assert_ne!(fingerprint(&a), before);
    b.set_weight(web, b2, 5).unwrap();
    assert_eq!(fingerprint(&a), fingerprint(&b));
    let added: BackendConfig = "192.168.1.9:8080".parse().unwrap();
    a.add_backend(web, &added).unwrap();
    assert_ne!(fingerprint(&a), fingerprint(&b));
    let other_key = proxy_with(
        &[2, 3, 4],
        &format!("{two_services}{}", KEY.replace("0f", "ff")),
    );
    let same_key = proxy_with(&[2, 3, 4], &format!("{two_services}{KEY}"));
    assert_ne!(fingerprint(&other_key), fingerprint(&same_key));
}

#[test]
fn direct_return_instances_agree_mid_stream() {
    let now = Instant::now();
    let config: DirectReturnConfig = toml::from_str(&format!(
        "vips = [\"10.0.0.1\"]\nmac = \"02:00:00:00:00:02\"\npolicy = \"maglev\"\none_armed = true\n\
         backends = [{{ mac = \"02:00:00:00:5e:01\" }}, {{ mac = \"02:00:00:00:5e:02\" }}, \
         {{ mac = \"02:00:00:00:5e:03\" }}]\n{KEY}"
    ))
    .unwrap();
    let (mut saw_syn, mut other) = (
        DirectReturn::new(&config).unwrap(),
        DirectReturn::new(&config).unwrap(),
    );
    let server = |lb: &mut DirectReturn, n: u32, flags: TcpFlags| {
        let mut frame = common::segment(IN, client(n), VIP, flags, 1, 0);
        assert_eq!(
            lb.handle_frame(now, lb_engine::FRONTEND_PORT, &mut frame),
            Verdict::Reply
        );
        Frame::parse(&frame[..]).unwrap().dst_mac()
    };
    for n in 0..300 {
        assert_eq!(
            server(&mut saw_syn, n, TcpFlags::SYN),
            server(&mut other, n, TcpFlags::ACK)
        );
    }
    assert_eq!(other.stats(now).traffic.non_syn_misses, 300);
    assert_eq!(
        saw_syn.stats(now).selection_fingerprint,
        other.stats(now).selection_fingerprint
    );
}

/// A NAT proxy behind ECMP: it takes connections on a VIP routed to it
/// (without answering ARP for it) and sends them on from its own address,
/// so the destination's replies come back to this instance; they reach
/// the client from the VIP.
#[test]
fn a_proxy_takes_connections_on_a_shared_vip() {
    use lb_engine::{MacAddr, NatProxy, NatProxyConfig, PROXY_PORT};
    use lb_packet::{ArpOp, ArpRepr, EthernetRepr, FrameRepr, PacketRepr};
    use std::net::{Ipv4Addr, SocketAddrV4};

    let text = "ip = \"10.2.0.11\"\nprefix_len = 24\nmac = \"02:00:00:00:00:11\"\n\
                vips = [\"172.16.0.100\"]\ndst_addrs = [\"10.2.0.21\"]\n";
    let config: NatProxyConfig = toml::from_str(text).unwrap();
    let mut proxy = NatProxy::new(&config).unwrap();
    let now = Instant::now();
    let (proxy_mac, router_mac) = (MacAddr([2, 0, 0, 0, 0, 0x11]), MacAddr([2, 0, 0, 0, 0, 1]));
    let dest_mac = MacAddr([2, 0, 0, 0, 0, 0x21]);
    let arp = |op, sender: (MacAddr, Ipv4Addr), target: (MacAddr, Ipv4Addr)| {
        FrameRepr {
            ethernet: EthernetRepr::new(sender.0, target.0),
            packet: PacketRepr::Arp(ArpRepr {
                op,
                sender_mac: sender.0,
                sender_ip: sender.1,
                target_mac: target.0,
                target_ip: target.1,
            }),
            pad: false,
        }
        .to_vec()
        .unwrap()
    };
    // The destination's MAC, learned from its answer.
    let dest = Ipv4Addr::new(10, 2, 0, 21);
    let mut answer = arp(
        ArpOp::Reply,
        (dest_mac, dest),
        (proxy_mac, Ipv4Addr::new(10, 2, 0, 11)),
    );
    assert_eq!(
        proxy.handle_frame(now, PROXY_PORT, &mut answer),
        Verdict::Consumed
    );
    // Nobody is told the VIP is here: the router routes it.
    let vip = Ipv4Addr::new(172, 16, 0, 100);
    let broadcast = MacAddr([0xff; 6]);
    let mut who_has = arp(
        ArpOp::Request,
        (router_mac, Ipv4Addr::new(10, 2, 0, 1)),
        (broadcast, vip),
    );
    assert!(matches!(
        proxy.handle_frame(now, PROXY_PORT, &mut who_has),
        Verdict::Drop(_)
    ));

    let client = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 40000);
    let listen = SocketAddrV4::new(vip, 7000);
    let mut syn = common::segment((router_mac, proxy_mac), client, listen, TcpFlags::SYN, 1, 0);
    assert_eq!(
        proxy.handle_frame(now, PROXY_PORT, &mut syn),
        Verdict::Reply
    );
    let key = Frame::parse(&syn[..]).unwrap().flow_key().unwrap();
    assert_eq!(
        *common::v4(key.src_endpoint()).ip(),
        Ipv4Addr::new(10, 2, 0, 11),
        "from its own address"
    );
    assert_eq!(
        common::v4(key.dst_endpoint()),
        SocketAddrV4::new(dest, 7000)
    );
    let mut reply = common::segment(
        (dest_mac, proxy_mac),
        common::v4(key.dst_endpoint()),
        common::v4(key.src_endpoint()),
        TcpFlags::SYN | TcpFlags::ACK,
        5000,
        2,
    );
    assert_eq!(
        proxy.handle_frame(now, PROXY_PORT, &mut reply),
        Verdict::Reply
    );
    let back = Frame::parse(&reply[..]).unwrap();
    let key = back.flow_key().unwrap();
    assert_eq!(
        (
            common::v4(key.src_endpoint()),
            common::v4(key.dst_endpoint())
        ),
        (listen, client)
    );
    assert_eq!(back.dst_mac(), router_mac);

    // A VIP that is the proxy itself, or multicast, is refused.
    for bad in ["10.2.0.11", "224.0.0.5"] {
        let text = text.replace("172.16.0.100", bad);
        let config: NatProxyConfig = toml::from_str(&text).unwrap();
        assert!(NatProxy::new(&config).is_err(), "{bad}");
    }
}
