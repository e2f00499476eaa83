//! What a rule lets its plugin do, and the backends that do it.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use trailmark_backend_api::{ArchiveStore, Forwarder, HttpDestinations, MetadataStore, Notifier};

/// The capabilities a rule grants its plugin. `log` is always allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// May put and get archive bodies, within [`ArchiveGrant`]'s bounds;
    /// `None`: no archive access at all.
    pub archive: Option<ArchiveGrant>,
    /// May store the change record of the delivered event.
    pub metadata: bool,
    /// Notify channels the plugin may publish on.
    pub notify: BTreeSet<String>,
    /// Forward destinations the plugin may send to.
    pub forward: BTreeSet<String>,
    /// HTTP destinations (the rules directory's `destinations/`) the plugin
    /// may call.
    pub http: BTreeSet<String>,
}

/// Which archive keys a plugin may touch while it handles one delivery.
///
/// The default (a rule's `archive: true`) is the delivered event's own
/// keys: it may write keys whose first segment is the event's source
/// (percent-encoded as the SDK encodes key values) and that contain the
/// event's id, and read keys under its source's segment. Event ids are
/// assigned by the host, so one event cannot write another event's key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveGrant {
    /// Key prefixes the plugin may also read, each ending in `/`
    /// (`com.bank/`): for plugins that compare with other sources' bodies.
    pub read: BTreeSet<String>,
    /// A prefix (ending in `/`) the plugin writes under *instead of* its
    /// event's source segment, e.g. `redacted/`; the key must still contain
    /// the event id.
    pub write_prefix: Option<String>,
}

impl ArchiveGrant {
    /// Whether this is the plain `archive: true` grant.
    pub fn is_default(&self) -> bool {
        self.read.is_empty() && self.write_prefix.is_none()
    }
}

impl fmt::Display for ArchiveGrant {
    /// `archive`, or `archive {read: [com.bank/], write-prefix: redacted/}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("archive")?;
        if self.is_default() {
            return Ok(());
        }
        let mut parts = Vec::new();
        if !self.read.is_empty() {
            parts.push(format!("read: [{}]", join(&self.read)));
        }
        if let Some(prefix) = &self.write_prefix {
            parts.push(format!("write-prefix: {prefix}"));
        }
        write!(f, " {{{}}}", parts.join(", "))
    }
}

impl fmt::Display for Grants {
    /// `archive, metadata, notify: [admins], forward: []`-style summary, or
    /// `none` (log is implied and not listed).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(archive) = &self.archive {
            parts.push(archive.to_string());
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
        if !self.http.is_empty() {
            parts.push(format!("http: [{}]", join(&self.http)));
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
    /// The HTTP destinations, if the host offers any.
    pub http: Option<Arc<dyn HttpDestinations>>,
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
            .field("http", &self.http.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_summary() {
        assert_eq!(Grants::default().to_string(), "none");
        let mut grants = Grants {
            archive: Some(ArchiveGrant::default()),
            metadata: false,
            notify: ["admins".to_owned(), "ops".to_owned()].into(),
            forward: BTreeSet::new(),
            http: BTreeSet::new(),
        };
        assert_eq!(grants.to_string(), "archive, notify: [admins, ops]");
        grants.http.insert("slack".to_owned());
        assert_eq!(
            grants.to_string(),
            "archive, notify: [admins, ops], http: [slack]"
        );
        grants.http.clear();
        grants.archive = Some(ArchiveGrant {
            read: ["com.bank/".to_owned()].into(),
            write_prefix: Some("redacted/".to_owned()),
        });
        grants.notify.clear();
        assert_eq!(
            grants.to_string(),
            "archive {read: [com.bank/], write-prefix: redacted/}"
        );
    }
}
