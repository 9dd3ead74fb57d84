//! One visit to a due call file: pbx_spool's `scan_service` and `attempt_thread` rolled into one step, run on
//! a worker thread. Reads and parses the file, applies the retry rules, writes the bookkeeping lines, places
//! the call through the [`Host`], and removes or archives the file at the end. Log texts keep pbx_spool's
//! wording so existing log watchers keep working. On a shared spool (`shared = yes`) a visit first claims
//! the file ([`crate::claim`]) and holds the claim until the file's next state is written. No FFI here.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use crate::access::{self, Need};
use crate::bookkeeping::{self, Mark, Millis, ReadError, Removal, RemovalRules, Status};
use crate::callfile::{self, CallFile, Diagnostic, DiagnosticKind, Severity};
use crate::claim::{Claim, ClaimError};
use crate::host::{CallResult, Host, Level};
use crate::host_log;
use crate::os::Identity;
use crate::policy::{self, FunctionRegistry, Policy};

/// Where call files live and the limits applied when reading them.
#[derive(Debug, Clone)]
pub struct SpoolPaths {
    pub outgoing: std::path::PathBuf,
    pub done: std::path::PathBuf,
}

/// The rules a visit applies before anything is dialled, from pbx_spool_rs.conf (replaced on reload).
#[derive(Debug, Clone)]
pub struct VisitRules {
    /// Files larger than this are refused unread.
    pub max_file_size: u64,
    /// Owners (uids) a call file may have; `None` = no owner check.
    pub allowed_owners: Option<Vec<u32>>,
    pub policy: Policy,
    /// asterisk.conf `live_dangerously`: writes to dangerous dialplan functions allowed.
    pub live_dangerously: bool,
    /// `shared = yes`: this server's node name. Each visit then claims the file first (see [`crate::claim`])
    /// and names the node in its log lines and events.
    pub node: Option<Arc<str>>,
    /// pbx_spool_rs.conf's campaigns: the one a file joins is named in its events (`Campaign:`).
    pub campaigns: Arc<Vec<crate::campaign::Campaign>>,
}

impl Default for VisitRules {
    fn default() -> Self {
        VisitRules {
            max_file_size: 64 * 1024,
            allowed_owners: None,
            policy: Policy::default(),
            live_dangerously: false,
            node: None,
            campaigns: Arc::default(),
        }
    }
}

/// Asterisk's function registry as the policy sees it, with `live_dangerously` fixed at (re)load.
struct HostFunctions<'a, H: Host> {
    host: &'a H,
    live_dangerously: bool,
}

impl<H: Host> FunctionRegistry for HostFunctions<'_, H> {
    fn writes_are_dangerous(&self, name: &str) -> bool {
        self.host.function_writes_are_dangerous(name)
    }

    fn live_dangerously(&self) -> bool {
        self.live_dangerously
    }

    fn endpoint(&self, tech: &[u8], dest: &[u8]) -> policy::Endpoint {
        self.host.endpoint(tech, dest)
    }

    fn is_dialplan_global(&self, name: &[u8]) -> bool {
        self.host.dialplan_global(name)
    }
}

/// What the scheduler must do with the file after a visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Still in the spool and due again at this time (after `EndRetry`, or left in place by
    /// `AlwaysDelete: no` after the dialplan or the user re-dated it).
    Requeue(Millis),
    /// Finished (counted and announced), but kept in place by `AlwaysDelete: no` because its last
    /// attempt's bookkeeping dated it in the future, as pbx_spool keeps it. See [`remove_kept`].
    Kept(Kept),
    /// Finished: deleted, archived or vanished. The name is forgotten.
    Done,
    /// Left in place for the admin (unreadable, not writable, not a regular file): not visited again
    /// until the file changes, so there is no busy loop.
    Parked,
    /// Finished (counted and announced), but the file could not be removed: left for the admin like
    /// [`Outcome::Parked`], with how to end it (its status; `due` is when it finished), so that a later
    /// run removes it instead of taking its last attempt for an interrupted one.
    Unremovable(Kept),
    /// Not visited: the stock pbx_spool was loaded into this process after the file was handed to a
    /// worker. The file is left exactly as it was, for pbx_spool to dial.
    LeftToStockSpooler,
}

/// A finished file kept in outgoing/ by `AlwaysDelete: no` until `due`, the mtime its last attempt gave it.
/// pbx_spool finds such a file again then and, for a completed call, appends `DelayedRetry` every
/// RetryTime for ever. pbx_spool_rs removes it then, without dialling, as `status` (archived when
/// `archive`), unless the file changed meanwhile: a changed file is a new request and is visited anew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub due: Millis,
    pub archive: bool,
    pub status: Status,
    /// On a shared spool, the file's claim, held until it is removed.
    pub claim: Option<HeldClaim>,
}

/// A claim kept with a [`Kept`] file; dropped (released) with the last copy. Compares equal to any other:
/// it is not part of what a kept file is.
#[derive(Debug, Clone)]
pub struct HeldClaim {
    _claim: Arc<Claim>,
}

impl HeldClaim {
    /// Hold `claim` for a kept file (as the visit that kept it would have: a kept file restored after a
    /// restart is claimed again).
    pub fn new(claim: Claim) -> HeldClaim {
        HeldClaim { _claim: Arc::new(claim) }
    }
}

impl PartialEq for HeldClaim {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for HeldClaim {}

/// What the scheduler learns when an attempt starts: when to write `DelayedRetry` if the call is still
/// running then, and the numbers that line carries.
#[derive(Debug, Clone)]
pub struct AttemptStart {
    /// pbx_spool re-examines the file `RetryTime` after the attempt started.
    pub recheck_at: Millis,
    /// Attempts recorded in the file before this one (what pbx_spool prints in `DelayedRetry`).
    pub retries_before: i32,
    pub retry_time_s: i32,
    /// The mtime our own bookkeeping last gave the file; shared so `DelayedRetry` can update it.
    pub own_mtime: Arc<AtomicI64>,
    /// The uniqueid the attempt's channel gets (`spool cancel <file> hangup` ends that channel).
    pub uniqueid: String,
}

/// Totals since load, for `spool show status`.
#[derive(Debug, Default)]
pub struct Stats {
    pub attempts: AtomicU64,
    pub completed: AtomicU64,
    pub expired: AtomicU64,
    pub failed: AtomicU64,
    pub rejected: AtomicU64,
    /// Due files another server had claimed when this one tried (shared spool only).
    pub claims_lost: AtomicU64,
}

/// How a call file ended, as reported in the `SpoolFinished` manager event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalStatus {
    Completed,
    Expired,
    Failed,
    /// Refused by the security policy (archived with `Status: Failed`).
    Rejected,
}

