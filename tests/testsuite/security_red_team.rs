//! Security: attacks on the argument policy found by reading it against Asterisk's own sources, each
//! against the real Asterisk with the modules the attack needs loaded and the default policy (or the
//! one rule the attack evades): a sound file name in quotes that Playback and BackGround unquote into
//! an absolute path, VoiceMail's beep option naming a URL or a file, a ConfBridge conference name that
//! ConfBridge's recorder hands to MixMonitor as its command, and a conference name in other letter case
//! than a `deny_conference` rule (ConfBridge finds conferences case-insensitively). Each test proves
//! the bad effect did not happen, that Asterisk is alive and that the next good file is still placed.

use std::net::TcpListener;
use std::path::Path;

use harness::events::{assert_never_attempted, placed, spool_event};
use harness::fixtures::security::{conf, expect_all_rejected, expect_rejected, report_call};
use harness::{wait_until, Asterisk, Builder, ABSENCE, SOON};

/// `brief`: answers and hangs up after two seconds, so an application run on the call file's side ends
/// (and ConfBridge's recording with it) within the test. `boardroom`: the admin's own dialplan putting
/// a call into the `board` conference.
const DIALPLAN: &str = r#"
[brief]
exten => s,1,Answer()
 same => n,Wait(2)
 same => n,Hangup()

[boardroom]
exten => s,1,Answer()
 same => n,ConfBridge(board)
"#;

fn start(configure: impl FnOnce(Builder) -> Builder) -> Asterisk {
    let modules = [
        "app_playback.so",
        "res_curl.so",
        "res_http_media_cache.so",
        "format_wav.so",
        "format_sln.so",
        "app_voicemail.so",
        "app_confbridge.so",
        "app_mixmonitor.so",
        "bridge_softmix.so",
        "bridge_simple.so",
        "res_timing_timerfd.so",
    ];
    let builder = harness::fixtures::security::attack_builder(DIALPLAN, &modules)
        .file("confbridge.conf", "[general]\n[default_bridge]\ntype=bridge\n[default_user]\ntype=user\n");
    configure(builder).start()
}

/// Asterisk is alive and a good call file dropped now is still placed.
fn assert_spool_still_works(ast: &Asterisk, tag: &str) {
    ast.assert_alive();
    ast.drop_call_file(&format!("{tag}.call"), &report_call("Local/s@answer", tag, ""));
    ast.expect_event(&format!("the good call {tag} after the refused ones"), SOON, placed(tag));
}

/// A valid WAV file (8 kHz, 16-bit, mono, half a second of silence), so that Asterisk would really
/// play it if it were asked to.
fn write_wav(path: &Path) {
    let samples = 4000u32;
    let data_len = samples * 2;
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&16000u32.to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    wav.resize(wav.len() + data_len as usize, 0);
    std::fs::write(path, wav).expect("a WAV file");
}

