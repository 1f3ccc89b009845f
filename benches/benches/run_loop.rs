//! The run loop per frame: the engine's established path at 1024 live
//! sessions plus the loop's own work (verdicts, the send report, timers),
//! over a datapath that hands over the same 64 frames each batch and sends
//! them nowhere. With the frame trace off (no subscriber, and a subscriber
//! at `info` as the binaries have, its filter reloadable) beside on
//! (`trace`, written to nowhere):
//! what the trace costs when it is off is the difference between the
//! first two.

use std::io;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use lb_datapath::SendReport;
use lb_engine::{Datapath, Engine, PortId, RunOptions, RxBatch, SessionSettings, run};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::EnvFilter;

mod common;
use common::{FRONTEND, client_frame, engine_with};

const FLOWS: u32 = 1024;
const BATCH: usize = 64;

/// Hands over `frames` in turn, a batch at a time, until `batches` ran out.
struct Looping {
    frames: Vec<Vec<u8>>,
    next: usize,
    batches: u64,
    now: Instant,
}

impl Datapath for Looping {
    fn port_count(&self) -> usize {
        2
    }

    fn recv(&mut self, batch: &mut RxBatch, _: Option<Duration>) -> io::Result<usize> {
        self.batches = self.batches.saturating_sub(1);
        let mut received = 0;
        while let Some(buffer) = batch.free_buffer() {
            let frame = &self.frames[self.next % self.frames.len()];
            buffer[..frame.len()].copy_from_slice(frame);
            batch.commit(FRONTEND, frame.len());
            self.next += 1;
            received += 1;
        }
        Ok(received)
    }

    fn send(&mut self, _: PortId, _: &[u8]) -> io::Result<()> {
        Ok(())
    }

    fn send_batch(&mut self, _: &RxBatch, sends: &[(PortId, usize)]) -> SendReport {
        SendReport {
            sent: sends.len(),
            ..SendReport::default()
        }
    }

    fn now(&self) -> Instant {
        self.now
    }

    fn is_exhausted(&self) -> bool {
        self.batches == 0
    }
}

fn run_loop(c: &mut Criterion) {
    let mut engine = engine_with(SessionSettings::default());
    let now = Instant::now();
    let mut frame = Vec::new();
    for n in 0..FLOWS {
        frame.clone_from(&client_frame(n, 0x02));
        engine.handle_frame(now, FRONTEND, &mut frame);
    }
    let frames: Vec<Vec<u8>> = (0..FLOWS).map(|n| client_frame(n, 0x10)).collect();
    let options = RunOptions {
        batch_size: BATCH,
        frame_size: 128,
        ..RunOptions::default()
    };
    let mut group = c.benchmark_group("run_loop");
    let levels = [
        ("trace off, no subscriber", None),
        ("trace off, subscriber at info", Some(LevelFilter::INFO)),
        ("trace on", Some(LevelFilter::TRACE)),
    ];
    for (name, level) in levels {
        group.bench_function(name, |b| {
            b.iter_custom(|frames_wanted| {
                let batches = frames_wanted.div_ceil(BATCH as u64);
                let mut datapath = Looping {
                    frames: frames.clone(),
                    next: 0,
                    batches,
                    now,
                };
                let stop = AtomicBool::new(false);
                let mut go = || {
                    let started = Instant::now();
                    run(&mut datapath, &mut engine, &stop, options).unwrap();
                    started.elapsed()
                };
                let elapsed = match level {
                    None => go(),
                    Some(level) => {
                        // As the binaries log: a filter that can change
                        // at run time.
                        let subscriber = tracing_subscriber::fmt()
                            .with_writer(io::sink)
                            .with_env_filter(EnvFilter::default().add_directive(level.into()))
                            .with_filter_reloading()
                            .finish();
                        tracing::subscriber::with_default(subscriber, go)
                    }
                };
                // Whole batches ran: the time of the frames wanted.
                elapsed.mul_f64(frames_wanted as f64 / (batches * BATCH as u64) as f64)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, run_loop);
criterion_main!(benches);
