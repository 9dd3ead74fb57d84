//! Parity scenarios about attempts: retries and their spacing, the final status of each call file and
//! its archived text, the `failed` extension, `AlwaysDelete: no`, and bookkeeping lines left by another
//! process. Shared dialplan and helpers are in `parity`.

use std::fs;
use std::time::Duration;

use harness::events::{arrival_times, assert_no_more, events, expect_log_count, log_count, ue};
use harness::files::{expect_gone, normalise, outgoing_names};
use harness::fixtures::parity::{expect_archived, setup};
use harness::{both_spoolers, Asterisk, Spooler, SOON};

/// pbx_spool's "expired" notice counts one attempt too few (it prints `retries - 1`, where `retries`
/// already is the number of attempts made); pbx_spool_rs prints the number of attempts made. This is
/// intentional difference (c): the expected count per spooler.
fn expired_count(spooler: Spooler, attempts: usize) -> usize {
    match spooler {
        Spooler::Stock => attempts - 1,
        _ => attempts,
    }
}

fn expired_line(spooler: Spooler, channel: &str, attempts: usize) -> String {
    let n = expired_count(spooler, attempts);
    let plural = if n != 1 { "s" } else { "" };
    format!("Queued call to {channel} expired without completion after {n} attempt{plural}")
}

/// What both spoolers append for one attempt that failed (StartRetry, then EndRetry) and for the last one
/// (StartRetry only: the final status follows it).
fn failed_attempt(n: usize) -> String {
    format!("\nStartRetry: PID {n} (TIME)\n\nEndRetry: PID {n} (TIME)\n")
}

fn last_attempt(n: usize) -> String {
    format!("\nStartRetry: PID {n} (TIME)\n")
}

both_spoolers! {
    /// Scenario 5: a call never answered, MaxRetries: 2 / RetryTime: 2: three attempts about RetryTime
    /// apart, then `Status: Expired` in the archive after every attempt's bookkeeping lines.
    ///
    /// RetryTime: 2 rather than 1: pbx_spool keeps due times in whole seconds and its scan thread wakes
    /// on its own appends (IN_CLOSE_WRITE), so an attempt that ends just past a second boundary can be
    /// retried almost at once with RetryTime: 1. With 2 the gap is reliably at least a second.
    fn never_answered_expires(ast: &Asterisk, spooler: Spooler) configure(setup) {
        let text = "Channel: Local/s@noanswer\nContext: report\nExtension: s\n\
                    MaxRetries: 2\nRetryTime: 2\nArchive: yes\nSet: FILE=never\n";
        let file = ast.drop_call_file("never.call", text);
        let attempt = ue("Attempt", "never");
        let times = arrival_times(ast, 3, SOON, &attempt);
        for pair in times.windows(2) {
            let gap = pair[1] - pair[0];
            // pbx_spool works in whole seconds: with RetryTime: 2 the next attempt comes 1 to 3 s later.
            assert!(
                gap >= Duration::from_millis(1000) && gap <= Duration::from_millis(3500),
                "attempts {gap:?} apart with RetryTime: 2\n{}", ast.diagnostics()
            );
        }
        let numbers: Vec<String> = events(ast, &attempt).iter()
            .map(|e| e.get("Attempt").unwrap_or("").to_owned()).collect();
        assert_eq!(numbers, ["1", "2", "3"], "AST_OUTGOING_ATTEMPT per attempt");

        let done = expect_archived(ast, "never.call", SOON);
        let expected = format!("{text}{}{}{}Status: Expired\n",
            failed_attempt(1), failed_attempt(2), last_attempt(3));
        assert_eq!(done, expected);
        assert!(!file.exists());
        expect_log_count(ast, &["Call failed to go through, reason (5) Remote end is Busy"], 3, SOON);
        expect_log_count(ast, &[&expired_line(spooler, "Local/s@noanswer", 3)], 1, SOON);
        assert_eq!(log_count(ast, &["expired without completion"]), 1, "{}", ast.diagnostics());
        // No fourth attempt, and the answered side never ran.
        assert_no_more(ast, 3, Duration::from_secs(3), "attempts", &attempt);
        assert!(events(ast, ue("Report", "never")).is_empty());
    }
}

