//! pbx_spool_rs documented inside Asterisk: with `pbx_spool_rs-en_US.xml` in astdatadir's
//! `documentation/thirdparty/` (where `make install` puts it), `config show help pbx_spool_rs`, `manager
//! show command Spool...` and `manager show event Spool...` answer from it like Asterisk's own modules;
//! without it, the AMI actions keep their plain-text help.

use harness::{Asterisk, Spooler, RUST_SO};

/// The committed file, as `make install` installs it.
const XML: &str = include_str!("../../documentation/pbx_spool_rs-en_US.xml");
const XML_NAME: &str = "pbx_spool_rs-en_US.xml";

fn assert_has(output: &str, command: &str, needles: &[&str]) {
    for needle in needles {
        assert!(output.contains(needle), "`{command}` does not say {needle:?}:\n{output}");
    }
}

fn cli_has(ast: &Asterisk, command: &str, needles: &[&str]) -> String {
    let output = ast.cli(command);
    assert_has(&output, command, needles);
    output
}

#[test]
fn the_installed_xml_answers_config_show_help_at_every_depth() {
    let ast = Asterisk::builder(Spooler::Rust).third_party_doc(XML_NAME, XML).start();
    cli_has(&ast, "config show help", &["pbx_spool_rs"]);
    cli_has(
        &ast,
        "config show help pbx_spool_rs",
        &["Configuration option types for pbx_spool_rs", "general", "campaign", "drop-in replacement for pbx_spool"],
    );
    cli_has(
        &ast,
        "config show help pbx_spool_rs general",
        &["maxrate", "maxcalls", "first_leg", "allowed_owner", "scan_interval", "Most spool calls started per second"],
    );
    cli_has(
        &ast,
        "config show help pbx_spool_rs general maxrate",
        &["maxrate = [Double] (Default: 0)", "fractions allowed", "At most 100000"],
    );
    cli_has(&ast, "config show help pbx_spool_rs general max_file_size", &["(Default: 65536)"]);
    cli_has(&ast, "config show help pbx_spool_rs general first_leg", &["(Default: local)"]);
    cli_has(&ast, "config show help pbx_spool_rs campaign", &["match", "channel", "hours", "timezone"]);
    cli_has(&ast, "config show help pbx_spool_rs campaign hours", &["Calling windows", "(Default: at any time)"]);
}

#[test]
fn the_installed_xml_answers_manager_show_command_and_event() {
    let ast = Asterisk::builder(Spooler::Rust).third_party_doc(XML_NAME, XML).start();
    cli_has(
        &ast,
        "manager show command SpoolStatus",
        &[
            "Info about Manager Command 'SpoolStatus'",
            "[Syntax]",
            "Action: SpoolStatus",
            "pbx_spool_rs",
            "ActionID",
            "WaitingRetry: Files waiting for their next attempt",
        ],
    );
    cli_has(&ast, "manager show command SpoolCancel", &["Action: SpoolCancel", "File:", "Hangup", "in progress now"]);
    cli_has(
        &ast,
        "manager show command SpoolShow",
        &["[List Responses]", "Event: SpoolQueueEntry", "[Final Response]", "Event: SpoolShowComplete"],
    );
    for event in ["SpoolAttempt", "SpoolFinished", "SpoolSuspended", "SpoolResumed", "SpoolQueueEntry"] {
        cli_has(&ast, &format!("manager show event {event}"), &[&format!("Event: {event}")]);
    }
    cli_has(
        &ast,
        "manager show event SpoolFinished",
        &["ReasonText", "Linkedid", "Rejected", "Raised when pbx_spool_rs is done with a call file"],
    );

    // Registered again after an unload, the actions find the documentation again.
    let out = ast.cli(&format!("module unload {RUST_SO}"));
    assert!(!ast.module_loaded(RUST_SO), "still loaded: {out}\n{}", ast.diagnostics());
    let gone = ast.cli("manager show command SpoolStatus");
    assert!(!gone.contains("Info about Manager Command 'SpoolStatus'"), "still registered:\n{gone}");
    ast.cli(&format!("module load {RUST_SO}"));
    assert!(ast.module_running(RUST_SO), "{}", ast.diagnostics());
    cli_has(&ast, "manager show command SpoolStatus", &["Info about Manager Command 'SpoolStatus'", "[Syntax]"]);
    ast.assert_alive();
}

#[test]
fn without_the_xml_the_actions_keep_their_plain_help() {
    let ast = Asterisk::builder(Spooler::Rust).start();
    let output = cli_has(
        &ast,
        "manager show command SpoolStatus",
        &["Action: SpoolStatus", "Synopsis: The outgoing spool's figures", "CampaignN"],
    );
    assert!(!output.contains("[Syntax]"), "no XML installed, yet structured help:\n{output}");
    cli_has(&ast, "manager show event SpoolFinished", &["Could not find event 'SpoolFinished'"]);
    cli_has(&ast, "config show help pbx_spool_rs", &["pbx_spool_rs not found or has no config XML documentation"]);
}
