//! The load generator: 64-byte UDP frames over many flows, sent through a
//! packet socket as fast as it goes, a batch per system call (run as
//! `lb-throughput generate` inside the generator's namespace).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::Context;
use lb_datapath::{Datapath, PortId, RxBatch};
use lb_datapath_pnet::PnetDatapath;
use lb_packet::{EthernetRepr, FrameRepr, Ipv4Repr, MacAddr, UdpRepr};

use crate::{FLOWS, UDP_PORT, VIP};

/// Frames per `sendmmsg`.
const BATCH: usize = 64;

/// A 64-byte UDP frame (60 bytes plus the FCS the NIC adds) of flow `n`.
fn udp_frame(src_mac: MacAddr, dst_mac: MacAddr, src: Ipv4Addr, n: u16) -> Vec<u8> {
    let dst: Ipv4Addr = VIP.parse().unwrap_or(Ipv4Addr::UNSPECIFIED);
    FrameRepr::ipv4(
        EthernetRepr::new(src_mac, dst_mac),
        Ipv4Repr::new(src, dst),
        UdpRepr::new(10_000 + n, UDP_PORT),
        &[0; 18],
    )
    .to_vec()
    .unwrap_or_default()
}

/// The generator: raw frames through the packet-socket datapath (past the
/// queueing discipline), the flows in turn, [`BATCH`] frames a call.
pub(crate) fn generate(
    iface: &str,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    seconds: u64,
) -> anyhow::Result<()> {
    let mut port = PnetDatapath::open_without_offloads(&[iface])
        .with_context(|| format!("opening {iface}"))?;
    let src_mac = port.mac(PortId(0)).unwrap_or(MacAddr::ZERO);
    // Every flow's frame, in batches ready to send as they are.
    let batches: Vec<RxBatch> = (0..FLOWS)
        .collect::<Vec<u16>>()
        .chunks(BATCH)
        .map(|flows| {
            let mut batch = RxBatch::new(BATCH, 64);
            for &n in flows {
                let frame = udp_frame(src_mac, dst_mac, src, n);
                if let Some(buffer) = batch.free_buffer() {
                    buffer[..frame.len()].copy_from_slice(&frame);
                    batch.commit(PortId(0), frame.len());
                }
            }
            batch
        })
        .collect();
    let sends: Vec<(PortId, usize)> = (0..BATCH).map(|i| (PortId(0), i)).collect();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut sent: u64 = 0;
    while Instant::now() < deadline {
        for batch in &batches {
            let sends = &sends[..batch.len()];
            sent += port.send_batch(batch, sends).unwrap_or(0) as u64;
        }
    }
    println!("{sent}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lb_packet::Frame;

    #[test]
    fn generated_frames_are_valid_udp_to_the_vip() -> anyhow::Result<()> {
        let (src_mac, dst_mac) = (
            MacAddr::from([2, 0, 0, 0, 0, 1]),
            MacAddr::from([2, 0, 0, 0, 0, 2]),
        );
        for n in [0, 1, 4321] {
            let bytes = udp_frame(src_mac, dst_mac, Ipv4Addr::new(10, 0, 0, 2), n);
            assert_eq!(bytes.len(), 60);
            let frame = Frame::parse(&bytes[..])?;
            assert_eq!(frame.l4_checksum_valid(), Some(true));
            let key = frame.flow_key().context("no flow")?;
            assert_eq!(
                (key.dst.to_string(), key.dst_port, key.src_port),
                (VIP.into(), UDP_PORT, 10_000 + n)
            );
        }
        Ok(())
    }
}
