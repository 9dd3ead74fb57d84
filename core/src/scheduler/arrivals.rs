//! How names in outgoing/ come to be followed: reading the directory (at start, on request, after an
//! inotify overflow or when dispatch resumes, and the periodic scans of `watch = scan | both`, in batches
//! so calls already due are not held back), and what a name not known before becomes: queued at its
//! mtime, or waiting for its writer (the creation grace) before it is queued. Also queueing a known file
//! again at its current mtime. A file is queued with its campaign known: where a `channel =` campaign
//! could take it, its `Channel:` line is read right then: about 9 µs a file from the page cache (a file
//! just written is there), about 60 µs from the disk (a spool found at start), so a rescan's batch of 512
//! such files costs 5 to 30 ms, which is how long a call already due can wait behind it; after a reload
//! the queued files are read again in batches of the same size. Decides no call: a queued file meets its campaign and the limits in
//! `dispatch.rs`; records from the state file are weighed in `kept.rs`.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::Instant;

use super::files::{file_name_key, fingerprint, FileState};
use super::scan::DirStamp;
use super::{wheel_time, Scheduler};
use crate::bookkeeping::{self, Millis};
use crate::host::{Host, Level};
use crate::host_log;
use crate::text::printable;

/// How long a file created in place (or found by a scan while fresh) must have been left unchanged before
/// it is taken without its writer's write-close: pbx_spool's value for a created file that nobody closes.
/// Nothing cheaper can say whether a writer still has the file open: a read lease could, but a writer that
/// opens the file while the lease is held makes the kernel send SIGIO, which ends Asterisk.
pub(super) const CREATE_GRACE_MS: Millis = 2000;

/// Directory entries examined per scheduler iteration during a rescan, so that a rescan of 100,000 files
/// does not hold back calls that are already due.
const RESCAN_BATCH: usize = 512;

/// Why a periodic scan reads the directory, as logged.
pub(super) const PERIODIC_SCAN: &str = "periodic scan";

/// Whether a file last modified at `mtime` may still be being written at `now`: modified within the last
/// [`CREATE_GRACE_MS`]. A future mtime is a date set on purpose (the file is due then), not a write.
pub(super) fn still_being_written(mtime: Millis, now: Millis) -> bool {
    mtime <= now && now - mtime < CREATE_GRACE_MS
}

impl<H: Host> Scheduler<H> {
    /// A periodic scan's time has come: read the directory, unless its stamp says nothing in it changed
    /// since a confirmed read (see `scan.rs`). Parked files are looked at either way, since fixing one
    /// (chmod, chattr) changes the file and not the directory.
    pub(super) fn periodic_scan(&mut self) {
        let stat_started = Instant::now();
        let stamp = fs::metadata(&self.paths.outgoing).ok().map(|meta| DirStamp::of(&meta));
        if !self.scan.unchanged_since_read(stamp) {
            self.start_rescan_under(PERIODIC_SCAN, stamp);
            return;
        }
        let parked: Vec<Arc<OsStr>> = self
            .files
            .iter()
            .filter(|(_, state)| matches!(state, FileState::Parked { .. }))
            .map(|(name, _)| Arc::from(name))
            .collect();
        for name in parked {
            self.unpark_if_changed(name);
        }
        self.scan.skip(stat_started.elapsed(), bookkeeping::now_ms(), self.settings.scan_interval_ms);
    }

    pub(super) fn start_rescan(&mut self, why: &str) {
        // Stat'ed before it is opened: a change while it is read must make the stamp differ from this one.
        let stamp = self
            .settings
            .watch
            .scans()
            .then(|| fs::metadata(&self.paths.outgoing).ok().map(|meta| DirStamp::of(&meta)))
            .flatten();
        self.start_rescan_under(why, stamp);
    }

