//! Discovery without inotify (`watch = scan | both`): a directory scan every `scan_interval`, read in the
//! same batches as any rescan so calls already due are never held back. A scan compares the names it
//! reads with the names the scheduler knows: only new names are stat'ed (by the scheduler, as any new
//! file), and known names the scan did not see are gone (finished by another server, or removed).
//! Plain bookkeeping: the scheduler owns the directory stream and every file state.
//!
//! An idle spool is not read at all. Creating, removing or renaming a name in a directory changes the
//! directory's own mtime and ctime, so a periodic scan first stats `outgoing/` and skips the read when its
//! [`DirStamp`] is one a full read has already been *confirmed* under. A stamp is confirmed by a second
//! full read that saw the same stamp and started at least [`CONFIRM_AFTER`] after the first: a change made
//! right after the first read, within the file system's timestamp granularity, can leave the stamp as it
//! was, and the second read is what finds it. Only the scheduler's own monotonic clock is compared, never
//! a file system's clock, so servers with skewed clocks on a shared spool cannot fool it.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bookkeeping::Millis;

/// How long after the first full read under a directory stamp a second read must start to confirm it:
/// longer than any file system's timestamp granularity (FAT's is 2 s; ext4, XFS and the bricks of
/// GlusterFS keep nanoseconds).
pub(super) const CONFIRM_AFTER: Duration = Duration::from_secs(2);

/// What a directory's own metadata says about its entries: any name created, removed or renamed in it
/// changes its mtime and ctime (and a replaced directory its inode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DirStamp {
    inode: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    size: u64,
}

impl DirStamp {
    pub(super) fn of(meta: &fs::Metadata) -> Self {
        DirStamp {
            inode: meta.ino(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            size: meta.size(),
        }
    }
}

/// The stamp full reads were made under.
#[derive(Debug, Clone, Copy)]
struct ReadUnder {
    stamp: DirStamp,
    /// When the first full read under it started.
    first_read: Instant,
    /// A second read under it, started [`CONFIRM_AFTER`] later, has finished: reads under it may be skipped.
    confirmed: bool,
}

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
    /// The directory stamp of the full reads, if any.
    read_under: Option<ReadUnder>,
    /// The read in progress confirms `read_under` when it finishes.
    confirming: bool,
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
    /// The directory had not changed since a confirmed full read, so it was not read: `names` is that
    /// read's count.
    pub unchanged: bool,
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

    /// Whether a periodic scan may skip reading a directory whose stamp is now `stamp`.
    pub(super) fn unchanged_since_read(&self, stamp: Option<DirStamp>) -> bool {
        matches!((self.read_under, stamp), (Some(under), Some(stamp)) if under.confirmed && under.stamp == stamp)
    }

    /// A periodic scan found the directory unchanged: nothing read, nothing new or gone; the next scan is
    /// scheduled as after a read.
    pub(super) fn skip(&mut self, stat_took: Duration, now: Millis, interval_ms: u64) {
        let names = self.last.map_or(0, |last| last.names);
        self.last = Some(ScanReport { duration: stat_took, names, new: 0, vanished: 0, unchanged: true });
        self.next_at = Some(now + Millis::try_from(interval_ms).unwrap_or(Millis::MAX / 2));
    }

    /// A scan (periodic, or any rescan while scanning) begins reading the directory, whose stamp was
    /// taken just before it was opened (`None`: it could not be stat'ed; such a read confirms nothing).
    pub(super) fn begin(&mut self, stamp: Option<DirStamp>) {
        let started = Instant::now();
        self.confirming = false;
        match (self.read_under.as_mut(), stamp) {
            (Some(under), Some(stamp)) if under.stamp == stamp => {
                self.confirming = started.duration_since(under.first_read) >= CONFIRM_AFTER;
            }
            (_, stamp) => {
                self.read_under = stamp.map(|stamp| ReadUnder { stamp, first_read: started, confirmed: false });
            }
        }
        self.seen = Some(HashSet::new());
        self.started = Some(started);
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
        known: impl Iterator<Item = &'a OsStr>,
        now: Millis,
        interval_ms: u64,
    ) -> Vec<Arc<OsStr>> {
        let Some(seen) = self.seen.take() else { return Vec::new() };
        let vanished: Vec<Arc<OsStr>> = known.filter(|name| !seen.contains(*name)).map(Arc::from).collect();
        let duration = self.started.take().map_or(Duration::ZERO, |started| started.elapsed());
        if std::mem::take(&mut self.confirming) {
            if let Some(under) = self.read_under.as_mut() {
                under.confirmed = true;
            }
        }
        self.last =
            Some(ScanReport { duration, names: seen.len(), new: self.new, vanished: vanished.len(), unchanged: false });
        self.next_at = Some(now + Millis::try_from(interval_ms).unwrap_or(Millis::MAX / 2));
        vanished
    }

