//! Unit tests of a visit against the fake [`Host`](crate::host::Host) (`crate::testing`), each in its own
//! temporary spool: they touch no file outside it and place no real call.

use super::outcome::directory_fix;
use super::phases::{attempt_uniqueid, permission_fix};
use super::preflight::owner_refusal;
use super::*;
use crate::access::Need;
use crate::bookkeeping::{self, Status};
use crate::os::Identity;
use crate::testing::{answered, busy, temp_spool, FakeHost};
use std::fs;
use std::sync::atomic::Ordering;
use std::sync::Arc;

#[test]
fn an_owner_refusal_names_the_user_and_the_line_that_allows_it() {
    let line = owner_refusal("/s/a.call", 0);
    assert_eq!(
        line,
        "Rejected /s/a.call: owned by root (uid 0), who is not allowed to submit calls ('allowed_owner = root' \
         admits it) (rule owner, value 'uid 0')"
    );
    let line = owner_refusal("/s/a.call", 4_000_000_001);
    assert!(line.contains("owned by uid 4000000001, a user without a name"), "{line}");
    assert!(line.contains("('allowed_owner = 4000000001' admits it)"), "{line}");
}

#[test]
fn a_refusal_on_permissions_ends_the_log_line_with_who_asterisk_is_and_the_owner() {
    let spool = temp_spool("attempt-permission-fix");
    let file = spool.outgoing.join("a.call");
    fs::write(&file, "Channel: Local/1@x\n").unwrap();
    assert_eq!(permission_fix(&file, Need::Read, &std::io::Error::from_raw_os_error(libc::EIO)), "");
    let fix = permission_fix(&file, Need::ReadWrite, &std::io::Error::from_raw_os_error(libc::EACCES));
    let me = Identity::current();
    let start = format!(": cannot write {}: Permission denied (Asterisk runs as {}", file.display(), me.describe());
    assert!(fix.starts_with(&start), "{fix}");
    assert!(fix.contains("; the file is owned by "), "{fix}");
    // The process can write its own temporary spool: no directory fix to add.
    assert_eq!(directory_fix(&spool.outgoing), "");
}

fn visit_file(host: &FakeHost, paths: &SpoolPaths, name: &str, contents: &str) -> (Outcome, Option<AttemptStart>) {
    let path = paths.outgoing.join(name);
    fs::write(&path, contents).unwrap();
    let mut started = None;
    let outcome = visit(host, paths, &VisitRules::default(), &Stats::default(), &path, &mut |s| started = Some(s));
    (outcome, started)
}

#[test]
fn a_visit_with_the_stock_spooler_loaded_leaves_the_file_as_it_was() {
    let paths = temp_spool("attempt-stock");
    let host = FakeHost::new(|_, _| answered());
    host.set_stock_spooler_loaded(true);
    let contents = format!("{CALL}Archive: yes\n");
    let (outcome, started) = visit_file(&host, &paths, "s.call", &contents);
    assert_eq!(outcome, Outcome::LeftToStockSpooler);
    assert!(started.is_none());
    assert_eq!(fs::read_to_string(paths.outgoing.join("s.call")).unwrap(), contents);
    assert!(host.with(|r| r.calls.is_empty() && r.events.is_empty()));
}

fn final_event(host: &FakeHost) -> Vec<(String, String)> {
    host.with(|r| r.events.iter().rev().find(|(e, _)| e == "SpoolFinished").map(|(_, f)| f.clone()).unwrap())
}

fn field(fields: &[(String, String)], key: &str) -> String {
    fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default()
}

const CALL: &str = "Channel: Local/s@ctx\nContext: dest\nExtension: s\n";

#[test]
fn completed_call_is_archived_with_pbx_spools_lines() {
    let host = FakeHost::new(|_, _| answered());
    let paths = temp_spool("completed");
    let (outcome, started) = visit_file(&host, &paths, "a.call", &format!("{CALL}Archive: yes\n"));
    assert_eq!(outcome, Outcome::Done);
    assert!(started.is_some());
    let archived = fs::read_to_string(paths.done.join("a.call")).unwrap();
    let start = archived.find("\nStartRetry: 4242 1 (").expect(&archived);
    assert!(archived[start..].ends_with(")\nStatus: Completed\n"), "{archived}");
    assert!(!paths.outgoing.join("a.call").exists());
    assert!(host.logged("Call completed to Local/s@ctx"));
    assert_eq!(field(&final_event(&host), "Status"), "Completed");
    assert_eq!(host.with(|r| r.calls[0].1), 1);
}

