//! [`Principal`]: an authenticated caller, what it may do, and the
//! [`AuthFailure::denied`] refusal it answers with when it may not.

use crate::failure::AuthFailure;
use crate::scope::{Scope, SourceFilter};

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

// Built here rather than in `failure.rs`: a denial names the principal that
// was refused, and only the checks above produce one.
impl AuthFailure {
    /// The refusal to send when `principal` lacks a scope or a source; `what`
    /// names it, e.g. ``"the `admin` scope"``.
    pub fn denied(principal: &Principal, what: impl Into<String>) -> Self {
        Self::AccessDenied {
            principal: principal.name.clone(),
            what: what.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
