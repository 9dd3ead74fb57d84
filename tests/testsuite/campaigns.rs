//! Campaigns (issue 13) against the real Asterisk: a file outside its campaign's calling window (in a
//! zone other than the system's) waits untouched and is dialled once the window admits it; a paused
//! campaign dials nothing across `module reload` and is dialled on `spool resume`. pbx_spool has no
//! campaigns, so these run against pbx_spool_rs alone.

use std::fs;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::harness::{Asterisk, Spooler};
use crate::security::{placed, ABSENCE, SOON};

const DIALPLAN: &str = r#"
[answer]
exten => s,1,Answer()
 same => n,Wait(20)

[report]
exten => s,1,UserEvent(Placed,Tag: ${TAG})
 same => n,Hangup()
"#;

fn call(tag: &str) -> String {
    format!("Channel: Local/s@answer\nContext: report\nExtension: s\nSet: TAG={tag}\n")
}

/// pbx_spool_rs.conf with one campaign `sales` for `sales-*` and `lines` added to it.
fn conf(lines: &str) -> String {
    format!("[general]\n\n[sales]\nmatch = sales-*\n{lines}")
}

/// A window that is closed now in Asia/Tokyo (UTC+9, no DST): one hour, starting two hours from now.
fn closed_window() -> String {
    let minutes = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() / 60;
    let tokyo = (minutes + 9 * 60) % 1440;
    let (start, end) = ((tokyo + 120) % 1440, (tokyo + 180) % 1440);
    format!("hours = {:02}:{:02}-{:02}:{:02}\ntimezone = Asia/Tokyo\n", start / 60, start % 60, end / 60, end % 60)
}

/// The file has not been attempted: no StartRetry line in it.
fn untouched(ast: &Asterisk, name: &str) -> bool {
    fs::read_to_string(ast.outgoing_dir().join(name)).is_ok_and(|text| !text.contains("StartRetry"))
}

#[test]
fn a_file_outside_its_window_waits_and_is_dialled_when_the_window_admits_it() {
    let ast = Asterisk::builder(Spooler::Rust)
        .extensions(DIALPLAN)
        .file("pbx_spool_rs.conf", &conf(&closed_window()))
        .start();
    ast.drop_call_file("sales-1.call", &call("sales1"));
    ast.drop_call_file("other.call", &call("other"));
    ast.expect_event("the call outside any campaign", SOON, placed("other"));
    ast.expect_until("sales-1.call to wait for its window", SOON, || {
        ast.cli("spool show file sales-1.call").contains("waiting for its campaign's calling window")
    });
    std::thread::sleep(ABSENCE);
    assert!(untouched(&ast, "sales-1.call"), "attempted outside its window:\n{}", ast.diagnostics());
    let status = ast.cli("spool show status");
    let row = status.lines().find(|line| line.trim_start().starts_with("Due, outside their calling window"));
    assert_eq!(row.and_then(|line| line.split_whitespace().last()), Some("1"), "{status}");
    assert!(status.contains("outside window 1"), "{status}");
    // Opened by the admin: all day in that zone.
    ast.write_etc("pbx_spool_rs.conf", &conf("hours = 00:00-24:00\ntimezone = Asia/Tokyo\n"));
    ast.cli("module reload pbx_spool_rs.so");
    ast.expect_event("the campaign's call once its window is open", SOON, placed("sales1"));
}

#[test]
fn a_paused_campaign_dials_nothing_across_a_reload_and_goes_on_when_resumed() {
    let ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).file("pbx_spool_rs.conf", &conf("")).start();
    assert_eq!(ast.cli("spool pause sales").trim(), "Campaign sales paused");
    assert!(ast.cli("spool pause nosuch").contains("No campaign named 'nosuch'"));
    ast.drop_call_file("sales-1.call", &call("sales1"));
    ast.drop_call_file("other.call", &call("other"));
    ast.expect_event("the call outside any campaign", SOON, placed("other"));
    ast.expect_until("sales-1.call to wait as paused", SOON, || {
        ast.cli("spool show file sales-1.call").contains("campaign sales is paused")
    });
    ast.cli("module reload pbx_spool_rs.so");
    ast.expect_until("the pause to outlive the reload", SOON, || ast.cli("spool show status").contains("PAUSED"));
    std::thread::sleep(ABSENCE);
    assert!(untouched(&ast, "sales-1.call"), "dialled while paused:\n{}", ast.diagnostics());
    assert!(fs::read_to_string(ast.spool_dir().join("pbx_spool_rs.paused")).unwrap().contains("sales"));
    assert_eq!(ast.cli("spool resume sales").trim(), "Campaign sales resumed");
    ast.expect_event("the campaign's call once resumed", SOON, placed("sales1"));
}
