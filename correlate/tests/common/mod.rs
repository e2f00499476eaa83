//! Helpers for the correlation tests: timed events, a run of the engine,
//! and a brute-force reference evaluator written from the documented
//! semantics with unbounded lists and recomputation at every step.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

use trailmark_correlate::{
    AfterFire, Correlation, Engine, Event, Fire, Kind, Limits, MAX_FIRE_EVENTS, Millis, Window,
    fire_id, value_digest,
};

/// One timed event: id, time, fields, the rules it matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Timed {
    pub(crate) id: String,
    pub(crate) time: Millis,
    pub(crate) fields: BTreeMap<String, String>,
    pub(crate) matched: Vec<String>,
}

impl Timed {
    pub(crate) fn new(id: &str, time: Millis, matched: &[&str], fields: &[(&str, &str)]) -> Self {
        Self {
            id: id.to_owned(),
            time,
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            matched: matched.iter().map(|m| (*m).to_owned()).collect(),
        }
    }
}

/// Feed `events` in the order given, then flush; every fire, sorted.
pub(crate) fn run(engine: &mut Engine, events: &[Timed]) -> Vec<Fire> {
    let mut fires = feed(engine, events);
    fires.extend(engine.flush());
    fires.sort();
    fires
}

/// Feed `events` in the order given; the fires they let through.
pub(crate) fn feed(engine: &mut Engine, events: &[Timed]) -> Vec<Fire> {
    let mut fires = Vec::new();
    for e in events {
        let matched: Vec<&str> = e.matched.iter().map(String::as_str).collect();
        let event = Event {
            id: &e.id,
            time: e.time,
            fields: &e.fields,
        };
        fires.extend(engine.process(&event, &matched));
    }
    fires
}

pub(crate) fn engine(correlations: Vec<Correlation>) -> Engine {
    Engine::new(correlations, Limits::default()).expect("valid correlations")
}

/// `(at, first, last, count, group values, event ids)`, for readable goldens.
pub(crate) type Brief = (Millis, Millis, Millis, u64, Vec<String>, Vec<String>);

/// Fires as [`Brief`]s.
pub(crate) fn brief(fires: &[Fire]) -> Vec<Brief> {
    let mut out: Vec<Brief> = fires
        .iter()
        .map(|f| {
            (
                f.at,
                f.first,
                f.last,
                f.count,
                f.group.iter().map(|(_, v)| v.clone()).collect(),
                f.events.clone(),
            )
        })
        .collect();
    out.sort();
    out
}

/// One event's part in one group, as the reference sees it.
#[derive(Debug, Clone)]
struct Part {
    time: Millis,
    id: String,
    member: usize,
    value: Option<String>,
}

#[derive(Debug, Default)]
struct RefGroup {
    /// Window start (tumbling bucket, session start, absence anchor).
    start: Millis,
    /// Last event time.
    last: Millis,
    open: bool,
    last_absent: Option<Millis>,
    /// Everything since the window began or the last reset.
    parts: Vec<Part>,
}

fn key_of(values: &[String]) -> String {
    values.iter().map(|v| format!("{}:{v}", v.len())).collect()
}

