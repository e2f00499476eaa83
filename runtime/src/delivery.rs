//! The delivery being handled: what the host knows about the event it
//! handed the plugin, and the checks that confine the plugin's capability
//! calls to that event.
//!
//! Nothing here knows about wasmtime or the WIT types: the 0.1 world's
//! capability functions call these checks for the one event of a call, and
//! a batched world can call them for whichever delivery it is handling.

use std::borrow::Cow;
use std::sync::Arc;

use trailmark_backend_api::{ChangeRecord, Event};
use trailmark_event::{ParsedEvent, STATE_CHANGE, StateChange};
use trailmark_sdk::encode_key_value;

use crate::grants::ArchiveGrant;
use crate::quotas::{OverQuota, Quota, Quotas, Usage};
use crate::safe_text::bounded;

/// The prefix of the resource the host adds to each forwarded event.
pub const FORWARDED_BY: &str = "trailmark:rule/";
/// Longest plugin-supplied value quoted in a refusal.
const QUOTE: usize = 128;

/// Why the host refused a capability call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Outside what this delivery may do (`host-error::denied`).
    Denied(String),
    /// Malformed or over a quota (`host-error::invalid`).
    Invalid(String),
}

impl From<OverQuota> for Refusal {
    fn from(error: OverQuota) -> Self {
        Refusal::Invalid(error.to_string())
    }
}

/// The event one delivery handles, as parsed at ingest, and what the plugin
/// has used of its quotas for it.
pub(crate) struct Delivery {
    parsed: Arc<ParsedEvent>,
    rule: Arc<str>,
    pub(crate) usage: Usage,
}

impl Delivery {
    /// The context of delivering `parsed` on behalf of `rule`.
    pub(crate) fn new(parsed: Arc<ParsedEvent>, rule: Arc<str>) -> Delivery {
        Delivery {
            parsed,
            rule,
            usage: Usage::default(),
        }
    }

    /// The delivered event, as parsed at ingest (shared).
    pub(crate) fn parsed(&self) -> &Arc<ParsedEvent> {
        &self.parsed
    }

    /// The delivered event.
    pub(crate) fn event(&self) -> &Event {
        self.parsed.event()
    }

    /// The event's source and id percent-encoded exactly as the SDK encodes
    /// values substituted into archive keys (one `{source}` segment), by the
    /// SDK's own function, so host and plugins agree byte for byte.
    fn key_values(&self) -> Result<(Cow<'_, str>, Cow<'_, str>), Refusal> {
        let source = encode_key_value(&self.event().source);
        let id = encode_key_value(&self.event().id);
        if source.is_empty() || id.is_empty() {
            return Err(Refusal::Denied(format!(
                "event {}: an empty source or id forms no archive key segment, \
                 so it has no archive keys",
                bounded(&self.event().id, QUOTE)
            )));
        }
        Ok((source, id))
    }

    /// The delivered detail as an `Object State Change`, as parsed at ingest.
    fn state_change(&self) -> Result<&StateChange, Refusal> {
        let reason = match self.parsed.change() {
            Some(Ok(change)) => return Ok(change),
            Some(Err(error)) => error.to_string(),
            None => format!(
                "its detail-type is {:?}, not {STATE_CHANGE:?}",
                bounded(&self.event().detail_type, QUOTE)
            ),
        };
        Err(Refusal::Denied(format!(
            "event {} is not an Object State Change ({reason}); only the change \
             record of a delivered Object State Change can be stored",
            self.event().id
        )))
    }

    /// Checks that `key` is one this delivery may write: under the event's
    /// own source segment (or the grant's write prefix instead) and
    /// containing the event's id.
    pub(crate) fn check_write(&self, grant: &ArchiveGrant, key: &str) -> Result<(), Refusal> {
        let (source, id) = self.key_values()?;
        let (under, allowed) = match &grant.write_prefix {
            Some(prefix) => (prefix.as_str(), key.starts_with(prefix.as_str())),
            None => (&*source, first_segment(key) == source),
        };
        if !allowed {
            return Err(Refusal::Denied(format!(
                "archive key {:?} is outside what event {} may write: keys must start \
                 with `{under}{}` and contain the event id",
                bounded(key, QUOTE),
                self.event().id,
                if grant.write_prefix.is_some() {
                    ""
                } else {
                    "/"
                },
            )));
        }
        if !key.contains(&*id) {
            return Err(Refusal::Denied(format!(
                "archive key {:?} does not contain the id of event {}: a delivery may \
                 write only keys of its own event (use a template with `{{id}}`, e.g. \
                 `{{source}}/{{entity-type}}/{{entity-id}}/{{ts}}-{{operation}}-{{id}}.json`)",
                bounded(key, QUOTE),
                self.event().id
            )));
        }
        Ok(())
    }

