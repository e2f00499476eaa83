use std::thread;

use super::*;

fn archive() -> (tempfile::TempDir, FsArchive) {
    let dir = tempfile::tempdir().expect("temp dir");
    let archive = FsArchive::open(dir.path().join("archive")).expect("open archive");
    (dir, archive)
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).expect("under dir");
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn put_then_get_round_trips_nested_keys() {
    let (_tmp, archive) = archive();
    archive
        .put(
            "book/42/evt-1.json",
            b"{\"title\":\"Dune\"}",
            "application/json",
        )
        .expect("put");
    archive
        .put("top", b"", "text/plain")
        .expect("put empty body");
    assert_eq!(
        archive.get("book/42/evt-1.json").expect("get"),
        Some(b"{\"title\":\"Dune\"}".to_vec())
    );
    assert_eq!(archive.get("top").expect("get"), Some(Vec::new()));
    assert_eq!(
        fs::read(archive.root().join("book/42/evt-1.json")).expect("file on disk"),
        b"{\"title\":\"Dune\"}"
    );
}

#[test]
fn put_never_replaces_a_different_body_and_leaves_no_temp_files() {
    let (tmp, archive) = archive();
    archive.put("k/v", &[1; 10_000], "x").expect("first put");
    let msg = match archive.put("k/v", b"short", "x") {
        Err(BackendError::Invalid(msg)) => msg,
        other => panic!("a different body must be refused, got {other:?}"),
    };
    assert!(
        msg.contains("\"k/v\"") && msg.contains("never overwritten"),
        "{msg}"
    );
    let host_path = tmp.path().to_string_lossy().into_owned();
    assert!(!msg.contains(&host_path), "no host path in {msg}");
    assert_eq!(archive.get("k/v").expect("get"), Some(vec![1; 10_000]));
    assert_eq!(files_under(archive.root()), vec!["k/v".to_owned()]);
}

#[test]
fn put_of_the_same_bytes_again_is_an_idempotent_success() {
    for durability in [Durability::EachWrite, Durability::Batched] {
        let tmp = tempfile::tempdir().expect("temp dir");
        let archive = FsArchive::open_with(tmp.path().join("a"), durability).expect("open");
        archive.put("k/v", b"body", "x").expect("first put");
        archive.put("k/v", b"body", "x").expect("redelivery");
        archive.sync().expect("sync");
        assert_eq!(archive.get("k/v").expect("get"), Some(b"body".to_vec()));
        assert_eq!(files_under(archive.root()), vec!["k/v".to_owned()]);
    }
}

