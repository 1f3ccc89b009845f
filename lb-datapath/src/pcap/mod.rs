//! Capture files, classic pcap and pcapng: a reader for both, a writer for
//! each. File formats only; [`PcapDatapath`](crate::PcapDatapath) replays
//! them and [`Capture`](crate::Capture) records a datapath into one.

mod classic;
mod ng;

use std::io::{self, Read};
use std::time::Duration;

pub use classic::PcapWriter;
pub use ng::PcapngWriter;

/// Link type of Ethernet captures (`LINKTYPE_ETHERNET`).
const LINKTYPE_ETHERNET: u16 = 1;
/// Largest frame read or written; anything longer is not a frame.
const MAX_RECORD: u32 = 256 * 1024;

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Fills `buffer` from `input` unless the input ends first; how many bytes
/// it read, so that a clean end (0) is told from a cut (fewer).
fn read_up_to(input: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match input.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// Fills `buffer` from `input`; an end of input first is `what` cut short.
fn read_all(input: &mut impl Read, buffer: &mut [u8], what: &str) -> io::Result<()> {
    if read_up_to(input, buffer)? == buffer.len() {
        Ok(())
    } else {
        Err(invalid(format!("{what} cut short")))
    }
}

/// Which way a frame crossed its interface: pcapng's `epb_flags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Received on the interface.
    Inbound,
    /// Sent out of it.
    Outbound,
}

/// A frame read from a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CapturedFrame {
    /// When it was captured, since the Unix epoch.
    pub time: Duration,
    /// The interface it was captured on, numbered from 0 in the order the
    /// current pcapng section describes them; always 0 in classic pcap.
    pub interface: u32,
    /// Which way it went, when the capture says.
    pub direction: Option<Direction>,
    /// The Ethernet frame.
    pub data: Vec<u8>,
}

/// Reads Ethernet frames from a capture: classic pcap (either byte order,
/// microsecond or nanosecond timestamps) or pcapng (section, interface,
/// enhanced and simple packet blocks in either byte order, any timestamp
/// resolution; other blocks skipped).
///
/// Lengths are checked before anything is read into memory: a corrupt or
/// cut file gives an [`InvalidData`](io::ErrorKind::InvalidData) error that
/// says what is wrong, never a panic or a huge allocation.
#[derive(Debug)]
pub struct PcapReader<R> {
    input: R,
    format: Format,
}

#[derive(Debug)]
enum Format {
    Classic(classic::Header),
    Ng(ng::Reader),
}

impl<R: Read> PcapReader<R> {
    /// Reads and checks the file header (the first section's, in pcapng).
    pub fn new(mut input: R) -> io::Result<Self> {
        let mut magic = [0u8; 4];
        read_all(&mut input, &mut magic, "capture header")?;
        let format = if magic == ng::SECTION_HEADER {
            Format::Ng(ng::Reader::start(&mut input)?)
        } else {
            Format::Classic(classic::Header::read(magic, &mut input)?)
        };
        Ok(PcapReader { input, format })
    }

    /// The next frame, whichever its interface and direction; `None` at the
    /// end of the file.
    pub fn next_packet(&mut self) -> io::Result<Option<CapturedFrame>> {
        match &mut self.format {
            Format::Classic(header) => header.next(&mut self.input),
            Format::Ng(reader) => reader.next(&mut self.input),
        }
    }

    /// The next frame and its timestamp since the epoch, whichever its
    /// interface and direction; `None` at the end.
    pub fn next_frame(&mut self) -> io::Result<Option<(Duration, Vec<u8>)>> {
        Ok(self.next_packet()?.map(|frame| (frame.time, frame.data)))
    }
}
