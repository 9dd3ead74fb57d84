//! Security scenarios: what pbx_spool_rs.conf's policy lets through and what it refuses before any
//! channel driver is asked for a channel (first leg, allow/deny rules, applications, dangerous
//! function writes, size limits, file owner), how hostile files in outgoing/ are handled, and that a
//! broken configuration at reload keeps the previous one. Mostly against pbx_spool_rs alone; where
//! pbx_spool's behaviour is the reference (`first_leg = any`, the admin's own dialplan, file names),
//! `both_spoolers!` checks both. The dialplan, setup and checks the security files share are in
//! `harness::fixtures::security`.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::Path;

use harness::events::{assert_never_attempted, expect_finished, placed, spool_event};
use harness::files::{drop_bytes, outgoing_names, shown};
use harness::fixtures::security::{conf, expect_rejected, report_call, setup, with_rtp};
use harness::{both_spoolers, Asterisk, Builder, Message, Spooler, ABSENCE, RUST_SO, SOON};

/// Waits for `outgoing_done/<name>` with its final `Status:` line; returns its text.
pub(crate) fn expect_archived(ast: &Asterisk, name: &str) -> String {
    let path = ast.outgoing_done_dir().join(name);
    ast.expect_until(&format!("{} with a Status line", path.display()), SOON, || {
        fs::read_to_string(&path).is_ok_and(|t| t.contains("Status: ") && t.ends_with('\n'))
    });
    fs::read_to_string(&path).expect("archived file")
}

/// Lets only `call`, `user` and `system` events through to the test's AMI connection. `dialplan`
/// events (VarSet, Newexten) copy channel variables verbatim, and a test that hands the dialplan
/// invalid UTF-8 on purpose must not feed it to the harness's text-only AMI reader.
pub(crate) fn only_text_safe_events(ast: &Asterisk) {
    let reply = ast.ami().action("Events", &[("EventMask", "call,user,system")], SOON);
    assert!(reply.get("Response").is_some_and(|r| r == "Success") || reply.get("Events").is_some(), "{reply}");
}

fn start_rust(configure: impl FnOnce(Builder) -> Builder) -> Asterisk {
    configure(setup(Asterisk::builder(Spooler::Rust))).start()
}

// ----- 1. the default policy ------------------------------------------------------------------------

/// Without pbx_spool_rs.conf, call files whose first leg is a Local channel (with or without options)
/// are placed as before, their Set: lines reaching the dialplan unchanged.
#[test]
fn default_policy_places_local_calls() {
    let ast = start_rust(|b| b);
    let plain = ast.drop_call_file("plain.call", &report_call("Local/s@answer", "plain", ""));
    let opts = ast.drop_call_file("opts.call", &report_call("Local/s@answer/n", "opts", "Set: BAD=x=y\n"));
    let e = ast.expect_event("the plain Local call", SOON, placed("plain"));
    assert_eq!(e.get("Bad"), Some(""), "{e}");
    let e = ast.expect_event("the Local call with /n", SOON, placed("opts"));
    assert_eq!(e.get("Bad"), Some("eD15"), "Set: BAD=x=y reaches the dialplan as 'x=y'\n{e}");
    for (name, path) in [("plain.call", &plain), ("opts.call", &opts)] {
        let done = expect_finished(&ast, name);
        assert_eq!(done.get("Status"), Some("Completed"), "{done}");
        ast.expect_until(&format!("{name} to leave outgoing/"), SOON, || !path.exists());
    }
    // Asterisk's logger writes the file from its own thread: wait for the lines, then count them.
    for line in [
        "Attempting call on Local/s@answer for s@report:1 (Retry 1)",
        "Attempting call on Local/s@answer/n for s@report:1 (Retry 1)",
    ] {
        ast.expect_until(line, SOON, || !ast.log_lines_with(&[line]).is_empty());
        assert_eq!(ast.log_lines_with(&[line]).len(), 1, "{line}");
    }
    assert!(ast.log_lines_with(&["Rejected "]).is_empty(), "{}", ast.diagnostics());
}

// ----- 2. first legs that dial out are refused before any driver -------------------------------------

