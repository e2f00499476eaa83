//! Amazon EventBridge event patterns: parse, validate, compile all rules into one
//! matcher, match, explain.
//!
//! ```
//! use trailmark_pattern::{MatcherBuilder, Pattern};
//! use serde_json::json;
//!
//! let deletes = Pattern::parse_str(
//!     r#"{"detail-type": ["Object State Change"], "detail": {"operation": ["delete"]}}"#,
//! ).unwrap();
//! let big = Pattern::parse(&json!({"detail": {"data": {"size": [{"numeric": [">", 1000]}]}}})).unwrap();
//!
//! let event = json!({"detail-type": "Object State Change",
//!                    "detail": {"operation": "delete", "data": {"size": 10}}});
//! assert!(deletes.matches(&event));
//! assert_eq!(big.explain(&event).unwrap().path, "detail.data.size");
//!
//! let mut b = MatcherBuilder::new();
//! b.add(1, &deletes);
//! b.add(2, &big);
//! let matcher = b.build();
//! assert_eq!(matcher.matches_value(&event), vec![1]);
//! assert_eq!(matcher.matches_json(event.to_string().as_bytes()).unwrap(), vec![1]);
//! ```
//!
//! # Semantics
//!
//! EventBridge's user guide ("Event patterns", "Content filtering in Amazon EventBridge
//! event patterns") is the reference; where aws/event-ruler differs, the guide wins and
//! the code says so.
//!
//! * **Paths** are segment lists: `{"a.b": [..]}` and `{"a": {"b": [..]}}` differ.
//! * **Values**: an array in the pattern is OR; sibling fields are AND; a value in an
//!   event array matches when any element matches. Exact strings, numbers, booleans and
//!   `null` compare with their JSON type: `"3"` never equals `3`; `null` and `""` are
//!   present values and differ from each other and from a missing field.
//! * **Exact numbers compare by value** (as event-ruler and EventBridge do today):
//!   `[3]` matches `3`, `3.0` and `300e-2`. The guide's older wording compares by text;
//!   by-value is what a user writing `[3]` means, and it keeps `numeric: ["=", 3]` and
//!   `[3]` consistent. Integers are compared exactly, other numbers as `f64`.
//! * **Array consistency**: two fields of one pattern (alternative) may not be satisfied
//!   by values from different elements of the same event array.
//! * **`exists`** is about leaves: `exists: true` needs at least one leaf value (string,
//!   number, boolean or `null`) at the path; an object-valued field, or an empty array,
//!   has none, so `exists: false` holds for it and for a missing field. `exists: false`
//!   is checked across the whole event (a value in any array element makes it fail).
//! * **`anything-but`** needs a present value and applies to each value of an array (the
//!   event matches when one value passes). A value list excludes those exact values, by
//!   the same equality as above (so `{"anything-but": [1]}` still matches `"1"`); the
//!   list holds only strings or only numbers. The `prefix`, `suffix`, `wildcard` and
//!   `equals-ignore-case` forms take one string or a list of them, match strings only,
//!   and exclude a string matching any of them; an excluded prefix or suffix may not be
//!   empty.
//! * **`numeric`** takes one comparison, or a lower (`>`, `>=`) then an upper (`<`,
//!   `<=`) bound; equal bounds are valid, and an empty range matches nothing. Operands must lie in -5.0e9..=5.0e9 with at most 6
//!   digits after the decimal point (the guide's documented range and precision). It
//!   matches JSON numbers only, and never an event number outside that range.
//! * **Case-insensitive** operators fold each character as Java does (upper-case, then
//!   lower-case, when that maps to one character), not full Unicode case folding.
//! * **`wildcard`**: `*` matches any run of characters, `\*` and `\\` are literal; any
//!   other escape and `**` are invalid.
//! * **`cidr`** matches string values that parse as an IP address of the same family in
//!   the network (host bits in the operand are ignored).
//! * **`$or`** takes an array of at least 2 objects, at any level, nested. Inside an
//!   alternative, operator names (`prefix`, `numeric`, `>=`, ...) are not field names.
//!
//! # Matching many patterns
//!
//! [`MatcherBuilder`] compiles all patterns into one automaton (the event-ruler/quamina
//! approach): each `$or` alternative becomes a sequence of steps sorted by field path,
//! sequences share states, and every state indexes its outgoing steps per field (packed
//! open-addressed string tables, one cache line per probe for most keys, for exact and
//! case-folded values, per-length lookups in them for prefixes, suffixes and wildcard
//! leading text, sorted bounds for numeric ranges). A key trie over the
//! paths patterns use lets [`Matcher::matches_json`] decode only those values while it
//! validates the whole event (as `serde_json` would); every other subtree is skipped
//! sixteen bytes at a time without decoding. Cost per event follows the number of
//! automaton states the event reaches, not the number of rules.
//!
//! For a hot loop, [`Matcher::session`] gives a [`Session`] that owns its buffers:
//! [`Session::matches`] allocates nothing once they have grown, and also returns the
//! values at paths registered with [`MatcherBuilder::capture`] (for example
//! [`StateChangeCaptures`]: `detail.entity-type`, `entity-id`, `operation`, `ts`,
//! `author`, and the byte spans of `detail` and `detail.data`), so the caller need not
//! parse the event again. `anything-but`, `cidr` and wildcards whose leading text matches are tested one
//! by one per state, so many of them on one field cost more.
//!
//! # Limits
//!
//! * A pattern may have at most [`MAX_PATTERN_CHARS`] (2048) characters in its compact
//!   JSON form (EventBridge's "Event pattern size" quota).
//! * `$or` and `exists: false` alternatives may expand to at most [`MAX_ALTERNATIVES`]
//!   conjunctions.
//! * A wildcard operand may contain at most [`MAX_WILDCARD_STARS`] stars. Wildcards are
//!   matched by greedy leftmost search, linear in the value, and are indexed by their
//!   literal text before the first `*`.
//!
//! An empty pattern (`{}`) and empty nested objects are rejected, as EventBridge does.

mod ast;
mod dnf;
mod error;
mod event;
mod hash;
mod index;
mod interpret;
mod key_trie;
mod leaf;
mod matcher;
mod parse;
mod pattern;
mod scan;
mod session;
mod skip;
mod strtable;
mod values;

pub use dnf::MAX_ALTERNATIVES;
pub use error::{EventError, Mismatch, PathSegment, PatternError, display_path};
pub use matcher::{CaptureId, Matcher, MatcherBuilder};
pub use parse::MAX_PATTERN_CHARS;
pub use pattern::Pattern;
pub use session::{Captured, Matched, Session, StateChangeCaptures, StateChangeFields};
pub use values::{MAX_WILDCARD_STARS, NUMERIC_MAX, NUMERIC_MIN};
