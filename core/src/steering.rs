//! `SPOOL(<key>)`, the dialplan function through which a call's own dialplan reads about its call file and
//! steers it: which keys exist, what values a write accepts, and the book of attempts in flight
//! ([`SteeringBook`]: channel uniqueid -> the attempt and what its dialplan asked), which the workers fill
//! and empty and the function's callers (Asterisk's dialplan, CLI and AMI threads) read and write under
//! one std `Mutex`. How an attempt's end applies the steering is `attempt/outcome.rs`'s job.
//!
//! Only the channel placed for the attempt (the uniqueid the spool assigned; for `Channel: Local/...` the
//! `;1` half, which runs the file's Context/Extension or Application) finds its attempt here; any other
//! channel, or a call without a channel, gets an error naming the key and the channel.
//!
//! Pure: no files, no FFI, no threads. Never panics.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::bookkeeping::Millis;
use crate::callfile::CallFile;

/// The function's name, as registered with Asterisk.
pub const FUNCTION: &str = "SPOOL";

/// The call file variable that carries the dialer's tag (also accepted as `_SPOOL_TAG` and
/// `__SPOOL_TAG`, Asterisk's inheritance prefixes).
pub const TAG_VARIABLE: &str = "SPOOL_TAG";

/// The longest outcome word a dialplan may record.
pub const MAX_OUTCOME_LEN: usize = 32;

/// The longest delay `SPOOL(retry)` accepts, in seconds (a year).
pub const MAX_RETRY_SECONDS: u64 = 366 * 86_400;

/// When the dialplan wants the file's next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryRequest {
    /// `SPOOL(retry)=<seconds>`: that long after the attempt ends.
    After { seconds: u64 },
    /// `SPOOL(retry_at)=<time>`: at this wall-clock time (ms since the epoch; a past time means at once).
    At(Millis),
    /// `SPOOL(retry)=never`: no further attempt; the file is finished.
    Never,
}

impl RetryRequest {
    /// When the next attempt is due for an attempt that ended at `ended`; `None` for [`RetryRequest::Never`].
    pub fn due(self, ended: Millis) -> Option<Millis> {
        match self {
            RetryRequest::After { seconds } => Some(ended + i64::try_from(seconds).unwrap_or(i64::MAX / 2) * 1000),
            RetryRequest::At(at) => Some(at.max(ended)),
            RetryRequest::Never => None,
        }
    }

    /// As logged: `in 3600 s`, `at 2026-12-04 10:00:00 UTC`, `never`.
    pub fn describe(self) -> String {
        match self {
            RetryRequest::After { seconds } => format!("in {seconds} s"),
            RetryRequest::At(at) => format!("at {}", crate::text::utc_time(at)),
            RetryRequest::Never => "never".into(),
        }
    }
}

/// What an attempt's dialplan asked through `SPOOL()`: the last value written to each key wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DialplanSteering {
    /// `SPOOL(outcome)`: the attempt's outcome as the dialplan decided it.
    pub outcome: Option<String>,
    /// `SPOOL(retry)` / `SPOOL(retry_at)`.
    pub retry: Option<RetryRequest>,
}

/// What the dialplan may read about its attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttemptFacts {
    /// The call file's name in `outgoing/`.
    pub file: String,
    /// 1-based attempt number.
    pub attempt: i32,
    /// The campaign the file joins; empty outside campaigns.
    pub campaign: String,
    /// Attempts the file may still make after this one (MaxRetries counts retries).
    pub retries_left: i32,
    /// The dialer's tag: the file's `SPOOL_TAG` variable, empty when absent.
    pub tag: String,
}

impl AttemptFacts {
    /// The facts of attempt `number` of `call`, named `file`, in `campaign`.
    pub fn of(call: &CallFile, file: &str, number: i32, campaign: Option<String>) -> AttemptFacts {
        AttemptFacts {
            file: file.to_string(),
            attempt: number,
            campaign: campaign.unwrap_or_default(),
            retries_left: call.max_retries.saturating_add(1).saturating_sub(number).max(0),
            tag: dialer_tag(call),
        }
    }
}

