//! The `trailmark` binary.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = trailmark::cli::Cli::parse();
    match trailmark::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
