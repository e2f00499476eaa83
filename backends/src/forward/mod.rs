//! Local forward destinations: another Trailmark over HTTP, or a JSON-lines file.

mod file;
mod http;

pub use file::FileForwarder;
pub use http::{DEFAULT_FORWARD_TIMEOUT, ForwardEntry, HttpForwarder};

#[cfg(test)]
pub(crate) fn sample_event() -> crate::Event {
    crate::Event {
        id: "evt-1".into(),
        version: "0".into(),
        source: "com.example.books".into(),
        detail_type: "Object State Change".into(),
        time: "2026-11-25T11:28:21Z".into(),
        account: "000000000000".into(),
        region: "local".into(),
        resources: vec!["book/42".into()],
        detail: r#"{"entity-type":"book","entity-id":"42","operation":"delete","author":"alice"}"#
            .into(),
    }
}
