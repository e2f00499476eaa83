//! What a correlation rule means once read: Sigma's `correlation:` section
//! (keys unchanged) plus Trailmark's extensions beside it, checked once by
//! [`Correlation::check`] so the engine never re-validates.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (event time) or a duration in
/// milliseconds.
pub type Millis = i64;

/// The longest `timespan` a rule may have: a week. State is kept for a
/// window's length, so the bound keeps a rule's memory bounded in time too.
pub const MAX_TIMESPAN: Millis = 7 * 86_400_000;

/// The largest count a condition may ask for. Per-group state grows with it
/// (a sliding `event_count` keeps that many timestamps), not with events.
pub const MAX_THRESHOLD: u64 = 1_000;

/// Most rules one correlation may name (in `rules` and `absent` together).
pub const MAX_MEMBER_RULES: usize = 32;

/// Sigma's correlation types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// `event_count`: how many events of the rules in a window, per group.
    EventCount,
    /// `value_count`: how many distinct values of `field` in a window.
    ValueCount {
        /// The field (or alias) whose distinct values are counted.
        field: String,
    },
    /// `temporal`: events of every named rule (or as many as the
    /// condition asks) within one window, in any order.
    Temporal,
    /// `temporal_ordered`: events of every named rule in the order named,
    /// each strictly later in event time than the one before, within one
    /// window.
    TemporalOrdered,
}

impl Kind {
    /// The name Sigma gives the type.
    pub fn sigma_name(&self) -> &'static str {
        match self {
            Kind::EventCount => "event_count",
            Kind::ValueCount { .. } => "value_count",
            Kind::Temporal => "temporal",
            Kind::TemporalOrdered => "temporal_ordered",
        }
    }
}

/// Sigma's `condition`: every bound present must hold (`gt: 100, lte: 200`
/// is a range).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// Greater than.
    pub gt: Option<u64>,
    /// Greater than or equal.
    pub gte: Option<u64>,
    /// Less than.
    pub lt: Option<u64>,
    /// Less than or equal.
    pub lte: Option<u64>,
    /// Equal.
    pub eq: Option<u64>,
    /// Not equal.
    pub neq: Option<u64>,
}

impl Condition {
    /// `gte: n`.
    pub fn at_least(n: u64) -> Self {
        Self {
            gte: Some(n),
            ..Self::default()
        }
    }

    /// Whether a count satisfies every bound.
    pub fn holds(&self, n: u64) -> bool {
        self.gt.is_none_or(|b| n > b)
            && self.gte.is_none_or(|b| n >= b)
            && self.lt.is_none_or(|b| n < b)
            && self.lte.is_none_or(|b| n <= b)
            && self.eq.is_none_or(|b| n == b)
            && self.neq.is_none_or(|b| n != b)
    }

    /// Whether some bound caps the count from above (`lt`, `lte`, `eq`,
    /// `neq`): such a condition can only be decided when the window closes,
    /// since more events may still come.
    pub fn has_upper_bound(&self) -> bool {
        self.lt.is_some() || self.lte.is_some() || self.eq.is_some() || self.neq.is_some()
    }

    /// The smallest count that can satisfy the lower bounds (at least 1).
    pub fn need(&self) -> u64 {
        let gt = self.gt.map_or(0, |b| b.saturating_add(1));
        gt.max(self.gte.unwrap_or(0))
            .max(self.eq.unwrap_or(0))
            .max(1)
    }

    /// How far a count must be tracked to decide the condition: past the
    /// largest bound named, any larger count decides the same way.
    pub fn saturation(&self) -> u64 {
        [self.gt, self.gte, self.lt, self.lte, self.eq, self.neq]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(0)
            .saturating_add(1)
            .max(self.need())
    }

    fn bounds(&self) -> impl Iterator<Item = (&'static str, u64)> {
        [
            ("gt", self.gt),
            ("gte", self.gte),
            ("lt", self.lt),
            ("lte", self.lte),
            ("eq", self.eq),
            ("neq", self.neq),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
    }
}

/// Our extension: which events form a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Window {
    /// `sliding` (the default): at each event at time `t`, the window is
    /// `[t - timespan, t]`, both ends included.
    #[default]
    Sliding,
    /// `tumbling`: fixed windows `[k·timespan, (k+1)·timespan)` from the
    /// epoch; an event exactly on a boundary starts the next window.
    Tumbling,
    /// `session`: a window lasts while each event comes at most `timespan`
    /// after the one before it, and closes after `timespan` of silence.
    Session,
}

/// Our extension: what happens to a group after it fires.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AfterFire {
    /// `reset` (the default): the group's window state is cleared; the
    /// events that fired never count again.
    #[default]
    Reset,
    /// `suppress: <duration>`: the state is kept, but the group does not
    /// fire again until this long after its last fire.
    Suppress(Millis),
}

