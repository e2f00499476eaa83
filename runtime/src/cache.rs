//! On-disk cache of compiled components, so a restart does not recompile.
//!
//! Entries are keyed by the SHA-256 of the wasm bytes and a fingerprint of
//! the engine (wasmtime's version, target and every setting that affects
//! compiled code), and written atomically (temp file + rename).

use std::hash::Hasher;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::RuntimeError;

/// The major wasmtime version, for humans reading the cache directory; the
/// exact version is part of the engine fingerprint.
const WASMTIME_MAJOR: &str = "wasmtime48";

/// A directory of compiled components for one engine configuration.
pub(crate) struct ArtifactCache {
    dir: PathBuf,
    engine_fingerprint: String,
}

impl ArtifactCache {
    /// Opens (creating if needed) the cache directory.
    pub(crate) fn open(dir: &Path, engine: &Engine) -> Result<ArtifactCache, RuntimeError> {
        std::fs::create_dir_all(dir).map_err(|source| RuntimeError::CacheDir {
            path: dir.to_owned(),
            source,
        })?;
        Ok(ArtifactCache {
            dir: dir.to_owned(),
            engine_fingerprint: engine_fingerprint(engine),
        })
    }

    /// The file a component with this wasm hash is cached in.
    pub(crate) fn path_for(&self, wasm_sha256: &str) -> PathBuf {
        self.dir.join(format!(
            "{wasm_sha256}-{WASMTIME_MAJOR}-{}.cwasm",
            self.engine_fingerprint
        ))
    }

    /// The cached component for these wasm bytes, if there is a usable one.
    /// An unreadable or incompatible entry is logged and treated as a miss.
    pub(crate) fn get(&self, engine: &Engine, wasm_sha256: &str) -> Option<Component> {
        let path = self.path_for(wasm_sha256);
        if !path.is_file() {
            return None;
        }
        match deserialize_cached(engine, &path) {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), error = %error, "ignoring unusable compiled-plugin cache entry");
                None
            }
        }
    }

    /// Stores a compiled component. Failures are logged: the cache is an
    /// optimization, never a reason to refuse a plugin.
    pub(crate) fn put(&self, wasm_sha256: &str, component: &Component) {
        let path = self.path_for(wasm_sha256);
        if let Err(error) = self.write_atomically(&path, component) {
            tracing::warn!(path = %path.display(), error = %error, "cannot write compiled-plugin cache entry");
        }
    }

    fn write_atomically(&self, path: &Path, component: &Component) -> Result<(), String> {
        let bytes = component.serialize().map_err(|e| e.to_string())?;
        let mut temp = tempfile::Builder::new()
            .prefix(".partial-")
            .tempfile_in(&self.dir)
            .map_err(|e| e.to_string())?;
        temp.write_all(&bytes).map_err(|e| e.to_string())?;
        temp.as_file().sync_all().map_err(|e| e.to_string())?;
        temp.persist(path).map_err(|e| e.error.to_string())?;
        Ok(())
    }
}

/// Loads a compiled component written by [`ArtifactCache::put`].
fn deserialize_cached(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: `deserialize_file` runs the file's contents as native code, so
    // it must be an artifact produced by `Component::serialize` of a
    // compatible engine. The file is in the runtime's own cache directory
    // (the host's data directory, writable only by the host), it is only
    // ever written by `write_atomically` through a temp file and a rename,
    // so it is never seen half-written, and its name carries the wasm hash
    // and the engine fingerprint. wasmtime additionally checks the header,
    // version and engine settings and returns an error on any mismatch.
    unsafe { Component::deserialize_file(engine, path) }
}

/// Hex SHA-256 (shortened to 16 bytes) of the engine's compatibility hash.
fn engine_fingerprint(engine: &Engine) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
    hex::encode(&hasher.0.finalize()[..16])
}

/// A `std::hash::Hasher` that feeds SHA-256, so the fingerprint is stable
/// across processes (unlike `DefaultHasher`'s random keys).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_stable_and_config_sensitive() {
        let a = Engine::new(&wasmtime::Config::new()).expect("engine");
        let b = Engine::new(&wasmtime::Config::new()).expect("engine");
        assert_eq!(engine_fingerprint(&a), engine_fingerprint(&b));
        let mut other = wasmtime::Config::new();
        other.epoch_interruption(true);
        let c = Engine::new(&other).expect("engine");
        assert_ne!(engine_fingerprint(&a), engine_fingerprint(&c));
    }

    #[test]
    fn garbage_cache_entry_is_a_miss() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::new(&wasmtime::Config::new()).expect("engine");
        let cache = ArtifactCache::open(dir.path(), &engine).expect("cache");
        std::fs::write(cache.path_for("abc"), b"not a compiled component").expect("write");
        assert!(cache.get(&engine, "abc").is_none());
        assert!(cache.get(&engine, "missing").is_none());
    }
}
