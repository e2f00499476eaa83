//! [`Authenticator`]: from a request's headers to a [`Principal`].

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::{Duration, SystemTime};

use http::header::AUTHORIZATION;
use http::{HeaderMap, Uri};

use crate::config::{self, AccessKeySpec, AuthConfig, ConfigError, TokenSpec};
use crate::failure::AuthFailure;
use crate::principal::{Principal, PrincipalKind};
use crate::request::RequestView;
use crate::secret::Secret;
use crate::sigv4::{self, CredentialScope};
use crate::token::{TOKEN_PREFIX, TokenTable};

/// The narrowest replay window accepted: clocks synced by NTP still drift.
const MIN_SKEW: Duration = Duration::from_secs(1);
/// The widest: beyond an hour, a captured request stays usable too long.
const MAX_SKEW: Duration = Duration::from_secs(3600);

/// The service a SigV4 credential scope must name by default: EventBridge's.
pub const SIGV4_SERVICE: &str = "events";

/// Tunables of [`Authenticator`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthOptions {
    /// How far `x-amz-date` may be from the server's clock, either way: the
    /// window in which a captured SigV4 request could be replayed. Default
    /// 5 minutes, as AWS; [`Authenticator::new`] accepts 1 s to 1 h.
    pub clock_skew: Duration,
    /// The service a SigV4 credential scope must name: [`SIGV4_SERVICE`]
    /// (`events`, what the AWS SDKs sign EventBridge calls for).
    pub service: String,
    /// The regions a SigV4 credential scope may name; empty (the default)
    /// accepts any region, since a self-hosted endpoint has none of its own.
    pub regions: Vec<String>,
}

impl Default for AuthOptions {
    fn default() -> Self {
        Self {
            clock_skew: Duration::from_secs(300),
            service: SIGV4_SERVICE.to_owned(),
            regions: Vec::new(),
        }
    }
}

/// What [`Authenticator::check_headers`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderCheck {
    /// Authenticated from the headers alone (a bearer token).
    Done(Authenticated),
    /// SigV4 whose key, window and scope are good: the signature covers the
    /// body, so read it and call [`Authenticator::check_body`].
    NeedsBody(PendingSignature),
}

/// A SigV4 request that passed the header phase, waiting for its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignature {
    principal: Principal,
    scope: CredentialScope,
}

impl PendingSignature {
    /// Whom the request claims to come from: the owner of a configured key.
    /// Not proven until [`Authenticator::check_body`] says so; check its
    /// scopes now, to refuse before reading the body.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }
}

/// A successful authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// Who the caller is and what it may do.
    pub principal: Principal,
    /// For SigV4 requests, the key id, date, region and service signed for.
    pub credential_scope: Option<CredentialScope>,
}

/// Whether the host must buffer the body before authenticating: only SigV4
/// requests sign it. A bearer request can be authenticated (and refused)
/// before its body is read.
pub fn needs_body(headers: &HeaderMap) -> bool {
    headers
        .get_all(AUTHORIZATION)
        .iter()
        .any(|v| v.as_bytes().starts_with(sigv4::ALGORITHM.as_bytes()))
}

#[derive(Debug)]
struct AccessKey {
    secret: Secret,
    principal: Principal,
}

/// Checks requests against the configured tokens and access keys.
///
/// Built once from the config (and rebuilt on reload); `authenticate` takes
/// `&self` and does no I/O, so one instance serves all requests.
#[derive(Debug)]
pub struct Authenticator {
    token_hashes: TokenTable,
    token_principals: Vec<Principal>,
    keys: HashMap<String, AccessKey>,
    options: AuthOptions,
    warnings: Vec<String>,
}

