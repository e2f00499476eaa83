//! Verifies a journal directory offline and prints every problem found.
//!
//! ```sh
//! cargo run -p trailmark-journal --example verify -- <journal-dir> [<head-seq> <head-hash-hex>]
//! ```
//!
//! Exit status: 0 when intact, 1 when problems were found, 2 on usage or I/O errors.

use std::path::PathBuf;
use std::process::ExitCode;

use trailmark_journal::{ChainHead, verify, verify_against};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, expected) = match args.as_slice() {
        [dir] => (PathBuf::from(dir), None),
        [dir, seq, hash] => match parse_head(seq, hash) {
            Some(head) => (PathBuf::from(dir), Some(head)),
            None => {
                eprintln!("head must be a seq and a 64-digit hex hash");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: verify <journal-dir> [<head-seq> <head-hash-hex>]");
            return ExitCode::from(2);
        }
    };
    let report = match expected {
        Some(head) => verify_against(&dir, head),
        None => verify(&dir),
    };
    let report = match report {
        Ok(report) => report,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    println!(
        "{} segments, {} records, seq {}..={}, head {}",
        report.segments,
        report.records,
        report.first_seq,
        report.last_seq,
        report.head().hash_hex()
    );
    for problem in &report.problems {
        println!("{problem}");
    }
    if report.is_intact() {
        println!("intact");
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn parse_head(seq: &str, hash: &str) -> Option<ChainHead> {
    let seq = seq.parse().ok()?;
    let hash = hex::decode(hash).ok()?.try_into().ok()?;
    Some(ChainHead { seq, hash })
}