both_spoolers! {
    /// Scenario 6: busy on the first attempt, answered on the second: two attempts, one completion,
    /// archived as Completed after one failed attempt's lines.
    fn fails_then_succeeds(ast: &Asterisk, spooler: Spooler) configure(setup) {
        let text = "Channel: Local/s@flaky\nContext: report\nExtension: s\n\
                    MaxRetries: 2\nRetryTime: 1\nArchive: yes\nSet: FILE=flaky\n";
        let file = ast.drop_call_file("flaky.call", text);
        let attempt = ue("Attempt", "flaky");
        arrival_times(ast, 2, SOON, &attempt);
        let report = ast.expect_event("the second attempt answered", SOON, ue("Report", "flaky"));
        assert_eq!(report.get("Attempt"), Some("2"), "{report}");
        let counts: Vec<String> = events(ast, &attempt).iter()
            .map(|e| e.get("Count").unwrap_or("").to_owned()).collect();
        assert_eq!(counts, ["1", "2"]);

        let done = expect_archived(ast, "flaky.call", SOON);
        assert_eq!(done, format!("{text}{}{}Status: Completed\n", failed_attempt(1), last_attempt(2)));
        assert!(!file.exists());
        expect_log_count(ast, &["Call completed to Local/s@flaky"], 1, SOON);
        assert_eq!(log_count(ast, &["Call failed to go through, reason (5) Remote end is Busy"]), 1,
            "{}", ast.diagnostics());
        assert_no_more(ast, 2, Duration::from_secs(2), "attempts", &attempt);
        assert_eq!(log_count(ast, &["expired without completion"]), 0, "{}", ast.diagnostics());
    }
}

both_spoolers! {
    /// Scenario 7: `Archive: yes` with each final status side by side: Completed, Expired (MaxRetries: 0),
    /// Failed (invalid file).
    fn archive_each_status(ast: &Asterisk, spooler: Spooler) configure(setup) {
        let completed = "Channel: Local/s@answer\nContext: report\nExtension: s\nArchive: yes\nSet: FILE=ok\n";
        let expired = "Channel: Local/s@noanswer\nContext: report\nExtension: s\nArchive: yes\nSet: FILE=exp\n";
        let failed = "Channel: Local/s@answer\nContext: report\nArchive: yes\nSet: FILE=bad\n";
        ast.drop_call_file("completed.call", completed);
        ast.drop_call_file("expired.call", expired);
        ast.drop_call_file("failed.call", failed);
        assert_eq!(expect_archived(ast, "completed.call", SOON),
            format!("{completed}{}Status: Completed\n", last_attempt(1)));
        assert_eq!(expect_archived(ast, "expired.call", SOON),
            format!("{expired}{}Status: Expired\n", last_attempt(1)));
        assert_eq!(expect_archived(ast, "failed.call", SOON), format!("{failed}Status: Failed\n"));
        ast.expect_until("outgoing/ to empty", SOON, || outgoing_names(ast).is_empty());
        expect_log_count(ast, &[&expired_line(spooler, "Local/s@noanswer", 1)], 1, SOON);
        // The archive is on disk before the AMI reader need have seen the calls' events: wait for them.
        ast.expect_event("the completed call's report", SOON, ue("Report", "ok"));
        ast.expect_event("the expired call's attempt", SOON, ue("Attempt", "exp"));
        assert_eq!(events(ast, ue("Report", "ok")).len(), 1);
        assert_eq!(events(ast, ue("Attempt", "exp")).len(), 1);
        assert!(events(ast, ue("Dialed", "bad")).is_empty());
    }
}

