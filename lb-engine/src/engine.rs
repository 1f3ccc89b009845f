//! The data plane every load balancer offers its run loop.

use std::time::Instant;

use lb_packet::Offload;

use crate::{PortId, RxBatch, Verdict};

/// A sans-IO load balancer's data plane: it is handed frames and the time,
/// and says what to do; it never touches a device or a clock.
///
/// The run loop calls [`handle_frame`](Self::handle_frame) for each frame
/// received, [`poll_transmit`](Self::poll_transmit) until it returns `None`,
/// and [`handle_timeout`](Self::handle_timeout) once
/// [`poll_timeout`](Self::poll_timeout)'s deadline has passed. Reading
/// counters is [`Observe`](crate::Observe)'s job, changing services
/// [`Control`](crate::Control)'s.
pub trait Engine {
    /// How many ports the engine expects, numbered from 0.
    fn port_count(&self) -> usize;

    /// Decides what to do with `frame`, received on `port` at `now`,
    /// rewriting it in place where needed. The frame is finished (no
    /// offload pending), as from a datapath without offloads.
    fn handle_frame(&mut self, now: Instant, port: PortId, frame: &mut [u8]) -> Verdict {
        self.handle_offloaded(now, port, frame, &mut Offload::default())
    }

    /// As [`handle_frame`](Self::handle_frame), for a frame a device has
    /// not finished ([`Offload`]: a partial checksum, a TCP super-frame).
    /// Rewrites keep such a frame valid, and the engine leaves in `offload`
    /// what the frame it hands on still needs (nothing, once it completed
    /// the checksum or replaced the frame).
    fn handle_offloaded(
        &mut self,
        now: Instant,
        port: PortId,
        frame: &mut [u8],
        offload: &mut Offload,
    ) -> Verdict;

    /// Decides about every frame of `batch`, received at `now`, exactly as
    /// [`handle_offloaded`](Self::handle_offloaded) would one by one in
    /// order, and puts their verdicts in `verdicts` (emptied first), one
    /// per frame. The engines of this crate first read every frame's flow
    /// and start loading the sessions they need, so that the cache misses
    /// of a large table overlap; [`run`](crate::run) calls this.
    fn handle_batch(&mut self, now: Instant, batch: &mut RxBatch, verdicts: &mut Vec<Verdict>) {
        verdicts.clear();
        for index in 0..batch.len() {
            let Some((port, frame, offload)) = batch.frame_offloaded_mut(index) else {
                break;
            };
            verdicts.push(self.handle_offloaded(now, port, frame, offload));
        }
    }

    /// Does timed work (expiring sessions, retrying ARP) due at `now`.
    fn handle_timeout(&mut self, now: Instant);

    /// When [`handle_timeout`](Self::handle_timeout) next has work; None
    /// when no deadline is known, as before the first call (an engine is
    /// never given the time until then): call it then at the next
    /// occasion, as [`run`](crate::run) does.
    fn poll_timeout(&self) -> Option<Instant>;

    /// Writes the next frame the engine sends on its own (an ARP request, a
    /// frame it held until an ARP reply came) into `buffer`, replacing what
    /// was there, and returns the port to send it out of. A buffer reused
    /// from call to call stops allocating once it has grown to the largest
    /// frame.
    fn poll_transmit(&mut self, buffer: &mut Vec<u8>) -> Option<PortId> {
        let _ = buffer;
        None
    }

    /// Tells the engine how many frames its datapath's kernel side dropped
    /// so far ([`Datapath::kernel_drops`](crate::Datapath::kernel_drops)),
    /// for its stats; [`run`](crate::run) does, every second.
    fn note_kernel_drops(&mut self, total: u64) {
        let _ = total;
    }

    /// Tells the engine how many frames its datapath could not send so
    /// far: to a port that was down, and for any other reason; for its
    /// stats. [`run`](crate::run) does, after a batch that changed them.
    fn note_unsent(&mut self, port_down: u64, failed: u64) {
        let _ = (port_down, failed);
    }
}
