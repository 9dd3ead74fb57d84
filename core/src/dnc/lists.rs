//! The do-not-call lists in force and their files: which lists apply to a call file (`[general]`'s, plus
//! its campaign's), and each list's last good copy, read again when its file changes.
//!
//! Before every attempt each applicable list's file is stat'ed (device, inode, size, mtime, ctime: one
//! syscall); only a changed file is read again, by the first attempt that sees the change, while the
//! others wait for it (a number just added must not be dialled), and the new copy replaces the old as one
//! `Arc`. Unchanged lists cost a stat and a binary search.
//!
//! A list that cannot be read is reported once per reason (ERROR naming the file). The last good copy stays
//! in force; a list never read since load has none, and the files it applies to are not dialled until it
//! can be read (the caller retries them later: fail closed, nothing destroyed). Logs through the
//! [`Host`]; touches only the list files, with `std::fs`.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::{parse_list, NumberSet};
use crate::bookkeeping::{self, Millis};
use crate::host::{Host, Level};
use crate::host_log;

/// What a list file looked like when it was read: a change to any of these means it is read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    device: u64,
    inode: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Stamp {
        Stamp {
            device: meta.dev(),
            inode: meta.ino(),
            size: meta.size(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
        }
    }
}

/// One good copy of a list.
#[derive(Debug)]
pub struct Loaded {
    pub numbers: NumberSet,
    /// Lines skipped as not numbers.
    pub skipped: usize,
    /// When it was read (ms on the wall clock), and how long reading took.
    pub loaded_at: Millis,
    pub load_ms: f64,
    stamp: Stamp,
}

/// Why a list's file could not be read last time.
#[derive(Debug, Clone)]
struct Failure {
    reason: String,
    since: Millis,
    /// The file as it was then (`None` when even stat failed): unchanged, it is not read again.
    stamp: Option<Stamp>,
}

#[derive(Debug, Default)]
struct Slot {
    loaded: Option<Arc<Loaded>>,
    failure: Option<Failure>,
}

/// A list's state, for `spool show status`.
#[derive(Debug, Clone)]
pub enum ListState {
    NotReadYet,
    Loaded {
        numbers: usize,
        skipped: usize,
        loaded_at: Millis,
        load_ms: f64,
    },
    /// The file cannot be read now; `kept` is the good copy still in force (numbers, loaded at), if any.
    Unreadable {
        reason: String,
        since: Millis,
        kept: Option<(usize, Millis)>,
    },
}

