//! Changing a running reverse proxy: services, backends, weights, and a
//! whole new service list (a configuration reload).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};

use lb_algos::Policy;
use lb_packet::Protocol;

use super::config::check_name;
use super::{BackendConfig, ReverseProxy, ServiceConfig, ServiceKey, ServiceProtocol};
use crate::core::backend_pool::BackendPool;
use crate::core::unicast_address;
use crate::{ConfigError, Control, HealthCheck, ProbeKind};

/// The check a service's half on `key` runs: the service's, with the
/// service's port for the ICMP half of an `all` service.
fn check_for(key: ServiceKey, config: &ServiceConfig) -> Option<HealthCheck> {
    let mut check = config.health.clone()?;
    if key.proto == Protocol::Icmp && check.kind != ProbeKind::Icmp && check.port.is_none() {
        check.port = Some(config.port);
    }
    Some(check)
}

/// Refuses a check whose kind cannot probe the service's protocol.
fn check_fits(config: &ServiceConfig) -> Result<(), ConfigError> {
    let Some(check) = &config.health else {
        return Ok(());
    };
    let fits = match (check.kind, config.proto) {
        (ProbeKind::Icmp, _) | (_, ServiceProtocol::All) => true,
        (ProbeKind::Tcp | ProbeKind::Http, ServiceProtocol::Tcp) => true,
        (ProbeKind::Udp, ServiceProtocol::Udp) => true,
        (_, ServiceProtocol::Icmp) => check.port.is_some(),
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(ConfigError::Health(
            "the check's kind does not fit the service's protocol (tcp and http for tcp, udp for udp, icmp for any; others on an icmp service need a port)",
        ))
    }
}

impl ReverseProxy {
    /// Checks a whole service list, alone and against itself, backend
    /// pools included: what a change must pass before it touches anything.
    pub(super) fn check_services(&self, services: &[ServiceConfig]) -> Result<(), ConfigError> {
        self.check_services_but_pools(services)?;
        for service in services {
            for key in service.keys() {
                self.pool(key, service)?;
            }
        }
        Ok(())
    }

    /// [`check_services`](Self::check_services) but for building each pool,
    /// for a new engine, which builds them next (and is dropped if one
    /// fails).
    pub(super) fn check_services_but_pools(
        &self,
        services: &[ServiceConfig],
    ) -> Result<(), ConfigError> {
        let mut seen = HashSet::new();
        let vips: HashSet<IpAddr> = services.iter().map(|s| s.vip).collect();
        self.check_source_nats(services)?;
        for service in services {
            unicast_address("VIP", service.vip)?;
            self.check_rewritten_vip(service.vip)?;
            service.name.as_deref().map_or(Ok(()), check_name)?;
            for backend in &service.backends {
                unicast_address("backend", backend.ip)?;
                backend.name.as_deref().map_or(Ok(()), check_name)?;
                self.check_rewritten("backend", backend.ip)?;
                if vips.contains(&backend.ip) {
                    return Err(ConfigError::Address {
                        what: "backend",
                        addr: backend.ip,
                        why: "is a VIP: its replies would be taken for clients' requests",
                    });
                }
            }
            for key in service.keys() {
                if service.maglev_table_size.is_some() && service.policy != Policy::Maglev {
                    return Err(ConfigError::TableSizeWithoutMaglev(key));
                }
                if !seen.insert(key) {
                    return Err(ConfigError::DuplicateService(key.to_string()));
                }
                if key.port == 0 && key.proto != Protocol::Icmp {
                    return Err(ConfigError::ZeroPort(key));
                }
            }
            let backends = service.backends.iter().map(|backend| backend.ip);
            self.core.check_probe(service.health.as_ref(), backends)?;
            check_fits(service)?;
        }
        Ok(())
    }

    /// The backends of `service` as served on `key`.
    fn pool(
        &self,
        key: ServiceKey,
        service: &ServiceConfig,
    ) -> Result<BackendPool<SocketAddr>, ConfigError> {
        let mut seen = HashSet::new();
        let mut targets = Vec::with_capacity(service.backends.len());
        for backend in &service.backends {
            let target = key.backend_endpoint(backend.addr())?;
            if !seen.insert(target) {
                return Err(ConfigError::duplicate_backend(key, target));
            }
            targets.push((target, backend.weight));
        }
        self.core
            .pool(service.policy, targets, service.maglev_table_size)
    }

    /// Adds an already checked service (all three for `proto = "all"`).
    pub(super) fn insert_service(&mut self, config: &ServiceConfig) -> Result<(), ConfigError> {
        self.insert_pools(config)?;
        self.services_changed();
        Ok(())
    }

