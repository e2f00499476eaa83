//! Encryption at rest on AWS (#18), against moto (started by `cargo xtask test`):
//! - AWS KMS as the key-encryption key: the journal's, the archive's and the dead
//!   letters' data keys are sealed by a KMS key; nothing under the data directory holds
//!   a body field or the author, no key file is written, `trailmark verify` opens every
//!   record through KMS, and a restart reads everything back;
//! - an S3 archive holds the bodies sealed, and history reads them.

use std::path::PathBuf;
use std::time::Duration;

use crate::common::{
    Setup, aws_runtime, cli, files_containing, moto_bucket, moto_s3, moto_sdk, moto_url,
    put_accepted, stdout_json,
};
use crate::encryption::{
    AUTHOR, BODY, assert_personal_events_read, personal_events, wait_archived_and_dead_lettered,
};

/// A new symmetric key in moto's KMS: its id.
fn create_kms_key() -> String {
    aws_runtime().block_on(async {
        aws_sdk_kms::Client::new(&moto_sdk().await)
            .create_key()
            .description("trailmark it")
            .send()
            .await
            .expect("create key")
            .key_metadata
            .expect("key metadata")
            .key_id
    })
}

/// Every `.dek` file under `dir`.
fn data_key_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("list") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            found.extend(data_key_files(&path));
        } else if path.extension().is_some_and(|x| x == "dek") {
            found.push(path);
        }
    }
    found
}

#[test]
fn a_kms_key_seals_the_journal_the_archive_and_the_dead_letters() {
    let key_id = create_kms_key();
    let setup = Setup::new().standard();
    setup.plugin("rejecter", "fixture-rejecter");
    setup.test_rule("reject", "rejecter", "");
    setup.config(&format!(
        "[subjects]\npaths = [\"author\"]\n[lake]\nenabled = false\n\
         [encryption]\nenabled = true\n\
         [encryption.kms]\nkey-id = \"{key_id}\"\nregion = \"us-east-1\"\nendpoint = \"{}\"\n",
        moto_url()
    ));
    let root = setup.path();
    let server = setup.start();
    put_accepted(&server, &personal_events());
    wait_archived_and_dead_lettered(&server, Duration::from_secs(60));
    assert_personal_events_read(&server);
    assert!(server.stop().success());

    let data = root.join("data");
    assert_eq!(files_containing(&data, BODY), Vec::<PathBuf>::new());
    assert_eq!(files_containing(&data, AUTHOR), Vec::<PathBuf>::new());
    assert!(
        !data.join("encryption.kek").exists(),
        "no key file with KMS"
    );
    let keys = data_key_files(&data);
    assert!(keys.len() >= 3, "journal, archive, dead letters: {keys:?}");
    for key in &keys {
        let sealed: serde_json::Value =
            serde_json::from_slice(&std::fs::read(key).expect("read")).expect("json");
        assert_eq!(sealed["kek"], key_id.as_str(), "{}", key.display());
    }

    let out = cli(root, &["verify", "--data", "data", "--output", "json"]);
    let r = stdout_json(&out);
    assert_eq!(out.status.code(), Some(0), "{r}");
    assert_eq!(r["encryption"]["opened"], r["encryption"]["records"], "{r}");

    let out = cli(root, &["keys", "rotate", "--data", "data"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("KMS rotates"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let server = setup.start();
    assert_personal_events_read(&server);
}

#[test]
fn an_s3_archive_holds_the_bodies_sealed_and_history_reads_them() {
    let bucket = moto_bucket("tm-sealed");
    let rt = aws_runtime();
    let setup = Setup::new().standard();
    setup.config(&format!(
        "[archive]\ntype = \"s3\"\nbucket = \"{bucket}\"\nregion = \"us-east-1\"\nendpoint = \"{}\"\n\
         [lake]\nenabled = false\n[encryption]\nenabled = true\nkey-file = \"keys/trail.kek\"\n",
        moto_url()
    ));
    let server = setup.start();
    put_accepted(&server, &personal_events());
    server.wait_until(Duration::from_secs(60), "the bodies in S3", |s| {
        (0..3).all(|i| {
            s.versions(&format!("patient/p-{i}"), "")
                .first()
                .is_some_and(|v| !v["body"].is_null())
        })
    });
    assert_eq!(server.versions("patient/p-1", "")[0]["body"]["ssn"], BODY);

    let objects = rt.block_on(async {
        let client = moto_s3(&moto_sdk().await);
        let listed = client
            .list_objects_v2()
            .bucket(&bucket)
            .send()
            .await
            .expect("list");
        let mut objects = Vec::new();
        for object in listed.contents() {
            let key = object.key().expect("key").to_owned();
            let body = client
                .get_object()
                .bucket(&bucket)
                .key(&key)
                .send()
                .await
                .expect("get")
                .body
                .collect()
                .await
                .expect("read")
                .into_bytes();
            objects.push((key, body.to_vec()));
        }
        objects
    });
    assert_eq!(
        objects.len(),
        3,
        "{:?}",
        objects.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    for (key, body) in &objects {
        assert!(body.starts_with(b"\0tmseal1"), "{key}: not sealed");
        assert!(
            !body.windows(BODY.len()).any(|w| w == BODY.as_bytes()),
            "{key}: holds the plaintext"
        );
    }
}
