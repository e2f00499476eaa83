//! Pattern JSON → validated [`Node`] tree, with errors that name the JSON path.

use crate::ast::{AnythingBut, Cond, Field, Node, Range, Scalar};
use crate::error::{PathSegment, PatternError};
use crate::values::{
    Cidr, Glob, GlobError, MAX_WILDCARD_STARS, NUMERIC_MAX, NUMERIC_MIN, NumKey, fold_case,
};
use serde_json::{Map, Number, Value};
use trailmark_event::json_kind;

/// EventBridge's documented maximum event pattern size, in characters (of the compact
/// JSON form, so indentation in a rule file does not count).
pub const MAX_PATTERN_CHARS: usize = 2048;

type Res<T> = Result<T, PatternError>;

fn err<T>(path: &[PathSegment], reason: impl Into<String>) -> Res<T> {
    Err(PatternError::new(path, reason))
}

/// The error for a value of the wrong JSON type: `{expected}, got a string`.
fn wrong_type<T>(path: &[PathSegment], expected: impl std::fmt::Display, got: &Value) -> Res<T> {
    err(path, format!("{expected}, got {}", json_kind(got)))
}

fn with(path: &[PathSegment], seg: PathSegment) -> Vec<PathSegment> {
    let mut p = path.to_vec();
    p.push(seg);
    p
}

fn key(path: &[PathSegment], k: &str) -> Vec<PathSegment> {
    with(path, PathSegment::Key(k.to_string()))
}

/// Parses and validates the top-level pattern object.
pub(crate) fn parse_root(v: &Value) -> Res<Node> {
    let obj = match v {
        Value::Object(m) => m,
        other => {
            return wrong_type(&[], "pattern must be a JSON object", other);
        }
    };
    let size = v.to_string().chars().count();
    if size > MAX_PATTERN_CHARS {
        return err(
            &[],
            format!("pattern is {size} characters; the limit is {MAX_PATTERN_CHARS}"),
        );
    }
    parse_object(obj, &[], false)
}

/// Names EventBridge reserves for operators: inside a `$or` alternative (at any depth)
/// they may not be used as field names, since an operator object there is a mistake
/// (`{"$or": [{"numeric": [">", 5]}, ..]}` would otherwise match a field `numeric`).
const RESERVED_IN_OR: &[&str] = &[
    "exactly",
    "equals-ignore-case",
    "prefix",
    "suffix",
    "anything-but",
    "exists",
    "wildcard",
    "numeric",
    "cidr",
    "=",
    "<",
    "<=",
    ">",
    ">=",
];

/// One object level; `in_or` when it sits inside a `$or` alternative.
fn parse_object(obj: &Map<String, Value>, path: &[PathSegment], in_or: bool) -> Res<Node> {
    if obj.is_empty() {
        return err(
            path,
            "empty object; a pattern object needs at least one field",
        );
    }
    let mut node = Node {
        fields: Vec::new(),
        ors: Vec::new(),
    };
    for (k, v) in obj {
        let here = key(path, k);
        if k == "$or" {
            node.ors.push(parse_or(v, &here)?);
            continue;
        }
        if in_or && RESERVED_IN_OR.contains(&k.as_str()) {
            return err(
                &here,
                format!(
                    "\"{k}\" is an operator name and cannot be a field name inside \"$or\"; put operators in a match array, e.g. {{\"field\": [{{\"{k}\": ..}}]}}"
                ),
            );
        }
        let field = match v {
            Value::Object(m) => Field::Nested(parse_object(m, &here, in_or)?),
            Value::Array(items) => Field::Leaf(parse_leaf(items, &here)?),
            other => {
                return wrong_type(
                    &here,
                    "value must be an array of match values or an object",
                    other,
                );
            }
        };
        node.fields.push((k.clone(), field));
    }
    Ok(node)
}

