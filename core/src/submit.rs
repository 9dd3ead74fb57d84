//! `SpoolSubmit`: an AMI request turned into a call file. The request's headers are a call file's keys
//! (`Channel`, `Context`/`Extension`/`Priority` or `Application`/`Data`, `CallerID`, `MaxRetries`, ...,
//! `Set` repeatable), plus `Tag` (the dialer's tag, written as `Set: SPOOL_TAG=<tag>`), `Due` (when the
//! first attempt is due) and `SubmitID` (the client's own ID, which names the file so that a repeated
//! submission finds the first one instead of placing a second call).
//!
//! Pure: builds the file's text, name and due time from the headers, and refuses what Asterisk's own
//! Originate would only run with the `system` permission. No I/O: the AMI side checks the text with the
//! same policy as a file in `outgoing/` and writes it with [`crate::spool_writer`]. No jiff either (this
//! runs on Asterisk's manager threads): due times carry their offset.

use crate::bookkeeping::Millis;

/// Headers copied into the call file as `Key: value` lines, in this order (a call file's usual order).
const CALL_FILE_KEYS: &[&str] = &[
    "Channel",
    "CallerID",
    "WaitTime",
    "MaxRetries",
    "RetryTime",
    "Account",
    "Codecs",
    "EarlyMedia",
    "Context",
    "Extension",
    "Priority",
    "Application",
    "Data",
    "Archive",
    "AlwaysDelete",
];

/// Headers that add a `Set:` line each time they are given (`Variable` as Originate names it).
const SET_HEADERS: &[&str] = &["Set", "Variable"];

/// Headers of the AMI protocol itself, not of the call.
const PROTOCOL_HEADERS: &[&str] = &["Action", "ActionID"];

/// The other headers this action reads.
pub const TAG_HEADER: &str = "Tag";
pub const DUE_HEADER: &str = "Due";
pub const SUBMIT_ID_HEADER: &str = "SubmitID";

use crate::tag::TAG_VARIABLE;

/// The prefix of every submitted file's name.
pub const NAME_PREFIX: &str = "submit";

const MAX_SUBMIT_ID: usize = 64;

/// A request turned into a call file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The call file's text.
    pub text: String,
    /// `submit-<SubmitID>.call` when the client gave an ID; `None`: a fresh unique name.
    pub name: Option<String>,
    /// When the first attempt is due (the file's mtime).
    pub due: Millis,
}

/// Every header this action accepts, for its documentation and its error message.
pub fn accepted_headers() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = CALL_FILE_KEYS.to_vec();
    all.extend_from_slice(SET_HEADERS);
    all.extend_from_slice(&[TAG_HEADER, DUE_HEADER, SUBMIT_ID_HEADER]);
    all
}

