//! Appending, reading, reopening and retention.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::mpsc;

use common::{
    closed_journal_and_head, journal_with, rec, segment_files, small_segments, verified_intact,
};
use trailmark_journal::{Completion, Journal, JournalError, JournalOptions, NewRecord, format};

#[test]
fn appended_records_read_back_with_their_fields_and_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = Journal::open(dir.path(), JournalOptions::default()).expect("open");
    assert_eq!(journal.head().seq, 0);
    let seqs = journal
        .append_wait(vec![rec(1), rec(2), rec(3)])
        .expect("append");
    assert_eq!(seqs, vec![1, 2, 3]);

    let records: Vec<_> = journal
        .read_from(1)
        .collect::<Result<_, _>>()
        .expect("read");
    assert_eq!(records.len(), 3);
    let mut prev = format::GENESIS_HASH;
    for (i, record) in records.iter().enumerate() {
        let want = rec(i as u64 + 1);
        assert_eq!(record.seq, i as u64 + 1);
        assert_eq!(record.kind, want.kind);
        assert_eq!(record.payload, want.payload);
        assert_eq!(record.prev_hash, prev);
        assert_eq!(record.hash, record.computed_hash());
        prev = record.hash;
    }
    assert_eq!(journal.head().hash, prev);
    assert!(
        records
            .windows(2)
            .all(|w| w[0].timestamp_ms <= w[1].timestamp_ms)
    );

    assert_eq!(journal.read(2).expect("read 2"), Some(records[1].clone()));
    assert_eq!(journal.read(0).expect("read 0"), None);
    assert_eq!(journal.read(4).expect("read 4"), None);
    let tail: Vec<u64> = journal.read_from(3).map(|r| r.expect("read").seq).collect();
    assert_eq!(tail, vec![3]);
}

#[test]
fn the_first_record_at_a_time_is_found_across_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = Journal::open(dir.path(), small_segments()).expect("open");
    assert_eq!(journal.first_seq_at(0).expect("searches"), 1, "empty");
    // Three runs of records, each run journaled in a later millisecond.
    let mut runs = Vec::new();
    for run in 0..3u64 {
        std::thread::sleep(std::time::Duration::from_millis(3));
        let seqs = journal
            .append_wait((0..40).map(|i| rec(run * 40 + i)).collect())
            .expect("append");
        let first = journal.read(seqs[0]).expect("reads").expect("present");
        let last = journal.read(seqs[39]).expect("reads").expect("present");
        runs.push((seqs[0], first.timestamp_ms, last.timestamp_ms));
    }
    assert!(segment_files(dir.path()).len() > 2, "small segments roll");
    let all: Vec<(u64, i64)> = journal
        .read_from(1)
        .map(|r| r.map(|r| (r.seq, r.timestamp_ms)).expect("reads"))
        .collect();
    // The reference: the first record whose time is at or after t.
    let scan = |t: i64| all.iter().find(|(_, ts)| *ts >= t).map_or(121, |(s, _)| *s);
    let mut times: Vec<i64> = runs
        .iter()
        .flat_map(|&(_, a, b)| [a - 1, a, b, b + 1])
        .collect();
    times.extend([i64::MIN, 0, i64::MAX]);
    for t in times {
        assert_eq!(
            journal.first_seq_at(t).expect("searches"),
            scan(t),
            "at {t}"
        );
    }
    // A run that began in a later millisecond than the one before ended
    // starts exactly at its first record.
    for pair in runs.windows(2) {
        if pair[1].1 > pair[0].2 {
            assert_eq!(
                journal.first_seq_at(pair[1].1).expect("searches"),
                pair[1].0
            );
        }
    }
}

#[test]
fn reads_across_many_segments_use_the_sparse_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = journal_with(dir.path(), 300, small_segments());
    assert!(segment_files(dir.path()).len() > 5, "small segments roll");
    for seq in [1, 2, 5, 63, 64, 65, 150, 299, 300] {
        let record = journal.read(seq).expect("read").expect("present");
        assert_eq!(record.seq, seq);
        assert_eq!(record.payload, rec(seq).payload);
    }
    let all: Vec<u64> = journal.read_from(0).map(|r| r.expect("read").seq).collect();
    assert_eq!(all, (1..=300).collect::<Vec<_>>());
    let from: Vec<u64> = journal
        .read_from(123)
        .map(|r| r.expect("read").seq)
        .collect();
    assert_eq!(from, (123..=300).collect::<Vec<_>>());
    journal.close().expect("close");
    verified_intact(dir.path());
}

