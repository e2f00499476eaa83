//! Build, run and test Trailmark with one command each.
//!
//! ```text
//! cargo xtask serve [ARGS…]   build everything (plugins included), run `trailmark serve ARGS…`
//! cargo xtask test            everything CI checks: fmt, clippy, plugins, the whole test suite
//! cargo xtask build-plugins   build every WebAssembly plugin into plugins/*.wasm
//! cargo xtask bench [ARGS…]   run the criterion benchmarks
//! cargo xtask image           the container image (deploy/Containerfile), with podman
//! ```
//!
//! Each command installs what it needs first: the `wasm32-wasip2` target, and
//! for `test` a Python virtualenv with `moto[server]` (an AWS-compatible server
//! on loopback for the AWS backends' tests) and the AWS CLI, started and
//! stopped around the run, Debian's `chromium` and `chromium-driver` for the
//! viewer's browser test, `systemd-analyze` for the unit's test, and podman
//! for the image, which `test` builds, exports and runs under chroot.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use serde_json::Value;

mod debian;
mod image;
mod moto;

const WASM_TARGET: &str = "wasm32-wasip2";

/// Where guest crates live, and how their built files are named.
const GUEST_DIRS: &[&str] = &[
    "plugins/",
    "host/tests/fixtures/plugins/",
    "examples/plugins/",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r.to_vec()),
        None => ("help", Vec::new()),
    };
    let result = match cmd {
        "serve" => serve(&rest),
        "test" => test(),
        "build-plugins" => build_plugins().map(|_| ()),
        "bench" => bench(&rest),
        "image" => build_image(),
        "image-test" => image_smoke_test(),
        _ => {
            eprintln!(
                "usage: cargo xtask <serve [ARGS…] | test | build-plugins | bench [ARGS…] | image>\n\n\
                 serve          build everything and run `trailmark serve` on ./data with ./rules\n\
                 test           run every check CI runs (fmt, clippy, plugins, tests)\n\
                 build-plugins  build the WebAssembly plugins into plugins/*.wasm\n\
                 bench          run the criterion benchmarks\n\
                 image          build the container image (deploy/Containerfile) with podman\n\
                 image-test     build it from the debug binary the tests use, export it, run it under chroot"
            );
            return if cmd == "help" || cmd == "--help" {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root. `cargo run` (what the `cargo xtask` alias is) sets
/// `CARGO_MANIFEST_DIR` for the running binary: read it at run time, since
/// checkouts sharing one target dir share the uplifted `target/debug/xtask`,
/// whose compile-time path may be another (even a deleted) checkout's.
fn root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_owned()
}

/// Where host/build.rs finds the standard plugins to embed for `trailmark init`.
const EMBED_PLUGINS: &str = "TRAILMARK_EMBED_PLUGINS";

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn metadata() -> Result<Value> {
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("parsing cargo metadata")
}

fn ensure_wasm_target() -> Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup (is the Rust toolchain installed with rustup?)")?;
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == WASM_TARGET)
    {
        return Ok(());
    }
    run(Command::new("rustup").args(["target", "add", WASM_TARGET]))
}

/// A guest crate: package name, and the directory group it belongs to.
struct Guest {
    package: String,
    group: &'static str,
}

fn guests(meta: &Value) -> Vec<Guest> {
    let root = root();
    let mut out = Vec::new();
    for pkg in meta["packages"].as_array().into_iter().flatten() {
        let (Some(name), Some(manifest)) = (pkg["name"].as_str(), pkg["manifest_path"].as_str())
        else {
            continue;
        };
        let rel = Path::new(manifest)
            .strip_prefix(&root)
            .unwrap_or(Path::new(manifest));
        let rel = rel.to_string_lossy();
        if let Some(group) = GUEST_DIRS.iter().find(|g| rel.starts_with(**g)) {
            out.push(Guest {
                package: name.to_owned(),
                group,
            });
        }
    }
    out
}

/// Build every guest crate for wasm32-wasip2 and copy the standard plugins to
/// `plugins/<name>.wasm`. Returns the directory holding all built `.wasm` files.
fn build_plugins() -> Result<PathBuf> {
    ensure_wasm_target()?;
    let meta = metadata()?;
    let target_dir = PathBuf::from(
        meta["target_directory"]
            .as_str()
            .context("no target_directory")?,
    );
    let guests = guests(&meta);
    let mut cmd = cargo();
    cmd.args(["build", "--release", "--target", WASM_TARGET]);
    for g in &guests {
        cmd.args(["-p", &g.package]);
    }
    run(&mut cmd)?;
    let out_dir = target_dir.join(WASM_TARGET).join("release");
    for g in guests.iter().filter(|g| g.group == "plugins/") {
        let file = out_dir.join(format!("{}.wasm", g.package.replace('-', "_")));
        let name = g.package.trim_start_matches("trailmark-plugin-");
        let dest = root().join("plugins").join(format!("{name}.wasm"));
        std::fs::copy(&file, &dest)
            .with_context(|| format!("copying {} to {}", file.display(), dest.display()))?;
        eprintln!(
            "xtask: {} ({} bytes)",
            dest.display(),
            std::fs::metadata(&dest)?.len()
        );
    }
    Ok(out_dir)
}

