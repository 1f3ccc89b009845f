//! Replays captures through a reverse proxy, without privileges: each port
//! reads its input capture (classic pcap or pcapng) and writes what the
//! engine sends out of it to an output capture, on the capture's clock.
//!
//! ```text
//! cargo run -p lb-engine --example pcap_replay
//! cargo run -p lb-engine --example pcap_replay -- CONFIG.toml FRONTEND.pcap BACKEND.pcap OUT_DIR
//! ```
//!
//! With no arguments it writes a small conversation of its own (a client's
//! handshake and request to the VIP 10.0.0.1:80, the backend's answers) to
//! a temporary folder and replays that. Open the outputs with
//! `tcpdump -nn -r OUT_DIR/port0.pcap` to see the NAT.

// An example talks on standard output.
#![allow(clippy::print_stdout)]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use lb_datapath::{PcapDatapath, PcapWriter};
use lb_engine::{
    BackendConfig, Observe, ReverseProxy, ReverseProxyConfig, RunOptions, ServiceConfig, run,
};
use lb_packet::{EthernetRepr, FrameRepr, Ipv4Repr, MacAddr, TcpFlags, TcpRepr};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const BACKEND: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);

fn tcp(from: (Ipv4Addr, u16), to: (Ipv4Addr, u16), flags: TcpFlags, data: &[u8]) -> Vec<u8> {
    let macs = EthernetRepr::new(MacAddr([2, 0, 0, 0, 0, 2]), MacAddr([2, 0, 0, 0, 0, 1]));
    FrameRepr::ipv4(
        macs,
        Ipv4Repr::new(from.0, to.0),
        TcpRepr::new(from.1, to.1, flags),
        data,
    )
    .to_vec()
    .unwrap_or_default()
}

/// The client's side and the backend's side of one HTTP exchange, each
/// frame stamped a millisecond after the one it answers.
fn write_demo(dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
    let (client, vip, backend) = ((CLIENT, 40000), (VIP, 80), (BACKEND, 8080));
    let (syn, ack, psh) = (TcpFlags::SYN, TcpFlags::ACK, TcpFlags::PSH | TcpFlags::ACK);
    let frontend = [
        (0, tcp(client, vip, syn, b"")),
        (2, tcp(client, vip, ack, b"")),
        (3, tcp(client, vip, psh, b"GET / HTTP/1.0\r\n\r\n")),
    ];
    let backends = [
        (1, tcp(backend, client, syn | ack, b"")),
        (4, tcp(backend, client, psh, b"HTTP/1.0 200 OK\r\n\r\n")),
    ];
    let paths = (dir.join("frontend.pcap"), dir.join("backend.pcap"));
    for (path, frames) in [(&paths.0, &frontend[..]), (&paths.1, &backends[..])] {
        let mut writer = PcapWriter::new(std::fs::File::create(path)?)?;
        for (millis, frame) in frames {
            writer.write_frame(Duration::from_millis(1_700_000_000_000 + millis), frame)?;
        }
        writer.flush()?;
    }
    Ok(paths)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (config, frontend, backend, out) = match &args[..] {
        [config, frontend, backend, out] => (
            toml::from_str(&std::fs::read_to_string(config)?)?,
            PathBuf::from(frontend),
            PathBuf::from(backend),
            PathBuf::from(out),
        ),
        [] => {
            let dir = std::env::temp_dir().join("lb-pcap-replay");
            std::fs::create_dir_all(&dir)?;
            let (frontend, backend) = write_demo(&dir)?;
            let config =
                ReverseProxyConfig::with_services([ServiceConfig::tcp(VIP, 80)
                    .with_backend(BackendConfig::new(BACKEND, 1).port(8080))]);
            (config, frontend, backend, dir)
        }
        _ => return Err("give CONFIG.toml FRONTEND.pcap BACKEND.pcap OUT_DIR, or nothing".into()),
    };
    std::fs::create_dir_all(&out)?;
    let outputs = [out.join("port0.pcap"), out.join("port1.pcap")];
    let mut datapath = PcapDatapath::open(
        &[
            (Some(frontend), outputs[0].clone()),
            (Some(backend), outputs[1].clone()),
        ],
        Instant::now(),
    )?;
    let mut engine = ReverseProxy::new(vec![None], &config)?;
    let summary = run(
        &mut datapath,
        &mut engine,
        &AtomicBool::new(false),
        RunOptions::default(),
    )?;
    datapath.flush()?;
    println!(
        "replayed {} frames, sent {}: {} (towards clients) and {} (towards backends)",
        summary.received,
        summary.sent,
        outputs[0].display(),
        outputs[1].display()
    );
    let stats = engine.stats(Instant::now());
    for service in &stats.services {
        println!(
            "service {}: {} new flows, {} packets",
            service.name, service.counters.new_flows, service.counters.packets
        );
    }
    println!("dropped {}", stats.traffic.dropped);
    Ok(())
}
