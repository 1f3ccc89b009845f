//! Direct server return and the NAT proxy over IPv6: neighbor discovery in
//! place of ARP, and frames out compared with etherparse's or checked
//! field by field with full checksum recomputation.

use std::net::Ipv6Addr;
use std::time::Instant;

use etherparse::PacketBuilder;
use lb_engine::{
    DirectReturn, DirectReturnConfig, DsrBackendConfig, Engine, FRONTEND_PORT, NatProxy,
    NatProxyConfig, PROXY_PORT, Verdict,
};
use lb_packet::{Frame, MacAddr, NeighborAdvertisement, neighbor_solicitation};

const LB_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xaa]);
const CLIENT_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0c]);
const SERVER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0x5e, 1]);
const DEST_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0xd0, 1]);

const CLIENT: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x50);
const VIP: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x100);
const PROXY: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x64);
const DEST: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);

fn tcp(macs: (MacAddr, MacAddr), src: (Ipv6Addr, u16), dst: (Ipv6Addr, u16), hops: u8) -> Vec<u8> {
    let mut bytes = Vec::new();
    PacketBuilder::ethernet2(macs.0.0, macs.1.0)
        .ipv6(src.0.octets(), dst.0.octets(), hops)
        .tcp(src.1, dst.1, 1000, 64_000)
        .syn()
        .write(&mut bytes, b"")
        .unwrap();
    bytes
}

fn run<E: Engine>(lb: &mut E, port: lb_engine::PortId, input: &[u8]) -> (Verdict, Vec<u8>) {
    let mut frame = input.to_vec();
    let verdict = lb.handle_frame(Instant::now(), port, &mut frame);
    (verdict, frame)
}

/// The advertisement a frame carries, and its checksum's validity.
fn advertised(bytes: &[u8]) -> (Option<NeighborAdvertisement>, Option<bool>) {
    let frame = Frame::parse(bytes).unwrap();
    (frame.neighbor_advertisement(), frame.l4_checksum_valid())
}

#[test]
fn direct_return_answers_solicitations_for_an_ipv6_vip_and_rewrites_only_macs() {
    let config = DirectReturnConfig {
        vips: vec![VIP.into()],
        mac: LB_MAC,
        backend_port_mac: None,
        backends: vec![DsrBackendConfig {
            mac: SERVER_MAC,
            weight: 1,
        }],
        policy: lb_algos::Policy::SrcIpHash,
        one_armed: true,
        sessions: Default::default(),
        selection: Default::default(),
        health: Default::default(),
        health_check: None,
    };
    let mut lb = DirectReturn::new(&config).unwrap();
    let asking = neighbor_solicitation(CLIENT_MAC, CLIENT, VIP);
    let (verdict, answer) = run(&mut lb, FRONTEND_PORT, &asking);
    assert_eq!(verdict, Verdict::Reply);
    let told = NeighborAdvertisement {
        target: VIP,
        target_mac: Some(LB_MAC),
        solicited: true,
        overrides: true,
    };
    assert_eq!(advertised(&answer), (Some(told), Some(true)));
    assert_eq!(Frame::parse(&answer[..]).unwrap().dst_mac(), CLIENT_MAC);
    // A solicitation for another address is not answered.
    let other = neighbor_solicitation(CLIENT_MAC, CLIENT, DEST);
    assert!(matches!(
        run(&mut lb, FRONTEND_PORT, &other).0,
        Verdict::Drop(_)
    ));

    let syn = tcp((CLIENT_MAC, LB_MAC), (CLIENT, 40000), (VIP, 80), 64);
    let (verdict, out) = run(&mut lb, FRONTEND_PORT, &syn);
    assert_eq!(verdict, Verdict::Reply, "one-armed: back out where it came");
    assert_eq!(
        out,
        tcp((LB_MAC, SERVER_MAC), (CLIENT, 40000), (VIP, 80), 64)
    );
}

