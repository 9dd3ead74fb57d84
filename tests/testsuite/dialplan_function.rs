//! The dialplan function `SPOOL()` in a real Asterisk: the call's own dialplan reads its file, attempt and
//! tag, records an outcome and asks for its next attempt (or none), from a `Context:` file and from an
//! `Application:` file (an AGI script); any other channel (the `;2` half of the call's Local channel, a
//! call the spool did not place, the AMI without a channel) gets a WARNING and changes nothing; a call
//! file cannot write `SPOOL()` itself; `core show function SPOOL` answers from the installed XML.
//! pbx_spool has no such function: every test runs against pbx_spool_rs alone.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use harness::events::{arrival_times, assert_no_more, events, expect_finished, spool_event, ue};
use harness::{Asterisk, Message, Spooler, ABSENCE, SOON};

/// - `answer`: the far end of `Local/s@answer` (the `;2` half): answers, stays up.
/// - `reads`: reads every key on the placed channel and reports them.
/// - `amd`: an answering-machine check: attempt 1 is "voicemail", call back in 2 s; attempt 2 is "human".
/// - `never`: asks for a retry, then changes its mind: no further attempt.
/// - `steal`: the `;2` half of `Local/s@steal` tries to steer the call it belongs to.
/// - `intruder`: a call placed by the AMI, not by the spool, tries SPOOL().
const DIALPLAN: &str = r#"
[answer]
exten => s,1,Answer()
 same => n,Wait(20)

[reads]
exten => s,1,UserEvent(SpoolRead,File: ${FILE},Name: ${SPOOL(file)},Attempt: ${SPOOL(attempt)},Tag: ${SPOOL(tag)},Left: ${SPOOL(retries_left)},Campaign: [${SPOOL(campaign)}])
 same => n,Hangup()

[amd]
exten => s,1,UserEvent(Amd,File: ${FILE},Attempt: ${SPOOL(attempt)},At: ${STRFTIME(,,%s.%3q)})
 same => n,GotoIf($[${SPOOL(attempt)} > 1]?human)
 same => n,Set(SPOOL(outcome)=voicemail)
 same => n,Set(SPOOL(retry)=2)
 same => n,Hangup()
 same => n(human),Set(SPOOL(outcome)=human)
 same => n,Hangup()

[never]
exten => s,1,Set(SPOOL(retry)=60)
 same => n,Set(SPOOL(outcome)=do-not-call)
 same => n,Set(SPOOL(retry)=never)
 same => n,UserEvent(Never,File: ${FILE},Outcome: ${SPOOL(outcome)})
 same => n,Hangup()

[steal]
exten => s,1,Answer()
 same => n,Set(SPOOL(outcome)=stolen)
 same => n,UserEvent(Stolen,File: ${FILE},Result: ${SPOOL(file)})
 same => n,Wait(20)

[waits]
exten => s,1,Wait(1)
 same => n,Hangup()

[intruder]
exten => s,1,Set(SPOOL(retry)=5)
 same => n,UserEvent(Intruder,File: intruder,Read: [${SPOOL(file)}])
 same => n,Hangup()
"#;

fn start() -> Asterisk {
    Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).module("res_speech.so").module("res_agi.so").start()
}

fn finished_field(event: &Message, key: &str) -> String {
    event.get(key).unwrap_or("").to_owned()
}

#[test]
fn the_placed_channel_reads_its_file_attempt_tag_and_retries_left() {
    let ast = start();
    let text = "Channel: Local/s@answer\nContext: reads\nExtension: s\nMaxRetries: 2\n\
                Set: __SPOOL_TAG=lead-42\nSet: FILE=reads\n";
    ast.drop_call_file("reads.call", text);
    let read = ast.expect_event("the dialplan's SPOOL() reads", SOON, ue("SpoolRead", "reads"));
    assert_eq!(read.get("Name"), Some("reads.call"), "{read}");
    assert_eq!(read.get("Attempt"), Some("1"), "{read}");
    assert_eq!(read.get("Tag"), Some("lead-42"), "{read}");
    assert_eq!(read.get("Left"), Some("2"), "{read}");
    assert_eq!(read.get("Campaign"), Some("[]"), "outside campaigns: {read}");
    let finished = expect_finished(&ast, "reads.call");
    assert_eq!(finished.get("Status"), Some("Completed"), "{finished}");
    assert_eq!(finished.get("Outcome"), Some("answered"), "nothing written: Asterisk's outcome: {finished}");
    assert!(events(&ast, spool_event(&ast, "SpoolSteered", "reads.call")).is_empty(), "reads steer nothing");
    assert!(ast.log_lines_with(&["SPOOL("]).is_empty(), "{}", ast.diagnostics());
}

