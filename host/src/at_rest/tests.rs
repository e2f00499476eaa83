use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use trailmark_backend_api::{ArchivePut, ArchiveStore, BackendError, BackendResult};
use trailmark_journal::{Keyring, rotate_key_file};

use super::*;

/// An archive in memory that never replaces a stored body, as the trait asks.
#[derive(Default)]
struct MemArchive(Mutex<HashMap<String, Vec<u8>>>);

impl MemArchive {
    fn raw(&self, key: &str) -> Vec<u8> {
        self.0.lock().expect("lock")[key].clone()
    }
}

impl ArchiveStore for MemArchive {
    fn put(&self, key: &str, body: &[u8], _: &str) -> BackendResult<()> {
        let mut map = self.0.lock().expect("lock");
        match map.get(key) {
            Some(stored) if stored != body => Err(BackendError::Invalid(format!(
                "archive key {key:?} already holds a different body"
            ))),
            _ => {
                map.insert(key.to_owned(), body.to_vec());
                Ok(())
            }
        }
    }
    fn get(&self, key: &str) -> BackendResult<Option<Vec<u8>>> {
        Ok(self.0.lock().expect("lock").get(key).cloned())
    }
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }
    fn key_file(&self) -> PathBuf {
        self.dir.path().join("trail.kek")
    }
    fn sealer(&self, on: bool) -> Arc<Sealer> {
        let keyring = on.then(|| {
            Arc::new(
                Keyring::load_or_create(&self.key_file())
                    .expect("key file")
                    .0,
            )
        });
        Arc::new(Sealer::new(
            self.dir.path(),
            "archive",
            keyring,
            self.key_file(),
        ))
    }

    /// A sealed archive over a fresh one in memory (returned too, for its
    /// raw bytes), with [`BODY`] stored at `k/1.json`.
    fn sealed_with_body(&self) -> (Arc<MemArchive>, SealedArchive) {
        let inner = Arc::new(MemArchive::default());
        let archive = SealedArchive::new(inner.clone(), self.sealer(true));
        archive
            .put("k/1.json", BODY, "application/json")
            .expect("put");
        (inner, archive)
    }
}

const BODY: &[u8] = br#"{"ssn":"078-05-1120"}"#;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_sealed_archive_stores_no_plaintext_and_reads_the_body_back() {
    let f = Fixture::new();
    let (inner, archive) = f.sealed_with_body();
    let raw = inner.raw("k/1.json");
    assert!(raw.starts_with(MAGIC), "sealed");
    assert_eq!(raw.len(), BODY.len() + OVERHEAD);
    assert!(!contains(&raw, b"078-05-1120"), "no plaintext");
    assert_eq!(archive.get("k/1.json").expect("get").as_deref(), Some(BODY));
    assert_eq!(archive.get("k/none").expect("get"), None);
    assert_eq!(
        std::fs::read_dir(f.dir.path().join("seal-keys/archive"))
            .expect("key dir")
            .count(),
        1,
        "one data key for the day"
    );
}

#[test]
fn a_redelivered_body_is_accepted_and_a_different_one_refused() {
    let f = Fixture::new();
    let (_, archive) = f.sealed_with_body();
    let results = archive.put_many(&[
        ArchivePut {
            key: "k/1.json",
            body: BODY,
            content_type: "application/json",
            owner: None,
        },
        ArchivePut {
            key: "k/1.json",
            body: b"{}",
            content_type: "application/json",
            owner: None,
        },
    ]);
    assert_eq!(results[0], Ok(()), "a redelivery");
    assert!(
        matches!(&results[1], Err(BackendError::Invalid(why)) if why.contains("different")),
        "{results:?}"
    );
    assert_eq!(archive.get("k/1.json").expect("get").as_deref(), Some(BODY));
}

#[test]
fn a_body_moved_to_another_key_or_altered_does_not_open() {
    let f = Fixture::new();
    let (inner, archive) = f.sealed_with_body();
    let mut raw = inner.raw("k/1.json");
    inner.put("k/2.json", &raw, "").expect("move");
    let err = archive.get("k/2.json").expect_err("moved");
    assert!(err.to_string().contains("does not open"), "{err}");
    let last = raw.len() - 1;
    raw[last] ^= 1;
    inner.put("k/3.json", &raw, "").expect("alter");
    assert!(archive.get("k/3.json").is_err(), "altered");
}

