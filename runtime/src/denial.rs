//! [`Denial`]: why a capability call failed, as both plugin worlds report it.

/// Why a capability call failed, its text bounded by the error-text quota
/// and free of control characters: the WIT `host-error` of either world
/// (each world maps it with `host_error_from_denial!`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Denial {
    /// `host-error::denied`.
    Denied(String),
    /// `host-error::transient`.
    Transient(String),
    /// `host-error::invalid`.
    Invalid(String),
}

impl Denial {
    /// The text, whatever the kind.
    pub(crate) fn text(&self) -> &str {
        match self {
            Denial::Denied(m) | Denial::Transient(m) | Denial::Invalid(m) => m,
        }
    }
}

/// `impl From<Denial>` for a world's generated `host-error`: each world has
/// a type of its own, with the same three cases.
macro_rules! host_error_from_denial {
    ($host_error:ty) => {
        impl From<$crate::denial::Denial> for $host_error {
            fn from(denial: $crate::denial::Denial) -> Self {
                use $crate::denial::Denial;
                match denial {
                    Denial::Denied(m) => Self::Denied(m),
                    Denial::Transient(m) => Self::Transient(m),
                    Denial::Invalid(m) => Self::Invalid(m),
                }
            }
        }
    };
}
pub(crate) use host_error_from_denial;
