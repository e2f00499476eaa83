//! Signed checkpoints: a real journal with checkpoints made along the way, then a copy of
//! it tampered with in each way; each tampering is caught and located at the right seq.

mod common;

use std::fs;
use std::path::Path;

use common::{
    edit_file, journal_with, locate, rec, rewrite_history, segment_files, small_segments,
    truncate_after,
};
use trailmark_journal::format::{self, Decoded, PREFIX_LEN};
use trailmark_journal::{
    ChainHead, Checkpoint, CheckpointError, CheckpointKey, CheckpointLog, Journal, ProblemKind,
    PublicKey, VerifyReport, read_checkpoints, verify, verify_with_checkpoints,
};

/// Records in the fixture journal, and the seqs checkpointed along the way: the last
/// checkpoint is not at the end, as in real life.
const RECORDS: u64 = 110;
const CHECKPOINTED: [u64; 5] = [20, 40, 60, 80, 100];

/// A closed journal of `RECORDS` records in several segments, checkpointed after each seq
/// in `CHECKPOINTED` with a key made by `load_or_create`, and the checkpoint log.
struct Fixture {
    journal: tempfile::TempDir,
    keys: tempfile::TempDir,
    key: CheckpointKey,
    checkpoints: Vec<Checkpoint>,
}

impl Fixture {
    fn new() -> Fixture {
        let journal_dir = tempfile::tempdir().expect("tempdir");
        let keys = tempfile::tempdir().expect("tempdir");
        let (key, created) =
            CheckpointKey::load_or_create(&keys.path().join("checkpoint.key")).expect("key");
        assert!(created);
        let mut log = CheckpointLog::open(&keys.path().join("checkpoints.jsonl")).expect("log");
        let journal = Journal::open(journal_dir.path(), small_segments()).expect("open");
        for i in 1..=RECORDS {
            journal.append_wait(vec![rec(i)]).expect("append");
            if CHECKPOINTED.contains(&i) {
                let checkpoint = journal
                    .checkpoint(&key, 1_000 * i as i64)
                    .expect("checkpoint");
                assert_eq!((checkpoint.seq, checkpoint.count), (i, i));
                log.append(&checkpoint).expect("append checkpoint");
            }
        }
        journal.close().expect("close");
        let checkpoints = read_checkpoints(log.path()).expect("read checkpoints");
        assert!(segment_files(journal_dir.path()).len() >= 4);
        Fixture {
            journal: journal_dir,
            keys,
            key,
            checkpoints,
        }
    }

    fn public(&self) -> PublicKey {
        PublicKey::load(&self.keys.path().join("checkpoint.key.pub")).expect("public key")
    }

    /// A copy of the journal directory to tamper with.
    fn copy(&self) -> tempfile::TempDir {
        let copy = tempfile::tempdir().expect("tempdir");
        for segment in segment_files(self.journal.path()) {
            let name = segment.file_name().expect("segment name");
            fs::copy(&segment, copy.path().join(name)).expect("copy segment");
        }
        copy
    }

    fn check(&self, dir: &Path) -> VerifyReport {
        self.check_with(dir, &self.checkpoints)
    }

    fn check_with(&self, dir: &Path, checkpoints: &[Checkpoint]) -> VerifyReport {
        verify_with_checkpoints(dir, checkpoints, &self.public()).expect("verify runs")
    }
}

fn kinds(report: &VerifyReport) -> Vec<(ProblemKind, Option<u64>)> {
    report.problems.iter().map(|p| (p.kind, p.seq)).collect()
}

/// The index of record `seq` in the list `rewrite_history` hands out (no retention).
fn at(seq: u64) -> usize {
    seq as usize - 1
}

#[test]
fn an_untouched_journal_matches_every_checkpoint() {
    let fixture = Fixture::new();
    assert_eq!(
        fixture
            .checkpoints
            .iter()
            .map(|c| c.seq)
            .collect::<Vec<_>>(),
        CHECKPOINTED
    );
    let report = fixture.check(fixture.journal.path());
    assert!(report.is_intact(), "{:?}", report.problems);
    let summary = &report.checkpoints;
    assert_eq!((summary.total, summary.verified), (5, 5));
    assert_eq!((summary.skipped, summary.rejected), (0, 0));
    assert_eq!(summary.last_verified_seq, Some(100));
    assert_eq!(report.last_seq, RECORDS);
    for checkpoint in &fixture.checkpoints {
        checkpoint
            .verify_signature(&fixture.public())
            .expect("signature");
    }
}

