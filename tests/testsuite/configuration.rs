//! What an admin sees when Asterisk cannot use what it was given, on an Asterisk that runs as the
//! chroot's `asterisk` user as Debian's does (`runuser`, see `Builder::run_as`): a pbx_spool_rs.conf
//! it cannot read (an ERROR naming the file, the reason and the chown; a reload that reports failure
//! and keeps the settings in force; `spool show status` saying so), one it cannot parse, a misspelt
//! `[general]`, and a call file owned by root that it cannot append to (the log and `spool check` name
//! `chown asterisk:asterisk <file>`). pbx_spool has none of this, so every test runs pbx_spool_rs alone.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use harness::events::placed;
use harness::files::shown;
use harness::fixtures::security::{conf, expect_rejected, report_call, setup};
use harness::{Asterisk, Builder, Spooler, RUST_SO, SOON};

/// The user of the chroot a packaged Asterisk runs as (from the Debian package).
const RUN_USER: &str = "asterisk";
const CONFIG: &str = "pbx_spool_rs.conf";

fn start(configure: impl FnOnce(Builder) -> Builder) -> Asterisk {
    configure(setup(Asterisk::builder(Spooler::Rust))).start()
}

/// pbx_spool_rs.conf as Asterisk names it.
fn config_path(ast: &Asterisk) -> String {
    ast.inside_path(&ast.etc_dir().join(CONFIG))
}

