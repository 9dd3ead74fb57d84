//! Calling windows (`hours = mon-fri 09:00-18:00, sat 10:00-14:00`): parsing the text, and, given a
//! time zone from the system's tz database, whether an instant is inside a window and when the next
//! window opens. Local wall-clock arithmetic with daylight-saving changes goes through jiff.
//!
//! Parsing is pure and may run on any thread. [`Hours::next_open`] calls jiff: it runs on the
//! scheduler thread only (never on Asterisk's own threads, where thread-local destructors would keep
//! the module mapped after unload). No I/O besides jiff's reading of the tz database.

use std::fmt;

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Milliseconds since the epoch, as the scheduler keeps due times.
pub type Millis = i64;

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const SECONDS_PER_DAY: u32 = 24 * 3600;
/// How far ahead [`Hours::next_open`] looks: two weeks covers every weekly window, even one whose
/// only occurrence this week falls into a daylight-saving gap.
const LOOKAHEAD_DAYS: i32 = 15;

/// One window: on the days marked (Monday first), from `start` to `end` seconds after local midnight.
/// `end < start` runs past midnight into the next day (`fri 22:00-02:00` is Friday night).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub days: [bool; 7],
    pub start: u32,
    pub end: u32,
}

/// The windows of one campaign; a file may be dialled while any of them is open.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hours {
    pub windows: Vec<Window>,
}

impl Window {
    fn spans_midnight(&self) -> bool {
        self.end <= self.start
    }

    /// Open at `second` (after local midnight) of a day whose weekday is `day` (0 = Monday)?
    fn open_at(&self, day: usize, second: u32) -> bool {
        let yesterday = (day + 6) % 7;
        if self.spans_midnight() {
            (self.days[day] && second >= self.start) || (self.days[yesterday] && second < self.end)
        } else {
            self.days[day] && second >= self.start && second < self.end
        }
    }
}

impl Hours {
    /// Reads `hours = ` text: windows separated by commas, each `[days] HH:MM-HH:MM`; days are `mon`
    /// ... `sun`, ranges `mon-fri` (wrapping: `fri-mon`), and lists `mon,wed` (the commas of a list run
    /// up to the window's times). Without days a window is every day. `24:00` ends a day; `HH:MM:SS` is
    /// accepted where a window must open or close to the second.
    ///
    /// # Errors
    ///
    /// A sentence for the admin naming what could not be read.
    pub fn parse(text: &str) -> Result<Hours, String> {
        let mut windows = Vec::new();
        let mut pending_days: Option<[bool; 7]> = None;
        for token in text.split(',').map(str::trim) {
            if token.is_empty() {
                return Err("empty window (two commas, or a comma at the end)".to_string());
            }
            // The times are the last word when it starts with a digit (`mon-fri 9-20` is days and a
            // mistyped range, not the day list `mon` to `fri 9-20`); otherwise the token is days only.
            let (days_text, range) = match token.rsplit_once(char::is_whitespace) {
                Some((days, _)) if starts_with_digit(days) => {
                    return Err(format!("'{token}' is not a window (expected e.g. mon-fri 09:00-18:00)"));
                }
                Some((days, range)) if starts_with_digit(range) => (Some(days.trim()), range),
                None if starts_with_digit(token) => (None, token),
                _ => {
                    merge_days(&mut pending_days, parse_days(token)?);
                    continue;
                }
            };
            if let Some(days_text) = days_text {
                merge_days(&mut pending_days, parse_days(days_text)?);
            }
            let days = pending_days.take().unwrap_or([true; 7]);
            let (start, end) = parse_range(range)?;
            windows.push(Window { days, start, end });
        }
        if pending_days.is_some() {
            return Err("days without times at the end (expected e.g. mon-fri 09:00-18:00)".to_string());
        }
        if windows.is_empty() {
            return Err("no window (expected e.g. mon-fri 09:00-18:00)".to_string());
        }
        Ok(Hours { windows })
    }

    /// Whether a file may be dialled at `at` (ms since the epoch) in `zone`.
    pub fn is_open(&self, zone: &TimeZone, at: Millis) -> bool {
        let Ok(timestamp) = Timestamp::from_millisecond(at) else { return false };
        let local = timestamp.to_zoned(zone.clone()).datetime();
        let day = usize::from(local.date().weekday().to_monday_zero_offset() as u8);
        let second =
            u32::try_from(i32::from(local.hour()) * 3600 + i32::from(local.minute()) * 60 + i32::from(local.second()))
                .unwrap_or(0);
        self.windows.iter().any(|window| window.open_at(day, second))
    }

