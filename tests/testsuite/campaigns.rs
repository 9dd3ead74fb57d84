//! Campaigns against the real Asterisk: a file outside its campaign's calling window (in a
//! zone other than the system's) waits untouched and is dialled once the window admits it; a paused
//! campaign dials nothing across `module reload` and a restart, and is dialled on `spool resume`; `spool cancel`
//! removes queued files (deleted or archived) and calls in progress (with or without `hangup`). pbx_spool has no
//! campaigns, so these run against pbx_spool_rs alone.

use std::fs;
use std::time::{SystemTime, UNIX_EPOCH};

use harness::events::{placed, spool_event};
use harness::{Asterisk, Spooler, ABSENCE, SOON};

const DIALPLAN: &str = r#"
[answer]
exten => s,1,Answer()
 same => n,Wait(20)

[report]
exten => s,1,UserEvent(Placed,Tag: ${TAG})
 same => n,Hangup()

[busy]
exten => s,1,Busy()

[stamp]
exten => s,1,UserEvent(Started,Tag: ${TAG},At: ${STRFTIME(,,%s.%3q)})
 same => n,Hangup()

[ring]
exten => s,1,Ringing()
 same => n,Wait(30)

[ringbusy]
exten => s,1,UserEvent(Ringing,Tag: ${TAG})
 same => n,Ringing()
 same => n,Wait(3)
 same => n,Busy()

; Rings until the test sets the global RELEASE to yes (`dialplan set global RELEASE yes`), then busy.
[ringheld]
exten => s,1,UserEvent(Ringing,Tag: ${TAG})
 same => n,Ringing()
 same => n(held),GotoIf($["${RELEASE}" = "yes"]?released)
 same => n,Wait(0.2)
 same => n,Goto(held)
 same => n(released),Busy()
"#;

fn call(tag: &str) -> String {
    format!("Channel: Local/s@answer\nContext: report\nExtension: s\nSet: TAG={tag}\n")
}

/// pbx_spool_rs.conf with one campaign `sales` for `sales-*` and `lines` added to it.
fn conf(lines: &str) -> String {
    format!("[general]\n\n[sales]\nmatch = sales-*\n{lines}")
}

/// A window that is closed now in Asia/Tokyo (UTC+9, no DST): one hour, starting two hours from now.
fn closed_window() -> String {
    let minutes = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() / 60;
    let tokyo = (minutes + 9 * 60) % 1440;
    let (start, end) = ((tokyo + 120) % 1440, (tokyo + 180) % 1440);
    format!("hours = {:02}:{:02}-{:02}:{:02}\ntimezone = Asia/Tokyo\n", start / 60, start % 60, end / 60, end % 60)
}

/// Seconds since the epoch now.
fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// `hours =` and `timezone =` lines for a window in Asia/Tokyo (UTC+9, no DST) from `from` to `to`
/// seconds relative to now, to the second.
fn tokyo_window(from: i64, to: i64) -> String {
    let clock = |offset: i64| {
        let local = (now_s() as i64 + 9 * 3600 + offset).rem_euclid(86_400);
        format!("{:02}:{:02}:{:02}", local / 3600, local / 60 % 60, local % 60)
    };
    format!("hours = {}-{}\ntimezone = Asia/Tokyo\n", clock(from), clock(to))
}

/// The file has not been attempted: no StartRetry line in it.
fn untouched(ast: &Asterisk, name: &str) -> bool {
    fs::read_to_string(ast.outgoing_dir().join(name)).is_ok_and(|text| !text.contains("StartRetry"))
}

