//! What a plugin file is: its world version, imports and exports, read
//! without compiling it, and whether this host can run it.

use sha2::{Digest, Sha256};
use wasmparser::{ComponentTypeRef, Parser, Payload};

use crate::contract::{
    Contract, HANDLE_EXPORT, INIT_EXPORT, Incompatibility, SUPPORTED_VERSIONS, WORLD_PACKAGE,
};
use crate::error::RuntimeError;

/// A description of a plugin file, as `trailmark plugins inspect FILE` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// Size of the file in bytes.
    pub size: usize,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
    /// The `trailmark:plugin` version the component was built against, taken
    /// from its imports (`None` when it imports nothing of ours).
    pub world_version: Option<String>,
    /// The component's top-level imports of instances and functions, e.g.
    /// `trailmark:plugin/archive@0.1.0` or `wasi:cli/stdout@0.2.6`.
    pub imports: Vec<String>,
    /// The component's top-level type imports, e.g. `event` and
    /// `plugin-error` (the world's `use types.{..}`): names only, no code.
    pub type_imports: Vec<String>,
    /// The component's top-level exports, e.g. `handle`.
    pub exports: Vec<String>,
}

impl PluginInfo {
    /// Whether this host can run the component, and as which contract: it
    /// must import only `trailmark:plugin/*` of one supported version and
    /// `wasi:*`, and export `handle` (and `init`, for 0.2).
    pub fn compatibility(&self) -> Result<Contract, Incompatibility> {
        let mut version: Option<&str> = None;
        for import in &self.imports {
            match classify_import(import) {
                ImportKind::Ours { version: found } => {
                    let found = found.unwrap_or("(unversioned)");
                    match version {
                        Some(first) if first != found => {
                            return Err(Incompatibility::MixedVersions {
                                first: first.to_owned(),
                                second: found.to_owned(),
                            });
                        }
                        _ => version = Some(found),
                    }
                }
                ImportKind::Wasi => {}
                ImportKind::Foreign => {
                    return Err(Incompatibility::ForeignImport {
                        import: import.clone(),
                    });
                }
            }
        }
        let contract = match version {
            None if self.exports.iter().any(|e| e == HANDLE_EXPORT) => {
                return Err(Incompatibility::NoWorld);
            }
            None => {
                return Err(Incompatibility::MissingHandle {
                    missing: HANDLE_EXPORT,
                    version: SUPPORTED_VERSIONS.to_owned(),
                    exports: self.exports.join(", "),
                });
            }
            Some(found) => {
                Contract::for_version(found).ok_or_else(|| Incompatibility::Version {
                    found: found.to_owned(),
                })?
            }
        };
        let required: &[&'static str] = match contract {
            Contract::V01 => &[HANDLE_EXPORT],
            Contract::V02 => &[INIT_EXPORT, HANDLE_EXPORT],
        };
        if let Some(missing) = required
            .iter()
            .find(|name| !self.exports.iter().any(|e| e == *name))
        {
            return Err(Incompatibility::MissingHandle {
                missing,
                version: version.unwrap_or_default().to_owned(),
                exports: self.exports.join(", "),
            });
        }
        Ok(contract)
    }
}

/// Reads a plugin file's world version, imports, exports, size and hash
/// without compiling it.
///
/// Any well-formed component is described, even one this host cannot run
/// (see [`PluginInfo::compatibility`]); bytes that are not a component (a
/// core module, anything else) are an error saying what they are.
pub fn inspect(bytes: &[u8]) -> Result<PluginInfo, RuntimeError> {
    if Parser::is_core_wasm(bytes) {
        return Err(RuntimeError::NotAComponent {
            what: "this is a core WebAssembly module, not a component: build the plugin \
                   with `cargo build --target wasm32-wasip2` (or wrap it with \
                   `wasm-tools component new`)"
                .to_owned(),
        });
    }
    if !Parser::is_component(bytes) {
        return Err(RuntimeError::NotAComponent {
            what: format!(
                "this is not a WebAssembly component: it does not start with the \
                 component header (first bytes: {})",
                hex::encode(&bytes[..bytes.len().min(8)])
            ),
        });
    }
    let mut imports = Vec::new();
    let mut type_imports = Vec::new();
    let mut exports = Vec::new();
    // parse_all descends into nested modules and components; only the
    // outermost component's imports and exports describe the plugin.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| RuntimeError::Malformed(e.to_string()))?;
        match payload {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) if depth == 0 => break,
            Payload::End(_) => depth -= 1,
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.map_err(|e| RuntimeError::Malformed(e.to_string()))?;
                    let name = full_name(import.name.name, import.name.version_suffix);
                    match import.ty {
                        ComponentTypeRef::Type(_) => type_imports.push(name),
                        _ => imports.push(name),
                    }
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export.map_err(|e| RuntimeError::Malformed(e.to_string()))?;
                    exports.push(full_name(export.name.name, export.name.version_suffix));
                }
            }
            _ => {}
        }
    }
    let world_version = imports.iter().find_map(|name| match classify_import(name) {
        ImportKind::Ours { version } => Some(version.unwrap_or("(unversioned)").to_owned()),
        _ => None,
    });
    Ok(PluginInfo {
        size: bytes.len(),
        sha256: sha256_hex(bytes),
        world_version,
        imports,
        type_imports,
        exports,
    })
}

