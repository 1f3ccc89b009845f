//! Asking the CPU to start loading the cache lines the next steps will
//! read, so that a batch's cache misses overlap instead of queueing.

const LINE: usize = 64;

/// Starts loading every cache line `data` spans into every cache level (a
/// session of 64 bytes not aligned to a line spans two). A hint only: it
/// never faults and changes nothing a program can see.
#[inline(always)]
pub(crate) fn prefetch<T>(data: &T) {
    let start: *const u8 = (data as *const T).cast();
    let offset = start.addr() % LINE;
    let lines = (offset + size_of::<T>().max(1)).div_ceil(LINE);
    // Line starts: addresses only, never read through.
    let first_line = start.wrapping_sub(offset);
    for line in 0..lines {
        prefetch_line(first_line.wrapping_add(line * LINE));
    }
}

/// Starts loading the line holding `address`.
#[inline(always)]
#[allow(unsafe_code)]
fn prefetch_line(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing into the program and cannot fault,
    // whatever the address; SSE is part of the x86_64 baseline.
    unsafe {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}
