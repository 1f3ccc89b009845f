//! How health is checked, in configuration units: the probes of one
//! service (`[service.health]`), and what every service shares
//! (`[health]`: where probes come from, passive detection, panic).

use core::fmt;
use std::net::IpAddr;
use std::time::Duration;

use lb_packet::MacAddr;
use serde::{Deserialize, Serialize};

use crate::{ConfigError, IpCidr};

/// What an active probe does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    /// SYN, expect SYN-ACK, then RST.
    Tcp,
    /// A TCP handshake, `GET path`, expect a 2xx or 3xx status.
    Http,
    /// ICMP echo, expect the reply.
    Icmp,
    /// A datagram, expect any datagram back; port unreachable is down.
    Udp,
}

impl ProbeKind {
    /// The lowercase name configuration uses.
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::Tcp => "tcp",
            ProbeKind::Http => "http",
            ProbeKind::Icmp => "icmp",
            ProbeKind::Udp => "udp",
        }
    }
}

impl fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn default_path() -> String {
    "/".to_owned()
}

/// `[service.health]`: active probes of a service's backends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// What a probe does.
    pub kind: ProbeKind,
    /// The port probed; defaults to the backend's (not used by `icmp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The path an `http` probe asks for (default `/`).
    #[serde(default = "default_path")]
    pub path: String,
    /// Time between probes of a backend, in milliseconds (default 1000).
    #[serde(default = "HealthCheck::default_interval")]
    pub interval_ms: u64,
    /// Time between probes while a backend is down or changing (a probe
    /// failed while it is up, or passed while it is down), in milliseconds
    /// (default half the interval): HAProxy's `fastinter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_interval_ms: Option<u64>,
    /// How long a probe waits for its answer, in milliseconds (default
    /// 500; at most the interval).
    #[serde(default = "HealthCheck::default_timeout")]
    pub timeout_ms: u64,
    /// Consecutive passes that bring a down backend up (default 2).
    #[serde(default = "HealthCheck::default_rise")]
    pub rise: u32,
    /// Consecutive failures that take a backend down (default 3).
    #[serde(default = "HealthCheck::default_fall")]
    pub fall: u32,
    /// Each interval is shortened by a random share of up to this many
    /// percent (default 10), so probes of many backends spread out.
    #[serde(default = "HealthCheck::default_jitter")]
    pub jitter_percent: u8,
}

impl HealthCheck {
    fn default_interval() -> u64 {
        1000
    }

    fn default_timeout() -> u64 {
        500
    }

    fn default_rise() -> u32 {
        2
    }

    fn default_fall() -> u32 {
        3
    }

    fn default_jitter() -> u8 {
        10
    }

    /// A check of `kind` with every other setting at its default.
    pub fn new(kind: ProbeKind) -> Self {
        HealthCheck {
            kind,
            port: None,
            path: default_path(),
            interval_ms: Self::default_interval(),
            unhealthy_interval_ms: None,
            timeout_ms: Self::default_timeout(),
            rise: Self::default_rise(),
            fall: Self::default_fall(),
            jitter_percent: Self::default_jitter(),
        }
    }

    /// Refuses settings that cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |reason: &'static str| Err(ConfigError::Health(reason));
        if self.interval_ms == 0 || self.unhealthy_interval_ms == Some(0) {
            return invalid("interval_ms and unhealthy_interval_ms must be above 0");
        }
        if self.timeout_ms == 0 || self.timeout_ms > self.interval_ms {
            return invalid("timeout_ms must be between 1 and interval_ms");
        }
        if self.rise == 0 || self.fall == 0 {
            return invalid("rise and fall must be at least 1");
        }
        if self.jitter_percent > 50 {
            return invalid("jitter_percent must be at most 50");
        }
        if self.port == Some(0) {
            return invalid("port must be between 1 and 65535");
        }
        let printable = self.path.bytes().all(|b| b.is_ascii_graphic());
        if !self.path.starts_with('/') || !printable || self.path.len() > 1024 {
            return invalid("path must start with / and hold no spaces or control characters");
        }
        Ok(())
    }

    /// The time between probes, for a backend that is down or not.
    pub(crate) fn interval(&self, down: bool) -> Duration {
        let ms = match self.unhealthy_interval_ms {
            Some(ms) if down => ms,
            None if down => (self.interval_ms / 2).max(1),
            _ => self.interval_ms,
        };
        Duration::from_millis(ms)
    }

    /// How long a probe waits.
    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Passive detection (`[health.passive]`): backends are judged by the
/// handshakes of real traffic, as Envoy's outlier detection judges them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PassiveSettings {
    /// On by default.
    pub enabled: bool,
    /// Consecutive failed handshakes (RST or ICMP unreachable answering a
    /// new flow, or a client retrying its SYN unanswered) that eject a
    /// backend (default 3).
    pub consecutive_failures: u32,
    /// The first ejection lasts this long, in milliseconds (default
    /// 30000); each further one lasts once more as long.
    pub base_ejection_ms: u64,
    /// No ejection lasts longer, in milliseconds (default 300000).
    pub max_ejection_ms: u64,
    /// At most this share of a service's backends is ejected at once,
    /// in percent (default 50; one backend may always be).
    pub max_ejection_percent: u8,
    /// A client's retried SYN goes to another backend when the one it was
    /// sent to failed it (default on), so the client's own retry succeeds.
    pub retry_elsewhere: bool,
}

