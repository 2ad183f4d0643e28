//! glibc's malloc settings for the commands that train (`train`, `worker`,
//! `bench train`). A training step allocates and frees the same large activation and
//! gradient buffers every step; by default glibc serves each one above its
//! mmap threshold with a fresh `mmap` and gives it back to the kernel on free,
//! so every step faults tens of megabytes in again (UNetTiny at 256², batch 8:
//! 9 s of its 32 s of CPU time in the kernel). Keeping large blocks on the heap
//! and not trimming it makes the next step reuse them: the segmenter's step
//! 3.3 → 2.5 s, the detector's 1.53 → 1.30 s, for about 20 % more peak memory
//! (docs/benchmarks.md). Serving keeps glibc's defaults.

/// Keep freed memory for reuse instead of returning it to the kernel.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes malloc's tuning parameters; it is called from
    // the main thread before the command starts its own threads.
    unsafe {
        // no block is served by mmap (any size comes from the heap and goes back to it)
        libc::mallopt(libc::M_MMAP_MAX, 0);
        // the heap's top is never given back to the kernel
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
