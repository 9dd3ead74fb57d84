//! Which dialplan functions a variable name written by a call file reaches, and which of them change
//! state that outlives the call (the whole PBX, the process, the database).
//!
//! Asterisk writes a function when a variable name ends in `)`, and a function's argument can itself
//! name a variable that is written the same way (`ARRAY(GLOBAL(X))` writes `GLOBAL(X)`), so every
//! `NAME(` in the name counts, not only the first.
//!
//! Pure: bytes in, names out. No I/O, no FFI. Never panics.

use crate::text::{trim_blanks, trim_blanks_end};

/// Functions whose write outlives the call: dialplan globals, variables shared between channels, the
/// process environment (inherited by every program Asterisk starts), device and presence states,
/// dial groups and queue members (kept for every later call), realtime stores, calendars and
/// MiniVM counters. Functions Asterisk itself flags as dangerous to write (FILE, DB, ...) are not
/// listed: `live_dangerously` governs those. Compared ASCII case-insensitively.
pub const PERSISTENT_FUNCTIONS: [&str; 12] = [
    "GLOBAL",
    "SHARED",
    "ENV",
    "DEVICE_STATE",
    "PRESENCE_STATE",
    "DIALGROUP",
    "QUEUE_MEMBER",
    "QUEUE_MEMBER_PENALTY",
    "REALTIME",
    "REALTIME_STORE",
    "CALENDAR_WRITE",
    "MINIVMCOUNTER",
];

/// Whether writing `function` changes state beyond the call, by the built-in list.
pub fn is_persistent(function: &str) -> bool {
    PERSISTENT_FUNCTIONS.iter().any(|known| function.eq_ignore_ascii_case(known))
}

/// The function names a variable name may write: for the text before the first `(`, that text with
/// blanks trimmed and again without leading `_` (inheritance prefixes); then every other name that
/// stands directly before a `(` further in, for functions whose argument is itself written.
///
/// Asterisk writes a function only when the name ends in `)`, and looks the text before `(` up
/// exactly, so `FILE (x)` or `_FILE(x)` write nothing today. They are still reported: refusing an
/// odd-looking name costs nothing, missing a write that a future Asterisk performs would. Names
/// keep their case, as Asterisk's lookup does.
pub fn written_functions(variable: &[u8]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut push = |name: &[u8]| {
        // Lossy is enough: registered names are ASCII, so a replaced byte matches none of them.
        let name = String::from_utf8_lossy(name).into_owned();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    };
    let Some(first_paren) = variable.iter().position(|&byte| byte == b'(') else {
        return Vec::new();
    };
    let written = trim_blanks(&variable[..first_paren]);
    push(written);
    push(strip_leading(written, b'_'));
    for (at, _) in variable.iter().enumerate().skip(first_paren + 1).filter(|(_, &byte)| byte == b'(') {
        let before = trim_blanks_end(&variable[..at]);
        let start = before.iter().rposition(|&byte| !is_name_byte(byte)).map_or(0, |last| last + 1);
        let name = &before[start..];
        push(name);
        push(strip_leading(name, b'_'));
    }
    names
}

fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

fn strip_leading(bytes: &[u8], unwanted: u8) -> &[u8] {
    let start = bytes.iter().position(|&byte| byte != unwanted).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_in_a_name_is_found() {
        let table: &[(&[u8], &[&str])] = &[
            (b"GLOBAL(X)", &["GLOBAL"]),
            (b"__GLOBAL(X)", &["__GLOBAL", "GLOBAL"]),
            (b" FILE (x)", &["FILE"]),
            (b"ARRAY(GLOBAL(A),B)", &["ARRAY", "GLOBAL"]),
            (b"HASH(x,y(ENV(z)))", &["HASH", "y", "ENV"]),
            (b"ARRAY(_SHARED (a))", &["ARRAY", "_SHARED", "SHARED"]),
            (b"PLAIN", &[]),
            (b"(x)", &[]),
            (b"A((B", &["A"]),
            (b"\xff(GLOBAL(x))", &["\u{fffd}", "GLOBAL"]),
        ];
        for (name, expected) in table {
            assert_eq!(written_functions(name), *expected, "{}", String::from_utf8_lossy(name));
        }
    }

    #[test]
    fn persistent_functions_by_name() {
        for name in ["GLOBAL", "global", "SHARED", "ENV", "DEVICE_STATE", "QUEUE_MEMBER", "DIALGROUP"] {
            assert!(is_persistent(name), "{name}");
        }
        for name in ["CALLERID", "CDR", "CHANNEL", "ARRAY", "HASH", "", "GLOBALS"] {
            assert!(!is_persistent(name), "{name}");
        }
    }
}
