//! Neighbor discovery, byte for byte: solicitations and advertisements
//! written out with comments (the bytes are scapy's, Debian's
//! python3-scapy 2.5), read, built and answered in place.

use std::net::Ipv6Addr;

use lb_packet::{
    Frame, MacAddr, NeighborAdvertisement, NeighborSolicitation, RewriteError,
    neighbor_solicitation, solicited_node,
};

const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
const LB_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const CLIENT: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
const VIP: Ipv6Addr = Ipv6Addr::new(0xfd0d, 0, 0, 0, 0, 0, 0, 0x13);

/// fd00::2 asks its neighbours who has fd0d::13, multicast.
#[rustfmt::skip]
const MULTICAST_SOLICITATION: [u8; 86] = [
    // Ethernet: to 33:33:ff:00:00:13 (the group's MAC), from the client, IPv6.
    0x33, 0x33, 0xff, 0x00, 0x00, 0x13,  0x02, 0x00, 0x00, 0x00, 0x00, 0x02,  0x86, 0xdd,
    // IPv6: version 6, payload 32 bytes, next header 58 (ICMPv6), hop limit 255.
    0x60, 0x00, 0x00, 0x00,  0x00, 0x20,  0x3a,  0xff,
    // Source fd00::2.
    0xfd, 0x00, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0x02,
    // Destination ff02::1:ff00:13, the solicited-node group of fd0d::13.
    0xff, 0x02, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0x01, 0xff, 0x00, 0x00, 0x13,
    // ICMPv6 135 (neighbor solicitation), code 0, checksum, reserved.
    0x87, 0x00, 0x7d, 0x66,  0x00, 0x00, 0x00, 0x00,
    // Target fd0d::13.
    0xfd, 0x0d, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0x13,
    // Option 1 (source link-layer address), 1 unit of 8 bytes: the client's MAC.
    0x01, 0x01,  0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
];

/// The answer: fd0d::13 is at 02:00:00:00:00:01.
#[rustfmt::skip]
const ADVERTISEMENT: [u8; 86] = [
    // Ethernet: back to the client, from the load balancer.
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02,  0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  0x86, 0xdd,
    // IPv6: payload 32 bytes, ICMPv6, hop limit 255.
    0x60, 0x00, 0x00, 0x00,  0x00, 0x20,  0x3a,  0xff,
    // Source fd0d::13 (the target), destination fd00::2 (the asker).
    0xfd, 0x0d, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0x13,
    0xfd, 0x00, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0x02,
    // ICMPv6 136 (neighbor advertisement), code 0, checksum; flags S and O.
    0x88, 0x00, 0x1c, 0x5e,  0x60, 0x00, 0x00, 0x00,
    // Target fd0d::13.
    0xfd, 0x0d, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0x13,
    // Option 2 (target link-layer address): the load balancer's MAC.
    0x02, 0x01,  0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
];

/// A unicast check that the VIP is still there (neighbour unreachability
/// detection): no option, so no room for one in the answer.
#[rustfmt::skip]
const UNICAST_SOLICITATION: [u8; 78] = [
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  0x02, 0x00, 0x00, 0x00, 0x00, 0x02,  0x86, 0xdd,
    // Payload 24 bytes.
    0x60, 0x00, 0x00, 0x00,  0x00, 0x18,  0x3a,  0xff,
    0xfd, 0x00, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0x02,
    // Sent to the target itself.
    0xfd, 0x0d, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0x13,
    0x87, 0x00, 0x81, 0x68,  0x00, 0x00, 0x00, 0x00,
    0xfd, 0x0d, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0x13,
];

#[rustfmt::skip]
const UNICAST_ADVERTISEMENT: [u8; 78] = [
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02,  0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  0x86, 0xdd,
    0x60, 0x00, 0x00, 0x00,  0x00, 0x18,  0x3a,  0xff,
    0xfd, 0x0d, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0x13,
    0xfd, 0x00, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0x02,
    // Flags S and O; no option.
    0x88, 0x00, 0x20, 0x68,  0x60, 0x00, 0x00, 0x00,
    0xfd, 0x0d, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0x13,
];