/// The fires `corr` must produce over `events`, by brute force.
pub(crate) fn reference(corr: &Correlation, events: &[Timed]) -> Vec<Fire> {
    let mut sorted: Vec<&Timed> = events.iter().collect();
    sorted.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
    sorted.dedup_by(|a, b| a.time == b.time && a.id == b.id);
    let members: Vec<&str> = corr.members().collect();
    let span = corr.timespan;
    let sliding = corr.window == Window::Sliding;
    let mut groups: BTreeMap<Vec<String>, RefGroup> = BTreeMap::new();
    let mut quiet: HashMap<Vec<String>, Millis> = HashMap::new();
    let mut fires = Vec::new();

    let deadline = |g: &RefGroup| -> Millis {
        if corr.is_absence() {
            if g.open {
                g.start + span
            } else {
                g.last_absent.unwrap_or(g.last)
            }
        } else {
            match corr.window {
                Window::Tumbling => g.start + span - 1,
                _ => g.last + span,
            }
        }
    };

    let fire = |fires: &mut Vec<Fire>,
                quiet: &mut HashMap<Vec<String>, Millis>,
                key: &[String],
                count: u64,
                first: Millis,
                last: Millis,
                at: Millis,
                ids: Vec<String>| {
        if let AfterFire::Suppress(d) = corr.after_fire {
            quiet.insert(key.to_vec(), at + d);
        }
        fires.push(Fire {
            at,
            rule: corr.name.clone(),
            id: fire_id(&corr.name, &key_of(key), first, last, at),
            group: corr
                .group_by
                .iter()
                .cloned()
                .zip(key.iter().cloned())
                .collect(),
            count,
            first,
            last,
            events: ids,
        });
    };

    let close_before = |t: Millis,
                        groups: &mut BTreeMap<Vec<String>, RefGroup>,
                        quiet: &mut HashMap<Vec<String>, Millis>,
                        fires: &mut Vec<Fire>| {
        let closing: Vec<Vec<String>> = groups
            .iter()
            .filter(|(_, g)| deadline(g) < t)
            .map(|(k, _)| k.clone())
            .collect();
        for key in closing {
            let g = groups.remove(&key).expect("listed");
            let d = deadline(&g);
            let decide = if corr.is_absence() {
                g.open
            } else {
                !sliding && corr.condition.has_upper_bound()
            };
            if !decide || g.parts.is_empty() {
                continue;
            }
            let (count, first, ids) = bucket_count(corr, &g.parts);
            let is_quiet = quiet.get(&key).is_some_and(|&u| d <= u);
            if count > 0 && corr.condition.holds(count) && !is_quiet {
                fire(fires, quiet, &key, count, first, g.last, d, ids);
            }
        }
    };

    for e in sorted {
        close_before(e.time, &mut groups, &mut quiet, &mut fires);
        let t = e.time;
        let mut parts: Vec<(usize, Vec<String>, Option<String>)> = Vec::new();
        for (m, rule) in members.iter().enumerate() {
            if !e.matched.iter().any(|r| r == rule) {
                continue;
            }
            let key: Option<Vec<String>> = corr
                .group_by
                .iter()
                .map(|g| e.fields.get(corr.field_for(g, rule)).cloned())
                .collect();
            let Some(key) = key else { continue };
            let value = match &corr.kind {
                Kind::ValueCount { field } if m < corr.rules.len() => {
                    e.fields.get(corr.field_for(field, rule)).cloned()
                }
                _ => None,
            };
            parts.push((m, key, value));
        }
        for (m, key, value) in parts {
            let g = groups.entry(key.clone()).or_insert_with(|| RefGroup {
                start: match corr.window {
                    Window::Tumbling => t.div_euclid(span) * span,
                    _ => t,
                },
                last: t,
                ..RefGroup::default()
            });
            let part = Part {
                time: t,
                id: e.id.clone(),
                member: m,
                value,
            };
            if corr.is_absence() {
                if m >= corr.rules.len() {
                    g.last_absent = Some(t);
                    g.open = false;
                    g.parts.clear();
                } else if g.last_absent != Some(t) {
                    if !g.open {
                        g.open = true;
                        g.start = t;
                        g.parts.clear();
                    }
                    g.last = t;
                    g.parts.push(part);
                }
                continue;
            }
            g.last = t;
            g.parts.push(part);
            let since = if sliding { t - span } else { Millis::MIN };
            let found = if corr.kind == Kind::TemporalOrdered {
                ordered_chain(corr, &g.parts, since)
            } else if corr.condition.has_upper_bound() {
                None
            } else {
                early_count(corr, &g.parts, since, sliding)
            };
            let Some((count, first, ids)) = found else {
                continue;
            };
            if quiet.get(&key).is_some_and(|&u| t <= u) {
                continue;
            }
            fire(&mut fires, &mut quiet, &key, count, first, t, t, ids);
            if corr.after_fire == AfterFire::Reset {
                if sliding {
                    groups.remove(&key);
                } else {
                    g.parts.clear();
                }
            }
        }
    }
    close_before(Millis::MAX, &mut groups, &mut quiet, &mut fires);
    fires.sort();
    fires
}

fn tail_ids<'a>(parts: impl Iterator<Item = &'a Part>) -> Vec<String> {
    let all: Vec<String> = parts.map(|p| p.id.clone()).collect();
    all[all.len().saturating_sub(MAX_FIRE_EVENTS)..].to_vec()
}

fn need(corr: &Correlation) -> usize {
    corr.condition.need() as usize
}

/// The distinct values in `parts`, each with its last part, in order of
/// first appearance.
fn distinct_last(parts: &[&Part]) -> Vec<(String, Part)> {
    let mut out: Vec<(String, Part)> = Vec::new();
    for p in parts {
        let Some(v) = &p.value else { continue };
        match out.iter_mut().find(|(w, _)| w == v) {
            Some(entry) => entry.1 = (*p).clone(),
            None => out.push((v.clone(), (*p).clone())),
        }
    }
    out
}

