//! Offloads end to end: 1 GiB from a server through lb-rp's VIP arrives
//! intact (sha256), on each datapath, with offloads (virtio-net headers,
//! the default) and with `--no-offload`, and with a smaller MTU on the
//! backend side (TCP's MSS then bounds the super-frames' segment size, so
//! lb hands them on as they are).
//!
//! tcpdump -vv judges checksums where the kernel has finished them: with
//! offloads, a frame handed on with a partial checksum is completed by the
//! device that sends it on the wire, so on a pnet port whose veth has
//! transmit offload off, where the kernel completes (and segments) what lb
//! writes in software, and any checksum lb got wrong shows. (A tap has no
//! such device: what it delivers keeps its partial checksum, which tcpdump
//! cannot judge; the transfer's integrity and the engine's property tests
//! stand for it.)

mod common;

use std::net::Ipv4Addr;

use anyhow::ensure;
use common::*;
use lb_engine::{BackendConfig, ReverseProxyConfig, ServiceConfig};

const RP: &str = env!("CARGO_BIN_EXE_lb-rp");
const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
const SERVER: Ipv4Addr = SingleSubnet::SERVER_ADDR;
const MIB: usize = 1024;
/// Frames tcpdump judges on each side.
const JUDGED: usize = 3000;

#[derive(Debug, Clone, Copy)]
struct Case {
    datapath: DatapathKind,
    offloads: bool,
    backend_mtu: Option<u16>,
}

/// The blob every case serves, and its sha256.
struct Blob {
    path: String,
    sha256: String,
}

fn blob(lab: &Lab) -> anyhow::Result<Blob> {
    let path = lab.path("blob").to_string_lossy().into_owned();
    run(
        "sh",
        &["-c", &format!("head -c {MIB}M /dev/urandom > {path}")],
    )?;
    let sha256 = run("sha256sum", &[&path])?;
    let sha256 = sha256
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    Ok(Blob { path, sha256 })
}

fn transfer(blob: &Blob, case: Case) -> anyhow::Result<()> {
    let Some(mut lab) = lab() else { return Ok(()) };
    let net = SingleSubnet::build(&mut lab, case.datapath)?;
    let config = lab.write_config(
        "rp.toml",
        &ReverseProxyConfig::with_services([
            ServiceConfig::tcp(VIP, 80).with_backend(BackendConfig::new(SERVER, 1).port(8080))
        ]),
    )?;
    let pnet = case.datapath == DatapathKind::Pnet;
    if pnet {
        for wire in [&net.front, &net.back] {
            if case.offloads {
                // The kernel finishes what lb writes, so tcpdump can judge.
                lab.no_tx_offload(&net.lb_ns, &wire.lb_if)?;
            } else {
                // Plain packet sockets need full checksums from the peers.
                lab.no_tx_offload(&wire.peer_ns, &wire.peer_if)?;
            }
        }
    }
    let flags = ReverseProxyFlags {
        no_offload: !case.offloads,
        ..ReverseProxyFlags::new(case.datapath, &net.front, &net.back, &config)
    };
    let lb = lab.start_lb(&net.lb_ns, RP, flags.args())?;
    net.attach(&mut lab, VIP)?;
    if let Some(mtu) = case.backend_mtu {
        let mtu = mtu.to_string();
        lab.ip(
            &net.server,
            &["link", "set", "dev", &net.back.peer_if, "mtu", &mtu],
        )?;
        if pnet {
            lab.ip(
                &net.lb_ns,
                &["link", "set", "dev", &net.back.lb_if, "mtu", &mtu],
            )?;
        }
    }
    lab.spawn(
        &net.server,
        &[
            // -U: the file is opened per connection, after the accept (a
            // descriptor shared by the forks would share its offset).
            "socat",
            "-U",
            "TCP-LISTEN:8080,bind=10.0.0.3,reuseaddr,fork",
            &format!("FILE:{}", blob.path),
        ],
    )?;
    lab.wait_for_tcp(&net.server, SERVER, 8080)?;
    let judged = !case.offloads || pnet;
    let captures = if judged {
        Some((
            lab.capture_first(&net.client, &net.front.peer_if, Some(JUDGED))?,
            lab.capture_first(&net.server, &net.back.peer_if, Some(JUDGED))?,
        ))
    } else {
        None
    };
    let out = lab.path("received").to_string_lossy().into_owned();
    let received = lab.exec(
        &net.client,
        &[
            "sh",
            "-c",
            &format!("socat -u TCP:{VIP}:80 CREATE:{out} && wc -c < {out} && sha256sum < {out}; rm -f {out}"),
        ],
    )?;
    let mut fields = received.split_whitespace();
    let (size, sha256) = (
        fields.next().unwrap_or_default(),
        fields.next().unwrap_or_default(),
    );
    ensure!(
        (size, sha256) == ((MIB << 20).to_string().as_str(), blob.sha256.as_str()),
        "{case:?}: received {size} bytes, sha256 {sha256}; sent {} bytes, {}",
        MIB << 20,
        blob.sha256
    );
    if let Some((client, server)) = captures {
        check_checksums(&client.finish()?, JUDGED / 2)?;
        check_checksums(&server.finish()?, JUDGED / 2)?;
    }
    let (status, log) = lb.stop()?;
    ensure!(
        status.success(),
        "{case:?}: lb-rp exited with {status}: {log}"
    );
    ensure!(
        log.contains("service 10.0.0.100:80/tcp (maglev): 1 new flows"),
        "{case:?}: {log}"
    );
    eprintln!("FIGURES offload {case:?}: {MIB} MiB intact");
    Ok(())
}

/// Every case on `datapath`, one blob for all.
fn cases(datapath: DatapathKind) -> anyhow::Result<()> {
    let Some(lab) = lab() else { return Ok(()) };
    let blob = blob(&lab)?;
    for (offloads, backend_mtu) in [(true, None), (false, None), (true, Some(1400))] {
        transfer(
            &blob,
            Case {
                datapath,
                offloads,
                backend_mtu,
            },
        )?;
    }
    Ok(())
}

#[test]
fn a_gibibyte_through_taps_arrives_intact() -> anyhow::Result<()> {
    cases(DatapathKind::Tap)
}

#[test]
fn a_gibibyte_through_packet_sockets_arrives_intact() -> anyhow::Result<()> {
    cases(DatapathKind::Pnet)
}
