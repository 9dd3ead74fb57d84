//! Everything pbx_spool_rs does to a call file on disk, byte-compatible with pbx_spool: reading it safely,
//! appending the `StartRetry`/`EndRetry`/`AbortRetry`/`DelayedRetry` lines, moving its mtime, and removing
//! or archiving it to `outgoing_done/` with a `Status:` line. std and libc only; no Asterisk here.

use std::ffi::CString;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, the unit of every due time in pbx_spool_rs.
pub type Millis = i64;

pub fn now_ms() -> Millis {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as Millis,
        Err(e) => -(e.duration().as_millis() as Millis),
    }
}

/// A file's modification time in milliseconds.
pub fn mtime_ms(meta: &fs::Metadata) -> Millis {
    meta.mtime() * 1000 + meta.mtime_nsec() / 1_000_000
}

/// The bookkeeping lines pbx_spool appends before and after attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    StartRetry,
    EndRetry,
    AbortRetry,
    DelayedRetry,
}

impl Mark {
    pub fn as_str(self) -> &'static str {
        match self {
            Mark::StartRetry => "StartRetry",
            Mark::EndRetry => "EndRetry",
            Mark::AbortRetry => "AbortRetry",
            Mark::DelayedRetry => "DelayedRetry",
        }
    }
}

/// Final outcome of a call file, as written in the `Status:` line of an archived file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Completed,
    Expired,
    Failed,
    /// Removed by `spool cancel` (pbx_spool_rs only; stock pbx_spool never reads outgoing_done/).
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Completed => "Completed",
            Status::Expired => "Expired",
            Status::Failed => "Failed",
            Status::Cancelled => "Cancelled",
        }
    }
}

/// The exact text pbx_spool appends: an empty line, then `Tag: <pid> <retries> (<unix time>)`.
pub fn mark_line(mark: Mark, pid: i64, retries: i32, stamp_secs: i64) -> String {
    format!("\n{}: {} {} ({})\n", mark.as_str(), pid, retries, stamp_secs)
}

/// Append a bookkeeping line, then set atime to `stamp` and mtime to `stamp + retry_time` as pbx_spool's
/// `safe_append` does (with millisecond precision). Never creates the file: if it vanished, that is an
/// error for the caller rather than a new one-line call file.
pub fn append_mark(
    path: &Path,
    mark: Mark,
    pid: i64,
    retries: i32,
    stamp_ms: Millis,
    retry_time_s: i32,
) -> io::Result<Millis> {
    append_mark_noting(path, mark, pid, retries, stamp_ms, retry_time_s, "")
}

/// [`append_mark`], with `note` (whole lines pbx_spool skips, such as `# ...` comments) written right
/// after the bookkeeping line in the same append, before the times are set: the mtime stays the one
/// the bookkeeping gives.
pub fn append_mark_noting(
    path: &Path,
    mark: Mark,
    pid: i64,
    retries: i32,
    stamp_ms: Millis,
    retry_time_s: i32,
    note: &str,
) -> io::Result<Millis> {
    let mut line = mark_line(mark, pid, retries, stamp_ms.div_euclid(1000));
    line.push_str(note);
    let mut file = OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    file.write_all(line.as_bytes())?;
    drop(file);
    let mtime = stamp_ms + i64::from(retry_time_s) * 1000;
    set_times(path, stamp_ms, mtime)?;
    Ok(mtime)
}