fn parse_or(v: &Value, path: &[PathSegment]) -> Res<Vec<Node>> {
    let items = match v {
        Value::Array(items) => items,
        other => {
            return wrong_type(path, "\"$or\" must be an array of objects", other);
        }
    };
    // event-ruler silently treats a malformed "$or" (not an array of 2+ objects) as an
    // ordinary field name for backward compatibility; the guide documents "$or" only as
    // an operator, so we reject it instead of guessing.
    if items.len() < 2 {
        return err(path, "\"$or\" needs at least 2 alternatives");
    }
    let mut alts = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let here = with(path, PathSegment::Index(i));
        match item {
            Value::Object(m) => alts.push(parse_object(m, &here, true)?),
            other => {
                return wrong_type(&here, "\"$or\" alternatives must be objects", other);
            }
        }
    }
    Ok(alts)
}

fn parse_leaf(items: &[Value], path: &[PathSegment]) -> Res<Vec<Cond>> {
    if items.is_empty() {
        return err(path, "empty array; a match array needs at least one value");
    }
    let mut conds = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let here = with(path, PathSegment::Index(i));
        conds.push(match item {
            Value::Object(m) => parse_operator(m, &here)?,
            Value::Array(_) => return err(&here, "nested arrays are not allowed in a match array"),
            scalar => Cond::Exact(scalar_of(scalar, &here)?),
        });
    }
    Ok(conds)
}

fn scalar_of(v: &Value, path: &[PathSegment]) -> Res<Scalar> {
    Ok(match v {
        Value::String(s) => Scalar::Str(s.clone()),
        Value::Number(n) => Scalar::Num(NumKey::of(n), n.to_string()),
        Value::Bool(b) => Scalar::Bool(*b),
        Value::Null => Scalar::Null,
        other => {
            return wrong_type(path, "expected a string, number, boolean or null", other);
        }
    })
}

fn single_entry<'a>(
    m: &'a Map<String, Value>,
    path: &[PathSegment],
) -> Res<(&'a String, &'a Value)> {
    let mut it = m.iter();
    match (it.next(), it.next()) {
        (Some(entry), None) => Ok(entry),
        (None, _) => err(
            path,
            "empty operator object; expected one of prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, cidr, exists",
        ),
        (Some(_), Some(_)) => err(
            path,
            format!(
                "an operator object must have exactly one key, got {}",
                m.len()
            ),
        ),
    }
}

fn string_operand<'a>(op: &str, v: &'a Value, path: &[PathSegment]) -> Res<&'a str> {
    match v {
        Value::String(s) => Ok(s),
        other => wrong_type(path, format!("\"{op}\" needs a string"), other),
    }
}

/// `"x"` or `{"equals-ignore-case": "x"}` for prefix/suffix; returns (text, ignore_case).
fn affix_operand(op: &str, v: &Value, path: &[PathSegment]) -> Res<(String, bool)> {
    match v {
        Value::String(s) => Ok((s.clone(), false)),
        Value::Object(m) => {
            let (k, inner) = single_entry(m, path)?;
            let here = key(path, k);
            if k != "equals-ignore-case" {
                return err(
                    &here,
                    format!("unknown \"{op}\" option \"{k}\"; expected \"equals-ignore-case\""),
                );
            }
            Ok((
                fold_case(string_operand("equals-ignore-case", inner, &here)?),
                true,
            ))
        }
        other => wrong_type(
            path,
            format!("\"{op}\" needs a string or {{\"equals-ignore-case\": string}}"),
            other,
        ),
    }
}

fn glob_operand(v: &Value, path: &[PathSegment]) -> Res<Glob> {
    let s = string_operand("wildcard", v, path)?;
    Glob::parse(s).or_else(|e| {
        err(
            path,
            match e {
                GlobError::ConsecutiveStars => {
                    "wildcard has consecutive \"*\" characters".to_string()
                }
                GlobError::BadEscape => {
                    "wildcard has an invalid escape; only \\* and \\\\ are allowed".to_string()
                }
                GlobError::TooManyStars(n) => {
                    format!("wildcard has {n} \"*\" characters; the limit is {MAX_WILDCARD_STARS}")
                }
            },
        )
    })
}

