//! The load generator: 64-byte UDP frames over many flows, sent through a
//! packet socket as fast as it goes, a batch per system call (run as
//! `lb-throughput generate` inside the generator's namespace). The flows
//! take turns in a shuffled order, so that a load balancer's sessions are
//! visited all over its table, not in the order they were made.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::Context;
use lb_datapath::{Datapath, PortId, RxBatch};
use lb_datapath_pnet::PnetDatapath;
use lb_packet::{EthernetRepr, Frame, FrameRepr, Ipv4Repr, MacAddr, UdpRepr};

use crate::{UDP_PORT, VIP};

/// Frames per `sendmmsg`.
const BATCH: usize = 64;

/// Flows a source address carries (source ports 1024 and up).
const FLOWS_PER_ADDRESS: u32 = 60_000;

/// Flow `n`'s source: `src` for the first 60,000, then 10.0.0.101 and on
/// (the generator's subnet, so the sink's routes accept them).
fn flow_source(src: Ipv4Addr, n: u32) -> (Ipv4Addr, u16) {
    let port = 1024 + (n % FLOWS_PER_ADDRESS) as u16;
    match n / FLOWS_PER_ADDRESS {
        0 => (src, port),
        block => (Ipv4Addr::from(0x0a00_0064 + block), port),
    }
}

/// Flows 0 to `flows` in a shuffled order (a fixed seed: every run alike).
fn shuffled(flows: u32) -> Vec<u32> {
    let mut order: Vec<u32> = (0..flows).collect();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for last in (1..order.len()).rev() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        order.swap(last, (state >> 33) as usize % (last + 1));
    }
    order
}

/// A 64-byte UDP frame (60 bytes plus the FCS the NIC adds) of flow 0,
/// for [`write_flow`] to copy.
fn template(src_mac: MacAddr, dst_mac: MacAddr, src: Ipv4Addr) -> Vec<u8> {
    let dst: Ipv4Addr = VIP.parse().unwrap_or(Ipv4Addr::UNSPECIFIED);
    let (src, port) = flow_source(src, 0);
    FrameRepr::ipv4(
        EthernetRepr::new(src_mac, dst_mac),
        Ipv4Repr::new(src, dst),
        UdpRepr::new(port, UDP_PORT),
        &[0; 18],
    )
    .to_vec()
    .unwrap_or_default()
}

/// Writes flow `n`'s frame into `buffer`: the template with its source
/// rewritten (checksums updated, not recomputed). Built as it is sent, so
/// the generator runs as fast over a million flows as over a thousand.
fn write_flow(buffer: &mut [u8], template: &[u8], src: Ipv4Addr, n: u32) -> usize {
    let len = template.len().min(buffer.len());
    buffer[..len].copy_from_slice(&template[..len]);
    let (ip, port) = flow_source(src, n);
    if let Ok(mut frame) = Frame::parse(&mut buffer[..len]) {
        let _ = frame.set_src(SocketAddr::new(ip.into(), port));
    }
    len
}

/// The generator: raw frames through the packet-socket datapath (past the
/// queueing discipline), `flows` flows in turn, [`BATCH`] frames a call,
/// for `seconds` (or one turn of every flow, when `once`).
pub(crate) fn generate(
    iface: &str,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    flows: u32,
    seconds: u64,
    once: bool,
) -> anyhow::Result<()> {
    let mut port = PnetDatapath::open_without_offloads(&[iface])
        .with_context(|| format!("opening {iface}"))?;
    let src_mac = port.mac(PortId(0)).unwrap_or(MacAddr::ZERO);
    let template = template(src_mac, dst_mac, src);
    let order = shuffled(flows);
    let mut batch = RxBatch::new(BATCH, 64);
    let sends: Vec<(PortId, usize)> = (0..BATCH).map(|i| (PortId(0), i)).collect();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut sent: u64 = 0;
    while Instant::now() < deadline {
        for flows in order.chunks(BATCH) {
            batch.clear();
            for &n in flows {
                if let Some(buffer) = batch.free_buffer() {
                    let len = write_flow(buffer, &template, src, n);
                    batch.commit(PortId(0), len);
                }
            }
            sent += port.send_batch(&batch, &sends[..batch.len()]).sent as u64;
        }
        if once {
            break;
        }
    }
    println!("{sent}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_frames_are_valid_udp_to_the_vip() -> anyhow::Result<()> {
        let (src_mac, dst_mac) = (
            MacAddr::from([2, 0, 0, 0, 0, 1]),
            MacAddr::from([2, 0, 0, 0, 0, 2]),
        );
        let src = Ipv4Addr::new(10, 0, 0, 2);
        for (n, from, port) in [
            (0, src, 1024),
            (4321, src, 5345),
            (60_000, Ipv4Addr::new(10, 0, 0, 101), 1024),
            ((1 << 20) - 1, Ipv4Addr::new(10, 0, 0, 117), 29_599),
        ] {
            let mut bytes = [0; 64];
            let len = write_flow(&mut bytes, &template(src_mac, dst_mac, src), src, n);
            let bytes = &bytes[..len];
            assert_eq!(bytes.len(), 60);
            let frame = Frame::parse(bytes)?;
            assert_eq!(frame.l4_checksum_valid(), Some(true));
            let key = frame.flow_key().context("no flow")?;
            assert_eq!(
                (key.src, key.src_port, key.dst.to_string(), key.dst_port),
                (from.into(), port, VIP.into(), UDP_PORT)
            );
        }
        Ok(())
    }

    #[test]
    fn every_flow_takes_its_turn_once() {
        let mut order = shuffled(100_000);
        assert_ne!(order[..10], (0..10).collect::<Vec<u32>>()[..]);
        order.sort_unstable();
        assert_eq!(order, (0..100_000).collect::<Vec<u32>>());
    }
}
