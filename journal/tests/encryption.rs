//! Encryption at rest: what is on disk, what verify sees with and without the key,
//! turning encryption on or off for an existing journal, rotating the key-encryption key.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use trailmark_journal::{
    Journal, JournalError, JournalOptions, Keyring, NewRecord, ProblemKind, StoredRecord,
    rotate_key_file, verify, verify_opening,
};

const SECRET: &str = "alice@example.com";

/// A keyring in its own key file beside (not inside) the journal directory.
fn keyring(root: &Path) -> Arc<Keyring> {
    let (keyring, _) = Keyring::load_or_create(&root.join("journal.kek")).expect("key file");
    Arc::new(keyring)
}

fn encrypted(keyring: &Arc<Keyring>) -> JournalOptions {
    JournalOptions {
        encryption: Some(Arc::clone(keyring)),
        ..common::small_segments()
    }
}

fn personal(i: u64) -> NewRecord {
    NewRecord {
        kind: (i % 3) as u8,
        payload: format!(
            r#"{{"n":{i},"author":"{SECRET}","body":"{}"}}"#,
            "y".repeat(40)
        )
        .into_bytes(),
    }
}

/// Appends records 1..=n of personal data, one append each.
fn append_personal(journal: &Journal, n: u64) {
    for i in 1..=n {
        journal.append_wait(vec![personal(i)]).expect("append");
    }
}

/// Every file under `dir` (recursively) whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).expect("list") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if fs::read(&path)
            .expect("read")
            .windows(needle.len())
            .any(|w| w == needle)
        {
            found.push(path);
        }
    }
    found
}

fn visit_all(
    dir: &Path,
    keyring: Option<&Keyring>,
) -> (trailmark_journal::VerifyReport, Vec<StoredRecord>) {
    let mut seen = Vec::new();
    let report = verify_opening(dir, None, keyring, &mut |r| seen.push(r.clone())).expect("verify");
    (report, seen)
}

#[test]
fn an_encrypted_journal_keeps_no_plaintext_on_disk_and_reads_back() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("journal");
    let keyring = keyring(root.path());
    let journal = Journal::open(&dir, encrypted(&keyring)).expect("open");
    append_personal(&journal, 120);
    for (i, record) in journal.read_from(1).enumerate() {
        let record = record.expect("read");
        assert_eq!(record.payload, personal(i as u64 + 1).payload);
        assert_eq!(
            record.computed_hash(),
            record.hash,
            "the hash covers the stored bytes"
        );
    }
    journal.close().expect("close");

    let segments = common::segment_files(&dir);
    assert!(segments.len() > 3, "several segments: {}", segments.len());
    assert_eq!(
        files_containing(&dir, SECRET.as_bytes()),
        Vec::<PathBuf>::new()
    );
    assert_eq!(files_containing(&dir, b"author"), Vec::<PathBuf>::new());
    for segment in &segments {
        assert!(
            segment.with_extension("dek").is_file(),
            "{} has its data key",
            segment.display()
        );
    }

    let (report, seen) = visit_all(&dir, None);
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.last_seq, 120);
    assert_eq!(report.encryption.segments, segments.len());
    assert_eq!(
        (report.encryption.records, report.encryption.opened),
        (120, 0)
    );
    assert!(seen.is_empty(), "nothing is visited without the key");

    let (report, seen) = visit_all(&dir, Some(&keyring));
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.encryption.opened, 120);
    assert_eq!(seen.len(), 120);
    assert_eq!(seen[41].payload, personal(42).payload);

    let reopened = Journal::open(&dir, encrypted(&keyring)).expect("reopen");
    assert_eq!(
        reopened.append_wait(vec![personal(121)]).expect("append"),
        vec![121]
    );
    assert_eq!(
        reopened.read(120).expect("read").expect("120").payload,
        personal(120).payload
    );
}

#[test]
fn an_encrypted_journal_is_refused_without_the_key_and_a_plain_one_with_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let keyring = keyring(root.path());

    let sealed = root.path().join("sealed");
    let journal = Journal::open(&sealed, encrypted(&keyring)).expect("open");
    append_personal(&journal, 3);
    journal.close().expect("close");
    let err = Journal::open(&sealed, common::small_segments()).expect_err("needs the key");
    assert!(matches!(err, JournalError::KeyRequired { .. }), "{err}");
    assert!(err.to_string().contains("key-file"), "{err}");

    let plain = root.path().join("plain");
    let journal = Journal::open(&plain, common::small_segments()).expect("open");
    append_personal(&journal, 3);
    journal.close().expect("close");
    let before: Vec<Vec<u8>> = common::segment_files(&plain)
        .iter()
        .map(|p| fs::read(p).expect("read"))
        .collect();
    let err = Journal::open(&plain, encrypted(&keyring)).expect_err("holds plaintext");
    assert!(
        matches!(err, JournalError::NotEncrypted { records: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("new data directory"), "{err}");
    let after: Vec<Vec<u8>> = common::segment_files(&plain)
        .iter()
        .map(|p| fs::read(p).expect("read"))
        .collect();
    assert_eq!(before, after, "a refused journal is left as it was");
    let journal = Journal::open(&plain, common::small_segments()).expect("still opens without");
    assert_eq!(journal.head().seq, 3);
}

#[test]
fn a_new_journal_opened_once_without_encryption_is_encrypted_from_its_first_record() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("journal");
    Journal::open(&dir, common::small_segments())
        .expect("open")
        .close()
        .expect("close");
    let keyring = keyring(root.path());
    let journal = Journal::open(&dir, encrypted(&keyring)).expect("open encrypted");
    append_personal(&journal, 2);
    journal.close().expect("close");
    assert!(files_containing(&dir, SECRET.as_bytes()).is_empty());
    assert_eq!(visit_all(&dir, Some(&keyring)).0.encryption.opened, 2);
}

