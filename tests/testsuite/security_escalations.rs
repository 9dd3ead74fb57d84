//! Security against escalations, with the real Asterisk and the modules that provide each vector
//! loaded: whatever application or function a call file names, it gets no shell, no trunk, no
//! PBX-wide change and no crash under the default policy, and the legitimate uses keep working. Every
//! refused vector would leave a marker (a file a shell creates, a global, a channel to a "trunk") and
//! each test proves it did not, that Asterisk is alive and that the next good file is still placed.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use harness::events::{assert_never_attempted, expect_finished, placed};
use harness::fixtures::security::{conf, expect_rejected, iax_conf, report_call, setup, with_rtp};
use harness::{wait_until, Asterisk, Builder, Message, Spooler, ABSENCE, RUST_SO, SOON};

/// The contexts these tests need besides the shared `answer`/`report`: a dialplan that itself uses
/// System and SHELL (the admin's, reached through Context/Extension), one a second leg reaches, and
/// ones that report what the PBX-wide state looks like.
const MORE_DIALPLAN: &str = r#"
[shellplan]
exten => s,1,System(touch ${M1})
 same => n,Set(X=${SHELL(touch ${M2})})
 same => n,UserEvent(ShellPlan,Tag: ${TAG})
 same => n,Hangup()

[dialed]
exten => s,1,Answer()
 same => n,UserEvent(Placed,Tag: dialed)
 same => n,Hangup()

[other]
exten => s,1,Answer()
 same => n,UserEvent(Placed,Tag: other-context)
 same => n,Hangup()

[state]
exten => s,1,UserEvent(State,Tag: ${TAG},Global: ${GLOBAL(PRS_TRUNK)},Env: ${ENV(PRS_EVIL)})
 same => n,Hangup()
"#;

/// Every module that provides one of the vectors, plus what the tests' dialplans use.
fn vectors(builder: Builder) -> Builder {
    let builder = setup(builder).extensions(&format!("{}{MORE_DIALPLAN}", harness::fixtures::security::DIALPLAN));
    [
        "res_speech.so",
        "res_agi.so",
        "func_shell.so",
        "app_exec.so",
        "app_originate.so",
        "app_externalivr.so",
        "app_mixmonitor.so",
        "app_queue.so",
        "func_global.so",
        "func_env.so",
        "app_dial.so",
        "bridge_simple.so",
    ]
    .into_iter()
    .fold(builder, |builder, module| builder.module(module))
    .file("queues.conf", "[general]\npersistentmembers = no\n\n[support]\nstrategy = ringall\n")
}

fn start(configure: impl FnOnce(Builder) -> Builder) -> Asterisk {
    configure(vectors(Asterisk::builder(Spooler::Rust))).start()
}

/// A marker path (host side) and how Asterisk, inside its chroot, names it.
fn marker(ast: &Asterisk, name: &str) -> (PathBuf, String) {
    let path = ast.path(name);
    let inside = ast.inside_path(&path);
    (path, inside)
}

/// After a bounded window in which the refused commands would have run: none of `markers` exists.
fn assert_no_markers(ast: &Asterisk, markers: &[&Path]) {
    let appeared = wait_until(ABSENCE, || markers.iter().any(|path| path.exists()));
    let present: Vec<String> = markers.iter().filter(|p| p.exists()).map(|p| p.display().to_string()).collect();
    assert!(!appeared && present.is_empty(), "a refused call file left markers {present:?}\n{}", ast.diagnostics());
}

/// Asterisk is alive and a good call file dropped now is still placed.
fn assert_spool_still_works(ast: &Asterisk, tag: &str) {
    ast.assert_alive();
    ast.drop_call_file(&format!("{tag}.call"), &report_call("Local/s@answer", tag, ""));
    ast.expect_event(&format!("the good call {tag} after the refused ones"), SOON, placed(tag));
}

// ----- 1. no shell, whatever application names it ------------------------------------------------------