/// A correlation rule, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Correlation {
    /// The rule's name (fire ids and fire events carry it).
    pub name: String,
    /// Sigma `type`.
    pub kind: Kind,
    /// Sigma `rules`: the names of the rules whose matches are counted.
    pub rules: Vec<String>,
    /// Sigma `group-by`: field paths or alias names.
    pub group_by: Vec<String>,
    /// Sigma `timespan`, in milliseconds.
    pub timespan: Millis,
    /// Sigma `condition` (for `temporal`, a count of distinct rules; its
    /// default is all of them).
    pub condition: Condition,
    /// Sigma `aliases`: alias → rule name → field path.
    pub aliases: BTreeMap<String, BTreeMap<String, String>>,
    /// Ours: the window.
    pub window: Window,
    /// Ours: what happens after a fire.
    pub after_fire: AfterFire,
    /// Ours: how late (in event time, behind the latest seen) an event may
    /// arrive and still be correlated as if it came in order.
    pub lateness: Millis,
    /// Ours: absence. When not empty, an event of `rules` opens a window of
    /// `timespan`; an event of one of these rules in the same group within
    /// it (at the same time or later) cancels it; a window that closes
    /// uncancelled fires.
    pub absent: Vec<String>,
}

/// A problem with a correlation: the key it concerns and what would be valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct Problem {
    /// The key in the rule file (`correlation.condition`, `window`, …).
    pub key: &'static str,
    /// What is wrong and what would be right.
    pub message: String,
}

impl Correlation {
    /// A sliding, resetting correlation with no aliases, lateness or
    /// absence; change fields to taste, then [`Correlation::check`].
    pub fn new(
        name: impl Into<String>,
        kind: Kind,
        rules: Vec<String>,
        group_by: Vec<String>,
        timespan: Millis,
        condition: Condition,
    ) -> Self {
        Self {
            name: name.into(),
            kind,
            rules,
            group_by,
            timespan,
            condition,
            aliases: BTreeMap::new(),
            window: Window::Sliding,
            after_fire: AfterFire::Reset,
            lateness: 0,
            absent: Vec::new(),
        }
    }

    /// Every problem that makes this correlation meaningless; empty when it
    /// can run. Names of other rules are the loader's to check.
    pub fn check(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem = |key, message: String| problems.push(Problem { key, message });
        if self.rules.is_empty() {
            problem(
                "correlation.rules",
                "name at least one rule whose matches are correlated".into(),
            );
        }
        if self.rules.len() + self.absent.len() > MAX_MEMBER_RULES {
            problem(
                "correlation.rules",
                format!("a correlation names at most {MAX_MEMBER_RULES} rules"),
            );
        }
        if self.timespan <= 0 || self.timespan > MAX_TIMESPAN {
            problem(
                "correlation.timespan",
                format!(
                    "the timespan must be more than 0 and at most {} (7d)",
                    format_millis(MAX_TIMESPAN)
                ),
            );
        }
        if self.lateness < 0 || self.lateness > self.timespan.max(0) {
            problem(
                "lateness",
                "the lateness allowance must be between 0 and the timespan".into(),
            );
        }
        if let AfterFire::Suppress(d) = self.after_fire
            && (d <= 0 || d > MAX_TIMESPAN)
        {
            problem(
                "after-fire",
                "suppress for more than 0 and at most 7d".into(),
            );
        }
        for (k, v) in self.condition.bounds() {
            if v > MAX_THRESHOLD {
                problem(
                    "correlation.condition",
                    format!(
                        "`{k}: {v}` is over {MAX_THRESHOLD}, the largest count a condition may name"
                    ),
                );
            }
        }
        match self.kind {
            Kind::TemporalOrdered if self.condition != Condition::default() => problem(
                "correlation.condition",
                "temporal_ordered fires when all its rules appear in order; it takes no condition"
                    .into(),
            ),
            Kind::Temporal if self.condition.need() > self.rules.len() as u64 => problem(
                "correlation.condition",
                format!(
                    "temporal counts distinct rules; this one names {}, so the condition can never hold",
                    self.rules.len()
                ),
            ),
            Kind::EventCount | Kind::ValueCount { .. } | Kind::Temporal
                if self.condition == Condition::default() && !self.is_absence() =>
            {
                problem(
                    "correlation.condition",
                    format!(
                        "{} needs a condition (gt, gte, lt, lte, eq or neq)",
                        self.kind.sigma_name()
                    ),
                )
            }
            _ => {}
        }
        if self.window == Window::Sliding && self.condition.has_upper_bound() && !self.is_absence()
        {
            problem(
                "correlation.condition",
                "lt, lte, eq and neq can only be decided when a window closes, and a sliding \
                 window never does; add `window: tumbling` or `window: session`, or use gt/gte"
                    .into(),
            );
        }
        if self.is_absence() {
            if self.kind != Kind::EventCount {
                problem(
                    "absent",
                    "absence counts the events of `rules` in the window; use type event_count"
                        .into(),
                );
            }
            if self.window != Window::Sliding {
                problem(
                    "absent",
                    "an absence window opens at its first event; drop `window`".into(),
                );
            }
            if let Some(r) = self.absent.iter().find(|r| self.rules.contains(r)) {
                problem(
                    "absent",
                    format!("`{r}` is in both `rules` and `absent`; an event cannot cancel itself"),
                );
            }
        }
        for (alias, by_rule) in &self.aliases {
            if let Some(r) = by_rule.keys().find(|r| !self.members().any(|m| m == *r)) {
                problem(
                    "correlation.aliases",
                    format!(
                        "alias `{alias}` maps rule `{r}`, which this correlation does not name"
                    ),
                );
            }
        }
        problems
    }

