//! What the command line shows on stderr: progress bars (indicatif) and notes, both
//! hidden with `--quiet`; bars also hidden when stderr is not a terminal.

use std::io::IsTerminal;
use std::sync::Arc;

use brats_io::progress::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The stderr side of one command.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    quiet: bool,
    terminal: bool,
}

impl Ui {
    /// `quiet`: nothing but errors on stderr.
    pub fn new(quiet: bool) -> Ui {
        Ui {
            quiet,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// A note on stderr (a line in a log when stderr is a file).
    pub fn note(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// A progress bar for the library's [`Progress`].
    pub fn bar(&self) -> Bar {
        let pb = ProgressBar::with_draw_target(
            Some(0),
            if self.quiet || !self.terminal {
                ProgressDrawTarget::hidden()
            } else {
                ProgressDrawTarget::stderr()
            },
        );
        pb.set_style(
            ProgressStyle::with_template(
                "{prefix:>12} [{bar:30}] {pos}/{len} {per_sec} {elapsed_precise} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Bar {
            pb,
            quiet: self.quiet,
        }
    }

    /// A bar behind an `Arc`, as the `Trainer` takes it.
    pub fn shared_bar(&self) -> Arc<Bar> {
        Arc::new(self.bar())
    }
}

/// The library's [`Progress`] as an `indicatif` bar on stderr.
pub struct Bar {
    pb: ProgressBar,
    quiet: bool,
}

impl Bar {
    /// Runs `f` with the bar cleared (for printing on stdout between redraws).
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.pb.suspend(f)
    }
}

impl Progress for Bar {
    fn start(&self, label: &str, len: u64) {
        self.pb.reset();
        self.pb.set_prefix(label.to_string());
        self.pb.set_length(len);
        self.pb.set_message("");
    }

    fn advance(&self, n: u64) {
        self.pb.inc(n);
    }

    fn message(&self, msg: &str) {
        self.pb.set_message(msg.to_string());
    }

    fn finish(&self) {
        self.pb.finish_and_clear();
    }

    fn line(&self, text: &str) {
        if !self.quiet {
            self.pb.suspend(|| eprintln!("{text}"));
        }
    }
}
