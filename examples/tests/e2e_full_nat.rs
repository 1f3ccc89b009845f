//! Full NAT end to end: backends on a bridge with their gateway, which
//! drops whatever they send the clients' network, so only replies to the
//! load balancer's own address (`source_nat`) come back. curl, UDP, ping
//! and a 5 MB download through it on both datapaths, a DNAT service beside
//! it failing as it must; then a range of 100 ports against 200
//! connections.

mod common;

use std::time::Duration;

use common::*;

const RP: &str = env!("CARGO_BIN_EXE_lb-rp");
const LBCTL: &str = env!("CARGO_BIN_EXE_lbctl");
const VIP: &str = "172.16.0.100";
/// A DNAT service to the same backend: its replies are the gateway's to drop.
const DNAT_VIP: &str = "172.16.0.101";

fn config(ports: &str) -> String {
    format!(
        r#"
[[service]]
vip = "{VIP}"
port = 80
proto = "all"
name = "web"
source_nat = {{ ip = "192.168.1.250", ports = "{ports}" }}
backend = [{{ ip = "192.168.1.2" }}, {{ ip = "192.168.1.3" }}]

[[service]]
vip = "{DNAT_VIP}"
port = 80
proto = "tcp"
backend = [{{ ip = "192.168.1.2" }}]
"#
    )
}

/// The lab, the network, and lb-rp running on it with `config`, the
/// gateway isolating the backends.
fn start(
    datapath: DatapathKind,
    config: &str,
) -> anyhow::Result<Option<(Lab, BridgedNetwork, LoadBalancer)>> {
    let Some(mut lab) = lab() else {
        return Ok(None);
    };
    let net = BridgedNetwork::build(&mut lab, datapath, 2)?;
    let file = lab.write_file("rp.toml", config)?;
    let mut flags = ReverseProxyFlags::new(datapath, &net.front, &net.back, &file);
    flags.admin = Some(9901);
    let lb = lab.start_lb(&net.lb_ns, RP, flags.args())?;
    net.attach(&mut lab)?;
    net.isolate_backends(&lab)?;
    Ok(Some((lab, net, lb)))
}

fn serves(datapath: DatapathKind) -> anyhow::Result<()> {
    let Some((mut lab, net, lb)) = start(datapath, &config("40000-40999"))? else {
        return Ok(());
    };
    let big: Vec<u8> = (0..5u32 << 20).map(|i| (i * 7 + i / 4093) as u8).collect();
    for (n, host) in net.backends.iter().enumerate() {
        let name = format!("b{}", n + 1);
        lab.http_server(&host.ns, host.addr, 80, &name)?;
        std::fs::write(lab.path(&format!("www-{}-80/big", host.ns)), &big)?;
        let bind = format!("UDP-RECVFROM:80,bind={},fork", host.addr);
        lab.spawn(&host.ns, &["socat", &bind, "EXEC:cat"])?;
    }
    let capture = lab.capture(&net.backends[0].ns, &lab.name("b1h"))?;
    let client = &net.client;
    let answers = lab.curl(
        client,
        &format!("http://{VIP}/id"),
        20,
        Duration::from_secs(10),
    )?;
    assert_eq!(
        answers.matches("b1").count() + answers.matches("b2").count(),
        20,
        "{answers}"
    );
    let udp = lab.exec(
        client,
        &[
            "sh",
            "-c",
            &format!("echo hello-udp | socat -t 3 - UDP:{VIP}:80"),
        ],
    )?;
    assert_eq!(udp.trim(), "hello-udp");
    let ping = lab.exec(client, &["ping", "-c", "3", "-i", "0.2", "-W", "2", VIP])?;
    assert_eq!(ping.matches(&format!("from {VIP}")).count(), 3, "{ping}");
    let digest = |ns: &str, source: &str| -> anyhow::Result<String> {
        let out = lab.exec(ns, &["sh", "-c", &format!("{source} | sha256sum")])?;
        Ok(out.split_whitespace().next().unwrap_or_default().to_owned())
    };
    let served = digest(
        client,
        &format!(
            "cat {}",
            lab.path(&format!("www-{}-80/big", net.backends[0].ns))
                .display()
        ),
    )?;
    let fetched = digest(client, &format!("curl -sf -m 30 http://{VIP}/big"))?;
    assert_eq!(fetched, served, "5 MB through full NAT");
    // The backend heard from the load balancer's address, never the client's.
    let seen = capture.finish()?;
    assert!(seen.contains("192.168.1.250."), "{seen}");
    assert!(!seen.contains("10.0.0.2."), "{seen}");
    // Without full NAT the gateway drops the backend's replies.
    let dnat = lab.curl(
        client,
        &format!("http://{DNAT_VIP}/id"),
        1,
        Duration::from_secs(3),
    );
    assert!(
        dnat.is_err(),
        "DNAT answered past an isolating gateway: {dnat:?}"
    );

    let (status, log) = lb.stop()?;
    assert!(status.success(), "{log}");
    assert_eq!(counter(&log, "ports_exhausted"), 0, "{log}");
    Ok(())
}

#[test]
fn full_nat_serves_on_tap() -> anyhow::Result<()> {
    serves(DatapathKind::Tap)
}

#[test]
fn full_nat_serves_on_pnet() -> anyhow::Result<()> {
    serves(DatapathKind::Pnet)
}

/// Opens `n` connections to `host:port` one after another and holds
/// them; then echoes a line on each held. Prints: held, refused, other
/// failures, echoed.
const HOLD: &str = r#"
import socket, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
held, refused, other = [], 0, 0
for _ in range(n):
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((host, port))
        held.append(s)
    except ConnectionRefusedError:
        refused += 1
    except OSError:
        other += 1
echoed = 0
for s in held:
    try:
        s.sendall(b"ping\n")
        if s.recv(16) == b"ping\n":
            echoed += 1
    except OSError:
        pass
print(len(held), refused, other, echoed)
"#;

#[test]
fn exhausted_ports_refuse_cleanly_and_spare_the_first() -> anyhow::Result<()> {
    let one_backend = config("40000-40099").replace(", { ip = \"192.168.1.3\" }", "");
    let Some((mut lab, net, lb)) = start(DatapathKind::Tap, &one_backend)? else {
        return Ok(());
    };
    let b1 = &net.backends[0];
    lab.echo_server(&b1.ns, b1.addr, 80)?;
    let script = lab.write_file("hold.py", HOLD)?;
    let script = script.to_string_lossy().into_owned();
    let counts = lab.exec(&net.client, &["python3", &script, VIP, "80", "200"])?;
    assert_eq!(
        counts.trim(),
        "100 100 0 100",
        "held, refused, other, echoed"
    );
    let stats = lab.exec(&net.lb_ns, &[LBCTL, "--admin", "9901", "--json", "stats"])?;
    let stats: serde_json::Value = serde_json::from_str(&stats)?;
    let web = stats["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "172.16.0.100:80/tcp"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(web["refused"], 100, "{stats}");
    assert_eq!(stats["traffic"]["refused"], 100, "{stats}");
    // The once-a-second alarm has had its second.
    std::thread::sleep(Duration::from_millis(1500));
    let (status, log) = lb.stop()?;
    assert!(status.success(), "{log}");
    assert_eq!(counter(&log, "ports_exhausted"), 100, "{log}");
    assert!(
        log.contains("service 172.16.0.100:80/tcp (web): ")
            && log.contains(
                "new flows refused: no free source port on its source_nat address (100 in all)"
            ),
        "{log}"
    );
    Ok(())
}
