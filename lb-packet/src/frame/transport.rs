//! Reading a frame's addresses and what its transport header says: its
//! flow, TCP flags and segment, ICMP message, and the flow an ICMP error
//! quotes. Each works on IPv4 and IPv6 alike.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Frame, TcpSegment};
use crate::flow::{FlowKey, Protocol};
use crate::icmp::Icmp;
use crate::layout::{IpLayout, QuotedPorts, Transport, array_at, be16};
use crate::tcp_flags::TcpFlags;
use crate::wire::{ethernet, ethertype, icmp, icmpv6, ip_proto, ipv4, ipv6, tcp, udp};

impl<T: AsRef<[u8]>> Frame<T> {
    /// The offsets of the IP packet, of either family.
    #[inline]
    pub(crate) fn ip_layout(&self) -> Option<IpLayout> {
        self.layout.any_ip_layout()
    }

    /// Source and destination of the IP header at `l3`, IPv6 or IPv4.
    #[inline(always)]
    fn addrs_at(&self, l3: usize, ipv6: bool) -> (IpAddr, IpAddr) {
        if ipv6 {
            return self.ipv6_addrs_at(l3);
        }
        let [s0, s1, s2, s3, d0, d1, d2, d3] = array_at(self.as_bytes(), l3 + ipv4::SRC);
        (
            Ipv4Addr::new(s0, s1, s2, s3).into(),
            Ipv4Addr::new(d0, d1, d2, d3).into(),
        )
    }

    /// [`addrs_at`](Self::addrs_at) for IPv6: out of line, so that the
    /// IPv4 path stays small enough to inline.
    #[inline(never)]
    fn ipv6_addrs_at(&self, l3: usize) -> (IpAddr, IpAddr) {
        let bytes = self.as_bytes();
        let src: [u8; 16] = array_at(bytes, l3 + ipv6::SRC);
        let dst: [u8; 16] = array_at(bytes, l3 + ipv6::DST);
        (Ipv6Addr::from(src).into(), Ipv6Addr::from(dst).into())
    }

    /// The source address, IPv4 or IPv6.
    #[inline]
    pub fn src_ip(&self) -> Option<IpAddr> {
        let ip = self.ip_layout()?;
        Some(self.addrs_at(self.layout.l3(), ip.ipv6).0)
    }

    /// The destination address, IPv4 or IPv6.
    #[inline]
    pub fn dst_ip(&self) -> Option<IpAddr> {
        let ip = self.ip_layout()?;
        Some(self.addrs_at(self.layout.l3(), ip.ipv6).1)
    }

    /// The flow's 5-tuple: TCP, UDP and ICMP (ICMPv6) echo, when the ports
    /// are in this frame (so not for non-first fragments, nor any IPv6
    /// fragment).
    // Always inlined: returned through memory, the 40-byte key is read
    // back wider than it was written, a store-forwarding stall that cost
    // a tenth of the established path.
    #[inline(always)]
    pub fn flow_key(&self) -> Option<FlowKey> {
        let ip = self.ip_layout()?;
        let bytes = self.as_bytes();
        let (proto, src_port, dst_port) = match ip.transport {
            Transport::Tcp | Transport::Udp => {
                // Source and destination ports, adjacent in TCP and UDP.
                let [s0, s1, d0, d1] = array_at(bytes, ip.l4 + tcp::SRC_PORT);
                let proto = if ip.transport == Transport::Tcp {
                    Protocol::Tcp
                } else {
                    Protocol::Udp
                };
                (
                    proto,
                    u16::from_be_bytes([s0, s1]),
                    u16::from_be_bytes([d0, d1]),
                )
            }
            Transport::IcmpEcho => {
                let id = be16(bytes, ip.l4 + icmp::ID);
                (Protocol::Icmp, id, id)
            }
            _ => return None,
        };
        let l3 = self.layout.l3();
        if ip.ipv6 {
            let (src, dst) = self.ipv6_addrs_at(l3);
            return Some(FlowKey {
                src,
                dst,
                src_port,
                dst_port,
                proto,
            });
        }
        // Written in place, not moved from a pair: a move copies the
        // addresses wider than they were written, a stall again.
        let [s0, s1, s2, s3, d0, d1, d2, d3] = array_at(bytes, l3 + ipv4::SRC);
        Some(FlowKey {
            src: IpAddr::V4(Ipv4Addr::new(s0, s1, s2, s3)),
            dst: IpAddr::V4(Ipv4Addr::new(d0, d1, d2, d3)),
            src_port,
            dst_port,
            proto,
        })
    }

    /// TCP flags, for TCP packets whose header is in this frame.
    pub fn tcp_flags(&self) -> Option<TcpFlags> {
        let ip = self.ip_layout()?;
        matches!(ip.transport, Transport::Tcp)
            .then(|| TcpFlags::from_bits(self.as_bytes()[ip.l4 + tcp::FLAGS]))
    }