/// The AMD case: answered, but the dialplan says voicemail and asks for a call back in 2 s: the file is
/// requeued (not Completed), dialled again about 2 s later, and its second attempt's outcome is archived.
#[test]
fn an_answered_call_asking_for_a_retry_is_dialled_again_two_seconds_later() {
    let ast = start();
    let text = "Channel: Local/s@answer\nContext: amd\nExtension: s\nMaxRetries: 2\nRetryTime: 300\n\
                Archive: yes\nSet: FILE=amd\n";
    ast.drop_call_file("amd.call", text);
    let times = arrival_times(&ast, 2, SOON, ue("Amd", "amd"));
    let gap = times[1] - times[0];
    assert!(
        gap >= Duration::from_millis(1900) && gap <= Duration::from_millis(6000),
        "the second attempt came {gap:?} after the first, where the dialplan asked for 2 s (RetryTime is 300 s)\n{}",
        ast.diagnostics()
    );
    let numbers: Vec<String> =
        events(&ast, ue("Amd", "amd")).iter().map(|e| e.get("Attempt").unwrap_or("").to_owned()).collect();
    assert_eq!(numbers, ["1", "2"], "SPOOL(attempt) per attempt");

    let steered = events(&ast, spool_event(&ast, "SpoolSteered", "amd.call"));
    let first = steered.first().unwrap_or_else(|| panic!("no SpoolSteered\n{}", ast.diagnostics()));
    assert_eq!(first.get("Attempt"), Some("1"), "{first}");
    assert_eq!(first.get("Outcome"), Some("voicemail"), "{first}");
    assert_eq!(first.get("Retry"), Some("requeued"), "{first}");
    let due: f64 = first.get("Due").and_then(|due| due.parse().ok()).unwrap_or_else(|| panic!("Due: {first}"));
    let attempted_again = times[1].as_secs_f64();
    assert!(
        (attempted_again - due) > -0.1 && (attempted_again - due) < 3.0,
        "attempt 2 at {attempted_again}, due at {due}\n{}",
        ast.diagnostics()
    );

    let finished = expect_finished(&ast, "amd.call");
    assert_eq!(
        (
            finished_field(&finished, "Status"),
            finished_field(&finished, "Outcome"),
            finished_field(&finished, "Attempts")
        ),
        ("Completed".into(), "human".into(), "2".into()),
        "{finished}"
    );
    let archived = fs::read_to_string(ast.outgoing_done_dir().join("amd.call")).expect("archived");
    assert!(archived.contains("\nEndRetry: "), "the requeued attempt ended with EndRetry:\n{archived}");
    assert!(archived.contains("# pbx_spool_rs: Outcome: human (attempt 2, "), "{archived}");
    assert!(archived.ends_with(", set by the dialplan)\nStatus: Completed\n"), "{archived}");
    let completed = ast.expect_log_lines(&["Call completed to Local/s@answer"], 1);
    assert_eq!(completed.len(), 1, "only the second attempt completes: {completed:?}");
}

/// `SPOOL(retry)=never` after a retry request: the last write wins, the file is finished after one attempt.
#[test]
fn retry_never_finishes_the_file_after_one_attempt() {
    let ast = start();
    let text = "Channel: Local/s@answer\nContext: never\nExtension: s\nMaxRetries: 5\nArchive: yes\nSet: FILE=never\n";
    ast.drop_call_file("never.call", text);
    let never = ast.expect_event("the dialplan's writes", SOON, ue("Never", "never"));
    assert_eq!(never.get("Outcome"), Some("do-not-call"), "SPOOL(outcome) reads back: {never}");
    let finished = expect_finished(&ast, "never.call");
    assert_eq!(finished.get("Status"), Some("Completed"), "{finished}");
    assert_eq!(finished.get("Outcome"), Some("do-not-call"), "{finished}");
    assert_eq!(finished.get("Attempts"), Some("1"), "{finished}");
    let steered = ast.expect_event("SpoolSteered", SOON, spool_event(&ast, "SpoolSteered", "never.call"));
    assert_eq!(steered.get("Retry"), Some("never"), "{steered}");
    let archived = fs::read_to_string(ast.outgoing_done_dir().join("never.call")).expect("archived");
    assert!(archived.contains("# pbx_spool_rs: Outcome: do-not-call (attempt 1, "), "{archived}");
    assert!(archived.ends_with(", set by the dialplan)\nStatus: Completed\n"), "{archived}");
    ast.expect_log("asked for no further attempt", SOON);
}

