//! Times for `--at`, `--in` and `--spread`, and the due times they give, on jiff: dates and times with a
//! time zone (`--tz`, or an offset or `[Zone]` in the time itself, else the system's zone), durations
//! (`90s`, `10m`, `1h30m`, `2d`, or jiff's longer forms) and evenly spread due times.
//!
//! Pure: text in, milliseconds since the epoch out (the spool's own unit, [`Millis`]). It reads the
//! system's time-zone database and nothing else; the only output is the past-due note of [`warn_if_past`].

use std::io::Write;

use jiff::civil::DateTime;
use jiff::fmt::temporal::{Pieces, PiecesOffset};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Span, SpanRelativeTo, Timestamp};
use pbx_spool_core::bookkeeping::Millis;

use crate::error::Error;

/// What `--at` accepts, for messages.
const AT_FORMAT: &str = "expected 'YYYY-MM-DD HH:MM[:SS]' (or with T between date and time), optionally \
                         followed by an offset such as +03:00 or Z and/or a zone such as [Europe/Moscow]";
const DURATION_FORMAT: &str = "expected e.g. 30s, 10m, 1h30m, 2d";

/// When a call is due.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum When {
    #[default]
    Now,
    /// `--at TIME [--tz ZONE]`.
    At { time: String, zone: Option<String> },
    /// `--in 1h30m`.
    In(String),
}

impl When {
    /// The due time in ms since the epoch, relative to `now` for `--in`.
    pub fn resolve(&self, now: Millis) -> Result<Millis, Error> {
        match self {
            When::Now => Ok(now),
            When::At { time, zone } => parse_at(time, zone.as_deref()),
            When::In(text) => {
                let delay = parse_duration(text).map_err(|why| Error::usage(format!("--in {text:?}: {why}")))?;
                now.checked_add(delay).ok_or_else(|| Error::usage(format!("--in {text:?}: too far ahead")))
            }
        }
    }

    /// The zone due times are shown in: the one `--at` names, else the system's.
    pub fn display_zone(&self) -> Result<TimeZone, Error> {
        let named = match self {
            When::At { time, zone } => zone_of(time, zone.as_deref())?,
            _ => None,
        };
        named.map_or_else(system_zone, Ok)
    }
}

/// The zone `--tz` names: an IANA name such as Europe/Moscow or UTC, found in the system's tz database.
pub fn named_zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|err| format!("{err} (expected an IANA zone such as Europe/Moscow or UTC)"))
}

/// The system's time zone: `TZ`, else /etc/localtime, else UTC. A `TZ` that names no zone is an error
/// (exit 2), not a silent UTC: every time shown and every `--at` without a zone would be off by hours.
pub fn system_zone() -> Result<TimeZone, Error> {
    match TimeZone::try_system() {
        Ok(zone) => Ok(zone),
        Err(err) => match std::env::var_os("TZ") {
            Some(tz) => Err(Error::usage(format!(
                "the TZ environment variable {tz:?} names no time zone ({err}): unset it or set an IANA name \
                 such as Europe/Berlin"
            ))),
            None => Ok(TimeZone::UTC),
        },
    }
}

/// A duration such as `90s`, `10m`, `1h30m` or `2d` (jiff's "friendly" format, so `1h 30m`, `1.5h` and
/// `90 minutes` work too, as does ISO 8601's `PT1H30M`), in ms. A bare number is seconds. Days are 24 hours;
/// months and years, whose length depends on the date, are refused, as are negative durations.
pub fn parse_duration(text: &str) -> Result<Millis, String> {
    if text.is_empty() {
        return Err(format!("empty duration ({DURATION_FORMAT})"));
    }
    if let Ok(seconds) = text.parse::<u32>() {
        return Ok(Millis::from(seconds) * 1000);
    }
    let span: Span = text.parse().map_err(|err| format!("{err} ({DURATION_FORMAT})"))?;
    if span.is_negative() {
        return Err("a duration cannot be negative".into());
    }
    let duration = span
        .to_duration(SpanRelativeTo::days_are_24_hours())
        .map_err(|err| format!("{err} (units up to days: {DURATION_FORMAT})"))?;
    Millis::try_from(duration.as_millis()).map_err(|_| "duration too large".to_string())
}

/// A whole number of seconds for RetryTime/WaitTime: `300` or a duration such as `5m`; at least 1s.
pub fn parse_seconds(text: &str) -> Result<i32, String> {
    let ms = parse_duration(text)?;
    if ms < 1000 {
        return Err("must be at least 1 second".into());
    }
    i32::try_from(ms / 1000).map_err(|_| "too large".into())
}

