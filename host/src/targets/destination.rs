//! One destination: where its requests go, what it allows, and the call
//! itself with every check the host makes on the plugin's behalf.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use trailmark_backend_api::{BackendError, HttpError, HttpRequest, HttpResponse};
use ureq::http::Uri;

use super::connection::{Applied, Connection};
use super::rate::RateLimit;
use super::retry_after;

/// Headers only the host sets.
const HOST_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "user-agent",
];
/// Redirects followed within the destination, at most.
const MAX_REDIRECTS: usize = 3;
/// The longest `Retry-After` waited for inside one call (holding the plugin
/// call, so short); longer ones become a retry of the delivery that the
/// dispatcher holds back as long as asked.
const MAX_INLINE_RETRY_AFTER: Duration = Duration::from_secs(2);
/// How much of an error response's body is quoted.
const QUOTED_BODY_BYTES: usize = 300;

/// The methods a destination may allow.
pub const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

/// A destination as its file defines it, checked.
#[derive(Debug)]
pub struct Destination {
    /// Its name, as grants name it.
    pub name: String,
    /// The base URL, without a trailing `/`.
    base: String,
    /// The base URL as messages show it: itself, or where it was read from
    /// when it holds a secret (a Slack webhook URL).
    shown: String,
    /// Scheme, host and port of the base URL: requests and redirects stay there.
    authority: (String, String, u16),
    /// Allowed methods, uppercase.
    pub methods: BTreeSet<String>,
    /// Allowed path prefixes, each starting with `/`.
    pub paths: Vec<String>,
    /// The whole request, connect to last byte.
    pub timeout: Duration,
    /// Invocations per second.
    pub rate: RateLimit,
    /// The credentials its requests carry.
    pub connection: Option<Arc<Connection>>,
    /// The largest response body read.
    pub max_response: u64,
    agent: ureq::Agent,
}

/// How a call ended, for the destination's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// 2xx.
    Ok,
    /// Transient: 429, 5xx, timeout, connection, rate limit.
    Retry,
    /// Another status, or a malformed request.
    Reject,
    /// Refused before sending (method, path, header) or a redirect off it.
    Denied,
}

impl Ended {
    /// The label of the metric.
    pub fn as_str(self) -> &'static str {
        match self {
            Ended::Ok => "ok",
            Ended::Retry => "retry",
            Ended::Reject => "reject",
            Ended::Denied => "denied",
        }
    }

    /// How `result` ended.
    pub fn of(result: &Result<HttpResponse, HttpError>) -> Ended {
        match result {
            Ok(_) => Ended::Ok,
            Err(e) => match e.error {
                BackendError::Transient(_) => Ended::Retry,
                BackendError::Invalid(_) => Ended::Reject,
                BackendError::Denied(_) => Ended::Denied,
            },
        }
    }
}

/// The parts of a destination a file gives, checked by [`Destination::new`].
pub struct Spec {
    /// Name.
    pub name: String,
    /// Base URL.
    pub url: String,
    /// The base URL as messages show it.
    pub shown: String,
    /// Methods (uppercase).
    pub methods: BTreeSet<String>,
    /// Path prefixes.
    pub paths: Vec<String>,
    /// Timeout.
    pub timeout: Duration,
    /// Calls per second.
    pub rate: u32,
    /// Whether `http://` is allowed.
    pub allow_http: bool,
    /// Response cap in bytes.
    pub max_response: u64,
    /// Its connection.
    pub connection: Option<Arc<Connection>>,
}