#[test]
fn failed_attempt_with_retries_left_is_requeued_after_retry_time() {
    let host = FakeHost::new(|_, _| busy());
    let paths = temp_spool("requeue");
    let before = bookkeeping::now_ms();
    let (outcome, _) = visit_file(&host, &paths, "r.call", &format!("{CALL}MaxRetries: 2\nRetryTime: 60\n"));
    let Outcome::Requeue(due) = outcome else { panic!("{outcome:?}") };
    assert!(due >= before + 60_000 && due <= bookkeeping::now_ms() + 60_000, "{due}");
    let text = fs::read_to_string(paths.outgoing.join("r.call")).unwrap();
    assert!(text.contains("\nStartRetry: 4242 1 ("), "{text}");
    assert!(text.contains("\nEndRetry: 4242 1 ("), "{text}");
    assert!(host.logged("Call failed to go through, reason (5) Remote end is busy"));
}

#[test]
fn last_attempt_expires_and_counts_attempts_right() {
    let host = FakeHost::new(|_, _| busy());
    let paths = temp_spool("expire");
    let contents = format!("{CALL}MaxRetries: 1\n\nStartRetry: 1 1 (5)\n\nEndRetry: 1 1 (6)\n");
    let (outcome, _) = visit_file(&host, &paths, "e.call", &contents);
    assert_eq!(outcome, Outcome::Done);
    assert!(host.logged("Queued call to Local/s@ctx expired without completion after 2 attempts"));
    assert_eq!(host.with(|r| r.calls[0].1), 2);
    let event = final_event(&host);
    assert_eq!((field(&event, "Status"), field(&event, "Attempts")), ("Expired".into(), "2".into()));
}

#[test]
fn unfinished_attempt_is_aborted_even_with_our_own_pid() {
    // A crashed Asterisk whose successor got the same pid: pbx_spool would append DelayedRetry forever.
    let host = FakeHost::new(|_, _| answered());
    let paths = temp_spool("abort");
    let contents = format!("{CALL}MaxRetries: 1\nArchive: yes\n\nStartRetry: 4242 1 (5)\n");
    let (outcome, _) = visit_file(&host, &paths, "c.call", &contents);
    assert_eq!(outcome, Outcome::Done);
    let archived = fs::read_to_string(paths.done.join("c.call")).unwrap();
    // pbx_spool's numbers: the aborted attempt is counted from the next parse on (AbortRetry counts
    // as a retry), and both new lines carry the retry count plus one.
    let abort = archived.find("\nAbortRetry: 4242 1 (").expect(&archived);
    let start = archived.rfind("\nStartRetry: 4242 1 (").expect(&archived);
    assert!(abort < start, "{archived}");
    assert_eq!(host.with(|r| r.calls.len()), 1);
}

#[test]
fn invalid_file_fails_with_pbx_spools_words_and_no_call() {
    let host = FakeHost::new(|_, _| answered());
    let paths = temp_spool("invalid");
    let (outcome, _) = visit_file(&host, &paths, "i.call", "Channel: Local/s@ctx\nArchive: yes\n");
    assert_eq!(outcome, Outcome::Done);
    assert!(host.logged("Invalid file contents in"));
    assert!(fs::read_to_string(paths.done.join("i.call")).unwrap().ends_with("Status: Failed\n"));
    assert_eq!(host.with(|r| r.calls.len()), 0);
    assert_eq!(field(&final_event(&host), "Status"), "Failed");
}

#[test]
fn policy_rejection_places_no_call() {
    let host = FakeHost::new(|_, _| answered());
    let paths = temp_spool("reject");
    let (outcome, started) = visit_file(&host, &paths, "t.call", "Channel: PJSIP/123@trunk\nApplication: Echo\n");
    assert_eq!(outcome, Outcome::Done);
    assert!(started.is_none());
    assert_eq!(host.with(|r| r.calls.len()), 0);
    assert!(host.logged("Rejected"));
    assert!(!paths.outgoing.join("t.call").exists());
    assert_eq!(field(&final_event(&host), "Status"), "Rejected");
}

