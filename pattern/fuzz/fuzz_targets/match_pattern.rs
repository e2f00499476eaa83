//! Splits the input at the first NUL byte into a pattern and an event, then checks that
//! parsing never panics and that the compiled matcher (on bytes and on a value) agrees
//! with the reference interpreter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailmark_pattern::{MatcherBuilder, Pattern};

fuzz_target!(|data: &[u8]| {
    let (pat, event) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b"{}"[..]),
    };
    let Ok(pat) = std::str::from_utf8(pat) else {
        return;
    };
    let Ok(pattern) = Pattern::parse_str(pat) else {
        return;
    };
    let _ = pattern.summary();
    let mut b = MatcherBuilder::new();
    b.add(1, &pattern);
    b.add(2, &pattern);
    let m = b.build();
    let from_bytes = m.matches_json(event);
    match serde_json::from_slice::<serde_json::Value>(event) {
        Ok(value) => {
            let expected: Vec<u32> = if pattern.matches(&value) {
                vec![1, 2]
            } else {
                vec![]
            };
            assert_eq!(m.matches_value(&value), expected, "matches_value");
            assert_eq!(
                pattern.explain(&value).is_none(),
                !expected.is_empty(),
                "explain"
            );
            if value.is_object() {
                assert_eq!(
                    from_bytes.expect("serde_json accepted this event"),
                    expected,
                    "matches_json"
                );
            } else {
                assert!(from_bytes.is_err(), "non-object event accepted");
            }
        }
        Err(_) => assert!(from_bytes.is_err(), "event serde_json rejects was accepted"),
    }
});
