//! Parity scenarios: the same call files handed to stock pbx_spool and to pbx_spool_rs must produce
//! the same observable outcome (AMI UserEvents raised by the dialplan, the variables it sees, the final
//! archived file modulo pids and timestamps, what stays in outgoing/, the log wording pbx_spool users
//! rely on). This file holds the shared dialplan and helpers, and the scenarios about what a call file
//! says (forms, variables, caller id, account, invalid files, syntax). Retries and archiving are in
//! `parity_retry`, timing and the ways a file arrives in `parity_timing`.
//!
//! Every scenario is a `both_spoolers!` pair: `<name>::stock` documents pbx_spool itself, `<name>::rust`
//! checks ours against the same expectations. Where they differ on purpose (a pbx_spool bug fixed), the
//! scenario branches on the spooler and says why.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use harness::{both_spoolers, set_mtime, Asterisk, Builder, Message};

/// The dialplan every parity scenario loads.
///
/// - `answer`: the far end of `Channel: Local/s@answer`; reports `Dialed` (the call was placed), answers
///   and stays up until the spooled side hangs up.
/// - `noanswer`: reports `Attempt` with the attempt number pbx_spool hands the channel, then is busy.
/// - `flaky`: busy on its first call, answers from the second (a GLOBAL counter survives attempts).
/// - `report`/`prio`/`fmt`/`bulk`: where the spooled (answered) side goes; each reports what it sees.
/// - `withfailed`: like `report`, plus the `failed` extension pbx_spool runs when a call is not answered.
/// - `touch`: re-dates the call file (its inside path in `SPOOLFILE`) on the first call only.
///
/// `Attempt` and `Touch` events carry `At:`, Asterisk's clock when the dialplan ran (seconds, to the
/// millisecond): gaps between attempts are measured with it ([`arrival_times`]), not with the time the
/// test saw the event, which a loaded machine delays by a varying amount.
pub(crate) const DIALPLAN: &str = r#"
[globals]
FLAKY=0
TOUCHED=0

[answer]
exten => s,1,UserEvent(Dialed,File: ${FILE})
 same => n,Answer()
 same => n,Wait(20)

[noanswer]
exten => s,1,UserEvent(Attempt,File: ${FILE},Attempt: ${AST_OUTGOING_ATTEMPT},At: ${STRFTIME(,,%s.%3q)})
 same => n,Busy()

[flaky]
exten => s,1,Set(GLOBAL(FLAKY)=$[${FLAKY}+1])
 same => n,UserEvent(Attempt,File: ${FILE},Count: ${FLAKY},Attempt: ${AST_OUTGOING_ATTEMPT},At: ${STRFTIME(,,%s.%3q)})
 same => n,GotoIf($[${FLAKY}<2]?busy)
 same => n,Answer()
 same => n,Wait(20)
 same => n(busy),Busy()

[report]
exten => s,1,UserEvent(Report,File: ${FILE},A: ${A},B: ${B},C: ${C},UF: ${CDR(userfield)},Empty: [${EMPTY}],Eq: ${EQ},CidName: ${CALLERID(name)},CidNum: ${CALLERID(num)},Acct: ${CHANNEL(accountcode)},CdrAcct: ${CDR(accountcode)},Attempt: ${AST_OUTGOING_ATTEMPT})
 same => n,Hangup()

[withfailed]
exten => s,1,UserEvent(Report,File: ${FILE})
 same => n,Hangup()
exten => failed,1,UserEvent(Failed,File: ${FILE},Reason: ${REASON},CidName: ${CALLERID(name)},CidNum: ${CALLERID(num)},Chan: ${CHANNEL(name)})
 same => n,Hangup()

[prio]
exten => s,1,UserEvent(Prio,File: ${FILE},Priority: 1)
 same => n,UserEvent(Prio,File: ${FILE},Priority: 2)
 same => n,Hangup()

[fmt]
exten => s,1,UserEvent(Fmt,File: ${FILE},Hash: ${HASH},SpaceHash: [${SPACEHASH}],Semi: ${SEMI},LongLen: ${LEN(${LONG})},After: ${AFTER},Cr: [${CR}])
 same => n,Hangup()

[bulk]
exten => s,1,UserEvent(Bulk,File: ${FILE},N: ${N})
 same => n,Hangup()

[touch]
exten => s,1,Set(GLOBAL(TOUCHED)=$[${TOUCHED}+1])
 same => n,UserEvent(Touch,File: ${FILE},Count: ${TOUCHED},At: ${STRFTIME(,,%s.%3q)})
 same => n,GotoIf($[${TOUCHED}>1]?done)
 same => n,System(touch -d @$[${EPOCH}+${AHEAD}] ${SPOOLFILE})
 same => n(done),Hangup()
"#;

