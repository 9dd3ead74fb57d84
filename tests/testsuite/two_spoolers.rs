//! Never two spoolers, whatever the load order: the stock pbx_spool.so loaded by hand (`module load`)
//! while pbx_spool_rs runs. pbx_spool_rs must notice before its next dispatch, stop dispatching (one
//! ERROR line with the fix, a status row, a `SpoolSuspended` event), let its calls in progress finish, and
//! leave every other file to pbx_spool: each of 100 call files is dialled exactly once and archived once.
//!
//! pbx_spool.so cannot be unloaded (its unload function refuses, in every Asterisk; `module unload -h`
//! unloads it anyway and Asterisk crashes as soon as its thread wakes): the tests with the real module
//! check that the refusal leaves pbx_spool_rs suspended. That pbx_spool_rs resumes by itself once no
//! module named pbx_spool.so is loaded is checked with a stand-in: another stock module (no spooler)
//! installed under that name, which unloads cleanly.

use std::collections::HashMap;
use std::fs;
use std::time::{Duration, SystemTime};

use harness::bulk::{file_name, file_number, stage};
use harness::{Asterisk, Message, Spooler, RUST_SO, SOON, STOCK_SO};

/// Call files per scenario.
const FILES: usize = 100;
/// Deadline for every file to be dialled and archived.
const ALL_DONE: Duration = Duration::from_secs(90);

/// `answer` is the far end: it reports each dial (`Dialed`, with the file's name) and answers. The
/// spooled side goes to `done`, where the call lasts `HOLD` seconds.
const DIALPLAN: &str = "\
[answer]
exten => s,1,UserEvent(Dialed,File: ${FILE})
 same => n,Answer()
 same => n,Wait(60)

[done]
exten => s,1,Wait(${HOLD})
 same => n,Hangup()
";

/// A second dial of a file would be reported within moments of the first: how long to give one to show
/// up once every file has been dialled once.
const SECOND_DIAL_WINDOW: Duration = Duration::from_secs(3);

/// The stock module that stands in for pbx_spool.so where it must be unloaded: a plain dialplan
/// application, no spooler, unloads cleanly.
const STAND_IN: &str = "app_morsecode.so";

/// The fix the ERROR line must name.
const NOLOAD: &str = "noload => pbx_spool.so";

/// pbx_spool_rs loaded at boot, and a module named pbx_spool.so (the stock one, or [`STAND_IN`])
/// installed but `noload`ed, to be loaded by hand.
fn instance(pbx_spool_as: &str) -> Asterisk {
    Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).installed_as_not_loaded(STOCK_SO, pbx_spool_as).start()
}

/// Call file `i`: dial `answer`, hold the call `hold` seconds, archive it.
fn call_file(i: usize, hold: u32) -> String {
    format!(
        "Channel: Local/s@answer\nContext: done\nExtension: s\nArchive: yes\nSet: FILE={}\nSet: HOLD={hold}\n",
        file_name(i)
    )
}

/// Waits until pbx_spool_rs itself has placed a probe call: its scheduler runs and watches outgoing/.
fn rust_spooler_running(ast: &Asterisk) {
    let probe = ast.drop_call_file("probe.call", &call_file(FILES + 1, 0).replace("Archive: yes\n", ""));
    ast.expect_event("pbx_spool_rs's own attempt of the probe", SOON, |e| {
        e.is_event("SpoolAttempt") && e.get("File").is_some_and(|f| f.ends_with("probe.call"))
    });
    ast.expect_until("the probe to leave outgoing/", SOON, || !probe.exists());
}

fn load_pbx_spool(ast: &Asterisk) {
    let out = ast.cli(&format!("module load {STOCK_SO}"));
    assert!(ast.module_running(STOCK_SO), "module load {STOCK_SO}: {out}\n{}", ast.diagnostics());
}