impl Authenticator {
    /// Checks and indexes the configured credentials. Reads each access key's
    /// `secret-file`.
    ///
    /// Errors name the entry and field (`auth.tokens[2].scopes: ...`): empty
    /// names or scopes, duplicate names, hashes or key ids, source patterns
    /// without `put`, a missing or unreadable secret, a clock skew outside
    /// 1 s..=1 h.
    pub fn new(
        tokens: &[TokenSpec],
        keys: &[AccessKeySpec],
        options: AuthOptions,
    ) -> Result<Self, ConfigError> {
        if !(MIN_SKEW..=MAX_SKEW).contains(&options.clock_skew) {
            return Err(ConfigError {
                field: "auth.clock-skew-secs".into(),
                message: format!(
                    "must be between {} and {} seconds (AWS uses 300)",
                    MIN_SKEW.as_secs(),
                    MAX_SKEW.as_secs()
                ),
            });
        }
        if let Some((i, region)) = options.regions.iter().enumerate().find(|(_, r)| {
            r.is_empty()
                || !r
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        }) {
            return Err(ConfigError {
                field: format!("auth.regions[{i}]"),
                message: format!(
                    "{region:?} is not a region name (lowercase letters, digits and -, e.g. us-east-1)"
                ),
            });
        }
        let mut names: HashMap<String, String> = HashMap::new();
        let mut claim_name = |name: &str, at: &str| -> Result<(), ConfigError> {
            match names.insert(name.to_owned(), at.to_owned()) {
                Some(first) => Err(ConfigError {
                    field: format!("{at}.name"),
                    message: format!("{name:?} is already the name of {first}"),
                }),
                None => Ok(()),
            }
        };

        let mut token_hashes = TokenTable::default();
        let mut token_principals = Vec::with_capacity(tokens.len());
        for (i, spec) in tokens.iter().enumerate() {
            let at = format!("auth.tokens[{i}]");
            let principal = config::principal(
                &at,
                &spec.name,
                PrincipalKind::Token,
                &spec.scopes,
                &spec.sources,
            )?;
            claim_name(&spec.name, &at)?;
            if let Some(first) = token_hashes.position(&spec.hash) {
                return Err(ConfigError {
                    field: format!("{at}.hash"),
                    message: format!(
                        "the same hash as auth.tokens[{first}]; each token must be distinct"
                    ),
                });
            }
            token_hashes.push(spec.hash);
            token_principals.push(principal);
        }

        let mut warnings = Vec::new();
        let mut by_id = HashMap::with_capacity(keys.len());
        for (i, spec) in keys.iter().enumerate() {
            let at = format!("auth.access-keys[{i}]");
            config::check_key_id(&at, &spec.id)?;
            let name = spec.name.as_deref().unwrap_or(&spec.id);
            let principal = config::principal(
                &at,
                name,
                PrincipalKind::AccessKey,
                &spec.scopes,
                &spec.sources,
            )?;
            claim_name(name, &at)?;
            let (secret, warning) = config::key_secret(&at, spec)?;
            warnings.extend(warning);
            match by_id.entry(spec.id.clone()) {
                Entry::Occupied(_) => {
                    return Err(ConfigError {
                        field: format!("{at}.id"),
                        message: format!("access key {:?} is configured twice", spec.id),
                    });
                }
                Entry::Vacant(slot) => {
                    slot.insert(AccessKey { secret, principal });
                }
            }
        }

        Ok(Self {
            token_hashes,
            token_principals,
            keys: by_id,
            options,
            warnings,
        })
    }

    /// [`Authenticator::new`] from a deserialized `[auth]` section.
    pub fn from_config(config: &AuthConfig) -> Result<Self, ConfigError> {
        let mut options = AuthOptions::default();
        if let Some(secs) = config.clock_skew_secs {
            options.clock_skew = Duration::from_secs(secs);
        }
        options.regions = config.regions.clone();
        Self::new(&config.tokens, &config.access_keys, options)
    }

    /// Whether no credential at all is configured (the host then creates the
    /// local admin credentials, see [`crate::LocalCredentials`]).
    pub fn is_empty(&self) -> bool {
        self.token_principals.is_empty() && self.keys.is_empty()
    }

    /// Things worth a warning at start, e.g. a `secret-file` readable by
    /// other users. They name files and fields, never secrets.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Identifies the caller of `req` at time `now` (the server's clock).
    pub fn authenticate(
        &self,
        req: &RequestView<'_>,
        now: SystemTime,
    ) -> Result<Principal, AuthFailure> {
        self.verify(req, now).map(|a| a.principal)
    }

    /// As [`Authenticator::authenticate`], also returning the SigV4
    /// credential scope: [`Authenticator::check_headers`], then
    /// [`Authenticator::check_body`] when the signature covers the body.
    pub fn verify(
        &self,
        req: &RequestView<'_>,
        now: SystemTime,
    ) -> Result<Authenticated, AuthFailure> {
        match self.check_headers(req, now)? {
            HeaderCheck::Done(done) => Ok(done),
            HeaderCheck::NeedsBody(pending) => self.check_body(pending, req),
        }
    }

    /// The header phase: everything that can be checked before the body is
    /// read. A bearer token is checked completely. For SigV4: the header's
    /// form, the key id, `x-amz-date` against the replay window, and the
    /// credential scope's service and region. `req.body` is not looked at.
    pub fn check_headers(
        &self,
        req: &RequestView<'_>,
        now: SystemTime,
    ) -> Result<HeaderCheck, AuthFailure> {
        let (scheme, rest) = authorization(req)?;
        if scheme.eq_ignore_ascii_case("Bearer") {
            let principal = self.bearer(rest.trim_matches(' '))?;
            return Ok(HeaderCheck::Done(Authenticated {
                principal,
                credential_scope: None,
            }));
        }
        if scheme == sigv4::ALGORITHM {
            let (_, key, scope) = sigv4::check_headers(rest, req, now, self.sigv4_rules(), |id| {
                self.keys.get(id).map(|k| (&k.secret, k))
            })?;
            return Ok(HeaderCheck::NeedsBody(PendingSignature {
                principal: key.principal.clone(),
                scope,
            }));
        }
        Err(unsupported(scheme))
    }

