//! Parser for Asterisk call files (`<spool>/outgoing/*.call`), accepting, rejecting and reporting
//! exactly what Asterisk 22's pbx_spool (`apply_outgoing()`) does.
//!
//! Pure: bytes in, a [`CallFile`] and its [`Diagnostic`]s out. No I/O, no FFI, no logging, no
//! panics on any input. Values stay bytes because Asterisk hands them on as C strings, so
//! invalid UTF-8 must survive untouched. Callers turn diagnostics into log lines (the exact
//! pbx_spool text is [`Diagnostic::message`]) and decide what happens to the file.

use std::fmt;

use crate::callerid;
use crate::text::{is_blank, split_at_first, trim_blanks_start};

/// Lines whose content (the bytes before `\n`) is this long or longer are reported and skipped
/// whole, as Asterisk 22 does with its 1024-byte line buffer.
pub const MAX_LINE_LEN: usize = 1024;

/// pbx_spool splits the caller id into two 80-byte C buffers, so each part keeps at most 79 bytes.
const CALLERID_PART_MAX_LEN: usize = 79;

/// `sscanf("%30d")` reads at most 30 characters (sign included) for one number.
const SCANF_NUMBER_WIDTH: usize = 30;

const DEFAULT_PRIORITY: i32 = 1;
const DEFAULT_RETRY_TIME: i32 = 300;
const DEFAULT_WAIT_TIME: i32 = 45;
const DEFAULT_MAX_RETRIES: i32 = 0;

/// Everything a call file says about the call to place, with pbx_spool's defaults for what it
/// leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFile {
    /// Channel technology, the part of `Channel:` before the first `/`.
    pub tech: Vec<u8>,
    /// Channel destination, the part of `Channel:` after the first `/`.
    pub dest: Vec<u8>,
    pub cid_name: Vec<u8>,
    pub cid_num: Vec<u8>,
    pub application: Vec<u8>,
    pub data: Vec<u8>,
    pub context: Vec<u8>,
    pub extension: Vec<u8>,
    pub priority: i32,
    pub max_retries: i32,
    /// Seconds between attempts.
    pub retry_time: i32,
    /// Seconds to wait for an answer.
    pub wait_time: i32,
    pub account: Vec<u8>,
    /// `Set:`/`SetVar:` assignments in file order (later ones may depend on earlier ones).
    pub variables: Vec<(Vec<u8>, Vec<u8>)>,
    /// Each `Codecs:` value in file order, to be applied as allow lists by Asterisk.
    pub codecs: Vec<Vec<u8>>,
    pub always_delete: bool,
    pub archive: bool,
    pub early_media: bool,
    /// Attempts already made, counted from Retry/EndRetry/AbortRetry lines.
    pub retries: i32,
    /// Pid from the last StartRetry not yet closed by EndRetry/AbortRetry. pbx_spool stores the
    /// pid as a plain number where 0 means "nobody", so a recorded pid of 0 is `None` here.
    pub calling_pid: Option<i64>,
}

impl Default for CallFile {
    fn default() -> Self {
        CallFile {
            tech: Vec::new(),
            dest: Vec::new(),
            cid_name: Vec::new(),
            cid_num: Vec::new(),
            application: Vec::new(),
            data: Vec::new(),
            context: Vec::new(),
            extension: Vec::new(),
            priority: DEFAULT_PRIORITY,
            max_retries: DEFAULT_MAX_RETRIES,
            retry_time: DEFAULT_RETRY_TIME,
            wait_time: DEFAULT_WAIT_TIME,
            account: Vec::new(),
            variables: Vec::new(),
            codecs: Vec::new(),
            always_delete: true,
            archive: false,
            early_media: false,
            retries: 0,
            calling_pid: None,
        }
    }
}

impl CallFile {
    /// The channel to dial, `tech/dest`.
    pub fn channel(&self) -> Vec<u8> {
        let mut channel = Vec::with_capacity(self.tech.len() + 1 + self.dest.len());
        channel.extend_from_slice(&self.tech);
        channel.push(b'/');
        channel.extend_from_slice(&self.dest);
        channel
    }

    /// True when the answered call runs an application; otherwise it enters the dialplan at
    /// context/extension/priority. An application wins when both are given.
    pub fn is_application(&self) -> bool {
        !self.application.is_empty()
    }

    /// pbx_spool's acceptance rule: tech, dest, and an application or an extension.
    ///
    /// # Errors
    ///
    /// [`Invalid`] when any of them is missing or empty; pbx_spool then drops the file as failed.
    pub fn validate(&self) -> Result<(), Invalid> {
        let has_target = !self.application.is_empty() || !self.extension.is_empty();
        if self.tech.is_empty() || self.dest.is_empty() || !has_target {
            return Err(Invalid);
        }
        Ok(())
    }
}

/// The call file cannot be placed: it lacks tech, dest, or both application and extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

impl Invalid {
    /// The exact warning pbx_spool logs for such a file.
    pub fn message(&self, path: &str) -> String {
        format!("{self} in file {path}")
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("At least one of app or extension must be specified, along with tech and dest")
    }
}

impl std::error::Error for Invalid {}

/// The Asterisk log level pbx_spool uses for a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Notice,
    Warning,
}

/// What went wrong on a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiagnosticKind {
    /// A non-empty line without `:`; skipped.
    SyntaxError,
    /// `Channel:` without `/`; the earlier channel, if any, stays.
    ChannelForm,
    InvalidMaxRetries,
    InvalidPriority,
    InvalidRetryTime,
    InvalidWaitTime,
    /// `StartRetry:` without a readable pid.
    CallingPid,
    /// `Set:`/`SetVar:` without `=`.
    MalformedSet,
    UnknownKeyword,
    /// A line of [`MAX_LINE_LEN`] bytes or more; skipped whole.
    LongLine,
    /// A NUL byte in the line. Not a pbx_spool check: its C strings silently end there, which
    /// hides the rest of the line, so callers should treat the file as hostile.
    NulByte,
}

impl DiagnosticKind {
    pub fn severity(self) -> Severity {
        match self {
            DiagnosticKind::SyntaxError | DiagnosticKind::ChannelForm => Severity::Notice,
            DiagnosticKind::InvalidMaxRetries
            | DiagnosticKind::InvalidPriority
            | DiagnosticKind::InvalidRetryTime
            | DiagnosticKind::InvalidWaitTime
            | DiagnosticKind::CallingPid
            | DiagnosticKind::MalformedSet
            | DiagnosticKind::UnknownKeyword
            | DiagnosticKind::LongLine
            | DiagnosticKind::NulByte => Severity::Warning,
        }
    }
}

/// One problem found while parsing, with where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line number, counting every `\n`-terminated line (including skipped ones).
    pub line: usize,
    pub severity: Severity,
    pub kind: DiagnosticKind,
    /// The key exactly as written on the line, for problems about a key's value or the key
    /// itself; empty for problems about the line as a whole (syntax, length, NUL).
    pub key: Vec<u8>,
}

