//! Times as people type them in the query bar, and as the pages show them.
//!
//! Accepted: RFC 3339 (`2026-11-25T10:00:00Z`), a date (`2026-11-25`, midnight
//! UTC), `now`, and relative times counted back from now: `3 hours ago`,
//! `3h`, `90 minutes`, `7d`, `2 weeks ago`.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

/// Milliseconds since the Unix epoch of `text`, relative forms counted back
/// from `now_ms`; the error says what is accepted.
pub fn parse_time_ms(text: &str, now_ms: i64) -> Result<i64, String> {
    let t = text.trim();
    if let Ok(dt) = OffsetDateTime::parse(t, &Rfc3339) {
        return Ok(to_ms(dt));
    }
    if let Ok(date) = Date::parse(t, format_description!("[year]-[month]-[day]")) {
        return Ok(to_ms(date.midnight().assume_utc()));
    }
    if t.eq_ignore_ascii_case("now") {
        return Ok(now_ms);
    }
    relative_ms(t)
        .map(|ago| now_ms.saturating_sub(ago))
        .ok_or_else(|| {
            format!(
                "`{t}` is not a time; use RFC 3339 (2026-11-25T10:00:00Z), a date (2026-11-25), \
                 or a relative time such as \"3 hours ago\", 15m or 7d"
            )
        })
}

/// `3 hours ago`, `3 hours`, `3h`, `3hours`: the length in milliseconds.
fn relative_ms(text: &str) -> Option<i64> {
    let lower = text.to_ascii_lowercase();
    let body = lower.strip_suffix("ago").unwrap_or(&lower).trim();
    let digits = body.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = body.split_at(digits);
    let n: i64 = number.parse().ok()?;
    let unit_ms: i64 = match unit.trim() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        "w" | "week" | "weeks" => 7 * 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit_ms)
}

fn to_ms(dt: OffsetDateTime) -> i64 {
    i64::try_from(dt.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    to_ms(OffsetDateTime::now_utc())
}

/// Epoch milliseconds as RFC 3339 UTC, e.g. `2026-11-25T10:00:00.250Z`.
pub fn format_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|dt| dt.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

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
    fn absolute_forms() {
        assert_eq!(parse_time_ms("2025-11-25T10:00:00Z", 0), Ok(NOW));
        assert_eq!(parse_time_ms("2025-11-25", 0), Ok(NOW - 10 * 3_600_000));
        assert_eq!(parse_time_ms("now", NOW), Ok(NOW));
        assert_eq!(format_ms(NOW), "2025-11-25T10:00:00Z");
    }

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

    #[test]
    fn relative_forms_count_back_from_now() {
        for text in ["3 hours ago", "3 hours", "3h", "3hours ago", "3 HOURS AGO"] {
            assert_eq!(parse_time_ms(text, NOW), Ok(NOW - 3 * 3_600_000), "{text}");
        }
        assert_eq!(parse_time_ms("15m", NOW), Ok(NOW - 15 * 60_000));
        assert_eq!(parse_time_ms("2 weeks ago", NOW), Ok(NOW - 14 * 86_400_000));
    }

    #[test]
    fn nonsense_says_what_is_accepted() {
        for text in [
            "yesterday",
            "3 parsecs ago",
            "ago",
            "",
            "h",
            "99999999999999999999h",
        ] {
            let err = parse_time_ms(text, NOW).unwrap_err();
            assert!(err.contains("RFC 3339"), "{text}: {err}");
        }
    }
}