    /// The TCP segment: sequence numbers, flags and payload, for TCP
    /// packets whose header is in this frame (what a TCP endpoint, such
    /// as a health probe, needs to follow a connection).
    #[inline]
    pub fn tcp_segment(&self) -> Option<TcpSegment<'_>> {
        let ip = self.ip_layout()?;
        if ip.transport != Transport::Tcp {
            return None;
        }
        let bytes = self.as_bytes();
        // parse() checked l4 + data offset <= end.
        let data_at = ip.l4 + usize::from(bytes[ip.l4 + tcp::DATA_OFFSET] >> 4) * 4;
        Some(TcpSegment {
            seq: u32::from_be_bytes(array_at(bytes, ip.l4 + tcp::SEQ)),
            ack: u32::from_be_bytes(array_at(bytes, ip.l4 + tcp::ACK)),
            flags: TcpFlags::from_bits(bytes[ip.l4 + tcp::FLAGS]),
            payload: bytes.get(data_at..ip.end).unwrap_or_default(),
        })
    }

    /// The ICMP message (ICMPv6 over IPv6, with its own type numbers), for
    /// ICMP packets whose header is in this frame.
    pub fn icmp(&self) -> Option<Icmp> {
        let ip = self.ip_layout()?;
        if matches!(
            ip.transport,
            Transport::Tcp | Transport::Udp | Transport::Opaque
        ) {
            return None;
        }
        // Every ICMP transport has its 8-byte header here.
        let bytes = self.as_bytes();
        let (icmp_type, code) = (bytes[ip.l4 + icmp::TYPE], bytes[ip.l4 + icmp::CODE]);
        Some(match ip.transport {
            Transport::IcmpEcho => {
                let id = be16(bytes, ip.l4 + icmp::ID);
                let seq = be16(bytes, ip.l4 + icmp::SEQ);
                let request = if ip.ipv6 {
                    icmpv6::ECHO_REQUEST
                } else {
                    icmp::ECHO_REQUEST
                };
                if icmp_type == request {
                    Icmp::EchoRequest { id, seq }
                } else {
                    Icmp::EchoReply { id, seq }
                }
            }
            Transport::IcmpError(_) => Icmp::Error { icmp_type, code },
            Transport::IcmpOther => Icmp::Other { icmp_type, code },
            _ => return None,
        })
    }

    /// The flow of the packet an ICMP (ICMPv6) error quotes, as that packet
    /// travelled (so usually the reverse of this error's own direction).
    /// None when the quote is cut short or carries no ports.
    pub fn quoted_flow(&self) -> Option<FlowKey> {
        let ip = self.ip_layout()?;
        let Transport::IcmpError(Some(quote)) = ip.transport else {
            return None;
        };
        let bytes = self.as_bytes();
        let (proto, src_port, dst_port) = match quote.ports {
            QuotedPorts::Tcp => (
                Protocol::Tcp,
                be16(bytes, quote.l4 + tcp::SRC_PORT),
                be16(bytes, quote.l4 + tcp::DST_PORT),
            ),
            QuotedPorts::Udp => (
                Protocol::Udp,
                be16(bytes, quote.l4 + udp::SRC_PORT),
                be16(bytes, quote.l4 + udp::DST_PORT),
            ),
            QuotedPorts::IcmpEcho => {
                let id = be16(bytes, quote.l4 + icmp::ID);
                (Protocol::Icmp, id, id)
            }
            QuotedPorts::None => return None,
        };
        let (src, dst) = self.addrs_at(quote.l3, ip.ipv6);
        Some(FlowKey {
            src,
            dst,
            src_port,
            dst_port,
            proto,
        })
    }
}

/// Where the common frame keeps its flow: untagged IPv4 without options.
const PEEK_L3: usize = ethernet::HEADER_LEN;
const PEEK_L4: usize = PEEK_L3 + ipv4::MIN_HEADER_LEN;

impl FlowKey {
    /// The flow key of `frame` read from fixed offsets, without validating
    /// anything: for an untagged IPv4 TCP or UDP frame without options that
    /// is not a later fragment, the key [`Frame::flow_key`] gives once
    /// [`Frame::parse`] accepts the frame; None for any other frame. A
    /// guess that costs a few loads, for work ahead of parsing (hashing
    /// and prefetching a batch's sessions); a frame the parse refuses may
    /// still have one.
    #[inline]
    pub fn peek(frame: &[u8]) -> Option<FlowKey> {
        let header: &[u8; PEEK_L4 + 4] = frame.get(..PEEK_L4 + 4)?.try_into().ok()?;
        let ethertype =
            u16::from_be_bytes([header[ethernet::ETHERTYPE], header[ethernet::ETHERTYPE + 1]]);
        let ip = &header[PEEK_L3..];
        let fragment = u16::from_be_bytes([ip[ipv4::FLAGS_FRAGMENT], ip[ipv4::FLAGS_FRAGMENT + 1]]);
        let proto = match ip[ipv4::PROTOCOL] {
            ip_proto::TCP => Protocol::Tcp,
            ip_proto::UDP => Protocol::Udp,
            _ => return None,
        };
        let plain = ethertype == ethertype::IPV4
            && ip[ipv4::VERSION_IHL] == IPV4_WITHOUT_OPTIONS
            && fragment & ipv4::FRAGMENT_OFFSET == 0;
        if !plain {
            return None;
        }
        let [s0, s1, s2, s3, d0, d1, d2, d3] = array_at(ip, ipv4::SRC);
        let [p0, p1, p2, p3] = array_at(header, PEEK_L4 + tcp::SRC_PORT);
        Some(FlowKey {
            src: IpAddr::V4(Ipv4Addr::new(s0, s1, s2, s3)),
            dst: IpAddr::V4(Ipv4Addr::new(d0, d1, d2, d3)),
            src_port: u16::from_be_bytes([p0, p1]),
            dst_port: u16::from_be_bytes([p2, p3]),
            proto,
        })
    }
}

/// Version 4, a header of five words.
const IPV4_WITHOUT_OPTIONS: u8 = ipv4::VERSION << 4 | 5;
