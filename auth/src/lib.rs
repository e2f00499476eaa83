//! Authentication and authorization for Trailmark's HTTP API.
//!
//! Every endpoint but `/healthz` needs credentials, of two kinds:
//!
//! * **Bearer tokens** (`Authorization: Bearer tmk_...`). Only the SHA-256 of
//!   each token is configured ([`TokenSpec`]); tokens are 256 random bits, so
//!   a fast hash is enough (nothing to brute-force). A presented token's hash
//!   is compared with every configured hash in constant time.
//! * **AWS Signature Version 4** with access key pairs ([`AccessKeySpec`]), so
//!   the AWS CLI and SDKs call the EventBridge-compatible PutEvents endpoint
//!   as they call AWS. The signature, the payload hash and the request time
//!   (the replay window, ±5 minutes by default) are checked as AWS does for
//!   services other than S3. The credential scope's service must be
//!   `events` (as for EventBridge); its region may be any unless
//!   [`AuthOptions::regions`] lists the accepted ones. Only header signing is
//!   accepted: presigned URLs and SigV4a are refused with a clear message.
//!
//! Authentication runs in two phases so that nothing is buffered for a
//! caller who could not be let in: [`Authenticator::check_headers`] checks a
//! bearer token completely, and for SigV4 the key id, the replay window and
//! the credential scope; only a SigV4 request that passes it needs its body
//! read, for [`Authenticator::check_body`] to check the signature.
//!
//! Each credential carries [`Scope`]s (`put`, `query`, `admin`; `admin`
//! implies the others) and optionally [`SourceFilter`] patterns limiting the
//! event `source`s it may put. A refusal is an [`AuthFailure`] with an HTTP
//! status, an AWS error code and a message that never contains a secret.
//!
//! On a first start with nothing configured, [`LocalCredentials`] creates an
//! admin token and key pair in the data directory (mode 0600).
//!
//! The crate does no async and no logging: the host calls it from its HTTP
//! middleware and decides what to record.
//!
//! ```
//! use std::time::SystemTime;
//! use http::{HeaderMap, HeaderValue, Method, Uri};
//! use trailmark_auth::*;
//!
//! let token = generate_token(); // show once, store only the hash:
//! let spec = TokenSpec {
//!     name: "billing".into(),
//!     hash: hash_token(token.expose()),
//!     scopes: vec![Scope::Put],
//!     sources: vec!["com.acme.billing.*".into()],
//! };
//! let auth = Authenticator::new(&[spec], &[], AuthOptions::default())?;
//!
//! let mut headers = HeaderMap::new();
//! let value = format!("Bearer {}", token.expose());
//! headers.insert("authorization", HeaderValue::from_str(&value)?);
//! assert!(!needs_body(&headers));
//! let request = RequestView {
//!     method: &Method::POST,
//!     uri: &Uri::from_static("/"),
//!     headers: &headers,
//!     body: &[],
//! };
//! let principal = auth.authenticate(&request, SystemTime::now())?;
//! assert_eq!(principal.name, "billing");
//! assert!(principal.may_put_source("com.acme.billing.invoices"));
//!
//! let refused = principal.require(Scope::Query).unwrap_err();
//! assert_eq!(refused.status(), 403);
//! assert_eq!(refused.aws_code(), "AccessDeniedException");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod authenticator;
mod config;
mod failure;
mod file_mode;
mod local;
mod principal;
mod printable;
mod random;
mod request;
mod scope;
mod secret;
mod sigv4;
mod token;

pub use authenticator::{
    AuthOptions, Authenticated, Authenticator, HeaderCheck, PendingSignature, SIGV4_SERVICE,
    needs_body,
};
pub use config::{AccessKeySpec, AuthConfig, ConfigError, TokenSpec};
pub use failure::AuthFailure;
pub use local::{
    ACCESS_KEY_FILE, ADMIN_TOKEN_FILE, LocalCredentials, LocalError, generate_access_key,
};
pub use principal::{Principal, PrincipalKind};
pub use printable::printable;
pub use request::RequestView;
pub use scope::{Scope, SourceFilter};
pub use secret::Secret;
pub use sigv4::CredentialScope;
pub use token::{TOKEN_PREFIX, TokenHash, TokenHashError, generate_token, hash_token};
