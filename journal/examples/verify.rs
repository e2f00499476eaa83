//! Verifies a journal directory offline and prints every problem found.
//!
//! ```sh
//! cargo run -p trailmark-journal --example verify -- <journal-dir> [<head-seq> <head-hash-hex>]
//! cargo run -p trailmark-journal --example verify -- <journal-dir> --checkpoints <checkpoints.jsonl> <key.pub>
//! ```
//!
//! Exit status: 0 when intact, 1 when problems were found, 2 on usage or I/O errors.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use trailmark_journal::{
    ChainHead, PublicKey, VerifyReport, read_checkpoints, verify, verify_against,
    verify_with_checkpoints,
};

/// What to check the chain against.
enum Against {
    Nothing,
    Head(ChainHead),
    Checkpoints(PathBuf, PathBuf),
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, against) = match args.as_slice() {
        [dir] => (PathBuf::from(dir), Against::Nothing),
        [dir, flag, log, key] if flag == "--checkpoints" => (
            PathBuf::from(dir),
            Against::Checkpoints(PathBuf::from(log), PathBuf::from(key)),
        ),
        [dir, seq, hash] => match parse_head(seq, hash) {
            Some(head) => (PathBuf::from(dir), Against::Head(head)),
            None => {
                eprintln!("head must be a seq and a 64-digit hex hash");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!(
                "usage: verify <journal-dir> [<head-seq> <head-hash-hex> | --checkpoints <file> <key.pub>]"
            );
            return ExitCode::from(2);
        }
    };
    let report = match check(&dir, against) {
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
    let c = &report.checkpoints;
    if c.total > 0 {
        println!(
            "{} checkpoint(s): {} verified, {} skipped (older than retention), {} rejected; last verified seq {}",
            c.total,
            c.verified,
            c.skipped,
            c.rejected,
            c.last_verified_seq
                .map_or_else(|| "none".to_owned(), |s| s.to_string())
        );
    }
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

fn check(dir: &Path, against: Against) -> Result<VerifyReport, Box<dyn std::error::Error>> {
    Ok(match against {
        Against::Nothing => verify(dir)?,
        Against::Head(head) => verify_against(dir, head)?,
        Against::Checkpoints(log, key) => {
            let checkpoints = read_checkpoints(&log)?;
            verify_with_checkpoints(dir, &checkpoints, &PublicKey::load(&key)?)?
        }
    })
}

fn parse_head(seq: &str, hash: &str) -> Option<ChainHead> {
    let seq = seq.parse().ok()?;
    let hash = hex::decode(hash).ok()?.try_into().ok()?;
    Some(ChainHead { seq, hash })
}
