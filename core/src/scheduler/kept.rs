//! Files that stay in outgoing/ after their call, and the scheduler's memory of them across a restart:
//! files kept by `AlwaysDelete: no` (removed at their date unless they change), files parked for the
//! admin (visited again only when they change), and writing `pbx_spool_rs.state` (kept files,
//! unremovable finished ones, cancellations of calls in progress), then meeting its records again at
//! start. The state file's format and I/O are `state.rs`'s; this file decides what a record means for
//! a name. It starts no call: a kept or parked file that changed is handed back to `arrivals.rs`.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use super::files::{fingerprint, FileState, FinishedAs, KeptFile};
use super::state::{self, FileIdentity, Record};
use super::{cancel, wheel_time, Scheduler};
use crate::attempt::{self, Outcome};
use crate::bookkeeping::{self, Millis};
use crate::host::{Host, Level};
use crate::host_log;
use crate::text::printable;

impl<H: Host> Scheduler<H> {
    /// Write the state file if a kept file or a cancellation came or went; one WARNING per run of
    /// failures (tried again at every turn of the loop until it succeeds). Returns the error, if any.
    pub(super) fn save_state_if_dirty(&mut self) -> Option<String> {
        if !self.state_dirty {
            return None;
        }
        let spool_dir = self.paths.outgoing.parent().map_or_else(|| self.paths.outgoing.clone(), Path::to_path_buf);
        let path = state::path_for(&spool_dir, self.settings.rules.node.as_deref());
        let kept = self.files.iter().filter_map(|(name, state)| match state {
            FileState::Kept(kept) => Some((
                name,
                Record::Kept {
                    fingerprint: kept.fingerprint,
                    due: kept.kept.due,
                    archive: kept.kept.archive,
                    status: kept.kept.status,
                },
            )),
            FileState::Parked { fingerprint, finished: Some(FinishedAs { status, archive }) } => {
                Some((name, Record::Unremovable { fingerprint: *fingerprint, archive: *archive, status: *status }))
            }
            _ => None,
        });
        let cancelled = self
            .cancelled
            .iter()
            .filter_map(|(name, identity)| identity.map(|identity| (&**name, Record::Cancelled(identity))));
        let restored = self.restored.iter().map(|(name, record)| (&**name, record.clone()));
        match state::save(&path, kept.chain(cancelled).chain(restored)) {
            Ok(()) => {
                self.state_dirty = false;
                if self.state_write_failed {
                    host_log!(self.host, Level::Notice, "{} written again", path.display());
                    self.state_write_failed = false;
                }
                if path != self.state_file {
                    // The node was renamed by a reload: its records moved with it.
                    let _ = fs::remove_file(&self.state_file);
                    self.state_file = path;
                }
                None
            }
            Err(err) => {
                let why = format!("Unable to write {}: {err}", path.display());
                if !self.state_write_failed {
                    host_log!(
                        self.host,
                        Level::Warning,
                        "{why}; files kept by AlwaysDelete: no, cancellations of calls in progress and finished \
                         files that could not be removed are remembered in memory only until it can be \
                         written (a restart would dial them again)"
                    );
                    self.state_write_failed = true;
                }
                Some(why)
            }
        }
    }

    /// After a whole scan of outgoing/: records read at start whose file was not found are of files
    /// gone while Asterisk was down. They are dropped.
    pub(super) fn drop_unmet_records(&mut self) {
        if self.restored.is_empty() {
            return;
        }
        for name in self.restored.keys() {
            host_log!(
                self.host,
                Level::Debug(1),
                "{} is no longer in the spool: its record in {} is dropped",
                printable(name.as_bytes()),
                self.state_file.display()
            );
        }
        self.restored.clear();
        self.state_dirty = true;
    }

