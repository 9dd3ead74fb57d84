//! The do-not-call check, made before every attempt (so a number listed while its file waits is not
//! dialled): the number the file's channel dials ([`crate::dnc::dialled_number`]) against the lists that
//! apply to it, `[general]`'s and its campaign's. A listed number ends the file as `Rejected` (rule `dnc`,
//! the list's file and line in the log line, the event and the archived copy); a list never read keeps the
//! file waiting; a channel with no number in it is dialled unchecked, with a NOTICE saying so. No FFI.

use std::os::unix::ffi::OsStrExt;

use super::outcome::{FinalStatus, Outcome};
use super::preflight::Refusal;
use super::visit::Visit;
use super::VisitRules;
use crate::bookkeeping::{self, Millis};
use crate::callfile::CallFile;
use crate::dnc::{self, Verdict};
use crate::host::{Host, Level};
use crate::policy::Rejection;

/// How long a file waits, undialled, while a list that applies to it has never been read.
pub(super) const UNREADABLE_LIST_RETRY_MS: Millis = 60_000;

/// What the do-not-call lists say of a call file now.
enum Lookup {
    /// No list applies to it.
    NotChecked,
    /// Lists apply (`paths`), but its channel names no number to check.
    NoNumber {
        lists: String,
    },
    Checked {
        number: Vec<u8>,
        verdict: Verdict,
    },
}

fn look_up<H: Host>(host: &H, rules: &VisitRules, name: &[u8], call: &CallFile) -> Lookup {
    if rules.dnc.is_empty() {
        return Lookup::NotChecked;
    }
    let campaign = crate::campaign::find_with_channel(&rules.campaigns, name, &call.tech, &call.dest);
    let lists = rules.dnc.applicable(campaign);
    if lists.is_empty() {
        return Lookup::NotChecked;
    }
    let Some(number) = dnc::dialled_number(&call.tech, &call.dest) else {
        return Lookup::NoNumber { lists: lists.paths() };
    };
    let verdict = lists.check(host, &number);
    Lookup::Checked { number, verdict }
}

/// The refusal's log line for a listed number (rule `dnc`, the list's file and line).
fn listed_line(number: &[u8], channel: &str, path: &std::path::Path, line: u32, shown: &str) -> String {
    let detail = format!(
        "number {} (dialled by {channel}) is on the do-not-call list {}, line {line}; not dialled",
        String::from_utf8_lossy(number),
        path.display()
    );
    Rejection::new(dnc::RULE, number, detail).message(shown)
}

/// The check before an attempt, answered ahead of it for `spool check`, `spool show file` and
/// `SpoolSubmit`: `Err` when `call` (in a file named `name`) dials a number listed now. A list never read,
/// or a channel with no number in it, is no refusal here: the attempt decides then (it waits, or dials
/// unchecked with a NOTICE).
pub fn refusal_if_listed<H: Host>(
    host: &H,
    rules: &VisitRules,
    name: &[u8],
    call: &CallFile,
    shown: &str,
) -> Result<(), Refusal> {
    match look_up(host, rules, name, call) {
        Lookup::Checked { number, verdict: Verdict::Listed { path, line } } => {
            let channel = String::from_utf8_lossy(&call.channel()).into_owned();
            Err(Refusal {
                status: FinalStatus::Rejected,
                rule: dnc::RULE,
                lines: vec![listed_line(&number, &channel, &path, line, shown)],
            })
        }
        _ => Ok(()),
    }
}

/// `Err` with the file's outcome when its number may not be dialled now.
pub(super) fn refuse_if_do_not_call<H: Host>(
    visit: &Visit<'_, H>,
    rules: &VisitRules,
    call: &CallFile,
) -> Result<(), Outcome> {
    let name = visit.path.file_name().map(OsStrExt::as_bytes).unwrap_or_default();
    let shown = visit.shown.as_str();
    let channel = String::from_utf8_lossy(&call.channel()).into_owned();
    match look_up(visit.host, rules, name, call) {
        Lookup::NotChecked => Ok(()),
        Lookup::NoNumber { lists } => {
            visit.log(
                Level::Notice,
                format!(
                    "{shown}: Channel {channel} names no number to check against the do-not-call list(s) {lists}; \
                     dialling it unchecked (checked: Local/<number>@<context>, <Tech>/<number>@<peer>, \
                     <Tech>/<peer>/<number>)"
                ),
            );
            Ok(())
        }
        Lookup::Checked { verdict: Verdict::Clear, .. } => Ok(()),
        Lookup::Checked { number, verdict: Verdict::Listed { path, line } } => {
            let line = listed_line(&number, &channel, &path, line, shown);
            visit.log(Level::Warning, line.clone());
            Err(visit.refuse(call, FinalStatus::Rejected, &[line]))
        }
        Lookup::Checked { verdict: Verdict::Unreadable { path, reason }, .. } => {
            visit.log(
                Level::Warning,
                format!(
                    "Not dialling {shown} yet: its do-not-call list {} cannot be read ({reason}) and was never read; \
                     trying again in {} s",
                    path.display(),
                    UNREADABLE_LIST_RETRY_MS / 1000
                ),
            );
            Err(Outcome::Requeue(bookkeeping::now_ms() + UNREADABLE_LIST_RETRY_MS))
        }
    }
}