#[test]
fn a_file_outside_its_window_waits_and_is_dialled_when_the_window_admits_it() {
    let ast = Asterisk::builder(Spooler::Rust)
        .extensions(DIALPLAN)
        .file("pbx_spool_rs.conf", &conf(&closed_window()))
        .start();
    ast.drop_call_file("sales-1.call", &call("sales1"));
    ast.drop_call_file("other.call", &call("other"));
    ast.expect_event("the call outside any campaign", SOON, placed("other"));
    ast.expect_until("sales-1.call to wait for its window", SOON, || {
        ast.cli("spool show file sales-1.call").contains("waiting for its campaign's calling window")
    });
    std::thread::sleep(ABSENCE);
    assert!(untouched(&ast, "sales-1.call"), "attempted outside its window:\n{}", ast.diagnostics());
    let status = ast.cli("spool show status");
    let queue = ast.cli("spool show queue");
    assert!(queue.lines().any(|l| l.starts_with("sales-1.call") && l.ends_with("(window of sales)")), "{queue}");
    let row = status.lines().find(|line| line.trim_start().starts_with("Due, outside their calling window"));
    assert_eq!(row.and_then(|line| line.split_whitespace().last()), Some("1"), "{status}");
    assert!(status.contains("outside window 1"), "{status}");
    // Opened by the admin: all day in that zone.
    ast.write_etc("pbx_spool_rs.conf", &conf("hours = 00:00-24:00\ntimezone = Asia/Tokyo\n"));
    ast.cli("module reload pbx_spool_rs.so");
    ast.expect_event("the campaign's call once its window is open", SOON, placed("sales1"));
}

#[test]
fn a_paused_campaign_dials_nothing_across_a_reload_and_a_restart_and_goes_on_when_resumed() {
    let mut ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).file("pbx_spool_rs.conf", &conf("")).start();
    assert_eq!(ast.cli("spool pause sales").trim(), "Campaign sales paused");
    assert!(ast.cli("spool pause nosuch").contains("No campaign named 'nosuch'"));
    ast.drop_call_file("sales-1.call", &call("sales1"));
    ast.drop_call_file("other.call", &call("other"));
    ast.expect_event("the call outside any campaign", SOON, placed("other"));
    ast.expect_until("sales-1.call to wait as paused", SOON, || {
        ast.cli("spool show file sales-1.call").contains("campaign sales is paused")
    });
    let queue = ast.cli("spool show queue");
    assert!(queue.lines().any(|l| l.starts_with("sales-1.call") && l.ends_with("paused (sales)")), "{queue}");
    ast.cli("module reload pbx_spool_rs.so");
    ast.expect_until("the pause to outlive the reload", SOON, || ast.cli("spool show status").contains("PAUSED"));
    std::thread::sleep(ABSENCE);
    assert!(untouched(&ast, "sales-1.call"), "dialled while paused:\n{}", ast.diagnostics());
    assert!(fs::read_to_string(ast.spool_dir().join("pbx_spool_rs.paused")).unwrap().contains("sales"));
    // And a restart of Asterisk.
    ast.restart();
    ast.expect_until("the pause to outlive the restart", SOON, || {
        ast.cli("spool show file sales-1.call").contains("campaign sales is paused")
    });
    assert!(untouched(&ast, "sales-1.call"), "dialled while paused:\n{}", ast.diagnostics());
    assert_eq!(ast.cli("spool resume sales").trim(), "Campaign sales resumed");
    ast.expect_event("the campaign's call once resumed", SOON, placed("sales1"));
}

/// A window opening four seconds from now: the file due now waits, then is dialled when it opens,
/// not before.
#[test]
fn a_window_opening_in_a_few_seconds_dials_the_file_when_it_opens() {
    let ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).file("pbx_spool_rs.conf", &conf("")).start();
    // Written once Asterisk is up, so a slow boot cannot eat the seconds before the window.
    let opens_at = now_s() + 4;
    ast.write_etc("pbx_spool_rs.conf", &conf(&tokyo_window(4, 3600)));
    ast.cli("module reload pbx_spool_rs.so");
    ast.drop_call_file("sales-1.call", &call("sales1"));
    ast.expect_until("sales-1.call to wait for its window", SOON, || {
        ast.cli("spool show file sales-1.call").contains("waiting for its campaign's calling window")
    });
    ast.expect_event("the call once the window opened", SOON, placed("sales1"));
    assert!(now_s() + 1 >= opens_at, "dialled before its window opened ({} < {opens_at})", now_s());
}

