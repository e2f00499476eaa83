//! The parsed, validated form of a pattern and the per-value test of each condition.

use crate::leaf::Leaf;
use crate::values::{Cidr, Glob, NumKey, fold_case, fold_eq};
use serde_json::Value;

/// An object level of a pattern: every field must match (AND), and every `$or` group
/// must have one matching alternative.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub fields: Vec<(String, Field)>,
    pub ors: Vec<Vec<Node>>,
}

/// What a pattern says about one key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Field {
    /// `{"key": {..}}`: conditions on deeper paths.
    Nested(Node),
    /// `{"key": [..]}`: any of these conditions (OR).
    Leaf(Vec<Cond>),
}

/// An exact value from a pattern array.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Str(String),
    Num(NumKey, String),
    Bool(bool),
    Null,
}

/// One condition on a leaf value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    Exact(Scalar),
    Prefix(String),
    /// Operand stored case-folded.
    PrefixCi(String),
    Suffix(String),
    SuffixCi(String),
    EqualsCi(String),
    Wildcard(Glob),
    Numeric(Range),
    Cidr(Cidr, String),
    Exists(bool),
    AnythingBut(AnythingBut),
}

/// The forms of `anything-but`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AnythingBut {
    /// Excluded values: all strings or all numbers.
    Values(Vec<Scalar>),
    /// Excluded prefixes (none empty): a string starting with any of them fails.
    Prefix(Vec<String>),
    /// Excluded suffixes (none empty).
    Suffix(Vec<String>),
    /// Excluded wildcards: a string matching any of them fails.
    Wildcard(Vec<Glob>),
    /// Operands stored case-folded.
    EqualsCi(Vec<String>),
}

/// A numeric interval; `None` bounds are open-ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Range {
    pub lo: Option<(f64, bool)>,
    pub hi: Option<(f64, bool)>,
}

impl Range {
    pub(crate) fn contains(&self, v: f64) -> bool {
        let lo_ok = match self.lo {
            None => true,
            Some((b, incl)) => v > b || (incl && v == b),
        };
        let hi_ok = match self.hi {
            None => true,
            Some((b, incl)) => v < b || (incl && v == b),
        };
        lo_ok && hi_ok
    }
}

