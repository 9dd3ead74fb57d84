//! `spool show ...`: the scheduler's state as an admin sees it ([`Snapshot`]), taken on the scheduler
//! thread when a CLI or AMI request asks: counts per state and per campaign, the next files by due time,
//! the paused ones, and the sentence describing one file's state. Only reads the scheduler's state: it
//! changes nothing and touches no file. The tables around these figures are `report.rs`'s.

use std::ffi::OsStr;
use std::sync::Arc;

use super::files::FileState;
use super::suspension::STOCK_SPOOLER_REASON;
use super::{wall_time, QueuedFile, Scheduler, Snapshot, SnapshotQuery};
use crate::host::Host;

impl<H: Host> Scheduler<H> {
    /// The figures `spool show` prints, and the queried file's state.
    pub(super) fn snapshot(&self, query: &SnapshotQuery) -> Snapshot {
        let mut snapshot = Snapshot {
            workers: self.pool.len(),
            last_scan: self.scan.last(),
            nodes: self.nodes_report(),
            campaigns: self.book.figures(crate::bookkeeping::now_ms()),
            all_paused: self.book.all_paused(),
            suspended: self.suspension.map(|_| STOCK_SPOOLER_REASON.to_string()),
            ..Snapshot::default()
        };
        for (name, state) in self.files.iter() {
            if let Some(figures) = self.book.index_of(name).and_then(|i| snapshot.campaigns.get_mut(i)) {
                match state {
                    FileState::Queued | FileState::Retrying => figures.queued += 1,
                    FileState::Waiting { paused: true, .. } => figures.waiting_paused += 1,
                    FileState::Waiting { paused: false, .. } => figures.waiting_window += 1,
                    FileState::Held => figures.held += 1,
                    _ => {}
                }
            }
            match state {
                FileState::Waiting { paused: true, .. } => snapshot.waiting_paused += 1,
                FileState::Waiting { paused: false, .. } => snapshot.waiting_window += 1,
                FileState::Queued => snapshot.queued += 1,
                FileState::Retrying => snapshot.waiting_retry += 1,
                FileState::Held if self.suspension.is_some() => snapshot.due_suspended += 1,
                FileState::Held => snapshot.held += 1,
                FileState::Running { .. } => snapshot.in_progress += 1,
                FileState::Writing => snapshot.being_written += 1,
                FileState::Parked { .. } => snapshot.parked += 1,
                FileState::Kept(_) => snapshot.kept += 1,
            }
        }
        // Running files keep a DelayedRetry timer in the wheel; the queue lists files waiting to be dialled.
        let waiting = |name: &Arc<OsStr>| {
            matches!(self.files.get(name), Some(FileState::Queued | FileState::Retrying | FileState::Waiting { .. }))
        };
        let listed = self.files.earliest(query.limit + snapshot.in_progress + snapshot.being_written);
        snapshot.next = listed
            .into_iter()
            .filter(|(name, _)| waiting(name))
            .take(query.limit)
            .map(|(name, due)| {
                let state = match self.files.get(&name) {
                    Some(FileState::Retrying | FileState::Waiting { retrying: true, .. }) => "retrying",
                    _ => "queued",
                };
                let state = match self.files.get(&name) {
                    Some(FileState::Waiting { paused: false, .. }) => "window",
                    _ => state,
                };
                QueuedFile {
                    name: name.to_string_lossy().into_owned(),
                    due: wall_time(due),
                    campaign: self.book.campaign_of(&name).map(|c| c.name.clone()),
                    state,
                    next_due: Some(wall_time(due)),
                }
            })
            .collect();
        snapshot.others = self.others(query.limit);
        for listed in &snapshot.next {
            if let Some(FileState::Waiting { paused: false, .. }) = self.files.get(OsStr::new(listed.name.as_str())) {
                let campaign = listed.campaign.as_deref().unwrap_or("?");
                snapshot.notes.push((listed.name.clone(), format!("window of {campaign}")));
            }
        }
        snapshot.paused_files = self
            .files
            .iter()
            .filter(|(_, state)| matches!(state, FileState::Waiting { paused: true, .. }))
            .take(query.limit)
            .map(|(name, _)| {
                let campaign = self.book.campaign_of(name).map_or("all", |c| c.name.as_str()).to_string();
                (name.to_string_lossy().into_owned(), campaign)
            })
            .collect();
        snapshot.paused_files.sort();
        snapshot.file_state = query.file.as_deref().and_then(|file| self.describe_file(file));
        snapshot
    }

