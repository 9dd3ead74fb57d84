//! Operability of pbx_spool_rs: what an admin sees on the CLI (`spool show status|queue|file`,
//! `spool check`, `spool rescan`) on a spool in a known state, the manager events a dialer follows
//! (`SpoolAttempt`, `SpoolFinished`) for each way a call file ends, and the CLI commands' lifetime
//! with the module's. pbx_spool has none of these, so every test runs against pbx_spool_rs alone.

use std::fs;
use std::time::{Duration, SystemTime};

use harness::events::{expect_finished, placed, spool_event};
use harness::files::{outgoing_names, shown};
use harness::{set_mtime, Asterisk, Message, Spooler, ABSENCE, RUST_SO, SOON};

/// - `answer`: the far end of `Local/s@answer`: answers, stays up.
/// - `slow`: rings for 6 s, then answers: an attempt that stays in progress long enough to look at.
/// - `busy`: busy at once. `ring`: rings and never answers.
/// - `report`: where the spool's side goes once answered; reports its tag and uniqueid.
const DIALPLAN: &str = r#"
[answer]
exten => s,1,Answer()
 same => n,Wait(20)

[slow]
exten => s,1,UserEvent(Ringing,Tag: ${TAG})
 same => n,Ringing()
 same => n,Wait(6)
 same => n,Answer()
 same => n,Wait(20)

[busy]
exten => s,1,Busy()

[ring]
exten => s,1,Ringing()
 same => n,Wait(30)

[report]
exten => s,1,UserEvent(Placed,Tag: ${TAG},Uid: ${UNIQUEID},Chan: ${CHANNEL(name)})
 same => n,Hangup()
"#;

fn start() -> Asterisk {
    Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).start()
}

fn call(channel: &str, tag: &str, extra: &str) -> String {
    format!("Channel: {channel}\nContext: report\nExtension: s\nSet: TAG={tag}\n{extra}")
}

/// The value column of the `spool show status` row whose label starts with `label`.
fn status_value(status: &str, label: &str) -> Option<String> {
    status
        .lines()
        .find(|line| line.trim_start().starts_with(label))
        .and_then(|line| line.trim_start()[label.len()..].split_whitespace().last().map(str::to_owned))
}

/// Waits until `spool show status` says `value` for `label`; returns the whole output.
fn expect_status(ast: &Asterisk, label: &str, value: &str) -> String {
    let mut last = String::new();
    let ok = harness::wait_until(SOON, || {
        last = ast.cli("spool show status");
        status_value(&last, label).as_deref() == Some(value)
    });
    assert!(ok, "`spool show status` never said {label} = {value}:\n{last}\n{}", ast.diagnostics());
    last
}

/// The `spool show queue` row of `name`.
fn queue_row<'a>(queue: &'a str, name: &str) -> Option<&'a str> {
    queue.lines().find(|line| line.split_whitespace().next() == Some(name))
}

// ----- 1. the CLI on a known spool -------------------------------------------------------------------

/// Mismatches collected over a long scenario and reported together at its end, so one wrong row does
/// not hide the state of all the others.
#[derive(Default)]
struct Checks(Vec<String>);

impl Checks {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    fn contains(&mut self, text: &str, part: &str, context: &str) {
        self.check(text.contains(part), || format!("{context}: {part:?} missing from:\n{text}"));
    }

    fn finish(self, ast: &Asterisk) {
        assert!(
            self.0.is_empty(),
            "{} check(s) failed:\n\n{}\n{}",
            self.0.len(),
            self.0.join("\n\n"),
            ast.diagnostics()
        );
    }
}

