//! What the kernel tells the scheduler about outgoing/: inotify events on its names (created, written and
//! closed, moved in or out, touched, removed), the queue overflowing, and outgoing/ itself disappearing
//! and coming back (its parent watched meanwhile). Each event is turned into a step of a name's state;
//! the decisions about new names, due files and finished calls are made elsewhere (`arrivals.rs`,
//! `dispatch.rs`). Reads no call file and starts no call.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use super::files::{file_name_key, FileState};
use super::Scheduler;
use crate::host::{Host, Level};
use crate::host_log;
use crate::watcher::{self, RawEvent};

impl<H: Host> Scheduler<H> {
    pub(super) fn watch_outgoing(&mut self) {
        if !self.settings.watch.uses_inotify() {
            self.start_rescan("start");
            return;
        }
        let outgoing = self.paths.outgoing.clone();
        match self.inotify.add_watch(&outgoing, watcher::SPOOL_MASK) {
            Ok(wd) => {
                self.outgoing_wd = Some(wd);
                if let Some(parent_wd) = self.parent_wd.take() {
                    self.inotify.remove_watch(parent_wd);
                }
                self.start_rescan("start");
            }
            Err(err) => {
                host_log!(
                    self.host,
                    Level::Error,
                    "Unable to watch {}: {err}; waiting for it to be created",
                    outgoing.display()
                );
                self.watch_parent();
            }
        }
    }

    fn watch_parent(&mut self) {
        let Some(parent) = self.paths.outgoing.parent().map(Path::to_path_buf) else {
            return;
        };
        match self.inotify.add_watch(&parent, watcher::PARENT_MASK) {
            Ok(wd) => self.parent_wd = Some(wd),
            Err(err) => host_log!(self.host, Level::Error, "Unable to watch {}: {err}", parent.display()),
        }
    }

    pub(super) fn handle_event(&mut self, event: RawEvent) {
        if event.mask & libc::IN_Q_OVERFLOW != 0 {
            self.control.stats.tallies.inotify_overflow();
            host_log!(
                self.host,
                Level::Warning,
                "inotify queue overflowed: rescanning {} so no call file is missed",
                self.paths.outgoing.display()
            );
            self.start_rescan("inotify overflow");
            return;
        }
        if Some(event.wd) == self.parent_wd {
            if event.name == b"outgoing"
                || Some(event.name.as_slice()) == self.paths.outgoing.file_name().map(|n| n.as_bytes())
            {
                host_log!(self.host, Level::Notice, "{} is back: watching it again", self.paths.outgoing.display());
                self.watch_outgoing();
            }
            return;
        }
        if Some(event.wd) != self.outgoing_wd {
            return;
        }
        if event.mask & (libc::IN_DELETE_SELF | libc::IN_MOVE_SELF | libc::IN_IGNORED) != 0 {
            self.outgoing_lost();
            return;
        }
        let Some(name) = file_name_key(&event.name) else {
            return;
        };
        let mask = event.mask;
        let gone = mask & (libc::IN_DELETE | libc::IN_MOVED_FROM) != 0;
        let created = mask & libc::IN_CREATE != 0;
        let closed = mask & libc::IN_CLOSE_WRITE != 0;
        let arrived = mask & libc::IN_MOVED_TO != 0;
        let touched = mask & libc::IN_ATTRIB != 0;

        match self.files.get_mut(&name) {
            Some(FileState::Running { changed, .. }) => *changed = true,
            Some(FileState::Queued | FileState::Retrying | FileState::Held | FileState::Waiting { .. }) => {
                if gone {
                    self.forget(&name);
                } else {
                    // touch, rewrite or replacement: follow the file's (new) mtime
                    self.requeue_at_mtime(name);
                }
            }
            Some(FileState::Writing) => {
                if gone {
                    self.forget(&name);
                } else if closed || arrived {
                    self.requeue_at_mtime(name);
                }
            }
            Some(FileState::Parked { .. }) => {
                if gone {
                    self.forget(&name);
                } else if closed || arrived || touched {
                    self.unpark_if_changed(name);
                }
            }
            Some(FileState::Kept(_)) => {
                if gone {
                    self.forget(&name);
                } else {
                    self.revisit_kept_if_changed(&name);
                }
            }
            None => {
                if !gone && (created || closed || arrived || touched) {
                    self.consider_new(name, created);
                }
            }
        }
    }

    fn outgoing_lost(&mut self) {
        if let Some(wd) = self.outgoing_wd.take() {
            self.inotify.remove_watch(wd);
        }
        host_log!(
            self.host,
            Level::Warning,
            "The spool directory {} disappeared; call files are not processed until it is back",
            self.paths.outgoing.display()
        );
        let names: Vec<Arc<OsStr>> = self
            .files
            .iter()
            .filter(|(_, s)| !matches!(s, FileState::Running { .. }))
            .map(|(n, _)| Arc::from(n))
            .collect();
        for name in names {
            self.forget(&name);
        }
        self.held.clear();
        self.rescan = None;
        self.watch_parent();
        // It may have come back before the parent watch was in place.
        if self.paths.outgoing.is_dir() {
            host_log!(self.host, Level::Notice, "{} is back: watching it again", self.paths.outgoing.display());
            self.watch_outgoing();
        }
    }
}