fn parse_operator(m: &Map<String, Value>, path: &[PathSegment]) -> Res<Cond> {
    let (op, v) = single_entry(m, path)?;
    let here = key(path, op);
    Ok(match op.as_str() {
        "prefix" => match affix_operand(op, v, &here)? {
            (p, false) => Cond::Prefix(p),
            (p, true) => Cond::PrefixCi(p),
        },
        "suffix" => match affix_operand(op, v, &here)? {
            (p, false) => Cond::Suffix(p),
            (p, true) => Cond::SuffixCi(p),
        },
        "equals-ignore-case" => Cond::EqualsCi(fold_case(string_operand(op, v, &here)?)),
        "wildcard" => Cond::Wildcard(glob_operand(v, &here)?),
        "numeric" => Cond::Numeric(parse_numeric(v, &here)?),
        "cidr" => {
            let s = string_operand(op, v, &here)?;
            match Cidr::parse(s) {
                Some(c) => Cond::Cidr(c, s.to_string()),
                None => {
                    return err(
                        &here,
                        format!(
                            "invalid CIDR \"{s}\"; expected e.g. \"10.0.0.0/24\" or \"2001:db8::/32\""
                        ),
                    );
                }
            }
        }
        "exists" => match v {
            Value::Bool(b) => Cond::Exists(*b),
            other => {
                return wrong_type(&here, "\"exists\" needs true or false", other);
            }
        },
        "anything-but" => Cond::AnythingBut(parse_anything_but(v, &here)?),
        other => {
            return err(
                &here,
                format!(
                    "unknown operator \"{other}\"; expected one of prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, cidr, exists"
                ),
            );
        }
    })
}

fn ab_scalar(v: &Value, path: &[PathSegment]) -> Res<Scalar> {
    match v {
        Value::String(s) => Ok(Scalar::Str(s.clone())),
        Value::Number(n) => Ok(Scalar::Num(NumKey::of(n), n.to_string())),
        other => wrong_type(
            path,
            "\"anything-but\" values must be strings or numbers",
            other,
        ),
    }
}

fn parse_anything_but(v: &Value, path: &[PathSegment]) -> Res<AnythingBut> {
    match v {
        Value::Array(items) => {
            if items.is_empty() {
                return err(
                    path,
                    "empty array; \"anything-but\" needs at least one value",
                );
            }
            let vals = items
                .iter()
                .enumerate()
                .map(|(i, x)| ab_scalar(x, &with(path, PathSegment::Index(i))))
                .collect::<Res<Vec<_>>>()?;
            // EventBridge (and event-ruler) refuse a list mixing strings and numbers.
            let strings = vals.iter().filter(|x| matches!(x, Scalar::Str(_))).count();
            if strings != 0 && strings != vals.len() {
                return err(
                    path,
                    "\"anything-but\" values must be all strings or all numbers, not both",
                );
            }
            Ok(AnythingBut::Values(vals))
        }
        Value::Object(m) => {
            let (k, inner) = single_entry(m, path)?;
            let here = key(path, k);
            match k.as_str() {
                "prefix" => Ok(AnythingBut::Prefix(affix_list(k, inner, &here)?)),
                "suffix" => Ok(AnythingBut::Suffix(affix_list(k, inner, &here)?)),
                "wildcard" => Ok(AnythingBut::Wildcard(
                    string_list(k, inner, &here)?
                        .into_iter()
                        .map(|(s, at)| glob_operand(&Value::String(s), &at))
                        .collect::<Res<Vec<_>>>()?,
                )),
                "equals-ignore-case" => Ok(AnythingBut::EqualsCi(
                    string_list(k, inner, &here)?
                        .into_iter()
                        .map(|(s, _)| fold_case(&s))
                        .collect(),
                )),
                other => err(
                    &here,
                    format!(
                        "unknown \"anything-but\" operator \"{other}\"; expected prefix, suffix, wildcard or equals-ignore-case"
                    ),
                ),
            }
        }
        scalar => Ok(AnythingBut::Values(vec![ab_scalar(scalar, path)?])),
    }
}

/// The operand of an `anything-but` string form: one string or a non-empty array of
/// strings, each with its own path for errors.
fn string_list(op: &str, v: &Value, path: &[PathSegment]) -> Res<Vec<(String, Vec<PathSegment>)>> {
    match v {
        Value::String(s) => Ok(vec![(s.clone(), path.to_vec())]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let at = with(path, PathSegment::Index(i));
                string_operand(op, x, &at).map(|s| (s.to_string(), at))
            })
            .collect(),
        Value::Array(_) => err(
            path,
            format!("empty array; \"{op}\" needs at least one string"),
        ),
        other => wrong_type(
            path,
            format!("\"{op}\" needs a string or an array of strings"),
            other,
        ),
    }
}

