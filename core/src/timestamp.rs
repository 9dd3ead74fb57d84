//! Times as dialplans and AMI clients write them: epoch seconds, or ISO-8601/RFC 3339
//! `YYYY-MM-DDTHH:MM[:SS]` with an optional `Z` or offset, turned into ms since the epoch. Used by
//! `SPOOL(retry_at)` and `SpoolSubmit`'s `Due`, which run on Asterisk's threads: pure arithmetic, no tz
//! database, no jiff, no I/O.

use crate::bookkeeping::Millis;

/// A parsed time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    pub ms: Millis,
    /// It carried its zone (`Z`, an offset, or epoch seconds); false for a bare civil time, read as UTC.
    pub zone_given: bool,
}

/// A non-empty run of ASCII digits as a number (at most 12 digits).
pub fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A time as ms since the epoch: epoch seconds, or ISO-8601 `YYYY-MM-DDTHH:MM[:SS]` followed by `Z`,
/// `+hh:mm`, `-hh:mm`, `+hhmm`, `-hhmm` or `+hh`/`-hh`, or by nothing (then read as UTC, and
/// [`Timestamp::zone_given`] is false). A space is accepted in place of the `T`.
pub fn parse(value: &str) -> Option<Timestamp> {
    if let Some(seconds) = digits(value) {
        return i64::try_from(seconds).ok().map(|s| Timestamp { ms: s * 1000, zone_given: true });
    }
    let bytes = value.as_bytes();
    let number = |from: usize, len: usize| -> Option<i64> {
        let part = bytes.get(from..from + len)?;
        part.iter().all(u8::is_ascii_digit).then(|| part.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let year = number(0, 4)?;
    let (month, day) = (number(5, 2)?, number(8, 2)?);
    let (hour, minute) = (number(11, 2)?, number(14, 2)?);
    if bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') || !matches!(bytes.get(10), Some(b'T' | b't' | b' '))
    {
        return None;
    }
    if bytes.get(13) != Some(&b':') {
        return None;
    }
    let (second, zone_at) = match bytes.get(16) {
        Some(b':') => (number(17, 2)?, 19),
        _ => (0, 16),
    };
    let zone = bytes.get(zone_at..)?;
    let offset_minutes = zone_offset(zone)?;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=days_in_month).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(Timestamp { ms: seconds * 1000, zone_given: !zone.is_empty() })
}

/// The zone suffix in minutes east of UTC: empty or `Z` is 0.
fn zone_offset(zone: &[u8]) -> Option<i64> {
    let sign = match zone.first() {
        None => return Some(0),
        Some(b'Z' | b'z') if zone.len() == 1 => return Some(0),
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return None,
    };
    let rest = &zone[1..];
    let two = |part: &[u8]| -> Option<i64> {
        (part.len() == 2 && part.iter().all(u8::is_ascii_digit))
            .then(|| i64::from((part[0] - b'0') * 10 + part[1] - b'0'))
    };
    let (hours, minutes) = match rest.len() {
        2 => (two(rest)?, 0),
        4 => (two(&rest[..2])?, two(&rest[2..])?),
        5 if rest[2] == b':' => (two(&rest[..2])?, two(&rest[3..])?),
        _ => return None,
    };
    (hours <= 14 && minutes <= 59).then_some(sign * (hours * 60 + minutes))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_seconds_and_iso_times_with_or_without_their_zone() {
        assert_eq!(parse("1800000000"), Some(Timestamp { ms: 1_800_000_000_000, zone_given: true }));
        assert_eq!(parse("1970-01-01T00:00"), Some(Timestamp { ms: 0, zone_given: false }));
        assert_eq!(parse("2026-01-01 01:00+01:00"), Some(Timestamp { ms: 1_767_225_600_000, zone_given: true }));
        assert_eq!(parse("2026-02-30T00:00Z"), None);
    }
}
