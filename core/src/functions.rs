//! Which dialplan functions a variable name written by a call file reaches, which of them change
//! state that outlives the call (the whole PBX, the process, the database), and which writes a call file
//! may make at all: the allow list of function writes ([`DEFAULT_FUNCTION_WRITES`]) with the values
//! Asterisk turns into paths checked as names.
//!
//! Asterisk writes a function when a variable name ends in `)`, and a function's argument can itself
//! name a variable that is written the same way (`ARRAY(GLOBAL(X))` writes `GLOBAL(X)`), so every
//! `NAME(` in the name counts, not only the first.
//!
//! Pure: bytes in, names and verdicts out. No I/O, no FFI. Never panics.

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

/// Which arguments of an allowed function a call file may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fields {
    /// Any argument: every field of the function belongs to the call's own channel.
    Any,
    /// The whole argument is one of these, compared ASCII case-insensitively (as func_channel and
    /// func_cdr compare their field names).
    OneOf(&'static [&'static str]),
    /// The argument starts with one of these bytes (func_timeout reads only the first character).
    FirstByte(&'static [u8]),
}

impl Fields {
    fn admit(self, argument: &[u8]) -> bool {
        match self {
            Fields::Any => true,
            Fields::OneOf(names) => names.iter().any(|name| argument.eq_ignore_ascii_case(name.as_bytes())),
            Fields::FirstByte(bytes) => argument.first().is_some_and(|first| bytes.contains(first)),
        }
    }
}

/// What a value written to an allowed function must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    Any,
    /// A name (see [`is_name`]): Asterisk builds a path from it (`sounds/<language>/...`) or looks it up
    /// by name, so no `/`, no `.`, nothing but letters, digits, `_` and `-`.
    Name,
}

/// One function write a call file may make when pbx_spool_rs.conf says nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllowedWrite {
    /// The function's registered name, compared exactly (Asterisk finds functions with `strcmp`).
    pub function: &'static str,
    pub fields: Fields,
    pub value: Value,
    /// Why a call file needs it and why it is safe, for docs/security.md and `spool show status`.
    pub why: &'static str,
}

/// The function writes call files make: the documented examples, pycall (caller id, plain variables) and
/// the common call-file how-tos (caller id, a CDR note, the prompts' language, a call limit). Each one
/// writes the call's own channel, names no other channel, file, host, command or signalling header,
/// and ends with the call. Everything else needs `allow_function`.
pub const DEFAULT_FUNCTION_WRITES: [AllowedWrite; 6] = [
    AllowedWrite {
        function: "CALLERID",
        fields: Fields::Any,
        value: Value::Any,
        why: "the caller id the call presents (pycall's callerid, every call-file how-to); the call's own \
              channel only, as the CallerID: line",
    },
    AllowedWrite {
        function: "CONNECTEDLINE",
        fields: Fields::Any,
        value: Value::Any,
        why: "what the answered phone shows as the other party (click-to-call); the call's own channel only",
    },
    AllowedWrite {
        function: "CDR",
        fields: Fields::OneOf(&["userfield"]),
        value: Value::Any,
        why: "a free-text note in the call's CDR for the dialer's bookkeeping; not accountcode or amaflags \
              (billing)",
    },
    AllowedWrite {
        function: "CHANNEL",
        fields: Fields::OneOf(&["language"]),
        value: Value::Name,
        why: "the language of the prompts (multi-language reminders); Asterisk builds sound file paths \
              from it, so a name only",
    },
    AllowedWrite {
        function: "CHANNEL",
        fields: Fields::OneOf(&["musicclass"]),
        value: Value::Name,
        why: "the music on hold class while the call waits; a class name only",
    },
    AllowedWrite {
        function: "TIMEOUT",
        fields: Fields::FirstByte(b"aAdDrR"),
        value: Value::Any,
        why: "the call's own absolute, digit and response timeouts (limits a reminder call's length)",
    },
];

