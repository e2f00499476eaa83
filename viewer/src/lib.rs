//! Trailmark's audit viewer: web pages for people who read the trail.
//!
//! Served by `trailmark serve` at `/` (`[viewer] enabled = true`, the
//! default), beside the APIs. The pages are rendered on the server from
//! templates checked at compile time and work without JavaScript: the one
//! script (`/ui/static/localtime.js`, served from the binary) only offers
//! to show times in the browser's zone. No inline script, no request leaves
//! the origin, and every response carries a Content-Security-Policy that
//! says so. Every stored value is
//! HTML-escaped by the templates: bodies are attacker-controlled.
//!
//! * `/`: search the change records with a query bar
//!   (`author:ann type:book -op:delete after:"3 hours ago"`, see [`search`]).
//! * `/ui/entities/{type}/{id}`: an entity's versions, each with its archived
//!   body, and a structural diff between any two ([`diff`]).
//! * `/ui/events/{id}`: an event's envelope, journal sequence and hash,
//!   whether its record is intact and signed ([`integrity`]), and for every
//!   live rule whether it matches and why not ([`explain`]). It reads the
//!   journal, so each principal may open only so many ([`journal_reads`]).
//! * `/ui/explain`: paste an event and see the same for it.
//! * `/ui/checkpoints`: the signed checkpoints with their age, a warning when
//!   the journal head has waited too long for one, and the commands that
//!   verify the journal offline.
//! * `/ui/export?q=…&format=ndjson|csv`: the query's records with their
//!   bodies, streamed, journaled before it runs.
//! * `/ui/operations` (admin only): each rule's state, matches, failures and
//!   lag, the last reload, and the dead letters, to replay or purge after a
//!   confirmation step (`/ui/dead-letters`).
//! * `/ui/signin`, `/ui/signout`: a token with the `view` scope (or `query`
//!   or `admin`) is presented once; the browser then holds only an opaque
//!   session cookie ([`session`]). Every POST carries a CSRF token.
//!
//! The host supplies the stores, the credentials it accepts and a [`Trail`]
//! (journal lookups and the live rules):
//!
//! ```no_run
//! # use std::sync::Arc;
//! # fn wire(metadata: Arc<dyn trailmark_backend_api::MetadataStore>,
//! #         archive: Arc<dyn trailmark_backend_api::ArchiveStore>,
//! #         trail: Arc<dyn trailmark_viewer::Trail>,
//! #         auth: Arc<trailmark_auth::Authenticator>) -> axum::Router {
//! let state = trailmark_viewer::ViewerState::new(metadata, archive, trail, auth);
//! trailmark_viewer::router(Arc::new(state))
//! # }
//! ```

pub mod diff;
pub mod explain;
pub mod export;
pub mod facets;
pub mod integrity;
pub mod journal_reads;
pub mod operations;
mod pages;
pub mod search;
pub mod session;
mod templates;
pub mod when;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};
use trailmark_auth::Authenticator;
use trailmark_backend_api::{ArchiveStore, MetadataStore};

pub use explain::LiveRule;
pub use integrity::{Checkpointed, Checkpoints, SignedCheckpoint};

/// The Content-Security-Policy of every viewer response: the viewer's own
/// stylesheet and script files (no inline script), the live tail's stream
/// from the same origin, nothing else; forms post only to the viewer; no
/// framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// An event as the journal holds it.
#[derive(Debug, Clone)]
pub struct JournaledEvent {
    /// Journal sequence number.
    pub seq: u64,
    /// The journal record's hash, hex.
    pub hash: String,
    /// The EventBridge envelope as the matcher saw it (JSON).
    pub envelope: Vec<u8>,
    /// The rules it matched when accepted.
    pub matched: Vec<String>,
    /// The version of the rule set it was matched against.
    pub ruleset: u64,
    /// Whether the record's hash and its link to the previous record
    /// recompute; why not, when they do not.
    pub chain: Result<(), String>,
    /// What became of its delivery to each rule it matched, by rule.
    pub deliveries: Vec<(String, Delivery)>,
}