impl Default for PassiveSettings {
    fn default() -> Self {
        PassiveSettings {
            enabled: true,
            consecutive_failures: 3,
            base_ejection_ms: 30_000,
            max_ejection_ms: 300_000,
            max_ejection_percent: 50,
            retry_elsewhere: true,
        }
    }
}

impl PassiveSettings {
    /// How long the `nth` ejection (from 1) lasts.
    pub(crate) fn ejection(&self, nth: u32) -> Duration {
        let ms = self.base_ejection_ms.saturating_mul(u64::from(nth.max(1)));
        Duration::from_millis(ms.min(self.max_ejection_ms))
    }
}

/// `[health]`: what every service's health shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthSettings {
    /// Where active probes come from: an address the load balancer owns on
    /// the backend side, with its prefix length (it answers ARP for it).
    /// Required when a service has `[service.health]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<IpCidr>,
    /// Next hop towards backends outside the source's network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// The MAC probes come from (default: `02:00` and the source address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    /// Panic mode: when fewer than this share of a service's backends is
    /// usable, in percent, health is ignored and new flows spread over
    /// every backend not forced down, as Envoy does (default 50; 0 never
    /// panics: with every backend down, new flows are dropped).
    pub panic_threshold: u8,
    /// A backend going down ends its sessions (IPVS's
    /// `expire_nodest_conn`); by default they go on.
    pub end_sessions_on_down: bool,
    /// Passive detection.
    pub passive: PassiveSettings,
    /// Seeds probe jitter, ports and sequence numbers, for runs that must
    /// repeat exactly (tests); random per process by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings {
            source: None,
            gateway: None,
            mac: None,
            panic_threshold: 50,
            end_sessions_on_down: false,
            passive: PassiveSettings::default(),
            seed: None,
        }
    }
}

impl HealthSettings {
    /// Refuses settings that cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.panic_threshold > 100 {
            return Err(ConfigError::Health("panic_threshold must be at most 100"));
        }
        let passive = &self.passive;
        if passive.consecutive_failures == 0 {
            return Err(ConfigError::Health(
                "passive.consecutive_failures must be at least 1",
            ));
        }
        if passive.max_ejection_percent > 100 {
            return Err(ConfigError::Health(
                "passive.max_ejection_percent must be at most 100",
            ));
        }
        if let Some(mac) = self.mac {
            crate::core::unicast(mac)?;
        }
        if let (Some(source), Some(gateway)) = (self.source, self.gateway) {
            if !source.contains(gateway) || gateway == source.ip {
                return Err(ConfigError::GatewayOffLink(gateway));
            }
        }
        Ok(())
    }

    /// The seed, or a random one.
    pub(crate) fn seed(&self) -> u64 {
        use std::hash::BuildHasher;
        self.seed
            .unwrap_or_else(|| std::hash::RandomState::new().hash_one(0u64))
    }

    /// The MAC probes come from.
    pub(crate) fn source_mac(&self, source: IpAddr) -> MacAddr {
        self.mac.unwrap_or(MacAddr::local_for(source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn defaults_and_the_issue_example_read_back() {
        let check: HealthCheck = toml::from_str(
            "kind = \"http\"\npath = \"/id\"\ninterval_ms = 300\ntimeout_ms = 200\nrise = 2\nfall = 2\n",
        )
        .unwrap();
        assert_eq!(check.kind, ProbeKind::Http);
        assert_eq!(check.interval(false), Duration::from_millis(300));
        assert_eq!(check.interval(true), Duration::from_millis(150));
        assert_eq!(check.validate(), Ok(()));
        let settings: HealthSettings =
            toml::from_str("source = \"10.0.0.253/24\"\ngateway = \"10.0.0.254\"\n").unwrap();
        assert_eq!(settings.panic_threshold, 50);
        assert_eq!(settings.validate(), Ok(()));
        assert_eq!(
            settings.source_mac(Ipv4Addr::new(10, 0, 0, 253).into()),
            MacAddr([2, 0, 10, 0, 0, 253])
        );
    }

    #[test]
    fn settings_that_cannot_work_are_refused() {
        let bad = [
            HealthCheck {
                timeout_ms: 2000,
                ..HealthCheck::new(ProbeKind::Tcp)
            },
            HealthCheck {
                rise: 0,
                ..HealthCheck::new(ProbeKind::Tcp)
            },
            HealthCheck {
                path: "/a b".into(),
                ..HealthCheck::new(ProbeKind::Http)
            },
            HealthCheck {
                path: "x".into(),
                ..HealthCheck::new(ProbeKind::Http)
            },
            HealthCheck {
                jitter_percent: 90,
                ..HealthCheck::new(ProbeKind::Icmp)
            },
        ];
        for check in bad {
            assert!(
                matches!(check.validate(), Err(ConfigError::Health(_))),
                "{check:?}"
            );
        }
        let off_link = HealthSettings {
            source: Some("10.0.0.253/24".parse().unwrap()),
            gateway: Some(Ipv4Addr::new(10, 0, 1, 1).into()),
            ..HealthSettings::default()
        };
        assert_eq!(
            off_link.validate(),
            Err(ConfigError::GatewayOffLink(
                Ipv4Addr::new(10, 0, 1, 1).into()
            ))
        );
        assert!(toml::from_str::<HealthCheck>("kind = \"tcp\"\nwieght = 1\n").is_err());
    }

    #[test]
    fn ejections_grow_to_their_cap() {
        let passive = PassiveSettings::default();
        assert_eq!(passive.ejection(1), Duration::from_secs(30));
        assert_eq!(passive.ejection(3), Duration::from_secs(90));
        assert_eq!(passive.ejection(100), Duration::from_secs(300));
    }
}
