//! The host capabilities as plain functions: grant checks, confinement to
//! the delivery, quotas, then the backend call. Both plugin worlds (0.1 and
//! 0.2) call these, and map [`Denial`] onto their own WIT `host-error`.
//! They are methods of the store state, [`HostState`], taking the index of
//! the delivery in the current batch.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use trailmark_backend_api::{
    BackendError, ChangeRecord, Event, HttpError, HttpRequest, HttpResponse, Notification,
};

use crate::delivery::{Delivery, Refusal};
use crate::denial::Denial;
use crate::grants::ArchiveGrant;
use crate::host::{BindingContext, HostState};
use crate::quotas::{Quota, Usage};
use crate::safe_text::bounded;
use crate::staged::StagedPut;

impl BindingContext {
    fn denied(&self, what: &str) -> Denial {
        self.refusal(Refusal::Denied(format!(
            "rule {:?} has no grant for {what} (grants: {})",
            &*self.rule, self.grants
        )))
    }

    fn unconfigured(&self, what: &str) -> Denial {
        self.refusal(Refusal::Invalid(format!(
            "{what} is granted to rule {:?} but is not configured on this host",
            &*self.rule
        )))
    }

    /// The backend `name` of a named capability (`what`, e.g. `notify
    /// channel`): granted among `granted` and configured in `configured`,
    /// else a denial saying which of the two it is not.
    fn named<'a, T: ?Sized>(
        &self,
        what: &str,
        name: &str,
        granted: &BTreeSet<String>,
        configured: &'a HashMap<String, Arc<T>>,
    ) -> Result<&'a Arc<T>, Denial> {
        if !granted.contains(name) {
            return Err(self.denied(&format!("{what} {:?}", bounded(name, 64))));
        }
        configured
            .get(name)
            .ok_or_else(|| self.unconfigured(&format!("{what} {name:?}")))
    }

    /// The archive grant, or a denial.
    fn archive_grant(&self) -> Result<&ArchiveGrant, Denial> {
        self.grants
            .archive
            .as_ref()
            .ok_or_else(|| self.denied("archive"))
    }

    /// A refusal, its text bounded.
    pub(crate) fn refusal(&self, refusal: Refusal) -> Denial {
        let max = self.quotas.error_text();
        match refusal {
            Refusal::Denied(m) => Denial::Denied(bounded(&m, max)),
            Refusal::Invalid(m) => Denial::Invalid(bounded(&m, max)),
        }
    }

    /// A backend's error, its text bounded.
    pub(crate) fn backend(&self, error: BackendError) -> Denial {
        let max = self.quotas.error_text();
        match error {
            BackendError::Denied(m) => Denial::Denied(bounded(&m, max)),
            BackendError::Transient(m) => Denial::Transient(bounded(&m, max)),
            BackendError::Invalid(m) => Denial::Invalid(bounded(&m, max)),
        }
    }
}

// The capability calls of delivery `index` of the current batch (always 0
// for a 0.1 plugin), as the worlds' `Host` impls make them.
impl HostState {
    /// `archive.put`: checks the put and stages it for the end of the call.
    pub(crate) fn archive_put(
        &mut self,
        index: u32,
        key: String,
        body: Vec<u8>,
        content_type: String,
    ) -> Result<(), Denial> {
        let (ctx, delivery, staged) = self.delivery(index)?;
        let grant = ctx.archive_grant()?;
        if ctx.capabilities.archive.is_none() {
            return Err(ctx.unconfigured("archive"));
        }
        let key = key.as_str();
        delivery
            .check_write(grant, key)
            .map_err(|r| ctx.refusal(r))?;
        let bytes = body.len() as u64;
        Usage::check(&ctx.quotas, Quota::ArchivePutBytes, bytes, || {
            format!("archive.put body of {bytes} bytes")
        })
        .map_err(|e| ctx.refusal(e.into()))?;
        let usage = &mut delivery.usage;
        usage
            .take(&ctx.quotas, Quota::ArchivePuts, 1, "archive.put")
            .and_then(|()| usage.take(&ctx.quotas, Quota::ArchiveBytes, bytes, "archive.put body"))
            .map_err(|e| ctx.refusal(e.into()))?;
        staged.archive.push(StagedPut {
            index,
            key: key.to_owned(),
            body,
            content_type,
        });
        Ok(())
    }

    /// `archive.get`; a body staged by this call is read back as staged.
    pub(crate) fn archive_get(&mut self, index: u32, key: &str) -> Result<Option<Vec<u8>>, Denial> {
        let (ctx, delivery, staged) = self.delivery(index)?;
        let grant = ctx.archive_grant()?;
        let store = ctx
            .capabilities
            .archive
            .as_ref()
            .ok_or_else(|| ctx.unconfigured("archive"))?;
        delivery
            .check_read(grant, key)
            .map_err(|r| ctx.refusal(r))?;
        delivery
            .usage
            .take(&ctx.quotas, Quota::ArchiveGets, 1, "archive.get")
            .map_err(|e| ctx.refusal(e.into()))?;
        if let Some(put) = staged.archive.iter().find(|p| p.key == key) {
            return Ok(Some(put.body.clone()));
        }
        store.get(key).map_err(|e| ctx.backend(e))
    }

