//! What the AMI actions (SpoolShow, SpoolStatus, SpoolPause, SpoolResume, SpoolCancel) answer, decided
//! over the running spooler ([`Spooler`], as the CLI commands are), so every answer is testable without
//! Asterisk. The module only reads the headers and sends the [`AmiAnswer`]. No FFI, no locks, and no
//! time-zone arithmetic here: this runs on Asterisk's manager threads.

use std::path::Path;

use crate::cli::{Running, Spooler};
use crate::events;
use crate::report::Totals;
use crate::scheduler::{CancelTarget, QueuedFile, SnapshotQuery, Via};
use crate::text::yes_no;

/// Which AMI action was invoked: one per entry of [`crate::commands::AMI_ACTIONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmiAction {
    Show,
    Status,
    Pause,
    Resume,
    Cancel,
    /// `SpoolSubmit`, answered by [`crate::ami_submit::answer`] (it reads every header of the request).
    Submit,
    /// `SpoolCampaign`: one campaign's figures and statistics.
    Campaign,
}

/// Most files SpoolShow lists in one answer.
pub const SHOW_LIMIT: usize = 10_000;

/// An action's answer, as AMI sends it.
#[derive(Debug, Clone, PartialEq)]
pub enum AmiAnswer {
    /// `Response: Success`, a message and fields.
    Ack { message: String, fields: Vec<(String, String)> },
    /// `Response: Error` and why.
    Error(String),
    /// `Response: Success` with `EventList: start`, one event per item, then `complete_event`.
    List { message: String, event: String, items: Vec<Vec<(String, String)>>, complete_event: String },
}

const NOT_RUNNING: &str = "pbx_spool_rs is not running";
const NO_ANSWER: &str = "The spool scheduler did not answer (stopping?)";

/// SpoolCampaign's fields (declared in `commands::CAMPAIGN_FIELDS`).
fn campaign_fields(view: &crate::cli::CampaignView) -> Vec<(String, String)> {
    let figures = &view.figures;
    let counts = |counts: &crate::metrics::CampaignCounts| {
        let rate = counts.answer_rate().map(|rate| format!("{rate:.1}")).unwrap_or_default();
        let outcomes: Vec<String> = counts.outcomes.iter().map(|(o, n)| format!("{o}={n}")).collect();
        [
            counts.attempts.to_string(),
            counts.answered().to_string(),
            rate,
            counts.refusals.to_string(),
            outcomes.join(","),
        ]
    };
    let waiting = figures.queued + figures.waiting_window + figures.waiting_paused + figures.held;
    let mut fields: Vec<(String, String)> = [
        ("Campaign", figures.name.clone()),
        ("Paused", yes_no(figures.paused).to_string()),
        ("InProgress", figures.in_progress.to_string()),
        ("Waiting", waiting.to_string()),
        ("Queued", figures.queued.to_string()),
        ("WaitingWindow", figures.waiting_window.to_string()),
        ("WaitingPaused", figures.waiting_paused.to_string()),
        ("Held", figures.held.to_string()),
        ("NextOpen", figures.next_open.map(crate::text::utc_time).unwrap_or_default()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_string(), value))
    .collect();
    let names = ["Attempts", "Answered", "AnswerRate", "Refused", "Outcomes"];
    for (name, value) in names.iter().zip(counts(&view.since_load)) {
        fields.push((name.to_string(), value));
    }
    let since_reset = view.since_reset.as_ref();
    fields.push(("ResetAt".into(), since_reset.map(|(_, at)| crate::text::utc_time(*at)).unwrap_or_default()));
    let reset_counts = counts(since_reset.map_or(&view.since_load, |(counts, _)| counts));
    for (name, value) in names.iter().zip(reset_counts) {
        fields.push((format!("{name}SinceReset"), value));
    }
    fields
}

