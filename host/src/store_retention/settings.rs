//! `[retention]`: how long the metadata store and the archive keep what
//! they hold, by default and per source or entity type.
//!
//! ```toml
//! [retention]
//! metadata = "400d"          # change records (absent: kept forever)
//! archive = "90d"            # entity bodies
//! every = "5m"               # how often a pass runs
//!
//! [[retention.override]]     # first match wins, per store
//! source = "com.acme.payments"
//! metadata = "2557d"
//! archive = "2557d"
//!
//! [[retention.override]]
//! entity-type = "session"
//! archive = "forever"
//! ```

use std::time::Duration;

use serde::{Deserialize, Deserializer};
use trailmark_backend_api::Scope;
use trailmark_backend_api::units::{format_duration, parse_duration};

/// Rows one retention transaction deletes at most, by default.
const DEFAULT_CHUNK: usize = 2_000;

/// How long a store keeps what a rule covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Never removed.
    Forever,
    /// Removed once older than this.
    For(Duration),
}

impl<'de> Deserialize<'de> for Keep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim() == "forever" {
            return Ok(Keep::Forever);
        }
        match parse_duration(&text) {
            Ok(d) if d.is_zero() => Err(serde::de::Error::custom(
                "a retention must be longer than 0s (or \"forever\")",
            )),
            Ok(d) => Ok(Keep::For(d)),
            Err(m) => Err(serde::de::Error::custom(format!(
                "invalid retention {text:?}: {m}, or \"forever\""
            ))),
        }
    }
}

/// A store retention applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// Change records (`[metadata]`), by the record's `ts`.
    Metadata,
    /// Entity bodies (`[archive]`), by their event's time.
    Archive,
}

impl Store {
    /// `metadata` or `archive`: the store's key and section.
    pub fn name(self) -> &'static str {
        match self {
            Store::Metadata => "metadata",
            Store::Archive => "archive",
        }
    }
}

/// `[[retention.override]]`: a retention for the records of one source,
/// one entity type, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Override {
    /// The source, exactly (e.g. `com.acme.payments`).
    pub source: Option<String>,
    /// The entity type, exactly.
    pub entity_type: Option<String>,
    /// How long change records are kept; absent: the next matching rule's.
    pub metadata: Option<Keep>,
    /// How long bodies are kept; absent: the next matching rule's.
    pub archive: Option<Keep>,
}

impl Override {
    fn keep(&self, store: Store) -> Option<Keep> {
        match store {
            Store::Metadata => self.metadata,
            Store::Archive => self.archive,
        }
    }

    fn scope(&self) -> Scope {
        Scope {
            source: self.source.clone(),
            entity_type: self.entity_type.clone(),
        }
    }

    /// `source com.acme.payments, entity-type order`.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = &self.source {
            parts.push(format!("source {s}"));
        }
        if let Some(t) = &self.entity_type {
            parts.push(format!("entity-type {t}"));
        }
        parts.join(", ")
    }
}

/// `[retention]`, as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RetentionSettings {
    /// Change records: how long by default (absent: forever).
    pub metadata: Option<Keep>,
    /// Entity bodies: how long by default (absent: forever).
    pub archive: Option<Keep>,
    /// Per source and entity type; per store, the first that matches and
    /// names the store decides.
    #[serde(rename = "override")]
    pub overrides: Vec<Override>,
    /// How often a retention pass runs (default 5 minutes).
    #[serde(deserialize_with = "trailmark_backend_api::units::duration")]
    pub every: Duration,
    /// Rows one transaction deletes at most (default 2000).
    pub chunk: usize,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            metadata: None,
            archive: None,
            overrides: Vec::new(),
            every: Duration::from_secs(300),
            chunk: DEFAULT_CHUNK,
        }
    }
}

/// One rule of one store, in the order a pass applies them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `default`, or `override 1 (source com.acme.payments)`.
    pub name: String,
    /// What it covers.
    pub scope: Scope,
    /// The scopes of the rules before it (theirs, not this one's).
    pub except: Vec<Scope>,
    /// How long.
    pub keep: Duration,
}

