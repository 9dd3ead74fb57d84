//! The outcome of one call attempt as a name an admin reads (`busy`, `noanswer`, `unallocated`, ...):
//! the built-in names declared once, how Asterisk's `reason` (and the hangup cause, where known) maps onto
//! them, which other names are valid (the dialplan may choose its own, such as `voicemail`), and the
//! comment line that records an attempt's outcome in the call file.
//!
//! Asterisk's `ast_pbx_outgoing_exten`/`_app` hand back only the `reason` (an `AST_CONTROL_*` number):
//! `pbx_dial_reason` folds the dialled channel's hangup cause into it (busy, congestion, ringing, or 0
//! for everything else), and the `failed` extension gets the same number as `${REASON}`. The host reads
//! the cause where the channel has one ([`crate::host::CallResult::cause`]: the module, from the
//! channel's own updates); the names derived from a cause apply then. Pure data and text: no I/O, no FFI.

/// An attempt answered (and run to its end).
pub const ANSWERED: &str = "answered";
/// The far end was busy.
pub const BUSY: &str = "busy";
/// The network or the far end was congested (circuit busy, temporary failure).
pub const CONGESTION: &str = "congestion";
/// It rang (or was dialled) until WaitTime ran out, or the far end reported no answer.
pub const NOANSWER: &str = "noanswer";
/// Asterisk's reason 1: the dial's caller hung up (a spool call has none, so this comes from the dialplan;
/// a far end hanging up before answer is [`FAILED`]).
pub const HANGUP: &str = "hangup";
/// Any other failure (the channel could not be created, the far end hung up without saying why).
pub const FAILED: &str = "failed";
/// The number does not exist (hangup cause 1, unallocated number): known only from the cause.
pub const UNALLOCATED: &str = "unallocated";
/// The far end rejected the call (hangup cause 21, call rejected): known only from the cause.
pub const REJECTED: &str = "rejected";

/// Every built-in outcome name with what it means, in the order the documentation lists them.
pub const BUILT_IN: &[(&str, &str)] = &[
    (ANSWERED, "answered (Asterisk's reason 4)"),
    (BUSY, "the far end was busy (reason 5; cause 17)"),
    (CONGESTION, "congestion or a temporary failure (reason 8; causes 34, 41, 42)"),
    (NOANSWER, "no answer within WaitTime (reason 3; causes 18, 19)"),
    (HANGUP, "the dial's caller hung up (reason 1; never for a spool call, which has no caller)"),
    (FAILED, "any other failure (reason 0)"),
    (UNALLOCATED, "the number does not exist (cause 1)"),
    (REJECTED, "the call was rejected (cause 21)"),
];

/// The longest outcome name accepted.
pub const MAX_NAME_LEN: usize = 32;

/// Asterisk's `AST_CONTROL_*` numbers that `reason` takes (stable across versions: they are in the
/// manager protocol's `OriginateResponse` too).
const CONTROL_HANGUP: i32 = 1;
const CONTROL_RINGING: i32 = 3;
const CONTROL_ANSWER: i32 = 4;
const CONTROL_BUSY: i32 = 5;
const CONTROL_CONGESTION: i32 = 8;

/// The outcome name of an attempt: from the hangup cause where it is known and names a built-in outcome
/// more precisely than the reason, else from the reason.
pub fn of_attempt(answered: bool, reason: i32, cause: Option<i32>) -> &'static str {
    if answered {
        return ANSWERED;
    }
    if let Some(name) = cause.and_then(of_cause) {
        return name;
    }
    match reason {
        CONTROL_ANSWER => ANSWERED,
        CONTROL_BUSY => BUSY,
        CONTROL_CONGESTION => CONGESTION,
        CONTROL_RINGING => NOANSWER,
        CONTROL_HANGUP => HANGUP,
        _ => FAILED,
    }
}

/// The outcome a Q.850 hangup cause names, for the causes that say more than "failed".
pub fn of_cause(cause: i32) -> Option<&'static str> {
    match cause {
        1 => Some(UNALLOCATED),
        17 => Some(BUSY),
        18 | 19 => Some(NOANSWER),
        21 => Some(REJECTED),
        34 | 41 | 42 => Some(CONGESTION),
        _ => None,
    }
}

/// Whether `name` is a valid outcome name: 1 to [`MAX_NAME_LEN`] of `a-z`, `0-9`, `_` and `-`. Built-in
/// names and names the dialplan chooses follow the same rule.
pub fn is_valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Whether `name` is one of [`BUILT_IN`].
pub fn is_built_in(name: &str) -> bool {
    BUILT_IN.iter().any(|(known, _)| *known == name)
}

/// One attempt's outcome, as recorded in the call file and shown by `spool show file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub name: String,
    pub attempt: i32,
    pub reason: i32,
    pub reason_text: String,
    /// The hangup cause and its text, where known.
    pub cause: Option<(i32, String)>,
    /// `name` is the word the call's dialplan wrote to `SPOOL(outcome)`, not the one read from Asterisk's
    /// reason and cause.
    pub set_by_dialplan: bool,
}

