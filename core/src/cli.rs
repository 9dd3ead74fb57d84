//! What the admin's `spool ...` CLI commands do and answer (`spool show status|queue|file`,
//! `spool check`, `spool rescan`, and the completion of `spool show file`), generic over the host (for
//! the policy's questions) and over the running spooler ([`Spooler`]), so every answer is unit-tested
//! without Asterisk. The module only turns C arguments into words and an [`Answer`] into the shim's
//! result code and `ast_cli` output. No FFI and no locks here: the caller hands in what is running.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::Ordering;

use crate::access::{self, Need};
use crate::attempt;
use crate::bookkeeping::{self, ReadError};
use crate::callfile;
use crate::cli_args::{self, Command, CommandId};
use crate::config::ConfigRead;
use crate::host::Host;
use crate::os::Identity;
use crate::report::{self, Totals, Verdict};
use crate::scheduler::{CancelTarget, Control, QueuedFile, Snapshot, SnapshotQuery, SpoolSettings, Via};
use crate::text::printable;

/// How a command ended, as Asterisk's CLI understands it (`CLI_SUCCESS`, `CLI_SHOWUSAGE`, `CLI_FAILURE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    /// The words do not fit the command: Asterisk prints its usage text (and `text` is empty).
    ShowUsage,
    Failure,
}

/// A command's result: its status and the text for the admin's console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: Status,
    pub text: String,
}

impl Answer {
    pub(crate) fn success(text: impl Into<String>) -> Self {
        Answer { status: Status::Success, text: text.into() }
    }

    pub(crate) fn failure(text: impl Into<String>) -> Self {
        Answer { status: Status::Failure, text: text.into() }
    }
}

/// What the commands need from the running spooler: its scheduler ([`Control`] in production, a fake
/// in the tests below).
pub trait Spooler {
    /// The settings in force (replaced on reload).
    fn settings(&self) -> SpoolSettings;
    /// The scheduler's view, or `None` if it did not answer (stopping, or stopped after an error).
    fn snapshot(&self, query: SnapshotQuery) -> Option<Snapshot>;
    /// Totals since load.
    fn totals(&self) -> Totals;
    /// Read the whole outgoing directory again.
    fn request_rescan(&self);
    /// Pause or resume a campaign (or `all`) for `via`: the admin's answer or why not; `None` if no answer.
    fn set_paused(&self, _campaign: &str, _pause: bool, _via: Via) -> Option<Result<String, String>> {
        None
    }
    /// Cancel a call file or a campaign's files (`hangup`: end their calls in progress) for `via`: the
    /// admin's answer or why not.
    fn cancel(&self, _target: CancelTarget, _hangup: bool, _via: Via) -> Option<Result<String, String>> {
        None
    }
    /// The last read of pbx_spool_rs.conf, when one was recorded.
    fn config_read(&self) -> Option<ConfigRead> {
        None
    }
    /// The counts since load, and those at the last `spool reset stats` with its time.
    fn campaign_counts(&self) -> Option<CountsAndBaseline> {
        None
    }
    /// `spool reset stats`: false if this spooler keeps no statistics.
    fn reset_stats(&self) -> bool {
        false
    }
}

/// [`Spooler::campaign_counts`]: the counts since load, and those at the last reset with its time.
pub type CountsAndBaseline = (crate::metrics::Counts, Option<(crate::metrics::Counts, bookkeeping::Millis)>);

/// One campaign as `spool show campaign` and `SpoolCampaign` show it: its figures now, its counts since
/// load, and since the last reset (with when), if any.
pub struct CampaignView {
    pub figures: crate::scheduler::CampaignFigures,
    pub since_load: crate::metrics::CampaignCounts,
    pub since_reset: Option<(crate::metrics::CampaignCounts, bookkeeping::Millis)>,
}

/// The campaign named `name` (any case), or the admin's error.
pub fn campaign_view<S: Spooler + ?Sized>(spooler: &S, name: &str) -> Result<CampaignView, String> {
    let snapshot = spooler.snapshot(SnapshotQuery { limit: 0, file: None }).ok_or(NO_ANSWER.trim_end())?;
    let figures = snapshot
        .campaigns
        .into_iter()
        .find(|c| c.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| format!("No campaign named '{}'", printable(name.as_bytes())))?;
    let (counts, baseline) = spooler.campaign_counts().unwrap_or_default();
    let since_load = crate::metrics::CampaignCounts::of(&counts, &figures.name);
    let since_reset = baseline
        .map(|(earlier, at)| (since_load.since(&crate::metrics::CampaignCounts::of(&earlier, &figures.name)), at));
    Ok(CampaignView { figures, since_load, since_reset })
}