#[test]
fn rotating_the_key_reseals_data_keys_and_rewrites_no_segment() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("journal");
    let key_file = root.path().join("journal.kek");
    let keyring = keyring(root.path());
    let old_id = keyring.current_id().to_owned();
    let journal = Journal::open(&dir, encrypted(&keyring)).expect("open");
    append_personal(&journal, 60);
    journal.close().expect("close");
    let segments = common::segment_files(&dir);
    let read_all = |paths: &[PathBuf]| -> Vec<Vec<u8>> {
        paths.iter().map(|p| fs::read(p).expect("read")).collect()
    };
    let seg_before = read_all(&segments);
    let deks: Vec<PathBuf> = segments.iter().map(|s| s.with_extension("dek")).collect();
    let dek_before = read_all(&deks);

    let journal = Journal::open(&dir, encrypted(&keyring)).expect("open");
    let err = rotate_key_file(&key_file, &[&dir]).expect_err("the journal is open");
    assert!(matches!(err, JournalError::Locked { .. }), "{err}");
    journal.close().expect("close");

    let rotation = rotate_key_file(&key_file, &[&dir]).expect("rotate");
    assert_eq!(rotation.resealed, segments.len());
    assert_eq!(rotation.retired, vec![old_id.clone()]);
    assert_ne!(rotation.new_key, old_id);
    assert_eq!(
        read_all(&segments),
        seg_before,
        "segments are not rewritten"
    );
    let dek_after = read_all(&deks);
    assert!(
        dek_before.iter().zip(&dek_after).all(|(a, b)| a != b),
        "every data key resealed"
    );

    let new = Keyring::load(&key_file).expect("load rotated");
    assert_eq!(
        new.ids(),
        vec![rotation.new_key.clone()],
        "the old key is gone"
    );
    let (report, seen) = visit_all(&dir, Some(&new));
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(seen.len(), 60);
    let (report, _) = visit_all(&dir, Some(&keyring));
    assert_eq!(report.encryption.opened, 0, "the retired key opens nothing");
    assert!(
        report
            .problems
            .iter()
            .all(|p| p.kind == ProblemKind::SealBroken)
    );
    assert!(
        report.problems[0].detail.contains(&rotation.new_key),
        "{}",
        report.problems[0]
    );

    let journal = Journal::open(&dir, encrypted(&Arc::new(new))).expect("open with the new key");
    assert_eq!(
        journal.read(60).expect("read").expect("60").payload,
        personal(60).payload
    );
}

#[test]
fn a_data_key_moved_to_another_segment_is_caught_with_the_key_only() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("journal");
    let keyring = keyring(root.path());
    let journal = Journal::open(&dir, encrypted(&keyring)).expect("open");
    append_personal(&journal, 60);
    journal.close().expect("close");
    let segments = common::segment_files(&dir);
    let (first, second) = (
        segments[0].with_extension("dek"),
        segments[1].with_extension("dek"),
    );
    fs::copy(&second, &first).expect("swap in another segment's key");

    assert!(
        verify(&dir).expect("verify").is_intact(),
        "the chain is over stored bytes"
    );
    let (report, seen) = visit_all(&dir, Some(&keyring));
    let broken: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.kind == ProblemKind::SealBroken)
        .collect();
    assert_eq!(broken.len(), 1, "{:?}", report.problems);
    assert_eq!(broken[0].path, segments[0]);
    assert!(
        broken[0].detail.contains("not this segment's"),
        "{}",
        broken[0]
    );
    let second_first: u64 = segments[1]
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .expect("segment name is its first seq");
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|r| r.seq >= second_first),
        "records of the segment whose key does not open are not visited"
    );
    let err = Journal::open(&dir, encrypted(&keyring)).expect_err("refused");
    assert!(matches!(err, JournalError::DataKey { .. }), "{err}");
}

#[test]
fn retention_removes_a_segment_with_its_data_key() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("journal");
    let keyring = keyring(root.path());
    let journal = Journal::open(&dir, encrypted(&keyring)).expect("open");
    append_personal(&journal, 60);
    let first = common::segment_files(&dir).remove(0);
    assert!(journal.remove_segments_before(40).expect("retention") > 0);
    assert!(!first.exists() && !first.with_extension("dek").exists());
    journal.close().expect("close");
    let (report, _) = visit_all(&dir, Some(&keyring));
    assert!(report.is_intact(), "{:?}", report.problems);
    let deks = fs::read_dir(&dir)
        .expect("list")
        .filter(|e| {
            e.as_ref()
                .expect("entry")
                .path()
                .extension()
                .is_some_and(|x| x == "dek")
        })
        .count();
    assert_eq!(deks, common::segment_files(&dir).len());
}
