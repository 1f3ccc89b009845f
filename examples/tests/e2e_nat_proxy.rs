//! lb-proxy end to end (the MirageOS demo): the proxy owns 192.168.0.100
//! on a tap (or a veth), with destinations and a client on one bridge.

mod common;

use std::collections::HashSet;
use std::net::Ipv4Addr;

use common::*;

const PROXY: &str = env!("CARGO_BIN_EXE_lb-proxy");

fn nat_proxy(datapath: DatapathKind) -> anyhow::Result<()> {
    let Some(mut lab) = lab() else { return Ok(()) };
    let (lb_ns, net) = (lab.netns("lb")?, lab.netns("net")?);
    lab.bridge(&net)?;
    let wire = lab.wire(datapath, &lab.name("p"), &net);

    let mut hosts = Vec::new();
    for (name, last) in [("d1", 1), ("d2", 2), ("d3", 3), ("c", 50)] {
        let addr = Ipv4Addr::new(192, 168, 0, last);
        let (ns, host_end) = lab.host_on_bridge(&net, name, &format!("{addr}/24"))?;
        hosts.push((ns, host_end, addr));
    }
    let (client, client_if, _) = hosts.pop().unwrap();
    // The proxy hands frames on with their checksums partial (offloads):
    // the bridge's port to the client finishes them in software, so that
    // tcpdump there judges what the proxy wrote.
    lab.no_tx_offload(&net, &lab.name("cb"))?;
    // Each destination echoes what it gets, after saying who it is.
    for (n, (destination, _, addr)) in hosts.iter().enumerate() {
        let reply = format!("SYSTEM:echo d{}; cat", n + 1);
        lab.spawn(
            destination,
            &["socat", "TCP-LISTEN:7000,reuseaddr,fork", &reply],
        )?;
        lab.wait_for_tcp(destination, *addr, 7000)?;
    }

    lab.connect_before(datapath, &lb_ns, &[&wire])?;
    let proxy = lab.start_lb(
        &lb_ns,
        PROXY,
        [
            "--iface",
            &wire.lb_if,
            "--ip",
            "192.168.0.100/24",
            "--dst-addrs",
            "192.168.0.1,192.168.0.2,192.168.0.3",
            "--snat-ports",
            "20000-29999",
            "--datapath",
            datapath.name(),
        ],
    )?;
    lab.connect_after(datapath, &lb_ns, &[&wire])?;
    lab.ip(&net, &["link", "set", &wire.peer_if, "master", "br0"])?;

    // Every ping answered.
    let ping = lab.exec(
        &client,
        &["ping", "-c", "5", "-i", "0.2", "-W", "2", "192.168.0.100"],
    )?;
    assert!(ping.contains("5 received"), "{ping}");
    // Data both ways through nc, connections spread over destinations.
    let capture = lab.capture(&client, &client_if)?;
    let mut met = HashSet::new();
    for n in 0..20 {
        let message = format!("hello-{n}");
        let script = format!("echo {message} | nc -N -w 5 192.168.0.100 7000");
        let answer = lab.exec(&client, &["sh", "-c", &script])?;
        let mut lines = answer.lines();
        let destination = lines.next().unwrap_or_default().to_owned();
        assert!(destination.starts_with('d'), "answer {answer:?}");
        assert_eq!(
            lines.next(),
            Some(message.as_str()),
            "echoed back through the proxy"
        );
        met.insert(destination);
    }
    assert!(met.len() >= 2, "20 connections all went to {met:?}");
    check_checksums(&capture.finish()?, 40)?;

    let (status, log) = proxy.stop()?;
    assert!(status.success(), "{log}");
    assert!(log.contains("): 20 new flows"), "{log}");
    Ok(())
}

#[test]
fn proxy_tap() -> anyhow::Result<()> {
    nat_proxy(DatapathKind::Tap)
}

#[test]
fn proxy_pnet() -> anyhow::Result<()> {
    nat_proxy(DatapathKind::Pnet)
}