#[test]
fn dangerous_function_write_is_refused_unless_live_dangerously() {
    let host = FakeHost::new(|_, _| answered());
    let paths = temp_spool("dangerous");
    let path = paths.outgoing.join("f.call");
    let contents = format!("{CALL}Set: FILE(/tmp/x)=evil\n");
    fs::write(&path, &contents).unwrap();
    let outcome = visit(&*host, &paths, &VisitRules::default(), &Stats::default(), &path, &mut |_| {});
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(host.with(|r| r.calls.len()), 0);
    fs::write(&path, &contents).unwrap();
    let rules = VisitRules { live_dangerously: true, ..VisitRules::default() };
    visit(&*host, &paths, &rules, &Stats::default(), &path, &mut |_| {});
    assert_eq!(host.with(|r| r.calls.len()), 1);
}

#[test]
fn always_delete_no_keeps_a_file_the_dialplan_redated_and_one_our_own_bookkeeping_dated() {
    let paths = temp_spool("alwaysdelete");
    let redate_to = bookkeeping::now_ms() + 3_600_000;
    let outgoing = paths.outgoing.clone();
    let host = FakeHost::new(move |_, _| {
        bookkeeping::set_times(&outgoing.join("k.call"), redate_to, redate_to).unwrap();
        answered()
    });
    let (outcome, _) = visit_file(&host, &paths, "k.call", &format!("{CALL}AlwaysDelete: no\n"));
    assert_eq!(outcome, Outcome::Requeue(redate_to));
    assert!(paths.outgoing.join("k.call").exists());

    assert!(host.with(|r| r.events.iter().all(|(e, _)| e != "SpoolFinished")), "a re-dated file is not finished");

    // Without a re-date, the future mtime is our own StartRetry's: kept, as pbx_spool keeps it, but
    // finished (announced now, removed at that date without dialling).
    let host = FakeHost::new(|_, _| answered());
    let before = bookkeeping::now_ms();
    let (outcome, _) = visit_file(&host, &paths, "d.call", &format!("{CALL}AlwaysDelete: no\nArchive: yes\n"));
    let Outcome::Kept(kept) = outcome else { panic!("{outcome:?}") };
    assert_eq!((kept.archive, kept.status), (true, Status::Completed));
    assert!(kept.due >= before + 300_000, "due {} = the StartRetry date, RetryTime (300 s) ahead", kept.due);
    assert!(paths.outgoing.join("d.call").exists());
    assert_eq!(field(&final_event(&host), "Status"), "Completed");

    let kept_path = paths.outgoing.join("d.call");
    assert_eq!(remove_kept(&*host, &paths, &kept_path, kept, KEPT_UNTIL_ITS_DATE), Outcome::Done);
    assert!(!kept_path.exists());
    let archived = fs::read_to_string(paths.done.join("d.call")).unwrap();
    assert!(archived.ends_with(")\nStatus: Completed\n"), "{archived}");
    assert_eq!(host.with(|r| r.calls.len()), 1, "never dialled again");
}

#[test]
fn always_delete_no_keeps_an_expired_file_until_its_date() {
    // The Asterisk testsuite's call_file_retries_alwaysdelete: after the last failed attempt the file
    // is still in outgoing/.
    let host = FakeHost::new(|_, _| busy());
    let paths = temp_spool("expired-kept");
    let contents = format!(
        "{CALL}AlwaysDelete: no\nMaxRetries: 1\nRetryTime: 3\n\nStartRetry: 4242 1 (5)\n\nEndRetry: 4242 1 (6)\n"
    );
    let (outcome, _) = visit_file(&host, &paths, "x.call", &contents);
    let Outcome::Kept(kept) = outcome else { panic!("{outcome:?}") };
    assert_eq!((kept.archive, kept.status), (false, Status::Expired));
    assert!(paths.outgoing.join("x.call").exists());
    assert!(host.logged("Queued call to Local/s@ctx expired without completion after 2 attempts"));
    assert_eq!(field(&final_event(&host), "Status"), "Expired");
    assert_eq!(remove_kept(&*host, &paths, &paths.outgoing.join("x.call"), kept, KEPT_UNTIL_ITS_DATE), Outcome::Done);
    assert!(!paths.outgoing.join("x.call").exists());
    assert!(!paths.done.join("x.call").exists(), "Archive: no");
}

