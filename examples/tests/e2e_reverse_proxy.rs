//! lb-rp end to end: real clients and servers in network namespaces, on
//! both datapaths (Polycube's test_single, ex1 and test_multi).

mod common;

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use common::*;
use lb_datapath::{Direction, PcapReader};
use lb_engine::{BackendConfig, ReverseProxyConfig, ServiceConfig};

const RP: &str = env!("CARGO_BIN_EXE_lb-rp");
const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
const SERVER: Ipv4Addr = SingleSubnet::SERVER_ADDR;

/// One TCP service on port 80 of the VIP, to the one server.
fn web_service() -> ReverseProxyConfig {
    ReverseProxyConfig::with_services([ServiceConfig::tcp(VIP, 80).backend(SERVER, 1)])
}

/// Checks what `lb-rp --capture` wrote, with tcpdump and with our reader
/// for what tcpdump 4 does not show (interfaces, directions): the SYN to
/// the VIP came in on the frontend (port 0), and left rewritten to the
/// backend (port 1); each interface is named after its device.
fn check_capture(path: &Path, front: &str, back: &str) -> anyhow::Result<()> {
    let text = run("tcpdump", &["-r", &path.to_string_lossy(), "-nn"])?;
    let lines: Vec<&str> = text.lines().collect();
    let mut reader = PcapReader::new(std::fs::File::open(path)?)?;
    let mut frames = Vec::new();
    while let Some(frame) = reader.next_packet()? {
        frames.push(frame);
    }
    assert_eq!(lines.len(), frames.len(), "a line per frame:\n{text}");
    let to_vip = lines
        .iter()
        .position(|l| l.contains(&format!("> {VIP}.80: Flags [S],")))
        .with_context(|| format!("no SYN to the VIP in the capture:\n{text}"))?;
    // `TIME IP SRC.PORT > DST.PORT: ...`
    let client = lines[to_vip].split_whitespace().nth(2).unwrap_or_default();
    let rewritten = format!("IP {client} > 10.0.0.3.8080: Flags [S],");
    let to_backend = lines[to_vip..]
        .iter()
        .position(|l| l.contains(&rewritten))
        .map(|n| to_vip + n)
        .with_context(|| format!("no `{rewritten}` after the SYN to the VIP:\n{text}"))?;
    let seen = |n: usize| (frames[n].interface, frames[n].direction);
    assert_eq!(seen(to_vip), (0, Some(Direction::Inbound)), "{text}");
    assert_eq!(seen(to_backend), (1, Some(Direction::Outbound)), "{text}");
    let bytes = std::fs::read(path)?;
    for name in [front, back] {
        assert!(
            bytes.windows(name.len()).any(|w| w == name.as_bytes()),
            "no interface named {name}"
        );
    }
    Ok(())
}

