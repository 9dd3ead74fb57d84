//! Text for the admin's CLI commands (`spool show status|queue|file`, `spool check`): pure rendering of
//! what the scheduler and the parser report. No FFI, no I/O.

use std::fmt::Write;

use crate::bookkeeping::Millis;
use crate::callfile::{CallFile, Diagnostic};
use crate::scheduler::Snapshot;
use crate::text::yes_no;

/// Totals since load, as plain numbers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    pub attempts: u64,
    pub completed: u64,
    pub expired: u64,
    pub failed: u64,
    pub rejected: u64,
    /// Due files another server had claimed first (shared spool).
    pub claims_lost: u64,
}

/// `spool show status`: the scheduler's counts, the totals, the last read of pbx_spool_rs.conf
/// (`config_file` rows, none when unknown) and the settings in force.
pub fn status(
    snapshot: &Snapshot,
    totals: Totals,
    config_file: &[(String, String)],
    settings: &[(String, String)],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Outgoing spool (pbx_spool_rs)");
    let rows = [
        ("Queued (waiting for their time)", snapshot.queued),
        ("Waiting for a retry", snapshot.waiting_retry),
        ("Due, held back by maxcalls/maxrate", snapshot.held),
        ("Calls in progress", snapshot.in_progress),
        ("Being written", snapshot.being_written),
        ("Left for the admin", snapshot.parked),
        ("Finished, kept (AlwaysDelete: no)", snapshot.kept),
        // After the rows scripts already read by position.
        ("Due, outside their calling window", snapshot.waiting_window),
        ("Due, campaign paused", snapshot.waiting_paused),
        ("Due, dispatch suspended", snapshot.due_suspended),
        ("Worker threads", snapshot.workers),
    ];
    for (label, value) in rows {
        let _ = writeln!(out, "  {label:<38} {value}");
    }
    if let Some(reason) = &snapshot.suspended {
        let _ = writeln!(
            out,
            "  DISPATCH SUSPENDED: {reason}; calls in progress finish, pbx_spool.so dials the rest (fix: \
             noload => pbx_spool.so in modules.conf, restart Asterisk)"
        );
    }
    if snapshot.all_paused {
        let _ = writeln!(out, "  ALL PAUSED (spool resume all)");
    }
    if !snapshot.campaigns.is_empty() {
        let _ = writeln!(out, "Campaigns");
        for c in &snapshot.campaigns {
            let state = if c.paused { "PAUSED" } else { "active" };
            let _ = writeln!(
                out,
                "  {:<16} {state:<7} queued {}, outside window {}, paused {}, held {}, in progress {}",
                c.name, c.queued, c.waiting_window, c.waiting_paused, c.held, c.in_progress
            );
            let _ = writeln!(out, "  {:<16} {}", "", c.settings);
        }
    }
    let _ = writeln!(out, "Since load");
    let rows = [
        ("Attempts", totals.attempts),
        ("Completed", totals.completed),
        ("Expired", totals.expired),
        ("Failed", totals.failed),
        ("Rejected by policy", totals.rejected),
    ];
    for (label, value) in rows {
        let _ = writeln!(out, "  {label:<38} {value}");
    }
    let shared = settings.iter().any(|(key, value)| key == "shared" && value == "yes");
    if shared || snapshot.last_scan.is_some() {
        let _ = writeln!(out, "Shared spool and discovery");
        if shared {
            let _ = writeln!(out, "  {:<38} {}", "Claims lost to other servers", totals.claims_lost);
        }
        if let Some(nodes) = &snapshot.nodes {
            let live = nodes.live.join(", ");
            let _ = writeln!(out, "  {:<38} {} ({live}; this node: {})", "Live nodes", nodes.live.len(), nodes.me);
            let _ = writeln!(
                out,
                "  {:<38} 1/{} of due files, by name (rendezvous hashing)",
                "This node's share",
                nodes.live.len().max(1)
            );
            let _ = writeln!(out, "  {:<38} {}", "Due files taken as their owner", nodes.taken_as_owner);
            let _ = writeln!(
                out,
                "  {:<38} {} (looked at after the owner's grace: {})",
                "Due files left to their owner", nodes.left_to_owner, nodes.taken_after_grace
            );
        }
        let last_scan = snapshot.last_scan.map_or_else(
            || "none yet".to_string(),
            |scan| {
                let unchanged = if scan.unchanged { ", directory unchanged: not read" } else { "" };
                format!(
                    "{:.1} ms, {} names ({} new, {} gone){unchanged}",
                    scan.duration.as_secs_f64() * 1000.0,
                    scan.names,
                    scan.new,
                    scan.vanished
                )
            },
        );
        let _ = writeln!(out, "  {:<38} {last_scan}", "Last scan");
    }
    if !config_file.is_empty() {
        let _ = writeln!(out, "Configuration file");
        for (label, value) in config_file {
            let _ = writeln!(out, "  {label:<38} {value}");
        }
    }
    let _ = writeln!(out, "Configuration");
    for (key, value) in settings {
        let _ = writeln!(out, "  {key:<38} {value}");
    }
    out
}

