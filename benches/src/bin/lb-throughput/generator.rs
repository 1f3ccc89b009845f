//! The load generator: 64-byte UDP frames over many flows, sent through a
//! packet socket as fast as it goes (run as `lb-throughput generate`
//! inside the generator's namespace).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lb_packet::{EthernetRepr, FrameRepr, Ipv4Repr, MacAddr, UdpRepr};

use crate::{FLOWS, UDP_PORT, VIP};

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

/// The generator: raw frames through a packet socket, one flow after another.
pub(crate) fn generate(
    iface: &str,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    seconds: u64,
) -> anyhow::Result<()> {
    let interface = pnet::datalink::interfaces()
        .into_iter()
        .find(|i| i.name == iface)
        .with_context(|| format!("no interface {iface}"))?;
    let src_mac = interface
        .mac
        .map(|m| MacAddr(m.octets()))
        .unwrap_or(MacAddr::ZERO);
    let frames: Vec<Vec<u8>> = (0..FLOWS)
        .map(|n| udp_frame(src_mac, dst_mac, src, n))
        .collect();
    let config = pnet::datalink::Config {
        write_buffer_size: 1 << 16,
        ..Default::default()
    };
    let pnet::datalink::Channel::Ethernet(mut tx, _rx) =
        pnet::datalink::channel(&interface, config)?
    else {
        bail!("not an Ethernet channel");
    };
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut sent: u64 = 0;
    while Instant::now() < deadline {
        for frame in &frames {
            if let Some(Ok(())) = tx.send_to(frame, None) {
                sent += 1;
            }
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
