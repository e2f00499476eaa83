//! What an authenticated caller may do: [`Scope`]s, [`SourceFilter`]s and the
//! [`Principal`] that carries them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::failure::AuthFailure;

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

/// How a principal authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// `Authorization: Bearer <token>`.
    Token,
    /// AWS Signature Version 4 with an access key pair.
    AccessKey,
}

/// An authenticated caller: the configured entry that matched the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The entry's name (a token's `name`; an access key's `name`, or its id).
    pub name: String,
    /// Token or access key.
    pub kind: PrincipalKind,
    /// The scopes configured for the entry.
    pub scopes: Vec<Scope>,
    /// Which event sources the entry may put.
    pub sources: SourceFilter,
}

impl Principal {
    /// Whether the principal holds `scope` (directly, through `admin`, or
    /// `view` through `query`).
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.iter().any(|&s| {
            s == scope || s == Scope::Admin || (scope == Scope::View && s == Scope::Query)
        })
    }

    /// Whether the principal may put an event with this `source`: it needs the
    /// `put` scope and the source must pass its source filter.
    pub fn may_put_source(&self, source: &str) -> bool {
        self.allows(Scope::Put) && self.sources.matches(source)
    }

    /// [`Principal::allows`] as a `Result`, with the 403 to send on refusal.
    pub fn require(&self, scope: Scope) -> Result<(), AuthFailure> {
        if self.allows(scope) {
            Ok(())
        } else {
            Err(AuthFailure::denied(self, format!("the `{scope}` scope")))
        }
    }

    /// [`Principal::may_put_source`] as a `Result`, with the 403 to send on
    /// refusal (naming the source and the allowed patterns).
    pub fn require_put_source(&self, source: &str) -> Result<(), AuthFailure> {
        self.require(Scope::Put)?;
        if self.sources.matches(source) {
            Ok(())
        } else {
            Err(AuthFailure::denied(
                self,
                format!(
                    "events with source {source:?} (allowed: {})",
                    self.sources.patterns().join(", ")
                ),
            ))
        }
    }
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
    fn admin_implies_every_scope_but_keeps_source_limits() {
        let admin = Principal {
            name: "ops".into(),
            kind: PrincipalKind::Token,
            scopes: vec![Scope::Admin],
            sources: SourceFilter::new(["ops.*"]),
        };
        assert!(admin.allows(Scope::Put) && admin.allows(Scope::Query));
        assert!(admin.may_put_source("ops.deploy"));
        assert!(!admin.may_put_source("billing"));
    }

    #[test]
    fn put_is_limited_by_scope_and_sources() {
        let team = Principal {
            name: "billing".into(),
            kind: PrincipalKind::AccessKey,
            scopes: vec![Scope::Put],
            sources: SourceFilter::new(["com.acme.billing", "com.acme.billing.*"]),
        };
        assert!(team.may_put_source("com.acme.billing"));
        assert!(team.may_put_source("com.acme.billing.invoices"));
        assert!(!team.may_put_source("com.acme.orders"));
        assert!(!team.allows(Scope::Query));
        let err = team.require_put_source("com.acme.orders").unwrap_err();
        assert_eq!(err.status(), 403);
        assert_eq!(err.aws_code(), "AccessDeniedException");
        assert!(err.to_string().contains("\"com.acme.orders\""), "{err}");
        assert!(
            team.require(Scope::Query)
                .unwrap_err()
                .to_string()
                .contains("`query`")
        );

        let reader = Principal {
            scopes: vec![Scope::Query],
            sources: SourceFilter::default(),
            ..team
        };
        assert!(!reader.may_put_source("anything"));
        assert!(reader.require(Scope::Query).is_ok());
    }

    #[test]
    fn view_is_held_through_query_or_admin_and_grants_nothing_else() {
        let with = |scopes: Vec<Scope>| Principal {
            name: "auditor".into(),
            kind: PrincipalKind::Token,
            scopes,
            sources: SourceFilter::default(),
        };
        assert!(with(vec![Scope::View]).allows(Scope::View));
        assert!(with(vec![Scope::Query]).allows(Scope::View));
        assert!(with(vec![Scope::Admin]).allows(Scope::View));
        assert!(!with(vec![Scope::Put]).allows(Scope::View));
        assert!(!with(vec![Scope::Metrics]).allows(Scope::View));
        let viewer = with(vec![Scope::View]);
        for other in [Scope::Put, Scope::Query, Scope::Admin, Scope::Metrics] {
            assert!(!viewer.allows(other), "view must not grant {other}");
        }
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