/// The file's `SPOOL_TAG` (or `_SPOOL_TAG`, `__SPOOL_TAG`) as Asterisk would leave it on the channel: the
/// last assignment wins; empty when there is none.
pub fn dialer_tag(call: &CallFile) -> String {
    call.variables
        .iter()
        .rev()
        .find(|(name, _)| {
            let name = name.strip_prefix(b"__").or_else(|| name.strip_prefix(b"_")).unwrap_or(name);
            name == TAG_VARIABLE.as_bytes()
        })
        .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
        .unwrap_or_default()
}

/// The keys of `SPOOL()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    File,
    Attempt,
    Campaign,
    RetriesLeft,
    Tag,
    Outcome,
    Retry,
    RetryAt,
}

/// One key of `SPOOL()`: its name, whether it can be read and written, and its documentation.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub key: Key,
    pub name: &'static str,
    pub read: bool,
    pub write: bool,
    pub text: &'static str,
}

const fn spec(key: Key, name: &'static str, read: bool, write: bool, text: &'static str) -> KeySpec {
    KeySpec { key, name, read, write, text }
}

/// Every key, for parsing, errors and the XML documentation.
pub const KEYS: [KeySpec; 8] = [
    spec(Key::File, "file", true, false, "Read: the call file's name in the outgoing spool directory."),
    spec(Key::Attempt, "attempt", true, false, "Read: this attempt's number, 1 for the first."),
    spec(Key::Campaign, "campaign", true, false, "Read: the campaign the file is in; empty outside campaigns."),
    spec(
        Key::RetriesLeft,
        "retries_left",
        true,
        false,
        "Read: how many more attempts the file may make after this one (MaxRetries counts them).",
    ),
    spec(
        Key::Tag,
        "tag",
        true,
        false,
        "Read: the dialer's tag, the call file's SPOOL_TAG variable (Set: SPOOL_TAG=..., also with the _ or __ \
         prefix); empty when absent.",
    ),
    spec(
        Key::Outcome,
        "outcome",
        true,
        true,
        "Write: the attempt's outcome as the dialplan decided it, a word of 1 to 32 of a-z, 0-9, _ and - \
         (Set(SPOOL(outcome)=voicemail)). Reported as Outcome in the SpoolSteered and SpoolFinished events and \
         as a comment line in the archived file. Read: what was written so far.",
    ),
    spec(
        Key::Retry,
        "retry",
        false,
        true,
        "Write: seconds (0 to 31622400) after this attempt ends for the next attempt (Set(SPOOL(retry)=3600)), \
         or never: the file is finished with no further attempt (Completed if answered, else Expired).",
    ),
    spec(
        Key::RetryAt,
        "retry_at",
        false,
        true,
        "Write: when the next attempt is due: epoch seconds, or YYYY-MM-DDTHH:MM[:SS] followed by Z, +hh:mm, \
         -hh:mm, +hhmm, -hhmm or nothing (UTC); at most a year ahead, a past time means at once.",
    ),
];

/// What `core show function SPOOL` says beyond the keys.
pub const DESCRIPTION: &[&str] = &[
    "Only the channel pbx_spool_rs placed for a call file may use SPOOL(), for as long as the attempt lasts: the \
     channel of Channel: (for Channel: Local/..., its ;1 half, which runs the file's Context/Extension or \
     Application; not the dialled ;2 half). Any other channel, a call without a channel (AMI Getvar), an \
     unknown key or a bad value logs a WARNING naming the key and the channel and fails; nothing changes.",
    "A retry asked with SPOOL(retry) or SPOOL(retry_at) wins over pbx_spool's rules, even for an answered call: \
     the attempt is recorded as ended (EndRetry) and the file is dated for the requested time instead of being \
     finished as Completed. It counts within the file's MaxRetries: a file without retries left is finished as \
     pbx_spool would. A campaign's calling window still applies when the file falls due.",
    "A call file cannot write SPOOL() itself (Set: SPOOL(...)=...): the security policy's function-write rule \
     refuses it like any function not on its allow list.",
];

impl Key {
    /// The key `text` names (ASCII case-insensitive, blanks around ignored).
    pub fn parse(text: &str) -> Option<Key> {
        let text = text.trim_matches([' ', '\t']);
        KEYS.iter().find(|spec| spec.name.eq_ignore_ascii_case(text)).map(|spec| spec.key)
    }

    fn spec(self) -> Option<&'static KeySpec> {
        KEYS.iter().find(|spec| spec.key == self)
    }

    fn name(self) -> &'static str {
        self.spec().map_or("", |spec| spec.name)
    }

    fn readable(self) -> bool {
        self.spec().is_some_and(|spec| spec.read)
    }

    fn writable(self) -> bool {
        self.spec().is_some_and(|spec| spec.write)
    }
}