    /// Checks that `key` is one this delivery may read: under the event's
    /// own source segment or a read prefix of the grant.
    pub(crate) fn check_read(&self, grant: &ArchiveGrant, key: &str) -> Result<(), Refusal> {
        let (source, _) = self.key_values()?;
        let own = first_segment(key) == source && key.len() > source.len();
        if own
            || grant
                .read
                .iter()
                .any(|prefix| key.starts_with(prefix.as_str()))
        {
            return Ok(());
        }
        let mut allowed = vec![format!("{source}/")];
        allowed.extend(grant.read.iter().cloned());
        Err(Refusal::Denied(format!(
            "archive key {:?} is outside what rule {:?} may read while handling event {} \
             (readable: {})",
            bounded(key, QUOTE),
            &*self.rule,
            self.event().id,
            allowed.join(", ")
        )))
    }

    /// The change record the host stores for the plugin's `claimed` one:
    /// identity fields must be the delivered event's; the plugin gives
    /// `attributes` (a JSON object within its quota) and an `archive-key`
    /// of this event (see [`Delivery::check_write`]; under the rule's
    /// write prefix if it has one), or none.
    pub(crate) fn change_record(
        &mut self,
        grant: Option<&ArchiveGrant>,
        quotas: &Quotas,
        claimed: ChangeRecord,
    ) -> Result<ChangeRecord, Refusal> {
        let change = self.state_change()?;
        let ts = change.ts.to_string();
        let claimed_ts = claimed.ts.to_string();
        let fields: [(&str, &str, &str); 7] = [
            ("event-id", &claimed.event_id, &self.event().id),
            ("source", &claimed.source, &self.event().source),
            ("entity-type", &claimed.entity_type, &change.entity_type),
            ("entity-id", &claimed.entity_id, &change.entity_id),
            ("operation", &claimed.operation, change.operation.as_str()),
            ("ts", &claimed_ts, &ts),
            ("author", &claimed.author, &change.author),
        ];
        if let Some((field, claimed, actual)) = fields.iter().find(|(_, c, a)| c != a) {
            return Err(Refusal::Denied(format!(
                "metadata.put: field `{field}` is {:?}, but the delivered event {} has {:?}; \
                 the host records the delivered event's own fields",
                bounded(claimed, QUOTE),
                self.event().id,
                bounded(actual, QUOTE)
            )));
        }
        Usage::check(
            quotas,
            Quota::AttributeBytes,
            claimed.attributes.len() as u64,
            || {
                format!(
                    "metadata.put attributes of {} bytes",
                    claimed.attributes.len()
                )
            },
        )?;
        match serde_json::from_str::<serde_json::Value>(&claimed.attributes) {
            Ok(serde_json::Value::Object(_)) => {}
            _ => {
                return Err(Refusal::Invalid(format!(
                    "metadata.put: attributes must be the text of a JSON object (`{{}}` for \
                     none); got {:?}",
                    bounded(&claimed.attributes, QUOTE)
                )));
            }
        }
        if let Some(key) = &claimed.archive_key {
            // The body is usually written by another rule (the standard
            // `archive`), so the key need not be this rule's to write: it must
            // be one of this event's keys (its source and id), or under this
            // rule's own write prefix.
            let own = self.check_write(&ArchiveGrant::default(), key);
            match grant {
                Some(grant) if own.is_err() && grant.write_prefix.is_some() => {
                    self.check_write(grant, key)?
                }
                _ => own?,
            }
        }
        self.usage
            .take(quotas, Quota::MetadataPuts, 1, "metadata.put")?;
        // The identity fields matched the delivered event's above; what is
        // stored is the delivered event's own, as for a 0.2 plugin.
        self.own_claim(claimed.archive_key, claimed.attributes)
    }

    /// The change record a 0.2 plugin asks for: the delivered event's own
    /// fields, with the plugin's archive key and attributes (checked by
    /// [`Delivery::change_record`] like a 0.1 plugin's claim).
    pub(crate) fn own_claim(
        &self,
        archive_key: Option<String>,
        attributes: String,
    ) -> Result<ChangeRecord, Refusal> {
        let change = self.state_change()?;
        Ok(ChangeRecord {
            // The host's own note of what the event matched, never the
            // plugin's.
            rules: self.parsed.matched().to_vec(),
            ..ChangeRecord::of_change(self.event(), change, archive_key, attributes)
        })
    }

