//! `spool cancel <file>`: what happens to a call file the admin cancels. A file waiting in the queue
//! is removed at once, deleted, or moved to outgoing_done/ with `Status: Cancelled` when it says
//! `Archive: yes`; a file whose call is in progress is removed the same way when that attempt ends,
//! instead of being retried; with `hangup`, that call is ended now. Runs on the scheduler thread, which
//! owns the states; the record that outlives a restart is written by `kept.rs`.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::files::{file_name_key, FileState};
use super::state::FileIdentity;
use super::Scheduler;
use crate::attempt::SpoolPaths;
use crate::bookkeeping::{self, Removal, RemovalRules, Status};
use crate::callfile;
use crate::host::Host;
use crate::text::printable;

/// Remove a cancelled file now: the admin's answer, or why it could not be removed.
pub(super) fn remove(paths: &SpoolPaths, path: &Path, max_file_size: u64) -> Result<String, String> {
    let shown = printable(path.as_os_str().as_bytes());
    // Only `Archive:` matters here; an unreadable file is simply deleted.
    let archive = bookkeeping::read_call_file(path, max_file_size)
        .ok()
        .is_some_and(|(bytes, _)| callfile::parse(&bytes).call.archive);
    let rules = RemovalRules { always_delete: true, archive, own_mtime: None };
    match bookkeeping::remove_from_queue(path, &paths.done, rules, Status::Cancelled, bookkeeping::now_ms()) {
        Removal::Deleted => Ok(format!("Cancelled {shown}: deleted\n")),
        Removal::Archived(target) => Ok(format!(
            "Cancelled {shown}: archived as {} (Status: Cancelled)\n",
            printable(target.as_os_str().as_bytes())
        )),
        Removal::ArchiveFailedDeleted(why) => Ok(format!("Cancelled {shown}: {why}; deleted instead\n")),
        Removal::Gone => Err(format!("{shown} is gone already\n")),
        Removal::Stuck(why) => Err(format!("Unable to cancel {shown}: {why}\n")),
        Removal::LeftInPlace { .. } => Err(format!("Unable to cancel {shown}\n")),
    }
}

impl<H: Host> Scheduler<H> {
    /// `spool cancel <file> [hangup]`: a waiting file is removed now; one in a call is removed when the
    /// call ends (not retried), and with `hangup` that call is ended now.
    pub(super) fn cancel(&mut self, file: &str, hangup: bool) -> Result<String, String> {
        let Some(name) = file_name_key(file.as_bytes()) else {
            return Err("Give the name of a file in the outgoing directory\n".to_string());
        };
        let max_file_size = self.settings.rules.max_file_size;
        match self.files.get(&name) {
            Some(FileState::Running { attempt, .. }) => {
                let uniqueid = attempt.as_ref().map(|start| start.uniqueid.clone());
                let identity = fs::symlink_metadata(self.path_of(&name)).ok().map(|meta| FileIdentity::of(&meta));
                self.cancelled.insert(name.clone(), identity);
                self.state_dirty = true;
                let shown = printable(name.as_bytes());
                if !hangup {
                    return Ok(format!(
                        "{shown}: its call is in progress and was not cut off; the file is removed when the \
                         call ends, without a retry (spool cancel {shown} hangup ends the call now)\n"
                    ));
                }
                match uniqueid {
                    Some(uniqueid) if self.host.hang_up(&uniqueid) => Ok(format!(
                        "{shown}: its call in progress ({uniqueid}) was hung up; the file is removed, without a retry\n"
                    )),
                    _ => Ok(format!(
                        "{shown}: its call is in progress but its channel was not found to hang up (still \
                         dialling?); the file is removed when the call ends, without a retry\n"
                    )),
                }
            }
            Some(_) => {
                self.forget(&name);
                self.files.remove(&name);
                remove(&self.paths, &self.path_of(&name), max_file_size)
            }
            None if self.path_of(&name).is_file() => remove(&self.paths, &self.path_of(&name), max_file_size),
            None => Err(format!("No call file named {} in the outgoing spool\n", printable(name.as_bytes()))),
        }
    }
}
