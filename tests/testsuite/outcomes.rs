//! The outcome of each attempt and retry rules by outcome, against the real Asterisk: real dialplan makes
//! the far end busy (`Busy()`), congested (`Congestion()`) or ring until the file's WaitTime runs out; the
//! outcome names must be in `SpoolAttemptEnded`, `SpoolFinished`, the archived file and `spool show file`,
//! and each retry must come after the delay its rule gives (by Asterisk's clock and the file's own
//! bookkeeping), not after the file's RetryTime. pbx_spool has no outcomes, so these run against
//! pbx_spool_rs alone.

use harness::events::{arrival_times, events, expect_finished, spool_event, ue};
use harness::files::marks;
use harness::{Asterisk, Message, Spooler, SOON};
use std::fs;

/// Each far end reports its attempt by Asterisk's clock (`At:`), then ends it its own way.
const DIALPLAN: &str = r#"
[busy]
exten => s,1,UserEvent(Dialled,File: ${FILE},At: ${STRFTIME(,,%s.%3q)})
 same => n,Busy()

[congestion]
exten => s,1,UserEvent(Dialled,File: ${FILE},At: ${STRFTIME(,,%s.%3q)})
 same => n,Congestion()

[ring]
exten => s,1,UserEvent(Dialled,File: ${FILE},At: ${STRFTIME(,,%s.%3q)})
 same => n,Ringing()
 same => n,Wait(30)

[hangup]
exten => s,1,UserEvent(Dialled,File: ${FILE},At: ${STRFTIME(,,%s.%3q)})
 same => n,Hangup()

; Hangs up with a cause: Local hands it to the dialled channel (;1), whose last update carries it.
[nosuchnumber]
exten => s,1,UserEvent(Dialled,File: ${FILE},At: ${STRFTIME(,,%s.%3q)})
 same => n,Hangup(1)

[answer]
exten => s,1,Answer()
 same => n,Wait(1)

[report]
exten => s,1,Hangup()
"#;

/// A call file to `Local/s@<far_end>` with a RetryTime far longer than any rule below, so a retry that
/// comes soon came by its rule.
fn call(far_end: &str, file: &str, extra: &str) -> String {
    format!(
        "Channel: Local/s@{far_end}\nContext: report\nExtension: s\nRetryTime: 60\nArchive: yes\nSet: FILE={file}\n{extra}"
    )
}

const CONF: &str = "[general]\nretry_rules = busy:2, congestion:1, noanswer:3s, unallocated:never\n\n\
                    [stop]\nmatch = stop-*\nretry_rules = busy:never\n";

/// `SpoolAttemptEnded` events of `outgoing/<name>`, in order.
fn ended(ast: &Asterisk, name: &str) -> Vec<Message> {
    events(ast, spool_event(ast, "SpoolAttemptEnded", name))
}

fn seconds(text: &str) -> f64 {
    text.parse().unwrap_or_else(|_| panic!("{text:?} is not seconds"))
}

