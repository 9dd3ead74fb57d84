//! From due to done: a wheel entry falling due (re-checked against the file's mtime; a call still
//! running at its retry time gets a `DelayedRetry`), the file meeting its campaign (paused, outside its
//! window), then `maxcalls`/`maxrate` and the campaign's own limits (held in due order), the hand-off to
//! the worker pool, and the workers' reports: the attempt started, and its outcome (forgotten, queued
//! for its retry, kept, parked). It never waits on a worker and reads no call file's contents but the
//! `Channel:` line a `channel =` campaign needs (`campaigns.rs`): visiting a file is the workers' job
//! (`pool.rs`, `attempt/`).

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::campaigns::Gate;
use super::files::{fingerprint, FileState, FinishedAs, KeptFile};
use super::held::CampaignIndex;
use super::pool::{Job, WorkerReport};
use super::{cancel, wheel_time, Scheduler};
use crate::attempt::Outcome;
use crate::bookkeeping::{self, Mark, Millis};
use crate::host::{Host, Level};
use crate::host_log;
use crate::text::printable;

impl<H: Host> Scheduler<H> {
    /// A wheel entry fell due.
    pub(super) fn fire(&mut self, name: Arc<OsStr>, now: Millis) {
        match self.files.get_mut(&name) {
            Some(FileState::Queued | FileState::Retrying | FileState::Waiting { .. }) => {
                // On a shared spool, first its owner's (see `heartbeat.rs`): asked before the file is
                // looked at, since most due files are other servers' and are gone before their grace ends.
                if let Some(later) = self.not_my_turn_until(&name, now) {
                    self.files.schedule(name, wheel_time(later));
                    return;
                }
                // The file may have been re-dated since it was queued (pbx_spool misses this).
                match bookkeeping::regular_file_mtime(&self.path_of(&name)) {
                    Some(mtime) if mtime > now => {
                        // Re-dated (here or by another server's attempt): a new due time, a new grace.
                        if let Some(members) = self.members.as_mut() {
                            members.forget(&name);
                        }
                        self.files.schedule(name, wheel_time(mtime));
                    }
                    Some(_) => {
                        self.taking_my_turn(&name);
                        self.admit(name, now);
                    }
                    None => self.forget(&name),
                }
            }
            Some(FileState::Writing) => self.writer_grace_over(name, now),
            Some(FileState::Kept(_)) => self.end_kept(name, now),
            Some(FileState::Running { attempt: Some(start), .. }) => {
                // Still running RetryTime after it started: pbx_spool notes a DelayedRetry and looks again later.
                let (retries, retry_time, own_mtime) =
                    (start.retries_before, start.retry_time_s, start.own_mtime.clone());
                let path = self.path_of(&name);
                match bookkeeping::append_mark(
                    &path,
                    Mark::DelayedRetry,
                    self.host.main_pid(),
                    retries,
                    now,
                    retry_time,
                ) {
                    Ok(mtime) => {
                        own_mtime.store(mtime, Ordering::SeqCst);
                        host_log!(
                            self.host,
                            Level::Debug(1),
                            "Delaying retry since we're currently running '{}'",
                            printable(path.as_os_str().as_bytes())
                        );
                        self.files.schedule(name, wheel_time(mtime));
                    }
                    Err(err) => host_log!(
                        self.host,
                        Level::Debug(1),
                        "Unable to note DelayedRetry in {}: {err}",
                        printable(path.as_os_str().as_bytes())
                    ),
                }
            }
            _ => {}
        }
    }

    /// A due file meets its campaign: paused or outside its window, it waits (its place in due order is
    /// its mtime, unchanged: nothing is written to it); otherwise on to the limits.
    fn admit(&mut self, name: Arc<OsStr>, now: Millis) {
        // Read again now, so the campaign that gates and limits it is the one its visit will name.
        self.join_campaign(&name);
        let retrying =
            matches!(self.files.get(&name), Some(FileState::Retrying | FileState::Waiting { retrying: true, .. }));
        match self.book.gate(&name, now) {
            Gate::Open => {
                // Due and let through by its campaign: from here to its call is the dial latency.
                self.due_since.entry(name.clone()).or_insert_with(std::time::Instant::now);
                self.dispatch_or_hold(name)
            }
            Gate::Paused => {
                host_log!(self.host, Level::Debug(1), "{} is due; its campaign is paused", printable(name.as_bytes()));
                self.files.cancel(&name);
                self.files.insert(name, FileState::Waiting { retrying, paused: true });
            }
            Gate::Closed(open) => {
                host_log!(
                    self.host,
                    Level::Debug(1),
                    "{} is due; outside its campaign's calling hours until {}",
                    printable(name.as_bytes()),
                    crate::text::utc_time(open)
                );
                self.files.insert(name.clone(), FileState::Waiting { retrying, paused: false });
                self.files.schedule(name, wheel_time(open));
            }
        }
    }

