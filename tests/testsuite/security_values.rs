//! Security of what a call file writes, against the real Asterisk with the modules that read each value:
//! a function that writes another channel by name, a signalling header that makes a phone answer by
//! itself, a language that Asterisk turns into a directory outside its sounds, variables that Asterisk
//! reads as a command or a file (inherited through the admin's own dialplan into a recorded queue), and
//! a variable that shadows a dialplan global naming the trunk. Each test proves the bad effect did not
//! happen, that Asterisk is alive and that the next good file is still placed.

use std::fs;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use harness::events::{assert_never_attempted, placed};
use harness::fixtures::security::{expect_rejected, report_call, setup, with_rtp};
use harness::{wait_until, Asterisk, Builder, Message, Spooler, ABSENCE, SOON};

/// The contexts these tests use besides the shared `answer`/`report`: a call that reports, after a
/// while, what was set on it; playback in the call's language; a call centre with a recorded queue
/// reached through the admin's own routing; and an outbound route built from a global.
const VALUES_DIALPLAN: &str = r#"
[globals]
TRUNKVAR=office-trunk

[victim]
exten => s,1,Answer()
 same => n,Wait(3)
 same => n,UserEvent(Victim,Hijacked: ${HIJACKED})
 same => n,Hangup()

[language]
exten => s,1,Answer()
 same => n,Playback(secret-msg)
 same => n,UserEvent(Language,Tag: ${TAG},Language: ${CHANNEL(language)},Status: ${PLAYBACKSTATUS})
 same => n,Hangup()

[callcentre]
exten => s,1,Dial(Local/s@recorded,20)
 same => n,Hangup()

[recorded]
exten => s,1,Answer()
 same => n,Queue(support,c)
 same => n,UserEvent(QueueDone,Tag: ${TAG})
 same => n,Hangup()

[agent]
exten => s,1,Answer()
 same => n,Wait(1)
 same => n,Hangup()

[outbound]
; Stands for Dial(PJSIP/${EXTEN}@${TRUNKVAR}): no real trunk exists, so the route reports what it would dial.
exten => _X.,1,UserEvent(Route,Tag: ${TAG},Dial: PJSIP/${EXTEN}@${TRUNKVAR})
 same => n,Hangup()
"#;

fn start(configure: impl FnOnce(Builder) -> Builder) -> Asterisk {
    let builder = setup(Asterisk::builder(Spooler::Rust))
        .extensions(&format!("{}{VALUES_DIALPLAN}", harness::fixtures::security::DIALPLAN));
    configure(builder).start()
}

/// Asterisk is alive and a good call file dropped now is still placed.
fn assert_spool_still_works(ast: &Asterisk, tag: &str) {
    ast.assert_alive();
    ast.drop_call_file(&format!("{tag}.call"), &report_call("Local/s@answer", tag, ""));
    ast.expect_event(&format!("the good call {tag} after the refused ones"), SOON, placed(tag));
}

// ----- other people's calls ------------------------------------------------------------------------------

/// A call unrelated to any hostile file runs in `[victim]`; a call file then writes a variable on that
/// call by its channel name, through EXPORT and through SHARED. Both are refused (EXPORT under the
/// function allow list), the victim reports nothing set, and the next good file is placed.
#[test]
fn functions_that_write_another_channel_are_refused() {
    let ast = start(|b| b.module("func_export.so").module("func_global.so").module("app_playback.so"));
    ast.drop_call_file("victim.call", "Channel: Local/s@victim\nApplication: Wait\nData: 10\n");
    let created = ast.expect_event("the victim's channel", SOON, |e: &Message| {
        e.is_event("Newchannel")
            && e.get("Channel").is_some_and(|c| c.starts_with("Local/s@victim-") && c.ends_with(";2"))
    });
    let victim = created.get("Channel").expect("a channel name").to_string();
    // A call file escapes the `;` of a Local channel's name as `\;` (an unescaped one starts a comment).
    let escaped = victim.replace(';', "\\;");
    let files = [
        ("export.call", format!("EXPORT({escaped},HIJACKED)"), format!("EXPORT({victim},HIJACKED)"), "function"),
        (
            "shared.call",
            format!("SHARED(HIJACKED,{escaped})"),
            format!("SHARED(HIJACKED,{victim})"),
            "persistent_function",
        ),
    ];
    for (name, write, _, _) in &files {
        ast.drop_call_file(name, &format!("Channel: Local/s@answer\nApplication: Wait\nData: 1\nSet: {write}=yes\n"));
    }
    for (name, _, shown, rule) in &files {
        expect_rejected(&ast, name, &format!("(rule {rule}, value '{shown}')"));
        assert_never_attempted(&ast, name);
    }
    let report = ast.expect_event("the victim's report", SOON, |e: &Message| e.is_user_event("Victim"));
    assert_eq!(report.get("Hijacked"), Some(""), "a call file wrote on another call:\n{report}");
    assert_spool_still_works(&ast, "after-other-channels");
}

