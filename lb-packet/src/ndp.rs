//! Neighbor discovery (RFC 4861), IPv6's ARP: reading solicitations and
//! advertisements, answering a solicitation in place, and the solicitation
//! a host multicasts to resolve a next hop.

use std::net::Ipv6Addr;

use crate::error::RewriteError;
use crate::frame::Frame;
use crate::layout::{IpLayout, Layout, Transport, array_at};
use crate::wire::{ethernet, icmp, icmpv6, ipv6, ndp};
use crate::{EthernetRepr, FrameRepr, Icmpv6Repr, Ipv6Repr, MacAddr};

/// Length of the frame [`neighbor_solicitation`] builds: Ethernet, IPv6,
/// the solicitation and its source MAC option.
pub const NEIGHBOR_SOLICITATION_FRAME_LEN: usize =
    ethernet::HEADER_LEN + ipv6::HEADER_LEN + ndp::OPTIONS + ndp::MAC_OPTION_LEN;

/// A neighbor solicitation, as [`Frame::neighbor_solicitation`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborSolicitation {
    /// The address asked about.
    pub target: Ipv6Addr,
    /// The asker's address (`::` during duplicate address detection).
    pub source: Ipv6Addr,
    /// The asker's MAC, from its source link-layer address option.
    pub source_mac: Option<MacAddr>,
}

/// A neighbor advertisement, as [`Frame::neighbor_advertisement`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborAdvertisement {
    /// The address told about.
    pub target: Ipv6Addr,
    /// Its MAC, from the target link-layer address option.
    pub target_mac: Option<MacAddr>,
    /// The S flag: an answer to a solicitation.
    pub solicited: bool,
    /// The O flag: replace a cached link-layer address.
    pub overrides: bool,
}

/// `ff02::1:ffXX:XXXX`, the solicited-node multicast group of `addr`,
/// where solicitations for it are sent.
pub const fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let [.., a, b, c] = addr.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | a as u16,
        (b as u16) << 8 | c as u16,
    )
}

/// A neighbor solicitation from `sender` asking for `target`'s MAC, sent to
/// the target's solicited-node group with the sender's MAC as an option.
pub fn neighbor_solicitation(
    sender_mac: MacAddr,
    sender_ip: Ipv6Addr,
    target: Ipv6Addr,
) -> [u8; NEIGHBOR_SOLICITATION_FRAME_LEN] {
    let group = solicited_node(target);
    let request = FrameRepr::ipv6(
        EthernetRepr::new(sender_mac, MacAddr::ipv6_multicast_of(group)),
        Ipv6Repr {
            hop_limit: ndp::HOP_LIMIT,
            ..Ipv6Repr::new(sender_ip, group)
        },
        Icmpv6Repr::NeighborSolicitation {
            target,
            source_mac: Some(sender_mac),
        },
        b"",
    );
    let mut frame = [0; NEIGHBOR_SOLICITATION_FRAME_LEN];
    // An untagged solicitation with one option is exactly this long.
    let written = request.emit(&mut frame);
    debug_assert_eq!(written, Ok(NEIGHBOR_SOLICITATION_FRAME_LEN));
    frame
}

