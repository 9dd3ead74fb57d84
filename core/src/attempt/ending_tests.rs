//! Unit tests of outcomes and retry rules in a visit, against the fake [`Host`](crate::host::Host): the
//! outcome in the events and the file, the delay each rule gives (the file's mtime), `never`, and the
//! file's RetryTime without a rule.

use std::fs;
use std::sync::Arc;

use super::*;
use crate::bookkeeping;
use crate::host::CallResult;
use crate::retry_rules::RetryRules;
use crate::testing::{answered, temp_spool, FakeHost};

const CALL: &str = "Channel: Local/s@ctx\nContext: dest\nExtension: s\nRetryTime: 900\n";

fn result(reason: i32, text: &str, cause: Option<(i32, &str)>) -> CallResult {
    CallResult {
        answered: reason == 4,
        reason,
        reason_text: text.into(),
        cause: cause.map(|(number, text)| (number, text.to_string())),
    }
}

fn rules(general: &str, campaign: Option<(&str, &str, &str)>) -> VisitRules {
    let mut campaigns = Vec::new();
    if let Some((name, glob, retry_rules)) = campaign {
        let mut sales = crate::campaign::Campaign::new(name);
        crate::campaign::apply(&mut sales, "match", glob).unwrap();
        crate::campaign::apply(&mut sales, "retry_rules", retry_rules).unwrap();
        campaigns.push(sales);
    }
    VisitRules {
        retry_rules: Arc::new(if general.is_empty() {
            RetryRules::default()
        } else {
            RetryRules::parse(general).unwrap()
        }),
        campaigns: Arc::new(campaigns),
        ..VisitRules::default()
    }
}

fn run(host: &FakeHost, paths: &SpoolPaths, rules: &VisitRules, name: &str, contents: &str) -> Outcome {
    let path = paths.outgoing.join(name);
    fs::write(&path, contents).unwrap();
    visit(host, paths, rules, &Stats::default(), &path, &mut |_| {})
}

fn last_event(host: &FakeHost, name: &str) -> Vec<(String, String)> {
    host.with(|r| r.events.iter().rev().find(|(e, _)| e == name).map(|(_, f)| f.clone()))
        .unwrap_or_else(|| panic!("no {name} event"))
}

