//! The `callfile` tool's logic: checking call files offline with the spool's own parser and policy, and
//! submitting them to `<spool>/outgoing` so that the spool never sees a partial file (written, fsynced and
//! dated outside `outgoing/`, then renamed in under a name that cannot collide).
//!
//! No Asterisk here: the one check that needs it (dangerous dialplan functions) is reported as a note.
//! Argument parsing and exit codes live in `src/bin/callfile.rs`; everything else is here and unit-tested.

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::ffi::CString;
use std::fmt;
use std::fs::{self, File, OpenOptions, Permissions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::bookkeeping::{self, Millis, ReadError};
use crate::callfile::{self, DiagnosticKind};
use crate::config::{self, ConfigEntry};
use crate::policy::{self, FirstLegMode, FunctionRegistry, Policy};

/// What `bulk` replaces with each number in the template. Not `${NUMBER}`: call files legitimately carry
/// Asterisk's own `${...}` expressions, which must reach Asterisk untouched.
pub const NUMBER_PLACEHOLDER: &str = "{number}";
pub const DEFAULT_ASTERISK_CONF: &str = "/etc/asterisk/asterisk.conf";
pub const DEFAULT_SPOOL_DIR: &str = "/var/spool/asterisk";
/// Name prefix of submitted files when neither `--name` nor the source file's name gives one.
pub const DEFAULT_PREFIX: &str = "callfile";
/// Mode of submitted files: Asterisk (owner or group) must be able to append its retry lines.
pub const CALL_FILE_MODE: u32 = 0o660;

const TEMP_PREFIX: &str = ".callfile-";
const MAX_PREFIX_LEN: usize = 100;
/// How many bulk errors the summary shows before "and N more".
const SHOWN_ERRORS: usize = 5;
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// How a command ended, as the process exit status. Ordered by severity, so results combine with `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Everything would be (or was) placed.
    Success,
    /// At least one call file is invalid or refused by the policy.
    Refused,
    /// Usage or I/O error.
    Failure,
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Success => 0,
            Exit::Refused => 1,
            Exit::Failure => 2,
        }
    }
}

/// A command that could not do its job: one sentence for stderr, and the exit status it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub exit: Exit,
    pub message: String,
}

impl Error {
    /// Bad arguments or input the tool cannot use (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Error { exit: Exit::Failure, message: message.into() }
    }

    /// The call file would not be placed (exit 1).
    pub fn refused(message: impl Into<String>) -> Self {
        Error { exit: Exit::Refused, message: message.into() }
    }

    fn io(what: impl fmt::Display, err: &io::Error) -> Self {
        Error::usage(format!("{what}: {err}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

// ---------------------------------------------------------------------------------------------------------
// Settings: where the spool is, and the rules it applies.
// ---------------------------------------------------------------------------------------------------------

/// Options every command accepts.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `--spool DIR`: the spool directory (the parent of `outgoing/`).
    pub spool: Option<PathBuf>,
    /// `--asterisk-conf PATH`, where `astspooldir` is looked up when `--spool` is not given.
    pub asterisk_conf: Option<PathBuf>,
    /// `--config PATH`: pbx_spool_rs.conf; without it the defaults apply.
    pub config: Option<PathBuf>,
}

/// What the spool checks before it dials, as far as it can be known offline.
#[derive(Debug, Clone)]
pub struct Rules {
    pub policy: Policy,
    pub max_file_size: u64,
    pub owner_check: bool,
    /// User names or uids; empty means "Asterisk's own user and root".
    pub allowed_owners: Vec<String>,
}

impl Rules {
    /// pbx_spool_rs's defaults (what an absent pbx_spool_rs.conf means).
    pub fn defaults() -> Result<Rules, Error> {
        Rules::from_entries(&[], "the built-in defaults").map(|(rules, _)| rules)
    }

    /// The rules in pbx_spool_rs.conf at `path`, with the warnings it produced.
    pub fn from_config_file(path: &Path) -> Result<(Rules, Vec<String>), Error> {
        let text = fs::read(path).map_err(|err| Error::io(format!("Cannot read {}", path.display()), &err))?;
        let shown = path.display().to_string();
        let entries = config_entries(&String::from_utf8_lossy(&text), &shown)?;
        Rules::from_entries(&entries, &shown)
    }

    fn from_entries(entries: &[ConfigEntry], shown: &str) -> Result<(Rules, Vec<String>), Error> {
        match config::from_entries(entries) {
            Ok((config, warnings)) => {
                let warnings = warnings
                    .into_iter()
                    .map(|problem| format!("{shown} line {}: {}", problem.line, problem.message))
                    .collect();
                let rules = Rules {
                    policy: config.policy,
                    max_file_size: config.max_file_size,
                    owner_check: config.owner_check,
                    allowed_owners: config.allowed_owners,
                };
                Ok((rules, warnings))
            }
            Err(problems) => {
                let lines: Vec<String> =
                    problems.iter().map(|problem| format!("line {}: {}", problem.line, problem.message)).collect();
                Err(Error::usage(format!("{shown} has errors: {}", lines.join("; "))))
            }
        }
    }
}

/// One `key = value` (or `key => value`) line of an Asterisk-style configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IniEntry {
    line: u32,
    category: String,
    /// Whatever follows `]` on the category line, such as `(!)` for a template.
    category_options: String,
    key: String,
    value: String,
}

/// A minimal reader for Asterisk's configuration syntax: `[category]`, `key = value`, `key => value`,
/// `;` comments (`\;` is a literal `;`) and `;-- ... --;` block comments. No `#include`, `#exec` or
/// templates: those need Asterisk's own loader.
fn read_ini(text: &str, shown: &str) -> Result<Vec<IniEntry>, Error> {
    let mut entries = Vec::new();
    let mut category: Option<(String, String)> = None;
    let mut in_block_comment = false;
    for (index, raw_line) in text.lines().enumerate() {
        let line_number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let mut line = raw_line.to_string();
        if in_block_comment {
            let Some(end) = line.find("--;") else {
                continue;
            };
            line.replace_range(..end + 3, "");
        }
        let (content, opens_block) = strip_comment(&line);
        in_block_comment = opens_block;
        let content = content.trim();
        if content.is_empty() {
            continue;
        }
        if content.starts_with('#') {
            return Err(Error::usage(format!(
                "{shown} line {line_number}: '{content}' cannot be followed offline (#include and #exec need \
                 Asterisk: use `asterisk -rx 'spool check FILE'`)"
            )));
        }
        if let Some(rest) = content.strip_prefix('[') {
            let Some(close) = rest.find(']') else {
                return Err(Error::usage(format!("{shown} line {line_number}: unterminated category name")));
            };
            category = Some((rest[..close].trim().to_string(), rest[close + 1..].trim().to_string()));
            continue;
        }
        let Some((category_name, category_options)) = &category else {
            return Err(Error::usage(format!("{shown} line {line_number}: a setting before any [category]")));
        };
        let Some((key, value)) = content.split_once('=') else {
            return Err(Error::usage(format!("{shown} line {line_number}: expected 'key = value'")));
        };
        let value = value.strip_prefix('>').unwrap_or(value);
        entries.push(IniEntry {
            line: line_number,
            category: category_name.clone(),
            category_options: category_options.clone(),
            key: key.trim().to_string(),
            value: value.trim().to_string(),
        });
    }
    Ok(entries)
}

/// Cuts a line at its first unescaped `;`, turning `\;` into `;`. Also says whether the comment opens a
/// `;--` block comment that does not end on this line.
fn strip_comment(line: &str) -> (String, bool) {
    let mut content = String::with_capacity(line.len());
    let mut chars = line.char_indices().peekable();
    while let Some((at, character)) = chars.next() {
        match character {
            '\\' if chars.peek().map(|&(_, next)| next) == Some(';') => {
                content.push(';');
                chars.next();
            }
            ';' => {
                let comment = &line[at..];
                let opens_block = comment.starts_with(";--") && !comment[3..].contains("--;");
                return (content, opens_block);
            }
            other => content.push(other),
        }
    }
    (content, false)
}

/// pbx_spool_rs.conf's entries, in file order. Templates (`[name](!)`, `[name](template)`) are refused:
/// only Asterisk's loader resolves them.
pub fn config_entries(text: &str, shown: &str) -> Result<Vec<ConfigEntry>, Error> {
    read_ini(text, shown)?
        .into_iter()
        .map(|entry| {
            if !entry.category_options.is_empty() {
                return Err(Error::usage(format!(
                    "{shown} line {}: category options '{}' (templates) cannot be followed offline",
                    entry.line, entry.category_options
                )));
            }
            Ok(ConfigEntry { category: entry.category, key: entry.key, value: entry.value, line: entry.line })
        })
        .collect()
}

/// `astspooldir` from the `[directories]` section of asterisk.conf's text.
pub fn spool_dir_from_asterisk_conf(text: &str) -> Option<PathBuf> {
    // Lenient on purpose: asterisk.conf is Asterisk's, and whatever else it holds is not our business.
    let mut category = String::new();
    let mut found = None;
    for raw_line in text.lines() {
        let (content, _) = strip_comment(raw_line);
        let content = content.trim();
        if let Some(rest) = content.strip_prefix('[') {
            category = rest.split(']').next().unwrap_or_default().trim().to_string();
            continue;
        }
        if !category.eq_ignore_ascii_case("directories") {
            continue;
        }
        if let Some((key, value)) = content.split_once('=') {
            let value = value.strip_prefix('>').unwrap_or(value).trim();
            if key.trim().eq_ignore_ascii_case("astspooldir") && !value.is_empty() {
                found = Some(PathBuf::from(value));
            }
        }
    }
    found
}

/// The spool directory: `--spool`, else `astspooldir` from asterisk.conf, else `/var/spool/asterisk`.
/// An asterisk.conf named with `--asterisk-conf` must be readable; the default one may be absent.
pub fn resolve_spool_dir(settings: &Settings) -> Result<PathBuf, Error> {
    if let Some(spool) = &settings.spool {
        return Ok(spool.clone());
    }
    let (conf, explicit) = match &settings.asterisk_conf {
        Some(path) => (path.clone(), true),
        None => (PathBuf::from(DEFAULT_ASTERISK_CONF), false),
    };
    match fs::read(&conf) {
        Ok(text) => Ok(spool_dir_from_asterisk_conf(&String::from_utf8_lossy(&text))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SPOOL_DIR))),
        Err(err) if explicit => Err(Error::io(format!("Cannot read {}", conf.display()), &err)),
        Err(_) => Ok(PathBuf::from(DEFAULT_SPOOL_DIR)),
    }
}