both_spoolers! {
    /// Scenario 12: when the call is not answered, pbx_spool runs the `failed` extension of the file's
    /// context on a new channel, with the file's variables and caller id and `${REASON}`.
    fn failed_extension_runs(ast: &Asterisk, spooler: Spooler) configure(setup) {
        let file = ast.drop_call_file("failext.call",
            "Channel: Local/s@noanswer\nContext: withfailed\nExtension: s\nCallerID: \"Dave\" <400>\nSet: FILE=failext\n");
        let e = ast.expect_event("the failed extension", SOON, ue("Failed", "failext"));
        assert_eq!(e.get("Reason"), Some("5"), "busy\n{e}");
        assert_eq!(e.get("CidName"), Some("Dave"), "{e}");
        assert_eq!(e.get("CidNum"), Some("400"), "{e}");
        assert!(e.get("Chan").is_some_and(|c| c.starts_with("OutgoingSpoolFailed")), "{e}");
        expect_gone(ast, &file, SOON);
        expect_log_count(ast, &["Call failed to go through, reason (5) Remote end is Busy"], 1, SOON);
        expect_log_count(ast, &[&expired_line(spooler, "Local/s@noanswer", 1)], 1, SOON);
        assert!(events(ast, ue("Report", "failext")).is_empty(), "s must not run");
        assert_no_more(ast, 1, Duration::from_secs(1), "failed extension runs", ue("Failed", "failext"));
    }
}

both_spoolers! {
    /// Scenario 16: a spool carried over from another process: the file's last `StartRetry` (of a pid
    /// that is not ours, say a crashed earlier Asterisk) was never closed. Both answer it with
    /// `AbortRetry`, count it as an attempt, and place the call.
    fn carried_over_start_retry_is_aborted(ast: &Asterisk, spooler: Spooler) configure(setup) {
        let text = "Channel: Local/s@answer\nContext: report\nExtension: s\nMaxRetries: 2\nRetryTime: 1\n\
                    Archive: yes\nSet: FILE=carried\n\
                    \nStartRetry: 999999 1 (1700000000)\n\nEndRetry: 999999 1 (1700000005)\n\
                    \nStartRetry: 999999 2 (1700000010)\n";
        let file = ast.drop_call_file("carried.call", text);
        let e = ast.expect_event("the carried-over call placed", SOON, ue("Report", "carried"));
        assert_eq!(e.get("Attempt"), Some("2"), "{e}");
        let done = expect_archived(ast, "carried.call", SOON);
        assert_eq!(done, format!("{}\nAbortRetry: PID 2 (TIME)\n{}Status: Completed\n",
            normalise(text), last_attempt(2)));
        assert!(!file.exists());
        assert_no_more(ast, 1, Duration::from_secs(2), "placements", ue("Dialed", "carried"));
    }
}

both_spoolers! {
    /// Intentional difference (e): the file's open `StartRetry` carries the pid of the running Asterisk
    /// (an earlier process that crashed had the same pid, common in containers where Asterisk is pid 1
    /// or after a reboot). pbx_spool believes it is still running that attempt and writes `DelayedRetry`
    /// every RetryTime forever, never placing the call; pbx_spool_rs knows it runs no such attempt, aborts
    /// it and places the call.
    fn same_pid_start_retry(ast: &Asterisk, spooler: Spooler) configure(setup) {
        let pid = ast.pid();
        let text = format!("Channel: Local/s@answer\nContext: report\nExtension: s\nRetryTime: 1\n\
                            Archive: yes\nSet: FILE=samepid\n\nStartRetry: {pid} 1 (1700000000)\n");
        let file = ast.drop_call_file("samepid.call", &text);
        match spooler {
            Spooler::Stock => {
                ast.expect_until("two DelayedRetry lines", SOON, || {
                    fs::read_to_string(&file).is_ok_and(|t| t.matches("\nDelayedRetry: ").count() >= 2)
                });
                assert!(events(ast, ue("Dialed", "samepid")).is_empty(), "{}", ast.diagnostics());
                assert!(file.exists());
            }
            _ => {
                ast.expect_event("the call placed", SOON, ue("Report", "samepid"));
                let done = expect_archived(ast, "samepid.call", SOON);
                assert_eq!(done, format!("{}\nAbortRetry: PID 1 (TIME)\n{}Status: Completed\n",
                    normalise(&text), last_attempt(1)));
                assert_no_more(ast, 1, Duration::from_secs(2), "placements", ue("Dialed", "samepid"));
            }
        }
    }
}

/// The date (whole seconds, as pbx_spool writes it) in the last `StartRetry` line of `text`: the mtime
/// that attempt gave the file, RetryTime ahead.
fn last_start_date(text: &str) -> i64 {
    let line = text.lines().rfind(|l| l.starts_with("StartRetry: ")).expect("a StartRetry line");
    line.rsplit_once('(')
        .and_then(|(_, t)| t.strip_suffix(')'))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no date in {line:?}"))
}