/// Set a file's access and modification times (milliseconds), without following symlinks.
pub fn set_times(path: &Path, atime_ms: Millis, mtime_ms: Millis) -> io::Result<()> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let to_timespec = |ms: Millis| libc::timespec {
        tv_sec: ms.div_euclid(1000) as libc::time_t,
        tv_nsec: (ms.rem_euclid(1000) * 1_000_000) as libc::c_long,
    };
    let times = [to_timespec(atime_ms), to_timespec(mtime_ms)];
    // SAFETY: `c_path` is a valid NUL-terminated string and `times` points to two initialised timespecs, both alive for the duration of the call.
    let rc = unsafe { libc::utimensat(libc::AT_FDCWD, c_path.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Why a call file could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// It no longer exists (processed, renamed or deleted meanwhile): nothing to report.
    Gone,
    /// Not a regular file (FIFO, device, directory, symlink): never opened for reading.
    NotRegular(&'static str),
    /// Larger than the configured cap.
    TooLarge { size: u64, cap: u64 },
    /// Any other I/O error (permission denied, ...).
    Io(io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Gone => write!(f, "it no longer exists"),
            ReadError::NotRegular(kind) => write!(f, "it is a {kind}, not a regular file"),
            ReadError::TooLarge { size, cap } => {
                write!(f, "it is {size} bytes, over the {cap}-byte limit")
            }
            ReadError::Io(e) => write!(f, "{e}"),
        }
    }
}

fn file_kind(meta: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "directory"
    } else if t.is_symlink() {
        "symbolic link"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else if t.is_block_device() || t.is_char_device() {
        "device"
    } else {
        "special file"
    }
}

/// Read a call file without following symlinks and without blocking (a FIFO dropped into the spool must
/// not hang the reader), only if it is a regular file no larger than `cap` bytes.
pub fn read_call_file(path: &Path, cap: u64) -> Result<(Vec<u8>, fs::Metadata), ReadError> {
    let io_err = |e: io::Error| match e.kind() {
        io::ErrorKind::NotFound => ReadError::Gone,
        _ if e.raw_os_error() == Some(libc::ELOOP) => ReadError::NotRegular("symbolic link"),
        _ => ReadError::Io(e),
    };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)
        .map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotRegular(file_kind(&meta)));
    }
    if meta.len() > cap {
        return Err(ReadError::TooLarge { size: meta.len(), cap });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // `take` bounds memory even if the file grows between fstat and read.
    file.take(cap + 1).read_to_end(&mut bytes).map_err(io_err)?;
    if bytes.len() as u64 > cap {
        return Err(ReadError::TooLarge { size: bytes.len() as u64, cap });
    }
    Ok((bytes, meta))
}

/// What [`remove_from_queue`] did with a finished call file.
#[derive(Debug, PartialEq, Eq)]
pub enum Removal {
    /// Deleted (no Archive).
    Deleted,
    /// Moved to `outgoing_done/` with a `Status:` line appended.
    Archived(PathBuf),
    /// `AlwaysDelete: no` and a future mtime: left in place, as pbx_spool leaves it, until `due`.
    /// `by_us`: that mtime is the one our own bookkeeping gave the file (StartRetry moves it RetryTime
    /// ahead), not a re-date by the dialplan or the user asking for the file to be dialled again.
    LeftInPlace { due: Millis, by_us: bool },
    /// Archiving failed; the file was deleted instead, as pbx_spool does. The message says why.
    ArchiveFailedDeleted(String),
    /// The file could not be removed (its directory is not writable, ...): it stays for the admin.
    Stuck(String),
    /// It was already gone.
    Gone,
}

/// Options of a call file that decide its removal.
#[derive(Debug, Clone, Copy)]
pub struct RemovalRules {
    pub always_delete: bool,
    pub archive: bool,
    /// The mtime pbx_spool_rs itself last gave the file (bookkeeping), if any: tells a kept file's own
    /// date from a re-date (see [`Removal::LeftInPlace`]).
    pub own_mtime: Option<Millis>,
}

/// Remove a finished call file the way pbx_spool's `remove_from_queue` does: keep it when `AlwaysDelete`
/// is off and its mtime is in the future; otherwise delete it, or with `Archive` move it into `done_dir`
/// (replacing an older file of the same name) and append `Status: <status>` after the move.
pub fn remove_from_queue(path: &Path, done_dir: &Path, rules: RemovalRules, status: Status, now: Millis) -> Removal {
    remove_from_queue_noting(path, done_dir, rules, status, now, &[])
}

