//! The visit proper, phase by phase: read, parse, check (the policy, then the do-not-call lists), record the attempt (AbortRetry, StartRetry),
//! announce it, place the call through the [`Host`], conclude. Writes nothing to the file but bookkeeping
//! lines (through [`crate::bookkeeping`]); removing, archiving or keeping it is `outcome.rs`'s job. No FFI.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use super::do_not_call::refuse_if_do_not_call;
use super::ending;
use super::outcome::{FinalStatus, LastAttempt, Outcome};
use super::visit::Visit;
use super::{is_transient, preflight, AttemptStart, VisitRules, TRANSIENT_RETRY_MS};
use crate::access::{self, Need};
use crate::bookkeeping::{self, Mark, Millis, ReadError};
use crate::callfile::{self, CallFile, Severity};
use crate::host::{CallResult, Host, Level};
use crate::host_log;
use crate::os::Identity;
use crate::outcome_names::{self, Recorded};
use crate::retry_rules::{RetryDelay, RuleSource};
use crate::steering::{AttemptFacts, DialplanSteering, RetryRequest};

/// The visit proper, claimed when the spool is shared: one phase after the other, each handing the next
/// what it needs. A phase that ends the visit early returns its outcome as `Err`.
pub(super) fn visit_file<H: Host>(
    visit: &Visit<'_, H>,
    rules: &VisitRules,
    on_start: &mut dyn FnMut(AttemptStart),
) -> Result<Outcome, Outcome> {
    let (bytes, meta) = read(visit, rules)?;
    let parsed = parse_logging_diagnostics(visit, &bytes);
    warn_if_tag_unusable(visit, &parsed.call);
    leave_if_advanced_elsewhere(visit, rules, &meta)?;
    check(visit, rules, &parsed, &meta)?;
    refuse_if_do_not_call(visit, rules, &parsed.call)?;
    let call = parsed.call;
    expire_if_out_of_retries(visit, &call)?;
    leave_if_stock_spooler_loaded(visit)?;
    let attempt = record_start(visit, &call)?;
    let uniqueid = announce(visit, &call, &attempt, on_start);
    let name = visit.path.file_name().map(|name| crate::text::printable(name.as_bytes())).unwrap_or_default();
    let facts = AttemptFacts::of(&call, &name, attempt.number, visit.campaign(&call));
    let in_flight = visit.steering.enter(&uniqueid, facts);
    let result = visit.host.place_call(&call, attempt.number, &uniqueid);
    let steering = in_flight.finish();
    Ok(conclude(visit, rules, &call, &attempt, result, uniqueid, steering))
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

/// A `SPOOL_TAG` that cannot be a tag is not used (the events carry an empty `Tag:`); the admin is told
/// why, once per visit. The call is placed as written.
fn warn_if_tag_unusable<H: Host>(visit: &Visit<'_, H>, call: &CallFile) {
    if let crate::tag::TagRead::Unusable(why) = crate::tag::read(call) {
        visit.log(
            Level::Warning,
            format!("{}: its {} is not used as its tag: {why}", visit.shown, crate::tag::TAG_VARIABLE),
        );
    }
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
    fields.push(("Tag", crate::tag::of(call)));
    visit.event("SpoolAttempt", fields);
    uniqueid
}

/// After the call: what its dialplan asked through `SPOOL()` first (see [`steer`]); then by its outcome
/// (the dialplan's `SPOOL(outcome)` word, else the one [`outcome_names`] reads from Asterisk's reason and
/// cause) and the retry rule for it (see [`super::ending`]): answered, the file is finished as completed
/// unless the outcome has a rule of its own; not answered, as expired on its last attempt or when the rule
/// says `never`, otherwise dated for the next one by the rule's delay (the file's RetryTime without one).
fn conclude<H: Host>(
    visit: &Visit<'_, H>,
    rules: &VisitRules,
    call: &CallFile,
    attempt: &Attempt,
    result: CallResult,
    uniqueid: String,
    steering: DialplanSteering,
) -> Outcome {
    let own_mtime = Some(attempt.own_mtime.load(Ordering::SeqCst));
    let asterisks = outcome_names::of_attempt(result.answered, result.reason, result.cause.as_ref().map(|c| c.0));
    let recorded = Recorded {
        name: steering.outcome.clone().unwrap_or_else(|| asterisks.to_string()),
        attempt: attempt.number,
        reason: result.reason,
        reason_text: result.reason_text.clone(),
        cause: result.cause.clone(),
        set_by_dialplan: steering.outcome.is_some(),
    };
    let name = recorded.name.clone();
    let last = LastAttempt {
        attempts: attempt.number,
        reason: result.reason,
        reason_text: result.reason_text,
        uniqueid: uniqueid.clone(),
        outcome: Some(recorded.clone()),
    };
    let last = match steer(visit, call, attempt, &steering, &recorded, result.answered, last) {
        Ok(last) => last,
        Err(steered) => return steered,
    };
    let rule = ending::rule_for(visit, rules, call, &recorded.name);
    if result.answered {
        visit.log(Level::Notice, format!("Call completed to {}", attempt.channel));
    } else {
        visit.log(Level::Notice, format!("Call failed to go through, reason ({}) {}", last.reason, last.reason_text));
    }
    let (delay, source) = match rule {
        // An answered call is finished unless the outcome has a rule of its own.
        None if result.answered => {
            visit.attempt_ended(call, &recorded, &uniqueid, None);
            return visit.finish(call, FinalStatus::Completed, own_mtime, last);
        }
        None => (RetryDelay::After(call.retry_time.max(1) as u32), RuleSource::RetryTime),
        Some(rule) => rule,
    };
    let finished = if result.answered { FinalStatus::Completed } else { FinalStatus::Expired };
    let RetryDelay::After(delay_s) = delay else {
        visit.log(
            Level::Notice,
            format!("Outcome {name} of {}: no further attempt ({source} says {name}:never)", attempt.channel),
        );
        visit.attempt_ended(call, &recorded, &uniqueid, Some((RetryDelay::Never, &source, None)));
        return visit.finish(call, finished, own_mtime, last);
    };
    if attempt.number > call.max_retries {
        if !result.answered {
            log_expired(visit.host, &attempt.channel, attempt.number);
        }
        visit.attempt_ended(call, &recorded, &uniqueid, None);
        return visit.finish(call, finished, own_mtime, last);
    }
    let outcome = record_end(visit, attempt, &recorded, NextAttempt::After(delay_s));
    if let Outcome::Requeue(due) = outcome {
        visit.log(
            Level::Verbose(3),
            format!("Outcome {name} of {}: next attempt in {delay_s}s ({source})", attempt.channel),
        );
        visit.attempt_ended(call, &recorded, &uniqueid, Some((delay, &source, Some(due))));
    }
    outcome
}

/// What the attempt's dialplan asked through `SPOOL()`, applied before pbx_spool's rules:
/// - `SPOOL(retry)=N` / `SPOOL(retry_at)=T` with retries left: EndRetry, the file dated for then (not
///   RetryTime), and requeued, answered or not (the dialplan's request wins over pbx_spool's "answered
///   means done": "call me back tomorrow at 10"). The attempt counts within MaxRetries; a campaign's
///   calling window still applies when it falls due. Without retries left, pbx_spool's rules finish it.
/// - `SPOOL(retry)=never`: finished at once, as Completed if answered, else as Expired.
///
/// A `SpoolSteered` event reports any steering. `Ok` hands `last` back for pbx_spool's rules.
fn steer<H: Host>(
    visit: &Visit<'_, H>,
    call: &CallFile,
    attempt: &Attempt,
    steering: &DialplanSteering,
    recorded: &Recorded,
    answered: bool,
    last: LastAttempt,
) -> Result<LastAttempt, Outcome> {
    if *steering == DialplanSteering::default() {
        return Ok(last);
    }
    let (shown, number) = (visit.shown.as_str(), attempt.number);
    let ended = bookkeeping::now_ms();
    let (retry, due, ours) = match steering.retry {
        None => ("none", None, false),
        Some(RetryRequest::Never) => ("never", None, true),
        Some(request) if number > call.max_retries => {
            visit.log(
                Level::Notice,
                format!(
                    "The dialplan asked for another attempt of {shown} {}, but it has no retries left (MaxRetries: \
                     {}); finishing it",
                    request.describe(),
                    call.max_retries
                ),
            );
            ("no-retries-left", None, false)
        }
        Some(request) => ("requeued", request.due(ended), true),
    };
    let fields = |due: Option<Millis>| {
        let mut fields = vec![
            ("File", visit.shown.clone()),
            ("Attempt", number.to_string()),
            ("Uniqueid", last.uniqueid.clone()),
            ("Outcome", steering.outcome.clone().unwrap_or_default()),
            ("Retry", retry.to_string()),
            ("Due", due.map(|due| format!("{}.{:03}", due.div_euclid(1000), due.rem_euclid(1000))).unwrap_or_default()),
        ];
        if let Some(campaign) = visit.campaign(call) {
            fields.push(("Campaign", campaign));
        }
        fields
    };
    if !ours {
        visit.event("SpoolSteered", fields(None));
        return Ok(last);
    }
    match due {
        Some(due) => {
            visit.log(
                Level::Notice,
                format!(
                    "The dialplan of {} asked for the next attempt of {shown} at {}",
                    attempt.channel,
                    crate::text::utc_time(due)
                ),
            );
            // Announced once the file is dated, so a dialer that looks at it then sees the new date.
            let requeued = record_end(visit, attempt, recorded, NextAttempt::At(due));
            let dated = match requeued {
                Outcome::Requeue(due) => Some(due),
                _ => None,
            };
            visit.event("SpoolSteered", fields(dated));
            if let Some(dated) = dated {
                let delay = RetryDelay::After(u32::try_from((dated - ended).max(0) / 1000).unwrap_or(u32::MAX));
                visit.attempt_ended(call, recorded, &last.uniqueid, Some((delay, &RuleSource::Dialplan, Some(dated))));
            }
            Err(requeued)
        }
        None => {
            visit.log(
                Level::Notice,
                format!("The dialplan of {} asked for no further attempt of {shown}", attempt.channel),
            );
            visit.event("SpoolSteered", fields(None));
            visit.attempt_ended(call, recorded, &last.uniqueid, Some((RetryDelay::Never, &RuleSource::Dialplan, None)));
            let own_mtime = Some(attempt.own_mtime.load(Ordering::SeqCst));
            let status = if answered { FinalStatus::Completed } else { FinalStatus::Expired };
            Err(visit.finish(call, status, own_mtime, last))
        }
    }
}

/// When the next attempt of a file is due.
#[derive(Debug, Clone, Copy)]
enum NextAttempt {
    /// This many seconds from now, written as pbx_spool's bookkeeping writes RetryTime.
    After(u32),
    /// At this time: the dialplan's `SPOOL(retry_at)` or `SPOOL(retry)`.
    At(Millis),
}

/// Record the end of an attempt with retries left: EndRetry, which dates the file for the next one as
/// pbx_spool's bookkeeping dates it RetryTime ahead (at `At`'s time exactly when the dialplan asked for
/// one), then the outcome as a comment line; `Outcome::Requeue` at that date.
fn record_end<H: Host>(visit: &Visit<'_, H>, attempt: &Attempt, recorded: &Recorded, next: NextAttempt) -> Outcome {
    let (path, shown) = (visit.path, visit.shown.as_str());
    let now = bookkeeping::now_ms();
    let delay_s = match next {
        NextAttempt::After(delay_s) => i32::try_from(delay_s).unwrap_or(i32::MAX),
        NextAttempt::At(due) => i32::try_from((due - now).max(0) / 1000).unwrap_or(i32::MAX),
    };
    let line = recorded.line();
    let dated = bookkeeping::append_mark_noting(path, Mark::EndRetry, attempt.pid, attempt.number, now, delay_s, &line)
        .and_then(|retry_due| match next {
            NextAttempt::At(due) => bookkeeping::set_times(path, now, due).map(|()| due),
            NextAttempt::After(_) => Ok(retry_due),
        });
    match dated {
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
    use super::UNIQUEID_PREFIX;
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let secs = bookkeeping::now_ms() / 1000;
    format!("{UNIQUEID_PREFIX}{pid:010}-{secs:012}-{:020}", NEXT.fetch_add(1, Ordering::Relaxed))
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
