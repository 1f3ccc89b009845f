//! `lbctl top`: rates per service and backend, refreshed like `top`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use lb_control::api::Stats;

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
    outln!(
        "\n{:<28} {:>8} {:<9} {:<8} {:>9} {:>11} {:>13}",
        "SERVICE / BACKEND",
        "WEIGHT",
        "STATE",
        "HEALTH",
        "SESSIONS",
        "PACKETS/S",
        "NEW FLOWS/S"
    );
    for service in &stats.services {
        let then = before.and_then(|b| b.services.iter().find(|s| s.name == service.name));
        let counters = &service.counters;
        outln!(
            "{:<28} {:>8} {:<9} {:<8} {:>9} {:>11} {:>13}",
            service.label.as_deref().unwrap_or(&service.name),
            service.policy.to_string(),
            "",
            "",
            service.sessions,
            per_second(counters.packets, then.map(|s| s.counters.packets), elapsed),
            per_second(
                counters.new_flows,
                then.map(|s| s.counters.new_flows),
                elapsed
            )
        );
        for backend in &service.backends {
            let then = then.and_then(|s| s.backends.iter().find(|b| b.name == backend.name));
            let counters = &backend.counters;
            outln!(
                "  {:<26} {:>8} {:<9} {:<8} {:>9} {:>11} {:>13}",
                backend.label.as_deref().unwrap_or(&backend.name),
                backend.weight,
                backend.state.name(),
                backend.health.name(),
                backend.sessions,
                per_second(counters.packets, then.map(|b| b.counters.packets), elapsed),
                per_second(
                    counters.new_flows,
                    then.map(|b| b.counters.new_flows),
                    elapsed
                )
            );
        }
    }
}