/// What became of an event's delivery to one rule, as the journal says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The plugin handled it.
    Delivered,
    /// It failed for good: in the dead-letter store under this id.
    DeadLettered(i64),
    /// No outcome yet: queued, running, retrying, or behind.
    Pending,
    /// No outcome in the stretch of journal after the event that was read.
    NotFound,
}

/// What the viewer reads from the running host besides the stores.
/// Methods may block (journal reads); the viewer calls them off the async
/// threads.
pub trait Trail: Send + Sync + 'static {
    /// The event with this id, if the journal still holds it.
    fn find_event(&self, id: &str) -> Result<Option<JournaledEvent>, String>;
    /// The rules in force now, in rule-set order.
    fn live_rules(&self) -> Vec<LiveRule>;
    /// The rules the event matched when accepted, if the journal still holds
    /// it (for the history page: a lighter [`Trail::find_event`]).
    fn matched_rules(&self, id: &str) -> Option<Vec<String>> {
        self.find_event(id).ok().flatten().map(|e| e.matched)
    }
    /// The last signed checkpoint of the journal head, if any.
    fn last_checkpoint(&self) -> Option<Checkpointed>;
    /// The command that verifies the journal offline on this host.
    fn verify_command(&self) -> String;
    /// The newest `limit` signed checkpoints (newest first), the journal
    /// head and how often it is signed, for the checkpoints page. Reads a
    /// bounded tail of the checkpoint log.
    fn checkpoints(&self, limit: usize) -> Result<integrity::Checkpoints, String>;
    /// A refused sign-in (wrong token, a token without the scope, a forged
    /// form), to be journaled as the host's API refusals are. Must not
    /// block: the host queues it.
    fn record_refusal(&self, refusal: Refusal);
    /// Rules' counters and the last reload, for the operations page.
    fn operations(&self) -> operations::Operations;
    /// The dead letters held, oldest first, at most `limit`.
    fn dead_letters(&self, limit: usize) -> Result<Vec<operations::DeadLetterView>, String>;
    /// Journal the request as an admin action, then replay or purge the
    /// dead letters with these ids (those still held) through the code
    /// `trailmark dlq replay|purge` runs. `Err` when it could not be
    /// journaled (nothing was done) or the store failed.
    fn act_on_dead_letters(&self, request: operations::DeadLetterRequest) -> DeadLettersDone;
    /// Journal an export before it runs; it does not run unless this
    /// resolves `Ok`.
    fn record_export(&self, export: Export) -> Recorded;
    /// The state changes journaled after the journal position `after`
    /// (`None`: after the head, so nothing yet), oldest first, at most
    /// `limit`, from a bounded stretch of the journal. For the live tail.
    fn tail(&self, after: Option<u64>, limit: usize) -> Result<Tail, String>;
}

/// What [`Trail::tail`] read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tail {
    /// Each state change with its journal position, oldest first (events
    /// that are not a valid state change are left out).
    pub changes: Vec<(u64, trailmark_backend_api::ChangeRecord)>,
    /// The journal position read up to: the next read starts after it.
    pub upto: u64,
}

/// What [`Trail::record_export`] resolves to: `Err` says why the record
/// could not be journaled.
pub type Recorded = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'static>>;

/// What [`Trail::act_on_dead_letters`] resolves to.
pub type DeadLettersDone =
    Pin<Box<dyn Future<Output = Result<operations::DeadLetterOutcome, String>> + Send + 'static>>;

/// An export about to run.
#[derive(Debug, Clone)]
pub struct Export {
    /// The signed-in principal.
    pub who: String,
    /// The query bar text.
    pub query: String,
    /// `ndjson` or `csv`.
    pub format: &'static str,
}

/// A sign-in the viewer refused.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The principal when the token was valid, else `anonymous`.
    pub who: String,
    /// 401 or 403.
    pub status: u16,
    /// Why (never a secret).
    pub reason: String,
    /// The path asked.
    pub path: &'static str,
    /// The remote address, when the listener gave it.
    pub remote: Option<SocketAddr>,
}