/// Every parity instance: the dialplan, func_global for the counters that survive attempts, and debug
/// level 1, at which both spoolers log each `DelayedRetry` they write (see [`expect_archived`]).
pub(crate) fn setup(builder: Builder) -> Builder {
    builder.extensions(DIALPLAN).module("func_global.so").debug(1)
}

/// [`setup`], and a pbx_spool_rs.conf that admits `Priority: 2` in context `prio` (every context stays
/// allowed at priority 1): the rule an admin writes for a call file that starts a context part-way on
/// purpose. (Stock pbx_spool has no such rule and ignores the file.)
pub(crate) fn setup_with_entry_at_priority_two(builder: Builder) -> Builder {
    setup(builder).file("pbx_spool_rs.conf", "[general]\nallow_context = *\nallow_context = prio,2\n")
}

/// Waits until the spooler watches outgoing/. Both only start once Asterisk is fully booted, and stock
/// pbx_spool checks that once a second: a file created before its inotify watch exists is found by its
/// first directory scan instead, which hides exactly what scenarios about inotify events test (a
/// half-written file is read at once). A probe call file, placed and gone, proves the watch is live.
pub(crate) fn spooler_ready(ast: &Asterisk) {
    let probe = ast.drop_call_file(
        "ready-probe.call",
        "Channel: Local/s@answer\nApplication: UserEvent\nData: SpoolReady,File: ready-probe\nSet: FILE=ready-probe\n",
    );
    ast.expect_event("the readiness probe call", SOON, ue("SpoolReady", "ready-probe"));
    expect_gone(ast, &probe, SOON);
}

/// Waits until the spooler has handled every event raised before this call: both spoolers read their
/// inotify events in order on one thread, so once a probe call file dropped now has been placed, whatever
/// happened in outgoing/ before it has been seen. `tag` names the probe (unique within a test).
pub(crate) fn spooler_caught_up(ast: &Asterisk, tag: &str) {
    let name = format!("probe-{tag}");
    let probe = ast.drop_call_file(
        &format!("{name}.call"),
        &format!("Channel: Local/s@answer\nApplication: UserEvent\nData: SpoolProbe,File: {name}\nSet: FILE={name}\n"),
    );
    ast.expect_event("the probe call", SOON, ue("SpoolProbe", &name));
    expect_gone(ast, &probe, SOON);
}

/// Generous deadline for something that should happen within a second or two.
pub(crate) const SOON: Duration = Duration::from_secs(10);

/// `StartRetry: 1234 2 (1700000000)` → `StartRetry: PID 2 (TIME)`, for the four bookkeeping tags
/// pbx_spool appends; every other line is kept byte for byte.
pub(crate) fn normalise(text: &str) -> String {
    text.split_inclusive('\n').map(normalise_line).collect()
}

fn normalise_line(line: &str) -> String {
    let body = line.trim_end_matches('\n');
    let ending = &line[body.len()..];
    for tag in ["StartRetry", "EndRetry", "AbortRetry", "DelayedRetry"] {
        let Some(rest) = body.strip_prefix(tag).and_then(|r| r.strip_prefix(": ")) else {
            continue;
        };
        let parts: Vec<&str> = rest.splitn(3, ' ').collect();
        if let [pid, n, time] = parts[..] {
            if pid.parse::<i64>().is_ok() && time.starts_with('(') && time.ends_with(')') {
                return format!("{tag}: PID {n} (TIME){ending}");
            }
        }
    }
    line.to_owned()
}

/// A UserEvent `name` whose `File` header is `file` (every call file sets `FILE` for this).
pub(crate) fn ue(name: &str, file: &str) -> impl Fn(&Message) -> bool + Clone {
    let (name, file) = (name.to_owned(), file.to_owned());
    move |e: &Message| e.is_user_event(&name) && e.has("File", &file)
}

/// Every event so far matching `predicate`.
pub(crate) fn events(ast: &Asterisk, predicate: impl Fn(&Message) -> bool) -> Vec<Message> {
    ast.ami().events().into_iter().filter(|e| predicate(e)).collect()
}

/// Waits for the `count`-th event matching `predicate` (each within `each`), returning when the dialplan
/// raised each one by Asterisk's own clock (the event's `At:` field). The time the test received an event
/// is no measure of when it happened: a loaded machine delays the first and the second by different
/// amounts (seen once: a re-dated file's second call measured 2.986 s after the first, where Asterisk's
/// clock puts it at least 3 s later).
pub(crate) fn arrival_times(
    ast: &Asterisk,
    count: usize,
    each: Duration,
    predicate: impl Fn(&Message) -> bool,
) -> Vec<Duration> {
    for i in 1..=count {
        let seen = ast.ami().wait_for_count(i, each, &predicate);
        assert!(seen >= i, "only {seen} of {count} expected events arrived\n{}", ast.diagnostics());
    }
    events(ast, &predicate)
        .iter()
        .take(count)
        .map(|event| {
            let at = event.get("At").unwrap_or_else(|| panic!("event without At: {event}"));
            let seconds: f64 = at.parse().unwrap_or_else(|_| panic!("At: {at:?} is not seconds: {event}"));
            Duration::from_secs_f64(seconds)
        })
        .collect()
}