/// [`remove_from_queue`], writing `notes` into the archived copy before its `Status:` line, each as a
/// comment line (`# ...`), which pbx_spool's parser and ours skip: why a refused file was never dialled,
/// readable in `outgoing_done/` alone.
pub fn remove_from_queue_noting(
    path: &Path,
    done_dir: &Path,
    rules: RemovalRules,
    status: Status,
    now: Millis,
    notes: &[String],
) -> Removal {
    if !rules.always_delete {
        match fs::symlink_metadata(path) {
            Ok(meta) => {
                let mtime = mtime_ms(&meta);
                if mtime > now {
                    let by_us = rules.own_mtime.is_some_and(|own| (own - mtime).abs() < 1);
                    return Removal::LeftInPlace { due: mtime, by_us };
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Removal::Gone,
            Err(_) => {}
        }
    }
    if !rules.archive {
        return match fs::remove_file(path) {
            Ok(()) => Removal::Deleted,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Removal::Gone,
            Err(e) => Removal::Stuck(format!("unable to delete it: {e}")),
        };
    }
    let delete_instead = |why: String| match fs::remove_file(path) {
        Ok(()) => Removal::ArchiveFailedDeleted(why),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Removal::ArchiveFailedDeleted(why),
        Err(e) => Removal::Stuck(format!("{why}; and unable to delete it: {e}")),
    };
    if let Err(e) = crate::os::create_dir_all_mode(done_dir, 0o777) {
        return delete_instead(format!("Unable to create queue directory {} ({e})", done_dir.display()));
    }
    let Some(base) = path.file_name() else {
        return delete_instead("it has no file name".into());
    };
    let target = done_dir.join(base);
    let _ = fs::remove_file(&target);
    if let Err(e) = fs::rename(path, &target) {
        if e.kind() == io::ErrorKind::NotFound && !path.exists() {
            return Removal::Gone;
        }
        return delete_instead(format!("unable to move it to {}: {e}", target.display()));
    }
    // Appended only after the move, out of the watched directory, so it causes no event there.
    if let Ok(mut f) = OpenOptions::new().append(true).custom_flags(libc::O_NOFOLLOW).open(&target) {
        let mut tail = String::new();
        for note in notes {
            // One line each, whatever the note holds.
            let line: String = note.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }).collect();
            tail.push_str(&format!("# {line}\n"));
        }
        tail.push_str(&format!("Status: {}\n", status.as_str()));
        let _ = f.write_all(tail.as_bytes());
    }
    Removal::Archived(target)
}