/// The file's attempts came `delay` seconds after the end of the one before (an attempt lasting
/// `attempt_s`), by Asterisk's clock; each end announced that delay, the rule it came from, and the date
/// it wrote, which the file's EndRetry line confirms and the next attempt keeps.
fn assert_spaced(ast: &Asterisk, name: &str, file: &str, attempts: usize, attempt_s: f64, delay: u32, outcome: &str) {
    let dialled = arrival_times(ast, attempts, SOON, ue("Dialled", file));
    expect_finished(ast, name);
    let ends = ended(ast, name);
    assert_eq!(ends.len(), attempts, "{name}: one SpoolAttemptEnded per attempt\n{}", ast.diagnostics());
    let archived = fs::read_to_string(ast.outgoing_done_dir().join(name)).expect("archived");
    let end_stamps: Vec<i64> = marks(&archived).iter().filter(|m| m.tag == "EndRetry").map(|m| m.stamp).collect();
    assert_eq!(end_stamps.len(), attempts - 1, "{archived}");
    for (n, end) in ends.iter().enumerate() {
        assert_eq!(end.get("Outcome"), Some(outcome), "{end}");
        assert_eq!(end.get("Attempt"), Some((n + 1).to_string().as_str()), "{end}");
        if n + 1 == attempts {
            assert_eq!(end.get("RetryDelay"), Some("none"), "the last attempt MaxRetries allows: {end}");
            continue;
        }
        assert_eq!(end.get("RetryDelay"), Some(delay.to_string().as_str()), "{end}");
        assert_eq!(end.get("RetryRule"), Some("[general] retry_rules"), "{end}");
        let next = seconds(end.get("NextAttempt").expect("NextAttempt"));
        // Written as pbx_spool writes RetryTime: the EndRetry stamp (whole seconds) plus the delay.
        let stamp = end_stamps[n] as f64;
        assert!(next >= stamp + f64::from(delay) && next < stamp + f64::from(delay) + 1.0, "{next} vs {stamp}: {end}");
        // The next attempt keeps that date: not before it, and soon after.
        let next_dialled = dialled[n + 1].as_secs_f64();
        assert!(next_dialled >= next - 0.05 && next_dialled <= next + 1.5, "dialled at {next_dialled}, due {next}");
        // And by Asterisk's clock, the rule's delay after the attempt before ended, not RetryTime (60 s).
        let gap = next_dialled - dialled[n].as_secs_f64();
        let least = attempt_s + f64::from(delay);
        assert!(gap >= least - 0.05 && gap <= least + 1.5, "{name}: attempts {gap:.3}s apart, expected {least}s");
    }
}

/// Busy, congestion and no answer, each retried after its own rule's delay within MaxRetries, then
/// expired with the last outcome in `SpoolFinished` and in the archive (comment lines stock pbx_spool
/// skips, one per attempt, before `Status:`).
#[test]
fn busy_congestion_and_no_answer_are_named_and_retried_after_their_rules_delay() {
    let ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).file("pbx_spool_rs.conf", CONF).start();
    ast.drop_call_file("busy.call", &call("busy", "busy", "MaxRetries: 2\n"));
    ast.drop_call_file("congestion.call", &call("congestion", "congestion", "MaxRetries: 1\n"));
    ast.drop_call_file("noanswer.call", &call("ring", "noanswer", "MaxRetries: 1\nWaitTime: 2\n"));
    assert_spaced(&ast, "busy.call", "busy", 3, 0.0, 2, "busy");
    assert_spaced(&ast, "congestion.call", "congestion", 2, 0.0, 1, "congestion");
    assert_spaced(&ast, "noanswer.call", "noanswer", 2, 2.0, 3, "noanswer");
    // Asterisk's dial gives the channel it times out cause 19; Busy() and Congestion() reach the dialled
    // channel as indications, without a cause of its own.
    for (name, outcome, reason, attempts, cause) in [
        ("busy.call", "busy", 5, 3, None),
        ("congestion.call", "congestion", 8, 2, None),
        ("noanswer.call", "noanswer", 3, 2, Some("19")),
    ] {
        let finished = expect_finished(&ast, name);
        assert_eq!(finished.get("Status"), Some("Expired"), "{finished}");
        assert_eq!(finished.get("Outcome"), Some(outcome), "{finished}");
        assert_eq!(finished.get("Reason"), Some(reason.to_string().as_str()), "{finished}");
        assert_eq!(finished.get("Cause"), cause, "{finished}");
        let archived = fs::read_to_string(ast.outgoing_done_dir().join(name)).unwrap();
        let lines: Vec<&str> = archived.lines().filter(|line| line.starts_with("# pbx_spool_rs: Outcome: ")).collect();
        let expected: Vec<String> = (1..=attempts)
            .map(|n| format!("# pbx_spool_rs: Outcome: {outcome} (attempt {n}, reason {reason}: "))
            .collect();
        assert_eq!(lines.len(), attempts, "{archived}");
        for (line, start) in lines.iter().zip(&expected) {
            assert!(line.starts_with(start.as_str()), "{line} / {start}\n{archived}");
        }
        assert!(archived.ends_with(")\nStatus: Expired\n"), "{archived}");
        let last_line = archived.lines().rev().nth(1).unwrap_or_default();
        assert!(last_line.starts_with(&expected[attempts - 1]), "the last outcome right before Status: {archived}");
    }
    // Stock pbx_spool would read the archived file back without a word: every outcome line is a comment.
    assert_eq!(ast.log_lines_with(&["Unknown keyword"]).len(), 0, "{}", ast.diagnostics());
    assert_eq!(ast.log_lines_with(&["Syntax error"]).len(), 0, "{}", ast.diagnostics());
}