impl Scalar {
    /// Exact equality as EventBridge sees it: same JSON type, numbers by value.
    pub(crate) fn matches(&self, v: &Leaf<'_>) -> bool {
        match (self, v) {
            (Scalar::Str(a), Leaf::Str(b)) => a == b,
            (Scalar::Num(k, _), Leaf::Num(n, _)) => k == n,
            (Scalar::Bool(a), Leaf::Bool(b)) => a == b,
            (Scalar::Null, Leaf::Null) => true,
            _ => false,
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Scalar::Str(s) => Value::String(s.clone()).to_string(),
            Scalar::Num(_, text) => text.clone(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Null => "null".into(),
        }
    }
}

fn quote(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// `"a"` for one operand (the form written before lists were allowed), `["a", "b"]` for more.
fn quote_list(items: &[String]) -> String {
    match items {
        [one] => quote(one),
        many => {
            let q: Vec<String> = many.iter().map(|s| quote(s)).collect();
            format!("[{}]", q.join(", "))
        }
    }
}

impl Cond {
    /// Whether one leaf value satisfies this condition (`Exists(false)` never does: it is
    /// about the absence of values and is handled by the caller).
    pub(crate) fn matches(&self, v: &Leaf<'_>) -> bool {
        let s = v.as_str();
        match self {
            Cond::Exact(x) => x.matches(v),
            Cond::Prefix(p) => s.is_some_and(|s| s.starts_with(p.as_str())),
            Cond::PrefixCi(p) => s.is_some_and(|s| fold_case(s).starts_with(p.as_str())),
            Cond::Suffix(p) => s.is_some_and(|s| s.ends_with(p.as_str())),
            Cond::SuffixCi(p) => s.is_some_and(|s| fold_case(s).ends_with(p.as_str())),
            Cond::EqualsCi(p) => s.is_some_and(|s| fold_case(s) == *p),
            Cond::Wildcard(g) => s.is_some_and(|s| g.matches(s)),
            Cond::Numeric(r) => matches!(v, Leaf::Num(_, Some(f)) if r.contains(*f)),
            Cond::Cidr(c, _) => s.is_some_and(|s| c.contains(s)),
            Cond::Exists(e) => *e,
            Cond::AnythingBut(ab) => ab.matches(v),
        }
    }

    /// Human text for messages and summaries, e.g. `prefix "arn:"`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Cond::Exact(x) => format!("= {}", x.describe()),
            Cond::Prefix(p) => format!("prefix {}", quote(p)),
            Cond::PrefixCi(p) => format!("prefix (ignoring case) {}", quote(p)),
            Cond::Suffix(p) => format!("suffix {}", quote(p)),
            Cond::SuffixCi(p) => format!("suffix (ignoring case) {}", quote(p)),
            Cond::EqualsCi(p) => format!("equals (ignoring case) {}", quote(p)),
            Cond::Wildcard(g) => format!("wildcard {}", quote(&g.source)),
            Cond::Numeric(r) => {
                let mut parts = Vec::new();
                if let Some((b, incl)) = r.lo {
                    parts.push(format!("{} {b}", if incl { ">=" } else { ">" }));
                }
                if let Some((b, incl)) = r.hi {
                    parts.push(format!("{} {b}", if incl { "<=" } else { "<" }));
                }
                if let (Some((a, true)), Some((b, true))) = (r.lo, r.hi)
                    && a == b
                {
                    return format!("numeric = {a}");
                }
                format!("numeric {}", parts.join(" and "))
            }
            Cond::Cidr(_, src) => format!("cidr {}", quote(src)),
            Cond::Exists(true) => "exists".into(),
            Cond::Exists(false) => "not exists".into(),
            Cond::AnythingBut(ab) => match ab {
                AnythingBut::Values(vs) => {
                    let items: Vec<String> = vs.iter().map(Scalar::describe).collect();
                    format!("anything but [{}]", items.join(", "))
                }
                AnythingBut::Prefix(ps) => format!("anything but prefix {}", quote_list(ps)),
                AnythingBut::Suffix(ps) => format!("anything but suffix {}", quote_list(ps)),
                AnythingBut::Wildcard(gs) => {
                    let srcs: Vec<String> = gs.iter().map(|g| g.source.clone()).collect();
                    format!("anything but wildcard {}", quote_list(&srcs))
                }
                AnythingBut::EqualsCi(vs) => {
                    let items: Vec<String> = vs.iter().map(|v| quote(v)).collect();
                    format!("anything but (ignoring case) [{}]", items.join(", "))
                }
            },
        }
    }
}

impl AnythingBut {
    /// `anything-but` needs a present value: a list of values excludes those values (any
    /// other leaf, of any type, matches); the string forms only match strings.
    /// (event-ruler compares JSON text, so its `anything-but` prefix/suffix forms can also
    /// match numbers; the guide describes them as string matching, which we follow.)
    pub(crate) fn matches(&self, v: &Leaf<'_>) -> bool {
        match self {
            AnythingBut::Values(vs) => !vs.iter().any(|x| x.matches(v)),
            AnythingBut::Prefix(ps) => v
                .as_str()
                .is_some_and(|s| !ps.iter().any(|p| s.starts_with(p.as_str()))),
            AnythingBut::Suffix(ps) => v
                .as_str()
                .is_some_and(|s| !ps.iter().any(|p| s.ends_with(p.as_str()))),
            AnythingBut::Wildcard(gs) => {
                v.as_str().is_some_and(|s| !gs.iter().any(|g| g.matches(s)))
            }
            AnythingBut::EqualsCi(vs) => v
                .as_str()
                .is_some_and(|s| !vs.iter().any(|f| fold_eq(s, f))),
        }
    }
}
