//! What a dialer needs, against the real Asterisk: its own ID in a call file (`Set: SPOOL_TAG=<id>`)
//! named in every event about the file (SpoolAttempt, SpoolFinished, SpoolQueueEntry, SpoolCancelled)
//! and readable by the dialplan as `${SPOOL_TAG}`; pauses and resumes from the console and the AMI
//! announced with who asked; a campaign cancelled with calls in progress (hung up) and queued files, each
//! file archived or deleted once. pbx_spool has none of these, so they run against pbx_spool_rs alone.

use std::fs;
use std::time::{Duration, SystemTime};

use harness::events::{events, placed, spool_event};
use harness::files::{drop_dated, shown};
use harness::{Asterisk, Message, Spooler, SOON};

const DIALPLAN: &str = r#"
[answer]
exten => s,1,Answer()
 same => n,Wait(20)

[report]
exten => s,1,UserEvent(Placed,Tag: ${SPOOL_TAG})
 same => n,Hangup()

[ringlong]
exten => s,1,UserEvent(Ringing,Tag: ${SPOOL_TAG})
 same => n,Ringing()
 same => n,Wait(60)
"#;

const CONF: &str = "[general]\n\n[sales]\nmatch = sales-*\n";

fn later() -> SystemTime {
    SystemTime::now() + Duration::from_secs(3600)
}

fn field<'a>(event: &'a Message, key: &str) -> &'a str {
    event.get(key).unwrap_or_else(|| panic!("no {key} in {event}"))
}

/// A file answered at once, tagged: its SpoolAttempt and SpoolFinished carry the tag, and the dialplan
/// reads it as ${SPOOL_TAG}. A file waiting in the queue, tagged: SpoolShow's entry and `spool show
/// file|queue` name it; cancelled over the AMI, its SpoolCancelled does too.
#[test]
fn every_event_of_a_tagged_file_carries_its_tag() {
    let ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).start();
    ast.drop_call_file(
        "now.call",
        "Channel: Local/s@answer\nContext: report\nExtension: s\nSet: __SPOOL_TAG=crm-000001\n",
    );
    ast.expect_event("the dialplan reading ${SPOOL_TAG}", SOON, placed("crm-000001"));
    let finished = ast.expect_event("SpoolFinished", SOON, spool_event(&ast, "SpoolFinished", "now.call"));
    assert_eq!(field(&finished, "Tag"), "crm-000001", "{finished}");
    let attempts = events(&ast, spool_event(&ast, "SpoolAttempt", "now.call"));
    assert_eq!(attempts.len(), 1);
    assert_eq!(field(&attempts[0], "Tag"), "crm-000001", "{}", attempts[0]);

    // Dated before it arrives, so it is never due before the test is done with it.
    let queued = drop_dated(
        &ast,
        "wait.call",
        "Channel: Local/s@answer\nContext: report\nExtension: s\nMaxRetries: 2\nSet: SPOOL_TAG=crm-000002\n",
        later(),
    );
    ast.drop_call_file("plain.call", "Channel: Local/s@answer\nContext: report\nExtension: s\n");
    let plain = ast.expect_event("the untagged file", SOON, spool_event(&ast, "SpoolFinished", "plain.call"));
    assert_eq!(plain.get("Tag"), Some(""), "an untagged file's events carry an empty Tag: {plain}");
    ast.expect_until("the file queued", SOON, || ast.cli("spool show queue").contains("1 file(s) listed"));
    let queue = ast.cli("spool show queue");
    let lines: Vec<&str> = queue.lines().collect();
    assert_eq!(lines[0].find("Tag"), lines[1].find("crm-000002"), "{queue}");
    assert!(ast.cli("spool show file wait.call").contains("\nTag:         crm-000002\n"));

    let ami = ast.ami();
    let mark = ami.mark();
    let reply = ami.action("SpoolShow", &[], SOON);
    assert!(reply.has("Response", "Success"), "{reply}");
    ami.wait_for_event_since(mark, SOON, |e| e.is_event("SpoolShowComplete")).expect("SpoolShowComplete");
    let entry = ami.events()[mark..].iter().find(|e| e.is_event("SpoolQueueEntry")).cloned().expect("an entry");
    for (key, value) in [
        ("File", "wait.call"),
        ("Tag", "crm-000002"),
        ("Channel", "Local/s@answer"),
        ("AttemptsMade", "0"),
        ("AttemptsLeft", "3"),
        ("State", "queued"),
    ] {
        assert_eq!(field(&entry, key), value, "{entry}");
    }
    assert_eq!(field(&entry, "NextDue"), field(&entry, "Due"), "{entry}");

    let cancelled = ami.action("SpoolCancel", &[("File", "wait.call")], SOON);
    assert!(cancelled.has("Response", "Success"), "{cancelled}");
    let event = ast.expect_event("SpoolCancelled", SOON, spool_event(&ast, "SpoolCancelled", "wait.call"));
    for (key, value) in [("Tag", "crm-000002"), ("Result", "deleted"), ("Via", "AMI"), ("CampaignCancel", "no")] {
        assert_eq!(field(&event, key), value, "{event}");
    }
    assert!(!queued.exists());
}

