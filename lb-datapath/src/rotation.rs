//! Reading a set of ports fairly into one batch.

use std::io;

use lb_packet::Offload;

use crate::{PortId, RxBatch};

/// Reads ports in turn into a batch, so that a busy port cannot starve the
/// others, and resumes where the last batch stopped. For [`Datapath`]
/// implementations whose ports are non-blocking descriptors.
///
/// [`Datapath`]: crate::Datapath
#[derive(Debug)]
pub struct PortRotation {
    next: usize,
    drained: Vec<bool>,
}

impl PortRotation {
    /// A rotation over `ports` ports.
    pub fn new(ports: usize) -> Self {
        PortRotation {
            next: 0,
            drained: vec![false; ports],
        }
    }

    /// Reads one frame per port in turn until every port is drained or the
    /// batch is full; returns how many frames it read.
    ///
    /// `read(port, buffer)` reads one frame into `buffer` and returns its
    /// length and what a device still owes it. [`WouldBlock`](io::ErrorKind::WouldBlock) means the port is
    /// drained; [`Interrupted`](io::ErrorKind::Interrupted) is tried again
    /// on the next turn; any other error ends the batch and is returned.
    pub fn fill(
        &mut self,
        batch: &mut RxBatch,
        mut read: impl FnMut(usize, &mut [u8]) -> io::Result<(usize, Offload)>,
    ) -> io::Result<usize> {
        let ports = self.drained.len();
        let (mut received, mut drained) = (0, 0);
        self.drained.fill(false);
        while drained < ports {
            let port = self.next;
            self.next = (self.next + 1) % ports;
            if self.drained[port] {
                continue;
            }
            let Some(buffer) = batch.free_buffer() else {
                break;
            };
            match read(port, buffer) {
                Ok((len, offload)) => {
                    let port = PortId(u16::try_from(port).unwrap_or(u16::MAX));
                    batch.commit_offloaded(port, len, offload);
                    received += 1;
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    self.drained[port] = true;
                    drained += 1;
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(received)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ports holding `queued[port]` frames, each one byte: its port number.
    fn reader(
        queued: &mut [usize],
    ) -> impl FnMut(usize, &mut [u8]) -> io::Result<(usize, Offload)> + '_ {
        |port, buffer| match queued.get_mut(port) {
            Some(0) => Err(io::ErrorKind::WouldBlock.into()),
            Some(left) => {
                *left -= 1;
                buffer[0] = u8::try_from(port).unwrap_or(u8::MAX);
                Ok((1, Offload::NONE))
            }
            None => Err(io::Error::other("no such port")),
        }
    }

    fn ports_of(batch: &RxBatch) -> Vec<u16> {
        (0..batch.len())
            .filter_map(|i| batch.frame(i).map(|(port, _)| port.0))
            .collect()
    }

    #[test]
    fn busy_port_does_not_starve_the_others() -> io::Result<()> {
        let mut rotation = PortRotation::new(3);
        let mut queued = [10, 2, 0];
        let mut batch = RxBatch::new(6, 16);
        assert_eq!(rotation.fill(&mut batch, reader(&mut queued))?, 6);
        assert_eq!(ports_of(&batch), [0, 1, 0, 1, 0, 0]);
        // The next batch starts after the port the last frame came from.
        batch.clear();
        assert_eq!(rotation.fill(&mut batch, reader(&mut queued))?, 6);
        assert_eq!(ports_of(&batch), [0; 6]);
        batch.clear();
        assert_eq!(rotation.fill(&mut batch, reader(&mut queued))?, 0);
        Ok(())
    }

    #[test]
    fn interrupted_is_retried_and_errors_are_returned() {
        let mut rotation = PortRotation::new(2);
        let mut batch = RxBatch::new(4, 16);
        let mut calls = 0;
        let read = rotation.fill(&mut batch, |port, _| {
            calls += 1;
            match (port, calls) {
                (0, 1) => Err(io::ErrorKind::Interrupted.into()),
                (0, 3) => Ok((1, Offload::NONE)),
                _ => Err(io::ErrorKind::WouldBlock.into()),
            }
        });
        assert_eq!(read.ok(), Some(1));
        batch.clear();
        let read = rotation.fill(&mut batch, |port, _| match port {
            0 => Err(io::ErrorKind::WouldBlock.into()),
            _ => Err(io::Error::other("device gone")),
        });
        assert_eq!(read.map_err(|e| e.to_string()), Err("device gone".into()));
    }
}
