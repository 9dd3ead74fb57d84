//! Security: what an allowed application's arguments may make Asterisk do, and where a call file may
//! enter the dialplan, against the real Asterisk with the modules that act on each argument loaded:
//! no URL fetched from any host (the media cache), no file read outside the sounds directory, no
//! argument that Asterisk's parser reads differently from the policy's, no entry into a context after
//! its guard. Each test proves the bad effect did not happen, that Asterisk is alive and that the next
//! good file is still placed.

use std::io::Write;
use std::net::TcpListener;
use std::time::Instant;

use harness::events::{assert_never_attempted, placed, spool_event};
use harness::fixtures::security::{conf, expect_all_rejected, expect_rejected, report_call};
use harness::{wait_until, Asterisk, Builder, ABSENCE, SOON};

/// A call centre's dialplan: an outbound context whose first priority is its guard, a context a deny
/// rule protects, and one that reports the PBX-wide global a trunk route would read.
const CALL_CENTRE: &str = r#"
[outbound]
exten => _X.,1,GotoIf($["${CAMPAIGN_OK}" != "yes"]?refused,s,1)
 same => n,NoOp(guard passed)
 same => n,UserEvent(Placed,Tag: trunk-${EXTEN})
 same => n,Hangup()

[refused]
exten => s,1,UserEvent(Placed,Tag: guard-refused)
 same => n,Hangup()

[secret]
exten => s,1,Answer()
 same => n,UserEvent(Placed,Tag: secret-reached)
 same => n,Hangup()

[state]
exten => s,1,UserEvent(Placed,Tag: ${TAG},Global: ${GLOBAL(PRS_TRUNK)})
 same => n,Hangup()
"#;

fn start(configure: impl FnOnce(Builder) -> Builder) -> Asterisk {
    let modules = [
        "app_playback.so",
        "res_curl.so",
        "res_http_media_cache.so",
        "format_wav.so",
        "format_sln.so",
        "app_dial.so",
        "app_originate.so",
        "func_global.so",
        "app_confbridge.so",
        "bridge_softmix.so",
        "bridge_simple.so",
    ];
    let builder = harness::fixtures::security::attack_builder(CALL_CENTRE, &modules);
    configure(builder).start()
}

/// Asterisk is alive and a good call file dropped now is still placed.
fn assert_spool_still_works(ast: &Asterisk, tag: &str) {
    ast.assert_alive();
    ast.drop_call_file(&format!("{tag}.call"), &report_call("Local/s@answer", tag, ""));
    ast.expect_event(&format!("the good call {tag} after the refused ones"), SOON, placed(tag));
}

