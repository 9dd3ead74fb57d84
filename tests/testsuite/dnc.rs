//! Do-not-call lists against the real Asterisk: a listed number is never dialled (no channel is created)
//! while others are; a number listed while its file waits is not dialled when the file falls due, and a
//! number taken off the list is dialled again, both without a reload; a list that cannot be read is an
//! ERROR naming it, with its last good copy kept in force, or, never read, its files kept undialled.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use harness::events::{assert_never_attempted, events, placed};
use harness::files::{drop_dated, shown};
use harness::fixtures::security::expect_rejected;
use harness::{Asterisk, Message, Spooler, SOON};

const DIALPLAN: &str = r#"
[numbers]
exten => _X.,1,Answer()
 same => n,UserEvent(Reached,Number: ${EXTEN})
 same => n,Wait(5)

[report]
exten => s,1,UserEvent(Placed,Tag: ${TAG})
 same => n,Hangup()
"#;

/// A call file dialling `number` through a Local channel into `[numbers]`.
fn call(number: &str, tag: &str) -> String {
    format!("Channel: Local/{number}@numbers\nContext: report\nExtension: s\nSet: TAG={tag}\nArchive: yes\n")
}

/// An Asterisk whose `[general]` has `dnc = <etc>/dnc.txt`, the list holding `list` (not written when
/// `None`); returns it and the list's path on the host.
fn start(list: Option<&str>) -> (Asterisk, PathBuf) {
    let builder = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN);
    // The list's path inside the chroot is known only once the instance exists: the configuration is
    // written after start, then read by a reload.
    let ast = builder.file("pbx_spool_rs.conf", "[general]\n").start();
    let host_path = ast.etc_dir().join("dnc.txt");
    if let Some(text) = list {
        write_list(&host_path, text);
    }
    let inside = ast.inside_path(&host_path);
    ast.write_etc("pbx_spool_rs.conf", &format!("[general]\ndnc = {inside}\n"));
    let mark = ast.log_mark();
    ast.cli("module reload pbx_spool_rs.so");
    let read = if list.is_some() { "Loaded do-not-call list" } else { "Unable to read do-not-call list" };
    ast.expect_log_since(mark, &[read, &inside]);
    (ast, host_path)
}

/// Writes the list aside and renames it over, as an admin's script would.
fn write_list(path: &std::path::Path, text: &str) {
    let aside = path.with_extension("new");
    fs::write(&aside, text).unwrap();
    fs::rename(&aside, path).unwrap();
}

/// Whether any channel dialling `number` was created (its Newchannel event, or its `Reached` UserEvent).
fn dialled(ast: &Asterisk, number: &str) -> bool {
    let prefix = format!("Local/{number}@numbers");
    let created = |e: &Message| {
        (e.is_event("Newchannel") && e.get("Channel").is_some_and(|c| c.starts_with(&prefix)))
            || (e.is_user_event("Reached") && e.has("Number", number))
    };
    !events(ast, created).is_empty()
}

#[test]
fn a_listed_number_is_never_dialled_and_the_others_are() {
    let (ast, list) = start(Some("; do not call\n030 123-4 ; Mrs Smith\n+49 30 555\n"));
    ast.drop_call_file("listed.call", &call("0301234", "listed"));
    ast.drop_call_file("free.call", &call("0305555", "free"));
    let line = expect_rejected(&ast, "listed.call", "(rule dnc, value '0301234')");
    let inside = ast.inside_path(&list);
    assert!(line.contains(&format!("is on the do-not-call list {inside}, line 2")), "{line}");
    ast.expect_event("the number not on the list", SOON, placed("free"));
    assert_never_attempted(&ast, "listed.call");
    assert!(!dialled(&ast, "0301234"), "a channel was created for a listed number\n{}", ast.diagnostics());
    let archived = fs::read_to_string(ast.outgoing_done_dir().join("listed.call")).unwrap();
    assert!(archived.ends_with("Status: Failed\n") && archived.contains("(rule dnc"), "{archived}");
    let status = ast.cli("spool show status");
    let row = status.lines().find(|l| l.contains(&format!("dnc {inside}"))).unwrap_or_else(|| panic!("{status}"));
    assert!(row.contains("2 numbers, loaded "), "{status}");
}

