//! The plugin contract this host implements: the versions of the
//! `trailmark:plugin` world it runs, the exports each requires, and
//! [`Incompatibility`], why a component does not fit them.

/// The WIT package every plugin is built against.
pub const WORLD_PACKAGE: &str = "trailmark:plugin";
/// The world version this host implements (`sdk/wit/world.wit`).
pub const WORLD_VERSION: &str = "0.2.0";
/// The versions this host accepts, for messages.
pub const SUPPORTED_VERSIONS: &str = "0.2.x or 0.1.x";
/// The function every plugin exports.
pub const HANDLE_EXPORT: &str = "handle";
/// The function a 0.2 plugin exports besides `handle`.
pub const INIT_EXPORT: &str = "init";

/// Which version of the plugin world a component targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    /// `trailmark:plugin@0.1.x`: one `handle(event, config)` call per
    /// delivery; the host adapts it.
    V01,
    /// `trailmark:plugin@0.2.x`: `init(config)` once, batched `handle`.
    V02,
}

impl Contract {
    /// `0.1` or `0.2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Contract::V01 => "0.1",
            Contract::V02 => "0.2",
        }
    }

    /// The contract of `0.1.x` or `0.2.x` for any `x`, pre-release and build
    /// suffixes included.
    pub(crate) fn for_version(version: &str) -> Option<Self> {
        let mut parts = version.splitn(3, '.');
        let (Some(major), Some(minor), Some(patch)) = (parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let patch_digits = patch.split(['-', '+']).next().unwrap_or("");
        if major != "0"
            || patch_digits.is_empty()
            || !patch_digits.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        match minor {
            "1" => Some(Self::V01),
            "2" => Some(Self::V02),
            _ => None,
        }
    }
}

/// Why a component cannot run on this host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Incompatibility {
    /// Built against another version of the plugin world.
    #[error(
        "it was built for {WORLD_PACKAGE}@{found}, but this host supports \
         {WORLD_PACKAGE}@{SUPPORTED_VERSIONS}; rebuild it against a 0.2 trailmark-sdk"
    )]
    Version {
        /// The version the plugin imports.
        found: String,
    },
    /// Imports of two different versions of our world.
    #[error("it imports two versions of {WORLD_PACKAGE} ({first} and {second})")]
    MixedVersions {
        /// One version.
        first: String,
        /// Another one.
        second: String,
    },
    /// Imports something that is neither ours nor WASI.
    #[error(
        "it imports `{import}`, which this host does not provide (plugins may import \
         {WORLD_PACKAGE}/* and wasi:*); it was built for another world"
    )]
    ForeignImport {
        /// The import name.
        import: String,
    },
    /// Does not export a function its world requires.
    #[error(
        "it does not export `{missing}` (exports: [{exports}]), which the \
         {WORLD_PACKAGE}@{version} world requires; it was not built for it"
    )]
    MissingHandle {
        /// The missing export.
        missing: &'static str,
        /// The world version it imports.
        version: String,
        /// What it exports instead, comma separated.
        exports: String,
    },
    /// Exports `handle` but imports nothing of our world, so its version is unknown.
    #[error(
        "it imports nothing from {WORLD_PACKAGE}, so it was not built for the \
         {WORLD_PACKAGE}@{SUPPORTED_VERSIONS} world"
    )]
    NoWorld,
}