    /// `at` itself if a window is open then, else the instant the next window opens (ms), or `None` if
    /// none opens within two weeks (every window falls into skipped local times). A window whose start
    /// the zone skips (clocks going forward) opens when the skipped hour ends; one whose times the zone
    /// repeats (clocks going back) is open during both passes.
    pub fn next_open(&self, zone: &TimeZone, at: Millis) -> Option<Millis> {
        if self.is_open(zone, at) {
            return Some(at);
        }
        let today = Timestamp::from_millisecond(at).ok()?.to_zoned(zone.clone()).date();
        let mut best: Option<Millis> = None;
        for offset in 0..LOOKAHEAD_DAYS {
            let Ok(date) = today.checked_add(jiff::Span::new().days(offset)) else { break };
            let day = usize::from(date.weekday().to_monday_zero_offset() as u8);
            for window in self.windows.iter().filter(|window| window.days[day]) {
                for start in local_instants(zone, date, window.start) {
                    if start > at && self.is_open(zone, start) && best.map_or(true, |b| start < b) {
                        best = Some(start);
                    }
                }
            }
            if best.is_some() {
                // Later days only open later.
                return best;
            }
        }
        best
    }

    /// When the window open at `at` closes: the first instant after `at` at which no window is open
    /// (`None` if that is more than two weeks away, or `at` is not inside a window).
    pub fn next_close(&self, zone: &TimeZone, at: Millis) -> Option<Millis> {
        if !self.is_open(zone, at) {
            return None;
        }
        let today = Timestamp::from_millisecond(at).ok()?.to_zoned(zone.clone()).date();
        let yesterday = today.checked_sub(jiff::Span::new().days(1)).ok()?;
        let mut ends: Vec<Millis> = Vec::new();
        for offset in 0..LOOKAHEAD_DAYS {
            let Ok(date) = yesterday.checked_add(jiff::Span::new().days(offset)) else { break };
            let day = usize::from(date.weekday().to_monday_zero_offset() as u8);
            for window in self.windows.iter().filter(|window| window.days[day]) {
                // A window past midnight ends on the next day.
                let end_date = if window.spans_midnight() { date.tomorrow().ok() } else { Some(date) };
                let Some(end_date) = end_date else { continue };
                if window.end == SECONDS_PER_DAY {
                    ends.extend(
                        end_date.tomorrow().ok().and_then(|next| local_instants(zone, next, 0).first().copied()),
                    );
                } else {
                    ends.extend(local_instants(zone, end_date, window.end));
                }
            }
        }
        ends.sort_unstable();
        ends.into_iter().find(|&end| end > at && !self.is_open(zone, end))
    }

    /// The instant by which `open_ms` of open time has passed since `start`, counting only the time the
    /// windows are open (for spreading calls over calling hours). `None` past the two-week horizon.
    pub fn after_open_time(&self, zone: &TimeZone, start: Millis, open_ms: Millis) -> Option<Millis> {
        let mut at = self.next_open(zone, start)?;
        let mut remaining = open_ms.max(0);
        loop {
            let close = self.next_close(zone, at)?;
            if at + remaining < close {
                return Some(at + remaining);
            }
            remaining -= close - at;
            at = self.next_open(zone, close)?;
        }
    }
}

/// The instants at which local time reaches `second` seconds after midnight on `date` in `zone`: one
/// usually, two when clocks going back repeat it, and for a time skipped by clocks going forward the
/// instant of the jump (when local time passes it).
fn local_instants(zone: &TimeZone, date: Date, second: u32) -> Vec<Millis> {
    let Ok(hour) = i8::try_from(second / 3600) else { return Vec::new() };
    let (minute, second) = ((second / 60 % 60) as i8, (second % 60) as i8);
    let Ok(time) = Time::new(hour, minute, second, 0) else { return Vec::new() };
    let ambiguous = zone.to_ambiguous_timestamp(date.to_datetime(time));
    let (earlier, later) = (ambiguous.earlier(), ambiguous.later());
    match ambiguous_kind(zone, date.to_datetime(time)) {
        Kind::Gap => {
            let Ok(after_gap) = later else { return Vec::new() };
            let jump = zone.preceding(after_gap).next().map_or(after_gap, |transition| transition.timestamp());
            vec![jump.as_millisecond()]
        }
        Kind::Plain | Kind::Fold => [earlier, later]
            .into_iter()
            .flatten()
            .map(|instant| instant.as_millisecond())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect(),
    }
}

enum Kind {
    Plain,
    Gap,
    Fold,
}

