//! The default audit pipeline on the AWS backends, against a real
//! AWS-compatible server (moto, started by `cargo xtask test`): only
//! trailmark.toml changes; the rules and plugins are the same.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{
    self, Setup, aws_runtime, book_lifecycle, moto_sdk, moto_url, put_accepted, unique,
};

const WAIT: Duration = Duration::from_secs(90);

/// A queue subscribed to a topic; returns the queue URL.
async fn subscribe_queue(topic_arn: &str, name: &str) -> String {
    let config = moto_sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("url");
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .expect("queue arn");
    aws_sdk_sns::Client::new(&config)
        .subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(arn)
        .send()
        .await
        .expect("subscribe");
    url
}

async fn receive_all(url: &str) -> Vec<Value> {
    let sqs = aws_sdk_sqs::Client::new(&moto_sdk().await);
    let out = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await;
    out.ok()
        .and_then(|o| o.messages)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.body.and_then(|b| serde_json::from_str(&b).ok()))
        .collect()
}

fn bootstrap(setup: &Setup) {
    let out = common::cli(
        setup.path(),
        &["aws", "bootstrap", "--config", "trailmark.toml"],
    );
    assert!(
        out.status.success(),
        "bootstrap failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn default_pipeline_on_s3_dynamodb_and_sns() {
    let bucket = unique("tm-archive");
    let table = unique("tm-changes");
    let topic = unique("tm-admins");
    let topic_arn = format!("arn:aws:sns:us-east-1:123456789012:{topic}");
    let setup = Setup::new().standard();
    setup.config(&format!(
        "[archive]\ntype = \"s3\"\nbucket = \"{bucket}\"\n\n[metadata]\ntype = \"dynamodb\"\ntable = \"{table}\"\n\n\
         [notify.admins]\ntype = \"sns\"\ntopic-arn = \"{topic_arn}\"\n"
    ));
    bootstrap(&setup);
    let rt = aws_runtime();
    let alerts = rt.block_on(subscribe_queue(&topic_arn, &unique("tm-alerts")));

    let server = setup.start();
    put_accepted(&server, &book_lifecycle("aws-1"));

    // Change records in DynamoDB, through the same query API.
    server.wait_until(WAIT, "three change records in DynamoDB", |s| {
        s.changes("entity-type=book&entity-id=aws-1").len() == 3
    });
    assert_eq!(server.changes("author=bob").len(), 1);
    // History with bodies from S3.
    let versions = server.versions("book/aws-1", "");
    assert_eq!(versions.len(), 3, "{versions:?}");
    assert_eq!(
        versions
            .iter()
            .find(|v| v["operation"] == "insert")
            .expect("insert")["body"]["copies"],
        3
    );
    // The delete alert reached SNS, with filterable attributes.
    let mut messages = Vec::new();
    let deadline = std::time::Instant::now() + WAIT;
    while messages.is_empty() && std::time::Instant::now() < deadline {
        messages = rt.block_on(receive_all(&alerts));
    }
    let alert = messages
        .first()
        .unwrap_or_else(|| panic!("no SNS alert arrived; log:\n{}", server.log()));
    assert!(
        alert["Subject"].as_str().unwrap_or("").contains("aws-1"),
        "{alert}"
    );
    assert_eq!(
        alert["MessageAttributes"]["operation"]["Value"], "delete",
        "{alert}"
    );
}

#[test]
fn two_hosts_share_one_queue_and_store_every_event_once() {
    let bucket = unique("tm-archive");
    let table = unique("tm-changes");
    let queue = unique("tm-ingest");
    let queue_url = format!("{}/123456789012/{queue}", moto_url().trim_end_matches('/'));
    let config = format!(
        "[archive]\ntype = \"s3\"\nbucket = \"{bucket}\"\n\n[metadata]\ntype = \"dynamodb\"\ntable = \"{table}\"\n\n\
         [ingest.sqs]\nqueue-url = \"{queue_url}\"\nwait-seconds = 1\n"
    );
    let a = Setup::new();
    let b = Setup::new();
    for s in [&a, &b] {
        s.plugin("archive", "trailmark-plugin-archive")
            .plugin("metadata", "trailmark-plugin-metadata");
        for rule in ["archive.yaml", "metadata.yaml"] {
            std::fs::copy(
                common::workspace().join("rules").join(rule),
                s.path().join("rules").join(rule),
            )
            .expect("rule");
        }
        s.config(&config);
    }
    bootstrap(&a);
    let host_a = a.start();
    let host_b = b.start();

    // 40 events as EventBridge delivers them to an SQS target, 5 of them twice.
    let rt = aws_runtime();
    let ids: Vec<String> = (0..40)
        .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
        .collect();
    rt.block_on(async {
        let sqs = aws_sdk_sqs::Client::new(&moto_sdk().await);
        let bodies: Vec<String> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                json!({
                    "version": "0", "id": id, "detail-type": "Object State Change", "source": "com.example.shared",
                    "account": "123456789012", "time": "2026-11-25T10:00:00Z", "region": "us-east-1", "resources": [],
                    "detail": {"entity-type": "doc", "entity-id": format!("doc-{i}"), "operation": "insert",
                               "ts": 1_764_064_800_000u64 + i as u64, "author": "shared", "data": {"n": i}}
                })
                .to_string()
            })
            .collect();
        // At-least-once delivery upstream: the first 5 messages arrive twice.
        for body in bodies.iter().chain(bodies.iter().take(5)) {
            sqs.send_message().queue_url(&queue_url).message_body(body).send().await.expect("send");
        }
    });
    host_a.wait_until(WAIT, "all 40 events stored once", |s| {
        common::all_change_ids(s, "author=shared")
            .into_iter()
            .collect::<HashSet<_>>()
            .len()
            == 40
    });
    let seen = common::all_change_ids(&host_b, "author=shared");
    assert_eq!(
        seen.len(),
        40,
        "duplicates must be absorbed by the conditional writes: {seen:?}"
    );
    let accepted = |s: &common::Server| s.metric("trailmark_events_accepted_total").unwrap_or(0.0);
    assert!(
        accepted(&host_a) + accepted(&host_b) >= 40.0,
        "the two hosts together took every message"
    );
}