impl FinalStatus {
    fn as_str(self) -> &'static str {
        match self {
            FinalStatus::Completed => "Completed",
            FinalStatus::Expired => "Expired",
            FinalStatus::Failed => "Failed",
            FinalStatus::Rejected => "Rejected",
        }
    }

    /// What the archived file's `Status:` line says (pbx_spool knows no "Rejected").
    fn archive_status(self) -> Status {
        match self {
            FinalStatus::Completed => Status::Completed,
            FinalStatus::Expired => Status::Expired,
            FinalStatus::Failed | FinalStatus::Rejected => Status::Failed,
        }
    }
}

/// A unique id for the channel of one attempt, announced in manager events so a dialer can match the
/// call's own events (Newchannel, Hangup, ...) to its call file.
///
/// Fixed width: Asterisk refuses a new channel whose uniqueid is a prefix of a live channel's (its lookup
/// compares only the new id's length), so `...-1` must never meet a live `...-15`.
fn attempt_uniqueid(pid: i64) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let secs = bookkeeping::now_ms() / 1000;
    format!("spool-{pid:010}-{secs:012}-{:020}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// One visit's context: what is needed to log, announce and finish the file.
struct Visit<'a, H: Host> {
    host: &'a H,
    node: Option<&'a str>,
    paths: &'a SpoolPaths,
    path: &'a Path,
    shown: String,
    stats: &'a Stats,
    /// pbx_spool_rs.conf's campaigns, to name the one the file joins in its events (`Campaign:`).
    campaigns: Arc<Vec<crate::campaign::Campaign>>,
}

impl<H: Host> Visit<'_, H> {
    /// The campaign `call` (this file) joins, by its name and channel; `None` outside campaigns.
    fn campaign(&self, call: &CallFile) -> Option<String> {
        let name = self.path.file_name()?.as_bytes();
        crate::campaign::find_with_channel(&self.campaigns, name, &call.tech, &call.dest)
            .map(|index| self.campaigns[index].name.clone())
    }
}

/// The last attempt of a file, for the `SpoolFinished` event.
#[derive(Default)]
struct LastAttempt {
    attempts: i32,
    reason: i32,
    reason_text: String,
    uniqueid: String,
}

impl<H: Host> Visit<'_, H> {
    fn log(&self, level: Level, message: String) {
        match self.node {
            Some(node) => host_log!(self.host, level, "[node {node}] {message}"),
            None => host_log!(self.host, level, "{message}"),
        }
    }

    /// A manager event, with `Node:` on a shared spool.
    fn event(&self, name: &str, mut fields: Vec<(&str, String)>) {
        if let Some(node) = self.node {
            fields.push(("Node", node.to_string()));
        }
        self.host.manager_event(name, &fields);
    }

    /// Remove the file per pbx_spool's rules, count and announce the final status.
    fn finish(&self, call: &CallFile, status: FinalStatus, own_mtime: Option<Millis>, last: LastAttempt) -> Outcome {
        self.finish_noting(call, status, own_mtime, last, &[])
    }

    /// [`Visit::finish`], with `notes` written into the archived copy (see
    /// [`bookkeeping::remove_from_queue_noting`]).
    fn finish_noting(
        &self,
        call: &CallFile,
        status: FinalStatus,
        own_mtime: Option<Millis>,
        last: LastAttempt,
        notes: &[String],
    ) -> Outcome {
        let rules = RemovalRules { always_delete: call.always_delete, archive: call.archive, own_mtime };
        let outcome = match bookkeeping::remove_from_queue_noting(
            self.path,
            &self.paths.done,
            rules,
            status.archive_status(),
            bookkeeping::now_ms(),
            notes,
        ) {
            Removal::Deleted | Removal::Gone => Outcome::Done,
            Removal::Archived(target) => {
                self.log(
                    Level::Debug(1),
                    format!("Archived {} as {}", self.shown, crate::text::printable(target.as_os_str().as_bytes())),
                );
                Outcome::Done
            }
            Removal::LeftInPlace { due, by_us: false } => {
                self.log(
                    Level::Debug(1),
                    format!("Leaving {} in place (AlwaysDelete: no, re-dated to the future)", self.shown),
                );
                return Outcome::Requeue(due);
            }
            Removal::LeftInPlace { due, by_us: true } => {
                self.log(
                    Level::Debug(1),
                    format!(
                        "Leaving {} in place until its mtime (AlwaysDelete: no); it is removed then unless it changes",
                        self.shown
                    ),
                );
                Outcome::Kept(Kept { due, archive: call.archive, status: status.archive_status(), claim: None })
            }
            Removal::ArchiveFailedDeleted(why) => {
                self.log(Level::Warning, format!("{why} -- outgoing spool archiving disabled; {} deleted", self.shown));
                Outcome::Done
            }
            Removal::Stuck(why) => {
                self.log(
                    Level::Error,
                    format!(
                        "Unable to remove finished call file {}: {why}; leaving it for the admin{}",
                        self.shown,
                        directory_fix(&self.paths.outgoing)
                    ),
                );
                let now = bookkeeping::now_ms();
                Outcome::Unremovable(Kept {
                    due: now,
                    archive: call.archive,
                    status: status.archive_status(),
                    claim: None,
                })
            }
        };
        let counter = match status {
            FinalStatus::Completed => &self.stats.completed,
            FinalStatus::Expired => &self.stats.expired,
            FinalStatus::Failed => &self.stats.failed,
            FinalStatus::Rejected => &self.stats.rejected,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let channel = String::from_utf8_lossy(&call.channel()).into_owned();
        let mut fields = vec![
            ("File", self.shown.clone()),
            ("Channel", channel),
            ("Status", status.as_str().into()),
            ("Attempts", last.attempts.to_string()),
            ("MaxRetries", call.max_retries.to_string()),
            ("Reason", last.reason.to_string()),
            ("ReasonText", last.reason_text),
            ("Uniqueid", last.uniqueid.clone()),
            ("Linkedid", last.uniqueid),
        ];
        if let Some(campaign) = self.campaign(call) {
            fields.push(("Campaign", campaign));
        }
        self.event("SpoolFinished", fields);
        outcome
    }

    /// A file refused before any attempt (unreadable as a call file, invalid, or against the policy);
    /// `why` are the lines logged. A file the rules rejected keeps them in its archived copy as comments,
    /// since its `Status: Failed` (pbx_spool's word, for tools that read it) does not say why; a file
    /// pbx_spool would refuse too (invalid) is archived exactly as pbx_spool archives it.
    fn refuse(&self, call: &CallFile, status: FinalStatus, why: &[String]) -> Outcome {
        let last = LastAttempt { attempts: call.retries, ..LastAttempt::default() };
        let notes: Vec<String> = match status {
            FinalStatus::Rejected => why.iter().map(|line| format!("pbx_spool_rs: {line}")).collect(),
            _ => Vec::new(),
        };
        self.finish_noting(call, status, None, last, &notes)
    }
}