/// The call file for a request with `headers` (name, value; in the order received, names in any case),
/// due at `Due` or at `now`. The error is one sentence for the AMI response.
pub fn build(headers: &[(String, String)], now: Millis) -> Result<Submission, String> {
    let mut values: Vec<Option<&str>> = vec![None; CALL_FILE_KEYS.len()];
    let mut sets: Vec<&str> = Vec::new();
    let (mut tag, mut due, mut submit_id) = (None, None, None);
    for (name, value) in headers {
        let value = value.trim();
        if value.contains(['\r', '\n', '\0']) {
            return Err(format!("{name}: a value must be one line"));
        }
        let is = |candidate: &str| name.eq_ignore_ascii_case(candidate);
        if PROTOCOL_HEADERS.iter().any(|h| is(h)) {
            continue;
        }
        if SET_HEADERS.iter().any(|h| is(h)) {
            if !value.contains('=') {
                return Err(format!("{name}: {value:?} is not name=value"));
            }
            sets.push(value);
            continue;
        }
        let slot = if let Some(i) = CALL_FILE_KEYS.iter().position(|key| is(key)) {
            &mut values[i]
        } else if is(TAG_HEADER) {
            &mut tag
        } else if is(DUE_HEADER) {
            &mut due
        } else if is(SUBMIT_ID_HEADER) {
            &mut submit_id
        } else {
            return Err(format!("Unknown header {name}: SpoolSubmit takes {}", accepted_headers().join(", ")));
        };
        if slot.replace(value).is_some() {
            return Err(format!("{name}: given twice"));
        }
    }
    let get = |key: &str| CALL_FILE_KEYS.iter().position(|k| *k == key).and_then(|i| values[i]);
    if get("Channel").map_or(true, str::is_empty) {
        return Err("Channel: is required".into());
    }
    match (get("Application"), get("Context").or(get("Extension"))) {
        (Some(_), Some(_)) => return Err("Give Application/Data or Context/Extension/Priority, not both".into()),
        (None, None) => return Err("Application: or Context:/Extension: is required".into()),
        (Some(app), None) => {
            if let Some(why) = needs_system_permission(app, get("Data").unwrap_or("")) {
                return Err(format!(
                    "Application {app}: {why}; Asterisk's Originate runs it only for managers with the system \
                     permission, which pbx_spool_rs cannot see for an AMI session, so SpoolSubmit never places \
                     it (write a call file instead)"
                ));
            }
        }
        (None, Some(_)) => {}
    }
    let mut text = String::new();
    for (key, value) in CALL_FILE_KEYS.iter().zip(&values) {
        if let Some(value) = value {
            text.push_str(&format!("{key}: {value}\n"));
        }
    }
    if let Some(tag) = tag {
        let tag = crate::tag::check(tag.as_bytes()).map_err(|why| format!("Tag: {why}"))?;
        text.push_str(&format!("Set: {TAG_VARIABLE}={tag}\n"));
    }
    for set in sets {
        text.push_str(&format!("Set: {set}\n"));
    }
    let name = match submit_id {
        Some(id) => Some(format!("{NAME_PREFIX}-{}.call", check_submit_id(id)?)),
        None => None,
    };
    let due = match due {
        Some(text) => parse_due(text).ok_or_else(|| {
            format!(
                "Due: {text:?} is not a time: give Unix seconds or YYYY-MM-DDTHH:MM[:SS] with Z or an offset \
                 (+01:00)"
            )
        })?,
        None => now,
    };
    Ok(Submission { text, name, due })
}

/// A client's ID as it may appear in a file name: letters, digits, `_`, `.`, `-`, not starting with `.`
/// or `-`, at most 64 characters.
fn check_submit_id(id: &str) -> Result<&str, String> {
    let valid = !id.is_empty()
        && id.len() <= MAX_SUBMIT_ID
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !id.starts_with(['.', '-']);
    if valid {
        Ok(id)
    } else {
        Err(format!(
            "SubmitID: {id:?}: use up to {MAX_SUBMIT_ID} letters, digits, '_', '.' or '-', not starting with '.' or \
             '-'"
        ))
    }
}

/// Why Asterisk's Originate would need the `system` permission for `app` with `data` (its
/// `originate_app_permissions` in main/manager.c: applications matched anywhere in the name, ignoring
/// case; functions matched anywhere in the data, minding case; Queue only with its AGI argument).
pub fn needs_system_permission(app: &str, data: &str) -> Option<String> {
    const APPLICATIONS: &[&str] =
        &["agi", "dbdeltree", "exec", "externalivr", "mixmonitor", "originate", "reload", "system"];
    const FUNCTIONS: &[&str] = &["CURL", "DB", "EVAL", "FILE", "ODBC", "REALTIME", "SHELL"];
    let app_lower = app.to_ascii_lowercase();
    if let Some(found) = APPLICATIONS.iter().find(|needle| app_lower.contains(*needle)) {
        return Some(format!("its name contains {found:?}"));
    }
    if app_lower.contains("queue") && data.split(',').nth(5).is_some_and(|agi| !agi.trim().is_empty()) {
        return Some("Queue with an AGI argument".into());
    }
    FUNCTIONS.iter().find(|needle| data.contains(*needle)).map(|found| format!("its data contains {found:?}"))
}

