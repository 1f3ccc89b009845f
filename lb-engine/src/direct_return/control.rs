//! Changing a running direct-return engine: its VIPs and its servers.

use std::net::IpAddr;

use lb_packet::MacAddr;

use super::{
    DirectReturn, DsrBackendConfig, DsrServiceConfig, FrontendChange, FrontendView, SERVICE,
    VipList,
};
use crate::core::unicast;
use crate::{ConfigError, Control, HealthOverride};

const ONE_SERVICE: &str =
    "the direct-return load balancer has one service: change its VIPs with /vips";

impl DirectReturn {
    /// Adds a server, or sets the weight of one (0 drains it).
    pub fn set_backend(&mut self, backend: DsrBackendConfig) -> Result<(), ConfigError> {
        unicast(backend.mac)?;
        self.core
            .upsert_backend(SERVICE, backend.mac, backend.weight)
    }

    /// Refuses any service but the one there is.
    fn check_service(&self, vips: &VipList) -> Result<(), ConfigError> {
        match self.sole_service() {
            Some(ours) if ours == *vips => Ok(()),
            _ => Err(ConfigError::UnknownService(vips.to_string())),
        }
    }
}

impl Control for DirectReturn {
    type ServiceKey = VipList;
    type ServiceConfig = DsrServiceConfig;
    type BackendKey = MacAddr;
    type BackendConfig = DsrBackendConfig;
    /// None: it is configured by its flags.
    type Config = ();

    fn services(&self) -> Vec<DsrServiceConfig> {
        self.core
            .services
            .iter()
            .map(|(slot, service)| DsrServiceConfig {
                vips: service.key.clone(),
                policy: service.backends.policy(),
                backends: self
                    .core
                    .backends(slot)
                    .into_iter()
                    .map(|(mac, weight)| DsrBackendConfig { mac, weight })
                    .collect(),
            })
            .collect()
    }

    fn add_service(&mut self, _: &DsrServiceConfig) -> Result<Vec<VipList>, ConfigError> {
        Err(ConfigError::Unsupported(ONE_SERVICE))
    }

    fn remove_service(&mut self, _: VipList) -> Result<usize, ConfigError> {
        Err(ConfigError::Unsupported(ONE_SERVICE))
    }

    fn add_backend(
        &mut self,
        vips: VipList,
        backend: &DsrBackendConfig,
    ) -> Result<MacAddr, ConfigError> {
        self.check_service(&vips)?;
        let mac = unicast(backend.mac)?;
        if !self.core.add_backend(SERVICE, mac, backend.weight)? {
            return Err(ConfigError::duplicate_backend(vips, mac));
        }
        Ok(mac)
    }

    fn set_weight(&mut self, vips: VipList, mac: MacAddr, weight: u32) -> Result<(), ConfigError> {
        self.check_service(&vips)?;
        if !self.core.set_weight(SERVICE, mac, weight)? {
            return Err(ConfigError::unknown_backend(vips, mac));
        }
        Ok(())
    }

    fn force_health(
        &mut self,
        vips: VipList,
        mac: MacAddr,
        forced: Option<HealthOverride>,
    ) -> Result<(), ConfigError> {
        self.check_service(&vips)?;
        if !self.core.force_health(SERVICE, mac, forced)? {
            return Err(ConfigError::unknown_backend(vips, mac));
        }
        Ok(())
    }

    /// Removes a server and ends its sessions; returns how many.
    fn remove_backend(&mut self, vips: VipList, mac: MacAddr) -> Result<usize, ConfigError> {
        self.check_service(&vips)?;
        self.core
            .remove_backend(SERVICE, mac)?
            .ok_or_else(|| ConfigError::unknown_backend(vips, mac))
    }

    fn frontend(&self) -> Result<FrontendView, ConfigError> {
        Ok(self.frontend_view())
    }

    fn set_frontend(&mut self, change: &FrontendChange) -> Result<FrontendView, ConfigError> {
        self.change_frontend(change)
    }

    fn sole_service(&self) -> Option<VipList> {
        Some(self.core.services.get(SERVICE)?.key.clone())
    }

    /// Answers for another VIP.
    fn add_vip(&mut self, vip: IpAddr) -> Result<(), ConfigError> {
        let vips = self.sole_service().unwrap_or_default();
        if vips.contains(vip) {
            return Err(ConfigError::DuplicateVip(vip));
        }
        self.core.services.rekey(SERVICE, vips.with(vip));
        Ok(())
    }

    /// Stops answering for a VIP and ends its sessions; returns how many.
    fn remove_vip(&mut self, vip: IpAddr) -> Result<usize, ConfigError> {
        let vips = self.sole_service().unwrap_or_default();
        if !vips.contains(vip) {
            return Err(ConfigError::UnknownVip(vip));
        }
        self.core.services.rekey(SERVICE, vips.without(vip));
        let ended = self.core.sessions.retain(|key, _| key.dst != vip);
        self.core.settle();
        Ok(ended)
    }
}