/// Seconds since the epoch of `path`'s mtime.
fn mtime_secs(path: &std::path::Path) -> i64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).mtime()
}

/// Asserts that an archived file left outgoing/ no earlier than the date its last attempt gave it: the
/// `Status:` line is appended right after the move, so the archive's mtime is when it left.
fn assert_kept_until_its_date(ast: &Asterisk, name: &str) {
    let archived = ast.outgoing_done_dir().join(name);
    let text = fs::read_to_string(&archived).unwrap();
    let (date, left) = (last_start_date(&text), mtime_secs(&archived));
    assert!(left >= date, "{name} left outgoing/ at {left}, before its date {date}:\n{text}\n{}", ast.diagnostics());
}

both_spoolers! {
    /// Scenario 8a / intentional difference (d): `AlwaysDelete: no` and a completed call whose mtime is
    /// only the one the spooler itself set (StartRetry moves it RetryTime ahead). Both keep the file in
    /// outgoing/ until that date (pbx_spool's rule, which the Asterisk testsuite checks). pbx_spool then
    /// finds its own StartRetry open and appends `DelayedRetry` every RetryTime, for ever, never calling
    /// again. pbx_spool_rs removes it at that date, unchanged and without dialling (here: archives it as
    /// Completed).
    fn always_delete_no_completed(ast: &Asterisk, spooler: Spooler) configure(setup) {
        let text = "Channel: Local/s@answer\nContext: report\nExtension: s\nAlwaysDelete: no\nRetryTime: 2\n\
                    Archive: yes\nSet: FILE=adno\n";
        let file = ast.drop_call_file("adno.call", text);
        ast.expect_event("the call", SOON, ue("Report", "adno"));
        ast.expect_log("Call completed to Local/s@answer", SOON);
        match spooler {
            Spooler::Stock => {
                ast.expect_until("two DelayedRetry lines", SOON, || {
                    fs::read_to_string(&file).is_ok_and(|t| t.matches("\nDelayedRetry: ").count() >= 2)
                });
                let kept = normalise(&fs::read_to_string(&file).unwrap());
                // DelayedRetry carries the attempts counted from the file so far: none (StartRetry does not count).
                assert!(kept.starts_with(&format!("{text}{}\nDelayedRetry: PID 0 (TIME)\n", last_attempt(1))),
                    "{kept}");
                assert!(!ast.outgoing_done_dir().join("adno.call").exists());
            }
            _ => {
                let finished = ast.expect_event("SpoolFinished", SOON, |e| e.is_event("SpoolFinished"));
                assert!(finished.has("Status", "Completed"), "{finished}");
                let done = expect_archived(ast, "adno.call", SOON);
                assert_eq!(done, format!("{text}{}Status: Completed\n", last_attempt(1)));
                assert!(!file.exists());
                assert_kept_until_its_date(ast, "adno.call");
                expect_log_count(ast, &["adno.call was kept by AlwaysDelete: no until its date"], 1, SOON);
            }
        }
        assert_no_more(ast, 1, Duration::from_secs(1), "placements", ue("Dialed", "adno"));
    }
}