/// The rules from `--config`, or the defaults; warnings from the file go to `err`.
fn load_rules(settings: &Settings, err: &mut dyn Write) -> Result<Rules, Error> {
    let Some(path) = &settings.config else {
        return Rules::defaults();
    };
    let (rules, warnings) = Rules::from_config_file(path)?;
    for warning in warnings {
        let _ = writeln!(err, "callfile: warning: {warning}");
    }
    Ok(rules)
}

// ---------------------------------------------------------------------------------------------------------
// Examining a call file, as the spool would.
// ---------------------------------------------------------------------------------------------------------

/// What the spool would make of one call file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Examination {
    /// The parser's diagnostics, in pbx_spool's words (warnings: the file is still placed).
    pub diagnostics: Vec<String>,
    /// Why the spool would not place it: size, validity, contents, policy. Empty when it would.
    pub problems: Vec<String>,
    /// Checks only a running Asterisk can make.
    pub notes: Vec<String>,
}

impl Examination {
    pub fn placeable(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The dangerous-function rule offline: nothing is known to be dangerous, and every name asked about is
/// recorded so that it can be reported for checking inside Asterisk.
#[derive(Default)]
struct OfflineRegistry {
    asked: RefCell<Vec<String>>,
}

impl FunctionRegistry for OfflineRegistry {
    fn writes_are_dangerous(&self, name: &str) -> bool {
        self.asked.borrow_mut().push(name.to_string());
        false
    }

    fn live_dangerously(&self) -> bool {
        false
    }
}

/// The dialplan functions `call`'s `Set:` lines write, as the policy sees them (`_FILE` and `FILE` are
/// one function).
fn written_functions(call: &callfile::CallFile, policy: &Policy) -> Vec<String> {
    // Every other check opened wide, so the policy always reaches the function check.
    let mut open = policy.clone();
    open.first_leg = FirstLegMode::Any;
    open.channel_rules.clear();
    open.denied_applications.clear();
    open.max_set_lines = usize::MAX;
    open.max_value_len = usize::MAX;
    let registry = OfflineRegistry::default();
    let _ = policy::check(call, &open, &registry);
    let mut functions: Vec<String> = Vec::new();
    for name in registry.asked.into_inner() {
        let name = name.trim_start_matches('_').to_string();
        if !name.is_empty() && !functions.contains(&name) {
            functions.push(name);
        }
    }
    functions
}

/// Checks `bytes` as the spool would check the file `shown`. `check_path` is the file to suggest for
/// `spool check` in notes (`None` when the content has no file yet).
pub fn examine(bytes: &[u8], shown: &str, rules: &Rules, check_path: Option<&str>) -> Examination {
    let mut examination = Examination::default();
    let size = bytes.len() as u64;
    if size > rules.max_file_size {
        examination.problems.push(format!(
            "Rejected {shown}: it is {size} bytes, over the {}-byte limit (rule max_file_size)",
            rules.max_file_size
        ));
        return examination;
    }
    let parsed = callfile::parse(bytes);
    examination.diagnostics = parsed.diagnostics.iter().map(|diagnostic| diagnostic.message(shown)).collect();
    if let Err(invalid) = parsed.call.validate() {
        examination.problems.push(invalid.message(shown));
    }
    if parsed.diagnostics.iter().any(|diagnostic| diagnostic.kind == DiagnosticKind::NulByte) {
        examination.problems.push(format!("Rejected {shown}: it contains NUL bytes (rule contents)"));
    }
    if let Err(rejection) = policy::check(&parsed.call, &rules.policy, &OfflineRegistry::default()) {
        examination.problems.push(rejection.message(shown));
    }
    let how = match check_path {
        Some(path) => format!("run `asterisk -rx 'spool check {path}'`"),
        None => "run `asterisk -rx 'spool check FILE'` on a copy of the file".to_string(),
    };
    examination.notes = written_functions(&parsed.call, &rules.policy)
        .into_iter()
        .map(|function| {
            format!("{shown}: note: Set writes the dialplan function {function}: not checked offline: {how}")
        })
        .collect();
    examination
}

/// Reads a call file for checking. `Ok(Err(problem))` is a file the spool would refuse unread.
fn read_for_check(path: &Path, rules: &Rules) -> Result<Result<Vec<u8>, String>, Error> {
    let shown = path.display();
    match bookkeeping::read_call_file(path, rules.max_file_size) {
        Ok((bytes, _)) => Ok(Ok(bytes)),
        Err(ReadError::Gone) => Err(Error::usage(format!("{shown}: no such file"))),
        Err(ReadError::Io(err)) => Err(Error::io(format!("Cannot read {shown}"), &err)),
        Err(err @ ReadError::TooLarge { .. }) => Ok(Err(format!("Rejected {shown}: {err} (rule max_file_size)"))),
        Err(err @ ReadError::NotRegular(_)) => {
            Ok(Err(format!("{shown}: {err}; the spool would leave it in place, unplaced")))
        }
    }
}

/// The path to suggest for `spool check`: absolute, since Asterisk runs elsewhere.
fn absolute(path: &Path) -> String {
    fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string()
}

/// `callfile check FILE...`: each file's diagnostics, problems and notes on `out`, `<file>: OK` for each
/// file the spool would place; I/O errors on `err`.
pub fn check_command(
    settings: &Settings,
    files: &[PathBuf],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, Error> {
    if files.is_empty() {
        return Err(Error::usage("check needs at least one call file"));
    }
    let rules = load_rules(settings, err)?;
    let mut exit = Exit::Success;
    for path in files {
        let shown = path.display().to_string();
        let bytes = match read_for_check(path, &rules) {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(problem)) => {
                let _ = writeln!(out, "{problem}");
                exit = exit.max(Exit::Refused);
                continue;
            }
            Err(error) => {
                let _ = writeln!(err, "callfile: {error}");
                exit = exit.max(Exit::Failure);
                continue;
            }
        };
        let examination = examine(&bytes, &shown, &rules, Some(&absolute(path)));
        for line in examination.diagnostics.iter().chain(&examination.problems).chain(&examination.notes) {
            let _ = writeln!(out, "{line}");
        }
        if examination.placeable() {
            let _ = writeln!(out, "{shown}: OK");
        } else {
            exit = exit.max(Exit::Refused);
        }
    }
    Ok(exit)
}

// ---------------------------------------------------------------------------------------------------------
// Times: --at, --in, --spread.
// ---------------------------------------------------------------------------------------------------------

/// When a call is due.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum When {
    #[default]
    Now,
    /// `--at 'YYYY-MM-DD HH:MM[:SS]'`, local time.
    At(String),
    /// `--in 1h30m`.
    In(String),
}

impl When {
    /// The due time in ms since the epoch, relative to `now` for `--in`.
    pub fn resolve(&self, now: Millis) -> Result<Millis, Error> {
        match self {
            When::Now => Ok(now),
            When::At(text) => parse_local_time(text),
            When::In(text) => {
                let delay = parse_duration(text).map_err(|why| Error::usage(format!("--in {text:?}: {why}")))?;
                now.checked_add(delay).ok_or_else(|| Error::usage(format!("--in {text:?}: too far ahead")))
            }
        }
    }
}

/// A duration such as `90s`, `10m`, `1h30m` or `2d`, in ms. A bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Millis, String> {
    if text.is_empty() {
        return Err("empty duration (expected e.g. 30s, 10m, 1h30m, 2d)".into());
    }
    if let Ok(seconds) = text.parse::<u32>() {
        return Ok(Millis::from(seconds) * 1000);
    }
    let mut total: Millis = 0;
    let mut digits = String::new();
    for character in text.chars() {
        if character.is_ascii_digit() {
            digits.push(character);
            continue;
        }
        let unit_ms: Millis = match character {
            's' => 1000,
            'm' => 60_000,
            'h' => 3_600_000,
            'd' => 86_400_000,
            _ => return Err(format!("unexpected '{character}' (expected digits followed by s, m, h or d)")),
        };
        if digits.is_empty() {
            return Err(format!("'{character}' without a number before it"));
        }
        let count: Millis = digits.parse().map_err(|_| "number too large".to_string())?;
        total = count
            .checked_mul(unit_ms)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| "duration too large".to_string())?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(format!("'{digits}' needs a unit (s, m, h or d) after the other parts"));
    }
    Ok(total)
}

