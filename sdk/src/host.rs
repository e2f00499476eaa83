//! The host's imports, as the SDK calls them: in a WebAssembly component the
//! WIT imports; natively (in `cargo test` and benches) the in-memory host of
//! [`testing`](crate::testing), so a plugin's tests run its real code.

#[cfg(target_arch = "wasm32")]
mod imports {
    use crate::HostError;
    use crate::bindings::trailmark::plugin::log::Level;
    use crate::bindings::trailmark::plugin::types::Outcome;
    use crate::bindings::trailmark::plugin::{
        archive, forward, http, log, metadata, notify, outcomes,
    };

    pub(crate) fn answer(index: u32, outcome: Outcome) {
        outcomes::answer(index, &outcome);
    }

    pub(crate) fn archive_put(
        index: u32,
        key: &str,
        body: &[u8],
        content_type: &str,
    ) -> Result<(), HostError> {
        archive::put(index, key, body, content_type).map_err(HostError::from)
    }

    pub(crate) fn archive_get(index: u32, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        archive::get(index, key).map_err(HostError::from)
    }

    pub(crate) fn metadata_put(
        index: u32,
        archive_key: Option<&str>,
        attributes: &str,
    ) -> Result<(), HostError> {
        metadata::put(index, archive_key, attributes).map_err(HostError::from)
    }

    pub(crate) fn notify_publish(
        index: u32,
        channel: &str,
        subject: &str,
        message: &str,
        attributes: &[(String, String)],
    ) -> Result<(), HostError> {
        notify::publish(index, channel, subject, message, attributes).map_err(HostError::from)
    }

    pub(crate) fn forward_send(
        index: u32,
        destination: &str,
        detail: Option<&str>,
        resources: Option<&[String]>,
    ) -> Result<(), HostError> {
        forward::send(index, destination, detail, resources).map_err(HostError::from)
    }

    pub(crate) fn http_send(
        index: u32,
        request: &http::Request,
    ) -> Result<http::Response, HostError> {
        http::send(index, request).map_err(HostError::from)
    }

    pub(crate) fn log_write(level: Level, message: &str) {
        log::write(level, message);
    }
}

#[cfg(not(target_arch = "wasm32"))]
use crate::testing::imports;

pub(crate) use imports::{
    answer, archive_get, archive_put, forward_send, http_send, log_write, metadata_put,
    notify_publish,
};