impl RetentionSettings {
    /// Every value in range, or the first key that is not (`(key, why)`).
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.every.is_zero() {
            return Err(("every".into(), "must be longer than 0s".into()));
        }
        if !(1..=100_000).contains(&self.chunk) {
            return Err(("chunk".into(), "must be from 1 to 100000".into()));
        }
        for (i, o) in self.overrides.iter().enumerate() {
            let key = |k: &str| format!("override[{i}].{k}");
            if o.source.is_none() && o.entity_type.is_none() {
                return Err((
                    key("source"),
                    "an override names a `source`, an `entity-type` or both (the default \
                     is `[retention]`'s own `metadata` and `archive`)"
                        .into(),
                ));
            }
            if o.metadata.is_none() && o.archive.is_none() {
                return Err((
                    key("metadata"),
                    "an override sets `metadata`, `archive` or both".into(),
                ));
            }
            for (k, v) in [("source", &o.source), ("entity-type", &o.entity_type)] {
                if v.as_deref().is_some_and(|v| v.trim().is_empty()) {
                    return Err((key(k), "must not be empty".into()));
                }
            }
        }
        Ok(())
    }

    /// Whether anything is ever removed from `store`.
    pub fn applies_to(&self, store: Store) -> bool {
        !self.rules(store).is_empty()
    }

    /// The rules of `store` a pass applies, in order: each override that
    /// names the store, then the store's default. Rules that keep forever
    /// are left out, but still take their records from the rules after them.
    pub fn rules(&self, store: Store) -> Vec<Rule> {
        let mut rules = Vec::new();
        let mut before = Vec::new();
        for (i, o) in self.overrides.iter().enumerate() {
            let Some(keep) = o.keep(store) else {
                continue;
            };
            if let Keep::For(keep) = keep {
                rules.push(Rule {
                    name: format!("override {} ({})", i + 1, o.describe()),
                    scope: o.scope(),
                    except: before.clone(),
                    keep,
                });
            }
            before.push(o.scope());
        }
        let default = match store {
            Store::Metadata => self.metadata,
            Store::Archive => self.archive,
        };
        if let Some(Keep::For(keep)) = default {
            rules.push(Rule {
                name: "default".into(),
                scope: Scope::default(),
                except: before,
                keep,
            });
        }
        rules
    }
}

impl RetentionSettings {
    /// Why a body that is not in the archive is gone, when retention
    /// explains it: the rule that covers a record of `source` and
    /// `entity_type` at `ts` has expired it by `now_ms`.
    pub fn removed_body(
        &self,
        source: &str,
        entity_type: &str,
        ts: i64,
        now_ms: i64,
    ) -> Option<String> {
        let rule = self.rules(Store::Archive).into_iter().find(|r| {
            r.scope.contains(source, entity_type)
                && !r.except.iter().any(|e| e.contains(source, entity_type))
        })?;
        let keep_ms = i64::try_from(rule.keep.as_millis()).unwrap_or(i64::MAX);
        (ts < now_ms.saturating_sub(keep_ms))
            .then(|| format!("removed by retention (archive {})", rule.describe()))
    }
}

impl Rule {
    /// `default: 90d`.
    pub fn describe(&self) -> String {
        format!("{}: {}", self.name, format_duration(self.keep))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> RetentionSettings {
        toml::from_str(text).expect("parses")
    }

    #[test]
    fn absent_is_forever_and_no_rule() {
        let s = RetentionSettings::default();
        assert!(!s.applies_to(Store::Metadata) && !s.applies_to(Store::Archive));
    }

    #[test]
    fn overrides_come_first_and_the_default_excludes_them() {
        let s = parse(
            "metadata = \"400d\"\narchive = \"90d\"\n\
             [[override]]\nsource = \"pay\"\nmetadata = \"2557d\"\n\
             [[override]]\nentity-type = \"session\"\narchive = \"forever\"\n",
        );
        assert_eq!(s.check(), Ok(()));
        let metadata = s.rules(Store::Metadata);
        assert_eq!(metadata.len(), 2);
        assert_eq!(metadata[0].name, "override 1 (source pay)");
        assert_eq!(metadata[0].keep, Duration::from_secs(2557 * 86_400));
        assert_eq!(metadata[1].name, "default");
        assert_eq!(metadata[1].except.len(), 1);
        // The archive: `session` is kept forever, so no rule of its own, but
        // the default leaves it alone; `pay` names no archive retention.
        let archive = s.rules(Store::Archive);
        assert_eq!(archive.len(), 1);
        assert_eq!(archive[0].name, "default");
        assert_eq!(
            archive[0].except,
            [Scope {
                source: None,
                entity_type: Some("session".into())
            }]
        );
    }

    #[test]
    fn a_missing_body_is_explained_by_the_rule_that_expired_it() {
        let s = parse("archive = \"1d\"\n[[override]]\nsource = \"pay\"\narchive = \"forever\"\n");
        let day = 86_400_000;
        let now = 100 * day;
        assert_eq!(
            s.removed_body("shop", "order", now - 2 * day, now)
                .as_deref(),
            Some("removed by retention (archive default: 1d)")
        );
        assert_eq!(
            s.removed_body("shop", "order", now - day, now),
            None,
            "at the cutoff: kept"
        );
        assert_eq!(s.removed_body("pay", "order", 0, now), None, "kept forever");
    }

    #[test]
    fn bad_overrides_are_refused_by_key() {
        for (text, key) in [
            ("[[override]]\nmetadata = \"1d\"\n", "override[0].source"),
            ("[[override]]\nsource = \"s\"\n", "override[0].metadata"),
            (
                "[[override]]\nsource = \"\"\nmetadata = \"1d\"\n",
                "override[0].source",
            ),
            ("chunk = 0\n", "chunk"),
        ] {
            let (k, _) = parse(text).check().unwrap_err();
            assert_eq!(k, key, "{text}");
        }
        for text in [
            "metadata = \"0s\"\n",
            "archive = \"90\"\n",
            "archive = 90\n",
        ] {
            assert!(toml::from_str::<RetentionSettings>(text).is_err(), "{text}");
        }
    }
}
