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
/// after the file's name says which campaign each file is in (`-`: none); then a Tag column when a file
/// listed has a tag.
pub fn queue(rows: &[QueueRow], now: Millis, campaigns: bool) -> String {
    // A Tag column (`-`: none) when any listed file has a tag (its SPOOL_TAG).
    let tags = rows.iter().any(|row| row.call.as_ref().is_some_and(|call| !crate::tag::of(call).is_empty()));
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
            let tag = tags.then(|| {
                let tag = row.call.as_ref().map(crate::tag::of).unwrap_or_default();
                if tag.is_empty() {
                    "-".to_string()
                } else {
                    tag
                }
            });
            std::iter::once(row.name.clone())
                .chain(campaign)
                .chain(tag)
                .chain([channel, destination, attempt, due])
                .collect()
        })
        .collect();
    let header: Vec<String> = std::iter::once("File")
        .chain(campaigns.then_some("Campaign"))
        .chain(tags.then_some("Tag"))
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
    match crate::tag::read(call) {
        crate::tag::TagRead::Tag(tag) => {
            let _ = writeln!(out, "Tag:         {tag}");
        }
        crate::tag::TagRead::Unusable(why) => {
            let _ = writeln!(out, "Tag:         none: its {} is not used ({why})", crate::tag::TAG_VARIABLE);
        }
        crate::tag::TagRead::Absent => {}
    }
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

/// The outcomes recorded in a call file (see [`crate::outcome_names::recorded_in`]), one line each, for
/// `spool show file` and `spool check`; empty when it holds none.
pub fn outcomes(recorded: &[(String, i32, String)]) -> String {
    let mut out = String::new();
    for (_, _, written) in recorded {
        let _ = writeln!(out, "Outcome:     {written}");
    }
    out
}