fn ambiguous_kind(zone: &TimeZone, civil: jiff::civil::DateTime) -> Kind {
    match zone.to_ambiguous_timestamp(civil).offset() {
        jiff::tz::AmbiguousOffset::Unambiguous { .. } => Kind::Plain,
        jiff::tz::AmbiguousOffset::Gap { .. } => Kind::Gap,
        jiff::tz::AmbiguousOffset::Fold { .. } => Kind::Fold,
    }
}

fn starts_with_digit(text: &str) -> bool {
    text.bytes().next().is_some_and(|b| b.is_ascii_digit())
}

fn merge_days(pending: &mut Option<[bool; 7]>, days: [bool; 7]) {
    let merged = pending.get_or_insert([false; 7]);
    for (slot, day) in merged.iter_mut().zip(days) {
        *slot |= day;
    }
}

fn day_index(name: &str) -> Result<usize, String> {
    DAY_NAMES
        .iter()
        .position(|day| name.len() >= 3 && day.eq_ignore_ascii_case(&name[..3.min(name.len())]) && is_day_word(name))
        .ok_or_else(|| format!("'{name}' is not a day (mon, tue, wed, thu, fri, sat, sun)"))
}

/// `mon`, `monday`, `Mon`: the three letters, optionally the full name.
fn is_day_word(name: &str) -> bool {
    const FULL: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
    name.len() == 3 || FULL.iter().any(|full| full.eq_ignore_ascii_case(name))
}

fn parse_days(text: &str) -> Result<[bool; 7], String> {
    let mut days = [false; 7];
    match text.split_once('-') {
        Some((first, last)) => {
            let (first, last) = (day_index(first.trim())?, day_index(last.trim())?);
            let mut day = first;
            loop {
                days[day] = true;
                if day == last {
                    break;
                }
                day = (day + 1) % 7;
            }
        }
        None => days[day_index(text.trim())?] = true,
    }
    Ok(days)
}

