//! Classic pcap: a 24-byte file header, then a 16-byte header per record.

use std::io::{self, Read, Write};
use std::time::Duration;

use super::{CapturedFrame, LINKTYPE_ETHERNET, MAX_RECORD, invalid, read_all, read_up_to};

const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;

/// What the file header says about the records that follow.
#[derive(Debug)]
pub(super) struct Header {
    swapped: bool,
    nanos: bool,
}

impl Header {
    /// Reads the rest of the file header after its `magic` and checks it.
    pub(super) fn read(magic: [u8; 4], input: &mut impl Read) -> io::Result<Self> {
        let (swapped, nanos) = match u32::from_le_bytes(magic) {
            MAGIC_MICROS => (false, false),
            MAGIC_NANOS => (false, true),
            m if m.swap_bytes() == MAGIC_MICROS => (true, false),
            m if m.swap_bytes() == MAGIC_NANOS => (true, true),
            _ => return Err(invalid("not a pcap or pcapng file: bad magic number")),
        };
        let header = Header { swapped, nanos };
        let mut rest = [0u8; 20];
        read_all(input, &mut rest, "pcap file header")?;
        let link_type = header.u32_in(&rest, 16);
        if link_type != u32::from(LINKTYPE_ETHERNET) {
            return Err(invalid(format!(
                "pcap link type {link_type} is not Ethernet (1)"
            )));
        }
        Ok(header)
    }

    /// The field at `at` of a header whose length the caller fixed.
    fn u32_in<const N: usize>(&self, bytes: &[u8; N], at: usize) -> u32 {
        let mut raw = [0u8; 4];
        raw.copy_from_slice(&bytes[at..at + 4]);
        if self.swapped {
            u32::from_be_bytes(raw)
        } else {
            u32::from_le_bytes(raw)
        }
    }

    /// The next record; `None` at the end of the file.
    pub(super) fn next(&self, input: &mut impl Read) -> io::Result<Option<CapturedFrame>> {
        let mut header = [0u8; 16];
        match read_up_to(input, &mut header)? {
            0 => return Ok(None),
            16 => {}
            _ => return Err(invalid("pcap record header cut short")),
        }
        let seconds = u64::from(self.u32_in(&header, 0));
        let fraction = u64::from(self.u32_in(&header, 4));
        let length = self.u32_in(&header, 8);
        if length > MAX_RECORD {
            return Err(invalid(format!(
                "pcap record of {length} bytes is too long"
            )));
        }
        let mut data = vec![0u8; length as usize];
        read_all(input, &mut data, "pcap record")?;
        let subsecond = if self.nanos {
            Duration::from_nanos(fraction)
        } else {
            Duration::from_micros(fraction)
        };
        Ok(Some(CapturedFrame {
            time: Duration::from_secs(seconds) + subsecond,
            interface: 0,
            direction: None,
            data,
        }))
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
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&MAGIC_MICROS.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // 8..16: time zone and accuracy, zero.
        header[16..20].copy_from_slice(&MAX_RECORD.to_le_bytes());
        header[20..24].copy_from_slice(&u32::from(LINKTYPE_ETHERNET).to_le_bytes());
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
