//! `spool cancel <file>`: what happens to a call file the admin cancels. A file waiting in the queue
//! is removed at once, deleted, or moved to outgoing_done/ with `Status: Cancelled` when it says
//! `Archive: yes`; a file whose call is in progress is removed the same way when that attempt ends,
//! instead of being retried. Runs on the scheduler thread; the scheduler owns the states.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::attempt::SpoolPaths;
use crate::bookkeeping::{self, Removal, RemovalRules, Status};
use crate::callfile;
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
