//! Write [Trailmark](https://github.com/trailmark/trailmark) plugins in Rust.
//!
//! A plugin is a WebAssembly component of the world
//! `trailmark:plugin/plugin@0.1.0` (see `sdk/wit/world.wit`). The host calls
//! its `handle` export once per delivery, with the event and the rule's
//! `config`; the plugin reaches storage only through the host capabilities
//! the rule grants ([`archive`], [`metadata`], [`notify`], [`forward`],
//! [`log`]).
//!
//! This crate turns that contract into a few lines of Rust:
//!
//! - implement [`Plugin`] for a type and export it with [`export_plugin!`];
//! - read the event through [`Event`] and its parsed audit detail through
//!   [`Event::state_change`] ([`StateChange`]);
//! - declare the rule's config as a [`serde`] type ([`Plugin::Config`]);
//! - call capabilities with `?`: their errors become [`PluginError`]s that tell
//!   the host to retry (transient failures) or dead-letter (denied or invalid
//!   requests);
//! - build strings and archive keys from templates such as
//!   `{entity-type}/{entity-id}/{ts}.json` ([`render`], [`render_key`],
//!   [`Template`]).
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
//! crate-type = ["cdylib"]
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
//! use trailmark_sdk::{Event, Plugin, PluginError, export_plugin, notify, render};
//!
//! /// Rule config: `{ "channel": "ops" }`.
//! #[derive(Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Config {
//!     channel: String,
//! }
//!
//! struct Shout;
//!
//! impl Plugin for Shout {
//!     type Config = Config;
//!
//!     fn handle(event: Event, config: Config) -> Result<(), PluginError> {
//!         let subject = render("{entity-type} {entity-id} {operation}d", &event)?;
//!         notify::publish(&config.channel, &subject.to_uppercase(), &event.detail, &[])
//!     }
//! }
//!
//! export_plugin!(Shout);
//! # fn main() {}
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release`; the file
//! `target/wasm32-wasip2/release/shout.wasm` is the component to copy into
//! the host's `plugins/` directory. `docs/writing-a-plugin.md` walks through
//! the whole path, from `cargo new` to a rule that runs the plugin.
//!
//! # Testing plugins natively
//!
//! Everything except the capability calls is plain Rust: [`Event::from_json`]
//! reads an EventBridge envelope, and [`Event::state_change`], [`Config`],
//! [`render`] and [`render_key`] run in `cargo test` on the host target. The
//! capability functions compile natively too, but only as stubs that panic
//! when called, so keep native tests to the pure parts of a plugin.

#![warn(missing_docs)]

// Lets the generated bindings and the exported macros name this crate as
// `::trailmark_sdk` both from inside it and from plugin crates.
extern crate self as trailmark_sdk;

mod capabilities;
mod config;
mod error;
mod event;
pub mod json;
mod key;
mod state_change;
mod template;
#[cfg(test)]
mod testing;

/// The `serde_json` crate the SDK uses, so plugins need not depend on it.
pub use serde_json;

pub use capabilities::{archive, forward, log, metadata, notify};
pub use config::{Config, ConfigError, NoConfig};
pub use error::{HostError, PluginError};
pub use event::Event;
pub use key::{
    KeyError, MAX_KEY_LEN, decode_key_value, encode_key_value, render_key, validate_key,
};
pub use state_change::{Operation, StateChange, StateChangeError};
pub use template::{Template, TemplateError, render};

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
/// capability modules wrap them. They are public so that [`export_plugin!`]
/// can reach them from a plugin crate.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../runtime/wit/v0.1",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_plugin_world",
        default_bindings_module: "::trailmark_sdk::bindings",
        runtime_path: "::trailmark_sdk::__private::wit_bindgen::rt",
    });
}

/// A Trailmark plugin: what the host runs for each delivery of a rule.
///
/// Implement it for a unit struct and export that struct with
/// [`export_plugin!`]. The host may run many deliveries in one instance or
/// give each its own, so keep no state between calls.
pub trait Plugin {
    /// The rule's `config`, deserialized with [`Config::parse`].
    ///
    /// Use a `#[derive(Deserialize)]` struct (with `#[serde(default)]` for
    /// optional fields and `#[serde(deny_unknown_fields)]` to catch typos),
    /// [`NoConfig`] for a plugin that takes none, or [`Config`] itself to
    /// read the JSON text some other way. A config that does not deserialize
    /// rejects the delivery with a message naming the problem.
    type Config: serde::de::DeserializeOwned;

    /// Handle one delivery of `event`.
    ///
    /// Return [`PluginError::Retry`] for failures that may pass (the host
    /// retries with backoff under the rule's `retry` policy) and
    /// [`PluginError::Reject`] for those that will not (the delivery goes to
    /// the dead-letter store at once).
    fn handle(event: Event, config: Self::Config) -> Result<(), PluginError>;
}

/// Export a [`Plugin`] as the component's `handle` function.
///
/// Invoke it once, at the top level of the plugin crate, with the name of the
/// type that implements [`Plugin`]:
///
/// ```
/// # use trailmark_sdk::{Event, NoConfig, Plugin, PluginError, export_plugin};
/// struct Noop;
///
/// impl Plugin for Noop {
///     type Config = NoConfig;
///     fn handle(_event: Event, _config: NoConfig) -> Result<(), PluginError> {
///         Ok(())
///     }
/// }
///
/// export_plugin!(Noop);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            struct __TrailmarkPluginExport;

            impl $crate::bindings::Guest for __TrailmarkPluginExport {
                fn handle(
                    event: $crate::bindings::trailmark::plugin::types::Event,
                    config: ::std::string::String,
                ) -> ::std::result::Result<
                    (),
                    $crate::bindings::trailmark::plugin::types::PluginError,
                > {
                    $crate::__private::handle::<$plugin>(event, config)
                }
            }

            $crate::bindings::__export_plugin_world!(__TrailmarkPluginExport);
        };
    };
}

/// Items the exported macros use; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;

    use crate::bindings::trailmark::plugin::types;
    use crate::{Config, Event, Plugin};

    /// Run `P` on one delivery, converting between the WIT types and the SDK's.
    pub fn handle<P: Plugin>(
        event: types::Event,
        config: String,
    ) -> Result<(), types::PluginError> {
        let config = Config::new(config);
        let result = config
            .parse::<P::Config>()
            .map_err(crate::PluginError::from)
            .and_then(|config| P::handle(Event::from(event), config));
        result.map_err(types::PluginError::from)
    }
}
