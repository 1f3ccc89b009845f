//! Counters in the Prometheus text exposition format (version 0.0.4).

use std::fmt::Write;

use lb_engine::{BackendStats, DropReason, Health, ServiceStats, Stats};

/// A label value, escaped as the format requires.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A service's labels: its key, and its name if it has one.
fn service_labels(service: &ServiceStats) -> Vec<(&'static str, &str)> {
    let mut labels = vec![("service", service.name.as_str())];
    if let Some(name) = &service.label {
        labels.push(("service_name", name));
    }
    labels
}

/// A backend's labels: its service's, its address, and its name if it has
/// one.
fn backend_labels<'a>(
    service: &'a ServiceStats,
    backend: &'a BackendStats,
) -> Vec<(&'static str, &'a str)> {
    let mut labels = service_labels(service);
    labels.push(("backend", &backend.name));
    if let Some(name) = &backend.label {
        labels.push(("backend_name", name));
    }
    labels
}

struct Exposition {
    text: String,
    engine: String,
}

impl Exposition {
    /// Starts metric `name`.
    fn metric(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    /// A sample of the current metric, with the engine label and `labels`.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        let mut rendered = format!("engine=\"{}\"", self.engine);
        for (key, label) in labels {
            let _ = write!(rendered, ",{key}=\"{}\"", escape(label));
        }
        let _ = writeln!(self.text, "{name}{{{rendered}}} {value}");
    }
}