#[test]
fn oversize_and_special_files_are_not_dialled() {
    let host = FakeHost::new(|_, _| answered());
    let paths = temp_spool("special");
    let big = "Set: X=y\n".repeat(10_000);
    let (outcome, _) = visit_file(&host, &paths, "big.call", &format!("{CALL}{big}"));
    assert_eq!(outcome, Outcome::Done);
    assert!(!paths.outgoing.join("big.call").exists());
    let link = paths.outgoing.join("link.call");
    std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
    let outcome = visit(&*host, &paths, &VisitRules::default(), &Stats::default(), &link, &mut |_| {});
    assert_eq!(outcome, Outcome::Parked);
    assert!(fs::symlink_metadata(&link).is_ok(), "the symlink is left for the admin");
    assert_eq!(host.with(|r| r.calls.len()), 0);
}

fn shared_rules() -> VisitRules {
    VisitRules { node: Some(Arc::from("ast1")), ..VisitRules::default() }
}

#[test]
fn shared_spool_a_file_another_server_holds_is_left_alone() {
    let host = FakeHost::new(|_, _| answered());
    let paths = temp_spool("claimed");
    let path = paths.outgoing.join("c.call");
    fs::write(&path, CALL).unwrap();
    let other_server = crate::claim::Claim::try_take(&path).unwrap();
    let stats = Stats::default();
    let outcome = visit(&*host, &paths, &shared_rules(), &stats, &path, &mut |_| {});
    assert!(matches!(outcome, Outcome::Requeue(due) if due >= bookkeeping::now_ms()), "{outcome:?}");
    assert_eq!(stats.claims_lost.load(Ordering::Relaxed), 1);
    assert_eq!(host.with(|r| r.calls.len()), 0);
    assert_eq!(fs::read_to_string(&path).unwrap(), CALL, "untouched");
    drop(other_server);
    let outcome = visit(&*host, &paths, &shared_rules(), &stats, &path, &mut |_| {});
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(host.with(|r| r.calls.len()), 1);
    assert_eq!(field(&final_event(&host), "Node"), "ast1");
    assert!(host.logged("[node ast1] Call completed to Local/s@ctx"));
}

#[test]
fn shared_spool_a_file_another_server_advanced_is_not_dialled() {
    let host = FakeHost::new(|_, _| answered());
    let paths = temp_spool("advanced");
    let path = paths.outgoing.join("a.call");
    fs::write(&path, format!("{CALL}MaxRetries: 2\n\nStartRetry: 1 1 (5)\n\nEndRetry: 1 1 (6)\n")).unwrap();
    let later = bookkeeping::now_ms() + 60_000;
    bookkeeping::set_times(&path, later, later).unwrap();
    let outcome = visit(&*host, &paths, &shared_rules(), &Stats::default(), &path, &mut |_| {});
    assert_eq!(outcome, Outcome::Requeue(later));
    assert_eq!(host.with(|r| r.calls.len()), 0);
}

#[test]
fn shared_spool_an_unclaimed_unfinished_attempt_is_aborted_then_taken_over() {
    let host = FakeHost::new(|_, _| answered());
    let paths = temp_spool("takeover");
    let path = paths.outgoing.join("t.call");
    fs::write(&path, format!("{CALL}MaxRetries: 1\nArchive: yes\n\nStartRetry: 999999 1 (5)\n")).unwrap();
    let outcome = visit(&*host, &paths, &shared_rules(), &Stats::default(), &path, &mut |_| {});
    assert_eq!(outcome, Outcome::Done);
    let archived = fs::read_to_string(paths.done.join("t.call")).unwrap();
    assert!(archived.contains("\nAbortRetry: 4242 1 ("), "{archived}");
    assert_eq!(host.with(|r| r.calls.len()), 1);
}

#[test]
fn shared_spool_a_kept_file_stays_claimed_until_it_is_removed() {
    // Its StartRetry looks unfinished: unclaimed, another server would abort it and dial it again.
    let host = FakeHost::new(|_, _| answered());
    let paths = temp_spool("kept-claimed");
    let path = paths.outgoing.join("k.call");
    fs::write(&path, format!("{CALL}AlwaysDelete: no\n")).unwrap();
    let outcome = visit(&*host, &paths, &shared_rules(), &Stats::default(), &path, &mut |_| {});
    let Outcome::Kept(kept) = outcome else { panic!("{outcome:?}") };
    assert!(kept.claim.is_some());
    assert!(crate::claim::is_taken(&path).unwrap(), "claimed while kept");
    assert_eq!(remove_kept(&*host, &paths, &path, kept, KEPT_UNTIL_ITS_DATE), Outcome::Done);
    assert!(!path.exists());
}

