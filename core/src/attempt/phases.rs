//! The visit proper, phase by phase: read, parse, check, record the attempt (AbortRetry, StartRetry),
//! announce it, place the call through the [`Host`], conclude. Writes nothing to the file but bookkeeping
//! lines (through [`crate::bookkeeping`]); removing, archiving or keeping it is `outcome.rs`'s job. No FFI.

use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use super::outcome::{FinalStatus, LastAttempt, Outcome};
use super::visit::Visit;
use super::{is_transient, preflight, AttemptStart, VisitRules, TRANSIENT_RETRY_MS};
use crate::access::{self, Need};
use crate::bookkeeping::{self, Mark, Millis, ReadError};
use crate::callfile::{self, CallFile, Severity};
use crate::host::{CallResult, Host, Level};
use crate::host_log;
use crate::os::Identity;

/// The visit proper, claimed when the spool is shared: one phase after the other, each handing the next
/// what it needs. A phase that ends the visit early returns its outcome as `Err`.
pub(super) fn visit_file<H: Host>(
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

/// The [`preflight()`] checks; a refused file is logged and finished with its refusal.
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
    visit.stats.tallies.refused(visit.campaign(&parsed.call).as_deref(), refusal.rule);
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
    let campaign = visit.campaign(call);
    visit.stats.tallies.attempt(campaign.as_deref());
    let mut fields = vec![
        ("File", visit.shown.clone()),
        ("Channel", channel.clone()),
        ("Destination", destination),
        ("Attempt", number.to_string()),
        ("MaxRetries", call.max_retries.to_string()),
        ("Uniqueid", uniqueid.clone()),
    ];
    if let Some(campaign) = campaign {
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

/// A unique id for the channel of one attempt, announced in manager events so a dialer can match the
/// call's own events (Newchannel, Hangup, ...) to its call file.
///
/// Fixed width: Asterisk refuses a new channel whose uniqueid is a prefix of a live channel's (its lookup
/// compares only the new id's length), so `...-1` must never meet a live `...-15`.
pub(super) fn attempt_uniqueid(pid: i64) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let secs = bookkeeping::now_ms() / 1000;
    format!("spool-{pid:010}-{secs:012}-{:020}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// After a refusal on permissions, the end of the log line: `: cannot write <file>: Permission denied
/// (Asterisk runs as uid 101 user asterisk; ...). Fix: chown asterisk:asterisk <file> ...`; empty for
/// any other error.
pub(super) fn permission_fix(path: &Path, need: Need, err: &std::io::Error) -> String {
    if err.kind() != std::io::ErrorKind::PermissionDenied {
        return String::new();
    }
    format!(": {}", access::explain_call_file(path, need, err, &Identity::current()))
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