/// `spool pause` and `spool resume` on the console, SpoolPause and SpoolResume over the AMI: each raises
/// SpoolPaused or SpoolResumed naming the campaign and Via. No User: Asterisk gives a module no way to
/// read the manager session's user name.
#[test]
fn pause_and_resume_from_the_cli_and_the_ami_say_who_asked() {
    let ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).file("pbx_spool_rs.conf", CONF).start();
    let ami = ast.ami();
    assert!(ast.cli("spool pause sales").contains("Campaign sales paused"));
    let paused = ast.expect_event("SpoolPaused from the CLI", SOON, |e| e.is_event("SpoolPaused"));
    assert_eq!((field(&paused, "Campaign"), field(&paused, "Via")), ("sales", "CLI"), "{paused}");
    assert_eq!(paused.get("User"), None);

    let mark = ami.mark();
    assert!(ami.action("SpoolResume", &[("Campaign", "sales")], SOON).has("Response", "Success"));
    let resumed =
        ami.wait_for_event_since(mark, SOON, |e| e.is_event("SpoolResumed")).expect("SpoolResumed from the AMI");
    assert_eq!((field(&resumed, "Campaign"), field(&resumed, "Via")), ("sales", "AMI"), "{resumed}");
    assert_eq!(field(&resumed, "Reason"), "SpoolResume sales");

    let mark = ami.mark();
    assert!(ami.action("SpoolPause", &[("Campaign", "all")], SOON).has("Response", "Success"));
    let paused = ami.wait_for_event_since(mark, SOON, |e| e.is_event("SpoolPaused")).expect("SpoolPaused from AMI");
    assert_eq!((field(&paused, "Campaign"), field(&paused, "Via")), ("all", "AMI"), "{paused}");
    let mark = ami.mark();
    assert!(ast.cli("spool resume all").contains("Campaign all resumed"));
    let resumed = ami.wait_for_event_since(mark, SOON, |e| e.is_event("SpoolResumed")).expect("SpoolResumed");
    assert_eq!((field(&resumed, "Campaign"), field(&resumed, "Via")), ("all", "CLI"), "{resumed}");
    // A refused pause changes nothing and announces nothing.
    assert!(ami.action("SpoolPause", &[("Campaign", "nosuch")], SOON).has("Response", "Error"));
    assert_eq!(ami.count_events(|e| e.is_event("SpoolPaused")), 2);
}