impl Diagnostic {
    fn for_line(line: usize, kind: DiagnosticKind) -> Self {
        Diagnostic { line, severity: kind.severity(), kind, key: Vec::new() }
    }

    fn for_key(line: usize, kind: DiagnosticKind, key: &[u8]) -> Self {
        Diagnostic { key: key.to_vec(), ..Diagnostic::for_line(line, kind) }
    }

    /// The log text pbx_spool 22 prints for this problem in the file at `path`. Where pbx_spool
    /// prints no position (the calling-pid and Set messages) none is added, so the text matches.
    /// A key that is not UTF-8 is shown with replacement characters.
    pub fn message(&self, path: &str) -> String {
        let line = self.line;
        let key = String::from_utf8_lossy(&self.key);
        match self.kind {
            DiagnosticKind::SyntaxError => format!("Syntax error at line {line} of {path}"),
            DiagnosticKind::ChannelForm => {
                format!("Channel should be in form Tech/Dest at line {line} of {path}")
            }
            DiagnosticKind::InvalidMaxRetries => {
                format!("Invalid max retries at line {line} of {path}")
            }
            DiagnosticKind::InvalidPriority => format!("Invalid priority at line {line} of {path}"),
            DiagnosticKind::InvalidRetryTime => {
                format!("Invalid retrytime at line {line} of {path}")
            }
            DiagnosticKind::InvalidWaitTime => format!("Invalid waittime at line {line} of {path}"),
            DiagnosticKind::CallingPid => "Unable to retrieve calling PID!".to_string(),
            DiagnosticKind::MalformedSet => {
                format!("Malformed \"{key}\" argument.  Should be \"{key}: variable=value\"")
            }
            DiagnosticKind::UnknownKeyword => {
                format!("Unknown keyword '{key}' at line {line} of {path}")
            }
            DiagnosticKind::LongLine => {
                format!("Skipping extremely long line at line {line} of {path}")
            }
            DiagnosticKind::NulByte => format!("NUL byte at line {line} of {path}"),
        }
    }
}

/// The outcome of parsing: the call as far as it could be read, and every problem on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub call: CallFile,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses a whole call file. Never fails: problems become diagnostics, and whether the result can
/// be placed is [`CallFile::validate`]'s call.
pub fn parse(bytes: &[u8]) -> Parsed {
    let mut call = CallFile::default();
    let mut diagnostics = Vec::new();

    for (index, raw_line) in lines(bytes).enumerate() {
        let line = index + 1;
        if raw_line.contains(&0) {
            diagnostics.push(Diagnostic::for_line(line, DiagnosticKind::NulByte));
        }
        if raw_line.len() >= MAX_LINE_LEN {
            diagnostics.push(Diagnostic::for_line(line, DiagnosticKind::LongLine));
            continue;
        }
        let cleaned = clean_line(until_nul(raw_line));
        if cleaned.is_empty() {
            continue;
        }
        let Some(colon) = cleaned.iter().position(|&byte| byte == b':') else {
            diagnostics.push(Diagnostic::for_line(line, DiagnosticKind::SyntaxError));
            continue;
        };
        let key = &cleaned[..colon];
        let value = trim_blanks_start(&cleaned[colon + 1..]);
        apply_setting(&mut call, &mut diagnostics, line, key, value);
    }

    Parsed { call, diagnostics }
}

/// Asterisk's `ast_true()`: `yes`, `true`, `y`, `t`, `1` or `on`, any case, nothing around them.
/// The value is read as a C string, up to its first NUL byte.
pub fn is_true(value: &[u8]) -> bool {
    const TRUE_WORDS: [&[u8]; 6] = [b"yes", b"true", b"y", b"t", b"1", b"on"];
    let value = until_nul(value);
    TRUE_WORDS.iter().any(|word| value.eq_ignore_ascii_case(word))
}

/// The keys pbx_spool knows; several spellings share one behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keyword {
    Channel,
    CallerId,
    Application,
    Data,
    MaxRetries,
    Codecs,
    Context,
    Extension,
    Priority,
    RetryTime,
    WaitTime,
    Retry,
    StartRetry,
    /// `EndRetry` and `AbortRetry`: an attempt finished (or was abandoned by a dead process).
    EndRetry,
    DelayedRetry,
    /// `Set` and `SetVar`.
    SetVariable,
    Account,
    AlwaysDelete,
    Archive,
    EarlyMedia,
}

const KEYWORDS: [(&[u8], Keyword); 22] = [
    (b"channel", Keyword::Channel),
    (b"callerid", Keyword::CallerId),
    (b"application", Keyword::Application),
    (b"data", Keyword::Data),
    (b"maxretries", Keyword::MaxRetries),
    (b"codecs", Keyword::Codecs),
    (b"context", Keyword::Context),
    (b"extension", Keyword::Extension),
    (b"priority", Keyword::Priority),
    (b"retrytime", Keyword::RetryTime),
    (b"waittime", Keyword::WaitTime),
    (b"retry", Keyword::Retry),
    (b"startretry", Keyword::StartRetry),
    (b"endretry", Keyword::EndRetry),
    (b"abortretry", Keyword::EndRetry),
    (b"delayedretry", Keyword::DelayedRetry),
    (b"setvar", Keyword::SetVariable),
    (b"set", Keyword::SetVariable),
    (b"account", Keyword::Account),
    (b"alwaysdelete", Keyword::AlwaysDelete),
    (b"archive", Keyword::Archive),
    (b"early_media", Keyword::EarlyMedia),
];

impl Keyword {
    /// Matches case-insensitively (ASCII only, like `strcasecmp` in the C locale) and exactly:
    /// blanks around the key make it unknown, as in pbx_spool.
    fn recognise(key: &[u8]) -> Option<Keyword> {
        KEYWORDS.iter().find(|(name, _)| key.eq_ignore_ascii_case(name)).map(|&(_, keyword)| keyword)
    }
}

