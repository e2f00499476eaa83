//! `trailmark plugin new`: the generated crate passes its own tests and
//! builds to a plugin component the host accepts; bad input exits 2.
//!
//! The build test compiles the sdk and wit-bindgen for wasm32-wasip2 (about a
//! minute the first time). Its target dir is shared across runs:
//! `$CARGO_TARGET_DIR/plugin-new-test`, else `target/plugin-new-test` in the
//! workspace. (A subdirectory, not the target dir itself, whose build lock
//! the `cargo test` running this test holds.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{cli, workspace};

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
        .join("plugin-new-test")
}

/// Run `cargo` (the one running this test) in `crate_dir` with the shared target dir.
fn cargo(crate_dir: &Path, args: &[&str]) -> Output {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Command::new(cargo)
        .args(args)
        .current_dir(crate_dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .expect("run cargo")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Assert `output` succeeded, showing its output otherwise.
fn assert_ok(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// Check the crate generated in `dir`: its rule file `rule` is one the host
/// accepts (`rules validate --syntax-only`), and its own `cargo test`
/// passes, pinned to the versions this workspace is tested with (so the
/// test is reproducible and works offline). The test run's stdout.
fn validate_and_test(dir: &Path, rule: &str) -> String {
    let rule = dir.join(rule);
    let out = cli(
        dir,
        &[
            "rules",
            "validate",
            "--syntax-only",
            rule.to_str().expect("utf-8"),
        ],
    );
    assert_ok("trailmark rules validate", &out);
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).expect("copy Cargo.lock");
    let out = cargo(dir, &["test"]);
    assert_ok("cargo test in the generated crate", &out);
    text(&out.stdout)
}

/// Build the crate generated in `dir` for wasm32-wasip2; the path of its
/// `wasm` file.
fn build_component(dir: &Path, wasm: &str) -> PathBuf {
    let out = cargo(dir, &["build", "--target", "wasm32-wasip2", "--release"]);
    assert_ok("cargo build --target wasm32-wasip2 --release", &out);
    target_dir().join("wasm32-wasip2/release").join(wasm)
}

#[test]
fn generated_plugin_passes_its_tests_and_builds_to_a_component() {
    // Generated inside another Cargo workspace: the crate's own `[workspace]`
    // table must keep it out of this one.
    let root = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        root.path().join("Cargo.toml"),
        "[workspace]\nmembers = []\n",
    )
    .expect("write outer workspace");

    let out = cli(
        root.path(),
        &["plugin", "new", "audit-books", "--output", "json"],
    );
    assert_ok("trailmark plugin new", &out);
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("--output json prints JSON");
    assert_eq!(report["name"], "audit-books");
    assert_eq!(report["crate"], "audit_books");
    assert_eq!(
        report["wasm"],
        "target/wasm32-wasip2/release/audit_books.wasm"
    );
    // The sdk comes with the crate (from the binary, not from this
    // checkout), so a binary installed anywhere can create plugins.
    assert_eq!(report["sdk"]["bundled"], "vendor/trailmark-sdk");

    let dir = root.path().join("audit-books");
    for file in [
        "Cargo.toml",
        "src/lib.rs",
        "audit-books.rule.yaml",
        "README.md",
        ".gitignore",
        "vendor/trailmark-sdk/Cargo.toml",
        "vendor/trailmark-sdk/wit/world.wit",
        "vendor/trailmark-event/src/lib.rs",
    ] {
        assert!(dir.join(file).is_file(), "{file} was not written");
    }

    let stdout = validate_and_test(&dir, "audit-books.rule.yaml");
    assert!(
        stdout.contains("test result: ok. 6 passed"),
        "the template's 6 unit tests did not all run:\n{stdout}"
    );

    let wasm = build_component(&dir, "audit_books.wasm");
    let bytes = std::fs::read(&wasm).expect("the .wasm was built");
    assert_eq!(&bytes[..4], b"\0asm", "not WebAssembly");
    assert_eq!(
        &bytes[4..8],
        &[0x0d, 0x00, 0x01, 0x00],
        "a core module, not a component"
    );

    // And the host accepts it as a compatible plugin.
    let out = cli(&dir, &["plugins", "inspect", wasm.to_str().expect("utf-8")]);
    assert_ok("trailmark plugins inspect", &out);
}

#[test]
fn bad_names_exit_2_and_write_nothing() {
    let root = tempfile::tempdir().expect("temp dir");
    for (name, why) in [
        ("Audit", "start with a letter"),
        ("9lives", "start with a letter"),
        ("audit.books", "contains '.'"),
        ("fn", "keyword"),
    ] {
        let out = cli(root.path(), &["plugin", "new", name]);
        assert_eq!(out.status.code(), Some(2), "{name:?}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("not a valid plugin name"),
            "{name:?}: {stderr}"
        );
        assert!(stderr.contains(why), "{name:?}: {stderr}");
    }
    let long = "a".repeat(65);
    let out = cli(root.path(), &["plugin", "new", &long]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("65 characters"));

    let left: Vec<_> = std::fs::read_dir(root.path()).expect("read dir").collect();
    assert!(left.is_empty(), "bad names wrote {left:?}");
}

#[test]
fn existing_directory_exits_2_and_is_left_alone() {
    let root = tempfile::tempdir().expect("temp dir");
    let taken = root.path().join("taken");
    std::fs::create_dir(&taken).expect("mkdir");
    std::fs::write(taken.join("notes.txt"), "mine").expect("write");

    let out = cli(
        root.path(),
        &["plugin", "new", "audit-books", "--dir", "taken"],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("taken already exists and is not an empty directory"),
        "{stderr}"
    );
    let entries: Vec<_> = std::fs::read_dir(&taken)
        .expect("read dir")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert_eq!(entries, ["notes.txt"]);

    // An existing empty directory is fine.
    std::fs::create_dir(root.path().join("empty")).expect("mkdir");
    let out = cli(
        root.path(),
        &["plugin", "new", "audit-books", "--dir", "empty"],
    );
    assert_ok("plugin new into an empty dir", &out);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("cargo build --target wasm32-wasip2 --release"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "cp target/wasm32-wasip2/release/audit_books.wasm <server>/plugins/audit-books.wasm"
        ),
        "{stdout}"
    );
    assert!(root.path().join("empty/src/lib.rs").is_file());
}