/// One row of `spool show queue`.
pub struct QueueRow {
    pub name: String,
    pub due: Millis,
    /// The parsed file, when it could be read.
    pub call: Option<CallFile>,
    /// Why it waits, when not for its own time (a campaign's window or pause).
    pub note: Option<String>,
    /// The campaign it is in, if any.
    pub campaign: Option<String>,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn destination(call: &CallFile) -> String {
    if call.is_application() {
        format!("{}({})", text(&call.application), text(&call.data))
    } else {
        format!("{}@{}:{}", text(&call.extension), text(&call.context), call.priority)
    }
}

/// "in 1h 02m", "in 5s", "now".
pub fn due_in(due: Millis, now: Millis) -> String {
    let secs = (due - now).div_euclid(1000);
    if secs <= 0 {
        return "now".into();
    }
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("in {s}s"),
        (0, 0, _) => format!("in {m}m {s:02}s"),
        (0, _, _) => format!("in {h}h {m:02}m"),
        _ => format!("in {d}d {h:02}h"),
    }
}

/// `spool show queue`: one row per file, each column as wide as its widest cell, so long file names or
/// channels never push the columns out of line. With `campaigns` (any configured), a Campaign column
/// after the file's name says which campaign each file is in (`-`: none).
pub fn queue(rows: &[QueueRow], now: Millis, campaigns: bool) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let (channel, destination, attempt) = match &row.call {
                Some(call) => (
                    text(&call.channel()),
                    destination(call),
                    format!("{} of {}", call.retries + 1, call.max_retries + 1),
                ),
                None => ("?".into(), "(unreadable)".into(), "-".into()),
            };
            let due = match &row.note {
                Some(note) if note.starts_with("paused") => note.clone(),
                Some(note) => format!("{} ({note})", due_in(row.due, now)),
                None => due_in(row.due, now),
            };
            let campaign = campaigns.then(|| row.campaign.clone().unwrap_or_else(|| "-".into()));
            std::iter::once(row.name.clone()).chain(campaign).chain([channel, destination, attempt, due]).collect()
        })
        .collect();
    let header: Vec<String> = std::iter::once("File")
        .chain(campaigns.then_some("Campaign"))
        .chain(["Channel", "Destination", "Attempt", "Due"])
        .map(str::to_owned)
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|cell| cell.chars().count()).collect();
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&cells) {
        let line: Vec<String> = row.iter().zip(&widths).map(|(cell, &width)| format!("{cell:<width$}")).collect();
        let _ = writeln!(out, "{}", line.join(" ").trim_end());
    }
    let _ = writeln!(out, "{} file(s) listed", rows.len());
    out
}

/// What the spool would do with a call file, as `spool show file` and `spool check` say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Placed,
    /// Refused by the rules (deleted, or archived as Failed): the log lines.
    Refused(String),
    /// The user Asterisk runs as cannot handle it (read, write, remove): why, and the fix.
    LeftForAdmin(String),
}