/// Under the default `first_leg = local`, first legs that dial out of the PBX (trunk, host, group,
/// host:port) are refused with one WARNING naming rule first_leg, archived with `Status: Failed`, and
/// never reach a channel driver: chan_rtp is loaded (it would dial 127.0.0.1:9 and answer at once, see
/// `first_leg_any_restores_pbx_spool`), yet no channel is created and the core is never asked for one.
#[test]
fn outside_first_legs_never_reach_a_driver() {
    let ast = start_rust(with_rtp);
    let cases = [
        ("pjsip.call", "PJSIP/123@trunk"),
        ("sip.call", "SIP/trunk/18005551234"),
        ("dahdi.call", "DAHDI/g1/5551234"),
        ("iax.call", "IAX2/user@host/123"),
        ("rtp.call", "UnicastRTP/127.0.0.1:9"),
    ];
    let mut texts = Vec::new();
    for (name, channel) in cases {
        let text = report_call(channel, name, "Archive: yes\n");
        ast.drop_call_file(name, &text);
        texts.push(text);
    }
    for ((name, channel), text) in cases.iter().zip(&texts) {
        let line = expect_rejected(&ast, name, &format!("(rule first_leg, value '{channel}')"));
        assert!(line.contains("the first leg dials out of this PBX directly"), "{line}");
        let archived = expect_archived(&ast, name);
        // pbx_spool's `Status: Failed`, after the refusal as a comment line (the log's words).
        let reason = line.split("Rejected ").nth(1).expect("the WARNING names the file");
        assert_eq!(archived, format!("{text}# pbx_spool_rs: Rejected {reason}\nStatus: Failed\n"), "{name}");
        assert!(!ast.outgoing_dir().join(name).exists(), "{name} left in outgoing/");
    }
    // Bounded absence window: nothing of it shows up late either.
    let late = ast.ami().wait_for_event(ABSENCE, |e| e.is_event("Newchannel") || e.is_event("SpoolAttempt"));
    assert!(late.is_none(), "a channel or an attempt appeared:\n{}", late.unwrap());
    for (name, _) in cases {
        assert_never_attempted(&ast, name);
    }
    for needle in ["No channel type registered", "chan_rtp.c", "dial.c", "Call failed to go through"] {
        let lines = ast.log_lines_with(&[needle]);
        assert!(lines.is_empty(), "a channel was requested:\n{}", lines.join("\n"));
    }
    let channels = ast.cli("core show channels");
    assert!(channels.contains("0 active channels"), "{channels}");
    // The spool itself keeps working.
    ast.drop_call_file("control.call", &report_call("Local/s@answer", "control", ""));
    ast.expect_event("the control call", SOON, placed("control"));
    ast.assert_alive();
}

both_spoolers! {
    /// `first_leg = any` restores pbx_spool's unchecked behaviour: the same files are attempted by both
    /// spoolers (pbx_spool ignores pbx_spool_rs.conf). PJSIP is not loaded, so that attempt fails in the
    /// core; UnicastRTP reaches chan_rtp, which answers, and the dialplan runs.
    fn first_leg_any_restores_pbx_spool(ast: &Asterisk, spooler: Spooler)
        configure(|b| with_rtp(setup(b)).file("pbx_spool_rs.conf", &conf("first_leg = any\n")))
    {
        let pj = ast.drop_call_file("pjsip.call", &report_call("PJSIP/123@trunk", "pjsip", ""));
        let rtp = ast.drop_call_file("rtp.call", &report_call("UnicastRTP/127.0.0.1:9", "rtp", ""));
        let e = ast.expect_event("the UnicastRTP call to run the dialplan", SOON, placed("rtp"));
        assert!(e.get("Chan").is_some_and(|c| c.starts_with("UnicastRTP/127.0.0.1:9-")), "{e}");
        ast.expect_event("a UnicastRTP channel", SOON, |e| {
            e.is_event("Newchannel") && e.get("Channel").is_some_and(|c| c.starts_with("UnicastRTP/127.0.0.1:9-"))
        });
        ast.expect_log_lines(&["Attempting call on PJSIP/123@trunk for s@report:1 (Retry 1)"], 1);
        ast.expect_log_lines(&["Attempting call on UnicastRTP/127.0.0.1:9 for s@report:1 (Retry 1)"], 1);
        ast.expect_log_lines(&["No channel type registered for 'PJSIP'"], 1);
        ast.expect_log_lines(&["Call completed to UnicastRTP/127.0.0.1:9"], 1);
        for path in [&pj, &rtp] {
            ast.expect_until(&format!("{} to leave outgoing/", path.display()), SOON, || !path.exists());
        }
        if spooler == Spooler::Rust {
            for name in ["pjsip.call", "rtp.call"] {
                ast.expect_event(&format!("SpoolAttempt for {name}"), SOON, spool_event(ast, "SpoolAttempt", name));
            }
            assert_eq!(expect_finished(ast, "pjsip.call").get("Status"), Some("Expired"));
            assert_eq!(expect_finished(ast, "rtp.call").get("Status"), Some("Completed"));
        }
        assert!(ast.log_lines_with(&["Rejected "]).is_empty(), "{}", ast.diagnostics());
    }
}