fn apply_setting(call: &mut CallFile, diagnostics: &mut Vec<Diagnostic>, line: usize, key: &[u8], value: &[u8]) {
    let mut report = |kind| diagnostics.push(Diagnostic::for_key(line, kind, key));
    let Some(keyword) = Keyword::recognise(key) else {
        report(DiagnosticKind::UnknownKeyword);
        return;
    };
    match keyword {
        Keyword::Channel => match split_at_first(value, b'/') {
            Some((tech, dest)) => {
                call.tech = tech.to_vec();
                call.dest = dest.to_vec();
            }
            None => report(DiagnosticKind::ChannelForm),
        },
        Keyword::CallerId => {
            let (name, number) = callerid::split(value);
            call.cid_name = truncated(name, CALLERID_PART_MAX_LEN);
            call.cid_num = truncated(number, CALLERID_PART_MAX_LEN);
        }
        Keyword::Application => call.application = value.to_vec(),
        Keyword::Data => call.data = value.to_vec(),
        Keyword::MaxRetries => {
            call.max_retries = scan_i32(value).unwrap_or_else(|| {
                report(DiagnosticKind::InvalidMaxRetries);
                DEFAULT_MAX_RETRIES
            });
        }
        Keyword::Codecs => call.codecs.push(value.to_vec()),
        Keyword::Context => call.context = value.to_vec(),
        Keyword::Extension => call.extension = value.to_vec(),
        Keyword::Priority => {
            call.priority = scan_positive_i32(value).unwrap_or_else(|| {
                report(DiagnosticKind::InvalidPriority);
                DEFAULT_PRIORITY
            });
        }
        Keyword::RetryTime => {
            call.retry_time = scan_positive_i32(value).unwrap_or_else(|| {
                report(DiagnosticKind::InvalidRetryTime);
                DEFAULT_RETRY_TIME
            });
        }
        Keyword::WaitTime => {
            call.wait_time = scan_positive_i32(value).unwrap_or_else(|| {
                report(DiagnosticKind::InvalidWaitTime);
                DEFAULT_WAIT_TIME
            });
        }
        // Saturating: a hostile file with billions of Retry lines must not wrap or panic.
        Keyword::Retry => call.retries = call.retries.saturating_add(1),
        Keyword::StartRetry => {
            let pid = scan_decimal(value).and_then(|number| i64::try_from(number).ok());
            if pid.is_none() {
                report(DiagnosticKind::CallingPid);
            }
            call.calling_pid = pid.filter(|&pid| pid != 0);
        }
        Keyword::EndRetry => {
            call.calling_pid = None;
            call.retries = call.retries.saturating_add(1);
        }
        Keyword::DelayedRetry => {}
        Keyword::SetVariable => match split_at_first(value, b'=') {
            Some((name, variable_value)) => call.variables.push((name.to_vec(), variable_value.to_vec())),
            None => report(DiagnosticKind::MalformedSet),
        },
        Keyword::Account => call.account = value.to_vec(),
        Keyword::AlwaysDelete => call.always_delete = is_true(value),
        Keyword::Archive => call.archive = is_true(value),
        Keyword::EarlyMedia => call.early_media = is_true(value),
    }
}

/// Splits input into lines at `\n`, without the `\n`. A final line without `\n` counts; the
/// empty remainder after a final `\n` does not.
fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let has_lines = !bytes.is_empty();
    body.split(|&byte| byte == b'\n').take_while(move |_| has_lines)
}

/// Applies pbx_spool's per-line clean-up in its order: `#` comments, `;` comments with `\;`
/// escapes, then trailing blanks.
fn clean_line(content: &[u8]) -> Vec<u8> {
    let mut line = content.to_vec();
    if let Some(hash) = comment_hash_position(&line) {
        line.truncate(hash);
    }
    cut_semicolon_comment(&mut line);
    let kept = line.iter().rposition(|&byte| !is_blank(byte)).map_or(0, |last| last + 1);
    line.truncate(kept);
    line
}

/// A `#` starts a comment only at the start of the line or after a space or tab, so values such
/// as `SIP/100#2` keep their `#`.
fn comment_hash_position(line: &[u8]) -> Option<usize> {
    line.iter()
        .enumerate()
        .position(|(index, &byte)| byte == b'#' && (index == 0 || line[index - 1] == b' ' || line[index - 1] == b'\t'))
}

/// Cuts the line at the first `;` that is not escaped, turning each `\;` into `;`.
fn cut_semicolon_comment(line: &mut Vec<u8>) {
    let mut scan_from = 0;
    while scan_from < line.len() {
        let Some(offset) = line[scan_from..].iter().position(|&byte| byte == b';') else {
            return;
        };
        let semicolon = scan_from + offset;
        if semicolon > 0 && line[semicolon - 1] == b'\\' {
            line.remove(semicolon - 1);
            // The kept `;` now sits at `semicolon - 1`. pbx_spool resumes scanning one byte
            // further on, so the byte right after an escaped `;` is never looked at: in `\;;`
            // the second `;` does not start a comment. Reproduced for identical results.
            scan_from = semicolon + 1;
        } else {
            line.truncate(semicolon);
            return;
        }
    }
}

fn until_nul(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|&byte| byte == 0) {
        Some(nul) => &bytes[..nul],
        None => bytes,
    }
}

fn truncated(mut bytes: Vec<u8>, max_len: usize) -> Vec<u8> {
    bytes.truncate(max_len);
    bytes
}

/// Reads a decimal number the way `sscanf("%30d")` and `"%30ld"` do: leading C whitespace is
/// skipped, then an optional sign and digits, at most 30 characters in all; whatever follows is
/// ignored. `None` where sscanf would convert nothing.
fn scan_decimal(value: &[u8]) -> Option<i128> {
    let start = value.iter().position(|&byte| !is_c_space(byte)).unwrap_or(value.len());
    let field = &value[start..];
    let field = &field[..field.len().min(SCANF_NUMBER_WIDTH)];
    let (negative, digits) = match field.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, field),
    };
    let digit_count = digits.iter().take_while(|byte| byte.is_ascii_digit()).count();
    if digit_count == 0 {
        return None;
    }
    // At most 30 digits: below 10^30, far inside i128, so this never overflows; checked anyway
    // so that no input can panic.
    let magnitude = digits[..digit_count]
        .iter()
        .try_fold(0i128, |total, &digit| total.checked_mul(10)?.checked_add(i128::from(digit - b'0')))?;
    Some(if negative { -magnitude } else { magnitude })
}

/// `%30d` into an `int`. Out-of-range numbers count as unreadable (C would wrap or leave it
/// undefined; a call file asking for that is broken either way).
fn scan_i32(value: &[u8]) -> Option<i32> {
    scan_decimal(value).and_then(|number| i32::try_from(number).ok())
}

/// `%30d` where pbx_spool also rejects anything below 1.
fn scan_positive_i32(value: &[u8]) -> Option<i32> {
    scan_i32(value).filter(|&number| number >= 1)
}

