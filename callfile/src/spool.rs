//! Spool access: placing a call file into `<spool>/outgoing` so that the spool never sees a partial file.
//! It is written into a temporary file on the same file system, fsynced, given its owner, mode and mtime
//! (the due time), then renamed in under a fresh name without ever replacing an existing file.
//!
//! The only module that writes into the spool. It does not decide whether a file may be placed (that is
//! [`crate::examine`] and [`crate::owner`]) and never reads configuration.

use std::collections::hash_map::RandomState;
use std::ffi::CString;
use std::fs::{self, File, OpenOptions, Permissions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use pbx_spool_core::bookkeeping::{self, Millis};

use crate::error::Error;

/// Name prefix of submitted files when neither `--name` nor the source file's name gives one.
pub const DEFAULT_PREFIX: &str = "callfile";
/// Mode of submitted files: Asterisk (owner or group) must be able to append its retry lines.
pub const CALL_FILE_MODE: u32 = 0o660;

const TEMP_PREFIX: &str = ".callfile-";
const MAX_PREFIX_LEN: usize = 100;
/// How much of a number `bulk --name-with-number` puts into a file name.
pub const MAX_NUMBER_IN_NAME: usize = 40;

/// Checks a `--name` prefix: letters, digits, `_`, `.`, `-`, not starting with `.` or `-`.
pub fn check_prefix(prefix: &str) -> Result<(), Error> {
    let valid = !prefix.is_empty()
        && prefix.len() <= MAX_PREFIX_LEN
        && prefix.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-'))
        && !prefix.starts_with(['.', '-']);
    if valid {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "--name {prefix:?}: use up to {MAX_PREFIX_LEN} letters, digits, '_', '.' or '-', not starting with \
             '.' or '-'"
        )))
    }
}

/// The prefix for files submitted from `source`: its name without `.call`, when that is a valid prefix.
pub fn prefix_from(source: &Path) -> String {
    source
        .file_stem()
        .and_then(|stem| stem.to_str())
        .filter(|stem| check_prefix(stem).is_ok())
        .unwrap_or(DEFAULT_PREFIX)
        .to_string()
}

/// A number as it may appear in a file name: letters, digits, `+`, `-`, `_` and `.` kept, any other
/// character `_`, at most [`MAX_NUMBER_IN_NAME`] characters. Never empty for a non-empty number, and never
/// a path separator or a leading dot (it follows the prefix and a `-`).
pub fn number_for_name(number: &str) -> String {
    number
        .chars()
        .take(MAX_NUMBER_IN_NAME)
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '_' | '.') { c } else { '_' })
        .collect()
}

/// The spool's `outgoing/` directory and where temporary files are written before they go in.
#[derive(Debug, Clone)]
pub struct Spool {
    outgoing: PathBuf,
    /// Candidates for temporary files, in order of preference; all on `outgoing/`'s file system.
    temp_dirs: Vec<PathBuf>,
    outgoing_uid: u32,
    outgoing_gid: u32,
}

/// A temporary file that is removed unless it was renamed into `outgoing/`.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

