//! The scheduler's side of a dialer's operations: `SpoolPaused`/`SpoolResumed` with who asked, and a
//! campaign cancelled with its queued files and a call in progress, each file announced once with its tag.

use super::*;

fn events_named(host: &FakeHost, name: &str) -> Vec<Vec<(String, String)>> {
    host.with(|r| r.events.iter().filter(|(e, _)| e == name).map(|(_, f)| f.clone()).collect())
}

fn value<'a>(fields: &'a [(String, String)], key: &str) -> &'a str {
    fields.iter().find(|(k, _)| k == key).map_or_else(|| panic!("no {key} in {fields:?}"), |(_, v)| v.as_str())
}

/// The name in a `File:` field (the file's path, as in SpoolAttempt).
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn declared(name: &str, fields: &[(String, String)]) {
    let keys: Vec<&str> = fields.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(crate::events::check_declared(name, &keys), Ok(()));
}

#[test]
fn pause_and_resume_are_announced_with_the_campaign_and_who_asked() {
    let host = FakeHost::new(|_, _| answered());
    let spool = Running::start(host.clone(), "dialer-pause-events", sales(None));
    assert!(spool.control.set_paused("SALES", true, Via::Ami).unwrap().is_ok());
    assert!(spool.control.set_paused("nope", true, Via::Ami).unwrap().is_err());
    assert!(spool.control.set_paused("sales", false, Via::Cli).unwrap().is_ok());
    assert!(spool.control.set_paused("all", true, Via::Cli).unwrap().is_ok());
    let paused = events_named(&host, "SpoolPaused");
    assert_eq!(paused.len(), 2, "a refused pause is not announced: {paused:?}");
    declared("SpoolPaused", &paused[0]);
    assert_eq!((value(&paused[0], "Campaign"), value(&paused[0], "Via")), ("sales", "AMI"));
    assert_eq!((value(&paused[1], "Campaign"), value(&paused[1], "Via")), ("all", "CLI"));
    let resumed = events_named(&host, "SpoolResumed");
    assert_eq!(resumed.len(), 1);
    declared("SpoolResumed", &resumed[0]);
    assert_eq!(value(&resumed[0], "Reason"), "spool resume sales");
    assert_eq!((value(&resumed[0], "Campaign"), value(&resumed[0], "Via")), ("sales", "CLI"));
}

#[test]
fn a_cancelled_campaign_removes_its_queued_files_now_and_its_call_in_progress_when_it_ends() {
    let gate = Gate::default();
    let g = gate.clone();
    let host = FakeHost::new(move |_, _| {
        g.wait();
        busy()
    });
    let spool = Running::start(host.clone(), "dialer-cancel-campaign", sales(None));
    spool.drop_in("sales-r.call", &format!("{CALL}MaxRetries: 5\nSet: SPOOL_TAG=lead-r\n"));
    host.wait_for("the call in progress", WAIT, |r| r.calls.len() == 1);
    let later = bookkeeping::now_ms() + 3_600_000;
    stage(&spool, "sales-a.call", &format!("{CALL}Archive: yes\nSet: _SPOOL_TAG=lead-a\n"), later);
    stage(&spool, "sales-d.call", CALL, later);
    stage(&spool, "other.call", CALL, later);
    wait_snapshot(&spool, "three queued", |s| s.queued == 3 && s.in_progress == 1);
    let running = spool.snapshot().others;
    assert_eq!(running.len(), 1);
    assert_eq!((running[0].name.as_str(), running[0].state), ("sales-r.call", "running"));

    assert!(spool.control.cancel(CancelTarget::Campaign("all".into()), false, Via::Ami).unwrap().is_err());
    let answer = spool.control.cancel(CancelTarget::Campaign("Sales".into()), true, Via::Ami).unwrap().unwrap();
    assert!(answer.starts_with("Campaign sales: 3 call file(s) cancelled: 2 removed now, 1 call(s)"), "{answer}");
    let cancelled = events_named(&host, "SpoolCancelled");
    let summary: Vec<(&str, &str, &str)> =
        cancelled.iter().map(|f| (file_name(value(f, "File")), value(f, "Tag"), value(f, "Result"))).collect();
    assert_eq!(
        summary,
        [
            ("sales-a.call", "lead-a", "archived"),
            ("sales-d.call", "", "deleted"),
            ("sales-r.call", "lead-r", "removed at call end"),
        ]
    );
    for fields in &cancelled {
        declared("SpoolCancelled", fields);
        assert_eq!((value(fields, "Campaign"), value(fields, "CampaignCancel")), ("sales", "yes"));
        assert_eq!(value(fields, "Via"), "AMI");
    }
    let archived = std::fs::read_to_string(spool.paths.done.join("sales-a.call")).unwrap();
    assert!(archived.contains("Status: Cancelled"), "{archived}");
    assert!(!spool.paths.outgoing.join("sales-d.call").exists());
    assert!(spool.paths.outgoing.join("other.call").exists(), "another campaign's file is left");
    assert!(spool.paths.outgoing.join("sales-r.call").exists(), "removed when its call ends");

    gate.open();
    host.wait_for("the removal after the call", WAIT, |r| {
        r.logs.iter().any(|(_, l)| l.contains("(its call has ended)"))
    });
    assert!(!spool.paths.outgoing.join("sales-r.call").exists());
    let snapshot = wait_snapshot(&spool, "only other.call left", |s| s.queued == 1 && s.in_progress == 0);
    assert_eq!(snapshot.next.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["other.call"]);
    assert_eq!(calls(&host), 1, "not retried");
    assert_eq!(events_named(&host, "SpoolCancelled").len(), 3, "each file announced once");

    let single = spool.control.cancel(CancelTarget::File("other.call".into()), false, Via::Cli).unwrap().unwrap();
    assert!(single.contains("deleted"), "{single}");
    let last = events_named(&host, "SpoolCancelled").pop().unwrap();
    assert_eq!((value(&last, "CampaignCancel"), value(&last, "Via")), ("no", "CLI"));
    assert!(last.iter().all(|(key, _)| key != "Campaign"), "no campaign, no field: {last:?}");
}
