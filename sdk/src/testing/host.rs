//! The in-memory host: runs a plugin on batches and records what it does.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::Batch;
use crate::log::Level;
use crate::{HostError, HttpRequest, HttpResponse, Plugin, PluginError};

/// How a delivery ended, as the in-memory host saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Answered `ok`.
    Ok,
    /// Answered `retry` with this message.
    Retry(String),
    /// Answered `reject` with this message.
    Reject(String),
    /// `handle` returned without answering it (the host retries it).
    Unanswered,
    /// The plugin panicked (the instance trapped) before answering it; the
    /// panic's message.
    Trapped(String),
}

/// A capability call the plugin made, with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `archive.put`.
    ArchivePut {
        /// The delivery it was made for.
        index: u32,
        /// The key.
        key: String,
        /// The body.
        body: Vec<u8>,
        /// The content type.
        content_type: String,
    },
    /// `archive.get`.
    ArchiveGet {
        /// The delivery it was made for.
        index: u32,
        /// The key.
        key: String,
    },
    /// `metadata.put`.
    MetadataPut {
        /// The delivery it was made for.
        index: u32,
        /// Where the body was archived.
        archive_key: Option<String>,
        /// The attributes' JSON text.
        attributes: String,
    },
    /// `notify.publish`.
    Notify {
        /// The delivery it was made for.
        index: u32,
        /// The channel.
        channel: String,
        /// The subject.
        subject: String,
        /// The message.
        message: String,
        /// The attributes.
        attributes: Vec<(String, String)>,
    },
    /// `forward.send`.
    Forward {
        /// The delivery it was made for.
        index: u32,
        /// The destination.
        destination: String,
        /// The replacement detail, if any.
        detail: Option<String>,
        /// The replacement resources, if any.
        resources: Option<Vec<String>>,
    },
    /// `http.send`.
    Http {
        /// The delivery it was made for.
        index: u32,
        /// The request as the plugin made it.
        request: HttpRequest,
    },
    /// `log.write`.
    Log {
        /// The level.
        level: Level,
        /// The message.
        message: String,
    },
}

/// A capability of the host, to make its calls fail with [`Host::fail`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// `archive.put` and `archive.get`.
    Archive,
    /// `metadata.put`.
    Metadata,
    /// `notify.publish`.
    Notify,
    /// `forward.send`.
    Forward,
    /// `http.send`.
    Http,
}

/// An in-memory host: runs a plugin on batches, records each capability
/// call and answer, and keeps archived bodies so `archive_get` finds what
/// `archive_put` stored (a different body under a stored key is refused as
/// `invalid`, as the real archive does).
#[derive(Debug, Default)]
pub struct Host {
    calls: Vec<Call>,
    archive: HashMap<String, Vec<u8>>,
    failures: HashMap<Capability, HostError>,
    http_answers: VecDeque<Result<HttpResponse, HostError>>,
    answers: Vec<Answer>,
}

thread_local! {
    /// The host of the plugin call running on this thread, if any.
    static CURRENT: RefCell<Option<Host>> = const { RefCell::new(None) };
}

impl Host {
    /// A host with an empty archive and nothing recorded.
    pub fn new() -> Self {
        Self::default()
    }

    /// Initialize `P` with the rule's `config` (JSON text) as the host's
    /// `init` would, then handle `batch`; returns the answer of each delivery.
    pub fn run<P: Plugin>(&mut self, config: &str, batch: &Batch) -> Vec<Answer> {
        let instance = self.init::<P>(config);
        self.handle(&instance, batch)
    }

