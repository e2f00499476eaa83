//! Write [Trailmark](https://github.com/trailmark/trailmark) plugins in Rust.
//!
//! A plugin is a WebAssembly component of the world
//! `trailmark:plugin/plugin@0.2.0` (see `sdk/wit/world.wit`). The host calls
//! its `init` export once per instance with the rule's `config`, then its
//! `handle` export with batches of deliveries; the plugin answers each
//! delivery on its own and reaches storage only through the host
//! capabilities the rule grants.
//!
//! This crate turns that contract into a few lines of Rust:
//!
//! - implement [`Plugin`] for a type and export it with [`export_plugin!`]:
//!   [`Plugin::new`] runs once per instance with the parsed config,
//!   [`Plugin::handle`] once per delivery, its result answering the delivery;
//! - read the event through [`Event`]: the envelope fields, the raw `detail`
//!   text, and for an `Object State Change` its typed fields
//!   ([`Event::state_change`]) and the raw JSON text of `detail.data`
//!   ([`Event::data`]), all parsed once by the host: a plugin that reads
//!   fields parses no JSON at all;
//! - declare the rule's config as a [`serde`] type ([`Plugin::Config`]);
//! - call capabilities as methods of the event ([`Event::archive_put`],
//!   [`Event::metadata_put`], [`Event::notify`], [`Event::forward`]) with
//!   `?`: their errors become [`PluginError`]s that tell the host to retry
//!   (transient failures) or dead-letter (denied or invalid requests); the
//!   [`log`] is a module of free functions;
//! - build strings and archive keys from templates such as
//!   `{entity-type}/{entity-id}/{ts}.json` ([`Template`], [`render`],
//!   [`render_key`]).
//!
//! # A complete plugin
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "shout"
//! version = "0.1.0"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib", "rlib"]
//!
//! [dependencies]
//! trailmark-sdk = { git = "https://github.com/trailmark/trailmark" }
//! serde = { version = "1", features = ["derive"] }
//! ```
//!
//! `src/lib.rs`:
//!
//! ```
//! use serde::Deserialize;
//! use trailmark_sdk::{Event, Plugin, PluginError, Template, export_plugin};
//!
//! /// Rule config: `{ "channel": "ops" }`.
//! #[derive(Deserialize)]
//! #[serde(deny_unknown_fields)]
//! pub struct Config {
//!     channel: String,
//!     #[serde(default = "subject")]
//!     subject: Template,
//! }
//!
//! fn subject() -> Template {
//!     Template::parse("{entity-type} {entity-id}: {operation} by {author}").expect("valid")
//! }
//!
//! pub struct Shout(Config);
//!
//! impl Plugin for Shout {
//!     type Config = Config;
//!
//!     fn new(config: Config) -> Result<Self, PluginError> {
//!         Ok(Shout(config))
//!     }
//!
//!     fn handle(&self, event: &Event<'_>) -> Result<(), PluginError> {
//!         let subject = self.0.subject.render(event)?.to_uppercase();
//!         event.notify(&self.0.channel, &subject, event.data().unwrap_or("{}"), &[])
//!     }
//! }
//!
//! export_plugin!(Shout);
//!
//! // Its test, natively, with the in-memory host of `trailmark_sdk::testing`:
//! use trailmark_sdk::testing::{Answer, BOOK_UPDATE, Batch, Call, Host};
//!
//! let mut host = Host::new();
//! let answers = host.run::<Shout>(r#"{"channel": "ops"}"#, &Batch::from_json(&[BOOK_UPDATE])?);
//! assert_eq!(answers, [Answer::Ok]);
//! let Call::Notify { subject, .. } = &host.calls()[0] else { panic!("one notification") };
//! assert_eq!(subject, "BOOK 978-0-13-468599-1: UPDATE BY BOB@EXAMPLE.COM");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release`; the file
//! `target/wasm32-wasip2/release/shout.wasm` is the component to copy into
//! the host's `plugins/` directory. `docs/writing-a-plugin.md` walks through
//! the whole path, from `cargo new` to a rule that runs the plugin.
//!
//! # Testing plugins natively
//!
//! Natively (not compiled for `wasm32`), the capability methods call the
//! in-memory host of [`testing`]: [`testing::Host::run`] initializes a
//! plugin with a config and runs it on a [`testing::Batch`] packed as the
//! host packs one (state changes parsed by the host's own parser), records
//! every capability call and returns each delivery's [`testing::Answer`].

#![warn(missing_docs)]

// Lets the generated bindings and the exported macros name this crate as
// `::trailmark_sdk` both from inside it and from plugin crates.
extern crate self as trailmark_sdk;

mod capabilities;
mod config;
mod error;
mod event;
mod host;
pub mod json;
mod json_template;
mod key;
mod template;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

/// The `serde_json` crate the SDK uses, so plugins need not depend on it.
pub use serde_json;
/// The host's event crate: the journaled [`Event`](trailmark_event::Event)
/// and the one parser of `Object State Change` details the host and the
/// SDK share.
pub use trailmark_event;

