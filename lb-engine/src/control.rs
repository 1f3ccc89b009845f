//! Changing a running engine: its services and their backends.

use core::fmt::Display;
use core::str::FromStr;
use std::net::IpAddr;

use crate::{ConfigError, FrontendChange, FrontendView, HealthOverride, SrcIpRewrite};

const NO_VIPS: &str = "only the direct-return load balancer has VIPs apart from its services";
const NO_SRC_IP_REWRITE: &str = "only the reverse proxy rewrites clients' source addresses";
const NO_FRONTEND: &str =
    "only the direct-return load balancer has a frontend MAC and algorithm to set";

/// A backend's configuration, which always carries a weight.
pub trait Weighted {
    /// Its share of new flows; 0 drains it.
    fn weight(&self) -> u32;
}

/// The changes an engine takes while it runs, in one shape for every
/// engine: services named by a key, each with backends named by a key.
/// Every change is checked whole first; a refused one changes nothing and
/// says why with a typed [`ConfigError`] (whose
/// [`kind`](ConfigError::kind) tells unknown from duplicate from invalid).
///
/// Engines with one service (direct return, the NAT proxy) name it with
/// [`sole_service`](Self::sole_service) and refuse to add or remove
/// services.
pub trait Control {
    /// Names a service (`VIP:PORT/PROTO` for the reverse proxy).
    type ServiceKey: Clone + Eq + Display + FromStr<Err: Display>;
    /// A service as configuration writes it.
    type ServiceConfig: Clone;
    /// Names a backend within its service.
    type BackendKey: Clone + Eq + Display + FromStr<Err: Display>;
    /// A backend as configuration writes it.
    type BackendConfig: Clone + Weighted;
    /// The whole configuration, as a file gives it.
    type Config: Clone;

    /// The running configuration, for an engine configured from a file
    /// (the reverse proxy): its services and backends as they are now,
    /// with the changes made since, and the settings it started with.
    /// None for the others.
    fn config(&self) -> Option<Self::Config> {
        None
    }

    /// The services, as configuration.
    fn services(&self) -> Vec<Self::ServiceConfig>;

    /// Adds a service; the keys it answers on.
    fn add_service(
        &mut self,
        service: &Self::ServiceConfig,
    ) -> Result<Vec<Self::ServiceKey>, ConfigError>;

    /// Removes a service and ends its sessions; how many.
    fn remove_service(&mut self, service: Self::ServiceKey) -> Result<usize, ConfigError>;

    /// Adds a backend to a service; the key it is known by from now on.
    fn add_backend(
        &mut self,
        service: Self::ServiceKey,
        backend: &Self::BackendConfig,
    ) -> Result<Self::BackendKey, ConfigError>;

    /// Sets a backend's weight: its share of new flows; 0 drains it (its
    /// sessions go on, it takes no new flows).
    fn set_weight(
        &mut self,
        service: Self::ServiceKey,
        backend: Self::BackendKey,
        weight: u32,
    ) -> Result<(), ConfigError>;

    /// Drains a backend: weight 0.
    fn drain(
        &mut self,
        service: Self::ServiceKey,
        backend: Self::BackendKey,
    ) -> Result<(), ConfigError> {
        self.set_weight(service, backend, 0)
    }

    /// Forces a backend up or down whatever its checks say, or lifts the
    /// override with `None`.
    fn force_health(
        &mut self,
        service: Self::ServiceKey,
        backend: Self::BackendKey,
        forced: Option<HealthOverride>,
    ) -> Result<(), ConfigError>;

    /// Removes a backend and ends its sessions; how many.
    fn remove_backend(
        &mut self,
        service: Self::ServiceKey,
        backend: Self::BackendKey,
    ) -> Result<usize, ConfigError>;

    /// The service of an engine that has exactly one.
    fn sole_service(&self) -> Option<Self::ServiceKey> {
        None
    }

    /// Answers for another VIP, on engines whose VIPs are not services.
    fn add_vip(&mut self, vip: IpAddr) -> Result<(), ConfigError> {
        let _ = vip;
        Err(ConfigError::Unsupported(NO_VIPS))
    }

    /// Stops answering for a VIP and ends its sessions; how many.
    fn remove_vip(&mut self, vip: IpAddr) -> Result<usize, ConfigError> {
        let _ = vip;
        Err(ConfigError::Unsupported(NO_VIPS))
    }

    /// The frontend's MAC and algorithm, on the direct-return engine.
    fn frontend(&self) -> Result<FrontendView, ConfigError> {
        Err(ConfigError::Unsupported(NO_FRONTEND))
    }

    /// Changes the frontend's MAC (announced to the VIPs' neighbors) or
    /// algorithm (live sessions keep their servers); what it is now.
    fn set_frontend(&mut self, change: &FrontendChange) -> Result<FrontendView, ConfigError> {
        let _ = change;
        Err(ConfigError::Unsupported(NO_FRONTEND))
    }

    /// The rewrite of clients' source addresses, if one is set, on engines
    /// that have one.
    fn src_ip_rewrite(&self) -> Result<Option<SrcIpRewrite>, ConfigError> {
        Err(ConfigError::Unsupported(NO_SRC_IP_REWRITE))
    }

    /// Sets or removes the rewrite of clients' source addresses. Sessions
    /// keep the addresses they were made with.
    fn set_src_ip_rewrite(&mut self, rewrite: Option<SrcIpRewrite>) -> Result<(), ConfigError> {
        let _ = rewrite;
        Err(ConfigError::Unsupported(NO_SRC_IP_REWRITE))
    }
}