#[test]
fn eight_concurrent_appenders_get_contiguous_unique_seqs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = Arc::new(Journal::open(dir.path(), small_segments()).expect("open"));
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let journal = Arc::clone(&journal);
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for i in 0..50u64 {
                    let batch = vec![rec(t * 1000 + i), rec(t * 1000 + i + 500)];
                    let seqs = journal.append_wait(batch).expect("append");
                    assert_eq!(seqs.len(), 2);
                    assert_eq!(seqs[1], seqs[0] + 1, "one append's seqs are contiguous");
                    mine.extend(seqs);
                }
                mine
            })
        })
        .collect();
    let mut all = HashSet::new();
    for thread in threads {
        for seq in thread.join().expect("appender thread") {
            assert!(all.insert(seq), "seq {seq} handed out twice");
        }
    }
    assert_eq!(all.len(), 800);
    assert_eq!(all, (1..=800).collect::<HashSet<_>>());
    assert_eq!(journal.head().seq, 800);
    let stats = journal.stats();
    assert_eq!(stats.records, 800);
    assert!(stats.fsyncs >= 1 && stats.fsyncs <= 400);
    let journal = Arc::into_inner(journal).expect("threads are done");
    journal.close().expect("close");
    verified_intact(dir.path());
}

#[test]
fn reopen_continues_the_chain() {
    let (dir, head) = closed_journal_and_head(40, small_segments());

    let journal = Journal::open(dir.path(), small_segments()).expect("reopen");
    assert_eq!(journal.head(), head);
    let seqs = journal.append_wait(vec![rec(41)]).expect("append");
    assert_eq!(seqs, vec![41]);
    let record = journal.read(41).expect("read").expect("present");
    assert_eq!(record.prev_hash, head.hash);
    let earlier = journal.read(40).expect("read").expect("present");
    assert!(record.timestamp_ms >= earlier.timestamp_ms);
    journal.close().expect("close");
    let report = verified_intact(dir.path());
    assert_eq!(report.last_seq, 41);
}

#[test]
fn nosync_records_survive_a_clean_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = Journal::open(dir.path(), JournalOptions::default()).expect("open");
    for i in 1..=20 {
        journal.append_nosync(vec![rec(i)]).expect("append_nosync");
    }
    journal.close().expect("close");
    let journal = Journal::open(dir.path(), JournalOptions::default()).expect("reopen");
    assert_eq!(journal.head().seq, 20);
    let payloads: Vec<Vec<u8>> = journal
        .read_from(1)
        .map(|r| r.expect("read").payload)
        .collect();
    assert_eq!(
        payloads,
        (1..=20).map(|i| rec(i).payload).collect::<Vec<_>>()
    );
}

#[test]
fn nosync_records_become_visible_after_sync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = JournalOptions {
        nosync_flush_interval: std::time::Duration::from_secs(3600),
        ..JournalOptions::default()
    };
    let journal = Journal::open(dir.path(), options).expect("open");
    journal.append_nosync(vec![rec(1)]).expect("append_nosync");
    assert_eq!(journal.head().seq, 0, "not durable yet, so not visible");
    journal.sync().expect("sync");
    assert_eq!(journal.head().seq, 1);
    assert!(journal.read(1).expect("read").is_some());
}

#[test]
fn callback_append_reports_seqs_and_reader_sees_them_afterwards() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = Journal::open(dir.path(), JournalOptions::default()).expect("open");
    let (tx, rx) = mpsc::channel();
    for i in 1..=10 {
        let tx = tx.clone();
        journal.append(
            vec![rec(i)],
            Box::new(move |result| {
                tx.send(result).expect("test receiver alive");
            }),
        );
    }
    let mut seqs: Vec<u64> = (0..10)
        .flat_map(|_| rx.recv().expect("callback").expect("append ok"))
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
    // Every acknowledged record is readable.
    assert_eq!(journal.read_from(1).count(), 10);
}

#[test]
fn a_live_reader_picks_up_records_appended_after_it_caught_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = journal_with(dir.path(), 3, small_segments());
    let mut reader = journal.read_from(1);
    for want in 1..=3 {
        assert_eq!(reader.next().expect("record").expect("ok").seq, want);
    }
    assert!(reader.next().is_none());
    for i in 4..=100 {
        journal.append_wait(vec![rec(i)]).expect("append");
    }
    let rest: Vec<u64> = reader.map(|r| r.expect("read").seq).collect();
    assert_eq!(rest, (4..=100).collect::<Vec<_>>());
}