/// An unsolicited neighbor advertisement that `target` is now at `mac`,
/// to all nodes (`ff02::1`), overriding what they cached (RFC 4861 7.2.6):
/// IPv6's gratuitous ARP.
pub fn unsolicited_advertisement(
    mac: MacAddr,
    target: Ipv6Addr,
) -> [u8; NEIGHBOR_SOLICITATION_FRAME_LEN] {
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let advertisement = FrameRepr::ipv6(
        EthernetRepr::new(mac, MacAddr::ipv6_multicast_of(all_nodes)),
        Ipv6Repr {
            hop_limit: ndp::HOP_LIMIT,
            ..Ipv6Repr::new(target, all_nodes)
        },
        Icmpv6Repr::NeighborAdvertisement {
            target,
            router: false,
            solicited: false,
            overrides: true,
            target_mac: Some(mac),
        },
        b"",
    );
    let mut frame = [0; NEIGHBOR_SOLICITATION_FRAME_LEN];
    // An advertisement with one option is as long as such a solicitation.
    let written = advertisement.emit(&mut frame);
    debug_assert_eq!(written, Ok(NEIGHBOR_SOLICITATION_FRAME_LEN));
    frame
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// The NDP message of `icmp_type` in this frame, valid as RFC 4861
    /// 7.1 asks (hop limit 255, code 0, whole, no extension headers, every
    /// option of non-zero length): its layout and the MAC from its
    /// link-layer option of `option`, if any.
    fn ndp_message(&self, icmp_type: u8, option: u8) -> Option<(IpLayout, Option<MacAddr>)> {
        let ip = self.layout.ipv6_layout()?;
        let l3 = self.layout.l3();
        let bytes = self.as_bytes();
        let message = &bytes[ip.l4..ip.end];
        let valid = ip.transport == Transport::IcmpOther
            && ip.l4 == l3 + ipv6::HEADER_LEN
            && bytes[l3 + ipv6::HOP_LIMIT] == ndp::HOP_LIMIT
            && message.len() >= ndp::OPTIONS
            && message[icmp::TYPE] == icmp_type
            && message[icmp::CODE] == 0;
        if !valid {
            return None;
        }
        let mut mac = None;
        let mut options = &message[ndp::OPTIONS..];
        while let [kind, units, ..] = *options {
            let len = usize::from(units) * 8;
            if len == 0 || len > options.len() {
                return None;
            }
            if kind == option && len == ndp::MAC_OPTION_LEN {
                mac = Some(MacAddr(array_at(options, 2)));
            }
            options = &options[len..];
        }
        Some((ip, mac))
    }

    /// The neighbor solicitation this frame carries, if it is a valid one.
    pub fn neighbor_solicitation(&self) -> Option<NeighborSolicitation> {
        let (ip, source_mac) =
            self.ndp_message(icmpv6::NEIGHBOR_SOLICITATION, ndp::OPTION_SOURCE_MAC)?;
        let target = Ipv6Addr::from(array_at::<16>(self.as_bytes(), ip.l4 + ndp::TARGET));
        let source = self.ipv6()?.src();
        // From `::` (duplicate address detection) no option may come.
        if target.is_multicast() || (source.is_unspecified() && source_mac.is_some()) {
            return None;
        }
        Some(NeighborSolicitation {
            target,
            source,
            source_mac,
        })
    }

    /// The neighbor advertisement this frame carries, if it is a valid one.
    pub fn neighbor_advertisement(&self) -> Option<NeighborAdvertisement> {
        let (ip, target_mac) =
            self.ndp_message(icmpv6::NEIGHBOR_ADVERTISEMENT, ndp::OPTION_TARGET_MAC)?;
        let bytes = self.as_bytes();
        let target = Ipv6Addr::from(array_at::<16>(bytes, ip.l4 + ndp::TARGET));
        let flags = bytes[ip.l4 + ndp::FLAGS];
        (!target.is_multicast()).then_some(NeighborAdvertisement {
            target,
            target_mac,
            solicited: flags & ndp::SOLICITED != 0,
            overrides: flags & ndp::OVERRIDE != 0,
        })
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Turns a neighbor solicitation into the solicited advertisement
    /// saying its target is at `mac`, addressed back to the asker (as
    /// [`make_arp_reply`](Self::make_arp_reply) does for ARP). The caller
    /// decides whether the target is an address it answers for.
    ///
    /// The advertisement carries `mac` as an option when the frame has
    /// room, which a solicitation with its own MAC option always leaves;
    /// a unicast one without (RFC 4861 7.2.4 allows the option to be left
    /// out then) is answered without. Duplicate address detection (from
    /// `::`) is refused: the load balancer does not defend addresses.
    pub fn make_neighbor_advertisement(&mut self, mac: MacAddr) -> Result<(), RewriteError> {
        let solicitation = self
            .neighbor_solicitation()
            .filter(|solicitation| !solicitation.source.is_unspecified())
            .ok_or(RewriteError::NotNeighborSolicitation)?;
        let asker_mac = solicitation.source_mac.unwrap_or(self.src_mac());
        let l3 = self.layout.l3();
        let l4 = l3 + ipv6::HEADER_LEN;
        let room = self.as_bytes().len() - l4;
        let advertisement = Icmpv6Repr::NeighborAdvertisement {
            target: solicitation.target,
            router: false,
            solicited: true,
            overrides: true,
            target_mac: (room >= ndp::OPTIONS + ndp::MAC_OPTION_LEN).then_some(mac),
        };
        let reply = FrameRepr::ipv6(
            EthernetRepr {
                vlan_id: self.vlan_id(),
                ..EthernetRepr::new(mac, asker_mac)
            },
            Ipv6Repr {
                hop_limit: ndp::HOP_LIMIT,
                traffic_class: 0,
                flow_label: 0,
                ..Ipv6Repr::new(solicitation.target, solicitation.source)
            },
            advertisement,
            b"",
        );
        // Written over the solicitation: it is no longer than the frame
        // (the option only when there is room), and the headers before it
        // are as long. What is left of the solicitation is zeroed, padding.
        let bytes = self.as_bytes_mut();
        let len = reply
            .emit(bytes)
            .map_err(|_| RewriteError::NotNeighborSolicitation)?;
        bytes[len..].fill(0);
        // It parses, being built whole; were it not to, the old offsets
        // would still lie within the buffer, whose length is unchanged.
        if let Ok(layout) = Layout::parse(self.as_bytes()) {
            self.layout = layout;
        }
        Ok(())
    }
}
