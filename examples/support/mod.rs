//! Shared by the examples: process set-up that a library must not do for its users.

/// Keeps freed memory in the process (glibc malloc). candle allocates a fresh buffer for
/// every tensor op; with glibc's defaults every large buffer is an `mmap` that is unmapped
/// on free and page-faulted (zeroed by the kernel) again on the next op. Raising the mmap
/// and trim thresholds makes the allocator reuse those blocks: a 128³ training step of the
/// seed network goes from 47 s to 21 s here, at the price of a higher resident peak. Only
/// on glibc targets; elsewhere nothing happens. Embedders can do the same in their binary
/// (or set `MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`, `MALLOC_TOP_PAD_`,
/// `MALLOC_ARENA_MAX=1`).
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called once at start-up, before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 1 << 30);
        // One arena: blocks freed by the rayon workers (im2col buffers) are reused by every
        // thread instead of sitting in per-thread arenas (a further ~10 %).
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
