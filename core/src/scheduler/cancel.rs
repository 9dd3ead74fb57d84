//! `spool cancel <file>` and `spool cancel campaign <name>`: what happens to a call file the admin
//! cancels, and the `SpoolCancelled` event for each (with the file's campaign and tag, and who asked); the
//! `SpoolPaused`/`SpoolResumed` events of `spool pause|resume`. A file waiting in the queue is removed at
//! once, deleted, or moved to outgoing_done/ with `Status: Cancelled` when it says `Archive: yes`; a file
//! whose call is in progress is removed the same way when that attempt ends, instead of being retried;
//! with `hangup`, that call is ended now. Runs on the scheduler thread, which owns the states; the record
//! that outlives a restart is written by `kept.rs`.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use super::files::{file_name_key, FileState};
use super::state::FileIdentity;
use super::{Scheduler, Via};
use crate::attempt::SpoolPaths;
use crate::bookkeeping::{self, Removal, RemovalRules, Status};
use crate::callfile::{self, CallFile};
use crate::host::Host;
use crate::text::printable;

/// How a cancelled file was removed: the admin's answer, the event's `Result:` and the file's tag.
pub(super) struct Removed {
    pub(super) answer: Result<String, String>,
    pub(super) result: &'static str,
    pub(super) tag: String,
}

/// The call file at `path` as parsed, if it can be read (within the size cap).
fn read_call(path: &Path, max_file_size: u64) -> Option<CallFile> {
    bookkeeping::read_call_file(path, max_file_size).ok().map(|(bytes, _)| callfile::parse(&bytes).call)
}

/// Remove a cancelled file now: the admin's answer, or why it could not be removed.
pub(super) fn remove(paths: &SpoolPaths, path: &Path, max_file_size: u64) -> Result<String, String> {
    remove_reading(paths, path, max_file_size).answer
}

/// [`remove`], with what the file said about its tag and how the removal went, for `SpoolCancelled`.
pub(super) fn remove_reading(paths: &SpoolPaths, path: &Path, max_file_size: u64) -> Removed {
    let shown = printable(path.as_os_str().as_bytes());
    // Only `Archive:` and the tag matter here; an unreadable file is simply deleted.
    let call = read_call(path, max_file_size);
    let archive = call.as_ref().is_some_and(|call| call.archive);
    let tag = call.as_ref().map(crate::tag::of).unwrap_or_default();
    let rules = RemovalRules { always_delete: true, archive, own_mtime: None };
    let (answer, result) =
        match bookkeeping::remove_from_queue(path, &paths.done, rules, Status::Cancelled, bookkeeping::now_ms()) {
            Removal::Deleted => (Ok(format!("Cancelled {shown}: deleted\n")), "deleted"),
            Removal::Archived(target) => (
                Ok(format!(
                    "Cancelled {shown}: archived as {} (Status: Cancelled)\n",
                    printable(target.as_os_str().as_bytes())
                )),
                "archived",
            ),
            Removal::ArchiveFailedDeleted(why) => {
                (Ok(format!("Cancelled {shown}: {why}; deleted instead\n")), "deleted")
            }
            Removal::Gone => (Err(format!("{shown} is gone already\n")), "gone"),
            Removal::Stuck(why) => (Err(format!("Unable to cancel {shown}: {why}\n")), "failed"),
            Removal::LeftInPlace { .. } => (Err(format!("Unable to cancel {shown}\n")), "failed"),
        };
    Removed { answer, result, tag }
}

impl<H: Host> Scheduler<H> {
    /// `spool cancel <file> [hangup]`: a waiting file is removed now; one in a call is removed when the
    /// call ends (not retried), and with `hangup` that call is ended now. One `SpoolCancelled`.
    pub(super) fn cancel(&mut self, file: &str, hangup: bool, via: Via) -> Result<String, String> {
        let Some(name) = file_name_key(file.as_bytes()) else {
            return Err("Give the name of a file in the outgoing directory\n".to_string());
        };
        if !self.files.contains_key(&name) && !self.path_of(&name).is_file() {
            return Err(format!("No call file named {} in the outgoing spool\n", printable(name.as_bytes())));
        }
        self.cancel_one(name, hangup, via, false)
    }