#[test]
fn a_number_listed_while_its_file_waits_is_not_dialled_and_one_taken_off_is_dialled_again() {
    let (ast, list) = start(Some("0305555\n"));
    ast.drop_call_file("before.call", &call("0305555", "before"));
    expect_rejected(&ast, "before.call", "(rule dnc, value '0305555')");

    // Queued for an hour from now, so that nothing but the test decides when it falls due: a loaded
    // machine cannot make it due before the list has changed.
    let later = SystemTime::now() + Duration::from_secs(3600);
    let waiting = drop_dated(&ast, "waiting.call", &call("0301234", "waiting"), later);
    ast.expect_until("waiting.call to be queued", SOON, || ast.cli("spool show file waiting.call").contains("queued"));
    // No reload: the file changes, and the next attempt reads it.
    write_list(&list, "0301234\n");
    ast.drop_call_file("after.call", &call("0305555", "after"));
    ast.expect_event("the number taken off the list", SOON, placed("after"));
    assert!(dialled(&ast, "0305555"));
    assert!(waiting.exists(), "waiting.call went before it was due:\n{}", ast.diagnostics());
    // Now due: re-dated, as an admin (or pbx_spool's own bookkeeping) re-dates a file.
    ast.set_mtime(&waiting, SystemTime::now());
    let line = expect_rejected(&ast, "waiting.call", "(rule dnc, value '0301234')");
    assert!(line.contains(&format!("{}, line 1", ast.inside_path(&list))), "{line}");
    assert!(!dialled(&ast, "0301234"), "{}", ast.diagnostics());
    assert_never_attempted(&ast, "waiting.call");
}

#[test]
fn an_unreadable_list_keeps_its_last_good_copy_and_says_so() {
    let (ast, list) = start(Some("0301234\n"));
    let inside = ast.inside_path(&list);
    fs::remove_file(&list).unwrap();
    ast.drop_call_file("listed.call", &call("0301234", "listed"));
    expect_rejected(&ast, "listed.call", "(rule dnc, value '0301234')");
    let errors = ast.expect_log_lines(&["ERROR[", &format!("Unable to read do-not-call list {inside}: ")], 1);
    assert!(errors[0].contains("keeping its last good copy (1 numbers"), "{errors:?}");
    assert!(!dialled(&ast, "0301234"));
    let status = ast.cli("spool show status");
    assert!(status.contains("UNREADABLE since") && status.contains("last good copy is in force"), "{status}");
}

#[test]
fn a_list_never_read_is_an_error_and_its_files_wait_undialled() {
    let (ast, list) = start(None);
    let inside = ast.inside_path(&list);
    let errors = ast.expect_log_lines(&["ERROR[", &format!("Unable to read do-not-call list {inside}: ")], 1);
    assert!(errors[0].contains("no good copy was ever read"), "{errors:?}");
    let path = ast.drop_call_file("waits.call", &call("0305555", "waits"));
    ast.expect_log(
        &format!("Not dialling {} yet: its do-not-call list {inside} cannot be read", shown(&ast, "waits.call")),
        SOON,
    );
    ast.expect_until("waits.call to wait for its next attempt", SOON, || {
        ast.cli("spool show file waits.call").contains("waiting for its next attempt")
    });
    assert!(path.exists(), "the file is kept");
    assert!(!fs::read_to_string(&path).unwrap().contains("StartRetry"));
    assert_never_attempted(&ast, "waits.call");
    assert!(!dialled(&ast, "0305555"));
    assert!(ast.cli("spool show status").contains("never read: the files it applies to are not dialled"));
}

#[test]
fn spool_check_and_spool_submit_refuse_a_listed_number_before_any_attempt() {
    let (ast, list) = start(Some("0301234\n"));
    let inside_list = ast.inside_path(&list);
    let aside = ast.path("check");
    fs::create_dir_all(&aside).unwrap();
    for (name, number, verdict) in
        [("listed.call", "0301234", "REFUSED: "), ("free.call", "0305555", "would be placed")]
    {
        let file = aside.join(name);
        fs::write(&file, call(number, name)).unwrap();
        let check = ast.cli(&format!("spool check {}", ast.inside_path(&file)));
        let line = check.lines().find(|l| l.starts_with("Verdict:")).unwrap_or_else(|| panic!("{check}"));
        assert!(line.contains(verdict), "{name}: {check}");
        if number == "0301234" {
            assert!(line.contains(&format!("is on the do-not-call list {inside_list}, line 1")), "{check}");
            assert!(line.contains("(rule dnc, value '0301234')"), "{check}");
        }
    }
    let reply = ast.ami().action(
        "SpoolSubmit",
        &[("Channel", "Local/0301234@numbers"), ("Context", "report"), ("Extension", "s"), ("SubmitID", "dnc-1")],
        SOON,
    );
    assert!(reply.has("Response", "Error"), "{reply}");
    let message = reply.get("Message").unwrap_or_default();
    assert!(message.starts_with("Refused: ") && message.contains("(rule dnc, value '0301234')"), "{reply}");
    assert_eq!(fs::read_dir(ast.outgoing_dir()).unwrap().count(), 0, "a refused submission wrote a file");
    assert!(!dialled(&ast, "0301234"), "a channel was created for a listed number\n{}", ast.diagnostics());
}
