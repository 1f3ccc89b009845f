//! The loop that drives an engine with a datapath.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::{Datapath, Engine, PortId, RxBatch, Verdict};

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
    /// Frames the datapath failed to send.
    pub send_errors: u64,
}

/// Drives `engine` with `datapath` until `stop` is set or the datapath is
/// exhausted: receives batches, applies the engine's verdicts, sends what
/// the engine originates, and calls its timers on time.
///
/// Receive errors other than interruptions end the loop with the error;
/// send errors are counted and the loop goes on.
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
        transmit_originated(datapath, engine, &mut originated, &mut summary);
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
        engine.handle_batch(now, &mut batch, &mut verdicts);
        for (index, &verdict) in verdicts.iter().enumerate() {
            let Some((port, _)) = batch.frame(index) else {
                break;
            };
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
        let sent = datapath.send_batch(&batch, &sends).unwrap_or(0);
        summary.sent += sent as u64;
        summary.send_errors += (sends.len() - sent.min(sends.len())) as u64;
        transmit_originated(datapath, engine, &mut originated, &mut summary);
    }
    Ok(summary)
}

fn transmit_originated<D, E>(
    datapath: &mut D,
    engine: &mut E,
    buffer: &mut Vec<u8>,
    summary: &mut RunSummary,
) where
    D: Datapath + ?Sized,
    E: Engine + ?Sized,
{
    while let Some(port) = engine.poll_transmit(buffer) {
        match datapath.send(port, buffer) {
            Ok(()) => summary.sent += 1,
            Err(_) => summary.send_errors += 1,
        }
    }
}