#[test]
fn a_modified_payload_with_a_fixed_crc_is_caught_at_its_record() {
    let fixture = Fixture::new();
    let copy = fixture.copy();
    let (segment, offset, len) = locate(copy.path(), 33);
    edit_file(&segment, |bytes| {
        bytes[offset + PREFIX_LEN + 17] ^= 0x20;
        let crc = crc32fast::hash(&bytes[offset + PREFIX_LEN..offset + len]);
        bytes[offset + 4..offset + 8].copy_from_slice(&crc.to_le_bytes());
    });
    let report = fixture.check(copy.path());
    assert_eq!(kinds(&report), vec![(ProblemKind::HashMismatch, Some(33))]);
    assert_eq!(report.problems[0].path, segment);
    assert_eq!(report.problems[0].offset, offset as u64);
    // The stored hashes are untouched, so every checkpoint still matches.
    assert_eq!(report.checkpoints.verified, 5);
}

#[test]
fn a_consistently_rewritten_history_passes_the_chain_but_not_the_checkpoints() {
    let fixture = Fixture::new();
    let copy = fixture.copy();
    rewrite_history(copy.path(), |records| {
        records[at(33)].payload = b"nothing to see here".to_vec();
    });
    let plain = verify(copy.path()).expect("verify");
    assert!(
        plain.is_intact(),
        "the rewrite is consistent: {:?}",
        plain.problems
    );
    assert_eq!(plain.last_seq, RECORDS);

    let report = fixture.check(copy.path());
    assert_eq!(
        kinds(&report),
        vec![
            (ProblemKind::HeadMismatch, Some(40)),
            (ProblemKind::HeadMismatch, Some(60)),
            (ProblemKind::HeadMismatch, Some(80)),
            (ProblemKind::HeadMismatch, Some(100)),
        ]
    );
    let first = &report.problems[0];
    assert!(first.detail.contains("21..=40"), "{first}");
    assert!(first.detail.contains("checkpoint #2"), "{first}");
    let (segment, offset, _) = locate(copy.path(), 40);
    assert_eq!((first.path.clone(), first.offset), (segment, offset as u64));
    assert_eq!(report.checkpoints.verified, 1);
    assert_eq!(report.checkpoints.last_verified_seq, Some(20));
}

#[test]
fn a_removed_record_is_a_gap_and_a_removed_checkpointed_record_is_missing() {
    let fixture = Fixture::new();
    let copy = fixture.copy();
    let (segment, offset, len) = locate(copy.path(), 45);
    edit_file(&segment, |bytes| {
        bytes.drain(offset..offset + len);
    });
    let report = fixture.check(copy.path());
    assert_eq!(kinds(&report), vec![(ProblemKind::SeqGap, Some(46))]);
    assert_eq!(report.problems[0].offset, offset as u64);

    // Record 40 is the one checkpoint #2 signed.
    let copy = fixture.copy();
    let (segment, offset, len) = locate(copy.path(), 40);
    edit_file(&segment, |bytes| {
        bytes.drain(offset..offset + len);
    });
    let report = fixture.check(copy.path());
    assert_eq!(
        kinds(&report),
        vec![
            (ProblemKind::SeqGap, Some(41)),
            (ProblemKind::HeadMismatch, Some(40)),
        ]
    );
    assert!(report.problems[1].detail.contains("no valid record 40"));

    // Removed, then renumbered and rehashed: only the next checkpoint sees it.
    let copy = fixture.copy();
    rewrite_history(copy.path(), |records| {
        records.remove(at(45));
    });
    assert!(verify(copy.path()).expect("verify").is_intact());
    let report = fixture.check(copy.path());
    assert_eq!(report.problems[0].kind, ProblemKind::HeadMismatch);
    assert_eq!(report.problems[0].seq, Some(60));
    assert!(report.problems[0].detail.contains("41..=60"));
}

#[test]
fn an_inserted_record_is_caught() {
    let fixture = Fixture::new();
    // A copy of record 3 pasted before record 50.
    let copy = fixture.copy();
    let (segment3, at3, len3) = locate(copy.path(), 3);
    let record3 = fs::read(&segment3).expect("read")[at3..at3 + len3].to_vec();
    let (segment, at50, _) = locate(copy.path(), 50);
    edit_file(&segment, |bytes| {
        bytes.splice(at50..at50, record3);
    });
    let report = fixture.check(copy.path());
    assert_eq!(kinds(&report), vec![(ProblemKind::SeqOutOfOrder, Some(3))]);
    assert_eq!(report.problems[0].offset, at50 as u64);

    // A forged record inserted consistently (everything after renumbered and rehashed).
    let copy = fixture.copy();
    rewrite_history(copy.path(), |records| {
        let mut forged = records[at(50)].clone();
        forged.payload = b"forged".to_vec();
        records.insert(at(50), forged);
    });
    assert!(verify(copy.path()).expect("verify").is_intact());
    let report = fixture.check(copy.path());
    assert_eq!(report.problems[0].kind, ProblemKind::HeadMismatch);
    assert_eq!(report.problems[0].seq, Some(60));
}

