use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};

use super::*;

fn open(dir: &Path) -> PackArchive {
    PackArchive::open_with(dir.join("archive"), Durability::Batched).expect("open")
}

fn put<'a>(key: &'a str, body: &'a [u8]) -> ArchivePut<'a> {
    ArchivePut {
        key,
        body,
        content_type: "application/json",
        owner: None,
    }
}

#[test]
fn bodies_round_trip_and_are_never_replaced() {
    let dir = tempfile::tempdir().expect("temp dir");
    let archive = open(dir.path());
    archive
        .put("a/1.json", b"one", "application/json")
        .expect("put");
    assert_eq!(archive.get("a/1.json").expect("get"), Some(b"one".to_vec()));
    assert_eq!(archive.get("a/2.json").expect("get"), None);
    archive
        .put("a/1.json", b"one", "application/json")
        .expect("same bytes again");
    let e = archive
        .put("a/1.json", b"two", "application/json")
        .expect_err("different");
    assert!(matches!(e, BackendError::Invalid(_)), "{e}");
    assert!(e.to_string().contains("never"), "{e}");
    assert!(matches!(archive.get("../x"), Err(BackendError::Invalid(_))));
}

#[test]
fn a_batch_is_one_append_with_an_outcome_per_put_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let archive = open(dir.path());
    archive.put("k/0", b"zero", "text/plain").expect("put");
    let results = archive.put_many(&[
        put("k/1", b"one"),
        put("k/0", b"zero"),
        put("k/0", b"ZERO"),
        put("k/2", b"two"),
        put("k/1", b"one"),
        put("k/2", b"TWO"),
        put("/abs", b"x"),
    ]);
    let ok: Vec<bool> = results.iter().map(Result::is_ok).collect();
    assert_eq!(
        ok,
        [true, true, false, true, true, false, false],
        "{results:?}"
    );
    for (key, body) in [("k/0", "zero"), ("k/1", "one"), ("k/2", "two")] {
        assert_eq!(
            archive.get(key).expect("get"),
            Some(body.as_bytes().to_vec())
        );
    }
    let packs = fs::read_dir(dir.path().join("archive").join(PACKS_DIR))
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".bin"))
        .count();
    assert_eq!(packs, 1);
}

#[test]
fn reopening_keeps_bodies_and_appends_after_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let archive = open(dir.path());
        archive.put("a/1", b"one", "t").expect("put");
        archive.sync().expect("sync");
    }
    let archive = open(dir.path());
    archive.put("a/2", b"two", "t").expect("put");
    assert_eq!(archive.get("a/1").expect("get"), Some(b"one".to_vec()));
    assert_eq!(archive.get("a/2").expect("get"), Some(b"two".to_vec()));
    // Readers of the files (verify) see what `sync` committed.
    archive.sync().expect("sync");
    let mut keys = Vec::new();
    PackArchive::scan(&dir.path().join("archive"), |key, check| {
        keys.push((key.to_owned(), check.is_ok()));
    })
    .expect("scan");
    assert_eq!(keys, [("a/1".to_owned(), true), ("a/2".to_owned(), true)]);
}

#[test]
fn a_torn_body_is_reported_by_get_and_scan_and_healed_by_the_next_put() {
    let dir = tempfile::tempdir().expect("temp dir");
    let archive = open(dir.path());
    archive.put("a/1", b"the body", "t").expect("put");
    // Damage the last byte of the body, as a write torn by a power cut would.
    let pack = dir
        .path()
        .join("archive")
        .join(PACKS_DIR)
        .join(pack_name(1));
    let mut file = OpenOptions::new()
        .write(true)
        .open(&pack)
        .expect("open pack");
    file.seek(SeekFrom::End(-1)).expect("seek");
    file.write_all(b"X").expect("damage");
    let e = archive.get("a/1").expect_err("damaged");
    assert!(e.to_string().contains("CRC-32"), "{e}");
    archive.sync().expect("sync");
    let mut checks = Vec::new();
    PackArchive::scan(&dir.path().join("archive"), |_, check| checks.push(check)).expect("scan");
    assert!(matches!(checks.as_slice(), [Err(_)]), "{checks:?}");
    archive.put("a/1", b"the body", "t").expect("stored again");
    assert_eq!(archive.get("a/1").expect("get"), Some(b"the body".to_vec()));
}

#[test]
fn bodies_stored_as_files_before_packs_are_read_and_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("archive");
    {
        let files = FsArchive::open_with(&root, Durability::Batched).expect("files");
        files.put("old/1.json", b"old", "t").expect("put");
    }
    let archive = open(dir.path());
    assert_eq!(
        archive.get("old/1.json").expect("get"),
        Some(b"old".to_vec())
    );
    archive.put("old/1.json", b"old", "t").expect("same bytes");
    assert!(archive.put("old/1.json", b"new", "t").is_err());
    archive.put("new/1.json", b"new", "t").expect("new key");
    assert!(!root.join("new/1.json").exists(), "new bodies go to packs");
}

