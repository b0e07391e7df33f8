//! Progress reporting without a progress-bar crate in the API: long-running work in this
//! workspace (training, sliding-window inference, dataset scans) reports through the
//! [`Progress`] trait; a front end implements it with the bar library of its choice (the
//! examples use `indicatif`), a library user passes [`NoProgress`] or their own.
//!
//! ```
//! use brats_io::progress::{Progress, NoProgress};
//! fn work(p: &dyn Progress) {
//!     p.start("windows", 3);
//!     for _ in 0..3 {
//!         p.advance(1);
//!     }
//!     p.finish();
//! }
//! work(&NoProgress);
//! ```

/// Receives the progress of a phase of work. Every method has a do-nothing default, so an
/// implementation overrides only what it shows. Implementations must be cheap: `advance`
/// may be called once per window or iteration.
pub trait Progress: Send + Sync {
    /// A phase named `label` with `len` steps begins (it replaces any previous phase).
    fn start(&self, label: &str, len: u64) {
        let _ = (label, len);
    }

    /// `n` more steps are done.
    fn advance(&self, n: u64) {
        let _ = n;
    }

    /// A short status for the current phase (loss, learning rate, …).
    fn message(&self, msg: &str) {
        let _ = msg;
    }

    /// The current phase is over.
    fn finish(&self) {}

    /// A line worth keeping (an epoch summary), printed without breaking a bar.
    fn line(&self, text: &str) {
        let _ = text;
    }
}

/// Shows nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoProgress;

impl Progress for NoProgress {}
