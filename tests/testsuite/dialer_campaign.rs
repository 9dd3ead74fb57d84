//! A dialer's campaign end to end, against the real Asterisk: 1,000 numbers in one campaign whose far ends
//! answer, are busy, congested, ring out (no answer) or hang up with cause 1 (unallocated), with the
//! campaign's `retry_rules`, a do-not-call list and a dialer tag on every file. Every file must be
//! retried by its outcome's rule (each retry's delay and count checked from the events and by Asterisk's
//! clock), no listed number may be dialled, and every event about a file must carry its tag.
//! pbx_spool has none of this: it runs against pbx_spool_rs alone.

use std::collections::HashMap;
use std::fs;
use std::time::{Duration, Instant};

use harness::bulk::{ami_only, file_number, stage};
use harness::{Asterisk, Message, Spooler};

const FILES: usize = 1_000;
/// Every this-many-th number (from 7 on) is on the do-not-call list: 20 of the 1,000, of every kind (51 is
/// no multiple of the 5 kinds).
const DNC_EVERY: usize = 51;
const DNC_OFFSET: usize = 7;
/// The test fails when no file has finished for this long (a stall), not when a loaded machine is slow.
const STALL: Duration = Duration::from_secs(60);

/// Each far end reports its attempt by Asterisk's clock, then ends it its own way. The number dialled
/// is the Local extension, which is also what the do-not-call list is matched against.
const DIALPLAN: &str = r#"
[answer]
exten => _X.,1,UserEvent(Dialled,File: ${FILE},At: ${STRFTIME(,,%s.%3q)})
 same => n,Answer()
 same => n,Wait(1)

[busy]
exten => _X.,1,UserEvent(Dialled,File: ${FILE},At: ${STRFTIME(,,%s.%3q)})
 same => n,Busy()

[congestion]
exten => _X.,1,UserEvent(Dialled,File: ${FILE},At: ${STRFTIME(,,%s.%3q)})
 same => n,Congestion()

[ring]
exten => _X.,1,UserEvent(Dialled,File: ${FILE},At: ${STRFTIME(,,%s.%3q)})
 same => n,Ringing()
 same => n,Wait(30)

[unallocated]
exten => _X.,1,UserEvent(Dialled,File: ${FILE},At: ${STRFTIME(,,%s.%3q)})
 same => n,Hangup(1)

[report]
exten => s,1,Hangup()
"#;

/// (far end, the outcome it gives, attempts the rules allow with MaxRetries: 2, delay before a retry).
const KINDS: [(&str, &str, usize, Option<u32>); 5] = [
    ("answer", "answered", 1, None),
    ("busy", "busy", 3, Some(2)),
    ("congestion", "congestion", 3, Some(1)),
    ("ring", "noanswer", 3, Some(3)),
    ("unallocated", "unallocated", 1, None),
];

fn number(i: usize) -> String {
    format!("0301{i:04}")
}

fn listed(i: usize) -> bool {
    i % DNC_EVERY == DNC_OFFSET
}

fn call_file(i: usize) -> String {
    let (far_end, ..) = KINDS[i % KINDS.len()];
    // RetryTime far longer than any rule: a retry that comes soon came by its rule. Only the far end that
    // rings is ended by WaitTime (its outcome is "noanswer"); every other far end ends the call itself, so
    // its WaitTime is long enough never to race it: with 1,000 calls on a loaded machine, a Hangup(1) can
    // reach the caller more than a second after the dial, and a 1 s WaitTime then ends it as unanswered.
    let wait_time = if far_end == "ring" { 1 } else { 30 };
    format!(
        "Channel: Local/{}@{far_end}\nContext: report\nExtension: s\nMaxRetries: 2\nRetryTime: 300\n\
         WaitTime: {wait_time}\nArchive: yes\nSet: FILE=f{i}\nSet: SPOOL_TAG=lead-{i}\n",
        number(i)
    )
}

fn seconds(text: Option<&str>, event: &Message) -> f64 {
    text.and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("no seconds in {event}"))
}

