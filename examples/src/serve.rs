//! Running an engine on real interfaces until a signal says stop.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use lb_datapath::{Capture, PortEvent};
use lb_datapath_pnet::PnetDatapath;
use lb_datapath_tap::TapDatapath;
use lb_engine::{Datapath, Engine, Observe, Persist, RunOptions, Stats, run_with};

use crate::cli::{AdminArgs, DatapathKind, RunArgs, read_token};
use crate::state_file;
use lb_control::{AdminCommands, AdminOptions, Routable};

/// Opens `interfaces` as the engine's ports, in order, captured to a file
/// when `--capture` says so (logged, as `program`).
pub fn open_datapath(
    program: &str,
    run: &RunArgs,
    interfaces: &[String],
) -> anyhow::Result<Box<dyn Datapath>> {
    let names: Vec<&str> = interfaces.iter().map(String::as_str).collect();
    let capture = run.capture.as_deref();
    match (run.kind, run.no_offload) {
        (DatapathKind::Tap, false) => {
            let taps = TapDatapath::open(&names)?.on_event(reporter(program));
            captured(program, taps, capture)
        }
        (DatapathKind::Tap, true) => {
            let taps = TapDatapath::open_without_offloads(&names)?.on_event(reporter(program));
            captured(program, taps, capture)
        }
        (DatapathKind::Pnet, false) => {
            let ports = PnetDatapath::open(&names)?.on_event(reporter(program));
            captured(program, ports, capture)
        }
        (DatapathKind::Pnet, true) => {
            let ports = PnetDatapath::open_without_offloads(&names)?.on_event(reporter(program));
            captured(program, ports, capture)
        }
    }
}

/// Logs each port event (a link down or up, a tap gone or reopened).
fn reporter(program: &str) -> impl FnMut(&PortEvent) + Send + 'static {
    let program = program.to_owned();
    move |event| log(&program, event)
}

/// `datapath`, wrapped in a [`Capture`] to `path` if one is given.
fn captured<D: Datapath + 'static>(
    program: &str,
    datapath: D,
    path: Option<&Path>,
) -> anyhow::Result<Box<dyn Datapath>> {
    let Some(path) = path else {
        return Ok(Box::new(datapath));
    };
    let (name, shown) = (program.to_owned(), path.display().to_string());
    let capture = Capture::create(datapath, path)
        .context("opening the capture")?
        .on_error(move |error| {
            log(
                &name,
                format_args!("capture {shown} stopped, traffic goes on: {error}"),
            );
        });
    log(
        program,
        format_args!("capturing every frame to {} (pcapng)", path.display()),
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
    program: &str,
    args: &AdminArgs,
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
    raise_descriptor_limit(program);
    let (commands, bound) = lb_control::start_with::<E>(addr, AdminOptions { token })?;
    let writes = if addr.ip().is_loopback() && guarded.is_empty() {
        " (loopback; anyone on this host may change it: --admin-token-file guards writes)"
    } else {
        guarded
    };
    log(
        program,
        format_args!("admin endpoint on http://{bound}{writes}"),
    );
    Ok(Some(commands))
}

/// Lifts the soft limit on open descriptors to the hard one.
fn raise_descriptor_limit(program: &str) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(error) = setrlimit(Resource::Nofile, raised) {
            log(
                program,
                format_args!("cannot raise the descriptor limit: {error}"),
            );
        }
    }
}

/// Logs a line to stderr, prefixed with the program's name.
pub fn log(program: &str, message: impl std::fmt::Display) {
    eprintln!("{program}: {message}");
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
    let mut datapath = open_datapath(program, run, interfaces)?;
    if let Some(path) = state {
        state_file::restore(program, path, engine);
    }
    if let Some(admin) = &admin {
        datapath
            .watch(admin.waker())
            .context("watching for admin commands")?;
    }
    println!(
        "{program} ready: {} ports on {} ({})",
        interfaces.len(),
        run.kind,
        interfaces.join(", ")
    );
    std::io::stdout().flush().context("writing to stdout")?;
    let mut alarms = Alarms::default();
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
            alarms.check(program, engine);
            between_batches(engine);
            while let Some(event) = engine.poll_health_event() {
                log(program, event);
            }
        },
    )
    .context("datapath failed")?;
    log(
        program,
        format_args!(
            "stopping: {} frames received, {} sent, {} send errors",
            summary.received, summary.sent, summary.send_errors
        ),
    );
    print_summary(program, &engine.stats(Instant::now()));
    match state {
        Some(path) => state_file::save(program, path, engine),
        None => Ok(()),
    }
}

