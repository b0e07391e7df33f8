//! Process set-up that a library must not do for its users: the `bts` binary (and the
//! benches, which measure what it runs) call this once at start-up.

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

/// Lets `bts … | head` end quietly: with Rust's default (SIGPIPE ignored) a closed pipe
/// makes `println!` panic; the conventional Unix behaviour is to die of the signal.
#[allow(dead_code)] // the benches include this file for tune_allocator only
pub fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: restores the default disposition of one signal at start-up, before any other
    // thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