    /// Whether this is an absence correlation (`absent:` names rules).
    pub fn is_absence(&self) -> bool {
        !self.absent.is_empty()
    }

    /// Every rule name this correlation listens to: `rules`, then `absent`.
    pub fn members(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().chain(&self.absent).map(String::as_str)
    }

    /// The field path `name` (a `group-by` entry or the `value_count`
    /// field) means in an event matched by `rule`: the alias's field for
    /// that rule when `name` is an alias, else `name` itself.
    pub fn field_for<'a>(&'a self, name: &'a str, rule: &str) -> &'a str {
        self.aliases
            .get(name)
            .and_then(|by_rule| by_rule.get(rule))
            .map_or(name, String::as_str)
    }
}

/// Sigma's timespan grammar: a positive number and one lowercase unit, `s`,
/// `m`, `h` or `d` (`30s`, `5m`, `1h`, `1d`).
pub fn parse_timespan(text: &str) -> Result<Millis, String> {
    let bad = || {
        format!(
            "`{text}` is not a timespan; write a number and s, m, h or d (`30s`, `5m`, `1h`, `1d`)"
        )
    };
    let unit = text.chars().last().ok_or_else(bad)?;
    let scale: Millis = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        _ => return Err(bad()),
    };
    let digits = &text[..text.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: Millis = digits.parse().map_err(|_| bad())?;
    n.checked_mul(scale).filter(|&ms| ms > 0).ok_or_else(bad)
}

/// A duration in the largest whole unit of [`parse_timespan`]'s grammar.
pub fn format_millis(ms: Millis) -> String {
    for (unit, scale) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms != 0 && ms % scale == 0 {
            return format!("{}{unit}", ms / scale);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans_follow_sigma_grammar() {
        assert_eq!(parse_timespan("30s"), Ok(30_000));
        assert_eq!(parse_timespan("5m"), Ok(300_000));
        assert_eq!(parse_timespan("1h"), Ok(3_600_000));
        assert_eq!(parse_timespan("1d"), Ok(86_400_000));
        for bad in ["", "5", "m", "5M", "1.5h", "-1m", "0s", "5 m", "1w"] {
            assert!(parse_timespan(bad).is_err(), "{bad}");
        }
        assert_eq!(format_millis(90 * 60_000), "90m");
    }

    #[test]
    fn conditions_combine_with_and() {
        let range = Condition {
            gt: Some(100),
            lte: Some(200),
            ..Condition::default()
        };
        assert!(!range.holds(100));
        assert!(range.holds(101));
        assert!(range.holds(200));
        assert!(!range.holds(201));
        assert_eq!(range.need(), 101);
        assert_eq!(range.saturation(), 201);
        assert!(range.has_upper_bound());
        assert_eq!(Condition::at_least(20).need(), 20);
        assert!(!Condition::at_least(20).has_upper_bound());
    }

    #[test]
    fn checks_say_which_key_and_what_is_valid() {
        let mut c = Correlation::new(
            "c",
            Kind::EventCount,
            vec!["a".into()],
            vec!["detail.author".into()],
            MAX_TIMESPAN + 1,
            Condition {
                lt: Some(3),
                ..Condition::default()
            },
        );
        let problems = c.check();
        assert!(problems.iter().any(|p| p.key == "correlation.timespan"));
        assert!(
            problems
                .iter()
                .any(|p| p.key == "correlation.condition" && p.message.contains("window: tumbling"))
        );
        c.timespan = 60_000;
        c.window = Window::Tumbling;
        assert_eq!(c.check(), vec![]);
        c.kind = Kind::TemporalOrdered;
        assert!(c.check().iter().any(|p| p.message.contains("no condition")));
    }
}