/// A spool holding one call completed, one waiting for a retry, one queued three hours ahead and one
/// ringing: `spool show status` counts each, `spool show queue` lists the waiting ones soonest first
/// with channel, destination, "attempt x of y" and the time left, `spool show file` shows the parsed
/// fields, the state and the verdict, and the totals follow the completions.
#[test]
fn cli_shows_a_known_spool() {
    let ast = start();
    let mut checks = Checks::default();

    // Completed.
    ast.drop_call_file("done.call", &call("Local/s@answer", "done", ""));
    assert_eq!(expect_finished(&ast, "done.call").get("Status"), Some("Completed"));

    // Failed once (busy), waiting for its retry a minute later.
    ast.drop_call_file("retry.call", &call("Local/s@busy", "retry", "MaxRetries: 3\nRetryTime: 60\n"));
    ast.expect_until("the first attempt of retry.call to fail and be recorded", SOON, || {
        fs::read_to_string(ast.outgoing_dir().join("retry.call")).is_ok_and(|t| t.contains("EndRetry: "))
            && !ast.cli("spool show file retry.call").contains("attempt in progress")
    });

    // Queued three hours ahead (handed over already dated, as dialers do).
    let tmp = ast.spool_dir().join("future-tmp");
    fs::write(&tmp, call("Local/s@answer", "future", "MaxRetries: 2\n")).unwrap();
    set_mtime(&tmp, SystemTime::now() + Duration::from_secs(3 * 3600));
    fs::rename(&tmp, ast.outgoing_dir().join("future.call")).unwrap();
    ast.expect_until("future.call to be queued", SOON, || {
        ast.cli("spool show file future.call").contains("State:       queued")
    });

    // In progress: rings for 6 s.
    ast.drop_call_file("progress.call", &call("Local/s@slow", "progress", ""));
    ast.expect_event("progress.call to ring", SOON, |e| e.is_user_event("Ringing") && e.has("Tag", "progress"));
    let status = expect_status(&ast, "Calls in progress", "1");
    let file = ast.cli("spool show file progress.call");
    checks.contains(&file, "State:       attempt in progress", "spool show file progress.call");

    for (label, value) in [
        ("Queued (waiting for their time)", "1"),
        ("Waiting for a retry", "1"),
        ("Due, held back by maxcalls/maxrate", "0"),
        ("Calls in progress", "1"),
        ("Being written", "0"),
        ("Left for the admin", "0"),
        ("Attempts", "3"),
        ("Completed", "1"),
        ("Expired", "0"),
        ("Failed", "0"),
        ("Rejected by policy", "0"),
        ("first_leg", "local"),
    ] {
        let got = status_value(&status, label);
        checks.check(got.as_deref() == Some(value), || {
            format!("spool show status: {label} is {got:?}, expected {value:?}:\n{status}")
        });
    }
    checks.check(status.starts_with("Outgoing spool (pbx_spool_rs)"), || status.clone());

    // The queue: the retry (due in about a minute) before the future file; the running call is not
    // waiting, so it is not listed.
    let queue = ast.cli("spool show queue");
    let retry = queue_row(&queue, "retry.call").unwrap_or_default();
    for part in ["Local/s@busy", "s@report:1", "2 of 4"] {
        checks.contains(retry, part, &format!("the retry.call row of:\n{queue}"));
    }
    checks.check(retry.contains("in 5") || retry.contains("in 1m 00s"), || format!("due in about a minute:\n{queue}"));
    let future = queue_row(&queue, "future.call").unwrap_or_default();
    for part in ["Local/s@answer", "s@report:1", "1 of 3", "in 2h 59m"] {
        checks.contains(future, part, &format!("the future.call row of:\n{queue}"));
    }
    checks.check(queue.find("retry.call") < queue.find("future.call"), || format!("soonest first:\n{queue}"));
    checks.check(queue_row(&queue, "progress.call").is_none(), || format!("a running call is listed:\n{queue}"));
    checks.contains(&queue, "2 file(s) listed", "spool show queue");
    let first = ast.cli("spool show queue 1");
    checks.check(queue_row(&first, "retry.call").is_some() && queue_row(&first, "future.call").is_none(), || {
        format!("spool show queue 1:\n{first}")
    });
    checks.contains(&first, "1 file(s) listed", "spool show queue 1");

    // One file in detail.
    let file = ast.cli("spool show file future.call");
    for line in [
        format!("File:        {}", shown(&ast, "future.call")),
        "Channel:     Local/s@answer".to_owned(),
        "Destination: s@report:1".to_owned(),
        "Attempts:    0 made, up to 3 (MaxRetries 2), RetryTime 300s, WaitTime 45s".to_owned(),
        "Archive:     no   AlwaysDelete: yes".to_owned(),
        "Set:         TAG=future".to_owned(),
        "Problems:    none".to_owned(),
        "Verdict:     would be placed".to_owned(),
        "State:       queued".to_owned(),
    ] {
        checks.contains(&file, &line, "spool show file future.call");
    }
    let file = ast.cli("spool show file retry.call");
    checks.contains(&file, "Attempts:    1 made, up to 4 (MaxRetries 3), RetryTime 60s", "spool show file retry.call");
    checks.contains(&file, "State:       waiting for its next attempt", "spool show file retry.call");
    let missing = ast.cli("spool show file nosuch.call");
    checks.check(missing.contains("nosuch.call") && missing.contains("no longer exists"), || missing.clone());
    let escape = ast.cli("spool show file ../../etc/passwd");
    checks.contains(&escape, "Give the name of a file in the outgoing directory", "spool show file ../../etc/passwd");

    // The ringing call is answered and completes: the totals follow.
    ast.expect_event("progress.call to be placed", SOON, placed("progress"));
    let status = expect_status(&ast, "Completed", "2");
    for (label, value) in [("Calls in progress", "0"), ("Attempts", "3")] {
        let got = status_value(&status, label);
        checks.check(got.as_deref() == Some(value), || format!("after completion: {label} is {got:?}:\n{status}"));
    }

    let rescan = ast.cli("spool rescan");
    checks.contains(&rescan, &format!("Rescanning {}", ast.inside_path(&ast.outgoing_dir())), "spool rescan");
    // A rescan re-reads the directory without dialling anything again.
    let late = ast.ami().wait_for_count(4, ABSENCE, |e| e.is_event("SpoolAttempt"));
    checks.check(late == 3, || format!("{late} attempts after the rescan, expected 3"));
    let names = outgoing_names(&ast);
    checks.check(names == ["future.call", "retry.call"], || format!("outgoing/ holds {names:?}"));
    checks.finish(&ast);
}

