//! Splits a call file's `CallerID:` value into name and number exactly as Asterisk 22's
//! `ast_callerid_split()` does (`"Name" <number>`, `Name <number>`, a missing `>`, a bare number,
//! a bare name, backslash-escaped quotes).
//!
//! Pure byte logic: no FFI, no allocation limits of its own. Callers that mimic Asterisk's fixed
//! output buffers truncate the results themselves (see `callfile`).

use crate::text::trim_blanks;

/// Asterisk decides whether a value without `<` is a phone number by shrinking a copy held in a
/// 256-byte scratch buffer, so only the first 255 bytes take part in that decision.
const NUMBER_PROBE_LEN: usize = 255;

/// The bytes Asterisk accepts in a bare phone number once it has been shrunk.
const PHONE_NUMBER_BYTES: &[u8] = b"0123456789*#+";

/// Splits a caller id into `(name, number)`, either of which may be empty.
///
/// The input is treated as a C string: anything from the first NUL byte on is ignored.
/// Bytes are preserved as they are; invalid UTF-8 passes through untouched.
pub fn split(input: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let parts = parse(until_nul(input));
    let name = parts.name.unwrap_or_default();
    // The number is shrunk a second time even when the bare-number path already did it,
    // because Asterisk's split does so unconditionally; shrinking is not always idempotent
    // (a `.` can become the last byte), so skipping it would change results.
    let number = parts.location.map(|location| shrink_phone_number(&location)).unwrap_or_default();
    (name, number)
}

/// Removes the punctuation people write inside phone numbers: `(`, `)`, spaces, any `.` that is
/// not the last byte, and `-` outside square brackets (inside them it is a dialplan range).
pub fn shrink_phone_number(number: &[u8]) -> Vec<u8> {
    let mut shrunk = Vec::with_capacity(number.len());
    // Signed on purpose: a stray `]` drives the depth negative, and Asterisk then treats the
    // following `-` as bracketed (it only tests for non-zero).
    let mut bracket_depth: i64 = 0;
    for (index, &byte) in number.iter().enumerate() {
        match byte {
            b'[' => {
                bracket_depth += 1;
                shrunk.push(byte);
            }
            b']' => {
                bracket_depth -= 1;
                shrunk.push(byte);
            }
            b'-' if bracket_depth != 0 => shrunk.push(byte),
            b'-' => {}
            b'.' if index + 1 == number.len() => shrunk.push(byte),
            b'.' | b'(' | b' ' | b')' => {}
            _ => shrunk.push(byte),
        }
    }
    shrunk
}

/// True when `number` is non-empty and made only of digits, `*`, `#` and `+`.
pub fn is_phone_number(number: &[u8]) -> bool {
    !number.is_empty() && number.iter().all(|byte| PHONE_NUMBER_BYTES.contains(byte))
}

/// What `ast_callerid_parse()` finds: `None` where it leaves the pointer NULL, which the split
/// turns into an empty string.
struct CallerIdParts {
    name: Option<Vec<u8>>,
    location: Option<Vec<u8>>,
}

fn parse(input: &[u8]) -> CallerIdParts {
    let (value, whole_value_was_quoted) = strip_quoted(input);

    // The last `<` starts the number; the last `>` after it ends it, and may be missing.
    if let Some(open) = value.iter().rposition(|&byte| byte == b'<') {
        let after_open = &value[open + 1..];
        let location = match after_open.iter().rposition(|&byte| byte == b'>') {
            Some(close) => &after_open[..close],
            None => after_open,
        };
        let (name, _) = strip_quoted(&value[..open]);
        return CallerIdParts { name: Some(unescape_quoted(name)), location: Some(location.to_vec()) };
    }

    let probe = &value[..value.len().min(NUMBER_PROBE_LEN)];
    let shrunk_probe = shrink_phone_number(probe);
    // A value the user put in quotes is a name even when it looks like a number.
    if !whole_value_was_quoted && is_phone_number(&shrunk_probe) {
        return CallerIdParts { name: None, location: Some(shrunk_probe) };
    }
    let (name, _) = strip_quoted(value);
    CallerIdParts { name: Some(unescape_quoted(name)), location: None }
}