#[test]
fn missing_sdk_path_exits_2_with_what_to_pass() {
    let root = tempfile::tempdir().expect("temp dir");
    let out = cli(
        root.path(),
        &["plugin", "new", "x", "--sdk-path", "no/such/sdk"],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("--sdk-path no/such/sdk"), "{stderr}");
    assert!(!root.path().join("x").exists());

    // A git source needs no local sdk.
    let out = cli(
        root.path(),
        &[
            "plugin",
            "new",
            "x",
            "--sdk-git",
            "https://github.com/trailmark/trailmark",
        ],
    );
    assert_ok("plugin new --sdk-git", &out);
    let manifest = std::fs::read_to_string(root.path().join("x/Cargo.toml")).expect("Cargo.toml");
    assert!(
        manifest.contains(r#"trailmark-sdk = { git = "https://github.com/trailmark/trailmark" }"#),
        "{manifest}"
    );
}

#[test]
fn an_http_plugin_is_generated_tested_and_imports_the_http_capability() {
    let root = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        root.path().join("Cargo.toml"),
        "[workspace]\nmembers = []\n",
    )
    .expect("write outer workspace");
    let out = cli(root.path(), &["plugin", "new", "to-crm", "--http"]);
    assert_ok("trailmark plugin new --http", &out);
    assert!(
        text(&out.stdout).contains("to-crm.destination.yaml <server>/rules/destinations/"),
        "{}",
        text(&out.stdout)
    );
    let dir = root.path().join("to-crm");
    let stdout = validate_and_test(&dir, "to-crm.rule.yaml");
    assert!(stdout.contains("test result: ok. 2 passed"), "{stdout}");
    let wasm = build_component(&dir, "to_crm.wasm");
    let out = cli(
        &dir,
        &[
            "plugins",
            "inspect",
            "--output",
            "json",
            wasm.to_str().expect("utf-8"),
        ],
    );
    assert_ok("trailmark plugins inspect", &out);
    assert!(
        text(&out.stdout).contains("trailmark:plugin/http@0.2.0"),
        "the plugin imports the http interface: {}",
        text(&out.stdout)
    );
}