    /// A scan that could not read the directory: try again at the next interval. Returns whether this is
    /// the first failure in a row (the one worth a warning).
    pub(super) fn abandon(&mut self, now: Millis, interval_ms: u64) -> bool {
        let first = !self.failing;
        self.failing = true;
        self.seen = None;
        self.read_under = None;
        self.confirming = false;
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
        scan.begin(None);
        assert!(!scan.due(true, 0), "one scan at a time");
        scan.saw(&name("a"), true);
        let known = [name("a"), name("b")];
        let vanished = scan.finish(known.iter().map(|name| &**name), 10_000, 1000);
        assert_eq!(vanished, vec![name("b")]);
        assert_eq!(scan.last().map(|r| (r.names, r.new, r.vanished)), Some((1, 1, 1)));
        assert_eq!(scan.wakeup(true), Some(11_000));
        assert!(!scan.due(true, 10_999) && scan.due(true, 11_000));
    }

    fn stamp(mtime: i64) -> DirStamp {
        DirStamp { inode: 7, mtime: (mtime, 0), ctime: (mtime, 0), size: 4096 }
    }

    /// One full read under `now_stamp`.
    fn read(scan: &mut PeriodicScan, now_stamp: DirStamp) {
        scan.begin(Some(now_stamp));
        scan.finish(std::iter::empty(), 0, 1000);
    }

    #[test]
    fn an_unchanged_directory_is_skipped_only_after_a_confirming_read() {
        let mut scan = PeriodicScan::default();
        assert!(!scan.unchanged_since_read(Some(stamp(1))), "never read: read it");
        read(&mut scan, stamp(1));
        assert!(!scan.unchanged_since_read(Some(stamp(1))), "one read confirms nothing");
        // A second read too soon after the first (within CONFIRM_AFTER) confirms nothing either: a change
        // in the first read's timestamp granule could still be unseen.
        read(&mut scan, stamp(1));
        assert!(!scan.unchanged_since_read(Some(stamp(1))));
        // Age the first read past CONFIRM_AFTER, then read again under the same stamp: confirmed.
        scan.read_under.as_mut().unwrap().first_read = Instant::now() - CONFIRM_AFTER;
        read(&mut scan, stamp(1));
        assert!(scan.unchanged_since_read(Some(stamp(1))));
        assert!(!scan.unchanged_since_read(Some(stamp(2))), "a changed directory is read");
        assert!(!scan.unchanged_since_read(None), "a directory that cannot be stat'ed is read (and fails loudly)");
        scan.skip(Duration::from_micros(3), 20_000, 1000);
        let last = scan.last().unwrap();
        assert!(last.unchanged && last.new == 0 && last.vanished == 0);
        assert_eq!(scan.wakeup(true), Some(21_000));
        // A new stamp starts over: its first read confirms nothing.
        read(&mut scan, stamp(2));
        assert!(!scan.unchanged_since_read(Some(stamp(2))));
        assert!(!scan.unchanged_since_read(Some(stamp(1))), "an old stamp seen again is not trusted");
    }

    #[test]
    fn a_failed_scan_forgets_the_confirmed_stamp() {
        let mut scan = PeriodicScan::default();
        read(&mut scan, stamp(1));
        scan.read_under.as_mut().unwrap().first_read = Instant::now() - CONFIRM_AFTER;
        read(&mut scan, stamp(1));
        assert!(scan.unchanged_since_read(Some(stamp(1))));
        scan.abandon(30_000, 1000);
        assert!(!scan.unchanged_since_read(Some(stamp(1))));
    }
}