// ----- 4. first_leg = strict --------------------------------------------------------------------------

/// `first_leg = strict`: Local channels are refused too; a bare endpoint its driver knows (the IAX2 peer
/// `office`) passes the policy and is attempted (the peer never registered, so the attempt fails in the
/// driver); trunks, hosts and a technology that is not loaded stay refused.
#[test]
fn first_leg_strict_allows_only_bare_endpoints() {
    let ast = start_rust(|b| {
        b.file("pbx_spool_rs.conf", &conf("first_leg = strict\n"))
            .module("chan_iax2.so")
            .file("iax.conf", &harness::fixtures::security::iax_conf())
    });
    ast.drop_call_file("local.call", &report_call("Local/s@answer", "local", ""));
    ast.drop_call_file("trunk.call", &report_call("PJSIP/100@trunk", "trunk", ""));
    ast.drop_call_file("hostport.call", &report_call("UnicastRTP/127.0.0.1:9", "hostport", ""));
    ast.drop_call_file("notloaded.call", &report_call("PJSIP/100", "notloaded", ""));
    ast.drop_call_file("bare.call", &report_call("IAX2/office", "bare", ""));

    let line = expect_rejected(&ast, "local.call", "(rule first_leg, value 'Local/s@answer')");
    assert!(line.contains("the first leg is a Local channel; first_leg = strict"), "{line}");
    expect_rejected(&ast, "trunk.call", "(rule first_leg, value 'PJSIP/100@trunk')");
    expect_rejected(&ast, "hostport.call", "(rule first_leg, value 'UnicastRTP/127.0.0.1:9')");

    let line = expect_rejected(&ast, "notloaded.call", "(rule first_leg, value 'PJSIP/100')");
    assert!(line.contains("uses a channel technology that is not loaded"), "{line}");

    let attempt = ast.expect_event("SpoolAttempt for bare.call", SOON, spool_event(&ast, "SpoolAttempt", "bare.call"));
    assert_eq!(attempt.get("Channel"), Some("IAX2/office"), "{attempt}");
    ast.expect_log_lines(&["Attempting call on IAX2/office for s@report:1 (Retry 1)"], 1);
    assert_eq!(expect_finished(&ast, "bare.call").get("Status"), Some("Expired"));
    for name in ["local.call", "trunk.call", "hostport.call", "notloaded.call"] {
        assert_never_attempted(&ast, name);
    }
    assert_eq!(ast.ami().count_events(placed("local")), 0);
}

// ----- 5. allow / deny ---------------------------------------------------------------------------------

/// `deny = Local/*` then `allow = Local/*@campaign`: the last matching rule decides, so campaign calls
/// are placed and other Local calls refused (rule channel_rule). Reversing the two lines at reload
/// reverses the verdict for campaign calls.
#[test]
fn allow_and_deny_rules_last_match_wins() {
    let ast = start_rust(|b| b.file("pbx_spool_rs.conf", &conf("deny = Local/*\nallow = Local/*@campaign\n")));
    ast.drop_call_file("campaign.call", &report_call("Local/s@campaign", "campaign", ""));
    ast.drop_call_file("other.call", &report_call("Local/s@answer", "other", ""));
    ast.expect_event("the campaign call", SOON, placed("campaign"));
    let line = expect_rejected(&ast, "other.call", "(rule channel_rule, value 'Local/s@answer')");
    assert!(line.contains("channel matches 'deny = Local/*'"), "{line}");
    // The refusal names the line that would admit the call.
    assert!(line.contains("(an 'allow = Local/s@answer' line after it admits it)"), "{line}");
    assert_eq!(expect_finished(&ast, "campaign.call").get("Status"), Some("Completed"));
    assert_never_attempted(&ast, "other.call");

    ast.write_etc("pbx_spool_rs.conf", &conf("allow = Local/*@campaign\ndeny = Local/*\n"));
    ast.cli(&format!("module reload {RUST_SO}"));
    ast.expect_until("the reversed rules in `spool show status`", SOON, || {
        ast.cli("spool show status").contains("allow Local/*@campaign, deny Local/*")
    });
    ast.drop_call_file("campaign2.call", &report_call("Local/s@campaign", "campaign2", ""));
    expect_rejected(&ast, "campaign2.call", "(rule channel_rule, value 'Local/s@campaign')");
    assert_never_attempted(&ast, "campaign2.call");
}

// ----- 6. applications ---------------------------------------------------------------------------------