    /// `spool cancel campaign <name> [hangup]`: every queued, waiting, held or running file of the campaign,
    /// each as [`Self::cancel`] would, with one `SpoolCancelled` per file (`CampaignCancel: yes`). Files
    /// being written, left for the admin, or finished and kept are not the campaign's calls to come: left.
    pub(super) fn cancel_campaign(&mut self, which: &str, hangup: bool, via: Via) -> Result<String, String> {
        let Some(campaign) = self.settings.campaigns.iter().find(|c| c.name.eq_ignore_ascii_case(which)) else {
            let names: Vec<&str> = self.settings.campaigns.iter().map(|c| c.name.as_str()).collect();
            let names = if names.is_empty() { "none configured".to_string() } else { names.join(", ") };
            return Err(format!("No campaign named '{which}' (campaigns: {names})\n"));
        };
        let campaign = campaign.name.clone();
        let candidates: Vec<Arc<OsStr>> = self
            .files
            .iter()
            .filter(|(_, state)| {
                matches!(
                    state,
                    FileState::Queued
                        | FileState::Retrying
                        | FileState::Held
                        | FileState::Waiting { .. }
                        | FileState::Running { .. }
                )
            })
            .map(|(name, _)| Arc::from(name))
            .collect();
        let mut names = Vec::new();
        for name in candidates {
            // A file whose campaign its Channel: line decides and that was not read since a reload.
            let running = matches!(self.files.get(&name), Some(FileState::Running { .. }));
            if !running && self.book.needs_channel(&name) && !self.book.is_assigned(&name) {
                self.join_campaign(&name);
            }
            if self.book.campaign_of(&name).is_some_and(|c| c.name == campaign) {
                names.push(name);
            }
        }
        names.sort();
        let (mut removed, mut in_call, mut failed) = (0, 0, 0);
        for name in names {
            let running = matches!(self.files.get(&name), Some(FileState::Running { .. }));
            match self.cancel_one(name, hangup, via, true) {
                Ok(_) if running => in_call += 1,
                Ok(_) => removed += 1,
                Err(_) => failed += 1,
            }
        }
        let total = removed + in_call + failed;
        let calls = match (in_call, hangup) {
            (0, _) => String::new(),
            (n, true) => format!(", {n} call(s) in progress hung up (removed as they end)"),
            (n, false) => format!(", {n} with a call in progress (removed when it ends, without a retry)"),
        };
        let failures =
            if failed > 0 { format!(", {failed} could not be removed (see the log)") } else { String::new() };
        Ok(format!("Campaign {campaign}: {total} call file(s) cancelled: {removed} removed now{calls}{failures}\n"))
    }

    /// Cancel the known or present file `name` and announce it (`SpoolCancelled`).
    fn cancel_one(
        &mut self,
        name: Arc<OsStr>,
        hangup: bool,
        via: Via,
        campaign_cancel: bool,
    ) -> Result<String, String> {
        let max_file_size = self.settings.rules.max_file_size;
        let campaign = self.book.campaign_of(&name).map(|c| c.name.clone());
        let (answer, result, tag) = match self.files.get(&name) {
            Some(FileState::Running { attempt, .. }) => {
                let uniqueid = attempt.as_ref().map(|start| start.uniqueid.clone());
                let path = self.path_of(&name);
                let identity = fs::symlink_metadata(&path).ok().map(|meta| FileIdentity::of(&meta));
                let tag = read_call(&path, max_file_size).as_ref().map(crate::tag::of).unwrap_or_default();
                self.cancelled.insert(name.clone(), identity);
                self.state_dirty = true;
                let shown = printable(name.as_bytes());
                let (answer, result) = if !hangup {
                    (
                        format!(
                            "{shown}: its call is in progress and was not cut off; the file is removed when the \
                             call ends, without a retry (spool cancel {shown} hangup ends the call now)\n"
                        ),
                        "removed at call end",
                    )
                } else {
                    match uniqueid {
                        Some(uniqueid) if self.host.hang_up(&uniqueid) => (
                            format!(
                                "{shown}: its call in progress ({uniqueid}) was hung up; the file is removed, \
                                 without a retry\n"
                            ),
                            "hung up",
                        ),
                        _ => (
                            format!(
                                "{shown}: its call is in progress but its channel was not found to hang up (still \
                                 dialling?); the file is removed when the call ends, without a retry\n"
                            ),
                            "removed at call end",
                        ),
                    }
                };
                (Ok(answer), result, tag)
            }
            Some(_) => {
                self.forget(&name);
                self.files.remove(&name);
                let removed = remove_reading(&self.paths, &self.path_of(&name), max_file_size);
                (removed.answer, removed.result, removed.tag)
            }
            None => {
                let removed = remove_reading(&self.paths, &self.path_of(&name), max_file_size);
                (removed.answer, removed.result, removed.tag)
            }
        };
        // Named as SpoolAttempt and SpoolFinished name it: its path.
        let mut fields = vec![("File", printable(self.path_of(&name).as_os_str().as_bytes()))];
        if let Some(campaign) = campaign {
            fields.push(("Campaign", campaign));
        }
        fields.push(("Tag", tag));
        fields.push(("Result", result.to_string()));
        fields.push(("CampaignCancel", crate::text::yes_no(campaign_cancel).to_string()));
        fields.push(("Via", via.as_str().to_string()));
        if let Some(node) = &self.settings.rules.node {
            fields.push(("Node", node.to_string()));
        }
        self.host.manager_event("SpoolCancelled", &fields);
        answer
    }

    /// `SpoolPaused` or `SpoolResumed` for an admin's pause or resume of `which` (a campaign, or all),
    /// named as pbx_spool_rs.conf spells it.
    pub(super) fn announce_pause(&self, which: &str, pause: bool, via: Via) {
        let campaign = self
            .settings
            .campaigns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(which))
            .map_or_else(|| which.to_ascii_lowercase(), |c| c.name.clone());
        let mut fields = Vec::new();
        if !pause {
            let command = match via {
                Via::Cli => "spool resume",
                Via::Ami => "SpoolResume",
            };
            fields.push(("Reason", format!("{command} {campaign}")));
        }
        fields.push(("Campaign", campaign));
        fields.push(("Via", via.as_str().to_string()));
        self.host.manager_event(if pause { "SpoolPaused" } else { "SpoolResumed" }, &fields);
    }
}
