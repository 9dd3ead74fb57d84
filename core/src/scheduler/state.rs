//! The scheduler's memory of decisions about single files that must outlive a restart, kept in one
//! small file of the module's own next to `outgoing/`: `pbx_spool_rs.state` (`pbx_spool_rs.state.<node>`
//! on a shared spool). Three kinds of record, each about one call file that is still in `outgoing/`:
//!
//! - **kept**: finished, left in place by `AlwaysDelete: no` until its date; removed then (with its
//!   real status) if it has not changed since, never dialled again. The record holds what the
//!   in-memory state compares ([`super::files::fingerprint`]) and how to end the file.
//! - **cancelled**: `spool cancel` reached it while its call was in progress; it is removed when that
//!   call ends. A restart mid-call (a crash, or a stop that did not wait for the call) would otherwise
//!   leave an open `StartRetry` that the next run answers with `AbortRetry` and a new call. The record
//!   holds the file's identity (inode and birth time): the same file, whatever our own bookkeeping or
//!   the dialplan wrote into it since.
//! - **unremovable**: its call had ended (counted, announced) but the file could not be removed (an
//!   append-only or read-only directory, ...); it is left for the admin. The next run tries the removal
//!   again, with its real status, if the file has not changed, instead of taking its last `StartRetry`
//!   for an interrupted attempt and dialling it again.
//!
//! One file for all three: they share a lifetime (an entry goes when its file leaves `outgoing/`), a
//! reader (the scheduler, once, at start) and a writer (the scheduler thread). The paused campaigns stay
//! in their own file (`pbx_spool_rs.paused`): a list an admin may read and edit, about campaigns, not
//! files, with its own rule when it cannot be read (everything stays paused).
//!
//! Per node on a shared spool: each server records only files it finished or cancelled itself (it
//! held their claims), so servers never write one file together.
//!
//! Written whole, aside and renamed over after an fsync, so a crash leaves the old list or the new one;
//! removed when empty. A missing file is an empty list; a line that cannot be read is skipped and
//! reported, and so is a file in an unknown format. Plain data and file I/O: no logging, no Host.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::bookkeeping::{Millis, Status};

/// The state file's name next to `outgoing/`; a shared spool's gets `.<node>` after it.
pub(super) const STATE_FILE: &str = "pbx_spool_rs.state";
/// The first line: the format, so that a future format is not misread.
const HEADER: &str = "pbx_spool_rs state 1";

/// What is remembered about one call file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Record {
    /// Kept by `AlwaysDelete: no`: removed at `due` as `status` (archived when `archive`) if its
    /// fingerprint is still `fingerprint`.
    Kept { fingerprint: u64, due: Millis, archive: bool, status: Status },
    /// Cancelled while its call was in progress: removed as cancelled if it is still this file.
    Cancelled(FileIdentity),
    /// Finished, but it could not be removed: removed as `status` (archived when `archive`) if its
    /// fingerprint is still `fingerprint`, left for the admin again if it still cannot be.
    Unremovable { fingerprint: u64, archive: bool, status: Status },
}

/// Which file a name held: its inode and, where the file system records it, its birth time (an inode
/// number alone may be reused by a new file). Unchanged by writes into the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileIdentity {
    pub(super) inode: u64,
    /// Nanoseconds since the epoch; `None` where the file system does not tell.
    pub(super) born_ns: Option<i128>,
}

impl FileIdentity {
    pub(super) fn of(meta: &fs::Metadata) -> FileIdentity {
        use std::os::unix::fs::MetadataExt;
        let born_ns = meta.created().ok().map(|born| match born.duration_since(std::time::UNIX_EPOCH) {
            Ok(after) => after.as_nanos() as i128,
            Err(before) => -(before.duration().as_nanos() as i128),
        });
        FileIdentity { inode: meta.ino(), born_ns }
    }
}

/// Where the state file of this spool (and node, on a shared spool) lives.
pub(super) fn path_for(spool_dir: &Path, node: Option<&str>) -> PathBuf {
    match node {
        None => spool_dir.join(STATE_FILE),
        Some(node) => {
            let mut name = format!("{STATE_FILE}.").into_bytes();
            name.extend_from_slice(escape(node.as_bytes()).as_bytes());
            spool_dir.join(OsStr::from_bytes(&name))
        }
    }
}

/// The records in `path`, and a description of every problem met (for the log). A missing file is no
/// records and no problem.
pub(super) fn load(path: &Path) -> (HashMap<Arc<OsStr>, Record>, Vec<String>) {
    let mut records = HashMap::new();
    let mut problems = Vec::new();
    let text = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return (records, problems),
        Err(err) => {
            problems.push(format!("Unable to read {}: {err}", path.display()));
            return (records, problems);
        }
    };
    let mut lines = text.split(|&b| b == b'\n');
    if lines.next() != Some(HEADER.as_bytes()) {
        problems
            .push(format!("{} is not in a format this version knows (first line '{HEADER}'); ignored", path.display()));
        return (records, problems);
    }
    for (index, line) in lines.enumerate() {
        if line.is_empty() {
            continue;
        }
        match parse_line(line) {
            Some((name, record)) => {
                records.insert(name, record);
            }
            None => problems.push(format!(
                "{} line {}: unreadable, skipped: {}",
                path.display(),
                index + 2,
                crate::text::printable(line)
            )),
        }
    }
    (records, problems)
}

