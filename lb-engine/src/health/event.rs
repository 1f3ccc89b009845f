//! [`HealthEvent`]: a backend that started or stopped taking new flows,
//! and why, for logs.

use core::fmt;

use serde::{Deserialize, Serialize};

use super::backend::{Health, HealthOverride, PassiveFailure, ProbeResult};

/// Why a backend's health changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HealthReason {
    /// A probe ended so, `streak` times in a row.
    Probe {
        /// How the last probe ended.
        result: ProbeResult,
        /// Probes in a row that ended the same way.
        streak: u32,
    },
    /// Passive detection ejected it for this many milliseconds.
    Ejected {
        /// The last failed handshake.
        failure: PassiveFailure,
        /// How long the ejection lasts.
        for_ms: u64,
    },
    /// Its ejection ended.
    EjectionOver,
    /// An operator forced it (or lifted the override: `None`).
    Forced(Option<HealthOverride>),
}

impl fmt::Display for HealthReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthReason::Probe { result, streak } => {
                write!(f, "probe {result} ({streak} in a row)")
            }
            HealthReason::Ejected { failure, for_ms } => {
                write!(f, "ejected for {for_ms} ms after {failure}")
            }
            HealthReason::EjectionOver => f.write_str("ejection over"),
            HealthReason::Forced(Some(HealthOverride::Up)) => f.write_str("forced up"),
            HealthReason::Forced(Some(HealthOverride::Down)) => f.write_str("forced down"),
            HealthReason::Forced(None) => f.write_str("override lifted"),
        }
    }
}

/// A backend that started or stopped taking new flows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthEvent {
    /// Its service, as stats name it.
    pub service: String,
    /// The backend, as stats name it.
    pub backend: String,
    /// Whether it takes new flows now.
    pub usable: bool,
    /// Its health now.
    pub health: Health,
    /// Why.
    pub reason: HealthReason,
    /// Whether its service balances over every backend regardless of
    /// health now (too few are usable).
    pub panic: bool,
}

impl fmt::Display for HealthEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let takes = if self.usable { "takes" } else { "takes no" };
        write!(
            f,
            "service {} backend {} is {} and {takes} new flows: {}",
            self.service, self.backend, self.health, self.reason
        )?;
        if self.panic {
            f.write_str(" (panic: too few backends usable, health ignored)")?;
        }
        Ok(())
    }
}
