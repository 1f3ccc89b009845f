//! The loop that drives an engine with a datapath.

mod frame_trace;
mod unsent;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::{Datapath, Engine, PortId, RxBatch, Verdict};
use unsent::Unsent;

/// How long the loop blocks at most, so it notices a stop request.
const MAX_WAIT: Duration = Duration::from_millis(100);
/// How often the datapath is asked what its kernel side dropped.
const DROPS_EVERY: Duration = Duration::from_secs(1);

/// Tuning of [`run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// Frames received per batch.
    pub batch_size: usize,
    /// Largest frame accepted, in bytes: by default the largest IPv4
    /// packet behind an Ethernet header and an 802.1Q tag, so a TCP
    /// super-frame from a datapath with offloads fits whole.
    pub frame_size: usize,
    /// How long to keep polling the datapath without sleeping after the
    /// last frame arrived: a frame that follows soon (the reply to one just
    /// forwarded) is then read at once, without the wake-up of a sleeping
    /// thread, at the cost of a busy core while traffic flows. Zero (the
    /// default) sleeps whenever nothing is ready.
    pub busy_poll: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            batch_size: 64,
            frame_size: 65_535 + 18,
            busy_poll: Duration::ZERO,
        }
    }
}

/// What [`run`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Frames received.
    pub received: u64,
    /// Frames sent (forwarded, replied, flooded copies, originated).
    pub sent: u64,
    /// Frames not sent because their port was down (a link down, a tap
    /// whose interface is not up, a device gone).
    pub port_down: u64,
    /// Frames the datapath failed to send for any other reason.
    pub send_errors: u64,
}

/// Drives `engine` with `datapath` until `stop` is set or the datapath is
/// exhausted: receives batches, applies the engine's verdicts, sends what
/// the engine originates, and calls its timers on time.
///
/// Receive errors other than interruptions end the loop with the error;
/// frames that cannot be sent are counted, told to the engine
/// ([`Engine::note_unsent`]) and logged as a warning with the error, at
/// most once a second, and the loop goes on. With the `trace` level on
/// for `lb_engine::frames`, each frame is logged with what became of it.
pub fn run<D, E>(
    datapath: &mut D,
    engine: &mut E,
    stop: &AtomicBool,
    options: RunOptions,
) -> io::Result<RunSummary>
where
    D: Datapath + ?Sized,
    E: Engine + ?Sized,
{
    run_with(datapath, engine, stop, options, |_| {})
}

/// As [`run`], calling `between_batches` with the engine after each batch
/// (and at least every 100 ms): the place to apply configuration changes,
/// which then land atomically between frames.
pub fn run_with<D, E>(
    datapath: &mut D,
    engine: &mut E,
    stop: &AtomicBool,
    options: RunOptions,
    mut between_batches: impl FnMut(&mut E),
) -> io::Result<RunSummary>
where
    D: Datapath + ?Sized,
    E: Engine + ?Sized,
{
    if datapath.port_count() != engine.port_count() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the engine expects {} ports, the datapath has {}",
                engine.port_count(),
                datapath.port_count()
            ),
        ));
    }
    let ports = datapath.port_count();
    let mut batch = RxBatch::new(options.batch_size, options.frame_size);
    let mut sends: Vec<(PortId, usize)> = Vec::with_capacity(options.batch_size * ports.max(1));
    let mut verdicts = Vec::with_capacity(options.batch_size);
    // Frames the engine originates are written here, one at a time.
    let mut originated = Vec::with_capacity(options.frame_size);
    let mut summary = RunSummary::default();
    let mut unsent = Unsent::default();
    // What each frame of a batch was before the engine rewrote it, when
    // frames are traced.
    let mut traced: Vec<String> = Vec::new();
    let mut drops_read = None;
    // When a frame last arrived, for busy polling.
    let mut last_frames = None;
    while !stop.load(Ordering::Relaxed) {
        between_batches(engine);
        let now = datapath.now();
        if drops_read.is_none_or(|at| now.saturating_duration_since(at) >= DROPS_EVERY) {
            if let Some(total) = datapath.kernel_drops() {
                engine.note_kernel_drops(total);
            }
            drops_read = Some(now);
        }
        if engine.poll_timeout().is_none_or(|deadline| deadline <= now) {
            engine.handle_timeout(now);
        }
        transmit_originated(datapath, engine, &mut originated, &mut summary, &mut unsent);
        if datapath.is_exhausted() {
            break;
        }
        let wait = engine
            .poll_timeout()
            .map_or(MAX_WAIT, |deadline| deadline.saturating_duration_since(now));
        let spinning =
            last_frames.is_some_and(|at| now.saturating_duration_since(at) < options.busy_poll);
        batch.clear();
        match datapath.recv(&mut batch, (!spinning).then(|| wait.min(MAX_WAIT))) {
            Ok(0) => {}
            Ok(_) => last_frames = Some(now),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        }
        let now = datapath.now();
        sends.clear();
        let tracing = frame_trace::enabled();
        if tracing {
            traced.clear();
            traced.extend(
                (0..batch.len())
                    .filter_map(|index| batch.frame(index))
                    .map(|(_, frame)| frame_trace::Summary(frame).to_string()),
            );
        }
        engine.handle_batch(now, &mut batch, &mut verdicts);
        for (index, &verdict) in verdicts.iter().enumerate() {
            let Some((port, frame)) = batch.frame(index) else {
                break;
            };
            if tracing {
                let before = traced.get(index).map_or("", String::as_str);
                frame_trace::frame(port, before, verdict, frame);
            }
            match verdict {
                Verdict::Forward(out) => sends.push((out, index)),
                Verdict::Reply => sends.push((port, index)),
                Verdict::Flood => sends.extend(
                    (0..ports)
                        .map(|p| PortId(u16::try_from(p).unwrap_or(u16::MAX)))
                        .filter(|&p| p != port)
                        .map(|p| (p, index)),
                ),
                Verdict::Consumed | Verdict::Drop(_) => {}
            }
        }
        summary.received += batch.len() as u64;
        let report = datapath.send_batch(&batch, &sends);
        summary.sent += report.sent as u64;
        unsent.note_batch(report);
        transmit_originated(datapath, engine, &mut originated, &mut summary, &mut unsent);
        if (unsent.port_down, unsent.failed) != (summary.port_down, summary.send_errors) {
            (summary.port_down, summary.send_errors) = (unsent.port_down, unsent.failed);
            engine.note_unsent(unsent.port_down, unsent.failed);
        }
        unsent.warn(datapath, now, false);
    }
    unsent.warn(datapath, datapath.now(), true);
    Ok(summary)
}

fn transmit_originated<D, E>(
    datapath: &mut D,
    engine: &mut E,
    buffer: &mut Vec<u8>,
    summary: &mut RunSummary,
    unsent: &mut Unsent,
) where
    D: Datapath + ?Sized,
    E: Engine + ?Sized,
{
    while let Some(port) = engine.poll_transmit(buffer) {
        match datapath.send(port, buffer) {
            Ok(()) => summary.sent += 1,
            Err(error) => unsent.note_one(port, error),
        }
    }
}