/// A window closing six seconds from now: the first attempt is made, its retry (due ten seconds
/// later) falls outside the window and waits for the next one instead of being dialled.
#[test]
fn a_retry_due_after_the_window_closes_waits_for_the_next_window() {
    let ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).file("pbx_spool_rs.conf", &conf("")).start();
    ast.write_etc("pbx_spool_rs.conf", &conf(&tokyo_window(-60, 6)));
    ast.cli("module reload pbx_spool_rs.so");
    ast.drop_call_file(
        "sales-busy.call",
        "Channel: Local/s@busy\nContext: report\nExtension: s\nMaxRetries: 2\nRetryTime: 10\n",
    );
    ast.expect_until("the first attempt, inside the window", SOON, || {
        fs::read_to_string(ast.outgoing_dir().join("sales-busy.call")).is_ok_and(|t| t.contains("EndRetry:"))
    });
    ast.expect_until("the retry to wait for the next window", SOON * 2, || {
        ast.cli("spool show file sales-busy.call").contains("waiting for its campaign's calling window")
    });
    let text = fs::read_to_string(ast.outgoing_dir().join("sales-busy.call")).unwrap();
    assert_eq!(text.matches("StartRetry:").count(), 1, "a retry was dialled outside the window:\n{text}");
    assert!(ast.cli("spool show status").contains("outside window 1"));
}

/// Queued files: deleted, or archived with `Status: Cancelled` under `Archive: yes`; never dialled.
#[test]
fn cancel_removes_a_queued_file_or_archives_it_as_cancelled() {
    let ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).start();
    let later = SystemTime::now() + std::time::Duration::from_secs(3600);
    // Dated before they arrive: a file dated after its arrival could be dialled first, as due now.
    let plain = harness::files::drop_dated(&ast, "later.call", &call("later"), later);
    harness::files::drop_dated(&ast, "kept.call", &format!("{}Archive: yes\n", call("kept")), later);
    ast.expect_until("both queued", SOON, || ast.cli("spool show queue").contains("2 file(s) listed"));
    let answer = ast.cli("spool cancel later.call");
    assert!(answer.starts_with("Cancelled ") && answer.trim_end().ends_with("later.call: deleted"), "{answer}");
    assert!(!plain.exists());
    let answer = ast.cli("spool cancel kept.call");
    assert!(answer.contains("Status: Cancelled"), "{answer}");
    let archived = fs::read_to_string(ast.outgoing_done_dir().join("kept.call")).unwrap();
    assert!(archived.ends_with("Archive: yes\nStatus: Cancelled\n"), "{archived}");
    assert!(ast.cli("spool cancel nosuch.call").contains("No call file named nosuch.call"));
    assert!(ast.cli("spool show queue").contains("0 file(s) listed"));
}

/// A call in progress is not cut off by `spool cancel <file>`: the file goes when the call ends,
/// without its retry.
#[test]
fn cancel_of_a_call_in_progress_waits_for_its_end_and_skips_the_retry() {
    let ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).start();
    let path = ast.drop_call_file(
        "ringing.call",
        "Channel: Local/s@ringbusy\nContext: report\nExtension: s\nSet: TAG=r\nMaxRetries: 3\nRetryTime: 1\n",
    );
    ast.expect_event("the attempt to ring", SOON, |e| e.is_user_event("Ringing"));
    let answer = ast.cli("spool cancel ringing.call");
    assert!(answer.contains("in progress and was not cut off"), "{answer}");
    ast.expect_until("the file to go once the call ended", SOON, || !path.exists());
    // Logged just after the removal.
    ast.expect_until("the NOTICE about the removal", SOON, || ast.log_text().contains("(its call has ended)"));
    // Its retry (RetryTime 1) would have needed the file back in outgoing/.
    std::thread::sleep(ABSENCE + ABSENCE);
    assert!(!path.exists(), "the cancelled file came back");
}

