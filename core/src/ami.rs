//! What the AMI actions (SpoolShow, SpoolStatus, SpoolPause, SpoolResume, SpoolCancel) answer, decided
//! over the running spooler ([`Spooler`], as the CLI commands are), so every answer is testable without
//! Asterisk. The module only reads the headers and sends the [`AmiAnswer`]. No FFI, no locks, and no
//! time-zone arithmetic here: this runs on Asterisk's manager threads.

use crate::cli::Spooler;
use crate::events;
use crate::report::Totals;
use crate::scheduler::{QueuedFile, SnapshotQuery};
use crate::text::yes_no;

/// Which AMI action was invoked: one per entry of [`crate::commands::AMI_ACTIONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmiAction {
    Show,
    Status,
    Pause,
    Resume,
    Cancel,
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

/// The answer to `action` with the request's `Campaign`, `File` and `Hangup` headers ("" when absent).
pub fn answer<S: Spooler + ?Sized>(
    action: AmiAction,
    campaign_header: &str,
    file: &str,
    hangup: &str,
    spooler: Option<&S>,
) -> AmiAnswer {
    let Some(spooler) = spooler else { return AmiAnswer::Error(NOT_RUNNING.into()) };
    let one_line = |text: String| text.trim_end().replace('\n', "; ");
    match action {
        AmiAction::Pause | AmiAction::Resume => {
            if campaign_header.is_empty() {
                return AmiAnswer::Error("Campaign: is required (a campaign's name, or all)".into());
            }
            match spooler.set_paused(campaign_header, action == AmiAction::Pause) {
                Some(Ok(text)) => AmiAnswer::Ack { message: one_line(text), fields: Vec::new() },
                Some(Err(text)) => AmiAnswer::Error(one_line(text)),
                None => AmiAnswer::Error(NO_ANSWER.into()),
            }
        }
        AmiAction::Cancel => {
            if file.is_empty() || file.contains('/') {
                return AmiAnswer::Error("File: is required: a file's name in the outgoing directory".into());
            }
            let hangup =
                ["yes", "true", "y", "t", "1", "on"].iter().any(|word| hangup.trim().eq_ignore_ascii_case(word));
            match spooler.cancel(file, hangup) {
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
        AmiAction::Show => {
            let Some(snapshot) = spooler.snapshot(SnapshotQuery { limit: SHOW_LIMIT, file: None }) else {
                return AmiAnswer::Error(NO_ANSWER.into());
            };
            let campaigns = spooler.settings().campaigns;
            if !campaign_header.is_empty() && !campaigns.iter().any(|c| c.name.eq_ignore_ascii_case(campaign_header)) {
                return AmiAnswer::Error(format!("No campaign named '{campaign_header}'"));
            }
            let items = snapshot
                .next
                .into_iter()
                .filter_map(|QueuedFile { name, due, campaign }| {
                    // The scheduler's answer: by `match`, or by `match` and the file's `Channel:` line.
                    let wanted = campaign_header.is_empty()
                        || campaign.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(campaign_header));
                    wanted.then(|| {
                        vec![
                            ("File".to_string(), name),
                            ("Campaign".to_string(), campaign.unwrap_or_default()),
                            ("Due".to_string(), format!("{}.{:03}", due.div_euclid(1000), due.rem_euclid(1000))),
                        ]
                    })
                })
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
        fn set_paused(&self, campaign: &str, pause: bool) -> Option<Result<String, String>> {
            self.asked.borrow_mut().push(format!("pause {campaign} {pause}"));
            Some(Ok(format!("Campaign {campaign} paused\n")))
        }
        fn cancel(&self, file: &str, hangup: bool) -> Option<Result<String, String>> {
            self.asked.borrow_mut().push(format!("cancel {file} {hangup}"));
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

    #[test]
    fn show_lists_files_with_their_campaign_and_filters() {
        let spooler = fake();
        let AmiAnswer::List { items, complete_event, .. } = answer(AmiAction::Show, "", "", "", Some(&spooler)) else {
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
        let AmiAnswer::List { items, .. } = answer(AmiAction::Show, "SALES", "", "", Some(&spooler)) else {
            panic!("not a list")
        };
        assert_eq!(items.len(), 1);
        let AmiAnswer::List { items, .. } = answer(AmiAction::Show, "busyline", "", "", Some(&spooler)) else {
            panic!("not a list")
        };
        assert_eq!(
            items,
            [vec![
                ("File".to_string(), "b.call".to_string()),
                ("Campaign".to_string(), "busyline".to_string()),
                ("Due".to_string(), "3000.000".to_string()),
            ]]
        );
        assert!(matches!(answer(AmiAction::Show, "nosuch", "", "", Some(&spooler)), AmiAnswer::Error(_)));
    }

    #[test]
    fn status_answers_only_declared_fields() {
        let mut spooler = fake();
        spooler.snapshot.suspended = Some("pbx_spool.so is loaded".into());
        spooler.snapshot.campaigns =
            vec![crate::scheduler::CampaignFigures { name: "sales".into(), ..Default::default() }];
        let AmiAnswer::Ack { fields, .. } = answer(AmiAction::Status, "", "", "", Some(&spooler)) else {
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
        assert!(matches!(answer(AmiAction::Pause, "", "", "", Some(&spooler)), AmiAnswer::Error(_)));
        assert_eq!(
            answer(AmiAction::Pause, "sales", "", "", Some(&spooler)),
            AmiAnswer::Ack { message: "Campaign sales paused".into(), fields: Vec::new() }
        );
        assert!(matches!(answer(AmiAction::Cancel, "", "../x", "", Some(&spooler)), AmiAnswer::Error(_)));
        assert_eq!(
            answer(AmiAction::Cancel, "", "a.call", "Yes", Some(&spooler)),
            AmiAnswer::Error("No call file named a.call in the outgoing spool".into())
        );
        assert_eq!(*spooler.asked.borrow(), ["pause sales true", "cancel a.call true"]);
        assert!(matches!(answer::<Fake>(AmiAction::Status, "", "", "", None), AmiAnswer::Error(_)));
    }
}
