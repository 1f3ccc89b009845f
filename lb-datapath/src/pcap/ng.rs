//! pcapng: blocks of `type, total length, body, total length`, in sections
//! that each start with a section header giving the byte order.

use std::io::{self, Read, Write};
use std::time::Duration;

use super::{
    CapturedFrame, Direction, LINKTYPE_ETHERNET, MAX_RECORD, invalid, read_all, read_up_to,
};

/// The section header's block type, a palindrome: the same bytes in either
/// byte order, so it is also the file's magic number.
pub(super) const SECTION_HEADER: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const INTERFACE: u32 = 1;
const SIMPLE_PACKET: u32 = 3;
const ENHANCED_PACKET: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;

const OPT_END: u16 = 0;
const IF_NAME: u16 = 2;
const IF_TSRESOL: u16 = 9;
const EPB_FLAGS: u16 = 2;
/// Timestamps are written in nanoseconds (`if_tsresol` 9).
const NANOSECONDS: u8 = 9;
/// The resolution of an interface without `if_tsresol`: microseconds.
const DEFAULT_RESOLUTION: u8 = 6;

/// Largest block body read into memory: a frame and room for its options.
/// Longer blocks of types not read are skipped without being held.
const MAX_BLOCK: usize = MAX_RECORD as usize + 64 * 1024;
/// Interfaces a section may describe: a port number is 16 bits.
const MAX_INTERFACES: usize = 1 << 16;

/// An interface a section described.
#[derive(Debug, Clone, Copy)]
struct Interface {
    link_type: u16,
    /// Timestamp units per second, from `if_tsresol`; at most 2^63.
    units_per_second: u64,
}

/// Reads the blocks of a pcapng file, one section after another.
pub(super) struct Reader {
    big_endian: bool,
    interfaces: Vec<Interface>,
    /// The last timestamp read: simple packet blocks carry none.
    last_time: Duration,
    /// The body of the block being read, reused from block to block.
    body: Vec<u8>,
}

impl core::fmt::Debug for Reader {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Reader")
            .field("big_endian", &self.big_endian)
            .field("interfaces", &self.interfaces)
            .finish_non_exhaustive()
    }
}

/// The units per second `if_tsresol` means: 10^-n seconds, or 2^-n with the
/// top bit set; `None` past what 64 bits of units per second hold.
fn units_per_second(resolution: u8) -> Option<u64> {
    if resolution & 0x80 == 0 {
        10u64.checked_pow(u32::from(resolution))
    } else {
        1u64.checked_shl(u32::from(resolution & 0x7f))
    }
}

fn timestamp(units: u64, units_per_second: u64) -> Duration {
    let per_second = units_per_second.max(1);
    let subsecond = u128::from(units % per_second) * 1_000_000_000 / u128::from(per_second);
    // Below 10^9 because the remainder is below `per_second`.
    Duration::new(
        units / per_second,
        u32::try_from(subsecond).unwrap_or_default(),
    )
}

impl Reader {
    /// Reads the rest of the first section header, after its block type.
    pub(super) fn start(input: &mut impl Read) -> io::Result<Self> {
        let mut reader = Reader {
            big_endian: false,
            interfaces: Vec::new(),
            last_time: Duration::ZERO,
            body: Vec::new(),
        };
        reader.section(input)?;
        Ok(reader)
    }

    fn u16_from(&self, raw: [u8; 2]) -> u16 {
        if self.big_endian {
            u16::from_be_bytes(raw)
        } else {
            u16::from_le_bytes(raw)
        }
    }

    fn u32_from(&self, raw: [u8; 4]) -> u32 {
        if self.big_endian {
            u32::from_be_bytes(raw)
        } else {
            u32::from_le_bytes(raw)
        }
    }

    /// The 16-bit field at `at` of `body`, if the body holds it.
    fn u16_at(&self, body: &[u8], at: usize) -> io::Result<u16> {
        let raw = body.get(at..at + 2).and_then(|raw| raw.try_into().ok());
        raw.map(|raw| self.u16_from(raw))
            .ok_or_else(|| invalid("pcapng block too short for its fields"))
    }

    /// The 32-bit field at `at` of `body`, if the body holds it.
    fn u32_at(&self, body: &[u8], at: usize) -> io::Result<u32> {
        let raw = body.get(at..at + 4).and_then(|raw| raw.try_into().ok());
        raw.map(|raw| self.u32_from(raw))
            .ok_or_else(|| invalid("pcapng block too short for its fields"))
    }

