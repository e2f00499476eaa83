//! Rule files: format, loading, validation with file:line:col errors, and the
//! compiled rule set.
//!
//! A rule file (`rules/*.yaml`, `*.yml` or `*.json`) names an EventBridge
//! event pattern, the plugin it triggers and what that plugin may touch:
//!
//! ```yaml
//! name: delete-alert
//! description: Tell the admins when any entity is deleted
//! pattern:
//!   detail-type: ["Object State Change"]
//!   detail:
//!     operation: ["delete"]
//! plugin: alert
//! grants:
//!   notify: [admins]
//! config:
//!   subject: "{entity-type} {entity-id} deleted by {author}"
//! retry: { max-attempts: 185, max-age: 24h }
//! ```

pub mod correlation;
pub mod document;
mod links;
mod rule;
mod set;

pub use rule::{
    CallLimits, DeliveryOrder, HostTarget, MAX_PLUGIN_NAME_LEN, RetryPolicy, Rule, RuleProblem,
    check_name, check_plugin_name, parse_rule,
};
pub use set::{
    CorrelationPositions, LoadedRule, RuleError, RuleSet, is_rule_file, load_file, load_str,
    rule_files,
};
