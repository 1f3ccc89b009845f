//! Established flows never allocate: every engine's packet path for a known
//! session, frame by frame and in batches, is checked with a counting
//! allocator.

// The one unsafe thing here: a global allocator that counts, per thread, the
// allocations it passes on to the system's (so other threads of the test
// harness cannot add to the count).
#![allow(unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Instant;

use common::*;
use lb_engine::{Engine, PortId, RxBatch, Verdict};
use lb_packet::MacAddr;

thread_local! {
    static ALLOCATED: Cell<u64> = const { Cell::new(0) };
}

struct Counting;

fn count_one() {
    // No destructor, const-initialised: reading it never allocates.
    let _ = ALLOCATED.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is passed to `System` unchanged, with the caller's
// guarantees; counting touches only a thread-local `Cell`.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: as the caller guarantees for `GlobalAlloc::alloc`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: as the caller guarantees for `GlobalAlloc::alloc_zeroed`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: `ptr` came from this allocator, that is from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations this thread made while `f` ran.
fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCATED.with(Cell::get);
    f();
    ALLOCATED.with(Cell::get) - before
}

/// Runs `frames` through `engine` once to set up, then `rounds` more times
/// from fresh copies, frame by frame and then in batches (after one batch
/// to set up), counting allocations.
fn steady_state_allocations(
    engine: &mut dyn Engine,
    frames: &[(PortId, Vec<u8>)],
    rounds: usize,
) -> u64 {
    let now = Instant::now();
    let mut buffers: Vec<Vec<u8>> = frames.iter().map(|(_, f)| f.clone()).collect();
    for ((port, frame), buffer) in frames.iter().zip(&mut buffers) {
        buffer.copy_from_slice(frame);
        assert!(matches!(
            engine.handle_frame(now, *port, buffer),
            Verdict::Forward(_) | Verdict::Reply
        ));
    }
    let single = allocations(|| {
        for _ in 0..rounds {
            for ((port, frame), buffer) in frames.iter().zip(&mut buffers) {
                buffer.copy_from_slice(frame);
                let verdict = engine.handle_frame(now, *port, buffer);
                assert!(
                    matches!(verdict, Verdict::Forward(_) | Verdict::Reply),
                    "{verdict:?}"
                );
            }
        }
    });
    let mut batch = RxBatch::new(frames.len(), 2048);
    let mut verdicts = Vec::with_capacity(frames.len());
    let mut run_batch = |engine: &mut dyn Engine| {
        batch.clear();
        for (port, frame) in frames {
            batch.free_buffer().unwrap()[..frame.len()].copy_from_slice(frame);
            batch.commit(*port, frame.len());
        }
        engine.handle_batch(now, &mut batch, &mut verdicts);
        for verdict in &verdicts {
            assert!(
                matches!(verdict, Verdict::Forward(_) | Verdict::Reply),
                "{verdict:?}"
            );
        }
    };
    run_batch(engine);
    single + allocations(|| (0..rounds).for_each(|_| run_batch(engine)))
}

#[test]
fn established_flows_do_not_allocate() {
    // The counter counts: one allocation is seen as one.
    assert_eq!(allocations(|| drop(std::hint::black_box(vec![1u8; 10]))), 1);
    let lb_mac = MacAddr([2, 0, 0, 0, 0, 0xaa]);
    let vip = ip(10, 0, 0, 1);
    let client = ep(ip(10, 0, 0, 50), 40000);

    let mut reverse_proxy = lb_engine::fuzzing::fuzz_reverse_proxy();
    let backend = ep(ip(192, 168, 1, 2), 5353);
    let rp_frames = [
        (
            PortId(0),
            udp((CLIENT_MAC, lb_mac), client, ep(vip, 53), b"query"),
        ),
        (
            PortId(2),
            udp((BACKEND_MAC, CLIENT_MAC), backend, client, b"answer"),
        ),
    ];
    assert_eq!(
        steady_state_allocations(&mut reverse_proxy, &rp_frames, 1000),
        0,
        "reverse proxy"
    );

    // Clients moved by the source rewrite: both ways rewrite one more address.
    let mut rewriting = lb_engine::fuzzing::fuzz_rewriting_proxy();
    let moved = ep(ip(20, 0, 0, 100), 40000);
    let near_client = ep(ip(10, 0, 0, 100), 40000);
    let rewrite_frames = [
        (
            PortId(0),
            udp((CLIENT_MAC, lb_mac), near_client, ep(vip, 53), b"query"),
        ),
        (
            PortId(2),
            udp((BACKEND_MAC, CLIENT_MAC), backend, moved, b"answer"),
        ),
    ];
    assert_eq!(
        steady_state_allocations(&mut rewriting, &rewrite_frames, 1000),
        0,
        "reverse proxy, sources rewritten"
    );

    let mut direct_return = lb_engine::fuzzing::fuzz_direct_return();
    let dsr_frames = [(
        PortId(0),
        tcp((CLIENT_MAC, lb_mac), client, ep(vip, 80), "PA", b"data"),
    )];
    assert_eq!(
        steady_state_allocations(&mut direct_return, &dsr_frames, 1000),
        0,
        "direct return"
    );

    let mut nat_proxy = lb_engine::fuzzing::fuzz_nat_proxy();
    let now = Instant::now();
    for dest in [2, 3] {
        let mut answer = arp(
            false,
            (BACKEND_MAC, ip(10, 0, 0, dest)),
            (lb_mac, vip),
            lb_mac,
        );
        nat_proxy.handle_frame(now, PortId(0), &mut answer);
    }
    let mut syn = udp((CLIENT_MAC, lb_mac), client, ep(vip, 53), b"q");
    nat_proxy.handle_frame(now, PortId(0), &mut syn);
    let out = lb_packet::Frame::parse(&syn[..])
        .unwrap()
        .flow_key()
        .unwrap();
    let proxy_frames = [
        (
            PortId(0),
            udp((CLIENT_MAC, lb_mac), client, ep(vip, 53), b"q"),
        ),
        (
            PortId(0),
            udp(
                (BACKEND_MAC, lb_mac),
                v4(out.dst_endpoint()),
                v4(out.src_endpoint()),
                b"a",
            ),
        ),
    ];
    assert_eq!(
        steady_state_allocations(&mut nat_proxy, &proxy_frames, 1000),
        0,
        "NAT proxy"
    );
}