/// The time zone `--at` names, in the time (`[Zone]`, else an offset) or with `--tz`; `None` for the
/// system's. Naming it in both places is refused: which one was meant is not clear.
fn zone_of(text: &str, tz: Option<&str>) -> Result<Option<TimeZone>, Error> {
    let bad = |why: String| Error::usage(format!("--at {text:?}: {why}"));
    let pieces = Pieces::parse(text.trim()).map_err(|err| bad(format!("{err} ({AT_FORMAT})")))?;
    let in_text = match (pieces.time_zone_annotation(), pieces.offset()) {
        (Some(annotation), _) => Some(annotation.to_time_zone().map_err(|err| bad(err.to_string()))?),
        (None, Some(PiecesOffset::Zulu)) => Some(TimeZone::UTC),
        (None, Some(offset)) => Some(TimeZone::fixed(offset.to_numeric_offset())),
        (None, None) => None,
    };
    match (in_text, tz) {
        (Some(_), Some(_)) => Err(bad("the time already names its zone or offset; drop --tz".into())),
        (Some(zone), None) => Ok(Some(zone)),
        (None, Some(name)) => named_zone(name).map(Some).map_err(|why| Error::usage(format!("--tz {name:?}: {why}"))),
        (None, None) => Ok(None),
    }
}

/// `--at`: a date and time of day (`YYYY-MM-DD HH:MM[:SS]`, or with `T`), in the zone named in the text
/// (`2026-12-01T09:30+03:00`, `2026-12-01 09:30[Europe/Moscow]`), else in `tz` (`--tz`), else in the
/// system's zone; in ms since the epoch.
///
/// A wall-clock time the zone skips (clocks going forward) is refused; one it repeats (clocks going back)
/// is the earlier of the two. An offset and a zone given together must agree.
pub fn parse_at(text: &str, tz: Option<&str>) -> Result<Millis, Error> {
    let bad = |why: &str| Error::usage(format!("--at {text:?}: {why}"));
    let trimmed = text.trim();
    let pieces = Pieces::parse(trimmed).map_err(|err| bad(&format!("{err} ({AT_FORMAT})")))?;
    let Some(time) = pieces.time() else {
        return Err(bad(&format!("no time of day ({AT_FORMAT})")));
    };
    let zone = zone_of(text, tz)?;
    let datetime = DateTime::from_parts(pieces.date(), time);
    let timestamp = match (pieces.time_zone_annotation(), pieces.offset()) {
        // A zone and an offset: jiff checks that the offset is one the zone has at that time.
        (Some(_), Some(_)) => trimmed.parse::<jiff::Zoned>().map_err(|err| bad(&err.to_string()))?.timestamp(),
        (None, Some(_)) => {
            let fixed = zone.ok_or_else(|| bad("the offset was lost"))?;
            fixed.to_timestamp(datetime).map_err(|err| bad(&err.to_string()))?
        }
        (_, None) => {
            let zone = zone.map_or_else(system_zone, Ok)?;
            let ambiguous = zone.to_ambiguous_timestamp(datetime);
            if let AmbiguousOffset::Gap { .. } = ambiguous.offset() {
                return Err(bad("no such local time (skipped by a clock change)"));
            }
            ambiguous.earlier().map_err(|err| bad(&err.to_string()))?
        }
    };
    Ok(timestamp.as_millisecond())
}

/// `YYYY-MM-DD HH:MM:SS ZONE` in `zone`, for messages.
pub fn format_time(ms: Millis, zone: &TimeZone) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(timestamp) => timestamp.to_zoned(zone.clone()).strftime("%Y-%m-%d %H:%M:%S %Z").to_string(),
        Err(_) => format!("{ms} ms after the epoch"),
    }
}

/// RFC 3339 with the offset `zone` has then (`2026-12-07T09:00:00+01:00`, milliseconds when not whole
/// seconds), for the manifest.
pub fn format_rfc3339(ms: Millis, zone: &TimeZone) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(timestamp) => timestamp.to_zoned(zone.clone()).strftime("%Y-%m-%dT%H:%M:%S%.f%:z").to_string(),
        Err(_) => format!("{ms} ms after the epoch"),
    }
}

/// The due time of call `index` of `count`, spread evenly over `[base, base + spread)`.
pub fn spread_due(base: Millis, spread: Millis, index: usize, count: usize) -> Millis {
    if count == 0 {
        return base;
    }
    let offset = i128::from(spread) * index as i128 / count as i128;
    base.saturating_add(Millis::try_from(offset).unwrap_or(Millis::MAX))
}

