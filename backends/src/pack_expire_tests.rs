use std::path::Path;

use trailmark_backend_api::{BodyOwner, Expiring, Expiry, Held, Scope};

use super::*;

fn open(dir: &Path) -> PackArchive {
    PackArchive::open_with(dir.join("archive"), Durability::Batched).expect("open")
}

fn owned<'a>(key: &'a str, entity: (&'a str, &'a str), ts: i64) -> ArchivePut<'a> {
    ArchivePut {
        key,
        body: b"{}",
        content_type: "application/json",
        owner: Some(BodyOwner {
            source: "shop",
            entity_type: entity.0,
            entity_id: entity.1,
            ts,
        }),
    }
}

fn expire(archive: &PackArchive, holds: &[Held]) -> u64 {
    let all = Scope::default();
    archive
        .expire(&Expiry {
            scope: &all,
            except: &[],
            before_ms: 1_000,
            holds,
            limit: 100,
        })
        .expect("expire")
}

fn present(archive: &PackArchive, key: &str) -> bool {
    archive.get(key).expect("get").is_some()
}

#[test]
fn bodies_older_than_the_cutoff_go_the_one_at_it_and_unowned_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let archive = open(dir.path());
    let unowned = ArchivePut {
        owner: None,
        ..owned("s/unowned", ("t", "1"), 0)
    };
    let results = archive.put_many(&[
        owned("s/before", ("t", "1"), 999),
        owned("s/at", ("t", "1"), 1_000),
        unowned,
    ]);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(expire(&archive, &[]), 1);
    assert!(!present(&archive, "s/before"), "absent, not an error");
    assert!(present(&archive, "s/at") && present(&archive, "s/unowned"));
    archive.sync().unwrap();
    // A redelivery of the expired put stores it again.
    assert!(archive.put_many(&[owned("s/before", ("t", "1"), 999)])[0].is_ok());
}

#[test]
fn held_bodies_stay() {
    let dir = tempfile::tempdir().unwrap();
    let archive = open(dir.path());
    archive.put_many(&[
        owned("s/kept", ("user", "u-1"), 1),
        owned("s/gone", ("user", "u-2"), 1),
    ]);
    let holds = [Held {
        entity_type: "user".into(),
        entity_id: Some("u-1".into()),
    }];
    assert_eq!(expire(&archive, &holds), 1);
    assert!(present(&archive, "s/kept") && !present(&archive, "s/gone"));
}

#[test]
fn a_pack_whose_bodies_all_expired_is_deleted_but_never_the_current_one() {
    let dir = tempfile::tempdir().unwrap();
    let archive = open(dir.path());
    archive.put_many(&[owned("s/a", ("t", "1"), 1), owned("s/b", ("t", "2"), 1)]);
    archive.sync().unwrap();
    drop(archive);
    // Later puts go to pack 2 (as after the first reached PACK_LIMIT).
    let packs = dir.path().join("archive").join(PACKS_DIR);
    std::fs::write(packs.join(pack_name(2)), b"").unwrap();
    let archive = open(dir.path());
    archive.put_many(&[owned("s/c", ("t", "3"), 1), owned("s/d", ("t", "4"), 5_000)]);
    assert_eq!(expire(&archive, &[]), 3);
    assert!(
        !packs.join(pack_name(1)).exists(),
        "no live body left in it"
    );
    assert!(packs.join(pack_name(2)).exists(), "being appended to");
    assert!(present(&archive, "s/d"));
    drop(archive);
    let archive = open(dir.path());
    assert!(present(&archive, "s/d") && !present(&archive, "s/a"));
}

#[test]
fn rows_from_a_version_2_index_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let archive = open(dir.path());
    archive.put_many(&[owned("s/old", ("t", "1"), 1)]);
    archive.sync().unwrap();
    drop(archive);
    // Back to version 2: no retention columns.
    let index = Connection::open(dir.path().join("archive/.packs/index.sqlite")).unwrap();
    index
        .execute_batch(
            "DROP INDEX bodies_by_ts; DROP INDEX bodies_by_pack;
             ALTER TABLE bodies DROP COLUMN source; ALTER TABLE bodies DROP COLUMN entity_type;
             ALTER TABLE bodies DROP COLUMN entity_id; ALTER TABLE bodies DROP COLUMN ts;
             PRAGMA user_version = 2;",
        )
        .unwrap();
    drop(index);
    let archive = open(dir.path());
    assert_eq!(expire(&archive, &[]), 0, "no time known: kept");
    assert!(present(&archive, "s/old"));
    archive.put_many(&[owned("s/new", ("t", "2"), 1)]);
    assert_eq!(expire(&archive, &[]), 1);
}
