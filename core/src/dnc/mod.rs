//! Do-not-call lists: numbers a call file must never dial. A list is a text file, one number per line;
//! `;` and `#` start a comment (anywhere on a line) and blank lines are skipped. A number is its digits
//! alone: `+`, blanks, `-`, `.`, `(` and `)` are dropped, so `+49 (30) 123-4` is `49301234`; a leading
//! `+` or `00` is NOT rewritten, so `+4930123` and `004930123` are different numbers and a list names
//! each number as the trunk dials it. A line with anything else (letters, `*`) is skipped and reported
//! with its line number.
//!
//! This root is the list as data: [`NumberSet`] (compact, sorted, binary-searched: about 12 bytes a
//! number) and [`parse_list`]. The number a channel dials is `channel_number.rs`'s; the lists in force,
//! their files and reloads are `lists.rs`'s. Pure here: bytes in, sets out; no I/O, no logging.

mod channel_number;
mod lists;

pub use channel_number::dialled_number;
pub use lists::{Applicable, DncList, DncLists, ListState, Verdict};

/// The rule name a do-not-call refusal carries (`rule dnc` in its log line).
pub const RULE: &str = "dnc";

/// Most digits a number is kept in a `u64` with: `1` followed by 18 digits is below `u64::MAX`.
const SHORT_DIGITS: usize = 18;

/// A number's digits, or why the text is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotANumber {
    /// Only separators (or nothing): no digit at all.
    NoDigits,
    /// A byte that is neither a digit nor a separator (`+`, blanks, `-`, `.`, `(`, `)`).
    Unexpected(u8),
}

impl std::fmt::Display for NotANumber {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotANumber::NoDigits => write!(formatter, "no digits"),
            NotANumber::Unexpected(byte) if byte.is_ascii_graphic() => {
                write!(formatter, "'{}' is not a digit", char::from(*byte))
            }
            NotANumber::Unexpected(byte) => write!(formatter, "byte 0x{byte:02x} is not a digit"),
        }
    }
}

/// The digits of `text`, the separators an admin writes (`+`, blanks, `-`, `.`, `(`, `)`) dropped.
///
/// # Errors
///
/// Any other byte, or no digit at all.
pub fn normalise(text: &[u8]) -> Result<Vec<u8>, NotANumber> {
    let mut digits = Vec::with_capacity(text.len());
    normalise_into(text, &mut digits)?;
    Ok(digits)
}

/// [`normalise`] into `digits` (cleared first), so a list of a million lines needs one buffer.
fn normalise_into(text: &[u8], digits: &mut Vec<u8>) -> Result<(), NotANumber> {
    digits.clear();
    for &byte in text {
        match byte {
            b'0'..=b'9' => digits.push(byte),
            b'+' | b' ' | b'\t' | b'-' | b'.' | b'(' | b')' => {}
            other => return Err(NotANumber::Unexpected(other)),
        }
    }
    if digits.is_empty() {
        return Err(NotANumber::NoDigits);
    }
    Ok(())
}

/// A `dnc = <path>` line's value: an absolute path (Asterisk's working directory is no place to guess).
///
/// # Errors
///
/// A sentence for the admin when the value is not one.
pub fn parse_path(value: &str) -> Result<String, String> {
    if !value.starts_with('/') || value.ends_with('/') || value.chars().any(char::is_control) {
        return Err("expected the absolute path of a do-not-call list, such as /etc/asterisk/dnc.txt".to_string());
    }
    Ok(value.to_string())
}

/// Up to 18 digits as one `u64`: a leading `1` then the digits, so `0301` and `301` differ.
fn short_key(digits: &[u8]) -> Option<u64> {
    if digits.len() > SHORT_DIGITS {
        return None;
    }
    Some(digits.iter().fold(1u64, |key, digit| key * 10 + u64::from(digit - b'0')))
}

/// A set of numbers with the line each was first written on. Numbers of up to 18 digits (every E.164
/// number) are sorted `u64` keys beside their line numbers: 12 bytes a number; longer ones, rare, are
/// kept as digit strings.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NumberSet {
    keys: Vec<u64>,
    key_lines: Vec<u32>,
    long: Vec<(Box<[u8]>, u32)>,
}