/// SHA-256 of `bytes` as lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn full_name(name: &str, version_suffix: Option<&str>) -> String {
    match version_suffix {
        Some(version) => format!("{name}@{version}"),
        None => name.to_owned(),
    }
}

enum ImportKind<'a> {
    Ours { version: Option<&'a str> },
    Wasi,
    Foreign,
}

fn classify_import(name: &str) -> ImportKind<'_> {
    let (path, version) = match name.split_once('@') {
        Some((path, version)) => (path, Some(version)),
        None => (name, None),
    };
    match path.split_once('/') {
        Some((package, _)) if package == WORLD_PACKAGE => ImportKind::Ours { version },
        Some((package, _)) if package.starts_with("wasi:") => ImportKind::Wasi,
        _ => ImportKind::Foreign,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(imports: &[&str], exports: &[&str]) -> PluginInfo {
        PluginInfo {
            size: 0,
            sha256: String::new(),
            world_version: None,
            imports: imports.iter().map(|s| s.to_string()).collect(),
            type_imports: vec!["event".to_owned()],
            exports: exports.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn accepts_any_0_1_or_0_2_patch_with_wasi() {
        for version in ["0.1.0", "0.1.7", "0.1.2-rc.1"] {
            let i = info(
                &[
                    &format!("trailmark:plugin/types@{version}"),
                    "wasi:cli/stdout@0.2.6",
                ],
                &["handle"],
            );
            assert_eq!(i.compatibility(), Ok(Contract::V01), "{version}");
        }
        for version in ["0.2.0", "0.2.3"] {
            let i = info(
                &[&format!("trailmark:plugin/outcomes@{version}")],
                &["init", "handle"],
            );
            assert_eq!(i.compatibility(), Ok(Contract::V02), "{version}");
            let no_init = info(&[&format!("trailmark:plugin/types@{version}")], &["handle"]);
            let err = no_init.compatibility().expect_err("0.2 needs init");
            assert!(err.to_string().contains("does not export `init`"), "{err}");
        }
    }

    #[test]
    fn refuses_other_versions_naming_both() {
        for version in ["0.3.0", "1.0.0", "0.10.0", "0.1", "0.1.x"] {
            let i = info(&[&format!("trailmark:plugin/log@{version}")], &["handle"]);
            let err = i.compatibility().expect_err(version);
            let text = err.to_string();
            assert!(
                text.contains(&format!("trailmark:plugin@{version}")),
                "{text}"
            );
            assert!(text.contains("trailmark:plugin@0.2.x or 0.1.x"), "{text}");
        }
    }

    #[test]
    fn refuses_unversioned_and_mixed_imports() {
        let i = info(&["trailmark:plugin/log"], &["handle"]);
        assert!(matches!(
            i.compatibility(),
            Err(Incompatibility::Version { .. })
        ));
        let i = info(
            &["trailmark:plugin/log@0.1.0", "trailmark:plugin/types@0.2.0"],
            &["handle"],
        );
        assert!(matches!(
            i.compatibility(),
            Err(Incompatibility::MixedVersions { .. })
        ));
    }

    #[test]
    fn refuses_foreign_worlds() {
        let i = info(&["acme:thing/api@1.0.0"], &["handle"]);
        let err = i.compatibility().expect_err("foreign import");
        assert!(err.to_string().contains("acme:thing/api@1.0.0"));
        let i = info(&["trailmark:plugin/types@0.1.0"], &["run"]);
        assert!(matches!(
            i.compatibility(),
            Err(Incompatibility::MissingHandle { .. })
        ));
        let i = info(&["wasi:cli/stdout@0.2.6"], &["handle"]);
        assert_eq!(i.compatibility(), Err(Incompatibility::NoWorld));
    }

    #[test]
    fn core_modules_and_garbage_are_not_components() {
        let core = b"\0asm\x01\0\0\0";
        let err = inspect(core).expect_err("core module");
        assert!(err.to_string().contains("core WebAssembly module"), "{err}");
        let err = inspect(b"#!/bin/sh\necho hi\n").expect_err("garbage");
        assert!(
            err.to_string().contains("not a WebAssembly component"),
            "{err}"
        );
        let err = inspect(b"").expect_err("empty");
        assert!(
            err.to_string().contains("not a WebAssembly component"),
            "{err}"
        );
    }

    #[test]
    fn truncated_component_is_malformed() {
        // A component header followed by a section that claims more bytes than exist.
        let bytes = b"\0asm\x0d\0\x01\0\x07\x10";
        let err = inspect(bytes).expect_err("truncated");
        assert!(matches!(err, RuntimeError::Malformed(_)), "{err}");
    }
}
