//! A restart that changes the backend set (issue 20, finding 8): lb-rp on
//! veths (pnet) carries 20 paced streams to two backends; it is stopped
//! with SIGTERM and started again with a third backend in its file. With
//! `--state-file` every stream goes on (each flow keeps its backend) and
//! new connections reach the added backend; without it, the streams whose
//! flows the new backend set hashes elsewhere are reset.
//!
//! `LB_RP=PATH` runs another lb-rp binary (an older build, for a before
//! and after).

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::failover::{routed_servers, start_servers};
use common::*;

const VIP: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 100);
const STREAMS: usize = 20;

#[derive(Debug)]
struct Figures {
    /// Streams still receiving two seconds after the restart.
    kept: usize,
    /// From SIGTERM to the new process's `ready`.
    downtime: Duration,
    /// The longest any kept stream went without data around the restart.
    longest_gap: Duration,
    /// Of 30 new connections after the restart, those on the added backend.
    on_added: usize,
    /// What the two processes logged.
    log: String,
}

/// The services VIP:9000 (paced streams) and VIP:8000 (`/id`) on the
/// first `backends` hosts, written by hand so an older lb-rp reads it.
fn config(net: &RoutedNetwork, backends: usize) -> String {
    let list: Vec<String> = net.backends[..backends]
        .iter()
        .map(|host| format!("{{ ip = \"{}\" }}", host.addr))
        .collect();
    let list = list.join(", ");
    format!(
        "[[service]]\nvip = \"{VIP}\"\nport = 9000\nproto = \"tcp\"\nbackend = [{list}]\n\
         [[service]]\nvip = \"{VIP}\"\nport = 8000\nproto = \"tcp\"\nbackend = [{list}]\n"
    )
}

fn restart(keep_state: bool) -> anyhow::Result<Option<Figures>> {
    let Some(mut lab) = lab() else {
        return Ok(None);
    };
    let datapath = DatapathKind::Pnet;
    let net = RoutedNetwork::build(&mut lab, datapath, 3)?;
    let path = lab.write_file("rp.toml", &config(&net, 2))?;
    let mut flags = ReverseProxyFlags::new(datapath, &net.front, &net.back, &path);
    flags.state_file = keep_state.then(|| lab.path("sessions.state"));
    let binary = std::env::var("LB_RP").unwrap_or_else(|_| env!("CARGO_BIN_EXE_lb-rp").to_owned());
    let lb = lab.start_lb(&net.lb_ns, &binary, flags.args())?;
    net.attach(&mut lab)?;
    let servers = routed_servers(&lab, &net, 8000);
    start_servers(&mut lab, &servers)?;
    for host in &net.backends {
        lab.paced_server(&host.ns, host.addr, 9000)?;
    }
    lab.http_get(&net.client, &format!("http://{VIP}:8000/id"))?;
    let streams = (0..STREAMS)
        .map(|_| lab.stream(&net.client, VIP, 9000))
        .collect::<anyhow::Result<Vec<_>>>()?;
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        streams.iter().all(|s| s.received() > 0),
        "every stream runs"
    );

    // The file gains a third backend; the process restarts with it.
    std::fs::write(&path, config(&net, 3))?;
    let before: Vec<u64> = streams.iter().map(Stream::received).collect();
    let stopping = Instant::now();
    let (status, mut log) = lb.stop()?;
    assert!(status.success(), "{log}");
    let lb = lab.start_lb(&net.lb_ns, &binary, flags.args())?;
    let downtime = stopping.elapsed();
    // Each stream watched for four seconds, side by side.
    let gaps: Vec<Duration> = std::thread::scope(|scope| {
        let watchers: Vec<_> = streams
            .iter()
            .map(|s| scope.spawn(move || s.longest_stall(Duration::from_secs(4))))
            .collect();
        watchers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    // Kept: grew since the restart, and still growing at its end.
    let middle: Vec<u64> = streams.iter().map(Stream::received).collect();
    std::thread::sleep(Duration::from_secs(1));
    let kept: Vec<bool> = streams
        .iter()
        .zip(before.iter().zip(&middle))
        .map(|(s, (&before, &middle))| middle > before && s.received() > middle)
        .collect();
    let longest_gap = gaps
        .iter()
        .zip(&kept)
        .filter(|(_, kept)| **kept)
        .map(|(gap, _)| *gap)
        .max()
        .unwrap_or_default();
    let on_added = (0..30)
        .filter(|_| {
            lab.http_get(&net.client, &format!("http://{VIP}:8000/id"))
                .is_ok_and(|id| id == "b3")
        })
        .count();
    let (status, second) = lb.stop()?;
    assert!(status.success(), "{second}");
    log.push_str(&second);
    Ok(Some(Figures {
        kept: kept.iter().filter(|k| **k).count(),
        downtime,
        longest_gap,
        on_added,
        log,
    }))
}

#[test]
fn a_restart_with_a_backend_added_keeps_every_stream() -> anyhow::Result<()> {
    let Some(with) = restart(true)? else {
        return Ok(());
    };
    eprintln!(
        "FIGURES with --state-file: {} of {STREAMS} streams kept, down {} ms, longest gap {} ms, \
         {} of 30 new connections on the added backend",
        with.kept,
        with.downtime.as_millis(),
        with.longest_gap.as_millis(),
        with.on_added
    );
    // The streams, and the sessions of the requests made before.
    assert!(counter(&with.log, "saved") > STREAMS as u64, "{}", with.log);
    assert!(
        counter(&with.log, "restored") > STREAMS as u64,
        "{}",
        with.log
    );
    assert_eq!(with.kept, STREAMS, "{}", with.log);
    assert!(with.on_added > 0, "the added backend takes new flows");
    assert!(with.longest_gap < Duration::from_secs(3), "{with:?}");

    // The same restart without the state file: some streams are reset.
    let without = restart(false)?.expect("root, as above");
    eprintln!(
        "FIGURES without --state-file: {} of {STREAMS} streams kept, down {} ms, \
         {} of 30 new connections on the added backend",
        without.kept,
        without.downtime.as_millis(),
        without.on_added
    );
    assert!(without.kept < STREAMS, "{}", without.log);
    Ok(())
}