/// `spool cancel <file> hangup` ends the call at once (it would ring for 30 s) and removes the file.
#[test]
fn cancel_with_hangup_ends_the_call_now() {
    let ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).start();
    let path = ast.drop_call_file(
        "long.call",
        "Channel: Local/s@ring\nContext: report\nExtension: s\nMaxRetries: 3\nRetryTime: 1\nArchive: yes\n",
    );
    ast.expect_event("the attempt", SOON, spool_event(&ast, "SpoolAttempt", "long.call"));
    let mut answer = String::new();
    ast.expect_until("the channel to be found and hung up", SOON, || {
        answer = ast.cli("spool cancel long.call hangup");
        answer.contains("was hung up")
    });
    ast.expect_until("the file archived as cancelled", SOON, || {
        fs::read_to_string(ast.outgoing_done_dir().join("long.call")).is_ok_and(|t| t.ends_with("Status: Cancelled\n"))
    });
    assert!(!path.exists());
}

/// `[sales]` with `maxcalls = 2` (calls that ring until the test releases them) beside `[rem]` with
/// `maxrate = 2`: never more than two sales calls at once, reminders started at most two a second, and
/// the reminders all done while the sales campaign still waits for its first two calls to end.
#[test]
fn campaign_limits_apply_to_their_own_files_only() {
    let conf = "[general]\n\n[sales]\nmatch = sales-*\nmaxcalls = 2\n\n[rem]\nmatch = rem-*\nmaxrate = 2\n";
    let ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).file("pbx_spool_rs.conf", conf).start();
    let due = SystemTime::now() + std::time::Duration::from_secs(2);
    // All due at the same instant, so the limits, not the arrival, decide; dated before they arrive, so
    // none is due at its arrival.
    for i in 0..5 {
        harness::files::drop_dated(
            &ast,
            &format!("sales-{i}.call"),
            &format!("Channel: Local/s@ringheld\nContext: report\nExtension: s\nSet: TAG=s{i}\n"),
            due,
        );
        harness::files::drop_dated(
            &ast,
            &format!("rem-{i}.call"),
            &format!("Channel: Local/s@answer\nContext: stamp\nExtension: s\nSet: TAG=r{i}\n"),
            due,
        );
    }
    let reminder_done =
        |e: &harness::Message| e.is_event("SpoolFinished") && e.get("File").is_some_and(|f| f.contains("/rem-"));
    let reminders = ast.ami().wait_for_count(5, SOON * 3, reminder_done);
    assert_eq!(reminders, 5, "the reminders did not all finish while two sales calls rang\n{}", ast.diagnostics());
    let sales_attempt =
        |e: &harness::Message| e.is_event("SpoolAttempt") && e.get("File").is_some_and(|f| f.contains("/sales-"));
    // Both started at the due time, and they ring until released: a third cannot have started.
    assert_eq!(ast.ami().wait_for_count(2, SOON, sales_attempt), 2, "{}", ast.diagnostics());
    assert_eq!(ast.ami().count_events(sales_attempt), 2, "sales calls started while the first two rang");
    ast.cli("dialplan set global RELEASE yes");
    let finished = |e: &harness::Message| e.is_event("SpoolFinished");
    let done = ast.ami().wait_for_count(10, SOON * 3, finished);
    assert_eq!(done, 10, "not every file finished\n{}", ast.diagnostics());

    let events = ast.ami().events();
    let (mut sales_now, mut sales_peak, mut rem_finished) = (0, 0, 0);
    let mut sales_started = 0;
    for event in &events {
        let file = event.get("File").unwrap_or("");
        let sales = file.contains("/sales-");
        match event.event() {
            Some("SpoolAttempt") if sales => {
                sales_now += 1;
                sales_started += 1;
                sales_peak = sales_peak.max(sales_now);
                if sales_started == 3 {
                    assert_eq!(rem_finished, 5, "reminders waited behind the sales campaign's maxcalls");
                }
            }
            Some("SpoolFinished") if sales => sales_now -= 1,
            Some("SpoolFinished") if file.contains("/rem-") => rem_finished += 1,
            _ => {}
        }
    }
    assert_eq!(sales_peak, 2, "sales calls at once");
    for event in events.iter().filter(|e| e.is_event("SpoolAttempt") || e.is_event("SpoolFinished")) {
        let file = event.get("File").unwrap_or("");
        let expected = if file.contains("/sales-") { "sales" } else { "rem" };
        assert!(event.has("Campaign", expected), "no Campaign: {expected} in\n{event}");
    }

    let mut starts: Vec<f64> = events
        .iter()
        .filter(|e| e.is_user_event("Started"))
        .filter_map(|e| e.get("At").and_then(|at| at.parse().ok()))
        .collect();
    starts.sort_by(f64::total_cmp);
    assert_eq!(starts.len(), 5, "{starts:?}");
    for window in starts.windows(3) {
        assert!(window[2] - window[0] >= 0.8, "three reminders within a second at maxrate 2: {starts:?}");
    }
}

