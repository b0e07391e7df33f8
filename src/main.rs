//! `bts` — brain-tumour MRI segmentation with a clinical cross-check, from the command line.
//!
//! `bts --help` lists the subcommands; every subcommand documents its options and
//! defaults in its own `--help`. Exit codes: 0 success, 1 failure (one line on stderr,
//! the cause chain; the backtrace too with `RUST_BACKTRACE=1`), 2 usage error.
//! Decision support, not a diagnosis.

mod alloc;
mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    alloc::default_sigpipe();
    let args = cli::parse();
    alloc::tune_allocator();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let backtrace = std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0");
            if backtrace {
                eprintln!("error: {e:?}");
            } else {
                eprintln!("error: {}", cli::chain(&e));
            }
            ExitCode::FAILURE
        }
    }
}