/// Why a call file is refused before any attempt, in the words that are logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: FinalStatus,
    pub lines: Vec<String>,
}

/// Every check made before a call file may be dialled: owner, validity (pbx_spool's rule), hostile
/// contents, and the security policy. Shared by the spool and the admin's `spool check`.
pub fn preflight<H: Host>(
    host: &H,
    rules: &VisitRules,
    call: &CallFile,
    diagnostics: &[Diagnostic],
    owner_uid: u32,
    shown: &str,
) -> Result<(), Refusal> {
    let refuse = |status, lines: Vec<String>| Err(Refusal { status, lines });
    if rules.allowed_owners.as_ref().is_some_and(|owners| !owners.contains(&owner_uid)) {
        return refuse(FinalStatus::Rejected, vec![owner_refusal(shown, owner_uid)]);
    }
    if let Err(invalid) = call.validate() {
        return refuse(
            FinalStatus::Failed,
            vec![invalid.message(shown), format!("Invalid file contents in {shown}, deleting")],
        );
    }
    if diagnostics.iter().any(|d| d.kind == DiagnosticKind::NulByte) {
        return refuse(FinalStatus::Rejected, vec![format!("Rejected {shown}: it contains NUL bytes (rule contents)")]);
    }
    let functions = HostFunctions { host, live_dangerously: rules.live_dangerously };
    policy::check(call, &rules.policy, &functions)
        .map_err(|rejection| Refusal { status: FinalStatus::Rejected, lines: vec![rejection.message(shown)] })
}

/// The refusal of a file owned by a user not allowed to submit calls, naming the user and the line that
/// would allow it (`allowed_owner = www-data`, the uid where the user has no name).
fn owner_refusal(shown: &str, owner_uid: u32) -> String {
    let (who, allowed) = match crate::os::user_name(owner_uid) {
        Some(name) => (format!("{name} (uid {owner_uid})"), name),
        None => (format!("uid {owner_uid}, a user without a name"), owner_uid.to_string()),
    };
    format!(
        "Rejected {shown}: owned by {who}, who is not allowed to submit calls ('allowed_owner = {allowed}' admits \
         it) (rule owner, value 'uid {owner_uid}')"
    )
}

/// Visit `path`, which has fallen due. `on_start` is told when a call attempt begins.
pub fn visit<H: Host>(
    host: &H,
    paths: &SpoolPaths,
    rules: &VisitRules,
    stats: &Stats,
    path: &Path,
    on_start: &mut dyn FnMut(AttemptStart),
) -> Outcome {
    if host.stock_spooler_loaded() {
        return Outcome::LeftToStockSpooler;
    }
    let shown = crate::text::printable(path.as_os_str().as_bytes());
    let visit =
        Visit { host, node: rules.node.as_deref(), paths, path, shown, stats, campaigns: rules.campaigns.clone() };
    // Held until the file's next state is on disk: dropped on return, or kept with a kept file until it
    // is removed (so no other server takes its unfinished-looking StartRetry for a dead server's).
    let claim = match claim_if_shared(&visit, rules) {
        Ok(claim) => claim,
        Err(outcome) => return outcome,
    };
    match visit_file(&visit, rules, on_start).unwrap_or_else(|ended_early| ended_early) {
        Outcome::Kept(mut kept) => {
            kept.claim = claim.map(HeldClaim::new);
            Outcome::Kept(kept)
        }
        outcome => outcome,
    }
}

/// The visit proper, claimed when the spool is shared: one phase after the other, each handing the next
/// what it needs. A phase that ends the visit early returns its outcome as `Err`.
fn visit_file<H: Host>(
    visit: &Visit<'_, H>,
    rules: &VisitRules,
    on_start: &mut dyn FnMut(AttemptStart),
) -> Result<Outcome, Outcome> {
    let (bytes, meta) = read(visit, rules)?;
    let parsed = parse_logging_diagnostics(visit, &bytes);
    leave_if_advanced_elsewhere(visit, rules, &meta)?;
    check(visit, rules, &parsed, &meta)?;
    let call = parsed.call;
    expire_if_out_of_retries(visit, &call)?;
    leave_if_stock_spooler_loaded(visit)?;
    let attempt = record_start(visit, &call)?;
    let uniqueid = announce(visit, &call, &attempt, on_start);
    let result = visit.host.place_call(&call, attempt.number, &uniqueid);
    Ok(conclude(visit, &call, &attempt, result, uniqueid))
}

/// Read the file (no symlinks, no FIFOs, at most `max_file_size`); `Err` is what becomes of one that
/// cannot be read.
fn read<H: Host>(visit: &Visit<'_, H>, rules: &VisitRules) -> Result<(Vec<u8>, std::fs::Metadata), Outcome> {
    let shown = visit.shown.as_str();
    match bookkeeping::read_call_file(visit.path, rules.max_file_size) {
        Ok(read) => Ok(read),
        Err(ReadError::Gone) => Err(Outcome::Done),
        Err(err @ ReadError::NotRegular(_)) => {
            visit.log(Level::Warning, format!("Ignoring {shown}: {err}; leaving it in place"));
            Err(Outcome::Parked)
        }
        Err(err @ ReadError::TooLarge { .. }) => {
            let line = format!("Rejected {shown}: {err} (rule max_file_size); deleting");
            visit.log(Level::Warning, line.clone());
            Err(visit.refuse(&CallFile::default(), FinalStatus::Rejected, &[line]))
        }
        Err(ReadError::Io(err)) if is_transient(&err) => {
            visit
                .log(Level::Warning, format!("Unable to open {shown}: {err}; trying again in {TRANSIENT_RETRY_MS} ms"));
            Err(Outcome::Requeue(bookkeeping::now_ms() + TRANSIENT_RETRY_MS))
        }
        Err(ReadError::Io(err)) => {
            let fix = permission_fix(visit.path, Need::Read, &err);
            visit.log(Level::Error, format!("Unable to open {shown}: {err}; leaving it in place for the admin{fix}"));
            Err(Outcome::Parked)
        }
    }
}