// ----- what the far end's phone does ----------------------------------------------------------------------

/// pjsip.conf with a UDP transport on a free loopback port and one endpoint, `100`, whose contact is
/// `phone_port` on loopback (a socket the test reads: the "phone").
fn pjsip_conf(phone_port: u16) -> String {
    let port = UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).map(|a| a.port()).expect("a free UDP port");
    format!(
        "[transport-udp]\ntype = transport\nprotocol = udp\nbind = 127.0.0.1:{port}\n\n\
         [100]\ntype = endpoint\ncontext = answer\ndisallow = all\nallow = ulaw,slin\naors = 100\n\n\
         [100]\ntype = aor\ncontact = sip:100@127.0.0.1:{phone_port}\n"
    )
}

fn with_pjsip(builder: Builder, phone_port: u16) -> Builder {
    with_rtp(builder)
        .module("res_sorcery_memory.so")
        .module("res_sorcery_astdb.so")
        .module("res_pjsip.so")
        .module("res_pjsip_pubsub.so")
        .module("res_pjsip_session.so")
        .module("res_pjsip_sdp_rtp.so")
        .module("chan_pjsip.so")
        .module("res_pjsip_header_funcs.so")
        .module("app_playback.so")
        .file("pjsip.conf", &pjsip_conf(phone_port))
}

/// Every SIP INVITE the phone receives within `window`, as text.
fn invites_received(phone: &UdpSocket, window: Duration) -> Vec<String> {
    let deadline = Instant::now() + window;
    let mut invites = Vec::new();
    let mut buffer = vec![0u8; 65536];
    while let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|left| !left.is_zero()) {
        phone.set_read_timeout(Some(left)).expect("a read timeout");
        let Ok(length) = phone.recv(&mut buffer) else { break };
        let text = String::from_utf8_lossy(&buffer[..length]).into_owned();
        if text.starts_with("INVITE ") {
            invites.push(text);
        }
    }
    invites
}

/// `Set: PJSIP_HEADER(add,Alert-Info)=...;answer-after=0` (and the Call-Info form) would make a known
/// endpoint's phone answer by itself. Refused under the function allow list: the phone receives no
/// INVITE with either header. A good file to the same endpoint still rings it, without the header.
#[test]
fn signalling_headers_that_answer_a_phone_are_refused() {
    if harness::env::not_applicable_without(&["res_pjsip.so"], "PJSIP_HEADER is a PJSIP function") {
        return;
    }
    let phone = UdpSocket::bind("127.0.0.1:0").expect("the phone's socket");
    let phone_port = phone.local_addr().expect("its address").port();
    let ast = start(|b| with_pjsip(b, phone_port));
    assert!(ast.module_running("res_pjsip_header_funcs.so"), "PJSIP_HEADER must exist\n{}", ast.diagnostics());
    let files = [
        ("alertinfo.call", "PJSIP_HEADER(add,Alert-Info)", "<http://127.0.0.1/>;info=alert-autoanswer;answer-after=0"),
        ("callinfo.call", "PJSIP_HEADER(add,Call-Info)", "<sip:127.0.0.1>;answer-after=0"),
    ];
    for (name, write, value) in files {
        ast.drop_call_file(
            name,
            &format!("Channel: PJSIP/100\nWaitTime: 2\nApplication: Playback\nData: beep\nSet: {write}={value}\n"),
        );
    }
    for (name, write, _) in files {
        expect_rejected(&ast, name, &format!("(rule function, value '{write}')"));
        assert_never_attempted(&ast, name);
    }
    let hostile = invites_received(&phone, ABSENCE);
    assert!(hostile.is_empty(), "a refused file rang the phone:\n{}", hostile.join("\n"));

    ast.drop_call_file("ring.call", "Channel: PJSIP/100\nWaitTime: 2\nApplication: Playback\nData: beep\n");
    let invites = invites_received(&phone, SOON);
    assert!(!invites.is_empty(), "the good file must ring the phone\n{}", ast.diagnostics());
    assert!(
        invites.iter().all(|invite| !invite.contains("answer-after")),
        "no INVITE may ask the phone to answer by itself:\n{}",
        invites.join("\n")
    );
    assert_spool_still_works(&ast, "after-headers");
}