#[test]
fn racing_puts_of_different_bodies_leave_exactly_one() {
    let (_tmp, archive) = archive();
    let archive = std::sync::Arc::new(archive);
    let outcomes: Vec<BackendResult<()>> = (0..8u8)
        .map(|i| {
            let archive = archive.clone();
            thread::spawn(move || archive.put("race/k", &[i; 64], "x"))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().expect("put thread"))
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    let stored = archive.get("race/k").expect("get").expect("a body");
    assert!(stored.iter().all(|&b| b == stored[0]), "one whole body");
    assert_eq!(files_under(archive.root()), vec!["race/k".to_owned()]);
}

#[test]
fn read_errors_name_the_key_not_the_host_path() {
    let (tmp, archive) = archive();
    archive.put("a/b", b"x", "x").expect("put");
    let name_too_long = format!("{}/x", "s".repeat(300));
    let host_path = tmp.path().to_string_lossy().into_owned();
    for result in [
        archive.get(&name_too_long).map(|_| ()),
        archive.put("a/b/c", b"x", "x"),
    ] {
        match result {
            Err(BackendError::Invalid(msg) | BackendError::Transient(msg)) => {
                assert!(!msg.contains(&host_path), "no host path in {msg}");
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

#[test]
fn get_of_a_missing_key_or_a_prefix_is_none() {
    let (_tmp, archive) = archive();
    archive.put("a/b", b"x", "x").expect("put");
    assert_eq!(archive.get("missing").expect("get"), None);
    assert_eq!(archive.get("a").expect("get of a prefix"), None);
    assert_eq!(archive.get("a/b/c").expect("get below a file"), None);
}

#[test]
fn keys_that_would_escape_the_directory_are_invalid_and_write_nothing() {
    let (tmp, archive) = archive();
    for key in [
        "../escaped",
        "a/../../escaped",
        "/tmp/escaped",
        "./escaped",
        "a//b",
        "a\\..\\escaped",
        "nul\0byte",
        "",
    ] {
        match archive.put(key, b"x", "x") {
            Err(BackendError::Invalid(msg)) => assert!(msg.contains("archive key"), "{msg}"),
            other => panic!("{key:?}: expected Invalid, got {other:?}"),
        }
        assert!(
            matches!(archive.get(key), Err(BackendError::Invalid(_))),
            "{key:?}"
        );
    }
    assert_eq!(files_under(tmp.path()), Vec::<String>::new());
    let long = "k".repeat(crate::MAX_KEY_LEN + 1);
    assert!(matches!(
        archive.put(&long, b"x", "x"),
        Err(BackendError::Invalid(_))
    ));
}

#[test]
fn a_key_cannot_be_both_a_file_and_a_prefix() {
    let (_tmp, archive) = archive();
    archive.put("a", b"file", "x").expect("put a");
    assert!(matches!(
        archive.put("a/b", b"x", "x"),
        Err(BackendError::Invalid(_))
    ));
    archive.put("c/d", b"x", "x").expect("put c/d");
    match archive.put("c", b"x", "x") {
        Err(BackendError::Invalid(msg)) => assert!(msg.contains("prefix"), "{msg}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(archive.get("a").expect("get"), Some(b"file".to_vec()));
    assert_eq!(files_under(archive.root()), vec!["a", "c/d"]);
}

#[test]
fn concurrent_puts_from_many_threads_all_land() {
    let (_tmp, archive) = archive();
    let threads = 8;
    let per_thread = 40;
    thread::scope(|s| {
        for t in 0..threads {
            let archive = &archive;
            s.spawn(move || {
                for i in 0..per_thread {
                    // Half into one shared directory, half into per-thread ones.
                    let key = if i % 2 == 0 {
                        format!("shared/t{t}-{i}")
                    } else {
                        format!("own/t{t}/{i}")
                    };
                    archive
                        .put(&key, key.as_bytes(), "text/plain")
                        .expect("concurrent put");
                }
            });
        }
    });
    for t in 0..threads {
        for i in 0..per_thread {
            let key = if i % 2 == 0 {
                format!("shared/t{t}-{i}")
            } else {
                format!("own/t{t}/{i}")
            };
            assert_eq!(
                archive.get(&key).expect("get"),
                Some(key.clone().into_bytes())
            );
        }
    }
    assert_eq!(files_under(archive.root()).len(), threads * per_thread);
    let puts = (threads * per_thread) as u64;
    // Each put needs its directory fsynced; shared fsyncs can only lower that
    // (directory creations add a few on top).
    assert!(
        archive.directory_fsyncs() <= puts + 3 * threads as u64,
        "{} directory fsyncs for {puts} puts",
        archive.directory_fsyncs()
    );
}

#[test]
fn open_creates_missing_parents_and_rejects_a_file_as_root() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let nested = tmp.path().join("x/y/archive");
    let archive = FsArchive::open(&nested).expect("open nested");
    archive.put("k", b"v", "x").expect("put");
    assert!(nested.join("k").is_file());

    let file = tmp.path().join("a-file");
    fs::write(&file, b"").expect("write file");
    assert!(FsArchive::open(&file).is_err());
}

#[test]
fn batched_puts_skip_the_fsyncs_and_sync_flushes_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let archive = FsArchive::open_with(dir.path().join("archive"), crate::Durability::Batched)
        .expect("open archive");
    for i in 0..20 {
        archive
            .put(&format!("a/{i}/b.json"), b"{}", "application/json")
            .expect("put");
    }
    assert_eq!(archive.directory_fsyncs(), 0, "no fsync before sync()");
    archive.sync().expect("sync");
    archive.sync().expect("a second sync has nothing to do");
    assert_eq!(
        archive.get("a/7/b.json").expect("get"),
        Some(b"{}".to_vec())
    );
    // Still atomic: no temp file is left behind.
    let leftovers = walk(&dir.path().join("archive"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".trailmark-tmp-"))
        .count();
    assert_eq!(leftovers, 0);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
