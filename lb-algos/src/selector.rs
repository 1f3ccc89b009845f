//! The [`Selector`] abstraction and the built-in [`Policy`] set.

use core::fmt;

use lb_packet::FlowKey;

use crate::maglev::{DEFAULT_TABLE_SIZE, Maglev};
use crate::random::Random;
use crate::round_robin::RoundRobin;
use crate::weighted_hash::{HashInput, WeightedHash};
use crate::{Backend, BuildError, HashKey};

/// Picks a backend for each new flow.
///
/// A selector is built from a backend set and is immutable afterwards:
/// when the set or a weight changes, build a new one. `pick` returns an
/// index into the slice it was built from, or `None` when no backend can
/// take new flows (none at all, or every weight 0). It never allocates.
pub trait Selector: fmt::Debug + Send + Sync {
    /// The backend for a new flow.
    fn pick(&self, flow: &FlowKey) -> Option<usize>;
}

/// The built-in selection policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[non_exhaustive]
pub enum Policy {
    /// Weighted random, from a seeded generator.
    Random,
    /// Smooth weighted round-robin (nginx, Envoy): no bursts to one backend.
    RoundRobin,
    /// Weighted hash of the source address: a client sticks to a backend
    /// while the set is unchanged.
    SrcIpHash,
    /// Weighted hash of the 5-tuple.
    FlowHash,
    /// Weighted Maglev consistent hashing of the 5-tuple: a change to the
    /// set moves few flows.
    #[default]
    Maglev,
}

/// Parameters the policies share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectorConfig {
    /// Key for the hash policies: instances that share it agree.
    pub hash_key: HashKey,
    /// Seed for [`Policy::Random`].
    pub seed: u64,
    /// Prime table size for [`Policy::Maglev`].
    pub maglev_table_size: u64,
}

impl Default for SelectorConfig {
    fn default() -> Self {
        SelectorConfig {
            hash_key: HashKey::default(),
            seed: 0,
            maglev_table_size: DEFAULT_TABLE_SIZE,
        }
    }
}

impl Policy {
    /// Builds this policy's selector over `backends`.
    pub fn build(
        self,
        backends: &[Backend],
        config: &SelectorConfig,
    ) -> Result<Box<dyn Selector>, BuildError> {
        Ok(match self {
            Policy::Random => Box::new(Random::new(backends, config.seed)?),
            Policy::RoundRobin => Box::new(RoundRobin::new(backends)?),
            Policy::SrcIpHash => Box::new(WeightedHash::new(
                backends,
                config.hash_key,
                HashInput::Source,
            )?),
            Policy::FlowHash => Box::new(WeightedHash::new(
                backends,
                config.hash_key,
                HashInput::Flow,
            )?),
            Policy::Maglev => Box::new(Maglev::new(
                backends,
                config.hash_key,
                config.maglev_table_size,
            )?),
        })
    }

    /// The policy's name, as configuration files spell it.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Random => "random",
            Policy::RoundRobin => "round-robin",
            Policy::SrcIpHash => "src-ip-hash",
            Policy::FlowHash => "flow-hash",
            Policy::Maglev => "maglev",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a string is not a policy name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown policy {0:?}: expected random, round-robin, src-ip-hash, flow-hash or maglev")]
pub struct PolicyParseError(String);

impl core::str::FromStr for Policy {
    type Err = PolicyParseError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Ok(match name {
            "random" => Policy::Random,
            "round-robin" | "rr" => Policy::RoundRobin,
            "src-ip-hash" | "src-ip" => Policy::SrcIpHash,
            "flow-hash" | "5-tuple" => Policy::FlowHash,
            "maglev" => Policy::Maglev,
            _ => return Err(PolicyParseError(name.to_owned())),
        })
    }
}