/// Every AMI action: SpoolShow (with its list-complete event, filtered by campaign), SpoolStatus,
/// SpoolPause/SpoolResume, SpoolCancel; and a manager user without the originate or system write
/// permission refused.
#[test]
fn ami_actions_show_pause_resume_cancel_and_need_the_permission() {
    use harness::Ami;
    let conf = "[general]\n\n[sales]\nmatch = sales-*\n\n[rem]\nmatch = rem-*\n";
    let ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).file("pbx_spool_rs.conf", conf).start();
    let later = SystemTime::now() + std::time::Duration::from_secs(3600);
    for name in ["sales-1.call", "sales-2.call", "rem-1.call"] {
        harness::files::drop_dated(&ast, name, &call(name), later);
    }
    ast.expect_until("three queued", SOON, || ast.cli("spool show queue").contains("3 file(s) listed"));
    let ami = ast.ami();

    let reply = ami.action("SpoolShow", &[("Campaign", "sales")], SOON);
    assert!(reply.has("Response", "Success") && reply.has("EventList", "start"), "{reply}");
    ami.wait_for_event(SOON, |e| e.is_event("SpoolShowComplete")).expect("SpoolShowComplete");
    let entries: Vec<String> = ami
        .events()
        .iter()
        .filter(|e| e.is_event("SpoolQueueEntry"))
        .map(|e| format!("{} {}", e.get("File").unwrap_or(""), e.get("Campaign").unwrap_or("")))
        .collect();
    assert_eq!(entries, ["sales-1.call sales", "sales-2.call sales"]);
    let complete = ami.events().into_iter().find(|e| e.is_event("SpoolShowComplete")).unwrap();
    assert!(complete.has("ListItems", "2"), "{complete}");

    let status = ami.action("SpoolStatus", &[], SOON);
    assert!(status.has("Response", "Success") && status.has("Queued", "3"), "{status}");

    let paused = ami.action("SpoolPause", &[("Campaign", "rem")], SOON);
    assert!(paused.has("Response", "Success") && paused.has("Message", "Campaign rem paused"), "{paused}");
    assert!(ast.cli("spool show status").contains("PAUSED"));
    assert!(ami.action("SpoolPause", &[("Campaign", "nosuch")], SOON).has("Response", "Error"));
    let resumed = ami.action("SpoolResume", &[("Campaign", "rem")], SOON);
    assert!(resumed.has("Response", "Success"), "{resumed}");

    let cancelled = ami.action("SpoolCancel", &[("File", "rem-1.call")], SOON);
    assert!(cancelled.has("Response", "Success"), "{cancelled}");
    assert!(!ast.outgoing_dir().join("rem-1.call").exists());
    assert!(ami.action("SpoolCancel", &[("File", "rem-1.call")], SOON).has("Response", "Error"));

    // A user with read access and call/reporting write access only.
    let manager = fs::read_to_string(ast.etc_dir().join("manager.conf")).unwrap();
    ast.write_etc(
        "manager.conf",
        &format!("{manager}\n[watcher]\nsecret = watcher-secret\nread = all\nwrite = call,reporting\n"),
    );
    ast.cli("manager reload");
    let watcher = Ami::connect(ast.ami_port(), SOON).expect("AMI");
    watcher.login("watcher", "watcher-secret", SOON).expect("the watcher logs in");
    for (action, headers) in [
        ("SpoolShow", vec![]),
        ("SpoolStatus", vec![]),
        ("SpoolPause", vec![("Campaign", "sales")]),
        ("SpoolResume", vec![("Campaign", "sales")]),
        ("SpoolCancel", vec![("File", "sales-1.call")]),
    ] {
        let reply = watcher.action(action, &headers, SOON);
        assert!(
            reply.has("Response", "Error") && reply.get("Message").is_some_and(|m| m.contains("Permission denied")),
            "{action}: {reply}"
        );
    }
    assert!(ast.outgoing_dir().join("sales-1.call").exists());
    assert!(!ast.cli("spool show status").contains("PAUSED"));
}