/// `trailmark serve` with this setup's config; it must exit on its own.
fn serve_expecting_failure(setup: &Setup) -> String {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_trailmark"))
        .current_dir(setup.path())
        .args([
            "serve",
            "--config",
            "trailmark.toml",
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start serve");
    let deadline = std::time::Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve kept running although its backends are not reachable");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert!(!status.success(), "serve must fail: {stderr}");
    stderr
}

#[test]
fn serve_refuses_to_start_naming_each_missing_or_unreachable_resource() {
    let bucket = unique("tm-missing");
    let table = unique("tm-missing");
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let setup = Setup::new().standard();
    setup.config(&format!(
        "[archive]\ntype = \"s3\"\nbucket = \"{bucket}\"\n\n\
         [metadata]\ntype = \"dynamodb\"\ntable = \"{table}\"\n\n\
         [notify.admins]\ntype = \"sns\"\ntopic-arn = \"arn:aws:sns:us-east-1:123456789012:t\"\n\
         endpoint = \"http://{closed}\"\n"
    ));
    let stderr = serve_expecting_failure(&setup);
    for expected in [
        "[archive]".to_owned(),
        bucket,
        "[metadata]".to_owned(),
        table,
        "[notify.admins]".to_owned(),
        closed.to_string(),
    ] {
        assert!(
            stderr.contains(&expected),
            "stderr names {expected}:\n{stderr}"
        );
    }
    assert!(
        !setup.path().join("data").join("journal").exists(),
        "nothing was started"
    );
}