/// One list file (`dnc = <path>`), shared by every section that names it.
#[derive(Debug)]
pub struct DncList {
    pub path: PathBuf,
    slot: Mutex<Slot>,
    /// Held while the file is stat'ed and read, so a change is read once and waited for by the others.
    reading: Mutex<()>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl DncList {
    fn new(path: PathBuf) -> DncList {
        DncList { path, slot: Mutex::default(), reading: Mutex::new(()) }
    }

    /// The copy in force, read again first when the file changed. `Err(reason)` when the file cannot be
    /// read and no good copy was ever read.
    pub fn current<H: Host>(&self, host: &H) -> Result<Arc<Loaded>, String> {
        let _reading = locked(&self.reading);
        let meta = match fs::metadata(&self.path) {
            Ok(meta) if meta.is_file() => meta,
            Ok(_) => return self.failed(host, "not a regular file".to_string(), None),
            Err(err) => return self.failed(host, err.to_string(), None),
        };
        let stamp = Stamp::of(&meta);
        {
            let slot = locked(&self.slot);
            if let Some(loaded) = slot.loaded.as_ref().filter(|loaded| loaded.stamp == stamp) {
                if slot.failure.is_none() {
                    return Ok(loaded.clone());
                }
            }
            if let Some(failure) = slot.failure.as_ref().filter(|failure| failure.stamp == Some(stamp)) {
                return slot.loaded.clone().ok_or_else(|| failure.reason.clone());
            }
        }
        let started = Instant::now();
        let text = match fs::read(&self.path) {
            Ok(text) => text,
            Err(err) => return self.failed(host, err.to_string(), Some(stamp)),
        };
        let parsed = parse_list(&text);
        drop(text);
        let load_ms = started.elapsed().as_secs_f64() * 1000.0;
        let path = self.path.display();
        for (line, why) in &parsed.skipped_shown {
            host_log!(host, Level::Warning, "Do-not-call list {path}, line {line}: {why}; line skipped");
        }
        let unshown = parsed.skipped - parsed.skipped_shown.len();
        if unshown > 0 {
            host_log!(
                host,
                Level::Warning,
                "Do-not-call list {path}: {unshown} more lines that are not numbers skipped"
            );
        }
        host_log!(
            host,
            Level::Notice,
            "Loaded do-not-call list {path}: {} numbers, {} lines skipped, in {load_ms:.1} ms",
            parsed.numbers.len(),
            parsed.skipped
        );
        let loaded = Arc::new(Loaded {
            numbers: parsed.numbers,
            skipped: parsed.skipped,
            loaded_at: bookkeeping::now_ms(),
            load_ms,
            stamp,
        });
        let mut slot = locked(&self.slot);
        slot.loaded = Some(loaded.clone());
        slot.failure = None;
        Ok(loaded)
    }

    /// Note a failure to read the file; an ERROR when the reason is new. The good copy stays in force.
    fn failed<H: Host>(&self, host: &H, reason: String, stamp: Option<Stamp>) -> Result<Arc<Loaded>, String> {
        let mut slot = locked(&self.slot);
        let repeated = slot.failure.as_ref().is_some_and(|failure| failure.reason == reason);
        let since = match &slot.failure {
            Some(failure) if repeated => failure.since,
            _ => bookkeeping::now_ms(),
        };
        if !repeated {
            let path = self.path.display();
            match &slot.loaded {
                Some(kept) => host_log!(
                    host,
                    Level::Error,
                    "Unable to read do-not-call list {path}: {reason}; keeping its last good copy ({} numbers, \
                     loaded {})",
                    kept.numbers.len(),
                    crate::text::utc_time(kept.loaded_at)
                ),
                None => host_log!(
                    host,
                    Level::Error,
                    "Unable to read do-not-call list {path}: {reason}; no good copy was ever read, so the call \
                     files it applies to are not dialled until it can be read"
                ),
            }
        }
        slot.failure = Some(Failure { reason: reason.clone(), since, stamp });
        slot.loaded.clone().ok_or(reason)
    }

    /// What `spool show status` says of the list.
    pub fn state(&self) -> ListState {
        let slot = locked(&self.slot);
        let kept = slot.loaded.as_ref().map(|loaded| (loaded.numbers.len(), loaded.loaded_at));
        match (&slot.failure, &slot.loaded) {
            (Some(failure), _) => ListState::Unreadable { reason: failure.reason.clone(), since: failure.since, kept },
            (None, Some(loaded)) => ListState::Loaded {
                numbers: loaded.numbers.len(),
                skipped: loaded.skipped,
                loaded_at: loaded.loaded_at,
                load_ms: loaded.load_ms,
            },
            (None, None) => ListState::NotReadYet,
        }
    }

    /// Take over `previous`'s copies (the same file, before a reload of the configuration): an unchanged
    /// file is not read again, and a good copy stays in force if the file became unreadable.
    fn adopt(&self, previous: &DncList) {
        let taken = {
            let old = locked(&previous.slot);
            (old.loaded.clone(), old.failure.clone())
        };
        let mut slot = locked(&self.slot);
        if slot.loaded.is_none() && slot.failure.is_none() {
            (slot.loaded, slot.failure) = taken;
        }
    }
}

impl ListState {
    /// One line for `spool show status`.
    pub fn describe(&self) -> String {
        match self {
            ListState::NotReadYet => "not read yet".to_string(),
            ListState::Loaded { numbers, skipped, loaded_at, load_ms } => format!(
                "{numbers} numbers, loaded {} in {load_ms:.0} ms{}",
                crate::text::utc_time(*loaded_at),
                if *skipped > 0 { format!(", {skipped} lines skipped") } else { String::new() }
            ),
            ListState::Unreadable { reason, since, kept: Some((numbers, loaded_at)) } => format!(
                "UNREADABLE since {} ({reason}); its last good copy is in force: {numbers} numbers, loaded {}",
                crate::text::utc_time(*since),
                crate::text::utc_time(*loaded_at)
            ),
            ListState::Unreadable { reason, since, kept: None } => format!(
                "UNREADABLE since {} ({reason}); never read: the files it applies to are not dialled",
                crate::text::utc_time(*since)
            ),
        }
    }
}

/// Whether a number may be dialled, by the lists that apply to its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// On none of them.
    Clear,
    /// On this list, at this line.
    Listed { path: PathBuf, line: u32 },
    /// This list cannot be read and was never read: the number is not dialled now.
    Unreadable { path: PathBuf, reason: String },
}

