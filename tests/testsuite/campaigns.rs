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

[busy]
exten => s,1,Busy()
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

/// Seconds since the epoch now.
fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// `hours =` and `timezone =` lines for a window in Asia/Tokyo (UTC+9, no DST) from `from` to `to`
/// seconds relative to now, to the second.
fn tokyo_window(from: i64, to: i64) -> String {
    let clock = |offset: i64| {
        let local = (now_s() as i64 + 9 * 3600 + offset).rem_euclid(86_400);
        format!("{:02}:{:02}:{:02}", local / 3600, local / 60 % 60, local % 60)
    };
    format!("hours = {}-{}\ntimezone = Asia/Tokyo\n", clock(from), clock(to))
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

/// A window opening four seconds from now: the file due now waits, then is dialled when it opens,
/// not before.
#[test]
fn a_window_opening_in_a_few_seconds_dials_the_file_when_it_opens() {
    let ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).file("pbx_spool_rs.conf", &conf("")).start();
    // Written once Asterisk is up, so a slow boot cannot eat the seconds before the window.
    let opens_at = now_s() + 4;
    ast.write_etc("pbx_spool_rs.conf", &conf(&tokyo_window(4, 3600)));
    ast.cli("module reload pbx_spool_rs.so");
    ast.drop_call_file("sales-1.call", &call("sales1"));
    ast.expect_until("sales-1.call to wait for its window", SOON, || {
        ast.cli("spool show file sales-1.call").contains("waiting for its campaign's calling window")
    });
    ast.expect_event("the call once the window opened", SOON, placed("sales1"));
    assert!(now_s() + 1 >= opens_at, "dialled before its window opened ({} < {opens_at})", now_s());
}

/// A window closing six seconds from now: the first attempt is made, its retry (due ten seconds
/// later) falls outside the window and waits for the next one instead of being dialled.
#[test]
fn a_retry_due_after_the_window_closes_waits_for_the_next_window() {
    let ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).file("pbx_spool_rs.conf", &conf("")).start();
    ast.write_etc("pbx_spool_rs.conf", &conf(&tokyo_window(-60, 6)));
    ast.cli("module reload pbx_spool_rs.so");
    ast.drop_call_file(
        "sales-busy.call",
        "Channel: Local/s@busy\nContext: report\nExtension: s\nMaxRetries: 2\nRetryTime: 10\n",
    );
    ast.expect_until("the first attempt, inside the window", SOON, || {
        fs::read_to_string(ast.outgoing_dir().join("sales-busy.call")).is_ok_and(|t| t.contains("EndRetry:"))
    });
    ast.expect_until("the retry to wait for the next window", SOON * 2, || {
        ast.cli("spool show file sales-busy.call").contains("waiting for its campaign's calling window")
    });
    let text = fs::read_to_string(ast.outgoing_dir().join("sales-busy.call")).unwrap();
    assert_eq!(text.matches("StartRetry:").count(), 1, "a retry was dialled outside the window:\n{text}");
    assert!(ast.cli("spool show status").contains("outside window 1"));
}
