//! Recording what a datapath moves, like smoltcp's `PcapWriter` device.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use lb_packet::Offload;

use crate::pcap::{Direction, PcapngWriter};
use crate::{Datapath, PortId, RxBatch, SendReport};

/// Bytes buffered before a write to the capture file: a few hundred
/// small frames, so a busy port costs a write per batch or so, not per frame.
const BUFFER: usize = 256 * 1024;

/// Called once with the error that stopped a capture.
type Report = Box<dyn FnMut(&io::Error) + Send>;

/// A datapath that records every frame its inner datapath receives or is
/// given to send, including those an engine originates, to a pcapng file:
/// an interface per port (named when the inner datapath names its ports),
/// and each frame with its interface and direction.
///
/// Timestamps are the wall clock when the capture began plus how far the
/// inner datapath's [`now`](Datapath::now) has moved since, so a virtual
/// clock ([`MemoryDatapath`](crate::MemoryDatapath),
/// [`PcapDatapath`](crate::PcapDatapath)) gives the same relative times on
/// every run. Received frames are written before the engine rewrites them;
/// a batch sent is written as handed over, frames a full device queue then
/// drops included (the datapath does not say which). Frames with offloads
/// pending are written as the device hands them over, as `tcpdump` on the
/// host shows them: a TCP super-frame whole, a partial checksum unfinished.
///
/// Output is buffered and flushed whenever a [`recv`](Datapath::recv)
/// returns no frame, and on drop. **A capture never stops the data path**:
/// the first error writing it stops the capture, is kept (see
/// [`error`](Self::error)) and is handed to the [`on_error`](Self::on_error)
/// report once; frames keep moving uncaptured.
///
/// ```
/// use std::time::Instant;
/// use lb_datapath::{Capture, Datapath, MemoryDatapath, PcapReader, PortId, RxBatch};
///
/// let mut file = Vec::new();
/// let mut capture = Capture::new(MemoryDatapath::new(2, Instant::now()), &mut file)?;
/// capture.get_mut().inject(PortId(0), vec![0u8; 60]);
/// let mut batch = RxBatch::new(8, 2048);
/// capture.recv(&mut batch, None)?;
/// drop(capture);
/// let frame = PcapReader::new(&file[..])?.next_packet()?.expect("the frame");
/// assert_eq!((frame.interface, frame.data.len()), (0, 60));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Capture<D: Datapath, W: Write = BufWriter<File>> {
    inner: D,
    /// `None` once writing failed.
    writer: Option<PcapngWriter<W>>,
    error: Option<io::Error>,
    report: Option<Report>,
    /// Bytes after which the capture stops.
    limit: u64,
    /// The wall clock since the epoch, and the inner clock, at the start.
    epoch: Duration,
    start: Instant,
}

impl<D: Datapath> Capture<D> {
    /// Captures `inner` to a new file at `path`.
    pub fn create(inner: D, path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        let file = File::create(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Capture::new(inner, BufWriter::with_capacity(BUFFER, file))
    }
}

impl<D: Datapath, W: Write> Capture<D, W> {
    /// Captures `inner` to `output`, starting with the section header and
    /// an interface per port.
    pub fn new(inner: D, output: W) -> io::Result<Self> {
        let mut writer = PcapngWriter::new(output)?;
        for port in 0..inner.port_count() {
            let port = PortId(u16::try_from(port).unwrap_or(u16::MAX));
            writer.add_interface(inner.port_name(port))?;
        }
        Ok(Capture {
            epoch: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default(),
            start: inner.now(),
            inner,
            writer: Some(writer),
            error: None,
            report: None,
            limit: u64::MAX,
        })
    }

    /// Hands the error that stops the capture, if one does, to `report`.
    pub fn on_error(mut self, report: impl FnMut(&io::Error) + Send + 'static) -> Self {
        self.report = Some(Box::new(report));
        self
    }

