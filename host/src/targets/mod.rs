//! HTTP destinations for plugins: the `http` capability's host side.
//!
//! Destinations and connections are files in the rules directory
//! (`destinations/`, `connections/`; see [`files`]), loaded and swapped with
//! the rules on every reload, so a new target needs no restart. [`Targets`]
//! is what the runtime calls: it finds the destination, and
//! [`Destination::send`](destination::Destination::send) enforces
//! everything (methods, paths, credentials, rate limit, redirects, response
//! size, retry classes). Every call is counted and timed per destination in
//! `/metrics`. Grants are the runtime's: it checks the rule's `http` grant
//! before calling here.

pub mod connection;
pub mod destination;
pub mod files;
pub mod rate;
pub mod retry_after;
pub mod secret;

use std::sync::{Arc, RwLock};
use std::time::Instant;

use trailmark_backend_api::{BackendError, HttpDestinations, HttpError, HttpRequest, HttpResponse};

use crate::metrics::Metrics;
use destination::Ended;
pub use files::{CONNECTIONS_DIR, Catalog, DESTINATIONS_DIR, check, load, undefined_grants};

/// The destinations in force, swapped whole by a reload.
pub struct Targets {
    catalog: RwLock<Arc<Catalog>>,
    metrics: Arc<Metrics>,
}

impl Targets {
    /// Serve `catalog`, counting calls into `metrics`.
    pub fn new(catalog: Catalog, metrics: Arc<Metrics>) -> Targets {
        Targets {
            catalog: RwLock::new(Arc::new(catalog)),
            metrics,
        }
    }

    /// Put `catalog` in force; calls already running finish with the old one.
    pub fn swap(&self, catalog: Catalog) {
        *self.catalog.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(catalog);
    }

    /// The names of the destinations in force, sorted.
    pub fn names(&self) -> Vec<String> {
        let catalog = self.current();
        let mut names: Vec<String> = catalog.destinations.keys().cloned().collect();
        names.sort();
        names
    }

    fn current(&self) -> Arc<Catalog> {
        Arc::clone(&self.catalog.read().unwrap_or_else(|e| e.into_inner()))
    }
}

impl HttpDestinations for Targets {
    fn send(
        &self,
        rule: &str,
        destination: &str,
        request: HttpRequest,
    ) -> Result<HttpResponse, HttpError> {
        let catalog = self.current();
        let Some(target) = catalog.destinations.get(destination) else {
            let mut defined: Vec<&str> = catalog.destinations.keys().map(String::as_str).collect();
            defined.sort_unstable();
            return Err(BackendError::Invalid(format!(
                "http destination {destination:?} is granted to rule {rule:?} but not defined in \
                 the rules directory's {DESTINATIONS_DIR}/ (defined: [{}])",
                defined.join(", ")
            ))
            .into());
        };
        let started = Instant::now();
        let method = request.method.clone();
        let path = request.path.clone();
        let result = target.send(request);
        let ended = Ended::of(&result);
        self.metrics
            .destination(destination)
            .record(ended.as_str(), started.elapsed());
        match &result {
            Ok(response) => tracing::debug!(rule, destination, %method, %path,
                status = response.status, "http call"),
            Err(error) => tracing::info!(rule, destination, %method, %path,
                outcome = ended.as_str(), error = %error.error,
                retry_after_ms = error.retry_after.map(|w| w.as_millis() as u64),
                "http call failed"),
        }
        result
    }
}