/// The campaign commands and actions run on Asterisk's own threads (CLI, manager) and the window
/// arithmetic on ours: ten unload/load cycles, each after using every one of them, leave the thread
/// count unchanged and the module registering itself again (a thread-local destructor left on an
/// Asterisk thread would keep the old mapping, and the next load would not register).
#[test]
fn campaign_commands_and_actions_leave_unload_load_cycles_clean() {
    use harness::RUST_SO;
    let window = tokyo_window(3600, 7200);
    let ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).file("pbx_spool_rs.conf", &conf(&window)).start();
    let settle = (std::time::Duration::from_secs(1), std::time::Duration::from_secs(30));
    let before = ast.stable_thread_count(settle.0, settle.1);
    for cycle in 1..=10 {
        let path = ast.drop_call_file("sales-1.call", &call("s"));
        ast.expect_until("the file to wait for its window", SOON, || {
            ast.cli("spool show file sales-1.call").contains("calling window")
        });
        assert!(ast.cli("spool pause sales").contains("paused"));
        assert!(ast.cli("spool resume all").contains("resumed"));
        assert!(ast.ami().action("SpoolStatus", &[], SOON).has("Response", "Success"));
        assert!(ast.ami().action("SpoolShow", &[], SOON).has("Response", "Success"));
        assert!(ast.ami().action("SpoolPause", &[("Campaign", "sales")], SOON).has("Response", "Success"));
        assert!(ast.ami().action("SpoolResume", &[("Campaign", "sales")], SOON).has("Response", "Success"));
        assert!(ast.cli("spool cancel sales-1.call").contains("deleted"), "cycle {cycle}");
        assert!(!path.exists());
        ast.cli(&format!("module unload {RUST_SO}"));
        assert!(!ast.module_loaded(RUST_SO), "cycle {cycle}: still loaded\n{}", ast.diagnostics());
        ast.cli(&format!("module load {RUST_SO}"));
        assert!(ast.module_running(RUST_SO), "cycle {cycle}: not running\n{}", ast.diagnostics());
    }
    let after = ast.stable_thread_count(settle.0, settle.1);
    assert_eq!(after, before, "thread count changed over the cycles\n{}", ast.diagnostics());
    assert!(ast.log_lines_with(&["did not register itself"]).is_empty(), "{}", ast.diagnostics());
}

