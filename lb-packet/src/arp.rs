//! Read-only view of an ARP packet (IPv4 over Ethernet).

use std::net::Ipv4Addr;

use crate::MacAddr;
use crate::layout::be16;
use crate::wire::arp;

/// ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpOp {
    /// Who has `target_ip`? (1)
    Request,
    /// `sender_ip` is at `sender_mac` (2).
    Reply,
    /// Any other operation code.
    Other(u16),
}

impl ArpOp {
    fn from_code(code: u16) -> Self {
        match code {
            arp::OP_REQUEST => ArpOp::Request,
            arp::OP_REPLY => ArpOp::Reply,
            other => ArpOp::Other(other),
        }
    }

    /// The operation code on the wire.
    pub(crate) fn code(self) -> u16 {
        match self {
            ArpOp::Request => arp::OP_REQUEST,
            ArpOp::Reply => arp::OP_REPLY,
            ArpOp::Other(code) => code,
        }
    }
}

/// An ARP packet inside a parsed [`Frame`](crate::Frame).
///
/// Invariant: `bytes` holds at least the 28 bytes of an IPv4-over-Ethernet
/// ARP packet, so no accessor can fail.
#[derive(Debug, Clone, Copy)]
pub struct ArpView<'a> {
    bytes: &'a [u8; arp::LEN],
}

impl<'a> ArpView<'a> {
    pub(crate) fn new(bytes: &'a [u8; arp::LEN]) -> Self {
        ArpView { bytes }
    }

    /// The operation.
    pub fn op(&self) -> ArpOp {
        ArpOp::from_code(be16(self.bytes, arp::OPERATION))
    }

    /// Sender hardware address.
    pub fn sender_mac(&self) -> MacAddr {
        MacAddr(mac_at(self.bytes, arp::SENDER_MAC))
    }

    /// Sender protocol address.
    pub fn sender_ip(&self) -> Ipv4Addr {
        ip_at(self.bytes, arp::SENDER_IP)
    }

    /// Target hardware address (zero in a request).
    pub fn target_mac(&self) -> MacAddr {
        MacAddr(mac_at(self.bytes, arp::TARGET_MAC))
    }

    /// Target protocol address.
    pub fn target_ip(&self) -> Ipv4Addr {
        ip_at(self.bytes, arp::TARGET_IP)
    }
}

fn mac_at(bytes: &[u8; arp::LEN], at: usize) -> [u8; 6] {
    let mut mac = [0; 6];
    mac.copy_from_slice(&bytes[at..at + 6]);
    mac
}

fn ip_at(bytes: &[u8; arp::LEN], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3])
}
