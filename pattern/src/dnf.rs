//! Flattening a pattern tree into disjunctive normal form: a list of conjunctions over
//! field paths. Both the interpreter and the compiled matcher work on this form.

use crate::ast::{Cond, Field, Node};
use crate::error::PatternError;

/// Most conjunctions a pattern may expand to (through `$or` and `exists:false`
/// alternatives); a bound on the work one pattern adds to the matcher.
pub const MAX_ALTERNATIVES: usize = 256;

/// "Some value at `path` satisfies one of `conds`."
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Positive {
    pub path: Vec<String>,
    pub conds: Vec<Cond>,
}

/// All positives hold (on array-consistent values) and no `absent` path has a value.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Conj {
    pub positives: Vec<Positive>,
    pub absent: Vec<Vec<String>>,
}

pub(crate) fn expand(root: &Node) -> Result<Vec<Conj>, PatternError> {
    expand_node(root, &[])
}

fn too_complex(n: usize) -> PatternError {
    PatternError::new(
        &[],
        format!(
            "pattern is too complex: its \"$or\" and \"exists\": false alternatives expand to {n} combinations; the limit is {MAX_ALTERNATIVES}"
        ),
    )
}

fn product(a: Vec<Conj>, b: &[Conj]) -> Result<Vec<Conj>, PatternError> {
    let n = a.len().saturating_mul(b.len());
    if n > MAX_ALTERNATIVES {
        return Err(too_complex(n));
    }
    let mut out = Vec::with_capacity(n);
    for x in &a {
        for y in b {
            let mut c = x.clone();
            c.positives.extend(y.positives.iter().cloned());
            c.absent.extend(y.absent.iter().cloned());
            out.push(c);
        }
    }
    Ok(out)
}

fn expand_node(node: &Node, prefix: &[String]) -> Result<Vec<Conj>, PatternError> {
    let mut acc = vec![Conj::default()];
    for (key, field) in &node.fields {
        let mut path = prefix.to_vec();
        path.push(key.clone());
        let alts = match field {
            Field::Nested(child) => expand_node(child, &path)?,
            Field::Leaf(conds) => {
                let positive: Vec<Cond> = conds
                    .iter()
                    .filter(|c| !matches!(c, Cond::Exists(false)))
                    .cloned()
                    .collect();
                let mut alts = Vec::new();
                if !positive.is_empty() {
                    alts.push(Conj {
                        positives: vec![Positive {
                            path: path.clone(),
                            conds: positive,
                        }],
                        absent: Vec::new(),
                    });
                }
                if conds.iter().any(|c| matches!(c, Cond::Exists(false))) {
                    alts.push(Conj {
                        positives: Vec::new(),
                        absent: vec![path.clone()],
                    });
                }
                alts
            }
        };
        acc = product(acc, &alts)?;
    }
    for group in &node.ors {
        let mut alts = Vec::new();
        for alt in group {
            alts.extend(expand_node(alt, prefix)?);
            if alts.len() > MAX_ALTERNATIVES {
                return Err(too_complex(alts.len()));
            }
        }
        acc = product(acc, &alts)?;
    }
    Ok(acc)
}
