//! What the operations page shows: each rule's state and counters, and the
//! last reload. The host fills it from its metrics.

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