/// `spool check <path>` examines a file outside the spool as the spool would: its problems with line
/// numbers and the policy's verdict, without queueing or dialling it.
#[test]
fn spool_check_reports_problems_and_verdict_without_queueing() {
    let ast = start();
    let bad = ast.path("bad.call");
    fs::write(&bad, "Channel: PJSIP/1@trunk\nBogus line\nContext: report\nExtension: s\nFrobnicate: 1\n").unwrap();
    let good = ast.path("good.call");
    fs::write(&good, call("Local/s@answer", "good", "CallerID: \"Alice\" <100>\n")).unwrap();
    let (bad_inside, good_inside) = (ast.inside_path(&bad), ast.inside_path(&good));

    let report = ast.cli(&format!("spool check {bad_inside}"));
    for line in [
        format!("File:        {bad_inside}"),
        "Channel:     PJSIP/1@trunk".to_owned(),
        "Destination: s@report:1".to_owned(),
        format!("  line 2: Syntax error at line 2 of {bad_inside}"),
        format!("  line 5: Unknown keyword 'Frobnicate' at line 5 of {bad_inside}"),
        format!("Verdict:     REFUSED: Rejected {bad_inside}: "),
        "(rule first_leg, value 'PJSIP/1@trunk')".to_owned(),
    ] {
        assert!(report.contains(&line), "{line:?} missing:\n{report}");
    }
    let report = ast.cli(&format!("spool check {good_inside}"));
    for line in [
        "Channel:     Local/s@answer",
        "CallerID:    \"Alice\" <100>",
        "Problems:    none",
        "Verdict:     would be placed",
    ] {
        assert!(report.contains(line), "{line:?} missing:\n{report}");
    }
    let report = ast.cli(&format!("spool check {}", ast.inside_path(&ast.path("nosuch.call"))));
    assert!(report.contains("no longer exists") || report.contains("No such file"), "{report}");

    // Nothing was queued or dialled, and both files are where they were.
    let late = ast.ami().wait_for_event(ABSENCE, |e| {
        e.is_event("SpoolAttempt") || e.is_event("SpoolFinished") || e.is_user_event("Placed")
    });
    assert!(late.is_none(), "spool check queued something:\n{}", late.unwrap());
    assert!(bad.exists() && good.exists());
    assert!(outgoing_names(&ast).is_empty());
    let status = ast.cli("spool show status");
    assert_eq!(status_value(&status, "Attempts").as_deref(), Some("0"), "{status}");
    assert_eq!(status_value(&status, "Rejected by policy").as_deref(), Some("0"), "{status}");
}

