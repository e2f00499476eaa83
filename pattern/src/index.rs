//! Per-field value indexes of the compiled matcher: given one leaf value, find every
//! (sub-rule, constraint) it satisfies with hash lookups and sorted ranges instead of
//! testing each rule.

use crate::ast::{AnythingBut, Cond, Range, Scalar};
use crate::hash::FxHashMap;
use crate::leaf::Leaf;
use crate::strtable::StrTable;
use crate::values::{Glob, NumKey, fold_case_into, mask_for, parse_ip};

/// The matcher state a satisfied condition leads to.
pub(crate) type Target = u32;

/// Strings mapped to target lists: a hash map while rules are added, then frozen into
/// a [`StrTable`] by `finish` (one packed table per index instead of a `String` and a
/// `Vec` allocation per key).
#[derive(Debug, Default)]
struct StrIndex {
    building: FxHashMap<String, Vec<u32>>,
    table: StrTable,
}

impl StrIndex {
    fn entry(&mut self, key: &str) -> &mut Vec<u32> {
        self.building.entry(key.to_string()).or_default()
    }

    fn finish(&mut self) {
        let building = std::mem::take(&mut self.building);
        self.table = StrTable::build(building.iter().map(|(k, v)| (k.as_str(), v.as_slice())));
    }

    #[inline]
    fn get(&self, key: &[u8]) -> Option<&[u32]> {
        self.table.get(key)
    }
}

/// Strings keyed by themselves, found as prefixes (or suffixes) of a probe by looking up
/// each distinct key length: cost grows with distinct lengths, not with rule count.
#[derive(Debug, Default)]
struct AffixMap {
    map: StrIndex,
    /// Bit `l` set when some key is `l < 64` bytes long (no heap read to find them).
    short: u64,
    /// Distinct key lengths of 64 bytes and more, ascending.
    long: Vec<usize>,
}

impl AffixMap {
    fn entry(&mut self, key: &str) -> &mut Vec<u32> {
        if key.len() < 64 {
            self.short |= 1 << key.len();
        } else if !self.long.contains(&key.len()) {
            self.long.push(key.len());
            self.long.sort_unstable();
        }
        self.map.entry(key)
    }

    fn finish(&mut self) {
        self.map.finish();
    }

    fn is_empty(&self) -> bool {
        self.short == 0 && self.long.is_empty()
    }

    /// The key lengths to probe for a string of `n` bytes, ascending.
    #[inline]
    fn lens(&self, n: usize) -> impl Iterator<Item = usize> + '_ {
        let fit = if n >= 63 {
            self.short
        } else {
            self.short & ((2u64 << n) - 1)
        };
        let short = std::iter::successors((fit != 0).then_some(fit), |b| {
            let b = b & (b - 1);
            (b != 0).then_some(b)
        })
        .map(|b| b.trailing_zeros() as usize);
        let long = self.long.iter().copied().take_while(move |&l| l <= n);
        short.chain(long)
    }

    /// Calls `f` with the values of every key that is a prefix of `s`. Byte prefixes are
    /// enough: a key is valid UTF-8, so a byte prefix of `s` equal to it ends on a
    /// character boundary.
    #[inline]
    fn for_prefixes(&self, s: &str, mut f: impl FnMut(&[u32])) {
        let s = s.as_bytes();
        for l in self.lens(s.len()) {
            if let Some(t) = self.map.get(&s[..l]) {
                f(t);
            }
        }
    }

    /// As [`Self::for_prefixes`], for suffixes.
    #[inline]
    fn for_suffixes(&self, s: &str, mut f: impl FnMut(&[u32])) {
        let s = s.as_bytes();
        for l in self.lens(s.len()) {
            if let Some(t) = self.map.get(&s[s.len() - l..]) {
                f(t);
            }
        }
    }
}

/// Numeric conditions split by shape so that lookups are mostly output-sensitive.
#[derive(Debug, Default)]
struct NumericIndex {
    /// Lower bound only, sorted by bound ascending.
    lower: Vec<(f64, bool, Target)>,
    /// Upper bound only, sorted by bound descending.
    upper: Vec<(f64, bool, Target)>,
    /// Two bounds, sorted by lower bound ascending.
    between: Vec<(Range, Target)>,
    /// Widest two-bound range: only ranges starting within this distance below a value
    /// can contain it.
    widest: f64,
}

impl NumericIndex {
    fn add(&mut self, r: Range, t: Target) {
        match (r.lo, r.hi) {
            (Some((b, incl)), None) => self.lower.push((b, incl, t)),
            (None, Some((b, incl))) => self.upper.push((b, incl, t)),
            _ => self.between.push((r, t)),
        }
    }