    /// The event to forward for the plugin's `sent` one: the delivered id,
    /// source, detail-type, time, account and region kept; detail and
    /// resources the plugin's; the forwarding rule added to resources.
    pub(crate) fn forwarded(&self, mut sent: Event) -> Result<Event, Refusal> {
        let fields: [(&str, &str, &str); 6] = [
            ("id", &sent.id, &self.event().id),
            ("source", &sent.source, &self.event().source),
            ("detail-type", &sent.detail_type, &self.event().detail_type),
            ("time", &sent.time, &self.event().time),
            ("account", &sent.account, &self.event().account),
            ("region", &sent.region, &self.event().region),
        ];
        if let Some((field, sent, actual)) = fields.iter().find(|(_, s, a)| s != a) {
            return Err(Refusal::Denied(format!(
                "forward.send: field `{field}` is {:?}, but the delivered event {} has {:?}; \
                 a plugin forwards the event it was handed and may change only its detail \
                 and resources",
                bounded(sent, QUOTE),
                self.event().id,
                bounded(actual, QUOTE)
            )));
        }
        if let Some(claim) = sent.resources.iter().find(|r| {
            r.starts_with(FORWARDED_BY) && !self.event().resources.iter().any(|own| own == *r)
        }) {
            return Err(Refusal::Denied(format!(
                "forward.send: resource {:?} claims a rule forwarded the event; only the \
                 host adds `{FORWARDED_BY}<rule>`",
                bounded(claim, QUOTE)
            )));
        }
        sent.version = self.event().version.clone();
        sent.resources.push(format!("{FORWARDED_BY}{}", self.rule));
        Ok(sent)
    }
}