/// A campaign's `busy:never` ends the file after its first busy attempt (Expired, despite MaxRetries),
/// while `spool show file` shows the outcome of a file still queued; an answered call is `answered`.
#[test]
fn never_ends_the_file_and_show_file_tells_the_last_outcome() {
    let ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).file("pbx_spool_rs.conf", CONF).start();
    ast.drop_call_file("stop-1.call", &call("busy", "stop", "MaxRetries: 5\n"));
    let finished = expect_finished(&ast, "stop-1.call");
    assert_eq!(finished.get("Status"), Some("Expired"), "{finished}");
    assert_eq!(finished.get("Outcome"), Some("busy"), "{finished}");
    assert_eq!(finished.get("Attempts"), Some("1"), "{finished}");
    let end = &ended(&ast, "stop-1.call")[0];
    assert_eq!(
        (end.get("RetryDelay"), end.get("RetryRule"), end.get("Campaign")),
        (Some("never"), Some("[stop] retry_rules"), Some("stop")),
        "{end}"
    );
    ast.expect_log_lines(&["Outcome busy of Local/s@busy: no further attempt ([stop] retry_rules"], 1);

    // The far end hangs up without a word: failed, which has no rule, so the file's RetryTime (60 s).
    ast.drop_call_file("later.call", &call("hangup", "later", "MaxRetries: 1\n"));
    let end = ast.expect_event("the first attempt's end", SOON, spool_event(&ast, "SpoolAttemptEnded", "later.call"));
    assert_eq!(
        (end.get("Outcome"), end.get("Reason"), end.get("RetryDelay"), end.get("RetryRule")),
        (Some("failed"), Some("0"), Some("60"), Some("RetryTime")),
        "{end}"
    );
    let shown = ast.cli("spool show file later.call");
    assert!(shown.contains("\nOutcome:     failed (attempt 1, reason 0: "), "{shown}");

    ast.drop_call_file("answered.call", &call("answer", "answered", ""));
    let finished = expect_finished(&ast, "answered.call");
    assert_eq!((finished.get("Status"), finished.get("Outcome")), (Some("Completed"), Some("answered")), "{finished}");
    let archived = fs::read_to_string(ast.outgoing_done_dir().join("answered.call")).unwrap();
    assert!(archived.ends_with("\nStatus: Completed\n"), "{archived}");
    assert!(archived.contains("\n# pbx_spool_rs: Outcome: answered (attempt 1, reason 4: "), "{archived}");
}

/// A far end that hangs up with cause 1 (unallocated number): the cause is read from the dialled channel's
/// own updates (Asterisk's originate reports only reason 0), so the outcome is `unallocated`, and
/// `unallocated:never` ends the file after that one attempt.
#[test]
fn a_hangup_cause_names_the_outcome_and_never_ends_the_file() {
    let ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).file("pbx_spool_rs.conf", CONF).start();
    ast.drop_call_file("gone.call", &call("nosuchnumber", "gone", "MaxRetries: 3\n"));
    let finished = expect_finished(&ast, "gone.call");
    assert_eq!(
        (finished.get("Status"), finished.get("Outcome"), finished.get("Attempts")),
        (Some("Expired"), Some("unallocated"), Some("1")),
        "{finished}"
    );
    assert_eq!((finished.get("Reason"), finished.get("Cause")), (Some("0"), Some("1")), "{finished}");
    assert!(
        finished.get("CauseText").is_some_and(|text| text.to_ascii_lowercase().contains("unallocated")),
        "{finished}"
    );
    let end = &ended(&ast, "gone.call")[0];
    assert_eq!((end.get("RetryDelay"), end.get("Cause")), (Some("never"), Some("1")), "{end}");
    let archived = fs::read_to_string(ast.outgoing_done_dir().join("gone.call")).unwrap();
    assert!(
        archived.contains("\n# pbx_spool_rs: Outcome: unallocated (attempt 1, reason 0: ")
            && archived.contains(", cause 1: "),
        "{archived}"
    );
    assert!(archived.ends_with(")\nStatus: Expired\n"), "{archived}");
}