// ----- files outside Asterisk's sound directories -----------------------------------------------------------

/// `Set: CHANNEL(language)=../../../(...)/evil` makes Playback look for sounds in
/// `<datadir>/sounds/../../../(...)/evil`, a directory outside the sounds (another mailbox's messages, in the issue's words). Refused under rule
/// path_value: the secret prompt there is never played. `CHANNEL(language)=fr` is still accepted.
#[test]
fn languages_that_are_paths_are_refused() {
    let ast = start(|b| b.module("app_playback.so").module("format_sln.so"));
    let secret = ast.path("evil/secret-msg.sln");
    fs::create_dir_all(secret.parent().expect("a directory")).expect("the secret's directory");
    fs::write(&secret, vec![0u8; 1600]).expect("the secret prompt");
    // `<datadir>/sounds` (the package's sounds) joined with `../` up to `/`, then the instance's directory.
    let relative = format!("{}{}", "../".repeat(8), ast.inside_path(&ast.path("evil")).trim_start_matches('/'));
    let call = |tag: &str, language: &str| {
        format!(
            "Channel: Local/s@answer\nContext: language\nExtension: s\nSet: TAG={tag}\nSet: CHANNEL(language)={language}\n"
        )
    };
    ast.drop_call_file("path.call", &call("path", &relative));
    ast.drop_call_file("absolute.call", &call("absolute", &ast.inside_path(&ast.path("evil"))));
    expect_rejected(&ast, "path.call", "(rule path_value, value 'CHANNEL(language)')");
    expect_rejected(&ast, "absolute.call", "(rule path_value, value 'CHANNEL(language)')");
    for name in ["path.call", "absolute.call"] {
        assert_never_attempted(&ast, name);
    }
    let played = ast.ami().wait_for_event(ABSENCE, |e| e.is_user_event("Language") && e.has("Status", "SUCCESS"));
    assert!(played.is_none(), "a prompt outside the sounds was played:\n{}", played.unwrap());

    ast.drop_call_file("french.call", &call("french", "fr"));
    let report =
        ast.expect_event("the French call", SOON, |e: &Message| e.is_user_event("Language") && e.has("Tag", "french"));
    assert_eq!((report.get("Language"), report.get("Status")), (Some("fr"), Some("FAILED")), "{report}");
    assert_spool_still_works(&ast, "after-languages");
}

// ----- variables Asterisk reads as configuration, in a call centre's dialplan --------------------------------

/// The call centre's recorded queue (`monitor-format`) is reached through the admin's routing: the call
/// file enters `[callcentre]`, which dials `Local/s@recorded`, where Queue records the call. A file
/// setting `__MONITOR_EXEC` (a command app_queue hands to MixMonitor) or `__MONITOR_FILENAME` (where the
/// recording is written), inherited into `[recorded]`, is refused under rule variable: no command runs
/// and no file is written there. A plain `Set: CUSTOMER_ID=42` still passes the same route.
#[test]
fn configuration_variables_inherited_into_a_recorded_queue_are_refused() {
    let ast = start(|b| {
        ["app_queue.so", "app_mixmonitor.so", "app_dial.so", "bridge_simple.so", "format_wav.so", "app_playback.so"]
            .into_iter()
            .fold(b, |b, module| b.module(module))
            .file(
                "queues.conf",
                "[general]\npersistentmembers = no\n\n[support]\nstrategy = ringall\nmonitor-format = wav\n\
                 member => Local/s@agent\n",
            )
    });
    let command_marker = ast.path("command-ran");
    let written = ast.path("greeting");
    let call = |tag: &str, set: &str| {
        format!("Channel: Local/s@answer\nContext: callcentre\nExtension: s\nSet: __TAG={tag}\n{set}")
    };
    let files = [
        ("exec.call", format!("Set: __MONITOR_EXEC=touch {}\n", ast.inside_path(&command_marker)), "__MONITOR_EXEC"),
        ("filename.call", format!("Set: __MONITOR_FILENAME={}\n", ast.inside_path(&written)), "__MONITOR_FILENAME"),
    ];
    for (name, set, _) in &files {
        ast.drop_call_file(name, &call(name, set));
    }
    for (name, _, variable) in &files {
        let line = expect_rejected(&ast, name, &format!("(rule variable, value '{variable}')"));
        assert!(line.contains("apps/app_queue.c"), "{line}");
        assert_never_attempted(&ast, name);
    }
    // The legitimate call through the same route: recorded, and the queue call completes.
    ast.drop_call_file("customer.call", &call("customer", "Set: __CUSTOMER_ID=42\n"));
    ast.expect_event("the customer's queue call", Duration::from_secs(20), |e: &Message| {
        e.is_user_event("QueueDone") && e.has("Tag", "customer")
    });
    let wav = written.with_extension("wav");
    let appeared = wait_until(ABSENCE, || command_marker.exists() || wav.exists());
    assert!(!appeared, "a refused variable ran a command or wrote a file\n{}", ast.diagnostics());
    assert_spool_still_works(&ast, "after-queue");
}