/// `Application: System` and `TrySystem` (any case) are refused by default: the command never runs.
#[test]
fn system_application_is_refused_by_default() {
    let ast = start_rust(|b| b);
    let marker1 = ast.path("marker-system");
    let marker2 = ast.path("marker-trysystem");
    let call = |app: &str, marker: &Path| {
        format!("Channel: Local/s@answer\nApplication: {app}\nData: touch {}\n", ast.inside_path(marker))
    };
    ast.drop_call_file("system.call", &call("System", &marker1));
    ast.drop_call_file("trysystem.call", &call("trysystem", &marker2));
    expect_rejected(&ast, "system.call", "(rule application, value 'System')");
    expect_rejected(&ast, "trysystem.call", "(rule application, value 'trysystem')");
    // Bounded absence window: the command would have run within it.
    let ran = harness::wait_until(ABSENCE, || marker1.exists() || marker2.exists());
    assert!(!ran, "a refused System command ran\n{}", ast.diagnostics());
    assert_never_attempted(&ast, "system.call");
    assert_never_attempted(&ast, "trysystem.call");
}

/// `allow_application = System` with `deny_application = none` lifts the default: the same System call
/// file runs its command. (Either line alone is not enough; see the unit tests.)
#[test]
fn deny_application_none_lets_system_run() {
    let ast =
        start_rust(|b| b.file("pbx_spool_rs.conf", &conf("allow_application = System\ndeny_application = none\n")));
    let marker = ast.path("marker-allowed");
    ast.drop_call_file(
        "system.call",
        &format!("Channel: Local/s@answer\nApplication: System\nData: touch {}\n", ast.inside_path(&marker)),
    );
    ast.expect_until("the System command to create its marker", SOON, || marker.exists());
    assert_eq!(expect_finished(&ast, "system.call").get("Status"), Some("Completed"));
    assert!(ast.log_lines_with(&["Rejected "]).is_empty(), "{}", ast.diagnostics());
}

// ----- 7. dangerous function writes ------------------------------------------------------------------------

/// `Set: FILE(...)=...` and `Set: DB(...)=...` write functions Asterisk marks as dangerous: refused
/// (rule dangerous_function) while asterisk.conf has no `live_dangerously = yes`; the file is never
/// written. A harmless function write in the same position is not affected.
#[test]
fn dangerous_function_writes_in_set_lines_are_refused() {
    let ast = start_rust(|b| b.module("func_env.so").module("func_db.so"));
    let target = ast.path("evil-file");
    let file_write = format!("FILE({})", ast.inside_path(&target));
    ast.drop_call_file("file.call", &report_call("Local/s@answer", "file", &format!("Set: {file_write}=evil\n")));
    ast.drop_call_file("db.call", &report_call("Local/s@answer", "db", "Set: DB(prs/evil)=1\n"));
    ast.drop_call_file(
        "inherit.call",
        &report_call("Local/s@answer", "inherit", &format!("Set: _{file_write}=evil\n")),
    );
    ast.drop_call_file("harmless.call", &report_call("Local/s@answer", "harmless", "Set: CDR(userfield)=ok\n"));

    let line = expect_rejected(&ast, "file.call", &format!("(rule dangerous_function, value '{file_write}')"));
    assert!(line.contains("writes the dialplan function FILE"), "{line}");
    expect_rejected(&ast, "db.call", "(rule dangerous_function, value 'DB(prs/evil)')");
    expect_rejected(&ast, "inherit.call", &format!("(rule dangerous_function, value '_{file_write}')"));
    ast.expect_event("the harmless call", SOON, placed("harmless"));
    for name in ["file.call", "db.call", "inherit.call"] {
        assert_never_attempted(&ast, name);
    }
    assert!(!target.exists(), "FILE() was written");
    let db = ast.cli("database get prs evil");
    assert!(!db.contains("Value: 1"), "DB() was written: {db}");
}

/// With `live_dangerously = yes` in asterisk.conf the same `Set: FILE(...)=...` is accepted, as
/// pbx_spool accepts it, and the write happens.
#[test]
fn live_dangerously_accepts_dangerous_writes() {
    let ast = start_rust(|b| b.module("func_env.so").option("live_dangerously", "yes"));
    let status = ast.cli("spool show status");
    let row = status.lines().find(|l| l.trim_start().starts_with("live_dangerously")).unwrap_or_default();
    assert!(row.trim_end().ends_with("yes"), "spool show status shows live_dangerously in force:\n{status}");
    let target = ast.path("written-file");
    let extra = format!("Set: FILE({})=allowed\n", ast.inside_path(&target));
    ast.drop_call_file("file.call", &report_call("Local/s@answer", "file", &extra));
    ast.expect_event("the call writing FILE()", SOON, placed("file"));
    ast.expect_until("FILE() to be written", SOON, || fs::read_to_string(&target).is_ok_and(|t| t == "allowed"));
    assert!(ast.log_lines_with(&["Rejected "]).is_empty(), "{}", ast.diagnostics());
}