/// `Dialed` user events per file number (the probe excluded).
fn dials(ast: &Asterisk) -> HashMap<usize, usize> {
    per_scenario_file(ast, |e| e.is_user_event("Dialed"))
}

/// pbx_spool_rs's own attempts per file number (stock pbx_spool raises no such event).
fn our_attempts(ast: &Asterisk) -> HashMap<usize, usize> {
    per_scenario_file(ast, |e| e.is_event("SpoolAttempt"))
}

/// How many of `ast`'s events matching `predicate` are about each of the scenario's [`FILES`] files (events
/// about any other file are not counted).
fn per_scenario_file(ast: &Asterisk, predicate: impl Fn(&Message) -> bool) -> HashMap<usize, usize> {
    let mut counts = HashMap::new();
    for event in ast.ami().events().iter().filter(|e| predicate(e)) {
        if let Some(number) = event.get("File").and_then(file_number).filter(|n| *n < FILES) {
            *counts.entry(number).or_insert(0) += 1;
        }
    }
    counts
}

fn archived(ast: &Asterisk) -> usize {
    (0..FILES).filter(|i| ast.outgoing_done_dir().join(file_name(*i)).is_file()).count()
}

/// Every file dialled exactly once, archived once with one attempt and `Status: Completed`, none left
/// in outgoing/.
fn assert_each_dialled_once_and_archived(ast: &Asterisk) {
    ast.expect_until(&format!("{FILES} files archived"), ALL_DONE, || archived(ast) == FILES);
    // The events travel to the AMI on their own: the last ones may arrive after their file's archive.
    ast.expect_until(&format!("a Dialed event for each of the {FILES} files"), SOON, || dials(ast).len() == FILES);
    ast.ami().wait_for_count(FILES + 1, SECOND_DIAL_WINDOW, |e| {
        e.is_user_event("Dialed") && e.get("File").and_then(file_number).is_some_and(|n| n < FILES)
    });
    let dials = dials(ast);
    let wrong: Vec<(usize, usize)> =
        (0..FILES).map(|i| (i, dials.get(&i).copied().unwrap_or(0))).filter(|(_, n)| *n != 1).collect();
    assert!(wrong.is_empty(), "files not dialled exactly once (file, dials): {wrong:?}\n{}", ast.diagnostics());
    for i in 0..FILES {
        let path = ast.outgoing_done_dir().join(file_name(i));
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let starts = text.lines().filter(|l| l.starts_with("StartRetry:")).count();
        let statuses = text.lines().filter(|l| l.starts_with("Status:")).count();
        assert!(
            starts == 1 && statuses == 1 && text.ends_with("Status: Completed\n"),
            "{} is not one completed attempt:\n{text}",
            path.display()
        );
        assert!(!ast.outgoing_dir().join(file_name(i)).exists(), "{} also left in outgoing/", file_name(i));
    }
}

/// The one ERROR line pbx_spool_rs logs when it suspends.
fn suspension_errors(ast: &Asterisk) -> Vec<String> {
    ast.log_lines_with(&["ERROR[", "stopped dispatching", NOLOAD])
}

/// The suspension as an admin sees it: the ERROR line (once), the status row, the AMI event and
/// `SpoolStatus`.
fn expect_suspended(ast: &Asterisk) {
    let event = ast.expect_event("SpoolSuspended", SOON, |e| e.is_event("SpoolSuspended"));
    assert!(event.get("Reason").is_some_and(|r| r.contains("pbx_spool.so is loaded")), "{event}");
    ast.expect_until("the ERROR line", SOON, || !suspension_errors(ast).is_empty());
    let error = &suspension_errors(ast)[0];
    assert!(error.contains("module unload pbx_spool.so") && error.contains("restart Asterisk"), "{error}");
    let status = ast.cli("spool show status");
    assert!(status.contains("DISPATCH SUSPENDED: pbx_spool.so is loaded too"), "{status}");
    let answer = ast.ami().action("SpoolStatus", &[], SOON);
    assert!(answer.has("DispatchSuspended", "yes"), "{answer}");
}

