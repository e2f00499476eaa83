//! Hostile clients before authentication, and the host's own records,
//! against a real server on loopback: memory, descriptors and disk cannot be
//! exhausted without credentials, host records cannot be forged, and one
//! credential cannot starve the others. Every load here is bounded in
//! connections, bytes and time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Server, Setup, agent, auth_token, rss_bytes, state_change};

const WAIT: Duration = Duration::from_secs(60);
const ADMIN: &str = "tmk_admin_token_for_edge_tests_0123456789";
const PRODUCER_A: &str = "tmk_producer_a_token_for_edge_tests_01234";
const PRODUCER_B: &str = "tmk_producer_b_token_for_edge_tests_01234";

/// A server directory with the standard plugins and rules and `[auth]`
/// with an admin and two producers, after `extra` config.
fn standard_with_tokens(extra: &str) -> Setup {
    let setup = Setup::new().standard();
    setup.config(&format!(
        "{extra}\n{}{}{}",
        auth_token("admin", ADMIN, "admin", ""),
        auth_token("producer-a", PRODUCER_A, "put", ""),
        auth_token("producer-b", PRODUCER_B, "put", ""),
    ));
    setup
}

/// Raise this process's soft descriptor limit to `want` (or its hard limit).
fn raise_nofile(want: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write one rlimit through valid pointers.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < want {
            limit.rlim_cur = want.min(limit.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
}

/// Bytes a directory takes on disk (allocated blocks, not lengths).
fn disk_usage(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.blocks() * 512;
            }
        }
    }
    total
}

fn addr(server: &Server) -> SocketAddr {
    server
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("server address")
}

/// `x-amz-date` for now.
fn amz_now() -> String {
    time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .expect("formats")
}

/// A SigV4-looking header for an access key that does not exist.
fn sigv4_unknown(key_id: &str, amz_date: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={key_id}/{}/us-east-1/events/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature={}",
        &amz_date[..8],
        "0".repeat(64)
    )
}

