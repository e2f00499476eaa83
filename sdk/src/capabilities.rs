//! The host capabilities, as methods of the [`Event`] they are called for.
//!
//! Each call carries the delivery's index, so the host checks it against the
//! grants of the rule and confines it to that delivery's event. Errors carry
//! the capability and resource in their message and map to [`PluginError`]
//! the way the host expects: transient failures retry, denied and invalid
//! requests reject (see [`HostError`](crate::HostError)).
//!
//! Natively (in `cargo test`), the calls go to the in-memory host of
//! [`testing`](crate::testing), which records them.

use crate::{Event, HostError, PluginError, host};

/// A request to an HTTP destination (grant: `http: [destination, ..]`):
/// build it with [`HttpRequest::new`] and send it with [`Event::http`].
pub use crate::bindings::trailmark::plugin::http::Request as HttpRequest;
/// A destination's 2xx answer to an [`HttpRequest`].
pub use crate::bindings::trailmark::plugin::http::Response as HttpResponse;

impl HttpRequest {
    /// `method` to `path` (starting with `/`) under `destination`, no headers, no body.
    pub fn new(method: &str, destination: &str, path: &str) -> Self {
        HttpRequest {
            method: method.to_owned(),
            destination: destination.to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `POST` of `body` as `application/json`.
    pub fn post_json(destination: &str, path: &str, body: impl Into<Vec<u8>>) -> Self {
        Self::new("POST", destination, path)
            .header("content-type", "application/json")
            .body(body)
    }

    /// The same request with one more header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The same request with `body`.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

impl HttpResponse {
    /// The value of header `name` (any case), if the answer has it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Convert a [`HostError`] into a [`PluginError`] that names the call.
fn host_error(call: impl std::fmt::Display) -> impl FnOnce(HostError) -> PluginError {
    move |error| PluginError::from(error).context(call)
}

impl Event<'_> {
    /// Store `body` in the archive under `key` with the given content type
    /// (grant: `archive: true`). A stored body is never replaced: a put of
    /// the same bytes again succeeds, one of different bytes is rejected.
    /// Build keys with [`Template::render_key`](crate::Template::render_key)
    /// so that event values cannot escape their path segment, and include
    /// `{id}` so each event has its own key.
    pub fn archive_put(
        &self,
        key: &str,
        body: &[u8],
        content_type: &str,
    ) -> Result<(), PluginError> {
        host::archive_put(self.index, key, body, content_type)
            .map_err(host_error(format_args!("archive.put {key:?}")))
    }

    /// Fetch the body stored in the archive under `key`, or `None` if there
    /// is none (grant: `archive: true`; keys of this event's source or under
    /// the rule's read prefixes).
    pub fn archive_get(&self, key: &str) -> Result<Option<Vec<u8>>, PluginError> {
        host::archive_get(self.index, key).map_err(host_error(format_args!("archive.get {key:?}")))
    }

    /// Store the change record of this `Object State Change` (grant:
    /// `metadata: true`). The host fills in the event's own fields (event
    /// id, source, entity type and id, operation, ts, author); the plugin
    /// adds the key its body was archived under, if it was, and extra
    /// attributes as the text of a JSON object (`{}` for none). Idempotent
    /// on the event id: storing the same event again changes nothing.
    pub fn metadata_put(
        &self,
        archive_key: Option<&str>,
        attributes: &str,
    ) -> Result<(), PluginError> {
        host::metadata_put(self.index, archive_key, attributes).map_err(host_error(format_args!(
            "metadata.put event {:?}",
            self.id()
        )))
    }

    /// Publish `subject` and `message` to `channel` (grant: `notify:
    /// [channel, ..]`), with string attributes that channels may filter on
    /// (SNS message attributes, webhook fields).
    pub fn notify(
        &self,
        channel: &str,
        subject: &str,
        message: &str,
        attributes: &[(String, String)],
    ) -> Result<(), PluginError> {
        host::notify_publish(self.index, channel, subject, message, attributes).map_err(host_error(
            format_args!("notify.publish to channel {channel:?}"),
        ))
    }

    /// Forward this event to `destination` (grant: `forward: [destination,
    /// ..]`), its envelope unchanged. `detail` (the text of a JSON object)
    /// and `resources`, when given, replace the event's; the host adds
    /// `trailmark:rule/<rule>` to the resources.
    pub fn forward(
        &self,
        destination: &str,
        detail: Option<&str>,
        resources: Option<&[String]>,
    ) -> Result<(), PluginError> {
        host::forward_send(self.index, destination, detail, resources).map_err(host_error(
            format_args!("forward.send event {:?} to {destination:?}", self.id()),
        ))
    }
}

impl Event<'_> {
    /// Send `request` to its destination for this event (grant: `http:
    /// [destination, ..]`). The host adds the destination's credentials and
    /// enforces its methods, paths, rate limit and redirects. Only a 2xx
    /// answer is a response: 429 and 5xx are a retry, other statuses a
    /// reject, and a delivery whose call failed is not delivered even if
    /// the plugin answers `ok`. A batch sent in one request is sent for one
    /// of its events (say the first), and the plugin answers the others
    /// as that one went.
    pub fn http(&self, request: &HttpRequest) -> Result<HttpResponse, PluginError> {
        host::http_send(self.index, request).map_err(host_error(format_args!(
            "http.send {} {}{}",
            request.method, request.destination, request.path
        )))
    }
}

/// Handle `events` with one request, for a plugin that is
/// [`BATCHED`](crate::Plugin::BATCHED): `part` makes each event's share of
/// it (an event whose part fails is answered with that error alone), and
/// `send` sends the parts together for the first of their events, returning
/// one result per part (a missing one is a retry). Returns one result per
/// event, in order, as [`Plugin::handle_batch`](crate::Plugin::handle_batch) does.
pub fn send_together<T>(
    events: &[Event<'_>],
    part: impl Fn(&Event<'_>) -> Result<T, PluginError>,
    send: impl FnOnce(&Event<'_>, Vec<T>) -> Vec<Result<(), PluginError>>,
) -> Vec<Result<(), PluginError>> {
    let mut results: Vec<Option<Result<(), PluginError>>> = vec![None; events.len()];
    let mut parts = Vec::new();
    let mut sent = Vec::new();
    for (i, event) in events.iter().enumerate() {
        match part(event) {
            Ok(p) => {
                parts.push(p);
                sent.push(i);
            }
            Err(error) => results[i] = Some(Err(error)),
        }
    }
    if let Some(&first) = sent.first() {
        let mut answers = send(&events[first], parts).into_iter();
        for i in sent {
            results[i] = Some(answers.next().unwrap_or_else(|| {
                Err(PluginError::retry(
                    "the batch's request gave no result for this event",
                ))
            }));
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(PluginError::retry("unanswered"))))
        .collect()
}

/// Handle one event as a batch of one, for a plugin that is
/// [`BATCHED`](crate::Plugin::BATCHED) and sends a single event the way it
/// sends a batch: its [`Plugin::handle`](crate::Plugin::handle) is then
/// `handle_one_as_batch(self, event)`. A missing result is a retry, as in
/// [`send_together`].
pub fn handle_one_as_batch<P: crate::Plugin>(
    plugin: &P,
    event: &Event<'_>,
) -> Result<(), PluginError> {
    plugin
        .handle_batch(std::slice::from_ref(event))
        .pop()
        .unwrap_or_else(|| Err(PluginError::retry("unanswered")))
}

/// Write to the host's structured log, tagged with the rule and plugin
/// (always granted).
pub mod log {
    use crate::host;

    /// How important a log line is.
    pub use crate::bindings::trailmark::plugin::log::Level;

    /// The level named `trace`, `debug`, `info`, `warn` or `error`, as a
    /// plugin's config spells it.
    impl std::str::FromStr for Level {
        type Err = String;

        fn from_str(name: &str) -> Result<Self, Self::Err> {
            match name {
                "trace" => Ok(Level::Trace),
                "debug" => Ok(Level::Debug),
                "info" => Ok(Level::Info),
                "warn" => Ok(Level::Warn),
                "error" => Ok(Level::Error),
                other => Err(format!(
                    "unknown log level {other:?}; expected trace, debug, info, warn or error"
                )),
            }
        }
    }

    /// Deserializes from the level's name, so a config struct can hold a [`Level`].
    impl<'de> serde::Deserialize<'de> for Level {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let name = String::deserialize(deserializer)?;
            name.parse().map_err(serde::de::Error::custom)
        }
    }

    /// Write `message` at `level`.
    pub fn write(level: Level, message: &str) {
        host::log_write(level, message);
    }

    /// Write `message` at trace level.
    pub fn trace(message: &str) {
        write(Level::Trace, message);
    }

    /// Write `message` at debug level.
    pub fn debug(message: &str) {
        write(Level::Debug, message);
    }

    /// Write `message` at info level.
    pub fn info(message: &str) {
        write(Level::Info, message);
    }

    /// Write `message` at warn level.
    pub fn warn(message: &str) {
        write(Level::Warn, message);
    }

    /// Write `message` at error level.
    pub fn error(message: &str) {
        write(Level::Error, message);
    }
}