/// `Due:`: Unix seconds, or an RFC 3339 time (`T` or a blank between date and time, seconds optional)
/// with `Z` or a `±HH:MM` offset: a time without its zone is refused, since a dialer's local time read as
/// UTC would place the call hours off (see [`crate::timestamp`]).
pub fn parse_due(text: &str) -> Option<Millis> {
    crate::timestamp::parse(text.trim()).filter(|time| time.zone_given).map(|time| time.ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn headers_become_a_call_file_in_the_usual_order() {
        let request = headers(&[
            ("Action", "SpoolSubmit"),
            ("ActionID", "42"),
            ("extension", "s"),
            ("Channel", "Local/100@from-dialer"),
            ("Variable", "LANG=de"),
            ("Context", "reminders"),
            ("MaxRetries", "2"),
            ("Set", "WHO=Anna, Berlin"),
            ("Tag", "crm-7781"),
            ("SubmitID", "crm-7781.a"),
        ]);
        let submission = build(&request, 1_000).unwrap();
        assert_eq!(
            submission.text,
            "Channel: Local/100@from-dialer\nMaxRetries: 2\nContext: reminders\nExtension: s\n\
             Set: SPOOL_TAG=crm-7781\nSet: LANG=de\nSet: WHO=Anna, Berlin\n"
        );
        assert_eq!(submission.name.as_deref(), Some("submit-crm-7781.a.call"));
        assert_eq!(submission.due, 1_000, "no Due: due now");
    }

    #[test]
    fn what_cannot_be_a_call_file_is_refused_with_its_reason() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("Context", "x"), ("Extension", "s")], "Channel: is required"),
            (&[("Channel", "Local/1@x")], "is required"),
            (&[("Channel", "Local/1@x"), ("Application", "Wait"), ("Context", "x")], "not both"),
            (&[("Channel", "Local/1@x"), ("Channel", "Local/2@x"), ("Context", "x")], "given twice"),
            (&[("Channel", "Local/1@x"), ("Context", "x"), ("Bogus", "1")], "Unknown header Bogus"),
            (&[("Channel", "Local/1@x"), ("Context", "x"), ("Set", "novalue")], "not name=value"),
            (&[("Channel", "Local/1@x"), ("Context", "x"), ("SubmitID", "../x")], "SubmitID"),
            (&[("Channel", "Local/1@x"), ("Context", "x"), ("Due", "tomorrow")], "is not a time"),
            (&[("Channel", "Local/1@x"), ("Context", "x"), ("Tag", &"x".repeat(200))], "Tag: "),
            (&[("Channel", "Local/1@x"), ("Application", "System"), ("Data", "rm -rf /")], "system permission"),
            (&[("Channel", "Local/1@x"), ("Application", "Playback"), ("Data", "${SHELL(id)}")], "SHELL"),
        ];
        for (pairs, expected) in cases {
            let error = build(&headers(pairs), 0).unwrap_err();
            assert!(error.contains(expected), "{pairs:?}: {error}");
        }
    }

    #[test]
    fn originates_system_list_is_mirrored() {
        assert!(needs_system_permission("MixMonitor", "x.wav").is_some());
        assert!(needs_system_permission("TrySystem", "").is_some(), "matched anywhere in the name");
        assert!(needs_system_permission("Queue", "support,,,,,agi://x").is_some());
        assert!(needs_system_permission("Queue", "support,t").is_none());
        assert!(needs_system_permission("Playback", "tt-monkeys").is_none());
        assert!(needs_system_permission("Playback", "db-recording").is_none(), "function names mind case");
    }

    #[test]
    fn due_times_carry_their_offset() {
        assert_eq!(parse_due("1767225600"), Some(1_767_225_600_000));
        assert_eq!(parse_due("2026-01-01T00:00:00Z"), Some(1_767_225_600_000));
        assert_eq!(parse_due("2026-01-01 01:00+01:00"), Some(1_767_225_600_000));
        assert_eq!(parse_due("2025-12-31T19:00:00-05:00"), Some(1_767_225_600_000));
        assert_eq!(parse_due("2024-02-29T12:00Z"), Some(1_709_208_000_000));
        for bad in ["2026-01-01T00:00:00", "2026-02-30T00:00Z", "2026-13-01T00:00Z", "26-01-01T00:00Z", "", "-5"] {
            assert_eq!(parse_due(bad), None, "{bad:?}");
        }
    }
}