/// Client and server on either side of the load balancer, one subnet; a
/// tcp+udp+icmp service to the one server; every frame captured.
fn single_mode(datapath: DatapathKind) -> anyhow::Result<()> {
    let Some(mut lab) = lab() else { return Ok(()) };
    let net = SingleSubnet::build(&mut lab, datapath)?;
    let config = lab.write_config(
        "rp.toml",
        &ReverseProxyConfig::with_services([
            ServiceConfig::tcp(VIP, 80).with_backend(BackendConfig::new(SERVER, 1).port(8080)),
            ServiceConfig::udp(VIP, 53).with_backend(BackendConfig::new(SERVER, 1).port(5353)),
            ServiceConfig::icmp(VIP).backend(SERVER, 1),
        ]),
    )?;
    let pcapng = lab.path("lb.pcapng");
    let mut flags = ReverseProxyFlags::new(datapath, &net.front, &net.back, &config);
    flags.capture = Some(pcapng.clone());
    let lb = lab.start_lb(&net.lb_ns, RP, flags.args())?;
    net.attach(&mut lab, VIP)?;
    // lb hands frames on with their checksums as it got them, partial with
    // offloads. For the client's tcpdump to judge lb's rewrites, they are
    // finished first: on pnet by lb's own veth (transmit offload off, the
    // kernel completes them); taps have no such device, so there the
    // server sends full checksums.
    match datapath {
        DatapathKind::Pnet => lab.no_tx_offload(&net.lb_ns, &net.front.lb_if)?,
        DatapathKind::Tap => lab.no_tx_offload(&net.server, &net.back.peer_if)?,
    }
    let (client, server) = (&net.client, &net.server);
    lab.http_server(server, SERVER, 8080, "server")?;
    lab.spawn(
        server,
        &["socat", "UDP-RECVFROM:5353,bind=10.0.0.3,fork", "EXEC:cat"],
    )?;

    let capture = lab.capture(client, &net.front.peer_if)?;
    // Plain traffic between client and server passes unchanged.
    let direct = lab.http_get(client, "http://10.0.0.3:8080/id")?;
    assert_eq!(direct, "server");
    // The service, on all three protocols; replies must come from the VIP
    // (a connected socket and ping would not take them otherwise).
    assert_eq!(lab.http_get(client, &format!("http://{VIP}/id"))?, "server");
    let udp = lab.exec(
        client,
        &[
            "sh",
            "-c",
            &format!("echo hello-udp | socat -t 3 - UDP:{VIP}:53"),
        ],
    )?;
    assert_eq!(udp.trim(), "hello-udp");
    let ping = lab.exec(
        client,
        &["ping", "-c", "3", "-i", "0.2", "-W", "2", &VIP.to_string()],
    )?;
    assert_eq!(
        ping.matches(&format!("bytes from {VIP}")).count(),
        3,
        "{ping}"
    );
    check_checksums(&capture.finish()?, 10)?;

    let (status, log) = lb.stop()?;
    assert!(status.success(), "lb-rp exited with {status}: {log}");
    assert!(
        log.contains("service 10.0.0.100:80/tcp (maglev): 1 new flows"),
        "{log}"
    );
    assert!(
        log.contains("service 10.0.0.100:53/udp (maglev): 1 new flows"),
        "{log}"
    );
    assert!(
        log.contains(&format!("capturing every frame to {}", pcapng.display())),
        "{log}"
    );
    check_capture(&pcapng, &net.front.lb_if, &net.back.lb_if)
}

#[test]
fn rp_single_mode_tap() -> anyhow::Result<()> {
    single_mode(DatapathKind::Tap)
}

#[test]
fn rp_single_mode_pnet() -> anyhow::Result<()> {
    single_mode(DatapathKind::Pnet)
}