/// The dangerous-write protection covers the call file, whichever line carries the write:
/// `Application: Set` with `Data: FILE(...)=...` writes the same function as `Set: FILE(...)=...`
/// (the Set application parses its argument and calls the function's write), so it must be refused
/// alike while `live_dangerously` is off.
#[test]
fn application_set_cannot_write_dangerous_functions() {
    let ast = start_rust(|b| b.module("func_env.so"));
    let target = ast.path("via-application");
    ast.drop_call_file(
        "appset.call",
        &format!("Channel: Local/s@answer\nApplication: Set\nData: FILE({})=evil\n", ast.inside_path(&target)),
    );
    let done = expect_finished(&ast, "appset.call");
    let wrote = target.exists();
    assert!(
        !wrote && done.get("Status") == Some("Rejected"),
        "Application: Set wrote FILE() although `Set: FILE(...)=` is refused (status {:?}, file written: {wrote})\n{}",
        done.get("Status"),
        ast.diagnostics()
    );
}

both_spoolers! {
    /// The admin's own dialplan keeps every power it had: a call file entering a context that writes
    /// and reads FILE(), DB() and SHELL() works exactly as under pbx_spool. Only what the call file
    /// itself asks for is checked.
    fn dialplan_keeps_dangerous_functions(ast: &Asterisk, spooler: Spooler)
        configure(|b| setup(b).module("func_env.so").module("func_db.so").module("func_shell.so"))
    {
        let out = ast.path("dialplan-file");
        ast.drop_call_file("dp.call", &format!(
            "Channel: Local/s@answer\nContext: dangerous\nExtension: s\nSet: TAG=dp\nSet: OUT={}\n",
            ast.inside_path(&out)));
        let e = ast.expect_event("the dialplan's report", SOON, |e| e.is_user_event("Dangerous") && e.has("Tag", "dp"));
        assert_eq!(e.get("FileRead"), Some("written-by-dialplan"), "{e}");
        assert_eq!(e.get("Db"), Some("db-value"), "{e}");
        assert_eq!(e.get("Shell"), Some("shell-ok"), "{e}");
        assert_eq!(fs::read_to_string(&out).ok().as_deref(), Some("written-by-dialplan"));
        ast.expect_log_lines(&["Call completed to Local/s@answer"], 1);
        assert!(ast.log_lines_with(&["Rejected "]).is_empty(), "{}", ast.diagnostics());
    }
}

// ----- 8. hostile inputs ----------------------------------------------------------------------------------

