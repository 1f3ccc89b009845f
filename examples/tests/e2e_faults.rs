//! Faults injected for real into lb-rp's own links (issue 20, finding 3):
//! its veths on the pnet datapath taken down for 2 s, three times, while a
//! stream runs through the VIP. The process lives on, the stream resumes.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::*;
use lb_engine::{ReverseProxyConfig, ServiceConfig};

const RP: &str = env!("CARGO_BIN_EXE_lb-rp");
const VIP: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 100);

#[test]
fn link_flaps_do_not_stop_lb_rp() -> anyhow::Result<()> {
    let Some(mut lab) = lab() else { return Ok(()) };
    let datapath = DatapathKind::Pnet;
    let net = RoutedNetwork::build(&mut lab, datapath, 1)?;
    let backend = &net.backends[0];
    let config = lab.write_config(
        "rp.toml",
        &ReverseProxyConfig::with_services(
            [ServiceConfig::tcp(VIP, 9000).backend(backend.addr, 1)],
        ),
    )?;
    let flags = ReverseProxyFlags::new(datapath, &net.front, &net.back, &config);
    let lb = lab.start_lb(&net.lb_ns, RP, flags.args())?;
    net.attach(&mut lab)?;
    // The backend streams a line every 0.2 s on each connection.
    let listen = format!("TCP-LISTEN:9000,bind={},reuseaddr,fork", backend.addr);
    lab.spawn(
        &backend.ns,
        &[
            "socat",
            &listen,
            "SYSTEM:while echo tick; do sleep 0.2; done",
        ],
    )?;
    lab.wait_for_tcp(&backend.ns, backend.addr, 9000)?;
    let stream = lab.path("stream");
    let script = format!("socat -u TCP:{VIP}:9000 CREATE:{}", stream.display());
    lab.spawn(&net.client, &["sh", "-c", &script])?;
    let lines = || std::fs::read_to_string(&stream).map_or(0, |text| text.lines().count());
    std::thread::sleep(Duration::from_secs(1));
    assert!(lines() > 0, "the stream runs");

    for link in [&net.front.lb_if, &net.back.lb_if, &net.front.lb_if] {
        lab.ip(&net.lb_ns, &["link", "set", "dev", link, "down"])?;
        std::thread::sleep(Duration::from_secs(2));
        lab.ip(&net.lb_ns, &["link", "set", "dev", link, "up"])?;
        std::thread::sleep(Duration::from_millis(500));
    }
    // TCP retransmits across each 2 s gap; give the last one time.
    let before = lines();
    let resumed = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(200));
        lines() > before + 2
    });
    assert!(
        resumed,
        "the stream did not resume: {before} lines, then {}",
        lines()
    );
    let probe = lab.exec(
        &net.client,
        &[
            "sh",
            "-c",
            &format!("timeout 5 socat -u TCP:{VIP}:9000 - | head -1"),
        ],
    )?;
    assert_eq!(probe.trim(), "tick", "a new connection works");
    let (status, log) = lb.stop()?;
    assert!(status.success(), "lb-rp died: {log}");
    Ok(())
}