/// Under the default policy every way to a shell besides the System application itself (`security.rs`)
/// is refused before a call is placed: ExecIf/ExecIfTime wrapping System, AGI with an absolute program
/// or an agi:// server, Exec expanding SHELL, ExternalIVR, MixMonitor's post-recording command,
/// Originate running System, and the self-expanding Exec that would overflow Asterisk's stack. No marker appears, Asterisk stays
/// up, and the next good file is placed.
#[test]
fn shell_vectors_are_refused_by_default() {
    let ast = start(|b| b);
    let names =
        ["execif", "execiftime", "agipath", "agiurl", "execshell", "eivr", "mixmonitor", "originate", "selfexec"];
    let markers: Vec<(PathBuf, String)> = names.iter().map(|name| marker(&ast, &format!("m-{name}"))).collect();
    let m = |i: usize| markers[i].1.clone();
    let files: Vec<(&str, String, &str)> = vec![
        ("execif.call", format!("Application: ExecIf\nData: 1?System(touch {})\n", m(0)), "value 'ExecIf'"),
        (
            "execiftime.call",
            format!("Application: ExecIfTime\nData: *,*,*,*?System(touch {})\n", m(1)),
            "value 'ExecIfTime'",
        ),
        (
            "agipath.call",
            format!("Application: AGI\nData: /bin/sh,-c,touch {}\n", m(2)),
            "(rule agi_script, value '/bin/sh')",
        ),
        (
            "agiurl.call",
            "Application: AGI\nData: agi://127.0.0.1:4573/evil\n".to_string(),
            "(rule agi_script, value 'agi://127.0.0.1:4573/evil')",
        ),
        ("execshell.call", format!("Application: Exec\nData: Verbose(${{SHELL(touch {})}})\n", m(4)), "value 'Exec'"),
        ("eivr.call", format!("Application: ExternalIVR\nData: /usr/bin/touch {}\n", m(5)), "value 'ExternalIVR'"),
        ("mixmonitor.call", format!("Application: MixMonitor\nData: x.wav,,touch {}\n", m(6)), "value 'MixMonitor'"),
        (
            "originate.call",
            format!("Application: Originate\nData: Local/s@answer,app,System,touch {}\n", m(7)),
            "application 'System' (run through Originate) is denied by deny_application",
        ),
        ("selfexec.call", "Application: Exec\nData: Exec(${X})\nSet: X=Exec(${X})\n".to_string(), "value 'Exec'"),
    ];
    for (name, body, _) in &files {
        ast.drop_call_file(name, &format!("Channel: Local/s@answer\n{body}"));
    }
    for (name, _, needle) in &files {
        let line = expect_rejected(&ast, name, needle);
        assert!(line.contains("(rule application") || line.contains("(rule agi_script"), "{line}");
        assert_never_attempted(&ast, name);
    }
    let paths: Vec<&Path> = markers.iter().map(|(path, _)| path.as_path()).collect();
    assert_no_markers(&ast, &paths);
    assert_spool_still_works(&ast, "after-shell");
}

/// Asterisk refuses dangerous functions itself while a call file's application runs: with Exec
/// admitted by `allow_application`, `Exec(NoOp(${SHELL(...)}))` is placed and runs, but Asterisk
/// blocks the SHELL read (the spooler's thread inhibits escalations around the application), so no
/// marker appears. The inhibition is restored afterwards and never reaches the dialplan: a call file
/// into a context that uses System and SHELL itself, placed next, creates both of its markers.
#[test]
fn escalations_are_inhibited_while_a_call_file_application_runs() {
    let ast = start(|b| b.file("pbx_spool_rs.conf", &conf("allow_application = Exec\nmaxcalls = 1\n")));
    let (shell_marker, shell_inside) = marker(&ast, "m-inhibited");
    ast.drop_call_file(
        "exec.call",
        &format!("Channel: Local/s@answer\nApplication: Exec\nData: NoOp(${{SHELL(touch {shell_inside})}})\n"),
    );
    let done = expect_finished(&ast, "exec.call");
    assert_eq!(done.get("Status"), Some("Completed"), "the Exec call was placed and ran\n{done}");
    ast.expect_log_lines(&["ERROR[", "Dangerous function SHELL read blocked"], 1);
    assert_no_markers(&ast, &[&shell_marker]);

    let (m1, m1_inside) = marker(&ast, "m-dialplan-system");
    let (m2, m2_inside) = marker(&ast, "m-dialplan-shell");
    ast.drop_call_file(
        "dialplan.call",
        &format!(
            "Channel: Local/s@answer\nContext: shellplan\nExtension: s\nSet: TAG=dp\nSet: M1={m1_inside}\nSet: M2={m2_inside}\n"
        ),
    );
    ast.expect_event("the admin's dialplan to run", SOON, |e: &Message| {
        e.is_user_event("ShellPlan") && e.has("Tag", "dp")
    });
    ast.expect_until("System() and SHELL() in the dialplan to create their markers", SOON, || {
        m1.exists() && m2.exists()
    });
    let blocked = ast.expect_log_lines(&["Dangerous function SHELL read blocked"], 1);
    assert_eq!(blocked.len(), 1, "{}", ast.diagnostics());
    ast.assert_alive();
}