/// `anything-but` prefixes or suffixes: like [`string_list`], and none may be empty
/// (EventBridge refuses an empty one; it would exclude every string).
fn affix_list(op: &str, v: &Value, path: &[PathSegment]) -> Res<Vec<String>> {
    string_list(op, v, path)?
        .into_iter()
        .map(|(s, at)| {
            if s.is_empty() {
                err(
                    &at,
                    format!("empty \"{op}\"; \"anything-but\" needs a non-empty {op}"),
                )
            } else {
                Ok(s)
            }
        })
        .collect()
}

fn numeric_operand(v: &Value, path: &[PathSegment]) -> Res<f64> {
    let n: &Number = match v {
        Value::Number(n) => n,
        other => {
            return wrong_type(path, "\"numeric\" needs a number here", other);
        }
    };
    let f = match n.as_f64() {
        Some(f) if f.is_finite() => f,
        _ => return err(path, format!("malformed number {n}")),
    };
    // Recent event-ruler versions accept the whole f64 range; the guide documents
    // -5.0e9..=5.0e9 with six decimal places, and we enforce what the guide says.
    if !(NUMERIC_MIN..=NUMERIC_MAX).contains(&f) {
        return err(
            path,
            format!("number {n} is out of range; \"numeric\" supports -5.0e9 to 5.0e9"),
        );
    }
    let scaled = f * 1e6;
    if (scaled - scaled.round()).abs() > 1e-3 {
        return err(
            path,
            format!("number {n} has more than 6 digits after the decimal point"),
        );
    }
    Ok(f)
}

fn parse_numeric(v: &Value, path: &[PathSegment]) -> Res<Range> {
    let items = match v {
        Value::Array(items) => items,
        other => {
            return wrong_type(
                path,
                "\"numeric\" needs an array like [\">\", 0, \"<=\", 5]",
                other,
            );
        }
    };
    if items.len() != 2 && items.len() != 4 {
        return err(
            path,
            format!(
                "\"numeric\" needs 1 or 2 comparisons (2 or 4 elements), got {} elements",
                items.len()
            ),
        );
    }
    let mut range = Range { lo: None, hi: None };
    for pair in 0..items.len() / 2 {
        let op_path = with(path, PathSegment::Index(pair * 2));
        let num_path = with(path, PathSegment::Index(pair * 2 + 1));
        let op = match &items[pair * 2] {
            Value::String(s) => s.as_str(),
            other => {
                return wrong_type(
                    &op_path,
                    "expected a comparison operator (=, <, <=, >, >=)",
                    other,
                );
            }
        };
        let n = numeric_operand(&items[pair * 2 + 1], &num_path)?;
        // As EventBridge: with two comparisons the lower bound comes first. An empty
        // range (`[">", 5, "<", 1]`) is accepted and matches nothing.
        if pair == 0 && items.len() == 4 && matches!(op, "<" | "<=") {
            return err(
                &op_path,
                "with two comparisons the lower bound (>, >=) comes first, e.g. [\">\", 0, \"<=\", 5]",
            );
        }
        let (slot, bound) = match op {
            "=" if items.len() == 2 => {
                range = Range {
                    lo: Some((n, true)),
                    hi: Some((n, true)),
                };
                continue;
            }
            "=" => return err(&op_path, "\"=\" cannot be combined with another comparison"),
            ">" => (&mut range.lo, (n, false)),
            ">=" => (&mut range.lo, (n, true)),
            "<" => (&mut range.hi, (n, false)),
            "<=" => (&mut range.hi, (n, true)),
            other => {
                return err(
                    &op_path,
                    format!("unknown comparison \"{other}\"; expected =, <, <=, > or >="),
                );
            }
        };
        if slot.is_some() {
            return err(
                &op_path,
                "two comparisons in the same direction; use one lower (>, >=) and one upper (<, <=) bound",
            );
        }
        *slot = Some(bound);
    }
    Ok(range)
}
