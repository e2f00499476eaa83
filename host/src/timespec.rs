//! Points in time as users write them: RFC 3339 (`2026-11-25T10:00:00Z`),
//! epoch milliseconds, or relative to now (`15m`, `1h`, `7d` meaning that
//! long ago).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use trailmark_backend_api::units::parse_duration;

/// Parse a time into milliseconds since the Unix epoch, relative forms
/// counted back from `now_ms`.
pub fn parse_time_ms(text: &str, now_ms: i64) -> Result<i64, String> {
    let t = text.trim();
    if let Ok(dt) = OffsetDateTime::parse(t, &Rfc3339) {
        return Ok(to_ms(dt));
    }
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) {
        return t
            .parse::<i64>()
            .map_err(|_| format!("`{t}`: number too large for epoch milliseconds"));
    }
    match parse_duration(t) {
        Ok(d) => Ok(now_ms.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))),
        Err(_) => Err(format!(
            "`{t}` is not a time; use RFC 3339 (2026-11-25T10:00:00Z), epoch milliseconds, or a \
             relative time such as 15m, 1h or 7d (that long ago)"
        )),
    }
}

/// Milliseconds since the Unix epoch of a date-time.
pub fn to_ms(dt: OffsetDateTime) -> i64 {
    i64::try_from(dt.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    to_ms(OffsetDateTime::now_utc())
}

/// Format epoch milliseconds as RFC 3339 UTC (millisecond precision when needed).
pub fn format_ms(ms: i64) -> String {
    let dt = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    dt.format(&Rfc3339).unwrap_or_else(|_| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let now = 1_764_064_800_000; // 2025-11-25T10:00:00Z
        assert_eq!(parse_time_ms("2025-11-25T10:00:00Z", 0), Ok(now));
        assert_eq!(parse_time_ms("1h", now), Ok(now - 3_600_000));
        assert_eq!(parse_time_ms("1764064800000", 0), Ok(now));
        assert!(
            parse_time_ms("yesterday", now)
                .unwrap_err()
                .contains("RFC 3339")
        );
        assert_eq!(format_ms(now), "2025-11-25T10:00:00Z");
    }
}
