//! The pages' templates (under `templates/`, checked at compile time) and
//! the values they show. Templates only render: every value here is already
//! computed, and askama HTML-escapes each one.

use askama::Template;

/// What every page's frame shows: who is signed in, and the CSRF token of
/// the sign-out form.
pub(crate) struct Chrome {
    /// The principal's name, when signed in.
    pub user: Option<String>,
    /// The session's CSRF token (empty when signed out).
    pub csrf: String,
}

impl Chrome {
    /// The frame of a page seen signed out.
    pub(crate) fn signed_out() -> Self {
        Chrome {
            user: None,
            csrf: String::new(),
        }
    }
}

/// The sign-in form.
#[derive(Template)]
#[template(path = "signin.html")]
pub(crate) struct SignIn {
    pub chrome: Chrome,
    /// Why the last attempt failed, or why sign-in is asked.
    pub message: Option<String>,
    /// The message is a refusal (shown as an error), not a prompt.
    pub refused: bool,
    /// The form's CSRF value (also in the sign-in cookie).
    pub csrf: String,
    /// Where to go after signing in (a viewer path).
    pub next: String,
}

/// A page with only a message: not found, refused, failed.
#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct Message {
    pub chrome: Chrome,
    pub title: String,
    pub message: String,
}

/// One change record in the results.
pub(crate) struct Row {
    pub time: crate::when::Stamp,
    pub operation: String,
    pub entity_type: String,
    pub entity_id: String,
    pub author: String,
    pub source: String,
    pub event_id: String,
    pub history_href: String,
    pub event_href: String,
}

/// The search page.
#[derive(Template)]
#[template(path = "search.html")]
pub(crate) struct SearchPage {
    pub chrome: Chrome,
    /// The query as typed.
    pub q: String,
    /// Why the query cannot be run.
    pub error: Option<String>,
    pub rows: Vec<Row>,
    /// Link to the next page.
    pub next_href: Option<String>,
    /// Links to export the whole result (NDJSON, CSV).
    pub export_hrefs: (String, String),
    /// Said when rows were filtered on the server or the scan stopped short.
    pub note: Option<String>,
    /// The qualifiers, for the help line.
    pub qualifiers: String,
    /// Following live: the first page reloads itself every [`LIVE_SECONDS`].
    pub live: bool,
    /// The link that starts or stops following live.
    pub live_toggle_href: String,
    /// The live tail's stream (`/ui/live?q=…`), for the page's script.
    pub live_src: String,
    /// [`LIVE_SECONDS`], for the page.
    pub live_seconds: u32,
    /// What the result holds, counted by the store (first page only).
    pub summary: Option<SummaryView>,
}

/// Facets and histogram of a search result.
pub(crate) struct SummaryView {
    /// "1,234 matches" or "the newest 5,000 matches".
    pub counted: String,
    pub facets: Vec<crate::facets::Facet>,
    pub bars: Vec<crate::facets::Bar>,
    /// The SVG view box width.
    pub width: usize,
    /// The SVG view box height.
    pub height: u32,
    /// The histogram's first and last instants.
    pub from: crate::when::Stamp,
    pub to: crate::when::Stamp,
}

/// How often a page followed live reloads, in seconds.
pub(crate) const LIVE_SECONDS: u32 = 5;

/// One version of an entity.
pub(crate) struct VersionView {
    /// 1-based, oldest first, on this page.
    pub number: usize,
    pub event_id: String,
    pub event_href: String,
    pub time: crate::when::Stamp,
    pub operation: String,
    pub author: String,
    pub source: String,
    /// The rules the event matched when accepted (empty: none; `None`: the
    /// journal no longer holds it).
    pub rules: Option<String>,
    /// The archived body, pretty-printed.
    pub body: Option<String>,
    /// Why there is no body.
    pub body_note: Option<String>,
    /// Selected as the older side of the diff.
    pub is_from: bool,
    /// Selected as the newer side of the diff.
    pub is_to: bool,
}

/// One changed path.
pub(crate) struct ChangeView {
    pub path: String,
    pub kind: &'static str,
    pub before: String,
    pub after: String,
}

/// The diff between two versions.
pub(crate) struct DiffView {
    pub from: usize,
    pub to: usize,
    pub changes: Vec<ChangeView>,
    pub unchanged: usize,
    pub raw_from: String,
    pub raw_to: String,
}

/// An entity's history.
#[derive(Template)]
#[template(path = "history.html")]
pub(crate) struct HistoryPage {
    pub chrome: Chrome,
    pub entity_type: String,
    pub entity_id: String,
    pub source: Option<String>,
    pub versions: Vec<VersionView>,
    pub diff: Option<DiffView>,
    /// Why no diff is shown.
    pub diff_note: Option<String>,
    pub next_href: Option<String>,
    /// Search link for this entity's changes.
    pub search_href: String,
}