/// Client -> load balancer -> router -> bridge with three HTTP backends
/// weighted 10/100/1 (Polycube's ex1).
fn routed(datapath: DatapathKind) -> anyhow::Result<()> {
    let Some(mut lab) = lab() else { return Ok(()) };
    let net = RoutedNetwork::build(&mut lab, datapath, 3)?;
    let vip = Ipv4Addr::new(172, 16, 0, 100);
    let weighted = ServiceConfig::tcp(vip, 80)
        .backend(Ipv4Addr::new(192, 168, 1, 2), 10)
        .backend(Ipv4Addr::new(192, 168, 1, 3), 100)
        .backend(Ipv4Addr::new(192, 168, 1, 4), 1);
    let config = lab.write_config("rp.toml", &ReverseProxyConfig::with_services([weighted]))?;
    let flags = ReverseProxyFlags::new(datapath, &net.front, &net.back, &config);
    let lb = lab.start_lb(&net.lb_ns, RP, flags.args())?;
    net.attach(&mut lab)?;
    for (n, host) in net.backends.iter().enumerate() {
        lab.http_server(&host.ns, host.addr, 80, &format!("[b{}]", n + 1))?;
    }
    let client = &net.client;
    // Direct traffic to a backend stays transparent.
    assert_eq!(lab.http_get(client, "http://192.168.1.2/id")?, "[b1]");
    // Many connections through the VIP, in one curl.
    const REQUESTS: usize = 1110;
    let bodies = lab.curl(
        client,
        &format!("http://{vip}/id"),
        REQUESTS,
        Duration::from_secs(60),
    )?;
    let counts: Vec<usize> = (1..=3)
        .map(|n| bodies.matches(&format!("[b{n}]")).count())
        .collect();
    assert_eq!(
        counts.iter().sum::<usize>(),
        REQUESTS,
        "every request answered: {counts:?}"
    );
    let share = |n: usize| counts[n] as f64 / REQUESTS as f64;
    assert!((0.05..0.14).contains(&share(0)), "weight 10 got {counts:?}");
    assert!(
        (0.85..0.95).contains(&share(1)),
        "weight 100 got {counts:?}"
    );
    assert!(counts[2] >= 1 && share(2) < 0.03, "weight 1 got {counts:?}");
    let (status, log) = lb.stop()?;
    assert!(status.success(), "{log}");
    // Every request opened a flow; a connection curl retried opens another.
    let new_flows: u64 = log
        .rsplit("service 172.16.0.100:80/tcp (maglev): ")
        .next()
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .unwrap_or(0);
    assert!(
        (REQUESTS as u64..REQUESTS as u64 + 10).contains(&new_flows),
        "{new_flows} new flows: {log}"
    );
    Ok(())
}

#[test]
fn rp_routed_weighted_tap() -> anyhow::Result<()> {
    routed(DatapathKind::Tap)
}

#[test]
fn rp_routed_weighted_pnet() -> anyhow::Result<()> {
    routed(DatapathKind::Pnet)
}

/// Two frontends with their addresses, one backend (Polycube's
/// test_multi): replies and ARP go to the right frontend only.
fn multi_mode(datapath: DatapathKind) -> anyhow::Result<()> {
    let Some(mut lab) = lab() else { return Ok(()) };
    let (lb_ns, c1, c2, server) = (
        lab.netns("lb")?,
        lab.netns("c1")?,
        lab.netns("c2")?,
        lab.netns("server")?,
    );
    let f0 = lab.wire(datapath, &lab.name("f0"), &c1);
    let f1 = lab.wire(datapath, &lab.name("f1"), &c2);
    let back = lab.wire(datapath, &lab.name("b"), &server);
    let config = lab.write_config("rp.toml", &web_service())?;
    lab.connect_before(datapath, &lb_ns, &[&f0, &f1, &back])?;
    let flags = ReverseProxyFlags {
        frontends: vec![
            format!("{}=10.0.0.11", f0.lb_if),
            format!("{}=10.0.0.12", f1.lb_if),
        ],
        ..ReverseProxyFlags::new(datapath, &f0, &back, &config)
    };
    let lb = lab.start_lb(&lb_ns, RP, flags.args())?;
    lab.connect_after(datapath, &lb_ns, &[&f0, &f1, &back])?;
    for (ns, wire, addr) in [(&c1, &f0, "10.0.0.11/24"), (&c2, &f1, "10.0.0.12/24")] {
        lab.ip(ns, &["addr", "add", addr, "dev", &wire.peer_if])?;
        lab.ip(
            ns,
            &["route", "add", &format!("{VIP}/32"), "via", "10.0.0.3"],
        )?;
    }
    lab.ip(
        &server,
        &["addr", "add", "10.0.0.3/24", "dev", &back.peer_if],
    )?;
    lab.http_server(&server, SERVER, 80, "server")?;

    let second = lab.capture(&c2, &f1.peer_if)?;
    let url = format!("http://{VIP}/id");
    assert_eq!(lab.http_get(&c1, &url)?, "server");
    lab.exec(&c1, &["ping", "-c", "2", "-i", "0.2", "10.0.0.3"])?;
    // The server's ARP for 10.0.0.11, and everything to it, stayed off c2.
    let seen = second.finish()?;
    let leaked: Vec<&str> = seen.lines().filter(|l| l.contains("10.0.0.11")).collect();
    assert!(
        leaked.is_empty(),
        "c2 saw c1's traffic:\n{}",
        leaked.join("\n")
    );
    assert_eq!(lab.http_get(&c2, &url)?, "server");
    let (status, log) = lb.stop()?;
    assert!(status.success(), "{log}");
    assert!(log.contains("2 new flows"), "{log}");
    Ok(())
}