/// A campaign with two calls ringing (for a minute) and two files queued, beside a file of no campaign:
/// SpoolCancel with `Campaign: sales` and `Hangup: yes` hangs both calls up at once, archives or deletes
/// each of the four files once (Status: Cancelled in the archived ones), raises one SpoolCancelled per
/// file with its tag, and leaves the other file queued. `spool cancel campaign` on the console answers
/// for a campaign with nothing left.
#[test]
fn a_cancelled_campaign_hangs_up_its_calls_and_removes_every_file_once() {
    let ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).file("pbx_spool_rs.conf", CONF).start();
    let ringing = |tag: &str, archive: &str| {
        format!(
            "Channel: Local/s@ringlong\nContext: report\nExtension: s\nMaxRetries: 3\nRetryTime: 1\n\
             Archive: {archive}\nSet: SPOOL_TAG={tag}\n"
        )
    };
    let mut files = Vec::new();
    for (name, tag, archive) in [("sales-r1.call", "r1", "yes"), ("sales-r2.call", "r2", "no")] {
        files.push(ast.drop_call_file(name, &ringing(tag, archive)));
        let tag = tag.to_string();
        ast.expect_event("the call ringing", SOON, move |e| e.is_user_event("Ringing") && e.has("Tag", &tag));
    }
    for (name, tag, archive) in
        [("sales-q1.call", "q1", "yes"), ("sales-q2.call", "q2", "no"), ("other.call", "o", "no")]
    {
        files.push(drop_dated(&ast, name, &ringing(tag, archive), later()));
    }
    ast.expect_until("three queued", SOON, || ast.cli("spool show queue").contains("3 file(s) listed"));

    let ami = ast.ami();
    let reply = ami.action("SpoolCancel", &[("Campaign", "sales"), ("Hangup", "yes")], SOON);
    assert!(reply.has("Response", "Success"), "{reply}");
    let message = field(&reply, "Message").to_string();
    assert!(message.starts_with("Campaign sales: 4 call file(s) cancelled: 2 removed now, 2 call(s)"), "{message}");

    let cancelled = |name: &str| spool_event(&ast, "SpoolCancelled", name);
    let mut results = Vec::new();
    for name in ["sales-q1.call", "sales-q2.call", "sales-r1.call", "sales-r2.call"] {
        let event = ast.expect_event("SpoolCancelled", SOON, cancelled(name));
        assert_eq!((field(&event, "Campaign"), field(&event, "CampaignCancel")), ("sales", "yes"), "{event}");
        assert_eq!(field(&event, "Via"), "AMI");
        results.push(format!("{name} {} {}", field(&event, "Tag"), field(&event, "Result")));
    }
    assert_eq!(
        results,
        [
            "sales-q1.call q1 archived",
            "sales-q2.call q2 deleted",
            "sales-r1.call r1 hung up",
            "sales-r2.call r2 hung up"
        ]
    );

    // Hung up, not left to ring their minute: both gone well within SOON.
    for path in &files[..4] {
        ast.expect_until("the campaign's file removed", SOON, || !path.exists());
    }
    let done = ast.outgoing_done_dir();
    for name in ["sales-r1.call", "sales-q1.call"] {
        // Moved first, then its Status: line appended, as pbx_spool archives.
        let archived = || fs::read_to_string(done.join(name)).unwrap_or_default();
        ast.expect_until("the file archived as cancelled", SOON, || archived().ends_with("Status: Cancelled\n"));
        assert_eq!(archived().matches("Status: ").count(), 1, "{}", archived());
    }
    for name in ["sales-r2.call", "sales-q2.call"] {
        assert!(!done.join(name).exists(), "{name} says Archive: no");
    }
    ast.expect_until("the removals after the calls", SOON, || {
        ast.log_text().matches("(its call has ended)").count() == 2
    });
    assert!(files[4].exists(), "another campaign's file is left");
    for name in ["sales-r1.call", "sales-r2.call"] {
        assert_eq!(ami.count_events(spool_event(&ast, "SpoolAttempt", name)), 1, "{name} retried");
        assert_eq!(ami.count_events(cancelled(name)), 1, "{name} announced more than once");
    }
    assert_eq!(ami.count_events(|e| e.is_event("SpoolCancelled")), 4);
    assert_eq!(ast.cli("spool show queue").matches(".call").count(), 1);

    let answer = ast.cli("spool cancel campaign sales");
    assert!(answer.contains("Campaign sales: 0 call file(s) cancelled"), "{answer}");
    assert!(ast.cli("spool cancel campaign nosuch").contains("No campaign named 'nosuch'"));
    assert!(shown(&ast, "other.call").ends_with("/outgoing/other.call"));
}