#[test]
fn bodies_stored_before_encryption_was_on_still_read() {
    let f = Fixture::new();
    let inner = Arc::new(MemArchive::default());
    let plain = SealedArchive::new(inner.clone(), f.sealer(false));
    plain
        .put("k/old.json", BODY, "application/json")
        .expect("put");
    assert_eq!(inner.raw("k/old.json"), BODY, "stored as it is while off");

    let sealed = SealedArchive::new(inner.clone(), f.sealer(true));
    assert_eq!(
        sealed.get("k/old.json").expect("get").as_deref(),
        Some(BODY)
    );
    sealed
        .put("k/old.json", BODY, "application/json")
        .expect("a redelivery of an old body");
    assert_eq!(inner.raw("k/old.json"), BODY, "not rewritten");
}

#[test]
fn a_sealed_body_without_the_key_is_an_error_naming_the_key_file_not_bytes() {
    let f = Fixture::new();
    let (inner, _) = f.sealed_with_body();
    let key_file = f.key_file().display().to_string();

    let off = SealedArchive::new(inner.clone(), f.sealer(false));
    let err = off.get("k/1.json").expect_err("encryption off");
    assert!(err.to_string().contains("[encryption] is off"), "{err}");
    assert!(err.to_string().contains(&key_file), "{err}");

    // Another key file: the data key does not open, and the message names both files.
    std::fs::remove_file(f.key_file()).expect("remove key file");
    let other = SealedArchive::new(inner.clone(), f.sealer(true));
    let err = other.get("k/1.json").expect_err("another key file");
    assert!(err.to_string().contains(&key_file), "{err}");
    assert!(err.to_string().contains(".dek"), "{err}");

    // The data key file gone.
    std::fs::remove_dir_all(f.dir.path().join("seal-keys")).expect("remove data keys");
    let err = other.get("k/1.json").expect_err("no data key");
    assert!(err.to_string().contains(".dek"), "{err}");
}

#[test]
fn rotation_reseals_the_data_keys_and_the_bodies_still_read() {
    let f = Fixture::new();
    let (inner, _) = f.sealed_with_body();
    let before = inner.raw("k/1.json");
    let old_key = std::fs::read_to_string(f.key_file()).expect("key file");
    let rotation = rotate_key_file(&f.key_file(), &[f.sealer(true).dir()]).expect("rotate");
    assert_eq!(rotation.resealed, 1);
    assert_ne!(std::fs::read_to_string(f.key_file()).expect("key"), old_key);
    let after = SealedArchive::new(inner.clone(), f.sealer(true));
    assert_eq!(after.get("k/1.json").expect("get").as_deref(), Some(BODY));
    assert_eq!(inner.raw("k/1.json"), before, "the body is not rewritten");
}

#[test]
fn text_values_seal_to_text_and_open_back() {
    let f = Fixture::new();
    let sealer = f.sealer(true);
    let what = || "a value".to_owned();
    let sealed = sealer
        .seal_text(&what, b"here", "alice@example.com")
        .expect("seal");
    assert!(sealed.starts_with(TEXT_PREFIX), "{sealed}");
    assert!(!sealed.contains("alice"), "{sealed}");
    assert_eq!(
        sealer
            .open_text(&what, b"here", sealed.clone().into_owned())
            .expect("open"),
        "alice@example.com"
    );
    assert!(
        sealer
            .open_text(&what, b"there", sealed.into_owned())
            .is_err()
    );
    assert_eq!(
        sealer
            .open_text(&what, b"here", "plain, from before".to_owned())
            .expect("plaintext passes"),
        "plain, from before"
    );
}

#[test]
fn each_day_has_its_own_data_key() {
    let f = Fixture::new();
    let sealer = f.sealer(true);
    let what = || "a value".to_owned();
    let a = sealer.seal_with(20_000, &what, b"x", b"one").expect("seal");
    let b = sealer.seal_with(20_001, &what, b"x", b"two").expect("seal");
    assert_eq!(&a[8..16], &20_000u64.to_be_bytes());
    assert_eq!(&b[8..16], &20_001u64.to_be_bytes());
    assert_eq!(std::fs::read_dir(sealer.dir()).expect("key dir").count(), 2);
    let fresh = f.sealer(true);
    assert_eq!(fresh.open(&what, b"x", &a).expect("open").as_ref(), b"one");
    assert_eq!(fresh.open(&what, b"x", &b).expect("open").as_ref(), b"two");
}
