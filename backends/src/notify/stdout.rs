//! A notification channel that prints JSON lines to stdout.

use std::io::{self, Write};
use std::sync::{Mutex, PoisonError};

use super::NotificationBody;
use crate::{BackendError, BackendResult, Notification, Notifier};

/// Writes one JSON line per notification to stdout (or any stream given to
/// [`StdoutNotifier::with_writer`]) and flushes it.
pub struct StdoutNotifier {
    out: Mutex<Box<dyn Write + Send>>,
}

impl StdoutNotifier {
    /// A notifier on the process's stdout.
    pub fn new() -> Self {
        Self::with_writer(io::stdout())
    }

    /// A notifier on another stream (stderr, a pipe, a buffer in tests).
    pub fn with_writer(out: impl Write + Send + 'static) -> Self {
        StdoutNotifier {
            out: Mutex::new(Box::new(out)),
        }
    }
}

impl Default for StdoutNotifier {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for StdoutNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdoutNotifier").finish_non_exhaustive()
    }
}

impl Notifier for StdoutNotifier {
    fn publish(&self, notification: &Notification) -> BackendResult<()> {
        let mut line = serde_json::to_vec(&NotificationBody::from(notification))
            .map_err(|e| BackendError::Invalid(format!("notify: cannot encode as JSON: {e}")))?;
        line.push(b'\n');
        // A half-written line cannot be left behind by a panic elsewhere:
        // the stream is only touched here.
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        out.write_all(&line)
            .and_then(|()| out.flush())
            .map_err(|e| BackendError::Transient(format!("notify: write to stdout: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::notify::sample_notification;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("test buffer").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn writes_one_json_line_per_notification() {
        let buffer = Shared::default();
        let notifier = StdoutNotifier::with_writer(buffer.clone());
        notifier.publish(&sample_notification()).expect("publish");
        notifier.publish(&sample_notification()).expect("publish");
        let text = String::from_utf8(buffer.0.lock().expect("buffer").clone()).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let v: serde_json::Value = serde_json::from_str(lines[0]).expect("json");
        assert_eq!(v["channel"], "admins");
        assert_eq!(v["attributes"]["entity-type"], "book");
    }

    #[test]
    fn a_broken_stream_is_transient() {
        let notifier = StdoutNotifier::with_writer(Broken);
        assert!(matches!(
            notifier.publish(&sample_notification()),
            Err(BackendError::Transient(_))
        ));
    }
}
