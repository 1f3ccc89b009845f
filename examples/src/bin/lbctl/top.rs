//! `lbctl top`: rates per service and backend, refreshed like `top`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use lb_control::api::Stats;
use lb_engine::FlowCounters;

use crate::client::Client;

/// Reads `/stats` every `interval`, `count` times (without end if `None`),
/// and shows each service and backend with its packets and new flows a
/// second since the last reading. On a terminal each view replaces the
/// last; into a pipe they follow one another.
pub(crate) fn top(client: &Client, interval: Duration, count: Option<u64>) {
    let terminal = std::io::stdout().is_terminal();
    let mut last: Option<(Instant, Stats)> = None;
    for shown in 0.. {
        if count.is_some_and(|count| shown >= count) {
            break;
        }
        if shown > 0 {
            std::thread::sleep(interval);
        }
        let (stats, _) = client.get::<Stats>("GET", "stats");
        let now = Instant::now();
        if terminal {
            out!("\x1b[H\x1b[2J");
        } else if shown > 0 {
            outln!("");
        }
        view(
            &stats,
            last.as_ref()
                .map(|(at, before)| (now.duration_since(*at), before)),
        );
        last = Some((now, stats));
    }
}

/// `now - then` a second over `elapsed`, or `-` without a reading before.
fn per_second(now: u64, then: Option<u64>, elapsed: Option<Duration>) -> String {
    match (then, elapsed) {
        (Some(then), Some(elapsed)) => {
            let rate = now.saturating_sub(then) as f64 / elapsed.as_secs_f64().max(1e-3);
            format!("{rate:.1}")
        }
        _ => "-".to_owned(),
    }
}

/// One view: a line for the whole, then services and their backends.
fn view(stats: &Stats, since: Option<(Duration, &Stats)>) {
    let (elapsed, before) = (since.map(|(e, _)| e), since.map(|(_, b)| b));
    let t = &stats.traffic;
    let traffic = |value: fn(&Stats) -> u64| per_second(value(stats), before.map(value), elapsed);
    outln!(
        "lb {}  frames in {}/s  dropped {}/s  sessions {} of {}  (frames in {}, dropped {})",
        stats.engine.name(),
        traffic(|s| s.traffic.frames_in),
        traffic(|s| s.traffic.dropped),
        stats.sessions,
        stats.session_capacity,
        t.frames_in,
        t.dropped
    );
    outln!("");
    row([
        "SERVICE / BACKEND",
        "WEIGHT",
        "STATE",
        "HEALTH",
        "SESSIONS",
        "PACKETS/S",
        "NEW FLOWS/S",
    ]);
    let rates = |now: &FlowCounters, then: Option<&FlowCounters>| {
        [
            per_second(now.packets, then.map(|c| c.packets), elapsed),
            per_second(now.new_flows, then.map(|c| c.new_flows), elapsed),
        ]
    };
    for service in &stats.services {
        let then = before.and_then(|b| b.services.iter().find(|s| s.name == service.name));
        let [packets, new_flows] = rates(&service.counters, then.map(|s| &s.counters));
        let name = service.label.as_deref().unwrap_or(&service.name);
        let (policy, sessions) = (service.policy.to_string(), service.sessions.to_string());
        row([name, &policy, "", "", &sessions, &packets, &new_flows]);
        for backend in &service.backends {
            let then = then.and_then(|s| s.backends.iter().find(|b| b.name == backend.name));
            let [packets, new_flows] = rates(&backend.counters, then.map(|b| &b.counters));
            let name = format!("  {}", backend.label.as_deref().unwrap_or(&backend.name));
            let (weight, sessions) = (backend.weight.to_string(), backend.sessions.to_string());
            let (state, health) = (backend.state.name(), backend.health.name());
            row([
                &name, &weight, state, health, &sessions, &packets, &new_flows,
            ]);
        }
    }
}

/// A line of the table: name, weight (or policy), state, health, sessions
/// and the two rates.
fn row(cells: [&str; 7]) {
    let [name, weight, state, health, sessions, packets, new_flows] = cells;
    outln!(
        "{name:<28} {weight:>8} {state:<9} {health:<8} {sessions:>9} {packets:>11} {new_flows:>13}"
    );
}
