//! Property test: random appends, reopens and retention against an in-memory model.

use proptest::prelude::*;
use trailmark_journal::{Journal, JournalOptions, NewRecord, verify};

/// How an append waits: for its fsync, for its write, or written on the
/// caller's thread when the writer is idle (`offer_now`).
#[derive(Debug, Clone, Copy)]
enum Mode {
    Durable,
    Written,
    Now,
}

#[derive(Debug, Clone)]
enum Op {
    Append {
        records: Vec<(u8, Vec<u8>)>,
        mode: Mode,
    },
    Reopen,
    RetainBefore(u64),
    Read(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (
            // Kind 255 is the journal's own (retention cuts): `append` refuses it.
            prop::collection::vec((0u8..=254, prop::collection::vec(any::<u8>(), 0..400)), 1..6),
            prop_oneof![Just(Mode::Durable), Just(Mode::Written), Just(Mode::Now)]
        )
            .prop_map(|(records, mode)| Op::Append { records, mode }),
        1 => Just(Op::Reopen),
        1 => (0u64..200).prop_map(Op::RetainBefore),
        2 => (0u64..200).prop_map(Op::Read),
    ]
}

fn options() -> JournalOptions {
    JournalOptions {
        segment_bytes: 4096,
        index_interval: 3,
        ..JournalOptions::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn journal_matches_a_simple_model(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut journal = Journal::open(dir.path(), options()).expect("open");
        // model[i] is record seq i + 1.
        let mut model: Vec<(u8, Vec<u8>)> = Vec::new();
        for op in ops {
            match op {
                Op::Append { records, mode } => {
                    let new: Vec<NewRecord> = records
                        .iter()
                        .map(|(kind, payload)| NewRecord { kind: *kind, payload: payload.clone() })
                        .collect();
                    let want: Vec<u64> = (model.len() as u64 + 1..).take(records.len()).collect();
                    match mode {
                        Mode::Durable => {
                            let seqs = journal.append_wait(new).expect("append");
                            prop_assert_eq!(seqs, want);
                        }
                        Mode::Written => {
                            journal.append_nosync(new).expect("append_nosync");
                            journal.sync().expect("sync");
                        }
                        Mode::Now => {
                            let (tx, rx) = std::sync::mpsc::channel();
                            let done: trailmark_journal::AppendDone =
                                Box::new(move |result| { let _ = tx.send(result); });
                            if let Err(unqueued) = journal.offer_now(new, done) {
                                journal.append_unqueued(unqueued);
                            }
                            let seqs = rx.recv().expect("callback").expect("offer_now");
                            prop_assert_eq!(seqs, want);
                            journal.sync().expect("sync");
                        }
                    }
                    model.extend(records);
                }
                Op::Reopen => {
                    journal.close().expect("close");
                    journal = Journal::open(dir.path(), options()).expect("reopen");
                }
                Op::RetainBefore(seq) => {
                    let before = journal.first_seq();
                    journal.remove_segments_before(seq).expect("retention");
                    // Only segments wholly below `seq` go: the new first seq is <= seq.
                    prop_assert!(journal.first_seq() <= seq.max(before));
                    prop_assert!(journal.first_seq() <= model.len() as u64 + 1);
                }
                Op::Read(seq) => {
                    let got = journal.read(seq).expect("read");
                    let retained = seq >= journal.first_seq() && seq >= 1 && seq <= model.len() as u64;
                    match got {
                        Some(record) => {
                            prop_assert!(retained);
                            let (kind, payload) = &model[seq as usize - 1];
                            prop_assert_eq!(record.kind, *kind);
                            prop_assert_eq!(&record.payload, payload);
                        }
                        None => prop_assert!(!retained),
                    }
                }
            }
            prop_assert_eq!(journal.head().seq, model.len() as u64);
        }
        let first = journal.first_seq();
        let read: Vec<(u8, Vec<u8>)> = journal
            .read_from(first)
            .map(|r| r.map(|r| (r.kind, r.payload)))
            .collect::<Result<_, _>>()
            .expect("read all");
        prop_assert_eq!(&read[..], &model[first as usize - 1..]);
        let head = journal.head();
        journal.close().expect("close");
        let report = verify(dir.path()).expect("verify");
        prop_assert!(report.is_intact(), "{:?}", report.problems);
        prop_assert_eq!(report.head(), head);
    }
}