/// A whole number of seconds for RetryTime/WaitTime: `300` or a duration such as `5m`; at least 1s.
pub fn parse_seconds(text: &str) -> Result<i32, String> {
    let ms = parse_duration(text)?;
    if ms < 1000 {
        return Err("must be at least 1 second".into());
    }
    i32::try_from(ms / 1000).map_err(|_| "too large".into())
}

/// A local time `YYYY-MM-DD HH:MM[:SS]` (or with `T` between date and time), in ms since the epoch.
pub fn parse_local_time(text: &str) -> Result<Millis, Error> {
    let bad = |why: &str| Error::usage(format!("--at {text:?}: {why}"));
    let format_hint = "expected 'YYYY-MM-DD HH:MM' or 'YYYY-MM-DD HH:MM:SS' (local time)";
    let (date, time) = text.trim().split_once([' ', 'T']).ok_or_else(|| bad(format_hint))?;
    let number = |part: &str, digits: usize| -> Result<i32, Error> {
        if part.len() != digits || !part.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(bad(format_hint));
        }
        part.parse().map_err(|_| bad(format_hint))
    };
    let date_parts: Vec<&str> = date.split('-').collect();
    let time_parts: Vec<&str> = time.trim().split(':').collect();
    let [year, month, day] = date_parts[..] else {
        return Err(bad(format_hint));
    };
    let (hour, minute, second) = match time_parts[..] {
        [hour, minute] => (hour, minute, "00"),
        [hour, minute, second] => (hour, minute, second),
        _ => return Err(bad(format_hint)),
    };
    let fields = LocalTime {
        year: number(year, 4)?,
        month: number(month, 2)?,
        day: number(day, 2)?,
        hour: number(hour, 2)?,
        minute: number(minute, 2)?,
        second: number(second, 2)?,
    };
    let seconds =
        fields.to_epoch().ok_or_else(|| bad("no such local time (invalid date, or skipped by a clock change)"))?;
    Ok(seconds * 1000)
}

/// Broken-down local time, as people write it (month 1-12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LocalTime {
    year: i32,
    month: i32,
    day: i32,
    hour: i32,
    minute: i32,
    second: i32,
}

impl LocalTime {
    /// Seconds since the epoch, or `None` when this time does not exist locally (Feb 30, 25:00, or a
    /// time skipped when clocks go forward): mktime normalises those, and the round trip shows it.
    fn to_epoch(self) -> Option<i64> {
        // SAFETY: `tm` is plain old data; all-zero is a valid value (a null tm_zone pointer included).
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        tm.tm_year = self.year - 1900;
        tm.tm_mon = self.month - 1;
        tm.tm_mday = self.day;
        tm.tm_hour = self.hour;
        tm.tm_min = self.minute;
        tm.tm_sec = self.second;
        tm.tm_isdst = -1;
        // -1 is also mktime's error value; the round trip below tells the two apart.
        // SAFETY: `tm` is a valid, exclusively borrowed struct tm for the duration of the call.
        let seconds = unsafe { libc::mktime(&mut tm) };
        // time_t is i64 here but narrower on some targets.
        #[allow(clippy::useless_conversion)]
        let seconds = i64::from(seconds);
        (LocalTime::from_epoch(seconds)? == self).then_some(seconds)
    }

    fn from_epoch(seconds: i64) -> Option<LocalTime> {
        let time = libc::time_t::try_from(seconds).ok()?;
        // SAFETY: as above, all-zero is a valid struct tm.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are valid for the call; localtime_r writes only into `tm`.
        let result = unsafe { libc::localtime_r(&time, &mut tm) };
        if result.is_null() {
            return None;
        }
        Some(LocalTime {
            year: tm.tm_year + 1900,
            month: tm.tm_mon + 1,
            day: tm.tm_mday,
            hour: tm.tm_hour,
            minute: tm.tm_min,
            second: tm.tm_sec,
        })
    }
}

/// `YYYY-MM-DD HH:MM:SS` in local time, for messages.
pub fn format_local_time(ms: Millis) -> String {
    match LocalTime::from_epoch(ms.div_euclid(1000)) {
        Some(t) => {
            format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", t.year, t.month, t.day, t.hour, t.minute, t.second)
        }
        None => format!("{ms} ms after the epoch"),
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

fn warn_if_past(due: Millis, now: Millis, err: &mut dyn Write) {
    if due < now.saturating_sub(1000) {
        let _ = writeln!(
            err,
            "callfile: note: the due time {} is in the past; the spool places the call at once",
            format_local_time(due)
        );
    }
}

// ---------------------------------------------------------------------------------------------------------
// Writing call files from flags and templates.
// ---------------------------------------------------------------------------------------------------------

/// Where an answered call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `Context:`/`Extension:`/`Priority:`.
    Dialplan { context: Option<Vec<u8>>, extension: Vec<u8>, priority: Option<i32> },
    /// `Application:`/`Data:`.
    Application { name: Vec<u8>, data: Option<Vec<u8>> },
}

/// A call described by `submit`'s flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSpec {
    /// `Tech/Dest`.
    pub channel: Vec<u8>,
    pub target: Target,
    /// `Set:` lines, in order.
    pub variables: Vec<(Vec<u8>, Vec<u8>)>,
    pub callerid: Option<Vec<u8>>,
    pub account: Option<Vec<u8>>,
    pub max_retries: Option<i32>,
    pub retry_time: Option<i32>,
    pub wait_time: Option<i32>,
    pub archive: bool,
}

/// `value` as it must be written after `Key: ` so that pbx_spool reads back exactly `value`: `;` escaped.
/// Values the parser cannot carry (line breaks, NUL bytes, leading or trailing blanks, a `#` after a
/// blank, which starts a comment) are refused, so what is written is always what was asked for.
fn encode_value(label: &str, value: &[u8]) -> Result<Vec<u8>, Error> {
    let mut escaped = Vec::with_capacity(value.len() + 2);
    for &byte in value {
        if byte == b';' {
            escaped.push(b'\\');
        }
        escaped.push(byte);
    }
    // Cleaning does not depend on the key, so reading the value back under any key tells.
    let mut probe = b"Data: ".to_vec();
    probe.extend_from_slice(&escaped);
    probe.push(b'\n');
    let parsed = callfile::parse(&probe);
    if parsed.diagnostics.is_empty() && parsed.call.data == value {
        return Ok(escaped);
    }
    Err(Error::usage(format!(
        "{label} {:?} cannot be written in a call file (line breaks, NUL bytes, leading or trailing blanks and \
         a '#' after a blank do not survive pbx_spool's parser)",
        String::from_utf8_lossy(value)
    )))
}

fn push_line(out: &mut Vec<u8>, key: &str, label: &str, value: &[u8]) -> Result<(), Error> {
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(&encode_value(label, value)?);
    out.push(b'\n');
    Ok(())
}

/// The call file text for `spec`.
pub fn render(spec: &CallSpec) -> Result<Vec<u8>, Error> {
    if !matches!(spec.channel.iter().position(|&byte| byte == b'/'), Some(at) if at > 0 && at + 1 < spec.channel.len())
    {
        return Err(Error::usage("--channel must be Tech/Dest, e.g. PJSIP/100"));
    }
    let mut out = Vec::new();
    push_line(&mut out, "Channel", "--channel", &spec.channel)?;
    if let Some(callerid) = &spec.callerid {
        push_line(&mut out, "CallerID", "--callerid", callerid)?;
    }
    let numbers =
        [("MaxRetries", spec.max_retries, 0), ("RetryTime", spec.retry_time, 1), ("WaitTime", spec.wait_time, 1)];
    for (key, value, minimum) in numbers {
        if let Some(value) = value {
            if value < minimum {
                return Err(Error::usage(format!("{key} must be at least {minimum}")));
            }
            out.extend_from_slice(format!("{key}: {value}\n").as_bytes());
        }
    }
    if let Some(account) = &spec.account {
        push_line(&mut out, "Account", "--account", account)?;
    }
    match &spec.target {
        Target::Dialplan { context, extension, priority } => {
            if let Some(context) = context {
                push_line(&mut out, "Context", "--context", context)?;
            }
            if extension.is_empty() {
                return Err(Error::usage("--extension must not be empty"));
            }
            push_line(&mut out, "Extension", "--extension", extension)?;
            if let Some(priority) = priority {
                if *priority < 1 {
                    return Err(Error::usage("--priority must be at least 1"));
                }
                out.extend_from_slice(format!("Priority: {priority}\n").as_bytes());
            }
        }
        Target::Application { name, data } => {
            if name.is_empty() {
                return Err(Error::usage("--application must not be empty"));
            }
            push_line(&mut out, "Application", "--application", name)?;
            if let Some(data) = data {
                push_line(&mut out, "Data", "--data", data)?;
            }
        }
    }
    for (name, value) in &spec.variables {
        if name.is_empty() || name.contains(&b'=') {
            return Err(Error::usage("--set needs NAME=VALUE with a non-empty NAME"));
        }
        let mut assignment = name.clone();
        assignment.push(b'=');
        assignment.extend_from_slice(value);
        push_line(&mut out, "Set", "--set", &assignment)?;
    }
    if spec.archive {
        out.extend_from_slice(b"Archive: yes\n");
    }
    // Each value survived on its own; the whole must too (line lengths, above all).
    let parsed = callfile::parse(&out);
    if let Some(diagnostic) = parsed.diagnostics.first() {
        return Err(Error::usage(diagnostic.message("the generated call file")));
    }
    Ok(out)
}

