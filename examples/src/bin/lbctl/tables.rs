//! The API's answers as tables for people.

use lb_control::api::{BackendStats, ServiceStats, SessionView, Stats};
use lb_engine::HealthOverride;

pub(crate) fn services(services: &[ServiceStats]) {
    for service in services {
        let checks = service.health_check.map_or("passive", |kind| kind.name());
        let panic = if service.panic { "  PANIC" } else { "" };
        let policy = match service.maglev_table_size {
            Some(size) => format!("{}/{size}", service.policy),
            None => service.policy.to_string(),
        };
        outln!(
            "{:<24} {:<12} sessions {:>7}  new flows {:>9}  packets {:>11}  checks {checks}{panic}",
            shown(&service.name, service.label.as_deref()),
            policy,
            service.sessions,
            service.counters.new_flows,
            service.counters.packets
        );
        for backend in &service.backends {
            outln!(
                "  {:<22} weight {:>5}  {:<8} health {:<7} sessions {:>7}  new flows {:>9}  packets {:>11}  {}",
                shown(&backend.name, backend.label.as_deref()),
                backend.weight,
                backend.state.name(),
                backend.health.name(),
                backend.sessions,
                backend.counters.new_flows,
                backend.counters.packets,
                why(backend)
            );
        }
    }
}

/// A key, with the name it was given after it.
fn shown(key: &str, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{key} ({name})"),
        None => key.to_owned(),
    }
}

/// Why a backend has its health, in a few words.
fn why(backend: &BackendStats) -> String {
    let detail = &backend.health_detail;
    let mut reasons = Vec::new();
    if let Some(forced) = detail.forced {
        reasons.push(format!(
            "forced {}",
            if forced == HealthOverride::Up {
                "up"
            } else {
                "down"
            }
        ));
    }
    if let Some(ms) = detail.ejected_for_ms {
        reasons.push(format!("ejected for {ms} ms"));
    }
    if let Some(probe) = detail.last_probe {
        reasons.push(format!("probe {probe} x{}", detail.probe_streak));
    }
    if let (Some(failure), n @ 1..) = (detail.last_passive_failure, detail.passive_failures) {
        reasons.push(format!("{n} failed handshakes ({failure})"));
    }
    reasons.join(", ")
}

pub(crate) fn stats(stats: &Stats) {
    let t = &stats.traffic;
    outln!("engine      {}", stats.engine.name());
    let received = [("frames_in", t.frames_in), ("bytes_in", t.bytes_in)];
    let stateless = [
        ("stateless", t.stateless),
        ("flood_guarded", t.flood_guarded),
        ("stateless_replies", t.stateless_replies),
        ("non_syn_misses", t.non_syn_misses),
        ("ports_taken_over", t.ports_taken_over),
        ("refused", t.refused),
        ("kernel_drops", stats.kernel_drops),
    ];
    for (field, value) in received.into_iter().chain(t.outcomes()).chain(stateless) {
        outln!("{field:<11} {value}");
    }
    for reason in lb_engine::DropReason::ALL {
        if t.drops(reason) > 0 {
            outln!("  drop {:<20} {}", reason.name(), t.drops(reason));
        }
    }
    outln!(
        "sessions    {} of {}",
        stats.sessions,
        stats.session_capacity
    );
    outln!("fingerprint {}", stats.selection_fingerprint);
}

pub(crate) fn sessions(sessions: &[SessionView]) {
    for session in sessions {
        outln!(
            "{:<44} -> {:<22} {:<16} expires in {:>6} ms",
            session.forward,
            session.backend,
            format!("{:?}", session.state),
            session.expires_in_ms
        );
    }
}