#[test]
fn oversized_and_empty_appends_are_answered_without_writing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = JournalOptions {
        max_record_bytes: 10,
        ..JournalOptions::default()
    };
    let journal = Journal::open(dir.path(), options).expect("open");
    let err = journal
        .append_wait(vec![NewRecord {
            kind: 0,
            payload: vec![0; 11],
        }])
        .expect_err("too large");
    assert!(matches!(
        err,
        JournalError::RecordTooLarge { size: 11, max: 10 }
    ));
    assert_eq!(
        journal.append_wait(Vec::new()).expect("empty"),
        Vec::<u64>::new()
    );
    assert_eq!(journal.head().seq, 0);
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = Journal::open(dir.path(), JournalOptions::default()).expect("open");
    let err = Journal::open(dir.path(), JournalOptions::default()).expect_err("locked");
    assert!(matches!(err, JournalError::Locked { .. }), "{err}");
    drop(journal);
    Journal::open(dir.path(), JournalOptions::default()).expect("lock released on drop");
}

#[test]
fn retention_removes_only_whole_old_segments_and_the_chain_still_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = journal_with(dir.path(), 200, small_segments());
    let before = segment_files(dir.path());
    let usage_before = journal.disk_usage();
    // Segment first seqs, to pick a cut in the middle of one.
    let firsts: Vec<u64> = before
        .iter()
        .map(|p| {
            p.file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse().ok())
                .expect("segment name is a number")
        })
        .collect();
    let cut = firsts[3] + 1; // inside the 4th segment
    let removed = journal.remove_segments_before(cut).expect("retention");
    assert_eq!(removed, 3, "the segment holding seq {} stays", firsts[3]);
    assert_eq!(journal.first_seq(), firsts[3]);
    assert!(journal.disk_usage() < usage_before);
    assert_eq!(segment_files(dir.path()), before[3..].to_vec());
    assert_eq!(journal.read(firsts[3] - 1).expect("read"), None);
    assert!(matches!(
        journal.read_from(1).next(),
        Some(Err(JournalError::Removed { seq: 1, .. }))
    ));
    let seqs: Vec<u64> = journal
        .read_from(firsts[3])
        .map(|r| r.expect("read").seq)
        .collect();
    assert_eq!(seqs, (firsts[3]..=200).collect::<Vec<_>>());

    // Never the active segment, even when every record is older than the cut.
    journal.remove_segments_before(u64::MAX).expect("retention");
    assert_eq!(segment_files(dir.path()).len(), 1);
    let head = journal.head();
    journal
        .append_wait(vec![rec(201)])
        .expect("append after retention");
    journal.close().expect("close");

    let report = verified_intact(dir.path());
    assert_eq!(report.last_seq, 201);
    let reopened = Journal::open(dir.path(), small_segments()).expect("reopen after retention");
    let last = reopened.read(201).expect("read").expect("present");
    assert_eq!(last.prev_hash, head.hash);
}

#[test]
fn try_append_and_durability_written_complete_with_seqs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = Journal::open(dir.path(), JournalOptions::default()).expect("open");
    let (tx, rx) = mpsc::channel();
    journal.try_append(
        vec![rec(1), rec(2)],
        Completion::AfterWrite,
        Box::new(move |result| tx.send(result).expect("receiver alive")),
    );
    match rx.recv().expect("callback") {
        Ok(seqs) => assert_eq!(seqs, vec![1, 2]),
        Err(JournalError::Busy) => panic!("an empty queue is not busy"),
        Err(e) => panic!("append failed: {e}"),
    }
    journal.sync().expect("sync");
    assert_eq!(journal.head().seq, 2);
}

#[test]
fn an_offer_the_full_queue_cannot_take_comes_back_whole_and_queues_later() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = JournalOptions {
        queue_capacity: 1,
        ..JournalOptions::default()
    };
    let journal = Journal::open(dir.path(), options).expect("open");
    let (tx, rx) = mpsc::channel();
    let mut offered = 0;
    let unqueued = loop {
        assert!(offered < 1_000_000, "a queue of one never filled");
        let tx = tx.clone();
        let done: trailmark_journal::AppendDone =
            Box::new(move |result| tx.send(result).expect("receiver alive"));
        offered += 1;
        if let Err(unqueued) = journal.offer(vec![rec(1)], Completion::AfterWrite, done) {
            break unqueued;
        }
    };
    // Nothing was answered for the refused offer: it is queued now.
    journal.append_unqueued(unqueued);
    drop(tx);
    let mut seqs: Vec<u64> = rx
        .iter()
        .map(|result| match result {
            Ok(seqs) => seqs[0],
            Err(e) => panic!("an offered append failed: {e}"),
        })
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=offered).collect::<Vec<u64>>());
    journal.sync().expect("sync");
    assert_eq!(journal.head().seq, offered);
}

/// `offer_now`, waited for; true when `done` ran before `offer_now`
/// returned (the caller wrote the records itself).
fn offer_now(journal: &Journal, record: NewRecord) -> (bool, Vec<u64>) {
    let (tx, rx) = mpsc::channel();
    let done: trailmark_journal::AppendDone = Box::new(move |result| {
        tx.send(result).expect("receiver alive");
    });
    if let Err(unqueued) = journal.offer_now(vec![record], done) {
        journal.append_unqueued(unqueued);
    }
    let (inline, result) = match rx.try_recv() {
        Ok(result) => (true, result),
        Err(_) => (false, rx.recv().expect("answered")),
    };
    (inline, result.expect("offer_now append"))
}

