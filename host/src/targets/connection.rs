//! Connections: the credentials a destination's requests carry, added by
//! the host so the plugin never sees them. Basic, bearer, an API key in a
//! header of the vendor's choosing, or OAuth 2.0 client credentials (RFC
//! 6749 §4.4) with the token cached until shortly before it expires.
//!
//! A token endpoint that fails (unreachable, 5xx, or refusing the client:
//! a secret not yet rotated in) makes the delivery a retry, never a reject:
//! the event is fine, the connection is not, and once it is fixed the
//! retries go through. Its answers are never quoted beyond the RFC 6749
//! §5.2 `error` code, since a server may echo what it was sent.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;
use trailmark_backend_api::BackendError;

use super::secret::{Secret, SecretSource};

/// A token is renewed this long before the expiry its server gave (or a
/// tenth of its lifetime, when that is shorter).
const TOKEN_MARGIN: Duration = Duration::from_secs(30);
/// How long a token fetch may take.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest token response read.
const TOKEN_RESPONSE_BYTES: u64 = 64 * 1024;

/// A connection file's `auth`, as written (secrets as their sources).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub enum RawAuth {
    /// `basic: {username: svc, password: {env: VAR}}`.
    Basic {
        /// The user name (not secret).
        username: String,
        /// The password.
        password: SecretSource,
    },
    /// `bearer: {token: {file: /path}}`: `Authorization: Bearer <token>`.
    Bearer {
        /// The token.
        token: SecretSource,
    },
    /// `api-key: {header: X-Api-Key, value: {env: VAR}}`, with an optional
    /// `prefix` put before the value (`"Splunk "` for Splunk HEC).
    ApiKey {
        /// The header that carries it.
        header: String,
        /// Text put before the key, e.g. `"Splunk "`.
        #[serde(default)]
        prefix: String,
        /// The key.
        value: SecretSource,
    },
    /// `hmac-signature: {header: X-Hub-Signature-256, secret: {env: VAR}}`:
    /// the body signed with HMAC-SHA256, as webhook receivers verify it.
    /// `style: github` (the default) sends `sha256=<hex>`; `style: stripe`
    /// sends `t=<unix seconds>,v1=<hex>` over `<t>.<body>`.
    #[serde(rename_all = "kebab-case")]
    HmacSignature {
        /// The header that carries the signature.
        header: String,
        /// The shared secret.
        secret: SecretSource,
        /// `github` or `stripe`.
        #[serde(default)]
        style: SignatureStyle,
    },
    /// `body-field: {field: routing_key, value: {env: VAR}}`: the secret
    /// put into the JSON object the plugin sends, under `field` (PagerDuty's
    /// Events API takes its routing key so; EventBridge connections call
    /// these body parameters).
    BodyField {
        /// The top-level field of the body's JSON object.
        field: String,
        /// Its value.
        value: SecretSource,
    },
    /// OAuth 2.0 client credentials: a token from `token-url`, sent as
    /// `Authorization: Bearer <token>`.
    #[serde(rename_all = "kebab-case")]
    OauthClientCredentials {
        /// The token endpoint (`https://`, or `http://` with `allow-http`).
        token_url: String,
        /// The client id (not secret).
        client_id: String,
        /// The client secret.
        client_secret: SecretSource,
        /// How the client authenticates to the token endpoint: `basic`
        /// (the default, which RFC 6749 §2.3.1 says every server supports)
        /// or `body` (`client_id` and `client_secret` form fields).
        #[serde(default)]
        client_auth: ClientAuth,
        /// The scope asked for, if any.
        #[serde(default)]
        scope: Option<String>,
        /// The `audience` parameter some providers want (Auth0), if any.
        #[serde(default)]
        audience: Option<String>,
        /// Allow an `http://` token URL (loopback tests).
        #[serde(default)]
        allow_http: bool,
    },
}

/// How an OAuth client sends its id and secret to the token endpoint
/// (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ClientAuth {
    /// `Authorization: Basic` of the form-encoded id and secret.
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Body,
}

/// How an HMAC signature is written.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureStyle {
    /// GitHub's `X-Hub-Signature-256: sha256=<hex of HMAC(body)>`.
    #[default]
    Github,
    /// Stripe's `Stripe-Signature: t=<ts>,v1=<hex of HMAC("<ts>.<body>")>`.
    Stripe,
}

/// What a connection adds to a request.
#[derive(Debug)]
pub enum Applied {
    /// A header, name in lowercase.
    Header((String, String)),
    /// The body, with the secret in it.
    Body(Vec<u8>),
}

/// A connection with its secrets read.
#[derive(Debug)]
pub struct Connection {
    /// Its name, as destinations refer to it.
    pub name: String,
    auth: Auth,
}

#[derive(Debug)]
enum Auth {
    Basic {
        username: String,
        password: Secret,
    },
    Bearer(Secret),
    ApiKey {
        header: String,
        prefix: String,
        value: Secret,
    },
    Hmac {
        header: String,
        secret: Secret,
        style: SignatureStyle,
    },
    BodyField {
        field: String,
        value: Secret,
    },
    OAuth(OAuth),
}

