//! The `trailmark` binary.

use std::process::ExitCode;

use clap::Parser;

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