fn first_segment(key: &str) -> &str {
    key.split('/').next().unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(source: &str, detail_type: &str) -> Event {
        Event {
            id: "2b8c1a5e-0000-4000-8000-000000000001".to_owned(),
            version: "0".to_owned(),
            source: source.to_owned(),
            detail_type: detail_type.to_owned(),
            time: "2026-11-25T10:30:00Z".to_owned(),
            account: "000000000000".to_owned(),
            region: "local".to_owned(),
            resources: vec![],
            detail: r#"{"entity-type":"account","entity-id":"acct/1","operation":"delete",
                        "ts":"2026-11-25T10:30:00Z","author":"alice"}"#
                .to_owned(),
        }
    }

    fn delivery(source: &str) -> Delivery {
        Delivery::new(
            Arc::new(ParsedEvent::new(event(source, STATE_CHANGE))),
            "r".into(),
        )
    }

    fn denied(result: Result<impl std::fmt::Debug, Refusal>) -> String {
        match result {
            Err(Refusal::Denied(m)) => m,
            other => panic!("expected a denial, got {other:?}"),
        }
    }

    const ID: &str = "2b8c1a5e-0000-4000-8000-000000000001";

    #[test]
    fn writes_are_confined_to_the_events_own_keys() {
        let d = delivery("com.bank");
        let own = ArchiveGrant::default();
        let new_template = format!("com.bank/account/acct%2F1/1795602600000-delete-{ID}.json");
        d.check_write(&own, &new_template)
            .expect("the new default key");
        let old_template = "com.bank/account/acct%2F1/1795602600000-delete.json";
        assert!(denied(d.check_write(&own, old_template)).contains("does not contain the id"));
        let other_source = format!("com.evil/account/1/{ID}.json");
        assert!(denied(d.check_write(&own, &other_source)).contains("must start with `com.bank/`"));
        assert!(denied(d.check_write(&own, &format!("com.bank.x/{ID}"))).contains("com.bank/"));
        let other_event = "com.bank/account/acct%2F1/1-delete-00000000-other.json";
        denied(d.check_write(&own, other_event));
        let prefixed = ArchiveGrant {
            write_prefix: Some("redacted/".to_owned()),
            ..ArchiveGrant::default()
        };
        d.check_write(&prefixed, &format!("redacted/{ID}.json"))
            .expect("under the write prefix");
        denied(d.check_write(&prefixed, &new_template));
    }

    #[test]
    fn source_segment_is_percent_encoded_like_the_sdk() {
        let d = delivery("com.bank/x y");
        d.check_write(&ArchiveGrant::default(), &format!("com.bank%2Fx%20y/{ID}"))
            .expect("encoded source");
        denied(d.check_write(&ArchiveGrant::default(), &format!("com.bank/x y/{ID}")));
    }

    #[test]
    fn reads_are_confined_to_the_source_and_granted_prefixes() {
        let d = delivery("com.team-a");
        let own = ArchiveGrant::default();
        d.check_read(&own, "com.team-a/book/1/x.json")
            .expect("own source");
        let text = denied(d.check_read(&own, "com.bank/account/1/x.json"));
        assert!(text.contains("readable: com.team-a/"), "{text}");
        denied(d.check_read(&own, "com.team-a"));
        let wider = ArchiveGrant {
            read: ["com.bank/".to_owned()].into(),
            ..ArchiveGrant::default()
        };
        d.check_read(&wider, "com.bank/account/1/x.json")
            .expect("granted prefix");
    }

    fn claimed(d: &Delivery) -> ChangeRecord {
        ChangeRecord {
            event_id: d.event().id.clone(),
            source: d.event().source.clone(),
            entity_type: "account".to_owned(),
            entity_id: "acct/1".to_owned(),
            operation: "delete".to_owned(),
            ts: 1_795_602_600_000,
            author: "alice".to_owned(),
            archive_key: Some(format!(
                "com.bank/account/acct%2F1/1795602600000-delete-{ID}.json"
            )),
            attributes: "{}".to_owned(),
            rules: Vec::new(),
        }
    }

    #[test]
    fn change_record_is_the_delivered_events() {
        let quotas = Quotas::default();
        let grant = ArchiveGrant::default();
        let mut d = delivery("com.bank");
        let record = d
            .change_record(Some(&grant), &quotas, claimed(&d))
            .expect("the standard record");
        assert_eq!(record, claimed(&d));
        for (field, change) in [
            (
                "author",
                &(|c: &mut ChangeRecord| c.author = "ceo".into()) as &dyn Fn(&mut _),
            ),
            ("event-id", &|c: &mut ChangeRecord| {
                c.event_id = "made-up".into()
            }),
            ("source", &|c: &mut ChangeRecord| {
                c.source = "com.other".into()
            }),
            ("ts", &|c: &mut ChangeRecord| c.ts = 1),
        ] {
            let mut forged = claimed(&d);
            change(&mut forged);
            let text = denied(d.change_record(Some(&grant), &quotas, forged));
            assert!(text.contains(&format!("field `{field}`")), "{text}");
        }
        // The metadata rule needs no archive grant to record the event's key.
        d.change_record(None, &quotas, claimed(&d))
            .expect("the key of the event itself");
        let mut squatting = claimed(&d);
        squatting.archive_key = Some("com.bank/account/acct%2F1/1-delete.json".into());
        denied(d.change_record(Some(&grant), &quotas, squatting));
        let mut bad = claimed(&d);
        bad.attributes = "[1]".into();
        assert!(matches!(
            d.change_record(Some(&grant), &quotas, bad),
            Err(Refusal::Invalid(_))
        ));
    }

    #[test]
    fn other_detail_types_have_no_change_record() {
        let mut d = Delivery::new(
            Arc::new(ParsedEvent::new(event("com.bank", "Login"))),
            "r".into(),
        );
        let claim = claimed(&d);
        let text = denied(d.change_record(None, &Quotas::default(), claim));
        assert!(text.contains("not an Object State Change"), "{text}");
    }

    #[test]
    fn forwarding_keeps_the_envelope_and_names_the_rule() {
        let d = delivery("com.team-a");
        let mut sent = d.event().clone();
        sent.detail = r#"{"note":"added"}"#.to_owned();
        let out = d.forwarded(sent.clone()).expect("detail may change");
        assert_eq!(out.resources, vec!["trailmark:rule/r".to_owned()]);
        assert_eq!(out.detail, sent.detail);
        for field in ["source", "time", "id"] {
            let mut forged = d.event().clone();
            match field {
                "source" => forged.source = "com.bank".into(),
                "time" => forged.time = "2020-01-01T00:00:00Z".into(),
                _ => forged.id = "other".into(),
            }
            let text = denied(d.forwarded(forged));
            assert!(text.contains(&format!("field `{field}`")), "{text}");
        }
        let mut claim = d.event().clone();
        claim.resources.push("trailmark:rule/admin".into());
        denied(d.forwarded(claim));
    }
}