/// Says so in the log, at most once a second, when the kernel drops
/// frames before the datapath reads them, or the flood guard holds new
/// flows back.
#[derive(Debug, Default)]
struct Alarms {
    kernel_drops: u64,
    flood_guarded: u64,
    /// New flows refused for want of a source port, by service.
    refused: std::collections::HashMap<String, u64>,
    checked: Option<Instant>,
}

impl Alarms {
    fn check<E: Observe>(&mut self, program: &str, engine: &E) {
        let now = Instant::now();
        if self
            .checked
            .is_some_and(|at| now.duration_since(at) < std::time::Duration::from_secs(1))
        {
            return;
        }
        self.checked = Some(now);
        let stats = engine.stats(now);
        let total = stats.kernel_drops;
        if total > self.kernel_drops {
            log(
                program,
                format_args!(
                    "the kernel dropped {} frames before they were read ({total} in all): \
                     the packet thread does not keep up",
                    total - self.kernel_drops
                ),
            );
        }
        let guarded = stats.traffic.flood_guarded;
        if guarded > self.flood_guarded {
            log(
                program,
                format_args!(
                    "flood guard: {} new flows went on without a session ({guarded} in all): \
                     more new flows in a second than the flood guard allows",
                    guarded - self.flood_guarded
                ),
            );
        }
        (self.kernel_drops, self.flood_guarded) = (total, guarded);
        for service in stats.services.iter().filter(|s| s.refused > 0) {
            let before = self.refused.insert(service.name.clone(), service.refused);
            let new = service.refused - before.unwrap_or(0).min(service.refused);
            if new > 0 {
                let named = service
                    .label
                    .as_ref()
                    .map_or(String::new(), |name| format!(" ({name})"));
                log(
                    program,
                    format_args!(
                        "service {}{named}: {new} new flows refused: no free source port on its \
                         source_nat address ({} in all)",
                        service.name, service.refused
                    ),
                );
            }
        }
    }
}

/// The counters, for people.
pub fn print_summary(program: &str, stats: &Stats) {
    let t = &stats.traffic;
    log(
        program,
        format_args!(
            "frames in {} ({} bytes): forwarded {}, replied {}, flooded {}, consumed {}, dropped {}",
            t.frames_in, t.bytes_in, t.forwarded, t.replied, t.flooded, t.consumed, t.dropped
        ),
    );
    let drops: Vec<String> = lb_engine::DropReason::ALL
        .iter()
        .filter(|reason| t.drops(**reason) > 0)
        .map(|reason| format!("{reason} {}", t.drops(*reason)))
        .collect();
    if !drops.is_empty() {
        log(program, format_args!("drops: {}", drops.join(", ")));
    }
    if t.stateless > 0 {
        log(
            program,
            format_args!(
                "new flows without a session {}, flood guarded {}, replies translated without one {}",
                t.stateless, t.flood_guarded, t.stateless_replies
            ),
        );
    }
    if stats.kernel_drops > 0 {
        log(
            program,
            format_args!("kernel drops before reading: {}", stats.kernel_drops),
        );
    }
    log(
        program,
        format_args!(
            "sessions: {} live of {}",
            stats.sessions, stats.session_capacity
        ),
    );
    for service in &stats.services {
        log(
            program,
            format_args!(
                "service {} ({}): {} new flows, {} packets",
                service.name, service.policy, service.counters.new_flows, service.counters.packets
            ),
        );
        for backend in &service.backends {
            log(
                program,
                format_args!(
                    "  backend {} weight {}: {} new flows, {} packets, {} sessions",
                    backend.name,
                    backend.weight,
                    backend.counters.new_flows,
                    backend.counters.packets,
                    backend.sessions
                ),
            );
        }
    }
}
