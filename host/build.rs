//! Bundles into the binary what it writes out for a user:
//!
//! - for `trailmark plugin new`, the plugin sdk: the sources of `sdk/` and
//!   `event/` (the sdk's one dependency in this workspace), and standalone
//!   manifests with what they inherit from the workspace written out, so a
//!   generated plugin builds wherever the binary was installed from;
//! - for `trailmark init`, the default rules (`rules/`), the example
//!   configuration, and the standard plugins (see `STANDARD_PLUGINS`) when
//!   `TRAILMARK_EMBED_PLUGINS` names the directory they were built into
//!   (`cargo xtask` sets it; a plain `cargo build` embeds none, and `init`
//!   says how to get them).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The bundled crates: (directory in the workspace, name of the directory
/// in a generated plugin's `vendor/`, subdirectories with its sources).
const CRATES: &[(&str, &str, &[&str])] = &[
    ("sdk", "trailmark-sdk", &["src", "wit"]),
    ("event", "trailmark-event", &["src"]),
];

fn main() {
    let host = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = host.parent().expect("host is in the workspace").to_owned();
    let workspace = read_toml(&root.join("Cargo.toml"));
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.toml").display()
    );
    let mut out = String::from("&[\n");
    for (dir, vendored, sources) in CRATES {
        let crate_dir = root.join(dir);
        let manifest_path = crate_dir.join("Cargo.toml");
        println!("cargo:rerun-if-changed={}", manifest_path.display());
        let manifest = standalone(&read_toml(&manifest_path), &workspace);
        writeln!(
            out,
            "    ({:?}, {:?}),",
            format!("{vendored}/Cargo.toml"),
            manifest
        )
        .expect("write to a String");
        for source in *sources {
            let source_dir = crate_dir.join(source);
            println!("cargo:rerun-if-changed={}", source_dir.display());
            let mut files = Vec::new();
            walk(&source_dir, &mut files);
            files.sort();
            for file in files {
                let relative = file
                    .strip_prefix(&crate_dir)
                    .expect("walked below the crate");
                writeln!(
                    out,
                    "    ({:?}, include_str!({:?})),",
                    format!("{vendored}/{}", relative.display()),
                    file.display().to_string()
                )
                .expect("write to a String");
            }
        }
    }
    out.push_str("]\n");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    std::fs::write(out_dir.join("bundled_sdk.rs"), out).expect("write the bundled sdk list");
    starter(&root, &out_dir);
}

/// The standard plugins' names (`plugins/<name>`, `trailmark_plugin_<name>.wasm`
/// with `-` as `_`): the four the default rules use, and the HTTP target
/// plugins, so a newcomer's first target (docs/targets.md) needs no build.
/// No rule of `init`'s uses the target plugins: their destinations need the
/// user's URLs and secrets.
const STANDARD_PLUGINS: &[&str] = &[
    "archive",
    "metadata",
    "alert",
    "log",
    "webhook",
    "slack",
    "pagerduty",
    "splunk-hec",
    "opensearch",
];

/// `starter.rs`: (path in a new server directory, contents) for `init`.
fn starter(root: &Path, out_dir: &Path) {
    let mut out = String::from("&[\n");
    let rules = root.join("rules");
    println!("cargo:rerun-if-changed={}", rules.display());
    let mut files = Vec::new();
    walk(&rules, &mut files);
    files.sort();
    for file in files {
        let name = file.file_name().expect("a file name").to_string_lossy();
        writeln!(
            out,
            "    (\"rules/{name}\", include_bytes!({:?}) as &[u8]),",
            file.display().to_string()
        )
        .expect("write to a String");
    }
    let config = root.join("examples/trailmark.toml");
    println!("cargo:rerun-if-changed={}", config.display());
    writeln!(
        out,
        "    (\"trailmark.toml\", include_bytes!({:?}) as &[u8]),",
        config.display().to_string()
    )
    .expect("write to a String");
    println!("cargo:rerun-if-env-changed=TRAILMARK_EMBED_PLUGINS");
    if let Some(dir) = std::env::var_os("TRAILMARK_EMBED_PLUGINS") {
        let dir = PathBuf::from(dir);
        for name in STANDARD_PLUGINS {
            let wasm = dir.join(format!("trailmark_plugin_{}.wasm", name.replace('-', "_")));
            assert!(
                wasm.is_file(),
                "TRAILMARK_EMBED_PLUGINS: {} is missing (build the plugins first: cargo xtask build-plugins)",
                wasm.display()
            );
            println!("cargo:rerun-if-changed={}", wasm.display());
            writeln!(
                out,
                "    (\"plugins/{name}.wasm\", include_bytes!({:?}) as &[u8]),",
                wasm.display().to_string()
            )
            .expect("write to a String");
        }
    }
    out.push_str("]\n");
    std::fs::write(out_dir.join("starter.rs"), out).expect("write the starter list");
}