#[test]
fn a_thousand_number_campaign_is_retried_by_its_rules_skips_its_dnc_numbers_and_tags_every_event() {
    let ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).file("pbx_spool_rs.conf", "[general]\n").start();
    // The list's path inside the chroot is known once the instance exists: configured, then reloaded.
    let list = ast.etc_dir().join("dnc.txt");
    let numbers: Vec<String> = (0..FILES).filter(|&i| listed(i)).map(number).collect();
    fs::write(&list, format!("; the campaign's do-not-call list\n{}\n", numbers.join("\n"))).unwrap();
    let inside = ast.inside_path(&list);
    ast.write_etc(
        "pbx_spool_rs.conf",
        &format!(
            "[general]\ndnc = {inside}\n\n[leads]\nmatch = f*\n\
             retry_rules = busy:2, congestion:1, noanswer:3, unallocated:never\n"
        ),
    );
    let mark = ast.log_mark();
    ast.cli("module reload pbx_spool_rs.so");
    ast.expect_log_since(mark, &["Loaded do-not-call list", &inside]);
    ami_only(&ast, &["Event: SpoolAttempt", "Event: SpoolAttemptEnded", "Event: SpoolFinished", "Event: UserEvent"]);

    stage(&ast, FILES, None, call_file).rename_all();
    let finished = |e: &Message| e.is_event("SpoolFinished");
    let (mut before, mut progress_at) = (0, Instant::now());
    loop {
        let seen = ast.ami().wait_for_count(FILES, STALL.saturating_sub(progress_at.elapsed()), finished);
        if seen >= FILES {
            break;
        }
        assert!(seen != before, "no file finished for {STALL:?}: {seen} of {FILES}\n{}", ast.diagnostics());
        (before, progress_at) = (seen, Instant::now());
    }

    // Every event, by file number.
    let mut by_file: HashMap<usize, Vec<Message>> = HashMap::new();
    for event in ast.ami().events() {
        let number = if event.is_user_event("Dialled") {
            event.get("File").and_then(|f| f.strip_prefix('f')).and_then(|n| n.parse().ok())
        } else if event.get("Event").is_some_and(|name| name.starts_with("Spool")) {
            file_number(event.get("File").unwrap_or_default())
        } else {
            None
        };
        if let Some(number) = number {
            by_file.entry(number).or_default().push(event);
        }
    }
    let mut retries_checked = 0;
    for i in 0..FILES {
        let events = by_file.remove(&i).unwrap_or_default();
        let of = |name: &str| events.iter().filter(|e| e.is_event(name)).collect::<Vec<_>>();
        let dialled: Vec<&Message> = events.iter().filter(|e| e.is_user_event("Dialled")).collect();
        let finals = of("SpoolFinished");
        assert_eq!(finals.len(), 1, "f{i}: one SpoolFinished: {finals:?}");
        for event in events.iter().filter(|e| !e.is_user_event("Dialled")) {
            assert_eq!(
                event.get("Tag"),
                Some(format!("lead-{i}").as_str()),
                "f{i}: every event carries the tag: {event}"
            );
        }
        if listed(i) {
            assert_eq!(finals[0].get("Status"), Some("Rejected"), "f{i} is on the do-not-call list: {}", finals[0]);
            assert!(of("SpoolAttempt").is_empty() && dialled.is_empty(), "f{i}, a listed number, was dialled");
            continue;
        }
        let (_, outcome, attempts, delay) = KINDS[i % KINDS.len()];
        let ends = of("SpoolAttemptEnded");
        assert_eq!(
            (of("SpoolAttempt").len(), ends.len(), dialled.len()),
            (attempts, attempts, attempts),
            "f{i} ({outcome}): attempts, ends and far-end answers\n{events:?}"
        );
        assert_eq!(finals[0].get("Outcome"), Some(outcome), "f{i}: {}", finals[0]);
        let status = if outcome == "answered" { "Completed" } else { "Expired" };
        assert_eq!(finals[0].get("Status"), Some(status), "f{i}: {}", finals[0]);
        for (n, end) in ends.iter().enumerate() {
            assert_eq!(end.get("Outcome"), Some(outcome), "f{i}: {end}");
            let last = n + 1 == attempts;
            match (delay, last) {
                (Some(delay), false) => {
                    let text = delay.to_string();
                    assert_eq!(
                        (end.get("RetryDelay"), end.get("RetryRule")),
                        (Some(text.as_str()), Some("[leads] retry_rules")),
                        "f{i}: {end}"
                    );
                    // By Asterisk's clock: this attempt started, then ended, then the file was dated
                    // `delay` s ahead, and the next attempt started no earlier than that date.
                    let next_due = seconds(end.get("NextAttempt"), end);
                    let this_start = seconds(dialled[n].get("At"), dialled[n]);
                    let next_start = seconds(dialled[n + 1].get("At"), dialled[n + 1]);
                    assert!(next_due - this_start >= f64::from(delay) - 0.001, "f{i}: dated too soon: {end}");
                    assert!(next_start >= next_due - 0.001, "f{i}: attempt {} at {next_start}, due {next_due}", n + 2);
                    retries_checked += 1;
                }
                (None, _) if outcome == "unallocated" => {
                    assert_eq!(end.get("RetryDelay"), Some("never"), "f{i}: unallocated:never: {end}");
                }
                _ => assert_eq!(end.get("RetryDelay"), Some("none"), "f{i}: the last attempt: {end}"),
            }
        }
    }
    // Every retry of the 980 numbers dialled was checked: busy, congestion and no answer twice each.
    let retries: usize = (0..FILES)
        .filter(|&i| !listed(i))
        .map(|i| KINDS[i % KINDS.len()])
        .filter(|(.., delay)| delay.is_some())
        .map(|(_, _, attempts, _)| attempts - 1)
        .sum();
    assert!(retries > 1_000, "{retries}");
    assert_eq!(retries_checked, retries);
    assert!(by_file.is_empty(), "events about files that were never dropped: {:?}", by_file.keys());
}
