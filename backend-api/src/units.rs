//! Human-friendly durations (`250ms`, `1s`, `5m`, `24h`, `30d`, `1h30m`,
//! `1m 30s`) and byte sizes (`512KiB`, `64MiB`, `1GB`) as they appear in
//! rule files, `trailmark.toml` (the server's keys and the backends' alike)
//! and command-line flags: one grammar everywhere.
//!
//! ```
//! use std::time::Duration;
//! use trailmark_backend_api::units::{parse_bytes, parse_duration};
//! assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
//! assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
//! assert!(parse_duration("30").is_err()); // the unit is never implied
//! assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
//! ```

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Parse a duration: whole numbers, each followed by a unit (`ms`, `s`, `m`,
/// `h`, `d`), such as `250ms`, `1s`, `5m`, `24h`, `30d`, `1h30m` or
/// `1m 30s` (spaces between the parts are allowed). A bare number is
/// rejected: the unit must be explicit.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration; expected e.g. 500ms, 30s, 5m, 24h or 30d".into());
    }
    let mut total: u128 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let (n, after): (u128, _) = leading_number(
            rest,
            t,
            "a duration; expected e.g. 500ms, 30s, 5m, 24h or 30d",
        )?;
        rest = after.trim_start();
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c.is_whitespace())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = rest[unit_len..].trim_start();
        let millis_per: u128 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => {
                return Err(format!("`{t}` needs a unit: ms, s, m, h or d (e.g. {n}s)"));
            }
            other => {
                return Err(format!(
                    "`{t}`: unknown unit `{other}`; use ms, s, m, h or d"
                ));
            }
        };
        total = total
            .checked_add(n.saturating_mul(millis_per))
            .ok_or_else(|| format!("`{t}` is too long"))?;
    }
    let millis = u64::try_from(total).map_err(|_| format!("`{t}` is too long"))?;
    Ok(Duration::from_millis(millis))
}

/// Deserialize a duration string with [`parse_duration`], refusing zero:
/// for timeouts, where zero would mean "fail at once".
///
/// For `#[serde(deserialize_with = "positive_duration")]` on config fields.
pub fn positive_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let parsed = duration(deserializer)?;
    if parsed.is_zero() {
        return Err(serde::de::Error::custom(
            "this duration must be more than zero",
        ));
    }
    Ok(parsed)
}

/// Deserialize a duration string with [`parse_duration`] (zero allowed).
///
/// For `#[serde(deserialize_with = "duration")]` on config fields.
pub fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text)
        .map_err(|m| serde::de::Error::custom(format!("invalid duration {text:?}: {m}")))
}

/// Deserialize a byte size: a number of bytes, or a string for
/// [`parse_bytes`] such as `"64MiB"`.
///
/// For `#[serde(deserialize_with = "bytes")]` on config fields.
pub fn bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Count(u64),
        Text(String),
    }
    match Size::deserialize(deserializer)? {
        Size::Count(n) => Ok(n),
        Size::Text(text) => parse_bytes(&text)
            .map_err(|m| serde::de::Error::custom(format!("invalid size {text:?}: {m}"))),
    }
}

/// Format a duration compactly, the inverse of [`parse_duration`] for whole units.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, per) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms >= per && ms.is_multiple_of(per) {
            return format!("{}{unit}", ms / per);
        }
    }
    format!("{ms}ms")
}

/// The decimal number `text` starts with, and the rest of `text`. Errors
/// quote `whole` (the value being parsed) and say it is not `expected`.
fn leading_number<'t, N: std::str::FromStr>(
    text: &'t str,
    whole: &str,
    expected: &str,
) -> Result<(N, &'t str), String> {
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if digits == 0 {
        return Err(format!("`{whole}` is not {expected}"));
    }
    let n = text[..digits]
        .parse()
        .map_err(|_| format!("`{whole}`: number too large"))?;
    Ok((n, &text[digits..]))
}

/// Parse a byte size such as `65536`, `512KiB`, `64MiB`, `1GiB`, `10MB`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (n, unit): (u64, _) = leading_number(t, t, "a size; expected e.g. 65536, 512KiB or 64MiB")?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!(
                "`{t}`: unknown size unit `{other}`; use B, KiB, MiB, GiB, KB, MB or GB"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{t}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert!(parse_duration("10").unwrap_err().contains("needs a unit"));
        assert!(parse_duration("5w").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("h").is_err());
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration(" 1h  30m "), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("5 s"), Ok(Duration::from_secs(5)));
        assert!(
            parse_duration("1h 30")
                .unwrap_err()
                .contains("needs a unit")
        );
        assert!(
            parse_duration("1h, 30m")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert_eq!(format_duration(Duration::from_secs(86_400)), "1d");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn config_durations_name_the_text_and_refuse_zero() {
        #[derive(Debug, serde::Deserialize)]
        struct T {
            #[serde(deserialize_with = "positive_duration")]
            timeout: Duration,
        }
        let read = |text: &str| toml::from_str::<T>(text).map_err(|e| e.to_string());
        assert_eq!(
            read("timeout = \"1m 30s\"").map(|t| t.timeout),
            Ok(Duration::from_secs(90))
        );
        let e = read("timeout = \"5\"").unwrap_err();
        assert!(
            e.contains("invalid duration \"5\"") && e.contains("needs a unit"),
            "{e}"
        );
        let e = read("timeout = \"0s\"").unwrap_err();
        assert!(e.contains("more than zero"), "{e}");
    }

    #[test]
    fn config_sizes_take_numbers_and_units() {
        #[derive(Debug, serde::Deserialize)]
        struct T {
            #[serde(deserialize_with = "bytes")]
            size: u64,
            #[serde(deserialize_with = "duration", default)]
            every: Duration,
        }
        let read = |text: &str| toml::from_str::<T>(text).map_err(|e| e.to_string());
        assert_eq!(read("size = 4096").map(|t| t.size), Ok(4096));
        assert_eq!(read("size = \"2MiB\"").map(|t| t.size), Ok(2 << 20));
        let e = read("size = \"2 parsecs\"").unwrap_err();
        assert!(e.contains("invalid size \"2 parsecs\""), "{e}");
        assert_eq!(
            read("size = 1\nevery = \"0s\"").map(|t| t.every),
            Ok(Duration::ZERO)
        );
        let e = read("size = 1\nevery = \"30\"").unwrap_err();
        assert!(e.contains("invalid duration \"30\""), "{e}");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert_eq!(parse_bytes("10MB"), Ok(10_000_000));
        assert!(parse_bytes("10XB").is_err());
        assert!(parse_bytes("MiB").is_err());
    }
}
