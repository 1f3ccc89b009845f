//! The direct-return engine's frontend at run time (Polycube lbdsr's
//! `frontend set mac=` and `algorithm`): the MAC it answers for its VIPs
//! with, announced at once, and the selection policy, reshaped in place.

use std::collections::VecDeque;
use std::net::IpAddr;

use lb_algos::Policy;
use lb_packet::MacAddr;
use serde::{Deserialize, Serialize};

use super::{DirectReturn, FRONTEND_PORT, SERVICE};
use crate::core::unicast;
use crate::{ConfigError, PortId};

/// What the frontend is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrontendView {
    /// The MAC it answers ARP and neighbor solicitations for its VIPs with.
    pub mac: MacAddr,
    /// The MAC frames to servers come from.
    pub backend_port_mac: MacAddr,
    /// How new flows pick a server.
    pub algorithm: Policy,
}

/// A change to the frontend; what it leaves out stays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontendChange {
    /// A new MAC for the VIPs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    /// A new selection policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<Policy>,
}

/// Announcements of a new MAC waiting to go out: a gratuitous ARP per IPv4
/// VIP, an unsolicited advertisement per IPv6 one.
#[derive(Debug, Default)]
pub(super) struct Announcements {
    queue: VecDeque<Vec<u8>>,
}

impl Announcements {
    /// Queues the announcement that each of `vips` is at `mac`.
    fn announce(&mut self, vips: &[IpAddr], mac: MacAddr) {
        self.queue.clear();
        for vip in vips {
            let frame = match vip {
                IpAddr::V4(v4) => lb_packet::arp_request(mac, *v4, *v4).to_vec(),
                IpAddr::V6(v6) => lb_packet::unsolicited_advertisement(mac, *v6).to_vec(),
            };
            self.queue.push_back(frame);
        }
    }

    /// The next one, written into `buffer`; the port it goes out of.
    pub(super) fn pop_into(&mut self, buffer: &mut Vec<u8>) -> Option<PortId> {
        let frame = self.queue.pop_front()?;
        buffer.clear();
        buffer.extend_from_slice(&frame);
        Some(FRONTEND_PORT)
    }
}

impl DirectReturn {
    /// The frontend as it is.
    pub(super) fn frontend_view(&self) -> FrontendView {
        let algorithm = self
            .core
            .services
            .get(SERVICE)
            .map_or(Policy::default(), |service| service.backends.policy());
        FrontendView {
            mac: self.mac,
            backend_port_mac: self.backend_port_mac,
            algorithm,
        }
    }

    /// Applies `change`, checked whole first. A new MAC is announced for
    /// every VIP, and the backend port's follows it unless it was set
    /// apart. A new algorithm moves no live session (the table is asked
    /// first); new flows, and flows the table has no room for, follow it.
    pub(super) fn change_frontend(
        &mut self,
        change: &FrontendChange,
    ) -> Result<FrontendView, ConfigError> {
        let mac = change.mac.map(unicast).transpose()?;
        if let Some(policy) = change.algorithm {
            let selector = self.core.selector;
            let table_size = self.core.table_size(None);
            if let Some(service) = self.core.services.get_mut(SERVICE) {
                let pool = &mut service.backends;
                if pool.policy() != policy {
                    pool.reshape(policy, table_size, &selector)?;
                }
            }
        }
        if let Some(mac) = mac.filter(|mac| *mac != self.mac) {
            if self.backend_port_mac == self.mac {
                self.backend_port_mac = mac;
            }
            self.mac = mac;
            let vips = self.vips().to_vec();
            self.announcements.announce(&vips, mac);
        }
        Ok(self.frontend_view())
    }
}