/// Read an HTTP/1.1 answer's status (None when the connection just closed).
fn read_status(stream: &mut TcpStream, within: Duration) -> Option<u16> {
    stream.set_read_timeout(Some(within)).ok()?;
    let mut buf = [0u8; 512];
    let mut got = Vec::new();
    while !got.windows(2).any(|w| w == b"\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&got);
    line.split_whitespace().nth(1).and_then(|s| s.parse().ok())
}

fn get_as(server: &Server, token: &str, path: &str) -> (u16, Value) {
    let mut r = agent(Duration::from_secs(10))
        .get(&format!("{}{path}", server.url))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .expect("GET");
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (
        r.status().as_u16(),
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn put_events_as(server: &Server, token: &str, entries: &[Value]) -> (u16, Value) {
    let mut r = agent(Duration::from_secs(10))
        .post(&format!("{}/", server.url))
        .header("Authorization", &format!("Bearer {token}"))
        .header("X-Amz-Target", "AWSEvents.PutEvents")
        .header("Content-Type", "application/x-amz-json-1.1")
        .send(json!({ "Entries": entries }).to_string())
        .expect("PutEvents");
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (
        r.status().as_u16(),
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn native_put_as(server: &Server, token: &str, body: &Value) -> (u16, Value) {
    let mut r = agent(Duration::from_secs(10))
        .post(&format!("{}/v1/events", server.url))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .expect("native put");
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (
        r.status().as_u16(),
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn metric(server: &Server, name: &str) -> f64 {
    let (_, body) = get_as(server, ADMIN, "/metrics");
    body.as_str()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0.0)
}

/// Refusals the journal holds, through the query API: one per record, or
/// an aggregate record's `count`.
fn refusals_recorded(server: &Server) -> u64 {
    let (status, body) = get_as(
        server,
        ADMIN,
        "/v1/changes?source=trailmark&entity-type=trailmark.auth-failure&limit=1000",
    );
    assert_eq!(status, 200, "{body}");
    body["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["attributes"]["data.count"].as_u64().unwrap_or(1))
        .sum()
}

#[test]
fn a_thousand_stalled_pre_auth_uploads_do_not_grow_the_server_memory() {
    // Bound: 64 MiB of RSS growth for 1,000 connections that each announce
    // a 2 MiB body and send 256 KiB of it (256 MB if bodies were buffered).
    const BOUND: u64 = 64 << 20;
    const CONNECTIONS: usize = 1000;
    raise_nofile(4096);
    let setup = standard_with_tokens("");
    let server = setup.start();
    let target = addr(&server);
    let pid = server.child.id();
    let amz_date = amz_now();
    let sigv4 = sigv4_unknown("TMKAAAAAAAAAAAAAAAAA", &amz_date);
    let before = rss_bytes(pid);

    let part = Arc::new(vec![b'x'; 256 << 10]);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (part, sigv4, amz_date) = (part.clone(), sigv4.clone(), amz_date.clone());
            std::thread::spawn(move || {
                let mut held = Vec::new();
                for i in (t..CONNECTIONS).step_by(8) {
                    let Ok(mut stream) =
                        TcpStream::connect_timeout(&target, Duration::from_secs(2))
                    else {
                        continue;
                    };
                    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
                    let head = if i % 2 == 0 {
                        format!(
                            "POST / HTTP/1.1\r\nHost: {target}\r\nAuthorization: {sigv4}\r\n\
                             X-Amz-Date: {amz_date}\r\nX-Amz-Target: AWSEvents.PutEvents\r\n\
                             Content-Type: application/x-amz-json-1.1\r\nContent-Length: 2097152\r\n\r\n"
                        )
                    } else {
                        format!(
                            "POST /v1/admin/replay HTTP/1.1\r\nHost: {target}\r\n\
                             Content-Type: application/json\r\nContent-Length: 2097152\r\n\r\n"
                        )
                    };
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(&part);
                    held.push(stream);
                }
                held
            })
        })
        .collect();
    let held: Vec<TcpStream> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("client thread"))
        .collect();
    assert!(
        held.len() >= CONNECTIONS * 9 / 10,
        "{} connected",
        held.len()
    );
    // Give the server time to take in whatever it would buffer.
    std::thread::sleep(Duration::from_secs(1));
    let during = rss_bytes(pid);
    let growth = during.saturating_sub(before);
    assert!(
        growth < BOUND,
        "RSS grew by {} MiB (from {} to {} MiB) under {} stalled pre-auth uploads",
        growth >> 20,
        before >> 20,
        during >> 20,
        held.len()
    );
    drop(held);
    let (status, _) = get_as(&server, ADMIN, "/v1/admin/status");
    assert_eq!(status, 200, "still serving");
}

#[test]
fn a_new_client_is_served_within_the_header_timeout_while_300_slow_connections_hold_a_256_descriptor_server()
 {
    const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
    const SLOW: usize = 300;
    raise_nofile(2048);
    let setup = standard_with_tokens("[server]\nheader-timeout = \"2s\"\nidle-timeout = \"5s\"\n");
    let server = Server::start_with(setup.path(), |cmd| {
        // SAFETY: setrlimit is async-signal-safe; it runs in the child
        // between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: 256,
                    rlim_max: 256,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    let target = addr(&server);
    assert!(
        metric(&server, "trailmark_http_connection_limit") <= 256.0 - 64.0,
        "the default limit leaves descriptors in reserve"
    );

    // 300 connections sending one header byte every second.
    let mut slow: Vec<TcpStream> = (0..SLOW)
        .filter_map(|_| TcpStream::connect_timeout(&target, Duration::from_secs(2)).ok())
        .collect();
    for s in &mut slow {
        let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
        let _ = s.write_all(b"G");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let trickler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let head = b"ET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
            let mut sent = 0;
            while !stop.load(Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                let byte = head.get(sent).copied().unwrap_or(b'a');
                sent += 1;
                for s in &mut slow {
                    let _ = s.write_all(&[byte]);
                }
            }
            slow
        })
    };

    let started = Instant::now();
    let served = loop {
        let ok = agent(Duration::from_millis(500))
            .get(&format!("{}/healthz", server.url))
            .call()
            .is_ok_and(|r| r.status() == 200);
        if ok {
            break Some(started.elapsed());
        }
        if started.elapsed() > HEADER_TIMEOUT * 5 {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    stop.store(true, Relaxed);
    let slow = trickler.join().expect("trickler");
    let served =
        served.expect("the new client was never served while slow connections held the server");
    assert!(
        served <= HEADER_TIMEOUT + Duration::from_secs(1),
        "served after {served:?}; the header timeout is {HEADER_TIMEOUT:?}"
    );
    drop(slow);
    assert!(metric(&server, "trailmark_http_timeouts_total{kind=\"header\"}") >= 1.0);
    assert!(metric(&server, "trailmark_http_connections_refused_total") >= 1.0);
}

#[test]
fn unauthenticated_requests_with_huge_key_ids_grow_the_data_directory_by_under_1_mb() {
    let setup = standard_with_tokens("[server]\nrefusal-interval = \"1s\"\n");
    let server = setup.start();
    let target = addr(&server);
    let data = setup.path().join("data");
    // Let the first start's writes settle.
    std::thread::sleep(Duration::from_millis(500));
    let before = disk_usage(&data);
    let amz_date = amz_now();

    // 300 KB key ids: the head is over the 64 KiB limit (431, or the
    // connection closed while the client still sends).
    let huge = sigv4_unknown(&"A".repeat(300_000), &amz_date);
    // 60 KB key ids fit in the head: refused as unknown, with the id bounded.
    let large = sigv4_unknown(&"B".repeat(60_000), &amz_date);
    for (authorization, expect_refusal) in [(&huge, false), (&large, true)] {
        for _ in 0..100 {
            let mut stream =
                TcpStream::connect_timeout(&target, Duration::from_secs(2)).expect("connect");
            let head = format!(
                "POST / HTTP/1.1\r\nHost: {target}\r\nAuthorization: {authorization}\r\n\
                 X-Amz-Date: {amz_date}\r\nX-Amz-Target: AWSEvents.PutEvents\r\n\
                 Content-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\n\r\n{{}}"
            );
            let _ = stream.write_all(head.as_bytes());
            let status = read_status(&mut stream, Duration::from_secs(5));
            if expect_refusal {
                assert_eq!(status, Some(401));
            } else {
                assert!(matches!(status, Some(431) | None), "{status:?}");
            }
        }
    }
    let (status, body) = put_events_as(
        &server,
        ADMIN,
        &[state_change("doc", "1", "insert", "a", None)],
    );
    assert_eq!(status, 200, "{body}");
    // All 100 refusals are in the journal, counted, before measuring.
    server.wait_until(WAIT, "the refusals journaled and stored", |s| {
        refusals_recorded(s) == 100
    });
    let grown = disk_usage(&data).saturating_sub(before);
    assert!(
        grown < 1 << 20,
        "the data directory grew by {grown} bytes for 200 refused requests"
    );
    let log = server.log();
    assert!(
        !log.contains(&"B".repeat(1000)),
        "no key id is logged whole"
    );
}

#[test]
fn reserved_sources_are_refused_on_both_endpoints() {
    let setup = standard_with_tokens("");
    let server = setup.start();
    let entry = |source: &str| {
        let mut e = state_change("doc", "1", "insert", "mallory", None);
        e["Source"] = json!(source);
        e
    };
    let (status, body) = put_events_as(
        &server,
        PRODUCER_A,
        &[
            entry("trailmark"),
            entry("aws.foo"),
            entry("com.example.ok"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["FailedEntryCount"], 2, "{body}");
    for i in 0..2 {
        assert_eq!(
            body["Entries"][i]["ErrorCode"], "NotAuthorizedForSourceException",
            "{body}"
        );
    }
    assert!(body["Entries"][2]["EventId"].is_string(), "{body}");

    let native = |source: &str| {
        json!({"source": source, "detail-type": "Object State Change",
               "detail": {"entity-type": "trailmark.admin-action", "entity-id": "x",
                          "operation": "insert", "author": "ceo"}})
    };
    let (status, body) = native_put_as(
        &server,
        ADMIN,
        &json!([native("trailmark"), native("aws.foo")]),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["failed"], 2, "{body}");
    for i in 0..2 {
        assert_eq!(body["entries"][i]["error"], "reserved-source", "{body}");
    }
    // Nothing forged reached the trail.
    let (_, changes) = get_as(
        &server,
        ADMIN,
        "/v1/changes?source=trailmark&entity-type=trailmark.admin-action",
    );
    assert!(
        changes["changes"].as_array().is_none_or(|c| c
            .iter()
            .all(|r| r["author"] != "ceo" && r["author"] != "mallory")),
        "{changes}"
    );
}

#[test]
fn a_stalled_body_is_cut_at_the_body_timeout_and_one_principal_cannot_starve_another() {
    const BODY_TIMEOUT: Duration = Duration::from_secs(1);
    let setup = standard_with_tokens(
        "[server]\nbody-timeout = \"1s\"\n[ingest]\nmax-in-flight-per-principal = 2\n",
    );
    let server = setup.start();
    let target = addr(&server);
    let one = json!({"source": "com.example.ok", "detail-type": "t", "detail": {}});

    // Producer A opens two puts whose bodies never complete.
    let started = Instant::now();
    let mut stalled: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s =
                TcpStream::connect_timeout(&target, Duration::from_secs(2)).expect("connect");
            let head = format!(
                "POST /v1/events HTTP/1.1\r\nHost: {target}\r\nAuthorization: Bearer {PRODUCER_A}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"source\":"
            );
            s.write_all(head.as_bytes()).expect("send head");
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));

    // A is at its in-flight limit: its next put is throttled, B's goes on.
    let (status, body) = native_put_as(&server, PRODUCER_A, &one);
    assert_eq!(status, 503, "A over its limit: {body}");
    assert_eq!(body["error"], "busy", "{body}");
    let (status, body) = native_put_as(&server, PRODUCER_B, &one);
    assert_eq!(status, 200, "B is not starved: {body}");

    // The stalled bodies are cut at the body timeout (408) ...
    for s in &mut stalled {
        let status = read_status(s, Duration::from_secs(5));
        assert_eq!(status, Some(408));
    }
    assert!(
        started.elapsed() < BODY_TIMEOUT + Duration::from_secs(3),
        "cut after {:?}",
        started.elapsed()
    );
    // ... and their places are free again.
    let (status, body) = native_put_as(&server, PRODUCER_A, &one);
    assert_eq!(status, 200, "A's permits were freed: {body}");
    assert!(metric(&server, "trailmark_http_timeouts_total{kind=\"body\"}") >= 2.0);
}

#[test]
fn failed_logins_during_a_producer_flood_are_all_in_the_journal() {
    const LOGINS: u64 = 250;
    let setup = standard_with_tokens(
        // Producers are pushed back at the ingest limits (lanes no longer
        // refuse: their backlog waits in the journal), here one request in
        // flight for the flooding principal.
        "[server]\nrefusal-interval = \"500ms\"\n[ingest]\nmax-in-flight-per-principal = 1\n",
    );
    let server = Arc::new(setup.start());
    let stop = Arc::new(AtomicBool::new(false));
    let throttled = Arc::new(AtomicU64::new(0));
    // The flood: four producers for at most three seconds.
    let flood: Vec<_> = (0..4)
        .map(|_| {
            let (server, stop, throttled) = (server.clone(), stop.clone(), throttled.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(3);
                let entries: Vec<Value> = (0..10)
                    .map(|i| state_change("doc", &i.to_string(), "update", "flood", None))
                    .collect();
                while !stop.load(Relaxed) && Instant::now() < deadline {
                    let (status, _) = put_events_as(&server, PRODUCER_A, &entries);
                    if status == 503 {
                        throttled.fetch_add(1, Relaxed);
                    }
                }
            })
        })
        .collect();
    // 250 failed logins during it.
    for i in 0..LOGINS {
        let (status, _) = get_as(&server, &format!("tmk_wrong_{i}"), "/v1/changes");
        assert_eq!(status, 401);
        std::thread::sleep(Duration::from_millis(8));
    }
    stop.store(true, Relaxed);
    for t in flood {
        t.join().expect("producer");
    }
    assert!(
        throttled.load(Relaxed) > 0,
        "the flood made the server push back"
    );
    server.wait_until(WAIT, "250 refusals in the journal", |s| {
        refusals_recorded(s) == LOGINS
    });
    assert_eq!(metric(&server, "trailmark_audit_unrecorded_total"), 0.0);
}

#[test]
fn one_http2_connection_gets_its_stream_limit_and_cannot_pin_memory() {
    // 200 streams each announcing a 2 MiB body and offering 256 KiB of it
    // (50 MB if the server took it all); bound: 64 MiB of RSS growth.
    const BOUND: u64 = 64 << 20;
    const STREAMS: usize = 32;
    let setup = standard_with_tokens("[server]\nbody-timeout = \"2s\"\n");
    let server = setup.start();
    let target = addr(&server);
    let pid = server.child.id();
    let before = rss_bytes(pid);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (answered, growth) = runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect(target)
            .await
            .expect("connect");
        let (client, connection) = h2::client::handshake(tcp).await.expect("h2c handshake");
        let driver = tokio::spawn(connection);
        // Let the server's SETTINGS (its stream limit) arrive.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let chunk = axum::body::Bytes::from(vec![b'x'; 256 << 10]);
        let mut held = Vec::new();
        for _ in 0..200 {
            let ready =
                tokio::time::timeout(Duration::from_millis(500), client.clone().ready()).await;
            let Ok(Ok(mut ready)) = ready else { break };
            // An admin action: the guard reads its body to record it, so an
            // unfinished body holds the stream open.
            let request = axum::http::Request::post(format!("http://{target}/v1/admin/replay"))
                .header("authorization", format!("Bearer {ADMIN}"))
                .header("content-type", "application/json")
                .header("content-length", "2097152")
                .body(())
                .expect("request");
            let Ok((response, mut stream)) = ready.send_request(request, false) else {
                break;
            };
            stream.reserve_capacity(chunk.len());
            let _ = stream.send_data(chunk.clone(), false);
            held.push((response, stream));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let growth = rss_bytes(pid).saturating_sub(before);
        // The server takes 32 streams at a time (the client queues the rest
        // until one ends): after one body timeout, exactly those are cut.
        tokio::time::sleep(Duration::from_millis(2000)).await;
        let mut answered = Vec::new();
        for (response, _) in &mut held {
            if let Ok(outcome) = tokio::time::timeout(Duration::from_millis(1), response).await {
                answered.push(outcome.map(|r| r.status().as_u16()).ok());
            }
        }
        drop(held);
        driver.abort();
        (answered, growth)
    });
    assert_eq!(
        answered,
        vec![Some(408); STREAMS],
        "the first {STREAMS} streams were served (their bodies cut at the timeout), no more"
    );
    assert!(
        growth < BOUND,
        "RSS grew by {} MiB under one HTTP/2 connection",
        growth >> 20
    );
    let (status, _) = get_as(&server, ADMIN, "/v1/admin/status");
    assert_eq!(status, 200, "still serving");
}

#[test]
fn an_idle_http2_connection_is_closed_at_the_idle_timeout() {
    const IDLE: Duration = Duration::from_secs(1);
    let setup = standard_with_tokens("[server]\nidle-timeout = \"1s\"\nheader-timeout = \"5s\"\n");
    let server = setup.start();
    let target = addr(&server);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let closed_after = runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect(target)
            .await
            .expect("connect");
        let (client, connection) = h2::client::handshake(tcp).await.expect("h2c handshake");
        let started = Instant::now();
        let driver = tokio::spawn(connection);
        let request = axum::http::Request::get(format!("http://{target}/healthz"))
            .body(())
            .expect("request");
        let mut client = client.ready().await.expect("ready");
        let (response, _) = client.send_request(request, true).expect("send");
        assert_eq!(response.await.expect("response").status(), 200);
        // Then nothing: the server closes the connection.
        let ended = tokio::time::timeout(IDLE * 5, driver).await;
        assert!(ended.is_ok(), "the idle connection was not closed");
        started.elapsed()
    });
    assert!(
        closed_after >= IDLE && closed_after < IDLE * 4,
        "closed after {closed_after:?}"
    );
    assert!(metric(&server, "trailmark_http_timeouts_total{kind=\"idle\"}") >= 1.0);
}