/// `channel =`: a campaign for the files that dial one channel pattern; pausing it holds those only.
#[test]
fn a_campaign_by_channel_takes_only_the_files_dialling_it() {
    let conf = "[general]\n\n[busyline]\nmatch = *.call\nchannel = Local/*@busy\n";
    let ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).file("pbx_spool_rs.conf", conf).start();
    assert!(ast.cli("spool pause busyline").contains("paused"));
    ast.drop_call_file("b.call", "Channel: Local/s@busy\nContext: report\nExtension: s\nSet: TAG=b\n");
    ast.drop_call_file("a.call", &call("a"));
    ast.expect_event("the call on another channel", SOON, placed("a"));
    ast.expect_until("b.call to wait as paused", SOON, || {
        ast.cli("spool show file b.call").contains("campaign busyline is paused")
    });
    assert!(untouched(&ast, "b.call"));
    assert!(ast.cli("spool resume busyline").contains("resumed"));
    let attempt = ast.expect_event("b.call's attempt", SOON, spool_event(&ast, "SpoolAttempt", "b.call"));
    assert!(attempt.has("Campaign", "busyline"), "{attempt}");
}

/// Tab completion in Asterisk's CLI: `spool pause`/`spool resume` offer `all` and the configured campaigns,
/// `spool show file` the queued files (asked through `_command matchesarray`, which is what a console's
/// tab key runs).
#[test]
fn the_cli_completes_campaign_names_and_queued_files() {
    let conf = "[general]\n\n[sales]\nmatch = sales-*\n\n[support]\nmatch = support-*\n";
    let ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).file("pbx_spool_rs.conf", conf).start();
    let matches = |line: &str, word: &str| -> Vec<String> {
        let answer = ast.cli(&format!("_command matchesarray \"{line}\" \"{word}\""));
        answer.split_whitespace().map(str::to_owned).collect()
    };
    let paused = matches("spool pause s", "s");
    assert!(paused.contains(&"sales".to_owned()) && paused.contains(&"support".to_owned()), "{paused:?}");
    assert!(matches("spool resume a", "a").contains(&"all".to_owned()));
    assert!(!matches("spool resume x", "x").iter().any(|m| m == "sales" || m == "support"));
    let later = SystemTime::now() + std::time::Duration::from_secs(3600);
    harness::files::drop_dated(&ast, "sales-later.call", &call("later"), later);
    ast.expect_until("sales-later.call queued", SOON, || ast.cli("spool show queue").contains("sales-later.call"));
    assert!(matches("spool show file sales-", "sales-").contains(&"sales-later.call".to_owned()));
}

