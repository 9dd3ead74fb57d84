//! What pbx_spool_rs decided about a call file must not change when Asterisk restarts, cleanly or by a
//! crash (`kill -9`): a file kept by `AlwaysDelete: no` after its last attempt is removed at its date
//! (archived with its real status), not dialled again; a file cancelled while its call was in progress
//! is removed as cancelled, not dialled again. Both rest on `<astspooldir>/pbx_spool_rs.state`. Checked
//! with the spool's AMI events and UserEvents of the far end in each run, the archived file's
//! bookkeeping lines and the file system. pbx_spool has no such memory: these run against pbx_spool_rs.

use std::fs;

use harness::events::{placed, spool_event};
use harness::{Asterisk, Spooler, SOON};

const DIALPLAN: &str = r#"
[answer]
exten => s,1,Answer()
 same => n,Wait(20)

[report]
exten => s,1,UserEvent(Placed,Tag: ${TAG})
 same => n,Hangup()

[ring]
exten => s,1,UserEvent(Ringing,Tag: ${TAG})
 same => n,Ringing()
 same => n,Wait(60)
"#;

/// How the first run ends.
#[derive(Clone, Copy, Debug)]
enum Restart {
    /// `core stop now`, then a new boot on the same directory.
    Clean,
    /// `kill -9`, then a new boot on the same directory.
    Crash,
}

fn restart(ast: &mut Asterisk, how: Restart) {
    if let Restart::Crash = how {
        ast.crash();
    }
    ast.restart();
}

fn state_file(ast: &Asterisk) -> std::path::PathBuf {
    ast.spool_dir().join("pbx_spool_rs.state")
}

fn state_text(ast: &Asterisk) -> String {
    fs::read_to_string(state_file(ast)).unwrap_or_default()
}

/// A completed call with `AlwaysDelete: no` is kept in outgoing/ until its StartRetry date (RetryTime
/// 8 s ahead). Asterisk restarts meanwhile; at that date the file is archived as Completed, with its one
/// attempt's lines and nothing else, and no attempt is made in the second run.
fn kept_file_across_a_restart(how: Restart) {
    let mut ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).start();
    let text = "Channel: Local/s@answer\nContext: report\nExtension: s\nAlwaysDelete: no\nRetryTime: 8\n\
                Archive: yes\nSet: TAG=kept\n";
    let path = ast.drop_call_file("kept.call", text);
    ast.expect_event("the call", SOON, placed("kept"));
    let finished = ast.expect_event("SpoolFinished", SOON, spool_event(&ast, "SpoolFinished", "kept.call"));
    assert!(finished.has("Status", "Completed"), "{finished}");
    ast.expect_until("the kept file recorded in the state file", SOON, || {
        state_text(&ast).lines().any(|l| l.starts_with("kept kept.call ") && l.contains(" Completed archive "))
    });
    assert!(ast.cli("spool show file kept.call").contains("kept by AlwaysDelete: no"));
    assert!(path.exists(), "not kept");
    let kept = fs::read_to_string(&path).unwrap();
    assert_eq!(kept.matches("StartRetry:").count(), 1, "{kept}");

    restart(&mut ast, how);
    ast.expect_until("kept.call archived at its date", SOON * 2, || {
        fs::read_to_string(ast.outgoing_done_dir().join("kept.call")).is_ok()
    });
    assert!(!path.exists());
    let archived = fs::read_to_string(ast.outgoing_done_dir().join("kept.call")).unwrap();
    assert_eq!(archived, format!("{kept}Status: Completed\n"), "dialled or aborted after the restart");
    // The second run remembered it (even if its date had come during the restart: it is then removed at
    // once), and removed it for that reason.
    ast.expect_log("kept.call was kept by AlwaysDelete: no before the restart (Completed)", SOON);
    ast.expect_log("kept.call was kept by AlwaysDelete: no until its date and has not changed since", SOON);
    let attempts: Vec<_> =
        ast.ami().events().into_iter().filter(spool_event(&ast, "SpoolAttempt", "kept.call")).collect();
    assert!(attempts.is_empty(), "attempted again after the restart: {attempts:?}");
    assert!(!ast.ami().events().iter().any(placed("kept")), "dialled again after the restart");
    ast.expect_until("the state file to go with its last record", SOON, || !state_file(&ast).exists());
}

#[test]
fn a_kept_file_is_removed_at_its_date_not_dialled_after_a_clean_restart() {
    kept_file_across_a_restart(Restart::Clean);
}

#[test]
fn a_kept_file_is_removed_at_its_date_not_dialled_after_a_crash() {
    kept_file_across_a_restart(Restart::Crash);
}

/// `spool cancel` while the call rings (60 s): then Asterisk restarts. The file is archived as
/// Cancelled after one attempt (no `AbortRetry`, no second `StartRetry`), and the second run dials
/// nothing: the cancellation holds whoever removes the file, the first run as its call is cut off by
/// the stop, or the second from the state file after a crash.
fn cancel_in_flight_across_a_restart(how: Restart) {
    let mut ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).start();
    let text = "Channel: Local/s@ring\nContext: report\nExtension: s\nMaxRetries: 3\nRetryTime: 2\n\
                Archive: yes\nSet: TAG=ring\n";
    let path = ast.drop_call_file("ring.call", text);
    ast.expect_event("the attempt to ring", SOON, |e| e.is_user_event("Ringing") && e.has("Tag", "ring"));
    let answer = ast.cli("spool cancel ring.call");
    assert!(answer.contains("in progress and was not cut off"), "{answer}");
    let recorded = state_text(&ast);
    assert!(
        recorded.lines().any(|l| l.starts_with("cancelled ring.call ")),
        "not recorded before the answer: {recorded}"
    );
    let at_restart = fs::read_to_string(&path).unwrap();
    assert!(at_restart.contains("\nStartRetry: ") && !at_restart.contains("EndRetry"), "{at_restart}");

    restart(&mut ast, how);
    ast.expect_until("ring.call archived as cancelled", SOON, || {
        fs::read_to_string(ast.outgoing_done_dir().join("ring.call")).is_ok_and(|t| t.ends_with("Status: Cancelled\n"))
    });
    assert!(!path.exists());
    let archived = fs::read_to_string(ast.outgoing_done_dir().join("ring.call")).unwrap();
    assert_eq!(archived.matches("StartRetry:").count(), 1, "attempted again:\n{archived}");
    assert!(!archived.contains("AbortRetry"), "taken for an interrupted attempt:\n{archived}");
    // Its retry would have been due RetryTime (2 s) after the attempt started: long past by now, and
    // the file is gone. Nothing rang in the second run.
    let rang: Vec<_> =
        ast.ami().events().into_iter().filter(|e| e.is_user_event("Ringing") || e.is_event("SpoolAttempt")).collect();
    assert!(rang.is_empty(), "dialled after the restart: {rang:?}");
    if let Restart::Crash = how {
        ast.expect_log("(cancelled while its call was in progress, before the restart; not dialled again)", SOON);
    }
    ast.expect_until("the state file to go with its last record", SOON, || !state_file(&ast).exists());
}

#[test]
fn a_call_cancelled_in_progress_is_not_dialled_after_a_clean_restart() {
    cancel_in_flight_across_a_restart(Restart::Clean);
}

#[test]
fn a_call_cancelled_in_progress_is_not_dialled_after_a_crash() {
    cancel_in_flight_across_a_restart(Restart::Crash);
}