    /// The value of the first option `code` among those from `at` of
    /// `body` up to `opt_endofopt` or the end of the block.
    fn option<'b>(&self, body: &'b [u8], mut at: usize, code: u16) -> io::Result<Option<&'b [u8]>> {
        while at + 4 <= body.len() {
            let (found, len) = (
                self.u16_at(body, at)?,
                usize::from(self.u16_at(body, at + 2)?),
            );
            if found == OPT_END {
                break;
            }
            let value = body
                .get(at + 4..at + 4 + len)
                .ok_or_else(|| invalid("pcapng option runs past its block"))?;
            if found == code {
                return Ok(Some(value));
            }
            at += 4 + len.next_multiple_of(4);
        }
        Ok(None)
    }

    /// A section header after its block type: the byte order, the version,
    /// and a fresh set of interfaces.
    fn section(&mut self, input: &mut impl Read) -> io::Result<()> {
        let mut head = [0u8; 8];
        read_all(input, &mut head, "pcapng section header")?;
        let magic = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        self.big_endian = match magic {
            BYTE_ORDER_MAGIC => false,
            m if m.swap_bytes() == BYTE_ORDER_MAGIC => true,
            _ => return Err(invalid("pcapng section header has a bad byte-order magic")),
        };
        let total = self.u32_from([head[0], head[1], head[2], head[3]]);
        // Type, length, magic, version, section length, trailing length.
        if total < 28 || total % 4 != 0 {
            return Err(invalid(format!(
                "pcapng section header length {total} is not a multiple of 4 of at least 28"
            )));
        }
        self.read_body(input, total, 12)?;
        let (major, minor) = (self.u16_at(&self.body, 0)?, self.u16_at(&self.body, 2)?);
        if major != 1 {
            return Err(invalid(format!(
                "pcapng version {major}.{minor} is not supported"
            )));
        }
        self.interfaces.clear();
        Ok(())
    }

    /// Reads the body of a block of `total` bytes whose first `header`
    /// bytes are read, and checks its trailing length.
    fn read_body(&mut self, input: &mut impl Read, total: u32, header: usize) -> io::Result<()> {
        let len = (total as usize).saturating_sub(header + 4);
        if len > MAX_BLOCK {
            return Err(invalid(format!(
                "pcapng block of {total} bytes is too long"
            )));
        }
        self.body.resize(len, 0);
        read_all(input, &mut self.body, "pcapng block")?;
        self.trailer(input, total)
    }

    /// Skips the body of a block of a type not read, without holding it.
    fn skip_body(&mut self, input: &mut impl Read, total: u32) -> io::Result<()> {
        let len = u64::from(total) - 12;
        if io::copy(&mut input.take(len), &mut io::sink())? != len {
            return Err(invalid("pcapng block cut short"));
        }
        self.trailer(input, total)
    }

    fn trailer(&self, input: &mut impl Read, total: u32) -> io::Result<()> {
        let mut raw = [0u8; 4];
        read_all(input, &mut raw, "pcapng block")?;
        let trailing = self.u32_from(raw);
        if trailing != total {
            return Err(invalid(format!(
                "pcapng block lengths disagree: {total} before, {trailing} after"
            )));
        }
        Ok(())
    }

    /// The next packet, through as many other blocks as come first; `None`
    /// at the end of the file.
    pub(super) fn next(&mut self, input: &mut impl Read) -> io::Result<Option<CapturedFrame>> {
        loop {
            let mut kind = [0u8; 4];
            match read_up_to(input, &mut kind)? {
                0 => return Ok(None),
                4 => {}
                _ => return Err(invalid("pcapng block header cut short")),
            }
            if kind == SECTION_HEADER {
                self.section(input)?;
                continue;
            }
            let mut total = [0u8; 4];
            read_all(input, &mut total, "pcapng block header")?;
            let total = self.u32_from(total);
            if total < 12 || total % 4 != 0 {
                return Err(invalid(format!(
                    "pcapng block length {total} is not a multiple of 4 of at least 12"
                )));
            }
            match self.u32_from(kind) {
                INTERFACE => {
                    self.read_body(input, total, 8)?;
                    self.interface()?;
                }
                ENHANCED_PACKET => {
                    self.read_body(input, total, 8)?;
                    return self.enhanced_packet().map(Some);
                }
                SIMPLE_PACKET => {
                    self.read_body(input, total, 8)?;
                    return self.simple_packet().map(Some);
                }
                _ => self.skip_body(input, total)?,
            }
        }
    }

    fn interface(&mut self) -> io::Result<()> {
        let body = &self.body;
        let link_type = self.u16_at(body, 0)?;
        self.u32_at(body, 4)?; // the snap length, unused
        let resolution = match self.option(body, 8, IF_TSRESOL)? {
            Some(&[resolution, ..]) => resolution,
            Some(_) => return Err(invalid("pcapng if_tsresol is empty")),
            None => DEFAULT_RESOLUTION,
        };
        let units_per_second = units_per_second(resolution).ok_or_else(|| {
            invalid(format!(
                "pcapng if_tsresol {resolution:#04x} is out of range"
            ))
        })?;
        if self.interfaces.len() >= MAX_INTERFACES {
            return Err(invalid("pcapng section describes too many interfaces"));
        }
        self.interfaces.push(Interface {
            link_type,
            units_per_second,
        });
        Ok(())
    }

    /// The interface a packet names, if it is described and Ethernet.
    fn ethernet(&self, id: u32) -> io::Result<Interface> {
        let interface = usize::try_from(id)
            .ok()
            .and_then(|index| self.interfaces.get(index))
            .copied()
            .ok_or_else(|| {
                invalid(format!(
                    "pcapng packet on interface {id}, which no interface block described"
                ))
            })?;
        if interface.link_type != LINKTYPE_ETHERNET {
            return Err(invalid(format!(
                "pcapng interface {id} link type {} is not Ethernet (1)",
                interface.link_type
            )));
        }
        Ok(interface)
    }

    fn enhanced_packet(&mut self) -> io::Result<CapturedFrame> {
        let body = &self.body;
        let id = self.u32_at(body, 0)?;
        let units = u64::from(self.u32_at(body, 4)?) << 32 | u64::from(self.u32_at(body, 8)?);
        let captured = self.u32_at(body, 12)? as usize;
        let data = body
            .get(20..)
            .and_then(|rest| rest.get(..captured))
            .ok_or_else(|| invalid("pcapng packet runs past its block"))?;
        let flags = self.option(body, 20 + captured.next_multiple_of(4), EPB_FLAGS)?;
        let direction = match flags.and_then(|raw| raw.try_into().ok()) {
            Some(raw) => match self.u32_from(raw) & 0b11 {
                1 => Some(Direction::Inbound),
                2 => Some(Direction::Outbound),
                _ => None,
            },
            None => None,
        };
        let time = timestamp(units, self.ethernet(id)?.units_per_second);
        let frame = CapturedFrame {
            time,
            interface: id,
            direction,
            data: data.to_vec(),
        };
        self.last_time = time;
        Ok(frame)
    }

    /// A simple packet: interface 0, no timestamp (the last one read stands
    /// in), its data cut to the original length.
    fn simple_packet(&mut self) -> io::Result<CapturedFrame> {
        self.ethernet(0)
            .map_err(|_| invalid("pcapng simple packet without an Ethernet interface 0"))?;
        let original = self.u32_at(&self.body, 0)? as usize;
        let data = &self.body[4..];
        Ok(CapturedFrame {
            time: self.last_time,
            interface: 0,
            direction: None,
            data: data[..original.min(data.len())].to_vec(),
        })
    }
}

