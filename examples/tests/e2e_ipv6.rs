//! IPv6 end to end, with real clients and servers in network namespaces:
//! lb-rp serving IPv4 and IPv6 services from one configuration, path MTU
//! discovery through its NAT, lb-dsr with an IPv6 VIP on the servers'
//! loopback, and lb-proxy with an IPv6 address and destinations.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use common::*;
use lb_engine::{BackendConfig, ReverseProxyConfig, ServiceConfig};

const RP: &str = env!("CARGO_BIN_EXE_lb-rp");
const VIP4: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 100);
const VIP6: Ipv6Addr = Ipv6Addr::new(0xfd0d, 0, 0, 0, 0, 0, 0, 0x100);

/// The `n`-th backend's IPv6 address, beside its IPv4 192.168.1.(n+1).
fn backend6(n: usize) -> Ipv6Addr {
    Ipv6Addr::new(0xfd01, 0, 0, 0, 0, 0, 0, n as u16 + 1)
}

/// Adds IPv6 to `net`: the client fd00::2 on the router's fd00::1, the
/// backends fd01::2 onwards on its fd01::1, all without duplicate address
/// detection (no wait before use), the router forwarding.
fn dual_stack(lab: &mut Lab, net: &RoutedNetwork) -> anyhow::Result<()> {
    let add = |lab: &mut Lab, ns: &str, addr: &str, dev: &str| {
        lab.ip(ns, &["-6", "addr", "add", addr, "dev", dev, "nodad"])
    };
    lab.exec(
        &net.router,
        &["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"],
    )?;
    add(lab, &net.router, "fd00::1/64", &net.back.peer_if)?;
    add(lab, &net.router, "fd01::1/64", "br0")?;
    add(lab, &net.client, "fd00::2/64", &net.front.peer_if)?;
    lab.ip(
        &net.client,
        &["-6", "route", "add", "default", "via", "fd00::1"],
    )?;
    for (n, host) in net.backends.iter().enumerate() {
        let iface = lab.name(&format!("b{}h", n + 1));
        add(lab, &host.ns, &format!("{}/64", backend6(n + 1)), &iface)?;
        lab.ip(
            &host.ns,
            &["-6", "route", "add", "default", "via", "fd01::1"],
        )?;
    }
    let hosts = net.backends.iter().map(|host| &host.ns);
    for ns in [&net.client, &net.router].into_iter().chain(hosts) {
        lab.wait_for_ipv6(ns)?;
    }
    Ok(())
}

/// One lb-rp config, IPv4 and IPv6 side by side: tcp/80 weighted over
/// three backends on each VIP; on the IPv6 VIP also udp/53 and ping, to
/// the first backend.
fn services() -> ReverseProxyConfig {
    let b = |n: u8| Ipv4Addr::new(192, 168, 1, n + 1);
    ReverseProxyConfig::with_services([
        ServiceConfig::tcp(VIP4, 80)
            .backend(b(1), 1)
            .backend(b(2), 3)
            .backend(b(3), 1),
        ServiceConfig::tcp(VIP6, 80)
            .backend(backend6(1), 1)
            .backend(backend6(2), 3)
            .backend(backend6(3), 1),
        ServiceConfig::udp(VIP6, 53).with_backend(BackendConfig::new(backend6(1), 1).port(5353)),
        ServiceConfig::icmp(VIP6).backend(backend6(1), 1),
    ])
}

/// Shares of `REQUESTS` answers over three backends weighted 1:3:1.
fn check_spread(bodies: &str, requests: usize) {
    let counts: Vec<usize> = (1..=3)
        .map(|n| bodies.matches(&format!("[b{n}]")).count())
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), requests, "{counts:?}");
    let share = |n: usize| counts[n] as f64 / requests as f64;
    assert!((0.10..0.30).contains(&share(0)), "weight 1 got {counts:?}");
    assert!((0.48..0.72).contains(&share(1)), "weight 3 got {counts:?}");
    assert!((0.10..0.30).contains(&share(2)), "weight 1 got {counts:?}");
}

