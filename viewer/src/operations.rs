//! What the operations page shows: each rule's state and counters, the
//! last reload, the dead letters. The host fills it from its metrics and
//! its dead-letter store, and replays or purges letters as
//! `trailmark dlq replay|purge` does.

/// One rule's counters since the server started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleCounters {
    /// Rule name.
    pub name: String,
    /// The plugin it delivers to.
    pub plugin: String,
    /// Enabled or not.
    pub enabled: bool,
    /// Events matched.
    pub matched: u64,
    /// Deliveries done.
    pub delivered: u64,
    /// Failed attempts (retried or dead-lettered).
    pub failures: u64,
    /// Deliveries given up and dead-lettered.
    pub dead_lettered: u64,
    /// Deliveries owed (in memory and in the journal).
    pub lag: u64,
}

/// The last rule and plugin (re)load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reload {
    /// When, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Whether the new set is in force.
    pub ok: bool,
    /// Problems, as `file:line:col: message`.
    pub errors: Vec<String>,
}

/// The operations page's data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operations {
    /// Rules in rule-set order.
    pub rules: Vec<RuleCounters>,
    /// The last reload.
    pub reload: Reload,
    /// Dead letters held.
    pub dead_letters: u64,
}

/// One dead letter, as the operations page lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterView {
    /// Its id in the dead-letter store.
    pub id: i64,
    /// The rule whose delivery failed.
    pub rule: String,
    /// The event.
    pub event_id: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last error.
    pub error: String,
    /// When it was given up, ms since the Unix epoch.
    pub failed_at_ms: i64,
}

/// What to do with dead letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterAction {
    /// Deliver again to its rule (and take it out of the store).
    Replay,
    /// Delete it for good.
    Purge,
}

impl DeadLetterAction {
    /// `replay` or `purge`, as forms carry it.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "replay" => Some(DeadLetterAction::Replay),
            "purge" => Some(DeadLetterAction::Purge),
            _ => None,
        }
    }

    /// The form value.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterAction::Replay => "replay",
            DeadLetterAction::Purge => "purge",
        }
    }
}

/// A replay or purge asked on the operations page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterRequest {
    /// What to do.
    pub action: DeadLetterAction,
    /// The letters' ids.
    pub ids: Vec<i64>,
    /// The signed-in admin.
    pub who: String,
    /// Where the request came from, when the listener said.
    pub remote: Option<std::net::SocketAddr>,
}

/// What became of the letters acted on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterOutcome {
    /// Replayed or purged.
    pub done: Vec<i64>,
    /// Left in the store, with why.
    pub failed: Vec<(i64, String)>,
}
