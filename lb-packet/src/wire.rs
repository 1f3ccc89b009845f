//! Where each field of each header sits, and the numbers that identify
//! protocols. The parser, the rewrites and the builder all index with these
//! names, so they cannot disagree about a layout.
//!
//! Offsets are from the start of their own header, except Ethernet's and
//! the 802.1Q tag's, which are from the start of the frame.

/// Ethernet II header.
pub(crate) mod ethernet {
    pub(crate) const DST: usize = 0;
    pub(crate) const SRC: usize = 6;
    pub(crate) const ETHERTYPE: usize = 12;
    pub(crate) const HEADER_LEN: usize = 14;
    /// The shortest frame a NIC sends (64 bytes on the wire minus the FCS).
    pub(crate) const MIN_FRAME_LEN: usize = 60;
}

/// The 802.1Q tag between the source MAC and the ethertype.
pub(crate) mod vlan {
    /// Tag control information: priority, drop eligible, VLAN id.
    pub(crate) const TCI: usize = 14;
    /// The ethertype of what the tag carries.
    pub(crate) const ETHERTYPE: usize = 16;
    pub(crate) const TAG_LEN: usize = 4;
    pub(crate) const ID_MASK: u16 = 0x0fff;
}

pub(crate) mod ethertype {
    pub(crate) const IPV4: u16 = 0x0800;
    pub(crate) const ARP: u16 = 0x0806;
    pub(crate) const VLAN: u16 = 0x8100;
    pub(crate) const IPV6: u16 = 0x86dd;
}

/// ARP for IPv4 over Ethernet (RFC 826).
pub(crate) mod arp {
    pub(crate) const HARDWARE_TYPE: usize = 0;
    pub(crate) const PROTOCOL_TYPE: usize = 2;
    pub(crate) const HARDWARE_LEN: usize = 4;
    pub(crate) const PROTOCOL_LEN: usize = 5;
    pub(crate) const OPERATION: usize = 6;
    pub(crate) const SENDER_MAC: usize = 8;
    pub(crate) const SENDER_IP: usize = 14;
    pub(crate) const TARGET_MAC: usize = 18;
    pub(crate) const TARGET_IP: usize = 24;
    pub(crate) const LEN: usize = 28;

    pub(crate) const HARDWARE_ETHERNET: u16 = 1;
    pub(crate) const MAC_LEN: u8 = 6;
    pub(crate) const IP_LEN: u8 = 4;
    pub(crate) const OP_REQUEST: u16 = 1;
    pub(crate) const OP_REPLY: u16 = 2;
}

/// IPv4 (RFC 791).
pub(crate) mod ipv4 {
    /// Version (high nibble) and header length in 32-bit words (low nibble).
    pub(crate) const VERSION_IHL: usize = 0;
    pub(crate) const TOS: usize = 1;
    pub(crate) const TOTAL_LEN: usize = 2;
    pub(crate) const IDENT: usize = 4;
    /// Flags (high 3 bits) and fragment offset in 8-byte units.
    pub(crate) const FLAGS_FRAGMENT: usize = 6;
    pub(crate) const TTL: usize = 8;
    pub(crate) const PROTOCOL: usize = 9;
    pub(crate) const CHECKSUM: usize = 10;
    pub(crate) const SRC: usize = 12;
    pub(crate) const DST: usize = 16;
    pub(crate) const OPTIONS: usize = 20;
    pub(crate) const MIN_HEADER_LEN: usize = 20;
    pub(crate) const MAX_OPTIONS_LEN: usize = 40;

    pub(crate) const VERSION: u8 = 4;
    /// Masks of the 16-bit word at [`FLAGS_FRAGMENT`].
    pub(crate) const DONT_FRAGMENT: u16 = 0x4000;
    pub(crate) const MORE_FRAGMENTS: u16 = 0x2000;
    pub(crate) const FRAGMENT_OFFSET: u16 = 0x1fff;
}

/// The fixed IPv6 header (RFC 8200).
pub(crate) mod ipv6 {
    /// Version (4 bits), traffic class (8), flow label (20).
    pub(crate) const VERSION_CLASS_FLOW: usize = 0;
    pub(crate) const PAYLOAD_LEN: usize = 4;
    pub(crate) const NEXT_HEADER: usize = 6;
    pub(crate) const HOP_LIMIT: usize = 7;
    pub(crate) const SRC: usize = 8;
    pub(crate) const DST: usize = 24;
    pub(crate) const HEADER_LEN: usize = 40;

    pub(crate) const VERSION: u8 = 6;
}

/// IPv6 extension headers (RFC 8200 section 4), by next-header value, and
/// the fields of the fragment header.
pub(crate) mod ipv6_ext {
    pub(crate) const HOP_BY_HOP: u8 = 0;
    pub(crate) const ROUTING: u8 = 43;
    pub(crate) const FRAGMENT: u8 = 44;
    pub(crate) const ESP: u8 = 50;
    pub(crate) const AUTHENTICATION: u8 = 51;
    pub(crate) const NO_NEXT_HEADER: u8 = 59;
    pub(crate) const DESTINATION_OPTIONS: u8 = 60;

