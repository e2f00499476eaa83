//! The reference interpreter: flattens the event into (path, value, array positions)
//! leaves and checks each conjunction directly. Simple on purpose; the compiled
//! [`crate::Matcher`] is tested against it.

use crate::dnf::{Conj, Positive};
use crate::error::Mismatch;
use crate::leaf::Leaf;
use serde_json::Value;

/// Which element of which event array a value sits in: `(array number, index)` pairs
/// from the outermost array inwards. Array numbers are unique within one event.
pub(crate) type Membership = Vec<(u32, u32)>;

pub(crate) struct Flat<'a> {
    pub path: Vec<&'a str>,
    pub value: &'a Value,
    pub leaf: Leaf<'a>,
    pub membership: Membership,
}

/// Leaves of an event: objects add path segments, arrays add a membership entry (and no
/// segment, so `{"a":[{"b":1}]}` has a leaf at `a.b`), everything else is a leaf.
pub(crate) fn flatten(event: &Value) -> Vec<Flat<'_>> {
    let mut out = Vec::new();
    let mut next_array = 0;
    walk(
        event,
        &mut Vec::new(),
        &mut Vec::new(),
        &mut next_array,
        &mut out,
    );
    out
}

fn walk<'a>(
    v: &'a Value,
    path: &mut Vec<&'a str>,
    mem: &mut Membership,
    next_array: &mut u32,
    out: &mut Vec<Flat<'a>>,
) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                path.push(k);
                walk(child, path, mem, next_array, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            let id = *next_array;
            *next_array += 1;
            for (i, child) in items.iter().enumerate() {
                mem.push((id, i as u32));
                walk(child, path, mem, next_array, out);
                mem.pop();
            }
        }
        scalar => {
            if let Some(leaf) = Leaf::of(scalar) {
                out.push(Flat {
                    path: path.clone(),
                    value: scalar,
                    leaf,
                    membership: mem.clone(),
                });
            }
        }
    }
}

/// Two values may be used together unless they sit in different elements of one array.
pub(crate) fn consistent(a: &[(u32, u32)], b: &[(u32, u32)]) -> bool {
    a.iter()
        .all(|(arr, idx)| b.iter().all(|(arr2, idx2)| arr != arr2 || idx == idx2))
}

fn same_path(leaf: &Flat<'_>, path: &[String]) -> bool {
    leaf.path.len() == path.len() && leaf.path.iter().zip(path).all(|(a, b)| *a == b)
}

fn candidates<'l, 'a>(p: &Positive, leaves: &'l [Flat<'a>]) -> Vec<&'l Flat<'a>> {
    leaves
        .iter()
        .filter(|l| same_path(l, &p.path) && p.conds.iter().any(|c| c.matches(&l.leaf)))
        .collect()
}

fn search(choices: &[Vec<&Flat<'_>>], picked: &mut Vec<Membership>) -> bool {
    let Some((first, rest)) = choices.split_first() else {
        return true;
    };
    for leaf in first {
        if picked.iter().all(|m| consistent(m, &leaf.membership)) {
            picked.push(leaf.membership.clone());
            if search(rest, picked) {
                return true;
            }
            picked.pop();
        }
    }
    false
}

/// Whether a conjunction holds on the flattened event.
pub(crate) fn conj_matches(conj: &Conj, leaves: &[Flat<'_>]) -> bool {
    if conj
        .absent
        .iter()
        .any(|p| leaves.iter().any(|l| same_path(l, p)))
    {
        return false;
    }
    let choices: Vec<Vec<&Flat<'_>>> = conj
        .positives
        .iter()
        .map(|p| candidates(p, leaves))
        .collect();
    if choices.iter().any(Vec::is_empty) {
        return false;
    }
    search(&choices, &mut Vec::new())
}

/// Whether any conjunction holds.
pub(crate) fn matches(dnf: &[Conj], event: &Value) -> bool {
    let leaves = flatten(event);
    dnf.iter().any(|c| conj_matches(c, &leaves))
}

fn found_at(leaves: &[Flat<'_>], path: &[String]) -> Option<String> {
    let vals: Vec<String> = leaves
        .iter()
        .filter(|l| same_path(l, path))
        .map(|l| l.value.to_string())
        .collect();
    match vals.len() {
        0 => None,
        1 => vals.into_iter().next(),
        _ => Some(format!("[{}]", vals.join(", "))),
    }
}

fn describe_conds(p: &Positive) -> String {
    let parts: Vec<String> = p.conds.iter().map(|c| c.describe()).collect();
    parts.join(" or ")
}

/// The first failing constraint of one conjunction, with how many constraints held.
fn explain_conj(conj: &Conj, leaves: &[Flat<'_>]) -> Option<(usize, Mismatch)> {
    let mut held = 0;
    let mut first_fail = None;
    for p in &conj.positives {
        if candidates(p, leaves).is_empty() {
            first_fail.get_or_insert_with(|| Mismatch {
                path: p.path.join("."),
                condition: describe_conds(p),
                found: found_at(leaves, &p.path),
            });
        } else {
            held += 1;
        }
    }
    for a in &conj.absent {
        if let Some(found) = found_at(leaves, a) {
            first_fail.get_or_insert_with(|| Mismatch {
                path: a.join("."),
                condition: "not exists".into(),
                found: Some(found),
            });
        } else {
            held += 1;
        }
    }
    if let Some(m) = first_fail {
        return Some((held, m));
    }
    if conj_matches(conj, leaves) {
        return None;
    }
    // Every constraint holds alone, so the values sit in different elements of one array.
    let last = conj.positives.last()?;
    Some((
        held,
        Mismatch {
            path: last.path.join("."),
            condition: format!(
                "{} in the same array element as the other matched fields",
                describe_conds(last)
            ),
            found: found_at(leaves, &last.path),
        },
    ))
}

/// Each alternative's verdict, in order: the conditions it tests when it
/// matches, its first failing condition when it does not.
pub(crate) fn explain_each(dnf: &[Conj], event: &Value) -> Vec<Result<Vec<String>, Mismatch>> {
    let leaves = flatten(event);
    dnf.iter()
        .map(|conj| match explain_conj(conj, &leaves) {
            Some((_, mismatch)) => Err(mismatch),
            None => Ok(conj
                .positives
                .iter()
                .map(|p| format!("{} {}", p.path.join("."), describe_conds(p)))
                .chain(
                    conj.absent
                        .iter()
                        .map(|a| format!("{} not exists", a.join("."))),
                )
                .collect()),
        })
        .collect()
}

/// `None` when the event matches; otherwise the failure of the closest alternative.
pub(crate) fn explain(dnf: &[Conj], event: &Value) -> Option<Mismatch> {
    let leaves = flatten(event);
    let mut best: Option<(usize, Mismatch)> = None;
    for conj in dnf {
        match explain_conj(conj, &leaves) {
            None => return None,
            Some((held, m)) => {
                if best.as_ref().is_none_or(|(h, _)| held > *h) {
                    best = Some((held, m));
                }
            }
        }
    }
    best.map(|(_, m)| m)
}
