//! In-place rewrites: MACs, NAT of addresses and ports, TTL, the header an
//! ICMP error quotes. Each keeps every checksum covering the changed words
//! right by incremental update, and each either applies whole or returns an
//! error with the frame untouched.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::MacAddr;
use crate::checksum::{self, ChecksumDelta};
use crate::error::RewriteError;
use crate::frame::Frame;
use crate::layout::{IpLayout, QuotedPorts, Transport, be16};
use crate::wire::{ethernet, icmp, ip_proto, ipv4, tcp, udp};

/// Which end of a flow a rewrite changes.
#[derive(Clone, Copy)]
enum Side {
    Src,
    Dst,
}

impl Side {
    /// Offset of the address within an IPv4 header.
    #[inline]
    fn addr_offset(self) -> usize {
        match self {
            Side::Src => ipv4::SRC,
            Side::Dst => ipv4::DST,
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
    /// TCP: covers the pseudo-header.
    Tcp(usize),
    /// UDP: covers the pseudo-header; 0 means none.
    Udp(usize),
    /// ICMP: covers the message only.
    Icmp(usize),
}

impl L4Checksum {
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

/// A port (or echo identifier) position, and the checksum covering it.
#[derive(Clone, Copy)]
struct PortSlot {
    at: usize,
    checksum: Option<L4Checksum>,
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

#[inline]
fn replace_addr(bytes: &mut [u8], at: usize, addr: Ipv4Addr) -> ChecksumDelta {
    let mut old = [0; 4];
    old.copy_from_slice(&bytes[at..at + 4]);
    bytes[at..at + 4].copy_from_slice(&addr.octets());
    let mut delta = ChecksumDelta::default();
    delta.double_word(old, addr.octets());
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
/// (RFC 1624 section 3). TCP and UDP cannot hit it: their pseudo-header
/// holds a non-zero protocol number.
#[inline]
pub(crate) fn settle_icmp_zero(bytes: &mut [u8], ip: IpLayout) {
    let message = &bytes[ip.l4..ip.end];
    if be16(message, icmp::CHECKSUM) == 0 && message.iter().all(|&byte| byte == 0) {
        write16(bytes, ip.l4 + icmp::CHECKSUM, 0xffff);
    }
}

impl IpLayout {
    /// The transport checksum in this frame, if its header is here.
    #[inline]
    fn l4_checksum(&self) -> Option<L4Checksum> {
        match self.transport {
            Transport::Tcp => Some(L4Checksum::Tcp(self.l4 + tcp::CHECKSUM)),
            Transport::Udp => Some(L4Checksum::Udp(self.l4 + udp::CHECKSUM)),
            Transport::IcmpEcho | Transport::IcmpError(_) | Transport::IcmpOther => {
                Some(L4Checksum::Icmp(self.l4 + icmp::CHECKSUM))
            }
            Transport::Opaque => None,
        }
    }

    #[inline]
    fn port_slot(&self, side: Side) -> Option<PortSlot> {
        let at = match self.transport {
            Transport::Tcp | Transport::Udp => self.l4 + side.port_offset(),
            Transport::IcmpEcho => self.l4 + icmp::ID,
            _ => return None,
        };
        Some(PortSlot {
            at,
            checksum: self.l4_checksum(),
        })
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
    /// TCP/UDP pseudo-header checksums right. Works on fragments too.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) -> Result<(), RewriteError> {
        self.rewrite_endpoint(Side::Src, addr, None)
    }

    /// Sets the destination address; see [`set_src_addr`](Self::set_src_addr).
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) -> Result<(), RewriteError> {
        self.rewrite_endpoint(Side::Dst, addr, None)
    }

    /// Source NAT: sets the source address and port (the identifier, for
    /// ICMP echo) with all checksums kept right.
    #[inline]
    pub fn set_src(&mut self, endpoint: SocketAddrV4) -> Result<(), RewriteError> {
        self.rewrite_endpoint(Side::Src, *endpoint.ip(), Some(endpoint.port()))
    }

    /// Destination NAT: sets the destination address and port (the
    /// identifier, for ICMP echo) with all checksums kept right.
    #[inline]
    pub fn set_dst(&mut self, endpoint: SocketAddrV4) -> Result<(), RewriteError> {
        self.rewrite_endpoint(Side::Dst, *endpoint.ip(), Some(endpoint.port()))
    }

    #[inline]
    fn rewrite_endpoint(
        &mut self,
        side: Side,
        addr: Ipv4Addr,
        port: Option<u16>,
    ) -> Result<(), RewriteError> {
        let ip = self.ipv4_layout().ok_or(RewriteError::NotIpv4)?;
        let port_slot = match port {
            Some(_) => Some(ip.port_slot(side).ok_or(RewriteError::NoPorts)?),
            None => None,
        };
        let l3 = self.layout.l3();
        // A partial checksum covers only the pseudo-header so far: ports
        // are summed in later, by the device.
        let partial = self.is_checksum_partial();
        let bytes = self.as_bytes_mut();
        let addr_delta = replace_addr(bytes, l3 + side.addr_offset(), addr);
        adjust_ip_checksum(bytes, l3, addr_delta);
        let l4_checksum = ip.l4_checksum();
        let mut l4_delta = match l4_checksum {
            Some(checksum) if checksum.covers_pseudo_header() => addr_delta,
            _ => ChecksumDelta::default(),
        };
        if let (Some(slot), Some(port)) = (port_slot, port) {
            let old = replace16(bytes, slot.at, port);
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

    /// Decrements the TTL as a router does. Refuses when the TTL is 0 or 1:
    /// the packet must not be forwarded.
    #[inline]
    pub fn decrement_ttl(&mut self) -> Result<(), RewriteError> {
        self.ipv4_layout().ok_or(RewriteError::NotIpv4)?;
        let l3 = self.layout.l3();
        let bytes = self.as_bytes_mut();
        let ttl = bytes[l3 + ipv4::TTL];
        if ttl <= 1 {
            return Err(RewriteError::TtlExpired);
        }
        // The checksum covers TTL and protocol as one word.
        let old = be16(bytes, l3 + ipv4::TTL);
        bytes[l3 + ipv4::TTL] = ttl - 1;
        let mut delta = ChecksumDelta::default();
        delta.word(old, be16(bytes, l3 + ipv4::TTL));
        adjust_ip_checksum(bytes, l3, delta);
        Ok(())
    }

    /// In an ICMP error, sets the source address and port of the quoted
    /// packet; the quoted IPv4 and transport checksums (where quoted) and
    /// the ICMP checksum all stay right.
    ///
    /// NAT uses it to translate an error about a flow along with the flow,
    /// so path MTU discovery and port unreachables work through the NAT.
    #[inline]
    pub fn set_quoted_src(&mut self, endpoint: SocketAddrV4) -> Result<(), RewriteError> {
        self.rewrite_quoted(Side::Src, endpoint)
    }

    /// As [`set_quoted_src`](Self::set_quoted_src), for the quoted destination.
    #[inline]
    pub fn set_quoted_dst(&mut self, endpoint: SocketAddrV4) -> Result<(), RewriteError> {
        self.rewrite_quoted(Side::Dst, endpoint)
    }

    #[inline]
    fn rewrite_quoted(&mut self, side: Side, endpoint: SocketAddrV4) -> Result<(), RewriteError> {
        let ip = self.ipv4_layout().ok_or(RewriteError::NotIpv4)?;
        let Transport::IcmpError(Some(quote)) = ip.transport else {
            return Err(RewriteError::NoQuotedFlow);
        };
        let slot = match quote.ports {
            QuotedPorts::Tcp => PortSlot {
                at: quote.l4 + side.port_offset(),
                checksum: (quote.l4 + tcp::CHECKSUM + 2 <= ip.end)
                    .then_some(L4Checksum::Tcp(quote.l4 + tcp::CHECKSUM)),
            },
            QuotedPorts::Udp => PortSlot {
                at: quote.l4 + side.port_offset(),
                checksum: Some(L4Checksum::Udp(quote.l4 + udp::CHECKSUM)),
            },
            QuotedPorts::IcmpEcho => PortSlot {
                at: quote.l4 + icmp::ID,
                checksum: Some(L4Checksum::Icmp(quote.l4 + icmp::CHECKSUM)),
            },
            QuotedPorts::None => return Err(RewriteError::NoQuotedFlow),
        };
        let bytes = self.as_bytes_mut();
        // Every word changed inside the quote is covered by the ICMP checksum.
        let mut icmp_delta = ChecksumDelta::default();

        let addr_delta = replace_addr(bytes, quote.l3 + side.addr_offset(), *endpoint.ip());
        icmp_delta.add(addr_delta);
        let (old, new) = adjust_ip_checksum(bytes, quote.l3, addr_delta);
        icmp_delta.word(old, new);

        let old_port = replace16(bytes, slot.at, endpoint.port());
        icmp_delta.word(old_port, endpoint.port());
        if let Some(checksum) = slot.checksum {
            let mut l4_delta = if checksum.covers_pseudo_header() {
                addr_delta
            } else {
                ChecksumDelta::default()
            };
            l4_delta.word(old_port, endpoint.port());
            let (old, new) = checksum.apply(bytes, l4_delta);
            icmp_delta.word(old, new);
        }
        L4Checksum::Icmp(ip.l4 + icmp::CHECKSUM).apply(bytes, icmp_delta);
        settle_icmp_zero(bytes, ip);
        Ok(())
    }

    /// Recomputes the transport checksum from scratch, for instance to
    /// complete the partial checksum a NIC with offload would have finished
    /// (the frame's [`offload`](Frame::offload) then says it is complete).
    /// Refuses fragments, whose checksum covers bytes of other frames, and
    /// super-frames, whose checksum is completed per segment.
    #[inline]
    pub fn recompute_l4_checksum(&mut self) -> Result<(), RewriteError> {
        let header = self.ipv4().ok_or(RewriteError::NotIpv4)?;
        if header.is_fragment() {
            return Err(RewriteError::Fragmented);
        }
        if self.offload.has_gso() {
            return Err(RewriteError::SuperFrame);
        }
        let ip = self.ipv4_layout().ok_or(RewriteError::NotIpv4)?;
        let (checksum_at, pseudo) = match ip.l4_checksum().ok_or(RewriteError::NoPorts)? {
            L4Checksum::Tcp(at) => (at, self.pseudo_header_sum(ip_proto::TCP)),
            L4Checksum::Udp(at) => (at, self.pseudo_header_sum(ip_proto::UDP)),
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