#[test]
fn an_idle_writer_lets_the_caller_write_and_the_record_is_fsynced_in_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = JournalOptions {
        nosync_flush_interval: std::time::Duration::from_millis(50),
        ..JournalOptions::default()
    };
    let journal = Journal::open(dir.path(), options).expect("open");
    let mut inline = 0;
    for seq in 1..=100 {
        // Each append alone on an idle journal: wait for the previous
        // one's fsync, so the writer thread is back waiting.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while journal.head().seq < seq - 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "record {} written by its caller was not fsynced within 10 s \
                 (the writer thread never started its flush timer)",
                seq - 1
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let (now, _) = offer_now(&journal, rec(seq));
        inline += usize::from(now);
    }
    assert!(
        inline >= 50,
        "only {inline} of 100 appends on an idle writer were written by their caller"
    );
    journal.close().expect("close");
    let report = verified_intact(dir.path());
    assert_eq!(report.head().seq, 100);
}

#[test]
fn callers_writing_themselves_and_the_writer_thread_share_one_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = Arc::new(Journal::open(dir.path(), small_segments()).expect("open"));
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let journal = Arc::clone(&journal);
            std::thread::spawn(move || {
                let mut seqs = Vec::new();
                for i in 0..500 {
                    seqs.extend(offer_now(&journal, rec(t * 1000 + i)).1);
                }
                seqs
            })
        })
        .collect();
    let durable = {
        let journal = Arc::clone(&journal);
        std::thread::spawn(move || {
            (0..100)
                .flat_map(|i| journal.append_wait(vec![rec(9000 + i)]).expect("append"))
                .collect::<Vec<u64>>()
        })
    };
    let mut seqs: Vec<u64> = writers
        .into_iter()
        .flat_map(|w| w.join().expect("writer"))
        .collect();
    seqs.extend(durable.join().expect("durable writer"));
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=2100).collect::<Vec<u64>>(), "every seq once");
    let journal = Arc::into_inner(journal).expect("last handle");
    journal.close().expect("close");
    let report = verified_intact(dir.path());
    assert_eq!(report.head().seq, 2100);
}

#[test]
fn nosync_records_are_flushed_within_the_interval_even_under_steady_traffic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = JournalOptions {
        nosync_flush_interval: std::time::Duration::from_millis(50),
        ..JournalOptions::default()
    };
    let journal = Journal::open(dir.path(), options).expect("open");
    let start = std::time::Instant::now();
    let mut appended = 0;
    // Keep the writer busy with written-only appends; fsyncs must still happen.
    while journal.stats().fsyncs == 0 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "no fsync after {appended} written-only appends"
        );
        appended += 1;
        journal
            .append_nosync(vec![rec(appended)])
            .expect("append_nosync");
    }
    assert!(journal.head().seq >= 1, "fsynced records are visible");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while journal.head().seq < appended {
        assert!(
            std::time::Instant::now() < deadline,
            "idle flush did not happen"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn a_panicking_callback_does_not_stop_the_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = Journal::open(dir.path(), JournalOptions::default()).expect("open");
    let (tx, rx) = mpsc::channel();
    journal.append(
        vec![rec(1)],
        Box::new(move |_| {
            tx.send(()).expect("receiver alive");
            panic!("callback bug");
        }),
    );
    rx.recv().expect("callback ran");
    assert_eq!(journal.append_wait(vec![rec(2)]).expect("append"), vec![2]);
    journal.close().expect("close");
}

#[test]
fn dropping_the_last_handle_inside_a_callback_does_not_deadlock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = Arc::new(Journal::open(dir.path(), JournalOptions::default()).expect("open"));
    let in_callback = Arc::clone(&journal);
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel();
    journal.append(
        vec![rec(1)],
        Box::new(move |result| {
            go_rx.recv().expect("test signals");
            drop(in_callback); // the last handle: `Drop` runs on the writer thread
            done_tx.send(result).expect("receiver alive");
        }),
    );
    drop(journal);
    go_tx.send(()).expect("callback waits");
    let seqs = done_rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("callback finished")
        .expect("append ok");
    assert_eq!(seqs, vec![1]);
    // The writer exits and releases the lock.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let reopened = loop {
        match Journal::open(dir.path(), JournalOptions::default()) {
            Ok(journal) => break journal,
            Err(JournalError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("reopen failed: {e}"),
        }
    };
    assert_eq!(reopened.head().seq, 1);
}