    fn start_rescan_under(&mut self, why: &str, stamp: Option<DirStamp>) {
        match fs::read_dir(&self.paths.outgoing) {
            Ok(dir) => {
                // Periodic scans are routine: logged one level deeper than the rescans an admin asks for.
                let level = if why == PERIODIC_SCAN { Level::Debug(2) } else { Level::Debug(1) };
                host_log!(self.host, level, "Scanning {} ({why})", self.paths.outgoing.display());
                self.rescan = Some(dir);
                self.rescan_started = Some(std::time::Instant::now());
                self.control.stats.tallies.rescan(why);
                if self.settings.watch.scans() {
                    self.scan.begin(stamp);
                }
            }
            Err(err) => {
                // Scanning, the directory is tried again at every interval: warned about once per outage.
                let first = !self.settings.watch.scans()
                    || self.scan.abandon(bookkeeping::now_ms(), self.settings.scan_interval_ms);
                let level = if first { Level::Warning } else { Level::Debug(1) };
                host_log!(self.host, level, "Unable to open directory {}: {err}", self.paths.outgoing.display())
            }
        }
    }

    pub(super) fn continue_rescan(&mut self) {
        let Some(dir) = self.rescan.as_mut() else {
            return;
        };
        let mut names = Vec::with_capacity(RESCAN_BATCH);
        let mut finished = true;
        for entry in dir.by_ref() {
            let Ok(entry) = entry else { continue };
            names.push(entry.file_name());
            if names.len() == RESCAN_BATCH {
                finished = false;
                break;
            }
        }
        for name in names {
            let Some(name) = file_name_key(name.as_bytes()) else {
                continue;
            };
            self.scan.saw(&name, !self.files.contains_key(&name));
            match self.files.get(&name) {
                None if self.scan.in_progress() => self.consider_scanned(name),
                None => self.consider_new(name, false),
                // Some fixes raise no event (`chattr -i`); a rescan is how the admin says "look again".
                Some(FileState::Parked { .. }) => self.unpark_if_changed(name),
                Some(_) => {}
            }
        }
        if finished {
            self.rescan = None;
            if let Some(started) = self.rescan_started.take() {
                self.control.stats.tallies.scan_duration(started.elapsed());
            }
            self.drop_unmet_records();
            if self.scan.in_progress() {
                self.end_scan();
            }
        }
    }

    /// A scan has read the whole directory: names it did not find and that are not ours right now were
    /// finished or removed elsewhere (another server's work on a shared spool): forget them.
    fn end_scan(&mut self) {
        let forgettable = self.files.iter().filter(|(_, state)| !matches!(state, FileState::Running { .. }));
        let vanished =
            self.scan.finish(forgettable.map(|(name, _)| name), bookkeeping::now_ms(), self.settings.scan_interval_ms);
        for name in vanished {
            // Created after the scan passed its place in the directory: still there, still wanted.
            if fs::symlink_metadata(self.path_of(&name)).is_err() {
                self.forget(&name);
            }
        }
    }

    /// A name not known before: queue it at its mtime, or wait for its writer.
    pub(super) fn consider_new(&mut self, name: Arc<OsStr>, just_created: bool) {
        let path = self.path_of(&name);
        let restored = self.restored.remove(&name);
        if restored.is_some() {
            self.state_dirty = true;
        }
        let Ok(meta) = fs::symlink_metadata(&path) else {
            return;
        };
        if let Some(record) = restored {
            if !just_created && meta.file_type().is_file() && self.restore(&name, record, &meta) {
                return;
            }
        }
        if !meta.file_type().is_file() {
            if meta.file_type().is_dir() {
                return; // pbx_spool ignores subdirectories silently
            }
            host_log!(
                self.host,
                Level::Warning,
                "Ignoring {}: not a regular file",
                printable(path.as_os_str().as_bytes())
            );
            self.files.insert(name, FileState::Parked { fingerprint: fingerprint(&meta), finished: None });
            return;
        }
        if just_created && meta.nlink() < 2 {
            // Created in place by a writer (a hard link has a second name, and is complete: take it now).
            // Wait for the writer's write-close, or for the file to be left unchanged for the grace.
            self.files.insert(name.clone(), FileState::Writing);
            self.files.schedule(name, wheel_time(bookkeeping::now_ms() + CREATE_GRACE_MS));
            return;
        }
        let due = bookkeeping::mtime_ms(&meta);
        self.join_campaign(&name);
        self.files.insert(name.clone(), FileState::Queued);
        self.files.schedule(name, wheel_time(due));
    }