/// Class 4 through a parser differential: Playback and BackGround split their file list with
/// `ast_strsep(..., AST_STRSEP_STRIP)`, which removes a pair of quotes around each name, so
/// `'/var/spool/.../msg0000'` is an absolute path to Asterisk (a single quote survives the argument
/// split; a double one survives when escaped). Refused, and the other mailbox's message is never played.
#[test]
fn quoted_sound_names_read_no_file_outside_the_sounds_directory() {
    let ast = start(|b| b);
    let mailbox = ast.path("voicemail/default/1234/INBOX");
    std::fs::create_dir_all(&mailbox).expect("a mailbox directory");
    let message = mailbox.join("msg0000.wav");
    write_wav(&message);
    let inside = ast.inside_path(&message);
    let stem = inside.trim_end_matches(".wav");
    let files = [
        ("single-quoted.call", format!("Channel: Local/s@answer\nApplication: Playback\nData: '{stem}'\n")),
        ("double-quoted.call", format!("Channel: Local/s@answer\nApplication: Playback\nData: \\\"{stem}\\\"\n")),
        ("background-quoted.call", format!("Channel: Local/s@answer\nApplication: BackGround\nData: beep&'{stem}'\n")),
        (
            "originate-quoted.call",
            format!("Channel: Local/s@answer\nApplication: Originate\nData: Local/s@answer,app,Playback,'{stem}'\n"),
        ),
        ("quoted-dotdot.call", "Channel: Local/s@answer\nApplication: Playback\nData: '../x'\n".into()),
    ];
    expect_all_rejected(&ast, &files, "(rule argument, value '");
    let played = wait_until(ABSENCE, || !ast.log_lines_with(&["Playing '", stem]).is_empty());
    assert!(!played, "a refused call file played {stem}\n{}", ast.diagnostics());
    // Prompts by name, quoted or not, are still played.
    ast.drop_call_file("quoted-by-name.call", "Channel: Local/s@answer\nApplication: Playback\nData: 'beep'&beep\n");
    ast.expect_event("the quoted prompt by name", SOON, spool_event(&ast, "SpoolAttempt", "quoted-by-name.call"));
    assert_spool_still_works(&ast, "after-quoted-paths");
}