both_spoolers! {
    /// Scenario 8c, the Asterisk testsuite's `call_file_retries_alwaysdelete`: `AlwaysDelete: no` and a
    /// call that is never answered. After the last attempt both keep the file in outgoing/, until the
    /// date that attempt gave it (what the upstream test checks), and neither dials again. Then, as in
    /// 8a, pbx_spool finds its own last StartRetry open (StartRetry does not count as an attempt, so it
    /// sees one retry left) and appends `DelayedRetry` every RetryTime for ever; pbx_spool_rs removes the
    /// file at that date, unchanged (here: archives it as Expired). Both log the expiry once.
    fn always_delete_no_expired(ast: &Asterisk, spooler: Spooler) configure(setup) {
        let text = "Channel: Local/s@noanswer\nContext: report\nExtension: s\nAlwaysDelete: no\nMaxRetries: 1\n\
                    RetryTime: 2\nArchive: yes\nSet: FILE=adnoexp\n";
        let file = ast.drop_call_file("adnoexp.call", text);
        let attempt = ue("Attempt", "adnoexp");
        arrival_times(ast, 2, SOON, &attempt);
        expect_log_count(ast, &[&expired_line(spooler, "Local/s@noanswer", 2)], 1, SOON);
        match spooler {
            Spooler::Stock => {
                ast.expect_until("two DelayedRetry lines", SOON, || {
                    fs::read_to_string(&file).is_ok_and(|t| t.matches("\nDelayedRetry: ").count() >= 2)
                });
                let kept = normalise(&fs::read_to_string(&file).unwrap());
                assert!(kept.starts_with(&format!("{text}{}{}\nDelayedRetry: PID 1 (TIME)\n",
                    failed_attempt(1), last_attempt(2))), "{kept}");
                assert!(!ast.outgoing_done_dir().join("adnoexp.call").exists());
            }
            _ => {
                let done = expect_archived(ast, "adnoexp.call", SOON);
                assert_eq!(done, format!("{text}{}{}Status: Expired\n", failed_attempt(1), last_attempt(2)));
                assert!(!file.exists());
                assert_kept_until_its_date(ast, "adnoexp.call");
                expect_log_count(ast, &["adnoexp.call was kept by AlwaysDelete: no until its date"], 1, SOON);
            }
        }
        assert_no_more(ast, 2, Duration::from_secs(2), "attempts", &attempt);
        assert_eq!(log_count(ast, &["expired without completion"]), 1, "{}", ast.diagnostics());
    }
}

both_spoolers! {
    /// Scenario 8b: `AlwaysDelete: no`, and the dialplan re-dates the file 4 s ahead during the (first)
    /// call, the classic way to make a call file recur. Both leave the file in outgoing/ after the
    /// completed call. pbx_spool then never calls again: it ignores the new date (it does not watch
    /// attribute changes) and at its own StartRetry + RetryTime finds its StartRetry open, so it appends
    /// `DelayedRetry` and moves the mtime every RetryTime, forever (differences (a) and (d)).
    /// pbx_spool_rs places the call again at the new date; the second call does not re-date the file,
    /// so it is then removed (archived as Completed).
    fn always_delete_no_redated(ast: &Asterisk, spooler: Spooler) configure(setup) {
        let spoolfile = ast.inside_path(&ast.outgoing_dir().join("recur.call"));
        let text = format!("Channel: Local/s@answer\nContext: touch\nExtension: s\nAlwaysDelete: no\n\
                            RetryTime: 1\nArchive: yes\nSet: FILE=recur\nSet: AHEAD=4\nSet: SPOOLFILE={spoolfile}\n");
        let started = std::time::Instant::now();
        let file = ast.drop_call_file("recur.call", &text);
        let touch = ue("Touch", "recur");
        ast.expect_event("the first call", SOON, &touch);
        ast.expect_log("Call completed to Local/s@answer", SOON);
        // Both keep the file after the first call: its mtime is in the future and not theirs.
        assert!(file.exists(), "{}", ast.diagnostics());
        match spooler {
            Spooler::Stock => {
                ast.expect_until("two DelayedRetry lines", SOON, || {
                    fs::read_to_string(&file).is_ok_and(|t| t.matches("\nDelayedRetry: ").count() >= 2)
                });
                // Past the re-dated time (4 s after the first call) with margin: no second call.
                let deadline = Duration::from_secs(8).saturating_sub(started.elapsed());
                assert_no_more(ast, 1, deadline, "calls", &touch);
                assert!(file.exists());
            }
            _ => {
                let times = arrival_times(ast, 2, SOON, &touch);
                let gap = times[1] - times[0];
                assert!(gap >= Duration::from_millis(3000), "second call after {gap:?}, re-dated 4 s ahead");
                let done = expect_archived(ast, "recur.call", SOON);
                assert_eq!(done, format!("{text}{}\nAbortRetry: PID 1 (TIME)\n{}Status: Completed\n",
                    last_attempt(1), last_attempt(1)));
                assert!(!file.exists());
                assert_no_more(ast, 2, Duration::from_secs(2), "calls", &touch);
            }
        }
    }
}
