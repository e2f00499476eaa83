//! JSON over HTTP POST with a deadline, shared by the webhook notifier and
//! the HTTP forwarder, and the mapping of its outcomes onto [`BackendError`].

use std::io::Read;
use std::time::Duration;

use serde::Serialize;

use crate::{BackendError, BackendResult};

/// How much of an error response's body is quoted in the error message.
const QUOTED_BODY_BYTES: u64 = 300;

/// Posts JSON bodies to one URL.
#[derive(Debug)]
pub(crate) struct JsonPost {
    agent: ureq::Agent,
    url: String,
    timeout: Duration,
    bearer_token: Option<String>,
    /// What the URL is, for error messages (`webhook`, `forward`).
    what: &'static str,
}

impl JsonPost {
    /// Check `url` (absolute `http` or `https`) and build a client whose
    /// whole request, connect to last body byte, must fit in `timeout`.
    pub(crate) fn new(
        what: &'static str,
        url: &str,
        timeout: Duration,
        bearer_token: Option<String>,
    ) -> BackendResult<Self> {
        let uri: ureq::http::Uri = url
            .parse()
            .map_err(|e| BackendError::Invalid(format!("{what}: URL {url:?} is not valid: {e}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(BackendError::Invalid(format!(
                "{what}: URL {url:?} must be absolute http:// or https://"
            )));
        }
        if timeout.is_zero() {
            return Err(BackendError::Invalid(format!(
                "{what}: timeout must be more than zero"
            )));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            // A redirected POST may turn into a GET; the operator should
            // configure the final URL instead.
            .max_redirects(0)
            .user_agent(concat!("trailmark/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(JsonPost {
            agent,
            url: url.to_owned(),
            timeout,
            bearer_token,
            what,
        })
    }

    /// The URL posted to.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// POST `body` as JSON. 2xx is success; 408, 425, 429 and 5xx, connection
    /// failures and timeouts are transient; other statuses are invalid.
    pub(crate) fn post(&self, body: &impl Serialize) -> BackendResult<()> {
        let mut request = self.agent.post(&self.url);
        if let Some(token) = &self.bearer_token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let mut response = request.send_json(body).map_err(|e| self.request_error(e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let mut quoted = Vec::new();
        // Best effort: the status alone is enough to classify the failure.
        let _ = response
            .body_mut()
            .as_reader()
            .take(QUOTED_BODY_BYTES)
            .read_to_end(&mut quoted);
        let message = format!(
            "{}: POST {} answered {status}: {}",
            self.what,
            self.url,
            String::from_utf8_lossy(&quoted).trim()
        );
        let code = status.as_u16();
        if matches!(code, 408 | 425 | 429) || status.is_server_error() {
            Err(BackendError::Transient(message))
        } else if status.is_redirection() {
            Err(BackendError::Invalid(format!(
                "{message} (redirects are not followed: configure the final URL)"
            )))
        } else if status.is_client_error() {
            Err(BackendError::Invalid(message))
        } else {
            Err(BackendError::Transient(message))
        }
    }

    fn request_error(&self, e: ureq::Error) -> BackendError {
        let what = self.what;
        let url = &self.url;
        match e {
            ureq::Error::Timeout(_) => BackendError::Transient(format!(
                "{what}: POST {url} timed out after {:?}",
                self.timeout
            )),
            ureq::Error::BadUri(_)
            | ureq::Error::RequireHttpsOnly(_)
            | ureq::Error::Json(_)
            | ureq::Error::Http(_) => BackendError::Invalid(format!("{what}: POST {url}: {e}")),
            _ => BackendError::Transient(format!("{what}: POST {url}: {e}")),
        }
    }
}