    fn finish(&mut self) {
        self.lower.sort_by(|a, b| a.0.total_cmp(&b.0));
        self.upper.sort_by(|a, b| b.0.total_cmp(&a.0));
        self.between
            .sort_by(|a, b| lo_of(&a.0).total_cmp(&lo_of(&b.0)));
        self.widest = self
            .between
            .iter()
            .map(|(r, _)| r.hi.map_or(f64::INFINITY, |(h, _)| h) - lo_of(r))
            .fold(0.0, f64::max)
            + 1.0; // margin for rounding in `v - widest`
    }

    fn is_empty(&self) -> bool {
        self.lower.is_empty() && self.upper.is_empty() && self.between.is_empty()
    }

    fn lookup(&self, v: f64, out: &mut impl FnMut(Target)) {
        for &(b, incl, t) in &self.lower {
            if b > v {
                break;
            }
            if b < v || incl {
                out(t);
            }
        }
        for &(b, incl, t) in &self.upper {
            if b < v {
                break;
            }
            if b > v || incl {
                out(t);
            }
        }
        let from = self
            .between
            .partition_point(|(r, _)| lo_of(r) < v - self.widest);
        for (r, t) in &self.between[from..] {
            if lo_of(r) > v {
                break;
            }
            if r.contains(v) {
                out(*t);
            }
        }
    }
}

fn lo_of(r: &Range) -> f64 {
    r.lo.map_or(f64::NEG_INFINITY, |(b, _)| b)
}

/// Everything the matcher knows about one field path.
#[derive(Debug, Default)]
pub(crate) struct FieldIndex {
    exact_str: StrIndex,
    exact_num: FxHashMap<NumKey, Vec<Target>>,
    exact_true: Vec<Target>,
    exact_false: Vec<Target>,
    exact_null: Vec<Target>,
    prefix: AffixMap,
    suffix: AffixMap,
    prefix_ci: AffixMap,
    suffix_ci: AffixMap,
    equals_ci: StrIndex,
    /// Wildcards keyed by the literal text before their first `*`; the values index
    /// `globs`.
    wildcard: AffixMap,
    globs: Vec<(Glob, Target)>,
    numeric: NumericIndex,
    /// Networks by `(family, prefix length, network)`; `cidr_lens` lists the distinct
    /// `(family, prefix length)` pairs to probe.
    cidr: FxHashMap<(bool, u8, u128), Vec<Target>>,
    cidr_lens: Vec<(bool, u8)>,
    exists: Vec<Target>,
    anything_but: Vec<(AnythingBut, Target)>,
    needs_fold: bool,
    /// Which of the indexes above hold anything (`HAS_*` bits), set by `finish`: a
    /// lookup tests one word instead of reading every index's header, which spread
    /// over the struct's cache lines.
    has: u16,
}

const HAS_EXACT_STR: u16 = 1;
const HAS_PREFIX: u16 = 1 << 1;
const HAS_SUFFIX: u16 = 1 << 2;
const HAS_FOLD: u16 = 1 << 3;
const HAS_WILDCARD: u16 = 1 << 4;
const HAS_CIDR: u16 = 1 << 5;
const HAS_EXACT_NUM: u16 = 1 << 6;
const HAS_NUMERIC: u16 = 1 << 7;
const HAS_CONSTANT: u16 = 1 << 8;
const HAS_EXISTS: u16 = 1 << 9;
const HAS_ANYTHING_BUT: u16 = 1 << 10;
const FOR_STRINGS: u16 =
    HAS_EXACT_STR | HAS_PREFIX | HAS_SUFFIX | HAS_FOLD | HAS_WILDCARD | HAS_CIDR;
const FOR_NUMBERS: u16 = HAS_EXACT_NUM | HAS_NUMERIC;

impl FieldIndex {
    pub(crate) fn add(&mut self, cond: &Cond, t: Target) {
        match cond {
            Cond::Exact(Scalar::Str(s)) => self.exact_str.entry(s).push(t),
            Cond::Exact(Scalar::Num(k, _)) => self.exact_num.entry(*k).or_default().push(t),
            Cond::Exact(Scalar::Bool(true)) => self.exact_true.push(t),
            Cond::Exact(Scalar::Bool(false)) => self.exact_false.push(t),
            Cond::Exact(Scalar::Null) => self.exact_null.push(t),
            Cond::Prefix(p) => self.prefix.entry(p).push(t),
            Cond::Suffix(p) => self.suffix.entry(p).push(t),
            Cond::PrefixCi(p) => {
                self.needs_fold = true;
                self.prefix_ci.entry(p).push(t)
            }
            Cond::SuffixCi(p) => {
                self.needs_fold = true;
                self.suffix_ci.entry(p).push(t)
            }
            Cond::EqualsCi(p) => {
                self.needs_fold = true;
                self.equals_ci.entry(p).push(t)
            }
            Cond::Wildcard(g) => {
                self.wildcard
                    .entry(g.leading())
                    .push(self.globs.len() as u32);
                self.globs.push((g.clone(), t));
            }
            Cond::Numeric(r) => self.numeric.add(*r, t),
            Cond::Cidr(c, _) => {
                let (v6, bits, net) = c.key();
                if !self.cidr_lens.contains(&(v6, bits)) {
                    self.cidr_lens.push((v6, bits));
                }
                self.cidr.entry((v6, bits, net)).or_default().push(t)
            }
            Cond::Exists(true) => self.exists.push(t),
            // Absence is tracked per field by the matcher, never by value.
            Cond::Exists(false) => {}
            Cond::AnythingBut(ab) => self.anything_but.push((ab.clone(), t)),
        }
    }

