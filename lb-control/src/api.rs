//! What the admin API's requests and answers carry, one set of types for
//! the server and its clients (`lbctl`). Reads answer with the engine's own
//! snapshots: [`Stats`] for `/stats`, a list of [`ServiceStats`] for
//! `/services`, of [`SessionView`] for `/sessions`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use lb_engine::HealthOverride;
pub use lb_engine::{BackendStats, ServiceStats, SessionView, SrcIpRewrite, Stats};

/// The body of every refusal: `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What was wrong, on one line.
    pub error: String,
}

/// `PUT .../backends/ID`: a backend's new weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightBody {
    /// Share of new flows; 0 drains.
    pub weight: u32,
}

/// An operator's word on a backend's health: forced up or down, or back
/// to what its checks say (`auto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthForce {
    /// Takes new flows whatever its checks say.
    Up,
    /// Takes no new flows whatever its checks say.
    Down,
    /// Its checks decide.
    Auto,
}

impl HealthForce {
    /// The override this stands for.
    pub fn override_of(self) -> Option<HealthOverride> {
        match self {
            HealthForce::Up => Some(HealthOverride::Up),
            HealthForce::Down => Some(HealthOverride::Down),
            HealthForce::Auto => None,
        }
    }
}

/// `PUT .../backends/ID/health`: force a backend up or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthBody {
    /// up, down or auto.
    pub force: HealthForce,
}

/// A backend's health forced (or left to its checks again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthForced {
    /// Its service, when the request named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The backend.
    pub backend: String,
    /// What was asked.
    pub force: HealthForce,
}

/// `POST /vips`: a VIP to answer for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VipBody {
    /// The VIP.
    pub vip: IpAddr,
}

/// `POST /services` answered: the keys the new service answers on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicesAdded {
    /// One key per protocol (three for `all`).
    pub added: Vec<String>,
}

/// A backend added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendAdded {
    /// Its service, when the request named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// How the backend is named from now on (`ip:port`, a MAC, an IP).
    pub added: String,
    /// Its weight.
    pub weight: u32,
}

/// A backend's weight set (or drained: weight 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightSet {
    /// Its service, when the request named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The backend.
    pub backend: String,
    /// Its weight now.
    pub weight: u32,
}

/// A service, backend or VIP removed, with the sessions that ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    /// Its service, when a backend of a named service was removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// What was removed.
    pub removed: String,
    /// Sessions that ended with it.
    pub sessions_ended: usize,
}

/// A VIP added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipAdded {
    /// The VIP.
    pub added: IpAddr,
}

/// `POST /stats/reset` answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reset {
    /// Always true: the counters are zero.
    pub reset: bool,
}

/// `/src-ip-rewrite` answered: the rewrite of clients' source addresses
/// now (null when none is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SrcIpRewriteState {
    /// The ranges, if set.
    pub src_ip_rewrite: Option<SrcIpRewrite>,
}
