//! The capture wrapper over an in-memory datapath: what it writes, read by
//! an independent reader, by tcpdump when present, and replayed by ours.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lb_datapath::{Capture, Datapath, MemoryDatapath, PcapDatapath, PcapReader, PortId, RxBatch};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};

/// A memory datapath whose ports have names, as device datapaths' do.
struct Named(MemoryDatapath);

const NAMES: [&str; 2] = ["front0", "back0"];

impl Datapath for Named {
    fn port_count(&self) -> usize {
        self.0.port_count()
    }
    fn port_name(&self, port: PortId) -> Option<&str> {
        NAMES.get(port.index()).copied()
    }
    fn recv(&mut self, batch: &mut RxBatch, timeout: Option<Duration>) -> io::Result<usize> {
        self.0.recv(batch, timeout)
    }
    fn send(&mut self, port: PortId, frame: &[u8]) -> io::Result<()> {
        self.0.send(port, frame)
    }
    fn now(&self) -> Instant {
        self.0.now()
    }
    fn is_exhausted(&self) -> bool {
        self.0.is_exhausted()
    }
}

/// A frame of `len` bytes filled with `byte`.
fn frame(byte: u8, len: usize) -> Vec<u8> {
    vec![byte; len]
}

/// Frames in on both ports, forwarded across as a batch and sent one by
/// one, with the clock moving in between; returns the capture's bytes.
fn capture_a_session(output: &mut Vec<u8>) -> Vec<(PortId, Vec<u8>)> {
    let mut capture = Capture::new(Named(MemoryDatapath::new(2, Instant::now())), output).unwrap();
    let inbound = vec![
        (PortId(0), frame(0x10, 60)),
        (PortId(1), frame(0x11, 61)),
        (PortId(0), frame(0x12, 1514)),
    ];
    for (port, bytes) in &inbound[..2] {
        capture.get_mut().0.inject(*port, bytes.clone());
    }
    let mut batch = RxBatch::new(8, 2048);
    assert_eq!(capture.recv(&mut batch, None).unwrap(), 2);
    capture.get_mut().0.advance(Duration::from_millis(5));
    // Each frame out of the other port; one to a port that does not exist.
    let sends = [(PortId(1), 0), (PortId(0), 1), (PortId(7), 0)];
    let report = capture.send_batch(&batch, &sends);
    assert_eq!((report.sent, report.failed, report.port_down), (2, 1, 0));
    let (port, error) = report.last_error.expect("the failure");
    assert_eq!(
        (port, error.kind()),
        (PortId(7), std::io::ErrorKind::InvalidInput)
    );
    capture.get_mut().0.advance(Duration::from_millis(5));
    capture.send(PortId(1), &frame(0x20, 42)).unwrap();
    assert!(capture.send(PortId(9), &frame(0x21, 42)).is_err());
    capture
        .get_mut()
        .0
        .inject(inbound[2].0, inbound[2].1.clone());
    batch.clear();
    assert_eq!(capture.recv(&mut batch, None).unwrap(), 1);
    assert_eq!(capture.recv(&mut batch, None).unwrap(), 0);
    assert_eq!(capture.get_mut().0.take_sent().len(), 3);
    assert!(capture.error().is_none());
    inbound
}

#[test]
fn capture_is_read_by_an_independent_reader() {
    let mut file = Vec::new();
    capture_a_session(&mut file);
    let mut reader = PcapNgReader::new(&file[..]).unwrap();
    let mut packets = Vec::new();
    while let Some(block) = reader.next_block() {
        if let Block::EnhancedPacket(packet) = block.unwrap() {
            packets.push(packet.into_owned());
        }
    }
    let names: Vec<Vec<InterfaceDescriptionOption<'_>>> = reader
        .interfaces()
        .iter()
        .map(|i| i.options.clone())
        .collect();
    assert_eq!(names.len(), 2);
    for (options, name) in names.iter().zip(NAMES) {
        assert!(
            options.contains(&InterfaceDescriptionOption::IfName(name.into())),
            "{options:?}"
        );
    }
    let start = packets[0].timestamp;
    let seen: Vec<(u32, u32, Duration, usize, u8)> = packets
        .iter()
        .map(|p| {
            let flags = p.options.iter().find_map(|o| match o {
                EnhancedPacketOption::Flags(flags) => Some(*flags),
                _ => None,
            });
            (
                p.interface_id,
                flags.unwrap_or(0),
                p.timestamp - start,
                p.data.len(),
                p.data[0],
            )
        })
        .collect();
    let ms = Duration::from_millis;
    assert_eq!(
        seen,
        [
            // In on both ports, at the start.
            (0, 1, ms(0), 60, 0x10),
            (1, 1, ms(0), 61, 0x11),
            // The batch sent across 5 ms later (the frame to port 7 is not
            // recorded: there is no such interface).
            (1, 2, ms(5), 60, 0x10),
            (0, 2, ms(5), 61, 0x11),
            // Sent on its own, as an engine's own frame is; the failed
            // send to port 9 is not recorded.
            (1, 2, ms(10), 42, 0x20),
            (0, 1, ms(10), 1514, 0x12),
        ]
    );
    assert!(
        packets
            .iter()
            .all(|p| p.original_len as usize == p.data.len())
    );
    // Wall-clock based: within a day of now.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    assert!(
        now.abs_diff(start) < Duration::from_secs(86_400),
        "{start:?}"
    );
}

