//! The packet-socket datapath's receive ring, over a real veth pair in a
//! namespace of its own: frames arrive whole and in order whatever their
//! length (frames longer than a ring slot come through the socket queue,
//! in their place), and a full ring drops what does not fit and counts it.
//! Needs root (namespaces, veths); without it each test says so and passes.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use lb_datapath::{Datapath, PortId, RxBatch};
use lb_datapath_pnet::PnetDatapath;
use lb_lab::{Lab, is_root};

/// Slots in a port's ring (the crate's `ring::SLOTS`).
const RING_SLOTS: usize = 2048;

/// Runs `test` on a thread inside a fresh namespace holding a veth pair
/// `rx`/`tx` (names returned), both up with MTU `mtu`.
fn in_veth_namespace(
    mtu: u32,
    test: impl FnOnce(&str, &str) -> anyhow::Result<()> + Send,
) -> anyhow::Result<()> {
    if !is_root() {
        eprintln!("skipped: needs root for a network namespace and a veth pair");
        return Ok(());
    }
    let mut lab = Lab::new()?;
    let ns = lab.netns("ring")?;
    // No IPv6 autoconfiguration frames: the ring holds ours alone.
    for scope in ["default", "all"] {
        let key = format!("net.ipv6.conf.{scope}.disable_ipv6=1");
        lb_lab::run("ip", &["netns", "exec", &ns, "sysctl", "-qw", &key])?;
    }
    let (rx, tx) = (lab.name("r"), lab.name("t"));
    lab.veth((&ns, &rx), (&ns, &tx))?;
    for end in [&rx, &tx] {
        lab.ip(&ns, &["link", "set", end, "mtu", &mtu.to_string()])?;
    }
    let namespace = std::fs::File::open(format!("/var/run/netns/{ns}"))?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                rustix::thread::move_into_link_name_space(
                    std::os::fd::AsFd::as_fd(&namespace),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )?;
                test(&rx, &tx)
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the test thread panicked"))?
    })
}

/// Frame `n` of `len` bytes: broadcast from a made-up MAC, an unassigned
/// EtherType (nothing in the namespace answers it), then `n` over and over.
fn frame(n: u16, len: usize) -> Vec<u8> {
    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&[2, 0, 0, 0, 0, 9, 0x88, 0xb5]);
    frame.extend(n.to_be_bytes().iter().cycle().take(len - frame.len()));
    frame
}

/// Sends `frames` out of `port`'s only port, all in one batch.
fn send(port: &mut PnetDatapath, frames: &[Vec<u8>]) -> anyhow::Result<usize> {
    let mut batch = RxBatch::new(frames.len(), 9018);
    for frame in frames {
        let buffer = batch.free_buffer().context("batch full")?;
        buffer[..frame.len()].copy_from_slice(frame);
        batch.commit(PortId(0), frame.len());
    }
    let sends: Vec<(PortId, usize)> = (0..frames.len()).map(|i| (PortId(0), i)).collect();
    let report = port.send_batch(&batch, &sends);
    match report.last_error {
        Some((_, error)) => Err(error.into()),
        None => Ok(report.sent),
    }
}

/// Receives on `port` until `want` of our frames (EtherType 0x88b5) came
/// or a second passes with nothing new; returns them in order.
fn receive(port: &mut PnetDatapath, want: usize) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut batch = RxBatch::new(64, 65_553);
    let mut frames = Vec::new();
    let mut quiet_since = Instant::now();
    while frames.len() < want && quiet_since.elapsed() < Duration::from_secs(1) {
        batch.clear();
        if port.recv(&mut batch, Some(Duration::from_millis(100)))? > 0 {
            quiet_since = Instant::now();
        }
        frames.extend(
            (0..batch.len())
                .filter_map(|i| batch.frame(i))
                .map(|(_, frame)| frame.to_vec())
                .filter(|frame| frame.get(12..14) == Some(&[0x88, 0xb5][..])),
        );
    }
    Ok(frames)
}

#[test]
fn frames_of_every_length_arrive_whole_and_in_order() -> anyhow::Result<()> {
    in_veth_namespace(9000, |rx, tx| {
        let mut receiver = PnetDatapath::open(&[rx])?;
        let mut sender = PnetDatapath::open_without_offloads(&[tx])?;
        // Lengths either side of a ring slot's 2004 bytes of frame, up to
        // a jumbo frame: the long ones are read from the socket's queue.
        let lengths = [60, 1514, 2003, 2004, 2005, 60, 9014, 61, 5000, 1000];
        // Two rounds: the socket buffer holds their six long ones.
        let frames: Vec<Vec<u8>> = (0..20u16)
            .map(|n| frame(n, lengths[usize::from(n) % lengths.len()]))
            .collect();
        ensure!(send(&mut sender, &frames)? == frames.len());
        let received = receive(&mut receiver, frames.len())?;
        ensure!(received == frames, "{} frames differ", received.len());
        ensure!(receiver.kernel_drops() == Some(0));
        Ok(())
    })
}

#[test]
fn a_full_ring_drops_the_rest_and_counts_them() -> anyhow::Result<()> {
    in_veth_namespace(1500, |rx, tx| {
        let mut receiver = PnetDatapath::open_without_offloads(&[rx])?;
        let mut sender = PnetDatapath::open_without_offloads(&[tx])?;
        let total = RING_SLOTS + 500;
        let frames: Vec<Vec<u8>> = (0..total as u16).map(|n| frame(n, 100)).collect();
        // In batches with a pause, so that the veth's backlog (1000 frames)
        // never fills: every frame reaches the ring, which keeps the first.
        for chunk in frames.chunks(50) {
            ensure!(send(&mut sender, chunk)? == chunk.len());
            std::thread::sleep(Duration::from_millis(2));
        }
        let received = receive(&mut receiver, total)?;
        ensure!(
            received[..] == frames[..RING_SLOTS],
            "{} received",
            received.len()
        );
        ensure!(receiver.kernel_drops() == Some((total - RING_SLOTS) as u64));
        // The ring is free again: the next frame comes through.
        ensure!(send(&mut sender, &[frame(7, 80)])? == 1);
        ensure!(receive(&mut receiver, 1)? == [frame(7, 80)]);
        Ok(())
    })
}