fn read_toml(path: &Path) -> toml::Table {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.parse()
        .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            walk(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// The crate's manifest without workspace inheritance: `x.workspace = true`
/// replaced by the workspace's value, path dependencies on other bundled
/// crates pointing at their `vendor/` sibling, dev-dependencies and lints
/// dropped (a plugin builds the sdk, it does not test it).
fn standalone(manifest: &toml::Table, workspace: &toml::Table) -> String {
    let ws = workspace.get("workspace").and_then(toml::Value::as_table);
    let ws_package = ws
        .and_then(|w| w.get("package"))
        .and_then(toml::Value::as_table);
    let ws_deps = ws
        .and_then(|w| w.get("dependencies"))
        .and_then(toml::Value::as_table);
    let mut out = toml::Table::new();
    let mut package = toml::Table::new();
    for (key, value) in manifest["package"].as_table().expect("[package]") {
        let inherited = value
            .as_table()
            .and_then(|t| t.get("workspace"))
            .and_then(toml::Value::as_bool)
            == Some(true);
        let value = if inherited {
            ws_package
                .and_then(|p| p.get(key))
                .unwrap_or_else(|| panic!("package.{key} is inherited but the workspace has none"))
                .clone()
        } else {
            value.clone()
        };
        package.insert(key.clone(), value);
    }
    package.insert("publish".into(), toml::Value::Boolean(false));
    out.insert("package".into(), toml::Value::Table(package));
    let mut deps = toml::Table::new();
    if let Some(own) = manifest.get("dependencies").and_then(toml::Value::as_table) {
        for (name, spec) in own {
            deps.insert(
                name.clone(),
                toml::Value::Table(resolve(name, spec, ws_deps)),
            );
        }
    }
    out.insert("dependencies".into(), toml::Value::Table(deps));
    toml::to_string(&out).expect("a manifest serializes")
}

/// One dependency, resolved against the workspace's `[dependencies]`.
fn resolve(name: &str, spec: &toml::Value, ws_deps: Option<&toml::Table>) -> toml::Table {
    let mut table = match spec {
        toml::Value::String(version) => {
            let mut t = toml::Table::new();
            t.insert("version".into(), toml::Value::String(version.clone()));
            return t;
        }
        toml::Value::Table(t) => t.clone(),
        other => panic!("dependency {name}: unexpected {other}"),
    };
    if table.remove("workspace").and_then(|v| v.as_bool()) != Some(true) {
        return table;
    }
    let mut resolved = match ws_deps.and_then(|d| d.get(name)) {
        Some(toml::Value::String(version)) => {
            let mut t = toml::Table::new();
            t.insert("version".into(), toml::Value::String(version.clone()));
            t
        }
        Some(toml::Value::Table(t)) => t.clone(),
        _ => panic!("dependency {name} is inherited but the workspace has none"),
    };
    if resolved.contains_key("path") {
        let (_, vendored, _) = CRATES
            .iter()
            .find(|(_, vendored, _)| *vendored == name)
            .unwrap_or_else(|| panic!("{name} is a workspace crate that is not bundled"));
        resolved.insert("path".into(), toml::Value::String(format!("../{vendored}")));
    }
    // The crate's own keys (features, optional) add to the workspace's.
    for (key, value) in table {
        match (key.as_str(), resolved.get_mut("features"), &value) {
            ("features", Some(toml::Value::Array(have)), toml::Value::Array(more)) => {
                for feature in more {
                    if !have.contains(feature) {
                        have.push(feature.clone());
                    }
                }
            }
            _ => {
                resolved.insert(key, value);
            }
        }
    }
    resolved
}