    /// [`insert_service`](Self::insert_service) but for refreshing what
    /// follows from the services, for a caller adding many.
    pub(super) fn insert_pools(&mut self, config: &ServiceConfig) -> Result<(), ConfigError> {
        for key in config.keys() {
            let backends = self.pool(key, config)?;
            self.core
                .services
                .insert(key, backends, check_for(key, config));
            self.names.set_service(key, config.name.as_deref());
            match config.source_nat {
                Some(nat) => self.source_nat.insert(key, nat),
                None => self.source_nat.remove(&key),
            };
            for backend in &config.backends {
                let target = key.backend_endpoint(backend.addr())?;
                self.names.set_backend(key, target, backend.name.as_deref());
            }
        }
        Ok(())
    }

    /// Refuses a backend address no host can have, or one of our VIPs,
    /// and a name that cannot be one.
    pub(super) fn check_backend_address(&self, backend: &BackendConfig) -> Result<(), ConfigError> {
        backend.name.as_deref().map_or(Ok(()), check_name)?;
        let ip = backend.ip;
        unicast_address("backend", ip)?;
        self.check_rewritten("backend", ip)?;
        if self.is_source_nat(ip) {
            return Err(ConfigError::Address {
                what: "backend",
                addr: ip,
                why: "is a source_nat address",
            });
        }
        if self.is_vip(ip) {
            return Err(ConfigError::Address {
                what: "backend",
                addr: ip,
                why: "is a VIP: its replies would be taken for clients' requests",
            });
        }
        Ok(())
    }

    /// The slot of the service under `key`.
    pub(super) fn service_slot(&self, key: ServiceKey) -> Result<u32, ConfigError> {
        self.core
            .services
            .slot(&key)
            .ok_or_else(|| ConfigError::UnknownService(key.to_string()))
    }

    /// Adds a backend to a service, or sets the weight of one it has (0
    /// drains it: its sessions stay, it gets no new flows).
    pub fn set_backend(
        &mut self,
        key: ServiceKey,
        backend: &BackendConfig,
    ) -> Result<(), ConfigError> {
        self.check_backend_address(backend)?;
        let target = key.backend_endpoint(backend.addr())?;
        let slot = self.service_slot(key)?;
        let check = self.core.services.get(slot).and_then(|s| s.check.as_ref());
        self.core.check_probe(check, [backend.ip])?;
        self.core.upsert_backend(slot, target, backend.weight)?;
        self.names.set_backend(key, target, backend.name.as_deref());
        self.services_changed();
        Ok(())
    }

    /// Replaces the whole service list by `services`, as a configuration
    /// reload does: services and backends that remain keep their sessions
    /// and counters; the others end theirs. All or nothing.
    pub fn replace_services(&mut self, services: &[ServiceConfig]) -> Result<(), ConfigError> {
        self.check_services(services)?;
        let wanted: HashMap<ServiceKey, &ServiceConfig> = services
            .iter()
            .flat_map(|s| s.keys().map(move |key| (key, s)))
            .collect();
        let gone: Vec<ServiceKey> = self
            .core
            .services
            .keys()
            .filter(|key| !wanted.contains_key(key))
            .copied()
            .collect();
        for key in gone {
            self.remove_service(key.into())?;
        }
        for (&key, config) in &wanted {
            if self.core.services.contains(&key)
                && self.source_nat.get(&key) != config.source_nat.as_ref()
            {
                // Its sessions hold ports of the old source: it starts anew.
                self.remove_service(key.into())?;
            }
            let Some(slot) = self.core.services.slot(&key) else {
                let single = ServiceConfig {
                    proto: key.proto.into(),
                    ..(*config).clone()
                };
                self.insert_service(&single)?;
                continue;
            };
            let keep: Vec<SocketAddr> = config
                .backends
                .iter()
                .map(|b| key.backend_endpoint(b.addr()))
                .collect::<Result<_, _>>()?;
            let current = self.core.backends(slot);
            for (target, _) in current.into_iter().filter(|(t, _)| !keep.contains(t)) {
                self.core.remove_backend(slot, target)?;
                self.names.set_backend(key, target, None);
            }
            for backend in &config.backends {
                self.set_backend(key, backend)?;
            }
            self.names.set_service(key, config.name.as_deref());
            let selector = self.core.selector;
            let table_size = self.core.table_size(config.maglev_table_size);
            if let Some(service) = self.core.services.get_mut(slot) {
                let pool = &mut service.backends;
                if (pool.policy(), pool.configured_table_size()) != (config.policy, table_size) {
                    pool.reshape(config.policy, table_size, &selector)?;
                }
                service.check = check_for(key, config);
            }
        }
        self.services_changed();
        Ok(())
    }
}
