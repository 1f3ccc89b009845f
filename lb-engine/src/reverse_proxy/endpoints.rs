//! Which VIP endpoint a backend endpoint answers for, so that a reply
//! with no session (the table was full, or another instance saw the
//! request) is still translated back: the reverse NAT derived from the
//! backend endpoint alone, where that is unambiguous.

use std::collections::HashMap;
use std::net::SocketAddrV4;

use lb_packet::Protocol;

use super::ServiceKey;

/// Backend endpoints, each with the one VIP endpoint it serves (`None`
/// when it serves several: only a session can tell then).
#[derive(Debug, Default)]
pub(super) struct ReverseEndpoints(HashMap<(Protocol, SocketAddrV4), Option<SocketAddrV4>>);

impl ReverseEndpoints {
    /// The map of `services`, each with its backends' endpoints.
    pub(super) fn build<'a>(
        services: impl IntoIterator<Item = (ServiceKey, Vec<SocketAddrV4>)> + 'a,
    ) -> Self {
        let mut map = HashMap::new();
        for (key, backends) in services {
            if key.proto == Protocol::Icmp {
                continue;
            }
            let vip = SocketAddrV4::new(key.vip, key.port);
            for backend in backends {
                map.entry((key.proto, backend))
                    .and_modify(|served: &mut Option<SocketAddrV4>| {
                        if *served != Some(vip) {
                            *served = None;
                        }
                    })
                    .or_insert(Some(vip));
            }
        }
        ReverseEndpoints(map)
    }

    /// True when `backend` is the endpoint of some service's backend.
    pub(super) fn serves(&self, proto: Protocol, backend: SocketAddrV4) -> bool {
        self.0.contains_key(&(proto, backend))
    }

    /// The VIP endpoint replies from `backend` come from, if only one.
    #[inline]
    pub(super) fn vip_of(&self, proto: Protocol, backend: SocketAddrV4) -> Option<SocketAddrV4> {
        *self.0.get(&(proto, backend))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn shared_endpoints_are_ambiguous() {
        let backend = SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, 2), 8080);
        let other = SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, 3), 8080);
        let vip = Ipv4Addr::new(10, 0, 0, 1);
        let map = ReverseEndpoints::build([
            (
                ServiceKey::new(vip, Protocol::Tcp, 80),
                vec![backend, other],
            ),
            (ServiceKey::new(vip, Protocol::Tcp, 81), vec![other]),
            (ServiceKey::new(vip, Protocol::Udp, 80), vec![backend]),
        ]);
        assert_eq!(
            map.vip_of(Protocol::Tcp, backend),
            Some(SocketAddrV4::new(vip, 80))
        );
        assert_eq!(map.vip_of(Protocol::Tcp, other), None, "in two services");
        assert_eq!(
            map.vip_of(Protocol::Udp, backend),
            Some(SocketAddrV4::new(vip, 80))
        );
        assert_eq!(map.vip_of(Protocol::Udp, other), None);
    }
}