/// Writes Ethernet frames to a pcapng file: one section in little-endian
/// order, an interface block per [`add_interface`](Self::add_interface),
/// and an enhanced packet block per frame, with its interface, its
/// direction (`epb_flags`) and a nanosecond timestamp.
#[derive(Debug)]
pub struct PcapngWriter<W: Write> {
    output: W,
    interfaces: u32,
    written: u64,
}

/// Block type and total length, the first 8 bytes of every block.
fn block_start(kind: u32, total: u32) -> [u8; 8] {
    let mut start = [0u8; 8];
    start[..4].copy_from_slice(&kind.to_le_bytes());
    start[4..].copy_from_slice(&total.to_le_bytes());
    start
}

impl<W: Write> PcapngWriter<W> {
    /// Writes the section header.
    pub fn new(mut output: W) -> io::Result<Self> {
        let mut header = [0u8; 28];
        header[..8].copy_from_slice(&block_start(u32::from_le_bytes(SECTION_HEADER), 28));
        header[8..12].copy_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
        header[12..14].copy_from_slice(&1u16.to_le_bytes()); // version 1.0
        header[16..24].copy_from_slice(&u64::MAX.to_le_bytes()); // section length unknown
        header[24..].copy_from_slice(&28u32.to_le_bytes());
        output.write_all(&header)?;
        Ok(PcapngWriter {
            output,
            interfaces: 0,
            written: 28,
        })
    }

