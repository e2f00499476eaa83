use std::collections::BTreeMap;

use super::*;
use crate::{ChangeQuery, Durability, Event, Notification};
use trailmark_backend_api::registry::{BuildContext, Registry};

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
    let archive = ArchiveConfig::default()
        .build(&BuildContext::durable(data))
        .expect("archive");
    archive.put("k", b"v", "text/plain").expect("put");
    assert!(data.join("archive/.packs/index.sqlite").is_file());
    assert_eq!(archive.get("k").expect("get"), Some(b"v".to_vec()));

    let metadata = MetadataConfig::default()
        .build(&BuildContext::durable(data))
        .expect("metadata");
    assert!(
        metadata
            .query(&ChangeQuery::default())
            .expect("query")
            .records
            .is_empty()
    );
    assert!(data.join("metadata.sqlite").is_file());

    let notifier = NotifyConfig::File { path: None }
        .build(&BuildContext::durable(data))
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
    .build(&BuildContext::durable(data))
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
        bad.build(&BuildContext::durable(data)),
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
    let store = files
        .build(&BuildContext::durable(dir.path()))
        .expect("build");
    store
        .put("a/1.json", b"{}", "application/json")
        .expect("put");
    assert!(dir.path().join("archive/a/1.json").is_file());
    let packs = ArchiveConfig::default()
        .build(&BuildContext::durable(dir.path()))
        .expect("packs");
    assert_eq!(packs.get("a/1.json").expect("get"), Some(b"{}".to_vec()));
    let e = read("[archive]\ntype = \"fs\"\nlayout = \"zip\"\n").expect_err("unknown");
    assert!(e.to_string().contains("packs"), "{e}");
}

#[test]
fn each_registered_type_name_is_one_of_its_configs_tags() {
    let mut r = Registry::default();
    register(&mut r).expect("a fresh registry");
    assert_eq!(r.archive.names(), ["fs"]);
    assert_eq!(r.metadata.names(), ["sqlite"]);
    assert_eq!(r.notify.names(), ["file", "webhook", "stdout"]);
    assert_eq!(r.forward.names(), ["http", "file"]);
    let table = |name: &str| {
        let mut t = toml::Table::new();
        t.insert("type".into(), toml::Value::String(name.into()));
        t
    };
    // Every name reaches its enum: the table is accepted, or refused for a
    // missing key of that variant, never as an unknown variant.
    let known = |result: Result<(), String>, name: &str| match result {
        Ok(()) => {}
        Err(e) => assert!(e.contains("missing field `url`"), "{name}: {e}"),
    };
    for name in r.archive.names() {
        known(r.archive.read(table(name)).map(drop), name);
    }
    for name in r.metadata.names() {
        known(r.metadata.read(table(name)).map(drop), name);
    }
    for name in r.notify.names() {
        known(r.notify.read(table(name)).map(drop), name);
    }
    for name in r.forward.names() {
        known(r.forward.read(table(name)).map(drop), name);
    }
}

#[test]
fn registered_sections_build_under_the_data_dir_and_name_their_files() {
    let mut r = Registry::default();
    register(&mut r).expect("a fresh registry");
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path();
    let table = |text: &str| toml::from_str::<toml::Table>(text).expect("toml");
    let archive = r.archive.read(table("type = \"fs\"")).expect("fs");
    assert_eq!(archive.local_path(data), Some(data.join("archive")));
    let context = BuildContext::new(data, Durability::Batched);
    archive
        .build(&context)
        .expect("build")
        .put("k", b"v", "text/plain")
        .expect("put");
    let metadata = r
        .metadata
        .read(table("type = \"sqlite\"\npath = \"m.sqlite\""))
        .expect("sqlite");
    assert_eq!(metadata.local_path(data), Some(PathBuf::from("m.sqlite")));
    let channel = r.notify.read(table("type = \"stdout\"")).expect("stdout");
    assert_eq!(channel.local_path(data), None);
    assert!(channel.config::<NotifyConfig>().is_some());
}