#[derive(Debug)]
struct OAuth {
    token_url: String,
    client_id: String,
    client_secret: Secret,
    client_auth: ClientAuth,
    scope: Option<String>,
    audience: Option<String>,
    agent: ureq::Agent,
    cached: Mutex<Option<(Secret, Instant)>>,
}

/// What a connection's `auth` may be, for messages.
pub const AUTH_KINDS: &str =
    "basic, bearer, api-key, hmac-signature, body-field or oauth-client-credentials";

impl Connection {
    /// Read the secrets of `raw` (with `secrets` false, only check its
    /// shape: each secret is left empty); the message says which and why not.
    pub fn new(
        name: &str,
        raw: RawAuth,
        secrets: bool,
    ) -> Result<Connection, (&'static str, String)> {
        let read = |source: SecretSource, key: &'static str| {
            if secrets {
                source.read().map_err(|m| (key, m))
            } else {
                Ok(Secret::new(String::new()))
            }
        };
        let auth = match raw {
            RawAuth::Basic { username, password } => Auth::Basic {
                username,
                password: read(password, "password")?,
            },
            RawAuth::Bearer { token } => Auth::Bearer(read(token, "token")?),
            RawAuth::ApiKey {
                header,
                prefix,
                value,
            } => {
                if ureq::http::HeaderName::from_bytes(header.as_bytes()).is_err() {
                    return Err(("header", format!("{header:?} is not a header name")));
                }
                Auth::ApiKey {
                    header: header.to_ascii_lowercase(),
                    prefix,
                    value: read(value, "value")?,
                }
            }
            RawAuth::HmacSignature {
                header,
                secret,
                style,
            } => {
                if ureq::http::HeaderName::from_bytes(header.as_bytes()).is_err() {
                    return Err(("header", format!("{header:?} is not a header name")));
                }
                Auth::Hmac {
                    header: header.to_ascii_lowercase(),
                    secret: read(secret, "secret")?,
                    style,
                }
            }
            RawAuth::BodyField { field, value } => Auth::BodyField {
                field,
                value: read(value, "value")?,
            },
            RawAuth::OauthClientCredentials {
                token_url,
                client_id,
                client_secret,
                client_auth,
                scope,
                audience,
                allow_http,
            } => {
                let scheme_ok = token_url.starts_with("https://")
                    || (allow_http && token_url.starts_with("http://"));
                if !scheme_ok {
                    return Err((
                        "token-url",
                        format!(
                            "{token_url:?} must be an https:// URL (http:// only with allow-http: true)"
                        ),
                    ));
                }
                let agent = ureq::Agent::config_builder()
                    .timeout_global(Some(TOKEN_TIMEOUT))
                    .http_status_as_error(false)
                    .max_redirects(0)
                    .https_only(!allow_http)
                    .build()
                    .into();
                Auth::OAuth(OAuth {
                    token_url,
                    client_id,
                    client_secret: read(client_secret, "client-secret")?,
                    client_auth,
                    scope,
                    audience,
                    agent,
                    cached: Mutex::new(None),
                })
            }
        };
        Ok(Connection {
            name: name.to_owned(),
            auth,
        })
    }

    /// What a request with `body` carries: a header (name in lowercase,
    /// value), or for `body-field` the body with the secret in it.
    pub fn apply(&self, body: &[u8]) -> Result<Applied, BackendError> {
        Ok(Applied::Header(match &self.auth {
            Auth::Basic { username, password } => {
                use base64::Engine as _;
                let pair = format!("{username}:{}", password.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                ("authorization".to_owned(), format!("Basic {encoded}"))
            }
            Auth::Bearer(token) => (
                "authorization".to_owned(),
                format!("Bearer {}", token.expose()),
            ),
            Auth::ApiKey {
                header,
                prefix,
                value,
            } => (header.clone(), format!("{prefix}{}", value.expose())),
            Auth::Hmac {
                header,
                secret,
                style,
            } => (header.clone(), signature(secret, *style, body)),
            Auth::BodyField { field, value } => {
                return self.with_field(body, field, value).map(Applied::Body);
            }
            Auth::OAuth(oauth) => (
                "authorization".to_owned(),
                format!("Bearer {}", oauth.token(&self.name)?.expose()),
            ),
        }))
    }

    /// `body`, a JSON object, with `field` set to `value`.
    fn with_field(
        &self,
        body: &[u8],
        field: &str,
        value: &Secret,
    ) -> Result<Vec<u8>, BackendError> {
        let mut object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body)
            .map_err(|_| {
            BackendError::Invalid(format!(
                "connection {}: the body must be a JSON object to carry `{field}`",
                self.name
            ))
        })?;
        object.insert(field.to_owned(), value.expose().into());
        serde_json::to_vec(&object)
            .map_err(|e| BackendError::Invalid(format!("connection {}: {e}", self.name)))
    }

    /// The header name it sets, which a plugin may not set itself.
    pub fn header_name(&self) -> &str {
        match &self.auth {
            Auth::ApiKey { header, .. } | Auth::Hmac { header, .. } => header,
            _ => "authorization",
        }
    }

    /// Forget a cached OAuth token (the destination answered 401 with it).
    /// Returns whether there was one to forget.
    pub fn forget_token(&self) -> bool {
        match &self.auth {
            Auth::OAuth(oauth) => oauth
                .cached
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .is_some(),
            _ => false,
        }
    }
}

