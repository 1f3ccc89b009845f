//! The reverse proxy's [`Control`]: each change names a service, or an
//! `all` service's three halves, which change together as Polycube
//! manages a service made with `ALL`: every half is checked first, and
//! the change applies to all of them or is refused with nothing changed.

use std::net::SocketAddr;

use super::{
    BackendAddr, BackendConfig, ReverseProxy, ReverseProxyConfig, ServiceConfig, ServiceKey,
    ServiceSelector, SrcIpRewrite,
};
use crate::{ConfigError, Control, HealthOverride};

/// Whether a change needs the backend in each half, or its absence.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    Present,
    Absent,
}

impl ReverseProxy {
    /// The halves `selected` names, each with its slot and where
    /// `backend` is in it, once every half exists and has the backend or
    /// not as `wanted`.
    fn resolve(
        &self,
        selected: ServiceSelector,
        backend: BackendAddr,
        wanted: Backend,
    ) -> Result<Vec<(ServiceKey, u32, SocketAddr)>, ConfigError> {
        selected
            .keys()
            .map(|key| {
                let slot = self.service_slot(key)?;
                let target = key.backend_endpoint(backend)?;
                let present = self.core.backends(slot).iter().any(|(t, _)| *t == target);
                match (wanted, present) {
                    (Backend::Present, false) => Err(ConfigError::unknown_backend(key, target)),
                    (Backend::Absent, true) => Err(ConfigError::duplicate_backend(key, target)),
                    _ => Ok((key, slot, target)),
                }
            })
            .collect()
    }
}

impl Control for ReverseProxy {
    type ServiceKey = ServiceSelector;
    type ServiceConfig = ServiceConfig;
    type BackendKey = BackendAddr;
    type BackendConfig = BackendConfig;
    type Config = ReverseProxyConfig;

    fn config(&self) -> Option<ReverseProxyConfig> {
        Some(ReverseProxyConfig {
            services: self.services(),
            src_ip_rewrite: self.rewrite,
            ..self.settings.clone()
        })
    }

    /// The services, as configuration (one per protocol), sorted.
    fn services(&self) -> Vec<ServiceConfig> {
        let mut services: Vec<ServiceConfig> = self
            .core
            .services
            .iter()
            .map(|(slot, service)| ServiceConfig {
                vip: service.key.vip,
                port: service.key.port,
                proto: service.key.proto.into(),
                policy: service.backends.policy(),
                maglev_table_size: service.backends.configured_table_size(),
                backends: self
                    .core
                    .backends(slot)
                    .into_iter()
                    .map(|(at, weight)| BackendConfig {
                        name: self.names.backend(service.key, at).map(str::to_owned),
                        ..BackendConfig::new(at.ip(), weight).port(at.port())
                    })
                    .collect(),
                health: service.check.clone(),
                name: self.names.service(service.key).map(str::to_owned),
                source_nat: self.source_nat.get(&service.key).copied(),
            })
            .collect();
        services.sort_by_key(|s| (s.vip, s.port, s.proto as u8));
        services
    }

    /// Adds a service (all three for `proto = "all"`). Refused, with nothing
    /// changed, if one of its keys exists or its backends are invalid.
    fn add_service(&mut self, config: &ServiceConfig) -> Result<Vec<ServiceSelector>, ConfigError> {
        if let Some(key) = config.keys().find(|key| self.core.services.contains(key)) {
            return Err(ConfigError::DuplicateService(key.to_string()));
        }
        self.check_services(core::slice::from_ref(config))?;
        // Its source against the running services' addresses and sources.
        let mut all = self.services();
        all.push(config.clone());
        self.check_source_nats(&all)?;
        self.insert_service(config)?;
        Ok(config.keys().map(ServiceSelector::from).collect())
    }

    /// Removes a service (each half of an `all` one) and ends its
    /// sessions; returns how many.
    fn remove_service(&mut self, selected: ServiceSelector) -> Result<usize, ConfigError> {
        for key in selected.keys() {
            self.service_slot(key)?;
        }
        let mut ended = 0;
        for key in selected.keys() {
            ended += self.core.remove_service(&key).unwrap_or(0);
            self.names.forget_service(key);
            self.source_nat.remove(&key);
        }
        self.services_changed();
        Ok(ended)
    }

    /// Adds a backend to a service (each half of an `all` one, the ICMP
    /// half without its port).
    fn add_backend(
        &mut self,
        selected: ServiceSelector,
        backend: &BackendConfig,
    ) -> Result<BackendAddr, ConfigError> {
        self.check_backend_address(backend)?;
        let halves = self.resolve(selected, backend.addr(), Backend::Absent)?;
        for &(key, slot, target) in &halves {
            self.core.add_backend(slot, target, backend.weight)?;
            self.names.set_backend(key, target, backend.name.as_deref());
        }
        self.services_changed();
        Ok(halves[0].2.into())
    }

    fn set_weight(
        &mut self,
        selected: ServiceSelector,
        backend: BackendAddr,
        weight: u32,
    ) -> Result<(), ConfigError> {
        for (_, slot, target) in self.resolve(selected, backend, Backend::Present)? {
            self.core.set_weight(slot, target, weight)?;
        }
        Ok(())
    }

    fn force_health(
        &mut self,
        selected: ServiceSelector,
        backend: BackendAddr,
        forced: Option<HealthOverride>,
    ) -> Result<(), ConfigError> {
        for (_, slot, target) in self.resolve(selected, backend, Backend::Present)? {
            self.core.force_health(slot, target, forced)?;
        }
        Ok(())
    }

    /// Removes a backend from a service (each half of an `all` one) and
    /// ends its sessions; returns how many. Its port defaults to the
    /// service's.
    fn remove_backend(
        &mut self,
        selected: ServiceSelector,
        backend: BackendAddr,
    ) -> Result<usize, ConfigError> {
        let mut ended = 0;
        for (key, slot, target) in self.resolve(selected, backend, Backend::Present)? {
            ended += self.core.remove_backend(slot, target)?.unwrap_or(0);
            self.names.set_backend(key, target, None);
        }
        self.services_changed();
        Ok(ended)
    }

    fn src_ip_rewrite(&self) -> Result<Option<SrcIpRewrite>, ConfigError> {
        Ok(self.rewrite)
    }

    /// Refused when a VIP, backend or the probe source is in its way.
    fn set_src_ip_rewrite(&mut self, rewrite: Option<SrcIpRewrite>) -> Result<(), ConfigError> {
        self.change_rewrite(rewrite)
    }
}
