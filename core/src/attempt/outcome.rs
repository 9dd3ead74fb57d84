//! How a visit ends: the [`Outcome`] the scheduler acts on, and the file's end by pbx_spool's rules
//! (deleted, archived to `outgoing_done/`, or kept by `AlwaysDelete: no`), counted in [`Stats`](super::Stats) and
//! announced as `SpoolFinished`; and the later removal of a kept file. Must not dial, nor write bookkeeping
//! lines (that is `phases.rs`'s job). No FFI.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::visit::Visit;
use super::SpoolPaths;
use crate::access::{self, Need};
use crate::bookkeeping::{self, Millis, Removal, RemovalRules, Status};
use crate::callfile::CallFile;
use crate::claim::Claim;
use crate::host::{Host, Level};
use crate::host_log;
use crate::os::Identity;

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

/// The last attempt of a file, for the `SpoolFinished` event.
#[derive(Default)]
pub(super) struct LastAttempt {
    pub(super) attempts: i32,
    pub(super) reason: i32,
    pub(super) reason_text: String,
    pub(super) uniqueid: String,
    /// Its outcome, when it was placed (the dialplan's `SPOOL(outcome)` word where it wrote one): in
    /// `SpoolFinished` and the archived copy.
    pub(super) outcome: Option<crate::outcome_names::Recorded>,
}

impl<H: Host> Visit<'_, H> {
    /// Remove the file per pbx_spool's rules, count and announce the final status.
    pub(super) fn finish(
        &self,
        call: &CallFile,
        status: FinalStatus,
        own_mtime: Option<Millis>,
        last: LastAttempt,
    ) -> Outcome {
        let notes: Vec<String> = last.outcome.iter().map(crate::outcome_names::Recorded::note).collect();
        self.finish_noting(call, status, own_mtime, last, &notes)
    }

    /// [`Visit::finish`], with `notes` written into the archived copy (the last attempt's outcome, why a
    /// file was refused; see
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
        let campaign = self.campaign(call);
        self.stats.tallies.finished(campaign.as_deref(), status.as_str());
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
        if let Some(outcome) = last.outcome {
            fields.push(("Outcome", outcome.name));
            if let Some((cause, cause_text)) = outcome.cause {
                fields.push(("Cause", cause.to_string()));
                fields.push(("CauseText", cause_text));
            }
        }
        if let Some(campaign) = campaign {
            fields.push(("Campaign", campaign));
        }
        fields.push(("Tag", crate::tag::of(call)));
        self.event("SpoolFinished", fields);
        outcome
    }

    /// A file refused before any attempt (unreadable as a call file, invalid, or against the policy);
    /// `why` are the lines logged. A file the rules rejected keeps them in its archived copy as comments,
    /// since its `Status: Failed` (pbx_spool's word, for tools that read it) does not say why; a file
    /// pbx_spool would refuse too (invalid) is archived exactly as pbx_spool archives it.
    pub(super) fn refuse(&self, call: &CallFile, status: FinalStatus, why: &[String]) -> Outcome {
        let last = LastAttempt { attempts: call.retries, reason_text: why.join(" "), ..LastAttempt::default() };
        let notes: Vec<String> = match status {
            FinalStatus::Rejected => why.iter().map(|line| format!("pbx_spool_rs: {line}")).collect(),
            _ => Vec::new(),
        };
        self.finish_noting(call, status, None, last, &notes)
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

/// When a finished file could not be removed: the end of the log line naming the fix, if the user
/// Asterisk runs as cannot write in `outgoing`; empty otherwise.
pub(super) fn directory_fix(outgoing: &Path) -> String {
    match access::effective_access(outgoing, Need::DirWrite) {
        Err(err) => format!(": {}", access::explain(outgoing, Need::DirWrite, &err, &Identity::current())),
        Ok(()) => String::new(),
    }
}
