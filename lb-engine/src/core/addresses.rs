//! The addresses an engine accepts in its configuration, and the frames
//! that resolve them.

use std::net::IpAddr;

use lb_packet::{Frame, MacAddr};

use crate::ConfigError;

/// Refuses an address no host can have: unspecified, broadcast, multicast.
pub(crate) fn unicast_address(what: &'static str, addr: IpAddr) -> Result<(), ConfigError> {
    let why = if addr.is_unspecified() && addr.is_ipv4() {
        "is unspecified (0.0.0.0)"
    } else if addr.is_unspecified() {
        "is unspecified (::)"
    } else if matches!(addr, IpAddr::V4(v4) if v4.is_broadcast()) {
        "is the broadcast address"
    } else if addr.is_multicast() {
        "is a multicast address"
    } else {
        return Ok(());
    };
    Err(ConfigError::Address { what, addr, why })
}

/// Refuses an address of the other family than `reference`: a service's
/// backends, a proxy's destinations and gateway are of its address's family.
pub(crate) fn same_family(
    what: &'static str,
    addr: IpAddr,
    reference: IpAddr,
) -> Result<(), ConfigError> {
    if addr.is_ipv4() == reference.is_ipv4() {
        return Ok(());
    }
    let why = if addr.is_ipv6() {
        "is IPv6 where IPv4 is needed"
    } else {
        "is IPv4 where IPv6 is needed"
    };
    Err(ConfigError::Address { what, addr, why })
}

/// True for a neighbor solicitation or advertisement: IPv6's ARP.
pub(crate) fn is_neighbor_discovery<T: AsRef<[u8]>>(frame: &Frame<T>) -> bool {
    frame.neighbor_solicitation().is_some() || frame.neighbor_advertisement().is_some()
}

/// Refuses a MAC an engine would answer with or send to that is not unicast.
pub(crate) fn unicast(mac: MacAddr) -> Result<MacAddr, ConfigError> {
    if mac.is_multicast() {
        Err(ConfigError::NotUnicast(mac))
    } else {
        Ok(mac)
    }
}