    /// Initialize `P` with the rule's `config` (JSON text), as the host's
    /// `init` does: the config parsed once, then [`Plugin::new`] (which may
    /// log). Keep the instance to [`handle`](Self::handle) several batches.
    ///
    /// # Panics
    ///
    /// If [`Plugin::new`] panics (in a component, `init` would trap).
    pub fn init<P: Plugin>(&mut self, config: &str) -> Result<P, PluginError> {
        match self.installed(|| crate::__private::init::<P>(config.to_owned())) {
            Ok(instance) => instance,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Handle `batch` with an instance made by [`init`](Self::init); returns
    /// the answer of each delivery. A panic is caught as a trap would be:
    /// the deliveries it left unanswered are [`Answer::Trapped`].
    pub fn handle<P: Plugin>(
        &mut self,
        instance: &Result<P, PluginError>,
        batch: &Batch,
    ) -> Vec<Answer> {
        self.answers = vec![Answer::Unanswered; batch.len()];
        let result = self.installed(|| crate::__private::handle(Some(instance), batch.wit()));
        if let Err(panic) = result {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic without a message".to_owned());
            for answer in &mut self.answers {
                if *answer == Answer::Unanswered {
                    *answer = Answer::Trapped(message.clone());
                }
            }
        }
        std::mem::take(&mut self.answers)
    }

    /// Run `f` with this host installed as the thread's, so the capability
    /// calls it makes land here; a panic in `f` is caught and returned.
    fn installed<T>(&mut self, f: impl FnOnce() -> T) -> std::thread::Result<T> {
        let previous = CURRENT.replace(Some(std::mem::take(self)));
        let result = catch_unwind(AssertUnwindSafe(f));
        *self = CURRENT
            .replace(previous)
            .expect("the host stays installed while the plugin runs");
        result
    }

    /// Make every later call of `capability` fail with `error`.
    pub fn fail(&mut self, capability: Capability, error: HostError) -> &mut Self {
        self.failures.insert(capability, error);
        self
    }

    /// Answer the next `http.send` calls with `answers`, in order; once
    /// they run out, each call gets `200` with an empty body.
    pub fn http_answers(
        &mut self,
        answers: impl IntoIterator<Item = Result<HttpResponse, HostError>>,
    ) -> &mut Self {
        self.http_answers.extend(answers);
        self
    }

    /// The requests the plugin sent with `http.send`, in order.
    pub fn http_requests(&self) -> Vec<&HttpRequest> {
        self.calls
            .iter()
            .filter_map(|call| match call {
                Call::Http { request, .. } => Some(request),
                _ => None,
            })
            .collect()
    }

    /// The capability calls made so far, in order.
    pub fn calls(&self) -> &[Call] {
        &self.calls
    }

    /// Forget the calls made so far (the archive keeps its bodies).
    pub fn take_calls(&mut self) -> Vec<Call> {
        std::mem::take(&mut self.calls)
    }

    /// The body archived under `key`, if any.
    pub fn archived(&self, key: &str) -> Option<&[u8]> {
        self.archive.get(key).map(Vec::as_slice)
    }

    /// Store `body` under `key` before the plugin runs, as if archived earlier.
    pub fn archive(&mut self, key: &str, body: &[u8]) -> &mut Self {
        self.archive.insert(key.to_owned(), body.to_vec());
        self
    }

    fn check(&self, capability: Capability) -> Result<(), HostError> {
        self.failures.get(&capability).cloned().map_or(Ok(()), Err)
    }
}

/// The imports the SDK calls natively (see `host.rs`): each one records on
/// the thread's [`Host`].
pub(crate) mod imports {
    use super::{
        Answer, CURRENT, Call, Capability, Host, HostError, HttpRequest, HttpResponse, Level,
    };
    use crate::bindings::trailmark::plugin::types::Outcome;

    fn with<T>(call: &str, f: impl FnOnce(&mut Host) -> T) -> T {
        CURRENT.with_borrow_mut(|host| {
            let host = host.as_mut().unwrap_or_else(|| {
                panic!(
                    "{call} called outside a plugin run: natively, capabilities exist only \
                     while trailmark_sdk::testing::Host::run or ::handle runs the plugin"
                )
            });
            f(host)
        })
    }

    pub(crate) fn answer(index: u32, outcome: Outcome) {
        with("outcomes.answer", |host| {
            let slot = usize::try_from(index)
                .ok()
                .and_then(|index| host.answers.get_mut(index));
            // The first answer counts, as in the real host.
            if let Some(slot @ Answer::Unanswered) = slot {
                *slot = match outcome {
                    Outcome::Ok => Answer::Ok,
                    Outcome::Retry(message) => Answer::Retry(message),
                    Outcome::Reject(message) => Answer::Reject(message),
                };
            }
        });
    }

    pub(crate) fn archive_put(
        index: u32,
        key: &str,
        body: &[u8],
        content_type: &str,
    ) -> Result<(), HostError> {
        with("archive.put", |host| {
            host.calls.push(Call::ArchivePut {
                index,
                key: key.to_owned(),
                body: body.to_vec(),
                content_type: content_type.to_owned(),
            });
            host.check(Capability::Archive)?;
            crate::validate_key(key).map_err(|error| HostError::Invalid(error.to_string()))?;
            match host.archive.get(key) {
                Some(stored) if stored != body => Err(HostError::Invalid(format!(
                    "archive key {key:?} holds a different body; stored bodies are never replaced"
                ))),
                Some(_) => Ok(()),
                None => {
                    host.archive.insert(key.to_owned(), body.to_vec());
                    Ok(())
                }
            }
        })
    }

    pub(crate) fn archive_get(index: u32, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        with("archive.get", |host| {
            host.calls.push(Call::ArchiveGet {
                index,
                key: key.to_owned(),
            });
            host.check(Capability::Archive)?;
            Ok(host.archive.get(key).cloned())
        })
    }

    pub(crate) fn metadata_put(
        index: u32,
        archive_key: Option<&str>,
        attributes: &str,
    ) -> Result<(), HostError> {
        with("metadata.put", |host| {
            host.calls.push(Call::MetadataPut {
                index,
                archive_key: archive_key.map(str::to_owned),
                attributes: attributes.to_owned(),
            });
            host.check(Capability::Metadata)
        })
    }

    pub(crate) fn notify_publish(
        index: u32,
        channel: &str,
        subject: &str,
        message: &str,
        attributes: &[(String, String)],
    ) -> Result<(), HostError> {
        with("notify.publish", |host| {
            host.calls.push(Call::Notify {
                index,
                channel: channel.to_owned(),
                subject: subject.to_owned(),
                message: message.to_owned(),
                attributes: attributes.to_vec(),
            });
            host.check(Capability::Notify)
        })
    }

    pub(crate) fn forward_send(
        index: u32,
        destination: &str,
        detail: Option<&str>,
        resources: Option<&[String]>,
    ) -> Result<(), HostError> {
        with("forward.send", |host| {
            host.calls.push(Call::Forward {
                index,
                destination: destination.to_owned(),
                detail: detail.map(str::to_owned),
                resources: resources.map(<[String]>::to_vec),
            });
            host.check(Capability::Forward)
        })
    }

    pub(crate) fn http_send(index: u32, request: &HttpRequest) -> Result<HttpResponse, HostError> {
        with("http.send", |host| {
            host.calls.push(Call::Http {
                index,
                request: request.clone(),
            });
            host.check(Capability::Http)?;
            host.http_answers.pop_front().unwrap_or_else(|| {
                Ok(HttpResponse {
                    status: 200,
                    headers: Vec::new(),
                    body: Vec::new(),
                })
            })
        })
    }

    pub(crate) fn log_write(level: Level, message: &str) {
        with("log.write", |host| {
            host.calls.push(Call::Log {
                level,
                message: message.to_owned(),
            });
        });
    }
}
