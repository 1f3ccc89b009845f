//! Translating the packet an ICMP (ICMPv6) error quotes, so errors about a
//! NATed flow reach the host that sent it: path MTU discovery (IPv4's
//! fragmentation needed, IPv6's packet too big) and port unreachables keep
//! working through the NAT.

use std::net::{IpAddr, SocketAddr};

use super::{L4Checksum, Side, adjust_ip_checksum, replace_addr, replace16, settle_icmp_zero};
use crate::checksum::ChecksumDelta;
use crate::error::RewriteError;
use crate::frame::Frame;
use crate::layout::{QuotedPorts, Transport};
use crate::wire::{icmp, tcp, udp};

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// In an ICMP error, sets the source address and port of the quoted
    /// packet; the quoted IPv4 and transport checksums (where quoted) and
    /// the error's own checksum all stay right.
    #[inline]
    pub fn set_quoted_src(&mut self, endpoint: impl Into<SocketAddr>) -> Result<(), RewriteError> {
        let endpoint = endpoint.into();
        match endpoint.ip() {
            IpAddr::V4(v4) => self.rewrite_quoted(Side::Src, v4.octets(), endpoint.port()),
            IpAddr::V6(v6) => self.rewrite_quoted(Side::Src, v6.octets(), endpoint.port()),
        }
    }

    /// As [`set_quoted_src`](Self::set_quoted_src), for the quoted destination.
    #[inline]
    pub fn set_quoted_dst(&mut self, endpoint: impl Into<SocketAddr>) -> Result<(), RewriteError> {
        let endpoint = endpoint.into();
        match endpoint.ip() {
            IpAddr::V4(v4) => self.rewrite_quoted(Side::Dst, v4.octets(), endpoint.port()),
            IpAddr::V6(v6) => self.rewrite_quoted(Side::Dst, v6.octets(), endpoint.port()),
        }
    }

    fn rewrite_quoted<const N: usize>(
        &mut self,
        side: Side,
        addr: [u8; N],
        port: u16,
    ) -> Result<(), RewriteError> {
        let ip = self.family_layout::<N>()?;
        let Transport::IcmpError(Some(quote)) = ip.transport else {
            return Err(RewriteError::NoQuotedFlow);
        };
        let (port_at, checksum) = match quote.ports {
            QuotedPorts::Tcp => (
                quote.l4 + side.port_offset(),
                // A quote may end before the TCP checksum.
                (quote.l4 + tcp::CHECKSUM + 2 <= ip.end)
                    .then_some(L4Checksum::Tcp(quote.l4 + tcp::CHECKSUM)),
            ),
            QuotedPorts::Udp => (
                quote.l4 + side.port_offset(),
                Some(L4Checksum::Udp(quote.l4 + udp::CHECKSUM)),
            ),
            QuotedPorts::IcmpEcho => (quote.l4 + icmp::ID, Some(L4Checksum::icmp::<N>(quote.l4))),
            QuotedPorts::None => return Err(RewriteError::NoQuotedFlow),
        };
        let bytes = self.as_bytes_mut();
        // Every word changed inside the quote is covered by the error's
        // checksum (whose own pseudo-header, over IPv6, does not change).
        let mut icmp_delta = ChecksumDelta::default();

        let addr_delta = replace_addr(bytes, quote.l3 + side.addr_offset::<N>(), addr);
        icmp_delta.add(addr_delta);
        if N == 4 {
            let (old, new) = adjust_ip_checksum(bytes, quote.l3, addr_delta);
            icmp_delta.word(old, new);
        }

        let old_port = replace16(bytes, port_at, port);
        icmp_delta.word(old_port, port);
        if let Some(checksum) = checksum {
            let mut l4_delta = if checksum.covers_pseudo_header() {
                addr_delta
            } else {
                ChecksumDelta::default()
            };
            l4_delta.word(old_port, port);
            let (old, new) = checksum.apply(bytes, l4_delta);
            icmp_delta.word(old, new);
        }
        L4Checksum::icmp::<N>(ip.l4).apply(bytes, icmp_delta);
        settle_icmp_zero(bytes, ip);
        Ok(())
    }
}