pub use capabilities::{HttpRequest, HttpResponse, handle_one_as_batch, log, send_together};
pub use config::{Config, ConfigError, NoConfig};
pub use error::{HostError, PluginError};
pub use event::{Event, StateChange};
pub use json_template::JsonTemplate;
pub use key::{
    KeyError, MAX_KEY_LEN, decode_key_value, encode_key_value, render_key, validate_key,
};
pub use template::{Template, TemplateError, render};
pub use trailmark_event::{
    CORRELATION_MATCH, HOST_SOURCE, Operation, STATE_CHANGE, StateChangeError, json_kind,
};

/// The archive key template of the standard `archive` plugin, and the one the
/// `metadata` plugin records by default, so that entity history can find the
/// archived bodies. Use it in custom plugins that archive bodies too.
///
/// It ends with the event id, so every event has a key of its own: two
/// changes of one entity in the same millisecond keep two bodies (the archive
/// never overwrites a body with different bytes). `trailmark verify` finds
/// the event of each body by the source in the first segment and the id in
/// the key.
pub const DEFAULT_ARCHIVE_KEY: &str =
    "{source}/{entity-type}/{entity-id}/{ts}-{operation}-{id}.json";

/// The bindings `wit-bindgen` generates from `sdk/wit/world.wit`.
///
/// Plugin authors do not need these: [`Event`], [`PluginError`] and the
/// capability methods wrap them. They are public so that [`export_plugin!`]
/// can reach them from a plugin crate, and for the host's test fixtures that
/// call the WIT imports with an index of their choosing.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_plugin_world",
        default_bindings_module: "::trailmark_sdk::bindings",
        runtime_path: "::trailmark_sdk::__private::wit_bindgen::rt",
        // The native test host records http requests in `Call`, compared in tests.
        additional_derives: [PartialEq, Eq],
    });
}

/// A Trailmark plugin: what the host runs for the deliveries of a rule.
///
/// Implement it for a type that holds what the plugin needs (usually its
/// config) and export that type with [`export_plugin!`]. The host makes one
/// instance per plugin instance with [`Plugin::new`], then calls
/// [`Plugin::handle`] once per delivery; the result answers the delivery.
pub trait Plugin: Sized {
    /// The rule's `config`, deserialized with [`Config::parse`] once per
    /// instance, before any delivery.
    ///
    /// Use a `#[derive(Deserialize)]` struct (with `#[serde(default)]` for
    /// optional fields and `#[serde(deny_unknown_fields)]` to catch typos),
    /// [`NoConfig`] for a plugin that takes none, or [`Config`] itself to
    /// read the JSON text some other way. Parse what you can here (a
    /// [`Template`] field checks its template): a config that does not
    /// deserialize rejects every delivery of the rule with a message naming
    /// the problem.
    type Config: serde::de::DeserializeOwned;

    /// Make the instance from its config, once. An error rejects every
    /// delivery of the rule with its message.
    fn new(config: Self::Config) -> Result<Self, PluginError>;

