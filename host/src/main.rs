//! The `trailmark` binary.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system allocator: a profile of `serve` under
/// load showed about 12% of its CPU in glibc's malloc and free (many small,
/// short-lived allocations across threads), which mimalloc serves from
/// per-thread pages.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = trailmark::cli::Cli::parse();
    match trailmark::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            trailmark::cli::terminal::write_stderr(&format!("error: {e:#}\n"));
            ExitCode::from(2)
        }
    }
}
