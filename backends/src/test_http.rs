//! A scripted HTTP/1.1 server on loopback for tests: answers each request,
//! on any connection, with the next scripted reply, and records what it was
//! sent. One file for the workspace: `trailmark-backends-aws` includes it too
//! (its unit tests and its `tests/aws`), for a scripted PutEvents endpoint.
//!
//! ```ignore
//! let server = TestServer::start(vec![Reply::status(503), Reply::status(204)]);
//! // … point a client at server.url("/hooks") …
//! assert_eq!(server.request(1).method, "POST");
//! ```

// Each crate that includes this file uses a different part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// One scripted answer.
pub(crate) struct Reply {
    status: u16,
    content_type: Option<&'static str>,
    body: String,
    delay: Duration,
    headers: Vec<(String, String)>,
}

impl Reply {
    pub(crate) fn status(status: u16) -> Self {
        Reply {
            status,
            content_type: None,
            body: String::new(),
            delay: Duration::ZERO,
            headers: Vec::new(),
        }
    }

    /// `200` with `body` as an AWS JSON 1.1 answer.
    pub(crate) fn aws_json(body: &Value) -> Self {
        Reply {
            content_type: Some("application/x-amz-json-1.1"),
            ..Reply::status(200).body(&body.to_string())
        }
    }

    pub(crate) fn body(mut self, body: &str) -> Self {
        self.body = body.to_owned();
        self
    }

    /// Answer with one more header (a 3xx with `location` goes there).
    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Wait this long before answering.
    pub(crate) fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// One request as received.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// When its head arrived.
    pub(crate) at: Instant,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

/// What answers a request: a reply, or `None` to close the connection.
type Handler = dyn Fn(&Request) -> Option<Reply> + Send + Sync;

pub(crate) struct TestServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl TestServer {
    /// Serve `replies` in order, one a request, over as many (keep-alive)
    /// connections as clients open. Once they run out, a connection that
    /// sends another request is closed unanswered.
    pub(crate) fn start(replies: Vec<Reply>) -> Self {
        let replies = Mutex::new(replies.into_iter());
        Self::serve(move |_| replies.lock().expect("replies").next())
    }

    /// Answer each request with what `handler` makes of it (a server that
    /// checks what it is sent: a token endpoint, an API behind a bearer
    /// token); `None` closes the connection unanswered.
    pub(crate) fn serve(
        handler: impl Fn(&Request) -> Option<Reply> + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let seen = Arc::clone(&requests);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let handler = Arc::clone(&handler);
                let seen = Arc::clone(&seen);
                thread::spawn(move || answer(stream, &*handler, &seen));
            }
        });
        TestServer { addr, requests }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// How many requests arrived so far.
    pub(crate) fn received(&self) -> usize {
        self.requests.lock().expect("requests").len()
    }

    /// The `i`th request received, waiting up to 5 s for it.
    pub(crate) fn request(&self, i: usize) -> Request {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(r) = self.requests.lock().expect("requests").get(i) {
                return r.clone();
            }
            assert!(Instant::now() < deadline, "request {i} never arrived");
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every request body received so far, parsed as JSON (`Null` if not).
    pub(crate) fn json_bodies(&self) -> Vec<Value> {
        self.requests
            .lock()
            .expect("requests")
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
            .collect()
    }
}

/// Answer the requests on one connection until it closes or the replies run out.
fn answer(stream: TcpStream, handler: &Handler, seen: &Mutex<Vec<Request>>) {
    if stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .is_err()
    {
        return;
    }
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader) {
        let reply = handler(&request);
        seen.lock().expect("requests").push(request);
        let Some(reply) = reply else {
            return;
        };
        thread::sleep(reply.delay);
        let own_location = reply
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("location"));
        let location = if (300..400).contains(&reply.status) && !own_location {
            "location: http://127.0.0.1:9/elsewhere\r\n"
        } else {
            ""
        };
        let content_type = reply
            .content_type
            .map(|t| format!("content-type: {t}\r\n"))
            .unwrap_or_default();
        let extra: String = reply
            .headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}\r\n"))
            .collect();
        let written = write!(
            writer,
            "HTTP/1.1 {} Scripted\r\ncontent-length: {}\r\n{content_type}{location}{extra}\r\n{}",
            reply.status,
            reply.body.len(),
            reply.body
        );
        if written.is_err() {
            return;
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let at = Instant::now();
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
        at,
    })
}
