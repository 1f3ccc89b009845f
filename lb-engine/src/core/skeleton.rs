//! The frame path and the observation every engine on the [`Core`] shares,
//! written once as blanket implementations over [`Balancer`].

use core::fmt::Display;
use core::hash::Hash;
use std::time::Instant;

use lb_algos::BackendId;
use lb_packet::{FlowKey, Frame, Offload, WireSize};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Core;
use super::services::{Owned, Owner};
use crate::health::prober::ProbeTarget;
use crate::{
    Engine, HealthEvent, Observe, PortId, RxBatch, SessionFilter, SessionView, Stats, Verdict,
};

/// A load balancer built on the shared [`Core`]: what it does with a parsed
/// frame, and timed work or frames of its own if it has any.
pub(crate) trait Balancer {
    /// How its services are named.
    type Key: Clone + Eq + Hash + Display;
    /// Where its backends are (an address, a MAC).
    type Target: Copy + PartialEq + Display + Into<BackendId>;
    /// What its sessions remember.
    type Session: Owned;
    /// What a saved session keeps beside its keys and owner
    /// ([`Persist`](crate::Persist)).
    type Extra: Serialize + DeserializeOwned;

    fn core(&self) -> &Core<Self::Key, Self::Target, Self::Session>;

    fn core_mut(&mut self) -> &mut Core<Self::Key, Self::Target, Self::Session>;

    /// How many ports it has.
    fn ports(&self) -> usize;

    /// What to do with `frame`, received on `port` at `now`.
    fn dispatch(&mut self, now: Instant, port: PortId, frame: &mut Frame<&mut [u8]>) -> Verdict;

    /// Timed work of its own, beside the session sweep.
    fn on_timeout(&mut self, now: Instant) {
        let _ = now;
    }

    /// When [`on_timeout`](Self::on_timeout) next has work.
    fn deadline(&self) -> Option<Instant> {
        None
    }

    /// A frame of its own to send, written into `buffer`.
    fn originate(&mut self, buffer: &mut Vec<u8>) -> Option<PortId> {
        let _ = buffer;
        None
    }

    /// Writes what the core does not know into a snapshot of its stats
    /// (names given to services and backends).
    fn label(&self, stats: &mut Stats) {
        let _ = stats;
    }

    /// What a saved session keeps beside its keys and owner.
    fn saved_extra(&self, session: &Self::Session) -> Self::Extra;

    /// A saved session put back: from its keys, its owner (found again by
    /// name) and what it kept. None when it does not fit this engine.
    fn rebuild(
        &mut self,
        owner: Owner,
        forward: &FlowKey,
        reverse: &FlowKey,
        extra: Self::Extra,
    ) -> Option<Self::Session>;

    /// The name a saved session's service is found by after a restart.
    fn saved_name(key: &Self::Key) -> String {
        key.to_string()
    }

    /// Where a probe of the backend at `target` of service `key` goes,
    /// `port` being the check's own port (0 when it has none). None: it
    /// cannot be probed.
    fn probe_target(key: &Self::Key, target: Self::Target, port: u16) -> Option<ProbeTarget>;
}

impl<B: Balancer> Engine for B {
    fn port_count(&self) -> usize {
        self.ports()
    }

    /// Parses `frame`, dispatches it, and counts the verdict.
    #[inline]
    fn handle_offloaded(
        &mut self,
        now: Instant,
        port: PortId,
        frame: &mut [u8],
        offload: &mut Offload,
    ) -> Verdict {
        let len = frame.len();
        // Most frames are finished: they skip the offload checks.
        let pending = offload.is_pending();
        let parsed = if pending {
            Frame::parse_offloaded(frame, *offload)
        } else {
            Frame::parse(frame)
        };
        let (verdict, size) = match parsed {
            Ok(mut frame) => {
                let verdict = self.dispatch(now, port, &mut frame);
                if pending {
                    *offload = frame.offload();
                }
                (verdict, frame.wire_size())
            }
            Err(error) => (Verdict::Drop(error.into()), WireSize::single(len)),
        };
        let core = self.core_mut();
        core.settle();
        core.traffic.record(size, verdict);
        verdict
    }

    /// Reads and hashes every frame's flow and prefetches its session
    /// first (see the `batch` module), then handles each frame.
    fn handle_batch(&mut self, now: Instant, batch: &mut RxBatch, verdicts: &mut Vec<Verdict>) {
        verdicts.clear();
        let core = self.core_mut();
        let frames =
            (0..batch.len()).filter_map(|index| batch.frame(index).map(|(_, bytes)| bytes));
        core.batch.prepare(&core.sessions, frames);
        for index in 0..batch.len() {
            let Some((port, frame, offload)) = batch.frame_offloaded_mut(index) else {
                break;
            };
            self.core_mut().batch.start(index);
            verdicts.push(self.handle_offloaded(now, port, frame, offload));
            self.core_mut().batch.finish();
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.on_timeout(now);
        let core = self.core_mut();
        core.handle_timeout(now);
        core.run_health(now, Self::probe_target);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (self.core().poll_timeout(), self.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn note_kernel_drops(&mut self, total: u64) {
        self.core_mut().kernel_drops = total;
    }

    fn note_unsent(&mut self, port_down: u64, failed: u64) {
        let core = self.core_mut();
        (core.unsent_port_down, core.send_errors) = (port_down, failed);
    }

    fn poll_transmit(&mut self, buffer: &mut Vec<u8>) -> Option<PortId> {
        let port = self
            .originate(buffer)
            .or_else(|| self.core_mut().poll_probe(buffer))?;
        self.core_mut().traffic.originated += 1;
        Some(port)
    }
}

impl<B: Balancer> Observe for B {
    fn stats(&self, now: Instant) -> Stats {
        let mut stats = self.core().stats(now);
        self.label(&mut stats);
        stats
    }

    fn reset_counters(&mut self) {
        self.core_mut().reset_counters();
    }

    fn sessions(&self, now: Instant, filter: &SessionFilter, limit: usize) -> Vec<SessionView> {
        self.core().sessions(now, filter, limit)
    }

    fn poll_health_event(&mut self) -> Option<HealthEvent> {
        self.core_mut().poll_health_event()
    }
}