/// Whether `number` can go into a template: one word of printable bytes without `;` (which would start
/// a comment), so the substitution cannot change the file's structure.
pub fn check_number(number: &str) -> Result<(), String> {
    if number.is_empty() {
        return Err("empty number".into());
    }
    if let Some(byte) = number.bytes().find(|&byte| byte <= b' ' || byte == 0x7f || byte == b';') {
        return Err(format!("number {number:?} contains {:?}, which cannot go into a call file", byte as char));
    }
    Ok(())
}

/// `template` with every `{number}` replaced by `number`.
pub fn substitute(template: &[u8], number: &str) -> Vec<u8> {
    let placeholder = NUMBER_PLACEHOLDER.as_bytes();
    let mut out = Vec::with_capacity(template.len() + number.len());
    let mut rest = template;
    while let Some(at) = rest.windows(placeholder.len()).position(|window| window == placeholder) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(number.as_bytes());
        rest = &rest[at + placeholder.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// The numbers of a numbers file with their line numbers: one per line, blanks trimmed; empty lines and
/// lines starting with `#` or `;` skipped.
pub fn read_numbers(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#') && !line.starts_with(';'))
        .map(|(line, number)| (line, number.to_string()))
        .collect()
}

/// Checks a `--name` prefix: letters, digits, `_`, `.`, `-`, not starting with `.` or `-`.
pub fn check_prefix(prefix: &str) -> Result<(), Error> {
    let valid = !prefix.is_empty()
        && prefix.len() <= MAX_PREFIX_LEN
        && prefix.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-'))
        && !prefix.starts_with(['.', '-']);
    if valid {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "--name {prefix:?}: use up to {MAX_PREFIX_LEN} letters, digits, '_', '.' or '-', not starting with \
             '.' or '-'"
        )))
    }
}

/// The prefix for files submitted from `source`: its name without `.call`, when that is a valid prefix.
fn prefix_from(source: &Path) -> String {
    source
        .file_stem()
        .and_then(|stem| stem.to_str())
        .filter(|stem| check_prefix(stem).is_ok())
        .unwrap_or(DEFAULT_PREFIX)
        .to_string()
}

// ---------------------------------------------------------------------------------------------------------
// Placing files into the spool.
// ---------------------------------------------------------------------------------------------------------

/// The spool's `outgoing/` directory and where temporary files are written before they go in.
#[derive(Debug, Clone)]
pub struct Spool {
    outgoing: PathBuf,
    /// Candidates for temporary files, in order of preference; all on `outgoing/`'s file system.
    temp_dirs: Vec<PathBuf>,
    outgoing_uid: u32,
    outgoing_gid: u32,
}

/// A temporary file that is removed unless it was renamed into `outgoing/`.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

