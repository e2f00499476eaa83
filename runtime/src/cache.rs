//! On-disk cache of compiled components, so a restart does not recompile.
//!
//! Entries are keyed by the SHA-256 of the wasm bytes and a fingerprint of
//! the engine (wasmtime's version, target and every setting that affects
//! compiled code), and written atomically (temp file + rename).
//!
//! A cache entry is native code the host runs, so each one is
//! authenticated: it ends with an HMAC-SHA256 tag over its name and bytes,
//! keyed by a random secret (`plugin-cache.key`, mode 0600, beside the
//! cache directory, which is created 0700). An entry whose tag does not
//! check (written by anyone without the key, or renamed from another
//! entry) is never deserialized: the plugin is recompiled and a warning
//! logged.

use std::hash::Hasher;
use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::RuntimeError;

/// The major wasmtime version, for humans reading the cache directory; the
/// exact version is part of the engine fingerprint.
const WASMTIME_MAJOR: &str = "wasmtime48";
/// The file of the cache's secret key, in the cache directory's parent.
const KEY_FILE: &str = "plugin-cache.key";
/// Bytes of the key and of each entry's tag.
const KEY_BYTES: usize = 32;
const TAG_BYTES: usize = 32;

type CacheMac = Hmac<Sha256>;

/// A directory of compiled components for one engine configuration.
pub(crate) struct ArtifactCache {
    dir: PathBuf,
    engine_fingerprint: String,
    key: [u8; KEY_BYTES],
}