/// `[globals] TRUNKVAR=office-trunk` names the trunk, and `[outbound]` dials `PJSIP/${EXTEN}@${TRUNKVAR}`.
/// A call file with `Set: TRUNKVAR=evil` (or `_TRUNKVAR`) would shadow the global for its call: refused
/// under rule dialplan_global, naming the global. The route still dials through the admin's trunk for a
/// good file, and `allow_variable = TRUNKVAR` admits the write for the admin who means it.
#[test]
fn variables_that_shadow_a_dialplan_global_are_refused() {
    let ast = start(|b| b);
    let call = |tag: &str, set: &str| {
        format!("Channel: Local/s@answer\nContext: outbound\nExtension: 0123\nSet: TAG={tag}\n{set}")
    };
    ast.drop_call_file("shadow.call", &call("shadow", "Set: TRUNKVAR=evil.example\n"));
    ast.drop_call_file("inherited.call", &call("inherited", "Set: __TRUNKVAR=evil.example\n"));
    let line = expect_rejected(&ast, "shadow.call", "(rule dialplan_global, value 'TRUNKVAR')");
    assert!(line.contains("TRUNKVAR, which is a dialplan global"), "{line}");
    expect_rejected(&ast, "inherited.call", "(rule dialplan_global, value '__TRUNKVAR')");
    fs::write(ast.path("check.call"), call("check", "Set: TRUNKVAR=evil.example\n")).expect("a file to check");
    let check = ast.cli(&format!("spool check {}", ast.inside_path(&ast.path("check.call"))));
    assert!(check.contains("TRUNKVAR, which is a dialplan global"), "spool check names the global:\n{check}");
    for name in ["shadow.call", "inherited.call"] {
        assert_never_attempted(&ast, name);
    }
    let routed = ast
        .ami()
        .wait_for_event(ABSENCE, |e| e.is_user_event("Route") && e.get("Dial").is_some_and(|d| d.contains("evil")));
    assert!(routed.is_none(), "the route dialled the file's trunk:\n{}", routed.unwrap());

    ast.drop_call_file("good.call", &call("good", "Set: CUSTOMER_ID=42\n"));
    let route =
        ast.expect_event("the good route", SOON, |e: &Message| e.is_user_event("Route") && e.has("Tag", "good"));
    assert_eq!(route.get("Dial"), Some("PJSIP/0123@office-trunk"), "{route}");

    ast.write_etc("pbx_spool_rs.conf", &harness::fixtures::security::conf("allow_variable = TRUNKVAR\n"));
    ast.cli(&format!("module reload {}", harness::RUST_SO));
    ast.expect_until("allow_variable in force", SOON, || {
        ast.cli("spool show status").lines().any(|l| l.contains("allow_variable") && l.trim_end().ends_with("TRUNKVAR"))
    });
    ast.drop_call_file("admitted.call", &call("admitted", "Set: TRUNKVAR=other-trunk\n"));
    let route = ast
        .expect_event("the admitted route", SOON, |e: &Message| e.is_user_event("Route") && e.has("Tag", "admitted"));
    assert_eq!(route.get("Dial"), Some("PJSIP/0123@other-trunk"), "{route}");
    assert_spool_still_works(&ast, "after-globals");
}
