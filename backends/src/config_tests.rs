use std::collections::BTreeMap;

use super::*;
use crate::{ChangeQuery, Event, Notification};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    archive: ArchiveConfig,
    #[serde(default)]
    metadata: MetadataConfig,
    #[serde(default)]
    notify: BTreeMap<String, NotifyConfig>,
    #[serde(default)]
    forward: BTreeMap<String, ForwardConfig>,
}

fn parse(text: &str) -> Result<File, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}

#[test]
fn parses_every_local_backend() {
    let file = parse(
        r#"
        [archive]
        type = "fs"
        path = "data/archive"
        [metadata]
        type = "sqlite"
        synchronous = "normal"
        [notify.admins]
        type = "file"
        path = "data/alerts.jsonl"
        [notify.chat]
        type = "webhook"
        url = "http://127.0.0.1:9/hook"
        timeout = "250ms"
        [notify.console]
        type = "stdout"
        [forward.upstream]
        type = "http"
        url = "http://audit:8080"
        [forward.offline]
        type = "file"
        "#,
    )
    .expect("valid config");
    assert_eq!(
        file.archive,
        ArchiveConfig::Fs {
            path: Some("data/archive".into()),
            layout: ArchiveLayout::Packs,
        }
    );
    assert_eq!(
        file.metadata,
        MetadataConfig::Sqlite {
            path: None,
            synchronous: Some(Synchronous::Normal)
        }
    );
    assert_eq!(
        file.notify["chat"],
        NotifyConfig::Webhook {
            url: "http://127.0.0.1:9/hook".into(),
            timeout: Duration::from_millis(250)
        }
    );
    assert_eq!(file.notify["console"], NotifyConfig::Stdout {});
    assert_eq!(
        file.forward["upstream"],
        ForwardConfig::Http {
            url: "http://audit:8080".into(),
            timeout: Duration::from_secs(5),
            token: None
        }
    );
    assert_eq!(file.forward["offline"], ForwardConfig::File { path: None });
}

#[test]
fn missing_tables_default_to_fs_and_sqlite() {
    let file = parse("").expect("empty config");
    assert_eq!(file.archive, ArchiveConfig::default());
    assert_eq!(file.metadata, MetadataConfig::default());
}

#[test]
fn unknown_keys_types_and_bad_durations_are_refused_with_a_reason() {
    let cases = [
        ("[archive]\ntype = \"fs\"\npth = \"x\"", "pth"),
        ("[archive]\ntype = \"s3\"", "s3"),
        ("[archive]\npath = \"x\"", "type"),
        (
            "[metadata]\ntype = \"sqlite\"\nsynchronous = \"off\"",
            "off",
        ),
        ("[notify.a]\ntype = \"stdout\"\npath = \"x\"", "path"),
        ("[notify.a]\ntype = \"webhook\"", "url"),
        (
            "[notify.a]\ntype = \"webhook\"\nurl = \"http://x\"\ntimeout = \"5\"",
            "duration",
        ),
        (
            "[notify.a]\ntype = \"webhook\"\nurl = \"http://x\"\ntimeout = \"0s\"",
            "more than zero",
        ),
        (
            "[forward.a]\ntype = \"http\"\nurl = \"http://x\"\nretries = 3",
            "retries",
        ),
    ];
    for (text, expected) in cases {
        match parse(text) {
            Err(message) => assert!(message.contains(expected), "{text:?}: {message}"),
            Ok(file) => panic!("{text:?} should be refused, got {file:?}"),
        }
    }
}

#[test]
fn built_backends_work_under_the_data_dir() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path();
    let archive = ArchiveConfig::default().build(data).expect("archive");
    archive.put("k", b"v", "text/plain").expect("put");
    assert!(data.join("archive/.packs/index.sqlite").is_file());
    assert_eq!(archive.get("k").expect("get"), Some(b"v".to_vec()));

    let metadata = MetadataConfig::default().build(data).expect("metadata");
    assert!(
        metadata
            .query(&ChangeQuery::default())
            .expect("query")
            .records
            .is_empty()
    );
    assert!(data.join("metadata.sqlite").is_file());

    let notifier = NotifyConfig::File { path: None }
        .build(data)
        .expect("notify");
    notifier
        .publish(&Notification {
            channel: "admins".into(),
            subject: "s".into(),
            message: "m".into(),
            attributes: vec![],
        })
        .expect("publish");
    assert!(data.join("notifications.jsonl").is_file());

    let forwarder = ForwardConfig::File {
        path: Some(data.join("out.jsonl")),
    }
    .build(data)
    .expect("forward");
    let event: Event = serde_json::from_str(
        r#"{"id":"e","source":"s","detail-type":"t","time":"2026-01-01T00:00:00Z",
            "account":"1","region":"r","detail":"{}"}"#,
    )
    .expect("event");
    forwarder.send(&event).expect("send");
    assert!(data.join("out.jsonl").is_file());

    let bad = NotifyConfig::Webhook {
        url: "nope".into(),
        timeout: Duration::from_secs(1),
    };
    assert!(matches!(
        bad.build(data),
        Err(crate::BackendError::Invalid(_))
    ));
}

#[test]
fn archive_layout_is_packs_unless_files_is_asked_for() {
    #[derive(serde::Deserialize)]
    struct File {
        archive: ArchiveConfig,
    }
    let read = |text: &str| toml::from_str::<File>(text).map(|f| f.archive);
    let files = read("[archive]\ntype = \"fs\"\nlayout = \"files\"\n").expect("files");
    assert_eq!(
        files,
        ArchiveConfig::Fs {
            path: None,
            layout: ArchiveLayout::Files
        }
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let store = files.build(dir.path()).expect("build");
    store
        .put("a/1.json", b"{}", "application/json")
        .expect("put");
    assert!(dir.path().join("archive/a/1.json").is_file());
    let packs = ArchiveConfig::default().build(dir.path()).expect("packs");
    assert_eq!(packs.get("a/1.json").expect("get"), Some(b"{}".to_vec()));
    let e = read("[archive]\ntype = \"fs\"\nlayout = \"zip\"\n").expect_err("unknown");
    assert!(e.to_string().contains("packs"), "{e}");
}
