//! Names operators give services and backends (`name = "web"`,
//! polycubectl's `name=`): kept apart from the packet path, read only by
//! stats and the running configuration.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::ServiceKey;
use crate::Stats;

/// Each named service's and backend's name.
#[derive(Debug, Default)]
pub(super) struct Names {
    services: HashMap<ServiceKey, Box<str>>,
    backends: HashMap<(ServiceKey, SocketAddr), Box<str>>,
}

impl Names {
    /// Names the service on `key`, or unnames it with None.
    pub(super) fn set_service(&mut self, key: ServiceKey, name: Option<&str>) {
        match name {
            Some(name) => self.services.insert(key, name.into()),
            None => self.services.remove(&key),
        };
    }

    /// Names a backend of the service on `key`, or unnames it with None.
    pub(super) fn set_backend(&mut self, key: ServiceKey, target: SocketAddr, name: Option<&str>) {
        match name {
            Some(name) => self.backends.insert((key, target), name.into()),
            None => self.backends.remove(&(key, target)),
        };
    }

    /// Forgets a removed service's name and its backends'.
    pub(super) fn forget_service(&mut self, key: ServiceKey) {
        self.services.remove(&key);
        self.backends.retain(|(service, _), _| *service != key);
    }

    pub(super) fn service(&self, key: ServiceKey) -> Option<&str> {
        self.services.get(&key).map(AsRef::as_ref)
    }

    pub(super) fn backend(&self, key: ServiceKey, target: SocketAddr) -> Option<&str> {
        self.backends.get(&(key, target)).map(AsRef::as_ref)
    }

    /// Writes the names into `stats`, whose services and backends are
    /// named by key and address.
    pub(super) fn label(&self, stats: &mut Stats) {
        if self.services.is_empty() && self.backends.is_empty() {
            return;
        }
        for service in &mut stats.services {
            let Ok(key) = service.name.parse::<ServiceKey>() else {
                continue;
            };
            service.label = self.service(key).map(str::to_owned);
            for backend in &mut service.backends {
                if let Ok(target) = backend.name.parse::<SocketAddr>() {
                    backend.label = self.backend(key, target).map(str::to_owned);
                }
            }
        }
    }
}
