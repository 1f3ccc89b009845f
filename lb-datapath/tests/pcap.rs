//! The capture file formats: classic pcap and pcapng, read and written,
//! checked against an independent implementation (the `pcap-file` crate).

use std::borrow::Cow;
use std::io::Cursor;
use std::time::Duration;

use lb_datapath::{CapturedFrame, Direction, PcapReader, PcapWriter, PcapngWriter};
use pcap_file::DataLink;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::interface_statistics::InterfaceStatisticsBlock;
use pcap_file::pcapng::blocks::section_header::SectionHeaderBlock;
use pcap_file::pcapng::blocks::simple_packet::SimplePacketBlock;
use pcap_file::pcapng::{Block, PcapNgReader, PcapNgWriter};
use pcap_file::{Endianness, pcapng};
use proptest::prelude::*;

fn packets(bytes: &[u8]) -> std::io::Result<Vec<CapturedFrame>> {
    let mut reader = PcapReader::new(bytes)?;
    let mut frames = Vec::new();
    while let Some(frame) = reader.next_packet()? {
        frames.push(frame);
    }
    Ok(frames)
}

fn error_of(bytes: &[u8]) -> String {
    match packets(bytes) {
        Ok(frames) => panic!("read {} frames from a bad capture", frames.len()),
        Err(error) => {
            assert_eq!(error.kind(), std::io::ErrorKind::InvalidData, "{error}");
            error.to_string()
        }
    }
}

#[test]
fn pcap_reader_names_what_is_wrong() {
    let error = PcapReader::new(Cursor::new(vec![0u8; 24])).unwrap_err();
    assert!(error.to_string().contains("bad magic"), "{error}");
    let mut raw_ip = Vec::new();
    PcapWriter::new(&mut raw_ip).unwrap();
    raw_ip[20] = 101; // LINKTYPE_RAW
    assert!(
        PcapReader::new(Cursor::new(raw_ip))
            .unwrap_err()
            .to_string()
            .contains("not Ethernet")
    );
    let mut cut = Vec::new();
    PcapWriter::new(&mut cut)
        .unwrap()
        .write_frame(Duration::ZERO, &[1, 2, 3, 4])
        .unwrap();
    cut.truncate(cut.len() - 1);
    let mut reader = PcapReader::new(Cursor::new(cut)).unwrap();
    assert!(
        reader
            .next_frame()
            .unwrap_err()
            .to_string()
            .contains("cut short")
    );
    // A big-endian capture reads the same.
    let mut swapped = Vec::new();
    PcapWriter::new(&mut swapped).unwrap();
    for field in [0..4, 20..24] {
        swapped[field].reverse();
    }
    for field in [4..6, 6..8] {
        swapped[field].reverse();
    }
    assert!(PcapReader::new(Cursor::new(swapped)).is_ok());
}

/// Two interfaces, one named; frames of 1 to 4 bytes past a multiple of 4,
/// so every padding length is written.
fn sample_pcapng() -> Vec<u8> {
    let mut file = Vec::new();
    let mut writer = PcapngWriter::new(&mut file).unwrap();
    assert_eq!(writer.add_interface(Some("front0")).unwrap(), 0);
    assert_eq!(writer.add_interface(None).unwrap(), 1);
    let t = Duration::new(1_700_000_000, 123_456_789);
    writer
        .write_frame(0, t, Direction::Inbound, &[0xaa; 61])
        .unwrap();
    writer
        .write_frame(
            1,
            t + Duration::from_nanos(1),
            Direction::Outbound,
            &[0xbb; 62],
        )
        .unwrap();
    writer
        .write_frame(
            1,
            t + Duration::from_secs(1),
            Direction::Inbound,
            &[0xcc; 63],
        )
        .unwrap();
    writer
        .write_frame(
            0,
            t + Duration::from_secs(2),
            Direction::Outbound,
            &[0xdd; 64],
        )
        .unwrap();
    writer.flush().unwrap();
    file
}