// ----- 2. no trunk from the second leg ------------------------------------------------------------------

/// The channels an application dials pass the same rules as Channel:. With chan_rtp loaded (a
/// "trunk" that dials any host:port and answers at once), Dial, Originate and Page to it are refused
/// under rule second_leg, also when hidden behind `&`; AddQueueMember (admitted here) cannot put it
/// into a queue. No UnicastRTP channel is ever created, the queue stays empty, and a Dial to a Local
/// channel into the dialplan is placed and reaches its context.
#[test]
fn second_legs_to_a_trunk_are_refused() {
    let ast = start(|b| with_rtp(b).file("pbx_spool_rs.conf", &conf("allow_application = AddQueueMember\n")));
    let trunk = "UnicastRTP/127.0.0.1:9";
    let files = [
        ("dial.call", "Dial".to_string(), trunk.to_string()),
        ("dialamp.call", "Dial".to_string(), format!("Local/s@dialed&{trunk},20")),
        ("originate.call", "Originate".to_string(), format!("{trunk},exten,answer,s,1")),
        ("page.call", "Page".to_string(), format!("Local/s@dialed&{trunk}")),
        ("queue.call", "AddQueueMember".to_string(), format!("support,{trunk}")),
    ];
    for (name, application, data) in &files {
        ast.drop_call_file(name, &format!("Channel: Local/s@answer\nApplication: {application}\nData: {data}\n"));
    }
    for (name, application, _) in &files {
        let line = expect_rejected(&ast, name, &format!("(rule second_leg, value '{trunk}')"));
        assert!(line.contains(&format!("{application}'s destination dials out of this PBX directly")), "{line}");
        assert_never_attempted(&ast, name);
    }
    let created = ast.ami().wait_for_event(ABSENCE, |e| {
        e.is_event("Newchannel") && e.get("Channel").is_some_and(|c| c.starts_with("UnicastRTP/"))
    });
    assert!(created.is_none(), "a channel to the trunk was created:\n{}", created.unwrap());
    let queue = ast.cli("queue show support");
    assert!(queue.contains("No Members") && !queue.contains("UnicastRTP"), "{queue}");

    // The legitimate second legs: a Local channel into the dialplan, and a queue member that is one.
    ast.drop_call_file("good-dial.call", "Channel: Local/s@answer\nApplication: Dial\nData: Local/s@dialed,20\n");
    ast.expect_event("Dial to a Local channel to reach its context", SOON, placed("dialed"));
    ast.drop_call_file(
        "good-queue.call",
        "Channel: Local/s@answer\nApplication: AddQueueMember\nData: support,Local/100@answer\n",
    );
    ast.expect_until("the Local member in the queue", SOON, || {
        ast.cli("queue show support").contains("Local/100@answer")
    });
    assert_spool_still_works(&ast, "after-second-leg");
}

// ----- 3. "Local" means local ---------------------------------------------------------------------------

