//! Replays the committed cargo-fuzz corpus on stable Rust, so every input
//! the fuzzers ever kept is checked in CI by the same bodies.

use std::fs;
use std::path::Path;

fn replay(target: &str, body: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut inputs = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        body(&fs::read(&path).unwrap());
        inputs += 1;
    }
    assert!(inputs > 0, "no corpus in {}", dir.display());
}

#[test]
fn packet_parse_corpus() {
    replay("packet_parse", lb_packet::fuzzing::parse);
}

#[test]
fn packet_rewrite_corpus() {
    replay("packet_rewrite", lb_packet::fuzzing::rewrite_round_trip);
}

#[test]
fn packet_offload_corpus() {
    replay("packet_offload", lb_packet::fuzzing::offloaded);
}