    /// `metadata.put` of the record `claim` (0.1: the plugin's; 0.2: the
    /// delivery's own fields with the plugin's key and attributes): checks it
    /// and stages it for the end of the call.
    pub(crate) fn metadata_put(
        &mut self,
        index: u32,
        claim: impl FnOnce(&Delivery) -> Result<ChangeRecord, Refusal>,
    ) -> Result<(), Denial> {
        let (ctx, delivery, staged) = self.delivery(index)?;
        if !ctx.grants.metadata {
            return Err(ctx.denied("metadata"));
        }
        if ctx.capabilities.metadata.is_none() {
            return Err(ctx.unconfigured("metadata"));
        }
        let claimed = claim(delivery).map_err(|r| ctx.refusal(r))?;
        let record = delivery
            .change_record(ctx.grants.archive.as_ref(), &ctx.quotas, claimed)
            .map_err(|r| ctx.refusal(r))?;
        staged.metadata.push((index, record));
        Ok(())
    }

    /// `notify.publish`.
    pub(crate) fn notify_publish(
        &mut self,
        index: u32,
        notification: Notification,
    ) -> Result<(), Denial> {
        let (ctx, delivery, _) = self.delivery(index)?;
        let notifier = ctx.named(
            "notify channel",
            &notification.channel,
            &ctx.grants.notify,
            &ctx.capabilities.notify,
        )?;
        delivery
            .usage
            .take(&ctx.quotas, Quota::Notifications, 1, "notify.publish")
            .map_err(|e| ctx.refusal(e.into()))?;
        notifier.publish(&notification).map_err(|e| ctx.backend(e))
    }

    /// `forward.send` of the plugin's version of the event, which `sent`
    /// makes from the delivery's own (checked by [`Delivery::forwarded`]).
    pub(crate) fn forward_send(
        &mut self,
        index: u32,
        destination: &str,
        sent: impl FnOnce(&Event) -> Event,
    ) -> Result<(), Denial> {
        let (ctx, delivery, _) = self.delivery(index)?;
        let forwarder = ctx.named(
            "forward destination",
            destination,
            &ctx.grants.forward,
            &ctx.capabilities.forward,
        )?;
        let sent = sent(delivery.event());
        let event = delivery.forwarded(sent).map_err(|r| ctx.refusal(r))?;
        delivery
            .usage
            .take(&ctx.quotas, Quota::ForwardSends, 1, "forward.send")
            .map_err(|e| ctx.refusal(e.into()))?;
        forwarder.send(&event).map_err(|e| ctx.backend(e))
    }

    /// `http.send` to `destination` for delivery `index`. The destination
    /// must be granted and defined; everything else (methods, paths,
    /// credentials, redirects, rate limits, retries of short `Retry-After`s)
    /// is the host's [`HttpDestinations`](trailmark_backend_api::HttpDestinations)'
    /// business. The time spent waiting on the network is added to the
    /// call's deadline: the plugin's time limit is for its own work. A failed
    /// call fails its delivery (see [`Staged`](crate::staged::Staged)), and
    /// a `Retry-After` it carried holds back the retries of the call's
    /// deliveries.
    pub(crate) fn http_send(
        &mut self,
        index: u32,
        destination: &str,
        request: HttpRequest,
    ) -> Result<HttpResponse, Denial> {
        let rule = {
            let (ctx, _, _) = self.delivery(index)?;
            if !ctx.grants.http.contains(destination) {
                return Err(ctx.denied(&format!("http destination {:?}", bounded(destination, 64))));
            }
            if ctx.capabilities.http.is_none() {
                return Err(ctx.unconfigured(&format!("http destination {destination:?}")));
            }
            std::sync::Arc::clone(&ctx.rule)
        };
        let what = format!(
            "http.send {} {destination}{}",
            bounded(&request.method, 16),
            bounded(&request.path, 256)
        );
        let waited = Instant::now();
        let result = match &self.context.capabilities.http {
            Some(http) => http.send(&rule, destination, request),
            None => Err(BackendError::Invalid("no http destinations".to_owned()).into()),
        };
        self.deadline += waited.elapsed();
        match result {
            Ok(response) => Ok(response),
            Err(HttpError { error, retry_after }) => {
                let denial = self.context.backend(error.clone());
                self.staged.http_failures.push((index, what, error));
                self.staged.retry_after = self.staged.retry_after.max(retry_after);
                Err(denial)
            }
        }
    }

    /// `log.write` at a level of either world (their `level` enums list
    /// the same five in the same order).
    pub(crate) fn log_write(&mut self, level: u8, message: &str) {
        self.output.log(level_of(level), message);
    }
}

/// A log level of either world, as `tracing`'s.
fn level_of(index: u8) -> tracing::Level {
    match index {
        0 => tracing::Level::TRACE,
        1 => tracing::Level::DEBUG,
        2 => tracing::Level::INFO,
        3 => tracing::Level::WARN,
        _ => tracing::Level::ERROR,
    }
}
