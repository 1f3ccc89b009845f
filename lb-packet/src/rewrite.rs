//! In-place rewrites: MACs, NAT of addresses and ports, TTL (hop limit),
//! the header an ICMP error quotes (`quoted`). Each keeps every checksum
//! covering the changed words right by incremental update, and each either
//! applies whole or returns an error with the frame untouched.
//!
//! Addresses travel as byte arrays, `[u8; 4]` or `[u8; 16]`: the length
//! picks the family at compile time, so the IPv4 path carries no IPv6
//! branch. IPv4 has a header checksum to adjust; IPv6 has none, but there
//! ICMPv6 sums the pseudo-header as TCP and UDP do.

mod quoted;

use std::net::{IpAddr, SocketAddr};

use crate::MacAddr;
use crate::checksum::{self, ChecksumDelta};
use crate::error::RewriteError;
use crate::frame::Frame;
use crate::layout::{IpLayout, Transport, be16};
use crate::wire::{ethernet, icmp, ipv4, ipv6, tcp, udp};

/// Which end of a flow a rewrite changes.
#[derive(Clone, Copy)]
enum Side {
    Src,
    Dst,
}

impl Side {
    /// Offset of the address within the IP header of the family whose
    /// addresses are `N` bytes long.
    #[inline(always)]
    fn addr_offset<const N: usize>(self) -> usize {
        match (N == 16, self) {
            (false, Side::Src) => ipv4::SRC,
            (false, Side::Dst) => ipv4::DST,
            (true, Side::Src) => ipv6::SRC,
            (true, Side::Dst) => ipv6::DST,
        }
    }

    /// Offset of the port within a TCP or UDP header (the same in both).
    #[inline]
    fn port_offset(self) -> usize {
        match self {
            Side::Src => tcp::SRC_PORT,
            Side::Dst => tcp::DST_PORT,
        }
    }
}

/// Where a transport checksum lives and what it covers.
#[derive(Clone, Copy)]
enum L4Checksum {
    /// TCP, and ICMPv6: covers the pseudo-header.
    Tcp(usize),
    /// UDP: covers the pseudo-header; 0 means none.
    Udp(usize),
    /// ICMPv4: covers the message only.
    Icmp(usize),
}

impl L4Checksum {
    /// The checksum of an ICMP message at `l4`: ICMPv6 sums the
    /// pseudo-header as TCP does.
    #[inline(always)]
    fn icmp<const N: usize>(l4: usize) -> Self {
        if N == 16 {
            L4Checksum::Tcp(l4 + icmp::CHECKSUM)
        } else {
            L4Checksum::Icmp(l4 + icmp::CHECKSUM)
        }
    }

    #[inline]
    fn covers_pseudo_header(self) -> bool {
        matches!(self, L4Checksum::Tcp(_) | L4Checksum::Udp(_))
    }

    /// Applies `delta` to a partial checksum (TCP or UDP with offload).
    #[inline]
    fn apply_partial(self, bytes: &mut [u8], delta: ChecksumDelta) {
        let (L4Checksum::Tcp(at) | L4Checksum::Udp(at) | L4Checksum::Icmp(at)) = self;
        write16(bytes, at, delta.apply_partial(be16(bytes, at)));
    }

    /// Applies `delta`; returns the old and new checksum words.
    #[inline]
    fn apply(self, bytes: &mut [u8], delta: ChecksumDelta) -> (u16, u16) {
        match self {
            L4Checksum::Tcp(at) | L4Checksum::Icmp(at) => {
                let old = be16(bytes, at);
                let new = delta.apply(old);
                write16(bytes, at, new);
                (old, new)
            }
            L4Checksum::Udp(at) => {
                let old = be16(bytes, at);
                let new = delta.apply_udp(old);
                write16(bytes, at, new);
                (old, new)
            }
        }
    }
}