/// `spool show campaign <name>`: the campaign's files now (`figures`), its counts since load, and since
/// the last `spool reset stats` (with when it was), if one was made.
pub fn campaign(
    figures: &crate::scheduler::CampaignFigures,
    since_load: &crate::metrics::CampaignCounts,
    since_reset: Option<(&crate::metrics::CampaignCounts, Millis)>,
    now: Millis,
) -> String {
    let mut out = String::new();
    let state = if figures.paused { "PAUSED (spool resume)" } else { "active" };
    let _ = writeln!(out, "Campaign {} ({state})", figures.name);
    let _ = writeln!(out, "  {:<38} {}", "Settings", figures.settings);
    let next_open = match figures.next_open {
        Some(open) => format!("{} ({})", crate::text::utc_time(open), due_in(open, now)),
        None => "open now (or no calling hours)".into(),
    };
    let _ = writeln!(out, "  {:<38} {next_open}", "Calling window");
    let waiting = figures.queued + figures.waiting_window + figures.waiting_paused + figures.held;
    for (label, value) in [
        ("Calls in progress", figures.in_progress),
        ("Waiting (all below)", waiting),
        ("  queued for their time", figures.queued),
        ("  due, outside the calling window", figures.waiting_window),
        ("  due, campaign paused", figures.waiting_paused),
        ("  due, held by limits", figures.held),
    ] {
        let _ = writeln!(out, "  {label:<38} {value}");
    }
    let mut section = |title: String, counts: &crate::metrics::CampaignCounts| {
        let _ = writeln!(out, "{title}");
        let rate = counts.answer_rate().map_or_else(|| "-".to_string(), |rate| format!("{rate:.1}%"));
        let _ = writeln!(out, "  {:<38} {}", "Attempts", counts.attempts);
        let _ = writeln!(out, "  {:<38} {}", "Answered", counts.answered());
        let _ = writeln!(out, "  {:<38} {rate}", "Answer rate (answered per attempt)");
        let _ = writeln!(out, "  {:<38} {}", "Refused before an attempt", counts.refusals);
        for (outcome, value) in &counts.outcomes {
            let _ = writeln!(out, "  {:<38} {value}", format!("Finished: {outcome}"));
        }
    };
    section("Since load".into(), since_load);
    match since_reset {
        Some((counts, at)) => section(format!("Since spool reset stats ({})", crate::text::utc_time(at)), counts),
        None => section("Since spool reset stats (never reset: since load)".into(), since_load),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_recorded_in_a_file_are_listed_one_a_line() {
        let text =
            b"Channel: Local/1@c\n\nEndRetry: 1 1 (5)\n# pbx_spool_rs: Outcome: busy (attempt 1, reason 5: Busy)\n\
                     \nEndRetry: 1 2 (9)\n# pbx_spool_rs: Outcome: voicemail (attempt 2, reason 4: Answered)\n";
        let listed = outcomes(&crate::outcome_names::recorded_in(text));
        assert_eq!(
            listed,
            "Outcome:     busy (attempt 1, reason 5: Busy)\nOutcome:     voicemail (attempt 2, reason 4: Answered)\n"
        );
        assert_eq!(outcomes(&[]), "");
    }

    #[test]
    fn a_campaign_shows_its_files_window_rate_and_both_periods() {
        let figures = crate::scheduler::CampaignFigures {
            name: "sales".into(),
            settings: "match sales-*".into(),
            in_progress: 1,
            queued: 4,
            held: 2,
            next_open: Some(7_200_000),
            ..Default::default()
        };
        let mut since_load = crate::metrics::CampaignCounts { attempts: 4, refusals: 1, ..Default::default() };
        since_load.outcomes.insert("completed".into(), 3);
        since_load.outcomes.insert("expired".into(), 1);
        let text = campaign(&figures, &since_load, None, 0);
        let row = |label: &str| {
            let line =
                text.lines().find(|line| line.trim_start().starts_with(label)).unwrap_or_else(|| panic!("{text}"));
            line[2 + 38..].trim().to_string()
        };
        assert!(text.starts_with("Campaign sales (active)\n"), "{text}");
        assert_eq!(row("Calling window"), "1970-01-01 02:00:00 UTC (in 2h 00m)");
        assert_eq!((row("Calls in progress"), row("Waiting (all below)")), ("1".into(), "6".into()));
        assert_eq!(row("Answer rate"), "75.0%");
        assert_eq!(row("Finished: expired"), "1");
        assert!(text.contains("Since spool reset stats (never reset: since load)\n"), "{text}");
        let since_reset = crate::metrics::CampaignCounts::default();
        let text = campaign(&figures, &since_load, Some((&since_reset, 1_000)), 0);
        let reset = text.split("Since spool reset stats (1970-01-01 00:00:01 UTC)\n").nth(1).expect(&text);
        assert!(reset.contains("Attempts") && reset.contains(" -\n"), "{reset}");
    }

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
    fn the_tag_gets_a_column_that_keeps_alignment_and_a_line_in_show_file() {
        let call = |tag: &str| {
            let text = format!("Channel: Local/1@c\nContext: x\nExtension: s\n{tag}");
            crate::callfile::parse(text.as_bytes()).call
        };
        let row = |name: &str, tag: &str| QueueRow {
            name: name.into(),
            due: 10_000,
            call: Some(call(tag)),
            note: None,
            campaign: Some("sales".into()),
        };
        let rows = [row("a.call", ""), row("b.call", "Set: SPOOL_TAG=crm-000042-long-tag\n"), row("c.call", "")];
        let text = queue(&rows, 0, true);
        let lines: Vec<&str> = text.lines().collect();
        let column = |line: &str, cell: &str| line.find(cell).unwrap_or_else(|| panic!("{cell} not in {line}"));
        assert_eq!(column(lines[0], "Tag"), column(lines[2], "crm-000042-long-tag"), "{text}");
        assert_eq!(lines[1].split_whitespace().nth(2), Some("-"), "{text}");
        for line in &lines[1..4] {
            assert_eq!(column(lines[0], "Channel"), column(line, "Local/1@c"), "{text}");
        }
        assert!(!queue(&rows[..1], 0, true).contains("Tag"), "no tag listed, no column");

        let shown = call_file("/s/b.call", &call("Set: __SPOOL_TAG=crm-7\n"), &[], &[], &Verdict::Placed);
        assert!(shown.contains("\nTag:         crm-7\n"), "{shown}");
        let shown = call_file("/s/b.call", &call("Set: SPOOL_TAG=caf\u{e9}\n"), &[], &[], &Verdict::Placed);
        assert!(shown.contains("\nTag:         none: its SPOOL_TAG is not used (it holds the byte 0xc3"), "{shown}");
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
