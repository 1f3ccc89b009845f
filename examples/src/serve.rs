//! Running an engine on real interfaces until a signal says stop.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use lb_datapath::{Capture, PortEvent, PortEventKind};
use lb_datapath_pnet::PnetDatapath;
use lb_datapath_tap::TapDatapath;
use lb_engine::{Datapath, Engine, Observe, Persist, RunOptions, Stats, run_with};

use crate::cli::{AdminArgs, DatapathKind, RunArgs, read_token};
use crate::state_file;
use lb_control::{AdminCommands, AdminOptions, LogControl, Routable};

/// Opens `interfaces` as the engine's ports, in order, captured to a file
/// when `--capture` says so.
pub fn open_datapath(run: &RunArgs, interfaces: &[String]) -> anyhow::Result<Box<dyn Datapath>> {
    let names: Vec<&str> = interfaces.iter().map(String::as_str).collect();
    let capture = run.capture.as_deref().map(|path| (path, run.capture_limit));
    match (run.kind, run.no_offload) {
        (DatapathKind::Tap, false) => {
            let taps = TapDatapath::open(&names)?.on_event(reporter());
            captured(taps, capture)
        }
        (DatapathKind::Tap, true) => {
            let taps = TapDatapath::open_without_offloads(&names)?.on_event(reporter());
            captured(taps, capture)
        }
        (DatapathKind::Pnet, false) => {
            let ports = PnetDatapath::open(&names)?.on_event(reporter());
            captured(ports, capture)
        }
        (DatapathKind::Pnet, true) => {
            let ports = PnetDatapath::open_without_offloads(&names)?.on_event(reporter());
            captured(ports, capture)
        }
    }
}

/// Logs each port event: a link down or a tap gone as a warning, their
/// return as news.
fn reporter() -> impl FnMut(&PortEvent) + Send + 'static {
    |event| match event.kind {
        PortEventKind::LinkUp | PortEventKind::Reopened => tracing::info!("{event}"),
        _ => tracing::warn!("{event}"),
    }
}

/// `datapath`, wrapped in a [`Capture`] to `path` if one is given.
fn captured<D: Datapath + 'static>(
    datapath: D,
    capture: Option<(&Path, u64)>,
) -> anyhow::Result<Box<dyn Datapath>> {
    let Some((path, limit)) = capture else {
        return Ok(Box::new(datapath));
    };
    let shown = path.display().to_string();
    let capture = Capture::create(datapath, path)
        .context("opening the capture")?
        .limit(limit)
        .on_error(move |error| {
            tracing::error!("capture {shown} stopped, traffic goes on: {error}");
        });
    tracing::info!(
        "capturing every frame to {} (pcapng, up to {limit} bytes)",
        path.display()
    );
    Ok(Box::new(capture))
}

/// Flags raised by signals: stop (SIGINT, SIGTERM) and reload (SIGHUP).
#[derive(Debug, Clone)]
pub struct Signals {
    /// Set on SIGINT or SIGTERM.
    pub stop: Arc<AtomicBool>,
    /// Set on SIGHUP; whoever reloads clears it.
    pub reload: Arc<AtomicBool>,
}

impl Signals {
    /// Installs the handlers.
    pub fn install() -> anyhow::Result<Self> {
        let signals = Signals {
            stop: Arc::new(AtomicBool::new(false)),
            reload: Arc::new(AtomicBool::new(false)),
        };
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(signal, Arc::clone(&signals.stop))
                .context("installing signal handlers")?;
        }
        signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&signals.reload))
            .context("installing signal handlers")?;
        Ok(signals)
    }

    /// True once, after each SIGHUP.
    pub fn take_reload(&self) -> bool {
        self.reload.swap(false, Ordering::Relaxed)
    }
}

/// Starts the admin endpoint when `--admin` is given, logging where and
/// whether it takes a token. Raises the descriptor limit first, so that
/// many clients do not run the process out of them.
pub fn start_admin<E: Routable>(
    args: &AdminArgs,
    log: LogControl,
) -> anyhow::Result<Option<AdminCommands<E>>> {
    let Some(addr) = args.admin else {
        if args.admin_token_file.is_some() {
            anyhow::bail!("--admin-token-file needs --admin");
        }
        return Ok(None);
    };
    let token = args
        .admin_token_file
        .as_deref()
        .map(read_token)
        .transpose()?;
    let guarded = if token.is_some() {
        ", token required"
    } else {
        ""
    };
    raise_descriptor_limit();
    let options = AdminOptions {
        token,
        log: Some(log),
    };
    let (commands, bound) = lb_control::start_with::<E>(addr, options)?;
    let writes = if addr.ip().is_loopback() && guarded.is_empty() {
        " (loopback; anyone on this host may change it: --admin-token-file guards writes)"
    } else {
        guarded
    };
    tracing::info!("admin endpoint on http://{bound}{writes}");
    Ok(Some(commands))
}

