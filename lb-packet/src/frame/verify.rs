//! Checking a transport checksum by full recomputation.

use super::Frame;
use crate::checksum;
use crate::layout::{IpLayout, Transport, be16};
use crate::wire::{ip_proto, ipv4, ipv6, udp};

impl<T: AsRef<[u8]>> Frame<T> {
    /// Whether the transport checksum verifies, by full recomputation.
    ///
    /// None when it cannot be checked: not TCP, UDP or ICMP; a fragment
    /// (the checksum covers bytes other frames hold); UDP without one; or a
    /// partial checksum, which a device completes.
    ///
    /// Over IPv6 the pseudo-header covers ICMPv6 too, and an IPv6 fragment
    /// has no transport header to check. A packet still on its way along a
    /// routing header is summed with its final destination, which is not
    /// the one in its header: the check fails for it.
    pub fn l4_checksum_valid(&self) -> Option<bool> {
        if self.is_checksum_partial() {
            return None;
        }
        let ip = self.ip_layout()?;
        if self.ipv4().is_some_and(|header| header.is_fragment()) {
            return None;
        }
        let segment = &self.as_bytes()[ip.l4..ip.end];
        let total = match ip.transport {
            Transport::Udp if be16(segment, udp::CHECKSUM) == 0 => return None,
            Transport::Opaque => return None,
            Transport::IcmpEcho | Transport::IcmpError(_) | Transport::IcmpOther if !ip.ipv6 => {
                checksum::sum(segment)
            }
            _ => self.pseudo_header_sum(ip) + checksum::sum(segment),
        };
        Some(checksum::fold(total) == 0xffff)
    }

    /// Unfolded sum of the pseudo-header over the transport segment of
    /// `ip`, the frame's own layout: TCP/UDP over IPv4 (RFC 9293 3.1), any
    /// upper layer over IPv6 (RFC 8200 8.1). Call for those only.
    pub(crate) fn pseudo_header_sum(&self, ip: IpLayout) -> u32 {
        let l3 = self.layout.l3();
        let protocol = match ip.transport {
            Transport::Tcp => ip_proto::TCP,
            Transport::Udp => ip_proto::UDP,
            _ => ip_proto::ICMPV6,
        };
        // Source and destination addresses, adjacent.
        let addrs = if ip.ipv6 {
            l3 + ipv6::SRC..l3 + ipv6::DST + 16
        } else {
            l3 + ipv4::SRC..l3 + ipv4::DST + 4
        };
        let segment_len = (ip.end - ip.l4) as u32;
        checksum::pseudo_header(&self.as_bytes()[addrs], protocol, segment_len)
    }
}