/// Bounded absence check: asserts that no more than `expected` events match within `window`.
pub(crate) fn assert_no_more(
    ast: &Asterisk,
    expected: usize,
    window: Duration,
    what: &str,
    predicate: impl Fn(&Message) -> bool,
) {
    let seen = ast.ami().wait_for_count(expected + 1, window, predicate);
    assert_eq!(seen, expected, "{what}: expected exactly {expected}, saw {seen}\n{}", ast.diagnostics());
}

/// Names in outgoing/, sorted.
pub(crate) fn outgoing_names(ast: &Asterisk) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(ast.outgoing_dir())
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// Waits until `outgoing/<name>` is gone.
pub(crate) fn expect_gone(ast: &Asterisk, path: &Path, timeout: Duration) {
    ast.expect_until(&format!("{} to leave outgoing/", path.display()), timeout, || !path.exists());
}

/// Waits for `outgoing_done/<name>` to exist with its `Status:` line, and returns it normalised, without
/// its `DelayedRetry` lines.
///
/// Both spoolers append `DelayedRetry` when an attempt is still running RetryTime after it started
/// (pbx_spool's scan finds its own attempt open and looks again later), so how many a file gets depends
/// on how long its attempts took, which a loaded machine stretches past a RetryTime of a second or two.
/// They are taken out of the text the scenarios compare, and each one must be explained by the spooler's
/// own debug line for this file ("Delaying retry since we're currently running '<file>'"), so a
/// `DelayedRetry` a spooler wrote for any other reason still fails the scenario.
pub(crate) fn expect_archived(ast: &Asterisk, name: &str, timeout: Duration) -> String {
    let path = ast.outgoing_done_dir().join(name);
    ast.expect_until(&format!("{} with a Status line", path.display()), timeout, || {
        fs::read_to_string(&path).is_ok_and(|t| t.contains("Status: ") && t.ends_with('\n'))
    });
    let text = normalise(&fs::read_to_string(&path).expect("archived file"));
    let delayed = text.lines().filter(|line| line.starts_with("DelayedRetry: ")).count();
    let explained = format!("Delaying retry since we're currently running '{}'", inside_outgoing(ast, name));
    let explained = log_count(ast, &[&explained]);
    assert_eq!(
        delayed,
        explained,
        "{name}: {delayed} DelayedRetry line(s) in the archive, {explained} 'Delaying retry' log line(s) for it\n{text}\n{}",
        ast.diagnostics()
    );
    without_delayed_retries(&text)
}

/// `text` (normalised) without its `DelayedRetry` lines and the blank line pbx_spool writes before each.
fn without_delayed_retries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut lines = text.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        if line == "\n" && lines.peek().is_some_and(|next| next.starts_with("DelayedRetry: ")) {
            lines.next();
            continue;
        }
        out.push_str(line);
    }
    out
}

/// Hands over a call file already dated `mtime`: written under spool/, re-dated, then renamed into
/// outgoing/ (rename keeps the mtime), so the spooler never sees it with any other date.
pub(crate) fn drop_dated(ast: &Asterisk, name: &str, contents: &str, mtime: SystemTime) -> PathBuf {
    let tmp = ast.spool_dir().join(format!("dated-{name}"));
    let target = ast.outgoing_dir().join(name);
    fs::write(&tmp, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", tmp.display()));
    set_mtime(&tmp, mtime);
    fs::rename(&tmp, &target).unwrap_or_else(|e| panic!("cannot rename into outgoing/: {e}"));
    target
}

/// Log lines (anywhere so far) containing all of `needles`, counted.
pub(crate) fn log_count(ast: &Asterisk, needles: &[&str]) -> usize {
    ast.log_lines_with(needles).len()
}

/// Waits until the log holds at least `count` lines containing all of `needles`.
pub(crate) fn expect_log_count(ast: &Asterisk, needles: &[&str], count: usize, timeout: Duration) {
    ast.expect_until(&format!("{count} log line(s) with {needles:?}"), timeout, || log_count(ast, needles) >= count);
}

/// Inside-chroot path of `outgoing/<name>`, as both spoolers print it in their log lines.
pub(crate) fn inside_outgoing(ast: &Asterisk, name: &str) -> String {
    ast.inside_path(&ast.outgoing_dir().join(name))
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
            let shown = inside_outgoing(ast, name);
            ast.expect_log(&format!("Invalid file contents in {shown}, deleting"), SOON);
            let why = format!(
                "At least one of app or extension must be specified, along with tech and dest in file {shown}");
            assert_eq!(log_count(ast, &["WARNING[", &why]), 1, "{}", ast.diagnostics());
        }
        let shown = inside_outgoing(ast, "noslash.call");
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
        let shown = inside_outgoing(ast, "fmt.call");
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
