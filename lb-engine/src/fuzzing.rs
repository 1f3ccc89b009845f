//! Fuzz bodies and frame builders for tests, doc examples and benches.

use std::net::Ipv4Addr;

/// A TCP frame with `flags` between two MACs and ports, checksums right.
pub fn tcp_frame(src: [u8; 4], dst: [u8; 4], src_port: u16, dst_port: u16, flags: u8) -> Vec<u8> {
    let mut frame = vec![0u8; 14 + 20 + 20];
    frame[..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    frame[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut frame[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&40u16.to_be_bytes());
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&src);
    ip[16..20].copy_from_slice(&dst);
    let ip_checksum = !fold(sum(ip));
    ip[10..12].copy_from_slice(&ip_checksum.to_be_bytes());
    let tcp = &mut frame[34..54];
    tcp[0..2].copy_from_slice(&src_port.to_be_bytes());
    tcp[2..4].copy_from_slice(&dst_port.to_be_bytes());
    tcp[12] = 0x50;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&0xffffu16.to_be_bytes());
    let pseudo = sum(&src) + sum(&dst) + 6 + 20;
    let tcp_checksum = !fold(pseudo + sum(tcp));
    tcp[16..18].copy_from_slice(&tcp_checksum.to_be_bytes());
    let _ = Ipv4Addr::from(src);
    frame
}

fn sum(bytes: &[u8]) -> u32 {
    bytes
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum()
}

fn fold(mut total: u32) -> u16 {
    while total > 0xffff {
        total = (total & 0xffff) + (total >> 16);
    }
    total as u16
}