    pub(crate) fn finish(&mut self) {
        self.numeric.finish();
        self.exact_str.finish();
        self.equals_ci.finish();
        for m in [
            &mut self.prefix,
            &mut self.suffix,
            &mut self.prefix_ci,
            &mut self.suffix_ci,
            &mut self.wildcard,
        ] {
            m.finish();
        }
        let flag = |set: bool, bit: u16| if set { bit } else { 0 };
        let constants = [&self.exact_true, &self.exact_false, &self.exact_null];
        self.has = flag(!self.exact_str.table.is_empty(), HAS_EXACT_STR)
            | flag(!self.prefix.is_empty(), HAS_PREFIX)
            | flag(!self.suffix.is_empty(), HAS_SUFFIX)
            | flag(self.needs_fold, HAS_FOLD)
            | flag(!self.wildcard.is_empty(), HAS_WILDCARD)
            | flag(!self.cidr_lens.is_empty(), HAS_CIDR)
            | flag(!self.exact_num.is_empty(), HAS_EXACT_NUM)
            | flag(!self.numeric.is_empty(), HAS_NUMERIC)
            | flag(constants.iter().any(|c| !c.is_empty()), HAS_CONSTANT)
            | flag(!self.exists.is_empty(), HAS_EXISTS)
            | flag(!self.anything_but.is_empty(), HAS_ANYTHING_BUT);
    }

    /// Calls `out` for every target the leaf value satisfies (possibly with repeats);
    /// `fold` is a reused buffer for the case-folded value.
    #[inline]
    pub(crate) fn lookup(&self, v: &Leaf<'_>, fold: &mut String, out: &mut impl FnMut(Target)) {
        let has = self.has;
        match v {
            Leaf::Str(s) if has & FOR_STRINGS != 0 => self.lookup_str(s, fold, out),
            Leaf::Num(k, f) if has & FOR_NUMBERS != 0 => {
                if let Some(ts) = self.exact_num.get(k) {
                    ts.iter().for_each(|t| out(*t));
                }
                if let Some(f) = f {
                    self.numeric.lookup(*f, out);
                }
            }
            Leaf::Bool(true) if has & HAS_CONSTANT != 0 => {
                self.exact_true.iter().for_each(|t| out(*t))
            }
            Leaf::Bool(false) if has & HAS_CONSTANT != 0 => {
                self.exact_false.iter().for_each(|t| out(*t))
            }
            Leaf::Null if has & HAS_CONSTANT != 0 => self.exact_null.iter().for_each(|t| out(*t)),
            _ => {}
        }
        if has & HAS_EXISTS != 0 {
            self.exists.iter().for_each(|t| out(*t));
        }
        if has & HAS_ANYTHING_BUT != 0 {
            for (ab, t) in &self.anything_but {
                if ab.matches(v) {
                    out(*t);
                }
            }
        }
    }

    fn lookup_str(&self, s: &str, fold: &mut String, out: &mut impl FnMut(Target)) {
        let has = self.has;
        {
            let mut emit = |ts: &[Target]| ts.iter().for_each(|t| out(*t));
            if has & HAS_EXACT_STR != 0
                && let Some(ts) = self.exact_str.get(s.as_bytes())
            {
                emit(ts);
            }
            if has & HAS_PREFIX != 0 {
                self.prefix.for_prefixes(s, &mut emit);
            }
            if has & HAS_SUFFIX != 0 {
                self.suffix.for_suffixes(s, &mut emit);
            }
            if has & HAS_FOLD != 0 {
                fold_case_into(s, fold);
                let folded: &str = fold;
                if let Some(ts) = self.equals_ci.get(folded.as_bytes()) {
                    emit(ts);
                }
                self.prefix_ci.for_prefixes(folded, &mut emit);
                self.suffix_ci.for_suffixes(folded, &mut emit);
            }
        }
        if has & HAS_WILDCARD != 0 {
            self.wildcard.for_prefixes(s, |gs| {
                for &at in gs {
                    let (g, t) = &self.globs[at as usize];
                    if g.matches(s) {
                        out(*t);
                    }
                }
            });
        }
        if has & HAS_CIDR != 0
            && let Some((v6, ip)) = parse_ip(s)
        {
            for &(fam, bits) in &self.cidr_lens {
                if fam != v6 {
                    continue;
                }
                if let Some(ts) = self.cidr.get(&(v6, bits, ip & mask_for(v6, bits))) {
                    ts.iter().for_each(|t| out(*t));
                }
            }
        }
    }
}