/// A note on `err` when `due` is in the past: the spool places such a call at once.
pub fn warn_if_past(due: Millis, now: Millis, zone: &TimeZone, err: &mut dyn Write) {
    if due < now.saturating_sub(1000) {
        let _ = writeln!(
            err,
            "callfile: note: the due time {} is in the past; the spool places the call at once",
            format_time(due, zone)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Exit;

    #[test]
    fn durations_with_units_and_combinations() {
        assert_eq!(parse_duration("90s"), Ok(90_000));
        assert_eq!(parse_duration("10m"), Ok(600_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("2d"), Ok(172_800_000));
        assert_eq!(parse_duration("1d2h3m4s"), Ok(((26 * 60 + 3) * 60 + 4) * 1000));
        assert_eq!(parse_duration("45"), Ok(45_000));
        assert_eq!(parse_duration("0s"), Ok(0));
    }

    #[test]
    fn durations_in_jiffs_longer_forms() {
        // jiff's grammar is wider than the old hand-written one: these were refused before.
        assert_eq!(parse_duration("1h 30m"), Ok(5_400_000));
        assert_eq!(parse_duration("1.5h"), Ok(5_400_000));
        assert_eq!(parse_duration("90 minutes"), Ok(5_400_000));
        assert_eq!(parse_duration("PT1H30M"), Ok(5_400_000));
        assert_eq!(parse_duration("1w"), Ok(7 * 86_400_000));
        assert_eq!(parse_duration("250ms"), Ok(250));
    }

    #[test]
    fn bad_durations_are_refused() {
        for text in
            ["", "m", "10x", "-5m", "1h30", " 10m", "99999999999999999999d", "9223372036854775807d", "1mo", "2y"]
        {
            assert!(parse_duration(text).is_err(), "{text:?}");
        }
        assert_eq!(parse_duration("-5m"), Err("a duration cannot be negative".to_string()));
    }

    #[test]
    fn seconds_for_retry_and_wait_times() {
        assert_eq!(parse_seconds("300"), Ok(300));
        assert_eq!(parse_seconds("5m"), Ok(300));
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("500ms").is_err());
        assert!(parse_seconds("100000d").is_err());
    }

    #[test]
    fn in_is_relative_to_now() {
        let now = 1_700_000_000_123;
        assert_eq!(When::In("1h30m".into()).resolve(now), Ok(now + 5_400_000));
        assert_eq!(When::Now.resolve(now), Ok(now));
        assert!(When::In("soon".into()).resolve(now).is_err());
    }

    #[test]
    fn at_round_trips_through_the_system_zone() {
        // Whatever the test machine's time zone, a formatted local time parses back to the same instant.
        let system = TimeZone::system();
        for seconds in [1_900_000_000_i64, 1_700_000_045, 1_750_000_000] {
            let text = format_time(seconds * 1000, &system);
            let local = &text[..19];
            assert_eq!(parse_at(local, None), Ok(seconds * 1000), "{text}");
            let without_seconds = &text[..16];
            let minute = seconds - seconds.rem_euclid(60);
            assert_eq!(parse_at(without_seconds, None), Ok(minute * 1000), "{without_seconds}");
            let with_t = local.replacen(' ', "T", 1);
            assert_eq!(parse_at(&with_t, None), Ok(seconds * 1000));
        }
    }

    /// 2026-12-01 09:30 in Moscow (UTC+3 all year) is 06:30 UTC.
    const MOSCOW_0930_MS: Millis = 1_796_106_600_000;

    #[test]
    fn at_takes_a_zone_from_tz_or_from_the_time() {
        assert_eq!(parse_at("2026-12-01T06:30:00Z", None), Ok(MOSCOW_0930_MS));
        assert_eq!(parse_at("2026-12-01 09:30", Some("Europe/Moscow")), Ok(MOSCOW_0930_MS));
        assert_eq!(parse_at("2026-12-01T09:30+03:00", None), Ok(MOSCOW_0930_MS));
        assert_eq!(parse_at("2026-12-01 09:30[Europe/Moscow]", None), Ok(MOSCOW_0930_MS));
        assert_eq!(parse_at("2026-12-01T09:30+03:00[Europe/Moscow]", None), Ok(MOSCOW_0930_MS));
        assert_eq!(parse_at("2026-12-01 01:30", Some("America/New_York")), Ok(MOSCOW_0930_MS));
        assert_eq!(parse_at("2026-12-01 06:30", Some("UTC")), Ok(MOSCOW_0930_MS));
        // Zones in both places, an offset the zone does not have, an unknown zone: refused, exit 2.
        for (text, tz) in [
            ("2026-12-01T09:30+03:00", Some("Europe/Moscow")),
            ("2026-12-01 09:30[Europe/Moscow]", Some("UTC")),
            ("2026-12-01T09:30+05:00[Europe/Moscow]", None),
            ("2026-12-01 09:30[Mars/Olympus]", None),
            ("2026-12-01 09:30", Some("Mars/Olympus")),
        ] {
            let error = parse_at(text, tz).unwrap_err();
            assert_eq!(error.exit, Exit::Failure, "{text} {tz:?}");
        }
        let when = When::At { time: "2026-12-01 09:30".into(), zone: Some("Europe/Moscow".into()) };
        assert_eq!(format_time(when.resolve(0).unwrap(), &when.display_zone().unwrap()), "2026-12-01 09:30:00 MSK");
    }

    #[test]
    fn at_refuses_skipped_times_and_takes_the_earlier_of_repeated_ones() {
        // Berlin: 2026-03-29 02:00 CET jumps to 03:00 CEST; 2026-10-25 03:00 CEST falls back to 02:00 CET.
        let error = parse_at("2026-03-29 02:30", Some("Europe/Berlin")).unwrap_err();
        assert!(error.message.contains("skipped by a clock change"), "{}", error.message);
        let repeated = parse_at("2026-10-25 02:30", Some("Europe/Berlin")).unwrap();
        assert_eq!(Some(repeated), parse_at("2026-10-25T02:30+02:00", None).ok());
    }

    #[test]
    fn at_refuses_impossible_and_malformed_times() {
        for text in [
            "2030-02-30 10:00",
            "2030-13-01 10:00",
            "2030-01-01 24:00",
            "2030-01-01 10:60",
            "2030-01-01",
            "2030-01-01[Europe/Moscow]",
            "10:00",
            "2030-1-01 10:00",
            "2030-01-01 10:00:00:00",
            "tomorrow",
            "",
        ] {
            let error = parse_at(text, None).unwrap_err();
            assert_eq!(error.exit, Exit::Failure, "{text}");
            assert!(error.message.starts_with("--at"), "{}", error.message);
        }
    }

    #[test]
    fn zones_are_named_or_refused_and_times_shown_in_rfc3339() {
        assert!(named_zone("Europe/Berlin").is_ok());
        assert!(named_zone("UTC").is_ok());
        for bad in ["Mars/Olympus", "", "../etc/passwd", "Europe/"] {
            assert!(named_zone(bad).is_err(), "{bad:?}");
        }
        let berlin = named_zone("Europe/Berlin").unwrap();
        assert_eq!(format_rfc3339(MOSCOW_0930_MS, &berlin), "2026-12-01T07:30:00+01:00");
        assert_eq!(format_rfc3339(MOSCOW_0930_MS + 250, &TimeZone::UTC), "2026-12-01T06:30:00.25+00:00");
        let summer = parse_at("2026-07-01 09:00", Some("Europe/Berlin")).unwrap();
        assert_eq!(format_rfc3339(summer, &berlin), "2026-07-01T09:00:00+02:00");
        // An unknown zone in --tz is exit 2, with or without a time that uses it.
        let when = When::At { time: "2026-12-01 09:30".into(), zone: Some("Mars/Olympus".into()) };
        assert_eq!(when.display_zone().unwrap_err().exit, Exit::Failure);
        assert_eq!(when.resolve(0).unwrap_err().exit, Exit::Failure);
    }

    #[test]
    fn spread_is_even_and_starts_at_the_base() {
        let dues: Vec<Millis> = (0..4).map(|index| spread_due(1000, 30_000, index, 4)).collect();
        assert_eq!(dues, vec![1000, 8500, 16_000, 23_500]);
        assert_eq!(spread_due(1000, 0, 3, 4), 1000);
        assert_eq!(spread_due(1000, 30_000, 0, 0), 1000);
    }

    #[test]
    fn past_due_times_are_noted() {
        let mut err = Vec::new();
        warn_if_past(10_000, 10_500, &TimeZone::UTC, &mut err);
        assert!(err.is_empty(), "within a second is not the past");
        warn_if_past(0, 10_000, &TimeZone::UTC, &mut err);
        let text = String::from_utf8(err).unwrap();
        assert!(text.contains("1970-01-01 00:00:00 UTC is in the past"), "{text}");
    }
}
