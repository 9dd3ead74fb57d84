//! Parity scenarios: the same call files handed to stock pbx_spool and to pbx_spool_rs must produce
//! the same observable outcome (AMI UserEvents raised by the dialplan, the variables it sees, the final
//! archived file modulo pids and timestamps, what stays in outgoing/, the log wording pbx_spool users
//! rely on). This file holds the scenarios about what a call file says (forms, variables, caller id,
//! account, invalid files, syntax). Retries and archiving are in `parity_retry`, timing and the ways a
//! file arrives in `parity_timing`; the dialplan and setup they share in `harness::fixtures::parity`.
//!
//! Every scenario is a `both_spoolers!` pair: `<name>::stock` documents pbx_spool itself, `<name>::rust`
//! checks ours against the same expectations. Where they differ on purpose (a pbx_spool bug fixed), the
//! scenario branches on the spooler and says why.

use std::fs;
use std::time::Duration;

use harness::events::{assert_no_more, events, expect_log_count, log_count, ue};
use harness::files::{expect_gone, outgoing_names, shown};
use harness::fixtures::parity::{expect_archived, setup, without_delayed_retries};
use harness::{both_spoolers, Builder, SOON};

/// [`setup`], and a pbx_spool_rs.conf that admits `Priority: 2` in context `prio` (every context stays
/// allowed at priority 1): the rule an admin writes for a call file that starts a context part-way on
/// purpose. (Stock pbx_spool has no such rule and ignores the file.)
pub(crate) fn setup_with_entry_at_priority_two(builder: Builder) -> Builder {
    setup(builder).file("pbx_spool_rs.conf", "[general]\nallow_context = *\nallow_context = prio,2\n")
}

both_spoolers! {
    /// Scenario 1: the extension form (with and without Priority) and the application form. The
    /// application's Data is passed as is: pbx_spool does not substitute `${...}` in it. pbx_spool_rs
    /// enters a context at priority 1 only unless the admin allows another entry point, so its instance
    /// allows `prio` at 2 (see [`setup_with_entry_at_priority_two`]).
    fn extension_and_application_forms(ast: &Asterisk, spooler: Spooler) configure(setup_with_entry_at_priority_two) {
        let ext = ast.drop_call_file("ext.call",
            "Channel: Local/s@answer\nContext: report\nExtension: s\nPriority: 1\nSet: FILE=ext\n");
        let prio = ast.drop_call_file("prio.call",
            "Channel: Local/s@answer\nContext: prio\nExtension: s\nPriority: 2\nSet: FILE=prio\n");
        let app = ast.drop_call_file("app.call",
            "Channel: Local/s@answer\nApplication: UserEvent\nData: AppForm,File: app,Raw: ${FILE}\nSet: FILE=app\n");

        let report = ast.expect_event("Report from ext.call", SOON, ue("Report", "ext"));
        assert_eq!(report.get("Attempt"), Some("1"), "{report}");
        let p = ast.expect_event("Prio from prio.call", SOON, ue("Prio", "prio"));
        assert_eq!(p.get("Priority"), Some("2"), "Priority: 2 starts at priority 2\n{p}");
        let a = ast.expect_event("AppForm from app.call", SOON, ue("AppForm", "app"));
        assert_eq!(a.get("Raw"), Some("${FILE}"), "Data is not substituted\n{a}");
        for file in [&ext, &prio, &app] {
            expect_gone(ast, file, SOON);
        }
        expect_log_count(ast, &["Call completed to Local/s@answer"], 3, SOON);
        assert_eq!(
            log_count(ast, &["Attempting call on Local/s@answer for s@report:1 (Retry 1)"]), 1,
            "{}", ast.diagnostics()
        );
        assert_eq!(
            log_count(ast, &["Attempting call on Local/s@answer for s@prio:2 (Retry 1)"]), 1,
            "{}", ast.diagnostics()
        );
        assert_eq!(
            log_count(ast, &["Attempting call on Local/s@answer for application UserEvent(AppForm,File: app,Raw: ${FILE}) (Retry 1)"]), 1,
            "{}", ast.diagnostics()
        );
        // Each placed exactly once; priority 1 of `prio` never ran.
        assert_no_more(ast, 3, Duration::from_secs(1), "dialled", |e| e.is_user_event("Dialed"));
        assert_eq!(events(ast, |e| e.is_user_event("Prio")).len(), 1, "{}", ast.diagnostics());
        assert!(outgoing_names(ast).is_empty(), "{:?}", outgoing_names(ast));
    }
}