fn reverse_proxy(datapath: DatapathKind) -> anyhow::Result<()> {
    let Some(mut lab) = lab() else { return Ok(()) };
    let net = RoutedNetwork::build(&mut lab, datapath, 3)?;
    let config = lab.write_config("rp.toml", &services())?;
    let lb = lab.start_lb(
        &net.lb_ns,
        RP,
        ReverseProxyFlags::new(datapath, &net.front, &net.back, &config).args(),
    )?;
    net.attach(&mut lab)?;
    dual_stack(&mut lab, &net)?;
    // Full checksums on the wire, for tcpdump to judge lb's rewrites (see
    // e2e_reverse_proxy): the backends' side finishes none on tap.
    for (n, host) in net.backends.iter().enumerate() {
        lab.no_tx_offload(&host.ns, &lab.name(&format!("b{}h", n + 1)))?;
    }
    if datapath == DatapathKind::Pnet {
        lab.no_tx_offload(&net.lb_ns, &net.front.lb_if)?;
    }
    let big: Vec<u8> = (0..5 << 20)
        .map(|n: u32| (n.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for (n, host) in net.backends.iter().enumerate() {
        // Both families: `::` takes IPv4 too.
        lab.http_server(
            &host.ns,
            Ipv6Addr::UNSPECIFIED,
            80,
            &format!("[b{}]", n + 1),
        )?;
        std::fs::write(lab.path(&format!("www-{}-80/big", host.ns)), &big)?;
    }
    let first = &net.backends[0].ns;
    lab.spawn(
        first,
        &[
            "socat",
            "UDP6-RECVFROM:5353,bind=[fd01::2],fork",
            "EXEC:cat",
        ],
    )?;
    let client = &net.client;
    let capture = lab.capture(client, &net.front.peer_if)?;

    // IPv6 not for a VIP passes as it is.
    assert_eq!(lab.http_get(client, "http://[fd01::3]/id")?, "[b2]");
    // Both VIPs, weighted alike.
    const REQUESTS: usize = 200;
    let six = lab.curl(
        client,
        &format!("http://[{VIP6}]/id"),
        REQUESTS,
        Duration::from_secs(60),
    )?;
    check_spread(&six, REQUESTS);
    let four = lab.curl(
        client,
        &format!("http://{VIP4}/id"),
        REQUESTS,
        Duration::from_secs(60),
    )?;
    check_spread(&four, REQUESTS);
    // UDP and ping answered from the VIP (socat's and ping's sockets take
    // nothing from another address).
    let udp = lab.exec(
        client,
        &[
            "sh",
            "-c",
            &format!("echo hello-udp6 | socat -t 3 - UDP6:[{VIP6}]:53"),
        ],
    )?;
    assert_eq!(udp.trim(), "hello-udp6");
    let ping = lab.exec(
        client,
        &[
            "ping",
            "-6",
            "-c",
            "3",
            "-i",
            "0.2",
            "-W",
            "2",
            &VIP6.to_string(),
        ],
    )?;
    assert_eq!(
        ping.matches(&format!("bytes from {VIP6}")).count(),
        3,
        "{ping}"
    );
    check_checksums(&capture.finish()?, 50)?;
    // Five megabytes through the IPv6 VIP, intact.
    let digest = |ns: &str, source: &str| -> anyhow::Result<String> {
        let out = lab.exec(ns, &["sh", "-c", &format!("{source} | sha256sum")])?;
        Ok(out.split_whitespace().next().unwrap_or_default().to_owned())
    };
    let served = digest(
        first,
        &format!("cat {}", lab.path(&format!("www-{first}-80/big")).display()),
    )?;
    let fetched = digest(client, &format!("curl -sf -m 30 http://[{VIP6}]/big"))?;
    assert_eq!(fetched, served, "5 MB through the IPv6 VIP");

    let (status, log) = lb.stop()?;
    assert!(status.success(), "{log}");
    let flows = |service: &str| {
        log.rsplit(&format!("service {service} (maglev): "))
            .next()
            .and_then(|rest| rest.split(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert!(flows("[fd0d::100]:80/tcp") > REQUESTS as u64, "{log}");
    assert!(flows("172.16.0.100:80/tcp") >= REQUESTS as u64, "{log}");
    assert_eq!(flows("[fd0d::100]:53/udp"), 1, "{log}");
    Ok(())
}

#[test]
fn rp_ipv6_beside_ipv4_tap() -> anyhow::Result<()> {
    reverse_proxy(DatapathKind::Tap)
}

#[test]
fn rp_ipv6_beside_ipv4_pnet() -> anyhow::Result<()> {
    reverse_proxy(DatapathKind::Pnet)
}

/// Path MTU discovery through the NAT. A router on the client's side
/// reaches the client over a 1280-byte link the server cannot know of: it
/// answers the server's full-size segments, sent from the VIP, with
/// Packet Too Big to the VIP. lb-rp must translate that to the backend
/// (outer destination and quoted source) or the download stalls.
///
/// ```text
///  client fd02::2 ─1280─ crouter fd02::1 | fd00::2 ── lb ── router fd00::1 | fd01::1 ── b1 fd01::2
/// ```
#[test]
fn rp_ipv6_path_mtu_discovery_through_the_nat() -> anyhow::Result<()> {
    let Some(mut lab) = lab() else { return Ok(()) };
    let datapath = DatapathKind::Tap;
    let net = RoutedNetwork::build(&mut lab, datapath, 1)?;
    let config = lab.write_config(
        "rp.toml",
        &ReverseProxyConfig::with_services([ServiceConfig::tcp(VIP6, 80).backend(backend6(1), 1)]),
    )?;
    let lb = lab.start_lb(
        &net.lb_ns,
        RP,
        ReverseProxyFlags::new(datapath, &net.front, &net.back, &config).args(),
    )?;
    net.attach(&mut lab)?;
    dual_stack(&mut lab, &net)?;
    // The routed network's client becomes the client-side router.
    let crouter = net.client.clone();
    let client = lab.netns("inner")?;
    let (outer_end, inner_end) = (lab.name("cr"), lab.name("cl"));
    lab.veth((&crouter, &outer_end), (&client, &inner_end))?;
    lab.ip(&crouter, &["link", "set", &outer_end, "mtu", "1280"])?;
    lab.exec(
        &crouter,
        &["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"],
    )?;
    lab.ip(
        &crouter,
        &[
            "-6",
            "addr",
            "add",
            "fd02::1/64",
            "dev",
            &outer_end,
            "nodad",
        ],
    )?;
    lab.ip(
        &client,
        &[
            "-6",
            "addr",
            "add",
            "fd02::2/64",
            "dev",
            &inner_end,
            "nodad",
        ],
    )?;
    lab.ip(
        &client,
        &["-6", "route", "add", "default", "via", "fd02::1"],
    )?;
    lab.ip(
        &net.router,
        &["-6", "route", "add", "fd02::/64", "via", "fd00::2"],
    )?;
    lab.wait_for_ipv6(&crouter)?;
    lab.wait_for_ipv6(&client)?;

    let server = &net.backends[0].ns;
    lab.http_server(server, backend6(1), 80, "[b1]")?;
    let big: Vec<u8> = (0..2 << 20)
        .map(|n: u32| (n.wrapping_mul(40_503) >> 7) as u8)
        .collect();
    std::fs::write(lab.path(&format!("www-{server}-80/big")), &big)?;
    let fetched = lab.exec(
        &client,
        &[
            "sh",
            "-c",
            &format!("curl -sf -m 20 http://[{VIP6}]/big | sha256sum"),
        ],
    )?;
    let served = run(
        "sha256sum",
        &[&lab.path(&format!("www-{server}-80/big")).to_string_lossy()],
    )?;
    assert_eq!(
        fetched.split_whitespace().next(),
        served.split_whitespace().next(),
        "2 MB over a path with a 1280-byte link"
    );
    let (status, log) = lb.stop()?;
    assert!(status.success(), "{log}");
    // The Packet Too Big reached the server, about its own address.
    let route = lab.exec(server, &["ip", "-6", "route", "get", "fd02::2"])?;
    assert!(
        route.contains("mtu 1280"),
        "the server learnt the path MTU: {route}"
    );
    Ok(())
}

const DSR: &str = env!("CARGO_BIN_EXE_lb-dsr");
const PROXY: &str = env!("CARGO_BIN_EXE_lb-proxy");
const LB_MAC: &str = "02:00:00:00:01:00";

/// lb-dsr with an IPv6 VIP: clients and servers on one bridge, the VIP on
/// the servers' loopback (Linux answers neighbor solicitations only for
/// addresses on the asking interface), lb answering them with its MAC.
#[test]
fn dsr_ipv6_vip_on_the_servers_loopback() -> anyhow::Result<()> {
    let Some(mut lab) = lab() else { return Ok(()) };
    let datapath = DatapathKind::Tap;
    let vip = "fd10::100";
    let (lb_ns, lan) = (lab.netns("lb")?, lab.netns("lan")?);
    lab.bridge(&lan)?;
    let front = lab.wire(datapath, &lab.name("f"), &lan);
    let (mut server_macs, mut server_namespaces) = (Vec::new(), Vec::new());
    for n in 1..=2 {
        let mac = format!("02:00:00:00:02:0{n}");
        let (server, iface) = lab.host_on_bridge(&lan, &format!("s{n}"), "10.0.0.99/32")?;
        lab.ip(&server, &["link", "set", &iface, "address", &mac])?;
        let addr = format!("fd10::2{n}/64");
        lab.ip(
            &server,
            &["-6", "addr", "add", &addr, "dev", &iface, "nodad"],
        )?;
        lab.ip(
            &server,
            &[
                "-6",
                "addr",
                "add",
                &format!("{vip}/128"),
                "dev",
                "lo",
                "nodad",
            ],
        )?;
        lab.http_server(&server, Ipv6Addr::UNSPECIFIED, 80, &format!("[s{n}]"))?;
        server_macs.push(mac);
        server_namespaces.push(server);
    }
    let mut clients = Vec::new();
    for n in 1..=2 {
        let (client, iface) = lab.host_on_bridge(&lan, &format!("c{n}"), "10.0.0.98/32")?;
        let addr = format!("fd10::1{n}/64");
        lab.ip(
            &client,
            &["-6", "addr", "add", &addr, "dev", &iface, "nodad"],
        )?;
        clients.push(client);
    }
    lab.connect_before(datapath, &lb_ns, &[&front])?;
    let mut args = vec![
        "--frontend",
        front.lb_if.as_str(),
        "--vip",
        vip,
        "--mac",
        LB_MAC,
        "--datapath",
        datapath.name(),
        "--algorithm",
        "src-ip",
    ];
    for mac in &server_macs {
        args.extend(["--backend-mac", mac.as_str()]);
    }
    let lb = lab.start_lb(&lb_ns, DSR, args)?;
    lab.connect_after(datapath, &lb_ns, &[&front])?;
    lab.ip(&lan, &["link", "set", &front.peer_if, "master", "br0"])?;
    for ns in clients.iter().chain(&server_namespaces) {
        lab.wait_for_ipv6(ns)?;
    }

    for client in &clients {
        let bodies = lab.curl(
            client,
            &format!("http://[{vip}]/id"),
            5,
            Duration::from_secs(20),
        )?;
        assert_eq!(bodies.matches("[s").count(), 5, "{client}: {bodies}");
        let neighbour = lab.exec(client, &["ip", "-6", "neigh", "show", vip])?;
        assert!(
            neighbour.contains(LB_MAC),
            "the VIP resolves to lb: {neighbour}"
        );
    }
    let (status, log) = lb.stop()?;
    assert!(status.success(), "{log}");
    assert!(log.contains("(src-ip-hash): 10 new flows"), "{log}");
    Ok(())
}

/// lb-proxy owning fd00::100 on a bridge with three IPv6 destinations:
/// ping answered, TCP spread over the destinations through SNAT, the
/// proxy found and finding them by neighbor discovery.
#[test]
fn proxy_ipv6_address_and_destinations() -> anyhow::Result<()> {
    let Some(mut lab) = lab() else { return Ok(()) };
    let datapath = DatapathKind::Tap;
    let (lb_ns, net) = (lab.netns("lb")?, lab.netns("net")?);
    lab.bridge(&net)?;
    let wire = lab.wire(datapath, &lab.name("p"), &net);
    let mut destinations = Vec::new();
    for n in 1..=3 {
        let (ns, iface) = lab.host_on_bridge(&net, &format!("d{n}"), "10.0.0.97/32")?;
        let addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, n);
        lab.ip(
            &ns,
            &[
                "-6",
                "addr",
                "add",
                &format!("{addr}/64"),
                "dev",
                &iface,
                "nodad",
            ],
        )?;
        let reply = format!("SYSTEM:echo d{n}; cat");
        lab.spawn(&ns, &["socat", "TCP6-LISTEN:7000,reuseaddr,fork", &reply])?;
        lab.wait_for_tcp(&ns, addr, 7000)?;
        destinations.push(ns);
    }
    let (client, client_if) = lab.host_on_bridge(&net, "c", "10.0.0.96/32")?;
    lab.ip(
        &client,
        &[
            "-6",
            "addr",
            "add",
            "fd00::50/64",
            "dev",
            &client_if,
            "nodad",
        ],
    )?;
    lab.no_tx_offload(&net, &lab.name("cb"))?;
    lab.connect_before(datapath, &lb_ns, &[&wire])?;
    let proxy = lab.start_lb(
        &lb_ns,
        PROXY,
        [
            "--iface",
            &wire.lb_if,
            "--ip",
            "fd00::100/64",
            "--dst-addrs",
            "fd00::1,fd00::2,fd00::3",
            "--snat-ports",
            "20000-29999",
            "--datapath",
            datapath.name(),
        ],
    )?;
    lab.connect_after(datapath, &lb_ns, &[&wire])?;
    lab.ip(&net, &["link", "set", &wire.peer_if, "master", "br0"])?;
    for ns in destinations.iter().chain([&client]) {
        lab.wait_for_ipv6(ns)?;
    }

    let ping = lab.exec(
        &client,
        &["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "fd00::100"],
    )?;
    assert!(ping.contains("3 received"), "{ping}");
    let capture = lab.capture(&client, &client_if)?;
    let mut met = std::collections::HashSet::new();
    for n in 0..12 {
        let script = format!("echo hello-{n} | nc -6 -N -w 5 fd00::100 7000");
        let answer = lab.exec(&client, &["sh", "-c", &script])?;
        let mut lines = answer.lines();
        let destination = lines.next().unwrap_or_default().to_owned();
        assert!(destination.starts_with('d'), "answer {answer:?}");
        assert_eq!(
            lines.next(),
            Some(format!("hello-{n}").as_str()),
            "echoed back"
        );
        met.insert(destination);
    }
    assert_eq!(
        met.len(),
        3,
        "connections spread over the destinations: {met:?}"
    );
    check_checksums(&capture.finish()?, 20)?;
    let (status, log) = proxy.stop()?;
    assert!(status.success(), "{log}");
    Ok(())
}
