//! lb-proxy end to end (the MirageOS demo): the proxy owns 192.168.0.100
//! on a tap (or a veth), with destinations and a client on one bridge.

mod common;

use std::collections::HashSet;

use common::*;

const PROXY: &str = env!("CARGO_BIN_EXE_lb-proxy");

fn nat_proxy(datapath: &str) -> anyhow::Result<()> {
    let Some(mut lab) = lab() else { return Ok(()) };
    let (lb_ns, net) = (lab.netns("lb")?, lab.netns("net")?);
    lab.ip(&net, &["link", "add", "br0", "type", "bridge"])?;
    lab.ip(&net, &["link", "set", "br0", "up"])?;
    let wire = lab.wire(datapath, &lab.name("p"), &net);

    let mut hosts = Vec::new();
    for (name, addr) in [
        ("d1", "192.168.0.1"),
        ("d2", "192.168.0.2"),
        ("d3", "192.168.0.3"),
        ("c", "192.168.0.50"),
    ] {
        let ns = lab.netns(name)?;
        let (bridge_end, host_end) = (lab.name(&format!("{name}b")), lab.name(&format!("{name}h")));
        lab.veth((&net, &bridge_end), (&ns, &host_end))?;
        lab.ip(&net, &["link", "set", &bridge_end, "master", "br0"])?;
        lab.ip(
            &ns,
            &["addr", "add", &format!("{addr}/24"), "dev", &host_end],
        )?;
        if datapath == "pnet" {
            lab.no_tx_offload(&ns, &host_end)?;
        }
        hosts.push(ns);
    }
    let client = hosts.pop().unwrap();
    // Each destination echoes what it gets, after saying who it is.
    for (n, destination) in hosts.iter().enumerate() {
        let reply = format!("SYSTEM:echo d{}; cat", n + 1);
        lab.spawn(
            destination,
            &["socat", "TCP-LISTEN:7000,reuseaddr,fork", &reply],
        )?;
        lab.wait_for_tcp(destination, &format!("192.168.0.{}", n + 1), "7000")?;
    }

    lab.connect_before(datapath, &lb_ns, &[&wire])?;
    let proxy = lab.start_lb(
        &lb_ns,
        PROXY,
        &[
            "--iface",
            &wire.lb_if,
            "--ip",
            "192.168.0.100/24",
            "--dst-addrs",
            "192.168.0.1,192.168.0.2,192.168.0.3",
            "--snat-ports",
            "20000-29999",
            "--datapath",
            datapath,
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
    let capture = lab.capture(&client, &lab.name("ch"))?;
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
    nat_proxy("tap")
}

#[test]
fn proxy_pnet() -> anyhow::Result<()> {
    nat_proxy("pnet")
}