/// A deterministic stream of bytes that look random (xorshift64*).
fn garbage(len: usize, mut state: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// Hostile things in outgoing/ at once, each answered with a logged verdict while Asterisk stays up
/// and a normal call file dropped among them is placed: a FIFO (never opened, so nothing hangs), a
/// symlink to /etc/passwd (not followed, the target untouched), a 10 MB file (max_file_size), a file
/// owned by another user (owner), random bytes, NUL bytes (contents), a UTF-8 BOM (pbx_spool's
/// verdict: an unknown keyword, then an invalid file), 5000 Set: lines besides the tag (set_lines), a value over
/// max_value_len (value_length), a 60 kB line (skipped as pbx_spool does, the call still placed), and
/// invalid UTF-8 in a Set: value (passed to the dialplan byte for byte).
#[test]
fn hostile_files_get_a_verdict_and_do_not_disturb_the_spool() {
    let ast = start_rust(|b| b.file("pbx_spool_rs.conf", &conf("max_value_len = 512\n")));
    only_text_safe_events(&ast);
    let out = ast.outgoing_dir();
    let passwd = harness::env::host_path("/etc/passwd");
    let passwd_before = (fs::read(&passwd).expect("chroot /etc/passwd"), fs::metadata(&passwd).unwrap().mtime());

    // FIFO, created in place (as mkfifo does).
    let fifo = out.join("fifo.call");
    let c_fifo = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
    assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o666) }, 0, "mkfifo: {}", std::io::Error::last_os_error());
    // Symlink to /etc/passwd (absolute: resolved inside Asterisk's chroot).
    let link = out.join("passwd.call");
    symlink("/etc/passwd", &link).expect("symlink");
    // 10 MB of otherwise valid call file.
    let mut big = report_call("Local/s@answer", "big", "").into_bytes();
    big.resize(10 * 1024 * 1024, b'#');
    drop_bytes(&ast, "big.call", &big);
    // Owned by nobody (65534).
    let tmp = ast.spool_dir().join("owned-tmp");
    fs::write(&tmp, report_call("Local/s@answer", "owned", "")).unwrap();
    std::os::unix::fs::chown(&tmp, Some(65534), Some(65534)).expect("chown");
    fs::rename(&tmp, out.join("owned.call")).unwrap();
    // Random bytes, NUL bytes, BOM.
    drop_bytes(&ast, "garbage.call", &garbage(4096, 0x5eed_1234_abcd_ef01));
    drop_bytes(&ast, "nul.call", b"Channel: Local/s@answer\nContext: report\nExtension: s\nSet: TAG=n\0ul\n");
    drop_bytes(&ast, "bom.call", format!("\u{feff}{}", report_call("Local/s@answer", "bom", "")).as_bytes());
    // 5000 Set: lines, one 900-byte value, one 60 kB line.
    ast.drop_call_file("setlines.call", &report_call("Local/s@answer", "setlines", &"Set: V=1\n".repeat(5000)));
    let long_value = "v".repeat(900);
    ast.drop_call_file(
        "bigvalue.call",
        &report_call("Local/s@answer", "bigvalue", &format!("Set: BIG={long_value}\n")),
    );
    let huge_line = format!("Set: HUGE={}\n", "h".repeat(60_000));
    ast.drop_call_file("longline.call", &report_call("Local/s@answer", "longline", &huge_line));
    // Invalid UTF-8 in a value.
    let mut bad = report_call("Local/s@answer", "badutf8", "").into_bytes();
    bad.extend_from_slice(b"Set: BAD=\xff\xfe\xc3(\n");
    drop_bytes(&ast, "badutf8.call", &bad);
    // And a normal call among them.
    ast.drop_call_file("normal.call", &report_call("Local/s@answer", "normal", ""));

    ast.expect_event("the normal call among the hostile files", SOON, placed("normal"));
    let e = ast.expect_event("the call with invalid UTF-8 in a value", SOON, placed("badutf8"));
    assert_eq!(e.get("Bad"), Some("//7DKA=="), "the dialplan sees the bytes ff fe c3 28\n{e}");
    ast.expect_event("the call with a skipped 60 kB line", SOON, placed("longline"));
    ast.expect_log_lines(&["Skipping extremely long line at line 5 of", &shown(&ast, "longline.call")], 1);

    let fifo_shown = shown(&ast, "fifo.call");
    ast.expect_log_lines(&["WARNING[", &format!("Ignoring {fifo_shown}: not a regular file")], 1);
    let link_shown = shown(&ast, "passwd.call");
    ast.expect_log_lines(&["WARNING[", &format!("Ignoring {link_shown}: not a regular file")], 1);
    expect_rejected(&ast, "big.call", "over the 65536-byte limit (rule max_file_size)");
    let owned = expect_rejected(&ast, "owned.call", "(rule owner, value 'uid 65534')");
    // The owner by name, and the line that would allow that owner.
    assert!(owned.contains("owned by nobody (uid 65534)"), "{owned}");
    assert!(owned.contains("('allowed_owner = nobody' admits it)"), "{owned}");
    expect_rejected(&ast, "nul.call", "(rule contents)");
    expect_rejected(
        &ast,
        "setlines.call",
        "5001 Set/SetVar lines, more than max_set_lines (1000) (rule set_lines, value '5001')",
    );
    let line = expect_rejected(&ast, "bigvalue.call", &format!("(rule value_length, value '{}", &long_value[..100]));
    assert!(line.contains("Set value is 900 bytes long, more than max_value_len (512)"), "{line}");
    assert!(line.len() < 600, "the logged value is shortened: {} bytes", line.len());
    let g = expect_finished(&ast, "garbage.call");
    assert!(matches!(g.get("Status"), Some("Rejected" | "Failed")), "{g}");
    ast.expect_log_lines(&["WARNING[", &shown(&ast, "garbage.call")], 1);
    let b = expect_finished(&ast, "bom.call");
    assert_eq!(b.get("Status"), Some("Failed"), "{b}");
    ast.expect_log_lines(&["Unknown keyword '\u{feff}Channel' at line 1 of", &shown(&ast, "bom.call")], 1);
    ast.expect_log_lines(&[&format!("Invalid file contents in {}, deleting", shown(&ast, "bom.call"))], 1);

    for name in ["big.call", "owned.call", "garbage.call", "nul.call", "bom.call", "setlines.call", "bigvalue.call"] {
        assert_never_attempted(&ast, name);
    }
    ast.assert_alive();
    // Only the FIFO and the symlink are left, untouched; /etc/passwd was not followed.
    ast.expect_until("outgoing/ to hold only the FIFO and the symlink", SOON, || {
        outgoing_names(&ast) == ["fifo.call", "passwd.call"]
    });
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(fs::read_link(&link).unwrap(), Path::new("/etc/passwd"));
    let passwd_after = (fs::read(&passwd).unwrap(), fs::metadata(&passwd).unwrap().mtime());
    assert!(passwd_after == passwd_before, "/etc/passwd (in the chroot) was modified");
    assert!(!ast.outgoing_done_dir().join("passwd.call").exists());
    // The scheduler still answers, and knows both as left for the admin.
    let status = ast.cli("spool show status");
    let parked = status.lines().find(|l| l.contains("Left for the admin")).unwrap_or_default().to_owned();
    assert!(parked.trim_end().ends_with(" 2"), "{status}");
    // And a later call is still placed.
    ast.drop_call_file("after.call", &report_call("Local/s@answer", "after", ""));
    ast.expect_event("a call dropped after the hostile files", SOON, placed("after"));
}

