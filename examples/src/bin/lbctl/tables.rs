//! The API's answers as tables for people.

use lb_control::api::{ServiceStats, SessionView, Stats};

pub(crate) fn services(services: &[ServiceStats]) {
    for service in services {
        println!(
            "{:<24} {:<12} sessions {:>7}  new flows {:>9}  packets {:>11}",
            service.name,
            service.policy.to_string(),
            service.sessions,
            service.counters.new_flows,
            service.counters.packets
        );
        for backend in &service.backends {
            println!(
                "  {:<22} weight {:>5}  {:<8} sessions {:>7}  new flows {:>9}  packets {:>11}",
                backend.name,
                backend.weight,
                backend.state.name(),
                backend.sessions,
                backend.counters.new_flows,
                backend.counters.packets
            );
        }
    }
}

pub(crate) fn stats(stats: &Stats) {
    let t = &stats.traffic;
    println!("engine      {}", stats.engine.name());
    let received = [("frames_in", t.frames_in), ("bytes_in", t.bytes_in)];
    for (field, value) in received.into_iter().chain(t.outcomes()) {
        println!("{field:<11} {value}");
    }
    for reason in lb_engine::DropReason::ALL {
        if t.drops(reason) > 0 {
            println!("  drop {:<20} {}", reason.name(), t.drops(reason));
        }
    }
    println!(
        "sessions    {} of {}",
        stats.sessions, stats.session_capacity
    );
}

pub(crate) fn sessions(sessions: &[SessionView]) {
    for session in sessions {
        println!(
            "{:<44} -> {:<22} {:<16} expires in {:>6} ms",
            session.forward,
            session.backend,
            format!("{:?}", session.state),
            session.expires_in_ms
        );
    }
}
