//! The entry of a visit: leaves the file to the stock pbx_spool when that is loaded, claims it on a shared
//! spool, and carries the visit's context ([`Visit`]): the file, where its log lines and manager events go,
//! and the totals it counts in. Must not read or write the file itself: that is the phases' job
//! (`phases.rs`). No FFI.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::phases::visit_file;
use super::{is_transient, AttemptStart, HeldClaim, Outcome, SpoolPaths, Stats, VisitRules, TRANSIENT_RETRY_MS};
use crate::bookkeeping::{self, Millis};
use crate::callfile::CallFile;
use crate::claim::{Claim, ClaimError};
use crate::host::{Host, Level};
use crate::host_log;
use crate::steering::SteeringBook;

/// Visit `path`, which has fallen due. `on_start` is told when a call attempt begins. Its dialplan cannot
/// steer it (see [`visit_steered`]).
pub fn visit<H: Host>(
    host: &H,
    paths: &SpoolPaths,
    rules: &VisitRules,
    stats: &Stats,
    path: &Path,
    on_start: &mut dyn FnMut(AttemptStart),
) -> Outcome {
    visit_steered(host, paths, rules, stats, &SteeringBook::new(), path, on_start)
}

/// [`visit`], with the attempt in `steering` while its call is placed, so that the call's dialplan can
/// read and steer it through `SPOOL()` ([`crate::steering`]).
pub fn visit_steered<H: Host>(
    host: &H,
    paths: &SpoolPaths,
    rules: &VisitRules,
    stats: &Stats,
    steering: &SteeringBook,
    path: &Path,
    on_start: &mut dyn FnMut(AttemptStart),
) -> Outcome {
    if host.stock_spooler_loaded() {
        return Outcome::LeftToStockSpooler;
    }
    let shown = crate::text::printable(path.as_os_str().as_bytes());
    let campaigns = rules.campaigns.clone();
    let visit = Visit { host, node: rules.node.as_deref(), paths, path, shown, stats, campaigns, steering };
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

/// One visit's context: what is needed to log, announce and finish the file.
pub(super) struct Visit<'a, H: Host> {
    pub(super) host: &'a H,
    pub(super) node: Option<&'a str>,
    pub(super) paths: &'a SpoolPaths,
    pub(super) path: &'a Path,
    pub(super) shown: String,
    pub(super) stats: &'a Stats,
    /// pbx_spool_rs.conf's campaigns, to name the one the file joins in its events (`Campaign:`).
    pub(super) campaigns: Arc<Vec<crate::campaign::Campaign>>,
    /// The attempts in flight, which the call's dialplan reads and steers through `SPOOL()`.
    pub(super) steering: &'a SteeringBook,
}

impl<H: Host> Visit<'_, H> {
    /// The campaign `call` (this file) joins, by its name and channel; `None` outside campaigns.
    pub(super) fn campaign(&self, call: &CallFile) -> Option<String> {
        let name = self.path.file_name()?.as_bytes();
        crate::campaign::find_with_channel(&self.campaigns, name, &call.tech, &call.dest)
            .map(|index| self.campaigns[index].name.clone())
    }

    /// A log line, prefixed with `[node <name>]` on a shared spool.
    pub(super) fn log(&self, level: Level, message: String) {
        match self.node {
            Some(node) => host_log!(self.host, level, "[node {node}] {message}"),
            None => host_log!(self.host, level, "{message}"),
        }
    }

    /// A manager event, with `Node:` on a shared spool.
    pub(super) fn event(&self, name: &str, mut fields: Vec<(&str, String)>) {
        if let Some(node) = self.node {
            fields.push(("Node", node.to_string()));
        }
        self.host.manager_event(name, &fields);
    }
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

/// How long a file another server holds is left alone, at least, before it is looked at again (its own
/// date, once that server has written it, usually comes later).
const CLAIM_LOST_RETRY_MS: Millis = 1000;