/// `HH:MM`, or `HH:MM:SS` for windows that must open or close to the second.
fn parse_time(text: &str) -> Result<u32, String> {
    let bad = || {
        let hint = match text.parse::<u32>() {
            Ok(hour) if hour <= 24 && text.len() <= 2 => format!(" (write {hour:02}:00)"),
            _ => String::new(),
        };
        format!("'{text}' is not a time HH:MM{hint}")
    };
    let mut parts = text.split(':');
    let (Some(hours), Some(minutes)) = (parts.next(), parts.next()) else { return Err(bad()) };
    let seconds = parts.next().unwrap_or("00");
    if parts.next().is_some() || hours.is_empty() || hours.len() > 2 || minutes.len() != 2 || seconds.len() != 2 {
        return Err(bad());
    }
    let digits = |part: &str| -> Result<u32, String> {
        if part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (hours, minutes, seconds) = (digits(hours)?, digits(minutes)?, digits(seconds)?);
    if minutes >= 60 || seconds >= 60 || hours > 24 || (hours == 24 && (minutes, seconds) != (0, 0)) {
        return Err(bad());
    }
    Ok(hours * 3600 + minutes * 60 + seconds)
}

fn parse_range(text: &str) -> Result<(u32, u32), String> {
    let (start, end) = text.split_once('-').ok_or_else(|| format!("'{text}' is not a range of times HH:MM-HH:MM"))?;
    let (start, end) = (parse_time(start.trim())?, parse_time(end.trim())?);
    if start == SECONDS_PER_DAY {
        return Err(format!("'{text}': a window cannot start at 24:00"));
    }
    if start == end {
        return Err(format!("'{text}': a window must not start and end at the same time (00:00-24:00 is all day)"));
    }
    Ok((start, end))
}

/// `HH:MM`, with `:SS` only when the seconds are not zero.
fn clock(second: u32) -> String {
    let (hours, minutes, seconds) = (second / 3600, second / 60 % 60, second % 60);
    if seconds == 0 {
        format!("{hours:02}:{minutes:02}")
    } else {
        format!("{hours:02}:{minutes:02}:{seconds:02}")
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.days != [true; 7] {
            let names: Vec<&str> =
                DAY_NAMES.iter().zip(self.days).filter(|(_, on)| *on).map(|(name, _)| *name).collect();
            write!(f, "{} ", names.join(","))?;
        }
        write!(f, "{}-{}", clock(self.start), clock(self.end))
    }
}

impl fmt::Display for Hours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let windows: Vec<String> = self.windows.iter().map(ToString::to_string).collect();
        f.write_str(&windows.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> TimeZone {
        TimeZone::get(name).expect("the system's tz database has this zone")
    }

    /// Milliseconds of a local wall-clock time in `zone` ("2026-03-29T01:30").
    fn at(zone_name: &str, local: &str) -> Millis {
        let datetime: jiff::civil::DateTime = local.parse().unwrap();
        datetime.to_zoned(zone(zone_name)).unwrap().timestamp().as_millisecond()
    }

    fn utc(text: &str) -> Millis {
        text.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn parses_days_ranges_lists_and_several_windows() {
        let hours = Hours::parse("mon-fri 09:00-18:00, sat 10:00-14:00").unwrap();
        assert_eq!(hours.windows.len(), 2);
        assert_eq!(hours.windows[0].days, [true, true, true, true, true, false, false]);
        assert_eq!((hours.windows[0].start, hours.windows[0].end), (9 * 3600, 18 * 3600));
        let to_the_second = Hours::parse("09:00:30-09:01").unwrap();
        assert_eq!(
            (to_the_second.windows[0].start, to_the_second.to_string()),
            (9 * 3600 + 30, "09:00:30-09:01".into())
        );
        let listed = Hours::parse("mon,wed 09:00-12:00").unwrap();
        assert_eq!(listed.windows[0].days, [true, false, true, false, false, false, false]);
        let wrapping = Hours::parse("fri-mon 22:00-02:00").unwrap();
        assert_eq!(wrapping.windows[0].days, [true, false, false, false, true, true, true]);
        assert_eq!(Hours::parse("08:00-24:00").unwrap().windows[0].days, [true; 7]);
        assert_eq!(Hours::parse("Monday 08:00-09:30").unwrap().to_string(), "mon 08:00-09:30");
        assert_eq!(hours.to_string(), "mon,tue,wed,thu,fri 09:00-18:00, sat 10:00-14:00");
    }

    #[test]
    fn a_range_without_minutes_is_named_as_such() {
        let error = Hours::parse("mon-fri 9-20").unwrap_err();
        assert_eq!(error, "'9' is not a time HH:MM (write 09:00)");
        assert_eq!(Hours::parse("9-18").unwrap_err(), "'9' is not a time HH:MM (write 09:00)");
        assert_eq!(Hours::parse("mon-fri 09:00-20").unwrap_err(), "'20' is not a time HH:MM (write 20:00)");
        assert_eq!(
            Hours::parse("moon 09:00-10:00").unwrap_err(),
            "'moon' is not a day (mon, tue, wed, thu, fri, sat, sun)"
        );
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for bad in [
            "",
            "mon",
            "mon-fri",
            "9-18",
            "09:00",
            "25:00-26:00",
            "09:60-10:00",
            "10:00-10:00",
            "moon 09:00-10:00",
            "09:00-10:00,",
            "24:00-01:00",
        ] {
            assert!(Hours::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn open_and_next_open_within_a_day() {
        let hours = Hours::parse("mon-fri 09:00-18:00").unwrap();
        let berlin = zone("Europe/Berlin");
        // Tuesday 2026-12-01
        assert!(hours.is_open(&berlin, at("Europe/Berlin", "2026-12-01T09:00")));
        assert!(!hours.is_open(&berlin, at("Europe/Berlin", "2026-12-01T18:00")));
        assert_eq!(
            hours.next_open(&berlin, at("Europe/Berlin", "2026-12-01T07:15")),
            Some(at("Europe/Berlin", "2026-12-01T09:00"))
        );
        // Friday evening: the next window is Monday morning.
        assert_eq!(
            hours.next_open(&berlin, at("Europe/Berlin", "2026-12-04T18:30")),
            Some(at("Europe/Berlin", "2026-12-07T09:00"))
        );
        let inside = at("Europe/Berlin", "2026-12-01T12:00");
        assert_eq!(hours.next_open(&berlin, inside), Some(inside));
    }

    #[test]
    fn windows_across_midnight() {
        let hours = Hours::parse("fri 22:00-02:00").unwrap();
        let utc_zone = zone("UTC");
        // Friday 2026-12-04 23:30 and Saturday 01:59 are inside; Saturday 02:00 and Thursday 23:00 are not.
        assert!(hours.is_open(&utc_zone, utc("2026-12-04T23:30:00Z")));
        assert!(hours.is_open(&utc_zone, utc("2026-12-05T01:59:00Z")));
        assert!(!hours.is_open(&utc_zone, utc("2026-12-05T02:00:00Z")));
        assert!(!hours.is_open(&utc_zone, utc("2026-12-03T23:00:00Z")));
        assert!(!hours.is_open(&utc_zone, utc("2026-12-06T01:00:00Z")), "Sunday night is not Friday night");
        assert_eq!(hours.next_open(&utc_zone, utc("2026-12-05T02:00:00Z")), Some(utc("2026-12-11T22:00:00Z")));
    }

    #[test]
    fn the_zone_decides_not_the_system() {
        let hours = Hours::parse("09:00-18:00").unwrap();
        // 07:00 UTC is 10:00 in Moscow (UTC+3) and 02:00 in New York (UTC-5 in December).
        let instant = utc("2026-12-01T07:00:00Z");
        assert!(hours.is_open(&zone("Europe/Moscow"), instant));
        assert!(!hours.is_open(&zone("America/New_York"), instant));
        assert_eq!(hours.next_open(&zone("America/New_York"), instant), Some(utc("2026-12-01T14:00:00Z")));
    }

    #[test]
    fn open_time_is_counted_inside_windows_only() {
        let hours = Hours::parse("mon-fri 09:00-18:00").unwrap();
        let utc_zone = zone("UTC");
        // Friday 2026-12-04 17:00: one hour left on Friday, the rest from Monday 09:00.
        let friday = utc("2026-12-04T17:00:00Z");
        assert_eq!(hours.next_close(&utc_zone, friday), Some(utc("2026-12-04T18:00:00Z")));
        assert_eq!(hours.after_open_time(&utc_zone, friday, 30 * 60_000), Some(utc("2026-12-04T17:30:00Z")));
        assert_eq!(hours.after_open_time(&utc_zone, friday, 3 * 3_600_000), Some(utc("2026-12-07T11:00:00Z")));
        // From outside: counting starts when the window opens.
        let night = utc("2026-12-01T02:00:00Z");
        assert_eq!(hours.after_open_time(&utc_zone, night, 0), Some(utc("2026-12-01T09:00:00Z")));
        // A window past midnight closes the next morning; all day closes at midnight unless tomorrow opens.
        let late = Hours::parse("fri 22:00-02:00").unwrap();
        assert_eq!(late.next_close(&utc_zone, utc("2026-12-04T23:00:00Z")), Some(utc("2026-12-05T02:00:00Z")));
        let always = Hours::parse("mon 00:00-24:00, tue 00:00-24:00").unwrap();
        assert_eq!(always.next_close(&utc_zone, utc("2026-11-30T12:00:00Z")), Some(utc("2026-12-02T00:00:00Z")));
    }

    #[test]
    fn daylight_saving_changes() {
        let berlin = zone("Europe/Berlin");
        // Spring forward, Sunday 2026-03-29: 02:00 local becomes 03:00 (UTC+1 -> UTC+2).
        let hours = Hours::parse("09:00-18:00").unwrap();
        assert_eq!(
            hours.next_open(&berlin, utc("2026-03-28T20:00:00Z")),
            Some(utc("2026-03-29T07:00:00Z")),
            "09:00 summer time is 07:00 UTC"
        );
        // The day before, 09:00 winter time is 08:00 UTC.
        assert_eq!(hours.next_open(&berlin, utc("2026-03-27T20:00:00Z")), Some(utc("2026-03-28T08:00:00Z")));
        // A window starting in the skipped hour opens when the gap ends (03:00 local = 01:00 UTC).
        let night = Hours::parse("02:30-04:00").unwrap();
        assert_eq!(night.next_open(&berlin, utc("2026-03-28T23:00:00Z")), Some(utc("2026-03-29T01:00:00Z")));
        // A window entirely inside the skipped hour does not open that day: the next day's does.
        let skipped = Hours::parse("02:00-02:30").unwrap();
        assert_eq!(skipped.next_open(&berlin, utc("2026-03-28T23:00:00Z")), Some(utc("2026-03-30T00:00:00Z")));
        // Fall back, Sunday 2026-10-25: 03:00 local becomes 02:00 (UTC+2 -> UTC+1): 02:15 local happens
        // twice, and the window is open both times.
        let repeated = Hours::parse("02:00-02:30").unwrap();
        assert!(repeated.is_open(&berlin, utc("2026-10-25T00:15:00Z")));
        assert!(repeated.is_open(&berlin, utc("2026-10-25T01:15:00Z")));
        assert!(!repeated.is_open(&berlin, utc("2026-10-25T00:45:00Z")));
        assert_eq!(repeated.next_open(&berlin, utc("2026-10-25T00:45:00Z")), Some(utc("2026-10-25T01:00:00Z")));
        // After the change, 09:00 local is 08:00 UTC again.
        assert_eq!(hours.next_open(&berlin, utc("2026-10-25T05:00:00Z")), Some(utc("2026-10-25T08:00:00Z")));
    }
}