/// Lifts the soft limit on open descriptors to the hard one.
fn raise_descriptor_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(error) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!("cannot raise the descriptor limit: {error}");
        }
    }
}

/// Opens the ports, puts back the sessions of `--state-file`, prints the
/// `ready` line, and runs `engine` until a stop signal; between batches it
/// runs the admin endpoint's commands (woken for them at once), then
/// `between_batches` with the engine. Prints a summary when it stops, and
/// writes the sessions to the state file.
pub fn serve<E: Engine + Observe + Persist>(
    program: &str,
    run: &RunArgs,
    interfaces: &[String],
    engine: &mut E,
    signals: &Signals,
    admin: Option<AdminCommands<E>>,
    mut between_batches: impl FnMut(&mut E),
) -> anyhow::Result<()> {
    let state = run.state_file.as_deref();
    if let Some(path) = state {
        state_file::check_writable(path)?;
    }
    let mut datapath = open_datapath(run, interfaces)?;
    if let Some(path) = state {
        state_file::restore(path, engine);
    }
    if let Some(admin) = &admin {
        datapath
            .watch(admin.waker())
            .context("watching for admin commands")?;
    }
    let ports = format!(
        "{} ports on {} ({})",
        interfaces.len(),
        run.kind,
        interfaces.join(", ")
    );
    // Standard output for scripts that wait for it, the log for people.
    println!("{program} ready: {ports}");
    tracing::info!("ready: {ports}");
    std::io::stdout().flush().context("writing to stdout")?;
    let mut alarms = crate::alarms::Alarms::default();
    let summary = run_with(
        datapath.as_mut(),
        engine,
        &signals.stop,
        RunOptions {
            busy_poll: Duration::from_micros(run.busy_poll_us),
            ..RunOptions::default()
        },
        |engine: &mut E| {
            if let Some(admin) = &admin {
                admin.apply(engine);
            }
            alarms.check(engine);
            between_batches(engine);
            while let Some(event) = engine.poll_health_event() {
                let (service, backend) = (&event.service, &event.backend);
                if event.usable {
                    tracing::info!(service, backend, "{event}");
                } else {
                    tracing::warn!(service, backend, "{event}");
                }
            }
        },
    )
    .context("datapath failed")?;
    tracing::info!(
        "stopping: {} frames received, {} sent, {} to a port that was down, {} send errors",
        summary.received,
        summary.sent,
        summary.port_down,
        summary.send_errors
    );
    print_summary(&engine.stats(Instant::now()));
    match state {
        Some(path) => state_file::save(path, engine),
        None => Ok(()),
    }
}

/// The counters, for people.
pub fn print_summary(stats: &Stats) {
    let t = &stats.traffic;
    tracing::info!(
        "frames in {} ({} bytes): forwarded {}, replied {}, flooded {}, consumed {}, dropped {}",
        t.frames_in,
        t.bytes_in,
        t.forwarded,
        t.replied,
        t.flooded,
        t.consumed,
        t.dropped
    );
    let drops: Vec<String> = lb_engine::DropReason::ALL
        .iter()
        .filter(|reason| t.drops(**reason) > 0)
        .map(|reason| format!("{reason} {}", t.drops(*reason)))
        .collect();
    if !drops.is_empty() {
        tracing::info!("drops: {}", drops.join(", "));
    }
    if t.stateless > 0 {
        tracing::info!(
            "new flows without a session {}, flood guarded {}, replies translated without one {}",
            t.stateless,
            t.flood_guarded,
            t.stateless_replies
        );
    }
    if stats.kernel_drops > 0 {
        tracing::info!("kernel drops before reading: {}", stats.kernel_drops);
    }
    tracing::info!(
        "sessions: {} live of {}",
        stats.sessions,
        stats.session_capacity
    );
    for service in &stats.services {
        tracing::info!(
            "service {} ({}): {} new flows, {} packets",
            service.name,
            service.policy,
            service.counters.new_flows,
            service.counters.packets
        );
        for backend in &service.backends {
            let health = &backend.health_detail.counters;
            // What passive detection saw, when it saw anything: failed
            // handshakes send a backend's new flows elsewhere.
            let failures = if health.handshakes_failed > 0 {
                format!(
                    ", {} failed handshakes, {} ejections",
                    health.handshakes_failed, health.ejections
                )
            } else {
                String::new()
            };
            tracing::info!(
                "  backend {} weight {}: {} new flows, {} packets, {} sessions{failures}",
                backend.name,
                backend.weight,
                backend.counters.new_flows,
                backend.counters.packets,
                backend.sessions
            );
        }
    }
}
