//! Replaying captures through an engine: a datapath over capture files.

use std::fs::File;
use std::io::{self, BufReader, BufWriter};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::pcap::{Direction, PcapReader, PcapWriter};
use crate::{Datapath, PortId, RxBatch};

/// The next frame an input holds: when, on which port, and its bytes.
type Head = (Duration, PortId, Vec<u8>);

/// A datapath whose ports read captures and write what is sent to them.
///
/// Each port may have an input capture, classic pcap or pcapng. The frames
/// of interface `i` of the input of port `p` arrive on port `p + i` (a
/// classic pcap has only interface 0), so a pcapng recorded by
/// [`Capture`](crate::Capture) and given as the input of port 0 replays on
/// the ports it was recorded on; frames marked outbound are skipped. Frames
/// from all inputs are handed over one at a time in timestamp order, and
/// the engine's clock follows the capture's (from `start`), so a replay is
/// the same every time. Every port writes what it sends to its own output
/// capture, classic pcap.
#[derive(Debug)]
pub struct PcapDatapath {
    inputs: Vec<Option<PcapReader<BufReader<File>>>>,
    /// The next frame of each input, read ahead to merge by time.
    heads: Vec<Option<Head>>,
    outputs: Vec<PcapWriter<BufWriter<File>>>,
    start: Instant,
    first_time: Option<Duration>,
    clock: Duration,
}

fn with_path(path: &Path, error: io::Error) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

impl PcapDatapath {
    /// Ports from `(input, output)` pairs, in port order.
    pub fn open<P: AsRef<Path>>(ports: &[(Option<P>, P)], start: Instant) -> io::Result<Self> {
        let mut inputs = Vec::new();
        let mut outputs = Vec::new();
        for (input, output) in ports {
            let reader = match input {
                Some(path) => {
                    let path = path.as_ref();
                    let file = File::open(path).map_err(|e| with_path(path, e))?;
                    Some(PcapReader::new(BufReader::new(file)).map_err(|e| with_path(path, e))?)
                }
                None => None,
            };
            inputs.push(reader);
            let path = output.as_ref();
            let file = File::create(path).map_err(|e| with_path(path, e))?;
            outputs.push(PcapWriter::new(BufWriter::new(file))?);
        }
        let mut datapath = PcapDatapath {
            heads: vec![None; inputs.len()],
            inputs,
            outputs,
            start,
            first_time: None,
            clock: Duration::ZERO,
        };
        for input in 0..datapath.inputs.len() {
            datapath.read_ahead(input)?;
        }
        Ok(datapath)
    }

    /// Reads the next frame of `input` that arrives on a port.
    fn read_ahead(&mut self, input: usize) -> io::Result<()> {
        let ports = self.outputs.len();
        self.heads[input] = None;
        let Some(reader) = &mut self.inputs[input] else {
            return Ok(());
        };
        while let Some(frame) = reader.next_packet()? {
            if frame.direction == Some(Direction::Outbound) {
                continue;
            }
            let port = usize::try_from(frame.interface)
                .ok()
                .and_then(|interface| interface.checked_add(input))
                .filter(|&port| port < ports)
                .and_then(|port| u16::try_from(port).ok())
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "interface {} of the capture of port {input} has no port",
                            frame.interface
                        ),
                    )
                })?;
            self.heads[input] = Some((frame.time, PortId(port), frame.data));
            break;
        }
        Ok(())
    }

    /// Flushes every output capture.
    pub fn flush(&mut self) -> io::Result<()> {
        self.outputs.iter_mut().try_for_each(PcapWriter::flush)
    }
}

impl Datapath for PcapDatapath {
    fn port_count(&self) -> usize {
        self.outputs.len()
    }

    /// One frame per call, so that the engine sees each at its own time.
    fn recv(&mut self, batch: &mut RxBatch, _timeout: Option<Duration>) -> io::Result<usize> {
        let earliest = (0..self.heads.len())
            .filter_map(|input| self.heads[input].as_ref().map(|head| (head.0, input)))
            .min();
        let Some((time, input)) = earliest else {
            return Ok(0);
        };
        let Some(buffer) = batch.free_buffer() else {
            return Ok(0);
        };
        let first = *self.first_time.get_or_insert(time);
        self.clock = time.saturating_sub(first);
        let mut received = 0;
        if let Some((_, port, frame)) = self.heads[input].take() {
            let len = frame.len().min(buffer.len());
            buffer[..len].copy_from_slice(&frame[..len]);
            batch.commit(port, len);
            received = 1;
        }
        self.read_ahead(input)?;
        Ok(received)
    }

    fn send(&mut self, port: PortId, frame: &[u8]) -> io::Result<()> {
        let time = self.first_time.unwrap_or_default() + self.clock;
        match self.outputs.get_mut(port.index()) {
            Some(output) => output.write_frame(time, frame),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("no {port}"),
            )),
        }
    }

    fn now(&self) -> Instant {
        self.start + self.clock
    }

    fn is_exhausted(&self) -> bool {
        self.heads.iter().all(Option::is_none)
    }
}

impl Drop for PcapDatapath {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}