/// The answer to `action` with the request's `Campaign`, `File` and `Hangup` headers ("" when absent),
/// over the running spooler and its outgoing directory (SpoolShow reads each file it lists there).
pub fn answer<S: Spooler + ?Sized>(
    action: AmiAction,
    campaign_header: &str,
    file: &str,
    hangup: &str,
    running: Option<Running<'_, S>>,
) -> AmiAnswer {
    let Some(Running { spooler, outgoing }) = running else { return AmiAnswer::Error(NOT_RUNNING.into()) };
    let one_line = |text: String| text.trim_end().replace('\n', "; ");
    match action {
        AmiAction::Pause | AmiAction::Resume => {
            if campaign_header.is_empty() {
                return AmiAnswer::Error("Campaign: is required (a campaign's name, or all)".into());
            }
            match spooler.set_paused(campaign_header, action == AmiAction::Pause, Via::Ami) {
                Some(Ok(text)) => AmiAnswer::Ack { message: one_line(text), fields: Vec::new() },
                Some(Err(text)) => AmiAnswer::Error(one_line(text)),
                None => AmiAnswer::Error(NO_ANSWER.into()),
            }
        }
        AmiAction::Cancel => {
            let target = match (file.is_empty(), campaign_header.is_empty()) {
                (false, true) if !file.contains('/') => CancelTarget::File(file.to_string()),
                (true, false) => CancelTarget::Campaign(campaign_header.to_string()),
                (false, false) => return AmiAnswer::Error("Give File: or Campaign:, not both".into()),
                _ => {
                    return AmiAnswer::Error(
                        "File: (a file's name in the outgoing directory) or Campaign: is required".into(),
                    )
                }
            };
            let hangup =
                ["yes", "true", "y", "t", "1", "on"].iter().any(|word| hangup.trim().eq_ignore_ascii_case(word));
            match spooler.cancel(target, hangup, Via::Ami) {
                Some(Ok(text)) => AmiAnswer::Ack { message: one_line(text), fields: Vec::new() },
                Some(Err(text)) => AmiAnswer::Error(one_line(text)),
                None => AmiAnswer::Error(NO_ANSWER.into()),
            }
        }
        AmiAction::Campaign => {
            if campaign_header.is_empty() {
                return AmiAnswer::Error("Campaign: is required (a campaign's name)".into());
            }
            match crate::cli::campaign_view(spooler, campaign_header) {
                Ok(view) => {
                    AmiAnswer::Ack { message: "Campaign statistics follow".into(), fields: campaign_fields(&view) }
                }
                Err(why) => AmiAnswer::Error(why),
            }
        }
        AmiAction::Status => {
            let Some(snapshot) = spooler.snapshot(SnapshotQuery { limit: 0, file: None }) else {
                return AmiAnswer::Error(NO_ANSWER.into());
            };
            let Totals { attempts, completed, expired, failed, rejected, claims_lost } = spooler.totals();
            let mut fields: Vec<(String, String)> = [
                ("Queued", snapshot.queued),
                ("WaitingRetry", snapshot.waiting_retry),
                ("Held", snapshot.held),
                ("WaitingWindow", snapshot.waiting_window),
                ("WaitingPaused", snapshot.waiting_paused),
                ("DueSuspended", snapshot.due_suspended),
                ("InProgress", snapshot.in_progress),
                ("BeingWritten", snapshot.being_written),
                ("LeftForAdmin", snapshot.parked),
                ("Kept", snapshot.kept),
                ("Workers", snapshot.workers),
            ]
            .into_iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
            for (key, value) in [
                ("Attempts", attempts),
                ("Completed", completed),
                ("Expired", expired),
                ("Failed", failed),
                ("Rejected", rejected),
                ("ClaimsLost", claims_lost),
            ] {
                fields.push((key.to_string(), value.to_string()));
            }
            fields.push(("AllPaused".into(), yes_no(snapshot.all_paused).to_string()));
            fields.push(("DispatchSuspended".into(), yes_no(snapshot.suspended.is_some()).to_string()));
            if let Some(reason) = &snapshot.suspended {
                fields.push(("SuspendedReason".into(), reason.clone()));
            }
            fields.push(("Campaigns".into(), snapshot.campaigns.len().to_string()));
            for (i, c) in snapshot.campaigns.iter().enumerate() {
                let state = if c.paused { "paused" } else { "active" };
                fields.push((
                    format!("Campaign{i}"),
                    format!(
                        "{} {state} queued={} window={} paused={} held={} inprogress={}",
                        c.name, c.queued, c.waiting_window, c.waiting_paused, c.held, c.in_progress
                    ),
                ));
            }
            AmiAnswer::Ack { message: "Spool status follows".into(), fields }
        }
        AmiAction::Submit => AmiAnswer::Error("SpoolSubmit needs every header of the request".into()),
        AmiAction::Show => {
            let Some(snapshot) = spooler.snapshot(SnapshotQuery { limit: SHOW_LIMIT, file: None }) else {
                return AmiAnswer::Error(NO_ANSWER.into());
            };
            let campaigns = spooler.settings().campaigns;
            if !campaign_header.is_empty() && !campaigns.iter().any(|c| c.name.eq_ignore_ascii_case(campaign_header)) {
                return AmiAnswer::Error(format!("No campaign named '{campaign_header}'"));
            }
            let max_file_size = spooler.settings().rules.max_file_size;
            let items = snapshot
                .next
                .into_iter()
                .chain(snapshot.others)
                .filter(|listed| {
                    // The scheduler's answer: by `match`, or by `match` and the file's `Channel:` line.
                    campaign_header.is_empty()
                        || listed.campaign.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(campaign_header))
                })
                .map(|listed| queue_entry(listed, outgoing, max_file_size))
                .collect();
            AmiAnswer::List {
                message: "Queued call files will follow".into(),
                event: events::QUEUE_ENTRY.into(),
                items,
                complete_event: events::SHOW_COMPLETE.into(),
            }
        }
    }
}

