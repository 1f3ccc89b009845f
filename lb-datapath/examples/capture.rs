//! Recording a datapath: an in-memory datapath wrapped in [`Capture`]
//! writes every frame it receives and sends to a pcapng file, an interface
//! per port; the file is then read back, as tcpdump or Wireshark would.
//!
//! Run with `cargo run -p lb-datapath --example capture`.
//!
//! [`Capture`]: lb_datapath::Capture

// An example talks on standard output.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use lb_datapath::{Capture, Datapath, MemoryDatapath, PcapReader, PortId, RxBatch};

fn main() -> std::io::Result<()> {
    let path = std::env::temp_dir().join(format!("lb-capture-{}.pcapng", std::process::id()));
    let mut memory = MemoryDatapath::new(2, Instant::now());
    for n in 0..3u8 {
        memory.inject(PortId(0), vec![n; 60]);
    }
    let mut datapath = Capture::create(memory, &path)?;
    // A bridge in three lines: what comes in on port 0 leaves by port 1.
    let mut batch = RxBatch::new(8, 2048);
    datapath.recv(&mut batch, None)?;
    datapath.get_mut().advance(Duration::from_millis(5));
    for index in 0..batch.len() {
        if let Some((_, frame)) = batch.frame(index) {
            datapath.send(PortId(1), frame)?;
        }
    }
    drop(datapath); // flushes the capture

    let mut reader = PcapReader::new(std::fs::File::open(&path)?)?;
    let mut first = None;
    while let Some(frame) = reader.next_packet()? {
        let since = frame.time - *first.get_or_insert(frame.time);
        println!(
            "+{:>3} ms  interface {}  {:?}  {} bytes",
            since.as_millis(),
            frame.interface,
            frame.direction,
            frame.data.len()
        );
    }
    std::fs::remove_file(&path)
}