/// Classes 1 and 4 through an option nobody classified: VoiceMail's `t(x)` plays `x` as the beep
/// (`ast_stream_and_wait`), so a URL makes the media cache fetch from any host and a path reads any
/// file. Refused; no connection reaches the listener; a beep by name is still accepted.
#[test]
fn voicemail_beep_is_a_sound_name() {
    if harness::env::not_applicable_without(
        &harness::fixtures::security::URL_FETCHERS,
        "the URL form is what this test refuses",
    ) {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
    listener.set_nonblocking(true).expect("non-blocking listener");
    let port = listener.local_addr().expect("its address").port();
    let ast = start(|b| b.file("voicemail.conf", "[general]\n[default]\n1234 => 4242,Mailbox Owner\n"));
    let files = [
        (
            "vm-beep-url.call",
            format!(
                "Channel: Local/s@answer\nApplication: VoiceMail\nData: 1234@default,st(http://127.0.0.1:{port}/beep.wav)\n"
            ),
        ),
        (
            "vm-beep-path.call",
            "Channel: Local/s@answer\nApplication: VoiceMail\nData: 1234@default,st(/var/spool/asterisk/voicemail/default/5678/INBOX/msg0000)\n"
                .into(),
        ),
    ];
    for line in expect_all_rejected(&ast, &files, "(rule argument, value '") {
        assert!(line.contains("VoiceMail's option t"), "{line}");
    }
    let connected = wait_until(ABSENCE, || listener.accept().is_ok());
    assert!(!connected, "a refused call file made Asterisk fetch the beep URL\n{}", ast.diagnostics());
    ast.drop_call_file(
        "vm-beep-name.call",
        "Channel: Local/s@brief\nApplication: VoiceMail\nData: 1234@default,st(beep)\n",
    );
    ast.expect_event("a beep by name", SOON, spool_event(&ast, "SpoolAttempt", "vm-beep-name.call"));
    assert_spool_still_works(&ast, "after-vm-beep");
}

/// A shell command through a conference name: when a conference is recorded (`record_conference =
/// yes` in its bridge profile, or an operator's `ConfbridgeStartRecord`), ConfBridge runs
/// `MixMonitor(confbridge-<name>-<time>.wav)`, so a name with commas (quoted in the call file) gives
/// MixMonitor options and a command it runs through the shell when the recording ends. Refused; the
/// command never runs; a plain conference name is still joined and recorded.
#[test]
fn conference_names_are_no_mixmonitor_arguments() {
    let confbridge = "[general]\n[default_bridge]\ntype=bridge\nrecord_conference=yes\n[default_user]\ntype=user\n";
    let ast = start(|b| b.file("confbridge.conf", confbridge));
    // The instance directory's path is too long for a conference name: the command writes to the
    // chroot's /tmp instead, under a name of this process's.
    let inside_marker = format!("/tmp/prs-rt-{}", std::process::id());
    let host_root = ast.dir().to_str().and_then(|dir| dir.strip_suffix(ast.inside_dir())).expect("the chroot");
    let marker = std::path::PathBuf::from(format!("{host_root}{inside_marker}"));
    let _ = std::fs::remove_file(&marker);
    let command = format!("touch {inside_marker}");
    let name = format!("r,,{command}\\;");
    assert!(name.len() < 79, "the conference name must fit ConfBridge's limit: {name}");
    ast.drop_call_file(
        "conference-command.call",
        &format!("Channel: Local/s@brief\nApplication: ConfBridge\nData: \"{name}\"\n"),
    );
    expect_rejected(&ast, "conference-command.call", "(rule argument, value '");
    assert_never_attempted(&ast, "conference-command.call");
    ast.drop_call_file("plain-conference.call", "Channel: Local/s@brief\nApplication: ConfBridge\nData: campaign-7\n");
    ast.expect_event("the plain conference is joined", SOON, |e: &harness::Message| {
        e.is_event("ConfbridgeJoin") && e.has("Conference", "campaign-7")
    });
    let ran = wait_until(ABSENCE * 5, || marker.exists());
    let _ = std::fs::remove_file(&marker);
    assert!(!ran, "a conference name ran a shell command\n{}", ast.diagnostics());
    assert_spool_still_works(&ast, "after-conference-command");
}

/// Case: ConfBridge finds a conference by name case-insensitively (`strcasecmp`), so `BOARD` joins the
/// admin's `board` conference. With `deny_conference = board`, every spelling is refused and the board
/// conference gets no second member.
#[test]
fn conference_rules_ignore_letter_case_as_confbridge_does() {
    let ast = start(|b| b.file("pbx_spool_rs.conf", &conf("deny_conference = board\n")));
    ast.drop_call_file("board-member.call", "Channel: Local/s@answer\nContext: boardroom\nExtension: s\n");
    let board_join = |e: &harness::Message| e.is_event("ConfbridgeJoin") && e.has("Conference", "board");
    ast.expect_event("the admin's own call joins board", SOON, board_join);
    let files = [
        ("board-upper.call", "Channel: Local/s@answer\nApplication: ConfBridge\nData: BOARD\n"),
        ("board-mixed.call", "Channel: Local/s@answer\nApplication: ConfBridge\nData: Board\n"),
    ];
    expect_all_rejected(&ast, &files, "(rule conference, value '");
    let joined = wait_until(ABSENCE, || ast.ami().count_events(board_join) > 1);
    assert!(!joined, "a call file joined the denied conference\n{}", ast.diagnostics());
    assert_spool_still_works(&ast, "after-conference-case");
}

/// UserEvent's body is the event's own fields: a field named like one of AMI's envelope headers
/// (`Event: SpoolFinished`) would give the event two `Event:` lines, and a client that keeps the last one
/// would take it for a finished call file. Refused (rule argument); a body of ordinary fields still runs.
#[test]
fn user_event_bodies_cannot_forge_another_event() {
    let ast = start(|b| b);
    let forged =
        "Channel: Local/s@answer\nApplication: UserEvent\nData: Forged,Event: SpoolFinished,Status: Completed\n";
    ast.drop_call_file("forged.call", forged);
    expect_rejected(&ast, "forged.call", "rule argument");
    assert_never_attempted(&ast, "forged.call");
    let good = "Channel: Local/s@answer\nApplication: UserEvent\nData: Honest,Events: 2,Status: fine\n";
    ast.drop_call_file("honest.call", good);
    let honest = ast.expect_event("the honest UserEvent", SOON, |e| e.is_user_event("Honest"));
    assert_eq!(honest.get("Events"), Some("2"), "{honest}");
    assert_eq!(ast.ami().count_events(|e| e.is_user_event("Forged")), 0, "the forged event was raised");
    assert_spool_still_works(&ast, "after-forged");
}
