//! The `trailmark:plugin@0.1.x` world, kept so plugins built for it run
//! unchanged: one `handle(event, config)` call per delivery. The host adapts
//! a batch by calling `handle` for each of its deliveries in turn (see
//! [`Binding::call_batch`](crate::Binding::call_batch)); every capability
//! call concerns the one delivery being handled, index 0 of its batch.

use trailmark_backend_api::{ChangeRecord, Event, Notification};

use crate::denial;
use crate::host::HostState;

/// Host bindings generated from `runtime/wit/v0.1` (world `plugin`); synchronous.
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/v0.1",
        world: "plugin",
    });
}

use bindings::trailmark::plugin::types::{Event as WitEvent, HostError};
use bindings::trailmark::plugin::{archive, forward, log, metadata, notify, types};

/// The one delivery a 0.1 call handles.
const ONLY: u32 = 0;

/// The WIT form of a journaled event.
pub(crate) fn wit_event(event: &Event) -> WitEvent {
    WitEvent {
        id: event.id.clone(),
        source: event.source.clone(),
        detail_type: event.detail_type.clone(),
        time: event.time.clone(),
        account: event.account.clone(),
        region: event.region.clone(),
        resources: event.resources.clone(),
        detail: event.detail.clone(),
    }
}

fn backend_event(event: WitEvent) -> Event {
    Event {
        id: event.id,
        version: "0".to_owned(),
        source: event.source,
        detail_type: event.detail_type,
        time: event.time,
        account: event.account,
        region: event.region,
        resources: event.resources,
        detail: event.detail,
    }
}

denial::host_error_from_denial!(HostError);

impl types::Host for HostState {}

impl archive::Host for HostState {
    fn put(&mut self, key: String, body: Vec<u8>, content_type: String) -> Result<(), HostError> {
        Ok(self.archive_put(ONLY, key, body, content_type)?)
    }

    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self.archive_get(ONLY, &key)?)
    }
}

impl metadata::Host for HostState {
    fn put(&mut self, c: metadata::Change) -> Result<(), HostError> {
        let claimed = ChangeRecord {
            event_id: c.event_id,
            source: c.source,
            entity_type: c.entity_type,
            entity_id: c.entity_id,
            operation: c.operation,
            ts: c.ts,
            author: c.author,
            archive_key: c.archive_key,
            attributes: c.attributes,
            rules: Vec::new(),
        };
        Ok(self.metadata_put(ONLY, |_| Ok(claimed))?)
    }
}

impl notify::Host for HostState {
    fn publish(
        &mut self,
        channel: String,
        subject: String,
        message: String,
        attributes: Vec<(String, String)>,
    ) -> Result<(), HostError> {
        let notification = Notification {
            channel,
            subject,
            message,
            attributes,
        };
        Ok(self.notify_publish(ONLY, notification)?)
    }
}

impl forward::Host for HostState {
    fn send(&mut self, destination: String, e: WitEvent) -> Result<(), HostError> {
        Ok(self.forward_send(ONLY, &destination, |_| backend_event(e))?)
    }
}

impl log::Host for HostState {
    fn write(&mut self, level: log::Level, message: String) {
        self.log_write(level as u8, &message);
    }
}