/// Parse the file, logging each diagnostic at its severity.
fn parse_logging_diagnostics<H: Host>(visit: &Visit<'_, H>, bytes: &[u8]) -> callfile::Parsed {
    let parsed = callfile::parse(bytes);
    for diagnostic in &parsed.diagnostics {
        let level = match diagnostic.severity {
            Severity::Notice => Level::Notice,
            Severity::Warning => Level::Warning,
        };
        visit.log(level, diagnostic.message(&visit.shown));
    }
    parsed
}

/// On a shared spool, the date read under the claim: a file another server advanced since it looked due
/// here (EndRetry, DelayedRetry) is looked at again at its new date.
fn leave_if_advanced_elsewhere<H: Host>(
    visit: &Visit<'_, H>,
    rules: &VisitRules,
    meta: &std::fs::Metadata,
) -> Result<(), Outcome> {
    if rules.node.is_none() {
        return Ok(());
    }
    let mtime = bookkeeping::mtime_ms(meta);
    if mtime > bookkeeping::now_ms() {
        let shown = visit.shown.as_str();
        visit.log(Level::Debug(1), format!("{shown} was advanced by another server; looking again at its new date"));
        return Err(Outcome::Requeue(mtime));
    }
    Ok(())
}

/// The [`preflight`] checks; a refused file is logged and finished with its refusal.
fn check<H: Host>(
    visit: &Visit<'_, H>,
    rules: &VisitRules,
    parsed: &callfile::Parsed,
    meta: &std::fs::Metadata,
) -> Result<(), Outcome> {
    use std::os::unix::fs::MetadataExt;
    let refusal = match preflight(visit.host, rules, &parsed.call, &parsed.diagnostics, meta.uid(), &visit.shown) {
        Ok(()) => return Ok(()),
        Err(refusal) => refusal,
    };
    for line in &refusal.lines {
        visit.log(Level::Warning, line.clone());
    }
    Err(visit.refuse(&parsed.call, refusal.status, &refusal.lines))
}

/// Log the file's retry counts; one whose recorded attempts already exceed MaxRetries is finished as
/// expired, not dialled.
fn expire_if_out_of_retries<H: Host>(visit: &Visit<'_, H>, call: &CallFile) -> Result<(), Outcome> {
    let shown = visit.shown.as_str();
    visit.log(Level::Debug(1), format!("Filename: {shown}, Retries: {}, max: {}", call.retries, call.max_retries));
    if call.retries > call.max_retries {
        log_expired(visit.host, &channel_text(call), call.retries);
        return Err(visit.refuse(call, FinalStatus::Expired, &[]));
    }
    Ok(())
}

/// Asked again right before the StartRetry line: pbx_spool leaves a file whose open StartRetry names this
/// process alone (a call in progress here), but one without it, it dials too.
fn leave_if_stock_spooler_loaded<H: Host>(visit: &Visit<'_, H>) -> Result<(), Outcome> {
    if visit.host.stock_spooler_loaded() {
        return Err(Outcome::LeftToStockSpooler);
    }
    Ok(())
}

/// An attempt recorded in the file (its StartRetry line written), about to be placed.
struct Attempt {
    /// The retries recorded before it, plus one.
    number: i32,
    /// The pid its bookkeeping lines name: Asterisk's.
    pid: i64,
    /// When pbx_spool would re-examine the file: `RetryTime` after the attempt started.
    recheck_at: Millis,
    /// The mtime our own bookkeeping last gave the file; shared so `DelayedRetry` can update it.
    own_mtime: Arc<AtomicI64>,
    /// The call's channel, as logged.
    channel: String,
}