impl NumberSet {
    /// A set of `(digits, line)` entries; a number written twice keeps its first line.
    pub fn from_entries(entries: Vec<(Vec<u8>, u32)>) -> NumberSet {
        let mut builder = Builder::default();
        for (digits, line) in entries {
            builder.add(&digits, line);
        }
        builder.finish()
    }

    /// The line `digits` (already [`normalise`]d) is written on, if it is in the set.
    pub fn line_of(&self, digits: &[u8]) -> Option<u32> {
        match short_key(digits) {
            Some(key) => self.keys.binary_search(&key).ok().map(|at| self.key_lines[at]),
            None => {
                self.long.binary_search_by(|(number, _)| number.as_ref().cmp(digits)).ok().map(|at| self.long[at].1)
            }
        }
    }

    /// How many different numbers the set holds.
    pub fn len(&self) -> usize {
        self.keys.len() + self.long.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the set occupies on the heap (for `make bench`'s memory per number).
    pub fn heap_bytes(&self) -> usize {
        self.keys.capacity() * 8
            + self.key_lines.capacity() * 4
            + self.long.capacity() * std::mem::size_of::<(Box<[u8]>, u32)>()
            + self.long.iter().map(|(digits, _)| digits.len()).sum::<usize>()
    }
}

/// Numbers gathered one by one (16 bytes each while a list is read), then sorted into a [`NumberSet`].
#[derive(Default)]
struct Builder {
    short: Vec<(u64, u32)>,
    long: Vec<(Box<[u8]>, u32)>,
}

impl Builder {
    fn add(&mut self, digits: &[u8], line: u32) {
        match short_key(digits) {
            Some(key) => self.short.push((key, line)),
            None => self.long.push((digits.into(), line)),
        }
    }

    fn finish(mut self) -> NumberSet {
        // Sorted by key then line, so the first line of a number written twice is the one kept.
        self.short.sort_unstable();
        self.short.dedup_by_key(|(key, _)| *key);
        self.long.sort_unstable();
        self.long.dedup_by(|later, earlier| later.0 == earlier.0);
        let (keys, key_lines) = self.short.into_iter().unzip();
        NumberSet { keys, key_lines, long: self.long }
    }
}

/// A list file read: its numbers, and the lines skipped as not numbers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ParsedList {
    pub numbers: NumberSet,
    /// Lines that are not numbers: how many in all ...
    pub skipped: usize,
    /// ... and the first [`SKIPPED_SHOWN`] of them: (line number, why), to report.
    pub skipped_shown: Vec<(u32, String)>,
}

/// Skipped lines reported one by one; the rest are only counted (a wrong file must not flood the log).
pub const SKIPPED_SHOWN: usize = 10;

/// Read a list's text: one number per line, `;` and `#` comments, blank lines skipped.
pub fn parse_list(text: &[u8]) -> ParsedList {
    let mut builder = Builder { short: Vec::with_capacity(text.len() / 12), long: Vec::new() };
    let mut parsed = ParsedList::default();
    let mut digits = Vec::new();
    for (index, raw) in text.split(|&byte| byte == b'\n').enumerate() {
        let line = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let content = match raw.iter().position(|&byte| byte == b';' || byte == b'#') {
            Some(at) => &raw[..at],
            None => raw,
        };
        let content = crate::text::trim_blanks(content);
        if content.is_empty() {
            continue;
        }
        match normalise_into(content, &mut digits) {
            Ok(()) => builder.add(&digits, line),
            Err(why) => {
                parsed.skipped += 1;
                if parsed.skipped_shown.len() < SKIPPED_SHOWN {
                    let shown = crate::text::escaped(content, 40);
                    parsed.skipped_shown.push((line, format!("'{shown}': {why}")));
                }
            }
        }
    }
    parsed.numbers = builder.finish();
    parsed
}

#[cfg(test)]
mod tests;