    /// Describes the next interface, Ethernet, named `name` if given; its
    /// number, counting from 0.
    pub fn add_interface(&mut self, name: Option<&str>) -> io::Result<u32> {
        let name = name.unwrap_or_default().as_bytes();
        let name_len = u16::try_from(name.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name too long"))?;
        let name_option = if name.is_empty() {
            0
        } else {
            4 + name.len().next_multiple_of(4)
        };
        // Block start, link type, reserved, snap length; if_tsresol,
        // opt_endofopt, trailing length.
        let total = u32::try_from(16 + name_option + 8 + 4 + 4)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name too long"))?;
        let mut head = [0u8; 16];
        head[..8].copy_from_slice(&block_start(INTERFACE, total));
        head[8..10].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        head[12..].copy_from_slice(&MAX_RECORD.to_le_bytes());
        self.output.write_all(&head)?;
        if !name.is_empty() {
            let mut option = [0u8; 4];
            option[..2].copy_from_slice(&IF_NAME.to_le_bytes());
            option[2..].copy_from_slice(&name_len.to_le_bytes());
            self.output.write_all(&option)?;
            self.output.write_all(name)?;
            self.output
                .write_all(&[0; 3][..name.len().next_multiple_of(4) - name.len()])?;
        }
        let mut tail = [0u8; 16];
        tail[..2].copy_from_slice(&IF_TSRESOL.to_le_bytes());
        tail[2..4].copy_from_slice(&1u16.to_le_bytes());
        tail[4] = NANOSECONDS;
        // 8..12: opt_endofopt.
        tail[12..].copy_from_slice(&total.to_le_bytes());
        self.output.write_all(&tail)?;
        let id = self.interfaces;
        self.interfaces += 1;
        self.written += u64::from(total);
        Ok(id)
    }

    /// Appends `frame`, captured on `interface` going `direction` at `time`
    /// since the epoch.
    pub fn write_frame(
        &mut self,
        interface: u32,
        time: Duration,
        direction: Direction,
        frame: &[u8],
    ) -> io::Result<()> {
        if interface >= self.interfaces {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("no interface {interface} in the capture"),
            ));
        }
        let len = u32::try_from(frame.len())
            .ok()
            .filter(|&len| len <= MAX_RECORD)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("a frame of {} bytes is too long to capture", frame.len()),
                )
            })?;
        let padding = frame.len().next_multiple_of(4) - frame.len();
        // Block start and five fields, data, epb_flags, opt_endofopt and
        // trailing length.
        let total = 28 + len.next_multiple_of(4) + 8 + 4 + 4;
        let nanos = u64::try_from(time.as_nanos()).unwrap_or(u64::MAX);
        let mut head = [0u8; 28];
        head[..8].copy_from_slice(&block_start(ENHANCED_PACKET, total));
        head[8..12].copy_from_slice(&interface.to_le_bytes());
        head[12..16].copy_from_slice(&((nanos >> 32) as u32).to_le_bytes());
        head[16..20].copy_from_slice(&(nanos as u32).to_le_bytes());
        head[20..24].copy_from_slice(&len.to_le_bytes());
        head[24..].copy_from_slice(&len.to_le_bytes());
        self.output.write_all(&head)?;
        self.output.write_all(frame)?;
        self.output.write_all(&[0; 3][..padding])?;
        let flags: u32 = match direction {
            Direction::Inbound => 1,
            Direction::Outbound => 2,
        };
        let mut tail = [0u8; 16];
        tail[..2].copy_from_slice(&EPB_FLAGS.to_le_bytes());
        tail[2..4].copy_from_slice(&4u16.to_le_bytes());
        tail[4..8].copy_from_slice(&flags.to_le_bytes());
        // 8..12: opt_endofopt.
        tail[12..].copy_from_slice(&total.to_le_bytes());
        self.output.write_all(&tail)?;
        self.written += u64::from(total);
        Ok(())
    }

    /// Bytes written so far, buffered ones included.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Flushes buffered output.
    pub fn flush(&mut self) -> io::Result<()> {
        self.output.flush()
    }
}