static NAME_COUNTER: AtomicU64 = AtomicU64::new(0);
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn random_suffix() -> u64 {
    // RandomState is seeded randomly per process; mixing in a counter and the clock varies it per call.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(TEMP_COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_i64(bookkeeping::now_ms());
    hasher.finish()
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// `rename(from, to)` that fails with `AlreadyExists` instead of replacing `to`: renameat2 with
/// RENAME_NOREPLACE, or link + unlink where the kernel or file system lacks it.
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    let c_from = CString::new(from.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let c_to = CString::new(to.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: both paths are valid NUL-terminated strings that outlive the call; the arguments match renameat2(int, const char *, int, const char *, unsigned int).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            c_from.as_ptr(),
            libc::AT_FDCWD,
            c_to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if !matches!(err.raw_os_error(), Some(libc::ENOSYS | libc::EINVAL)) {
        return Err(err);
    }
    // link() never replaces an existing name; the spool takes a new hard link as a finished file.
    fs::hard_link(from, to)?;
    // A leftover here is outside outgoing/ and harmless; the call file itself is in place.
    let _ = fs::remove_file(from);
    Ok(())
}

impl Spool {
    /// The spool at `root`, which must contain `outgoing/`.
    pub fn open(root: &Path) -> Result<Spool, Error> {
        let outgoing = root.join("outgoing");
        let meta = fs::metadata(&outgoing).map_err(|err| {
            Error::io(format!("Cannot use {} (is {} the spool directory?)", outgoing.display(), root.display()), &err)
        })?;
        if !meta.is_dir() {
            return Err(Error::usage(format!("{} is not a directory", outgoing.display())));
        }
        let temp_dirs: Vec<PathBuf> = [root.join("tmp"), root.to_path_buf()]
            .into_iter()
            .filter(|dir| fs::metadata(dir).is_ok_and(|dir_meta| dir_meta.is_dir() && dir_meta.dev() == meta.dev()))
            .collect();
        if temp_dirs.is_empty() {
            return Err(Error::usage(format!(
                "Neither {}/tmp nor {} is on the file system of {}: cannot move call files in atomically",
                root.display(),
                root.display(),
                outgoing.display()
            )));
        }
        Ok(Spool { outgoing, temp_dirs, outgoing_uid: meta.uid(), outgoing_gid: meta.gid() })
    }

    pub fn outgoing(&self) -> &Path {
        &self.outgoing
    }

    /// The uid submitted files end up with: the outgoing directory's owner when running as root.
    pub fn file_owner(&self) -> u32 {
        match effective_uid() {
            0 => self.outgoing_uid,
            uid => uid,
        }
    }

    fn create_temp(&self) -> Result<(File, TempFile), Error> {
        let mut last_error = None;
        for dir in &self.temp_dirs {
            for _ in 0..16 {
                let path = dir.join(format!("{TEMP_PREFIX}{}-{:016x}", std::process::id(), random_suffix()));
                let opened = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(&path);
                match opened {
                    Ok(file) => return Ok((file, TempFile { path, keep: false })),
                    Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                    Err(err) => {
                        last_error = Some((dir.clone(), err));
                        break;
                    }
                }
            }
        }
        Err(match last_error {
            Some((dir, err)) => Error::io(format!("Cannot create a temporary file in {}", dir.display()), &err),
            None => Error::usage("Cannot find a free temporary file name"),
        })
    }

    /// A name in `outgoing/` for the next file: `<prefix>-<unix ms>-<pid>-<counter>.call`.
    fn next_name(prefix: &str) -> String {
        let counter = NAME_COUNTER.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}-{}-{}-{counter}.call", bookkeeping::now_ms(), std::process::id())
    }

    /// Puts `bytes` into `outgoing/` as a new call file due at `due` (its mtime), and returns its path.
    ///
    /// The file is complete, fsynced, owned, moded and dated before its name appears in `outgoing/`, and
    /// it never replaces an existing file.
    pub fn place(&self, bytes: &[u8], due: Millis, prefix: &str) -> Result<PathBuf, Error> {
        let (mut file, mut temp) = self.create_temp()?;
        let shown = temp.path.display().to_string();
        let write = |file: &mut File| -> io::Result<()> {
            file.write_all(bytes)?;
            if effective_uid() == 0 {
                std::os::unix::fs::fchown(&*file, Some(self.outgoing_uid), Some(self.outgoing_gid))?;
            }
            file.set_permissions(Permissions::from_mode(CALL_FILE_MODE))?;
            file.sync_all()
        };
        write(&mut file).map_err(|err| Error::io(format!("Cannot write {shown}"), &err))?;
        drop(file);
        bookkeeping::set_times(&temp.path, bookkeeping::now_ms(), due)
            .map_err(|err| Error::io(format!("Cannot set the due time of {shown}"), &err))?;
        for _ in 0..1000 {
            let target = self.outgoing.join(Spool::next_name(prefix));
            match rename_no_replace(&temp.path, &target) {
                Ok(()) => {
                    temp.keep = true;
                    // The new name must survive a crash as well as the contents did.
                    if let Ok(dir) = File::open(&self.outgoing) {
                        let _ = dir.sync_all();
                    }
                    return Ok(target);
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(err) => {
                    return Err(Error::io(format!("Cannot move {shown} to {}", target.display()), &err));
                }
            }
        }
        Err(Error::usage(format!("Cannot find a free name in {}", self.outgoing.display())))
    }
}

/// A user name or uid to a uid.
fn uid_of(name: &str) -> Option<u32> {
    if let Ok(uid) = name.parse::<u32>() {
        return Some(uid);
    }
    let c_name = CString::new(name).ok()?;
    let mut buffer = vec![libc::c_char::default(); 16 * 1024];
    // SAFETY: `passwd` is plain old data; all-zero (null pointers) is a valid value to be overwritten.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and `buffer.len()` is the buffer's real size; the returned strings point into `buffer`, which is not read after it is dropped.
    let rc = unsafe { libc::getpwnam_r(c_name.as_ptr(), &mut entry, buffer.as_mut_ptr(), buffer.len(), &mut result) };
    (rc == 0 && !result.is_null()).then_some(entry.pw_uid)
}

/// owner_check offline: a refusal when the file's owner is certainly not allowed, a note when it is
/// probably not (the default allows Asterisk's own user, assumed to own `outgoing/`, and root).
fn owner_verdict(rules: &Rules, spool: &Spool) -> Result<Option<String>, Error> {
    if !rules.owner_check {
        return Ok(None);
    }
    let owner = spool.file_owner();
    if rules.allowed_owners.is_empty() {
        if owner == 0 || owner == spool.outgoing_uid {
            return Ok(None);
        }
        return Ok(Some(format!(
            "owner_check is on and the file will belong to uid {owner}; Asterisk accepts only its own user \
             (probably uid {}, the owner of {}) and root",
            spool.outgoing_uid,
            spool.outgoing.display()
        )));
    }
    if rules.allowed_owners.iter().filter_map(|name| uid_of(name)).any(|uid| uid == owner) {
        return Ok(None);
    }
    Err(Error::refused(format!(
        "The call file would belong to uid {owner}, which owner_check rejects (allowed_owners: {})",
        rules.allowed_owners.join(", ")
    )))
}

fn open_spool(settings: &Settings, rules: &Rules, err: &mut dyn Write) -> Result<Spool, Error> {
    let spool = Spool::open(&resolve_spool_dir(settings)?)?;
    if let Some(note) = owner_verdict(rules, &spool)? {
        let _ = writeln!(err, "callfile: note: {note}");
    }
    Ok(spool)
}

fn print_examination(examination: &Examination, err: &mut dyn Write) {
    for line in examination.diagnostics.iter().chain(&examination.problems).chain(&examination.notes) {
        let _ = writeln!(err, "{line}");
    }
}

// ---------------------------------------------------------------------------------------------------------
// submit
// ---------------------------------------------------------------------------------------------------------

/// What `submit` places.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An existing call file, submitted byte for byte.
    File(PathBuf),
    /// A call described by flags.
    Spec(CallSpec),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitRequest {
    pub source: Source,
    pub when: When,
    /// `--name`; otherwise the source file's name, or [`DEFAULT_PREFIX`].
    pub prefix: Option<String>,
}

/// `callfile submit`: validates, then places the call file; its path goes to `out`, problems to `err`.
pub fn submit_command(
    settings: &Settings,
    request: &SubmitRequest,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, Error> {
    if let Some(prefix) = &request.prefix {
        check_prefix(prefix)?;
    }
    let rules = load_rules(settings, err)?;
    let now = bookkeeping::now_ms();
    let due = request.when.resolve(now)?;
    let (bytes, shown, check_path, default_prefix) = match &request.source {
        Source::File(path) => {
            let bytes = match read_for_check(path, &rules)? {
                Ok(bytes) => bytes,
                Err(problem) => {
                    let _ = writeln!(err, "{problem}");
                    return Err(Error::refused(format!("{} not submitted", path.display())));
                }
            };
            (bytes, path.display().to_string(), Some(absolute(path)), prefix_from(path))
        }
        Source::Spec(spec) => (render(spec)?, "the call file".to_string(), None, DEFAULT_PREFIX.to_string()),
    };
    let examination = examine(&bytes, &shown, &rules, check_path.as_deref());
    print_examination(&examination, err);
    if !examination.placeable() {
        return Err(Error::refused(format!("{shown} would be refused by the spool; not submitted")));
    }
    let spool = open_spool(settings, &rules, err)?;
    warn_if_past(due, now, err);
    let prefix = request.prefix.as_deref().unwrap_or(&default_prefix);
    let placed = spool.place(&bytes, due, prefix)?;
    let _ = writeln!(out, "{}", placed.display());
    Ok(Exit::Success)
}

// ---------------------------------------------------------------------------------------------------------
// bulk
// ---------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkRequest {
    pub numbers: PathBuf,
    pub template: PathBuf,
    pub when: When,
    /// `--spread`: due times spread evenly over this duration, starting at `when`.
    pub spread: Option<String>,
    /// `--name`; otherwise the template's name.
    pub prefix: Option<String>,
}

/// A one-line progress bar, redrawn at most every [`PROGRESS_INTERVAL`].
struct Progress<'a> {
    out: Option<&'a mut dyn Write>,
    total: usize,
    drawn_at: Option<Instant>,
}

impl Progress<'_> {
    fn update(&mut self, done: usize, refused: usize) {
        let Some(out) = self.out.as_mut() else {
            return;
        };
        if self.drawn_at.is_some_and(|at| at.elapsed() < PROGRESS_INTERVAL) && done < self.total {
            return;
        }
        const WIDTH: usize = 30;
        let filled = (done * WIDTH).checked_div(self.total).unwrap_or(WIDTH);
        let _ = write!(
            out,
            "\r[{}{}] {done}/{} ({refused} refused)",
            "#".repeat(filled),
            "-".repeat(WIDTH - filled),
            self.total
        );
        let _ = out.flush();
        self.drawn_at = Some(Instant::now());
    }

    fn finish(&mut self) {
        if let Some(out) = self.out.as_mut() {
            let _ = write!(out, "\r\x1b[2K");
            let _ = out.flush();
        }
    }
}

