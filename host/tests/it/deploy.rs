//! `deploy/trailmark.service`: systemd accepts the unit as written, and its
//! command line serves a directory `trailmark init` wrote.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::skip_unless_required;

fn unit() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/trailmark.service");
    std::fs::read_to_string(path).expect("deploy/trailmark.service")
}

const BINARY: &str = "/usr/local/bin/trailmark";

#[test]
fn systemd_accepts_the_unit() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        skip_unless_required(
            "TRAILMARK_DEPLOY_TESTS",
            "systemd-analyze (Debian's systemd package)",
        );
        return;
    }
    // The one change: the binary where this build put it (verify checks
    // that ExecStart names an executable).
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("trailmark.service");
    std::fs::write(
        &file,
        unit().replace(BINARY, env!("CARGO_BIN_EXE_trailmark")),
    )
    .expect("write");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&file)
        .output()
        .expect("systemd-analyze");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}

#[test]
fn the_units_command_line_serves_what_init_wrote() {
    let exec = unit()
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart")
        .to_owned();
    let root = tempfile::tempdir().expect("temp dir");
    let etc = root.path().join("etc");
    let var = root.path().join("var");
    std::fs::create_dir_all(&var).expect("state dir");
    let init = Command::new(env!("CARGO_BIN_EXE_trailmark"))
        .arg("init")
        .arg(&etc)
        .output()
        .expect("init");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let mut args: Vec<String> = exec
        .split_whitespace()
        .map(|a| {
            a.replace("/etc/trailmark", &etc.display().to_string())
                .replace("/var/lib/trailmark", &var.display().to_string())
        })
        .collect();
    assert_eq!(args.remove(0), BINARY);
    args.extend(["--listen".into(), "127.0.0.1:0".into()]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_trailmark"))
        .args(&args)
        .current_dir(&var)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let stdout = child.stdout.take().expect("stdout");
    let listening = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.starts_with("trailmark listening on"));
    let _ = child.kill();
    let _ = child.wait();
    let line = listening.expect("the server started with the unit's command line");
    assert!(
        line.contains(&var.display().to_string()),
        "data in the state directory: {line}"
    );
    let data: PathBuf = var.join("journal");
    assert!(data.is_dir(), "the journal is in the state directory");
}
