//! `SpoolSubmit`: a call placed over the AMI through the spool. Accepted submissions become call files
//! in `outgoing/` (placed, archived and retried like any), a client's `SubmitID` is placed once however
//! often it is sent, refusals name their rule and write nothing, and a submission survives a crash before
//! its due time. Checked with the AMI response, the far end's UserEvents, the spool's events and the
//! file system. pbx_spool has no such action: these run against pbx_spool_rs.

use std::fs;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use harness::events::{assert_never_attempted, expect_finished, placed};
use harness::{Asterisk, Message, Spooler, SOON};

const DIALPLAN: &str = r#"
[answer]
exten => s,1,Answer()
 same => n,Wait(1)

[report]
exten => s,1,UserEvent(Placed,Tag: ${TAG})
 same => n,Hangup()
"#;

fn submit(ast: &Asterisk, headers: &[(&str, &str)]) -> Message {
    ast.ami().action("SpoolSubmit", headers, SOON)
}

fn outgoing_names(ast: &Asterisk) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(ast.outgoing_dir())
        .map(|dir| dir.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_submission_is_placed_like_a_call_file_and_its_id_only_once() {
    let ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).start();
    let request = [
        ("Channel", "Local/s@answer"),
        ("Context", "report"),
        ("Extension", "s"),
        ("Archive", "yes"),
        ("Set", "TAG=first"),
        ("SubmitID", "order-1"),
    ];
    let accepted = submit(&ast, &request);
    assert!(accepted.has("Response", "Success") && accepted.has("Duplicate", "no"), "{accepted}");
    assert!(accepted.has("File", "submit-order-1.call"), "{accepted}");
    ast.expect_event("the submitted call", SOON, placed("first"));
    let finished = expect_finished(&ast, "submit-order-1.call");
    assert!(finished.has("Status", "Completed"), "{finished}");
    let archived = fs::read_to_string(ast.outgoing_done_dir().join("submit-order-1.call")).unwrap();
    assert!(archived.starts_with("Channel: Local/s@answer\n") && archived.contains("Set: TAG=first\n"), "{archived}");

    // The same ID again, after the call: answered with the finished file, nothing written.
    let again = submit(&ast, &request);
    assert!(again.has("Response", "Success") && again.has("Duplicate", "yes"), "{again}");
    assert!(again.has("File", "submit-order-1.call"), "{again}");
    assert!(outgoing_names(&ast).is_empty(), "a second file was written: {:?}", outgoing_names(&ast));
}

#[test]
fn a_refused_submission_names_its_rule_and_writes_nothing() {
    let ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).start();
    let cases: &[(&[(&str, &str)], &str)] = &[
        // The same rule a call file with this line meets.
        (&[("Channel", "Local/s@answer"), ("Context", "report"), ("Extension", "s"), ("Set", "SHELL(id)=1")], "SHELL"),
        // What Originate runs only for managers with the system permission.
        (&[("Channel", "Local/s@answer"), ("Application", "System"), ("Data", "touch /tmp/x")], "system permission"),
        (&[("Channel", "Local/s@answer")], "is required"),
        (&[("Channel", "Local/s@answer"), ("Context", "report"), ("Due", "tomorrow")], "is not a time"),
    ];
    for (headers, expected) in cases {
        let answer = submit(&ast, headers);
        let message = answer.get("Message").unwrap_or_default();
        assert!(answer.has("Response", "Error") && message.starts_with("Refused: "), "{headers:?}: {answer}");
        assert!(message.contains(expected), "{headers:?}: expected {expected:?} in {message:?}");
    }
    assert!(outgoing_names(&ast).is_empty(), "{:?}", outgoing_names(&ast));
    ast.expect_log("SpoolSubmit refused: ", SOON);
}

#[test]
fn a_submission_due_later_survives_a_crash_and_is_placed_once() {
    let mut ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).start();
    let due = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(6);
    let due = due.as_secs().to_string();
    let request = [
        ("Channel", "Local/s@answer"),
        ("Context", "report"),
        ("Extension", "s"),
        ("Set", "TAG=later"),
        ("Due", due.as_str()),
        ("SubmitID", "later"),
    ];
    let accepted = submit(&ast, &request);
    assert!(accepted.has("Response", "Success"), "{accepted}");
    assert_eq!(outgoing_names(&ast), ["submit-later.call"]);
    assert_never_attempted(&ast, "submit-later.call");
    ast.crash();
    ast.restart();
    // Sent again after the restart (a dialer that never saw the first answer): still one file.
    let again = submit(&ast, &request);
    assert!(again.has("Duplicate", "yes"), "{again}");
    ast.expect_event("the submitted call after the restart", SOON * 2, placed("later"));
    expect_finished(&ast, "submit-later.call");
    assert_eq!(ast.ami().count_events(placed("later")), 1);
}
