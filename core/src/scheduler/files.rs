//! What the scheduler knows about each name in outgoing/ ([`FileState`]), and how a file is recognised
//! as unchanged ([`fingerprint`]). Plain data: the scheduler owns the map and every transition.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use crate::attempt::{AttemptStart, Kept};
use crate::bookkeeping::Status;

/// What the scheduler knows about one name in the outgoing directory.
#[derive(Debug)]
pub(super) enum FileState {
    /// In the wheel at its due time (its mtime).
    Queued,
    /// In the wheel for its next attempt after a failed one.
    Retrying,
    /// Created in place and still being written: taken when the writer closes it.
    Writing,
    /// Handed to a worker. `changed` records events seen meanwhile (the name may have been reused).
    /// Boxed: only running files need it, and it keeps every queued file's state small.
    Running { changed: bool, attempt: Option<Box<AttemptStart>> },
    /// Due but held back by `max_calls`.
    Held,
    /// Due, but its campaign is paused (`paused`, out of the wheel until resumed) or outside its calling
    /// window (in the wheel at the window's opening). `retrying`: a later attempt, not the first.
    Waiting { retrying: bool, paused: bool },
    /// Left for the admin; visited again only when the file itself changes (its [`fingerprint`] differs:
    /// events caused by our own failed writes do not count, so there is no loop). `finished`: its call
    /// had ended but the file could not be removed (recorded in the state file, so that the next run
    /// removes it rather than dialling it again).
    Parked { fingerprint: u64, finished: Option<FinishedAs> },
    /// Finished, kept in place by `AlwaysDelete: no`: removed at its date if its [`fingerprint`] is still
    /// the one it had after its last attempt; visited anew as soon as it changes. Boxed, like `Running`:
    /// few files are ever kept.
    Kept(Box<KeptFile>),
}

/// A [`FileState::Kept`] file: what it looked like after its last attempt, and how to end it.
#[derive(Debug)]
pub(super) struct KeptFile {
    pub(super) fingerprint: u64,
    pub(super) kept: Kept,
}

/// How a finished file that could not be removed is to be removed: its `Status:` and `Archive:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FinishedAs {
    pub(super) status: Status,
    pub(super) archive: bool,
}

/// What identifies a file's state for [`FileState::Parked`] and [`FileState::Kept`]: inode, size, mode,
/// owner, ctime and mtime. Any admin fix (chmod, chown, chattr, rewrite, touch, replacement) changes it; a
/// failed write of ours does not. A fixed hash (64-bit FNV-1a), not std's unspecified one: kept files'
/// fingerprints are saved in the state file and compared by the next run, maybe of another build.
pub(super) fn fingerprint(meta: &fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let fields = [
        meta.ino(),
        meta.size(),
        u64::from(meta.mode()),
        u64::from(meta.uid()),
        meta.ctime() as u64,
        meta.ctime_nsec() as u64,
        meta.mtime() as u64,
        meta.mtime_nsec() as u64,
    ];
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in fields.iter().flat_map(|field| field.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash.max(1)
}

/// A directory entry's name as a queue key (any bytes, as pbx_spool takes them; `.`/`..` kept out).
pub(super) fn file_name_key(name: &[u8]) -> Option<Arc<OsStr>> {
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') {
        return None;
    }
    Some(Arc::from(OsStr::from_bytes(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_file_state_stays_small() {
        // A file table slot holds the name's box and the state; the whole cost per queued file, name and
        // wheel included, is counted in file_table.rs.
        assert!(std::mem::size_of::<FileState>() <= 16, "{}", std::mem::size_of::<FileState>());
        assert!(std::mem::size_of::<(Arc<OsStr>, FileState)>() <= 32);
    }
}
