//! Per-call and per-delivery quotas on what a plugin may ask of the host.
//!
//! Time and memory are capped by [`Limits`](crate::Limits); these cap the
//! work a plugin makes the backends do and the text it makes the host keep:
//! a plugin over a quota gets `host-error::invalid` naming the quota (the
//! rule-file key under `limits:`) and its value, and may then reject.

use std::fmt;

/// One quota, named as under a rule's `limits:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quota {
    /// Bytes of one `archive.put` body.
    ArchivePutBytes,
    /// Bytes of all `archive.put` bodies of one delivery.
    ArchiveBytes,
    /// `archive.put` calls per delivery.
    ArchivePuts,
    /// `archive.get` calls per delivery.
    ArchiveGets,
    /// `metadata.put` calls per delivery.
    MetadataPuts,
    /// Bytes of one change record's `attributes`.
    AttributeBytes,
    /// `notify.publish` calls per delivery.
    Notifications,
    /// `forward.send` calls per delivery.
    ForwardSends,
    /// Bytes of one error text the host keeps from a plugin (a retry or
    /// reject reason) or gives it (a host error); longer texts are cut and
    /// marked.
    ErrorText,
}

/// What a quota counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaUnit {
    /// Bytes: rule files give sizes such as `1MiB`.
    Bytes,
    /// Calls: rule files give whole numbers.
    Calls,
}

impl Quota {
    /// Every quota, in the order the docs list them.
    pub const ALL: [Quota; 9] = [
        Quota::ArchivePutBytes,
        Quota::ArchiveBytes,
        Quota::ArchivePuts,
        Quota::ArchiveGets,
        Quota::MetadataPuts,
        Quota::AttributeBytes,
        Quota::Notifications,
        Quota::ForwardSends,
        Quota::ErrorText,
    ];

    /// The key under a rule's `limits:`, e.g. `archive-put-bytes`.
    pub fn key(self) -> &'static str {
        match self {
            Quota::ArchivePutBytes => "archive-put-bytes",
            Quota::ArchiveBytes => "archive-bytes",
            Quota::ArchivePuts => "archive-puts",
            Quota::ArchiveGets => "archive-gets",
            Quota::MetadataPuts => "metadata-puts",
            Quota::AttributeBytes => "attribute-bytes",
            Quota::Notifications => "notifications",
            Quota::ForwardSends => "forward-sends",
            Quota::ErrorText => "error-text",
        }
    }

    /// The quota with this rule-file key.
    pub fn from_key(key: &str) -> Option<Quota> {
        Quota::ALL.into_iter().find(|q| q.key() == key)
    }

    /// Bytes or calls.
    pub fn unit(self) -> QuotaUnit {
        match self {
            Quota::ArchivePutBytes
            | Quota::ArchiveBytes
            | Quota::AttributeBytes
            | Quota::ErrorText => QuotaUnit::Bytes,
            _ => QuotaUnit::Calls,
        }
    }

    /// What one unit of the quota is measured over, for messages.
    pub fn scope(self) -> &'static str {
        match self {
            Quota::ArchivePutBytes => "per put",
            Quota::AttributeBytes => "per record",
            Quota::ErrorText => "per message",
            _ => "per delivery",
        }
    }

    /// The default value.
    pub fn default_value(self) -> u64 {
        match self {
            Quota::ArchivePutBytes => 1 << 20,
            Quota::ArchiveBytes => 8 << 20,
            Quota::ArchivePuts => 16,
            Quota::ArchiveGets => 64,
            Quota::MetadataPuts => 4,
            Quota::AttributeBytes => 16 << 10,
            Quota::Notifications => 8,
            Quota::ForwardSends => 4,
            Quota::ErrorText => 4 << 10,
        }
    }

    /// The range a rule may set it to.
    pub fn range(self) -> std::ops::RangeInclusive<u64> {
        match self {
            Quota::ArchivePutBytes => 0..=(64 << 20),
            Quota::ArchiveBytes => 0..=(1 << 30),
            Quota::AttributeBytes => 0..=(1 << 20),
            // Room for the truncation marker and a useful start.
            Quota::ErrorText => 256..=(1 << 20),
            Quota::ArchivePuts
            | Quota::ArchiveGets
            | Quota::MetadataPuts
            | Quota::Notifications
            | Quota::ForwardSends => 0..=100_000,
        }
    }

    fn index(self) -> usize {
        Quota::ALL
            .iter()
            .position(|q| *q == self)
            .expect("every quota is in ALL")
    }

    fn describe(self, value: u64) -> String {
        match self.unit() {
            QuotaUnit::Bytes => format!("{value} bytes {}", self.scope()),
            QuotaUnit::Calls => format!("{value} calls {}", self.scope()),
        }
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "limits.{}", self.key())
    }
}