    /// Handle one delivery of `event`.
    ///
    /// Return [`PluginError::Retry`] for failures that may pass (the host
    /// retries with backoff under the rule's `retry` policy) and
    /// [`PluginError::Reject`] for those that will not (the delivery goes to
    /// the dead-letter store at once). A panic traps the instance: the
    /// deliveries of the batch not yet answered are retried one by one.
    fn handle(&self, event: &Event<'_>) -> Result<(), PluginError>;

    /// Whether the host's batches go to [`handle_batch`](Plugin::handle_batch)
    /// whole, instead of one [`handle`](Plugin::handle) per delivery. Set it
    /// for targets that take many events in one request (Splunk HEC, an
    /// OpenSearch `_bulk`).
    const BATCHED: bool = false;

    /// Handle the deliveries of a batch together (only when
    /// [`BATCHED`](Plugin::BATCHED)): one result per event, in order; a
    /// missing result leaves its delivery unanswered (retried). The events
    /// are those the SDK could read; the others are rejected with the reason.
    /// Capability calls for the whole batch are made for one of its events
    /// (say the first): the host confines them to it.
    fn handle_batch(&self, events: &[Event<'_>]) -> Vec<Result<(), PluginError>> {
        events.iter().map(|event| self.handle(event)).collect()
    }
}

/// Export a [`Plugin`] as the component's `init` and `handle` functions.
///
/// Invoke it once, at the top level of the plugin crate, with the name of the
/// type that implements [`Plugin`]. The instance [`Plugin::new`] makes in
/// `init` is kept for the instance's life; `handle` answers each delivery of
/// a batch with the result of [`Plugin::handle`]. Natively (in `cargo test`)
/// it exports nothing: run the plugin with [`testing::Host`] instead.
///
/// ```
/// # use trailmark_sdk::{Event, NoConfig, Plugin, PluginError, export_plugin};
/// struct Noop;
///
/// impl Plugin for Noop {
///     type Config = NoConfig;
///     fn new(_: NoConfig) -> Result<Self, PluginError> {
///         Ok(Noop)
///     }
///     fn handle(&self, _event: &Event<'_>) -> Result<(), PluginError> {
///         Ok(())
///     }
/// }
///
/// export_plugin!(Noop);
/// # fn main() {}
/// ```
///
/// A plugin that keeps nothing but its config can be one function,
/// `fn(&Config, &Event) -> Result<(), PluginError>`: name the function, its
/// config type and the plugin type to define (a tuple struct of the config,
/// `pub` if other crates run it, e.g. with [`testing::Host`]):
///
/// ```
/// # use trailmark_sdk::{Event, NoConfig, PluginError, export_plugin};
/// fn handle(_: &NoConfig, _event: &Event<'_>) -> Result<(), PluginError> {
///     Ok(())
/// }
///
/// export_plugin!(fn handle(NoConfig) as Noop);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_plugin {
    (fn $handle:ident ($config:ty) as $vis:vis $plugin:ident) => {
        /// The plugin: its config, parsed once per instance, and the function
        /// that handles each delivery.
        $vis struct $plugin($config);

        impl $crate::Plugin for $plugin {
            type Config = $config;

            fn new(config: $config) -> ::std::result::Result<Self, $crate::PluginError> {
                ::std::result::Result::Ok($plugin(config))
            }

            fn handle(
                &self,
                event: &$crate::Event<'_>,
            ) -> ::std::result::Result<(), $crate::PluginError> {
                $handle(&self.0, event)
            }
        }

        $crate::export_plugin!($plugin);
    };
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            ::std::thread_local! {
                /// The instance `init` made, kept for the instance's life.
                static INSTANCE: ::std::cell::RefCell<
                    ::std::option::Option<::std::result::Result<$plugin, $crate::PluginError>>,
                > = const { ::std::cell::RefCell::new(::std::option::Option::None) };
            }

            struct __TrailmarkPluginExport;

            impl $crate::bindings::Guest for __TrailmarkPluginExport {
                fn init(
                    config: ::std::string::String,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    let instance = $crate::__private::init::<$plugin>(config);
                    let result = $crate::__private::init_result(&instance);
                    INSTANCE.set(::std::option::Option::Some(instance));
                    result
                }

                fn handle(batch: $crate::bindings::trailmark::plugin::types::Batch) {
                    INSTANCE.with_borrow(|instance| {
                        $crate::__private::handle::<$plugin>(instance.as_ref(), &batch)
                    });
                }
            }

            $crate::bindings::__export_plugin_world!(__TrailmarkPluginExport);
        };
        // Natively nothing is exported (plugins may be linked together into
        // one test or bench binary); this only checks the type is a plugin.
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn(::std::string::String) -> ::std::result::Result<$plugin, $crate::PluginError> =
            $crate::__private::init::<$plugin>;
    };
}

/// Items the exported macros use; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;

    use crate::bindings::trailmark::plugin::types::Batch;
    use crate::event::Texts;
    use crate::{Config, Event, Plugin, PluginError, host};

    /// Make `P`'s instance from the rule's config text, parsed once.
    pub fn init<P: Plugin>(config: String) -> Result<P, PluginError> {
        Config::new(config)
            .parse::<P::Config>()
            .map_err(PluginError::from)
            .and_then(P::new)
    }

    /// What `init` returns to the host for `instance`.
    pub fn init_result<P>(instance: &Result<P, PluginError>) -> Result<(), String> {
        match instance {
            Ok(_) => Ok(()),
            Err(error) => Err(error.message().to_owned()),
        }
    }

    /// Answer every delivery of `batch` with `P`'s result for it; a failed
    /// `init` (or none) rejects each with the reason.
    pub fn handle<P: Plugin>(instance: Option<&Result<P, PluginError>>, batch: &Batch) {
        if let (true, Some(Ok(plugin))) = (P::BATCHED, instance) {
            return handle_batch(plugin, batch);
        }
        let texts = Texts::of(batch);
        for index in 0..batch.deliveries.len() / trailmark_event::delivery_table::WORDS {
            // The host cannot send more than u32::MAX deliveries (a WIT list
            // length is a u32).
            let Ok(index) = u32::try_from(index) else {
                break;
            };
            let result = match instance {
                Some(Ok(plugin)) => {
                    Event::read(batch, texts, index).and_then(|event| plugin.handle(&event))
                }
                Some(Err(error)) => Err(error.clone()),
                None => Err(PluginError::reject(
                    "the host called handle before init; a 0.2 host always calls init first",
                )),
            };
            host::answer(index, PluginError::outcome(result));
        }
    }

    /// Hand the readable events of `batch` to `plugin` together.
    fn handle_batch<P: Plugin>(plugin: &P, batch: &Batch) {
        let count = batch.deliveries.len() / trailmark_event::delivery_table::WORDS;
        let texts = Texts::of(batch);
        let mut events = Vec::with_capacity(count);
        for index in 0..count {
            let Ok(index) = u32::try_from(index) else {
                break;
            };
            match Event::read(batch, texts, index) {
                Ok(event) => events.push(event),
                Err(error) => host::answer(index, PluginError::outcome(Err(error))),
            }
        }
        let results = plugin.handle_batch(&events);
        for (event, result) in events.iter().zip(results) {
            host::answer(event.index(), PluginError::outcome(result));
        }
    }
}