#[test]
fn pcapng_written_reads_back_in_an_independent_reader() {
    let file = sample_pcapng();
    let mut reader = PcapNgReader::new(&file[..]).unwrap();
    let mut packets = Vec::new();
    while let Some(block) = reader.next_block() {
        if let Block::EnhancedPacket(packet) = block.unwrap() {
            packets.push(packet.into_owned());
        }
    }
    let interfaces = reader.interfaces();
    assert_eq!(interfaces.len(), 2);
    assert!(interfaces.iter().all(|i| i.linktype == DataLink::ETHERNET));
    assert!(
        interfaces[0]
            .options
            .contains(&InterfaceDescriptionOption::IfName("front0".into()))
    );
    assert!(
        !interfaces[1]
            .options
            .iter()
            .any(|o| matches!(o, InterfaceDescriptionOption::IfName(_)))
    );
    // pcap-file reads raw timestamps as nanoseconds: right for if_tsresol 9.
    assert!(
        interfaces[0]
            .options
            .contains(&InterfaceDescriptionOption::IfTsResol(9))
    );
    /// Interface, timestamp, original length, data and options.
    type Seen<'a> = (u32, Duration, u32, Vec<u8>, Vec<EnhancedPacketOption<'a>>);
    let seen: Vec<Seen<'_>> = packets
        .into_iter()
        .map(|p| {
            (
                p.interface_id,
                p.timestamp,
                p.original_len,
                p.data.to_vec(),
                p.options,
            )
        })
        .collect();
    let t = Duration::new(1_700_000_000, 123_456_789);
    let inbound = vec![EnhancedPacketOption::Flags(1)];
    let outbound = vec![EnhancedPacketOption::Flags(2)];
    assert_eq!(
        seen,
        [
            (0, t, 61, vec![0xaa; 61], inbound.clone()),
            (
                1,
                t + Duration::from_nanos(1),
                62,
                vec![0xbb; 62],
                outbound.clone()
            ),
            (1, t + Duration::from_secs(1), 63, vec![0xcc; 63], inbound),
            (0, t + Duration::from_secs(2), 64, vec![0xdd; 64], outbound),
        ]
    );
}

#[test]
fn pcapng_written_reads_back_in_ours() {
    let frames = packets(&sample_pcapng()).unwrap();
    let seen: Vec<(u32, Option<Direction>, usize, u32)> = frames
        .iter()
        .map(|f| {
            (
                f.interface,
                f.direction,
                f.data.len(),
                f.time.subsec_nanos(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (0, Some(Direction::Inbound), 61, 123_456_789),
            (1, Some(Direction::Outbound), 62, 123_456_790),
            (1, Some(Direction::Inbound), 63, 123_456_789),
            (0, Some(Direction::Outbound), 64, 123_456_789),
        ]
    );
    assert_eq!(frames[3].time.as_secs(), 1_700_000_002);
}

/// A big-endian file from the independent writer, with what we do not
/// write: microsecond and binary resolutions, a simple packet block, an
/// interface statistics block to skip, and a second section.
#[test]
fn pcapng_from_an_independent_writer_in_big_endian() {
    let section = SectionHeaderBlock {
        endianness: Endianness::Big,
        ..Default::default()
    };
    let mut writer = PcapNgWriter::with_section_header(Vec::new(), section.clone()).unwrap();
    let interface = |options| InterfaceDescriptionBlock {
        linktype: DataLink::ETHERNET,
        snaplen: 0,
        options,
    };
    // Units of 2^-10 s on interface 1; the default, microseconds, on 0.
    writer.write_pcapng_block(interface(vec![])).unwrap();
    writer
        .write_pcapng_block(interface(vec![InterfaceDescriptionOption::IfTsResol(0x8a)]))
        .unwrap();
    let packet = |interface_id, units: u64, data: &'static [u8], options| EnhancedPacketBlock {
        interface_id,
        // pcap-file writes the nanoseconds of this as the raw units.
        timestamp: Duration::from_nanos(units),
        original_len: data.len() as u32,
        data: Cow::Borrowed(data),
        options,
    };
    writer
        .write_pcapng_block(packet(0, 3_000_001, b"first", vec![]))
        .unwrap();
    writer
        .write_pcapng_block(InterfaceStatisticsBlock {
            interface_id: 0,
            timestamp: 0,
            options: vec![],
        })
        .unwrap();
    writer
        .write_pcapng_block(packet(
            1,
            1536,
            b"second",
            vec![EnhancedPacketOption::Flags(2)],
        ))
        .unwrap();
    writer
        .write_pcapng_block(SimplePacketBlock {
            original_len: 3,
            data: Cow::Borrowed(b"thirdX"),
        })
        .unwrap();
    writer.write_pcapng_block(section).unwrap();
    writer.write_pcapng_block(interface(vec![])).unwrap();
    writer
        .write_pcapng_block(packet(
            0,
            0,
            b"fourth",
            vec![EnhancedPacketOption::Flags(1)],
        ))
        .unwrap();
    let file = writer.into_inner();
    assert_eq!(&file[8..12], &[0x1a, 0x2b, 0x3c, 0x4d], "big-endian");

    let frames = packets(&file).unwrap();
    let seen: Vec<(u32, Duration, Option<Direction>, &[u8])> = frames
        .iter()
        .map(|f| (f.interface, f.time, f.direction, &f.data[..]))
        .collect();
    let micros = Duration::from_micros(3_000_001);
    assert_eq!(
        seen,
        [
            (0, micros, None, &b"first"[..]),
            (
                1,
                Duration::from_millis(1500),
                Some(Direction::Outbound),
                b"second"
            ),
            // Cut to its original length, stamped as the packet before.
            (0, Duration::from_millis(1500), None, b"thi"),
            (0, Duration::ZERO, Some(Direction::Inbound), b"fourth"),
        ]
    );
    // The independent reader agrees on the file as a whole.
    let mut independent = pcapng::PcapNgReader::new(&file[..]).unwrap();
    let mut blocks = 0;
    while let Some(block) = independent.next_block() {
        block.unwrap();
        blocks += 1;
    }
    assert_eq!(blocks, 9, "every block after the first section header");
}

/// A little-endian block: type, length, body, length.
fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let total = (12 + body.len()) as u32;
    let mut block = kind.to_le_bytes().to_vec();
    block.extend_from_slice(&total.to_le_bytes());
    block.extend_from_slice(body);
    block.extend_from_slice(&total.to_le_bytes());
    block
}