/// The value of every quota of one binding. The default is each quota's
/// [`Quota::default_value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    values: [u64; Quota::ALL.len()],
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            values: Quota::ALL.map(Quota::default_value),
        }
    }
}

impl Quotas {
    /// The value of `quota`.
    pub fn get(&self, quota: Quota) -> u64 {
        self.values[quota.index()]
    }

    /// Sets `quota`, or says what range it allows.
    pub fn set(&mut self, quota: Quota, value: u64) -> Result<(), String> {
        let range = quota.range();
        if !range.contains(&value) {
            return Err(format!(
                "`{quota}` must be from {} to {}; got {value}",
                range.start(),
                range.end()
            ));
        }
        self.values[quota.index()] = value;
        Ok(())
    }

    /// The error-text quota as a length.
    pub(crate) fn error_text(&self) -> usize {
        usize::try_from(self.get(Quota::ErrorText)).unwrap_or(usize::MAX)
    }
}

/// A plugin asked for more than a quota allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what} is over the quota {quota} ({limit}); the call was refused \
     (raise `{key}` under the rule's `limits:` if this is expected)",
    limit = quota.describe(*value),
    key = quota.key()
)]
pub struct OverQuota {
    /// The quota.
    pub quota: Quota,
    /// Its value for this binding.
    pub value: u64,
    /// What went over it, e.g. `the 17th archive.put`.
    pub what: String,
}

/// What one delivery has used so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    used: [u64; Quota::ALL.len()],
}

impl Usage {
    /// Checks one call's `amount` against a per-call quota.
    pub(crate) fn check(
        quotas: &Quotas,
        quota: Quota,
        amount: u64,
        what: impl FnOnce() -> String,
    ) -> Result<(), OverQuota> {
        let value = quotas.get(quota);
        if amount > value {
            return Err(OverQuota {
                quota,
                value,
                what: what(),
            });
        }
        Ok(())
    }

    /// Counts `amount` against a per-delivery quota; refuses (counting
    /// nothing) if the total would pass it.
    pub(crate) fn take(
        &mut self,
        quotas: &Quotas,
        quota: Quota,
        amount: u64,
        what: &str,
    ) -> Result<(), OverQuota> {
        let value = quotas.get(quota);
        let used = &mut self.used[quota.index()];
        let total = used.saturating_add(amount);
        if total > value {
            return Err(OverQuota {
                quota,
                value,
                what: match quota.unit() {
                    QuotaUnit::Calls => format!("{what} number {total}"),
                    QuotaUnit::Bytes => {
                        format!("{what} ({amount} bytes, {total} bytes in this delivery)")
                    }
                },
            });
        }
        *used = total;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_defaults_are_in_range() {
        for quota in Quota::ALL {
            assert_eq!(Quota::from_key(quota.key()), Some(quota));
            assert!(quota.range().contains(&quota.default_value()), "{quota}");
        }
        assert_eq!(Quota::from_key("archive"), None);
    }

    #[test]
    fn set_checks_the_range() {
        let mut quotas = Quotas::default();
        quotas.set(Quota::ArchivePuts, 2).expect("in range");
        assert_eq!(quotas.get(Quota::ArchivePuts), 2);
        let err = quotas.set(Quota::ErrorText, 10).expect_err("too small");
        assert!(err.contains("limits.error-text"), "{err}");
    }

    #[test]
    fn take_counts_until_the_quota_and_names_it() {
        let mut quotas = Quotas::default();
        quotas.set(Quota::Notifications, 2).expect("in range");
        let mut usage = Usage::default();
        usage
            .take(&quotas, Quota::Notifications, 1, "notify.publish")
            .expect("first");
        usage
            .take(&quotas, Quota::Notifications, 1, "notify.publish")
            .expect("second");
        let err = usage
            .take(&quotas, Quota::Notifications, 1, "notify.publish")
            .expect_err("third");
        assert_eq!(
            err.to_string(),
            "notify.publish number 3 is over the quota limits.notifications (2 calls per \
             delivery); the call was refused (raise `notifications` under the rule's \
             `limits:` if this is expected)"
        );
        let err = Usage::check(&quotas, Quota::ArchivePutBytes, 2 << 20, || {
            "archive.put body of 2097152 bytes".to_owned()
        })
        .expect_err("too big");
        assert!(
            err.to_string()
                .contains("limits.archive-put-bytes (1048576 bytes per put)"),
            "{err}"
        );
    }
}
