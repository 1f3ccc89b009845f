//! Asking the CPU to start loading a cache line the next steps will read,
//! so that a batch's cache misses overlap instead of queueing.

/// Starts loading the cache line holding `data` into every cache level.
/// A hint only: it never faults and changes nothing a program can see.
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) fn prefetch<T>(data: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing into the program and cannot fault,
    // whatever the address (it is a valid reference here anyway); SSE is
    // part of the x86_64 baseline.
    unsafe {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((data as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}
