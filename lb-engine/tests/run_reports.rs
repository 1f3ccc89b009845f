//! What the run loop tells of frames: the ones it could not send, counted
//! by why and logged with the error; and each frame at `trace` level.

mod common;

use std::io;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use lb_datapath::{MemoryDatapath, RxBatch};
use lb_engine::{Datapath, Observe, PortId, ReverseProxy, ReverseProxyConfig, RunOptions, run};
use tracing::level_filters::LevelFilter;

/// The in-memory datapath, whose port 1 is a tap with its interface down
/// (writes fail with `EIO`, as the kernel's do) and whose port 0's queue
/// is full (`ENOBUFS`).
struct Failing(MemoryDatapath);

impl Datapath for Failing {
    fn port_count(&self) -> usize {
        self.0.port_count()
    }

    fn port_name(&self, port: PortId) -> Option<&str> {
        ["tap-full", "tap-down", "tap-back"]
            .get(port.index())
            .copied()
    }

    fn recv(&mut self, batch: &mut RxBatch, timeout: Option<Duration>) -> io::Result<usize> {
        self.0.recv(batch, timeout)
    }

    fn send(&mut self, port: PortId, frame: &[u8]) -> io::Result<()> {
        match port.index() {
            0 => Err(io::Error::from_raw_os_error(105)), // ENOBUFS
            1 => Err(io::Error::from_raw_os_error(5)),   // EIO
            _ => self.0.send(port, frame),
        }
    }

    fn is_exhausted(&self) -> bool {
        self.0.is_exhausted()
    }

    fn now(&self) -> Instant {
        self.0.now()
    }
}

/// A reverse proxy of two frontends, with no services: it floods what it
/// does not know, such as an IPv6 echo from the backend side.
fn flooding_proxy() -> ReverseProxy {
    let config: ReverseProxyConfig = toml::from_str("").unwrap();
    let frontends = vec![
        Some(ip(10, 0, 0, 254).into()),
        Some(ip(10, 1, 0, 254).into()),
    ];
    ReverseProxy::new(frontends, &config).unwrap()
}

/// Runs `datapath` to its end with the log at `level`; the summary, the
/// engine's stats and what was logged.
fn run_logged(
    mut datapath: impl Datapath,
    level: LevelFilter,
) -> (lb_engine::RunSummary, lb_engine::Stats, String) {
    let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink = Arc::clone(&buffer);
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .without_time()
        .with_writer(move || Sink(Arc::clone(&sink)))
        .finish();
    let mut engine = flooding_proxy();
    let summary = tracing::subscriber::with_default(subscriber, || {
        run(
            &mut datapath,
            &mut engine,
            &AtomicBool::new(false),
            RunOptions::default(),
        )
        .unwrap()
    });
    let log = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    (summary, engine.stats(Instant::now()), log)
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl io::Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn unsent_frames_are_counted_by_why_and_logged_once_with_the_error() {
    let mut datapath = MemoryDatapath::new(3, Instant::now());
    for _ in 0..5 {
        datapath.inject(PortId(2), ipv6((BACKEND_MAC, CLIENT_MAC)));
    }
    let (summary, stats, log) = run_logged(Failing(datapath), LevelFilter::INFO);
    assert_eq!(summary.received, 5);
    assert_eq!(
        (summary.sent, summary.port_down, summary.send_errors),
        (0, 5, 5)
    );
    assert_eq!((stats.unsent_port_down, stats.send_errors), (5, 5));
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("WARN")).collect();
    // One batch: one warning, naming the last port's device and errno.
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(
        warnings[0].contains(
            "10 frames not sent (5 to a port that was down, 5 failed), the last out of tap-down: \
             Input/output error (os error 5)"
        ),
        "{log}"
    );
    assert!(warnings[0].contains("errno=5"), "{log}");
}

#[test]
fn every_frame_is_traced_with_what_became_of_it_only_at_trace_level() {
    let frames = || {
        let mut datapath = MemoryDatapath::new(3, Instant::now());
        datapath.inject(PortId(2), ipv6((BACKEND_MAC, CLIENT_MAC)));
        datapath.inject(PortId(0), vec![0u8; 10]);
        datapath
    };
    let (_, _, log) = run_logged(frames(), LevelFilter::TRACE);
    let traced: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("TRACE") && l.contains("lb_engine::frames"))
        .collect();
    assert_eq!(traced.len(), 2, "{log}");
    assert!(
        traced[0].contains("port 2: icmp [fe80::1]:1 -> [fe80::2]:1 (64 bytes)")
            && traced[0].ends_with("flooded to every other port port=2"),
        "{log}"
    );
    assert!(
        traced[1].contains("port 0: malformed frame of 10 bytes: dropped: malformed"),
        "{log}"
    );
    let (_, _, quiet) = run_logged(frames(), LevelFilter::DEBUG);
    assert!(!quiet.contains("lb_engine::frames"), "{quiet}");
}
