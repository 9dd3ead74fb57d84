//! One visit to a due call file: pbx_spool's `scan_service` and `attempt_thread` rolled into one step, run on
//! a worker thread. Reads and parses the file, applies the retry rules, writes the bookkeeping lines, places
//! the call through the [`Host`](crate::host::Host), and removes or archives the file at the end. Log texts
//! keep pbx_spool's wording so existing log watchers keep working. On a shared spool (`shared = yes`) a
//! visit first claims the file ([`crate::claim`]) and holds the claim until the file's next state is
//! written. No FFI here.
//!
//! This root holds what the scheduler hands a visit and learns from it; the work is split by job:
//! `visit.rs` (the entry: stock spooler, claim, the visit's context), `phases.rs` (the visit proper, phase
//! by phase), `preflight.rs` (the checks before dialling, shared with `spool check`), `do_not_call.rs` (the
//! do-not-call lists, checked before every attempt), `ending.rs` (the retry rule for an attempt's outcome,
//! and `SpoolAttemptEnded`) and `outcome.rs` (how a visit ends, and kept files).

use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::Arc;

use crate::bookkeeping::Millis;
use crate::policy::Policy;

mod do_not_call;
mod ending;
mod outcome;
mod phases;
mod preflight;
mod visit;

pub use do_not_call::refusal_if_listed;
pub use outcome::{remove_kept, FinalStatus, HeldClaim, Kept, Outcome, KEPT_UNTIL_ITS_DATE};
pub use preflight::{preflight, Refusal};

/// How every uniqueid the spool gives an attempt's channel begins (see `phases::attempt_uniqueid`), so
/// code that sees all of the PBX's channels can leave the others at once.
pub const UNIQUEID_PREFIX: &str = "spool-";
pub use visit::{visit, visit_steered};

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
    /// The do-not-call lists, `[general]`'s and each campaign's (in `campaigns`' order).
    pub dnc: Arc<crate::dnc::DncLists>,
    /// `[general]`'s retry rules (a campaign's own come first, see [`crate::retry_rules::choose`]).
    pub retry_rules: Arc<crate::retry_rules::RetryRules>,
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
            dnc: Arc::default(),
            retry_rules: Arc::default(),
        }
    }
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
    /// The counts behind the Prometheus metrics (by campaign, outcome, rule; latencies).
    pub tallies: crate::metrics::Tallies,
}

/// How long a file waits after a passing resource shortage before it is tried again.
const TRANSIENT_RETRY_MS: Millis = 1000;

/// Errors that say "not now" rather than "never" (out of descriptors or memory, interrupted): the file is
/// tried again shortly instead of being left for the admin.
fn is_transient(err: &std::io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::EAGAIN | libc::EINTR))
}

#[cfg(test)]
mod ending_tests;
#[cfg(test)]
mod tests;