/// Build the plugins and the release binary, say where the binary is (so the
/// README's `trailmark …` commands work from another terminal without a
/// second, debug build), then run `trailmark serve`.
fn serve(args: &[String]) -> Result<()> {
    let wasm_dir = build_plugins()?;
    // The binary carries the standard plugins for `trailmark init`.
    run(cargo()
        .args(["build", "--release", "-p", "trailmark"])
        .env(EMBED_PLUGINS, &wasm_dir))?;
    let meta = metadata()?;
    let bin_dir = PathBuf::from(
        meta["target_directory"]
            .as_str()
            .context("no target_directory")?,
    )
    .join("release");
    let binary = bin_dir.join("trailmark");
    eprintln!(
        "xtask: the trailmark binary is {binary}\n\
         xtask: to use it from another terminal:  export PATH=\"{dir}:$PATH\"\n\
         xtask: (or install it: cargo install --locked --path host)",
        binary = binary.display(),
        dir = bin_dir.display()
    );
    run(Command::new(&binary)
        .current_dir(root())
        .arg("serve")
        .args(args))
}

fn test() -> Result<()> {
    let wasm_dir = build_plugins()?;
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo()
        .args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])
        .env(EMBED_PLUGINS, &wasm_dir))?;
    // The binary builds without AWS support (the `aws` feature off), with no
    // AWS crate in it; the plugin runtime compiles no backend implementation.
    run(cargo().args(["check", "-p", "trailmark", "--no-default-features"]))?;
    forbid_in_tree(&["-p", "trailmark", "--no-default-features"], &["aws-"])?;
    forbid_in_tree(&["-p", "trailmark-runtime"], &["rusqlite", "ureq"])?;
    // The AWS backends are tested against a real AWS-compatible server:
    // moto, installed into .venv on first use, on a free loopback port, and
    // stopped (by PID) when `moto` is dropped, whatever the outcome. The
    // viewer is tested in a real browser too.
    debian::ensure_chromium()?;
    debian::ensure_systemd_analyze()?;
    debian::ensure_faketime()?;
    let moto = moto::Moto::start(&root())?;
    run(cargo()
        .args(["test", "--workspace", "--no-fail-fast"])
        .env("TRAILMARK_WASM_DIR", &wasm_dir)
        // `trailmark init`'s test then checks the plugins it writes.
        .env(EMBED_PLUGINS, &wasm_dir)
        // The browser test fails, rather than skips, without chromedriver.
        .env("TRAILMARK_BROWSER_TESTS", "require")
        // The README test runs the AWS CLI example (installed beside moto).
        .env("TRAILMARK_README_TEST", "require")
        .env("TRAILMARK_DEPLOY_TESTS", "require")
        .env("TRAILMARK_SCHEMATHESIS_TESTS", "require")
        // The wall-clock fault test runs the server under libfaketime.
        .env("TRAILMARK_FAULT_CLOCK", "require")
        // The lake's tests read what the server wrote with DuckDB.
        .env("TRAILMARK_LAKE_TESTS", "require")
        .envs(moto.env()))?;
    drop(moto);
    image_smoke_test()
}

/// The container image from the binary the tests ran (built with the
/// standard plugins embedded), exported and run under chroot. Needs root
/// (chroot); elsewhere it says so and is skipped.
fn image_smoke_test() -> Result<()> {
    if !debian::is_root() {
        eprintln!("xtask: skipped the container image smoke test (chroot needs root)");
        return Ok(());
    }
    debian::ensure_podman()?;
    let target_dir = target_dir()?;
    let stage = image::build(&root(), &target_dir, &target_dir.join("debug/trailmark"))?;
    let tested = image::smoke_test(&stage);
    // A debug binary's image is large: keep neither it nor its files.
    let _ = std::fs::remove_dir_all(&stage);
    let _ = Command::new("podman")
        .args(["rmi", "--force", image::TAG])
        .output();
    tested
}

/// `cargo xtask image`: plugins, the release binary carrying them, the image.
fn build_image() -> Result<()> {
    let wasm_dir = build_plugins()?;
    run(cargo()
        .args(["build", "--release", "-p", "trailmark"])
        .env(EMBED_PLUGINS, &wasm_dir))?;
    let target_dir = target_dir()?;
    image::build(&root(), &target_dir, &target_dir.join("release/trailmark"))?;
    eprintln!(
        "xtask: run it with  podman run -p 8088:8088 -v trailmark:/var/lib/trailmark {}",
        image::TAG
    );
    Ok(())
}

fn target_dir() -> Result<PathBuf> {
    let meta = metadata()?;
    Ok(PathBuf::from(
        meta["target_directory"]
            .as_str()
            .context("no target_directory")?,
    ))
}

/// Fail if the normal (non-dev) dependency tree of `package_args` has a
/// crate whose name starts with one of `forbidden`.
fn forbid_in_tree(package_args: &[&str], forbidden: &[&str]) -> Result<()> {
    let out = cargo()
        .args([
            "tree", "-e", "normal", "--prefix", "none", "--format", "{p}",
        ])
        .args(package_args)
        .output()
        .context("running cargo tree")?;
    if !out.status.success() {
        bail!(
            "cargo tree {package_args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let tree = String::from_utf8_lossy(&out.stdout);
    let found: Vec<&str> = tree
        .lines()
        .filter(|line| forbidden.iter().any(|f| line.starts_with(f)))
        .collect();
    if !found.is_empty() {
        bail!(
            "{package_args:?} must not depend on {forbidden:?}, but its tree has:\n{}",
            found.join("\n")
        );
    }
    eprintln!("xtask: {package_args:?} has none of {forbidden:?} in its tree");
    Ok(())
}

fn bench(args: &[String]) -> Result<()> {
    let wasm_dir = build_plugins()?;
    run(cargo()
        .args(["bench", "--workspace"])
        .args(args)
        .env("TRAILMARK_WASM_DIR", &wasm_dir))
}