impl ArtifactCache {
    /// Opens (creating if needed, mode 0700) the cache directory, and reads
    /// or creates its key.
    pub(crate) fn open(dir: &Path, engine: &Engine) -> Result<ArtifactCache, RuntimeError> {
        let dir_error = |source| RuntimeError::CacheDir {
            path: dir.to_owned(),
            source,
        };
        create_private_dir(dir).map_err(dir_error)?;
        let key_dir = match dir.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => dir,
        };
        let key = load_or_create_key(&key_dir.join(KEY_FILE)).map_err(dir_error)?;
        Ok(ArtifactCache {
            dir: dir.to_owned(),
            engine_fingerprint: engine_fingerprint(engine),
            key,
        })
    }

    /// The file a component with this wasm hash is cached in.
    pub(crate) fn path_for(&self, wasm_sha256: &str) -> PathBuf {
        self.dir.join(self.entry_name(wasm_sha256))
    }

    fn entry_name(&self, wasm_sha256: &str) -> String {
        format!(
            "{wasm_sha256}-{WASMTIME_MAJOR}-{}.cwasm",
            self.engine_fingerprint
        )
    }

    /// The tag of entry `name` holding `bytes`.
    fn mac(&self, name: &str, bytes: &[u8]) -> CacheMac {
        let mut mac = CacheMac::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(&(name.len() as u64).to_le_bytes());
        mac.update(name.as_bytes());
        mac.update(bytes);
        mac
    }

    /// The cached component for these wasm bytes, if there is a usable one.
    /// An unreadable, unauthenticated or incompatible entry is logged and
    /// treated as a miss.
    pub(crate) fn get(&self, engine: &Engine, wasm_sha256: &str) -> Option<Component> {
        let path = self.path_for(wasm_sha256);
        if !path.is_file() {
            return None;
        }
        match self.read_authenticated(engine, wasm_sha256, &path) {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), error = %error, "ignoring unusable compiled-plugin cache entry; recompiling");
                None
            }
        }
    }

    fn read_authenticated(
        &self,
        engine: &Engine,
        wasm_sha256: &str,
        path: &Path,
    ) -> Result<Component, String> {
        // Read once and check the very bytes that are then deserialized, so
        // the file cannot change between the check and the load.
        let mut bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        let Some(split) = bytes.len().checked_sub(TAG_BYTES) else {
            return Err("too short to hold an authentication tag".to_owned());
        };
        let tag = bytes.split_off(split);
        self.mac(&self.entry_name(wasm_sha256), &bytes)
            .verify_slice(&tag)
            .map_err(|_| {
                "authentication tag does not match (not written by this host with its                  cache key)"
                    .to_owned()
            })?;
        // SAFETY: `deserialize` runs the bytes as native code, so they must be
        // an artifact produced by `Component::serialize` of a compatible
        // engine. They are: the HMAC above proves that this host (the holder
        // of the 0600 cache key) wrote exactly these bytes under this name,
        // and only `put` writes entries, from `Component::serialize`.
        // wasmtime additionally checks the header, version and engine
        // settings and returns an error on any mismatch.
        unsafe { Component::deserialize(engine, &bytes) }.map_err(|e| e.to_string())
    }

    /// Stores a compiled component. Failures are logged: the cache is an
    /// optimization, never a reason to refuse a plugin.
    pub(crate) fn put(&self, wasm_sha256: &str, component: &Component) {
        let path = self.path_for(wasm_sha256);
        if let Err(error) = self.write_atomically(wasm_sha256, &path, component) {
            tracing::warn!(path = %path.display(), error = %error, "cannot write compiled-plugin cache entry");
        }
    }

    fn write_atomically(
        &self,
        wasm_sha256: &str,
        path: &Path,
        component: &Component,
    ) -> Result<(), String> {
        let bytes = component.serialize().map_err(|e| e.to_string())?;
        let tag = self
            .mac(&self.entry_name(wasm_sha256), &bytes)
            .finalize()
            .into_bytes();
        let mut temp = trailmark_durable_file::Replace::new(path)
            .temp_affixes(".partial-", "")
            .begin()
            .map_err(|e| e.to_string())?;
        temp.write_with(|file| {
            file.write_all(&bytes)?;
            file.write_all(&tag)
        })
        .map_err(|e| e.to_string())?;
        temp.commit().map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// Creates `dir` (and its parents) if needed, and makes `dir` itself 0700.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Reads the cache key at `path`, or creates it (random, mode 0600). A key
/// file of the wrong size is replaced: the entries it signed become misses.
fn load_or_create_key(path: &Path) -> std::io::Result<[u8; KEY_BYTES]> {
    match std::fs::read(path) {
        Ok(bytes) => {
            if let Ok(key) = <[u8; KEY_BYTES]>::try_from(bytes.as_slice()) {
                return Ok(key);
            }
            tracing::warn!(path = %path.display(), "compiled-plugin cache key has the wrong size; replacing it (cached plugins will be recompiled)");
            std::fs::remove_file(path)?;
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    let mut key = [0u8; KEY_BYTES];
    getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
    match trailmark_durable_file::create_new_synced(path, &key, Some(0o600))
        .map_err(trailmark_durable_file::Error::into_io)
    {
        Ok(_) => Ok(key),
        // Another process created it meanwhile: use theirs.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            let bytes = std::fs::read(path)?;
            <[u8; KEY_BYTES]>::try_from(bytes.as_slice())
                .map_err(|_| std::io::Error::other("cache key being written by another process"))
        }
        Err(error) => Err(error),
    }
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
    fn only_entries_written_with_the_key_are_loaded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache_dir = dir.path().join("cache");
        let engine = Engine::new(&wasmtime::Config::new()).expect("engine");
        let cache = ArtifactCache::open(&cache_dir, &engine).expect("cache");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode(&cache_dir), 0o700);
            assert_eq!(mode(&dir.path().join(KEY_FILE)), 0o600);
        }
        // The smallest component: a header and nothing else.
        let component = Component::new(&engine, b"\0asm\x0d\0\x01\0").expect("component");
        cache.put("aa", &component);
        assert!(cache.get(&engine, "aa").is_some(), "own entry loads");

        // A valid serialized component planted without the key (what an
        // attacker with write access to the directory could do) is refused.
        let planted = component.serialize().expect("serialize");
        std::fs::write(cache.path_for("bb"), &planted).expect("plant");
        assert!(cache.get(&engine, "bb").is_none());
        // So is an authentic entry renamed to another plugin's name.
        std::fs::copy(cache.path_for("aa"), cache.path_for("cc")).expect("copy");
        assert!(cache.get(&engine, "cc").is_none());
        // A flipped byte in an authentic entry is refused.
        let mut bytes = std::fs::read(cache.path_for("aa")).expect("read");
        bytes[10] ^= 1;
        std::fs::write(cache.path_for("aa"), &bytes).expect("write");
        assert!(cache.get(&engine, "aa").is_none());

        // A reopened cache keeps the key, so its entries stay valid.
        cache.put("dd", &component);
        let reopened = ArtifactCache::open(&cache_dir, &engine).expect("reopen");
        assert!(reopened.get(&engine, "dd").is_some());
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