/// Class 1: an argument Asterisk's media cache reads as a URL (`://`) is refused, in every application
/// that plays a sound file: no connection reaches a listener on the host the file names.
#[test]
fn sound_arguments_that_are_urls_reach_no_host() {
    if harness::env::not_applicable_without(
        &harness::fixtures::security::URL_FETCHERS,
        "the media cache fetches the URLs refused here",
    ) {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
    listener.set_nonblocking(true).expect("non-blocking listener");
    let port = listener.local_addr().expect("its address").port();
    let ast = start(|b| b);
    let url = format!("http://127.0.0.1:{port}/greeting.wav");
    let files = [
        ("url-playback.call", format!("Channel: Local/s@answer\nApplication: Playback\nData: {url}\n")),
        ("url-background.call", format!("Channel: Local/s@answer\nApplication: BackGround\nData: beep&{url}\n")),
        ("url-dial.call", format!("Channel: Local/s@answer\nApplication: Dial\nData: Local/s@answer,5,A({url})\n")),
        (
            "url-originate.call",
            format!("Channel: Local/s@answer\nApplication: Originate\nData: Local/s@answer,app,Playback,{url}\n"),
        ),
    ];
    for line in expect_all_rejected(&ast, &files, "(rule argument, value '") {
        assert!(line.contains("is a URL"), "{line}");
    }
    let connected = wait_until(ABSENCE, || listener.accept().is_ok());
    assert!(!connected, "a refused call file made Asterisk connect to the URL\n{}", ast.diagnostics());
    assert_spool_still_works(&ast, "after-urls");
}

/// Class 4: a sound argument that is an absolute path (another mailbox's message) or climbs out of the
/// sounds directory is refused and never played; a prompt by name still plays.
#[test]
fn sound_arguments_outside_the_sounds_directory_are_not_read() {
    let ast = start(|b| b);
    let mailbox = ast.path("voicemail/default/1234/INBOX");
    std::fs::create_dir_all(&mailbox).expect("a mailbox directory");
    let message = mailbox.join("msg0000.wav");
    std::fs::write(&message, b"RIFF").expect("a message file");
    let inside = ast.inside_path(&message);
    let stem = inside.trim_end_matches(".wav");
    let files = [
        ("abs-playback.call", format!("Channel: Local/s@answer\nApplication: Playback\nData: {stem}\n")),
        (
            "dotdot-playback.call",
            "Channel: Local/s@answer\nApplication: Playback\nData: ../../../../etc/passwd\n".into(),
        ),
        ("abs-page.call", format!("Channel: Local/s@answer\nApplication: Page\nData: Local/s@answer,A({stem})\n")),
    ];
    expect_all_rejected(&ast, &files, "(rule argument, value '");
    let played = wait_until(ABSENCE, || !ast.log_lines_with(&["Playing '", stem]).is_empty());
    assert!(!played, "a refused call file played {stem}\n{}", ast.diagnostics());
    // A prompt by name is still played.
    ast.drop_call_file("by-name.call", "Channel: Local/s@answer\nApplication: Playback\nData: beep\n");
    ast.expect_event("the prompt by name is placed", SOON, spool_event(&ast, "SpoolAttempt", "by-name.call"));
    assert_spool_still_works(&ast, "after-paths");
}

/// A deterministic xorshift generator: the same inputs on every run.
struct Generator(u64);

impl Generator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a [u8]]) -> &'a [u8] {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// Class 6, the differential: thousands of generated application data lines (quotes, backslashes,
/// parentheses, brackets, `^`, `,`, `&`, blanks, high bytes) are split by the policy and by the
/// running Asterisk's own parser (`spool check args`); not one differs.
#[test]
fn the_policy_splits_arguments_exactly_as_asterisk_does() {
    let ast = start(|b| b);
    let applications: &[&[u8]] = &[b"Dial", b"Originate", b"Queue", b"Page", b"VoiceMailMain", b"BackGround", b"AGI"];
    let pieces: &[&[u8]] = &[
        b"a",
        b"b",
        b"v",
        b"x",
        b"U",
        b"G",
        b"GLOBAL(X)=1",
        b"Local/s@ctx",
        b"PJSIP/100",
        b",",
        b",",
        b"\"",
        b"\"",
        b"\\",
        b"\\",
        b"(",
        b")",
        b"(",
        b")",
        b"[",
        b"]",
        b"^",
        b"&",
        b" ",
        b"\t",
        b"=",
        b"/",
        b":",
        b"'",
        b"\xf8",
        b"\xe2",
        b"\xc2",
        b"1",
        b"s",
    ];
    let mut generator = Generator(0x5eed_2026_0000_0001);
    let mut text = Vec::new();
    let lines = 4000;
    for _ in 0..lines {
        text.extend_from_slice(generator.pick(applications));
        text.push(b'\t');
        let length = 1 + generator.next() % 24;
        for _ in 0..length {
            text.extend_from_slice(generator.pick(pieces));
        }
        text.push(b'\n');
    }
    let path = ast.path("parser-inputs.txt");
    std::fs::File::create(&path).and_then(|mut file| file.write_all(&text)).expect("the generated inputs");
    let started = Instant::now();
    let output = ast.cli(&format!("spool check args {}", ast.inside_path(&path)));
    let summary = format!("Compared {lines} argument lists and ");
    assert!(output.contains(&summary), "{output}");
    assert!(output.contains(": 0 differences"), "the policy parses differently from Asterisk:\n{output}");
    assert!(!output.contains("DIFF"), "{output}");
    eprintln!("spool check args over {lines} lines took {:?}", started.elapsed());
    assert_spool_still_works(&ast, "after-differential");
}