/// `callfile bulk`: one call file per number. A progress bar goes to `progress` (stderr on a terminal),
/// the summary to `out`, problems to `err`.
pub fn bulk_command(
    settings: &Settings,
    request: &BulkRequest,
    out: &mut dyn Write,
    err: &mut dyn Write,
    progress: Option<&mut dyn Write>,
) -> Result<Exit, Error> {
    if let Some(prefix) = &request.prefix {
        check_prefix(prefix)?;
    }
    let rules = load_rules(settings, err)?;
    let now = bookkeeping::now_ms();
    let base = request.when.resolve(now)?;
    let spread = match &request.spread {
        Some(text) => parse_duration(text).map_err(|why| Error::usage(format!("--spread {text:?}: {why}")))?,
        None => 0,
    };
    let template_shown = request.template.display().to_string();
    let template = match read_for_check(&request.template, &rules)? {
        Ok(bytes) => bytes,
        Err(problem) => return Err(Error::refused(problem)),
    };
    if !template.windows(NUMBER_PLACEHOLDER.len()).any(|window| window == NUMBER_PLACEHOLDER.as_bytes()) {
        return Err(Error::usage(format!("{template_shown} does not contain {NUMBER_PLACEHOLDER}")));
    }
    let numbers_text = fs::read(&request.numbers)
        .map_err(|error| Error::io(format!("Cannot read {}", request.numbers.display()), &error))?;
    let numbers = read_numbers(&String::from_utf8_lossy(&numbers_text));
    if numbers.is_empty() {
        return Err(Error::usage(format!("{} contains no numbers", request.numbers.display())));
    }
    let Some((_, sample)) = numbers.iter().find(|(_, number)| check_number(number).is_ok()) else {
        return Err(Error::refused(format!("{} contains no usable number", request.numbers.display())));
    };

    // The template once, with the first usable number: its warnings and notes are shown once, not per number.
    let sample_shown = format!("{template_shown} (with number {sample})");
    let examination =
        examine(&substitute(&template, sample), &sample_shown, &rules, Some(&absolute(&request.template)));
    print_examination(&examination, err);
    if !examination.placeable() {
        return Err(Error::refused(format!("{sample_shown} would be refused by the spool; nothing submitted")));
    }

    let spool = open_spool(settings, &rules, err)?;
    warn_if_past(base, now, err);
    let prefix = request.prefix.clone().unwrap_or_else(|| prefix_from(&request.template));
    let numbers_shown = request.numbers.display().to_string();
    let mut progress = Progress { out: progress, total: numbers.len(), drawn_at: None };
    let mut submitted = 0usize;
    let mut errors: Vec<String> = Vec::new();
    let mut stopped: Option<Error> = None;
    let mut last_due = base;
    for (index, (line, number)) in numbers.iter().enumerate() {
        progress.update(index, errors.len());
        let shown = format!("{template_shown} (with number {number})");
        let content = check_number(number).map(|()| substitute(&template, number));
        let content = match content {
            Ok(content) => content,
            Err(why) => {
                errors.push(format!("{numbers_shown} line {line}: {why}"));
                continue;
            }
        };
        let examination = examine(&content, &shown, &rules, None);
        if let Some(problem) = examination.problems.first() {
            errors.push(format!("{numbers_shown} line {line}: {problem}"));
            continue;
        }
        let due = spread_due(base, spread, index, numbers.len());
        match spool.place(&content, due, &prefix) {
            Ok(_) => {
                submitted += 1;
                last_due = due;
            }
            Err(error) => {
                stopped = Some(error);
                break;
            }
        }
    }
    progress.update(numbers.len(), errors.len());
    progress.finish();

    let due_text = if submitted == 0 {
        String::new()
    } else if last_due == base {
        format!(", due {}", format_local_time(base))
    } else {
        format!(", due {} to {}", format_local_time(base), format_local_time(last_due))
    };
    let _ = writeln!(
        out,
        "{submitted} submitted to {} as {prefix}-*.call{due_text}; {} refused",
        spool.outgoing().display(),
        errors.len()
    );
    for error in errors.iter().take(SHOWN_ERRORS) {
        let _ = writeln!(err, "{error}");
    }
    if errors.len() > SHOWN_ERRORS {
        let _ = writeln!(err, "... and {} more refused", errors.len() - SHOWN_ERRORS);
    }
    if let Some(error) = stopped {
        let remaining = numbers.len() - submitted - errors.len();
        return Err(Error::usage(format!("{error}; stopped with {remaining} numbers not submitted")));
    }
    Ok(if errors.is_empty() { Exit::Success } else { Exit::Refused })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let path = std::env::temp_dir().join(format!(
                "callfile-test-{}-{}-{name}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }

        /// A spool layout: `outgoing/` and `tmp/`.
        fn spool(name: &str) -> TempDir {
            let dir = TempDir::new(name);
            fs::create_dir(dir.0.join("outgoing")).unwrap();
            fs::create_dir(dir.0.join("tmp")).unwrap();
            dir
        }

        fn settings(&self) -> Settings {
            Settings { spool: Some(self.0.clone()), ..Settings::default() }
        }

        fn names(&self, sub: &str) -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(self.0.join(sub))
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn rules() -> Rules {
        Rules { policy: Policy::default(), max_file_size: 64 * 1024, owner_check: false, allowed_owners: Vec::new() }
    }

    const VALID: &str = "Channel: PJSIP/100\nApplication: Playback\nData: hello-world\n";

    fn spec() -> CallSpec {
        CallSpec {
            channel: b"PJSIP/100".to_vec(),
            target: Target::Application { name: b"Playback".to_vec(), data: Some(b"hello-world".to_vec()) },
            variables: Vec::new(),
            callerid: None,
            account: None,
            max_retries: None,
            retry_time: None,
            wait_time: None,
            archive: false,
        }
    }

    // ---- Durations and times ----

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
    fn bad_durations_are_refused() {
        for text in
            ["", "m", "10x", "-5m", "1h30", "1.5h", " 10m", "10 m", "99999999999999999999d", "9223372036854775807d"]
        {
            assert!(parse_duration(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn seconds_for_retry_and_wait_times() {
        assert_eq!(parse_seconds("300"), Ok(300));
        assert_eq!(parse_seconds("5m"), Ok(300));
        assert!(parse_seconds("0").is_err());
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
    fn at_round_trips_through_local_time() {
        // Whatever the test machine's time zone, a formatted local time parses back to the same instant.
        for seconds in [1_900_000_000_i64, 1_700_000_045, 1_750_000_000] {
            let text = format_local_time(seconds * 1000);
            assert_eq!(parse_local_time(&text), Ok(seconds * 1000), "{text}");
            let without_seconds = &text[..16];
            let minute = seconds - seconds.rem_euclid(60);
            assert_eq!(parse_local_time(without_seconds), Ok(minute * 1000), "{without_seconds}");
            let with_t = text.replacen(' ', "T", 1);
            assert_eq!(parse_local_time(&with_t), Ok(seconds * 1000));
        }
    }

    #[test]
    fn at_refuses_impossible_and_malformed_times() {
        for text in [
            "2030-02-30 10:00",
            "2030-13-01 10:00",
            "2030-01-01 24:00",
            "2030-01-01 10:60",
            "2030-01-01",
            "10:00",
            "2030-1-01 10:00",
            "2030-01-01 10:00:00:00",
            "tomorrow",
            "",
        ] {
            let error = parse_local_time(text).unwrap_err();
            assert_eq!(error.exit, Exit::Failure, "{text}");
            assert!(error.message.starts_with("--at"), "{}", error.message);
        }
    }

    #[test]
    fn spread_is_even_and_starts_at_the_base() {
        let dues: Vec<Millis> = (0..4).map(|index| spread_due(1000, 30_000, index, 4)).collect();
        assert_eq!(dues, vec![1000, 8500, 16_000, 23_500]);
        assert_eq!(spread_due(1000, 0, 3, 4), 1000);
        assert_eq!(spread_due(1000, 30_000, 0, 0), 1000);
    }

    // ---- Templates and numbers ----

    #[test]
    fn template_substitution_replaces_every_placeholder_only() {
        let template = b"Channel: PJSIP/{number}\nSet: DIALED={number}\nData: ${NUMBER} {num}\n";
        assert_eq!(
            substitute(template, "5550100"),
            b"Channel: PJSIP/5550100\nSet: DIALED=5550100\nData: ${NUMBER} {num}\n".to_vec()
        );
        assert_eq!(substitute(b"no placeholder", "1"), b"no placeholder".to_vec());
        assert_eq!(substitute(b"{number}{number}", "ab"), b"abab".to_vec());
    }

    #[test]
    fn numbers_file_skips_blanks_and_comments() {
        let numbers = read_numbers("# campaign\n100\r\n\n  200  \n; old\n+1555*9#\n");
        assert_eq!(numbers, vec![(2, "100".to_string()), (4, "200".to_string()), (6, "+1555*9#".to_string())]);
    }

    #[test]
    fn numbers_that_would_change_the_file_are_refused() {
        assert!(check_number("+15550100").is_ok());
        assert!(check_number("100@trunk").is_ok());
        for number in ["", "1 2", "1;x", "1\t2", "1\u{7f}"] {
            assert!(check_number(number).is_err(), "{number:?}");
        }
    }

    #[test]
    fn prefixes() {
        assert!(check_prefix("campaign_2024-05.a").is_ok());
        for prefix in ["", ".hidden", "-x", "a/b", "a b", "é", &"x".repeat(101)] {
            assert!(check_prefix(prefix).is_err(), "{prefix:?}");
        }
        assert_eq!(prefix_from(Path::new("/x/wakeup.call")), "wakeup");
        assert_eq!(prefix_from(Path::new("/x/.odd.call")), DEFAULT_PREFIX);
    }

    // ---- Rendering from flags ----

    #[test]
    fn rendered_file_reads_back_as_asked() {
        let mut call = spec();
        call.target = Target::Dialplan {
            context: Some(b"from-internal".to_vec()),
            extension: b"200".to_vec(),
            priority: Some(2),
        };
        call.variables = vec![(b"B".to_vec(), b"2".to_vec()), (b"A".to_vec(), b"x;y=z".to_vec())];
        call.callerid = Some(b"\"Wake Up\" <5550100>".to_vec());
        call.account = Some(b"acct;7".to_vec());
        call.max_retries = Some(2);
        call.retry_time = Some(60);
        call.wait_time = Some(30);
        call.archive = true;
        let bytes = render(&call).unwrap();
        let parsed = callfile::parse(&bytes);
        assert!(parsed.diagnostics.is_empty());
        let read = parsed.call;
        assert_eq!(read.channel(), b"PJSIP/100");
        assert_eq!(
            (read.context.as_slice(), read.extension.as_slice(), read.priority),
            (&b"from-internal"[..], &b"200"[..], 2)
        );
        assert_eq!(read.variables, call.variables);
        assert_eq!(read.account, b"acct;7");
        assert_eq!((read.cid_name.as_slice(), read.cid_num.as_slice()), (&b"Wake Up"[..], &b"5550100"[..]));
        assert_eq!((read.max_retries, read.retry_time, read.wait_time, read.archive), (2, 60, 30, true));
        assert_eq!(read.validate(), Ok(()));
    }

    #[test]
    fn values_the_parser_would_change_are_refused() {
        for data in [&b"a\nChannel: x"[..], b"x #comment", b" lead", b"trail ", b"nul\0", b"tab\t#x"] {
            let mut call = spec();
            call.target = Target::Application { name: b"Playback".to_vec(), data: Some(data.to_vec()) };
            let error = render(&call).unwrap_err();
            assert!(error.message.starts_with("--data"), "{}", error.message);
        }
        let mut call = spec();
        call.target = Target::Application { name: b"Playback".to_vec(), data: Some(b"a#b ;\\; ${X}".to_vec()) };
        let parsed = callfile::parse(&render(&call).unwrap());
        assert_eq!(parsed.call.data, b"a#b ;\\; ${X}");
        let mut long = spec();
        long.target = Target::Application { name: b"Playback".to_vec(), data: Some(vec![b'x'; 1100]) };
        assert!(render(&long).is_err());
        let mut no_dest = spec();
        no_dest.channel = b"PJSIP/".to_vec();
        assert!(render(&no_dest).is_err());
    }

    // ---- Examining ----

    #[test]
    fn examine_accepts_a_valid_file() {
        let examination = examine(VALID.as_bytes(), "a.call", &rules(), Some("/abs/a.call"));
        assert_eq!(examination, Examination::default());
        assert!(examination.placeable());
    }

    #[test]
    fn examine_reports_diagnostics_validity_and_policy() {
        let text = "Channel: PJSIP/100@trunk\nBogus: 1\nData: x\n";
        let examination = examine(text.as_bytes(), "b.call", &rules(), None);
        assert_eq!(examination.diagnostics, vec!["Unknown keyword 'Bogus' at line 2 of b.call".to_string()]);
        assert_eq!(examination.problems.len(), 2);
        assert_eq!(examination.problems[0], callfile::Invalid.message("b.call"));
        assert!(examination.problems[1].starts_with("Rejected b.call: "), "{}", examination.problems[1]);
        assert!(examination.problems[1].contains("first_leg"));
        let system = examine(b"Channel: PJSIP/100\nApplication: System\nData: rm -rf /\n", "c.call", &rules(), None);
        assert!(system.problems[0].contains("rule application"), "{:?}", system.problems);
    }

    #[test]
    fn examine_notes_functions_it_cannot_check_offline() {
        let text = format!("{VALID}Set: _FILE(/tmp/x)=1\nSet: __FILE(/tmp/y)=2\nSet: DB(a/b)=c\nSet: PLAIN=1\n");
        let examination = examine(text.as_bytes(), "d.call", &rules(), Some("/abs/d.call"));
        assert!(examination.placeable());
        assert_eq!(
            examination.notes,
            vec![
                "d.call: note: Set writes the dialplan function FILE: not checked offline: run \
                 `asterisk -rx 'spool check /abs/d.call'`"
                    .to_string(),
                "d.call: note: Set writes the dialplan function DB: not checked offline: run \
                 `asterisk -rx 'spool check /abs/d.call'`"
                    .to_string(),
            ]
        );
        // Noted even when another rule refuses the file first.
        let refused = "Channel: PJSIP/1@trunk\nApplication: Echo\nSet: SHELL(x)=1\n";
        assert_eq!(examine(refused.as_bytes(), "e", &rules(), None).notes.len(), 1);
    }

    #[test]
    fn examine_refuses_nul_bytes_and_oversized_files() {
        let examination = examine(b"Channel: PJSIP/100\nApplication: Echo\nData: a\0b\n", "f", &rules(), None);
        assert_eq!(examination.problems, vec!["Rejected f: it contains NUL bytes (rule contents)".to_string()]);
        let small = Rules { max_file_size: 10, ..rules() };
        let examination = examine(VALID.as_bytes(), "g", &small, None);
        assert!(examination.problems[0].contains("rule max_file_size"));
    }

    #[test]
    fn check_command_output_and_exit_codes() {
        let dir = TempDir::new("check");
        let good = dir.0.join("good.call");
        let bad = dir.0.join("bad.call");
        fs::write(&good, VALID).unwrap();
        fs::write(&bad, "Channel: PJSIP/100\n").unwrap();
        let settings = Settings::default();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(check_command(&settings, std::slice::from_ref(&good), &mut out, &mut err), Ok(Exit::Success));
        assert_eq!(String::from_utf8(out).unwrap(), format!("{}: OK\n", good.display()));
        let mut out = Vec::new();
        let files = [good.clone(), bad.clone()];
        assert_eq!(check_command(&settings, &files, &mut out, &mut err), Ok(Exit::Refused));
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(&callfile::Invalid.message(&bad.display().to_string())), "{text}");
        let mut out = Vec::new();
        let files = [good, dir.0.join("missing.call")];
        assert_eq!(check_command(&settings, &files, &mut out, &mut err), Ok(Exit::Failure));
        assert!(String::from_utf8(err).unwrap().contains("missing.call: no such file"));
    }

    #[test]
    fn check_uses_the_policy_from_config() {
        let dir = TempDir::new("config");
        let conf = dir.0.join("pbx_spool_rs.conf");
        fs::write(&conf, "[general]\nfirst_leg = any\n").unwrap();
        let file = dir.0.join("trunk.call");
        fs::write(&file, "Channel: PJSIP/1@trunk\nApplication: Echo\n").unwrap();
        let settings = Settings { config: Some(conf.clone()), ..Settings::default() };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        // Whatever the configuration module decides, the file is read and checked without error.
        let exit = check_command(&settings, &[file], &mut out, &mut err).unwrap();
        assert_ne!(exit, Exit::Failure);
        fs::write(&conf, "[general]\n#include other.conf\n").unwrap();
        let error = check_command(&settings, std::slice::from_ref(&conf), &mut out, &mut err).unwrap_err();
        assert!(error.message.contains("#include"), "{}", error.message);
    }

    // ---- Configuration files ----

    #[test]
    fn config_entries_read_asterisk_syntax() {
        let text = "; comment\n[general]\nfirst_leg = strict ; trailing\ndeny => PJSIP/*@*\n\
                    ;-- block\nignored = 1\n--;\nvalue = a\\;b\n[other]\nkey=v\n";
        let entries = config_entries(text, "x.conf").unwrap();
        let got: Vec<(&str, &str, &str, u32)> =
            entries.iter().map(|e| (e.category.as_str(), e.key.as_str(), e.value.as_str(), e.line)).collect();
        assert_eq!(
            got,
            vec![
                ("general", "first_leg", "strict", 3),
                ("general", "deny", "PJSIP/*@*", 4),
                ("general", "value", "a;b", 8),
                ("other", "key", "v", 10),
            ]
        );
        for bad in ["key = 1\n", "[general]\nno equals\n", "[general]\n#exec x\n", "[t](!)\nk=v\n", "[open\n"] {
            assert_eq!(config_entries(bad, "x.conf").unwrap_err().exit, Exit::Failure, "{bad:?}");
        }
    }

    #[test]
    fn spool_dir_from_asterisk_conf_text() {
        let text = "[options]\nastspooldir => /wrong\n[directories](!)\nastetcdir => /etc/asterisk\n\
                    astspooldir => /srv/spool ; comment\n";
        assert_eq!(spool_dir_from_asterisk_conf(text), Some(PathBuf::from("/srv/spool")));
        assert_eq!(spool_dir_from_asterisk_conf("[directories]\nastspooldir=/x\n"), Some(PathBuf::from("/x")));
        assert_eq!(spool_dir_from_asterisk_conf("[directories]\n"), None);
    }

    #[test]
    fn spool_dir_resolution_order() {
        let dir = TempDir::new("astconf");
        let conf = dir.0.join("asterisk.conf");
        fs::write(&conf, "[directories]\nastspooldir => /from/conf\n").unwrap();
        let explicit = Settings { spool: Some("/given".into()), asterisk_conf: Some(conf.clone()), config: None };
        assert_eq!(resolve_spool_dir(&explicit), Ok(PathBuf::from("/given")));
        let from_conf = Settings { asterisk_conf: Some(conf), ..Settings::default() };
        assert_eq!(resolve_spool_dir(&from_conf), Ok(PathBuf::from("/from/conf")));
        let missing = Settings { asterisk_conf: Some(dir.0.join("nope.conf")), ..Settings::default() };
        assert_eq!(resolve_spool_dir(&missing).unwrap_err().exit, Exit::Failure);
    }

    // ---- Placing files ----

    #[test]
    fn placed_file_has_contents_mode_and_due_time() {
        let dir = TempDir::spool("place");
        let spool = Spool::open(&dir.0).unwrap();
        let due = bookkeeping::now_ms() + 3_600_000;
        let path = spool.place(VALID.as_bytes(), due, "wakeup").unwrap();
        assert_eq!(path.parent(), Some(spool.outgoing()));
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("wakeup-") && name.ends_with(".call"), "{name}");
        assert_eq!(fs::read(&path).unwrap(), VALID.as_bytes());
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(bookkeeping::mtime_ms(&meta), due);
        assert_eq!(meta.mode() & 0o7777, CALL_FILE_MODE);
        assert!(dir.names("tmp").is_empty());
    }

    #[test]
    fn thousand_submits_get_distinct_names() {
        let dir = TempDir::spool("unique");
        let spool = Spool::open(&dir.0).unwrap();
        let now = bookkeeping::now_ms();
        let mut paths: Vec<PathBuf> = (0..1000).map(|_| spool.place(VALID.as_bytes(), now, "same").unwrap()).collect();
        assert_eq!(dir.names("outgoing").len(), 1000);
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), 1000);
        assert!(dir.names("tmp").is_empty());
    }

    #[test]
    fn an_existing_name_is_never_replaced() {
        let dir = TempDir::new("noreplace");
        let (from, to) = (dir.0.join("from"), dir.0.join("to"));
        fs::write(&from, "new").unwrap();
        fs::write(&to, "old").unwrap();
        let error = rename_no_replace(&from, &to).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&to).unwrap(), b"old");
        fs::remove_file(&to).unwrap();
        rename_no_replace(&from, &to).unwrap();
        assert_eq!(fs::read(&to).unwrap(), b"new");
        assert!(!from.exists());
    }

    #[test]
    fn outgoing_never_shows_a_temporary_or_partial_file() {
        let dir = TempDir::spool("watch");
        let spool = Spool::open(&dir.0).unwrap();
        let outgoing = spool.outgoing().to_path_buf();
        let content = format!("{VALID}{}", "Set: PAD=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n".repeat(200));
        let done = Arc::new(AtomicBool::new(false));
        let watcher = {
            let done = Arc::clone(&done);
            let expected = content.clone().into_bytes();
            std::thread::spawn(move || {
                let mut looks = 0u64;
                while !done.load(Ordering::SeqCst) {
                    for entry in fs::read_dir(&outgoing).unwrap() {
                        let entry = entry.unwrap();
                        let name = entry.file_name().to_string_lossy().into_owned();
                        assert!(!name.starts_with('.') && name.ends_with(".call"), "temporary name {name}");
                        // Everything visible is complete (files are never removed here, so reads succeed).
                        assert_eq!(fs::read(entry.path()).unwrap(), expected, "partial {name}");
                    }
                    looks += 1;
                }
                looks
            })
        };
        for _ in 0..200 {
            spool.place(content.as_bytes(), bookkeeping::now_ms(), "watched").unwrap();
        }
        done.store(true, Ordering::SeqCst);
        assert!(watcher.join().unwrap() > 0);
        assert_eq!(dir.names("outgoing").len(), 200);
        assert!(dir.names("outgoing").iter().all(|name| name.starts_with("watched-")));
        assert!(dir.names("tmp").is_empty());
    }

    #[test]
    fn spool_without_tmp_uses_the_spool_directory_itself() {
        let dir = TempDir::new("notmp");
        fs::create_dir(dir.0.join("outgoing")).unwrap();
        let spool = Spool::open(&dir.0).unwrap();
        spool.place(VALID.as_bytes(), bookkeeping::now_ms(), "x").unwrap();
        assert_eq!(dir.names("outgoing").len(), 1);
        assert_eq!(dir.names(".").len(), 1, "only outgoing/ is left in the spool");
        assert!(Spool::open(&dir.0.join("outgoing")).is_err(), "no outgoing/ inside outgoing/");
    }

    #[test]
    fn owner_check_refuses_owners_it_certainly_rejects() {
        let dir = TempDir::spool("owner");
        let spool = Spool::open(&dir.0).unwrap();
        let owner = spool.file_owner();
        let checked = |allowed: &[&str]| Rules {
            owner_check: true,
            allowed_owners: allowed.iter().map(|name| name.to_string()).collect(),
            ..rules()
        };
        assert_eq!(owner_verdict(&rules(), &spool), Ok(None));
        assert_eq!(owner_verdict(&checked(&[&owner.to_string()]), &spool), Ok(None));
        let other = owner.wrapping_add(12_345).to_string();
        assert_eq!(owner_verdict(&checked(&[&other, "no-such-user-here"]), &spool).unwrap_err().exit, Exit::Refused);
        // Default list: the outgoing directory's owner (our own here) and root are accepted.
        assert_eq!(owner_verdict(&checked(&[]), &spool), Ok(None));
    }

    // ---- submit and bulk ----

    #[test]
    fn submit_from_flags_writes_a_due_file() {
        let dir = TempDir::spool("submit");
        let request =
            SubmitRequest { source: Source::Spec(spec()), when: When::In("10m".into()), prefix: Some("wake".into()) };
        let before = bookkeeping::now_ms();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(submit_command(&dir.settings(), &request, &mut out, &mut err), Ok(Exit::Success));
        let path = PathBuf::from(String::from_utf8(out).unwrap().trim_end());
        assert!(path.starts_with(dir.0.join("outgoing")));
        let due = bookkeeping::mtime_ms(&fs::metadata(&path).unwrap());
        assert!(due >= before + 600_000 && due <= bookkeeping::now_ms() + 600_000);
        assert_eq!(callfile::parse(&fs::read(&path).unwrap()).call.data, b"hello-world");
    }

    #[test]
    fn invalid_or_refused_files_are_not_submitted() {
        let dir = TempDir::spool("refuse");
        let invalid = dir.0.join("invalid.call");
        fs::write(&invalid, "Channel: PJSIP/100\nData: x\n").unwrap();
        let refused = dir.0.join("refused.call");
        fs::write(&refused, "Channel: PJSIP/100\nApplication: System\nData: id\n").unwrap();
        for path in [invalid, refused] {
            let request = SubmitRequest { source: Source::File(path.clone()), when: When::Now, prefix: None };
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let error = submit_command(&dir.settings(), &request, &mut out, &mut err).unwrap_err();
            assert_eq!(error.exit, Exit::Refused, "{}", error.message);
            assert!(out.is_empty());
            assert!(!err.is_empty());
        }
        let mut bad_spec = spec();
        bad_spec.channel = b"PJSIP/1@trunk".to_vec();
        let request = SubmitRequest { source: Source::Spec(bad_spec), when: When::Now, prefix: None };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(submit_command(&dir.settings(), &request, &mut out, &mut err).unwrap_err().exit, Exit::Refused);
        assert!(dir.names("outgoing").is_empty());
        assert!(dir.names("tmp").is_empty());
    }

    #[test]
    fn submit_keeps_a_file_byte_for_byte_and_names_it_after_the_source() {
        let dir = TempDir::spool("byfile");
        let source = dir.0.join("wakeup.call");
        let text = format!("{VALID}Bogus: kept\n");
        fs::write(&source, &text).unwrap();
        let request = SubmitRequest { source: Source::File(source), when: When::Now, prefix: None };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(submit_command(&dir.settings(), &request, &mut out, &mut err), Ok(Exit::Success));
        let path = PathBuf::from(String::from_utf8(out).unwrap().trim_end());
        assert!(path.file_name().unwrap().to_str().unwrap().starts_with("wakeup-"));
        assert_eq!(fs::read(&path).unwrap(), text.as_bytes());
        assert!(String::from_utf8(err).unwrap().contains("Unknown keyword 'Bogus'"));
    }

    #[test]
    fn bulk_submits_one_file_per_number_spread_over_time() {
        let dir = TempDir::spool("bulk");
        let template = dir.0.join("campaign.call");
        fs::write(&template, "Channel: PJSIP/{number}\nApplication: Playback\nData: promo\nSet: N={number}\n").unwrap();
        let numbers = dir.0.join("numbers.txt");
        fs::write(&numbers, "# list\n100\n101\n1 02\n103\n\n104\n").unwrap();
        let request =
            BulkRequest { numbers, template, when: When::In("1h".into()), spread: Some("40s".into()), prefix: None };
        let (mut out, mut err, mut bar) = (Vec::new(), Vec::new(), Vec::new());
        let exit = bulk_command(&dir.settings(), &request, &mut out, &mut err, Some(&mut bar)).unwrap();
        assert_eq!(exit, Exit::Refused);
        let summary = String::from_utf8(out).unwrap();
        assert!(summary.starts_with("4 submitted to ") && summary.contains("; 1 refused"), "{summary}");
        assert!(String::from_utf8(err).unwrap().contains("line 4"));
        assert!(String::from_utf8(bar).unwrap().contains("5/5"));
        let names = dir.names("outgoing");
        assert_eq!(names.len(), 4);
        assert!(names.iter().all(|name| name.starts_with("campaign-")));
        let mut dues: Vec<(Millis, Vec<u8>)> = names
            .iter()
            .map(|name| {
                let path = dir.0.join("outgoing").join(name);
                let call = callfile::parse(&fs::read(&path).unwrap()).call;
                (bookkeeping::mtime_ms(&fs::metadata(&path).unwrap()), call.dest)
            })
            .collect();
        dues.sort();
        let dests: Vec<&[u8]> = dues.iter().map(|(_, dest)| dest.as_slice()).collect();
        assert_eq!(dests, vec![&b"100"[..], b"101", b"103", b"104"]);
        // Five numbers over 40s: 8s apart, the refused third one leaving a gap.
        let offsets: Vec<Millis> = dues.iter().map(|(due, _)| due - dues[0].0).collect();
        assert_eq!(offsets, vec![0, 8000, 24_000, 32_000]);
        assert!(dir.names("tmp").is_empty());
    }

    #[test]
    fn bulk_refuses_a_bad_template_before_writing_anything() {
        let dir = TempDir::spool("badtemplate");
        let numbers = dir.0.join("numbers.txt");
        fs::write(&numbers, "100\n").unwrap();
        let refused = dir.0.join("refused.call");
        fs::write(&refused, "Channel: PJSIP/{number}@trunk\nApplication: Echo\n").unwrap();
        let no_placeholder = dir.0.join("fixed.call");
        fs::write(&no_placeholder, VALID).unwrap();
        for (template, exit) in [(refused, Exit::Refused), (no_placeholder, Exit::Failure)] {
            let request =
                BulkRequest { numbers: numbers.clone(), template, when: When::Now, spread: None, prefix: None };
            let (mut out, mut err) = (Vec::new(), Vec::new());
            assert_eq!(bulk_command(&dir.settings(), &request, &mut out, &mut err, None).unwrap_err().exit, exit);
        }
        assert!(dir.names("outgoing").is_empty());
    }
}