    /// Stops the capture once it holds `bytes` (the frame that crosses the
    /// limit is the last written), as an error of kind
    /// [`FileTooLarge`](io::ErrorKind::FileTooLarge) saying so: a capture
    /// left running cannot fill the disk.
    pub fn limit(mut self, bytes: u64) -> Self {
        self.limit = bytes;
        self
    }

    /// The error that stopped the capture, if one did.
    pub fn error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }

    /// The datapath captured.
    pub fn get_ref(&self) -> &D {
        &self.inner
    }

    /// The datapath captured, to inject frames or read its state; frames it
    /// moves through this borrow are not captured.
    pub fn get_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    fn time(&self) -> Duration {
        self.epoch + self.inner.now().saturating_duration_since(self.start)
    }

    /// Stops capturing on the first failure, and reports it.
    fn check(&mut self, result: io::Result<()>) {
        if let Err(error) = result {
            self.writer = None;
            if let Some(report) = &mut self.report {
                report(&error);
            }
            self.error = Some(error);
        }
    }

    fn record(&mut self, time: Duration, port: PortId, direction: Direction, frame: &[u8]) {
        if let Some(writer) = &mut self.writer {
            let mut result = writer.write_frame(u32::from(port.0), time, direction, frame);
            if result.is_ok() && writer.bytes_written() >= self.limit {
                result = writer.flush().and(Err(io::Error::new(
                    io::ErrorKind::FileTooLarge,
                    format!("it reached its limit of {} bytes", self.limit),
                )));
            }
            self.check(result);
        }
    }

    fn flush(&mut self) {
        if let Some(writer) = &mut self.writer {
            let result = writer.flush();
            self.check(result);
        }
    }
}

impl<D: Datapath, W: Write> Datapath for Capture<D, W> {
    fn port_count(&self) -> usize {
        self.inner.port_count()
    }

    fn port_name(&self, port: PortId) -> Option<&str> {
        self.inner.port_name(port)
    }

    fn recv(&mut self, batch: &mut RxBatch, timeout: Option<Duration>) -> io::Result<usize> {
        let before = batch.len();
        let received = self.inner.recv(batch, timeout)?;
        if received == 0 {
            self.flush();
            return Ok(0);
        }
        let time = self.time();
        for index in before..batch.len() {
            if let Some((port, frame)) = batch.frame(index) {
                self.record(time, port, Direction::Inbound, frame);
            }
        }
        Ok(received)
    }

    fn send(&mut self, port: PortId, frame: &[u8]) -> io::Result<()> {
        self.inner.send(port, frame)?;
        let time = self.time();
        self.record(time, port, Direction::Outbound, frame);
        Ok(())
    }

    fn send_offloaded(&mut self, port: PortId, frame: &[u8], offload: &Offload) -> io::Result<()> {
        self.inner.send_offloaded(port, frame, offload)?;
        let time = self.time();
        self.record(time, port, Direction::Outbound, frame);
        Ok(())
    }

    fn send_batch(&mut self, batch: &RxBatch, sends: &[(PortId, usize)]) -> SendReport {
        let report = self.inner.send_batch(batch, sends);
        let (time, ports) = (self.time(), self.inner.port_count());
        for &(port, index) in sends {
            if let Some((_, frame)) = batch.frame(index).filter(|_| port.index() < ports) {
                self.record(time, port, Direction::Outbound, frame);
            }
        }
        report
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn is_exhausted(&self) -> bool {
        self.inner.is_exhausted()
    }

    fn kernel_drops(&mut self) -> Option<u64> {
        self.inner.kernel_drops()
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn watch(&mut self, waker: &crate::Waker) -> io::Result<()> {
        self.inner.watch(waker)
    }
}

impl<D: Datapath, W: Write> Drop for Capture<D, W> {
    fn drop(&mut self) {
        self.flush();
    }
}

impl<D: Datapath + core::fmt::Debug, W: Write> core::fmt::Debug for Capture<D, W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Capture")
            .field("inner", &self.inner)
            .field("capturing", &self.writer.is_some())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}