/// The function's help without the XML documentation: its synopsis and its description (the keys, then
/// [`DESCRIPTION`]), for `core show function SPOOL`.
pub fn plain_help() -> (String, String) {
    let mut description: Vec<String> = KEYS.iter().map(|spec| format!("{}: {}", spec.name, spec.text)).collect();
    description.extend(DESCRIPTION.iter().map(|text| text.to_string()));
    (SYNOPSIS.to_string(), description.join("\n"))
}

/// The function's synopsis.
pub const SYNOPSIS: &str =
    "Reads about the call file of the call running it, and steers that file: its outcome and its \
                            next attempt.";

/// The names of the keys that can be read (`read`) or written, for messages.
fn key_names(read: bool) -> String {
    let names: Vec<&str> =
        KEYS.iter().filter(|spec| if read { spec.read } else { spec.write }).map(|spec| spec.name).collect();
    names.join(", ")
}

/// The channel that called `SPOOL()`.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub uniqueid: &'a str,
    pub name: &'a str,
}

/// Why a `SPOOL()` call did nothing: the whole line to log (it names the key and the channel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolFunctionError(pub String);

impl std::fmt::Display for SpoolFunctionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The attempts in flight, by their channel's uniqueid. Owned by the scheduler's `Control` (which
/// Asterisk's threads reach), filled and emptied by the workers through [`InFlightAttempt`].
#[derive(Debug, Default)]
pub struct SteeringBook {
    calls: Mutex<HashMap<String, InFlight>>,
}

#[derive(Debug)]
struct InFlight {
    facts: AttemptFacts,
    steering: DialplanSteering,
}

/// One attempt in the book, from just before its call is placed until [`InFlightAttempt::finish`] (or
/// drop) takes it out again.
#[derive(Debug)]
pub struct InFlightAttempt<'a> {
    book: &'a SteeringBook,
    uniqueid: String,
}

impl InFlightAttempt<'_> {
    /// Take the attempt out of the book: what its dialplan asked.
    pub fn finish(self) -> DialplanSteering {
        self.book.remove(&self.uniqueid).unwrap_or_default()
    }
}

impl Drop for InFlightAttempt<'_> {
    fn drop(&mut self) {
        self.book.remove(&self.uniqueid);
    }
}

impl SteeringBook {
    pub fn new() -> SteeringBook {
        SteeringBook::default()
    }

    fn calls(&self) -> std::sync::MutexGuard<'_, HashMap<String, InFlight>> {
        self.calls.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn remove(&self, uniqueid: &str) -> Option<DialplanSteering> {
        self.calls().remove(uniqueid).map(|call| call.steering)
    }

