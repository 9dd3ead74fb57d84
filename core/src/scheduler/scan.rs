//! Discovery without inotify (`watch = scan | both`): a directory scan every `scan_interval`, read in the
//! same batches as any rescan so calls already due are never held back. A scan compares the names it
//! reads with the names the scheduler knows: only new names are stat'ed (by the scheduler, as any new
//! file), and known names the scan did not see are gone (finished by another server, or removed).
//! Plain bookkeeping: the scheduler owns the directory stream and every file state.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bookkeeping::Millis;

/// The periodic scan's state, owned by the scheduler.
#[derive(Debug, Default)]
pub(super) struct PeriodicScan {
    /// When the next scan starts (`None`: not scanning, `watch = inotify`).
    next_at: Option<Millis>,
    /// The names read so far by the scan in progress (`None` between scans).
    seen: Option<HashSet<Arc<OsStr>>>,
    started: Option<Instant>,
    /// New names read by the scan in progress.
    new: usize,
    /// The last scan could not open the directory (said once, not at every interval).
    failing: bool,
    last: Option<ScanReport>,
}

/// The last finished scan, for `spool show status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanReport {
    pub duration: Duration,
    /// Names read.
    pub names: usize,
    /// Names that were new to this server (and were stat'ed).
    pub new: usize,
    /// Known names the scan no longer found.
    pub vanished: usize,
}

impl PeriodicScan {
    /// Whether a periodic scan should start now (none running, its time has come).
    pub(super) fn due(&self, scanning: bool, now: Millis) -> bool {
        scanning && self.seen.is_none() && self.next_at.map_or(true, |at| now >= at)
    }

    /// When the scheduler must wake for the next scan, if scanning.
    pub(super) fn wakeup(&self, scanning: bool) -> Option<Millis> {
        if scanning && self.seen.is_none() {
            self.next_at
        } else {
            None
        }
    }

    /// A scan (periodic, or any rescan while scanning) begins reading the directory.
    pub(super) fn begin(&mut self) {
        self.seen = Some(HashSet::new());
        self.started = Some(Instant::now());
        self.new = 0;
        self.failing = false;
    }

    pub(super) fn in_progress(&self) -> bool {
        self.seen.is_some()
    }

    /// The scan read `name` (`new`: the scheduler did not know it).
    pub(super) fn saw(&mut self, name: &Arc<OsStr>, new: bool) {
        if let Some(seen) = self.seen.as_mut() {
            seen.insert(name.clone());
            self.new += usize::from(new);
        }
    }

    /// The scan read the whole directory: `known` are the names the scheduler holds that a scan may
    /// forget. Returns those the scan did not find, and schedules the next scan.
    pub(super) fn finish<'a>(
        &mut self,
        known: impl Iterator<Item = &'a Arc<OsStr>>,
        now: Millis,
        interval_ms: u64,
    ) -> Vec<Arc<OsStr>> {
        let Some(seen) = self.seen.take() else { return Vec::new() };
        let vanished: Vec<Arc<OsStr>> = known.filter(|name| !seen.contains(*name)).cloned().collect();
        let duration = self.started.take().map_or(Duration::ZERO, |started| started.elapsed());
        self.last = Some(ScanReport { duration, names: seen.len(), new: self.new, vanished: vanished.len() });
        self.next_at = Some(now + Millis::try_from(interval_ms).unwrap_or(Millis::MAX / 2));
        vanished
    }

    /// A scan that could not read the directory: try again at the next interval. Returns whether this is
    /// the first failure in a row (the one worth a warning).
    pub(super) fn abandon(&mut self, now: Millis, interval_ms: u64) -> bool {
        let first = !self.failing;
        self.failing = true;
        self.seen = None;
        self.started = None;
        self.next_at = Some(now + Millis::try_from(interval_ms).unwrap_or(Millis::MAX / 2));
        first
    }

    pub(super) fn last(&self) -> Option<ScanReport> {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Arc<OsStr> {
        Arc::from(OsStr::new(text))
    }

    #[test]
    fn a_scan_reports_vanished_names_and_schedules_the_next() {
        let mut scan = PeriodicScan::default();
        assert!(scan.due(true, 0));
        assert!(!scan.due(false, 0), "watch = inotify never scans");
        scan.begin();
        assert!(!scan.due(true, 0), "one scan at a time");
        scan.saw(&name("a"), true);
        let known = [name("a"), name("b")];
        let vanished = scan.finish(known.iter(), 10_000, 1000);
        assert_eq!(vanished, vec![name("b")]);
        assert_eq!(scan.last().map(|r| (r.names, r.new, r.vanished)), Some((1, 1, 1)));
        assert_eq!(scan.wakeup(true), Some(11_000));
        assert!(!scan.due(true, 10_999) && scan.due(true, 11_000));
    }
}
