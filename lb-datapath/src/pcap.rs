//! Replaying captures through an engine: a datapath over pcap files.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::{Datapath, PortId, RxBatch};

/// Link type of Ethernet captures (`LINKTYPE_ETHERNET`).
const LINKTYPE_ETHERNET: u32 = 1;
const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// Largest record accepted; anything longer is not a frame.
const MAX_RECORD: u32 = 256 * 1024;

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Reads Ethernet frames from a classic pcap file (either byte order,
/// microsecond or nanosecond timestamps).
#[derive(Debug)]
pub struct PcapReader<R> {
    input: R,
    swapped: bool,
    nanos: bool,
}

impl<R: Read> PcapReader<R> {
    /// Reads and checks the file header.
    pub fn new(mut input: R) -> io::Result<Self> {
        let mut header = [0u8; 24];
        input
            .read_exact(&mut header)
            .map_err(|_| invalid("not a pcap file: header cut short"))?;
        let magic = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let (swapped, nanos) = match magic {
            MAGIC_MICROS => (false, false),
            MAGIC_NANOS => (false, true),
            m if m.swap_bytes() == MAGIC_MICROS => (true, false),
            m if m.swap_bytes() == MAGIC_NANOS => (true, true),
            _ => {
                return Err(invalid(
                    "not a pcap file: bad magic number (pcapng is not supported)",
                ));
            }
        };
        let reader = PcapReader {
            input,
            swapped,
            nanos,
        };
        let link_type = reader.u32_at(&header, 20);
        if link_type != LINKTYPE_ETHERNET {
            return Err(invalid(format!(
                "pcap link type {link_type} is not Ethernet (1)"
            )));
        }
        Ok(reader)
    }

    fn u32_at(&self, bytes: &[u8], at: usize) -> u32 {
        let raw = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        if self.swapped {
            u32::from_be_bytes(raw)
        } else {
            u32::from_le_bytes(raw)
        }
    }

    /// The next frame and its timestamp since the epoch; `None` at the end.
    pub fn next_frame(&mut self) -> io::Result<Option<(Duration, Vec<u8>)>> {
        let mut header = [0u8; 16];
        match self.input.read_exact(&mut header) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(error) => return Err(error),
        }
        let seconds = u64::from(self.u32_at(&header, 0));
        let fraction = self.u32_at(&header, 4);
        let length = self.u32_at(&header, 8);
        if length > MAX_RECORD {
            return Err(invalid(format!(
                "pcap record of {length} bytes is too long"
            )));
        }
        let mut frame = vec![0u8; length as usize];
        self.input
            .read_exact(&mut frame)
            .map_err(|_| invalid("pcap record cut short"))?;
        let subsecond = if self.nanos {
            Duration::from_nanos(u64::from(fraction))
        } else {
            Duration::from_micros(u64::from(fraction))
        };
        Ok(Some((Duration::from_secs(seconds) + subsecond, frame)))
    }
}

/// Writes Ethernet frames to a classic pcap file (microsecond timestamps).
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    output: W,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header.
    pub fn new(mut output: W) -> io::Result<Self> {
        let mut header = Vec::with_capacity(24);
        header.extend_from_slice(&MAGIC_MICROS.to_le_bytes());
        header.extend_from_slice(&2u16.to_le_bytes());
        header.extend_from_slice(&4u16.to_le_bytes());
        header.extend_from_slice(&[0; 8]); // time zone, accuracy
        header.extend_from_slice(&MAX_RECORD.to_le_bytes());
        header.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        output.write_all(&header)?;
        Ok(PcapWriter { output })
    }

    /// Appends a frame stamped `time` since the epoch.
    pub fn write_frame(&mut self, time: Duration, frame: &[u8]) -> io::Result<()> {
        let length = u32::try_from(frame.len()).map_err(|_| invalid("frame too long for pcap"))?;
        let seconds = u32::try_from(time.as_secs()).unwrap_or(u32::MAX);
        let mut record = [0u8; 16];
        record[0..4].copy_from_slice(&seconds.to_le_bytes());
        record[4..8].copy_from_slice(&time.subsec_micros().to_le_bytes());
        record[8..12].copy_from_slice(&length.to_le_bytes());
        record[12..16].copy_from_slice(&length.to_le_bytes());
        self.output.write_all(&record)?;
        self.output.write_all(frame)
    }

    /// Flushes buffered output.
    pub fn flush(&mut self) -> io::Result<()> {
        self.output.flush()
    }
}

/// A datapath whose ports read captures and write what is sent to them.
///
/// Each port may have an input capture; frames from all inputs are handed
/// over one at a time in timestamp order, and the engine's clock follows the capture's
/// (from `start`), so a replay is the same every time. Every port writes
/// what it sends to its own output capture.
#[derive(Debug)]
pub struct PcapDatapath {
    inputs: Vec<Option<PcapReader<BufReader<File>>>>,
    /// The next frame of each input, read ahead to merge by time.
    heads: Vec<Option<(Duration, Vec<u8>)>>,
    outputs: Vec<PcapWriter<BufWriter<File>>>,
    start: Instant,
    first_time: Option<Duration>,
    clock: Duration,
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
                    let file = File::open(path).map_err(|e| {
                        io::Error::new(e.kind(), format!("{}: {e}", path.display()))
                    })?;
                    Some(
                        PcapReader::new(BufReader::new(file))
                            .map_err(|e| invalid(format!("{}: {e}", path.display())))?,
                    )
                }
                None => None,
            };
            inputs.push(reader);
            let path = output.as_ref();
            let file = File::create(path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
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
        for port in 0..datapath.inputs.len() {
            datapath.read_ahead(port)?;
        }
        Ok(datapath)
    }

    fn read_ahead(&mut self, port: usize) -> io::Result<()> {
        self.heads[port] = match &mut self.inputs[port] {
            Some(reader) => reader.next_frame()?,
            None => None,
        };
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
            .filter_map(|port| self.heads[port].as_ref().map(|(time, _)| (*time, port)))
            .min();
        let Some((time, port)) = earliest else {
            return Ok(0);
        };
        let Some(buffer) = batch.free_buffer() else {
            return Ok(0);
        };
        let first = *self.first_time.get_or_insert(time);
        self.clock = time.saturating_sub(first);
        let mut received = 0;
        if let Some((_, frame)) = self.heads[port].take() {
            let len = frame.len().min(buffer.len());
            buffer[..len].copy_from_slice(&frame[..len]);
            batch.commit(PortId(u16::try_from(port).unwrap_or(u16::MAX)), len);
            received = 1;
        }
        self.read_ahead(port)?;
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