#[inline]
fn write16(bytes: &mut [u8], at: usize, value: u16) {
    bytes[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

#[inline]
fn replace16(bytes: &mut [u8], at: usize, value: u16) -> u16 {
    let old = be16(bytes, at);
    write16(bytes, at, value);
    old
}

/// Writes an address of `N` bytes (4 or 16) at `at`; the delta of the change.
#[inline(always)]
fn replace_addr<const N: usize>(bytes: &mut [u8], at: usize, addr: [u8; N]) -> ChecksumDelta {
    let mut delta = ChecksumDelta::default();
    for (old, new) in bytes[at..at + N].chunks_exact(4).zip(addr.chunks_exact(4)) {
        let old: [u8; 4] = old.try_into().unwrap_or_default();
        let new: [u8; 4] = new.try_into().unwrap_or_default();
        delta.double_word(old, new);
    }
    bytes[at..at + N].copy_from_slice(&addr);
    delta
}

/// Applies `delta` to the IPv4 header checksum of the header at `l3`;
/// returns the old and new checksum words.
#[inline]
fn adjust_ip_checksum(bytes: &mut [u8], l3: usize, delta: ChecksumDelta) -> (u16, u16) {
    let old = be16(bytes, l3 + ipv4::CHECKSUM);
    let new = delta.apply(old);
    write16(bytes, l3 + ipv4::CHECKSUM, new);
    (old, new)
}

/// Fixes the one case where an incremental update and a full computation
/// differ: an ICMP message that is all zeros but its checksum must carry
/// 0xffff, while the update yields 0x0000, the other encoding of zero
/// (RFC 1624 section 3). TCP, UDP and ICMPv6 cannot hit it: their
/// pseudo-header holds a non-zero protocol number.
#[inline]
pub(crate) fn settle_icmp_zero(bytes: &mut [u8], ip: IpLayout) {
    let message = &bytes[ip.l4..ip.end];
    if !ip.ipv6 && be16(message, icmp::CHECKSUM) == 0 && message.iter().all(|&byte| byte == 0) {
        write16(bytes, ip.l4 + icmp::CHECKSUM, 0xffff);
    }
}

impl IpLayout {
    /// The transport checksum in this packet (whose addresses are `N`
    /// bytes long), if its header is here.
    #[inline(always)]
    fn l4_checksum<const N: usize>(&self) -> Option<L4Checksum> {
        match self.transport {
            Transport::Tcp => Some(L4Checksum::Tcp(self.l4 + tcp::CHECKSUM)),
            Transport::Udp => Some(L4Checksum::Udp(self.l4 + udp::CHECKSUM)),
            Transport::IcmpEcho | Transport::IcmpError(_) | Transport::IcmpOther => {
                Some(L4Checksum::icmp::<N>(self.l4))
            }
            Transport::Opaque => None,
        }
    }

    /// [`l4_checksum`](Self::l4_checksum) for this packet's own family.
    #[inline]
    fn l4_checksum_any(&self) -> Option<L4Checksum> {
        if self.ipv6 {
            self.l4_checksum::<16>()
        } else {
            self.l4_checksum::<4>()
        }
    }

    /// Where the port (ICMP echo: identifier) of `side` is.
    #[inline]
    fn port_at(&self, side: Side) -> Option<usize> {
        match self.transport {
            Transport::Tcp | Transport::Udp => Some(self.l4 + side.port_offset()),
            Transport::IcmpEcho => Some(self.l4 + icmp::ID),
            _ => None,
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// The whole frame, writable. Offsets found by `parse` are not checked
    /// again: change header fields through the setters.
    #[inline]
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the destination MAC address.
    #[inline]
    pub fn set_dst_mac(&mut self, mac: MacAddr) {
        self.as_bytes_mut()[ethernet::DST..ethernet::DST + 6].copy_from_slice(&mac.0);
    }

    /// Sets the source MAC address.
    #[inline]
    pub fn set_src_mac(&mut self, mac: MacAddr) {
        self.as_bytes_mut()[ethernet::SRC..ethernet::SRC + 6].copy_from_slice(&mac.0);
    }

    /// Swaps source and destination MAC addresses.
    #[inline]
    pub fn swap_macs(&mut self) {
        let (dst, src) = (self.dst_mac(), self.src_mac());
        self.set_dst_mac(src);
        self.set_src_mac(dst);
    }

    /// Sets the source address, keeping the IPv4 and (if present here) the
    /// transport pseudo-header checksums right. Works on fragments too.
    /// The address must be of the packet's family
    /// ([`RewriteError::FamilyMismatch`]).
    #[inline]
    pub fn set_src_addr(&mut self, addr: impl Into<IpAddr>) -> Result<(), RewriteError> {
        match addr.into() {
            IpAddr::V4(v4) => self.rewrite_endpoint(Side::Src, v4.octets(), None),
            IpAddr::V6(v6) => self.rewrite_endpoint(Side::Src, v6.octets(), None),
        }
    }

    /// Sets the destination address; see [`set_src_addr`](Self::set_src_addr).
    #[inline]
    pub fn set_dst_addr(&mut self, addr: impl Into<IpAddr>) -> Result<(), RewriteError> {
        match addr.into() {
            IpAddr::V4(v4) => self.rewrite_endpoint(Side::Dst, v4.octets(), None),
            IpAddr::V6(v6) => self.rewrite_endpoint(Side::Dst, v6.octets(), None),
        }
    }

    /// Source NAT: sets the source address and port (the identifier, for
    /// ICMP echo) with all checksums kept right.
    #[inline]
    pub fn set_src(&mut self, endpoint: impl Into<SocketAddr>) -> Result<(), RewriteError> {
        let endpoint = endpoint.into();
        let port = Some(endpoint.port());
        match endpoint.ip() {
            IpAddr::V4(v4) => self.rewrite_endpoint(Side::Src, v4.octets(), port),
            IpAddr::V6(v6) => self.rewrite_endpoint(Side::Src, v6.octets(), port),
        }
    }

    /// Destination NAT: sets the destination address and port (the
    /// identifier, for ICMP echo) with all checksums kept right.
    #[inline]
    pub fn set_dst(&mut self, endpoint: impl Into<SocketAddr>) -> Result<(), RewriteError> {
        let endpoint = endpoint.into();
        let port = Some(endpoint.port());
        match endpoint.ip() {
            IpAddr::V4(v4) => self.rewrite_endpoint(Side::Dst, v4.octets(), port),
            IpAddr::V6(v6) => self.rewrite_endpoint(Side::Dst, v6.octets(), port),
        }
    }

    /// The layout of the packet, if it is IP of the family whose addresses
    /// are `N` bytes long.
    #[inline(always)]
    fn family_layout<const N: usize>(&self) -> Result<IpLayout, RewriteError> {
        let ip = self.ip_layout().ok_or(RewriteError::NotIp)?;
        if ip.ipv6 == (N == 16) {
            Ok(ip)
        } else {
            Err(RewriteError::FamilyMismatch)
        }
    }

    #[inline(always)]
    fn rewrite_endpoint<const N: usize>(
        &mut self,
        side: Side,
        addr: [u8; N],
        port: Option<u16>,
    ) -> Result<(), RewriteError> {
        let ip = self.family_layout::<N>()?;
        let port_at = match port {
            Some(_) => Some(ip.port_at(side).ok_or(RewriteError::NoPorts)?),
            None => None,
        };
        let l3 = self.layout.l3();
        // A partial checksum covers only the pseudo-header so far: ports
        // are summed in later, by the device.
        let partial = self.is_checksum_partial();
        let bytes = self.as_bytes_mut();
        let addr_delta = replace_addr(bytes, l3 + side.addr_offset::<N>(), addr);
        if N == 4 {
            adjust_ip_checksum(bytes, l3, addr_delta);
        }
        let l4_checksum = ip.l4_checksum::<N>();
        let mut l4_delta = match l4_checksum {
            Some(checksum) if checksum.covers_pseudo_header() => addr_delta,
            _ => ChecksumDelta::default(),
        };
        if let (Some(at), Some(port)) = (port_at, port) {
            let old = replace16(bytes, at, port);
            if !partial {
                l4_delta.word(old, port);
            }
        }
        if partial {
            if let Some(checksum) = l4_checksum {
                checksum.apply_partial(bytes, l4_delta);
            }
        } else if let Some(checksum) = l4_checksum {
            checksum.apply(bytes, l4_delta);
            if let L4Checksum::Icmp(_) = checksum {
                settle_icmp_zero(bytes, ip);
            }
        }
        Ok(())
    }

    /// Decrements the TTL (IPv6: the hop limit) as a router does. Refuses
    /// when it is 0 or 1: the packet must not be forwarded.
    #[inline]
    pub fn decrement_ttl(&mut self) -> Result<(), RewriteError> {
        let ip = self.ip_layout().ok_or(RewriteError::NotIp)?;
        let l3 = self.layout.l3();
        let at = l3 + if ip.ipv6 { ipv6::HOP_LIMIT } else { ipv4::TTL };
        let bytes = self.as_bytes_mut();
        let ttl = bytes[at];
        if ttl <= 1 {
            return Err(RewriteError::TtlExpired);
        }
        if ip.ipv6 {
            bytes[at] = ttl - 1;
            return Ok(());
        }
        // The checksum covers TTL and protocol as one word.
        let old = be16(bytes, at);
        bytes[at] = ttl - 1;
        let mut delta = ChecksumDelta::default();
        delta.word(old, be16(bytes, at));
        adjust_ip_checksum(bytes, l3, delta);
        Ok(())
    }

    /// Recomputes the transport checksum from scratch, for instance to
    /// complete the partial checksum a NIC with offload would have finished
    /// (the frame's [`offload`](Frame::offload) then says it is complete).
    /// Refuses fragments, whose checksum covers bytes of other frames, and
    /// super-frames, whose checksum is completed per segment.
    #[inline]
    pub fn recompute_l4_checksum(&mut self) -> Result<(), RewriteError> {
        let ip = self.ip_layout().ok_or(RewriteError::NotIp)?;
        if self.ipv4().is_some_and(|header| header.is_fragment()) {
            return Err(RewriteError::Fragmented);
        }
        if self.offload.has_gso() {
            return Err(RewriteError::SuperFrame);
        }
        let (checksum_at, pseudo) = match ip.l4_checksum_any().ok_or(RewriteError::NoPorts)? {
            L4Checksum::Tcp(at) | L4Checksum::Udp(at) => (at, self.pseudo_header_sum(ip)),
            L4Checksum::Icmp(at) => (at, 0),
        };
        let is_udp = matches!(ip.transport, Transport::Udp);
        let bytes = self.as_bytes_mut();
        write16(bytes, checksum_at, 0);
        let computed = checksum::finish(pseudo + checksum::sum(&bytes[ip.l4..ip.end]));
        let stored = if is_udp {
            checksum::udp_on_wire(computed)
        } else {
            computed
        };
        write16(bytes, checksum_at, stored);
        self.offload.complete_checksum();
        Ok(())
    }
}
