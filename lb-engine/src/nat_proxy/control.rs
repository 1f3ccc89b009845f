//! Changing a running proxy: its destinations.

use std::net::IpAddr;

use super::{DestinationConfig, NatProxy, ProxyServiceConfig, SERVICE};
use crate::{ConfigError, Control, HealthOverride};

const ONE_SERVICE: &str = "the NAT proxy has one service, its own address";

impl NatProxy {
    /// Refuses any service but the proxy's own address.
    fn check_service(&self, ip: IpAddr) -> Result<(), ConfigError> {
        if ip == self.ip {
            Ok(())
        } else {
            Err(ConfigError::UnknownService(ip.to_string()))
        }
    }
}

impl Control for NatProxy {
    type ServiceKey = IpAddr;
    type ServiceConfig = ProxyServiceConfig;
    type BackendKey = IpAddr;
    type BackendConfig = DestinationConfig;
    /// None: it is configured by its flags.
    type Config = ();

    fn services(&self) -> Vec<ProxyServiceConfig> {
        self.core
            .services
            .iter()
            .map(|(slot, service)| ProxyServiceConfig {
                ip: service.key,
                policy: service.backends.policy(),
                destinations: self
                    .core
                    .backends(slot)
                    .into_iter()
                    .map(|(ip, weight)| DestinationConfig { ip, weight })
                    .collect(),
            })
            .collect()
    }

    fn add_service(&mut self, _: &ProxyServiceConfig) -> Result<Vec<IpAddr>, ConfigError> {
        Err(ConfigError::Unsupported(ONE_SERVICE))
    }

    fn remove_service(&mut self, _: IpAddr) -> Result<usize, ConfigError> {
        Err(ConfigError::Unsupported(ONE_SERVICE))
    }

    fn add_backend(
        &mut self,
        service: IpAddr,
        destination: &DestinationConfig,
    ) -> Result<IpAddr, ConfigError> {
        self.check_service(service)?;
        self.check_destination(destination.ip)?;
        if !self
            .core
            .add_backend(SERVICE, destination.ip, destination.weight)?
        {
            return Err(ConfigError::duplicate_backend(self.ip, destination.ip));
        }
        Ok(destination.ip)
    }

    fn set_weight(
        &mut self,
        service: IpAddr,
        destination: IpAddr,
        weight: u32,
    ) -> Result<(), ConfigError> {
        self.check_service(service)?;
        if !self.core.set_weight(SERVICE, destination, weight)? {
            return Err(ConfigError::unknown_backend(self.ip, destination));
        }
        Ok(())
    }

    fn force_health(
        &mut self,
        service: IpAddr,
        destination: IpAddr,
        forced: Option<HealthOverride>,
    ) -> Result<(), ConfigError> {
        self.check_service(service)?;
        if !self.core.force_health(SERVICE, destination, forced)? {
            return Err(ConfigError::unknown_backend(self.ip, destination));
        }
        Ok(())
    }

    /// Removes a destination and ends its sessions; returns how many.
    fn remove_backend(
        &mut self,
        service: IpAddr,
        destination: IpAddr,
    ) -> Result<usize, ConfigError> {
        self.check_service(service)?;
        self.core
            .remove_backend(SERVICE, destination)?
            .ok_or_else(|| ConfigError::unknown_backend(self.ip, destination))
    }

    fn sole_service(&self) -> Option<IpAddr> {
        Some(self.ip)
    }
}
