//! A small blocking HTTP client for the commands that talk to a running server.

use anyhow::{Result, anyhow};
use serde_json::Value;

/// Where the server is: `--server`, else `TRAILMARK_SERVER`, else the local default.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8088";

/// Percent-encode a query-string value: RFC 3986's unreserved characters
/// pass, every other byte is `%XX`.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `key=value` query parameters, the values percent-encoded, for the
/// filters that are set.
pub fn filters(pairs: &[(&str, &Option<String>)]) -> Vec<String> {
    pairs
        .iter()
        .filter_map(|(key, value)| value.as_ref().map(|v| format!("{key}={}", encode(v))))
        .collect()
}

/// A client of one server.
pub struct Client {
    base: String,
    agent: ureq::Agent,
    /// `Authorization` header value, if any (never printed).
    authorization: Option<String>,
}

impl Client {
    /// A client for `base` (e.g. `http://127.0.0.1:8088`) that sends `token`
    /// as a bearer token.
    pub fn new(base: &str, token: Option<String>) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .build()
            .new_agent();
        Client {
            base: base.trim_end_matches('/').to_owned(),
            agent,
            authorization: token.map(|t| format!("Bearer {t}")),
        }
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// GET a JSON document.
    pub fn get(&self, path: &str) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut request = self.agent.get(&url);
        if let Some(a) = &self.authorization {
            request = request.header("Authorization", a);
        }
        let response = request.call().map_err(|e| self.unreachable(e))?;
        self.json(response)
    }

    /// POST a JSON document, get one back.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut request = self.agent.post(&url);
        if let Some(a) = &self.authorization {
            request = request.header("Authorization", a);
        }
        let response = request.send_json(body).map_err(|e| self.unreachable(e))?;
        self.json(response)
    }

    /// POST a JSON document and wait as long as the server works on it
    /// (a backup), for at most `limit`.
    pub fn post_waiting(
        &self,
        path: &str,
        body: &Value,
        limit: std::time::Duration,
    ) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut request = self
            .agent
            .post(&url)
            .config()
            .timeout_global(Some(limit))
            .build();
        if let Some(a) = &self.authorization {
            request = request.header("Authorization", a);
        }
        let response = request.send_json(body).map_err(|e| self.unreachable(e))?;
        self.json(response)
    }

    /// GET a body of any length and copy it to `out` as it arrives (no
    /// overall timeout); the bytes copied. An error answer is read as the
    /// other calls read it.
    pub fn get_to(&self, path: &str, out: &mut dyn std::io::Write) -> Result<u64> {
        let url = format!("{}{path}", self.base);
        let mut request = self
            .agent
            .get(&url)
            .config()
            .timeout_global(None)
            .timeout_recv_body(Some(std::time::Duration::from_secs(60)))
            .build();
        if let Some(a) = &self.authorization {
            request = request.header("Authorization", a);
        }
        let mut response = request.call().map_err(|e| self.unreachable(e))?;
        if !response.status().is_success() {
            return self.json(response).map(|_| 0);
        }
        std::io::copy(&mut response.body_mut().as_reader(), out)
            .map_err(|e| anyhow!("reading the server's answer: {e} (the output is incomplete)"))
    }

    fn unreachable(&self, e: ureq::Error) -> anyhow::Error {
        anyhow!(
            "cannot reach the Trailmark server at {}: {e}\n  is `trailmark serve` running? Point at another one with --server URL or TRAILMARK_SERVER",
            self.base
        )
    }

    fn json(&self, mut response: ureq::http::Response<ureq::Body>) -> Result<Value> {
        let status = response.status();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| anyhow!("reading the server's answer: {e}"))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status.is_success() {
            return Ok(value);
        }
        let message = value
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| value.to_string());
        if status.as_u16() == 401 {
            return Err(anyhow!(
                "the server answered {status}: {message}\n  pass a token with --token or TRAILMARK_TOKEN, \
                 or point --data at the server's data directory (it holds admin-token)\n  \
                 a server whose trailmark.toml has an [auth] section accepts only the tokens and keys \
                 listed there, not the data directory's admin-token"
            ));
        }
        Err(anyhow!("the server answered {status}: {message}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_keep_unreserved_characters_and_escape_the_rest() {
        assert_eq!(encode("book-42_a.b~c"), "book-42_a.b~c");
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn filters_are_the_set_ones_in_order_encoded() {
        let (set, unset, spaced) = (Some("ann".to_owned()), None, Some("1 h".to_owned()));
        assert_eq!(
            filters(&[("author", &set), ("source", &unset), ("since", &spaced)]),
            ["author=ann", "since=1%20h"]
        );
    }
}
