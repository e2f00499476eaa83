//! What a credential may do: [`Scope`]s and [`SourceFilter`]s, which an
//! authenticated [`Principal`](crate::Principal) carries.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A permission a credential is configured with.
///
/// `admin` implies the others: an admin can already reload rules and
/// replay the journal, so withholding `put` or `query` from it would protect
/// nothing. Source patterns still limit an admin's `put` when configured.
/// `query` implies `view`: the viewer shows what the query API returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Write events (PutEvents and the native ingest API).
    Put,
    /// Read the query API (history, by author, by time).
    Query,
    /// The admin API: rules, plugins, dead letters, replay, purge.
    Admin,
    /// Read `/metrics` and `/readyz` only: what a Prometheus scraper or a
    /// readiness probe holds, instead of an admin token.
    Metrics,
    /// Read the trail in the browser viewer (search, history, diffs, event
    /// detail), nothing else: for auditors and support staff.
    View,
}

impl Scope {
    /// The config spelling: `put`, `query`, `admin` or `metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Put => "put",
            Scope::Query => "query",
            Scope::Admin => "admin",
            Scope::Metrics => "metrics",
            Scope::View => "view",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Glob patterns over an event's `source`: `*` matches any run of characters
/// (including none), every other character matches itself. A source passes
/// when any pattern matches it; an empty filter passes every source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceFilter {
    patterns: Vec<String>,
}

impl SourceFilter {
    /// A filter from patterns (none = any source).
    pub fn new(patterns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            patterns: patterns.into_iter().map(Into::into).collect(),
        }
    }

    /// The patterns as configured.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether the filter lets every source through.
    pub fn is_any(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `source` matches one of the patterns (or the filter is empty).
    pub fn matches(&self, source: &str) -> bool {
        self.is_any() || self.patterns.iter().any(|p| glob_match(p, source))
    }
}

/// `*`-only glob matching in O(pattern × text) time with no recursion: on a
/// mismatch, retry from the last `*` with it absorbing one more character.
fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((star, start)) = backtrack {
            pi = star + 1;
            ti = start + 1;
            backtrack = Some((star, start + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_star_matches_any_run() {
        let cases = [
            ("orders", "orders", true),
            ("orders", "orders2", false),
            ("orders*", "orders", true),
            ("orders*", "orders.eu", true),
            ("*", "", true),
            ("*", "anything", true),
            ("com.acme.*", "com.acme.billing", true),
            ("com.acme.*", "com.acmex.billing", false),
            ("*.billing", "com.acme.billing", true),
            ("*.billing", "com.acme.billing.x", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXcYYb", false),
            ("a**c", "ac", true),
            ("?", "x", false),
            ("a.c", "abc", false),
            ("", "", true),
            ("", "x", false),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(glob_match(pattern, text), want, "{pattern} vs {text}");
        }
    }

    #[test]
    fn glob_is_linear_enough_on_adversarial_input() {
        let pattern = format!("{}b", "*a".repeat(50));
        let text = "a".repeat(10_000);
        assert!(!glob_match(&pattern, &text));
    }

    #[test]
    fn scopes_use_lowercase_names() {
        #[derive(Deserialize)]
        struct Wrap {
            scopes: Vec<Scope>,
        }
        let w: Wrap = toml::from_str(r#"scopes = ["put", "query", "admin", "view"]"#).unwrap();
        assert_eq!(
            w.scopes,
            [Scope::Put, Scope::Query, Scope::Admin, Scope::View]
        );
        assert!(toml::from_str::<Wrap>(r#"scopes = ["Put"]"#).is_err());
    }
}
