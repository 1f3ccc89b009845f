//! Which VIP endpoint a backend endpoint answers for, so that a reply
//! with no session (the table was full, or another instance saw the
//! request) is still translated back: the reverse NAT derived from the
//! backend endpoint alone, where that is unambiguous.

use std::collections::HashMap;
use std::net::SocketAddr;

use lb_packet::Protocol;

use super::ServiceKey;

/// A backend endpoint that several VIP endpoints share: a reply from it
/// without a session cannot say which VIP to come from, so it goes on
/// untranslated. Behind ECMP its replies must then come back through the
/// instance that forwarded the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedBackend {
    /// Its protocol.
    pub proto: Protocol,
    /// The backend endpoint.
    pub backend: SocketAddr,
    /// The VIP endpoints it serves, sorted.
    pub vips: Vec<SocketAddr>,
}

/// Backend endpoints, each with the one VIP endpoint it serves (`None`
/// when it serves several: only a session can tell then), and those
/// shared.
#[derive(Debug, Default)]
pub(super) struct ReverseEndpoints {
    map: HashMap<(Protocol, SocketAddr), Option<SocketAddr>>,
    shared: Vec<SharedBackend>,
}

impl ReverseEndpoints {
    /// The map of `services`, each with its backends' endpoints.
    pub(super) fn build<'a>(
        services: impl IntoIterator<Item = (ServiceKey, Vec<SocketAddr>)> + 'a,
    ) -> Self {
        let mut served: HashMap<(Protocol, SocketAddr), Vec<SocketAddr>> = HashMap::new();
        for (key, backends) in services {
            if key.proto == Protocol::Icmp {
                continue;
            }
            let vip = SocketAddr::new(key.vip, key.port);
            for backend in backends {
                let vips = served.entry((key.proto, backend)).or_default();
                if !vips.contains(&vip) {
                    vips.push(vip);
                }
            }
        }
        let mut shared: Vec<SharedBackend> = served
            .iter()
            .filter(|(_, vips)| vips.len() > 1)
            .map(|(&(proto, backend), vips)| {
                let mut vips = vips.clone();
                vips.sort_unstable();
                SharedBackend {
                    proto,
                    backend,
                    vips,
                }
            })
            .collect();
        shared.sort_unstable_by_key(|s| (s.backend, s.proto));
        let map = served
            .into_iter()
            .map(|(endpoint, vips)| (endpoint, (vips.len() == 1).then(|| vips[0])))
            .collect();
        ReverseEndpoints { map, shared }
    }

    /// The backend endpoints several VIP endpoints share.
    pub(super) fn shared(&self) -> &[SharedBackend] {
        &self.shared
    }

    /// True when `backend` is the endpoint of some service's backend.
    pub(super) fn serves(&self, proto: Protocol, backend: SocketAddr) -> bool {
        self.map.contains_key(&(proto, backend))
    }

    /// The VIP endpoint replies from `backend` come from, if only one.
    #[inline]
    pub(super) fn vip_of(&self, proto: Protocol, backend: SocketAddr) -> Option<SocketAddr> {
        *self.map.get(&(proto, backend))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn shared_endpoints_are_ambiguous() {
        let backend = SocketAddr::new(Ipv4Addr::new(192, 168, 1, 2).into(), 8080);
        let other = SocketAddr::new(Ipv4Addr::new(192, 168, 1, 3).into(), 8080);
        let vip = Ipv4Addr::new(10, 0, 0, 1).into();
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
            Some(SocketAddr::new(vip, 80))
        );
        assert_eq!(map.vip_of(Protocol::Tcp, other), None, "in two services");
        assert_eq!(
            map.vip_of(Protocol::Udp, backend),
            Some(SocketAddr::new(vip, 80))
        );
        assert_eq!(map.vip_of(Protocol::Udp, other), None);
        assert_eq!(
            map.shared(),
            [SharedBackend {
                proto: Protocol::Tcp,
                backend: other,
                vips: vec![SocketAddr::new(vip, 80), SocketAddr::new(vip, 81)],
            }]
        );
    }
}