impl Destination {
    /// Check `spec`; the error names the key (`url`) and what is wrong.
    pub fn new(spec: Spec) -> Result<Destination, (&'static str, String)> {
        let uri: Uri = spec
            .url
            .parse()
            .map_err(|e| ("url", format!("{} is not a URL: {e}", spec.shown)))?;
        let scheme = uri.scheme_str().unwrap_or_default().to_ascii_lowercase();
        match scheme.as_str() {
            "https" => {}
            "http" if spec.allow_http => {}
            "http" => {
                return Err((
                    "url",
                    format!(
                        "{} is plain http; destinations are https:// unless the file says \
                         allow-http: true (for loopback and tests)",
                        spec.shown
                    ),
                ));
            }
            _ => return Err(("url", format!("{} must be an https:// URL", spec.shown))),
        }
        let Some(host) = uri.host() else {
            return Err(("url", format!("{} has no host", spec.shown)));
        };
        if uri.query().is_some() || spec.url.contains('#') || spec.url.contains('@') {
            return Err((
                "url",
                format!(
                    "{}: the base URL may have no query, fragment or user info; \
                     credentials go in a connection",
                    spec.shown
                ),
            ));
        }
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "https" { 443 } else { 80 });
        let authority = (scheme, host.to_ascii_lowercase(), port);
        if spec.timeout.is_zero() {
            return Err(("timeout", "must be more than zero".to_owned()));
        }
        if spec.rate == 0 {
            return Err(("rate", "must be at least 1 call per second".to_owned()));
        }
        for prefix in &spec.paths {
            if !prefix.starts_with('/') {
                return Err((
                    "paths",
                    format!("{prefix:?} must start with `/` (a path under the URL)"),
                ));
            }
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(spec.timeout))
            .http_status_as_error(false)
            // Redirects are followed here, only within the destination.
            .max_redirects(0)
            .https_only(!spec.allow_http)
            .user_agent(concat!("trailmark/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Destination {
            name: spec.name,
            base: spec.url.trim_end_matches('/').to_owned(),
            shown: spec.shown,
            authority,
            methods: spec.methods,
            paths: spec.paths,
            timeout: spec.timeout,
            rate: RateLimit::new(spec.rate),
            connection: spec.connection,
            max_response: spec.max_response,
            agent,
        })
    }

    /// The base URL's path, without a trailing `/` (empty for the root).
    fn base_path(&self) -> &str {
        let after_scheme = self.base.split_once("://").map_or("", |(_, rest)| rest);
        after_scheme.find('/').map_or("", |i| &after_scheme[i..])
    }

    fn denied(&self, what: String) -> BackendError {
        BackendError::Denied(format!("http destination {}: {what}", self.name))
    }

    /// Send `request`: check it, take a rate token, add the connection's
    /// credentials, follow redirects only within the destination, and map
    /// the answer (2xx a response; 429 and 5xx transient, after waiting once
    /// for a short `Retry-After`, a longer one carried to the dispatcher;
    /// other statuses invalid).
    pub fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let method = request.method.to_ascii_uppercase();
        if !self.methods.contains(&method) {
            return Err(self
                .denied(format!(
                    "method {:?} is not allowed (allowed: {})",
                    request.method,
                    self.methods.iter().cloned().collect::<Vec<_>>().join(", ")
                ))
                .into());
        }
        self.check_path(&request.path)?;
        for (name, _) in &request.headers {
            let lower = name.to_ascii_lowercase();
            let reserved = HOST_HEADERS.contains(&lower.as_str())
                || self
                    .connection
                    .as_ref()
                    .is_some_and(|c| c.header_name() == lower);
            if reserved {
                return Err(self
                    .denied(format!(
                        "header {name:?} is set by the host, not the plugin"
                    ))
                    .into());
            }
        }
        if !self.rate.try_take() {
            return Err(BackendError::Transient(format!(
                "http destination {}: its rate limit is reached; the delivery is retried later",
                self.name
            ))
            .into());
        }
        // `/` alone is the base URL itself (a Slack webhook's URL has no
        // trailing slash).
        let url = match request.path.strip_prefix('/') {
            Some("") => self.base.clone(),
            Some(query) if query.starts_with('?') => format!("{}{query}", self.base),
            _ => format!("{}{}", self.base, request.path),
        };
        let mut answer = self.exchange(&method, &url, &request);
        let retry_after = match &answer {
            Err(Failed::Status { retry_after, .. }) => *retry_after,
            _ => None,
        };
        if let Some(wait) = retry_after.filter(|w| *w <= MAX_INLINE_RETRY_AFTER) {
            std::thread::sleep(wait);
            answer = self.exchange(&method, &url, &request);
        }
        answer.map_err(|failed| failed.into_error(&self.name, &method, &request.path))
    }

    /// The request at `url`, with its redirects within the destination.
    fn exchange(
        &self,
        method: &str,
        url: &str,
        request: &HttpRequest,
    ) -> Result<HttpResponse, Failed> {
        let mut url = url.to_owned();
        let mut retried_token = false;
        let mut redirects = 0;
        loop {
            let response = self.once(method, &url, request)?;
            let status = response.status();
            if status.is_redirection()
                && let Some(location) = response.headers().get("location")
            {
                let location = location.to_str().unwrap_or_default();
                let next = self.within(&url, location).map_err(Failed::Denied)?;
                redirects += 1;
                if redirects > MAX_REDIRECTS || !matches!(status.as_u16(), 307 | 308) {
                    return Err(Failed::Denied(format!(
                        "answered {status} to {location}; only {MAX_REDIRECTS} 307/308 redirects \
                         within the destination are followed: configure the final URL"
                    )));
                }
                url = next;
                continue;
            }
            if status.as_u16() == 401
                && !retried_token
                && self.connection.as_ref().is_some_and(|c| c.forget_token())
            {
                retried_token = true;
                continue;
            }
            return self.read(response);
        }
    }

    /// One request, no redirects.
    fn once(
        &self,
        method: &str,
        url: &str,
        request: &HttpRequest,
    ) -> Result<ureq::http::Response<ureq::Body>, Failed> {
        let mut builder = ureq::http::Request::builder().method(method).uri(url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let mut body = std::borrow::Cow::Borrowed(request.body.as_slice());
        match self.connection.as_ref().map(|c| c.apply(&request.body)) {
            None => {}
            Some(Ok(Applied::Header((name, value)))) => builder = builder.header(name, value),
            Some(Ok(Applied::Body(with_secret))) => body = std::borrow::Cow::Owned(with_secret),
            Some(Err(error)) => return Err(Failed::Backend(error)),
        }
        let result = if body.is_empty() && matches!(method, "GET" | "HEAD" | "DELETE") {
            let built = builder
                .body(())
                .map_err(|e| Failed::Malformed(e.to_string()))?;
            self.agent.run(built)
        } else {
            let built = builder
                .body(body.as_ref())
                .map_err(|e| Failed::Malformed(e.to_string()))?;
            self.agent.run(built)
        };
        result.map_err(|e| match e {
            ureq::Error::Timeout(_) => {
                Failed::Transient(format!("timed out after {:?}", self.timeout))
            }
            ureq::Error::BadUri(_) | ureq::Error::Http(_) => Failed::Malformed(e.to_string()),
            e => Failed::Transient(e.to_string()),
        })
    }

    /// The response as the plugin gets it, or why not.
    fn read(&self, mut response: ureq::http::Response<ureq::Body>) -> Result<HttpResponse, Failed> {
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(self.max_response)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(limit) => Failed::Malformed(format!(
                    "the response is larger than the destination's max-response of {limit} bytes"
                )),
                e => Failed::Transient(format!("reading the response: {e}")),
            })?;
        if (200..300).contains(&status) {
            return Ok(HttpResponse {
                status,
                headers,
                body,
            });
        }
        let retry_after = headers
            .iter()
            .find(|(n, _)| n == "retry-after")
            .and_then(|(_, v)| retry_after::parse(v, std::time::SystemTime::now()));
        let quoted = String::from_utf8_lossy(&body[..body.len().min(QUOTED_BODY_BYTES)])
            .trim()
            .to_owned();
        Err(Failed::Status {
            status,
            retry_after,
            quoted,
        })
    }

    /// A path the destination allows: under one of its prefixes, with no
    /// `.` or `..` segment, fragment, backslash, whitespace or control
    /// character, and no encoded dot, slash or backslash in the path part
    /// (a server that decodes them would see another path than the one
    /// checked).
    fn check_path(&self, path: &str) -> Result<(), BackendError> {
        let path_part = path.split('?').next().unwrap_or_default();
        let lower = path_part.to_ascii_lowercase();
        let bad = !path.starts_with('/')
            || path.contains(['#', '\\'])
            || path.chars().any(|c| c.is_whitespace() || c.is_control())
            || ["%2e", "%2f", "%5c"].iter().any(|e| lower.contains(e))
            || path_part.split('/').any(|s| s == ".." || s == ".");
        if bad {
            return Err(self.denied(format!(
                "path {path:?} is not a plain path (starts with `/`, no `..`, fragment or whitespace)"
            )));
        }
        if !self
            .paths
            .iter()
            .any(|prefix| path.starts_with(prefix.as_str()))
        {
            return Err(self.denied(format!(
                "path {path:?} is outside its allowed paths [{}]",
                self.paths.join(", ")
            )));
        }
        Ok(())
    }

    /// Where a redirect from `from` to `location` goes, if it stays on the
    /// destination's scheme, host and port and under its base URL.
    fn within(&self, from: &str, location: &str) -> Result<String, String> {
        let next = if location.starts_with('/') && !location.starts_with("//") {
            let from: Uri = from.parse().map_err(|e| format!("bad URL {from:?}: {e}"))?;
            let scheme = from.scheme_str().unwrap_or("https");
            let authority = from.authority().map(|a| a.as_str()).unwrap_or_default();
            format!("{scheme}://{authority}{location}")
        } else {
            location.to_owned()
        };
        let uri: Uri = next
            .parse()
            .map_err(|e| format!("redirect to {location:?}, which is not a URL: {e}"))?;
        let scheme = uri.scheme_str().unwrap_or_default().to_ascii_lowercase();
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "https" { 443 } else { 80 });
        let host = uri.host().unwrap_or_default().to_ascii_lowercase();
        let (s, h, p) = &self.authority;
        let base_path = self.base_path();
        let path = uri.path();
        let under = base_path.is_empty()
            || path == base_path
            || path
                .strip_prefix(base_path)
                .is_some_and(|rest| rest.starts_with('/'));
        if (&scheme, &host, port) != (s, h, *p) || !under {
            return Err(format!(
                "redirect to {location} leaves the destination ({}); not followed",
                self.shown
            ));
        }
        Ok(next)
    }
}