    /// Every extension header starts with the next header's value.
    pub(crate) const NEXT_HEADER: usize = 0;
    /// Options headers and routing: length in 8-byte units, not counting
    /// the first 8; authentication: in 4-byte units, not counting the
    /// first 8.
    pub(crate) const LENGTH: usize = 1;
    /// Fragment header: offset in 8-byte units (high 13 bits), M flag (low
    /// bit).
    pub(crate) const FRAGMENT_OFFSET_FLAGS: usize = 2;
    pub(crate) const FRAGMENT_HEADER_LEN: usize = 8;
    pub(crate) const FRAGMENT_OFFSET: u16 = 0xfff8;
    pub(crate) const MORE_FRAGMENTS: u16 = 0x0001;
    /// The shortest extension header.
    pub(crate) const MIN_LEN: usize = 8;
}

/// IPv4 protocol numbers (IPv6 next-header values too).
pub(crate) mod ip_proto {
    pub(crate) const ICMP: u8 = 1;
    pub(crate) const TCP: u8 = 6;
    pub(crate) const UDP: u8 = 17;
    pub(crate) const ICMPV6: u8 = 58;
}

/// TCP (RFC 9293).
pub(crate) mod tcp {
    pub(crate) const SRC_PORT: usize = 0;
    pub(crate) const DST_PORT: usize = 2;
    pub(crate) const SEQ: usize = 4;
    pub(crate) const ACK: usize = 8;
    /// Header length in 32-bit words, in the high nibble.
    pub(crate) const DATA_OFFSET: usize = 12;
    pub(crate) const FLAGS: usize = 13;
    pub(crate) const WINDOW: usize = 14;
    pub(crate) const CHECKSUM: usize = 16;
    pub(crate) const OPTIONS: usize = 20;
    pub(crate) const MIN_HEADER_LEN: usize = 20;
    pub(crate) const MAX_OPTIONS_LEN: usize = 40;
}

/// UDP (RFC 768).
pub(crate) mod udp {
    pub(crate) const SRC_PORT: usize = 0;
    pub(crate) const DST_PORT: usize = 2;
    pub(crate) const LENGTH: usize = 4;
    pub(crate) const CHECKSUM: usize = 6;
    pub(crate) const HEADER_LEN: usize = 8;
}

// Rewrites find a port by one offset whether the segment is TCP or UDP.
const _: () = assert!(tcp::SRC_PORT == udp::SRC_PORT && tcp::DST_PORT == udp::DST_PORT);

/// ICMPv4 (RFC 792).
pub(crate) mod icmp {
    pub(crate) const TYPE: usize = 0;
    pub(crate) const CODE: usize = 1;
    pub(crate) const CHECKSUM: usize = 2;
    /// Echo identifier.
    pub(crate) const ID: usize = 4;
    /// Echo sequence number.
    pub(crate) const SEQ: usize = 6;
    /// Fragmentation needed: the MTU of the next hop (RFC 1191).
    pub(crate) const NEXT_HOP_MTU: usize = 6;
    /// Also where an error's quote starts.
    pub(crate) const HEADER_LEN: usize = 8;

    pub(crate) const ECHO_REPLY: u8 = 0;
    pub(crate) const DEST_UNREACHABLE: u8 = 3;
    pub(crate) const SOURCE_QUENCH: u8 = 4;
    pub(crate) const REDIRECT: u8 = 5;
    pub(crate) const ECHO_REQUEST: u8 = 8;
    pub(crate) const TIME_EXCEEDED: u8 = 11;
    pub(crate) const PARAMETER_PROBLEM: u8 = 12;
    /// Destination unreachable code: fragmentation needed and DF set.
    pub(crate) const FRAGMENTATION_NEEDED: u8 = 4;
}

/// ICMPv6 (RFC 4443): the header is ICMP's (type, code, checksum, then
/// identifier and sequence for echo); the types differ.
pub(crate) mod icmpv6 {
    pub(crate) const DEST_UNREACHABLE: u8 = 1;
    pub(crate) const PACKET_TOO_BIG: u8 = 2;
    pub(crate) const TIME_EXCEEDED: u8 = 3;
    pub(crate) const PARAMETER_PROBLEM: u8 = 4;
    pub(crate) const ECHO_REQUEST: u8 = 128;
    pub(crate) const ECHO_REPLY: u8 = 129;
    pub(crate) const NEIGHBOR_SOLICITATION: u8 = 135;
    pub(crate) const NEIGHBOR_ADVERTISEMENT: u8 = 136;
    /// Packet too big: the MTU of the next hop, 32 bits.
    pub(crate) const MTU: usize = 4;
}

/// Neighbor discovery (RFC 4861): solicitations and advertisements.
pub(crate) mod ndp {
    /// Advertisement flags, in the first byte after the checksum.
    pub(crate) const FLAGS: usize = 4;
    pub(crate) const ROUTER: u8 = 0x80;
    pub(crate) const SOLICITED: u8 = 0x40;
    pub(crate) const OVERRIDE: u8 = 0x20;
    /// The address asked about (solicitation) or told (advertisement).
    pub(crate) const TARGET: usize = 8;
    /// Where options start; the message without options is this long.
    pub(crate) const OPTIONS: usize = 24;
    /// A link-layer address option: type, length in units of 8 bytes
    /// (1 for Ethernet), then the MAC.
    pub(crate) const OPTION_SOURCE_MAC: u8 = 1;
    pub(crate) const OPTION_TARGET_MAC: u8 = 2;
    pub(crate) const MAC_OPTION_LEN: usize = 8;
    /// Solicitations and advertisements are refused unless sent with this
    /// hop limit: proof that they come from the link itself.
    pub(crate) const HOP_LIMIT: u8 = 255;
}