/// An `Application:` file: the application (an AGI script from agi-bin) runs on the placed channel, so
/// it reads and writes SPOOL() through AGI's variable commands.
#[test]
fn an_application_file_steers_through_its_agi_script() {
    let ast = start();
    let agi_bin = ast.path("data/agi-bin");
    if fs::symlink_metadata(&agi_bin).is_ok_and(|meta| meta.file_type().is_symlink()) {
        fs::remove_file(&agi_bin).expect("remove the agi-bin link");
    }
    fs::create_dir_all(&agi_bin).expect("agi-bin");
    let report = ast.path("agi-report");
    let report_inside = ast.inside_path(&report);
    let script = format!(
        "#!/bin/sh\nwhile read line && [ -n \"$line\" ]; do :; done\n\
         echo 'GET FULL VARIABLE ${{SPOOL(file)}}'; read file\n\
         echo 'GET FULL VARIABLE ${{SPOOL(attempt)}}'; read attempt\n\
         echo 'SET VARIABLE SPOOL(outcome) agi-steered'; read set\n\
         echo \"$file|$attempt|$set\" > {report_inside}.tmp && mv {report_inside}.tmp {report_inside}\n"
    );
    fs::write(agi_bin.join("steer.sh"), script).expect("AGI script");
    fs::set_permissions(agi_bin.join("steer.sh"), fs::Permissions::from_mode(0o755)).expect("chmod");
    ast.drop_call_file("app.call", "Channel: Local/s@answer\nApplication: AGI\nData: steer.sh\nArchive: yes\n");
    let finished = expect_finished(&ast, "app.call");
    assert_eq!(finished.get("Status"), Some("Completed"), "{finished}\n{}", ast.diagnostics());
    assert_eq!(finished.get("Outcome"), Some("agi-steered"), "{finished}\n{}", ast.diagnostics());
    let said = fs::read_to_string(&report).expect("the AGI script's report");
    let parts: Vec<&str> = said.trim_end().split('|').collect();
    assert_eq!(parts.len(), 3, "{said}");
    assert!(parts[0].contains("(app.call)"), "SPOOL(file) through AGI: {said}");
    assert!(parts[1].contains("(1)"), "SPOOL(attempt) through AGI: {said}");
    assert!(parts[2].starts_with("200 result=1"), "SPOOL(outcome) written through AGI: {said}");
}

