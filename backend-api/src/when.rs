//! Points in time as people write them, one grammar for the API's query
//! strings and bodies, the command line and the viewer's query bar:
//!
//! - RFC 3339: `2026-11-25T10:00:00Z`, `2026-11-25T11:00:00.250+01:00`;
//! - a date: `2026-11-25` (midnight UTC);
//! - `now`;
//! - epoch milliseconds: `1764064800000`;
//! - a time ago, counted back from now: a duration as
//!   [`parse_duration`](crate::units::parse_duration) reads it (`15m`,
//!   `24h`, `1h30m`, `250ms`) or as people say it (`3 hours`, `90 minutes`,
//!   `2 weeks`), either with an optional `ago`.
//!
//! ```
//! use trailmark_backend_api::when::parse_time_ms;
//! let now = 1_764_064_800_000; // 2025-11-25T10:00:00Z
//! assert_eq!(parse_time_ms("2025-11-25T10:00:00Z", 0), Ok(now));
//! assert_eq!(parse_time_ms("3 hours ago", now), Ok(now - 3 * 3_600_000));
//! assert_eq!(parse_time_ms("1h30m", now), Ok(now - 5_400_000));
//! assert!(parse_time_ms("yesterday", now).is_err());
//! ```

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use crate::units::parse_duration;

/// Milliseconds since the Unix epoch of `text`, times ago counted back from
/// `now_ms`; the error names every accepted form.
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
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<i64>()
            .map_err(|_| format!("`{t}`: number too large for epoch milliseconds"));
    }
    ago_ms(t)
        .map(|ago| now_ms.saturating_sub(ago))
        .ok_or_else(|| {
            format!(
                "`{t}` is not a time; use RFC 3339 (2026-11-25T10:00:00Z), a date (2026-11-25), \
                 now, epoch milliseconds, or a time ago such as 15m, 24h, 7d or \"3 hours ago\""
            )
        })
}

/// `3 hours ago`, `3 hours`, `3h`, `1h30m ago`: the length in milliseconds.
fn ago_ms(text: &str) -> Option<i64> {
    let lower = text.to_ascii_lowercase();
    let body = lower.strip_suffix("ago").unwrap_or(&lower).trim();
    if let Some(ms) = spoken_ms(body) {
        return Some(ms);
    }
    let duration = parse_duration(body).ok()?;
    i64::try_from(duration.as_millis()).ok()
}

/// One number and a unit as people say it (`3 hours`, `90 min`, `2 weeks`).
fn spoken_ms(body: &str) -> Option<i64> {
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

/// Milliseconds since the Unix epoch of a date-time.
pub fn to_ms(dt: OffsetDateTime) -> i64 {
    i64::try_from(dt.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    to_ms(OffsetDateTime::now_utc())
}

/// Epoch milliseconds as RFC 3339 UTC, e.g. `2026-11-25T10:00:00.250Z`
/// (the epoch's digits for an instant `time` cannot represent).
pub fn format_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|dt| dt.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_064_800_000; // 2025-11-25T10:00:00Z

    #[test]
    fn absolute_forms() {
        assert_eq!(parse_time_ms("2025-11-25T10:00:00Z", 0), Ok(NOW));
        assert_eq!(parse_time_ms(" 2025-11-25T11:00:00+01:00 ", 0), Ok(NOW));
        assert_eq!(parse_time_ms("2025-11-25", 0), Ok(NOW - 10 * 3_600_000));
        assert_eq!(parse_time_ms("now", NOW), Ok(NOW));
        assert_eq!(parse_time_ms("NOW", NOW), Ok(NOW));
        assert_eq!(parse_time_ms("1764064800000", 0), Ok(NOW));
        assert!(
            parse_time_ms("99999999999999999999", 0)
                .unwrap_err()
                .contains("too large")
        );
        assert_eq!(format_ms(NOW), "2025-11-25T10:00:00Z");
        assert_eq!(format_ms(NOW + 250), "2025-11-25T10:00:00.25Z");
    }

    #[test]
    fn times_ago_count_back_from_now() {
        for text in [
            "3 hours ago",
            "3 hours",
            "3h",
            "3hours ago",
            "3 HOURS AGO",
            "3h ago",
        ] {
            assert_eq!(parse_time_ms(text, NOW), Ok(NOW - 3 * 3_600_000), "{text}");
        }
        assert_eq!(parse_time_ms("15m", NOW), Ok(NOW - 15 * 60_000));
        assert_eq!(parse_time_ms("250ms", NOW), Ok(NOW - 250));
        assert_eq!(parse_time_ms("1h30m", NOW), Ok(NOW - 5_400_000));
        assert_eq!(parse_time_ms("1m 30s ago", NOW), Ok(NOW - 90_000));
        assert_eq!(parse_time_ms("2 weeks ago", NOW), Ok(NOW - 14 * 86_400_000));
        assert_eq!(parse_time_ms("7d", NOW), Ok(NOW - 7 * 86_400_000));
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
            "-5m",
            "2025-02-30",
        ] {
            let err = parse_time_ms(text, NOW).unwrap_err();
            assert!(err.contains("RFC 3339"), "{text}: {err}");
        }
    }
}