fn proxy_config() -> NatProxyConfig {
    NatProxyConfig {
        ip: PROXY.into(),
        vips: Vec::new(),
        prefix_len: 64,
        mac: LB_MAC,
        gateway: None,
        dst_addrs: vec![DEST.into()],
        policy: lb_algos::Policy::RoundRobin,
        snat_ports: "20000-20999".parse().unwrap(),
        denied_ports: Vec::new(),
        sessions: Default::default(),
        selection: Default::default(),
        arp: Default::default(),
        health: Default::default(),
        health_check: None,
    }
}

#[test]
fn the_proxy_resolves_by_neighbor_discovery_and_translates_ipv6() {
    let mut lb = NatProxy::new(&proxy_config()).unwrap();
    // Clients find the proxy.
    let asking = neighbor_solicitation(CLIENT_MAC, CLIENT, PROXY);
    let (verdict, answer) = run(&mut lb, PROXY_PORT, &asking);
    assert_eq!(verdict, Verdict::Reply);
    assert_eq!(
        advertised(&answer).0.and_then(|a| a.target_mac),
        Some(LB_MAC)
    );

    // A connection: held while the proxy asks where the destination is.
    let syn = tcp((CLIENT_MAC, LB_MAC), (CLIENT, 40000), (PROXY, 8080), 64);
    assert_eq!(run(&mut lb, PROXY_PORT, &syn).0, Verdict::Consumed);
    let mut buffer = Vec::new();
    assert_eq!(lb.poll_transmit(&mut buffer), Some(PROXY_PORT));
    assert_eq!(buffer, neighbor_solicitation(LB_MAC, PROXY, DEST));
    assert_eq!(lb.poll_transmit(&mut buffer), None);

    // The destination answers; the held SYN leaves, translated.
    let mut answer = neighbor_solicitation(LB_MAC, PROXY, DEST);
    Frame::parse(&mut answer[..])
        .unwrap()
        .make_neighbor_advertisement(DEST_MAC)
        .unwrap();
    assert_eq!(run(&mut lb, PROXY_PORT, &answer).0, Verdict::Consumed);
    assert_eq!(lb.poll_transmit(&mut buffer), Some(PROXY_PORT));
    let out = Frame::parse(&buffer[..]).unwrap();
    let key = out.flow_key().unwrap();
    assert_eq!(
        (key.src, key.dst, key.dst_port),
        (PROXY.into(), DEST.into(), 8080)
    );
    assert!((20000..=20999).contains(&key.src_port));
    assert_eq!((out.dst_mac(), out.src_mac()), (DEST_MAC, LB_MAC));
    assert_eq!(out.ipv6().unwrap().hop_limit(), 63);
    assert_eq!(out.l4_checksum_valid(), Some(true));

    // The reply goes back to the client from the address it called.
    let reply = tcp((DEST_MAC, LB_MAC), (DEST, 8080), (PROXY, key.src_port), 64);
    let (verdict, back) = run(&mut lb, PROXY_PORT, &reply);
    assert_eq!(verdict, Verdict::Reply);
    let back = Frame::parse(&back[..]).unwrap();
    let key = back.flow_key().unwrap();
    assert_eq!(
        (key.src_endpoint(), key.dst_endpoint()),
        ((PROXY, 8080).into(), (CLIENT, 40000).into())
    );
    assert_eq!(back.dst_mac(), CLIENT_MAC);
    assert_eq!(back.l4_checksum_valid(), Some(true));
}

#[test]
fn a_proxy_of_one_family_refuses_destinations_of_the_other() {
    let mut config = proxy_config();
    config
        .dst_addrs
        .push(std::net::Ipv4Addr::new(10, 0, 0, 1).into());
    let error = NatProxy::new(&config).unwrap_err();
    assert_eq!(
        error.to_string(),
        "destination 10.0.0.1 is IPv4 where IPv6 is needed"
    );
    let mut config = proxy_config();
    config.prefix_len = 129;
    let error = NatProxy::new(&config).unwrap_err();
    assert_eq!(error.to_string(), "prefix length 129 is above 128");
}