/// Under `first_leg = local` a bare name must be an endpoint its driver knows, asked of the driver:
/// `IAX2/office` (a configured peer) is attempted, while a host name and an IP address that no peer
/// has (chan_iax2 would resolve them and call that host), a DAHDI group and a technology that is not
/// loaded are refused before any driver is asked for a channel.
#[test]
fn bare_names_must_be_endpoints_this_pbx_knows() {
    let ast = start(|b| b.module("chan_iax2.so").file("iax.conf", &iax_conf()));
    assert!(ast.module_running("chan_iax2.so"), "chan_iax2 must be loaded for this test\n{}", ast.diagnostics());
    let refused = [
        ("host.call", "IAX2/pbx.example.invalid", "the first leg is not an endpoint this PBX knows"),
        ("ip.call", "IAX2/192.0.2.1", "the first leg is not an endpoint this PBX knows"),
        ("group.call", "DAHDI/g1", "the first leg is a trunk or channel group"),
        ("notech.call", "PJSIP/100", "the first leg uses a channel technology that is not loaded"),
    ];
    for (name, channel, _) in refused {
        ast.drop_call_file(name, &report_call(channel, name, ""));
    }
    ast.drop_call_file("peer.call", &report_call("IAX2/office", "peer", ""));
    for (name, channel, why) in refused {
        let line = expect_rejected(&ast, name, &format!("(rule first_leg, value '{channel}')"));
        assert!(line.contains(why), "{line}");
        assert_never_attempted(&ast, name);
    }
    let attempt = ast.expect_event(
        "the known peer to be attempted",
        SOON,
        harness::events::spool_event(&ast, "SpoolAttempt", "peer.call"),
    );
    assert_eq!(attempt.get("Channel"), Some("IAX2/office"), "{attempt}");
    expect_finished(&ast, "peer.call");
    for host in ["pbx.example.invalid", "192.0.2.1"] {
        let lines = ast.log_lines_with(&["Attempting call on", host]);
        assert!(lines.is_empty(), "{}", lines.join("\n"));
    }
    assert_spool_still_works(&ast, "after-endpoints");
}

// ----- 4. no PBX-wide change -----------------------------------------------------------------------------

/// `Set: GLOBAL(...)` and `Set: ENV(...)` (and the same hidden in ARRAY) are refused under rule
/// persistent_function; the `state` context then reports both still empty. `allow_function = GLOBAL`
/// (reloaded) admits exactly GLOBAL: the same file then sets the global, while ENV stays refused.
#[test]
fn writes_that_outlive_the_call_are_refused() {
    let ast = start(|b| b);
    let files = [
        ("global.call", "Set: GLOBAL(PRS_TRUNK)=PJSIP/evil@trunk\n", "GLOBAL(PRS_TRUNK)"),
        ("env.call", "Set: ENV(PRS_EVIL)=/tmp/evil.so\n", "ENV(PRS_EVIL)"),
        ("array.call", "Set: ARRAY(GLOBAL(PRS_TRUNK),X)=PJSIP/evil@trunk,1\n", "ARRAY(GLOBAL(PRS_TRUNK),X)"),
    ];
    for (name, set, _) in files {
        ast.drop_call_file(name, &report_call("Local/s@answer", name, set));
    }
    for (name, _, value) in files {
        let line = expect_rejected(&ast, name, &format!("(rule persistent_function, value '{value}')"));
        assert!(line.contains("whose write outlives the call"), "{line}");
        assert_never_attempted(&ast, name);
    }
    let state = |tag: &str| -> Message {
        ast.drop_call_file(
            &format!("{tag}.call"),
            &format!("Channel: Local/s@answer\nContext: state\nExtension: s\nSet: TAG={tag}\n"),
        );
        ast.expect_event(&format!("the state report {tag}"), SOON, |e: &Message| {
            e.is_user_event("State") && e.has("Tag", tag)
        })
    };
    let before = state("before");
    assert_eq!((before.get("Global"), before.get("Env")), (Some(""), Some("")), "{before}");

    ast.write_etc("pbx_spool_rs.conf", &conf("allow_function = GLOBAL\n"));
    ast.cli(&format!("module reload {RUST_SO}"));
    ast.expect_until("allow_function in force", SOON, || {
        ast.cli("spool show status").lines().any(|l| l.contains("allow_function") && l.trim_end().ends_with("GLOBAL"))
    });
    ast.drop_call_file("global2.call", &report_call("Local/s@answer", "global2", "Set: GLOBAL(PRS_TRUNK)=relaxed\n"));
    ast.expect_event("the call setting the admitted global", SOON, placed("global2"));
    ast.drop_call_file("env2.call", &report_call("Local/s@answer", "env2", "Set: ENV(PRS_EVIL)=x\n"));
    expect_rejected(&ast, "env2.call", "(rule persistent_function, value 'ENV(PRS_EVIL)')");
    let after = state("after");
    assert_eq!((after.get("Global"), after.get("Env")), (Some("relaxed"), Some("")), "{after}");
    ast.assert_alive();
}

