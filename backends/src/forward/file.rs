//! A forward destination that appends events to a JSON-lines file.

use std::path::Path;

use crate::json_lines::JsonLinesFile;
use crate::{BackendResult, Durability, Event, Forwarder};

/// Appends each event, in its journaled envelope form (kebab-case fields,
/// `detail` as JSON text), as one fsynced JSON line. For air-gapped hosts
/// (ship the file) and tests.
#[derive(Debug)]
pub struct FileForwarder {
    file: JsonLinesFile,
}

impl FileForwarder {
    /// Open (creating it and its directory if missing) the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> BackendResult<Self> {
        Self::open_with(path, Durability::EachWrite)
    }

    /// Open with the given [`Durability`].
    pub fn open_with(path: impl AsRef<Path>, durability: Durability) -> BackendResult<Self> {
        Ok(FileForwarder {
            file: JsonLinesFile::open(path.as_ref(), durability)?,
        })
    }

    /// The file events are appended to.
    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

impl Forwarder for FileForwarder {
    fn send(&self, event: &Event) -> BackendResult<()> {
        self.file.append(event)
    }
    fn sync(&self) -> BackendResult<()> {
        self.file.sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward::sample_event;

    #[test]
    fn appended_lines_read_back_as_the_same_events() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("out/forwarded.jsonl");
        let forwarder = FileForwarder::open(&path).expect("open");
        let mut second = sample_event();
        second.id = "evt-2".into();
        forwarder.send(&sample_event()).expect("send");
        forwarder.send(&second).expect("send");
        let text = std::fs::read_to_string(&path).expect("read");
        let events: Vec<Event> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("an event per line"))
            .collect();
        assert_eq!(events, vec![sample_event(), second]);
        assert!(text.contains("\"detail-type\":\"Object State Change\""));
    }
}