/// Strips surrounding blanks, then one pair of surrounding double quotes if both ends have one.
/// Blanks inside the quotes are kept. Returns whether quotes were removed.
fn strip_quoted(value: &[u8]) -> (&[u8], bool) {
    let value = trim_blanks(value);
    match value {
        // A lone `"` counts as both quotes: Asterisk's first and last byte are the same one.
        [b'"'] => (&value[1..], true),
        [b'"', inner @ .., b'"'] => (inner, true),
        _ => (value, false),
    }
}

/// Drops each backslash and keeps the byte after it literally; a trailing lone backslash is
/// dropped too.
fn unescape_quoted(value: &[u8]) -> Vec<u8> {
    let mut unescaped = Vec::with_capacity(value.len());
    let mut bytes = value.iter();
    while let Some(&byte) = bytes.next() {
        if byte == b'\\' {
            match bytes.next() {
                Some(&escaped) => unescaped.push(escaped),
                None => break,
            }
        } else {
            unescaped.push(byte);
        }
    }
    unescaped
}

fn until_nul(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|&byte| byte == 0) {
        Some(nul) => &bytes[..nul],
        None => bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_str(input: &str) -> (String, String) {
        let (name, number) = split(input.as_bytes());
        (String::from_utf8(name).expect("utf-8 name"), String::from_utf8(number).expect("utf-8 number"))
    }

    fn assert_split(input: &str, name: &str, number: &str) {
        assert_eq!(split_str(input), (name.to_string(), number.to_string()), "input {input:?}");
    }

    #[test]
    fn quoted_name_and_bracketed_number() {
        assert_split("\"Bob\" <1234>", "Bob", "1234");
        assert_split("\"Bob Smith\" <(555) 123-4567>", "Bob Smith", "5551234567");
    }

    #[test]
    fn unquoted_name_and_bracketed_number() {
        assert_split("Bob <1234>", "Bob", "1234");
        assert_split("  Bob Smith \t <1234>  ", "Bob Smith", "1234");
    }

    #[test]
    fn blanks_inside_quotes_are_kept() {
        assert_split("\" foo bar \" <123>", " foo bar ", "123");
        // Without brackets the unquoted value is stripped once more.
        assert_split("\" foo bar \"", "foo bar", "");
    }

    #[test]
    fn missing_closing_bracket_takes_the_rest_as_number() {
        assert_split("Bob <1234", "Bob", "1234");
        assert_split("<12 34", "", "1234");
    }

    #[test]
    fn text_after_the_closing_bracket_is_dropped() {
        assert_split("\"Bob\" <1234> trailing words", "Bob", "1234");
    }

    #[test]
    fn the_last_open_bracket_starts_the_number() {
        assert_split("a<b<c>", "a<b", "c");
        assert_split("Bob <1> <2>", "Bob <1>", "2");
    }

    #[test]
    fn the_last_close_bracket_ends_the_number() {
        assert_split("Bob <1>2>", "Bob", "1>2");
    }

    #[test]
    fn number_only_in_brackets_gives_empty_name() {
        assert_split("<1234>", "", "1234");
        assert_split("<>", "", "");
        assert_split("\"\" <123>", "", "123");
    }

    #[test]
    fn bracketed_number_is_shrunk_but_not_validated() {
        // Non-final dots go even from SIP URIs: Asterisk shrinks whatever is in the brackets.
        assert_split("Bob <sip:100@example.com>", "Bob", "sip:100@examplecom");
        assert_split("Bob <1-2.3.>", "Bob", "123.");
        assert_split("Bob <[1-5]x>", "Bob", "[1-5]x");
    }

    #[test]
    fn bare_number_is_shrunk() {
        assert_split("1234", "", "1234");
        assert_split("(555) 123-4567", "", "5551234567");
        assert_split("+1 555.123.4567", "", "+15551234567");
        assert_split("*98#", "", "*98#");
        assert_split("  5551234  ", "", "5551234");
    }

    #[test]
    fn bare_value_that_is_not_a_number_is_a_name() {
        assert_split("Bob", "Bob", "");
        assert_split("123abc", "123abc", "");
        // A trailing `.` survives shrinking and is not a phone-number byte.
        assert_split("555.", "555.", "");
        assert_split("[1-5]", "[1-5]", "");
        assert_split("  Bob Smith  ", "Bob Smith", "");
    }

    #[test]
    fn a_quoted_number_is_a_name() {
        assert_split("\"1234\"", "1234", "");
        assert_split("  \"555-1234\"  ", "555-1234", "");
    }

    #[test]
    fn whole_value_in_quotes_is_unwrapped_before_looking_for_brackets() {
        assert_split("\"Bob <123>\"", "Bob", "123");
        assert_split("\"\"Bob\"\"", "Bob", "");
    }

    #[test]
    fn unbalanced_quotes_are_kept() {
        assert_split("\"Bob <123>", "\"Bob", "123");
        assert_split("\"Bob\" 1234", "\"Bob\" 1234", "");
        assert_split("Bob\"", "Bob\"", "");
    }

    #[test]
    fn escaped_quotes_in_names_are_unescaped() {
        assert_split("\"Bob \\\"The Builder\\\"\" <1>", "Bob \"The Builder\"", "1");
        assert_split("Back\\\\slash", "Back\\slash", "");
        assert_split("trailing\\", "trailing", "");
        assert_split("\\a\\b", "ab", "");
    }

    #[test]
    fn numbers_are_not_unescaped() {
        assert_split("<1\\2>", "", "1\\2");
    }

    #[test]
    fn lone_quote_and_empty_inputs() {
        assert_split("", "", "");
        assert_split("   ", "", "");
        assert_split("\"", "", "");
        assert_split("\"\"", "", "");
    }

    #[test]
    fn stray_close_bracket_makes_dash_count_as_bracketed() {
        assert_eq!(shrink_phone_number(b"]-1"), b"]-1".to_vec());
        assert_eq!(shrink_phone_number(b"[1-2]-3"), b"[1-2]3".to_vec());
    }

    #[test]
    fn shrink_keeps_only_a_final_dot() {
        assert_eq!(shrink_phone_number(b"1.2.3."), b"123.".to_vec());
        assert_eq!(shrink_phone_number(b"1.."), b"1.".to_vec());
        assert_eq!(shrink_phone_number(b"1.("), b"1".to_vec());
    }

    #[test]
    fn phone_number_test_needs_at_least_one_byte() {
        assert!(!is_phone_number(b""));
        assert!(is_phone_number(b"+1*2#3"));
        assert!(!is_phone_number(b"12a"));
    }

    #[test]
    fn only_the_first_255_bytes_decide_whether_it_is_a_number() {
        let mut digits_then_letter = "1".repeat(255);
        digits_then_letter.push('a');
        let (name, number) = split(digits_then_letter.as_bytes());
        assert!(name.is_empty());
        assert_eq!(number, "1".repeat(255).into_bytes());

        let mut shorter = "1".repeat(254);
        shorter.push('a');
        let (name, number) = split(shorter.as_bytes());
        assert_eq!(name, shorter.as_bytes());
        assert!(number.is_empty());
    }

    #[test]
    fn non_utf8_and_high_bytes_survive() {
        let (name, number) = split(b"Jos\xc3\xa9 \xff <12>");
        assert_eq!(name, b"Jos\xc3\xa9 \xff".to_vec());
        assert_eq!(number, b"12".to_vec());
        // Bytes >= 128 are not blanks.
        let (name, _) = split(b"\xa0Bob\xa0");
        assert_eq!(name, b"\xa0Bob\xa0".to_vec());
    }

    #[test]
    fn input_ends_at_nul_like_a_c_string() {
        assert_split_bytes(b"Bob <12\x0034>", b"Bob", b"12");
        assert_split_bytes(b"\x00Bob", b"", b"");
    }

    fn assert_split_bytes(input: &[u8], name: &[u8], number: &[u8]) {
        assert_eq!(split(input), (name.to_vec(), number.to_vec()));
    }

    #[test]
    fn control_bytes_count_as_blanks() {
        assert_split("\t\x01Bob\x1f <1>\r", "Bob", "1");
    }

    #[test]
    fn pseudo_random_inputs_never_panic() {
        let alphabet = b"\"<> ()-.[]\\+*#0123456789aZ\t\x00\xff";
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..5000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let length = (state % 40) as usize;
            let input: Vec<u8> = (0..length)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    alphabet[(state % alphabet.len() as u64) as usize]
                })
                .collect();
            let (name, number) = split(&input);
            assert!(!name.contains(&0) && !number.contains(&0));
            assert!(name.len() <= input.len() && number.len() <= input.len());
        }
    }
}