fn parse_line(line: &[u8]) -> Option<(Arc<OsStr>, Record)> {
    let text = std::str::from_utf8(line).ok()?;
    let fields: Vec<&str> = text.split(' ').collect();
    match fields.as_slice() {
        ["kept", name, due, status, archive, fingerprint] => {
            let record = Record::Kept {
                fingerprint: u64::from_str_radix(fingerprint, 16).ok()?,
                due: due.parse().ok()?,
                archive: parse_archive(archive)?,
                status: parse_status(status)?,
            };
            Some((name_key(name)?, record))
        }
        ["unremovable", name, status, archive, fingerprint] => {
            let record = Record::Unremovable {
                fingerprint: u64::from_str_radix(fingerprint, 16).ok()?,
                archive: parse_archive(archive)?,
                status: parse_status(status)?,
            };
            Some((name_key(name)?, record))
        }
        ["cancelled", name, inode, born] => {
            let born_ns = match *born {
                "-" => None,
                born => Some(born.parse().ok()?),
            };
            let identity = FileIdentity { inode: inode.parse().ok()?, born_ns };
            Some((name_key(name)?, Record::Cancelled(identity)))
        }
        _ => None,
    }
}

/// A finished file's status (never `Cancelled`: a cancelled file is not left behind).
fn parse_status(word: &str) -> Option<Status> {
    match word {
        "Completed" => Some(Status::Completed),
        "Expired" => Some(Status::Expired),
        "Failed" => Some(Status::Failed),
        _ => None,
    }
}

fn parse_archive(word: &str) -> Option<bool> {
    match word {
        "archive" => Some(true),
        "delete" => Some(false),
        _ => None,
    }
}

fn archive_word(archive: bool) -> &'static str {
    if archive {
        "archive"
    } else {
        "delete"
    }
}

fn name_key(escaped: &str) -> Option<Arc<OsStr>> {
    super::files::file_name_key(&unescape(escaped)?)
}

