//! A throwaway `moto_server` (a local AWS emulator) for the AWS backend
//! tests: installed into `<root>/.venv` on first use, started on a free
//! loopback port, stopped when dropped.
//!
//! ```no_run
//! # fn demo(root: &std::path::Path) -> anyhow::Result<()> {
//! let moto = moto::Moto::start(root)?;
//! let status = std::process::Command::new("cargo")
//!     .args(["test", "-p", "trailmark-backends-aws"])
//!     .envs(moto.env())
//!     .status()?;
//! # Ok(()) }
//! ```

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The moto release line the tests are written against.
const MOTO_REQUIREMENT: &str = "moto[server]==5.*";
/// The AWS CLI, for the test that runs the README's example as written.
const AWS_CLI_REQUIREMENT: &str = "awscli==1.*";
/// schemathesis, which fuzzes a live server from its OpenAPI document.
const SCHEMATHESIS_REQUIREMENT: &str = "schemathesis==4.*";
/// DuckDB, the real reader of the data lake's tests (host/tests/it/lake.rs).
const DUCKDB_REQUIREMENT: &str = "duckdb==1.*";
/// The OCSF schema (every release, packaged, offline) and a JSON Schema
/// validator, for the lake's OCSF rows (host/tests/it/lake_ocsf.rs).
const OCSF_REQUIREMENTS: [&str; 2] = ["ocsf-json-schema==1.*", "jsonschema==4.*"];
/// How long a fresh server may take to answer.
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// A running `moto_server`; killed (by PID) and reaped when dropped.
pub struct Moto {
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    /// The AWS CLI installed beside moto.
    pub aws_cli: PathBuf,
    /// schemathesis's `st`, installed beside moto.
    pub schemathesis: PathBuf,
    /// The venv's Python, which has `duckdb` (the lake's tests read with it).
    pub python: PathBuf,
    child: Child,
}

impl Moto {
    /// Make sure moto is installed in `<root>/.venv` (creating the venv and
    /// running pip quietly when needed), start it on a free loopback port with
    /// its output in `<root>/target/moto-<port>.log`, and wait until it
    /// answers HTTP.
    pub fn start(root: &Path) -> Result<Moto> {
        let server = install(root)?;
        let port = free_port()?;
        let log_dir = root.join("target");
        std::fs::create_dir_all(&log_dir)
            .with_context(|| format!("creating {}", log_dir.display()))?;
        let log_path = log_dir.join(format!("moto-{port}.log"));
        let log =
            File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .with_context(|| format!("opening {} twice", log_path.display()))?;
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .with_context(|| format!("starting {}", server.display()))?;
        let mut moto = Moto {
            url: format!("http://127.0.0.1:{port}"),
            aws_cli: root.join(".venv").join("bin").join("aws"),
            schemathesis: root.join(".venv").join("bin").join("st"),
            python: root.join(".venv").join("bin").join("python"),
            child,
        };
        moto.wait_ready(port, &log_path)?;
        Ok(moto)
    }

    /// The environment that points AWS SDKs and the tests at this server:
    /// `AWS_ENDPOINT_URL`, dummy credentials, `AWS_REGION=us-east-1`,
    /// `AWS_EC2_METADATA_DISABLED=true` (no instance-metadata look-ups off
    /// loopback) and `TRAILMARK_MOTO_URL`.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.url.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("TRAILMARK_MOTO_URL", self.url.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .chain([
            (
                "TRAILMARK_AWS_CLI".to_owned(),
                self.aws_cli.display().to_string(),
            ),
            (
                "TRAILMARK_SCHEMATHESIS".to_owned(),
                self.schemathesis.display().to_string(),
            ),
            (
                "TRAILMARK_PYTHON".to_owned(),
                self.python.display().to_string(),
            ),
        ])
        .collect()
    }

    /// Poll until the server answers an HTTP request, the process exits, or
    /// the deadline passes.
    fn wait_ready(&mut self, port: u16, log_path: &Path) -> Result<()> {
        let deadline = Instant::now() + READY_DEADLINE;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut pause = Duration::from_millis(20);
        loop {
            if answers_http(addr) {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait().context("checking on moto_server")? {
                bail!(
                    "moto_server exited with {status} before it was ready; see {}",
                    log_path.display()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "moto_server did not answer on {addr} within {READY_DEADLINE:?}; see {}",
                    log_path.display()
                );
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // `Child::kill` signals this very PID; waiting reaps it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `<root>/.venv/bin/moto_server`, installing it first when missing.
fn install(root: &Path) -> Result<PathBuf> {
    let venv = root.join(".venv");
    let server = venv.join("bin").join("moto_server");
    let installed = ["aws", "st"]
        .iter()
        .all(|tool| venv.join("bin").join(tool).exists());
    if server.exists() && installed {
        ensure_duckdb(&venv)?;
        return Ok(server);
    }
    let python = venv.join("bin").join("python");
    if !python.exists() {
        run_quietly(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            "python3 -m venv (is python3 with the venv module installed?)",
        )?;
    }
    eprintln!(
        "xtask: installing {MOTO_REQUIREMENT}, {AWS_CLI_REQUIREMENT} and {SCHEMATHESIS_REQUIREMENT} into {} (about a minute, once)",
        venv.display()
    );
    run_quietly(
        Command::new(venv.join("bin").join("pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            MOTO_REQUIREMENT,
            AWS_CLI_REQUIREMENT,
            SCHEMATHESIS_REQUIREMENT,
        ]),
        "pip install moto[server] awscli schemathesis",
    )?;
    if !server.exists() {
        bail!("pip installed moto but {} is missing", server.display());
    }
    ensure_duckdb(&venv)?;
    Ok(server)
}

/// DuckDB and the OCSF validator in the venv (a venv made before the
/// lake's tests lacks them).
fn ensure_duckdb(venv: &Path) -> Result<()> {
    let python = venv.join("bin").join("python");
    let present = Command::new(&python)
        .args(["-c", "import duckdb, jsonschema, ocsf_json_schema"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return Ok(());
    }
    eprintln!(
        "xtask: installing {DUCKDB_REQUIREMENT} and {} into {}",
        OCSF_REQUIREMENTS.join(", "),
        venv.display()
    );
    run_quietly(
        Command::new(venv.join("bin").join("pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                DUCKDB_REQUIREMENT,
            ])
            .args(OCSF_REQUIREMENTS),
        "pip install duckdb ocsf-json-schema jsonschema",
    )
}

/// Run `command`; on failure, show what it printed.
fn run_quietly(command: &mut Command, what: &str) -> Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed with {}:\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// A loopback port that was free a moment ago.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding 127.0.0.1:0")?;
    Ok(listener
        .local_addr()
        .context("reading the bound port")?
        .port())
}

/// Does `addr` answer `GET /` with an HTTP status line?
fn answers_http(addr: SocketAddr) -> bool {
    let timeout = Duration::from_millis(500);
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, timeout) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    let mut read = 0;
    while read < head.len() {
        match stream.read(&mut head[read..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
    head[..read].starts_with(b"HTTP/1.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_nonzero_and_bindable() {
        let port = free_port().unwrap();
        assert_ne!(port, 0);
        assert!(TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok());
    }

    #[test]
    fn a_silent_port_is_not_ready() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        assert!(!answers_http(addr));
    }
}