impl Spooler for Control {
    fn settings(&self) -> SpoolSettings {
        Control::settings(self)
    }

    fn snapshot(&self, query: SnapshotQuery) -> Option<Snapshot> {
        Control::snapshot(self, query)
    }

    fn totals(&self) -> Totals {
        Totals {
            attempts: self.stats.attempts.load(Ordering::Relaxed),
            completed: self.stats.completed.load(Ordering::Relaxed),
            expired: self.stats.expired.load(Ordering::Relaxed),
            failed: self.stats.failed.load(Ordering::Relaxed),
            rejected: self.stats.rejected.load(Ordering::Relaxed),
            claims_lost: self.stats.claims_lost.load(Ordering::Relaxed),
        }
    }

    fn request_rescan(&self) {
        Control::request_rescan(self)
    }

    fn set_paused(&self, campaign: &str, pause: bool, via: Via) -> Option<Result<String, String>> {
        Control::set_paused(self, campaign, pause, via)
    }

    fn cancel(&self, target: CancelTarget, hangup: bool, via: Via) -> Option<Result<String, String>> {
        Control::cancel(self, target, hangup, via)
    }

    fn config_read(&self) -> Option<ConfigRead> {
        Control::config_read(self)
    }

    fn campaign_counts(&self) -> Option<CountsAndBaseline> {
        Some((self.stats.tallies.counts(), self.stats.tallies.baseline()))
    }

    fn reset_stats(&self) -> bool {
        self.stats.tallies.reset(bookkeeping::now_ms());
        true
    }
}

/// The running spooler and its outgoing directory, as a command sees them.
pub struct Running<'a, S: Spooler + ?Sized> {
    pub spooler: &'a S,
    pub outgoing: &'a Path,
}

const NOT_RUNNING: &str = "pbx_spool_rs is not running\n";
const NO_ANSWER: &str = "The spool scheduler did not answer (stopping?)\n";
const NOT_A_NAME: &str = "Give the name of a file in the outgoing directory (use spool check <path> for others)\n";
/// Queued names offered to `spool show file <Tab>`.
const COMPLETION_LIMIT: usize = 1000;

/// Run the command `id` with `words`, the whole command line as Asterisk split it; `running` is `None`
/// when no spooler runs (only `spool check` works then, with the default rules).
pub fn execute<H: Host, S: Spooler + ?Sized>(
    host: &H,
    id: CommandId,
    words: &[&[u8]],
    running: Option<Running<'_, S>>,
) -> Answer {
    match cli_args::parse(id, words) {
        Ok(command) => run(host, command, running),
        Err(cli_args::ShowUsage) => Answer { status: Status::ShowUsage, text: String::new() },
    }
}

