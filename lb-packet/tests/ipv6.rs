//! IPv6 frames built by etherparse, read back by `Frame::parse`: the
//! fixed header's fields, checksums verified over the IPv6 pseudo-header
//! (ICMPv6 included), a changed byte caught, every truncation refused.

use std::net::Ipv6Addr;

use etherparse::PacketBuilder;
use lb_packet::{EtherType, Frame, Protocol};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Transport {
    Tcp(u16, u16),
    Udp(u16, u16),
    Echo(u16, u16),
}

fn transport() -> impl Strategy<Value = Transport> {
    prop_oneof![
        (any::<u16>(), any::<u16>()).prop_map(|(s, d)| Transport::Tcp(s, d)),
        (any::<u16>(), any::<u16>()).prop_map(|(s, d)| Transport::Udp(s, d)),
        (any::<u16>(), any::<u16>()).prop_map(|(id, seq)| Transport::Echo(id, seq)),
    ]
}

fn build(
    src: [u8; 16],
    dst: [u8; 16],
    hop_limit: u8,
    transport: &Transport,
    payload: &[u8],
) -> Vec<u8> {
    let ip =
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv6(src, dst, hop_limit);
    let mut bytes = Vec::new();
    let written = match *transport {
        Transport::Tcp(s, d) => ip.tcp(s, d, 1000, 512).syn().write(&mut bytes, payload),
        Transport::Udp(s, d) => ip.udp(s, d).write(&mut bytes, payload),
        Transport::Echo(id, seq) => ip.icmpv6_echo_request(id, seq).write(&mut bytes, payload),
    };
    written.map(|()| bytes).unwrap_or_default()
}

proptest! {
    #[test]
    fn frames_read_back_with_valid_checksums(
        src in any::<[u8; 16]>(),
        dst in any::<[u8; 16]>(),
        hop_limit in any::<u8>(),
        transport in transport(),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
        flip in any::<prop::sample::Index>(),
    ) {
        let mut bytes = build(src, dst, hop_limit, &transport, &payload);
        let frame = Frame::parse(&bytes[..]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(frame.ethertype(), EtherType::Ipv6);
        let header = frame.ipv6().ok_or_else(|| TestCaseError::fail("no IPv6 header"))?;
        prop_assert_eq!(
            (header.src(), header.dst(), header.hop_limit()),
            (Ipv6Addr::from(src), Ipv6Addr::from(dst), hop_limit)
        );
        prop_assert_eq!(usize::from(header.payload_len()), bytes.len() - 54);
        prop_assert!(frame.ipv4().is_none());
        let key = frame.flow_key().ok_or_else(|| TestCaseError::fail("no flow key"))?;
        let (proto, ports) = match transport {
            Transport::Tcp(s, d) => (Protocol::Tcp, (s, d)),
            Transport::Udp(s, d) => (Protocol::Udp, (s, d)),
            Transport::Echo(id, _) => (Protocol::Icmp, (id, id)),
        };
        prop_assert_eq!(
            (key.src, key.dst, key.src_port, key.dst_port, key.proto),
            (Ipv6Addr::from(src).into(), Ipv6Addr::from(dst).into(), ports.0, ports.1, proto)
        );
        prop_assert_eq!(frame.l4_checksum_valid(), Some(true));

        // Any byte of the addresses or the transport changed: caught by
        // the pseudo-header or the segment sum (a flip to the same sum,
        // 0x0000 for 0xffff, cannot happen with a single-bit change).
        let at = 14 + 8 + flip.index(bytes.len() - 22);
        bytes[at] ^= 0x10;
        if let Ok(frame) = Frame::parse(&bytes[..]) {
            prop_assert_eq!(frame.l4_checksum_valid(), Some(false), "byte {}", at);
        }

        // Every cut is refused.
        for len in 0..bytes.len() {
            prop_assert!(Frame::parse(&bytes[..len]).is_err(), "{} of {} bytes", len, bytes.len());
        }
    }
}