/// Opens a file only to check it exists as a regular file; used where pbx_spool would `stat`.
pub fn regular_file_mtime(path: &Path) -> Option<Millis> {
    let meta = fs::symlink_metadata(path).ok()?;
    meta.file_type().is_file().then(|| mtime_ms(&meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("prs-bookkeeping-{}-{}", name, std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn mark_line_is_pbx_spools_format() {
        assert_eq!(mark_line(Mark::StartRetry, 1234, 1, 1700000300), "\nStartRetry: 1234 1 (1700000300)\n");
        assert_eq!(mark_line(Mark::EndRetry, 7, 2, 5), "\nEndRetry: 7 2 (5)\n");
    }

    #[test]
    fn append_mark_appends_and_moves_mtime() {
        let dir = temp_dir("append");
        let f = dir.join("a.call");
        fs::write(&f, "Channel: Local/s@x\n").unwrap();
        let stamp = 1_700_000_000_123;
        let mtime = append_mark(&f, Mark::EndRetry, 42, 3, stamp, 60).unwrap();
        assert_eq!(mtime, stamp + 60_000);
        assert_eq!(fs::read_to_string(&f).unwrap(), "Channel: Local/s@x\n\nEndRetry: 42 3 (1700000000)\n");
        assert_eq!(mtime_ms(&fs::metadata(&f).unwrap()), stamp + 60_000);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn append_mark_never_creates_a_file() {
        let dir = temp_dir("nocreate");
        let err = append_mark(&dir.join("missing.call"), Mark::StartRetry, 1, 1, 0, 1).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(!dir.join("missing.call").exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn read_refuses_fifo_symlink_and_oversize() {
        let dir = temp_dir("read");
        let fifo = dir.join("fifo.call");
        let c = CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(read_call_file(&fifo, 1024), Err(ReadError::NotRegular("FIFO"))));
        let link = dir.join("link.call");
        std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
        assert!(matches!(read_call_file(&link, 1024), Err(ReadError::NotRegular(_))));
        let big = dir.join("big.call");
        fs::write(&big, vec![b'x'; 2048]).unwrap();
        assert!(matches!(read_call_file(&big, 1024), Err(ReadError::TooLarge { size: 2048, cap: 1024 })));
        assert!(matches!(read_call_file(&dir.join("nope"), 1024), Err(ReadError::Gone)));
        let ok = dir.join("ok.call");
        fs::write(&ok, "Channel: a/b\n").unwrap();
        assert_eq!(read_call_file(&ok, 1024).unwrap().0, b"Channel: a/b\n");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn removal_follows_pbx_spool_rules() {
        let dir = temp_dir("remove");
        let done = dir.join("outgoing_done");
        let now = now_ms();
        let rules = |always_delete, archive| RemovalRules { always_delete, archive, own_mtime: None };

        let f = dir.join("del.call");
        fs::write(&f, "x\n").unwrap();
        assert_eq!(remove_from_queue(&f, &done, rules(true, false), Status::Completed, now), Removal::Deleted);
        assert!(!f.exists());

        let f = dir.join("arch.call");
        fs::write(&f, "x\n").unwrap();
        fs::create_dir_all(&done).unwrap();
        fs::write(done.join("arch.call"), "older\n").unwrap();
        assert_eq!(
            remove_from_queue(&f, &done, rules(true, true), Status::Expired, now),
            Removal::Archived(done.join("arch.call"))
        );
        assert_eq!(fs::read_to_string(done.join("arch.call")).unwrap(), "x\nStatus: Expired\n");

        let f = dir.join("future.call");
        fs::write(&f, "x\n").unwrap();
        set_times(&f, now, now + 3_600_000).unwrap();
        assert_eq!(
            remove_from_queue(&f, &done, rules(false, false), Status::Completed, now),
            Removal::LeftInPlace { due: now + 3_600_000, by_us: false }
        );
        assert!(f.exists());
        // The same future mtime set by our own bookkeeping keeps the file too (pbx_spool's rule, checked by
        // the Asterisk testsuite), and says whose date it is.
        let own = RemovalRules { always_delete: false, archive: false, own_mtime: Some(now + 3_600_000) };
        assert_eq!(
            remove_from_queue(&f, &done, own, Status::Completed, now),
            Removal::LeftInPlace { due: now + 3_600_000, by_us: true }
        );
        assert!(f.exists());

        let f = dir.join("past.call");
        fs::write(&f, "x\n").unwrap();
        set_times(&f, now, now - 1000).unwrap();
        assert_eq!(remove_from_queue(&f, &done, rules(false, false), Status::Completed, now), Removal::Deleted);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn notes_go_into_the_archived_copy_as_comment_lines_before_the_status() {
        let dir = temp_dir("notes");
        let (f, done) = (dir.join("refused.call"), dir.join("done"));
        fs::write(&f, "Channel: PJSIP/1@trunk\n").unwrap();
        let rules = RemovalRules { always_delete: true, archive: true, own_mtime: None };
        let notes = ["pbx_spool_rs: Rejected: why\nforged: line".to_string()];
        let removal = remove_from_queue_noting(&f, &done, rules, Status::Failed, now_ms(), &notes);
        assert_eq!(removal, Removal::Archived(done.join("refused.call")));
        let text = fs::read_to_string(done.join("refused.call")).unwrap();
        assert_eq!(text, "Channel: PJSIP/1@trunk\n# pbx_spool_rs: Rejected: why forged: line\nStatus: Failed\n");
        // Our own parser (like pbx_spool's) reads the note as a comment: nothing to say about line 2.
        let parsed = crate::callfile::parse(text.as_bytes());
        assert!(parsed.diagnostics.iter().all(|d| d.line != 2), "{:?}", parsed.diagnostics);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn archive_failure_deletes_like_pbx_spool() {
        let dir = temp_dir("archfail");
        // A regular file where the directory should be: mkdir fails.
        let done = dir.join("outgoing_done");
        fs::write(&done, "not a dir").unwrap();
        let f = dir.join("a.call");
        fs::write(&f, "x\n").unwrap();
        let rules = RemovalRules { always_delete: true, archive: true, own_mtime: None };
        assert!(matches!(
            remove_from_queue(&f, &done, rules, Status::Failed, now_ms()),
            Removal::ArchiveFailedDeleted(_)
        ));
        assert!(!f.exists());
        fs::remove_dir_all(dir).unwrap();
    }
}
