//! The health-check flags of `lb-dsr` and `lb-proxy`: the same settings
//! `lb-rp` reads from `[health]` and `[service.health]`.

use std::net::IpAddr;
use std::str::FromStr;

use lb_engine::{HealthCheck, HealthSettings, IpCidr, ProbeKind};

/// `--health KIND[:PORT[/PATH]]`: what active probes do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpec {
    /// tcp, http, icmp or udp.
    pub kind: ProbeKind,
    /// The port probed.
    pub port: Option<u16>,
    /// The HTTP path.
    pub path: Option<String>,
}

impl FromStr for ProbeSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || {
            format!(
                "invalid probe {s:?}; expected KIND[:PORT[/PATH]] like tcp:80, http:80/health or icmp"
            )
        };
        let (kind, rest) = s.split_once(':').map_or((s, None), |(k, r)| (k, Some(r)));
        let kind = match kind {
            "tcp" => ProbeKind::Tcp,
            "http" => ProbeKind::Http,
            "icmp" => ProbeKind::Icmp,
            "udp" => ProbeKind::Udp,
            _ => return Err(invalid()),
        };
        let (port, path) = match rest {
            None => (None, None),
            Some(rest) => {
                let (port, path) = match rest.find('/') {
                    Some(at) => (&rest[..at], Some(rest[at..].to_owned())),
                    None => (rest, None),
                };
                (Some(port.parse().map_err(|_| invalid())?), path)
            }
        };
        if path.is_some() && kind != ProbeKind::Http {
            return Err(format!("invalid probe {s:?}: only http probes take a path"));
        }
        Ok(ProbeSpec { kind, port, path })
    }
}

/// Health checks: active probes when `--health` is given, passive
/// detection unless `--no-passive-health`.
#[derive(Debug, Clone, clap::Args)]
pub struct HealthArgs {
    /// Probe each backend in band: tcp:PORT (SYN, expect SYN-ACK),
    /// http:PORT/PATH (expect 2xx or 3xx), icmp (echo) or udp:PORT (expect
    /// any reply; port unreachable is down).
    #[arg(long, value_name = "KIND[:PORT[/PATH]]")]
    pub health: Option<ProbeSpec>,
    /// Where probes come from: an address this load balancer owns on the
    /// backend side (it answers ARP for it). Needed with --health.
    #[arg(long, value_name = "IP/PREFIX")]
    pub health_source: Option<IpCidr>,
    /// Next hop to backends outside the probe source's network.
    #[arg(long, value_name = "IP")]
    pub health_gateway: Option<IpAddr>,
    /// Time between probes of a backend.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub health_interval_ms: u64,
    /// How long a probe waits for its answer (at most the interval).
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub health_timeout_ms: u64,
    /// Consecutive passes that bring a down backend up.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub health_rise: u32,
    /// Consecutive failures that take a backend down.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub health_fall: u32,
    /// Below this share of usable backends (percent), balance over all of
    /// them regardless of health; 0 never does.
    #[arg(long, value_name = "PERCENT", default_value_t = 50)]
    pub panic_threshold: u8,
    /// Do not judge backends by the handshakes of real traffic.
    #[arg(long)]
    pub no_passive_health: bool,
}

impl HealthArgs {
    /// The settings the flags stand for, and the check they ask for.
    pub fn settings(&self) -> (HealthSettings, Option<HealthCheck>) {
        let mut settings = HealthSettings {
            source: self.health_source,
            gateway: self.health_gateway,
            panic_threshold: self.panic_threshold,
            ..HealthSettings::default()
        };
        settings.passive.enabled = !self.no_passive_health;
        let check = self.health.as_ref().map(|spec| HealthCheck {
            port: spec.port,
            path: spec.path.clone().unwrap_or_else(|| "/".to_owned()),
            interval_ms: self.health_interval_ms,
            timeout_ms: self.health_timeout_ms,
            rise: self.health_rise,
            fall: self.health_fall,
            ..HealthCheck::new(spec.kind)
        });
        (settings, check)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_specs() {
        let http: ProbeSpec = "http:8000/id".parse().unwrap();
        assert_eq!(
            http,
            ProbeSpec {
                kind: ProbeKind::Http,
                port: Some(8000),
                path: Some("/id".into())
            }
        );
        let icmp: ProbeSpec = "icmp".parse().unwrap();
        assert_eq!((icmp.kind, icmp.port), (ProbeKind::Icmp, None));
        assert_eq!("tcp:80".parse::<ProbeSpec>().unwrap().port, Some(80));
        for bad in ["ftp:21", "tcp:x", "tcp:80/x", "tcp:99999"] {
            assert!(bad.parse::<ProbeSpec>().is_err(), "{bad}");
        }
    }
}
