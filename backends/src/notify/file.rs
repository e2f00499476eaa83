//! A notification channel that appends to a JSON-lines file.

use std::path::Path;

use super::NotificationBody;
use crate::json_lines::JsonLinesFile;
use crate::{BackendResult, Durability, Notification, Notifier};

/// Appends one JSON line per notification to a file, fsynced before
/// `publish` returns. Safe to share between threads.
#[derive(Debug)]
pub struct FileNotifier {
    file: JsonLinesFile,
}

impl FileNotifier {
    /// Open (creating it and its directory if missing) the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> BackendResult<Self> {
        Self::open_with(path, Durability::EachWrite)
    }

    /// Open with the given [`Durability`].
    pub fn open_with(path: impl AsRef<Path>, durability: Durability) -> BackendResult<Self> {
        Ok(FileNotifier {
            file: JsonLinesFile::open(path.as_ref(), durability)?,
        })
    }

    /// The file notifications are appended to.
    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

impl Notifier for FileNotifier {
    fn publish(&self, notification: &Notification) -> BackendResult<()> {
        self.file.append(&NotificationBody::from(notification))
    }
    fn sync(&self) -> BackendResult<()> {
        self.file.sync()
    }
}

#[cfg(test)]
mod tests {
    use std::thread;

    use super::*;
    use crate::notify::sample_notification;

    #[test]
    fn appends_one_json_line_per_notification_across_reopen() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("alerts/admins.jsonl");
        FileNotifier::open(&path)
            .expect("open")
            .publish(&sample_notification())
            .expect("publish");
        let notifier = FileNotifier::open(&path).expect("reopen");
        notifier.publish(&sample_notification()).expect("publish");
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], lines[1]);
        assert_eq!(lines[0]["attributes"]["operation"], "delete");
        assert_eq!(lines[0]["message"], "line one\nline \"two\"");
    }

    #[test]
    fn concurrent_publishers_never_interleave_lines() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("alerts.jsonl");
        let notifier = FileNotifier::open(&path).expect("open");
        let other = FileNotifier::open(&path).expect("second handle on the same file");
        thread::scope(|s| {
            for t in 0..8 {
                let target = if t % 2 == 0 { &notifier } else { &other };
                s.spawn(move || {
                    for i in 0..25 {
                        let mut n = sample_notification();
                        n.subject = format!("t{t}-{i}");
                        n.message = "x".repeat(5000);
                        target.publish(&n).expect("publish");
                    }
                });
            }
        });
        let text = std::fs::read_to_string(&path).expect("read");
        let mut subjects: Vec<String> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("whole line");
                v["subject"].as_str().expect("subject").to_owned()
            })
            .collect();
        subjects.sort();
        subjects.dedup();
        assert_eq!(subjects.len(), 200);
    }
}
