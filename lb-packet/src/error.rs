//! Why a frame was refused or a rewrite did not apply.

/// Why [`Frame::parse`](crate::Frame::parse) refused a frame.
///
/// Each variant names the first check that failed; nothing after it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Shorter than an Ethernet header, or than its 802.1Q tag.
    #[error("truncated Ethernet header")]
    TruncatedEthernet,
    /// An ARP packet shorter than 28 bytes.
    #[error("truncated ARP packet")]
    TruncatedArp,
    /// ARP for something other than IPv4 over Ethernet.
    #[error("ARP is not IPv4 over Ethernet")]
    UnsupportedArp,
    /// Fewer bytes than the IPv4 header or its total length claim.
    #[error("truncated IPv4 packet")]
    TruncatedIpv4,
    /// Ethertype IPv4 but the version field is not 4, or IPv6 and not 6.
    #[error("IP version field does not match the ethertype")]
    BadIpVersion,
    /// IHL below 5 words.
    #[error("IPv4 header length below 20 bytes")]
    BadIpHeaderLength,
    /// Total length shorter than the header itself.
    #[error("IPv4 total length shorter than its header")]
    BadIpTotalLength,
    /// The IPv4 header checksum does not verify.
    #[error("IPv4 header checksum mismatch")]
    BadIpChecksum,
    /// Fewer bytes than the fixed IPv6 header or its payload length claim.
    #[error("truncated IPv6 packet")]
    TruncatedIpv6,
    /// An IPv6 extension header past the payload, hop-by-hop options
    /// other than first, or a chain longer than eight headers.
    #[error("malformed IPv6 extension header chain")]
    BadIpv6Extension,
    /// UDP over IPv6 without a checksum (0), which IPv6 forbids.
    #[error("UDP over IPv6 without a checksum")]
    ZeroUdpChecksum,
    /// A TCP header cut short, or a data offset below 5 or past the packet.
    #[error("truncated or malformed TCP header")]
    BadTcpHeader,
    /// A UDP header cut short, or a length field that disagrees with IPv4's.
    #[error("truncated or malformed UDP header")]
    BadUdpHeader,
    /// An ICMP message shorter than its 8-byte header.
    #[error("truncated ICMP header")]
    TruncatedIcmp,
    /// Offload metadata that does not fit the frame: a partial checksum
    /// elsewhere than its TCP or UDP checksum, a TCP super-frame that is
    /// not TCP over IPv4.
    #[error("offload metadata does not match the frame")]
    OffloadMismatch,
}

/// Why an in-place rewrite was refused. The frame is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum RewriteError {
    /// The frame does not carry IP.
    #[error("frame is not IP")]
    NotIp,
    /// An address of one family given for a packet of the other.
    #[error("address family differs from the packet's")]
    FamilyMismatch,
    /// The packet has no ports (or echo identifier) to rewrite: a non-first
    /// fragment, or a protocol other than TCP, UDP and ICMP echo.
    #[error("packet has no ports")]
    NoPorts,
    /// The packet is not an ICMP error quoting an IP header with ports.
    #[error("packet is not an ICMP error with a quoted flow")]
    NoQuotedFlow,
    /// The frame is not ARP.
    #[error("frame is not ARP")]
    NotArp,
    /// The frame is not an ARP request.
    #[error("frame is not an ARP request")]
    NotArpRequest,
    /// The packet is not an ICMP echo request.
    #[error("packet is not an ICMP echo request")]
    NotEchoRequest,
    /// The packet is not a neighbor solicitation that can be answered: a
    /// valid one (RFC 4861 7.1.1) from an address, not duplicate address
    /// detection.
    #[error("packet is not an answerable neighbor solicitation")]
    NotNeighborSolicitation,
    /// The checksum covers data this frame does not hold (a fragment).
    #[error("packet is a fragment; its transport checksum cannot be computed")]
    Fragmented,
    /// The TTL is 0 or 1, so forwarding must stop here.
    #[error("TTL expired")]
    TtlExpired,
    /// The frame is a super-frame, whose checksum a device completes per
    /// segment.
    #[error("frame is a super-frame awaiting segmentation")]
    SuperFrame,
}

/// Why a [`FrameRepr`](crate::FrameRepr) could not be emitted. Nothing
/// was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The buffer cannot hold the frame.
    #[error("buffer of {available} bytes is too small for a {needed}-byte frame")]
    BufferTooSmall {
        /// Length of the frame, padding included.
        needed: usize,
        /// Length of the buffer given.
        available: usize,
    },
    /// An 802.1Q VLAN identifier above 4095.
    #[error("VLAN id {0} does not fit in 12 bits")]
    BadVlanId(u16),
    /// IPv4 options whose length (given) is not a multiple of 4 up to 40.
    #[error("IPv4 options of {0} bytes: not a multiple of 4 up to 40")]
    BadIpOptions(usize),
    /// A fragment offset (given, in bytes) that is not a multiple of 8.
    #[error("fragment offset {0} is not a multiple of 8")]
    BadFragmentOffset(u16),
    /// TCP options whose length (given) is not a multiple of 4 up to 40.
    #[error("TCP options of {0} bytes: not a multiple of 4 up to 40")]
    BadTcpOptions(usize),
    /// An IP packet (IPv4: length given; IPv6: payload length given)
    /// longer than its length field can say.
    #[error("IP packet of {0} bytes is longer than 65535")]
    PacketTooLong(usize),
    /// A transport of one family over an IP header of the other (ICMP
    /// over IPv6, ICMPv6 over IPv4).
    #[error("transport header is of the other IP family")]
    WrongFamily,
}