#[test]
fn attempt_uniqueids_are_never_a_prefix_of_one_another() {
    let ids: Vec<String> = (0..200).map(|_| attempt_uniqueid(4242)).collect();
    for (i, a) in ids.iter().enumerate() {
        for b in &ids[i + 1..] {
            assert!(!b.starts_with(a.as_str()) && !a.starts_with(b.as_str()), "{a} / {b}");
        }
    }
    assert!(ids[0].len() < 80, "Asterisk keeps uniqueids under AST_MAX_UNIQUEID (150)");
}

/// Rules with `[general]`'s do-not-call list `list`.
fn dnc_rules(list: &std::path::Path) -> VisitRules {
    let dnc = crate::dnc::DncLists::new(&[list.display().to_string()], &[]);
    VisitRules { dnc: std::sync::Arc::new(dnc), ..VisitRules::default() }
}

fn visit_with(host: &FakeHost, paths: &SpoolPaths, rules: &VisitRules, name: &str, contents: &str) -> Outcome {
    let path = paths.outgoing.join(name);
    fs::write(&path, contents).unwrap();
    visit(host, paths, rules, &Stats::default(), &path, &mut |_| {})
}

#[test]
fn a_listed_number_is_rejected_undialled_with_the_list_and_line() {
    let host = FakeHost::new(|_, _| answered());
    let paths = temp_spool("dnc-listed");
    let list = paths.outgoing.parent().unwrap().join("dnc.txt");
    fs::write(&list, "; numbers\n0301234\n").unwrap();
    let rules = dnc_rules(&list);
    let call = "Channel: Local/0301234@ctx\nContext: dest\nExtension: s\nArchive: yes\n";
    assert_eq!(visit_with(&host, &paths, &rules, "n.call", call), Outcome::Done);
    assert_eq!(host.with(|r| r.calls.len()), 0, "never dialled");
    let line = format!(
        "number 0301234 (dialled by Local/0301234@ctx) is on the do-not-call list {}, line 2; not dialled (rule dnc, \
         value '0301234')",
        list.display()
    );
    assert!(host.logged(&line), "{:?}", host.with(|r| r.logs.clone()));
    let event = final_event(&host);
    assert_eq!(field(&event, "Status"), "Rejected");
    assert!(field(&event, "ReasonText").contains("(rule dnc, value '0301234')"), "{event:?}");
    let archived = fs::read_to_string(paths.done.join("n.call")).unwrap();
    assert!(archived.contains("pbx_spool_rs: Rejected") && archived.ends_with("Status: Failed\n"), "{archived}");

    // Another number is dialled.
    let other = "Channel: Local/0305555@ctx\nContext: dest\nExtension: s\n";
    assert_eq!(visit_with(&host, &paths, &rules, "o.call", other), Outcome::Done);
    assert_eq!(host.with(|r| r.calls.len()), 1);
}

#[test]
fn a_list_never_read_keeps_the_file_waiting_untouched() {
    let host = FakeHost::new(|_, _| answered());
    let paths = temp_spool("dnc-never-read");
    let rules = dnc_rules(&paths.outgoing.parent().unwrap().join("missing.txt"));
    let call = "Channel: Local/0301234@ctx\nContext: dest\nExtension: s\n";
    let before = bookkeeping::now_ms();
    let outcome = visit_with(&host, &paths, &rules, "w.call", call);
    assert!(matches!(outcome, Outcome::Requeue(at) if at >= before + 60_000), "{outcome:?}");
    assert_eq!(host.with(|r| r.calls.len()), 0);
    assert_eq!(fs::read_to_string(paths.outgoing.join("w.call")).unwrap(), call, "nothing written into it");
    assert!(host.logged("Not dialling"), "{:?}", host.with(|r| r.logs.clone()));
}