/// Run a parsed command.
pub fn run<H: Host, S: Spooler + ?Sized>(host: &H, command: Command, running: Option<Running<'_, S>>) -> Answer {
    let Some(Running { spooler, outgoing }) = running else {
        return match command {
            // Works without a running spooler too, with the default rules.
            Command::Check { path } => {
                let outgoing = path.parent().unwrap_or(Path::new(".")).to_path_buf();
                check(host, &path, &SpoolSettings::default(), &outgoing)
            }
            Command::CheckArgs { path } => crate::parser_check::run(host, &path),
            _ => Answer::failure(NOT_RUNNING),
        };
    };
    match command {
        Command::Check { path } => check(host, &path, &spooler.settings(), outgoing),
        Command::CheckArgs { path } => crate::parser_check::run(host, &path),
        Command::ShowCampaign { name } => match campaign_view(spooler, &name) {
            Ok(view) => Answer::success(report::campaign(
                &view.figures,
                &view.since_load,
                view.since_reset.as_ref().map(|(counts, at)| (counts, *at)),
                bookkeeping::now_ms(),
            )),
            Err(why) => Answer::failure(format!("{why}\n")),
        },
        Command::ResetStats => match spooler.reset_stats() {
            true => Answer::success("Campaign statistics reset: spool show campaign counts from now\n"),
            false => Answer::failure(NOT_RUNNING),
        },
        Command::Rescan => {
            spooler.request_rescan();
            Answer::success(format!("Rescanning {}\n", outgoing.display()))
        }
        Command::Pause { campaign, pause } => match spooler.set_paused(&campaign, pause, Via::Cli) {
            Some(Ok(text)) => Answer::success(text),
            Some(Err(text)) => Answer::failure(text),
            None => Answer::failure(NO_ANSWER),
        },
        Command::Cancel { file, hangup } => {
            if file.contains('/') {
                return Answer::failure(NOT_A_NAME);
            }
            match spooler.cancel(CancelTarget::File(file), hangup, Via::Cli) {
                Some(Ok(text)) => Answer::success(text),
                Some(Err(text)) => Answer::failure(text),
                None => Answer::failure(NO_ANSWER),
            }
        }
        Command::CancelCampaign { campaign, hangup } => {
            match spooler.cancel(CancelTarget::Campaign(campaign), hangup, Via::Cli) {
                Some(Ok(text)) => Answer::success(text),
                Some(Err(text)) => Answer::failure(text),
                None => Answer::failure(NO_ANSWER),
            }
        }
        Command::ShowStatus => match spooler.snapshot(SnapshotQuery { limit: 0, file: None }) {
            Some(snapshot) => {
                let config_file = spooler.config_read().map(|read| read.describe()).unwrap_or_default();
                let settings = describe(&spooler.settings());
                Answer::success(report::status(&snapshot, spooler.totals(), &config_file, &settings))
            }
            None => Answer::failure(NO_ANSWER),
        },
        Command::ShowQueue { limit } => {
            let Some(snapshot) = spooler.snapshot(SnapshotQuery { limit, file: None }) else {
                return Answer::failure(NO_ANSWER);
            };
            let settings = spooler.settings();
            let max = settings.rules.max_file_size;
            let notes = snapshot.notes;
            let paused = snapshot.paused_files.into_iter().map(|(name, campaign)| {
                // Listed after the dated ones: they wait for `spool resume`, not for a time.
                let note = Some(format!("paused ({campaign})"));
                let campaign = (campaign != crate::campaign::ALL).then_some(campaign);
                (name, bookkeeping::Millis::MAX, note, campaign)
            });
            let dated = snapshot.next.into_iter().map(|QueuedFile { name, due, campaign, .. }| {
                let note = notes.iter().find(|(noted, _)| *noted == name).map(|(_, note)| note.clone());
                (name, due, note, campaign)
            });
            let rows: Vec<report::QueueRow> = dated
                .chain(paused)
                .take(limit)
                .map(|(name, due, note, campaign)| {
                    let call = bookkeeping::read_call_file(&outgoing.join(&name), max)
                        .ok()
                        .map(|(bytes, _)| callfile::parse(&bytes).call);
                    report::QueueRow { name, due, call, note, campaign }
                })
                .collect();
            Answer::success(report::queue(&rows, bookkeeping::now_ms(), !settings.campaigns.is_empty()))
        }
        Command::ShowFile { name } => {
            if name.contains('/') {
                return Answer::failure(NOT_A_NAME);
            }
            let state = spooler
                .snapshot(SnapshotQuery { limit: 0, file: Some(name.clone()) })
                .and_then(|snapshot| snapshot.file_state)
                .unwrap_or_else(|| "not queued".into());
            match examine(host, &outgoing.join(&name), &spooler.settings(), outgoing) {
                Ok(text) => Answer::success(format!("{text}State:       {state}\n")),
                Err(text) => Answer::failure(text),
            }
        }
    }
}

/// The `n`-th queued file name starting with `word`, for `spool show file <Tab>`.
pub fn complete_file<S: Spooler + ?Sized>(word: &str, n: usize, spooler: Option<&S>) -> Option<String> {
    let snapshot = spooler?.snapshot(SnapshotQuery { limit: COMPLETION_LIMIT, file: None })?;
    snapshot.next.into_iter().map(|listed| listed.name).filter(|name| name.starts_with(word)).nth(n)
}

/// The `n`-th campaign name (or `all`) starting with `word`, as configured in the settings in force.
pub fn complete_campaign<S: Spooler + ?Sized>(word: &str, n: usize, spooler: Option<&S>) -> Option<String> {
    let settings = spooler?.settings();
    let names =
        std::iter::once(crate::campaign::ALL.to_owned()).chain(settings.campaigns.iter().map(|c| c.name.clone()));
    names.filter(|name| name.starts_with(word)).nth(n)
}

/// Tab completion of the word at `position` of command `id`: the `n`-th candidate starting with `word`.
pub fn complete<S: Spooler + ?Sized>(
    id: CommandId,
    position: usize,
    word: &str,
    n: usize,
    spooler: Option<&S>,
) -> Option<String> {
    match crate::cli_args::completion(id, position)? {
        crate::cli_args::Completion::QueuedFile => complete_file(word, n, spooler),
        crate::cli_args::Completion::Campaign => complete_campaign(word, n, spooler),
        crate::cli_args::Completion::CampaignName => {
            let settings = spooler?.settings();
            settings.campaigns.iter().map(|c| c.name.clone()).filter(|name| name.starts_with(word)).nth(n)
        }
    }
}

