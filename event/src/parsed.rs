//! An event with its state change parsed once.

use crate::{Event, StateChange, StateChangeError};

/// An event and what the host parsed from it once, at ingest: for an
/// `Object State Change`, its typed fields or why they are invalid.
///
/// Built once per event and shared (behind an `Arc`) by every rule the event
/// matched, so no delivery parses the detail again.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedEvent {
    event: Event,
    change: Option<Result<StateChange, StateChangeError>>,
    matched: Vec<String>,
}

impl ParsedEvent {
    /// Parse `event`'s detail when its detail-type is `Object State Change`.
    pub fn new(event: Event) -> ParsedEvent {
        let change = event
            .is_state_change()
            .then(|| StateChange::parse(&event.detail));
        ParsedEvent {
            event,
            change,
            matched: Vec::new(),
        }
    }

    /// The same event, noting the rules it matched when it was journaled.
    pub fn with_matched(mut self, rules: Vec<String>) -> ParsedEvent {
        self.matched = rules;
        self
    }

    /// The rules the event matched when it was journaled (empty when not
    /// noted).
    pub fn matched(&self) -> &[String] {
        &self.matched
    }

    /// The event as journaled.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The event, giving up the parsed fields.
    pub fn into_event(self) -> Event {
        self.event
    }

    /// The state change: `None` for another detail-type, else its typed
    /// fields or why the detail is not a valid one.
    pub fn change(&self) -> Option<&Result<StateChange, StateChangeError>> {
        self.change.as_ref()
    }

    /// The raw JSON text of `detail.data` of a valid state change, as
    /// journaled.
    pub fn data(&self) -> Option<&str> {
        match &self.change {
            Some(Ok(change)) => change.data(&self.event.detail),
            _ => None,
        }
    }
}

impl From<Event> for ParsedEvent {
    fn from(event: Event) -> Self {
        ParsedEvent::new(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(detail_type: &str, detail: &str) -> Event {
        Event {
            id: "e-1".into(),
            version: "0".into(),
            source: "com.example".into(),
            detail_type: detail_type.into(),
            time: "2026-11-25T10:30:00Z".into(),
            account: String::new(),
            region: String::new(),
            resources: Vec::new(),
            detail: detail.into(),
        }
    }

    #[test]
    fn parses_state_changes_only() {
        let detail = r#"{"entity-type":"book","entity-id":1,"operation":"insert","ts":5,"author":"a","data": {"t" : 1}}"#;
        let parsed = ParsedEvent::new(event(crate::STATE_CHANGE, detail));
        assert_eq!(parsed.data(), Some(r#"{"t" : 1}"#));
        assert!(matches!(parsed.change(), Some(Ok(_))));
        let other = ParsedEvent::new(event("Login", detail));
        assert!(other.change().is_none());
        assert_eq!(other.data(), None);
        let bad = ParsedEvent::new(event(crate::STATE_CHANGE, "{}"));
        assert!(matches!(bad.change(), Some(Err(_))));
        assert_eq!(bad.into_event().detail, "{}");
    }
}