/// `stats` as Prometheus metrics, all named `lb_*`.
pub fn render(stats: &Stats) -> String {
    let mut out = Exposition {
        text: String::new(),
        engine: stats.engine.name().to_owned(),
    };
    let t = &stats.traffic;
    out.metric(
        "lb_frames_received_total",
        "counter",
        "Frames handed to the engine.",
    );
    out.sample("lb_frames_received_total", &[], t.frames_in);
    out.metric(
        "lb_bytes_received_total",
        "counter",
        "Bytes of the frames handed to the engine.",
    );
    out.sample("lb_bytes_received_total", &[], t.bytes_in);
    out.metric(
        "lb_frames_total",
        "counter",
        "Frames by what the engine did with them.",
    );
    for (verdict, count) in t.outcomes() {
        out.sample("lb_frames_total", &[("verdict", verdict)], count);
    }
    for (name, help, value) in [
        (
            "lb_stateless_flows_total",
            "New flows sent on without a session: the table had no room, or the flood guard.",
            t.stateless,
        ),
        (
            "lb_flood_guarded_flows_total",
            "New flows the flood guard sent on without a session.",
            t.flood_guarded,
        ),
        (
            "lb_stateless_replies_total",
            "Replies without a session translated from their backend endpoint.",
            t.stateless_replies,
        ),
        (
            "lb_non_syn_misses_total",
            "TCP packets without SYN that found no session: flows another instance had, or lost ones.",
            t.non_syn_misses,
        ),
        (
            "lb_snat_ports_taken_over_total",
            "Source ports taken over from half-open or closed connections.",
            t.ports_taken_over,
        ),
        (
            "lb_kernel_drops_total",
            "Frames the kernel dropped before the datapath read them.",
            stats.kernel_drops,
        ),
        (
            "lb_unsent_port_down_total",
            "Frames not sent because their port was down (link, interface or device).",
            stats.unsent_port_down,
        ),
        (
            "lb_send_errors_total",
            "Frames the datapath failed to send for any other reason.",
            stats.send_errors,
        ),
        (
            "lb_refused_total",
            "Connections refused with a reset: no source port was free.",
            t.refused,
        ),
    ] {
        out.metric(name, "counter", help);
        out.sample(name, &[], value);
    }
    out.metric("lb_drops_total", "counter", "Frames dropped, by reason.");
    for reason in DropReason::ALL {
        out.sample(
            "lb_drops_total",
            &[("reason", reason.name())],
            t.drops(reason),
        );
    }
    out.metric(
        "lb_selection_info",
        "gauge",
        "The fingerprint of what decides each new flow's pick: equal on instances that pick alike.",
    );
    out.sample(
        "lb_selection_info",
        &[("fingerprint", &stats.selection_fingerprint)],
        1,
    );
    out.metric("lb_sessions", "gauge", "Live sessions.");
    out.sample("lb_sessions", &[], stats.sessions as u64);
    out.metric(
        "lb_session_capacity",
        "gauge",
        "Most sessions the table holds.",
    );
    out.sample("lb_session_capacity", &[], stats.session_capacity as u64);
    out.metric(
        "lb_session_events_total",
        "counter",
        "What the session table did.",
    );
    let s = &stats.session_table;
    for (event, count) in [
        ("inserted", s.inserted),
        ("expired", s.expired),
        ("evicted", s.evicted),
        ("refused", s.refused),
        ("removed", s.removed),
    ] {
        out.sample("lb_session_events_total", &[("event", event)], count);
    }
    type Field = fn(&lb_engine::FlowCounters) -> u64;
    let counters: [(&str, &str, Field); 3] = [
        ("new_flows", "Sessions created", |c| c.new_flows),
        ("packets", "Packets in either direction", |c| c.packets),
        ("bytes", "Bytes in either direction", |c| c.bytes),
    ];
    for (field, help, value) in counters {
        let name = format!("lb_service_{field}_total");
        out.metric(&name, "counter", &format!("{help}, per service."));
        for service in &stats.services {
            out.sample(&name, &service_labels(service), value(&service.counters));
        }
        let name = format!("lb_backend_{field}_total");
        out.metric(&name, "counter", &format!("{help}, per backend."));
        for service in &stats.services {
            for backend in &service.backends {
                out.sample(
                    &name,
                    &backend_labels(service, backend),
                    value(&backend.counters),
                );
            }
        }
    }
    out.metric(
        "lb_service_sessions",
        "gauge",
        "Live sessions, per service.",
    );
    for service in &stats.services {
        out.sample(
            "lb_service_sessions",
            &service_labels(service),
            service.sessions as u64,
        );
    }
    out.metric(
        "lb_service_refused_total",
        "counter",
        "New flows refused for want of a source port (full NAT), per service.",
    );
    for service in &stats.services {
        out.sample(
            "lb_service_refused_total",
            &service_labels(service),
            service.refused,
        );
    }
    out.metric(
        "lb_service_panic",
        "gauge",
        "1 while too few backends are healthy and health is ignored (panic mode).",
    );
    for service in &stats.services {
        out.sample(
            "lb_service_panic",
            &service_labels(service),
            u64::from(service.panic),
        );
    }
    type BackendField = fn(&lb_engine::BackendStats) -> u64;
    let per_backend: [(&str, &str, &str, BackendField); 5] = [
        (
            "lb_backend_sessions",
            "gauge",
            "Live sessions, per backend.",
            |b| b.sessions as u64,
        ),
        (
            "lb_backend_weight",
            "gauge",
            "Weight, per backend; 0 drains.",
            |b| u64::from(b.weight),
        ),
        (
            "lb_backend_up",
            "gauge",
            "1 when a backend's health lets it take new flows, 0 when it is down.",
            |b| u64::from(b.health != Health::Down),
        ),
        (
            "lb_backend_ejections_total",
            "counter",
            "Times passive detection ejected a backend.",
            |b| b.health_detail.counters.ejections,
        ),
        (
            "lb_backend_handshake_failures_total",
            "counter",
            "New flows a backend refused or left unanswered (passive detection).",
            |b| b.health_detail.counters.handshakes_failed,
        ),
    ];
    for (name, kind, help, value) in per_backend {
        out.metric(name, kind, help);
        for service in &stats.services {
            for backend in &service.backends {
                out.sample(name, &backend_labels(service, backend), value(backend));
            }
        }
    }
    let name = "lb_backend_probes_total";
    out.metric(
        name,
        "counter",
        "Active probes, per backend, by result (passed, failed).",
    );
    for service in &stats.services {
        for backend in &service.backends {
            let probes = &backend.health_detail.counters;
            for (result, count) in [
                ("passed", probes.probes_passed),
                ("failed", probes.probes_failed),
            ] {
                let mut labels = backend_labels(service, backend);
                labels.push(("result", result));
                out.sample(name, &labels, count);
            }
        }
    }
    out.text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