fn check<H: Host>(host: &H, path: &Path, settings: &SpoolSettings, outgoing: &Path) -> Answer {
    match examine(host, path, settings, outgoing) {
        Ok(text) => Answer::success(text),
        Err(text) => Answer::failure(text),
    }
}

/// The configuration as written, then what was derived from it and from asterisk.conf.
fn describe(settings: &SpoolSettings) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = settings.description.iter().cloned().collect();
    if let Some(uids) = &settings.rules.allowed_owners {
        let mut uids = uids.clone();
        uids.dedup();
        rows.push(("allowed owner uids".into(), format!("{uids:?}")));
    }
    rows.push((
        "live_dangerously (asterisk.conf)".into(),
        if settings.rules.live_dangerously { "yes" } else { "no" }.into(),
    ));
    rows.extend(settings.rules.dnc.describe());
    rows
}

/// Read and check one call file as the spool would, for `spool show file` and `spool check`: its rules,
/// and whether the user Asterisk runs as (this process) can read and append to it and remove it from
/// `outgoing`, the directory it is or will be in.
fn examine<H: Host>(host: &H, path: &Path, settings: &SpoolSettings, outgoing: &Path) -> Result<String, String> {
    examine_with(host, path, settings, outgoing, &access::effective_access)
}

/// [`examine`] with access asked through `access`.
fn examine_with<H: Host>(
    host: &H,
    path: &Path,
    settings: &SpoolSettings,
    outgoing: &Path,
    access: access::Access<'_>,
) -> Result<String, String> {
    let me = Identity::current();
    let (bytes, meta) = bookkeeping::read_call_file(path, settings.rules.max_file_size).map_err(|err| match err {
        ReadError::Io(err) if err.kind() == std::io::ErrorKind::PermissionDenied => {
            format!("{}\n", access::explain_call_file(path, Need::Read, &err, &me))
        }
        err => format!("{}: {err}\n", path.display()),
    })?;
    let parsed = callfile::parse(&bytes);
    let shown = printable(path.as_os_str().as_bytes());
    let name = path.file_name().map(OsStrExt::as_bytes).unwrap_or_default();
    let refusal = attempt::preflight(host, &settings.rules, &parsed.call, &parsed.diagnostics, meta.uid(), &shown)
        .and_then(|()| attempt::refusal_if_listed(host, &settings.rules, name, &parsed.call, &shown));
    // A refused file is only read, then removed; a file to dial gets its bookkeeping lines first.
    let problem = access::call_file_problem(path, outgoing, refusal.is_ok(), access, &me);
    let mut notes = Vec::new();
    if parsed.call.archive {
        let done = outgoing.parent().unwrap_or(outgoing).join("outgoing_done");
        if let Some(why) = access::archive_problem(&done, access, &me) {
            notes.push(format!("{why} (the file would be deleted, not archived)"));
        }
    }
    let verdict = match (problem, refusal) {
        (Some(why), _) => Verdict::LeftForAdmin(why),
        (None, Err(refusal)) => Verdict::Refused(refusal.lines.join("; ")),
        (None, Ok(())) => Verdict::Placed,
    };
    let mut text = report::call_file(&shown, &parsed.call, &parsed.diagnostics, &notes, &verdict);
    text.push_str(&report::outcomes(&crate::outcome_names::recorded_in(&bytes)));
    Ok(text)
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::sync::Arc;

    use super::*;
    use crate::attempt::VisitRules;
    use crate::testing::{answered, temp_spool, FakeHost};

    /// A spooler whose scheduler answers with a fixed snapshot (or not at all), recording what it is asked.
    #[derive(Default)]
    struct FakeSpooler {
        settings: SpoolSettings,
        snapshot: Option<Snapshot>,
        totals: Totals,
        queries: RefCell<Vec<SnapshotQuery>>,
        rescans: Cell<usize>,
    }

    impl Spooler for FakeSpooler {
        fn settings(&self) -> SpoolSettings {
            self.settings.clone()
        }

        fn snapshot(&self, query: SnapshotQuery) -> Option<Snapshot> {
            let mut snapshot = self.snapshot.clone()?;
            if let Some(file) = &query.file {
                snapshot.file_state = snapshot.next.iter().any(|listed| listed.name == *file).then(|| "queued".into());
            }
            snapshot.next.truncate(query.limit);
            self.queries.borrow_mut().push(query);
            Some(snapshot)
        }

        fn totals(&self) -> Totals {
            self.totals
        }

        fn request_rescan(&self) {
            self.rescans.set(self.rescans.get() + 1);
        }
    }

    fn words(line: &str) -> Vec<&[u8]> {
        line.split(' ').map(str::as_bytes).collect()
    }

    fn snapshot(next: &[(&str, i64)]) -> Snapshot {
        Snapshot {
            queued: next.len(),
            workers: 1,
            next: next
                .iter()
                .map(|(name, due)| QueuedFile {
                    name: name.to_string(),
                    due: *due,
                    state: "queued",
                    next_due: Some(*due),
                    ..QueuedFile::default()
                })
                .collect(),
            ..Snapshot::default()
        }
    }

    const CALL: &str = "Channel: Local/100@default\nContext: default\nExtension: s\nMaxRetries: 2\n";

    #[test]
    fn without_a_running_spooler_only_check_works() {
        let host = FakeHost::new(|_, _| answered());
        let spool = temp_spool("cli-not-running");
        let file = spool.outgoing.join("a.call");
        std::fs::write(&file, CALL).unwrap();
        for line in ["spool show status", "spool show queue", "spool show file a.call", "spool rescan"] {
            let id = match line {
                "spool show status" => CommandId::ShowStatus,
                "spool show queue" => CommandId::ShowQueue,
                "spool show file a.call" => CommandId::ShowFile,
                _ => CommandId::Rescan,
            };
            let answer = execute::<_, FakeSpooler>(&*host, id, &words(line), None);
            assert_eq!(answer, Answer::failure(NOT_RUNNING), "{line}");
        }
        let path = file.to_str().unwrap();
        let answer = execute::<_, FakeSpooler>(&*host, CommandId::Check, &[b"spool", b"check", path.as_bytes()], None);
        assert_eq!(answer.status, Status::Success, "{}", answer.text);
        assert!(answer.text.starts_with(&format!("File:        {path}\n")), "{}", answer.text);
        assert!(answer.text.contains("Verdict:     would be placed"), "{}", answer.text);
        assert!(host.with(|r| r.calls.is_empty()), "checking a file never dials it");
    }

    #[test]
    fn words_that_do_not_fit_ask_for_the_usage_text_and_print_nothing() {
        let host = FakeHost::new(|_, _| answered());
        let spooler = FakeSpooler { snapshot: Some(snapshot(&[])), ..FakeSpooler::default() };
        let outgoing = Path::new("/nowhere/outgoing");
        for (id, line) in [
            (CommandId::ShowQueue, "spool show queue many"),
            (CommandId::ShowFile, "spool show file"),
            (CommandId::Rescan, "spool rescan now"),
        ] {
            let running = Some(Running { spooler: &spooler, outgoing });
            let answer = execute(&*host, id, &words(line), running);
            assert_eq!(answer, Answer { status: Status::ShowUsage, text: String::new() }, "{line}");
        }
        assert_eq!(spooler.rescans.get(), 0);
    }

    #[test]
    fn rescan_asks_the_scheduler_and_names_the_directory() {
        let host = FakeHost::new(|_, _| answered());
        let spooler = FakeSpooler::default();
        let running = Some(Running { spooler: &spooler, outgoing: Path::new("/var/spool/asterisk/outgoing") });
        let answer = execute(&*host, CommandId::Rescan, &words("spool rescan"), running);
        assert_eq!(answer, Answer::success("Rescanning /var/spool/asterisk/outgoing\n"));
        assert_eq!(spooler.rescans.get(), 1);
    }

    #[test]
    fn status_shows_counts_totals_and_the_derived_configuration() {
        let host = FakeHost::new(|_, _| answered());
        let rules = VisitRules { allowed_owners: Some(vec![1000, 1000, 0]), ..VisitRules::default() };
        let settings = SpoolSettings {
            rules: Arc::new(rules),
            description: Arc::new(vec![("maxcalls".into(), "50".into())]),
            ..SpoolSettings::default()
        };
        let spooler = FakeSpooler {
            settings,
            snapshot: Some(snapshot(&[("a.call", 0), ("b.call", 0)])),
            totals: Totals { attempts: 7, completed: 5, ..Totals::default() },
            ..FakeSpooler::default()
        };
        let running = Some(Running { spooler: &spooler, outgoing: Path::new("/s/outgoing") });
        let answer = execute(&*host, CommandId::ShowStatus, &words("spool show status"), running);
        assert_eq!(answer.status, Status::Success);
        let text = &answer.text;
        assert!(text.starts_with("Outgoing spool (pbx_spool_rs)\n"), "{text}");
        assert!(text.contains(&format!("  {:<38} 2\n", "Queued (waiting for their time)")), "{text}");
        assert!(text.contains(&format!("  {:<38} 7\n", "Attempts")), "{text}");
        assert!(text.contains(&format!("  {:<38} 5\n", "Completed")), "{text}");
        // The configuration as written, then the uids (duplicates next to each other merged) and asterisk.conf.
        let configuration = text.split("Configuration\n").nth(1).unwrap();
        assert_eq!(
            configuration,
            format!(
                "  {:<38} 50\n  {:<38} [1000, 0]\n  {:<38} no\n",
                "maxcalls", "allowed owner uids", "live_dangerously (asterisk.conf)"
            )
        );
        assert_eq!(spooler.queries.borrow().as_slice(), [SnapshotQuery { limit: 0, file: None }]);
    }

    #[test]
    fn a_scheduler_that_does_not_answer_is_reported_not_waited_for() {
        let host = FakeHost::new(|_, _| answered());
        let spooler = FakeSpooler::default();
        for (id, line) in [(CommandId::ShowStatus, "spool show status"), (CommandId::ShowQueue, "spool show queue 3")] {
            let running = Some(Running { spooler: &spooler, outgoing: Path::new("/s/outgoing") });
            assert_eq!(execute(&*host, id, &words(line), running), Answer::failure(NO_ANSWER), "{line}");
        }
    }

    #[test]
    fn queue_lists_the_files_the_scheduler_names_read_from_the_spool() {
        let host = FakeHost::new(|_, _| answered());
        let spool = temp_spool("cli-queue");
        std::fs::write(spool.outgoing.join("a.call"), CALL).unwrap();
        let later = bookkeeping::now_ms() + 3_600_000 + 30_000;
        let spooler = FakeSpooler {
            snapshot: Some(snapshot(&[("a.call", later), ("gone.call", later), ("c.call", later)])),
            ..FakeSpooler::default()
        };
        let running = Some(Running { spooler: &spooler, outgoing: &spool.outgoing });
        let answer = execute(&*host, CommandId::ShowQueue, &words("spool show queue 2"), running);
        assert_eq!(answer.status, Status::Success);
        let lines: Vec<&str> = answer.text.lines().collect();
        assert_eq!(lines.len(), 4, "{}", answer.text);
        assert!(lines[0].starts_with("File "), "{}", answer.text);
        assert!(lines[1].starts_with("a.call ") && lines[1].contains("Local/100@default"), "{}", answer.text);
        assert!(lines[1].contains("s@default:1") && lines[1].contains("1 of 3"), "{}", answer.text);
        assert!(lines[1].ends_with("in 1h 00m") || lines[1].ends_with("in 1h 01m"), "{}", answer.text);
        assert!(lines[2].starts_with("gone.call ") && lines[2].contains("(unreadable)"), "{}", answer.text);
        assert_eq!(lines[3], "2 file(s) listed");
        assert_eq!(spooler.queries.borrow().as_slice(), [SnapshotQuery { limit: 2, file: None }]);
    }

    #[test]
    fn show_file_takes_names_in_the_spool_only_and_adds_the_state() {
        let host = FakeHost::new(|_, _| answered());
        let spool = temp_spool("cli-show-file");
        std::fs::write(spool.outgoing.join("a.call"), CALL).unwrap();
        std::fs::write(spool.outgoing.join("b.call"), CALL).unwrap();
        let spooler = FakeSpooler { snapshot: Some(snapshot(&[("a.call", 0)])), ..FakeSpooler::default() };
        let show = |name: &[u8]| {
            let running = Some(Running { spooler: &spooler, outgoing: &spool.outgoing });
            execute(&*host, CommandId::ShowFile, &[b"spool", b"show", b"file", name], running)
        };

        let queued = show(b"a.call");
        assert_eq!(queued.status, Status::Success, "{}", queued.text);
        assert!(queued.text.contains("Channel:     Local/100@default\n"), "{}", queued.text);
        assert!(queued.text.ends_with("Verdict:     would be placed\nState:       queued\n"), "{}", queued.text);
        assert!(show(b"b.call").text.ends_with("State:       not queued\n"));

        let missing = show(b"nosuch.call");
        assert_eq!(missing.status, Status::Failure);
        assert!(missing.text.starts_with(&format!("{}: ", spool.outgoing.join("nosuch.call").display())));

        assert_eq!(show(b"../../etc/passwd"), Answer::failure(NOT_A_NAME));
    }

    #[test]
    fn check_applies_the_running_rules() {
        let host = FakeHost::new(|_, _| answered());
        let spool = temp_spool("cli-check-rules");
        let file = spool.outgoing.join("a.call");
        std::fs::write(&file, CALL).unwrap();
        let nobody = VisitRules { allowed_owners: Some(vec![u32::MAX - 1]), ..VisitRules::default() };
        let spooler = FakeSpooler {
            settings: SpoolSettings { rules: Arc::new(nobody), ..SpoolSettings::default() },
            ..FakeSpooler::default()
        };
        let running = Some(Running { spooler: &spooler, outgoing: &spool.outgoing });
        let path = file.as_os_str().as_bytes();
        let answer = execute(&*host, CommandId::Check, &[b"spool", b"check", path], running);
        assert_eq!(answer.status, Status::Success, "the file was examined: {}", answer.text);
        assert!(answer.text.contains("Verdict:     REFUSED: "), "{}", answer.text);
    }

    #[test]
    fn check_says_what_asterisks_user_cannot_do_and_how_to_fix_it() {
        let host = FakeHost::new(|_, _| answered());
        let spool = temp_spool("cli-check-access");
        let file = spool.outgoing.join("a.call");
        std::fs::write(&file, format!("{CALL}Archive: yes\n")).unwrap();
        std::fs::create_dir_all(&spool.done).unwrap();
        let settings = SpoolSettings::default();
        let me = Identity::current();
        let denied = || std::io::Error::from_raw_os_error(libc::EACCES);

        let everything = |_: &Path, _: Need| Ok(());
        let text = examine_with(&*host, &file, &settings, &spool.outgoing, &everything).unwrap();
        assert!(text.ends_with("Verdict:     would be placed\n"), "{text}");

        let read_only_file =
            |path: &Path, need: Need| if path == file && need != Need::Read { Err(denied()) } else { Ok(()) };
        let text = examine_with(&*host, &file, &settings, &spool.outgoing, &read_only_file).unwrap();
        let verdict = text.lines().last().unwrap();
        assert!(
            verdict.starts_with(&format!(
                "Verdict:     LEFT FOR THE ADMIN, not dialled: cannot write {}: Permission denied (Asterisk runs as {}",
                file.display(),
                me.describe()
            )),
            "{text}"
        );
        assert!(!text.contains("would be placed"), "{text}");

        let done = spool.done.clone();
        let closed_archive = |path: &Path, _: Need| if path == done { Err(denied()) } else { Ok(()) };
        let text = examine_with(&*host, &file, &settings, &spool.outgoing, &closed_archive).unwrap();
        assert!(
            text.contains(&format!("Note:        cannot write in the directory {}: Permission denied", done.display())),
            "{text}"
        );
        assert!(text.contains("(the file would be deleted, not archived)\nVerdict:     would be placed\n"), "{text}");

        // A refused file is only read and removed: its own write bit does not matter, its directory does.
        let strict = VisitRules { allowed_owners: Some(vec![u32::MAX - 1]), ..VisitRules::default() };
        let strict = SpoolSettings { rules: Arc::new(strict), ..SpoolSettings::default() };
        let text = examine_with(&*host, &file, &strict, &spool.outgoing, &read_only_file).unwrap();
        assert!(text.contains("Verdict:     REFUSED: "), "{text}");
        let outgoing = spool.outgoing.clone();
        let closed_outgoing = |path: &Path, _: Need| if path == outgoing { Err(denied()) } else { Ok(()) };
        let text = examine_with(&*host, &file, &strict, &spool.outgoing, &closed_outgoing).unwrap();
        assert!(
            text.contains(&format!(
                "LEFT FOR THE ADMIN, not dialled: cannot write in the directory {}",
                outgoing.display()
            )),
            "{text}"
        );
    }

    #[test]
    fn check_refuses_a_number_on_the_do_not_call_list_as_its_attempt_would() {
        let host = FakeHost::new(|_, _| answered());
        let spool = temp_spool("cli-check-dnc");
        let list = spool.outgoing.parent().unwrap().join("dnc.txt");
        std::fs::write(&list, "; numbers\n0301234\n").unwrap();
        let dnc = crate::dnc::DncLists::new(&[list.display().to_string()], &[]);
        let rules = VisitRules { dnc: Arc::new(dnc), ..VisitRules::default() };
        let settings = SpoolSettings { rules: Arc::new(rules), ..SpoolSettings::default() };
        let everything = |_: &Path, _: Need| Ok(());

        let listed = spool.outgoing.join("listed.call");
        std::fs::write(&listed, "Channel: Local/0301234@ctx\nContext: dest\nExtension: s\n").unwrap();
        let text = examine_with(&*host, &listed, &settings, &spool.outgoing, &everything).unwrap();
        let verdict = text.lines().find(|l| l.starts_with("Verdict:")).unwrap();
        assert!(
            verdict.contains(&format!(
                "REFUSED: Rejected {}: number 0301234 (dialled by Local/0301234@ctx) is on the do-not-call list {}, line 2",
                listed.display(),
                list.display()
            )) && verdict.contains("(rule dnc, value '0301234')"),
            "{text}"
        );

        let clear = spool.outgoing.join("clear.call");
        std::fs::write(&clear, "Channel: Local/0305555@ctx\nContext: dest\nExtension: s\n").unwrap();
        let text = examine_with(&*host, &clear, &settings, &spool.outgoing, &everything).unwrap();
        assert!(text.ends_with("Verdict:     would be placed\n"), "{text}");
        assert_eq!(host.with(|r| r.calls.len()), 0, "a check never dials");
    }

    #[test]
    fn status_shows_the_last_read_of_the_configuration_file() {
        let host = FakeHost::new(|_, _| answered());
        let read = ConfigRead::after(
            None,
            "/etc/asterisk/pbx_spool_rs.conf".into(),
            crate::config::ReadOutcome::Failed("cannot read it".into()),
            0,
            "load",
        );
        struct WithRead(FakeSpooler, ConfigRead);
        impl Spooler for WithRead {
            fn settings(&self) -> SpoolSettings {
                self.0.settings()
            }
            fn snapshot(&self, query: SnapshotQuery) -> Option<Snapshot> {
                self.0.snapshot(query)
            }
            fn totals(&self) -> Totals {
                self.0.totals()
            }
            fn request_rescan(&self) {}
            fn config_read(&self) -> Option<ConfigRead> {
                Some(self.1.clone())
            }
        }
        let spooler = WithRead(FakeSpooler { snapshot: Some(snapshot(&[])), ..FakeSpooler::default() }, read);
        let running = Some(Running { spooler: &spooler, outgoing: Path::new("/s/outgoing") });
        let text = execute(&*host, CommandId::ShowStatus, &words("spool show status"), running).text;
        let section = text.split("Configuration file\n").nth(1).and_then(|rest| rest.split("Configuration\n").next());
        assert_eq!(
            section,
            Some(
                format!(
                    "  {:<38} /etc/asterisk/pbx_spool_rs.conf\n  {:<38} FAILED: cannot read it\n  {:<38} 1970-01-01 \
                     00:00:00 UTC (load)\n  {:<38} the defaults\n",
                    "File", "Last read", "When", "Settings in force"
                )
                .as_str()
            ),
            "{text}"
        );
    }

    #[test]
    fn completion_offers_the_queued_names_with_the_prefix_in_turn() {
        let spooler = FakeSpooler {
            snapshot: Some(snapshot(&[("a1.call", 0), ("b.call", 0), ("a2.call", 0)])),
            ..FakeSpooler::default()
        };
        assert_eq!(complete_file("a", 0, Some(&spooler)).as_deref(), Some("a1.call"));
        assert_eq!(complete_file("a", 1, Some(&spooler)).as_deref(), Some("a2.call"));
        assert_eq!(complete_file("a", 2, Some(&spooler)), None);
        assert_eq!(complete_file("", 1, Some(&spooler)).as_deref(), Some("b.call"));
        assert_eq!(complete_file::<FakeSpooler>("a", 0, None), None);
        assert_eq!(complete_file("a", 0, Some(&FakeSpooler::default())), None, "no answer, no names");
    }

    #[test]
    fn pause_and_resume_complete_campaigns_and_show_file_completes_files() {
        let mut settings = SpoolSettings::default();
        let campaign = crate::campaign::Campaign::new;
        settings.campaigns = std::sync::Arc::new(vec![campaign("sales"), campaign("support")]);
        let spooler = FakeSpooler { settings, ..FakeSpooler::default() };
        let pause = |word: &str, n: usize| complete(CommandId::Pause, 2, word, n, Some(&spooler));
        assert_eq!(pause("s", 0).as_deref(), Some("sales"));
        assert_eq!(pause("s", 1).as_deref(), Some("support"));
        assert_eq!(pause("s", 2), None);
        assert_eq!(pause("", 0).as_deref(), Some("all"));
        assert_eq!(complete(CommandId::Resume, 2, "su", 0, Some(&spooler)).as_deref(), Some("support"));
        assert_eq!(complete(CommandId::Pause, 3, "", 0, Some(&spooler)), None, "nothing after the campaign");
        assert_eq!(complete(CommandId::ShowStatus, 2, "", 0, Some(&spooler)), None);
        let cancel = |word: &str, n: usize| complete(CommandId::CancelCampaign, 3, word, n, Some(&spooler));
        assert_eq!(cancel("", 0).as_deref(), Some("sales"), "no 'all': a campaign is cancelled by its name");
        assert_eq!(cancel("su", 0).as_deref(), Some("support"));
        assert_eq!(cancel("", 2), None);
    }
}
