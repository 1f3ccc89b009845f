//! Settings every engine takes: its session table and backend selection.
//! Each deserialises from the TOML the binaries read.

use core::time::Duration;

use lb_algos::{HashKey, SelectorConfig};
use lb_session::{SessionConfig, Timeouts};
use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// Idle timeouts in seconds, as configuration files write them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeoutSettings {
    /// TCP before the handshake completes.
    pub tcp_half_open: u64,
    /// Established TCP.
    pub tcp_established: u64,
    /// TCP after a FIN.
    pub tcp_fin: u64,
    /// TCP after a RST.
    pub tcp_reset: u64,
    /// UDP before a reply.
    pub udp_unreplied: u64,
    /// UDP after a reply.
    pub udp_replied: u64,
    /// ICMP echo.
    pub icmp: u64,
}

impl Default for TimeoutSettings {
    fn default() -> Self {
        let t = Timeouts::default();
        TimeoutSettings {
            tcp_half_open: t.tcp_half_open.as_secs(),
            tcp_established: t.tcp_established.as_secs(),
            tcp_fin: t.tcp_fin.as_secs(),
            tcp_reset: t.tcp_reset.as_secs(),
            udp_unreplied: t.udp_unreplied.as_secs(),
            udp_replied: t.udp_replied.as_secs(),
            icmp: t.icmp.as_secs(),
        }
    }
}

impl From<TimeoutSettings> for Timeouts {
    fn from(t: TimeoutSettings) -> Self {
        Timeouts {
            tcp_half_open: Duration::from_secs(t.tcp_half_open),
            tcp_established: Duration::from_secs(t.tcp_established),
            tcp_fin: Duration::from_secs(t.tcp_fin),
            tcp_reset: Duration::from_secs(t.tcp_reset),
            udp_unreplied: Duration::from_secs(t.udp_unreplied),
            udp_replied: Duration::from_secs(t.udp_replied),
            icmp: Duration::from_secs(t.icmp),
        }
    }
}

/// Session table settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionSettings {
    /// Most sessions held (default 262144).
    pub capacity: usize,
    /// Idle timeouts.
    pub timeouts: TimeoutSettings,
    /// The share of the capacity unassured sessions (half-open TCP,
    /// unreplied UDP) may take, in percent (default 50): beyond it each new
    /// one evicts the oldest, so floods leave room for real connections.
    pub unassured_percent: u8,
    /// New flows per second that may have a session (Katran's flood
    /// guard); beyond it, new flows are forwarded by their pick without
    /// one, where the engine can (the reverse proxy, direct return).
    /// 0, the default, turns it off.
    pub flood_guard: u32,
    /// Live sessions from which a batch's sessions are prefetched before
    /// its frames are handled (default 4096): a smaller table stays in
    /// the caches, where prefetching costs more than it saves. 0: always.
    pub prefetch_from: usize,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            capacity: 1 << 18,
            timeouts: TimeoutSettings::default(),
            unassured_percent: 50,
            flood_guard: 0,
            prefetch_from: 4096,
        }
    }
}

impl SessionSettings {
    /// The session table configuration, with a random table key.
    pub fn table_config(&self) -> SessionConfig {
        SessionConfig {
            capacity: self.capacity,
            timeouts: self.timeouts.into(),
            hash_key: None,
            unassured_percent: self.unassured_percent,
        }
    }
}

/// Backend selection settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SelectionSettings {
    /// SipHash key for the hash policies, 32 hex digits. Load balancers
    /// that share it (and their backends) pick alike; the default is all
    /// zeros, so set your own to keep clients from predicting picks.
    pub hash_key: Option<String>,
    /// Maglev table size of every service that sets none, a prime. By
    /// default each service's is chosen from its backend count
    /// ([`Maglev::size_for`](lb_algos::Maglev::size_for): 1021 slots up to
    /// 10 backends, then at least 100 per backend).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maglev_table_size: Option<u64>,
    /// Seed for the random policy.
    pub seed: u64,
}

impl SelectionSettings {
    /// The selector configuration, once the key parses. Its Maglev table
    /// size is the configured one or the paper's; engines choose each
    /// service's from its backends when none is configured.
    pub fn selector_config(&self) -> Result<SelectorConfig, ConfigError> {
        let hash_key = match &self.hash_key {
            None => HashKey::default(),
            Some(hex) => parse_hash_key(hex)?,
        };
        Ok(SelectorConfig {
            hash_key,
            seed: self.seed,
            maglev_table_size: self
                .maglev_table_size
                .unwrap_or(lb_algos::DEFAULT_TABLE_SIZE),
        })
    }
}

fn parse_hash_key(hex: &str) -> Result<HashKey, ConfigError> {
    let invalid = || ConfigError::BadHashKey(hex.to_owned());
    if hex.len() != 32 || !hex.is_ascii() {
        return Err(invalid());
    }
    let mut key = [0u8; 16];
    for (byte, pair) in key.iter_mut().zip(hex.as_bytes().chunks(2)) {
        let pair = core::str::from_utf8(pair).map_err(|_| invalid())?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| invalid())?;
    }
    Ok(HashKey(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_keys_are_32_hex_digits() {
        assert_eq!(
            parse_hash_key("000102030405060708090a0b0c0d0e0f")
                .unwrap()
                .0[15],
            15
        );
        assert!(parse_hash_key("00").is_err());
        assert!(parse_hash_key("zz0102030405060708090a0b0c0d0e0f").is_err());
    }
}
