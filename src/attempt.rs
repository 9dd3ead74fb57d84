//! One visit to a due call file: pbx_spool's `scan_service` and `attempt_thread` rolled into one step, run on
//! a worker thread. Reads and parses the file, applies the retry rules, writes the bookkeeping lines, places
//! the call through the [`Host`], and removes or archives the file at the end. Log texts keep pbx_spool's
//! wording so existing log watchers keep working. No FFI here.

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::bookkeeping::{self, Mark, Millis, ReadError, Removal, RemovalRules, Status};
use crate::callfile::{self, CallFile, DiagnosticKind, Severity};
use crate::host::{Host, Level};
use crate::host_log;

/// Where call files live and the limits applied when reading them.
#[derive(Debug, Clone)]
pub struct SpoolPaths {
    pub outgoing: std::path::PathBuf,
    pub done: std::path::PathBuf,
}

/// Per-visit settings taken from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct VisitLimits {
    /// Files larger than this are refused unread.
    pub max_file_size: u64,
}

impl Default for VisitLimits {
    fn default() -> Self {
        VisitLimits {
            max_file_size: 64 * 1024,
        }
    }
}

/// What the scheduler must do with the file after a visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Still in the spool and due again at this time (after `EndRetry`, or left in place by
    /// `AlwaysDelete: no`).
    Requeue(Millis),
    /// Finished: deleted, archived or vanished. The name is forgotten.
    Done,
    /// Left in place for the admin (unreadable, not writable, not a regular file): not visited again
    /// until the file changes, so there is no busy loop.
    Parked,
}

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
}