// ----- 2. manager events ---------------------------------------------------------------------------------

fn only<'a>(events: &'a [Message], what: &str) -> &'a Message {
    assert_eq!(events.len(), 1, "exactly one {what}: {events:?}");
    &events[0]
}

/// The events a dialer follows, for each way a call file ends: SpoolAttempt at every attempt, and one
/// SpoolFinished with the final Status (Completed, Expired, Failed, Rejected), the attempts made and
/// the Uniqueid of the last attempt's channel, which is the Uniqueid the originated channel really has
/// (its Newchannel event, and `${UNIQUEID}` in its dialplan).
#[test]
fn manager_events_for_each_outcome() {
    let ast = start();
    ast.drop_call_file("completed.call", &call("Local/s@answer", "completed", ""));
    ast.drop_call_file("expired.call", &call("Local/s@ring", "expired", "MaxRetries: 1\nRetryTime: 1\nWaitTime: 1\n"));
    ast.drop_call_file("failed.call", "Channel: Local/s@answer\nSet: TAG=failed\n");
    ast.drop_call_file("rejected.call", &call("PJSIP/1@trunk", "rejected", ""));

    // Completed.
    let report = ast.expect_event("completed.call to run its dialplan", SOON, placed("completed"));
    let done = expect_finished(&ast, "completed.call");
    let attempts: Vec<Message> =
        ast.ami().events().into_iter().filter(spool_event(&ast, "SpoolAttempt", "completed.call")).collect();
    let attempt = only(&attempts, "SpoolAttempt for completed.call");
    for (key, value) in [
        ("File", shown(&ast, "completed.call").as_str()),
        ("Channel", "Local/s@answer"),
        ("Destination", "s@report:1"),
        ("Attempt", "1"),
        ("MaxRetries", "0"),
    ] {
        assert_eq!(attempt.get(key), Some(value), "{key}:\n{attempt}");
    }
    let uid = attempt.get("Uniqueid").filter(|u| !u.is_empty()).expect("SpoolAttempt has a Uniqueid").to_owned();
    assert_eq!(report.get("Uid"), Some(uid.as_str()), "the dialplan's ${{UNIQUEID}}:\n{report}\n{attempt}");
    let newchannel = ast
        .expect_event("the Newchannel of that Uniqueid", SOON, |e| e.is_event("Newchannel") && e.has("Uniqueid", &uid));
    let chan = newchannel.get("Channel").unwrap_or_default();
    assert!(chan.starts_with("Local/s@answer-") && chan.ends_with(";1"), "{newchannel}");
    for (key, value) in [
        ("Channel", "Local/s@answer"),
        ("Status", "Completed"),
        ("Attempts", "1"),
        ("MaxRetries", "0"),
        ("Uniqueid", uid.as_str()),
        ("Linkedid", uid.as_str()),
    ] {
        assert_eq!(done.get(key), Some(value), "{key}:\n{done}");
    }
    assert!(done.get("Reason").is_some() && done.get("ReasonText").is_some(), "{done}");

    // Expired: two attempts never answered.
    let done = expect_finished(&ast, "expired.call");
    let attempts: Vec<Message> =
        ast.ami().events().into_iter().filter(spool_event(&ast, "SpoolAttempt", "expired.call")).collect();
    let numbers: Vec<&str> = attempts.iter().filter_map(|e| e.get("Attempt")).collect();
    assert_eq!(numbers, ["1", "2"], "{attempts:?}");
    assert!(attempts.iter().all(|e| e.has("MaxRetries", "1") && e.has("Channel", "Local/s@ring")), "{attempts:?}");
    let last_uid = attempts[1].get("Uniqueid").unwrap_or_default();
    assert_ne!(attempts[0].get("Uniqueid"), Some(last_uid), "each attempt has its own channel");
    for (key, value) in [
        ("Channel", "Local/s@ring"),
        ("Status", "Expired"),
        ("Attempts", "2"),
        ("MaxRetries", "1"),
        ("Uniqueid", last_uid),
    ] {
        assert_eq!(done.get(key), Some(value), "{key}:\n{done}");
    }
    assert_ne!(done.get("Reason"), Some("4"), "never answered:\n{done}");

    // Failed (invalid: no Context/Extension/Application) and Rejected (first leg): no attempt.
    for (name, status, channel) in
        [("failed.call", "Failed", "Local/s@answer"), ("rejected.call", "Rejected", "PJSIP/1@trunk")]
    {
        let done = expect_finished(&ast, name);
        for (key, value) in [("Status", status), ("Attempts", "0"), ("MaxRetries", "0"), ("Channel", channel)] {
            assert_eq!(done.get(key), Some(value), "{name} {key}:\n{done}");
        }
        assert_eq!(ast.ami().count_events(spool_event(&ast, "SpoolAttempt", name)), 0, "{name}");
    }

    // Exactly one SpoolFinished per file, even after a moment.
    let extra = ast.ami().wait_for_count(5, ABSENCE, |e| e.is_event("SpoolFinished"));
    assert_eq!(extra, 4, "{}", ast.diagnostics());
    let status = ast.cli("spool show status");
    for (label, value) in
        [("Attempts", "3"), ("Completed", "1"), ("Expired", "1"), ("Failed", "1"), ("Rejected by policy", "1")]
    {
        assert_eq!(status_value(&status, label).as_deref(), Some(value), "{label}:\n{status}");
    }
}