#[test]
fn rp_multi_mode_tap() -> anyhow::Result<()> {
    multi_mode(DatapathKind::Tap)
}

#[test]
fn rp_multi_mode_pnet() -> anyhow::Result<()> {
    multi_mode(DatapathKind::Pnet)
}

/// Malformed frames, sent by a raw socket in the client namespace while
/// traffic runs: truncated headers, bad IHL, bogus lengths, bad checksums,
/// and fragments with no first fragment.
const INJECT: &str = r#"
import socket, struct, sys
iface, count = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
eth = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x99" + b"\x08\x00"
vip, me = socket.inet_aton("10.0.0.100"), socket.inet_aton("10.0.0.2")
def csum(header):
    total = sum(struct.unpack("!%dH" % (len(header) // 2), header))
    while total > 0xffff:
        total = (total & 0xffff) + (total >> 16)
    return (~total) & 0xffff
def ipv4(ihl, length, frag, proto, payload, good=True):
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, length, 7, frag, 64, proto, 0, me, vip)
    header = header[:10] + struct.pack("!H", csum(header) if good else 0x1234) + header[12:]
    return header + payload
malformed = [
    eth + b"\x45\x00",                                             # truncated IPv4 header
    eth + ipv4(4, 40, 0, 6, b"\x00" * 20),                         # IHL below 5
    eth + ipv4(5, 1400, 0, 17, b"\x00" * 8),                       # total length past the frame
    eth + ipv4(5, 28, 0, 17, b"\x00" * 8, good=False),             # bad header checksum
    eth + ipv4(5, 30, 0, 6, b"\x00" * 10),                         # TCP header cut short
]
fragment = eth + ipv4(5, 36, 0x0003, 17, b"\x00" * 16)             # offset 24, first never seen
for _ in range(count):
    for frame in malformed + [fragment]:
        s.send(frame)
"#;

#[test]
fn rp_keeps_serving_through_malformed_frames() -> anyhow::Result<()> {
    let Some(mut lab) = lab() else { return Ok(()) };
    let datapath = DatapathKind::Tap;
    let net = SingleSubnet::build(&mut lab, datapath)?;
    let config = lab.write_config("rp.toml", &web_service())?;
    let flags = ReverseProxyFlags::new(datapath, &net.front, &net.back, &config);
    let lb = lab.start_lb(&net.lb_ns, RP, flags.args())?;
    net.attach(&mut lab, VIP)?;
    lab.http_server(&net.server, SERVER, 80, "server")?;

    let script = lab.write_file("inject.py", INJECT)?;
    let url = format!("http://{VIP}/id");
    for round in 0..5 {
        lab.exec(
            &net.client,
            &[
                "python3",
                &script.to_string_lossy(),
                &net.front.peer_if,
                "20",
            ],
        )?;
        assert_eq!(lab.http_get(&net.client, &url)?, "server", "round {round}");
    }
    let (status, log) = lb.stop()?;
    assert!(status.success(), "{log}");
    // 5 rounds x 20 x 5 malformed, and 5 x 20 orphan fragments.
    assert_eq!(counter(&log, "malformed"), 500, "{log}");
    assert_eq!(counter(&log, "fragment"), 100, "{log}");
    Ok(())
}