both_spoolers! {
    /// A call file whose name is not UTF-8 (e.g. written by a Latin-1 tool) is a call file like any
    /// other for pbx_spool: it is placed.
    fn non_utf8_file_names_are_placed(ast: &Asterisk, spooler: Spooler) configure(setup) {
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9.call");
        let tmp = ast.spool_dir().join("latin1-tmp");
        fs::write(&tmp, report_call("Local/s@answer", "latin1", "")).unwrap();
        let target = ast.outgoing_dir().join(name);
        fs::rename(&tmp, &target).unwrap();
        ast.expect_event("the call file with a Latin-1 name", SOON, placed("latin1"));
        ast.expect_until("it to leave outgoing/", SOON, || !target.exists());
    }
}

/// A file name is data from whoever writes into the spool: it must not forge log lines or manager
/// event headers. A name with a newline, refused by the policy (first leg), by the owner check and
/// by the NUL check, yields log lines that each start with a timestamp, and one SpoolFinished event
/// with one `Status: Rejected`.
#[test]
fn file_names_cannot_forge_log_lines_or_manager_events() {
    let ast = start_rust(|b| b);
    let forged = "\nStatus: Completed\n[2000-01-01 00:00:00.000] NOTICE[1] pbx_spool.c: Call completed to FORGED";
    let names = [format!("leg{forged}.call"), format!("owner{forged}.call"), format!("nul{forged}.call")];
    ast.drop_call_file(&names[0], &report_call("PJSIP/1@trunk", "leg", ""));
    let tmp = ast.spool_dir().join("forge-tmp");
    fs::write(&tmp, report_call("Local/s@answer", "owner", "")).unwrap();
    std::os::unix::fs::chown(&tmp, Some(65534), Some(65534)).expect("chown");
    fs::rename(&tmp, ast.outgoing_dir().join(&names[1])).unwrap();
    drop_bytes(&ast, &names[2], b"Channel: Local/s@answer\nContext: report\nExtension: s\nSet: TAG=n\0ul\n");

    ast.expect_until("the three files to be finished", SOON, || outgoing_names(&ast).is_empty());
    let finished_count = ast.ami().wait_for_count(3, SOON, |e| e.is_event("SpoolFinished"));
    assert_eq!(finished_count, 3, "{}", ast.diagnostics());
    // Wait on the whole text: a forged name would split the line.
    for rule in ["(rule first_leg", "(rule owner", "(rule contents"] {
        ast.expect_until(&format!("the log to mention {rule}"), SOON, || ast.log_text().contains(rule));
    }
    let log = ast.log_text();
    let unstamped: Vec<&str> = log.lines().skip(1).filter(|l| !l.starts_with('[') && !l.is_empty()).collect();
    let forged_lines: Vec<&str> = log.lines().filter(|l| l.starts_with("[2000-01-01")).collect();
    let finished: Vec<Message> = ast.ami().events().into_iter().filter(|e| e.is_event("SpoolFinished")).collect();
    let forged_events: Vec<&Message> = finished.iter().filter(|e| e.get_all("Status") != ["Rejected"]).collect();
    assert!(
        unstamped.is_empty() && forged_lines.is_empty() && forged_events.is_empty(),
        "a file name broke or forged log lines:\n{}\n{}\nor SpoolFinished headers:\n{}",
        unstamped.join("\n"),
        forged_lines.join("\n"),
        forged_events.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")
    );
}

// ----- 9. a broken configuration at reload -------------------------------------------------------------------