#[test]
fn a_channel_without_a_number_is_dialled_with_a_notice() {
    let host = FakeHost::new(|_, _| answered());
    let paths = temp_spool("dnc-no-number");
    let list = paths.outgoing.parent().unwrap().join("dnc.txt");
    fs::write(&list, "0301234\n").unwrap();
    let outcome = visit_with(&host, &paths, &dnc_rules(&list), "s.call", CALL);
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(host.with(|r| r.calls.len()), 1);
    assert!(host.logged("Channel Local/s@ctx names no number to check against the do-not-call list(s)"));
}

/// A host whose calls are answered (or not) and whose "dialplan" writes `writes` to SPOOL() on the
/// call's own channel, through `book`.
fn steering_host(
    book: &Arc<crate::steering::SteeringBook>,
    answer: bool,
    writes: &'static [(&'static str, &'static str)],
) -> Arc<FakeHost> {
    let book = book.clone();
    FakeHost::answering_channel(move |_, _, uniqueid| {
        let channel = crate::steering::Caller { uniqueid, name: "Local/s@ctx-00000001;1" };
        assert_eq!(book.read(Some(channel), "file").unwrap(), "s.call", "the dialplan reads its file");
        for (key, value) in writes {
            book.write(Some(channel), key, value, bookkeeping::now_ms()).unwrap();
        }
        if answer {
            answered()
        } else {
            busy()
        }
    })
}

fn visit_steered_file(
    host: &FakeHost,
    book: &crate::steering::SteeringBook,
    paths: &SpoolPaths,
    contents: &str,
) -> Outcome {
    let path = paths.outgoing.join("s.call");
    fs::write(&path, contents).unwrap();
    visit_steered(host, paths, &VisitRules::default(), &Stats::default(), book, &path, &mut |_| {})
}

fn steered_event(host: &FakeHost) -> Vec<(String, String)> {
    host.with(|r| r.events.iter().find(|(e, _)| e == "SpoolSteered").map(|(_, f)| f.clone()).unwrap())
}

#[test]
fn an_answered_call_whose_dialplan_asks_for_a_retry_is_requeued_then_not_completed() {
    let book = Arc::new(crate::steering::SteeringBook::new());
    let host = steering_host(&book, true, &[("outcome", "voicemail"), ("retry", "2")]);
    let paths = temp_spool("steer-retry");
    let before = bookkeeping::now_ms();
    let outcome =
        visit_steered_file(&host, &book, &paths, &format!("{CALL}MaxRetries: 2\nRetryTime: 60\nArchive: yes\n"));
    let Outcome::Requeue(due) = outcome else { panic!("{outcome:?}") };
    assert!(due >= before + 2000 && due <= bookkeeping::now_ms() + 2000, "the dialplan's 2 s, not RetryTime: {due}");
    let path = paths.outgoing.join("s.call");
    assert_eq!(bookkeeping::regular_file_mtime(&path), Some(due), "the file is dated for the retry");
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains("\nEndRetry: 4242 1 ("), "{text}");
    assert!(!host.logged("Call completed"), "answered, but requeued as the dialplan asked");
    let event = steered_event(&host);
    assert_eq!(
        (field(&event, "Outcome"), field(&event, "Retry"), field(&event, "Attempt")),
        ("voicemail".into(), "requeued".into(), "1".into())
    );
    assert_eq!(field(&event, "Due"), format!("{}.{:03}", due / 1000, due % 1000));
    assert!(host.with(|r| r.events.iter().all(|(e, _)| e != "SpoolFinished")));
    assert_eq!(book.in_flight(), 0, "the attempt left the book when its call returned");
}

#[test]
fn retry_never_finishes_the_file_with_the_outcome_in_the_archive_and_the_event() {
    let book = Arc::new(crate::steering::SteeringBook::new());
    let host = steering_host(&book, false, &[("outcome", "wrong-number"), ("retry", "never")]);
    let paths = temp_spool("steer-never");
    let outcome = visit_steered_file(&host, &book, &paths, &format!("{CALL}MaxRetries: 5\nArchive: yes\n"));
    assert_eq!(outcome, Outcome::Done);
    let archived = fs::read_to_string(paths.done.join("s.call")).unwrap();
    assert!(archived.contains("# pbx_spool_rs: Outcome: wrong-number (attempt 1, "), "{archived}");
    assert!(archived.ends_with(", set by the dialplan)\nStatus: Expired\n"), "{archived}");
    let finished = final_event(&host);
    assert_eq!((field(&finished, "Status"), field(&finished, "Outcome")), ("Expired".into(), "wrong-number".into()));
    assert_eq!(field(&steered_event(&host), "Retry"), "never");
    assert!(host.logged("asked for no further attempt"));
}