#[test]
fn capture_replays_through_the_pcap_datapath() {
    let dir = std::env::temp_dir().join(format!("lb-capture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("capture.pcapng");
    let mut file = Vec::new();
    let inbound = capture_a_session(&mut file);
    std::fs::write(&path, &file).unwrap();

    let start = Instant::now();
    let mut replay = PcapDatapath::open(
        &[
            (Some(path.clone()), dir.join("out0.pcap")),
            (None, dir.join("out1.pcap")),
        ],
        start,
    )
    .unwrap();
    let mut replayed = Vec::new();
    let mut batch = RxBatch::new(4, 2048);
    while !replay.is_exhausted() {
        batch.clear();
        replay.recv(&mut batch, None).unwrap();
        let (port, frame) = batch.frame(0).unwrap();
        replayed.push((port, frame.to_vec(), replay.now() - start));
    }
    let expected: Vec<(PortId, Vec<u8>, Duration)> = inbound
        .into_iter()
        .zip([0, 0, 10].map(Duration::from_millis))
        .map(|((port, bytes), time)| (port, bytes, time))
        .collect();
    assert_eq!(replayed, expected, "inbound frames only, on their ports");

    // tcpdump, when there is one, reads all six frames (version 4 shows
    // neither interface nor direction of pcapng packets).
    if let Ok(output) = std::process::Command::new("tcpdump")
        .args(["-r", &path.to_string_lossy(), "-nn", "-e"])
        .output()
    {
        let text = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        let lengths: Vec<&str> = text
            .lines()
            .filter(|line| !line.starts_with(char::is_whitespace))
            .filter_map(|line| line.split(", length ").nth(1)?.split(':').next())
            .collect();
        assert_eq!(lengths, ["60", "61", "60", "61", "42", "1514"], "{text}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Accepts `room` bytes, then fails every write.
struct FullDisk {
    room: usize,
}

impl Write for FullDisk {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.room < bytes.len() {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
        }
        self.room -= bytes.len();
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_capture_stops_and_reports_once_while_frames_move() {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&reports);
    // Room for the headers and a frame or two.
    let mut capture = Capture::new(
        MemoryDatapath::new(1, Instant::now()),
        FullDisk { room: 300 },
    )
    .unwrap()
    .on_error(move |error| seen.lock().unwrap().push(error.to_string()));
    for _ in 0..10 {
        capture.get_mut().inject(PortId(0), frame(0x30, 100));
    }
    let mut batch = RxBatch::new(16, 2048);
    assert_eq!(capture.recv(&mut batch, None).unwrap(), 10);
    for index in 0..batch.len() {
        let (_, frame) = batch.frame(index).unwrap();
        capture.send(PortId(0), frame).unwrap();
    }
    assert_eq!(capture.get_mut().take_sent().len(), 10, "frames still move");
    assert_eq!(capture.recv(&mut batch, None).unwrap(), 0);
    assert_eq!(*reports.lock().unwrap(), ["disk full"]);
    assert_eq!(
        capture.error().map(io::Error::kind),
        Some(io::ErrorKind::StorageFull)
    );
    drop(capture);
    assert_eq!(reports.lock().unwrap().len(), 1, "reported once");
}

#[test]
fn capture_starts_with_an_interface_per_port() {
    let mut file = Vec::new();
    drop(Capture::new(MemoryDatapath::new(3, Instant::now()), &mut file).unwrap());
    // Section header, three unnamed interfaces, no packet.
    let mut reader = PcapNgReader::new(&file[..]).unwrap();
    while let Some(block) = reader.next_block() {
        assert!(matches!(block.unwrap(), Block::InterfaceDescription(_)));
    }
    assert_eq!(reader.interfaces().len(), 3);
    assert!(
        PcapReader::new(&file[..])
            .unwrap()
            .next_packet()
            .unwrap()
            .is_none()
    );
}

/// A limit stops the capture after the frame that crosses it, once, with
/// what it wrote readable whole; frames keep moving.
#[test]
fn a_capture_stops_at_its_limit_readable_whole() {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&reports);
    let mut file = Vec::new();
    let mut capture = Capture::new(MemoryDatapath::new(1, Instant::now()), &mut file)
        .unwrap()
        .limit(1000)
        .on_error(move |error| seen.lock().unwrap().push(error.to_string()));
    for _ in 0..20 {
        capture.get_mut().inject(PortId(0), frame(0x40, 100));
    }
    let mut batch = RxBatch::new(32, 2048);
    assert_eq!(capture.recv(&mut batch, None).unwrap(), 20);
    assert_eq!(capture.get_mut().take_sent().len(), 0);
    let kind = capture.error().map(io::Error::kind);
    assert_eq!(kind, Some(io::ErrorKind::FileTooLarge));
    drop(capture);
    assert_eq!(
        *reports.lock().unwrap(),
        ["it reached its limit of 1000 bytes"]
    );
    // Header (28) and interface (32) blocks, then 144-byte frame blocks:
    // the seventh crosses 1000 bytes and is the last.
    assert_eq!(file.len(), 28 + 32 + 7 * 144);
    let mut reader = PcapReader::new(&file[..]).unwrap();
    let mut frames = 0;
    while let Some(frame) = reader.next_packet().unwrap() {
        assert_eq!(frame.data.len(), 100);
        frames += 1;
    }
    assert_eq!(frames, 7);
}
