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

/// The library's [`Progress`](brain_tumour_seg::io::progress::Progress) shown as an
/// `indicatif` bar on stderr (hidden when stderr is not a terminal, as indicatif does).
pub struct Bar(indicatif::ProgressBar);

impl Bar {
    /// A bar, hidden until a phase starts.
    pub fn new() -> Bar {
        let pb = indicatif::ProgressBar::new(0);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix:>12} [{bar:30}] {pos}/{len} {per_sec} {elapsed_precise} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Bar(pb)
    }

    /// A bar behind an `Arc`, as the `Trainer` takes it.
    #[allow(dead_code)]
    pub fn shared() -> std::sync::Arc<Bar> {
        std::sync::Arc::new(Bar::new())
    }
}

impl brain_tumour_seg::io::progress::Progress for Bar {
    fn start(&self, label: &str, len: u64) {
        self.0.reset();
        self.0.set_prefix(label.to_string());
        self.0.set_length(len);
        self.0.set_message("");
    }

    fn advance(&self, n: u64) {
        self.0.inc(n);
    }

    fn message(&self, msg: &str) {
        self.0.set_message(msg.to_string());
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }

    fn line(&self, text: &str) {
        self.0.suspend(|| eprintln!("{text}"));
    }
}