/// Whether `value` is a name Asterisk may safely turn into a path component: one or more ASCII letters,
/// digits, `_` or `-`. Never `/`, never `.` (so never `..`), never empty.
pub fn is_name(value: &[u8]) -> bool {
    !value.is_empty() && value.iter().all(|&byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-'))
}

/// Why a function write is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteRefusal {
    /// The function is not on the allow list and no `allow_function` admits it.
    Function { function: String },
    /// The function is on the list, but not for this argument.
    Field { function: String, field: String },
    /// The value must be a name ([`is_name`]) and is not.
    NotAName { function: String, field: String },
    /// The value must be a name, and the application that writes it (Read, Originate's `v()`) does not
    /// show it here.
    UnseenValue { function: String, field: String },
}

/// The function `variable` writes and its argument, as Asterisk's `func_args` splits them: the text
/// before the first `(` and the text up to the last `)`. `None` for a plain variable (no `(`).
pub fn function_and_argument(variable: &[u8]) -> Option<(&[u8], &[u8])> {
    let open = variable.iter().position(|&byte| byte == b'(')?;
    let rest = &variable[open + 1..];
    let argument = match rest.iter().rposition(|&byte| byte == b')') {
        Some(close) => &rest[..close],
        None => rest,
    };
    Some((&variable[..open], argument))
}

/// Whether `allow_function` entries admit `function` with `argument`: a bare `NAME` admits every
/// argument, `NAME(field)` that argument only (both ASCII case-insensitively).
fn admitted_by(admitted: &[String], function: &[u8], argument: Option<&[u8]>) -> bool {
    admitted.iter().any(|entry| {
        let entry = entry.as_bytes();
        match function_and_argument(entry) {
            None => entry.eq_ignore_ascii_case(function),
            Some((name, field)) => {
                name.eq_ignore_ascii_case(function)
                    && argument.is_some_and(|argument| argument.eq_ignore_ascii_case(field))
            }
        }
    })
}

