//! Putting a new call file into `<spool>/outgoing` so that the spool never sees a partial file: it is
//! written into a temporary file on the same file system (`<spool>/tmp`, else `<spool>`), fsynced, given
//! its mode (and, when written by root, the owner of `outgoing/`) and its mtime (the due time), then
//! renamed in without ever replacing an existing file, and the directory is fsynced.
//!
//! Shared by the `callfile` tool and the AMI action `SpoolSubmit`. It writes files and nothing else: it
//! does not decide whether a call may be placed (the policy does) and reads no configuration.

use std::collections::hash_map::RandomState;
use std::ffi::CString;
use std::fs::{self, File, OpenOptions, Permissions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::bookkeeping::{self, Millis};

/// Mode of new call files: Asterisk (owner or group) must be able to append its retry lines.
pub const CALL_FILE_MODE: u32 = 0o660;

const TEMP_PREFIX: &str = ".callfile-";

static NAME_COUNTER: AtomicU64 = AtomicU64::new(0);
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// How a new file is named in `outgoing/`.
#[derive(Debug, Clone, Copy)]
pub enum NewName<'a> {
    /// `<prefix>-<unix ms>-<pid>-<counter>.call`, the next free one.
    Unique { prefix: &'a str },
    /// Exactly this name; [`PlaceError::Exists`] when it is taken.
    Exact(&'a str),
}

/// Why a file was not placed.
#[derive(Debug)]
pub enum PlaceError {
    /// [`NewName::Exact`]: a file of that name is already in `outgoing/`.
    Exists(PathBuf),
    /// What failed, with the path and the system's reason.
    Io { what: String, err: io::Error },
    /// No usable name or temporary file (the text says why).
    Other(String),
}

impl std::fmt::Display for PlaceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlaceError::Exists(path) => write!(f, "{} already exists", path.display()),
            PlaceError::Io { what, err } => write!(f, "{what}: {err}"),
            PlaceError::Other(text) => f.write_str(text),
        }
    }
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
pub fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
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

/// The spool's `outgoing/` directory and where temporary files are written before they go in.
#[derive(Debug, Clone)]
pub struct SpoolWriter {
    outgoing: PathBuf,
    /// Candidates for temporary files, in order of preference; all on `outgoing/`'s file system.
    temp_dirs: Vec<PathBuf>,
    outgoing_uid: u32,
    outgoing_gid: u32,
}

impl SpoolWriter {
    /// The spool at `root`, which must contain `outgoing/`. The error says what is wrong.
    pub fn open(root: &Path) -> Result<SpoolWriter, PlaceError> {
        let outgoing = root.join("outgoing");
        let meta = fs::metadata(&outgoing).map_err(|err| PlaceError::Io {
            what: format!("Cannot use {} (is {} the spool directory?)", outgoing.display(), root.display()),
            err,
        })?;
        if !meta.is_dir() {
            return Err(PlaceError::Other(format!("{} is not a directory", outgoing.display())));
        }
        let temp_dirs: Vec<PathBuf> = [root.join("tmp"), root.to_path_buf()]
            .into_iter()
            .filter(|dir| fs::metadata(dir).is_ok_and(|dir_meta| dir_meta.is_dir() && dir_meta.dev() == meta.dev()))
            .collect();
        if temp_dirs.is_empty() {
            return Err(PlaceError::Other(format!(
                "Neither {}/tmp nor {} is on the file system of {}: cannot move call files in atomically",
                root.display(),
                root.display(),
                outgoing.display()
            )));
        }
        Ok(SpoolWriter { outgoing, temp_dirs, outgoing_uid: meta.uid(), outgoing_gid: meta.gid() })
    }

    pub fn outgoing(&self) -> &Path {
        &self.outgoing
    }

    /// The owner of `outgoing/`: Asterisk's own user, as far as can be told offline.
    pub fn outgoing_owner(&self) -> u32 {
        self.outgoing_uid
    }

    /// The uid new files end up with: the outgoing directory's owner when running as root.
    pub fn file_owner(&self) -> u32 {
        match effective_uid() {
            0 => self.outgoing_uid,
            uid => uid,
        }
    }

    fn create_temp(&self) -> Result<(File, TempFile), PlaceError> {
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
            Some((dir, err)) => {
                PlaceError::Io { what: format!("Cannot create a temporary file in {}", dir.display()), err }
            }
            None => PlaceError::Other("Cannot find a free temporary file name".into()),
        })
    }

    /// `<prefix>-<unix ms>-<pid>-<counter>.call`.
    fn unique_name(prefix: &str) -> String {
        let counter = NAME_COUNTER.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}-{}-{}-{counter}.call", bookkeeping::now_ms(), std::process::id())
    }

    /// Puts `bytes` into `outgoing/` as a new call file due at `due` (its mtime), and returns its path.
    ///
    /// The file is complete, fsynced, owned, moded and dated before its name appears in `outgoing/`, and
    /// it never replaces an existing file.
    pub fn place(&self, bytes: &[u8], due: Millis, name: NewName<'_>) -> Result<PathBuf, PlaceError> {
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
        write(&mut file).map_err(|err| PlaceError::Io { what: format!("Cannot write {shown}"), err })?;
        drop(file);
        bookkeeping::set_times(&temp.path, bookkeeping::now_ms(), due)
            .map_err(|err| PlaceError::Io { what: format!("Cannot set the due time of {shown}"), err })?;
        let tries = match name {
            NewName::Unique { .. } => 1000,
            NewName::Exact(_) => 1,
        };
        for _ in 0..tries {
            let target = match name {
                NewName::Unique { prefix } => self.outgoing.join(SpoolWriter::unique_name(prefix)),
                NewName::Exact(name) => self.outgoing.join(name),
            };
            match rename_no_replace(&temp.path, &target) {
                Ok(()) => {
                    temp.keep = true;
                    // The new name must survive a crash as well as the contents did.
                    if let Ok(dir) = File::open(&self.outgoing) {
                        let _ = dir.sync_all();
                    }
                    return Ok(target);
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                    if matches!(name, NewName::Exact(_)) {
                        return Err(PlaceError::Exists(target));
                    }
                }
                Err(err) => {
                    return Err(PlaceError::Io { what: format!("Cannot move {shown} to {}", target.display()), err });
                }
            }
        }
        Err(PlaceError::Other(format!("Cannot find a free name in {}", self.outgoing.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::temp_spool;

    #[test]
    fn an_exact_name_is_placed_once_and_never_replaced() {
        let paths = temp_spool("writer-exact");
        let writer = SpoolWriter::open(paths.outgoing.parent().unwrap()).unwrap();
        let due = bookkeeping::now_ms() + 60_000;
        let placed = writer.place(b"first\n", due, NewName::Exact("submit-a.call")).unwrap();
        assert_eq!(placed, paths.outgoing.join("submit-a.call"));
        assert_eq!(bookkeeping::mtime_ms(&fs::metadata(&placed).unwrap()), due);
        match writer.place(b"second\n", due, NewName::Exact("submit-a.call")) {
            Err(PlaceError::Exists(path)) => assert_eq!(path, placed),
            other => panic!("expected Exists, got {other:?}"),
        }
        assert_eq!(fs::read(&placed).unwrap(), b"first\n");
        let left: Vec<_> = fs::read_dir(paths.outgoing.parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(TEMP_PREFIX))
            .collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
    }

    #[test]
    fn an_existing_name_is_never_replaced_by_a_rename() {
        let paths = temp_spool("writer-noreplace");
        let dir = paths.outgoing.parent().unwrap();
        let (from, to) = (dir.join("from"), dir.join("to"));
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
}