    /// After a pause, a resume or a reload: every waiting or held file meets its campaign again.
    pub(super) fn recheck_waiting(&mut self) {
        let now = bookkeeping::now_ms();
        let names: Vec<Arc<OsStr>> = self
            .files
            .iter()
            .filter(|(_, state)| matches!(state, FileState::Waiting { .. } | FileState::Held))
            .map(|(name, _)| Arc::from(name))
            .collect();
        for name in &names {
            self.held.remove(name);
        }
        let mut ordered: Vec<(Millis, Arc<OsStr>)> = names
            .into_iter()
            .map(|name| (bookkeeping::regular_file_mtime(&self.path_of(&name)).unwrap_or(now), name))
            .collect();
        // Due order is the files' mtimes, as it was before they waited.
        ordered.sort();
        for (mtime, name) in ordered {
            if let Some(FileState::Held) = self.files.get(&name) {
                self.files.insert(name.clone(), FileState::Queued);
            }
            if mtime > now {
                self.queue_at_mtime(
                    name.clone(),
                    matches!(self.files.get(&name), Some(FileState::Waiting { retrying: true, .. })),
                );
            } else if let Some(later) = self.not_my_turn_until(&name, now) {
                // A shared spool's file: first its owner's, as when it fell due.
                self.files.schedule(name, wheel_time(later));
            } else {
                self.taking_my_turn(&name);
                self.admit(name, now);
            }
        }
    }

    /// Why a due file cannot start now, if it cannot: `maxcalls` reached, or `maxrate`'s spacing not yet
    /// elapsed (with the time the next start is allowed).
    fn capacity(&self, now: Millis) -> Result<(), (&'static str, Option<Millis>)> {
        if self.settings.max_calls.is_some_and(|max| self.running >= max) {
            return Err(("maxcalls", None));
        }
        if let Some(rate) = self.settings.max_rate {
            if let Some(wait) = self.pacer.wait(rate, std::time::Instant::now()) {
                let wait_ms = wait.as_micros().div_ceil(1000) as Millis;
                return Err(("maxrate", Some(now + wait_ms.max(1))));
            }
        }
        Ok(())
    }

    fn dispatch_or_hold(&mut self, name: Arc<OsStr>) {
        let now = bookkeeping::now_ms();
        let campaign_ok = self.book.capacity(&name, std::time::Instant::now()).is_ok();
        if self.held.is_empty() && campaign_ok && self.capacity(now).is_ok() && !self.dispatch_suspended() {
            self.dispatch(name);
            return;
        }
        if self.suspension.is_some() {
            host_log!(
                self.host,
                Level::Debug(1),
                "{} is due; not dispatched while pbx_spool.so is loaded",
                printable(name.as_bytes())
            );
            self.hold(name);
            return;
        }
        if !campaign_ok {
            host_log!(
                self.host,
                Level::Debug(1),
                "{} is due; held back by its campaign's limits",
                printable(name.as_bytes())
            );
        }
        // Behind the limits, or behind files that fell due earlier: wait in due-time order.
        if let Err((limit, _)) = self.capacity(now) {
            host_log!(self.host, Level::Debug(1), "{} is due; held back by {limit}", printable(name.as_bytes()));
        }
        self.hold(name);
    }

    /// Wait behind every file held before it, in its campaign's queue.
    fn hold(&mut self, name: Arc<OsStr>) {
        self.files.insert(name.clone(), FileState::Held);
        let campaign = self.book.index_of(&name);
        self.held.hold(name, campaign);
    }

    /// Start held files while capacity allows, earliest held first; returns when the next one may start
    /// under maxrate. A file held by its campaign's own limits does not hold back other campaigns' files
    /// behind it. Each start looks at one file per campaign holding files (the head of its queue, see
    /// `held.rs`), however many are held.
    pub(super) fn dispatch_held(&mut self) {
        self.rate_wakeup = None;
        while !self.held.is_empty() {
            let now = bookkeeping::now_ms();
            if let Err((_, wakeup)) = self.capacity(now) {
                self.rate_wakeup = wakeup;
                return;
            }
            let instant = std::time::Instant::now();
            let mut earliest_open: Option<(u64, CampaignIndex)> = None;
            for (campaign, order) in self.held.heads() {
                match self.book.capacity_of(campaign, instant) {
                    Ok(()) => {
                        if earliest_open.map_or(true, |(earliest, _)| order < earliest) {
                            earliest_open = Some((order, campaign));
                        }
                    }
                    Err((_, Some(wait))) => {
                        let at = now + (wait.as_micros().div_ceil(1000) as Millis).max(1);
                        self.rate_wakeup = Some(self.rate_wakeup.map_or(at, |earlier| earlier.min(at)));
                    }
                    Err((_, None)) => {}
                }
            }
            let Some((_, campaign)) = earliest_open else { return };
            if self.dispatch_suspended() {
                return;
            }
            let Some(name) = self.held.pop_first(campaign) else { return };
            if !matches!(self.book.gate(&name, now), Gate::Open) {
                // Its window closed (or its campaign was paused) while it waited behind the limits: it
                // waits for the window again instead of starting late.
                self.files.insert(name.clone(), FileState::Queued);
                self.admit(name, now);
                continue;
            }
            self.dispatch(name);
        }
    }