fn field(fields: &[(String, String)], key: &str) -> Option<String> {
    fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

/// The requeue date must be `delay_s` after the visit, and the file's mtime that date.
fn assert_dated(outcome: &Outcome, path: &std::path::Path, before: Millis, delay_s: i64) -> Millis {
    let Outcome::Requeue(due) = *outcome else { panic!("{outcome:?}") };
    let after = bookkeeping::now_ms();
    assert!(due >= before + delay_s * 1000 && due <= after + delay_s * 1000, "due {due}, before {before}");
    assert_eq!(bookkeeping::regular_file_mtime(path), Some(due), "the mtime carries the delay, as pbx_spool's");
    due
}

#[test]
fn each_outcome_waits_its_rule_and_others_the_files_retry_time() {
    let rules = rules("busy:300, congestion:1m, noanswer:1h", None);
    for (reason, text, outcome, delay) in [
        (5, "Remote end is busy", "busy", 300),
        (8, "Congestion (circuits busy)", "congestion", 60),
        (3, "Remote end is ringing", "noanswer", 3600),
        (0, "Call Failure", "failed", 900),
        (1, "Hangup", "hangup", 900),
    ] {
        let host = FakeHost::new(move |_, _| result(reason, text, None));
        let paths = temp_spool(&format!("ending-{outcome}"));
        let before = bookkeeping::now_ms();
        let path = paths.outgoing.join("r.call");
        let outcome_of_visit = run(&host, &paths, &rules, "r.call", &format!("{CALL}MaxRetries: 2\n"));
        let due = assert_dated(&outcome_of_visit, &path, before, delay);
        let ended = last_event(&host, "SpoolAttemptEnded");
        assert_eq!(field(&ended, "Outcome").as_deref(), Some(outcome));
        assert_eq!(field(&ended, "Reason"), Some(reason.to_string()));
        assert_eq!(field(&ended, "Attempt").as_deref(), Some("1"));
        assert_eq!(field(&ended, "RetryDelay"), Some(delay.to_string()));
        let source = if delay == 900 { "RetryTime" } else { "[general] retry_rules" };
        assert_eq!(field(&ended, "RetryRule").as_deref(), Some(source));
        assert_eq!(field(&ended, "NextAttempt"), Some(format!("{}.{:03}", due / 1000, due % 1000)));
        assert_eq!(field(&ended, "Cause"), None, "no cause known");
        let written = fs::read_to_string(&path).unwrap();
        let line = format!("# pbx_spool_rs: Outcome: {outcome} (attempt 1, reason {reason}: {text})\n");
        let end_retry = written.find("\nEndRetry: 4242 1 (").expect(&written);
        assert!(written[end_retry..].ends_with(&format!(")\n{line}")), "the outcome right after EndRetry: {written}");
        // Still a call file both parsers read without a word.
        let parsed = crate::callfile::parse(written.as_bytes());
        assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
        assert_eq!(parsed.call.retries, 1);
        assert!(host.with(|r| r.events.iter().all(|(e, _)| e != "SpoolFinished")));
    }
}

#[test]
fn never_finishes_the_file_as_expired_with_the_outcome_in_the_archive() {
    let rules = rules("unallocated:never", None);
    let host = FakeHost::new(|_, _| result(0, "Call Failure", Some((1, "Unallocated (unassigned) number"))));
    let paths = temp_spool("ending-never");
    let outcome = run(&host, &paths, &rules, "u.call", &format!("{CALL}MaxRetries: 5\nArchive: yes\n"));
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(host.with(|r| r.calls.len()), 1, "no further attempt");
    let ended = last_event(&host, "SpoolAttemptEnded");
    assert_eq!(field(&ended, "Outcome").as_deref(), Some("unallocated"));
    assert_eq!(field(&ended, "Cause").as_deref(), Some("1"));
    assert_eq!(field(&ended, "CauseText").as_deref(), Some("Unallocated (unassigned) number"));
    assert_eq!(field(&ended, "RetryDelay").as_deref(), Some("never"));
    assert_eq!(field(&ended, "NextAttempt"), None);
    let finished = last_event(&host, "SpoolFinished");
    assert_eq!(field(&finished, "Status").as_deref(), Some("Expired"));
    assert_eq!(field(&finished, "Outcome").as_deref(), Some("unallocated"));
    assert_eq!(field(&finished, "Cause").as_deref(), Some("1"));
    let archived = fs::read_to_string(paths.done.join("u.call")).unwrap();
    assert!(
        archived.ends_with(
            ")\n# pbx_spool_rs: Outcome: unallocated (attempt 1, reason 0: Call Failure, cause 1: Unallocated \
             (unassigned) number)\nStatus: Expired\n"
        ),
        "{archived}"
    );
    assert!(host.logged(
        "Outcome unallocated of Local/s@ctx: no further attempt ([general] retry_rules says unallocated:never)"
    ));
    // Moved back into outgoing/, the archive reads as pbx_spool reads it: only its Status line is unknown.
    let parsed = crate::callfile::parse(archived.as_bytes());
    let lines: Vec<usize> = parsed.diagnostics.iter().map(|d| d.line).collect();
    assert_eq!(lines, [archived.lines().count()], "{:?}", parsed.diagnostics);
}

#[test]
fn a_campaigns_rule_comes_before_generals_and_max_retries_still_ends_the_file() {
    let rules = rules("busy:300", Some(("sales", "sales-*", "busy:5")));
    let host = FakeHost::new(|_, _| result(5, "Remote end is busy", None));
    let paths = temp_spool("ending-campaign");
    let before = bookkeeping::now_ms();
    let contents = format!("{CALL}MaxRetries: 1\nArchive: yes\n");
    let outcome = run(&host, &paths, &rules, "sales-1.call", &contents);
    assert_dated(&outcome, &paths.outgoing.join("sales-1.call"), before, 5);
    let ended = last_event(&host, "SpoolAttemptEnded");
    assert_eq!(field(&ended, "RetryRule").as_deref(), Some("[sales] retry_rules"));
    assert_eq!(field(&ended, "Campaign").as_deref(), Some("sales"));
    // Outside the campaign, [general]'s rule.
    let before = bookkeeping::now_ms();
    let outcome = run(&host, &paths, &rules, "other.call", &contents);
    assert_dated(&outcome, &paths.outgoing.join("other.call"), before, 300);
    // The second attempt is the last MaxRetries: 1 allows: expired, whatever the rule says.
    let outcome =
        run(&host, &paths, &rules, "sales-1.call", &fs::read_to_string(paths.outgoing.join("sales-1.call")).unwrap());
    assert_eq!(outcome, Outcome::Done);
    let ended = last_event(&host, "SpoolAttemptEnded");
    assert_eq!(
        (field(&ended, "Attempt").as_deref(), field(&ended, "RetryDelay").as_deref()),
        (Some("2"), Some("none"))
    );
    let archived = fs::read_to_string(paths.done.join("sales-1.call")).unwrap();
    let outcomes = crate::outcome_names::recorded_in(archived.as_bytes());
    let seen: Vec<(&str, i32)> = outcomes.iter().map(|(name, n, _)| (name.as_str(), *n)).collect();
    assert_eq!(seen, [("busy", 1), ("busy", 2)], "{archived}");
    assert!(archived.ends_with("Status: Expired\n"), "{archived}");
    assert_eq!(field(&last_event(&host, "SpoolFinished"), "Outcome").as_deref(), Some("busy"));
}

#[test]
fn an_answered_call_is_completed_with_its_outcome() {
    let rules = rules("busy:300", None);
    let host = FakeHost::new(|_, _| answered());
    let paths = temp_spool("ending-answered");
    let outcome = run(&host, &paths, &rules, "a.call", &format!("{CALL}Archive: yes\n"));
    assert_eq!(outcome, Outcome::Done);
    let ended = last_event(&host, "SpoolAttemptEnded");
    assert_eq!(field(&ended, "Outcome").as_deref(), Some("answered"));
    assert_eq!(field(&ended, "RetryDelay").as_deref(), Some("none"));
    let finished = last_event(&host, "SpoolFinished");
    assert_eq!(
        (field(&finished, "Status").as_deref(), field(&finished, "Outcome").as_deref()),
        (Some("Completed"), Some("answered"))
    );
    let archived = fs::read_to_string(paths.done.join("a.call")).unwrap();
    assert!(
        archived.ends_with(
            ")\n# pbx_spool_rs: Outcome: answered (attempt 1, reason 4: Remote end has answered)\nStatus: Completed\n"
        ),
        "{archived}"
    );
}

#[test]
fn a_refused_file_has_no_outcome() {
    let host = FakeHost::new(|_, _| answered());
    let paths = temp_spool("ending-refused");
    let outcome = run(&host, &paths, &VisitRules::default(), "x.call", "Channel: nonsense\n");
    assert_eq!(outcome, Outcome::Done);
    let finished = last_event(&host, "SpoolFinished");
    assert_eq!(field(&finished, "Outcome"), None);
    assert!(host.with(|r| r.events.iter().all(|(e, _)| e != "SpoolAttemptEnded")));
}
