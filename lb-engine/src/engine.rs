//! The interface every load balancer offers its datapath.

use std::time::Instant;

use crate::{PortId, SessionFilter, SessionView, Stats, Verdict};

/// A frame an engine sends on its own: an ARP request, or a frame it held
/// until an ARP reply arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The port to send it out of.
    pub port: PortId,
    /// The whole Ethernet frame.
    pub frame: Vec<u8>,
}

/// A sans-IO load balancer: it is handed frames and the time, and says what
/// to do; it never touches a device or a clock.
///
/// The run loop calls [`handle_frame`](Self::handle_frame) for each frame
/// received, [`poll_transmit`](Self::poll_transmit) until it returns `None`,
/// and [`handle_timeout`](Self::handle_timeout) once
/// [`poll_timeout`](Self::poll_timeout)'s deadline has passed.
pub trait Engine {
    /// How many ports the engine expects, numbered from 0.
    fn port_count(&self) -> usize;

    /// Decides what to do with `frame`, received on `port` at `now`,
    /// rewriting it in place where needed.
    fn handle_frame(&mut self, now: Instant, port: PortId, frame: &mut [u8]) -> Verdict;

    /// Does timed work (expiring sessions, retrying ARP) due at `now`.
    fn handle_timeout(&mut self, now: Instant);

    /// When [`handle_timeout`](Self::handle_timeout) next has work.
    fn poll_timeout(&self) -> Option<Instant>;

    /// The next frame the engine wants to send on its own.
    fn poll_transmit(&mut self) -> Option<Transmit> {
        None
    }

    /// A snapshot of the counters.
    fn stats(&self, now: Instant) -> Stats;

    /// Sets every counter back to zero (sessions stay).
    fn reset_counters(&mut self);

    /// Up to `limit` live sessions that match `filter`.
    fn sessions(&self, now: Instant, filter: &SessionFilter, limit: usize) -> Vec<SessionView>;
}