/// Only the channel placed for the file may use SPOOL(): the `;2` half of the call's Local channel, a
/// call the AMI originated and the AMI's Getvar each get a WARNING naming the key and the channel, and
/// the call file's end is what pbx_spool's rules make it.
#[test]
fn other_channels_get_a_warning_and_change_nothing() {
    let ast = start();
    let text = "Channel: Local/s@steal\nContext: waits\nExtension: s\nMaxRetries: 1\nArchive: yes\nSet: FILE=steal\n";
    ast.drop_call_file("steal.call", text);
    let stolen = ast.expect_event("the ;2 half's attempt", SOON, ue("Stolen", "steal"));
    assert_eq!(stolen.get("Result"), Some(""), "the ;2 half reads nothing: {stolen}");
    let finished = expect_finished(&ast, "steal.call");
    assert_eq!(finished.get("Status"), Some("Completed"), "{finished}");
    assert_eq!(finished.get("Outcome"), Some("answered"), "the ;2 half's write changed nothing: {finished}");
    let warnings = ast.expect_log_lines(
        &["WARNING", "SPOOL(outcome) on channel Local/s@steal-", ";2 ", "not a call the spool placed"],
        1,
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(events(&ast, spool_event(&ast, "SpoolSteered", "steal.call")).is_empty());

    let originated = ast.ami().action(
        "Originate",
        &[("Channel", "Local/s@answer"), ("Context", "intruder"), ("Exten", "s"), ("Priority", "1"), ("Async", "true")],
        SOON,
    );
    assert_eq!(originated.get("Response"), Some("Success"), "{originated}");
    let intruder = ast.expect_event("the AMI's call", SOON, |e: &Message| e.is_user_event("Intruder"));
    assert_eq!(intruder.get("Read"), Some("[]"), "{intruder}");
    ast.expect_log_lines(
        &["WARNING", "SPOOL(retry) on channel Local/s@answer-", ";1 ", "not a call the spool placed"],
        1,
    );
    ast.expect_log_lines(
        &["WARNING", "SPOOL(file) on channel Local/s@answer-", ";1 ", "not a call the spool placed"],
        1,
    );

    let getvar = ast.ami().action("Getvar", &[("Variable", "SPOOL(tag)")], SOON);
    assert_eq!(getvar.get("Value").unwrap_or(""), "", "{getvar}");
    ast.expect_log_lines(&["WARNING", "SPOOL(tag) on channel", "not a call the spool placed"], 1);
    // An unknown key names itself.
    let getvar = ast.ami().action("Getvar", &[("Variable", "SPOOL(colour)")], SOON);
    assert_eq!(getvar.get("Value").unwrap_or(""), "", "{getvar}");
    ast.expect_log_lines(&["WARNING", "SPOOL(colour) on channel", "unknown key"], 1);
    // Nothing was dialled again.
    assert_no_more(&ast, 1, ABSENCE, "attempts of steal.call", spool_event(&ast, "SpoolAttempt", "steal.call"));
}

/// `Set: SPOOL(outcome)=...` in the call file is a function write the policy does not allow: refused,
/// never dialled.
#[test]
fn a_call_file_writing_spool_itself_is_refused() {
    let ast = start();
    ast.drop_call_file(
        "forged.call",
        "Channel: Local/s@answer\nContext: reads\nExtension: s\nSet: SPOOL(outcome)=forged\nSet: FILE=forged\n",
    );
    let finished = expect_finished(&ast, "forged.call");
    assert_eq!(finished.get("Status"), Some("Rejected"), "{finished}");
    assert!(events(&ast, spool_event(&ast, "SpoolAttempt", "forged.call")).is_empty());
    assert!(events(&ast, ue("SpoolRead", "forged")).is_empty());
    let rejected = ast.expect_log_lines(&["Rejected", "SPOOL"], 1);
    assert_eq!(rejected.len(), 1, "{rejected:?}\n{}", ast.diagnostics());
}

/// With the XML documentation installed, `core show function SPOOL` answers from it; the function is
/// gone after `module unload` and back after `module load`.
#[test]
fn core_show_function_answers_and_unload_unregisters() {
    const XML: &str = include_str!("../../documentation/pbx_spool_rs-en_US.xml");
    let ast = Asterisk::builder(Spooler::Rust).third_party_doc("pbx_spool_rs-en_US.xml", XML).start();
    let shown = ast.cli("core show function SPOOL");
    for needle in ["Reads about the call file", "retry_at", "retries_left", "SpoolSteered"] {
        assert!(shown.contains(needle), "`core show function SPOOL` does not say {needle:?}:\n{shown}");
    }
    assert!(ast.cli("core show functions like SPOOL").contains("SPOOL("), "registered");
    let unloaded = ast.cli("module unload pbx_spool_rs.so");
    assert!(!ast.module_loaded("pbx_spool_rs.so"), "{unloaded}");
    assert!(!ast.cli("core show functions like SPOOL").contains("SPOOL("), "unregistered at unload");
    ast.cli("module load pbx_spool_rs.so");
    assert!(ast.cli("core show functions like SPOOL").contains("SPOOL("), "registered again");
    ast.assert_alive();

    // Without the XML documentation, the plain help, and no warning about missing documentation.
    let plain = Asterisk::builder(Spooler::Rust).start();
    let shown = plain.cli("core show function SPOOL");
    for needle in ["Reads about the call file", "retry_at", "retries_left", "SPOOL(key)"] {
        assert!(shown.contains(needle), "plain `core show function SPOOL` does not say {needle:?}:\n{shown}");
    }
    assert!(plain.log_lines_with(&["Couldn't find function SPOOL"]).is_empty(), "{}", plain.diagnostics());
}