/// The lists that apply to one call file.
pub struct Applicable<'a> {
    lists: Vec<&'a DncList>,
}

impl Applicable<'_> {
    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }

    /// The lists' files, comma separated, for messages.
    pub fn paths(&self) -> String {
        self.lists.iter().map(|list| list.path.display().to_string()).collect::<Vec<_>>().join(", ")
    }

    /// `digits` (normalised) checked against each list in turn; the first that lists it, or cannot be
    /// read at all, decides.
    pub fn check<H: Host>(&self, host: &H, digits: &[u8]) -> Verdict {
        for list in &self.lists {
            match list.current(host) {
                Ok(loaded) => {
                    if let Some(line) = loaded.numbers.line_of(digits) {
                        return Verdict::Listed { path: list.path.clone(), line };
                    }
                }
                Err(reason) => return Verdict::Unreadable { path: list.path.clone(), reason },
            }
        }
        Verdict::Clear
    }
}

/// Every list pbx_spool_rs.conf names, each file once, and which apply where.
#[derive(Debug, Default)]
pub struct DncLists {
    lists: Vec<DncList>,
    /// `[general]`'s lists (indices into `lists`): they apply to every call file.
    general: Vec<usize>,
    /// Each campaign's own lists, in campaign order: they apply to its files, besides `[general]`'s.
    campaigns: Vec<Vec<usize>>,
}

impl DncLists {
    /// The lists of `[general]` (`general`) and of each campaign, in campaign order. No I/O.
    pub fn new(general: &[String], campaigns: &[&[String]]) -> DncLists {
        let mut lists: Vec<DncList> = Vec::new();
        let mut index_of = |path: &String| match lists.iter().position(|list| list.path == Path::new(path)) {
            Some(index) => index,
            None => {
                lists.push(DncList::new(PathBuf::from(path)));
                lists.len() - 1
            }
        };
        let mut general_indices = Vec::new();
        for path in general {
            let index = index_of(path);
            if !general_indices.contains(&index) {
                general_indices.push(index);
            }
        }
        let campaigns = campaigns
            .iter()
            .map(|paths| {
                let mut own = Vec::new();
                for path in paths.iter() {
                    let index = index_of(path);
                    if !general_indices.contains(&index) && !own.contains(&index) {
                        own.push(index);
                    }
                }
                own
            })
            .collect();
        DncLists { lists, general: general_indices, campaigns }
    }

    /// The lists for a file in campaign `campaign` (an index in configuration order), or outside any.
    pub fn applicable(&self, campaign: Option<usize>) -> Applicable<'_> {
        let own = campaign.and_then(|index| self.campaigns.get(index)).map(Vec::as_slice).unwrap_or_default();
        let indices = self.general.iter().chain(own);
        Applicable { lists: indices.map(|&index| &self.lists[index]).collect() }
    }

    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }

    /// Take over the copies of the same files from the lists in force before a reload.
    pub fn adopt(&self, previous: &DncLists) {
        for list in &self.lists {
            if let Some(old) = previous.lists.iter().find(|old| old.path == list.path) {
                list.adopt(old);
            }
        }
    }

    /// Read every list now (at load and reload), so `spool show status` and the log tell at once.
    pub fn refresh<H: Host>(&self, host: &H) {
        for list in &self.lists {
            let _ = list.current(host);
        }
    }

    /// (`dnc <path>`, its state) per list, for `spool show status`.
    pub fn describe(&self) -> Vec<(String, String)> {
        self.lists.iter().map(|list| (format!("dnc {}", list.path.display()), list.state().describe())).collect()
    }
}
