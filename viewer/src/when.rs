//! Times as the pages show them; what people type in the query bar is read
//! by [`trailmark_backend_api::when`] (RFC 3339, a date, `now`, epoch
//! milliseconds, `3 hours ago`, `15m`, `7d`), the grammar of the API too.

use time::OffsetDateTime;
use time::macros::format_description;

pub use trailmark_backend_api::when::{format_ms, now_ms, parse_time_ms};

/// An instant as a page shows it: `text` to read (UTC, to the second),
/// `iso` for the `<time datetime>` and the hover title (to the millisecond).
/// The page's local-time toggle rewrites the text from `iso`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// RFC 3339 UTC, e.g. `2026-11-25T10:00:00.250Z`.
    pub iso: String,
    /// `2026-11-25 10:00:00`.
    pub text: String,
}

impl Stamp {
    /// The stamp of epoch milliseconds.
    pub fn of_ms(ms: i64) -> Stamp {
        let text = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .ok()
            .and_then(|dt| {
                dt.format(format_description!(
                    "[year]-[month]-[day] [hour]:[minute]:[second]"
                ))
                .ok()
            })
            .unwrap_or_else(|| ms.to_string());
        Stamp {
            iso: format_ms(ms),
            text,
        }
    }
}

/// A length of time as a person says it: `45 s`, `12 min`, `3 h 20 min`,
/// `4 d 2 h`.
pub fn duration_text(ms: i64) -> String {
    let s = ms.max(0) / 1_000;
    match s {
        0..60 => format!("{s} s"),
        60..3_600 => format!("{} min", s / 60),
        3_600..86_400 => format!("{} h {} min", s / 3_600, s % 3_600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3_600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_064_800_000; // 2025-11-25T10:00:00Z

    #[test]
    fn stamps_show_seconds_and_keep_the_full_instant() {
        let s = Stamp::of_ms(NOW + 250);
        assert_eq!(s.text, "2025-11-25 10:00:00");
        assert_eq!(s.iso, "2025-11-25T10:00:00.25Z");
        assert_eq!(Stamp::of_ms(i64::MAX).text, i64::MAX.to_string());
    }

    #[test]
    fn durations_read_in_their_largest_units() {
        assert_eq!(duration_text(-5), "0 s");
        assert_eq!(duration_text(45_999), "45 s");
        assert_eq!(duration_text(12 * 60_000 + 5_000), "12 min");
        assert_eq!(duration_text(3 * 3_600_000 + 20 * 60_000), "3 h 20 min");
        assert_eq!(duration_text(4 * 86_400_000 + 2 * 3_600_000), "4 d 2 h");
    }
}