    /// The body phase of a SigV4 request that passed
    /// [`Authenticator::check_headers`]: the payload hash and the signature
    /// over the same request, now with `req.body` the whole body.
    pub fn check_body(
        &self,
        pending: PendingSignature,
        req: &RequestView<'_>,
    ) -> Result<Authenticated, AuthFailure> {
        let (scheme, rest) = authorization(req)?;
        let key = self
            .keys
            .get(&pending.scope.key_id)
            .filter(|_| scheme == sigv4::ALGORITHM)
            .ok_or_else(|| {
                AuthFailure::malformed("the Authorization header changed between the two checks")
            })?;
        sigv4::check_signature(rest, req, &key.secret)?;
        Ok(Authenticated {
            principal: pending.principal,
            credential_scope: Some(pending.scope),
        })
    }

    fn sigv4_rules(&self) -> sigv4::SigV4Rules<'_> {
        sigv4::SigV4Rules {
            clock_skew: self.options.clock_skew,
            service: &self.options.service,
            regions: &self.options.regions,
        }
    }

    fn bearer(&self, token: &str) -> Result<Principal, AuthFailure> {
        if token.is_empty() {
            return Err(AuthFailure::malformed("Bearer needs a token after it"));
        }
        if token.contains(' ') {
            return Err(AuthFailure::malformed("the bearer token contains a space"));
        }
        self.token_hashes
            .find(token)
            .and_then(|i| self.token_principals.get(i))
            .cloned()
            .ok_or(AuthFailure::UnknownToken)
    }
}

/// The one `Authorization` header, split into its scheme and the rest.
fn authorization<'r>(req: &'r RequestView<'_>) -> Result<(&'r str, &'r str), AuthFailure> {
    let mut values = req.headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(if is_presigned(req.uri) {
            unsupported_presigned()
        } else {
            AuthFailure::MissingCredentials
        });
    };
    if values.next().is_some() {
        return Err(AuthFailure::malformed("more than one Authorization header"));
    }
    let value = value
        .to_str()
        .map_err(|_| AuthFailure::malformed("the value holds bytes that are not visible ASCII"))?;
    let value = value.trim_matches(' ');
    Ok(value.split_once(' ').unwrap_or((value, "")))
}

fn is_presigned(uri: &Uri) -> bool {
    uri.query().is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes())
            .any(|(k, _)| k == "X-Amz-Signature" || k == "X-Amz-Credential")
    })
}

fn unsupported_presigned() -> AuthFailure {
    AuthFailure::UnsupportedScheme {
        what: "presigned URLs (SigV4 in the query string) are not supported; \
               sign the request in the Authorization header"
            .into(),
    }
}

/// The refusal for a scheme other than Bearer and AWS4-HMAC-SHA256. The
/// scheme is only repeated when it is a well-known one: an unknown "scheme"
/// may be a secret sent without one.
fn unsupported(scheme: &str) -> AuthFailure {
    const USE: &str = "use `Bearer <token>` or AWS Signature Version 4 (AWS4-HMAC-SHA256)";
    if scheme.is_empty() {
        return AuthFailure::malformed("the header is empty");
    }
    if scheme.starts_with(TOKEN_PREFIX) {
        return AuthFailure::malformed(
            "it holds a token without a scheme; send `Authorization: Bearer <token>`",
        );
    }
    let what = match scheme {
        "AWS4-ECDSA-P256-SHA256" => {
            format!("SigV4a (AWS4-ECDSA-P256-SHA256) is not supported; {USE}")
        }
        "AWS" => format!("AWS Signature Version 2 is not supported; {USE}"),
        _ => {
            const KNOWN: [&str; 9] = [
                "Basic",
                "Digest",
                "Negotiate",
                "NTLM",
                "HOBA",
                "Mutual",
                "OAuth",
                "DPoP",
                "Token",
            ];
            match KNOWN.iter().find(|k| k.eq_ignore_ascii_case(scheme)) {
                Some(known) => format!("the {known} scheme is not supported; {USE}"),
                None if scheme.eq_ignore_ascii_case(sigv4::ALGORITHM) => {
                    format!("the scheme is spelled {}, in capitals", sigv4::ALGORITHM)
                }
                None => format!("unrecognised scheme; {USE}"),
            }
        }
    };
    AuthFailure::UnsupportedScheme { what }
}