/// Decides whether a call file may write the variable name `variable` (when it names a function) with
/// `value` (`None`: written by an application that does not show it). Plain variables pass here (see
/// [`crate::variables`]). Every function named inside the argument (`CALLERID(GLOBAL(x))`) must be
/// admitted too.
///
/// # Errors
///
/// The [`WriteRefusal`] that says what is not on the list.
pub fn judge_write(variable: &[u8], value: Option<&[u8]>, admitted: &[String]) -> Result<(), WriteRefusal> {
    let Some((function, argument)) = function_and_argument(variable) else {
        return Ok(());
    };
    let function_text = String::from_utf8_lossy(function).into_owned();
    let field_text = || String::from_utf8_lossy(argument).into_owned();
    let listed: Vec<&AllowedWrite> =
        DEFAULT_FUNCTION_WRITES.iter().filter(|allowed| allowed.function.as_bytes() == function).collect();
    match listed.iter().find(|allowed| allowed.fields.admit(argument)) {
        Some(allowed) => {
            if allowed.value == Value::Name {
                match value {
                    None => return Err(WriteRefusal::UnseenValue { function: function_text, field: field_text() }),
                    Some(value) if !is_name(value) => {
                        return Err(WriteRefusal::NotAName { function: function_text, field: field_text() })
                    }
                    Some(_) => {}
                }
            }
        }
        None if admitted_by(admitted, function, Some(argument)) => {}
        None if listed.is_empty() => return Err(WriteRefusal::Function { function: function_text }),
        None => return Err(WriteRefusal::Field { function: function_text, field: field_text() }),
    }
    let outer_names = [function, trim_blanks(function), strip_leading(trim_blanks(function), b'_')];
    for nested in written_functions(variable) {
        let is_outer = outer_names.contains(&nested.as_bytes());
        if !is_outer && !admitted_by(admitted, nested.as_bytes(), None) {
            return Err(WriteRefusal::Function { function: nested });
        }
    }
    Ok(())
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
    fn function_writes_are_an_allow_list() {
        use WriteRefusal::*;
        let function = |name: &str| Err(Function { function: name.to_string() });
        let field = |name: &str, field: &str| Err(Field { function: name.to_string(), field: field.to_string() });
        type Case = (&'static [u8], &'static [u8], Result<(), WriteRefusal>);
        let table: &[Case] = &[
            (b"CALLERID(num)", b"100", Ok(())),
            (b"CALLERID(name)", b"Reminder", Ok(())),
            (b"CALLERID(all)", b"\"A\" <1>", Ok(())),
            (b"CONNECTEDLINE(name,i)", b"Customer", Ok(())),
            (b"CDR(userfield)", b"campaign 7", Ok(())),
            (b"CDR(UserField)", b"x", Ok(())),
            (b"CDR(accountcode)", b"x", field("CDR", "accountcode")),
            (b"CHANNEL(language)", b"fr", Ok(())),
            (b"CHANNEL(language)", b"pt_BR", Ok(())),
            (b"CHANNEL(musicclass)", b"default", Ok(())),
            (b"TIMEOUT(absolute)", b"60", Ok(())),
            (b"TIMEOUT(digit)", b"5", Ok(())),
            (b"TIMEOUT(x)", b"5", field("TIMEOUT", "x")),
            (b"CHANNEL(hangup_handler_push)", b"evil,s,1", field("CHANNEL", "hangup_handler_push")),
            (b"CHANNEL(accountcode)", b"x", field("CHANNEL", "accountcode")),
            (b"EXPORT(PJSIP/100-00000001,X)", b"1", function("EXPORT")),
            (b"SHARED(X,PJSIP/100-00000001)", b"1", function("SHARED")),
            (b"MASTER_CHANNEL(X)", b"1", function("MASTER_CHANNEL")),
            (b"PJSIP_HEADER(add,Alert-Info)", b"<x>;answer-after=0", function("PJSIP_HEADER")),
            (b"SIP_HEADER(Alert-Info)", b"x", function("SIP_HEADER")),
            (b"IAXVAR(x)", b"x", function("IAXVAR")),
            (b"HASH(h,k)", b"x", function("HASH")),
            (b"ARRAY(A,B)", b"1,2", function("ARRAY")),
            (b"callerid(num)", b"1", function("callerid")),
            (b"_CALLERID(num)", b"1", function("_CALLERID")),
            (b" CALLERID(num)", b"1", function(" CALLERID")),
            (b"CALLERID(GLOBAL(x))", b"1", function("GLOBAL")),
            (b"PLAIN", b"anything", Ok(())),
        ];
        for (name, value, expected) in table {
            assert_eq!(&judge_write(name, Some(value), &[]), expected, "{}", String::from_utf8_lossy(name));
        }
    }

    #[test]
    fn values_asterisk_turns_into_paths_must_be_names() {
        for value in
            [&b"../../../var/spool/asterisk/voicemail/default/1234/INBOX"[..], b"/tmp", b"..", b"", b"en.x", b"a b"]
        {
            let refusal = judge_write(b"CHANNEL(language)", Some(value), &["CHANNEL".to_string()]);
            assert!(matches!(refusal, Err(WriteRefusal::NotAName { .. })), "{}", String::from_utf8_lossy(value));
        }
        assert!(matches!(judge_write(b"CHANNEL(Language)", None, &[]), Err(WriteRefusal::UnseenValue { .. })));
        assert!(matches!(judge_write(b"CHANNEL(musicclass)", Some(b"../x"), &[]), Err(WriteRefusal::NotAName { .. })));
    }

    #[test]
    fn allow_function_admits_a_function_or_one_field() {
        let admitted = ["CDR(accountcode)".to_string(), "pjsip_header".to_string()];
        assert_eq!(judge_write(b"CDR(accountcode)", Some(b"x"), &admitted), Ok(()));
        assert_eq!(judge_write(b"CDR(ACCOUNTCODE)", Some(b"x"), &admitted), Ok(()));
        assert!(judge_write(b"CDR(amaflags)", Some(b"x"), &admitted).is_err());
        assert_eq!(judge_write(b"PJSIP_HEADER(add,X-Campaign)", Some(b"7"), &admitted), Ok(()));
        assert!(judge_write(b"CALLERID(GLOBAL(x))", Some(b"1"), &admitted).is_err());
        assert_eq!(judge_write(b"CALLERID(GLOBAL(x))", Some(b"1"), &["GLOBAL".to_string()]), Ok(()));
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