/// The signature of `body` with `secret` in `style`.
fn signature(secret: &Secret, style: SignatureStyle, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes a key of any length");
    match style {
        SignatureStyle::Github => {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        SignatureStyle::Stripe => {
            let ts = trailmark_backend_api::when::now_ms() / 1000;
            mac.update(format!("{ts}.").as_bytes());
            mac.update(body);
            format!("t={ts},v1={}", hex::encode(mac.finalize().into_bytes()))
        }
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// An RFC 6749 §5.2 error answer; only its `error` code is ever quoted.
#[derive(Deserialize)]
struct TokenErrorResponse {
    error: String,
}

/// How long a token of `lifetime` is used: until a margin before it
/// expires, 30 s or a tenth of the lifetime, whichever is shorter.
fn usable_for(lifetime: Duration) -> Duration {
    lifetime.saturating_sub(TOKEN_MARGIN.min(lifetime / 10))
}

/// `text` form-urlencoded (RFC 6749 §2.3.1 encodes the id and secret so
/// before they go into `Authorization: Basic`).
fn form_encoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

impl OAuth {
    /// The cached token, or a new one from the token endpoint. Every
    /// failure is transient (see the module's doc).
    fn token(&self, connection: &str) -> Result<Secret, BackendError> {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((token, until)) = &*cached
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let fail = |m: &str| {
            BackendError::Transient(format!(
                "connection {connection}: token request to {}: {m}",
                self.token_url
            ))
        };
        let mut form = vec![("grant_type", "client_credentials")];
        let mut request = self.agent.post(&self.token_url);
        match self.client_auth {
            ClientAuth::Basic => {
                use base64::Engine as _;
                let pair = format!(
                    "{}:{}",
                    form_encoded(&self.client_id),
                    form_encoded(self.client_secret.expose())
                );
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                request = request.header("authorization", &format!("Basic {encoded}"));
            }
            ClientAuth::Body => {
                form.push(("client_id", self.client_id.as_str()));
                form.push(("client_secret", self.client_secret.expose()));
            }
        }
        if let Some(scope) = &self.scope {
            form.push(("scope", scope));
        }
        if let Some(audience) = &self.audience {
            form.push(("audience", audience));
        }
        let mut response = request
            .header("accept", "application/json")
            .send_form(form)
            .map_err(|e| fail(&e.to_string()))?;
        let status = response.status();
        let body = response
            .body_mut()
            .with_config()
            .limit(TOKEN_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(|e| fail(&format!("reading the answer: {e}")))?;
        if !status.is_success() {
            // The error code is a short ASCII token (RFC 6749 §5.2); the
            // rest of the answer may echo what was sent and is not shown.
            let code = serde_json::from_slice::<TokenErrorResponse>(&body)
                .ok()
                .map(|e| e.error)
                .filter(|c| {
                    c.len() <= 64
                        && c.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                })
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            let hint = if status.is_client_error() && status.as_u16() != 429 {
                "; check the connection's client id, secret, scope and audience"
            } else {
                ""
            };
            return Err(fail(&format!("answered {status}{code}{hint}")));
        }
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|_| fail("the answer is not an OAuth token response (access_token)"))?;
        if let Some(kind) = parsed.token_type.as_deref()
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(fail(&format!(
                "token_type {:?} is not Bearer, the only kind sent",
                kind.chars().take(32).collect::<String>()
            )));
        }
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(3600));
        let until = Instant::now() + usable_for(lifetime);
        let token = Secret::new(parsed.access_token);
        *cached = Some((token.clone(), until));
        tracing::debug!(
            connection,
            expires_in_s = lifetime.as_secs(),
            "fetched an OAuth token"
        );
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_signature_is_hmac_sha256_hex_of_the_body() {
        // From GitHub's "Validating webhook deliveries" example.
        let secret = Secret::new("It's a Secret to Everybody".to_owned());
        assert_eq!(
            signature(&secret, SignatureStyle::Github, b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        let stripe = signature(&secret, SignatureStyle::Stripe, b"{}");
        assert!(
            stripe.starts_with("t=") && stripe.contains(",v1="),
            "{stripe}"
        );
    }

    #[test]
    fn tokens_are_renewed_a_margin_before_they_expire() {
        let secs = Duration::from_secs;
        assert_eq!(usable_for(secs(3600)), secs(3570));
        assert_eq!(usable_for(secs(100)), secs(90));
        assert_eq!(usable_for(secs(2)), Duration::from_millis(1800));
        assert_eq!(usable_for(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn client_credentials_are_form_encoded_before_basic_auth() {
        // RFC 6749 §2.3.1: the id and secret are encoded with
        // application/x-www-form-urlencoded first.
        assert_eq!(form_encoded("s3cr:et +/é"), "s3cr%3Aet+%2B%2F%C3%A9");
        assert_eq!(form_encoded("plain-id_1.x"), "plain-id_1.x");
    }
}