// ----- 3. CLI lifetime -------------------------------------------------------------------------------------

/// The five `spool` commands exist while the module is loaded, are gone after `module unload`, and
/// come back with `module load`.
#[test]
fn unload_removes_the_cli_commands_and_load_restores_them() {
    let ast = start();
    let commands = ["spool show status", "spool show queue", "spool show file", "spool check", "spool rescan"];
    let help = ast.cli("core show help spool");
    for command in commands {
        assert!(help.contains(command), "{command:?} missing:\n{help}");
    }
    let out = ast.cli(&format!("module unload {RUST_SO}"));
    assert!(!ast.module_loaded(RUST_SO), "still loaded: {out}\n{}", ast.diagnostics());
    let help = ast.cli("core show help spool");
    for command in commands {
        assert!(!help.contains(command), "{command:?} still registered after unload:\n{help}");
    }
    let status = ast.cli("spool show status");
    assert!(!status.contains("Outgoing spool"), "{status}");

    ast.cli(&format!("module load {RUST_SO}"));
    assert!(ast.module_running(RUST_SO), "{}", ast.diagnostics());
    let help = ast.cli("core show help spool");
    for command in commands {
        assert!(help.contains(command), "{command:?} missing after load:\n{help}");
    }
    assert!(ast.cli("spool show status").starts_with("Outgoing spool (pbx_spool_rs)"));
    ast.drop_call_file("after.call", &call("Local/s@answer", "after", ""));
    ast.expect_event("a call placed after the reload", SOON, placed("after"));
    ast.assert_alive();
}