/// A section header and an interface block of `link_type`, options `options`.
fn header(link_type: u16, options: &[u8]) -> Vec<u8> {
    let mut file = Vec::new();
    PcapngWriter::new(&mut file).unwrap();
    let mut body = link_type.to_le_bytes().to_vec();
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    body.extend_from_slice(options);
    file.extend(block(1, &body));
    file
}

fn epb(interface: u32, captured: u32, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for field in [interface, 0, 0, captured, captured] {
        body.extend_from_slice(&field.to_le_bytes());
    }
    body.extend_from_slice(data);
    block(6, &body)
}

#[test]
fn corrupt_pcapng_names_what_is_wrong() {
    let good = [header(1, &[]), epb(0, 4, &[1, 2, 3, 4])].concat();
    assert_eq!(packets(&good).unwrap().len(), 1);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            [header(1, &[]), epb(1, 4, &[1, 2, 3, 4])].concat(),
            "no interface block described",
        ),
        (
            [header(101, &[]), epb(0, 4, &[1, 2, 3, 4])].concat(),
            "is not Ethernet",
        ),
        (
            [header(1, &[]), epb(0, 8, &[1, 2, 3, 4])].concat(),
            "runs past its block",
        ),
        (
            header(1, &[9, 0, 1, 0, 20, 0, 0, 0]),
            "if_tsresol 0x14 is out of range",
        ),
        (header(1, &[9, 0, 9, 0]), "option runs past its block"),
        (
            [header(1, &[]), block(6, &[0; 8])].concat(),
            "too short for its fields",
        ),
        (
            [
                header(1, &[]),
                6u32.to_le_bytes().to_vec(),
                13u32.to_le_bytes().to_vec(),
            ]
            .concat(),
            "not a multiple of 4",
        ),
        (
            [
                header(1, &[]),
                6u32.to_le_bytes().to_vec(),
                0x4000_0000u32.to_le_bytes().to_vec(),
            ]
            .concat(),
            "too long",
        ),
        (
            {
                let mut cut = [header(1, &[]), epb(0, 4, &[1, 2, 3, 4])].concat();
                cut.truncate(cut.len() - 2);
                cut
            },
            "cut short",
        ),
        (
            {
                let mut bad = [header(1, &[]), epb(0, 4, &[1, 2, 3, 4])].concat();
                let last = bad.len() - 4;
                bad[last] ^= 4;
                bad
            },
            "lengths disagree",
        ),
        (
            {
                let mut bad = header(1, &[]);
                bad[8..12].copy_from_slice(&[1, 2, 3, 4]);
                bad
            },
            "bad byte-order magic",
        ),
        (
            {
                let mut bad = header(1, &[]);
                bad[12] = 2;
                bad
            },
            "version 2.0 is not supported",
        ),
    ];
    for (bytes, expected) in cases {
        let error = error_of(&bytes);
        assert!(error.contains(expected), "{error:?}, expected {expected:?}");
    }
    // An unknown block of any length is skipped without being held.
    let skipped = [
        header(1, &[]),
        block(0x0bad, &[7; 400_000]),
        epb(0, 4, &[1, 2, 3, 4]),
    ]
    .concat();
    assert_eq!(packets(&skipped).unwrap().len(), 1);
}

/// Every cut of a capture reads as its whole frames then an error, or as
/// its whole frames when cut between blocks: never a panic, never a frame
/// that was not written.
#[test]
fn every_cut_of_a_pcapng_is_an_error_or_fewer_frames() {
    let file = sample_pcapng();
    let whole = packets(&file).unwrap();
    for len in 0..file.len() {
        let mut frames = Vec::new();
        let outcome = PcapReader::new(&file[..len]).and_then(|mut reader| {
            while let Some(frame) = reader.next_packet()? {
                frames.push(frame);
            }
            Ok(())
        });
        assert!(frames.len() < whole.len(), "cut at {len}");
        assert_eq!(frames[..], whole[..frames.len()], "cut at {len}");
        if let Err(error) = outcome {
            assert_eq!(
                error.kind(),
                std::io::ErrorKind::InvalidData,
                "cut at {len}: {error}"
            );
        }
    }
}

proptest! {
    /// Corrupted bytes anywhere give frames or an error, never a panic.
    #[test]
    fn corrupt_pcapng_never_panics(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut file = sample_pcapng();
        for (at, value) in flips {
            let at = at.index(file.len());
            file[at] = value;
        }
        let _ = packets(&file);
    }
}