/// Sets the mode of `etc/pbx_spool_rs.conf` (owned by root, as the harness writes it).
fn set_config_mode(ast: &Asterisk, mode: u32) {
    fs::set_permissions(ast.etc_dir().join(CONFIG), fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The value of `spool show status`'s row `label`, whole (values here hold blanks).
fn status_row(status: &str, label: &str) -> Option<String> {
    status.lines().find_map(|line| line.trim_start().strip_prefix(label).map(|rest| rest.trim().to_owned()))
}

/// `module reload pbx_spool_rs.so`'s answer.
fn reload(ast: &Asterisk) -> String {
    ast.cli(&format!("module reload {RUST_SO}"))
}

/// A call file handed over as Asterisk's own user would write it (owned by the user it runs as).
fn drop_owned(ast: &Asterisk, name: &str, contents: &str) -> PathBuf {
    let (uid, gid) = ast.run_as_ids().expect("an instance that runs as a user");
    let tmp = ast.spool_dir().join(format!("tmp-owned-{name}"));
    fs::write(&tmp, contents).expect("write");
    std::os::unix::fs::chown(&tmp, Some(uid), Some(gid)).expect("chown");
    let target = ast.outgoing_dir().join(name);
    fs::rename(&tmp, &target).expect("rename");
    target
}

/// The ERROR a root-owned 0640 pbx_spool_rs.conf gets from an Asterisk running as `asterisk`.
fn unreadable_error(ast: &Asterisk) -> String {
    let path = config_path(ast);
    format!(
        "cannot read {path}: Permission denied (Asterisk runs as uid {} user {RUN_USER}; the file is owned by \
         root:root mode 0640). Fix: chown {RUN_USER}:{RUN_USER} {path}",
        ast.run_as_ids().expect("runs as a user").0
    )
}

/// (a) At load, a pbx_spool_rs.conf Asterisk's user cannot read is one ERROR naming the file, the reason,
/// who Asterisk runs as, the owner and mode, and the chown; its settings are not in force (here
/// `maxcalls = 3`), and `spool show status` says the read FAILED and that the defaults apply.
#[test]
fn an_unreadable_configuration_at_load_is_an_error_that_names_the_fix() {
    let ast = start(|b| b.run_as(RUN_USER).file(CONFIG, &conf("maxcalls = 3\n")).file_mode(CONFIG, 0o640));
    let needle = unreadable_error(&ast);
    ast.expect_until("the ERROR about the configuration", SOON, || {
        ast.log_text().lines().any(|l| l.contains("ERROR[") && l.contains(&needle))
    });
    let line = ast.log_lines_with(&["ERROR[", &needle]).remove(0);
    assert!(
        line.ends_with("; using the defaults: its campaigns, limits and allow/deny rules are NOT in force"),
        "{line}"
    );
    let status = ast.cli("spool show status");
    assert_eq!(status_row(&status, "File").as_deref(), Some(config_path(&ast).as_str()), "{status}");
    assert_eq!(status_row(&status, "Last read"), Some(format!("FAILED: {needle}")), "{status}");
    assert!(status_row(&status, "When").is_some_and(|when| when.ends_with(" UTC (load)")), "{status}");
    assert_eq!(status_row(&status, "Settings in force").as_deref(), Some("the defaults"), "{status}");
    assert_eq!(status_row(&status, "maxcalls").as_deref(), Some("unlimited"), "{status}");
    // The file's defaults, not an empty set of rules: owner_check stays on.
    assert_eq!(status_row(&status, "owner_check").as_deref(), Some("yes"), "{status}");
    assert!(ast.module_running(RUST_SO));
}

/// (b) A reload with pbx_spool_rs.conf made unreadable, then unparsable, is reported by `module reload`
/// as a failure (not "reloaded successfully"), and the deny rule read at load stays in force: a file it
/// refuses is refused after each. Fixed, the next reload succeeds and the status says "loaded".
#[test]
fn a_reload_that_cannot_use_the_configuration_fails_and_keeps_the_rules_in_force() {
    let ast = start(|b| b.run_as(RUN_USER).file(CONFIG, &conf("deny = Local/*@answer\n")));
    let status = ast.cli("spool show status");
    assert_eq!(status_row(&status, "Last read").as_deref(), Some("loaded"), "{status}");
    let loaded_at = status_row(&status, "Settings in force").expect("in force");
    assert!(loaded_at.starts_with("read "), "{status}");
    let failure = format!("The module '{RUST_SO}' reported a reload failure");

    set_config_mode(&ast, 0o600);
    let mark = ast.log_mark();
    let answer = reload(&ast);
    assert!(answer.contains(&failure), "module reload said: {answer:?}\n{}", ast.diagnostics());
    let needle = unreadable_error(&ast).replace("mode 0640", "mode 0600");
    ast.expect_log_since(mark, &["ERROR[", &format!("{needle}; the previous settings stay in force")]);
    let status = ast.cli("spool show status");
    assert_eq!(status_row(&status, "Last read"), Some(format!("FAILED: {needle}")), "{status}");
    assert!(status_row(&status, "When").is_some_and(|when| when.ends_with(" UTC (reload)")), "{status}");
    assert_eq!(status_row(&status, "Settings in force"), Some(loaded_at.replace("read ", "the previous ones, read ")));
    drop_owned(&ast, "denied1.call", &report_call("Local/s@answer", "denied1", ""));
    expect_rejected(&ast, "denied1.call", "(rule channel_rule, value 'Local/s@answer')");

    set_config_mode(&ast, 0o644);
    ast.write_etc(CONFIG, "[general\ndeny = Local/*@campaign\n");
    let mark = ast.log_mark();
    let answer = reload(&ast);
    assert!(answer.contains(&failure), "module reload said: {answer:?}\n{}", ast.diagnostics());
    let parse_error = format!("{} could not be parsed", config_path(&ast));
    ast.expect_log_since(mark, &["ERROR[", &parse_error]);
    drop_owned(&ast, "denied2.call", &report_call("Local/s@answer", "denied2", ""));
    expect_rejected(&ast, "denied2.call", "(rule channel_rule, value 'Local/s@answer')");

    ast.write_etc(CONFIG, &conf("deny = Local/*@campaign\n"));
    let answer = reload(&ast);
    assert!(answer.contains(&format!("Module '{RUST_SO}' reloaded successfully")), "{answer:?}");
    assert_eq!(status_row(&ast.cli("spool show status"), "Last read").as_deref(), Some("loaded"));
    drop_owned(&ast, "placed.call", &report_call("Local/s@answer", "placed", ""));
    ast.expect_event("the call the old rule refused, placed after the fix", SOON, placed("placed"));
}

/// (c) `[genral]`: one WARNING that names the misspelt section, and its lines are neither general
/// settings nor a campaign (the status lists no campaign and counts the warning).
#[test]
fn a_misspelt_general_section_is_a_warning_not_a_campaign() {
    let ast = start(|b| b.file(CONFIG, "[genral]\ndeny = Local/*@answer\nmaxcalls = 2\n"));
    let needle = "[genral] looks like a misspelt [general]: it is not read as a campaign, and none of its \
                  settings is in force; write [general]";
    ast.expect_until("the WARNING about [genral]", SOON, || {
        ast.log_text().lines().any(|l| l.contains("WARNING[") && l.contains(needle))
    });
    assert_eq!(ast.log_lines_with(&[needle]).len(), 1, "one warning for the section:\n{}", ast.diagnostics());
    let line = ast.log_lines_with(&[needle]).remove(0);
    assert!(line.contains(&format!("{} line 2: ", config_path(&ast))), "{line}");
    let status = ast.cli("spool show status");
    assert!(!status.contains("Campaigns\n"), "[genral] must not be a campaign:\n{status}");
    assert_eq!(status_row(&status, "Last read").as_deref(), Some("loaded, 1 warning(s) (see the log)"), "{status}");
    assert_eq!(status_row(&status, "allow/deny").as_deref(), Some("none"), "{status}");
}

/// (d) A call file written by root (0644) in the outgoing directory of an Asterisk that runs as
/// `asterisk`: `spool check` says it would be left for the admin, not placed, and names
/// `chown asterisk:asterisk <file>`; dropped due, it is not dialled and the log line and
/// `spool show file` name the same fix.
#[test]
fn a_call_file_asterisks_user_cannot_write_is_reported_with_the_chown_that_fixes_it() {
    let ast = start(|b| b.run_as(RUN_USER));
    let later = SystemTime::now() + Duration::from_secs(3600);
    // Dated before it arrives, so it is never due (and visited) at its arrival.
    harness::files::drop_dated(&ast, "later.call", &report_call("Local/s@answer", "later", ""), later);
    let fix = |path: &str| {
        format!(
            "cannot write {path}: Permission denied (Asterisk runs as uid {} user {RUN_USER}; the file is owned by \
             root:root mode 0644). Fix: chown {RUN_USER}:{RUN_USER} {path} (callfile submit gives the files it \
             writes to Asterisk's user)",
            ast.run_as_ids().expect("runs as a user").0
        )
    };
    let later_shown = shown(&ast, "later.call");
    let check = ast.cli(&format!("spool check {later_shown}"));
    assert!(
        check.contains(&format!("Verdict:     LEFT FOR THE ADMIN, not dialled: {}", fix(&later_shown))),
        "spool check said:\n{check}"
    );
    assert!(!check.contains("would be placed"), "{check}");

    let due = ast.drop_call_file("due.call", &report_call("Local/s@answer", "due", ""));
    assert_eq!(fs::metadata(&due).map(|m| m.permissions().mode() & 0o777).ok(), Some(0o644));
    let due_shown = shown(&ast, "due.call");
    let line = format!("leaving the file for the admin: {}", fix(&due_shown));
    ast.expect_until("the ERROR naming the chown", SOON, || {
        ast.log_text().lines().any(|l| l.contains("ERROR[") && l.contains(&line))
    });
    let show = ast.cli("spool show file due.call");
    assert!(show.contains(&format!("LEFT FOR THE ADMIN, not dialled: {}", fix(&due_shown))), "{show}");
    assert!(show.contains("State:       left for the admin"), "{show}");
    assert!(Path::new(&due).exists(), "the file stays for the admin");
    assert!(ast.ami().events().iter().all(|e| !e.is_user_event("Placed")), "nothing was dialled");
}