    /// Put the attempt whose channel gets `uniqueid` in the book, until the returned value is finished.
    pub fn enter(&self, uniqueid: &str, facts: AttemptFacts) -> InFlightAttempt<'_> {
        self.calls().insert(uniqueid.to_string(), InFlight { facts, steering: DialplanSteering::default() });
        InFlightAttempt { book: self, uniqueid: uniqueid.to_string() }
    }

    /// Attempts in the book now.
    pub fn in_flight(&self) -> usize {
        self.calls().len()
    }

    /// `SPOOL(<key>)` read by `caller` (`None`: called without a channel).
    pub fn read(&self, caller: Option<Caller<'_>>, key: &str) -> Result<String, SpoolFunctionError> {
        let (caller, key) = identify(caller, key, "read")?;
        if !key.readable() {
            return Err(refusal(key.name(), caller, &format!("it can only be written (reads: {})", key_names(true))));
        }
        let calls = self.calls();
        let call = calls.get(caller.uniqueid).ok_or_else(|| not_ours(key.name(), caller))?;
        let facts = &call.facts;
        Ok(match key {
            Key::File => facts.file.clone(),
            Key::Attempt => facts.attempt.to_string(),
            Key::Campaign => facts.campaign.clone(),
            Key::RetriesLeft => facts.retries_left.to_string(),
            Key::Tag => facts.tag.clone(),
            Key::Outcome => call.steering.outcome.clone().unwrap_or_default(),
            Key::Retry | Key::RetryAt => String::new(),
        })
    }

    /// `SPOOL(<key>)=<value>` written by `caller` (`None`: called without a channel), at `now`. Returns
    /// what was recorded, as logged.
    pub fn write(
        &self,
        caller: Option<Caller<'_>>,
        key: &str,
        value: &str,
        now: Millis,
    ) -> Result<String, SpoolFunctionError> {
        let (caller, key) = identify(caller, key, "written")?;
        if !key.writable() {
            return Err(refusal(key.name(), caller, &format!("it can only be read (writes: {})", key_names(false))));
        }
        let value = value.trim_matches([' ', '\t']);
        let bad =
            |why: &str| refusal(key.name(), caller, &format!("'{}' {why}", crate::text::escaped(value.as_bytes(), 64)));
        let mut calls = self.calls();
        let call = calls.get_mut(caller.uniqueid).ok_or_else(|| not_ours(key.name(), caller))?;
        match key {
            Key::Outcome => {
                if !is_outcome_word(value) {
                    return Err(bad(&format!("is not an outcome word (1 to {MAX_OUTCOME_LEN} of a-z, 0-9, _ and -)")));
                }
                call.steering.outcome = Some(value.to_string());
                Ok(format!("outcome {value}"))
            }
            Key::Retry => {
                let request = parse_retry(value).ok_or_else(|| {
                    bad(&format!("is neither a number of seconds (0 to {MAX_RETRY_SECONDS}) nor 'never'"))
                })?;
                call.steering.retry = Some(request);
                Ok(format!("retry {}", request.describe()))
            }
            Key::RetryAt => {
                let at = parse_time(value).ok_or_else(|| {
                    bad("is not a time (epoch seconds, or YYYY-MM-DDTHH:MM[:SS] with Z, +hh:mm or -hh:mm; UTC without)")
                })?;
                if at > now + i64::try_from(MAX_RETRY_SECONDS).unwrap_or(0) * 1000 {
                    return Err(bad("is more than a year ahead"));
                }
                let request = RetryRequest::At(at);
                call.steering.retry = Some(request);
                Ok(format!("retry {}", request.describe()))
            }
            _ => Err(refusal(key.name(), caller, "it can only be read")),
        }
    }
}

/// The caller and the key, or the error for a call without a channel or with an unknown key.
fn identify<'a>(caller: Option<Caller<'a>>, key: &str, verb: &str) -> Result<(Caller<'a>, Key), SpoolFunctionError> {
    let shown_key = crate::text::escaped(key.as_bytes(), 64);
    let Some(caller) = caller else {
        return Err(SpoolFunctionError(format!(
            "{FUNCTION}({shown_key}) was {verb} without a channel (AMI Getvar/Setvar without Channel, or similar): \
             only the channel the spool placed for a call file may use {FUNCTION}(); nothing done"
        )));
    };
    match Key::parse(key) {
        Some(key) => Ok((caller, key)),
        None => Err(refusal(
            &shown_key,
            caller,
            &format!("unknown key (reads: {}; writes: {})", key_names(true), key_names(false)),
        )),
    }
}

fn refusal(key: &str, caller: Caller<'_>, why: &str) -> SpoolFunctionError {
    let name = if caller.name.is_empty() { "<unnamed>" } else { caller.name };
    SpoolFunctionError(format!(
        "{FUNCTION}({key}) on channel {} (uniqueid {}): {why}; nothing done",
        crate::text::escaped(name.as_bytes(), 128),
        crate::text::escaped(caller.uniqueid.as_bytes(), 128)
    ))
}

fn not_ours(key: &str, caller: Caller<'_>) -> SpoolFunctionError {
    refusal(
        key,
        caller,
        "not a call the spool placed, or its attempt has ended (only the channel placed for a call file may use \
         SPOOL(); for Channel: Local/... that is the ;1 half, not the dialled ;2 half)",
    )
}

/// 1 to [`MAX_OUTCOME_LEN`] bytes of `a-z`, `0-9`, `_` and `-`.
pub fn is_outcome_word(value: &str) -> bool {
    (1..=MAX_OUTCOME_LEN).contains(&value.len())
        && value.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'-')
}

/// `SPOOL(retry)`'s value: seconds (0 to [`MAX_RETRY_SECONDS`]) or `never` (ASCII case-insensitive).
pub fn parse_retry(value: &str) -> Option<RetryRequest> {
    if value.eq_ignore_ascii_case("never") {
        return Some(RetryRequest::Never);
    }
    let seconds = crate::timestamp::digits(value)?;
    (seconds <= MAX_RETRY_SECONDS).then_some(RetryRequest::After { seconds })
}