/// Seconds since the epoch with milliseconds, as Due and NextDue say it.
fn epoch_seconds(ms: crate::bookkeeping::Millis) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// One SpoolQueueEntry: what the scheduler says of the file, and what the file says (read now, on this
/// manager thread, as `spool show queue` reads it on the console's): its channel, tag and attempts.
fn queue_entry(listed: QueuedFile, outgoing: &Path, max_file_size: u64) -> Vec<(String, String)> {
    let QueuedFile { name, due, campaign, state, next_due } = listed;
    let call = crate::bookkeeping::read_call_file(&outgoing.join(&name), max_file_size)
        .ok()
        .map(|(bytes, _)| crate::callfile::parse(&bytes).call);
    let (channel, tag, made, left) = match &call {
        Some(call) => (
            String::from_utf8_lossy(&call.channel()).into_owned(),
            crate::tag::of(call),
            call.retries.to_string(),
            (i64::from(call.max_retries) + 1 - i64::from(call.retries)).max(0).to_string(),
        ),
        None => Default::default(),
    };
    [
        ("File", name),
        ("Campaign", campaign.unwrap_or_default()),
        ("Due", epoch_seconds(due)),
        ("Channel", channel),
        ("Tag", tag),
        ("AttemptsMade", made),
        ("AttemptsLeft", left),
        ("State", state.to_string()),
        ("NextDue", next_due.map(epoch_seconds).unwrap_or_default()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_string(), value))
    .collect()
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::sync::Arc;

    use super::*;
    use crate::campaign::Campaign;
    use crate::scheduler::{Snapshot, SpoolSettings};

    #[derive(Default)]
    struct Fake {
        settings: SpoolSettings,
        snapshot: Snapshot,
        asked: RefCell<Vec<String>>,
    }

    impl Spooler for Fake {
        fn settings(&self) -> SpoolSettings {
            self.settings.clone()
        }
        fn snapshot(&self, query: SnapshotQuery) -> Option<crate::scheduler::Snapshot> {
            let mut snapshot = self.snapshot.clone();
            snapshot.next.truncate(query.limit);
            Some(snapshot)
        }
        fn totals(&self) -> Totals {
            Totals::default()
        }
        fn request_rescan(&self) {}
        fn set_paused(&self, campaign: &str, pause: bool, via: Via) -> Option<Result<String, String>> {
            self.asked.borrow_mut().push(format!("pause {campaign} {pause} {}", via.as_str()));
            Some(Ok(format!("Campaign {campaign} paused\n")))
        }
        fn cancel(&self, target: CancelTarget, hangup: bool, via: Via) -> Option<Result<String, String>> {
            self.asked.borrow_mut().push(format!("cancel {target:?} {hangup} {}", via.as_str()));
            let CancelTarget::File(file) = target else { return Some(Ok("Campaign cancelled\n".into())) };
            Some(Err(format!("No call file named {file} in the outgoing spool\n")))
        }
    }

    fn fake() -> Fake {
        let mut sales = Campaign::new("sales");
        sales.matches.push("sales-*".into());
        let mut busy_line = Campaign::new("busyline");
        busy_line.matches.push("*.call".into());
        busy_line.channels.push("Local/*@busy".into());
        let settings = SpoolSettings { campaigns: Arc::new(vec![sales, busy_line]), ..SpoolSettings::default() };
        let queued = |name: &str, due, campaign: Option<&str>| QueuedFile {
            name: name.into(),
            due,
            campaign: campaign.map(str::to_owned),
            state: "queued",
            next_due: Some(due),
        };
        // The scheduler names each file's campaign: `b.call` joined `busyline` by its Channel: line.
        let snapshot = Snapshot {
            queued: 3,
            next: vec![
                queued("sales-1.call", 1_000_500, Some("sales")),
                queued("other.call", 2_000_000, None),
                queued("b.call", 3_000_000, Some("busyline")),
            ],
            ..Snapshot::default()
        };
        Fake { settings, snapshot, ..Fake::default() }
    }

    /// The fake spooler over an outgoing directory with no files.
    fn at(spooler: &Fake) -> Option<Running<'_, Fake>> {
        Some(Running { spooler, outgoing: Path::new("/nonexistent/outgoing") })
    }

    #[test]
    fn show_lists_files_with_their_campaign_and_filters() {
        let spooler = fake();
        let AmiAnswer::List { items, complete_event, .. } = answer(AmiAction::Show, "", "", "", at(&spooler)) else {
            panic!("not a list")
        };
        assert_eq!(complete_event, "SpoolShowComplete");
        assert_eq!(items.len(), 3);
        for item in &items {
            let names: Vec<&str> = item.iter().map(|(name, _)| name.as_str()).collect();
            assert_eq!(events::check_declared(events::QUEUE_ENTRY, &names), Ok(()));
        }
        assert_eq!(items[0][1], ("Campaign".to_string(), "sales".to_string()));
        assert_eq!(items[0][2], ("Due".to_string(), "1000.500".to_string()));
        assert_eq!(items[1][1], ("Campaign".to_string(), String::new()));
        assert_eq!(items[2][1], ("Campaign".to_string(), "busyline".to_string()));
        let AmiAnswer::List { items, .. } = answer(AmiAction::Show, "SALES", "", "", at(&spooler)) else {
            panic!("not a list")
        };
        assert_eq!(items.len(), 1);
        let AmiAnswer::List { items, .. } = answer(AmiAction::Show, "busyline", "", "", at(&spooler)) else {
            panic!("not a list")
        };
        assert_eq!(
            items,
            [[
                ("File", "b.call"),
                ("Campaign", "busyline"),
                ("Due", "3000.000"),
                ("Channel", ""),
                ("Tag", ""),
                ("AttemptsMade", ""),
                ("AttemptsLeft", ""),
                ("State", "queued"),
                ("NextDue", "3000.000"),
            ]
            .map(|(key, value)| (key.to_string(), value.to_string()))]
        );
        assert!(matches!(answer(AmiAction::Show, "nosuch", "", "", at(&spooler)), AmiAnswer::Error(_)));
    }

    #[test]
    fn show_entries_read_channel_tag_and_attempts_from_the_file_and_list_the_running_ones() {
        let spool = crate::testing::temp_spool("ami-show-entry");
        let text = "Channel: Local/5@busy\nContext: x\nExtension: s\nMaxRetries: 2\nSet: _SPOOL_TAG=lead-9\n\
                    StartRetry: 1 1 (5)\nEndRetry: 1 1 (5)\n";
        std::fs::write(spool.outgoing.join("b.call"), text).unwrap();
        std::fs::write(spool.outgoing.join("r.call"), "Channel: Local/6@busy\nApplication: Wait\n").unwrap();
        let mut spooler = fake();
        spooler.snapshot.others = vec![QueuedFile {
            name: "r.call".into(),
            due: 4_000_000,
            campaign: Some("busyline".into()),
            state: "running",
            next_due: Some(4_300_000),
        }];
        let running = Some(Running { spooler: &spooler, outgoing: &spool.outgoing });
        let AmiAnswer::List { items, .. } = answer(AmiAction::Show, "busyline", "", "", running) else {
            panic!("not a list")
        };
        let value = |item: &Vec<(String, String)>, key: &str| {
            item.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("no {key}"))
        };
        assert_eq!(items.len(), 2);
        assert_eq!(value(&items[0], "Channel"), "Local/5@busy");
        assert_eq!(value(&items[0], "Tag"), "lead-9");
        assert_eq!((value(&items[0], "AttemptsMade"), value(&items[0], "AttemptsLeft")), ("1".into(), "2".into()));
        assert_eq!(value(&items[1], "File"), "r.call");
        assert_eq!(value(&items[1], "State"), "running");
        assert_eq!(value(&items[1], "NextDue"), "4300.000");
        assert_eq!(value(&items[1], "Tag"), "");
        assert_eq!((value(&items[1], "AttemptsMade"), value(&items[1], "AttemptsLeft")), ("0".into(), "1".into()));
    }

    #[test]
    fn status_answers_only_declared_fields() {
        let mut spooler = fake();
        spooler.snapshot.suspended = Some("pbx_spool.so is loaded".into());
        spooler.snapshot.campaigns =
            vec![crate::scheduler::CampaignFigures { name: "sales".into(), ..Default::default() }];
        let AmiAnswer::Ack { fields, .. } = answer(AmiAction::Status, "", "", "", at(&spooler)) else {
            panic!("not an ack")
        };
        let spec = crate::commands::AMI_ACTIONS.iter().find(|a| a.action == AmiAction::Status).unwrap();
        for (name, _) in &fields {
            let numbered = name.trim_end_matches(|c: char| c.is_ascii_digit());
            let declared = if numbered.len() < name.len() { format!("{numbered}N") } else { name.clone() };
            assert!(spec.answer_fields.iter().any(|f| f.name == declared), "{name} is not in answer_fields");
        }
        assert!(
            fields.iter().any(|(name, _)| name == "Campaign0") && fields.iter().any(|(n, _)| n == "SuspendedReason")
        );
    }

    #[test]
    fn pause_and_cancel_check_their_headers_and_pass_the_answer_on() {
        let spooler = fake();
        assert!(matches!(answer(AmiAction::Pause, "", "", "", at(&spooler)), AmiAnswer::Error(_)));
        assert_eq!(
            answer(AmiAction::Pause, "sales", "", "", at(&spooler)),
            AmiAnswer::Ack { message: "Campaign sales paused".into(), fields: Vec::new() }
        );
        assert!(matches!(answer(AmiAction::Cancel, "", "../x", "", at(&spooler)), AmiAnswer::Error(_)));
        assert_eq!(
            answer(AmiAction::Cancel, "", "a.call", "Yes", at(&spooler)),
            AmiAnswer::Error("No call file named a.call in the outgoing spool".into())
        );
        assert!(matches!(answer(AmiAction::Cancel, "sales", "a.call", "", at(&spooler)), AmiAnswer::Error(_)));
        assert_eq!(
            answer(AmiAction::Cancel, "sales", "", "no", at(&spooler)),
            AmiAnswer::Ack { message: "Campaign cancelled".into(), fields: Vec::new() }
        );
        assert_eq!(
            *spooler.asked.borrow(),
            ["pause sales true AMI", "cancel File(\"a.call\") true AMI", "cancel Campaign(\"sales\") false AMI"]
        );
        assert!(matches!(answer::<Fake>(AmiAction::Status, "", "", "", None), AmiAnswer::Error(_)));
    }
}