/// A `channel =` campaign knows its files from their arrival, as a `match` campaign does: with its window
/// closed and its files not yet due, `spool show status` counts them queued, SpoolShow with its name lists
/// each with `Campaign:`, and `spool show queue` names it; a file rewritten to dial another channel
/// leaves it. Once due they wait for the window, and opening it dials them, each attempt in the campaign.
#[test]
fn a_campaign_by_channel_counts_and_lists_its_files_before_they_are_due() {
    const MEMBERS: usize = 10;
    let by_channel = |hours: &str| format!("[general]\n\n[sales]\nmatch = *.call\nchannel = Local/*@answer\n{hours}");
    let ast = Asterisk::builder(Spooler::Rust)
        .extensions(DIALPLAN)
        .file("pbx_spool_rs.conf", &by_channel(&closed_window()))
        .start();
    let later = SystemTime::now() + std::time::Duration::from_secs(3600);
    let ringing = "Channel: Local/s@ring\nContext: report\nExtension: s\nSet: TAG=other\n";
    let mut members: Vec<std::path::PathBuf> = (0..MEMBERS)
        .map(|i| harness::files::drop_dated(&ast, &format!("lead-{i}.call"), &call(&format!("lead{i}")), later))
        .collect();
    harness::files::drop_dated(&ast, "other.call", ringing, later);
    let campaign_row = |status: &str| -> String {
        status.lines().find(|line| line.trim_start().starts_with("sales ")).unwrap_or_default().to_string()
    };
    let mut status = String::new();
    ast.expect_until("the campaign to count its queued files", SOON, || {
        status = ast.cli("spool show status");
        campaign_row(&status).contains(&format!("queued {MEMBERS}, outside window 0"))
    });

    let ami = ast.ami();
    let reply = ami.action("SpoolShow", &[("Campaign", "sales")], SOON);
    assert!(reply.has("Response", "Success"), "{reply}");
    let complete = ami.wait_for_event(SOON, |e| e.is_event("SpoolShowComplete")).expect("SpoolShowComplete");
    assert!(complete.has("ListItems", &MEMBERS.to_string()), "{complete}");
    let entries: Vec<(String, String)> = ami
        .events()
        .iter()
        .filter(|e| e.is_event("SpoolQueueEntry"))
        .map(|e| (e.get("File").unwrap_or("").to_string(), e.get("Campaign").unwrap_or("").to_string()))
        .collect();
    let mut listed: Vec<&str> = entries.iter().map(|(file, _)| file.as_str()).collect();
    listed.sort_unstable();
    let mut expected: Vec<String> = (0..MEMBERS).map(|i| format!("lead-{i}.call")).collect();
    expected.sort_unstable();
    assert_eq!(listed, expected, "SpoolShow Campaign: sales");
    assert!(entries.iter().all(|(_, campaign)| campaign == "sales"), "{entries:?}");

    let queue = ast.cli("spool show queue");
    let campaign_of = |name: &str| {
        let row = queue.lines().find(|line| line.split_whitespace().next() == Some(name));
        row.and_then(|row| row.split_whitespace().nth(1)).map(str::to_owned)
    };
    assert!(queue.lines().next().is_some_and(|header| header.starts_with("File") && header.contains("Campaign")));
    for name in &expected {
        assert_eq!(campaign_of(name).as_deref(), Some("sales"), "{name} in:\n{queue}");
    }
    assert_eq!(campaign_of("other.call").as_deref(), Some("-"), "{queue}");

    // Rewritten to dial another channel: it leaves the campaign.
    harness::files::drop_dated(&ast, "lead-0.call", &ringing.replace("TAG=other", "TAG=lead0"), later);
    ast.expect_until("the rewritten file to leave the campaign", SOON, || {
        campaign_row(&ast.cli("spool show status")).contains(&format!("queued {}, ", MEMBERS - 1))
    });
    members.remove(0);

    // Due now: they wait for the window.
    for path in &members {
        ast.set_mtime(path, SystemTime::now());
    }
    ast.expect_until("the due files to wait for the window", SOON, || {
        campaign_row(&ast.cli("spool show status")).contains(&format!("queued 0, outside window {}", members.len()))
    });
    std::thread::sleep(ABSENCE);
    assert!(members.iter().all(|path| !fs::read_to_string(path).unwrap().contains("StartRetry")));

    // The window opened by the admin: each is dialled, in the campaign.
    ast.write_etc("pbx_spool_rs.conf", &by_channel("hours = 00:00-24:00\ntimezone = Asia/Tokyo\n"));
    ast.cli("module reload pbx_spool_rs.so");
    let done = ast.ami().wait_for_count(members.len(), SOON * 3, |e| e.is_event("SpoolFinished"));
    assert_eq!(done, members.len(), "not every member finished\n{}", ast.diagnostics());
    for i in 1..MEMBERS {
        ast.expect_event(&format!("lead{i}'s call"), SOON, placed(&format!("lead{i}")));
        let attempt =
            ast.expect_event("its attempt", SOON, spool_event(&ast, "SpoolAttempt", &format!("lead-{i}.call")));
        assert!(attempt.has("Campaign", "sales"), "{attempt}");
    }
}
