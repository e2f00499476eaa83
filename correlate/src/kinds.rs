//! Each correlation type's window state behind one trait, so that a rule's
//! group table holds its own type's state and nothing larger.
//!
//! At 100k groups nearly every event's group slot is out of the CPU caches,
//! so the bytes a slot spans decide much of what an event costs. With one
//! [`State`] enum for every type, every slot was as large as the largest
//! type's state (`temporal`'s inline members): a `value_count` slot was 272
//! bytes where its own state needs 40. A runner is generic over its type's
//! state instead, chosen once per rule; [`State`] stays the form a snapshot
//! holds, so snapshots keep their format.

use std::fmt::Debug;

use crate::distinct::Distinct;
use crate::event_id::EventId;
use crate::model::{Correlation, Millis};
use crate::state::{
    Chain, ChainIds, Counted, Latest, Seen, State, Step, Summary, temporal_summary,
};

/// One event as a group's window state takes it.
pub(crate) struct Update {
    /// Which of the correlation's rules it matched (an index into `rules`).
    pub(crate) member: usize,
    /// The digest of its counted value (`value_count`).
    pub(crate) value: Option<u64>,
    /// Its time and id.
    pub(crate) seen: Seen,
    /// Most events (or values) the window remembers.
    pub(crate) keep: usize,
    /// The window's start (`Millis::MIN` when it closes rather than slides).
    pub(crate) since: Millis,
    /// Whether the window slides.
    pub(crate) sliding: bool,
}

/// The window state of one correlation type.
pub(crate) trait KindState: Clone + Debug + Sized {
    /// A window's state before its first event.
    fn fresh(corr: &Correlation) -> Self;

    /// Take one event; a fire it completes on its own, whatever the
    /// condition (`temporal_ordered`'s last step).
    fn add(&mut self, update: Update) -> Option<Summary>;

    /// What the window counts at `since` (`Millis::MIN`: the whole window),
    /// with no allocation.
    fn count(&self, since: Millis) -> u64;

    /// The window summary a fire at `since` reports (`Millis::MIN`: the
    /// whole window, as it closes).
    fn summary(&self, since: Millis) -> Option<Summary>;

    /// The form a snapshot holds.
    fn to_state(&self) -> State;

    /// Back from a snapshot's form; `None` when it is another type's.
    fn from_state(state: State) -> Option<Self>;

    /// Absence's state, when this is it.
    fn absence(&self) -> Option<&Absence> {
        None
    }

    /// Absence's state, when this is it, to update.
    fn absence_mut(&mut self) -> Option<&mut Absence> {
        None
    }
}

/// `to_state` and `from_state` of a type whose snapshot form is the
/// [`State`] variant `$variant` holding the state itself.
macro_rules! held_as {
    ($variant:ident) => {
        fn to_state(&self) -> State {
            State::$variant(self.clone())
        }

        fn from_state(state: State) -> Option<Self> {
            match state {
                State::$variant(s) => Some(s),
                _ => None,
            }
        }
    };
}

/// Absence (`event_count` with `absent:`): the events of `rules` since the
/// window opened, and what cancels it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Absence {
    /// A window is open (not cancelled).
    pub(crate) open: bool,
    /// The latest cancelling event.
    pub(crate) last_absent: Option<Millis>,
    /// The events of `rules` since the window opened.
    pub(crate) counted: Counted,
}

impl KindState for Absence {
    fn fresh(_: &Correlation) -> Self {
        Self::default()
    }

    /// Count an event of `rules` (the runner decides what opens and
    /// cancels a window).
    fn add(&mut self, u: Update) -> Option<Summary> {
        self.counted.add(u.seen, u.keep, Millis::MIN);
        None
    }

    fn count(&self, since: Millis) -> u64 {
        KindState::count(&self.counted, since)
    }

    fn summary(&self, since: Millis) -> Option<Summary> {
        KindState::summary(&self.counted, since)
    }

    fn to_state(&self) -> State {
        State::Count(self.counted.clone())
    }

    /// The counts only: the snapshot holds the flags beside them.
    fn from_state(state: State) -> Option<Self> {
        Counted::from_state(state).map(|counted| Self {
            counted,
            ..Self::default()
        })
    }

    fn absence(&self) -> Option<&Absence> {
        Some(self)
    }

    fn absence_mut(&mut self) -> Option<&mut Absence> {
        Some(self)
    }
}

impl KindState for Counted {
    fn fresh(_: &Correlation) -> Self {
        Self::default()
    }

    fn add(&mut self, u: Update) -> Option<Summary> {
        Counted::add(self, u.seen, u.keep, u.since);
        None
    }

    fn count(&self, since: Millis) -> u64 {
        if since != Millis::MIN {
            self.recent.len() as u64
        } else {
            self.total
        }
    }

    fn summary(&self, since: Millis) -> Option<Summary> {
        Counted::summary(self, since != Millis::MIN)
    }

    held_as!(Count);
}

impl KindState for Distinct {
    fn fresh(_: &Correlation) -> Self {
        Self::default()
    }

    fn add(&mut self, u: Update) -> Option<Summary> {
        if let Some(digest) = u.value {
            Distinct::add(self, digest, u.seen, u.keep, u.sliding, u.since);
        }
        None
    }

    fn count(&self, since: Millis) -> u64 {
        Distinct::count(self, since)
    }

    fn summary(&self, since: Millis) -> Option<Summary> {
        Distinct::summary(self, since)
    }

    held_as!(Distinct);
}

impl KindState for Latest {
    fn fresh(corr: &Correlation) -> Self {
        Latest::from_elem(None, corr.rules.len())
    }

    fn add(&mut self, u: Update) -> Option<Summary> {
        self[u.member] = Some(u.seen);
        None
    }

    fn count(&self, since: Millis) -> u64 {
        self.iter().flatten().filter(|s| s.time >= since).count() as u64
    }

    fn summary(&self, since: Millis) -> Option<Summary> {
        temporal_summary(self, since)
    }

    held_as!(Temporal);
}

/// `temporal_ordered`: the best partial chain ending at each step.
impl KindState for Vec<Step> {
    fn fresh(corr: &Correlation) -> Self {
        vec![Step::default(); corr.rules.len()]
    }

    fn add(&mut self, u: Update) -> Option<Summary> {
        let t = u.seen.time;
        let chain = if u.member == 0 {
            Some(Chain {
                start: t,
                ids: ChainIds::from_elem(u.seen.id, 1),
            })
        } else {
            self[u.member - 1]
                .before(t)
                .filter(|chain| chain.start >= u.since)
                .map(|chain| {
                    let mut ids = chain.ids.clone();
                    ids.push(u.seen.id);
                    Chain {
                        start: chain.start,
                        ids,
                    }
                })
        };
        match chain {
            Some(chain) if u.member + 1 == self.len() => Some(Summary {
                count: self.len() as u64,
                first: chain.start,
                ids: chain.ids.iter().map(EventId::to_string).collect(),
            }),
            Some(chain) => {
                self[u.member].record(t, chain);
                None
            }
            None => None,
        }
    }

    fn count(&self, _: Millis) -> u64 {
        0
    }

    fn summary(&self, _: Millis) -> Option<Summary> {
        None
    }

    held_as!(Ordered);
}