    fn dispatch(&mut self, name: Arc<OsStr>) {
        if self.pool.is_closed() {
            return;
        }
        if let Some(rate) = self.settings.max_rate {
            self.pacer.started(std::time::Instant::now(), rate);
        }
        self.book.started(&name, std::time::Instant::now());
        self.files.insert(name.clone(), FileState::Running { changed: false, attempt: None });
        self.running += 1;
        self.control.calls_in_progress.store(self.running, Ordering::SeqCst);
        self.pool.submit(Job { name, rules: self.settings.rules.clone() });
    }

    pub(super) fn drain_reports(&mut self) {
        while let Some(report) = self.pool.try_report() {
            match report {
                WorkerReport::Started(name, start) => {
                    if let Some(due_since) = self.due_since.remove(&name) {
                        self.control.stats.tallies.dial_latency(due_since.elapsed());
                    }
                    if let Some(FileState::Running { attempt, .. }) = self.files.get_mut(&name) {
                        let recheck_at = start.recheck_at;
                        *attempt = Some(Box::new(start));
                        self.files.schedule(name, wheel_time(recheck_at));
                    }
                }
                WorkerReport::Finished(name, outcome) => self.finished(name, outcome),
                WorkerReport::WorkerExited => self.pool.reap(),
            }
        }
    }

    fn finished(&mut self, name: Arc<OsStr>, outcome: Outcome) {
        self.due_since.remove(&name);
        self.book.finished(&name);
        self.running -= 1;
        self.control.calls_in_progress.store(self.running, Ordering::SeqCst);
        self.files.cancel(&name);
        let changed = matches!(self.files.remove(&name), Some(FileState::Running { changed: true, .. }));
        let cancelled = self.cancelled.remove(&name).is_some();
        self.state_dirty |= cancelled;
        if cancelled && matches!(outcome, Outcome::Requeue(_) | Outcome::Kept(_) | Outcome::LeftToStockSpooler) {
            let answer = cancel::remove(&self.paths, &self.path_of(&name), self.settings.rules.max_file_size);
            let text = answer.unwrap_or_else(|why| why);
            host_log!(self.host, Level::Notice, "{} (its call has ended)", text.trim_end());
            self.dispatch_held();
            return;
        }
        match outcome {
            Outcome::Requeue(due) => {
                if changed {
                    // Our own bookkeeping writes count as changes too. A later mtime (the dialplan re-dated
                    // the file) wins; an earlier one never brings a retry forward past `due`.
                    match bookkeeping::regular_file_mtime(&self.path_of(&name)) {
                        Some(mtime) => {
                            self.join_campaign(&name);
                            self.files.insert(name.clone(), FileState::Retrying);
                            self.files.schedule(name, wheel_time(mtime.max(due)));
                        }
                        None => self.forget(&name),
                    }
                } else {
                    self.join_campaign(&name);
                    self.files.insert(name.clone(), FileState::Retrying);
                    self.files.schedule(name, wheel_time(due));
                }
            }
            Outcome::Kept(kept) => match fs::symlink_metadata(self.path_of(&name)) {
                // Taken now, after every write of the attempt: events those writes raised and that are
                // still queued find the file unchanged.
                Ok(meta) => {
                    let due = kept.due;
                    let state = KeptFile { fingerprint: fingerprint(&meta), kept };
                    self.files.insert(name.clone(), FileState::Kept(Box::new(state)));
                    self.files.schedule(name, wheel_time(due));
                    self.state_dirty = true;
                }
                Err(_) => self.forget(&name),
            },
            Outcome::Done => {
                if changed {
                    // The name may have been reused by a new file while the old one was being handled.
                    self.consider_new(name, false);
                }
            }
            Outcome::Parked => self.park(name, None),
            Outcome::Unremovable(kept) => {
                self.park(name, Some(FinishedAs { status: kept.status, archive: kept.archive }))
            }
            Outcome::LeftToStockSpooler => {
                // Its worker saw pbx_spool before the scheduler did. Untouched, so still due: it meets the
                // check before dispatch again (pbx_spool may be gone by now).
                self.queue_at_mtime(name, false);
            }
        }
        self.dispatch_held();
    }
}
