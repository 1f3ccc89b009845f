//! Replies built in place from the request, and the ARP request a host
//! sends to resolve a next hop.

use std::net::Ipv4Addr;

use crate::checksum::ChecksumDelta;
use crate::error::RewriteError;
use crate::frame::Frame;
use crate::layout::{Transport, array_at, be16, put};
use crate::rewrite::settle_icmp_zero;
use crate::wire::{arp, ethernet, icmp, icmpv6, ipv4, ipv6};
use crate::{ArpOp, ArpRepr, EthernetRepr, FrameRepr, MacAddr};

/// Length of the frame [`arp_request`] builds: Ethernet header plus ARP,
/// unpadded (the NIC or the kernel pads to 60 bytes).
pub const ARP_FRAME_LEN: usize = ethernet::HEADER_LEN + arp::LEN;

/// TTL (IPv6: hop limit) of echo replies this crate builds, as Linux
/// sends them.
pub const REPLY_TTL: u8 = 64;

/// An ARP request from `sender` asking who has `target_ip`, broadcast.
pub fn arp_request(
    sender_mac: MacAddr,
    sender_ip: Ipv4Addr,
    target_ip: Ipv4Addr,
) -> [u8; ARP_FRAME_LEN] {
    let request = FrameRepr::arp(
        EthernetRepr::new(sender_mac, MacAddr::BROADCAST),
        ArpRepr::request(sender_mac, sender_ip, target_ip),
    );
    let mut frame = [0; ARP_FRAME_LEN];
    // An untagged, unpadded ARP frame is exactly this long.
    let written = request.emit(&mut frame);
    debug_assert_eq!(written, Ok(ARP_FRAME_LEN));
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
        let packet = &mut bytes[l3..l3 + arp::LEN];
        put(packet, arp::OPERATION, arp::OP_REPLY.to_be_bytes());
        put(packet, arp::SENDER_MAC, mac.0);
        put(packet, arp::SENDER_IP, target_ip.octets());
        put(packet, arp::TARGET_MAC, asker_mac.0);
        put(packet, arp::TARGET_IP, asker_ip.octets());
        self.set_dst_mac(asker_mac);
        self.set_src_mac(mac);
        Ok(())
    }

    /// Sets the sender IP of an ARP packet (ARP has no checksum).
    pub fn set_arp_sender_ip(&mut self, ip: Ipv4Addr) -> Result<(), RewriteError> {
        self.put_arp_field(arp::SENDER_IP, ip)
    }

    /// Sets the target IP of an ARP packet.
    pub fn set_arp_target_ip(&mut self, ip: Ipv4Addr) -> Result<(), RewriteError> {
        self.put_arp_field(arp::TARGET_IP, ip)
    }

    fn put_arp_field(&mut self, field: usize, ip: Ipv4Addr) -> Result<(), RewriteError> {
        self.arp().ok_or(RewriteError::NotArp)?;
        let l3 = self.layout.l3();
        put(
            &mut self.as_bytes_mut()[l3..l3 + arp::LEN],
            field,
            ip.octets(),
        );
        Ok(())
    }

    /// Turns an ICMP (ICMPv6) echo request into its reply: addresses and
    /// MACs swapped, type echo reply, TTL (hop limit) reset to
    /// [`REPLY_TTL`], checksums adjusted.
    pub fn make_echo_reply(&mut self) -> Result<(), RewriteError> {
        let ip = self.ip_layout().ok_or(RewriteError::NotEchoRequest)?;
        let (request, reply) = if ip.ipv6 {
            (icmpv6::ECHO_REQUEST, icmpv6::ECHO_REPLY)
        } else {
            (icmp::ECHO_REQUEST, icmp::ECHO_REPLY)
        };
        if ip.transport != Transport::IcmpEcho || self.as_bytes()[ip.l4 + icmp::TYPE] != request {
            return Err(RewriteError::NotEchoRequest);
        }
        let l3 = self.layout.l3();
        let bytes = self.as_bytes_mut();
        // Swapping the addresses leaves every sum unchanged (ICMPv6's
        // pseudo-header included).
        if ip.ipv6 {
            swap_addrs::<16>(bytes, l3 + ipv6::SRC, l3 + ipv6::DST);
            bytes[l3 + ipv6::HOP_LIMIT] = REPLY_TTL;
        } else {
            swap_addrs::<4>(bytes, l3 + ipv4::SRC, l3 + ipv4::DST);
            // The checksum covers TTL and protocol as one word.
            let ttl = l3 + ipv4::TTL;
            let old_ttl_word = be16(bytes, ttl);
            bytes[ttl] = REPLY_TTL;
            let mut ip_delta = ChecksumDelta::default();
            ip_delta.word(old_ttl_word, be16(bytes, ttl));
            let ip_checksum = l3 + ipv4::CHECKSUM;
            let new_ip_checksum = ip_delta.apply(be16(bytes, ip_checksum));
            put(bytes, ip_checksum, new_ip_checksum.to_be_bytes());
        }

        // And type and code as one word.
        let icmp_type = ip.l4 + icmp::TYPE;
        let old_type_word = be16(bytes, icmp_type);
        bytes[icmp_type] = reply;
        let mut icmp_delta = ChecksumDelta::default();
        icmp_delta.word(old_type_word, be16(bytes, icmp_type));
        let icmp_checksum = ip.l4 + icmp::CHECKSUM;
        let new_icmp_checksum = icmp_delta.apply(be16(bytes, icmp_checksum));
        put(bytes, icmp_checksum, new_icmp_checksum.to_be_bytes());
        settle_icmp_zero(bytes, ip);

        self.swap_macs();
        Ok(())
    }
}

/// Swaps the `N`-byte addresses at `src` and `dst`.
fn swap_addrs<const N: usize>(bytes: &mut [u8], src: usize, dst: usize) {
    let src_addr: [u8; N] = array_at(bytes, src);
    let dst_addr: [u8; N] = array_at(bytes, dst);
    put(bytes, src, dst_addr);
    put(bytes, dst, src_addr);
}
