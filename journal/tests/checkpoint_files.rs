//! Checkpoint keys on disk and the `checkpoints.jsonl` log.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use trailmark_journal::{
    ChainHead, Checkpoint, CheckpointError, CheckpointKey, CheckpointLog, PublicKey, public_path,
    read_checkpoints,
};

fn head(seq: u64) -> ChainHead {
    ChainHead {
        seq,
        hash: [seq as u8; 32],
    }
}

#[test]
fn a_key_is_created_once_with_mode_0600_and_its_public_key_beside_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("checkpoint.key");
    let (key, created) = CheckpointKey::load_or_create(&path).expect("create");
    assert!(created);
    let mode = fs::metadata(&path).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let pub_path = public_path(&path);
    assert_eq!(pub_path, dir.path().join("checkpoint.key.pub"));
    let text = fs::read_to_string(&pub_path).expect("read .pub");
    assert_eq!(text, format!("{}\n", key.public()));
    assert_eq!(PublicKey::parse(&text).expect("parse"), key.public());
    assert_eq!(key.public().key_id().len(), 16);

    let (again, created) = CheckpointKey::load_or_create(&path).expect("load");
    assert!(!created);
    assert_eq!(again.public(), key.public());
    assert_eq!(
        CheckpointKey::load(&path).expect("load").public(),
        key.public()
    );

    // A lost .pub is written again; one holding another key is refused.
    fs::remove_file(&pub_path).expect("remove .pub");
    CheckpointKey::load_or_create(&path).expect("load");
    assert_eq!(PublicKey::load(&pub_path).expect("load .pub"), key.public());
    let other = CheckpointKey::from_seed(&[1; 32]);
    fs::write(&pub_path, format!("{}\n", other.public())).expect("write");
    let err = CheckpointKey::load_or_create(&path).expect_err("mismatched .pub");
    assert!(
        matches!(err, CheckpointError::PublicKeyMismatch { .. }),
        "{err}"
    );
}

#[test]
fn the_secret_never_shows_in_debug_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("checkpoint.key");
    let (key, _) = CheckpointKey::load_or_create(&path).expect("create");
    let secret = fs::read_to_string(&path).expect("read");
    let debug = format!("{key:?} {:?}", key.public());
    assert!(!debug.contains(secret.trim()), "{debug}");
    assert!(debug.contains(&key.public().key_id()), "{debug}");
}

#[test]
fn bad_key_files_are_errors_that_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("checkpoint.key");
    fs::write(&path, "not hex\n").expect("write");
    let err = CheckpointKey::load_or_create(&path).expect_err("bad key");
    assert!(err.to_string().contains("checkpoint.key"), "{err}");
    assert!(PublicKey::parse("abcd").is_err());
    assert!(PublicKey::load(&dir.path().join("missing.pub")).is_err());
}

#[test]
fn a_checkpoint_round_trips_through_the_log_and_its_signature_covers_every_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("checkpoints.jsonl");
    let key = CheckpointKey::from_seed(&[3; 32]);
    let mut log = CheckpointLog::open(&path).expect("open");
    assert!(log.last().is_none());
    let first = Checkpoint::sign(&head(5), 1_000, &key);
    let second = Checkpoint::sign(&head(9), 2_000, &key);
    log.append(&first).expect("append");
    log.append(&second).expect("append");
    assert_eq!(log.last(), Some(&second));
    drop(log);
    assert_eq!(
        read_checkpoints(&path).expect("read"),
        vec![first.clone(), second]
    );
    assert_eq!(
        CheckpointLog::open(&path)
            .expect("reopen")
            .last()
            .map(|c| c.seq),
        Some(9)
    );

    let public = key.public();
    first.verify_signature(&public).expect("valid");
    let edits: [fn(&mut Checkpoint); 4] = [
        |c| c.hash = "00".repeat(32),
        |c| c.time_ms += 1,
        |c| {
            c.seq += 1;
            c.count += 1;
        },
        |c| c.signature = format!("{}00", &c.signature[..126]),
    ];
    for edit in edits {
        let mut changed = first.clone();
        edit(&mut changed);
        assert!(
            matches!(
                changed.verify_signature(&public),
                Err(CheckpointError::BadSignature { .. })
            ),
            "{changed:?}"
        );
    }
    let mut changed = first;
    changed.count = 4;
    assert!(matches!(
        changed.verify_signature(&public),
        Err(CheckpointError::Malformed { .. })
    ));
}

#[test]
fn a_bad_line_is_an_error_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("checkpoints.jsonl");
    let key = CheckpointKey::from_seed(&[3; 32]);
    let good = serde_json::to_string(&Checkpoint::sign(&head(1), 1, &key)).expect("json");
    fs::write(&path, format!("{good}\n{{\"seq\": 2}}\n")).expect("write");
    let err = read_checkpoints(&path).expect_err("bad line");
    assert!(
        err.to_string()
            .starts_with(&format!("{}:2: ", path.display())),
        "{err}"
    );
    let err = CheckpointLog::open(&path).expect_err("bad line");
    assert!(
        matches!(err, CheckpointError::InvalidLine { line: 2, .. }),
        "{err}"
    );

    fs::write(&path, format!("{good}\n\n{good}\n")).expect("write");
    assert!(matches!(
        read_checkpoints(&path),
        Err(CheckpointError::InvalidLine { line: 2, .. })
    ));

    let mut bad_hash = Checkpoint::sign(&head(1), 1, &key);
    bad_hash.hash = "xyz".to_owned();
    let line = serde_json::to_string(&bad_hash).expect("json");
    fs::write(&path, format!("{line}\n")).expect("write");
    let err = read_checkpoints(&path).expect_err("bad hash");
    assert!(
        err.to_string().contains(":1: ") && err.to_string().contains("hash"),
        "{err}"
    );
}

#[test]
fn an_interrupted_append_is_cut_when_the_log_is_opened() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("checkpoints.jsonl");
    let key = CheckpointKey::from_seed(&[3; 32]);
    let mut log = CheckpointLog::open(&path).expect("open");
    let first = Checkpoint::sign(&head(1), 1, &key);
    log.append(&first).expect("append");
    drop(log);
    let torn = serde_json::to_string(&Checkpoint::sign(&head(2), 2, &key)).expect("json");
    let mut bytes = fs::read(&path).expect("read");
    bytes.extend_from_slice(&torn.as_bytes()[..torn.len() / 2]);
    fs::write(&path, &bytes).expect("write");
    assert!(
        read_checkpoints(&path).is_err(),
        "a torn line is not a checkpoint"
    );

    let mut log = CheckpointLog::open(&path).expect("open repairs");
    assert_eq!(log.last(), Some(&first));
    let second = Checkpoint::sign(&head(3), 3, &key);
    log.append(&second).expect("append");
    assert_eq!(read_checkpoints(&path).expect("read"), vec![first, second]);
}