/// Record the attempt before dialling: AbortRetry for an unfinished earlier one, then StartRetry (which
/// dates the file RetryTime ahead). `Err` when they cannot be written: no attempt goes unrecorded.
fn record_start<H: Host>(visit: &Visit<'_, H>, call: &CallFile) -> Result<Attempt, Outcome> {
    let (path, shown) = (visit.path, visit.shown.as_str());
    let pid = visit.host.main_pid();
    let number = call.retries + 1;
    let retry_ms = i64::from(call.retry_time) * 1000;
    let now = bookkeeping::now_ms();
    // A StartRetry without EndRetry/AbortRetry is an attempt that did not finish: its process is gone
    // (the scheduler never visits a file whose attempt is still running here), whatever pid it names. On a
    // shared spool the claim proves it for every server: a running attempt's server holds the lock.
    let record = || -> std::io::Result<Millis> {
        if call.calling_pid.is_some() {
            bookkeeping::append_mark(path, Mark::AbortRetry, pid, number, now, call.retry_time)?;
        }
        bookkeeping::append_mark(path, Mark::StartRetry, pid, number, now + retry_ms, call.retry_time)
    };
    match record() {
        Ok(mtime) => Ok(Attempt {
            number,
            pid,
            recheck_at: now + retry_ms,
            own_mtime: Arc::new(AtomicI64::new(mtime)),
            channel: channel_text(call),
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(Outcome::Done),
        Err(err) if is_transient(&err) => {
            visit.log(
                Level::Warning,
                format!("Unable to record the attempt in {shown} ({err}): not dialling yet; trying again in {TRANSIENT_RETRY_MS} ms"),
            );
            Err(Outcome::Requeue(bookkeeping::now_ms() + TRANSIENT_RETRY_MS))
        }
        Err(err) => {
            let fix = permission_fix(path, Need::ReadWrite, &err);
            visit.log(
                Level::Error,
                format!(
                    "Unable to record the attempt in {shown} ({err}): not dialling, so that no attempt goes \
                     unrecorded; leaving the file for the admin{fix}"
                ),
            );
            Err(Outcome::Parked)
        }
    }
}

/// Tell the scheduler (`on_start`) and the admin (the "Attempting call" line, the count, `SpoolAttempt`)
/// that the attempt begins; returns the uniqueid its channel gets.
fn announce<H: Host>(
    visit: &Visit<'_, H>,
    call: &CallFile,
    attempt: &Attempt,
    on_start: &mut dyn FnMut(AttemptStart),
) -> String {
    let uniqueid = attempt_uniqueid(attempt.pid);
    on_start(AttemptStart {
        recheck_at: attempt.recheck_at,
        retries_before: call.retries,
        retry_time_s: call.retry_time,
        own_mtime: attempt.own_mtime.clone(),
        uniqueid: uniqueid.clone(),
    });
    let destination = destination_text(call);
    let (channel, number) = (&attempt.channel, attempt.number);
    visit.log(Level::Verbose(3), format!("Attempting call on {channel} for {destination} (Retry {number})"));
    visit.stats.attempts.fetch_add(1, Ordering::Relaxed);
    let mut fields = vec![
        ("File", visit.shown.clone()),
        ("Channel", channel.clone()),
        ("Destination", destination),
        ("Attempt", number.to_string()),
        ("MaxRetries", call.max_retries.to_string()),
        ("Uniqueid", uniqueid.clone()),
    ];
    if let Some(campaign) = visit.campaign(call) {
        fields.push(("Campaign", campaign));
    }
    visit.event("SpoolAttempt", fields);
    uniqueid
}

/// After the call: answered, the file is finished as completed; not answered, as expired on its last
/// attempt, otherwise dated for the next one.
fn conclude<H: Host>(
    visit: &Visit<'_, H>,
    call: &CallFile,
    attempt: &Attempt,
    result: CallResult,
    uniqueid: String,
) -> Outcome {
    let own_mtime = Some(attempt.own_mtime.load(Ordering::SeqCst));
    let last =
        LastAttempt { attempts: attempt.number, reason: result.reason, reason_text: result.reason_text, uniqueid };
    if result.answered {
        visit.log(Level::Notice, format!("Call completed to {}", attempt.channel));
        return visit.finish(call, FinalStatus::Completed, own_mtime, last);
    }
    visit.log(Level::Notice, format!("Call failed to go through, reason ({}) {}", last.reason, last.reason_text));
    if attempt.number > call.max_retries {
        log_expired(visit.host, &attempt.channel, attempt.number);
        return visit.finish(call, FinalStatus::Expired, own_mtime, last);
    }
    record_end(visit, call, attempt)
}

/// Record the end of an unanswered attempt with retries left (EndRetry, which dates the file for the next
/// one); `Outcome::Requeue` at that date.
fn record_end<H: Host>(visit: &Visit<'_, H>, call: &CallFile, attempt: &Attempt) -> Outcome {
    let (path, shown) = (visit.path, visit.shown.as_str());
    let now = bookkeeping::now_ms();
    match bookkeeping::append_mark(path, Mark::EndRetry, attempt.pid, attempt.number, now, call.retry_time) {
        Ok(due) => Outcome::Requeue(due),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Outcome::Done,
        Err(err) => {
            let fix = permission_fix(path, Need::ReadWrite, &err);
            visit.log(
                Level::Error,
                format!(
                    "Unable to record the end of the attempt in {shown} ({err}); leaving the file for the admin{fix}"
                ),
            );
            Outcome::Parked
        }
    }
}

/// The call's channel, as logged and announced.
fn channel_text(call: &CallFile) -> String {
    String::from_utf8_lossy(&call.channel()).into_owned()
}

/// Where the call goes, as logged and announced: `application Name(data)` or `exten@context:priority`.
fn destination_text(call: &CallFile) -> String {
    if call.is_application() {
        format!("application {}({})", String::from_utf8_lossy(&call.application), String::from_utf8_lossy(&call.data))
    } else {
        format!(
            "{}@{}:{}",
            String::from_utf8_lossy(&call.extension),
            String::from_utf8_lossy(&call.context),
            call.priority
        )
    }
}

/// Why a finished file is still in outgoing/ when [`remove_kept`] removes it, as logged.
pub const KEPT_UNTIL_ITS_DATE: &str =
    "was kept by AlwaysDelete: no until its date and has not changed since its last attempt";

/// The end of a [`Kept`] file, at its date and unchanged since its last attempt (or of an
/// [`Outcome::Unremovable`] one, unchanged since): removed or archived (with the status of that attempt)
/// without dialling. Its outcome was counted and announced already. `why` says why it was still there.
pub fn remove_kept<H: Host>(host: &H, paths: &SpoolPaths, path: &Path, kept: Kept, why: &str) -> Outcome {
    let shown = crate::text::printable(path.as_os_str().as_bytes());
    let rules = RemovalRules { always_delete: true, archive: kept.archive, own_mtime: None };
    let removal = bookkeeping::remove_from_queue(path, &paths.done, rules, kept.status, bookkeeping::now_ms());
    let what = match &removal {
        Removal::Deleted => "deleted".to_string(),
        Removal::Archived(target) => format!("archived as {}", crate::text::printable(target.as_os_str().as_bytes())),
        Removal::Gone | Removal::LeftInPlace { .. } => return Outcome::Done,
        Removal::ArchiveFailedDeleted(why) => {
            host_log!(host, Level::Warning, "{why} -- outgoing spool archiving disabled; {shown} deleted");
            return Outcome::Done;
        }
        Removal::Stuck(stuck) => {
            let fix = directory_fix(&paths.outgoing);
            host_log!(
                host,
                Level::Error,
                "Unable to remove finished call file {shown}: {stuck}; leaving it for the admin{fix}"
            );
            return Outcome::Unremovable(kept);
        }
    };
    host_log!(host, Level::Verbose(3), "{shown} {why} ({}): {what}, not dialled again", kept.status.as_str());
    Outcome::Done
}

/// On a shared spool, claim the file before reading it. `Err` is the outcome when it cannot be claimed:
/// gone (finished elsewhere), another server's (looked at again at its date), or not lockable here.
fn claim_if_shared<H: Host>(visit: &Visit<'_, H>, rules: &VisitRules) -> Result<Option<Claim>, Outcome> {
    if rules.node.is_none() {
        return Ok(None);
    }
    let shown = visit.shown.as_str();
    match Claim::try_take(visit.path) {
        Ok(claim) => Ok(Some(claim)),
        Err(ClaimError::Gone) => Err(Outcome::Done),
        Err(ClaimError::Taken) => {
            visit.stats.claims_lost.fetch_add(1, Ordering::Relaxed);
            visit.log(Level::Debug(1), format!("{shown} is claimed by another server; leaving it to it"));
            let now = bookkeeping::now_ms();
            let again = bookkeeping::regular_file_mtime(visit.path).map_or(now, |mtime| mtime.max(now));
            Err(Outcome::Requeue(again.max(now + CLAIM_LOST_RETRY_MS)))
        }
        Err(ClaimError::Io(err)) if is_transient(&err) => {
            visit.log(
                Level::Warning,
                format!("Unable to claim {shown}: {err}; trying again in {TRANSIENT_RETRY_MS} ms"),
            );
            Err(Outcome::Requeue(bookkeeping::now_ms() + TRANSIENT_RETRY_MS))
        }
        Err(ClaimError::Io(err)) => {
            visit.log(
                Level::Error,
                format!(
                    "Unable to claim {shown} ({err}): shared = yes dials only files it holds locked; leaving it \
                     for the admin (does this file system support OFD locks? see docs/shared-spool.md)"
                ),
            );
            Err(Outcome::Parked)
        }
    }
}

/// After a refusal on permissions, the end of the log line: `: cannot write <file>: Permission denied
/// (Asterisk runs as uid 101 user asterisk; ...). Fix: chown asterisk:asterisk <file> ...`; empty for
/// any other error.
fn permission_fix(path: &Path, need: Need, err: &std::io::Error) -> String {
    if err.kind() != std::io::ErrorKind::PermissionDenied {
        return String::new();
    }
    format!(": {}", access::explain_call_file(path, need, err, &Identity::current()))
}

/// When a finished file could not be removed: the end of the log line naming the fix, if the user
/// Asterisk runs as cannot write in `outgoing`; empty otherwise.
fn directory_fix(outgoing: &Path) -> String {
    match access::effective_access(outgoing, Need::DirWrite) {
        Err(err) => format!(": {}", access::explain(outgoing, Need::DirWrite, &err, &Identity::current())),
        Ok(()) => String::new(),
    }
}

/// How long a file another server holds is left alone, at least, before it is looked at again (its own
/// date, once that server has written it, usually comes later).
const CLAIM_LOST_RETRY_MS: Millis = 1000;

/// How long a file waits after a passing resource shortage before it is tried again.
const TRANSIENT_RETRY_MS: Millis = 1000;

/// Errors that say "not now" rather than "never" (out of descriptors or memory, interrupted): the file is
/// tried again shortly instead of being left for the admin.
fn is_transient(err: &std::io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::EAGAIN | libc::EINTR))
}