fn assert_one_suspension(ast: &Asterisk) {
    let errors = suspension_errors(ast);
    assert_eq!(errors.len(), 1, "the ERROR line should appear once:\n{}", errors.join("\n"));
    assert_eq!(ast.ami().count_events(|e| e.is_event("SpoolSuspended")), 1);
}

/// pbx_spool.so refuses to unload; pbx_spool_rs stays suspended.
fn unload_is_refused(ast: &Asterisk) {
    let out = ast.cli(&format!("module unload {STOCK_SO}"));
    assert!(out.contains("Unable to unload"), "module unload {STOCK_SO}: {out}");
    assert!(ast.module_running(STOCK_SO), "{}", ast.diagnostics());
    let status = ast.cli("spool show status");
    assert!(status.contains("DISPATCH SUSPENDED"), "{status}");
    assert_eq!(ast.ami().count_events(|e| e.is_event("SpoolResumed")), 0);
}

/// pbx_spool_rs runs (and has placed a call) when pbx_spool.so is loaded; then 100 files arrive. pbx_spool
/// dials each once; pbx_spool_rs dials none of them, and stays suspended when the unload is refused.
#[test]
fn stock_loaded_while_pbx_spool_rs_runs_takes_every_new_file_alone() {
    let ast = instance(STOCK_SO);
    rust_spooler_running(&ast);
    load_pbx_spool(&ast);

    let staged = stage(&ast, FILES, None, |i| call_file(i, 0));
    staged.rename_all();
    expect_suspended(&ast);
    assert_each_dialled_once_and_archived(&ast);
    assert!(our_attempts(&ast).is_empty(), "pbx_spool_rs dialled beside pbx_spool: {:?}", our_attempts(&ast));
    assert_one_suspension(&ast);

    unload_is_refused(&ast);
    assert!(ast.module_running(RUST_SO));

    // The other way out without a restart: pbx_spool_rs, suspended and idle, unloads cleanly, and
    // pbx_spool.so goes on alone.
    let out = ast.cli(&format!("module unload {RUST_SO}"));
    assert!(!ast.module_loaded(RUST_SO), "module unload {RUST_SO}: {out}\n{}", ast.diagnostics());
    let after = ast.drop_call_file("after.call", &call_file(FILES + 2, 0));
    ast.expect_event("pbx_spool.so to place a file alone", SOON, |e| {
        e.is_user_event("Dialed") && e.get("File").and_then(file_number) == Some(FILES + 2)
    });
    ast.expect_until("after.call to leave outgoing/", SOON, || !after.exists());
    ast.assert_alive();
}

