//! The AWS-compatible server goes away mid-stream and comes back: the
//! archive (S3) and metadata (DynamoDB) deliveries retry, then every event
//! is delivered, once, with no dead letters.
//!
//! The outage is a loopback proxy between the server and moto (started by
//! `cargo xtask test`) that resets every connection and refuses new ones
//! while "down", as a host that is unreachable does; moto itself, which
//! other tests share and which keeps its data only in memory, stays up.
//! The outage lasts until both rules have retried, then 5 s more, with the
//! load running (the 30 s would add half a minute to CI and
//! exercise nothing more: the retries back off to at most `retry-max`).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::load::{self, Load};
use crate::common::{self, Server, Setup};

const WAIT: Duration = Duration::from_secs(120);

/// A TCP proxy to `upstream` that can be taken down and brought back.
struct Proxy {
    addr: SocketAddr,
    down: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let down = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (is_down, conns) = (down.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                if is_down.load(Relaxed) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let mut conns = conns.lock().expect("conns");
                for s in [&client, &server] {
                    if let Ok(s) = s.try_clone() {
                        conns.push(s);
                    }
                }
                pipe(&client, &server);
                pipe(&server, &client);
            }
        });
        Proxy { addr, down, open }
    }

    /// Reset every open connection and refuse new ones until [`Proxy::up`].
    fn down(&self) {
        self.down.store(true, Relaxed);
        for s in self.open.lock().expect("conns").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn up(&self) {
        self.down.store(false, Relaxed);
    }
}

/// Copy `from` to `to` on a thread until either end closes.
fn pipe(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

fn retries(server: &Server, rule: &str) -> f64 {
    server.retries(rule).unwrap_or(0.0)
}

#[test]
fn an_aws_outage_mid_stream_ends_with_every_event_delivered_once() {
    let moto = crate::common::moto_url();
    let upstream: SocketAddr = moto
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("moto's address");
    let proxy = Proxy::start(upstream);
    let unique = format!("{}-{}", std::process::id(), fastrand::u32(..));
    let setup = Setup::new().standard();
    setup.config(&format!(
        "[archive]\ntype = \"s3\"\nbucket = \"tm-outage-{unique}\"\n\n\
         [metadata]\ntype = \"dynamodb\"\ntable = \"tm-outage-{unique}\"\n\n\
         [dispatch]\nretry-max = \"1s\"\n"
    ));
    // The bucket and table, made straight at moto.
    common::assert_success(&common::cli(
        setup.path(),
        &["aws", "bootstrap", "--config", "trailmark.toml"],
    ));
    let proxied = format!("http://{}", proxy.addr);
    let server = Server::start_with(setup.path(), |cmd| {
        cmd.env("AWS_ENDPOINT_URL", &proxied)
            .env("TRAILMARK_MOTO_URL", &proxied);
    });
    // Paced to about 50 events/s: moto stores some 50 a second.
    let load = Load::paced(&server, 1, "awsdown", Duration::from_millis(100));
    load.wait_for_more(50, WAIT, &server);

    proxy.down();
    server.wait_until(WAIT, "retries of both AWS rules", |s| {
        retries(s, "archive") > 0.0 && retries(s, "metadata") > 0.0
    });
    let down_until = Instant::now() + Duration::from_secs(5);
    server.wait_until(WAIT, "the rest of the outage", |_| {
        Instant::now() >= down_until
    });
    proxy.up();
    load.wait_for_more(50, WAIT, &server);
    let acked = load.stop();
    load::wait_drained(&server, WAIT);
    load::assert_each_change_once(&server, "awsdown", &acked, WAIT);
    assert!(
        server.dead_letters().is_empty(),
        "{:?}",
        server.dead_letters()
    );
}
