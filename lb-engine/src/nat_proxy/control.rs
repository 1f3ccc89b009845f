//! Changing a running proxy: its destinations.

use std::net::Ipv4Addr;

use super::{DestinationConfig, NatProxy, ProxyServiceConfig, SERVICE};
use crate::{ConfigError, Control};

const ONE_SERVICE: &str = "the NAT proxy has one service, its own address";

impl NatProxy {
    fn has_destination(&self, addr: Ipv4Addr) -> bool {
        self.core
            .services
            .get(SERVICE)
            .is_some_and(|service| service.backends.find(addr).is_some())
    }

    /// Refuses any service but the proxy's own address.
    fn check_service(&self, ip: Ipv4Addr) -> Result<(), ConfigError> {
        if ip == self.ip {
            Ok(())
        } else {
            Err(ConfigError::UnknownService(ip.to_string()))
        }
    }

    fn unknown_destination(&self, addr: Ipv4Addr) -> ConfigError {
        ConfigError::UnknownBackend {
            service: self.ip.to_string(),
            backend: addr.to_string(),
        }
    }
}

impl Control for NatProxy {
    type ServiceKey = Ipv4Addr;
    type ServiceConfig = ProxyServiceConfig;
    type BackendKey = Ipv4Addr;
    type BackendConfig = DestinationConfig;

    fn services(&self) -> Vec<ProxyServiceConfig> {
        self.core
            .services
            .iter()
            .map(|(_, service)| ProxyServiceConfig {
                ip: service.key,
                policy: service.backends.policy(),
                destinations: service
                    .backends
                    .members()
                    .map(|(_, d)| DestinationConfig {
                        ip: d.target,
                        weight: d.weight,
                    })
                    .collect(),
            })
            .collect()
    }

    fn add_service(&mut self, _: &ProxyServiceConfig) -> Result<Vec<Ipv4Addr>, ConfigError> {
        Err(ConfigError::Unsupported(ONE_SERVICE))
    }

    fn remove_service(&mut self, _: Ipv4Addr) -> Result<usize, ConfigError> {
        Err(ConfigError::Unsupported(ONE_SERVICE))
    }

    fn add_backend(
        &mut self,
        service: Ipv4Addr,
        destination: &DestinationConfig,
    ) -> Result<Ipv4Addr, ConfigError> {
        self.check_service(service)?;
        self.check_destination(destination.ip)?;
        if self.has_destination(destination.ip) {
            return Err(ConfigError::DuplicateBackend {
                service: self.ip.to_string(),
                backend: destination.ip.to_string(),
            });
        }
        self.core
            .upsert_backend(SERVICE, destination.ip, destination.weight)?;
        Ok(destination.ip)
    }

    fn set_weight(
        &mut self,
        service: Ipv4Addr,
        destination: Ipv4Addr,
        weight: u32,
    ) -> Result<(), ConfigError> {
        self.check_service(service)?;
        if !self.has_destination(destination) {
            return Err(self.unknown_destination(destination));
        }
        self.core.upsert_backend(SERVICE, destination, weight)
    }

    /// Removes a destination and ends its sessions; returns how many.
    fn remove_backend(
        &mut self,
        service: Ipv4Addr,
        destination: Ipv4Addr,
    ) -> Result<usize, ConfigError> {
        self.check_service(service)?;
        let unknown = self.unknown_destination(destination);
        self.core
            .remove_backend(SERVICE, destination)?
            .ok_or(unknown)
    }

    fn sole_service(&self) -> Option<Ipv4Addr> {
        Some(self.ip)
    }
}