#[test]
fn two_swapped_records_are_caught_at_the_first_moved_one() {
    let fixture = Fixture::new();
    let copy = fixture.copy();
    let (segment, at45, len45) = locate(copy.path(), 45);
    let (same, at46, len46) = locate(copy.path(), 46);
    assert_eq!(segment, same, "records 45 and 46 share a segment");
    edit_file(&segment, |bytes| {
        let a = bytes[at45..at45 + len45].to_vec();
        let b = bytes[at46..at46 + len46].to_vec();
        bytes.splice(at45..at46 + len46, [b, a].concat());
    });
    let report = fixture.check(copy.path());
    assert_eq!(
        kinds(&report),
        vec![
            (ProblemKind::SeqGap, Some(46)),
            (ProblemKind::SeqOutOfOrder, Some(45)),
        ]
    );
    assert_eq!(report.problems[0].offset, at45 as u64);
}

#[test]
fn truncation_is_caught_up_to_the_last_checkpoint_and_not_after_it() {
    let fixture = Fixture::new();
    // Records 91..=110 cut off: checkpoint #5 signed 100.
    let copy = fixture.copy();
    truncate_after(copy.path(), 90);
    assert!(verify(copy.path()).expect("verify").is_intact());
    let report = fixture.check(copy.path());
    assert_eq!(kinds(&report), vec![(ProblemKind::Truncated, Some(100))]);
    let detail = &report.problems[0].detail;
    assert!(detail.contains("ends at seq 90"), "{detail}");
    assert!(detail.contains("checkpoint #5"), "{detail}");
    assert_eq!(report.checkpoints.last_verified_seq, Some(80));

    // Records 106..=110 came after the last checkpoint: nothing signed them, so cutting
    // them leaves a valid chain that every checkpoint agrees with. Only the report's
    // `last_verified_seq` (100) shows how far the checkpoints reach.
    let copy = fixture.copy();
    truncate_after(copy.path(), 105);
    let report = fixture.check(copy.path());
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.last_seq, 105);
    assert_eq!(report.checkpoints.last_verified_seq, Some(100));
}

#[test]
fn a_forged_checkpoint_is_rejected() {
    let fixture = Fixture::new();
    let mut checkpoints = fixture.checkpoints.clone();
    checkpoints[2].seq = 61;
    checkpoints[2].count = 61;
    checkpoints[2].hash = "ab".repeat(32);
    assert!(matches!(
        checkpoints[2].verify_signature(&fixture.public()),
        Err(CheckpointError::BadSignature { seq: 61 })
    ));
    let report = fixture.check_with(fixture.journal.path(), &checkpoints);
    assert_eq!(kinds(&report), vec![(ProblemKind::BadCheckpoint, Some(61))]);
    assert!(report.problems[0].detail.contains("checkpoint #3"));
    assert_eq!(
        (report.checkpoints.verified, report.checkpoints.rejected),
        (4, 1)
    );

    // The realistic attack: history rewritten consistently, and the checkpoints edited to
    // the new hashes. Without the secret key the signatures cannot follow.
    let copy = fixture.copy();
    rewrite_history(copy.path(), |records| {
        records[at(33)].payload = b"nothing to see here".to_vec();
    });
    let heads = verify(copy.path()).expect("verify");
    assert!(heads.is_intact());
    let mut checkpoints = fixture.checkpoints.clone();
    for checkpoint in &mut checkpoints {
        let (segment, offset, _) = locate(copy.path(), checkpoint.seq);
        let bytes = fs::read(segment).expect("read");
        let Decoded::Record(record, _) = format::decode_record(&bytes[offset..]) else {
            panic!("record {} decodes", checkpoint.seq);
        };
        checkpoint.hash = hex::encode(record.hash);
    }
    let report = fixture.check_with(copy.path(), &checkpoints);
    assert_eq!(
        kinds(&report),
        [40, 60, 80, 100].map(|s| (ProblemKind::BadCheckpoint, Some(s)))
    );
    assert_eq!(report.checkpoints.last_verified_seq, Some(20));
}