static NAME_COUNTER: AtomicU64 = AtomicU64::new(0);
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn random_suffix() -> u64 {
    // RandomState is seeded randomly per process; mixing in a counter and the clock varies it per call.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(TEMP_COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_i64(bookkeeping::now_ms());
    hasher.finish()
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// `rename(from, to)` that fails with `AlreadyExists` instead of replacing `to`: renameat2 with
/// RENAME_NOREPLACE, or link + unlink where the kernel or file system lacks it.
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    let c_from = CString::new(from.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let c_to = CString::new(to.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: both paths are valid NUL-terminated strings that outlive the call; the arguments match renameat2(int, const char *, int, const char *, unsigned int).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            c_from.as_ptr(),
            libc::AT_FDCWD,
            c_to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if !matches!(err.raw_os_error(), Some(libc::ENOSYS | libc::EINVAL)) {
        return Err(err);
    }
    // link() never replaces an existing name; the spool takes a new hard link as a finished file.
    fs::hard_link(from, to)?;
    // A leftover here is outside outgoing/ and harmless; the call file itself is in place.
    let _ = fs::remove_file(from);
    Ok(())
}

impl Spool {
    /// The spool at `root`, which must contain `outgoing/`.
    pub fn open(root: &Path) -> Result<Spool, Error> {
        let outgoing = root.join("outgoing");
        let meta = fs::metadata(&outgoing).map_err(|err| {
            Error::io(format!("Cannot use {} (is {} the spool directory?)", outgoing.display(), root.display()), &err)
        })?;
        if !meta.is_dir() {
            return Err(Error::usage(format!("{} is not a directory", outgoing.display())));
        }
        let temp_dirs: Vec<PathBuf> = [root.join("tmp"), root.to_path_buf()]
            .into_iter()
            .filter(|dir| fs::metadata(dir).is_ok_and(|dir_meta| dir_meta.is_dir() && dir_meta.dev() == meta.dev()))
            .collect();
        if temp_dirs.is_empty() {
            return Err(Error::usage(format!(
                "Neither {}/tmp nor {} is on the file system of {}: cannot move call files in atomically",
                root.display(),
                root.display(),
                outgoing.display()
            )));
        }
        Ok(Spool { outgoing, temp_dirs, outgoing_uid: meta.uid(), outgoing_gid: meta.gid() })
    }

    pub fn outgoing(&self) -> &Path {
        &self.outgoing
    }

    /// The owner of `outgoing/`: Asterisk's own user, as far as can be told offline.
    pub fn outgoing_owner(&self) -> u32 {
        self.outgoing_uid
    }

    /// The uid submitted files end up with: the outgoing directory's owner when running as root.
    pub fn file_owner(&self) -> u32 {
        match effective_uid() {
            0 => self.outgoing_uid,
            uid => uid,
        }
    }

    fn create_temp(&self) -> Result<(File, TempFile), Error> {
        let mut last_error = None;
        for dir in &self.temp_dirs {
            for _ in 0..16 {
                let path = dir.join(format!("{TEMP_PREFIX}{}-{:016x}", std::process::id(), random_suffix()));
                let opened = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(&path);
                match opened {
                    Ok(file) => return Ok((file, TempFile { path, keep: false })),
                    Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                    Err(err) => {
                        last_error = Some((dir.clone(), err));
                        break;
                    }
                }
            }
        }
        Err(match last_error {
            Some((dir, err)) => Error::io(format!("Cannot create a temporary file in {}", dir.display()), &err),
            None => Error::usage("Cannot find a free temporary file name"),
        })
    }

    /// A name in `outgoing/` for the next file: `<prefix>-<unix ms>-<pid>-<counter>.call`.
    fn next_name(prefix: &str) -> String {
        let counter = NAME_COUNTER.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}-{}-{}-{counter}.call", bookkeeping::now_ms(), std::process::id())
    }

    /// Puts `bytes` into `outgoing/` as a new call file due at `due` (its mtime), and returns its path.
    ///
    /// The file is complete, fsynced, owned, moded and dated before its name appears in `outgoing/`, and
    /// it never replaces an existing file.
    pub fn place(&self, bytes: &[u8], due: Millis, prefix: &str) -> Result<PathBuf, Error> {
        let (mut file, mut temp) = self.create_temp()?;
        let shown = temp.path.display().to_string();
        let write = |file: &mut File| -> io::Result<()> {
            file.write_all(bytes)?;
            if effective_uid() == 0 {
                std::os::unix::fs::fchown(&*file, Some(self.outgoing_uid), Some(self.outgoing_gid))?;
            }
            file.set_permissions(Permissions::from_mode(CALL_FILE_MODE))?;
            file.sync_all()
        };
        write(&mut file).map_err(|err| Error::io(format!("Cannot write {shown}"), &err))?;
        drop(file);
        bookkeeping::set_times(&temp.path, bookkeeping::now_ms(), due)
            .map_err(|err| Error::io(format!("Cannot set the due time of {shown}"), &err))?;
        for _ in 0..1000 {
            let target = self.outgoing.join(Spool::next_name(prefix));
            match rename_no_replace(&temp.path, &target) {
                Ok(()) => {
                    temp.keep = true;
                    // The new name must survive a crash as well as the contents did.
                    if let Ok(dir) = File::open(&self.outgoing) {
                        let _ = dir.sync_all();
                    }
                    return Ok(target);
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(err) => {
                    return Err(Error::io(format!("Cannot move {shown} to {}", target.display()), &err));
                }
            }
        }
        Err(Error::usage(format!("Cannot find a free name in {}", self.outgoing.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    use crate::test_support::{TempDir, VALID};

    #[test]
    fn prefixes() {
        assert!(check_prefix("campaign_2024-05.a").is_ok());
        for prefix in ["", ".hidden", "-x", "a/b", "a b", "é", &"x".repeat(101)] {
            assert!(check_prefix(prefix).is_err(), "{prefix:?}");
        }
        assert_eq!(prefix_from(Path::new("/x/wakeup.call")), "wakeup");
        assert_eq!(prefix_from(Path::new("/x/.odd.call")), DEFAULT_PREFIX);
    }

    #[test]
    fn numbers_in_file_names_are_sanitised() {
        assert_eq!(number_for_name("+49-30.1234_5"), "+49-30.1234_5");
        assert_eq!(number_for_name("100@trunk/../x"), "100_trunk_.._x");
        assert_eq!(number_for_name("*21#ä\\"), "_21___");
        assert_eq!(number_for_name(&"9".repeat(60)), "9".repeat(MAX_NUMBER_IN_NAME));
    }

    #[test]
    fn placed_file_has_contents_mode_and_due_time() {
        let dir = TempDir::spool("place");
        let spool = Spool::open(&dir.0).unwrap();
        let due = bookkeeping::now_ms() + 3_600_000;
        let path = spool.place(VALID.as_bytes(), due, "wakeup").unwrap();
        assert_eq!(path.parent(), Some(spool.outgoing()));
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("wakeup-") && name.ends_with(".call"), "{name}");
        assert_eq!(fs::read(&path).unwrap(), VALID.as_bytes());
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(bookkeeping::mtime_ms(&meta), due);
        assert_eq!(meta.mode() & 0o7777, CALL_FILE_MODE);
        assert!(dir.names("tmp").is_empty());
    }

    #[test]
    fn thousand_submits_get_distinct_names() {
        let dir = TempDir::spool("unique");
        let spool = Spool::open(&dir.0).unwrap();
        let now = bookkeeping::now_ms();
        let mut paths: Vec<PathBuf> = (0..1000).map(|_| spool.place(VALID.as_bytes(), now, "same").unwrap()).collect();
        assert_eq!(dir.names("outgoing").len(), 1000);
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), 1000);
        assert!(dir.names("tmp").is_empty());
    }

    #[test]
    fn an_existing_name_is_never_replaced() {
        let dir = TempDir::new("noreplace");
        let (from, to) = (dir.0.join("from"), dir.0.join("to"));
        fs::write(&from, "new").unwrap();
        fs::write(&to, "old").unwrap();
        let error = rename_no_replace(&from, &to).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&to).unwrap(), b"old");
        fs::remove_file(&to).unwrap();
        rename_no_replace(&from, &to).unwrap();
        assert_eq!(fs::read(&to).unwrap(), b"new");
        assert!(!from.exists());
    }

    #[test]
    fn outgoing_never_shows_a_temporary_or_partial_file() {
        let dir = TempDir::spool("watch");
        let spool = Spool::open(&dir.0).unwrap();
        let outgoing = spool.outgoing().to_path_buf();
        let content = format!("{VALID}{}", "Set: PAD=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n".repeat(200));
        let done = Arc::new(AtomicBool::new(false));
        let watcher = {
            let done = Arc::clone(&done);
            let expected = content.clone().into_bytes();
            std::thread::spawn(move || {
                let mut looks = 0u64;
                while !done.load(Ordering::SeqCst) {
                    for entry in fs::read_dir(&outgoing).unwrap() {
                        let entry = entry.unwrap();
                        let name = entry.file_name().to_string_lossy().into_owned();
                        assert!(!name.starts_with('.') && name.ends_with(".call"), "temporary name {name}");
                        // Everything visible is complete (files are never removed here, so reads succeed).
                        assert_eq!(fs::read(entry.path()).unwrap(), expected, "partial {name}");
                    }
                    looks += 1;
                }
                looks
            })
        };
        for _ in 0..200 {
            spool.place(content.as_bytes(), bookkeeping::now_ms(), "watched").unwrap();
        }
        done.store(true, Ordering::SeqCst);
        assert!(watcher.join().unwrap() > 0);
        assert_eq!(dir.names("outgoing").len(), 200);
        assert!(dir.names("outgoing").iter().all(|name| name.starts_with("watched-")));
        assert!(dir.names("tmp").is_empty());
    }

    #[test]
    fn spool_without_tmp_uses_the_spool_directory_itself() {
        let dir = TempDir::new("notmp");
        fs::create_dir(dir.0.join("outgoing")).unwrap();
        let spool = Spool::open(&dir.0).unwrap();
        spool.place(VALID.as_bytes(), bookkeeping::now_ms(), "x").unwrap();
        assert_eq!(dir.names("outgoing").len(), 1);
        assert_eq!(dir.names(".").len(), 1, "only outgoing/ is left in the spool");
        assert!(Spool::open(&dir.0.join("outgoing")).is_err(), "no outgoing/ inside outgoing/");
    }
}