/// Class 6, the attacks: an escaped letter hides a persistent write inside Originate's `v()` (Asterisk
/// removes the backslash), a high byte is an option letter (Asterisk keeps its low seven bits), and a
/// blank at the end of a Dial destination hides it from a `deny` rule (Dial strips it). Each is judged
/// as Asterisk reads it: refused, and the global and the denied context are untouched.
#[test]
fn parser_differentials_hide_nothing() {
    let ast = start(|b| b.file("pbx_spool_rs.conf", &conf("deny = Local/*@secret\n")));
    let files: [(&str, &[u8], &str); 4] = [
        (
            "escaped-global.call",
            b"Channel: Local/s@answer\nApplication: Originate\nData: Local/s@answer,exten,answer,s,1,,v(GLOB\\AL(PRS_TRUNK)=evil)\n",
            "(rule persistent_function, value 'GLOBAL(PRS_TRUNK)')",
        ),
        (
            "high-byte-option.call",
            b"Channel: Local/s@answer\nApplication: Originate\nData: Local/s@answer,exten,answer,s,1,,\xf6(GLOBAL(PRS_TRUNK)=evil)\n",
            "(rule persistent_function, value 'GLOBAL(PRS_TRUNK)')",
        ),
        (
            "blank-destination.call",
            b"Channel: Local/s@answer\nApplication: Dial\nData: Local/s@secret ,5\n",
            "(rule second_leg, value 'Local/s@secret')",
        ),
        (
            "escaped-record.call",
            b"Channel: Local/s@answer\nApplication: Dial\nData: Local/s@answer,5,\\\\x\n",
            "(rule argument, value '\\x')",
        ),
    ];
    for (name, contents, _) in &files {
        harness::files::drop_bytes(&ast, name, contents);
    }
    for (name, _, rule_text) in &files {
        expect_rejected(&ast, name, rule_text);
        assert_never_attempted(&ast, name);
    }
    let reached = wait_until(ABSENCE, || ast.ami().count_events(placed("secret-reached")) > 0);
    assert!(!reached, "a denied context was reached\n{}", ast.diagnostics());
    ast.drop_call_file("global.call", &report_call("Local/s@answer", "global-state", "").replace("report", "state"));
    let state = ast.expect_event("the global's value", SOON, placed("global-state"));
    assert_eq!(state.get("Global"), Some(""), "a refused file wrote the global: {state}");
    assert_spool_still_works(&ast, "after-differentials");
}

/// Class 7: a call file that starts the call centre's outbound context at priority 3 skips its guard.
/// By default only priority 1 is an entry point, so it is refused (through `Priority:` and through
/// Originate's exten target); priority 1 runs the guard. With `allow_context = outbound` the same
/// holds, and another context is refused.
#[test]
fn entry_points_after_a_guard_are_refused() {
    for config in ["", "allow_context = outbound\nallow_context = report\nallow_context = answer\n"] {
        let ast = start(|b| b.file("pbx_spool_rs.conf", &conf(config)));
        let files = [
            ("priority-three.call", "Channel: Local/s@answer\nContext: outbound\nExtension: 5551234\nPriority: 3\n"),
            (
                "originate-three.call",
                "Channel: Local/s@answer\nApplication: Originate\nData: Local/s@answer,exten,outbound,5551234,3\n",
            ),
        ];
        for (name, contents) in &files {
            ast.drop_call_file(name, contents);
        }
        for (name, _) in &files {
            let line = expect_rejected(&ast, name, "(rule context, value 'outbound')");
            assert!(line.contains("at priority 3"), "{line}");
            assert_never_attempted(&ast, name);
        }
        let bypassed = wait_until(ABSENCE, || ast.ami().count_events(placed("trunk-5551234")) > 0);
        assert!(!bypassed, "a call file entered after the guard\n{}", ast.diagnostics());
        ast.drop_call_file(
            "priority-one.call",
            "Channel: Local/s@answer\nContext: outbound\nExtension: 5551234\nPriority: 1\n",
        );
        ast.expect_event("the guard ran", SOON, placed("guard-refused"));
        if !config.is_empty() {
            ast.drop_call_file("elsewhere.call", "Channel: Local/s@answer\nContext: secret\nExtension: s\n");
            expect_rejected(&ast, "elsewhere.call", "(rule context, value 'secret')");
        }
        assert_spool_still_works(&ast, "after-entry-points");
    }
}

/// The legitimate uses the argument rules must keep: ConfBridge into a new conference, Dial to a Local
/// channel with everyday options, a prompt by name through BackGround, VoiceMailMain asking for the
/// password, Originate with a plain v() variable.
#[test]
fn everyday_arguments_are_still_accepted() {
    let ast = start(|b| b);
    let files = [
        ("confbridge.call", "Channel: Local/s@answer\nApplication: ConfBridge\nData: campaign-42\n"),
        ("dial-local.call", "Channel: Local/s@answer\nApplication: Dial\nData: Local/s@answer,20,tTm(default)\n"),
        ("background.call", "Channel: Local/s@answer\nApplication: BackGround\nData: beep,n\n"),
        (
            "originate.call",
            "Channel: Local/s@answer\nApplication: Originate\nData: Local/s@answer,exten,report,s,1,,v(TAG=orig)\n",
        ),
    ];
    for (name, contents) in &files {
        ast.drop_call_file(name, contents);
    }
    for (name, _) in &files {
        ast.expect_event(&format!("{name} is placed"), SOON, spool_event(&ast, "SpoolAttempt", name));
    }
    assert_spool_still_works(&ast, "after-everyday");
}