/// C's `isspace()` in the C locale.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/var/spool/asterisk/outgoing/test.call";

    fn kinds(parsed: &Parsed) -> Vec<(usize, DiagnosticKind)> {
        parsed.diagnostics.iter().map(|diagnostic| (diagnostic.line, diagnostic.kind)).collect()
    }

    fn parse_str(text: &str) -> Parsed {
        parse(text.as_bytes())
    }

    // ---- A complete, typical file ----

    #[test]
    fn typical_application_call_file() {
        let parsed = parse_str(
            "Channel: PJSIP/100@trunk\n\
             CallerID: \"Wake Up\" <555-0100>\n\
             MaxRetries: 2\n\
             RetryTime: 60\n\
             WaitTime: 30\n\
             Application: Playback\n\
             Data: hello-world\n\
             Account: acct-7\n",
        );
        assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
        let call = &parsed.call;
        assert_eq!(call.tech, b"PJSIP");
        assert_eq!(call.dest, b"100@trunk");
        assert_eq!(call.channel(), b"PJSIP/100@trunk");
        assert_eq!(call.cid_name, b"Wake Up");
        assert_eq!(call.cid_num, b"5550100");
        assert_eq!(call.max_retries, 2);
        assert_eq!(call.retry_time, 60);
        assert_eq!(call.wait_time, 30);
        assert_eq!(call.application, b"Playback");
        assert_eq!(call.data, b"hello-world");
        assert_eq!(call.account, b"acct-7");
        assert!(call.is_application());
        assert_eq!(call.validate(), Ok(()));
    }

    #[test]
    fn typical_dialplan_call_file() {
        let parsed = parse_str("Channel: SIP/200\nContext: from-internal\nExtension: 300\nPriority: 2\n");
        assert!(parsed.diagnostics.is_empty());
        assert_eq!(parsed.call.context, b"from-internal");
        assert_eq!(parsed.call.extension, b"300");
        assert_eq!(parsed.call.priority, 2);
        assert!(!parsed.call.is_application());
        assert_eq!(parsed.call.validate(), Ok(()));
    }

    #[test]
    fn defaults_match_pbx_spool() {
        let call = CallFile::default();
        assert_eq!(call.priority, 1);
        assert_eq!(call.retry_time, 300);
        assert_eq!(call.wait_time, 45);
        assert_eq!(call.max_retries, 0);
        assert_eq!(call.retries, 0);
        assert_eq!(call.calling_pid, None);
        assert!(call.always_delete);
        assert!(!call.archive);
        assert!(!call.early_media);
        assert!(call.variables.is_empty() && call.codecs.is_empty());
    }

    #[test]
    fn empty_input_gives_defaults_and_is_invalid() {
        let parsed = parse(b"");
        assert_eq!(parsed.call, CallFile::default());
        assert!(parsed.diagnostics.is_empty());
        assert_eq!(parsed.call.validate(), Err(Invalid));
    }

    // ---- Line splitting, blanks, comments ----

    #[test]
    fn crlf_line_endings_are_trimmed() {
        let parsed = parse(b"Channel: SIP/100\r\nApplication: Echo\r\nData: x \t\r\n");
        assert!(parsed.diagnostics.is_empty());
        assert_eq!(parsed.call.dest, b"100");
        assert_eq!(parsed.call.application, b"Echo");
        assert_eq!(parsed.call.data, b"x");
    }

    #[test]
    fn last_line_without_newline_counts() {
        let parsed = parse(b"Channel: SIP/1\nApplication: Echo");
        assert_eq!(parsed.call.application, b"Echo");
    }

    #[test]
    fn empty_and_blank_lines_are_skipped_silently_but_counted() {
        let parsed = parse_str("\n   \n\t\r\nbogus\n");
        assert_eq!(kinds(&parsed), vec![(4, DiagnosticKind::SyntaxError)]);
    }

    #[test]
    fn value_leading_blanks_are_skipped_and_control_bytes_count_as_blanks() {
        let parsed = parse(b"Data:\t \x01 value\x02\n");
        assert_eq!(parsed.call.data, b"value");
    }

    #[test]
    fn hash_at_line_start_or_after_blank_is_a_comment() {
        let parsed = parse_str(
            "# a comment\n\
             #Channel: SIP/ignored\n\
             Data: foo #bar\n\
             Context: ctx\t#tabbed\n",
        );
        assert!(parsed.diagnostics.is_empty());
        assert!(parsed.call.tech.is_empty());
        assert_eq!(parsed.call.data, b"foo");
        assert_eq!(parsed.call.context, b"ctx");
    }

    #[test]
    fn hash_inside_a_word_is_kept() {
        let parsed = parse_str("Data: foo#bar\nExtension: *72#\nChannel: SIP/100#2\n");
        assert_eq!(parsed.call.data, b"foo#bar");
        assert_eq!(parsed.call.extension, b"*72#");
        assert_eq!(parsed.call.dest, b"100#2");
    }

    #[test]
    fn hash_after_colon_without_blank_is_kept() {
        let parsed = parse_str("Data:#1\n");
        assert_eq!(parsed.call.data, b"#1");
    }

    #[test]
    fn semicolon_starts_a_comment_anywhere() {
        let parsed = parse_str("Data: foo;bar\nContext: ;all comment\n; whole line\n");
        assert!(parsed.diagnostics.is_empty());
        assert_eq!(parsed.call.data, b"foo");
        assert!(parsed.call.context.is_empty());
    }

    #[test]
    fn escaped_semicolon_is_kept_without_its_backslash() {
        let parsed = parse_str("Data: a\\;b;comment\n");
        assert_eq!(parsed.call.data, b"a;b");
        let parsed = parse_str("Data: a\\;b\\;c\n");
        assert_eq!(parsed.call.data, b"a;b;c");
    }

    #[test]
    fn byte_right_after_an_escaped_semicolon_is_not_scanned() {
        // pbx_spool's loop skips one byte after an escaped `;`, so this `;` is not a comment.
        let parsed = parse_str("Data: a\\;;b\n");
        assert_eq!(parsed.call.data, b"a;;b");
        // One byte later it is.
        let parsed = parse_str("Data: a\\;x;b\n");
        assert_eq!(parsed.call.data, b"a;x");
    }

    #[test]
    fn escaped_semicolon_at_end_of_line_and_file() {
        assert_eq!(parse_str("Data: a\\;\n").call.data, b"a;");
        assert_eq!(parse_str("Data: a\\;").call.data, b"a;");
        assert_eq!(parse_str("Data: a\\;\r\n").call.data, b"a;");
    }

    #[test]
    fn double_backslash_still_escapes_the_semicolon() {
        // No escaping of the backslash itself: the byte before `;` is all that matters.
        let parsed = parse_str("Data: a\\\\;b\n");
        assert_eq!(parsed.call.data, b"a\\;b");
    }

    #[test]
    fn hash_comment_is_cut_before_semicolons_are_unescaped() {
        let parsed = parse_str("Data: x\\; #y;z\n");
        assert_eq!(parsed.call.data, b"x;");
        // `#` right after an escaped `;` is not a comment: `;` is neither space nor tab.
        let parsed = parse_str("Data: x\\;#y\n");
        assert_eq!(parsed.call.data, b"x;#y");
    }

    #[test]
    fn line_that_is_only_a_comment_after_trimming_is_skipped() {
        let parsed = parse_str("   ; comment\n\t# comment\n");
        assert!(parsed.diagnostics.is_empty());
    }

    // ---- Syntax errors and keys ----

    #[test]
    fn missing_colon_is_a_syntax_error_with_its_line_number() {
        let parsed = parse_str("Channel: SIP/1\nApplication Echo\nData: d\n");
        assert_eq!(kinds(&parsed), vec![(2, DiagnosticKind::SyntaxError)]);
        let diagnostic = &parsed.diagnostics[0];
        assert_eq!(diagnostic.severity, Severity::Notice);
        assert!(diagnostic.key.is_empty());
        assert_eq!(diagnostic.message(PATH), format!("Syntax error at line 2 of {PATH}"));
        assert!(parsed.call.application.is_empty());
        assert_eq!(parsed.call.data, b"d");
    }

    #[test]
    fn colon_hidden_in_a_comment_does_not_count() {
        let parsed = parse_str("Channel ;: SIP/1\n");
        assert_eq!(kinds(&parsed), vec![(1, DiagnosticKind::SyntaxError)]);
    }

    #[test]
    fn keys_are_case_insensitive() {
        let parsed = parse_str("CHANNEL: SIP/1\napplication: Echo\nsEtVaR: a=b\nEARLY_MEDIA: yes\n");
        assert!(parsed.diagnostics.is_empty());
        assert_eq!(parsed.call.tech, b"SIP");
        assert_eq!(parsed.call.application, b"Echo");
        assert_eq!(parsed.call.variables, vec![(b"a".to_vec(), b"b".to_vec())]);
        assert!(parsed.call.early_media);
    }

    #[test]
    fn blanks_around_the_key_make_it_unknown() {
        let parsed = parse_str("Channel : SIP/1\n  Data: x\n");
        assert_eq!(kinds(&parsed), vec![(1, DiagnosticKind::UnknownKeyword), (2, DiagnosticKind::UnknownKeyword)]);
        assert_eq!(parsed.diagnostics[0].key, b"Channel ");
        assert_eq!(parsed.diagnostics[1].key, b"  Data");
        assert!(parsed.call.tech.is_empty() && parsed.call.data.is_empty());
    }

    #[test]
    fn unknown_keyword_reports_the_key_as_written() {
        let parsed = parse_str("Channel: SIP/1\nFooBar: baz\n");
        let diagnostic = &parsed.diagnostics[0];
        assert_eq!(diagnostic.kind, DiagnosticKind::UnknownKeyword);
        assert_eq!(diagnostic.severity, Severity::Warning);
        assert_eq!(diagnostic.key, b"FooBar");
        assert_eq!(diagnostic.message(PATH), format!("Unknown keyword 'FooBar' at line 2 of {PATH}"));
    }

    #[test]
    fn empty_key_is_unknown() {
        let parsed = parse_str(": value\n");
        assert_eq!(kinds(&parsed), vec![(1, DiagnosticKind::UnknownKeyword)]);
        assert!(parsed.diagnostics[0].key.is_empty());
    }

    #[test]
    fn value_is_everything_after_the_first_colon() {
        let parsed = parse_str("Data: a:b:c\nChannel: IAX2/user:secret@host/100\n");
        assert_eq!(parsed.call.data, b"a:b:c");
        assert_eq!(parsed.call.tech, b"IAX2");
        assert_eq!(parsed.call.dest, b"user:secret@host/100");
    }

    #[test]
    fn byte_order_mark_makes_the_first_key_unknown() {
        let parsed = parse(b"\xEF\xBB\xBFChannel: SIP/1\nApplication: Echo\n");
        assert_eq!(kinds(&parsed), vec![(1, DiagnosticKind::UnknownKeyword)]);
        assert_eq!(parsed.diagnostics[0].key, b"\xEF\xBB\xBFChannel");
        assert!(parsed.call.tech.is_empty());
        assert_eq!(parsed.call.validate(), Err(Invalid));
    }

    #[test]
    fn later_lines_override_earlier_ones() {
        let parsed = parse_str("Channel: SIP/1\nChannel: SIP/2\nData: a\nData: b\nPriority: 3\nPriority: 4\n");
        assert_eq!(parsed.call.dest, b"2");
        assert_eq!(parsed.call.data, b"b");
        assert_eq!(parsed.call.priority, 4);
    }

    #[test]
    fn empty_values_are_accepted_and_override() {
        let parsed = parse_str("Data: x\nData:\nContext:   \n");
        assert!(parsed.diagnostics.is_empty());
        assert!(parsed.call.data.is_empty());
        assert!(parsed.call.context.is_empty());
    }

    // ---- Channel ----

    #[test]
    fn channel_without_slash_keeps_the_earlier_channel() {
        let parsed = parse_str("Channel: SIP/1\nChannel: Local\n");
        assert_eq!(kinds(&parsed), vec![(2, DiagnosticKind::ChannelForm)]);
        assert_eq!(parsed.diagnostics[0].severity, Severity::Notice);
        assert_eq!(parsed.diagnostics[0].key, b"Channel");
        assert_eq!(
            parsed.diagnostics[0].message(PATH),
            format!("Channel should be in form Tech/Dest at line 2 of {PATH}")
        );
        assert_eq!(parsed.call.channel(), b"SIP/1");
    }

    #[test]
    fn channel_splits_at_the_first_slash_only() {
        let parsed = parse_str("Channel: Local/100@default/n\n");
        assert_eq!(parsed.call.tech, b"Local");
        assert_eq!(parsed.call.dest, b"100@default/n");
    }

    #[test]
    fn channel_with_empty_tech_or_dest_is_stored_but_invalid() {
        let parsed = parse_str("Channel: /100\nApplication: Echo\n");
        assert!(parsed.call.tech.is_empty());
        assert_eq!(parsed.call.validate(), Err(Invalid));
        let parsed = parse_str("Channel: SIP/\nApplication: Echo\n");
        assert!(parsed.call.dest.is_empty());
        assert_eq!(parsed.call.validate(), Err(Invalid));
    }

    // ---- CallerID ----

    #[test]
    fn caller_id_is_split_into_name_and_number() {
        let parsed = parse_str("CallerID: Alice <(555) 010-9999>\n");
        assert_eq!(parsed.call.cid_name, b"Alice");
        assert_eq!(parsed.call.cid_num, b"5550109999");
        let parsed = parse_str("CallerID: 5551234\n");
        assert!(parsed.call.cid_name.is_empty());
        assert_eq!(parsed.call.cid_num, b"5551234");
    }

    #[test]
    fn caller_id_parts_are_truncated_to_79_bytes() {
        let long_name = "n".repeat(200);
        let long_number = "1".repeat(200);
        let parsed = parse_str(&format!("CallerID: \"{long_name}\" <{long_number}>\n"));
        assert_eq!(parsed.call.cid_name, "n".repeat(79).into_bytes());
        assert_eq!(parsed.call.cid_num, "1".repeat(79).into_bytes());
    }

    #[test]
    fn later_caller_id_replaces_both_parts() {
        let parsed = parse_str("CallerID: Bob <1>\nCallerID: 2\n");
        assert!(parsed.call.cid_name.is_empty());
        assert_eq!(parsed.call.cid_num, b"2");
    }

    #[test]
    fn escaped_semicolon_reaches_the_caller_id() {
        let parsed = parse_str("CallerID: \"A\\;B\" <1>\n");
        assert_eq!(parsed.call.cid_name, b"A;B");
    }

    // ---- Numbers ----

    #[test]
    fn numbers_follow_sscanf() {
        let parsed = parse_str("MaxRetries: +3 tries\nPriority: 7abc\nRetryTime: 0012\nWaitTime: 9.5\n");
        assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
        assert_eq!(parsed.call.max_retries, 3);
        assert_eq!(parsed.call.priority, 7);
        assert_eq!(parsed.call.retry_time, 12);
        assert_eq!(parsed.call.wait_time, 9);
    }

    #[test]
    fn max_retries_may_be_negative() {
        let parsed = parse_str("MaxRetries: -1\n");
        assert!(parsed.diagnostics.is_empty());
        assert_eq!(parsed.call.max_retries, -1);
    }

    #[test]
    fn invalid_max_retries_warns_and_resets_to_zero() {
        let parsed = parse_str("MaxRetries: 5\n\nMaxRetries: lots\n");
        assert_eq!(kinds(&parsed), vec![(3, DiagnosticKind::InvalidMaxRetries)]);
        assert_eq!(parsed.call.max_retries, 0);
        assert_eq!(parsed.diagnostics[0].key, b"MaxRetries");
        assert_eq!(parsed.diagnostics[0].message(PATH), format!("Invalid max retries at line 3 of {PATH}"));
    }

    #[test]
    fn invalid_priority_warns_and_uses_one() {
        for bad in ["0", "-4", "x", "", "-", "+"] {
            let parsed = parse_str(&format!("Priority: 9\nPriority: {bad}\n"));
            assert_eq!(kinds(&parsed), vec![(2, DiagnosticKind::InvalidPriority)], "value {bad:?}");
            assert_eq!(parsed.call.priority, 1);
        }
        let parsed = parse_str("Priority: 0\n");
        assert_eq!(parsed.diagnostics[0].message(PATH), format!("Invalid priority at line 1 of {PATH}"));
    }

    #[test]
    fn invalid_retry_time_warns_and_uses_300() {
        let parsed = parse_str("Channel: SIP/1\nRetryTime: 0\n");
        assert_eq!(kinds(&parsed), vec![(2, DiagnosticKind::InvalidRetryTime)]);
        assert_eq!(parsed.call.retry_time, 300);
        assert_eq!(parsed.diagnostics[0].message(PATH), format!("Invalid retrytime at line 2 of {PATH}"));
    }

    #[test]
    fn invalid_wait_time_warns_and_uses_45() {
        let parsed = parse_str("WaitTime: 10\nWaitTime: soon\n");
        assert_eq!(kinds(&parsed), vec![(2, DiagnosticKind::InvalidWaitTime)]);
        assert_eq!(parsed.call.wait_time, 45);
        assert_eq!(parsed.diagnostics[0].message(PATH), format!("Invalid waittime at line 2 of {PATH}"));
    }

    #[test]
    fn numbers_overflowing_i32_are_invalid() {
        let parsed = parse_str(
            "MaxRetries: 2147483648\nPriority: 99999999999\nRetryTime: 2147483647\n\
             WaitTime: -2147483649\n",
        );
        assert_eq!(
            kinds(&parsed),
            vec![
                (1, DiagnosticKind::InvalidMaxRetries),
                (2, DiagnosticKind::InvalidPriority),
                (4, DiagnosticKind::InvalidWaitTime)
            ]
        );
        assert_eq!(parsed.call.max_retries, 0);
        assert_eq!(parsed.call.priority, 1);
        assert_eq!(parsed.call.retry_time, i32::MAX);
        assert_eq!(parsed.call.wait_time, 45);
        assert_eq!(parse_str("MaxRetries: -2147483648\n").call.max_retries, i32::MIN);
    }

    #[test]
    fn number_field_is_at_most_30_characters_wide() {
        // 30 zeros fill the field; the 7 after them is never read.
        let parsed = parse_str(&format!("Priority: {}7\n", "0".repeat(30)));
        assert_eq!(kinds(&parsed), vec![(1, DiagnosticKind::InvalidPriority)]);
        // The sign counts towards the width.
        let parsed = parse_str(&format!("MaxRetries: -{}5\n", "0".repeat(29)));
        assert_eq!(parsed.call.max_retries, 0);
        assert!(parsed.diagnostics.is_empty());
        let parsed = parse_str(&format!("MaxRetries: {}5\n", "0".repeat(29)));
        assert_eq!(parsed.call.max_retries, 5);
    }

    #[test]
    fn scan_decimal_edge_cases() {
        assert_eq!(scan_decimal(b"42"), Some(42));
        assert_eq!(scan_decimal(b" \t\x0b\x0c-42x"), Some(-42));
        assert_eq!(scan_decimal(b"+0"), Some(0));
        assert_eq!(scan_decimal(b"0x1f"), Some(0));
        assert_eq!(scan_decimal(b"--1"), None);
        assert_eq!(scan_decimal(b"- 1"), None);
        assert_eq!(scan_decimal(b""), None);
        assert_eq!(scan_decimal(b"\x01 5"), None);
        assert_eq!(scan_decimal("9".repeat(40).as_bytes()), Some(10i128.pow(30) - 1));
    }

    // ---- Retry bookkeeping ----

    #[test]
    fn bookkeeping_lines_count_attempts_and_track_the_calling_pid() {
        let parsed = parse_str(
            "Channel: SIP/1\nApplication: Echo\nMaxRetries: 3\n\
             \nStartRetry: 12345 1 (1700000000)\n\
             \nEndRetry: 12345 1 (1700000030)\n\
             \nStartRetry: 12345 2 (1700000330)\n",
        );
        assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
        assert_eq!(parsed.call.retries, 1);
        assert_eq!(parsed.call.calling_pid, Some(12345));
    }

    #[test]
    fn abort_retry_closes_the_attempt_of_a_dead_process() {
        let parsed = parse_str(
            "StartRetry: 111 1 (1700000000)\n\
             \nAbortRetry: 222 1 (1700000100)\n\
             \nStartRetry: 222 2 (1700000400)\n\
             \nEndRetry: 222 2 (1700000430)\n",
        );
        assert_eq!(parsed.call.retries, 2);
        assert_eq!(parsed.call.calling_pid, None);
    }

    #[test]
    fn retry_and_delayed_retry() {
        let parsed = parse_str("Retry: 1\nRetry:\nDelayedRetry: 5 1 (1)\n");
        assert!(parsed.diagnostics.is_empty());
        assert_eq!(parsed.call.retries, 2);
        assert_eq!(parsed.call.calling_pid, None);
    }

    #[test]
    fn start_retry_without_pid_warns_and_clears_the_pid() {
        let parsed = parse_str("StartRetry: 9 1 (1)\nStartRetry: ?\n");
        assert_eq!(kinds(&parsed), vec![(2, DiagnosticKind::CallingPid)]);
        assert_eq!(parsed.call.calling_pid, None);
        assert_eq!(parsed.diagnostics[0].message(PATH), "Unable to retrieve calling PID!");
    }

    #[test]
    fn start_retry_pid_zero_means_nobody_and_large_pids_fit() {
        let parsed = parse_str("StartRetry: 0 1 (1)\n");
        assert!(parsed.diagnostics.is_empty());
        assert_eq!(parsed.call.calling_pid, None);
        let parsed = parse_str("StartRetry: 4294967296 1 (1)\n");
        assert_eq!(parsed.call.calling_pid, Some(4_294_967_296));
        let parsed = parse_str("StartRetry: 99999999999999999999 1 (1)\n");
        assert_eq!(kinds(&parsed), vec![(1, DiagnosticKind::CallingPid)]);
    }

    // ---- Set / SetVar ----

    #[test]
    fn set_variables_keep_file_order_and_duplicates() {
        let parsed = parse_str("Set: B=2\nSetVar: A=1\nSet: CDR(userfield)=x\nSet: B=3\nset: EMPTY=\nSet: =nameless\n");
        assert!(parsed.diagnostics.is_empty());
        let variables: Vec<(&[u8], &[u8])> =
            parsed.call.variables.iter().map(|(name, value)| (name.as_slice(), value.as_slice())).collect();
        assert_eq!(
            variables,
            vec![
                (&b"B"[..], &b"2"[..]),
                (b"A", b"1"),
                (b"CDR(userfield)", b"x"),
                (b"B", b"3"),
                (b"EMPTY", b""),
                (b"", b"nameless"),
            ]
        );
    }

    #[test]
    fn set_splits_at_the_first_equals_and_keeps_blanks() {
        let parsed = parse_str("Set: FOO = a=b\n");
        assert_eq!(parsed.call.variables, vec![(b"FOO ".to_vec(), b" a=b".to_vec())]);
    }

    #[test]
    fn set_without_equals_warns_with_the_key_as_written() {
        let parsed = parse_str("setVAR: lonely\nSet: x\n");
        assert_eq!(kinds(&parsed), vec![(1, DiagnosticKind::MalformedSet), (2, DiagnosticKind::MalformedSet)]);
        assert_eq!(
            parsed.diagnostics[0].message(PATH),
            "Malformed \"setVAR\" argument.  Should be \"setVAR: variable=value\""
        );
        assert_eq!(
            parsed.diagnostics[1].message(PATH),
            "Malformed \"Set\" argument.  Should be \"Set: variable=value\""
        );
        assert!(parsed.call.variables.is_empty());
    }

    // ---- Codecs and flags ----

    #[test]
    fn codecs_accumulate_in_file_order() {
        let parsed = parse_str("Codecs: ulaw,alaw\nCodecs: !all,g722\n");
        assert_eq!(parsed.call.codecs, vec![b"ulaw,alaw".to_vec(), b"!all,g722".to_vec()]);
    }

    #[test]
    fn flags_use_ast_true() {
        let parsed = parse_str("AlwaysDelete: no\nArchive: Yes\nearly_media: ON\n");
        assert!(!parsed.call.always_delete);
        assert!(parsed.call.archive);
        assert!(parsed.call.early_media);
        let parsed = parse_str("AlwaysDelete: maybe\nArchive: yes\nArchive: 0\n");
        assert!(!parsed.call.always_delete);
        assert!(!parsed.call.archive);
    }

    #[test]
    fn early_media_spelling_is_exact() {
        let parsed = parse_str("EarlyMedia: yes\nearly-media: yes\n");
        assert_eq!(kinds(&parsed), vec![(1, DiagnosticKind::UnknownKeyword), (2, DiagnosticKind::UnknownKeyword)]);
        assert!(!parsed.call.early_media);
    }

    #[test]
    fn is_true_accepts_exactly_the_asterisk_words() {
        for word in ["yes", "YES", "true", "True", "y", "Y", "t", "1", "on", "oN"] {
            assert!(is_true(word.as_bytes()), "{word}");
        }
        for word in ["", "no", "0", "2", "yes ", " yes", "yess", "enabled", "off"] {
            assert!(!is_true(word.as_bytes()), "{word:?}");
        }
        assert!(is_true(b"yes\0garbage"));
    }

    // ---- Validation ----

    #[test]
    fn validation_needs_tech_dest_and_a_target() {
        let valid_app = parse_str("Channel: SIP/1\nApplication: Echo\n").call;
        assert_eq!(valid_app.validate(), Ok(()));
        let valid_exten = parse_str("Channel: SIP/1\nExtension: s\n").call;
        assert_eq!(valid_exten.validate(), Ok(()));
        let no_target = parse_str("Channel: SIP/1\nContext: c\nData: d\n").call;
        assert_eq!(no_target.validate(), Err(Invalid));
        let no_channel = parse_str("Application: Echo\n").call;
        assert_eq!(no_channel.validate(), Err(Invalid));
    }

    #[test]
    fn application_wins_over_extension() {
        let call = parse_str("Channel: SIP/1\nExtension: s\nApplication: Echo\n").call;
        assert!(call.is_application());
    }

    #[test]
    fn invalid_message_matches_pbx_spool() {
        assert_eq!(
            Invalid.message(PATH),
            format!(
                "At least one of app or extension must be specified, along with tech and dest \
                 in file {PATH}"
            )
        );
    }

    // ---- Long lines ----

    fn data_line_of_len(len: usize) -> Vec<u8> {
        let mut line = b"Data: ".to_vec();
        line.resize(len, b'x');
        line
    }

    #[test]
    fn line_of_1023_bytes_is_accepted() {
        let mut file = data_line_of_len(MAX_LINE_LEN - 1);
        file.push(b'\n');
        let parsed = parse(&file);
        assert!(parsed.diagnostics.is_empty());
        assert_eq!(parsed.call.data.len(), MAX_LINE_LEN - 1 - b"Data: ".len());
    }

    #[test]
    fn line_of_1024_bytes_is_skipped_whole() {
        let mut file = b"Data: short\n".to_vec();
        file.extend(data_line_of_len(MAX_LINE_LEN));
        file.extend_from_slice(b"\nContext: after\n");
        let parsed = parse(&file);
        assert_eq!(kinds(&parsed), vec![(2, DiagnosticKind::LongLine)]);
        assert_eq!(parsed.diagnostics[0].severity, Severity::Warning);
        assert_eq!(parsed.diagnostics[0].message(PATH), format!("Skipping extremely long line at line 2 of {PATH}"));
        assert_eq!(parsed.call.data, b"short");
        assert_eq!(parsed.call.context, b"after");
    }

    #[test]
    fn carriage_return_counts_towards_the_length() {
        let mut file = data_line_of_len(MAX_LINE_LEN - 1);
        file.extend_from_slice(b"\r\n");
        let parsed = parse(&file);
        assert_eq!(kinds(&parsed), vec![(1, DiagnosticKind::LongLine)]);
    }

    #[test]
    fn long_final_line_without_newline_is_skipped() {
        let mut file = b"Data: kept\n".to_vec();
        file.extend(data_line_of_len(5000));
        let parsed = parse(&file);
        assert_eq!(kinds(&parsed), vec![(2, DiagnosticKind::LongLine)]);
        assert_eq!(parsed.call.data, b"kept");
    }

    #[test]
    fn very_long_line_is_one_line_for_numbering() {
        let mut file = data_line_of_len(10_000);
        file.extend_from_slice(b"\nbad line\n");
        let parsed = parse(&file);
        assert_eq!(kinds(&parsed), vec![(1, DiagnosticKind::LongLine), (2, DiagnosticKind::SyntaxError)]);
    }

    // ---- Bytes that are not text ----

    #[test]
    fn invalid_utf8_survives_byte_for_byte() {
        let parsed = parse(b"Data: caf\xe9 \xff\xfe\nSet: V\xc3=\x80\x81\nChannel: SIP/\xf0\x9f\n");
        assert!(parsed.diagnostics.is_empty());
        assert_eq!(parsed.call.data, b"caf\xe9 \xff\xfe");
        assert_eq!(parsed.call.variables, vec![(b"V\xc3".to_vec(), b"\x80\x81".to_vec())]);
        assert_eq!(parsed.call.dest, b"\xf0\x9f");
    }

    #[test]
    fn high_bytes_are_not_trimmed_as_blanks() {
        let parsed = parse(b"Data: \xa0x\xa0\n");
        assert_eq!(parsed.call.data, b"\xa0x\xa0");
    }

    #[test]
    fn non_utf8_unknown_key_message_is_lossy_but_does_not_fail() {
        let parsed = parse(b"K\xffy: v\n");
        assert_eq!(parsed.diagnostics[0].key, b"K\xffy");
        assert_eq!(parsed.diagnostics[0].message(PATH), format!("Unknown keyword 'K\u{fffd}y' at line 1 of {PATH}"));
    }

    #[test]
    fn nul_byte_ends_the_value_and_is_reported() {
        let parsed = parse(b"Channel: SIP/1\nData: visible\0hidden\nContext: c\n");
        assert_eq!(kinds(&parsed), vec![(2, DiagnosticKind::NulByte)]);
        assert_eq!(parsed.diagnostics[0].severity, Severity::Warning);
        assert_eq!(parsed.diagnostics[0].message(PATH), format!("NUL byte at line 2 of {PATH}"));
        assert_eq!(parsed.call.data, b"visible");
        assert_eq!(parsed.call.context, b"c");
    }

    #[test]
    fn nul_byte_before_the_colon_also_yields_the_line_s_own_diagnostic() {
        let parsed = parse(b"Data\0: x\n");
        assert_eq!(kinds(&parsed), vec![(1, DiagnosticKind::NulByte), (1, DiagnosticKind::SyntaxError)]);
        assert!(parsed.call.data.is_empty());
    }

    #[test]
    fn nul_byte_in_a_long_line_is_reported_too() {
        let mut file = data_line_of_len(MAX_LINE_LEN);
        file[10] = 0;
        let parsed = parse(&file);
        assert_eq!(kinds(&parsed), vec![(1, DiagnosticKind::NulByte), (1, DiagnosticKind::LongLine)]);
    }

    #[test]
    fn only_newlines_and_lone_newline() {
        assert!(parse(b"\n").diagnostics.is_empty());
        assert!(parse(b"\n\n\n\n").diagnostics.is_empty());
        assert_eq!(kinds(&parse(b"\n\n\nx")), vec![(4, DiagnosticKind::SyntaxError)]);
    }

    #[test]
    fn lines_iterator_counts_like_fgets() {
        assert_eq!(lines(b"").count(), 0);
        assert_eq!(lines(b"\n").count(), 1);
        assert_eq!(lines(b"a").count(), 1);
        assert_eq!(lines(b"a\n").count(), 1);
        assert_eq!(lines(b"a\nb").count(), 2);
        assert_eq!(lines(b"a\n\n").count(), 2);
    }

    #[test]
    fn binary_garbage_does_not_panic() {
        let garbage: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let parsed = parse(&garbage);
        assert!(parsed.diagnostics.iter().any(|diagnostic| diagnostic.kind == DiagnosticKind::NulByte));
    }

    // ---- Property-style: nothing panics, invariants hold ----

    use crate::testing::XorShift;

    /// Fragments that steer random input towards the parser's interesting paths.
    const FRAGMENTS: [&[u8]; 24] = [
        b"Channel:",
        b"CallerID:",
        b"Set:",
        b"SetVar:",
        b"Priority:",
        b"MaxRetries:",
        b"StartRetry:",
        b"EndRetry:",
        b"Codecs:",
        b"early_media:",
        b"\\;",
        b";",
        b" #",
        b"#",
        b"\n",
        b"\r\n",
        b"=",
        b"/",
        b"\"",
        b"<",
        b">",
        b"\0",
        b"-2147483649",
        b"\xEF\xBB\xBF",
    ];

    #[test]
    fn pseudo_random_inputs_never_panic_and_keep_invariants() {
        let mut random = XorShift(0x2545_f491_4f6c_dd1d);
        for round in 0..3000 {
            let mut input = Vec::new();
            let pieces = random.below(60);
            for _ in 0..pieces {
                if random.below(3) == 0 {
                    input.extend_from_slice(FRAGMENTS[random.below(FRAGMENTS.len())]);
                } else {
                    let run = random.below(if round % 50 == 0 { 1500 } else { 12 });
                    for _ in 0..run {
                        input.push(random.next() as u8);
                    }
                }
            }
            let parsed = parse(&input);
            let line_count = lines(&input).count();
            let call = &parsed.call;
            for diagnostic in &parsed.diagnostics {
                assert!(diagnostic.line >= 1 && diagnostic.line <= line_count);
                assert_eq!(diagnostic.severity, diagnostic.kind.severity());
                let _ = diagnostic.message(PATH);
            }
            assert!(call.cid_name.len() <= CALLERID_PART_MAX_LEN);
            assert!(call.cid_num.len() <= CALLERID_PART_MAX_LEN);
            assert!(call.priority >= 1 && call.retry_time >= 1 && call.wait_time >= 1);
            assert_ne!(call.calling_pid, Some(0));
            for value in [&call.tech, &call.dest, &call.data, &call.application] {
                assert!(!value.contains(&0) && !value.contains(&b'\n'));
                assert!(value.len() < MAX_LINE_LEN);
            }
            let _ = call.validate();
            let _ = call.channel();
        }
    }
}