/// Everything the pages need.
pub struct ViewerState {
    metadata: Arc<dyn MetadataStore>,
    archive: Arc<dyn ArchiveStore>,
    trail: Arc<dyn Trail>,
    authenticator: Arc<Authenticator>,
    sessions: session::Sessions,
    secure_cookies: bool,
    journal_reads: journal_reads::JournalReads,
    live_streams: Arc<tokio::sync::Semaphore>,
    live_streams_by_principal: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
}

impl ViewerState {
    /// Who a request's session cookie signs in, if it names a live
    /// session: the reader the host's access audit records for a page.
    pub fn reader(&self, headers: &axum::http::HeaderMap) -> Option<trailmark_auth::Principal> {
        session::cookie(headers, session::SESSION_COOKIE)
            .and_then(|id| self.sessions.get(id))
            .map(|session| session.principal)
    }

    /// Live-tail streams open now, and the most that may be.
    pub fn live_streams(&self) -> (usize, usize) {
        let max = pages::live::MAX_STREAMS;
        (max - self.live_streams.available_permits(), max)
    }

    /// A viewer over these stores, signing in with the host's credentials.
    pub fn new(
        metadata: Arc<dyn MetadataStore>,
        archive: Arc<dyn ArchiveStore>,
        trail: Arc<dyn Trail>,
        authenticator: Arc<Authenticator>,
    ) -> Self {
        Self {
            metadata,
            archive,
            trail,
            authenticator,
            sessions: session::Sessions::default(),
            secure_cookies: false,
            journal_reads: journal_reads::JournalReads::new(Default::default()),
            live_streams: Arc::new(tokio::sync::Semaphore::new(pages::live::MAX_STREAMS)),
            live_streams_by_principal: Arc::default(),
        }
    }

    /// Bound the pages that read the journal (the event page) per
    /// principal and across all ([`journal_reads`]); the default allows a
    /// burst of 20 per principal, then one a second, two at once.
    pub fn with_journal_read_limit(mut self, limit: journal_reads::JournalReadLimit) -> Self {
        self.journal_reads = journal_reads::JournalReads::new(limit);
        self
    }

    /// Mark cookies `Secure` (the browser sends them over HTTPS only): for a
    /// viewer served behind a TLS proxy (`[viewer] secure-cookies`).
    pub fn with_secure_cookies(mut self, secure: bool) -> Self {
        self.secure_cookies = secure;
        self
    }

    /// A `Set-Cookie` value with this viewer's attributes.
    fn cookie(&self, name: &str, value: &str, path: &str, max_age: std::time::Duration) -> String {
        session::set_cookie(name, value, path, max_age, self.secure_cookies)
    }
}

/// The viewer's routes: `GET /` and everything under `/ui/`. It takes no
/// other path and no `POST /` (PutEvents stays with the ingest router), and
/// sets no fallback, so it merges into the host's router.
pub fn router(state: Arc<ViewerState>) -> Router {
    Router::new()
        .route("/", get(pages::search_page))
        .route("/ui/signin", get(pages::signin_form).post(pages::signin))
        .route("/ui/signout", post(pages::signout))
        .route(
            "/ui/entities/{entity_type}/{entity_id}",
            get(pages::history_page),
        )
        .route("/ui/events/{id}", get(pages::event_page))
        .route(
            "/ui/explain",
            get(pages::test_event_form).post(pages::test_event),
        )
        .route("/ui/export", get(pages::export))
        .route("/ui/checkpoints", get(pages::checkpoints_page))
        .route("/ui/operations", get(pages::operations_page))
        .route(
            "/ui/dead-letters",
            get(pages::dead_letters_confirm).post(pages::dead_letters_act),
        )
        .route("/ui/static/viewer.css", get(pages::stylesheet))
        .route("/ui/static/localtime.js", get(pages::local_time_script))
        .route("/ui/static/live.js", get(pages::live_script))
        .route("/ui/static/icon.svg", get(pages::icon))
        .route("/ui/live", get(pages::live::live))
        .layer(axum::middleware::map_response(secure_headers))
        .with_state(state)
}

/// Headers on every viewer response: the CSP, no sniffing, no framing, no
/// referrer, and no caching of pages that hold audit data.
async fn secure_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
