//! The stock pbx_spool loaded beside us: two spoolers would dial every call file twice, so while
//! `pbx_spool.so` is loaded nothing is dispatched (one ERROR line with the fix, `SpoolSuspended`), calls in
//! progress run to their end, and due files wait untouched for pbx_spool; once it is gone, dispatch
//! resumes (`SpoolResumed`) and the files it left are met again. Asks the host only whether pbx_spool is
//! loaded; touches no call file.

use super::Scheduler;
use crate::bookkeeping::{self, Millis};
use crate::host::{Host, Level};
use crate::host_log;

/// While dispatch is suspended, how often to look whether the stock pbx_spool is still loaded; outside a
/// suspension, how often at most a change in outgoing/ or a status request makes us look whether it was
/// loaded (each look walks the process's loaded objects: cheap, but not for every event of a flood).
const STOCK_SPOOLER_POLL_MS: Millis = 1000;

/// Why dispatch is suspended when the stock pbx_spool is loaded, as the status and the AMI event say it.
pub(super) const STOCK_SPOOLER_REASON: &str = "pbx_spool.so is loaded too: two spoolers would dial call files twice";

/// Dispatch suspended because the stock pbx_spool runs in this process too. Files keep being followed
/// (queued, re-dated, forgotten when pbx_spool removes them) but none is handed to a worker; calls in
/// progress finish. pbx_spool, which reads outgoing/ when it loads, dials the rest.
#[derive(Debug, Clone, Copy)]
pub(super) struct Suspension {
    /// When to look again whether pbx_spool is still loaded.
    pub(super) next_check: Millis,
}

impl<H: Host> Scheduler<H> {
    /// Whether dispatch is suspended because the stock pbx_spool is loaded. Asked right before every
    /// dispatch (the host's answer is cheap: no file, no lock it could wait on), so a pbx_spool loaded at
    /// run time is noticed before our next call; once suspended, [`Scheduler::check_suspension`] looks
    /// again every [`STOCK_SPOOLER_POLL_MS`].
    pub(super) fn dispatch_suspended(&mut self) -> bool {
        if self.suspension.is_some() {
            return true;
        }
        if !self.host.stock_spooler_loaded() {
            return false;
        }
        self.suspend();
        true
    }

    /// Whether pbx_spool was loaded since we last looked, asked when something happens in outgoing/ (a
    /// pbx_spool loaded at run time reads, dials and removes files there at once) or an admin asks for
    /// the status, at most every [`STOCK_SPOOLER_POLL_MS`]: the ERROR and `SpoolSuspended` come when
    /// pbx_spool appears, even if it takes every file before our next dispatch would have noticed it.
    /// A look refused by that limit is owed, and taken when the limit allows ([`Scheduler::stock_look_due`]).
    pub(super) fn notice_stock_spooler(&mut self, now: Millis) {
        if self.suspension.is_some() {
            self.stock_look_owed = false;
            return;
        }
        if now < self.next_stock_look {
            self.stock_look_owed = true;
            return;
        }
        self.stock_look_owed = false;
        self.next_stock_look = now + STOCK_SPOOLER_POLL_MS;
        if self.host.stock_spooler_loaded() {
            self.suspend();
        }
    }

    /// When an owed look at the stock pbx_spool is due, for the scheduler's timer.
    pub(super) fn stock_look_due(&self) -> Option<Millis> {
        self.stock_look_owed.then_some(self.next_stock_look)
    }

    /// Stop dispatching: one ERROR line with the fix, one `SpoolSuspended` event.
    fn suspend(&mut self) {
        if self.suspension.is_some() {
            return;
        }
        self.suspension = Some(Suspension { next_check: bookkeeping::now_ms() + STOCK_SPOOLER_POLL_MS });
        host_log!(
            self.host,
            Level::Error,
            "pbx_spool.so is loaded beside pbx_spool_rs: two spoolers on {} would dial call files twice, so \
             pbx_spool_rs has stopped dispatching: its {} call(s) in progress run to their end, pbx_spool.so \
             dials every other file. The fix: add  noload => pbx_spool.so  to modules.conf and restart \
             Asterisk (core restart gracefully); pbx_spool.so refuses  module unload pbx_spool.so  and  module \
             unload -h  crashes Asterisk. pbx_spool_rs resumes by itself once pbx_spool.so is gone",
            self.paths.outgoing.display(),
            self.running
        );
        self.host.manager_event(
            "SpoolSuspended",
            &[("Reason", STOCK_SPOOLER_REASON.to_string()), ("InProgress", self.running.to_string())],
        );
    }

    /// While suspended, every [`STOCK_SPOOLER_POLL_MS`]: resume once the stock pbx_spool is gone. Files
    /// it left (retries it recorded, files it did not reach) are met again: the waiting ones re-admitted
    /// at their current dates, and outgoing/ rescanned for names not followed.
    pub(super) fn check_suspension(&mut self, now: Millis) {
        let Some(suspension) = self.suspension.as_mut() else { return };
        if now < suspension.next_check {
            return;
        }
        if self.host.stock_spooler_loaded() {
            suspension.next_check = now + STOCK_SPOOLER_POLL_MS;
            return;
        }
        self.suspension = None;
        host_log!(
            self.host,
            Level::Notice,
            "pbx_spool.so is no longer loaded: pbx_spool_rs resumes dispatching call files in {}",
            self.paths.outgoing.display()
        );
        self.host.manager_event("SpoolResumed", &[("Reason", "pbx_spool.so is no longer loaded".to_string())]);
        self.recheck_waiting();
        self.start_rescan("dispatch resumed");
    }
}
