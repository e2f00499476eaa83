//! `Retry-After` (RFC 9110 §10.2.3): how long a destination that answered
//! 429 or 503 asks to be left alone, as delta-seconds or an HTTP-date.

use std::time::{Duration, SystemTime};

/// The wait `value` asks for, read at `now`: delta-seconds (`120`) or an
/// HTTP-date (`Sun, 06 Nov 1994 08:49:37 GMT`, and the obsolete RFC 850 and
/// asctime forms RFC 9110 §5.6.7 says recipients must accept). A date in the
/// past asks for no wait; a number of seconds too large to hold is the
/// longest wait (the dispatcher caps what it honours). `None` for anything
/// else: a negative or fractional number, an empty value, garbage.
pub fn parse(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Only digits: a number too large for u64 is still a (huge) wait.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example date.
    fn example_date() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777)
    }

    #[test]
    fn delta_seconds_are_a_wait_from_now() {
        let now = SystemTime::now();
        assert_eq!(parse("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse(" 120 ", now), Some(Duration::from_secs(120)));
        assert_eq!(parse("0", now), Some(Duration::ZERO));
    }

    #[test]
    fn http_dates_in_all_three_forms_are_a_wait_until_then() {
        let now = example_date() - Duration::from_secs(90);
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse(form, now), Some(Duration::from_secs(90)), "{form}");
        }
        // A date already past asks for no wait.
        let later = example_date() + Duration::from_secs(5);
        assert_eq!(
            parse("Sun, 06 Nov 1994 08:49:37 GMT", later),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn huge_numbers_are_the_longest_wait() {
        let now = SystemTime::now();
        assert_eq!(
            parse("18446744073709551615", now),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            parse("99999999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn negative_fractional_and_garbage_values_are_ignored() {
        let now = SystemTime::now();
        for bad in [
            "",
            " ",
            "-3",
            "+3",
            "1.5",
            "3s",
            "soon",
            "0x10",
            "Sun, 06 Nov 1994",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "\u{0663}",
        ] {
            assert_eq!(parse(bad, now), None, "{bad:?}");
        }
    }
}