/// `SPOOL(retry_at)`'s value as ms since the epoch: epoch seconds, or ISO-8601
/// `YYYY-MM-DDTHH:MM[:SS]` followed by `Z`, `+hh:mm`, `-hh:mm`, `+hhmm`, `-hhmm` or `+hh`/`-hh`, or by
/// nothing (UTC). A space is accepted in place of the `T`. See [`crate::timestamp`].
pub fn parse_time(value: &str) -> Option<Millis> {
    crate::timestamp::parse(value).map(|time| time.ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLACED: Caller<'static> = Caller { uniqueid: "spool-1", name: "Local/s@amd-00000001;1" };
    const OTHER: Caller<'static> = Caller { uniqueid: "1700000000.7", name: "PJSIP/alice-00000007" };

    fn book_with_one() -> SteeringBook {
        SteeringBook::new()
    }

    fn facts() -> AttemptFacts {
        AttemptFacts {
            file: "a.call".into(),
            attempt: 2,
            campaign: "sales".into(),
            retries_left: 1,
            tag: "lead-7".into(),
        }
    }

    #[test]
    fn the_placed_channel_reads_its_attempt_and_others_get_an_error_naming_key_and_channel() {
        let book = book_with_one();
        let attempt = book.enter(PLACED.uniqueid, facts());
        assert_eq!(book.read(Some(PLACED), "file").unwrap(), "a.call");
        assert_eq!(book.read(Some(PLACED), "ATTEMPT").unwrap(), "2");
        assert_eq!(book.read(Some(PLACED), "campaign").unwrap(), "sales");
        assert_eq!(book.read(Some(PLACED), "retries_left").unwrap(), "1");
        assert_eq!(book.read(Some(PLACED), " tag ").unwrap(), "lead-7");
        assert_eq!(book.read(Some(PLACED), "outcome").unwrap(), "");
        let err = book.read(Some(OTHER), "file").unwrap_err().0;
        assert!(
            err.starts_with("SPOOL(file) on channel PJSIP/alice-00000007 (uniqueid 1700000000.7): not a call"),
            "{err}"
        );
        let err = book.read(None, "tag").unwrap_err().0;
        assert!(err.starts_with("SPOOL(tag) was read without a channel"), "{err}");
        let err = book.read(Some(PLACED), "colour").unwrap_err().0;
        assert!(
            err.contains("SPOOL(colour) on channel Local/s@amd-00000001;1") && err.contains("unknown key"),
            "{err}"
        );
        let err = book.read(Some(PLACED), "retry").unwrap_err().0;
        assert!(err.contains("can only be written"), "{err}");
        assert_eq!(attempt.finish(), DialplanSteering::default());
        assert_eq!(book.in_flight(), 0);
        assert!(book.read(Some(PLACED), "file").is_err(), "an ended attempt is no longer found");
    }

    #[test]
    fn writes_are_recorded_for_the_placed_channel_only_and_bad_values_change_nothing() {
        let book = book_with_one();
        let attempt = book.enter(PLACED.uniqueid, facts());
        let now = 1_800_000_000_000;
        assert_eq!(book.write(Some(PLACED), "outcome", "voicemail", now).unwrap(), "outcome voicemail");
        assert_eq!(book.read(Some(PLACED), "outcome").unwrap(), "voicemail");
        assert!(book.write(Some(PLACED), "outcome", "Voice Mail", now).unwrap_err().0.contains("not an outcome word"));
        assert!(book.write(Some(PLACED), "outcome", &"x".repeat(33), now).is_err());
        assert!(book.write(Some(PLACED), "outcome", "", now).is_err());
        assert!(book.write(Some(PLACED), "retry", "soon", now).unwrap_err().0.contains("SPOOL(retry) on channel"));
        assert!(book.write(Some(PLACED), "retry", "-5", now).is_err());
        assert!(book.write(Some(PLACED), "file", "b.call", now).unwrap_err().0.contains("can only be read"));
        assert!(book
            .write(Some(OTHER), "outcome", "human", now)
            .unwrap_err()
            .0
            .contains("not a call the spool placed"));
        assert!(book.write(None, "outcome", "human", now).unwrap_err().0.contains("written without a channel"));
        assert_eq!(book.write(Some(PLACED), "retry", "3600", now).unwrap(), "retry in 3600 s");
        assert_eq!(
            attempt.finish(),
            DialplanSteering { outcome: Some("voicemail".into()), retry: Some(RetryRequest::After { seconds: 3600 }) }
        );
    }

    #[test]
    fn the_last_retry_written_wins_and_retry_at_is_bounded() {
        let book = book_with_one();
        let attempt = book.enter(PLACED.uniqueid, facts());
        let now = 1_800_000_000_000;
        book.write(Some(PLACED), "retry", "60", now).unwrap();
        book.write(Some(PLACED), "retry_at", "1800003600", now).unwrap();
        assert!(book.write(Some(PLACED), "retry_at", "2099-01-01T00:00Z", now).unwrap_err().0.contains("a year ahead"));
        assert_eq!(attempt.finish().retry, Some(RetryRequest::At(1_800_003_600_000)));
        let attempt = book.enter(PLACED.uniqueid, facts());
        book.write(Some(PLACED), "retry", "NEVER", now).unwrap();
        assert_eq!(attempt.finish().retry, Some(RetryRequest::Never));
    }

    #[test]
    fn a_dropped_attempt_leaves_the_book() {
        let book = book_with_one();
        drop(book.enter(PLACED.uniqueid, facts()));
        assert_eq!(book.in_flight(), 0);
    }

    #[test]
    fn times_are_read_as_epoch_seconds_or_iso_8601() {
        assert_eq!(parse_time("0"), Some(0));
        assert_eq!(parse_time("1800000000"), Some(1_800_000_000_000));
        assert_eq!(parse_time("1970-01-01T00:00"), Some(0));
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_time("2026-12-04T10:00:00Z"), Some(1_796_378_400_000));
        assert_eq!(parse_time("2026-12-04 10:00:00+01:00"), Some(1_796_374_800_000));
        assert_eq!(parse_time("2026-12-04T10:00-0130"), Some(1_796_383_800_000));
        assert_eq!(parse_time("2026-12-04T10:00+01"), Some(1_796_374_800_000));
        assert_eq!(parse_time("2024-02-29T00:00Z"), Some(1_709_164_800_000));
        for bad in [
            "",
            "soon",
            "2026-13-01T00:00",
            "2025-02-29T00:00",
            "2026-12-04T24:00",
            "2026-12-04",
            "2026-12-04T10:00X",
            "2026-12-04T10:00+1:00",
            "-5",
            "1e9",
            "2026-12-04T10:60",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn retries_and_outcomes_are_checked() {
        assert_eq!(parse_retry("0"), Some(RetryRequest::After { seconds: 0 }));
        assert_eq!(parse_retry("never"), Some(RetryRequest::Never));
        assert_eq!(parse_retry(&(MAX_RETRY_SECONDS + 1).to_string()), None);
        assert_eq!(parse_retry("1.5"), None);
        assert!(is_outcome_word("no-answer_2"));
        assert!(!is_outcome_word("voicemail!"));
        assert_eq!(RetryRequest::After { seconds: 2 }.due(1000), Some(3000));
        assert_eq!(RetryRequest::At(500).due(1000), Some(1000), "a past time means at once");
        assert_eq!(RetryRequest::Never.due(1000), None);
    }

    #[test]
    fn the_tag_is_the_last_spool_tag_assignment_with_or_without_inheritance() {
        let mut call = CallFile::default();
        assert_eq!(dialer_tag(&call), "");
        call.variables.push((b"__SPOOL_TAG".to_vec(), b"first".to_vec()));
        call.variables.push((b"OTHER".to_vec(), b"x".to_vec()));
        assert_eq!(dialer_tag(&call), "first");
        call.variables.push((b"_SPOOL_TAG".to_vec(), b"second".to_vec()));
        assert_eq!(dialer_tag(&call), "second");
        call.variables.push((b"___SPOOL_TAG".to_vec(), b"not it".to_vec()));
        assert_eq!(dialer_tag(&call), "second");
        call.max_retries = 2;
        let facts = AttemptFacts::of(&call, "t.call", 1, None);
        assert_eq!((facts.retries_left, facts.campaign.as_str(), facts.tag.as_str()), (2, "", "second"));
        assert_eq!(AttemptFacts::of(&call, "t.call", 3, None).retries_left, 0);
    }
}
