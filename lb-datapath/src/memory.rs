//! A datapath in memory, with a clock that moves only when told.

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use crate::{Datapath, PortId, RxBatch};

/// Frames injected by hand, frames sent kept for inspection, and a virtual
/// clock: for tests and simulations, and to embed an engine where frames
/// come from elsewhere. A run loop (`lb_engine::run`) stops once every injected frame
/// was handled.
#[derive(Debug)]
pub struct MemoryDatapath {
    ports: usize,
    inbox: VecDeque<(PortId, Vec<u8>)>,
    sent: Vec<(PortId, Vec<u8>)>,
    now: Instant,
}

impl MemoryDatapath {
    /// A datapath with `ports` ports, its clock at `start`.
    pub fn new(ports: usize, start: Instant) -> Self {
        MemoryDatapath {
            ports,
            inbox: VecDeque::new(),
            sent: Vec::new(),
            now: start,
        }
    }

    /// Queues `frame` as received on `port`.
    pub fn inject(&mut self, port: PortId, frame: impl Into<Vec<u8>>) {
        self.inbox.push_back((port, frame.into()));
    }

    /// The frames sent since the last call, in order.
    pub fn take_sent(&mut self) -> Vec<(PortId, Vec<u8>)> {
        core::mem::take(&mut self.sent)
    }

    /// Moves the clock forward.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
    }
}

impl Datapath for MemoryDatapath {
    fn port_count(&self) -> usize {
        self.ports
    }

    fn recv(&mut self, batch: &mut RxBatch, _timeout: Option<Duration>) -> io::Result<usize> {
        let mut received = 0;
        while let Some(buffer) = batch.free_buffer() {
            let Some((port, frame)) = self.inbox.pop_front() else {
                break;
            };
            let len = frame.len().min(buffer.len());
            buffer[..len].copy_from_slice(&frame[..len]);
            batch.commit(port, len);
            received += 1;
        }
        Ok(received)
    }

    fn send(&mut self, port: PortId, frame: &[u8]) -> io::Result<()> {
        if port.index() >= self.ports {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("no {port}"),
            ));
        }
        self.sent.push((port, frame.to_vec()));
        Ok(())
    }

    fn now(&self) -> Instant {
        self.now
    }

    fn is_exhausted(&self) -> bool {
        self.inbox.is_empty()
    }
}