    /// Up to `limit` files not waiting for a time, by name: paused, held, running and kept ones.
    fn others(&self, limit: usize) -> Vec<QueuedFile> {
        if limit == 0 {
            return Vec::new();
        }
        let mut chosen: Vec<(&OsStr, &'static str)> = self
            .files
            .iter()
            .filter_map(|(name, state)| match state {
                FileState::Waiting { paused: true, .. } => Some((name, "paused")),
                FileState::Held => Some((name, "held")),
                FileState::Running { .. } => Some((name, "running")),
                FileState::Kept(_) => Some((name, "kept")),
                _ => None,
            })
            .collect();
        chosen.sort_unstable_by(|a, b| a.0.cmp(b.0));
        chosen.truncate(limit);
        chosen
            .into_iter()
            .map(|(name, state)| {
                let wheel_due = self.files.due_of(name).map(wall_time);
                let next_due = if matches!(state, "running" | "kept") { wheel_due } else { None };
                let own_date = crate::bookkeeping::regular_file_mtime(&self.path_of(name));
                QueuedFile {
                    name: name.to_string_lossy().into_owned(),
                    due: own_date.or(wheel_due).unwrap_or(0),
                    campaign: self.book.campaign_of(name).map(|c| c.name.clone()),
                    state,
                    next_due,
                }
            })
            .collect()
    }

    /// The sentence `spool show file` prints for a known file: its state, and its due time if it has one.
    fn describe_file(&self, file: &str) -> Option<String> {
        let mut described = self.files.get(OsStr::new(file)).map(|state| match state {
            FileState::Queued => "queued".to_string(),
            FileState::Retrying => "waiting for its next attempt".to_string(),
            FileState::Held if self.suspension.is_some() => {
                "due, not dispatched while pbx_spool.so is loaded".to_string()
            }
            FileState::Held => "due, held back by maxcalls/maxrate".to_string(),
            FileState::Waiting { paused: true, .. } => {
                let campaign = self.book.campaign_of(OsStr::new(file)).map_or("all", |c| c.name.as_str());
                format!("due, waiting: campaign {campaign} is paused (spool resume {campaign})")
            }
            FileState::Waiting { paused: false, .. } => {
                let campaign = self.book.campaign_of(OsStr::new(file));
                let hours = campaign.map(|c| c.describe()).unwrap_or_default();
                format!("due, waiting for its campaign's calling window to open ({hours})")
            }
            FileState::Running { .. } => "attempt in progress".to_string(),
            FileState::Writing => {
                "being written (waiting for its writer to close it, or for 2 s without a change)".to_string()
            }
            FileState::Parked { .. } => "left for the admin (see the log)".to_string(),
            FileState::Kept(state) => format!(
                "finished ({}), kept by AlwaysDelete: no until its date; removed then unless it changes",
                state.kept.status.as_str()
            ),
        });
        if let (Some(state), Some(due)) = (described.as_mut(), self.files.due_of(&Arc::from(OsStr::new(file)))) {
            let due = i64::try_from(due).unwrap_or(i64::MAX);
            state.push_str(&format!(", due at {}", crate::text::utc_time(due)));
        }
        if let (Some(state), Some(members)) = (described.as_mut(), self.members.as_ref()) {
            let owner = members.owner(OsStr::new(file));
            let mine = if owner == members.me() { " (this node)" } else { "" };
            state
                .push_str(&format!("; owner among the live nodes: {}{mine}", crate::text::printable(owner.as_bytes())));
        }
        described
    }
}