/// The parsed call file, its problems, notes on how it would end (`notes`) and the verdict, for
/// `spool show file` and `spool check`.
pub fn call_file(
    path: &str,
    call: &CallFile,
    diagnostics: &[Diagnostic],
    notes: &[String],
    verdict: &Verdict,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "File:        {path}");
    let _ = writeln!(out, "Channel:     {}", text(&call.channel()));
    let _ = writeln!(out, "Destination: {}", destination(call));
    if !call.cid_name.is_empty() || !call.cid_num.is_empty() {
        let _ = writeln!(out, "CallerID:    \"{}\" <{}>", text(&call.cid_name), text(&call.cid_num));
    }
    if !call.account.is_empty() {
        let _ = writeln!(out, "Account:     {}", text(&call.account));
    }
    let _ = writeln!(
        out,
        "Attempts:    {} made, up to {} (MaxRetries {}), RetryTime {}s, WaitTime {}s",
        call.retries,
        call.max_retries + 1,
        call.max_retries,
        call.retry_time,
        call.wait_time
    );
    let _ = writeln!(out, "Archive:     {}   AlwaysDelete: {}", yes_no(call.archive), yes_no(call.always_delete));
    for (name, value) in &call.variables {
        let _ = writeln!(out, "Set:         {}={}", text(name), text(value));
    }
    if diagnostics.is_empty() {
        let _ = writeln!(out, "Problems:    none");
    } else {
        let _ = writeln!(out, "Problems:");
        for d in diagnostics {
            let _ = writeln!(out, "  line {}: {}", d.line, d.message(path));
        }
    }
    for note in notes {
        let _ = writeln!(out, "Note:        {note}");
    }
    match verdict {
        Verdict::Placed => {
            let _ = writeln!(out, "Verdict:     would be placed");
        }
        Verdict::Refused(why) => {
            let _ = writeln!(out, "Verdict:     REFUSED: {why}");
        }
        Verdict::LeftForAdmin(why) => {
            let _ = writeln!(out, "Verdict:     LEFT FOR THE ADMIN, not dialled: {why}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_in_is_human() {
        assert_eq!(due_in(0, 1000), "now");
        assert_eq!(due_in(5_000, 0), "in 5s");
        assert_eq!(due_in(65_000, 0), "in 1m 05s");
        assert_eq!(due_in(3_720_000, 0), "in 1h 02m");
        assert_eq!(due_in(90_000_000, 0), "in 1d 01h");
    }

    #[test]
    fn queue_lists_attempt_x_of_y() {
        let call = crate::callfile::parse(
            b"Channel: Local/1@c\nContext: x\nExtension: s\nMaxRetries: 2\n\nEndRetry: 1 1 (5)\n",
        )
        .call;
        let rows = [QueueRow { name: "a.call".into(), due: 10_000, call: Some(call), note: None, campaign: None }];
        let text = queue(&rows, 0, false);
        assert!(text.contains("a.call"), "{text}");
        assert!(text.contains("Local/1@c"), "{text}");
        assert!(text.contains("s@x:1"), "{text}");
        assert!(text.contains("2 of 3"), "{text}");
        assert!(text.contains("in 10s"), "{text}");
    }

    #[test]
    fn queue_columns_stay_aligned_with_long_names() {
        let call = |channel: &str| {
            let text = format!("Channel: {channel}\nContext: x\nExtension: s\n");
            crate::callfile::parse(text.as_bytes()).call
        };
        let long = "reminder-2026-12-03-customer-0049301234567-attempt.call";
        let rows = [
            QueueRow { name: "a.call".into(), due: 10_000, call: Some(call("Local/1@c")), note: None, campaign: None },
            QueueRow {
                name: long.into(),
                due: 20_000,
                call: Some(call("Local/0049301234567@outbound")),
                note: None,
                campaign: Some("reminders".into()),
            },
        ];
        for campaigns in [false, true] {
            let text = queue(&rows, 0, campaigns);
            let lines: Vec<&str> = text.lines().collect();
            // Every column starts at the same place in the header and in both rows.
            let column = |line: &str, cell: &str| line.find(cell).unwrap_or_else(|| panic!("{cell} not in {line}"));
            assert_eq!(column(lines[0], "Channel"), column(lines[1], "Local/1@c"), "{text}");
            assert_eq!(column(lines[0], "Channel"), column(lines[2], "Local/0049301234567@outbound"), "{text}");
            assert_eq!(column(lines[0], "Due"), column(lines[1], "in 10s"), "{text}");
            assert_eq!(column(lines[0], "Due"), column(lines[2], "in 20s"), "{text}");
            if campaigns {
                assert_eq!(column(lines[0], "Campaign"), column(lines[2], "reminders"), "{text}");
                assert_eq!(lines[1].split_whitespace().nth(1), Some("-"), "{text}");
            } else {
                assert!(!text.contains("Campaign") && !text.contains("reminders"), "{text}");
            }
        }
    }

    #[test]
    fn call_file_shows_problems_with_lines_and_verdict() {
        let parsed = crate::callfile::parse(b"Channel: Local/1@c\nBogus\nContext: x\nExtension: s\n");
        let text =
            call_file("/s/x.call", &parsed.call, &parsed.diagnostics, &[], &Verdict::Refused("rule first_leg".into()));
        assert!(text.contains("line 2: Syntax error at line 2 of /s/x.call"), "{text}");
        assert!(text.contains("REFUSED: rule first_leg"), "{text}");
        let why = "cannot write /s/x.call: Permission denied. Fix: chown asterisk:asterisk /s/x.call";
        let notes = ["it would be deleted, not archived".to_string()];
        let text = call_file("/s/x.call", &parsed.call, &[], &notes, &Verdict::LeftForAdmin(why.into()));
        assert!(
            text.ends_with(&format!(
                "Note:        it would be deleted, not archived\nVerdict:     LEFT FOR THE ADMIN, not dialled: {why}\n"
            )),
            "{text}"
        );
    }
}
