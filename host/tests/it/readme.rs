//! The README's "Try it" as a newcomer runs it: its shell blocks, read out
//! of README.md and run as written by `bash` in a clean environment, against
//! a server set up as `cargo xtask serve` sets it up (the default rules and
//! the standard plugins, `./data`), with each documented output checked.
//!
//! Two things differ from a terminal, both outside the README's text: the
//! server listens on a free port (`TRAILMARK_SERVER`, which the CLI reads,
//! and the AWS CLI's `--endpoint-url` are pointed at it), and the `trailmark`
//! on the PATH is this build's. The AWS CLI example runs when `aws` is found
//! (`TRAILMARK_AWS_CLI`, set by `cargo xtask test`, which installs it beside
//! moto); without it that part is skipped with a note, unless
//! `TRAILMARK_README_TEST=require`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::common::{Server, Setup, skip_unless_required, workspace};

/// The shell blocks of the README's section `heading`, in order.
fn sh_blocks(readme: &str, heading: &str) -> Vec<String> {
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("the README has no {heading:?}"));
    let section = &readme[start + heading.len()..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    section
        .split("```sh\n")
        .skip(1)
        .map(|block| block[..block.find("```").expect("the block ends")].to_owned())
        .collect()
}

/// Run `script` with bash in `cwd`, in a clean environment but for PATH,
/// HOME and `extra`.
fn bash(cwd: &Path, path: &str, script: &str, extra: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("bash");
    cmd.args(["-e", "-c", script])
        .current_dir(cwd)
        .env_clear()
        .env("PATH", path)
        .env("HOME", cwd);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.output().expect("run bash")
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A directory with a `trailmark` that is this build's binary.
fn bin_dir(root: &Path) -> PathBuf {
    let dir = root.join("bin");
    std::fs::create_dir_all(&dir).expect("bin dir");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_trailmark"), dir.join("trailmark"))
        .expect("link trailmark");
    dir
}

/// Copy `from` into `to`, recursively.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let path = entry.expect("entry").path();
        let dest = to.join(path.file_name().expect("name"));
        if path.is_dir() {
            copy_dir(&path, &dest);
        } else {
            std::fs::copy(&path, &dest).expect("copy");
        }
    }
}

/// The checkout as the README assumes it (the default rules and standard
/// plugins, `examples/` beside `data/`), a server on it, and a directory
/// whose `trailmark` is this build's.
fn checkout_server() -> (Setup, Server, PathBuf) {
    let setup = Setup::new().standard();
    copy_dir(
        &workspace().join("examples"),
        &setup.path().join("examples"),
    );
    let server = Server::start(setup.path());
    let bin = bin_dir(setup.path());
    (setup, server, bin)
}

#[test]
fn the_readmes_try_it_works_as_written() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README");
    let blocks = sh_blocks(&readme, "## Try it");
    assert!(
        blocks.len() >= 2,
        "Try it has the CLI block and the HTTP block"
    );
    let (setup, server, bin) = checkout_server();
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display());
    let env = [("TRAILMARK_SERVER", server.url.as_str())];

    // The first block, a command at a time, as a person would: each
    // documented output checked. Deliveries run after the put is
    // acknowledged; a person reads the output in between, the test waits.
    let commands: Vec<&str> = blocks[0]
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect();
    assert!(
        commands
            .iter()
            .any(|c| c.starts_with("trailmark events put")),
        "{commands:?}"
    );
    for command in commands {
        if command.starts_with("trailmark query") || command.starts_with("trailmark history") {
            server.wait_until(
                Duration::from_secs(60),
                "the sample's change records",
                |s| s.changes("entity-type=book").len() >= 3,
            );
        }
        if command.starts_with("cat data/notifications.jsonl") {
            server.wait_until(Duration::from_secs(60), "the delete alert", |s| {
                std::fs::read_to_string(s.root.join("data/notifications.jsonl"))
                    .is_ok_and(|t| t.contains("delete"))
            });
        }
        let out = bash(setup.path(), &path, command, &env);
        assert!(out.status.success(), "`{command}` failed: {}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        if command.starts_with("trailmark query") || command.starts_with("trailmark history") {
            assert!(
                stdout.contains("978-1-59327-828-1"),
                "`{command}`: {stdout}"
            );
        }
        if command.starts_with("cat data/notifications.jsonl") {
            assert!(stdout.contains("delete"), "the alert: {stdout}");
        }
    }

    // The second block: the AWS CLI, then curl, pointed at this server.
    let script = blocks[1].replace("http://127.0.0.1:8088", &server.url);
    let aws = std::env::var_os("TRAILMARK_AWS_CLI").map(PathBuf::from);
    let Some(aws) = aws.filter(|a| a.is_file()) else {
        skip_unless_required(
            "TRAILMARK_README_TEST",
            "AWS CLI at TRAILMARK_AWS_CLI (cargo xtask test installs it beside moto)",
        );
        return;
    };
    let aws_dir = aws.parent().expect("aws is in a directory");
    let path = format!("{}:{}", aws_dir.display(), path);
    let before = server.changes("entity-type=book&limit=1000").len();
    let out = bash(setup.path(), &path, &script, &env);
    assert!(out.status.success(), "the HTTP examples: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("\"FailedEntryCount\": 0"),
        "the AWS CLI put the events: {stdout}"
    );
    assert!(
        stdout.contains("\"changes\""),
        "curl listed changes: {stdout}"
    );
    server.wait_until(
        Duration::from_secs(60),
        "the AWS CLI's events recorded",
        |s| s.changes("entity-type=book&limit=1000").len() >= before + 3,
    );
}

/// The README's lake section as a newcomer runs it, on a fresh data
/// directory: send the sample events, `trailmark lake flush`, the printed
/// DDL, DuckDB's answer. Each command line of its block runs as written,
/// with a Python that has `duckdb` first on the PATH (what the block's
/// venv line makes, activated; the test does not install from the
/// network). Skipped without DuckDB unless `TRAILMARK_LAKE_TESTS=require`.
#[test]
fn the_readmes_lake_section_works_as_written() {
    let Some(python) = crate::lake::python_with("duckdb") else {
        return;
    };
    let started = std::time::Instant::now();
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README");
    let blocks = sh_blocks(&readme, "## The trail as a data lake");
    assert_eq!(blocks.len(), 1, "one shell block: {blocks:?}");
    let (setup, server, bin) = checkout_server();
    let venv = python.parent().expect("the python is in a bin directory");
    let path = format!(
        "{}:{}:/usr/local/bin:/usr/bin:/bin",
        venv.display(),
        bin.display()
    );
    let env = [("TRAILMARK_SERVER", server.url.as_str())];
    let commands: Vec<&str> = blocks[0]
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect();
    assert_eq!(commands.len(), 4, "put, flush, ddl, query: {commands:?}");
    let mut last = String::new();
    for command in commands {
        let out = bash(setup.path(), &path, command, &env);
        assert!(out.status.success(), "`{command}` failed: {}", text(&out));
        last = String::from_utf8_lossy(&out.stdout).into_owned();
    }
    // The sample's insert, update and delete of the book, on its day.
    for expected in [
        "2026-11-25",
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
        "delete",
        "The Rust Programming Language",
    ] {
        assert!(
            last.contains(expected),
            "DuckDB's answer lacks {expected}: {last}"
        );
    }
    eprintln!(
        "the README's lake section, server start to DuckDB's answer: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