both_spoolers! {
    /// Scenario 2: `Set:`/`SetVar:` lines reach the channel in file order (a later one wins), values are
    /// not evaluated (`${A}2` stays literal), the value is split at the first `=`, and a function
    /// (`CDR(userfield)`) is written through.
    fn variables_in_file_order(ast: &Asterisk, spooler: Spooler) configure(setup) {
        let file = ast.drop_call_file("vars.call", "\
Channel: Local/s@answer
Context: report
Extension: s
Set: FILE=vars
Set: A=1
SetVar: B=${A}2
Set: C=first
Set: C=second
Set: CDR(userfield)=abc
Set: EMPTY=
Set: EQ=a=b
");
        let e = ast.expect_event("Report from vars.call", SOON, ue("Report", "vars"));
        assert_eq!(e.get("A"), Some("1"), "{e}");
        assert_eq!(e.get("B"), Some("${A}2"), "{e}");
        assert_eq!(e.get("C"), Some("second"), "{e}");
        assert_eq!(e.get("UF"), Some("abc"), "{e}");
        assert_eq!(e.get("Empty"), Some("[]"), "{e}");
        assert_eq!(e.get("Eq"), Some("a=b"), "{e}");
        expect_gone(ast, &file, SOON);
        ast.expect_log("Call completed to Local/s@answer", SOON);
    }
}

both_spoolers! {
    /// Scenario 3: the four CallerID forms, split as pbx_spool does (`ast_callerid_split`).
    fn callerid_forms(ast: &Asterisk, spooler: Spooler) configure(setup) {
        let cases = [
            ("cid1", r#""Alice" <100>"#, "Alice", "100"),
            ("cid2", "Bob <200>", "Bob", "200"),
            ("cid3", "300", "", "300"),
            ("cid4", "Carol", "Carol", ""),
        ];
        for (file, cid, _, _) in cases {
            ast.drop_call_file(&format!("{file}.call"), &format!(
                "Channel: Local/s@answer\nContext: report\nExtension: s\nCallerID: {cid}\nSet: FILE={file}\n"));
        }
        for (file, cid, name, num) in cases {
            let e = ast.expect_event(&format!("Report from {file}"), SOON, ue("Report", file));
            assert_eq!(e.get("CidName"), Some(name), "CallerID: {cid}\n{e}");
            assert_eq!(e.get("CidNum"), Some(num), "CallerID: {cid}\n{e}");
        }
        ast.expect_until("outgoing/ to empty", SOON, || outgoing_names(ast).is_empty());
    }
}

both_spoolers! {
    /// Scenario 4: `Account:` becomes the channel's account code (and so the CDR's).
    fn account_code(ast: &Asterisk, spooler: Spooler) configure(setup) {
        let file = ast.drop_call_file("acct.call",
            "Channel: Local/s@answer\nContext: report\nExtension: s\nAccount: acct42\nSet: FILE=acct\n");
        let e = ast.expect_event("Report from acct.call", SOON, ue("Report", "acct"));
        assert_eq!(e.get("Acct"), Some("acct42"), "{e}");
        assert_eq!(e.get("CdrAcct"), Some("acct42"), "{e}");
        expect_gone(ast, &file, SOON);
    }
}

both_spoolers! {
    /// Scenario 13 (and the Failed archive of scenario 7): files that cannot be placed are never dialled,
    /// are removed with pbx_spool's warnings, and with `Archive: yes` land in outgoing_done/ with
    /// `Status: Failed`.
    fn invalid_files_are_removed(ast: &Asterisk, spooler: Spooler) configure(setup) {
        let archived = "Channel: Local/s@answer\nArchive: yes\nSet: FILE=inv4\n";
        let cases = [
            ("nochan.call", "Context: report\nExtension: s\nSet: FILE=inv1\n"),
            ("noslash.call", "Channel: Localsanswer\nContext: report\nExtension: s\nSet: FILE=inv2\n"),
            ("notarget.call", "Channel: Local/s@answer\nSet: FILE=inv3\n"),
            ("archived.call", archived),
        ];
        let mut paths = Vec::new();
        for (name, text) in cases {
            paths.push(ast.drop_call_file(name, text));
        }
        for (name, _) in cases {
            let shown = shown(ast, name);
            ast.expect_log(&format!("Invalid file contents in {shown}, deleting"), SOON);
            let why = format!(
                "At least one of app or extension must be specified, along with tech and dest in file {shown}");
            assert_eq!(log_count(ast, &["WARNING[", &why]), 1, "{}", ast.diagnostics());
        }
        let shown = shown(ast, "noslash.call");
        assert_eq!(
            log_count(ast, &["NOTICE[", &format!("Channel should be in form Tech/Dest at line 1 of {shown}")]), 1,
            "{}", ast.diagnostics()
        );
        for path in &paths {
            expect_gone(ast, path, SOON);
        }
        let done = expect_archived(ast, "archived.call", SOON);
        assert_eq!(done, format!("{archived}Status: Failed\n"));
        // Only the archived one is kept.
        let kept: Vec<_> = fs::read_dir(ast.outgoing_done_dir()).unwrap().flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(kept, vec!["archived.call".to_owned()]);
        assert_no_more(ast, 0, Duration::from_secs(1), "dialled", |e| e.is_user_event("Dialed"));
        assert_eq!(log_count(ast, &["Attempting call on"]), 0, "{}", ast.diagnostics());
    }
}

both_spoolers! {
    /// Scenario 14: `#` comments (only at line start or after a blank), `;` comments, `\;` escapes, CRLF
    /// line endings, and a 2000-byte line, which Asterisk 22 skips whole with a warning while the lines
    /// after it still count.
    fn syntax_comments_crlf_long_line(ast: &Asterisk, spooler: Spooler) configure(setup) {
        let long = "x".repeat(2000);
        let text = [
            "# a comment line",
            "; another comment",
            "Channel: Local/s@answer ; trailing comment",
            "Context: fmt",
            "Extension: s",
            "Set: FILE=fmt",
            "Set: HASH=a#b",
            "Set: SPACEHASH=a #b",
            r"Set: SEMI=x\;y",
            &format!("Set: LONG={long}"),
            "Set: AFTER=yes",
            "Set: CR=abc",
            "",
        ]
        .join("\r\n");
        let file = ast.drop_call_file("fmt.call", &text);
        let e = ast.expect_event("Fmt from fmt.call", SOON, ue("Fmt", "fmt"));
        assert_eq!(e.get("Hash"), Some("a#b"), "{e}");
        assert_eq!(e.get("SpaceHash"), Some("[a]"), "{e}");
        assert_eq!(e.get("Semi"), Some("x;y"), "{e}");
        assert_eq!(e.get("LongLen"), Some("0"), "the long line is skipped\n{e}");
        assert_eq!(e.get("After"), Some("yes"), "{e}");
        assert_eq!(e.get("Cr"), Some("[abc]"), "{e}");
        let shown = shown(ast, "fmt.call");
        ast.expect_log(&format!("Skipping extremely long line at line 10 of {shown}"), SOON);
        expect_gone(ast, &file, SOON);
        // Nothing else about the file was reported (no syntax error from the rest of the long line).
        assert_eq!(log_count(ast, &["Syntax error at line"]), 0, "{}", ast.diagnostics());
        assert_eq!(log_count(ast, &["Unknown keyword"]), 0, "{}", ast.diagnostics());
    }
}

#[test]
fn archived_text_loses_only_its_delayed_retry_lines() {
    let text = "Channel: a/b\n\nStartRetry: PID 1 (TIME)\n\nDelayedRetry: PID 0 (TIME)\n\nDelayedRetry: PID 0 (TIME)\n\
                \nEndRetry: PID 1 (TIME)\nStatus: Expired\n";
    assert_eq!(
        without_delayed_retries(text),
        "Channel: a/b\n\nStartRetry: PID 1 (TIME)\n\nEndRetry: PID 1 (TIME)\nStatus: Expired\n"
    );
    let plain = "Channel: a/b\n\nStartRetry: PID 1 (TIME)\nStatus: Completed\n";
    assert_eq!(without_delayed_retries(plain), plain);
}