/// A condition with only lower bounds, checked on an event.
fn early_count(
    corr: &Correlation,
    parts: &[Part],
    since: Millis,
    sliding: bool,
) -> Option<(u64, Millis, Vec<String>)> {
    let within: Vec<&Part> = parts.iter().filter(|p| p.time >= since).collect();
    match &corr.kind {
        Kind::EventCount => {
            if sliding {
                let n = within.len();
                if n < need(corr) {
                    return None;
                }
                let kept = &within[n - need(corr)..];
                Some((
                    kept.len() as u64,
                    kept[0].time,
                    tail_ids(kept.iter().copied()),
                ))
            } else {
                let n = within.len() as u64;
                corr.condition
                    .holds(n)
                    .then(|| (n, within[0].time, tail_ids(within.iter().copied())))
            }
        }
        Kind::ValueCount { .. } => {
            if sliding {
                let mut values = distinct_last(&within);
                if (values.len()) < need(corr) {
                    return None;
                }
                values.sort_by_key(|(v, p)| std::cmp::Reverse((p.time, value_digest(v))));
                values.truncate(need(corr));
                let mut kept: Vec<&Part> = values.iter().map(|(_, p)| p).collect();
                kept.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
                Some((
                    kept.len() as u64,
                    kept[0].time,
                    tail_ids(kept.iter().copied()),
                ))
            } else {
                let (n, first, ids) = bucket_count(corr, parts);
                corr.condition.holds(n).then_some((n, first, ids))
            }
        }
        Kind::Temporal => {
            let mut latest: BTreeMap<usize, &Part> = BTreeMap::new();
            for p in &within {
                latest.insert(p.member, p);
            }
            let mut kept: Vec<&Part> = latest.into_values().collect();
            kept.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
            let n = kept.len() as u64;
            corr.condition
                .holds(n)
                .then(|| (n, kept[0].time, tail_ids(kept.iter().copied())))
        }
        Kind::TemporalOrdered => None,
    }
}

/// The count of a closing window (every part since it began or reset), the
/// first contributing time, the ids.
fn bucket_count(corr: &Correlation, parts: &[Part]) -> (u64, Millis, Vec<String>) {
    let first = parts.first().map_or(0, |p| p.time);
    match &corr.kind {
        Kind::EventCount => (parts.len() as u64, first, tail_ids(parts.iter())),
        Kind::ValueCount { .. } => {
            let refs: Vec<&Part> = parts.iter().collect();
            let mut values = distinct_last(&refs);
            values.truncate(corr.condition.saturation() as usize);
            let mut kept: Vec<&Part> = values.iter().map(|(_, p)| p).collect();
            kept.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
            (kept.len() as u64, first, tail_ids(kept.into_iter()))
        }
        Kind::Temporal => {
            let mut latest: BTreeMap<usize, &Part> = BTreeMap::new();
            for p in parts {
                latest.insert(p.member, p);
            }
            let mut kept: Vec<&Part> = latest.into_values().collect();
            kept.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
            let first = kept.first().map_or(first, |p| p.time);
            (kept.len() as u64, first, tail_ids(kept.into_iter()))
        }
        Kind::TemporalOrdered => (0, first, Vec::new()),
    }
}

/// The latest-starting strictly ordered chain through every rule that ends
/// with the last part and starts at or after `since`, by dynamic
/// programming over every part (ties: the earliest-ending predecessor).
fn ordered_chain(
    corr: &Correlation,
    parts: &[Part],
    since: Millis,
) -> Option<(u64, Millis, Vec<String>)> {
    let last = parts.last()?;
    let n = corr.rules.len();
    if last.member + 1 != n {
        return None;
    }
    // best[i]: the chain ending at parts[i] (start, ids).
    let mut best: Vec<Option<(Millis, Vec<String>)>> = vec![None; parts.len()];
    for i in 0..parts.len() {
        let p = &parts[i];
        best[i] = if p.member == 0 {
            Some((p.time, vec![p.id.clone()]))
        } else {
            let mut chosen: Option<(Millis, Vec<String>)> = None;
            for j in 0..i {
                let q = &parts[j];
                if q.member + 1 != p.member || q.time >= p.time {
                    continue;
                }
                if let Some(c) = &best[j]
                    && chosen.as_ref().is_none_or(|b| c.0 > b.0)
                {
                    chosen = Some(c.clone());
                }
            }
            chosen.map(|(start, mut ids)| {
                ids.push(p.id.clone());
                (start, ids)
            })
        };
    }
    let (start, ids) = best[parts.len() - 1].clone()?;
    (start >= since).then_some((n as u64, start, ids))
}