// ----- 5. rules judge what Asterisk will do ------------------------------------------------------------

/// With `deny = Local/*` and `allow = Local/*@campaign`, `Local/s@other/@campaign` would run in context
/// `other` (Asterisk takes the options after the last `/`): it is refused as the first leg and as a
/// Dial destination, and `other` is never entered; a real campaign call is placed.
#[test]
fn rules_judge_local_channels_as_asterisk_reads_them() {
    let ast = start(|b| b.file("pbx_spool_rs.conf", &conf("deny = Local/*\nallow = Local/*@campaign\n")));
    ast.drop_call_file("trick.call", "Channel: Local/s@other/@campaign\nApplication: Wait\nData: 1\n");
    ast.drop_call_file(
        "trickdial.call",
        "Channel: Local/s@campaign\nApplication: Dial\nData: Local/s@other/@campaign\n",
    );
    let line = expect_rejected(&ast, "trick.call", "(rule channel_rule, value 'Local/s@other/@campaign')");
    assert!(line.contains("channel matches 'deny = Local/*'"), "{line}");
    expect_rejected(&ast, "trickdial.call", "(rule second_leg, value 'Local/s@other/@campaign')");
    for name in ["trick.call", "trickdial.call"] {
        assert_never_attempted(&ast, name);
    }
    let entered = ast.ami().wait_for_event(ABSENCE, |e| e.is_user_event("Placed") && e.has("Tag", "other-context"));
    assert!(entered.is_none(), "context other was entered");
    ast.drop_call_file("campaign.call", &report_call("Local/s@campaign", "campaign", ""));
    ast.expect_event("the campaign call", SOON, placed("campaign"));
}

// ----- 6. legitimate uses ---------------------------------------------------------------------------------

/// What call files are for keeps working under the default policy: Playback, an AGI script from
/// agi-bin given by its bare name (it runs: its marker appears), and `spool check` explains a refusal
/// in the same words as the log line.
#[test]
fn playback_and_agi_bin_scripts_still_work() {
    let ast = start(|b| b);
    // data/agi-bin links to the package's shared directory: the instance gets a directory of its own
    // instead (only the link is removed), so the script never lands in the shared chroot.
    let agi_bin = ast.path("data/agi-bin");
    if fs::symlink_metadata(&agi_bin).is_ok_and(|meta| meta.file_type().is_symlink()) {
        fs::remove_file(&agi_bin).expect("remove the agi-bin link");
    }
    fs::create_dir_all(&agi_bin).expect("agi-bin");
    let (agi_marker, agi_inside) = marker(&ast, "m-agi-ran");
    let script = agi_bin.join("mark.sh");
    fs::write(&script, format!("#!/bin/sh\nwhile read line && [ -n \"$line\" ]; do :; done\ntouch {agi_inside}\n"))
        .expect("AGI script");
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");

    ast.drop_call_file("playback.call", "Channel: Local/s@answer\nApplication: Playback\nData: beep\n");
    ast.drop_call_file("agi.call", "Channel: Local/s@answer\nApplication: AGI\nData: mark.sh\n");
    ast.expect_until("the agi-bin script to run", SOON, || agi_marker.exists());
    for name in ["playback.call", "agi.call"] {
        assert_eq!(expect_finished(&ast, name).get("Status"), Some("Completed"), "{name}");
    }
    assert!(ast.log_lines_with(&["Rejected "]).is_empty(), "{}", ast.diagnostics());

    // spool check: the refusal in the log line's words, for a file that is never queued.
    let draft = ast.path("draft.call");
    fs::write(&draft, "Channel: Local/s@answer\nApplication: AGI\nData: /bin/sh,-c,id\n").expect("draft");
    let out = ast.cli(&format!("spool check {}", ast.inside_path(&draft)));
    assert!(out.contains("AGI starts an AGI program that is not a script in Asterisk's agi-bin directory"), "{out}");
    assert!(out.contains("(rule agi_script, value '/bin/sh')"), "{out}");
}