/// One rule's verdict, for display.
pub(crate) struct VerdictView {
    pub rule: String,
    pub plugin: String,
    pub enabled: bool,
    pub matched: bool,
    /// Whether the pipeline delivered the event to this rule when accepted.
    pub matched_at_ingest: bool,
    pub summary: String,
    /// "field `x` is 1 but the pattern requires = 2", when not matched.
    pub why: Option<String>,
    /// (path, actual) of every field the pattern tests.
    pub fields: Vec<(String, String)>,
}

/// An event's detail.
#[derive(Template)]
#[template(path = "event.html")]
pub(crate) struct EventPage {
    pub chrome: Chrome,
    pub id: String,
    pub seq: u64,
    pub hash: String,
    pub ruleset: u64,
    pub matched: Vec<String>,
    /// The envelope, pretty-printed.
    pub envelope: String,
    pub verdicts: Vec<VerdictView>,
    /// Link to the entity's history, for a state change.
    pub history_href: Option<String>,
    /// `covered`, `pending` or `broken`.
    pub integrity: &'static str,
    /// The integrity in a sentence.
    pub integrity_text: String,
    /// How to verify the journal offline.
    pub verify_command: String,
    /// (rule, what became of its delivery, a CSS class) per matched rule.
    pub deliveries: Vec<(String, String, &'static str)>,
}

/// The page to paste an event and explain it against the live rules.
#[derive(Template)]
#[template(path = "test_event.html")]
pub(crate) struct TestEventPage {
    pub chrome: Chrome,
    /// The event as pasted.
    pub event: String,
    /// Why it cannot be tested.
    pub error: Option<String>,
    /// Whether an event was tested (the table is shown).
    pub tested: bool,
    pub verdicts: Vec<VerdictView>,
}

/// The operations page.
#[derive(Template)]
#[template(path = "operations.html")]
pub(crate) struct OperationsPage {
    pub chrome: Chrome,
    pub rules: Vec<crate::operations::RuleCounters>,
    pub reload_at: crate::when::Stamp,
    pub reload_ok: bool,
    pub reload_errors: Vec<String>,
    pub dead_letters: u64,
    /// The oldest dead letters.
    pub letters: Vec<DeadLetterRow>,
    /// Why they could not be listed.
    pub letters_error: Option<String>,
    /// How many are listed at most.
    pub letters_listed: usize,
}

/// One dead letter, for display.
pub(crate) struct DeadLetterRow {
    pub id: i64,
    pub rule: String,
    pub event_id: String,
    pub event_href: String,
    pub attempts: u32,
    pub error: String,
    pub failed_at: crate::when::Stamp,
}

impl From<crate::operations::DeadLetterView> for DeadLetterRow {
    fn from(d: crate::operations::DeadLetterView) -> Self {
        DeadLetterRow {
            id: d.id,
            event_href: crate::pages::event_href(&d.event_id),
            rule: d.rule,
            event_id: d.event_id,
            attempts: d.attempts,
            error: d.error,
            failed_at: crate::when::Stamp::of_ms(d.failed_at_ms),
        }
    }
}

/// The confirmation of a dead-letter replay or purge, and its outcome.
#[derive(Template)]
#[template(path = "dead_letters.html")]
pub(crate) struct DeadLettersPage {
    pub chrome: Chrome,
    /// The session's CSRF token, for the form.
    pub csrf: String,
    /// `replay` or `purge`.
    pub action: &'static str,
    /// The letters to act on (confirmation).
    pub letters: Vec<DeadLetterRow>,
    /// Ids picked that the store no longer holds, comma-separated.
    pub missing: String,
    /// What was done (after the POST).
    pub done: Option<crate::operations::DeadLetterOutcome>,
}

/// One signed checkpoint, for display.
pub(crate) struct CheckpointRow {
    pub seq: u64,
    pub time: crate::when::Stamp,
    /// How long ago it was signed.
    pub age: String,
    pub hash: String,
    pub key_id: String,
}

/// The checkpoints page.
#[derive(Template)]
#[template(path = "checkpoints.html")]
pub(crate) struct CheckpointsPage {
    pub chrome: Chrome,
    /// Said when the head has waited too long for a checkpoint.
    pub warning: Option<String>,
    /// The head's standing when all is well.
    pub status: String,
    pub head_seq: u64,
    /// Newest first.
    pub rows: Vec<CheckpointRow>,
    /// How many are listed at most.
    pub listed: usize,
    pub verify_command: String,
    pub export_command: String,
    pub verify_exported_command: String,
}
