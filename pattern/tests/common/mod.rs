//! Helpers shared by the integration tests.

use serde_json::Value;
use trailmark_pattern::{MatcherBuilder, Pattern};

/// Checks the interpreter, the compiled matcher (value and bytes) and `explain` agree
/// with `expected` for one pattern/event pair.
pub(crate) fn check(pattern: &str, event: &Value, expected: bool) {
    let p = Pattern::parse_str(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    assert_eq!(
        p.matches(event),
        expected,
        "interpreter: {pattern} on {event}"
    );
    assert_eq!(
        p.explain(event).is_none(),
        expected,
        "explain: {pattern} on {event}: {:?}",
        p.explain(event)
    );
    let mut b = MatcherBuilder::new();
    b.add(7, &p);
    let m = b.build();
    let want: Vec<u32> = if expected { vec![7] } else { vec![] };
    assert_eq!(
        m.matches_value(event),
        want,
        "matcher: {pattern} on {event}"
    );
    if event.is_object() {
        let bytes = event.to_string();
        assert_eq!(
            m.matches_json(bytes.as_bytes()).expect("valid event"),
            want,
            "matcher bytes: {pattern} on {event}"
        );
    }
}