/// Write `records` to `path` (aside, fsync'ed, renamed over, directory fsync'ed); with no records the
/// file is removed.
pub(super) fn save<'a>(path: &Path, records: impl Iterator<Item = (&'a OsStr, Record)>) -> io::Result<()> {
    let mut text = format!("{HEADER}\n");
    let mut any = false;
    for (name, record) in records {
        any = true;
        let name = escape(name.as_bytes());
        match record {
            Record::Kept { fingerprint, due, archive, status } => {
                let (status, archive) = (status.as_str(), archive_word(archive));
                text.push_str(&format!("kept {name} {due} {status} {archive} {fingerprint:016x}\n"));
            }
            Record::Unremovable { fingerprint, archive, status } => {
                let (status, archive) = (status.as_str(), archive_word(archive));
                text.push_str(&format!("unremovable {name} {status} {archive} {fingerprint:016x}\n"));
            }
            Record::Cancelled(FileIdentity { inode, born_ns }) => {
                let born = born_ns.map_or_else(|| "-".to_string(), |ns| ns.to_string());
                text.push_str(&format!("cancelled {name} {inode} {born}\n"));
            }
        }
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    if !any {
        return match fs::remove_file(path) {
            Ok(()) => sync_dir(dir),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(err),
        };
    }
    let mut staged_name = path.file_name().unwrap_or_default().to_os_string();
    staged_name.push(".tmp");
    let staged = dir.join(staged_name);
    let written = (|| {
        let mut file = fs::File::create(&staged)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&staged, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&staged);
    }
    written?;
    sync_dir(dir)
}

/// Make a rename or removal in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// A name as one blank-free printable word: bytes outside `!`..`~`, `%` and `/`, as `%XX`.
pub(super) fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_graphic() && b != b'%' && b != b'/' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(super) fn unescape(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::temp_spool;

    fn dir(name: &str) -> PathBuf {
        temp_spool(name).outgoing.parent().unwrap().to_path_buf()
    }

    fn key(name: &[u8]) -> Arc<OsStr> {
        Arc::from(OsStr::from_bytes(name))
    }

    #[test]
    fn records_come_back_as_they_were_saved_whatever_bytes_the_names_hold() {
        let path = path_for(&dir("state-roundtrip"), None);
        let kept = Record::Kept {
            fingerprint: 0xfeed_0000_0000_0001,
            due: 1_700_000_000_123,
            archive: true,
            status: Status::Expired,
        };
        let kept_too = Record::Kept { fingerprint: 7, due: -5, archive: false, status: Status::Completed };
        let cancelled = Record::Cancelled(FileIdentity { inode: 42, born_ns: Some(1_700_000_000_000_000_001) });
        let cancelled_no_birth = Record::Cancelled(FileIdentity { inode: 43, born_ns: None });
        let unremovable = Record::Unremovable { fingerprint: u64::MAX, archive: false, status: Status::Failed };
        let names: [&[u8]; 5] = [b"a.call", b"sp ace\nnew%line.call", b"caf\xe9\xff.call", b"100%", b"u.call"];
        let records = [kept, kept_too, cancelled, cancelled_no_birth, unremovable];
        save(&path, names.iter().zip(&records).map(|(n, r)| (OsStr::from_bytes(n), r.clone()))).unwrap();
        let (loaded, problems) = load(&path);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(loaded.len(), 5);
        for (name, record) in names.iter().zip(&records) {
            assert_eq!(loaded.get(&key(name)), Some(record), "{}", String::from_utf8_lossy(name));
        }
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.lines().all(|l| !l.is_empty()), "one record a line:\n{text}");
        assert!(!path.with_extension("state.tmp").exists(), "the staged copy is left behind");
    }

    #[test]
    fn no_records_remove_the_file_and_a_missing_file_is_no_records() {
        let path = path_for(&dir("state-empty"), None);
        let record = Record::Cancelled(FileIdentity { inode: 1, born_ns: None });
        save(&path, std::iter::once((OsStr::new("x.call"), record))).unwrap();
        assert!(path.exists());
        save(&path, std::iter::empty()).unwrap();
        assert!(!path.exists(), "an empty list leaves a file behind");
        save(&path, std::iter::empty()).unwrap();
        let (loaded, problems) = load(&path);
        assert!(loaded.is_empty() && problems.is_empty(), "{loaded:?} {problems:?}");
    }

    #[test]
    fn unreadable_lines_are_skipped_and_reported_and_the_rest_is_read() {
        let path = path_for(&dir("state-corrupt"), None);
        let mut text = format!(
            "{HEADER}\nkept good.call 1000 Completed archive 00000000000000ff\n\
             kept bad-status.call 1000 Cancelled archive ff\nkept short.call 1000\n\
             cancelled bad-inode.call x -\ncancelled slash%2Fname.call 5 -\n"
        )
        .into_bytes();
        text.extend_from_slice(
            b"\xff\xfe garbage\ncancelled truncated%4.call 5 -\ncancelled ok.call 9 -\nkept half.ca",
        );
        fs::write(&path, text).unwrap();
        let (loaded, problems) = load(&path);
        assert_eq!(loaded.len(), 2, "{loaded:?}");
        assert_eq!(
            loaded.get(&key(b"good.call")),
            Some(&Record::Kept { fingerprint: 0xff, due: 1000, archive: true, status: Status::Completed })
        );
        assert_eq!(loaded.get(&key(b"ok.call")), Some(&Record::Cancelled(FileIdentity { inode: 9, born_ns: None })));
        assert_eq!(problems.len(), 7, "{problems:#?}");
        assert!(problems[0].contains("line 3: unreadable, skipped: kept bad-status.call"), "{}", problems[0]);
    }

    #[test]
    fn a_file_in_another_format_is_ignored_whole_and_an_unreadable_one_reported() {
        let path = path_for(&dir("state-format"), None);
        fs::write(&path, "pbx_spool_rs state 2\ncancelled a.call 1 -\n").unwrap();
        let (loaded, problems) = load(&path);
        assert!(loaded.is_empty());
        assert!(problems[0].contains("not in a format this version knows"), "{problems:?}");
        fs::write(&path, "").unwrap();
        assert_eq!(load(&path).1.len(), 1, "an empty file is not a state file");
        // A directory where the file should be: reported, nothing loaded, nothing panics.
        fs::remove_file(&path).unwrap();
        fs::create_dir(&path).unwrap();
        let (loaded, problems) = load(&path);
        assert!(loaded.is_empty() && problems[0].starts_with("Unable to read"), "{problems:?}");
        let record = Record::Cancelled(FileIdentity { inode: 1, born_ns: None });
        assert!(save(&path, std::iter::once((OsStr::new("a.call"), record))).is_err());
    }

    #[test]
    fn each_node_of_a_shared_spool_has_its_own_file() {
        let spool = Path::new("/var/spool/asterisk");
        assert_eq!(path_for(spool, None), spool.join("pbx_spool_rs.state"));
        assert_eq!(path_for(spool, Some("ast1")), spool.join("pbx_spool_rs.state.ast1"));
        assert_eq!(path_for(spool, Some("a/b")), spool.join("pbx_spool_rs.state.a%2Fb"));
    }

    #[test]
    fn a_file_keeps_its_identity_through_writes_and_a_replacement_does_not() {
        let spool = dir("state-identity");
        let path = spool.join("outgoing/a.call");
        fs::write(&path, "Channel: Local/s@ctx\n").unwrap();
        let before = FileIdentity::of(&fs::metadata(&path).unwrap());
        fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"\nStartRetry: 1 1 (2)\n").unwrap();
        assert_eq!(FileIdentity::of(&fs::metadata(&path).unwrap()), before);
        let staged = spool.join("a.tmp");
        fs::write(&staged, "Channel: Local/s@ctx\n").unwrap();
        fs::rename(&staged, &path).unwrap();
        assert_ne!(FileIdentity::of(&fs::metadata(&path).unwrap()), before);
    }
}
