//! The do-not-call check, made before every attempt (so a number listed while its file waits is not
//! dialled): the number the file's channel dials ([`crate::dnc::dialled_number`]) against the lists that
//! apply to it, `[general]`'s and its campaign's. A listed number ends the file as `Rejected` (rule `dnc`,
//! the list's file and line in the log line, the event and the archived copy); a list never read keeps the
//! file waiting; a channel with no number in it is dialled unchecked, with a NOTICE saying so. No FFI.

use std::os::unix::ffi::OsStrExt;

use super::outcome::{FinalStatus, Outcome};
use super::visit::Visit;
use super::VisitRules;
use crate::bookkeeping::{self, Millis};
use crate::callfile::CallFile;
use crate::dnc::{self, Verdict};
use crate::host::{Host, Level};
use crate::policy::Rejection;

/// How long a file waits, undialled, while a list that applies to it has never been read.
pub(super) const UNREADABLE_LIST_RETRY_MS: Millis = 60_000;

/// `Err` with the file's outcome when its number may not be dialled now.
pub(super) fn refuse_if_do_not_call<H: Host>(
    visit: &Visit<'_, H>,
    rules: &VisitRules,
    call: &CallFile,
) -> Result<(), Outcome> {
    if rules.dnc.is_empty() {
        return Ok(());
    }
    let name = visit.path.file_name().map(OsStrExt::as_bytes).unwrap_or_default();
    let campaign = crate::campaign::find_with_channel(&rules.campaigns, name, &call.tech, &call.dest);
    let lists = rules.dnc.applicable(campaign);
    if lists.is_empty() {
        return Ok(());
    }
    let shown = visit.shown.as_str();
    let channel = String::from_utf8_lossy(&call.channel()).into_owned();
    let Some(number) = dnc::dialled_number(&call.tech, &call.dest) else {
        visit.log(
            Level::Notice,
            format!(
                "{shown}: Channel {channel} names no number to check against the do-not-call list(s) {}; dialling \
                 it unchecked (checked: Local/<number>@<context>, <Tech>/<number>@<peer>, <Tech>/<peer>/<number>)",
                lists.paths()
            ),
        );
        return Ok(());
    };
    match lists.check(visit.host, &number) {
        Verdict::Clear => Ok(()),
        Verdict::Listed { path, line } => {
            let detail = format!(
                "number {} (dialled by {channel}) is on the do-not-call list {}, line {line}; not dialled",
                String::from_utf8_lossy(&number),
                path.display()
            );
            let line = Rejection::new(dnc::RULE, &number, detail).message(shown);
            visit.log(Level::Warning, line.clone());
            Err(visit.refuse(call, FinalStatus::Rejected, &[line]))
        }
        Verdict::Unreadable { path, reason } => {
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
