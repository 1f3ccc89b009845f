//! The [`Datapath`] trait: moving Ethernet frames for a set of ports.

use std::io;
use std::time::{Duration, Instant};

use lb_packet::Offload;

use crate::{PortId, SendReport};

/// Frames received in one go, with the buffers they were read into and
/// what a device still owes each ([`Offload`]: a partial checksum, a TCP
/// super-frame to segment). The run loop hands each to the engine, which
/// rewrites it in place, and sends it from the same buffer: no copy, no
/// allocation per frame.
#[derive(Debug)]
pub struct RxBatch {
    buffers: Vec<Box<[u8]>>,
    lens: Vec<usize>,
    ports: Vec<PortId>,
    offloads: Vec<Offload>,
    count: usize,
}

impl RxBatch {
    /// Room for `capacity` frames of up to `frame_size` bytes each.
    pub fn new(capacity: usize, frame_size: usize) -> Self {
        RxBatch {
            buffers: (0..capacity.max(1))
                .map(|_| vec![0u8; frame_size].into_boxed_slice())
                .collect(),
            lens: vec![0; capacity.max(1)],
            ports: vec![PortId(0); capacity.max(1)],
            offloads: vec![Offload::NONE; capacity.max(1)],
            count: 0,
        }
    }

    /// Forgets the frames held.
    pub fn clear(&mut self) {
        self.count = 0;
    }

    /// Frames held.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when no frame is held.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// True when no buffer is free.
    pub fn is_full(&self) -> bool {
        self.count == self.buffers.len()
    }

    /// Frames the batch can hold.
    pub fn capacity(&self) -> usize {
        self.buffers.len()
    }

    /// The next free buffer, to receive a frame into; `None` when full.
    /// Keep what was written with [`commit`](Self::commit).
    pub fn free_buffer(&mut self) -> Option<&mut [u8]> {
        self.buffers
            .get_mut(self.count)
            .map(|buffer| &mut buffer[..])
    }

    /// Keeps the `len` bytes just written into [`free_buffer`](Self::free_buffer)
    /// as a frame received on `port`, finished (no offload pending).
    pub fn commit(&mut self, port: PortId, len: usize) {
        self.commit_offloaded(port, len, Offload::NONE);
    }

    /// As [`commit`](Self::commit), for a frame a device has not finished.
    pub fn commit_offloaded(&mut self, port: PortId, len: usize, offload: Offload) {
        if let Some(buffer) = self.buffers.get(self.count) {
            self.lens[self.count] = len.min(buffer.len());
            self.ports[self.count] = port;
            self.offloads[self.count] = offload;
            self.count += 1;
        }
    }

    /// What a device still owes frame `index` ([`Offload::NONE`] past the
    /// frames held).
    pub fn offload(&self, index: usize) -> Offload {
        self.offloads
            .get(index)
            .filter(|_| index < self.count)
            .copied()
            .unwrap_or_default()
    }

    /// Frame `index` and the port it came from.
    pub fn frame(&self, index: usize) -> Option<(PortId, &[u8])> {
        if index >= self.count {
            return None;
        }
        Some((self.ports[index], &self.buffers[index][..self.lens[index]]))
    }

    /// Frame `index`, writable, and the port it came from.
    pub fn frame_mut(&mut self, index: usize) -> Option<(PortId, &mut [u8])> {
        if index >= self.count {
            return None;
        }
        Some((
            self.ports[index],
            &mut self.buffers[index][..self.lens[index]],
        ))
    }

    /// Frame `index`, writable, the port it came from, and its offload, for
    /// an engine to keep true to what it makes of the frame.
    pub fn frame_offloaded_mut(
        &mut self,
        index: usize,
    ) -> Option<(PortId, &mut [u8], &mut Offload)> {
        if index >= self.count {
            return None;
        }
        Some((
            self.ports[index],
            &mut self.buffers[index][..self.lens[index]],
            &mut self.offloads[index],
        ))
    }
}

/// Moves Ethernet frames for a fixed set of ports, numbered from 0 in the
/// order the engine expects them.
pub trait Datapath {
    /// How many ports there are.
    fn port_count(&self) -> usize;

    /// The name of `port`'s device, when the datapath has one (a tap, an
    /// interface), to label captures and logs.
    fn port_name(&self, port: PortId) -> Option<&str> {
        let _ = port;
        None
    }

    /// Waits until a frame is ready or `timeout` passes (`None`: no wait),
    /// then receives as many ready frames as fit into `batch`. Returns how
    /// many it added.
    fn recv(&mut self, batch: &mut RxBatch, timeout: Option<Duration>) -> io::Result<usize>;

    /// Sends `frame`, finished (no offload pending), out of `port`.
    fn send(&mut self, port: PortId, frame: &[u8]) -> io::Result<()>;

    /// Sends `frame` out of `port` with what a device still owes it. A
    /// datapath whose ports take offloads hands them on; the default does
    /// them in software ([`lb_packet::segment`]) and sends the results
    /// with [`send`](Self::send), allocating a scratch buffer per call:
    /// fine for a datapath that never receives offloaded frames.
    fn send_offloaded(&mut self, port: PortId, frame: &[u8], offload: &Offload) -> io::Result<()> {
        if offload.is_pending() {
            send_finished(self, port, frame, offload)
        } else {
            self.send(port, frame)
        }
    }

    /// Sends frames of `batch`, each `(port, index)` the frame at `index`
    /// out of `port` with its offload; reports how many went out, and why
    /// the others did not. The default sends them one by one; a datapath
    /// that can amortise system calls does better.
    fn send_batch(&mut self, batch: &RxBatch, sends: &[(PortId, usize)]) -> SendReport {
        let mut report = SendReport::default();
        for &(port, index) in sends {
            if let Some((_, frame)) = batch.frame(index) {
                let outcome = self.send_offloaded(port, frame, &batch.offload(index));
                report.record(port, 1, outcome);
            }
        }
        report
    }

    /// The time to hand the engine: the wall clock, or a capture's.
    fn now(&self) -> Instant {
        Instant::now()
    }

    /// True when no frame will ever arrive again (a capture read to its
    /// end); the run loop then stops.
    fn is_exhausted(&self) -> bool {
        false
    }

    /// Frames the kernel dropped on their way to this datapath, because it
    /// did not read them fast enough (a tap's full queue, a packet
    /// socket's full buffer), since it opened; None when it cannot tell.
    /// Each call may cost a system call or two: call it now and then.
    fn kernel_drops(&mut self) -> Option<u64> {
        None
    }

    /// From now on, ends [`recv`](Self::recv)'s wait as soon as `waker`
    /// is woken (it returns, with or without frames). A datapath whose
    /// wait is short or absent (memory, replay) need not; the default
    /// ignores it.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn watch(&mut self, waker: &crate::Waker) -> io::Result<()> {
        let _ = waker;
        Ok(())
    }
}

/// Does in software what `offload` leaves to a device
/// ([`lb_packet::segment`]) and sends each resulting frame out of `port`
/// with [`Datapath::send`]: for a port that cannot take the frame as it is.
/// Allocates a scratch buffer per call; stops at the first failure.
pub fn send_finished<D: Datapath + ?Sized>(
    datapath: &mut D,
    port: PortId,
    frame: &[u8],
    offload: &Offload,
) -> io::Result<()> {
    let mut scratch = vec![0; frame.len()];
    let mut result = Ok(());
    lb_packet::segment(frame, offload, &mut scratch, |segment| {
        if result.is_ok() {
            result = datapath.send(port, segment);
        }
    })
    .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
    result
}