#[test]
fn a_full_pack_is_closed_and_the_next_one_started() {
    let dir = tempfile::tempdir().expect("temp dir");
    let archive = open(dir.path());
    archive.put("a/1", b"one", "t").expect("put");
    lock(&archive.writer).len = PACK_LIMIT;
    archive.put("a/2", b"two", "t").expect("put");
    assert_eq!(lock(&archive.writer).pack, 2);
    assert_eq!(archive.get("a/1").expect("get"), Some(b"one".to_vec()));
    assert_eq!(archive.get("a/2").expect("get"), Some(b"two".to_vec()));
    drop(archive);
    let reopened = open(dir.path());
    assert_eq!(lock(&reopened.writer).pack, 2);
}

#[test]
fn batched_index_rows_are_committed_by_sync_and_at_close() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("archive");
    let count = || {
        let mut n = 0;
        PackArchive::scan(&root, |_, _| n += 1).expect("scan");
        n
    };
    let archive = open(dir.path());
    archive.put("a/1", b"one", "t").expect("put");
    assert_eq!(count(), 0, "not committed before sync");
    assert_eq!(archive.get("a/1").expect("get"), Some(b"one".to_vec()));
    archive.sync().expect("sync");
    assert_eq!(count(), 1);
    archive.put("a/2", b"two", "t").expect("put");
    drop(archive);
    assert_eq!(count(), 2, "committed at close");
}

#[test]
fn rows_of_a_rolled_back_transaction_are_written_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let archive = open(dir.path());
    archive.put("a/1", b"one", "t").expect("put");
    lock(&archive.writer)
        .index
        .execute_batch("ROLLBACK")
        .expect("roll back as an I/O error would");
    archive.put("a/2", b"two", "t").expect("put");
    archive.sync().expect("sync");
    drop(archive);
    let archive = open(dir.path());
    assert_eq!(archive.get("a/1").expect("get"), Some(b"one".to_vec()));
    assert_eq!(archive.get("a/2").expect("get"), Some(b"two".to_vec()));
}

#[test]
fn a_version_1_index_is_rewritten_and_keeps_every_body_and_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let archive = open(dir.path());
        let results = archive.put_many(&[put("b/2", b"two"), put("a/1", b"one")]);
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        archive.sync().expect("sync");
    }
    // Turn the index back into version 1: rows keyed by `key`.
    let path = dir
        .path()
        .join("archive")
        .join(PACKS_DIR)
        .join("index.sqlite");
    {
        let conn = Connection::open(&path).expect("open index");
        conn.execute_batch(
            "CREATE TABLE v1 (
                 key TEXT PRIMARY KEY NOT NULL, pack INTEGER NOT NULL, offset INTEGER NOT NULL,
                 len INTEGER NOT NULL, crc32 INTEGER NOT NULL, content_type TEXT NOT NULL
             ) WITHOUT ROWID;
             INSERT INTO v1 SELECT key, pack, offset, len, crc32, content_type FROM bodies;
             DROP TABLE bodies;
             ALTER TABLE v1 RENAME TO bodies;
             PRAGMA user_version = 0;",
        )
        .expect("version 1 index");
    }
    let archive = open(dir.path());
    assert_eq!(archive.get("a/1").expect("get"), Some(b"one".to_vec()));
    assert_eq!(archive.get("b/2").expect("get"), Some(b"two".to_vec()));
    archive.put("a/1", b"one", "t").expect("same bytes again");
    let e = archive
        .put("a/1", b"uno", "t")
        .expect_err("different bytes");
    assert!(e.to_string().contains("never replaced"), "{e}");
    archive.sync().expect("sync");
    drop(archive);
    let mut keys = Vec::new();
    PackArchive::scan(&dir.path().join("archive"), |key, check| {
        keys.push((key.to_owned(), check.is_ok()))
    })
    .expect("scan");
    // In the order the bodies were stored, each once.
    assert_eq!(keys, [("b/2".to_owned(), true), ("a/1".to_owned(), true)]);
    let conn = Connection::open(&path).expect("open index");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("version");
    assert_eq!(version, INDEX_VERSION);
}

#[test]
fn an_index_from_a_newer_trailmark_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    drop(open(dir.path()));
    let path = dir
        .path()
        .join("archive")
        .join(PACKS_DIR)
        .join("index.sqlite");
    Connection::open(&path)
        .expect("open index")
        .pragma_update(None, "user_version", INDEX_VERSION + 1)
        .expect("bump");
    let e = PackArchive::open_with(dir.path().join("archive"), Durability::Batched)
        .expect_err("newer index");
    assert!(e.to_string().contains("upgrade Trailmark"), "{e}");
}