/// A pbx_spool_rs.conf with an invalid value, or one Asterisk cannot parse, is refused at reload with
/// ERRORs, and the settings in force before (here `first_leg = strict`) stay in force.
#[test]
fn malformed_config_at_reload_keeps_the_previous_settings() {
    let ast = start_rust(|b| b.file("pbx_spool_rs.conf", &conf("first_leg = strict\n")));
    let first_leg = |ast: &Asterisk| {
        ast.cli("spool show status").lines().find(|l| l.trim_start().starts_with("first_leg")).unwrap_or("").to_owned()
    };
    assert!(first_leg(&ast).trim_end().ends_with("strict"), "{}", first_leg(&ast));

    for (what, text, needle) in [
        ("an invalid value", conf("first_leg = bogus\n"), "pbx_spool_rs.conf line 2: "),
        ("unparseable text", "[general\nfirst_leg = any\n".to_owned(), "pbx_spool_rs.conf could not be parsed"),
    ] {
        let mark = ast.log_mark();
        ast.write_etc("pbx_spool_rs.conf", &text);
        ast.cli(&format!("module reload {RUST_SO}"));
        ast.expect_until(&format!("an ERROR about {what}"), SOON, || {
            let since = ast.log_since(mark);
            since.lines().any(|l| l.contains("ERROR[") && l.contains(needle))
                && since.contains("the previous settings stay in force")
        });
        assert!(first_leg(&ast).trim_end().ends_with("strict"), "after {what}: {}", first_leg(&ast));
        assert!(ast.module_running(RUST_SO));
    }
    ast.drop_call_file("local.call", &report_call("Local/s@answer", "local", ""));
    let line = expect_rejected(&ast, "local.call", "(rule first_leg, value 'Local/s@answer')");
    assert!(line.contains("first_leg = strict"), "{line}");
}

/// An `allowed_owner` that names no user is one ERROR naming the setting and the value, at load and
/// again at each reload (it was a WARNING that did not say what follows); with no usable owner left,
/// owner_check rejects call files, as the ERROR says.
#[test]
fn unknown_allowed_owner_is_one_clear_error_at_load_and_reload() {
    const NEEDLE: &str =
        "pbx_spool_rs.conf: allowed_owner = prs-no-such-user: no such user; no allowed_owner is usable";
    let errors = |text: &str| text.lines().filter(|l| l.contains("ERROR[") && l.contains(NEEDLE)).count();
    let ast = start_rust(|b| b.file("pbx_spool_rs.conf", &conf("allowed_owner = prs-no-such-user\n")));
    assert!(ast.module_running(RUST_SO), "{}", ast.diagnostics());
    ast.expect_until("the ERROR at load", SOON, || errors(&ast.log_text()) >= 1);
    assert_eq!(errors(&ast.log_text()), 1, "one ERROR at load:\n{}", ast.diagnostics());
    let mark = ast.log_mark();
    ast.cli(&format!("module reload {RUST_SO}"));
    ast.expect_until("the ERROR again at reload", SOON, || errors(&ast.log_since(mark)) == 1);
    ast.drop_call_file("owned.call", &report_call("Local/s@answer", "owned", ""));
    expect_rejected(&ast, "owned.call", "(rule owner");
    assert_eq!(errors(&ast.log_since(mark)), 1, "one ERROR per reload:\n{}", ast.log_since(mark));
}

/// The archived copy of a refused file tells its story on its own: the refusal as a comment line (which
/// pbx_spool's parser and ours skip) before pbx_spool's `Status: Failed`, with the rule and the line that
/// would admit the call, the same words as the log's WARNING.
#[test]
fn an_archived_refusal_carries_its_reason_and_fix() {
    let ast = start_rust(|b| b.file("pbx_spool_rs.conf", &conf("deny = Local/*@answer\n")));
    ast.drop_call_file("refused.call", &report_call("Local/s@answer", "refused", "Archive: yes\n"));
    let line = expect_rejected(&ast, "refused.call", "(rule channel_rule, value 'Local/s@answer')");
    let archived = expect_archived(&ast, "refused.call");
    let reason = line.split("Rejected ").nth(1).expect("the WARNING names the file");
    let comment = format!("# pbx_spool_rs: Rejected {reason}\nStatus: Failed\n");
    assert!(archived.ends_with(&comment), "archived:\n{archived}\nexpected it to end with:\n{comment}");
    assert!(archived.contains("(an 'allow = Local/s@answer' line after it admits it)"), "{archived}");
    ast.drop_call_file("fine.call", &report_call("Local/s@campaign", "fine", ""));
    ast.expect_event("a call the rule does not refuse", SOON, placed("fine"));
}
