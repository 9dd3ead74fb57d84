//! Text helpers every part of the core shares: making bytes safe for a log line or a manager event
//! ([`printable`], [`escaped`]), and Asterisk's notion of blanks and separators on raw bytes (call files,
//! channel strings and application data are bytes, not UTF-8). Pure functions; nothing here logs.

/// A file name or path as text that cannot break or forge a log line or a manager event (control and
/// invisible characters and invalid UTF-8 escaped), for every message that names a call file.
pub fn printable(bytes: &[u8]) -> String {
    escaped(bytes, PRINTABLE_PATH_MAX_CHARS)
}

/// Paths are shown whole up to this length (PATH_MAX).
const PRINTABLE_PATH_MAX_CHARS: usize = 4096;

/// `bytes` as text that cannot break or disguise a log line: control characters, line and
/// paragraph separators, invisible and bidirectional formatting characters become `\xNN` or
/// `\u{N}`, and invalid UTF-8 becomes `\xNN` per byte. When the text would be longer than
/// `max_chars`, it is cut between escapes and ends in `...`.
pub fn escaped(bytes: &[u8], max_chars: usize) -> String {
    let mut text = String::new();
    let mut chars = 0usize;
    let mut push = |piece: &str| -> bool {
        let piece_chars = piece.chars().count();
        if chars.saturating_add(piece_chars) > max_chars {
            return false;
        }
        text.push_str(piece);
        chars += piece_chars;
        true
    };
    let mut complete = true;
    'chunks: for chunk in bytes.utf8_chunks() {
        for character in chunk.valid().chars() {
            let fits = if needs_escape(character) {
                let code = u32::from(character);
                if code < 0x100 {
                    push(&format!("\\x{code:02x}"))
                } else {
                    push(&format!("\\u{{{code:x}}}"))
                }
            } else {
                push(character.encode_utf8(&mut [0; 4]))
            };
            if !fits {
                complete = false;
                break 'chunks;
            }
        }
        for byte in chunk.invalid() {
            if !push(&format!("\\x{byte:02x}")) {
                complete = false;
                break 'chunks;
            }
        }
    }
    if !complete {
        text.push_str("...");
    }
    text
}

fn needs_escape(character: char) -> bool {
    character.is_control()
        || matches!(
            character,
            '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// Asterisk's blank: any byte below 33 (space and all control bytes), compared unsigned, so bytes of
/// multi-byte UTF-8 characters are never blanks.
pub fn is_blank(byte: u8) -> bool {
    byte < 33
}

/// `bytes` without Asterisk's blanks at the start.
pub fn trim_blanks_start(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&byte| !is_blank(byte)).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// `bytes` without Asterisk's blanks at the end.
pub fn trim_blanks_end(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|&byte| !is_blank(byte)).map_or(0, |last| last + 1);
    bytes.get(..end).unwrap_or_default()
}

/// `bytes` without Asterisk's blanks on either side.
pub fn trim_blanks(bytes: &[u8]) -> &[u8] {
    trim_blanks_end(trim_blanks_start(bytes))
}

/// The parts before and after the first `separator`, if there is one.
pub fn split_at_first(bytes: &[u8], separator: u8) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|&byte| byte == separator)?;
    Some((bytes.get(..at)?, bytes.get(at + 1..)?))
}

/// A Unix time in milliseconds as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian calendar). Plain
/// arithmetic, no time-zone database: safe on any of Asterisk's threads.
pub fn utc_time(ms: i64) -> String {
    let seconds = ms.div_euclid(1000);
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let (hour, minute, second) = (second_of_day / 3600, second_of_day / 60 % 60, second_of_day % 60);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02} UTC")
}

/// `yes`/`no`, as Asterisk's configuration and CLI write flags.
pub fn yes_no(flag: bool) -> &'static str {
    if flag {
        "yes"
    } else {
        "no"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_what_could_break_a_log_line_and_keeps_paths_whole() {
        assert_eq!(printable(b"/var/spool/a b.call"), "/var/spool/a b.call");
        assert_eq!(printable(b"x\nEvent: Forged\r\n"), "x\\x0aEvent: Forged\\x0d\\x0a");
        assert_eq!(printable(b"bad\xffname"), "bad\\xffname");
        let long = vec![b'a'; 5000];
        assert_eq!(printable(&long), format!("{}...", "a".repeat(4096)));
    }

    #[test]
    fn blanks_are_asterisks_bytes_below_33() {
        assert_eq!(trim_blanks(b" \t a b \r\n"), b"a b");
        assert_eq!(trim_blanks_start(b"\x01x "), b"x ");
        assert_eq!(trim_blanks_end(b" x\x1f"), b" x");
        assert_eq!(trim_blanks(b"   "), b"");
        // UTF-8 bytes are never blanks.
        assert_eq!(trim_blanks("\u{a0}x".as_bytes()), "\u{a0}x".as_bytes());
    }

    #[test]
    fn utc_time_reads_as_a_calendar_date() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_time(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_time(1_798_761_599_999), "2026-12-31 23:59:59 UTC");
        assert_eq!(utc_time(-1_000), "1969-12-31 23:59:59 UTC");
    }

    #[test]
    fn split_at_first_splits_once() {
        assert_eq!(split_at_first(b"a=b=c", b'='), Some((&b"a"[..], &b"b=c"[..])));
        assert_eq!(split_at_first(b"abc", b'='), None);
        assert_eq!(split_at_first(b"=", b'='), Some((&b""[..], &b""[..])));
        assert_eq!((yes_no(true), yes_no(false)), ("yes", "no"));
    }
}
