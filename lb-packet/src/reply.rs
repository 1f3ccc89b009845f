//! Replies built in place from the request, and the ARP request a host
//! sends to resolve a next hop.

use std::net::Ipv4Addr;

use crate::checksum::ChecksumDelta;
use crate::error::RewriteError;
use crate::frame::Frame;
use crate::layout::{
    ARP_LEN, ETHERNET_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST,
    Transport, be16,
};
use crate::rewrite::settle_icmp_zero;
use crate::{ArpOp, MacAddr};

/// Length of the frame [`arp_request`] builds: Ethernet header plus ARP,
/// unpadded (the NIC or the kernel pads to 60 bytes).
pub const ARP_FRAME_LEN: usize = ETHERNET_LEN + ARP_LEN;

/// TTL of echo replies this crate builds, as Linux sends them.
pub const REPLY_TTL: u8 = 64;

/// An ARP request from `sender` asking who has `target_ip`, broadcast.
pub fn arp_request(
    sender_mac: MacAddr,
    sender_ip: Ipv4Addr,
    target_ip: Ipv4Addr,
) -> [u8; ARP_FRAME_LEN] {
    let mut frame = [0u8; ARP_FRAME_LEN];
    frame[0..6].copy_from_slice(&MacAddr::BROADCAST.0);
    frame[6..12].copy_from_slice(&sender_mac.0);
    frame[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    let arp = &mut frame[ETHERNET_LEN..];
    arp[0..2].copy_from_slice(&1u16.to_be_bytes()); // hardware: Ethernet
    arp[2..4].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    arp[4] = 6;
    arp[5] = 4;
    arp[6..8].copy_from_slice(&1u16.to_be_bytes()); // request
    arp[8..14].copy_from_slice(&sender_mac.0);
    arp[14..18].copy_from_slice(&sender_ip.octets());
    // Target hardware address stays zero: it is what we ask for.
    arp[24..28].copy_from_slice(&target_ip.octets());
    frame
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Turns an ARP request into the reply saying its target IP is at `mac`,
    /// addressed back to the asker. The caller decides whether that IP is
    /// one it answers for ([`arp`](Self::arp)`.target_ip()`).
    pub fn make_arp_reply(&mut self, mac: MacAddr) -> Result<(), RewriteError> {
        let request = self.arp().ok_or(RewriteError::NotArpRequest)?;
        if request.op() != ArpOp::Request {
            return Err(RewriteError::NotArpRequest);
        }
        let (asker_mac, asker_ip, target_ip) = (
            request.sender_mac(),
            request.sender_ip(),
            request.target_ip(),
        );
        let l3 = self.layout.l3();
        let bytes = self.as_bytes_mut();
        let arp = &mut bytes[l3..l3 + ARP_LEN];
        arp[6..8].copy_from_slice(&2u16.to_be_bytes());
        arp[8..14].copy_from_slice(&mac.0);
        arp[14..18].copy_from_slice(&target_ip.octets());
        arp[18..24].copy_from_slice(&asker_mac.0);
        arp[24..28].copy_from_slice(&asker_ip.octets());
        self.set_dst_mac(asker_mac);
        self.set_src_mac(mac);
        Ok(())
    }

    /// Turns an ICMP echo request into its reply: addresses and MACs
    /// swapped, type 0, TTL reset to [`REPLY_TTL`], checksums adjusted.
    pub fn make_echo_reply(&mut self) -> Result<(), RewriteError> {
        let ip = self.ipv4_layout().ok_or(RewriteError::NotEchoRequest)?;
        if ip.transport != Transport::IcmpEcho || self.as_bytes()[ip.l4] != ICMP_ECHO_REQUEST {
            return Err(RewriteError::NotEchoRequest);
        }
        let l3 = self.layout.l3();
        let bytes = self.as_bytes_mut();
        // Swapping the addresses leaves the header sum unchanged.
        let mut src = [0u8; 4];
        src.copy_from_slice(&bytes[l3 + 12..l3 + 16]);
        bytes.copy_within(l3 + 16..l3 + 20, l3 + 12);
        bytes[l3 + 16..l3 + 20].copy_from_slice(&src);

        let old_ttl_word = be16(bytes, l3 + 8);
        bytes[l3 + 8] = REPLY_TTL;
        let mut ip_delta = ChecksumDelta::default();
        ip_delta.word(old_ttl_word, be16(bytes, l3 + 8));
        let ip_checksum = ip_delta.apply(be16(bytes, l3 + 10));
        bytes[l3 + 10..l3 + 12].copy_from_slice(&ip_checksum.to_be_bytes());

        let old_type_word = be16(bytes, ip.l4);
        bytes[ip.l4] = ICMP_ECHO_REPLY;
        let mut icmp_delta = ChecksumDelta::default();
        icmp_delta.word(old_type_word, be16(bytes, ip.l4));
        let icmp_checksum = icmp_delta.apply(be16(bytes, ip.l4 + 2));
        bytes[ip.l4 + 2..ip.l4 + 4].copy_from_slice(&icmp_checksum.to_be_bytes());
        settle_icmp_zero(bytes, ip);

        self.swap_macs();
        Ok(())
    }
}