/// Visit `path`, which has fallen due. `on_start` is told when a call attempt begins.
pub fn visit<H: Host>(
    host: &H,
    paths: &SpoolPaths,
    limits: VisitLimits,
    path: &Path,
    on_start: &mut dyn FnMut(AttemptStart),
) -> Outcome {
    let shown = path.display().to_string();
    let bytes = match bookkeeping::read_call_file(path, limits.max_file_size) {
        Ok((bytes, _)) => bytes,
        Err(ReadError::Gone) => return Outcome::Done,
        Err(err @ ReadError::NotRegular(_)) => {
            host_log!(
                host,
                Level::Warning,
                "Ignoring {shown}: {err}; leaving it in place"
            );
            return Outcome::Parked;
        }
        Err(err @ ReadError::TooLarge { .. }) => {
            host_log!(
                host,
                Level::Warning,
                "Invalid file contents in {shown}, deleting: {err}"
            );
            return finish(
                host,
                paths,
                path,
                &CallFile::default(),
                Status::Failed,
                None,
            );
        }
        Err(ReadError::Io(err)) => {
            host_log!(
                host,
                Level::Error,
                "Unable to open {shown}: {err}; leaving it in place for the admin"
            );
            return Outcome::Parked;
        }
    };

    let parsed = callfile::parse(&bytes);
    let mut hostile = false;
    for diagnostic in &parsed.diagnostics {
        let level = match diagnostic.severity {
            Severity::Notice => Level::Notice,
            Severity::Warning => Level::Warning,
        };
        host_log!(host, level, "{}", diagnostic.message(&shown));
        hostile |= diagnostic.kind == DiagnosticKind::NulByte;
    }
    let call = parsed.call;
    if let Err(invalid) = call.validate() {
        host_log!(host, Level::Warning, "{}", invalid.message(&shown));
        host_log!(
            host,
            Level::Warning,
            "Invalid file contents in {shown}, deleting"
        );
        return finish(host, paths, path, &call, Status::Failed, None);
    }
    if hostile {
        host_log!(
            host,
            Level::Warning,
            "Invalid file contents in {shown} (NUL bytes), deleting"
        );
        return finish(host, paths, path, &call, Status::Failed, None);
    }

    host_log!(
        host,
        Level::Debug(1),
        "Filename: {shown}, Retries: {}, max: {}",
        call.retries,
        call.max_retries
    );
    let channel = String::from_utf8_lossy(&call.channel()).into_owned();
    if call.retries > call.max_retries {
        log_expired(host, &channel, call.retries);
        return finish(host, paths, path, &call, Status::Expired, None);
    }

    let pid = host.main_pid();
    let attempt = call.retries + 1;
    let retry_ms = i64::from(call.retry_time) * 1000;
    let now = bookkeeping::now_ms();
    // A StartRetry without EndRetry/AbortRetry is an attempt that did not finish: its process is gone
    // (the scheduler never visits a file whose attempt is still running here), whatever pid it names.
    let record = || -> std::io::Result<Millis> {
        if call.calling_pid.is_some() {
            bookkeeping::append_mark(path, Mark::AbortRetry, pid, attempt, now, call.retry_time)?;
        }
        bookkeeping::append_mark(
            path,
            Mark::StartRetry,
            pid,
            attempt,
            now + retry_ms,
            call.retry_time,
        )
    };
    let own_mtime = match record() {
        Ok(mtime) => Arc::new(AtomicI64::new(mtime)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Outcome::Done,
        Err(err) => {
            host_log!(
                host,
                Level::Error,
                "Unable to record the attempt in {shown} ({err}): not dialling, so that no attempt goes unrecorded; \
                 leaving the file for the admin"
            );
            return Outcome::Parked;
        }
    };
    on_start(AttemptStart {
        recheck_at: now + retry_ms,
        retries_before: call.retries,
        retry_time_s: call.retry_time,
        own_mtime: own_mtime.clone(),
    });

    if call.is_application() {
        host_log!(
            host,
            Level::Verbose(3),
            "Attempting call on {channel} for application {}({}) (Retry {attempt})",
            String::from_utf8_lossy(&call.application),
            String::from_utf8_lossy(&call.data)
        );
    } else {
        host_log!(
            host,
            Level::Verbose(3),
            "Attempting call on {channel} for {}@{}:{} (Retry {attempt})",
            String::from_utf8_lossy(&call.extension),
            String::from_utf8_lossy(&call.context),
            call.priority
        );
    }
    let result = host.place_call(&call, attempt);
    if result.answered {
        host_log!(host, Level::Notice, "Call completed to {channel}");
        return finish(
            host,
            paths,
            path,
            &call,
            Status::Completed,
            Some(own_mtime.load(Ordering::SeqCst)),
        );
    }
    host_log!(
        host,
        Level::Notice,
        "Call failed to go through, reason ({}) {}",
        result.reason,
        result.reason_text
    );
    if attempt > call.max_retries {
        log_expired(host, &channel, attempt);
        return finish(
            host,
            paths,
            path,
            &call,
            Status::Expired,
            Some(own_mtime.load(Ordering::SeqCst)),
        );
    }
    match bookkeeping::append_mark(
        path,
        Mark::EndRetry,
        pid,
        attempt,
        bookkeeping::now_ms(),
        call.retry_time,
    ) {
        Ok(due) => Outcome::Requeue(due),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Outcome::Done,
        Err(err) => {
            host_log!(host, Level::Error, "Unable to record the end of the attempt in {shown} ({err}); leaving the file for the admin");
            Outcome::Parked
        }
    }
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

fn finish<H: Host>(
    host: &H,
    paths: &SpoolPaths,
    path: &Path,
    call: &CallFile,
    status: Status,
    own_mtime: Option<Millis>,
) -> Outcome {
    let rules = RemovalRules {
        always_delete: call.always_delete,
        archive: call.archive,
        own_mtime,
    };
    let shown = path.display();
    match bookkeeping::remove_from_queue(path, &paths.done, rules, status, bookkeeping::now_ms()) {
        Removal::Deleted | Removal::Gone => Outcome::Done,
        Removal::Archived(target) => {
            host_log!(
                host,
                Level::Debug(1),
                "Archived {shown} as {} with Status: {}",
                target.display(),
                status.as_str()
            );
            Outcome::Done
        }
        Removal::LeftInPlace { due } => {
            host_log!(
                host,
                Level::Debug(1),
                "Leaving {shown} in place (AlwaysDelete: no, mtime in the future)"
            );
            Outcome::Requeue(due)
        }
        Removal::ArchiveFailedDeleted(why) => {
            host_log!(
                host,
                Level::Warning,
                "{why} -- outgoing spool archiving disabled; {shown} deleted"
            );
            Outcome::Done
        }
        Removal::Stuck(why) => {
            host_log!(
                host,
                Level::Error,
                "Unable to remove finished call file {shown}: {why}; leaving it for the admin"
            );
            Outcome::Parked
        }
    }
}