    /// Learn which campaign a queued file joins when its `Channel:` line decides it (read now, see
    /// [`super::campaigns::CampaignBook::assign`]); by its name alone otherwise.
    pub(super) fn join_campaign(&mut self, name: &Arc<OsStr>) {
        let path = self.path_of(name);
        self.book.assign(name, &path, self.settings.rules.max_file_size);
    }

    /// After a reload: the queued files whose campaign depends on their `Channel:` line are read again
    /// (the campaigns, or their order, may have changed), a batch per loop iteration.
    pub(super) fn rejoin_campaigns(&mut self) {
        let names: VecDeque<Arc<OsStr>> = self
            .files
            .iter()
            .filter(|(name, state)| {
                matches!(state, FileState::Queued | FileState::Retrying) && self.book.needs_channel(name)
            })
            .map(|(name, _)| Arc::from(name))
            .collect();
        if !names.is_empty() {
            host_log!(
                self.host,
                Level::Debug(1),
                "Reading the Channel: line of {} queued file(s) to place them in their campaigns",
                names.len()
            );
        }
        self.rejoining = names;
    }

    /// The next batch of [`Self::rejoin_campaigns`]; files met since (queued again, or gone) are skipped.
    pub(super) fn continue_rejoining(&mut self) {
        for _ in 0..RESCAN_BATCH {
            let Some(name) = self.rejoining.pop_front() else { return };
            let queued = matches!(self.files.get(&name), Some(FileState::Queued | FileState::Retrying));
            if queued && !self.book.is_assigned(&name) {
                self.join_campaign(&name);
            }
        }
    }

    /// A new name found by a periodic scan. No inotify event says whether its writer is done, so a file
    /// modified within the creation grace (it may still be being written in place) waits until it has
    /// been left unchanged for the grace; anything else is queued at its mtime.
    fn consider_scanned(&mut self, name: Arc<OsStr>) {
        let fresh = fs::symlink_metadata(self.path_of(&name)).ok().and_then(|meta| {
            let mtime = bookkeeping::mtime_ms(&meta);
            let single = meta.file_type().is_file() && meta.nlink() < 2;
            (single && still_being_written(mtime, bookkeeping::now_ms())).then_some(mtime)
        });
        match fresh {
            Some(mtime) => {
                self.files.insert(name.clone(), FileState::Writing);
                self.files.schedule(name, wheel_time(mtime + CREATE_GRACE_MS));
            }
            None => self.consider_new(name, false),
        }
    }

    /// A file waiting for its writer reached the end of its grace without a write-close: take it, unless
    /// it was modified meanwhile (a writer still at work), then wait until it is left alone for a grace.
    pub(super) fn writer_grace_over(&mut self, name: Arc<OsStr>, now: Millis) {
        match bookkeeping::regular_file_mtime(&self.path_of(&name)) {
            Some(mtime) if still_being_written(mtime, now) => {
                self.files.schedule(name, wheel_time(mtime + CREATE_GRACE_MS));
            }
            _ => self.requeue_at_mtime(name),
        }
    }

    /// Queue a known file again at its current mtime; a file waiting for a retry stays one.
    pub(super) fn requeue_at_mtime(&mut self, name: Arc<OsStr>) {
        let retrying =
            matches!(self.files.get(&name), Some(FileState::Retrying | FileState::Waiting { retrying: true, .. }));
        self.queue_at_mtime(name, retrying);
    }

    pub(super) fn queue_at_mtime(&mut self, name: Arc<OsStr>, retrying: bool) {
        match bookkeeping::regular_file_mtime(&self.path_of(&name)) {
            Some(due) => {
                if matches!(self.files.get(&name), Some(FileState::Held)) {
                    self.held.remove(&name);
                }
                // A new date (an attempt's StartRetry re-dates the file): a new due time, a new grace for
                // its owner, on a shared spool.
                if let Some(members) = self.members.as_mut() {
                    members.forget(&name);
                }
                let state = if retrying { FileState::Retrying } else { FileState::Queued };
                self.join_campaign(&name);
                self.files.insert(name.clone(), state);
                self.files.schedule(name, wheel_time(due));
            }
            None => self.forget(&name),
        }
    }
}