/// pbx_spool's wording, with the right count (pbx_spool prints one less than the attempts made).
fn log_expired<H: Host>(host: &H, channel: &str, attempts: i32) {
    let plural = if attempts != 1 { "s" } else { "" };
    host_log!(
        host,
        Level::Notice,
        "Queued call to {channel} expired without completion after {attempts} attempt{plural}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{answered, busy, temp_spool, FakeHost};
    use std::fs;

    #[test]
    fn an_owner_refusal_names_the_user_and_the_line_that_allows_it() {
        let line = owner_refusal("/s/a.call", 0);
        assert_eq!(
            line,
            "Rejected /s/a.call: owned by root (uid 0), who is not allowed to submit calls ('allowed_owner = root' \
             admits it) (rule owner, value 'uid 0')"
        );
        let line = owner_refusal("/s/a.call", 4_000_000_001);
        assert!(line.contains("owned by uid 4000000001, a user without a name"), "{line}");
        assert!(line.contains("('allowed_owner = 4000000001' admits it)"), "{line}");
    }

    #[test]
    fn a_refusal_on_permissions_ends_the_log_line_with_who_asterisk_is_and_the_owner() {
        let spool = temp_spool("attempt-permission-fix");
        let file = spool.outgoing.join("a.call");
        fs::write(&file, "Channel: Local/1@x\n").unwrap();
        assert_eq!(permission_fix(&file, Need::Read, &std::io::Error::from_raw_os_error(libc::EIO)), "");
        let fix = permission_fix(&file, Need::ReadWrite, &std::io::Error::from_raw_os_error(libc::EACCES));
        let me = Identity::current();
        let start = format!(": cannot write {}: Permission denied (Asterisk runs as {}", file.display(), me.describe());
        assert!(fix.starts_with(&start), "{fix}");
        assert!(fix.contains("; the file is owned by "), "{fix}");
        // The process can write its own temporary spool: no directory fix to add.
        assert_eq!(directory_fix(&spool.outgoing), "");
    }

    fn visit_file(host: &FakeHost, paths: &SpoolPaths, name: &str, contents: &str) -> (Outcome, Option<AttemptStart>) {
        let path = paths.outgoing.join(name);
        fs::write(&path, contents).unwrap();
        let mut started = None;
        let outcome = visit(host, paths, &VisitRules::default(), &Stats::default(), &path, &mut |s| started = Some(s));
        (outcome, started)
    }

    #[test]
    fn a_visit_with_the_stock_spooler_loaded_leaves_the_file_as_it_was() {
        let paths = temp_spool("attempt-stock");
        let host = FakeHost::new(|_, _| answered());
        host.set_stock_spooler_loaded(true);
        let contents = format!("{CALL}Archive: yes\n");
        let (outcome, started) = visit_file(&host, &paths, "s.call", &contents);
        assert_eq!(outcome, Outcome::LeftToStockSpooler);
        assert!(started.is_none());
        assert_eq!(fs::read_to_string(paths.outgoing.join("s.call")).unwrap(), contents);
        assert!(host.with(|r| r.calls.is_empty() && r.events.is_empty()));
    }

    fn final_event(host: &FakeHost) -> Vec<(String, String)> {
        host.with(|r| r.events.iter().rev().find(|(e, _)| e == "SpoolFinished").map(|(_, f)| f.clone()).unwrap())
    }

    fn field(fields: &[(String, String)], key: &str) -> String {
        fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default()
    }

    const CALL: &str = "Channel: Local/s@ctx\nContext: dest\nExtension: s\n";

    #[test]
    fn completed_call_is_archived_with_pbx_spools_lines() {
        let host = FakeHost::new(|_, _| answered());
        let paths = temp_spool("completed");
        let (outcome, started) = visit_file(&host, &paths, "a.call", &format!("{CALL}Archive: yes\n"));
        assert_eq!(outcome, Outcome::Done);
        assert!(started.is_some());
        let archived = fs::read_to_string(paths.done.join("a.call")).unwrap();
        let start = archived.find("\nStartRetry: 4242 1 (").expect(&archived);
        assert!(archived[start..].ends_with(")\nStatus: Completed\n"), "{archived}");
        assert!(!paths.outgoing.join("a.call").exists());
        assert!(host.logged("Call completed to Local/s@ctx"));
        assert_eq!(field(&final_event(&host), "Status"), "Completed");
        assert_eq!(host.with(|r| r.calls[0].1), 1);
    }

    #[test]
    fn failed_attempt_with_retries_left_is_requeued_after_retry_time() {
        let host = FakeHost::new(|_, _| busy());
        let paths = temp_spool("requeue");
        let before = bookkeeping::now_ms();
        let (outcome, _) = visit_file(&host, &paths, "r.call", &format!("{CALL}MaxRetries: 2\nRetryTime: 60\n"));
        let Outcome::Requeue(due) = outcome else { panic!("{outcome:?}") };
        assert!(due >= before + 60_000 && due <= bookkeeping::now_ms() + 60_000, "{due}");
        let text = fs::read_to_string(paths.outgoing.join("r.call")).unwrap();
        assert!(text.contains("\nStartRetry: 4242 1 ("), "{text}");
        assert!(text.contains("\nEndRetry: 4242 1 ("), "{text}");
        assert!(host.logged("Call failed to go through, reason (5) Remote end is busy"));
    }

    #[test]
    fn last_attempt_expires_and_counts_attempts_right() {
        let host = FakeHost::new(|_, _| busy());
        let paths = temp_spool("expire");
        let contents = format!("{CALL}MaxRetries: 1\n\nStartRetry: 1 1 (5)\n\nEndRetry: 1 1 (6)\n");
        let (outcome, _) = visit_file(&host, &paths, "e.call", &contents);
        assert_eq!(outcome, Outcome::Done);
        assert!(host.logged("Queued call to Local/s@ctx expired without completion after 2 attempts"));
        assert_eq!(host.with(|r| r.calls[0].1), 2);
        let event = final_event(&host);
        assert_eq!((field(&event, "Status"), field(&event, "Attempts")), ("Expired".into(), "2".into()));
    }

    #[test]
    fn unfinished_attempt_is_aborted_even_with_our_own_pid() {
        // A crashed Asterisk whose successor got the same pid: pbx_spool would append DelayedRetry forever.
        let host = FakeHost::new(|_, _| answered());
        let paths = temp_spool("abort");
        let contents = format!("{CALL}MaxRetries: 1\nArchive: yes\n\nStartRetry: 4242 1 (5)\n");
        let (outcome, _) = visit_file(&host, &paths, "c.call", &contents);
        assert_eq!(outcome, Outcome::Done);
        let archived = fs::read_to_string(paths.done.join("c.call")).unwrap();
        // pbx_spool's numbers: the aborted attempt is counted from the next parse on (AbortRetry counts
        // as a retry), and both new lines carry the retry count plus one.
        let abort = archived.find("\nAbortRetry: 4242 1 (").expect(&archived);
        let start = archived.rfind("\nStartRetry: 4242 1 (").expect(&archived);
        assert!(abort < start, "{archived}");
        assert_eq!(host.with(|r| r.calls.len()), 1);
    }

    #[test]
    fn invalid_file_fails_with_pbx_spools_words_and_no_call() {
        let host = FakeHost::new(|_, _| answered());
        let paths = temp_spool("invalid");
        let (outcome, _) = visit_file(&host, &paths, "i.call", "Channel: Local/s@ctx\nArchive: yes\n");
        assert_eq!(outcome, Outcome::Done);
        assert!(host.logged("Invalid file contents in"));
        assert!(fs::read_to_string(paths.done.join("i.call")).unwrap().ends_with("Status: Failed\n"));
        assert_eq!(host.with(|r| r.calls.len()), 0);
        assert_eq!(field(&final_event(&host), "Status"), "Failed");
    }

    #[test]
    fn policy_rejection_places_no_call() {
        let host = FakeHost::new(|_, _| answered());
        let paths = temp_spool("reject");
        let (outcome, started) = visit_file(&host, &paths, "t.call", "Channel: PJSIP/123@trunk\nApplication: Echo\n");
        assert_eq!(outcome, Outcome::Done);
        assert!(started.is_none());
        assert_eq!(host.with(|r| r.calls.len()), 0);
        assert!(host.logged("Rejected"));
        assert!(!paths.outgoing.join("t.call").exists());
        assert_eq!(field(&final_event(&host), "Status"), "Rejected");
    }

    #[test]
    fn dangerous_function_write_is_refused_unless_live_dangerously() {
        let host = FakeHost::new(|_, _| answered());
        let paths = temp_spool("dangerous");
        let path = paths.outgoing.join("f.call");
        let contents = format!("{CALL}Set: FILE(/tmp/x)=evil\n");
        fs::write(&path, &contents).unwrap();
        let outcome = visit(&*host, &paths, &VisitRules::default(), &Stats::default(), &path, &mut |_| {});
        assert_eq!(outcome, Outcome::Done);
        assert_eq!(host.with(|r| r.calls.len()), 0);
        fs::write(&path, &contents).unwrap();
        let rules = VisitRules { live_dangerously: true, ..VisitRules::default() };
        visit(&*host, &paths, &rules, &Stats::default(), &path, &mut |_| {});
        assert_eq!(host.with(|r| r.calls.len()), 1);
    }

    #[test]
    fn always_delete_no_keeps_a_file_the_dialplan_redated_and_one_our_own_bookkeeping_dated() {
        let paths = temp_spool("alwaysdelete");
        let redate_to = bookkeeping::now_ms() + 3_600_000;
        let outgoing = paths.outgoing.clone();
        let host = FakeHost::new(move |_, _| {
            bookkeeping::set_times(&outgoing.join("k.call"), redate_to, redate_to).unwrap();
            answered()
        });
        let (outcome, _) = visit_file(&host, &paths, "k.call", &format!("{CALL}AlwaysDelete: no\n"));
        assert_eq!(outcome, Outcome::Requeue(redate_to));
        assert!(paths.outgoing.join("k.call").exists());

        assert!(host.with(|r| r.events.iter().all(|(e, _)| e != "SpoolFinished")), "a re-dated file is not finished");

        // Without a re-date, the future mtime is our own StartRetry's: kept, as pbx_spool keeps it, but
        // finished (announced now, removed at that date without dialling).
        let host = FakeHost::new(|_, _| answered());
        let before = bookkeeping::now_ms();
        let (outcome, _) = visit_file(&host, &paths, "d.call", &format!("{CALL}AlwaysDelete: no\nArchive: yes\n"));
        let Outcome::Kept(kept) = outcome else { panic!("{outcome:?}") };
        assert_eq!((kept.archive, kept.status), (true, Status::Completed));
        assert!(kept.due >= before + 300_000, "due {} = the StartRetry date, RetryTime (300 s) ahead", kept.due);
        assert!(paths.outgoing.join("d.call").exists());
        assert_eq!(field(&final_event(&host), "Status"), "Completed");

        let kept_path = paths.outgoing.join("d.call");
        assert_eq!(remove_kept(&*host, &paths, &kept_path, kept, KEPT_UNTIL_ITS_DATE), Outcome::Done);
        assert!(!kept_path.exists());
        let archived = fs::read_to_string(paths.done.join("d.call")).unwrap();
        assert!(archived.ends_with(")\nStatus: Completed\n"), "{archived}");
        assert_eq!(host.with(|r| r.calls.len()), 1, "never dialled again");
    }

    #[test]
    fn always_delete_no_keeps_an_expired_file_until_its_date() {
        // The Asterisk testsuite's call_file_retries_alwaysdelete: after the last failed attempt the file
        // is still in outgoing/.
        let host = FakeHost::new(|_, _| busy());
        let paths = temp_spool("expired-kept");
        let contents = format!(
            "{CALL}AlwaysDelete: no\nMaxRetries: 1\nRetryTime: 3\n\nStartRetry: 4242 1 (5)\n\nEndRetry: 4242 1 (6)\n"
        );
        let (outcome, _) = visit_file(&host, &paths, "x.call", &contents);
        let Outcome::Kept(kept) = outcome else { panic!("{outcome:?}") };
        assert_eq!((kept.archive, kept.status), (false, Status::Expired));
        assert!(paths.outgoing.join("x.call").exists());
        assert!(host.logged("Queued call to Local/s@ctx expired without completion after 2 attempts"));
        assert_eq!(field(&final_event(&host), "Status"), "Expired");
        assert_eq!(
            remove_kept(&*host, &paths, &paths.outgoing.join("x.call"), kept, KEPT_UNTIL_ITS_DATE),
            Outcome::Done
        );
        assert!(!paths.outgoing.join("x.call").exists());
        assert!(!paths.done.join("x.call").exists(), "Archive: no");
    }

    #[test]
    fn oversize_and_special_files_are_not_dialled() {
        let host = FakeHost::new(|_, _| answered());
        let paths = temp_spool("special");
        let big = "Set: X=y\n".repeat(10_000);
        let (outcome, _) = visit_file(&host, &paths, "big.call", &format!("{CALL}{big}"));
        assert_eq!(outcome, Outcome::Done);
        assert!(!paths.outgoing.join("big.call").exists());
        let link = paths.outgoing.join("link.call");
        std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
        let outcome = visit(&*host, &paths, &VisitRules::default(), &Stats::default(), &link, &mut |_| {});
        assert_eq!(outcome, Outcome::Parked);
        assert!(fs::symlink_metadata(&link).is_ok(), "the symlink is left for the admin");
        assert_eq!(host.with(|r| r.calls.len()), 0);
    }

    fn shared_rules() -> VisitRules {
        VisitRules { node: Some(Arc::from("ast1")), ..VisitRules::default() }
    }

    #[test]
    fn shared_spool_a_file_another_server_holds_is_left_alone() {
        let host = FakeHost::new(|_, _| answered());
        let paths = temp_spool("claimed");
        let path = paths.outgoing.join("c.call");
        fs::write(&path, CALL).unwrap();
        let other_server = crate::claim::Claim::try_take(&path).unwrap();
        let stats = Stats::default();
        let outcome = visit(&*host, &paths, &shared_rules(), &stats, &path, &mut |_| {});
        assert!(matches!(outcome, Outcome::Requeue(due) if due >= bookkeeping::now_ms()), "{outcome:?}");
        assert_eq!(stats.claims_lost.load(Ordering::Relaxed), 1);
        assert_eq!(host.with(|r| r.calls.len()), 0);
        assert_eq!(fs::read_to_string(&path).unwrap(), CALL, "untouched");
        drop(other_server);
        let outcome = visit(&*host, &paths, &shared_rules(), &stats, &path, &mut |_| {});
        assert_eq!(outcome, Outcome::Done);
        assert_eq!(host.with(|r| r.calls.len()), 1);
        assert_eq!(field(&final_event(&host), "Node"), "ast1");
        assert!(host.logged("[node ast1] Call completed to Local/s@ctx"));
    }

    #[test]
    fn shared_spool_a_file_another_server_advanced_is_not_dialled() {
        let host = FakeHost::new(|_, _| answered());
        let paths = temp_spool("advanced");
        let path = paths.outgoing.join("a.call");
        fs::write(&path, format!("{CALL}MaxRetries: 2\n\nStartRetry: 1 1 (5)\n\nEndRetry: 1 1 (6)\n")).unwrap();
        let later = bookkeeping::now_ms() + 60_000;
        bookkeeping::set_times(&path, later, later).unwrap();
        let outcome = visit(&*host, &paths, &shared_rules(), &Stats::default(), &path, &mut |_| {});
        assert_eq!(outcome, Outcome::Requeue(later));
        assert_eq!(host.with(|r| r.calls.len()), 0);
    }

    #[test]
    fn shared_spool_an_unclaimed_unfinished_attempt_is_aborted_then_taken_over() {
        let host = FakeHost::new(|_, _| answered());
        let paths = temp_spool("takeover");
        let path = paths.outgoing.join("t.call");
        fs::write(&path, format!("{CALL}MaxRetries: 1\nArchive: yes\n\nStartRetry: 999999 1 (5)\n")).unwrap();
        let outcome = visit(&*host, &paths, &shared_rules(), &Stats::default(), &path, &mut |_| {});
        assert_eq!(outcome, Outcome::Done);
        let archived = fs::read_to_string(paths.done.join("t.call")).unwrap();
        assert!(archived.contains("\nAbortRetry: 4242 1 ("), "{archived}");
        assert_eq!(host.with(|r| r.calls.len()), 1);
    }

    #[test]
    fn shared_spool_a_kept_file_stays_claimed_until_it_is_removed() {
        // Its StartRetry looks unfinished: unclaimed, another server would abort it and dial it again.
        let host = FakeHost::new(|_, _| answered());
        let paths = temp_spool("kept-claimed");
        let path = paths.outgoing.join("k.call");
        fs::write(&path, format!("{CALL}AlwaysDelete: no\n")).unwrap();
        let outcome = visit(&*host, &paths, &shared_rules(), &Stats::default(), &path, &mut |_| {});
        let Outcome::Kept(kept) = outcome else { panic!("{outcome:?}") };
        assert!(kept.claim.is_some());
        assert!(crate::claim::is_taken(&path).unwrap(), "claimed while kept");
        assert_eq!(remove_kept(&*host, &paths, &path, kept, KEPT_UNTIL_ITS_DATE), Outcome::Done);
        assert!(!path.exists());
    }

    #[test]
    fn attempt_uniqueids_are_never_a_prefix_of_one_another() {
        let ids: Vec<String> = (0..200).map(|_| attempt_uniqueid(4242)).collect();
        for (i, a) in ids.iter().enumerate() {
            for b in &ids[i + 1..] {
                assert!(!b.starts_with(a.as_str()) && !a.starts_with(b.as_str()), "{a} / {b}");
            }
        }
        assert!(ids[0].len() < 80, "Asterisk keeps uniqueids under AST_MAX_UNIQUEID (150)");
    }
}