/// Why one exchange failed, before it is worded for the plugin.
enum Failed {
    Status {
        status: u16,
        retry_after: Option<Duration>,
        quoted: String,
    },
    Denied(String),
    Transient(String),
    Malformed(String),
    Backend(BackendError),
}

impl Failed {
    /// The error as the plugin and the dispatcher get it: a transient
    /// status keeps its `Retry-After`.
    fn into_error(self, name: &str, method: &str, path: &str) -> HttpError {
        let at = format!("http destination {name}: {method} {path}");
        match self {
            Failed::Status {
                status,
                retry_after,
                quoted,
            } => {
                let after = retry_after
                    .map(|d| format!(" (Retry-After: {}s)", d.as_secs()))
                    .unwrap_or_default();
                let message = format!("{at} answered {status}{after}: {quoted}");
                if status == 429 || status == 408 || status >= 500 {
                    HttpError {
                        error: BackendError::Transient(message),
                        retry_after,
                    }
                } else {
                    BackendError::Invalid(message).into()
                }
            }
            Failed::Denied(m) => BackendError::Denied(format!("{at}: {m}")).into(),
            Failed::Transient(m) => BackendError::Transient(format!("{at}: {m}")).into(),
            Failed::Malformed(m) => BackendError::Invalid(format!("{at}: {m}")).into(),
            Failed::Backend(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn destination(url: &str, paths: &[&str]) -> Destination {
        Destination::new(Spec {
            name: "d".to_owned(),
            url: url.to_owned(),
            shown: format!("{url:?}"),
            methods: ["POST".to_owned()].into(),
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            timeout: Duration::from_secs(5),
            rate: 10,
            allow_http: false,
            max_response: 1 << 20,
            connection: None,
        })
        .expect("a valid destination")
    }

    #[test]
    fn paths_stay_under_the_allowed_prefixes_however_they_are_spelled() {
        let d = destination("https://api.example.com/v1", &["/events"]);
        for good in ["/events", "/events/1?x=a/../b", "/events-archive"] {
            assert!(d.check_path(good).is_ok(), "{good}");
        }
        for bad in [
            "events",
            "/admin",
            "/events/../admin",
            "/events/%2e%2e/admin",
            "/events/%2E%2e/admin",
            "/events%2f..%2fadmin",
            "/events\\..\\admin",
            "/events/./x",
            "/events#frag",
            "/events x",
            "/events\r\nHost: evil",
        ] {
            let err = d.check_path(bad).expect_err(bad);
            assert!(
                matches!(err, BackendError::Denied(ref m) if m.contains("destination d")),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn redirects_are_followed_only_within_the_destination() {
        let d = destination("https://api.example.com/v1", &["/"]);
        let from = "https://api.example.com/v1/events";
        assert_eq!(
            d.within(from, "/v1/events/2").as_deref(),
            Ok("https://api.example.com/v1/events/2")
        );
        assert_eq!(
            d.within(from, "https://API.example.com:443/v1/x")
                .as_deref(),
            Ok("https://API.example.com:443/v1/x")
        );
        for off in [
            "https://evil.example.com/v1/events",
            "http://api.example.com/v1/events",
            "https://api.example.com:8443/v1/events",
            "/v2/events",
            "/v1x",
            "//evil.example.com/v1",
        ] {
            let err = d.within(from, off).expect_err(off);
            assert!(err.contains("leaves the destination"), "{off}: {err}");
        }
    }

    #[test]
    fn base_urls_are_https_without_credentials_or_query() {
        let spec = |url: &str, allow_http: bool| Spec {
            name: "d".to_owned(),
            url: url.to_owned(),
            shown: format!("{url:?}"),
            methods: BTreeSet::new(),
            paths: vec!["/".to_owned()],
            timeout: Duration::from_secs(5),
            rate: 1,
            allow_http,
            max_response: 1,
            connection: None,
        };
        assert!(Destination::new(spec("http://127.0.0.1:9", true)).is_ok());
        for (url, why) in [
            ("http://example.com", "plain http"),
            ("ftp://example.com", "https://"),
            ("https://user:pw@example.com", "user info"),
            ("https://example.com/?token=x", "query"),
        ] {
            let Err((key, message)) = Destination::new(spec(url, false)) else {
                panic!("{url} accepted");
            };
            assert_eq!(key, "url");
            assert!(message.contains(why), "{url}: {message}");
        }
    }
}