#[test]
fn a_solicitation_is_built_read_and_answered_in_place() {
    assert_eq!(
        solicited_node(VIP),
        "ff02::1:ff00:13".parse::<Ipv6Addr>().unwrap()
    );
    assert_eq!(
        neighbor_solicitation(CLIENT_MAC, CLIENT, VIP),
        MULTICAST_SOLICITATION
    );

    let mut bytes = MULTICAST_SOLICITATION;
    let mut frame = Frame::parse(&mut bytes[..]).unwrap();
    assert_eq!(frame.l4_checksum_valid(), Some(true));
    assert_eq!(
        frame.neighbor_solicitation(),
        Some(NeighborSolicitation {
            target: VIP,
            source: CLIENT,
            source_mac: Some(CLIENT_MAC)
        })
    );
    assert_eq!(frame.neighbor_advertisement(), None);
    frame.make_neighbor_advertisement(LB_MAC).unwrap();
    assert_eq!(frame.as_bytes(), ADVERTISEMENT);
    // The frame's offsets follow the new message.
    assert_eq!(frame.l4_checksum_valid(), Some(true));
    assert_eq!(
        frame.neighbor_advertisement(),
        Some(NeighborAdvertisement {
            target: VIP,
            target_mac: Some(LB_MAC),
            solicited: true,
            overrides: true
        })
    );
}

#[test]
fn a_unicast_solicitation_without_an_option_is_answered_without_one() {
    let mut bytes = UNICAST_SOLICITATION;
    let mut frame = Frame::parse(&mut bytes[..]).unwrap();
    assert_eq!(
        frame.neighbor_solicitation().map(|s| s.source_mac),
        Some(None)
    );
    frame.make_neighbor_advertisement(LB_MAC).unwrap();
    assert_eq!(frame.as_bytes(), UNICAST_ADVERTISEMENT);
}

#[test]
fn invalid_solicitations_are_not_read_or_answered() {
    // Hop limit 254: it crossed a router, so it is not from the link.
    let mut routed = MULTICAST_SOLICITATION;
    routed[21] = 254;
    // Duplicate address detection: from ::, without an option.
    let mut probe = UNICAST_SOLICITATION;
    probe[22..38].fill(0);
    // An option of length 0 (RFC 4861 says drop the message).
    let mut zero_option = MULTICAST_SOLICITATION;
    zero_option[79] = 0;
    for (name, mut bytes) in [
        ("routed", routed.to_vec()),
        ("duplicate address detection", probe.to_vec()),
        ("zero-length option", zero_option.to_vec()),
    ] {
        let before = bytes.clone();
        let mut frame = Frame::parse(&mut bytes[..]).unwrap();
        if name != "duplicate address detection" {
            assert_eq!(frame.neighbor_solicitation(), None, "{name}");
        }
        assert_eq!(
            frame.make_neighbor_advertisement(LB_MAC),
            Err(RewriteError::NotNeighborSolicitation),
            "{name}"
        );
        assert_eq!(frame.as_bytes(), &before[..], "{name}: untouched");
    }
}

#[test]
fn an_unsolicited_advertisement_tells_all_nodes_to_override() {
    let mut bytes = lb_packet::unsolicited_advertisement(LB_MAC, VIP);
    let frame = Frame::parse(&mut bytes[..]).unwrap();
    assert_eq!(frame.l4_checksum_valid(), Some(true));
    assert_eq!(frame.dst_mac(), MacAddr([0x33, 0x33, 0, 0, 0, 1]));
    assert_eq!(frame.src_mac(), LB_MAC);
    assert_eq!(frame.dst_ip(), Some("ff02::1".parse().unwrap()));
    assert_eq!(frame.src_ip(), Some(VIP.into()));
    assert_eq!(
        frame.neighbor_advertisement(),
        Some(NeighborAdvertisement {
            target: VIP,
            target_mac: Some(LB_MAC),
            solicited: false,
            overrides: true,
        })
    );
}