/// What starts every outcome line in a call file (after the `# ` that makes it a comment).
const LINE_PREFIX: &str = "pbx_spool_rs: Outcome: ";

impl Recorded {
    /// The text of the comment line (without its `# `): `pbx_spool_rs: Outcome: busy (attempt 2, reason
    /// 5: Remote end is busy)`, with `, cause 17: User busy` where the cause is known. Stock pbx_spool
    /// and pbx_spool_rs skip `#` lines, so a file holding it stays readable by both.
    pub fn note(&self) -> String {
        let mut text = format!(
            "{LINE_PREFIX}{} (attempt {}, reason {}: {}",
            self.name,
            self.attempt,
            self.reason,
            one_line(&self.reason_text)
        );
        if let Some((cause, cause_text)) = &self.cause {
            text.push_str(&format!(", cause {cause}: {}", one_line(cause_text)));
        }
        if self.set_by_dialplan {
            text.push_str(", set by the dialplan");
        }
        text.push(')');
        text
    }

    /// The complete line as written into a call file, newline included.
    pub fn line(&self) -> String {
        format!("# {}\n", self.note())
    }
}

/// A text on one line, as a comment needs it.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// The outcome lines of a call file's text, in file order: (outcome name, attempt number, the rest as
/// written).
pub fn recorded_in(bytes: &[u8]) -> Vec<(String, i32, String)> {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("# ")?.strip_prefix(LINE_PREFIX)?;
            let (name, details) = rest.split_once(" (attempt ")?;
            let attempt = details.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()?;
            is_valid(name).then(|| (name.to_string(), attempt, rest.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_map_to_the_built_in_names() {
        assert_eq!(of_attempt(true, 4, None), ANSWERED);
        assert_eq!(of_attempt(false, 5, None), BUSY);
        assert_eq!(of_attempt(false, 8, None), CONGESTION);
        assert_eq!(of_attempt(false, 3, None), NOANSWER);
        assert_eq!(of_attempt(false, 1, None), HANGUP);
        assert_eq!(of_attempt(false, 0, None), FAILED);
        assert_eq!(of_attempt(false, 99, None), FAILED);
    }

    #[test]
    fn a_known_cause_names_the_outcome_more_precisely() {
        assert_eq!(of_attempt(false, 0, Some(1)), UNALLOCATED);
        assert_eq!(of_attempt(false, 0, Some(21)), REJECTED);
        assert_eq!(of_attempt(false, 5, Some(17)), BUSY);
        assert_eq!(of_attempt(false, 8, Some(34)), CONGESTION);
        assert_eq!(of_attempt(false, 3, Some(19)), NOANSWER);
        // A cause that says nothing more leaves the reason's name.
        assert_eq!(of_attempt(false, 0, Some(16)), FAILED);
        assert_eq!(of_attempt(false, 5, Some(16)), BUSY);
        // Answered is answered, whatever cause the channel ended with.
        assert_eq!(of_attempt(true, 4, Some(16)), ANSWERED);
    }

    #[test]
    fn built_in_names_are_valid_and_unique() {
        for (i, (name, text)) in BUILT_IN.iter().enumerate() {
            assert!(is_valid(name), "{name}");
            assert!(!text.is_empty());
            assert!(BUILT_IN[..i].iter().all(|(other, _)| other != name), "{name} twice");
        }
    }

    #[test]
    fn names_the_dialplan_chooses_follow_the_same_rule() {
        for good in ["voicemail", "machine-2", "do_not_call", "x", &"a".repeat(MAX_NAME_LEN)] {
            assert!(is_valid(good), "{good}");
            assert!(!is_built_in(good) || good == "x", "{good}");
        }
        for bad in ["", "Busy", "no answer", "busy:300", "é", &"a".repeat(MAX_NAME_LEN + 1)] {
            assert!(!is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn an_outcome_line_is_a_comment_both_parsers_skip_and_reads_back() {
        let recorded = Recorded {
            name: BUSY.into(),
            attempt: 2,
            reason: 5,
            reason_text: "Remote end is busy".into(),
            cause: Some((17, "User busy\nforged".into())),
            set_by_dialplan: false,
        };
        let line = recorded.line();
        assert_eq!(
            line,
            "# pbx_spool_rs: Outcome: busy (attempt 2, reason 5: Remote end is busy, cause 17: User busy forged)\n"
        );
        let text = format!("Channel: Local/s@x\nContext: c\nExtension: s\n\nEndRetry: 1 2 (5)\n{line}");
        let parsed = crate::callfile::parse(text.as_bytes());
        assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
        assert_eq!(parsed.call.retries, 1);
        let found = recorded_in(text.as_bytes());
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].0.as_str(), found[0].1), ("busy", 2));
        assert!(found[0].2.ends_with("cause 17: User busy forged)"), "{}", found[0].2);
        assert!(recorded_in(b"# pbx_spool_rs: Outcome: Not Valid (attempt 1, reason 0: x)\n").is_empty());
    }
}