    /// A name met for the first time since start that the state file names. Returns whether the
    /// record decided what happens to it: a kept file unchanged since is kept again until its date; a
    /// file cancelled in a call and still the same file is removed now, as cancelled, not dialled.
    /// Otherwise (changed, replaced, claimed by another server) it is a new file.
    pub(super) fn restore(&mut self, name: &Arc<OsStr>, record: Record, meta: &fs::Metadata) -> bool {
        let path = self.path_of(name);
        let shown = printable(path.as_os_str().as_bytes());
        let (same, what) = match &record {
            Record::Kept { fingerprint: was, .. } => (fingerprint(meta) == *was, "kept by AlwaysDelete: no"),
            Record::Cancelled(was) => (FileIdentity::of(meta) == *was, "cancelled during its call"),
            Record::Unremovable { fingerprint: was, .. } => {
                (fingerprint(meta) == *was, "finished but impossible to remove")
            }
        };
        if !same {
            host_log!(
                self.host,
                Level::Debug(1),
                "{shown} was {what} before the restart but has changed since: a new call file"
            );
            return false;
        }
        // On a shared spool the claim is taken again, as the run that recorded it held it.
        let claim = match self.settings.rules.node {
            None => None,
            Some(_) => match crate::claim::Claim::try_take(&path) {
                Ok(claim) => Some(claim),
                Err(err) => {
                    let why = match err {
                        crate::claim::ClaimError::Taken => "another server has it".to_string(),
                        crate::claim::ClaimError::Gone => "it was replaced".to_string(),
                        crate::claim::ClaimError::Io(err) => err.to_string(),
                    };
                    host_log!(
                        self.host,
                        Level::Notice,
                        "{shown} was {what} before the restart but cannot be claimed again ({why}): it is \
                         handled as a new call file"
                    );
                    return false;
                }
            },
        };
        match record {
            Record::Kept { fingerprint, due, archive, status } => {
                host_log!(
                    self.host,
                    Level::Verbose(3),
                    "{shown} was kept by AlwaysDelete: no before the restart ({}) and has not changed since: \
                     removed at its date unless it changes",
                    status.as_str()
                );
                let kept = attempt::Kept { due, archive, status, claim: claim.map(attempt::HeldClaim::new) };
                self.files.insert(name.clone(), FileState::Kept(Box::new(KeptFile { fingerprint, kept })));
                self.files.schedule(name.clone(), wheel_time(due));
                self.state_dirty = true;
            }
            Record::Cancelled(_) => {
                let answer = cancel::remove(&self.paths, &path, self.settings.rules.max_file_size);
                let text = answer.unwrap_or_else(|why| why);
                host_log!(
                    self.host,
                    Level::Notice,
                    "{} (cancelled while its call was in progress, before the restart; not dialled again)",
                    text.trim_end()
                );
                drop(claim);
                self.state_dirty = true;
            }
            Record::Unremovable { archive, status, .. } => {
                // Tried again once per start; left for the admin again if it still cannot be removed.
                let kept = attempt::Kept { due: bookkeeping::now_ms(), archive, status, claim: None };
                let why = "could not be removed when its call ended, before the restart, and has not changed since";
                if let Outcome::Unremovable(_) = attempt::remove_kept(&*self.host, &self.paths, &path, kept, why) {
                    self.park(name.clone(), Some(FinishedAs { status, archive }));
                }
                drop(claim);
                self.state_dirty = true;
            }
        }
        true
    }

    /// Leave `name` for the admin (see [`FileState::Parked`]); `finished` when its call had ended.
    pub(super) fn park(&mut self, name: Arc<OsStr>, finished: Option<FinishedAs>) {
        let fingerprint = fs::symlink_metadata(self.path_of(&name)).map(|m| fingerprint(&m)).unwrap_or(0);
        self.state_dirty |= finished.is_some();
        self.files.insert(name, FileState::Parked { fingerprint, finished });
    }

    /// Visit a parked file again if it changed since it was parked (permissions, contents, replaced).
    pub(super) fn unpark_if_changed(&mut self, name: Arc<OsStr>) {
        let Some(FileState::Parked { fingerprint: parked, .. }) = self.files.get(&name) else { return };
        let now = fs::symlink_metadata(self.path_of(&name)).map(|m| fingerprint(&m)).unwrap_or(0);
        if now != *parked {
            self.forget(&name);
            self.consider_new(name, false);
        }
    }

    /// A kept file that changed since its last attempt (re-dated, rewritten, replaced) is the user's
    /// again: forget that it was kept and visit it like any file. Returns whether it changed.
    pub(super) fn revisit_kept_if_changed(&mut self, name: &Arc<OsStr>) -> bool {
        let Some(FileState::Kept(kept)) = self.files.get(name) else { return false };
        let now = fs::symlink_metadata(self.path_of(name)).map(|m| fingerprint(&m)).unwrap_or(0);
        if now == kept.fingerprint {
            return false;
        }
        self.forget(name);
        self.consider_new(name.clone(), false);
        true
    }

    /// A kept file's date has come: unchanged, it is removed without dialling; changed, it is visited.
    pub(super) fn end_kept(&mut self, name: Arc<OsStr>, now: Millis) {
        if self.revisit_kept_if_changed(&name) {
            return;
        }
        let Some(FileState::Kept(state)) = self.files.get(&name) else { return };
        // A clone: the state keeps its claim (shared spool) until the file is gone from it.
        let kept = state.kept.clone();
        let path = self.path_of(&name);
        match bookkeeping::regular_file_mtime(&path) {
            // The wall clock was set back: its date has not come yet.
            Some(mtime) if mtime > now => {
                self.files.schedule(name, wheel_time(mtime));
            }
            Some(_) => {
                match attempt::remove_kept(&*self.host, &self.paths, &path, kept, attempt::KEPT_UNTIL_ITS_DATE) {
                    Outcome::Unremovable(kept) => {
                        // Its state was Kept: recorded either way.
                        self.state_dirty = true;
                        self.park(name, Some(FinishedAs { status: kept.status, archive: kept.archive }));
                    }
                    _ => self.forget(&name),
                }
            }
            None => self.forget(&name),
        }
    }
}
