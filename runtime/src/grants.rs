//! What a rule lets its plugin do, and the backends that do it.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use trailmark_backends::{ArchiveStore, Forwarder, MetadataStore, Notifier};

/// The capabilities a rule grants its plugin. `log` is always allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// May put and get archive bodies.
    pub archive: bool,
    /// May store change records.
    pub metadata: bool,
    /// Notify channels the plugin may publish on.
    pub notify: BTreeSet<String>,
    /// Forward destinations the plugin may send to.
    pub forward: BTreeSet<String>,
}

impl fmt::Display for Grants {
    /// `archive, metadata, notify: [admins], forward: []`-style summary, or
    /// `none` (log is implied and not listed).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.archive {
            parts.push("archive".to_owned());
        }
        if self.metadata {
            parts.push("metadata".to_owned());
        }
        if !self.notify.is_empty() {
            parts.push(format!("notify: [{}]", join(&self.notify)));
        }
        if !self.forward.is_empty() {
            parts.push(format!("forward: [{}]", join(&self.forward)));
        }
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

fn join(names: &BTreeSet<String>) -> String {
    names
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The backends behind the capabilities, as configured on the host. A
/// plugin reaches one only if its rule also grants it.
#[derive(Clone, Default)]
pub struct Capabilities {
    /// The archive store, if configured.
    pub archive: Option<Arc<dyn ArchiveStore>>,
    /// The metadata store, if configured.
    pub metadata: Option<Arc<dyn MetadataStore>>,
    /// Notify channels by name.
    pub notify: HashMap<String, Arc<dyn Notifier>>,
    /// Forward destinations by name.
    pub forward: HashMap<String, Arc<dyn Forwarder>>,
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut notify: Vec<_> = self.notify.keys().collect();
        notify.sort();
        let mut forward: Vec<_> = self.forward.keys().collect();
        forward.sort();
        f.debug_struct("Capabilities")
            .field("archive", &self.archive.is_some())
            .field("metadata", &self.metadata.is_some())
            .field("notify", &notify)
            .field("forward", &forward)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_summary() {
        assert_eq!(Grants::default().to_string(), "none");
        let grants = Grants {
            archive: true,
            metadata: false,
            notify: ["admins".to_owned(), "ops".to_owned()].into(),
            forward: BTreeSet::new(),
        };
        assert_eq!(grants.to_string(), "archive, notify: [admins, ops]");
    }
}