#[test]
fn checkpoints_of_another_key_are_rejected() {
    let fixture = Fixture::new();
    let other = CheckpointKey::generate().expect("key");
    let signed: Vec<Checkpoint> = fixture
        .checkpoints
        .iter()
        .map(|c| Checkpoint::sign(&c.head().expect("head"), c.time_ms, &other))
        .collect();
    let report = fixture.check_with(fixture.journal.path(), &signed);
    assert_eq!(
        kinds(&report),
        CHECKPOINTED.map(|s| (ProblemKind::BadCheckpoint, Some(s)))
    );
    assert!(
        report.problems[0]
            .detail
            .contains(&format!("signed by key {}", other.public().key_id())),
        "{}",
        report.problems[0]
    );
    assert_eq!(report.checkpoints.rejected, 5);
    assert_eq!(report.checkpoints.last_verified_seq, None);

    // Claiming the right key id does not help: the signature is still another key's.
    let mut relabelled = signed[0].clone();
    relabelled.key_id = fixture.key.public().key_id();
    assert!(matches!(
        relabelled.verify_signature(&fixture.public()),
        Err(CheckpointError::BadSignature { seq: 20 })
    ));
}

#[test]
fn checkpoints_out_of_order_are_reported() {
    let fixture = Fixture::new();
    let mut checkpoints = fixture.checkpoints.clone();
    checkpoints.swap(1, 2); // seq 60 then 40
    let report = fixture.check_with(fixture.journal.path(), &checkpoints);
    assert_eq!(kinds(&report), vec![(ProblemKind::BadCheckpoint, Some(40))]);
    assert!(report.problems[0].detail.contains("out of order"));

    // Dated before an earlier checkpoint but signing a higher seq.
    let key = &fixture.key;
    let journal_head = |i: usize| fixture.checkpoints[i].head().expect("head");
    let checkpoints = vec![
        Checkpoint::sign(&journal_head(0), 5_000, key),
        Checkpoint::sign(&journal_head(1), 4_000, key),
    ];
    let report = fixture.check_with(fixture.journal.path(), &checkpoints);
    assert_eq!(kinds(&report), vec![(ProblemKind::BadCheckpoint, Some(40))]);
    assert!(
        report.problems[0]
            .detail
            .contains("dated before checkpoint #1")
    );
    // Their claims are genuine and hold: both are still checked.
    assert_eq!(report.checkpoints.verified, 2);

    // Two checkpoints that sign different hashes for the same seq: two histories.
    let forked = ChainHead {
        seq: 40,
        hash: [9; 32],
    };
    let checkpoints = vec![
        Checkpoint::sign(&journal_head(1), 5_000, key),
        Checkpoint::sign(&forked, 6_000, key),
    ];
    let report = fixture.check_with(fixture.journal.path(), &checkpoints);
    assert_eq!(
        kinds(&report),
        vec![
            (ProblemKind::BadCheckpoint, Some(40)),
            (ProblemKind::HeadMismatch, Some(40)),
        ]
    );
    assert!(report.problems[0].detail.contains("two histories"));
    assert!(report.problems[1].detail.contains("checkpoint #2"));
}

#[test]
fn checkpoints_older_than_retention_are_skipped_not_failed() {
    let fixture = Fixture::new();
    let copy = fixture.copy();
    let journal = Journal::open(copy.path(), small_segments()).expect("open");
    let removed = journal.remove_segments_before(70).expect("retention");
    assert!(removed >= 2);
    let first_seq = journal.first_seq();
    journal.close().expect("close");
    assert!(
        (41..=70).contains(&first_seq),
        "first retained seq {first_seq}"
    );

    let report = fixture.check(copy.path());
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.first_seq, first_seq);
    let summary = &report.checkpoints;
    assert_eq!(
        summary.skipped,
        CHECKPOINTED.iter().filter(|s| **s < first_seq - 1).count()
    );
    assert_eq!(summary.skipped + summary.verified, 5);
    assert_eq!(summary.last_verified_seq, Some(100));

    // Retention does not hide tampering with what is retained.
    rewrite_history(copy.path(), |records| {
        let i = records.len() - 30; // record 81
        records[i].payload = b"rewritten".to_vec();
    });
    let report = fixture.check(copy.path());
    assert_eq!(kinds(&report), vec![(ProblemKind::HeadMismatch, Some(100))]);
}

#[test]
fn checkpoint_covers_records_appended_without_fsync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = journal_with(dir.path(), 3, small_segments());
    journal.append_nosync(vec![rec(4), rec(5)]).expect("append");
    let key = CheckpointKey::from_seed(&[7; 32]);
    let checkpoint = journal.checkpoint(&key, 1).expect("checkpoint");
    assert_eq!(checkpoint.seq, 5);
    assert_eq!(checkpoint.head().expect("head"), journal.head());
    journal.close().expect("close");
    let report = verify_with_checkpoints(dir.path(), &[checkpoint], &key.public()).expect("verify");
    assert!(report.is_intact());
    assert_eq!(report.checkpoints.verified, 1);
}
