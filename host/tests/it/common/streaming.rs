//! Clients that put events to a server from threads until told to stop,
//! keeping the ids it acknowledged: the load a crash test kills a server
//! under.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde_json::Value;

use super::{Client, Server};

/// PutEvents batches streamed from threads until [`Streaming::stop`], or
/// until the server goes away.
pub(crate) struct Streaming {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    acked: Arc<Mutex<HashSet<String>>>,
}

impl Streaming {
    /// Start `streams` threads putting to `server` in batches of `batch`
    /// entries; `entry(stream, n)` is a stream's `n`th entry (from 1).
    pub(crate) fn start<F>(server: &Server, streams: usize, batch: usize, entry: F) -> Streaming
    where
        F: Fn(usize, u32) -> Value + Send + Sync + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
        let entry = Arc::new(entry);
        let threads = (0..streams)
            .map(|stream| {
                let client = Client::new(&server.url, server.token());
                let (acked, stop, entry) = (acked.clone(), stop.clone(), entry.clone());
                std::thread::spawn(move || {
                    let mut n = 0u32;
                    while !stop.load(Ordering::Relaxed) {
                        let entries: Vec<Value> = (0..batch)
                            .map(|_| {
                                n += 1;
                                entry(stream, n)
                            })
                            .collect();
                        match client.try_put(&entries) {
                            Some(ids) => acked.lock().expect("lock").extend(ids),
                            None => break, // the server is gone
                        }
                    }
                })
            })
            .collect();
        Streaming {
            stop,
            threads,
            acked,
        }
    }

    /// How many events were acknowledged so far.
    pub(crate) fn acked(&self) -> usize {
        self.acked.lock().expect("lock").len()
    }

    /// Stop and wait for the threads; the acknowledged ids.
    pub(crate) fn stop(self) -> HashSet<String> {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().expect("streamer");
        }
        self.acked.lock().expect("lock").clone()
    }
}