/// 40 files in pbx_spool_rs's calls and 60 queued for later when pbx_spool.so is loaded: the 40 calls
/// finish and are archived by pbx_spool_rs, the 60 are dialled by pbx_spool alone, each file once.
#[test]
fn stock_loaded_with_calls_in_progress_and_files_queued_loses_and_doubles_nothing() {
    const IN_FLIGHT: usize = 40;
    /// How far in the future the queued files are dated: time to see them queued and load pbx_spool.
    const QUEUED_FOR: Duration = Duration::from_secs(10);
    let ast = instance(STOCK_SO);
    rust_spooler_running(&ast);

    let in_flight = stage(&ast, IN_FLIGHT, None, |i| call_file(i, 8));
    in_flight.rename_all();
    ast.expect_until(&format!("pbx_spool_rs to start all {IN_FLIGHT} calls"), SOON, || {
        our_attempts(&ast).len() == IN_FLIGHT
    });

    let due = SystemTime::now() + QUEUED_FOR;
    let queued = stage(&ast, FILES, Some(due), |i| call_file(i, 0));
    // The first IN_FLIGHT names are the files in progress; the others are the queued ones.
    let queued_moves = &queued.moves[IN_FLIGHT..];
    for (from, to) in queued_moves {
        fs::rename(from, to).unwrap_or_else(|e| panic!("cannot rename {}: {e}", from.display()));
    }
    ast.expect_until("pbx_spool_rs to queue the later files", SOON, || {
        ast.ami().action("SpoolStatus", &[], SOON).has("Queued", &(FILES - IN_FLIGHT).to_string())
    });
    load_pbx_spool(&ast);
    assert!(
        SystemTime::now() < due,
        "this machine is too slow for the scenario: the queued files fell due before pbx_spool.so was loaded"
    );
    assert!(
        ast.ami().count_events(|e| e.is_event("SpoolFinished")) <= 1,
        "the calls in progress should still be in progress when pbx_spool.so is loaded\n{}",
        ast.diagnostics()
    );

    expect_suspended(&ast);
    assert_each_dialled_once_and_archived(&ast);
    let ours = our_attempts(&ast);
    let expected: HashMap<usize, usize> = (0..IN_FLIGHT).map(|i| (i, 1)).collect();
    assert_eq!(ours, expected, "pbx_spool_rs should have dialled the files in progress, and only them");
    // The calls in progress were finished by pbx_spool_rs: announced as completed.
    let finished = per_scenario_file(&ast, |e| e.is_event("SpoolFinished") && e.has("Status", "Completed"));
    assert_eq!(finished, expected, "{}", ast.diagnostics());
    assert_one_suspension(&ast);
    unload_is_refused(&ast);
}

/// A module named pbx_spool.so (a stand-in: the real one cannot be unloaded) loaded while pbx_spool_rs
/// runs: the 100 files falling due are not dialled, they wait untouched; once the module is unloaded,
/// pbx_spool_rs says so, resumes by itself and places each once.
#[test]
fn dispatch_resumes_by_itself_once_no_pbx_spool_is_loaded() {
    let ast = instance(STAND_IN);
    rust_spooler_running(&ast);
    load_pbx_spool(&ast);

    let staged = stage(&ast, FILES, None, |i| call_file(i, 0));
    staged.rename_all();
    expect_suspended(&ast);
    ast.expect_until(&format!("all {FILES} files due and held"), SOON, || {
        ast.ami().action("SpoolStatus", &[], SOON).has("DueSuspended", &FILES.to_string())
    });
    assert!(dials(&ast).is_empty(), "dialled while suspended: {:?}", dials(&ast));
    for (_, to) in &staged.moves {
        let text = fs::read_to_string(to).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
        assert!(!text.contains("StartRetry"), "{} was touched while suspended:\n{text}", to.display());
    }

    let out = ast.cli(&format!("module unload {STOCK_SO}"));
    assert!(!ast.module_loaded(STOCK_SO), "module unload {STOCK_SO}: {out}\n{}", ast.diagnostics());
    let resumed = ast.expect_event("SpoolResumed", SOON, |e| e.is_event("SpoolResumed"));
    assert!(resumed.get("Reason").is_some_and(|r| r.contains("no longer loaded")), "{resumed}");
    // The logger writes on its own thread: the line may come after the event.
    let resuming = || ast.log_lines_with(&["NOTICE[", "resumes dispatching"]);
    ast.expect_until("the NOTICE line saying dispatch resumes", SOON, || !resuming().is_empty());
    assert_each_dialled_once_and_archived(&ast);
    assert_eq!(resuming().len(), 1, "{}", resuming().join("\n"));
    let ours = our_attempts(&ast);
    assert!(ours.len() == FILES && ours.values().all(|n| *n == 1), "{ours:?}");
    assert_one_suspension(&ast);
    let status = ast.cli("spool show status");
    assert!(!status.contains("SUSPENDED"), "{status}");
    assert!(ast.ami().action("SpoolStatus", &[], SOON).has("DispatchSuspended", "no"));
}