#[test]
fn a_retry_asked_without_retries_left_finishes_as_pbx_spool_would() {
    let book = Arc::new(crate::steering::SteeringBook::new());
    let host = steering_host(&book, true, &[("retry", "60")]);
    let paths = temp_spool("steer-no-retries");
    let outcome = visit_steered_file(&host, &book, &paths, &format!("{CALL}MaxRetries: 0\nArchive: yes\n"));
    assert_eq!(outcome, Outcome::Done);
    assert!(host.logged("but it has no retries left (MaxRetries: 0); finishing it"));
    assert_eq!(field(&final_event(&host), "Status"), "Completed");
    assert_eq!(field(&final_event(&host), "Outcome"), "answered", "the dialplan set none: Asterisk's");
    assert_eq!(field(&steered_event(&host), "Retry"), "no-retries-left");
}

#[test]
fn retry_at_dates_the_file_at_that_time_and_an_outcome_alone_changes_nothing_else() {
    let book = Arc::new(crate::steering::SteeringBook::new());
    let host = steering_host(&book, true, &[("retry_at", "2027-01-01T10:00:00+01:00")]);
    let paths = temp_spool("steer-at");
    let outcome = visit_steered_file(&host, &book, &paths, &format!("{CALL}MaxRetries: 1\n"));
    assert_eq!(outcome, Outcome::Requeue(1_798_794_000_000));
    assert_eq!(bookkeeping::regular_file_mtime(&paths.outgoing.join("s.call")), Some(1_798_794_000_000));

    let host = steering_host(&book, true, &[("outcome", "human")]);
    let paths = temp_spool("steer-outcome");
    let outcome = visit_steered_file(&host, &book, &paths, &format!("{CALL}MaxRetries: 1\nArchive: yes\n"));
    assert_eq!(outcome, Outcome::Done);
    let finished = final_event(&host);
    assert_eq!((field(&finished, "Status"), field(&finished, "Outcome")), ("Completed".into(), "human".into()));
    assert_eq!(field(&steered_event(&host), "Retry"), "none");
}

#[test]
fn a_call_file_writing_spool_itself_is_refused_by_the_function_write_policy() {
    let host = FakeHost::new(|_, _| answered());
    let paths = temp_spool("steer-policy");
    let (outcome, started) = visit_file(&host, &paths, "p.call", &format!("{CALL}Set: SPOOL(outcome)=voicemail\n"));
    assert_eq!(outcome, Outcome::Done);
    assert!(started.is_none());
    assert_eq!(host.with(|r| r.calls.len()), 0);
    assert_eq!(field(&final_event(&host), "Status"), "Rejected");
    assert!(host.logged("SPOOL"), "the refusal names the function");
}

#[test]
fn visits_count_attempts_outcomes_and_refusal_rules_for_the_metrics() {
    let paths = temp_spool("tallies");
    let stats = Stats::default();
    let run = |host: &FakeHost, name: &str, contents: &str| {
        let path = paths.outgoing.join(name);
        fs::write(&path, contents).unwrap();
        visit(host, &paths, &VisitRules::default(), &stats, &path, &mut |_| {});
    };
    let answering = FakeHost::new(|_, _| answered());
    run(&answering, "a.call", CALL);
    run(&answering, "b.call", CALL);
    run(&FakeHost::new(|_, _| busy()), "c.call", CALL);
    run(&answering, "t.call", "Channel: PJSIP/123@trunk\nApplication: Echo\n");
    run(&answering, "i.call", "Channel: Local/s@ctx\n");
    let counts = stats.tallies.counts();
    assert_eq!(counts.attempts.get(""), Some(&3));
    let finished = |outcome: &str| counts.finished.get(&(String::new(), outcome.to_string())).copied();
    assert_eq!((finished("completed"), finished("expired")), (Some(2), Some(1)));
    assert_eq!((finished("rejected"), finished("failed")), (Some(1), Some(1)));
    assert_eq!(counts.refusals.get("invalid"), Some(&1));
    assert_eq!(counts.refusals.len(), 2, "{:?}", counts.refusals);
    assert_eq!(stats.attempts.load(Ordering::Relaxed), 3);
}
