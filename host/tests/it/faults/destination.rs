//! A webhook receiver on loopback whose behaviour a test switches while it
//! runs: answer at once, answer after a delay (a slow consumer), or hang
//! (read the request, never answer: the sender's timeout must end it). It
//! keeps the id of every event it answered 2xx for, so a test can tell
//! what was delivered and how often.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::common::Setup;

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    /// 200 at once.
    Answer,
    /// 200 after this long.
    Delay(Duration),
    /// Never: the request is read and the connection held until the mode
    /// changes, then closed unanswered.
    Hang,
}

#[derive(Debug)]
struct State {
    mode: Mutex<Mode>,
    /// Ids of the events answered 200, in order, repeats kept.
    delivered: Mutex<Vec<String>>,
    /// Requests read, answered or not.
    requests: AtomicU64,
}

/// The receiver; it stops serving when the test process ends.
pub(crate) struct Destination {
    addr: SocketAddr,
    state: Arc<State>,
}

impl Destination {
    pub(crate) fn start(mode: Mode) -> Destination {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("address");
        let state = Arc::new(State {
            mode: Mutex::new(mode),
            delivered: Mutex::default(),
            requests: AtomicU64::new(0),
        });
        let serving = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let state = serving.clone();
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        Destination { addr, state }
    }

    /// Answer this way from now on.
    pub(crate) fn set(&self, mode: Mode) {
        *self.state.mode.lock().expect("mode") = mode;
    }

    /// Install the standard `webhook` plugin in `setup` and this receiver
    /// as destination `name` (`rules/destinations/<name>.yaml`), each call
    /// given up after `timeout`; the rule that uses it is the caller's.
    pub(crate) fn install(&self, setup: &Setup, name: &str, timeout: &str) {
        setup.plugin("webhook", "trailmark-plugin-webhook");
        let dir = setup.path().join("rules/destinations");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let yaml = format!(
            "name: {name}\nurl: http://{}\nallow-http: true\ntimeout: {timeout}\nrate: 100000\n",
            self.addr
        );
        std::fs::write(dir.join(format!("{name}.yaml")), yaml).expect("write destination");
    }

    /// [`install`](Self::install) it as `name`, with a `webhook` test rule of
    /// the same name delivering to it; `config` is more of the rule's config
    /// keys, e.g. `", batch: true"`.
    pub(crate) fn install_with_rule(&self, setup: &Setup, name: &str, timeout: &str, config: &str) {
        self.install(setup, name, timeout);
        setup.test_rule(
            name,
            "webhook",
            &format!("grants: {{http: [{name}]}}\nconfig: {{destination: {name}{config}}}\n"),
        );
    }

    /// Ids of the events answered 200 so far, repeats kept.
    pub(crate) fn delivered(&self) -> Vec<String> {
        self.state.delivered.lock().expect("delivered").clone()
    }

    /// Every event of `acked` was answered 200 exactly once.
    pub(crate) fn assert_each_once(&self, acked: &HashSet<String>) {
        let mut times: HashMap<String, usize> = HashMap::new();
        for id in self.delivered() {
            *times.entry(id).or_default() += 1;
        }
        for id in acked {
            assert_eq!(times.get(id), Some(&1), "event {id} at the receiver");
        }
    }

    /// Requests read so far, answered or not.
    pub(crate) fn requests(&self) -> u64 {
        self.state.requests.load(Relaxed)
    }
}

fn mode(state: &State) -> Mode {
    *state.mode.lock().expect("mode")
}

/// Serve one keep-alive connection.
fn serve(stream: TcpStream, state: &State) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    while let Some(body) = read_request(&mut reader) {
        state.requests.fetch_add(1, Relaxed);
        match mode(state) {
            Mode::Hang => {
                while mode(state) == Mode::Hang {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return;
            }
            Mode::Delay(d) => std::thread::sleep(d),
            Mode::Answer => {}
        }
        if writer
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let events = match body {
            Value::Array(events) => events,
            event => vec![event],
        };
        let mut delivered = state.delivered.lock().expect("delivered");
        delivered.extend(
            events
                .iter()
                .filter_map(|e| e["id"].as_str().map(str::to_owned)),
        );
    }
}

/// Read one request; its body, or None at the end of the connection.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut length = 0usize;
    let mut first = true;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            if first {
                continue;
            }
            break;
        }
        first = false;
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(body)
}
