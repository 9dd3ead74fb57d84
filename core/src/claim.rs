//! Exactly-once claims on a shared spool (`shared = yes`): a server may dial a call file only while it
//! holds an open-file-description lock (`F_OFD_SETLK`, write lock on the whole file) on it. The lock is
//! taken without waiting; a file whose lock is held is another server's, and is left alone. Because an
//! OFD lock belongs to the open file description, not to the process, closing other descriptors of the
//! same file (the bookkeeping opens it again to append its lines) does not drop it; it goes when the
//! [`Claim`] is dropped, or by the file system when the holder dies (for network file systems, once the
//! lock manager's lease expires).
//!
//! Only the lock itself lives here: what a claimed visit does is `attempt`'s business. No logging.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A call file locked by this server. Dropping it releases the lock.
#[derive(Debug)]
pub struct Claim {
    file: File,
}

/// Why a file could not be claimed.
#[derive(Debug)]
pub enum ClaimError {
    /// Another open file description holds a lock on it: another server is visiting it.
    Taken,
    /// The file is gone, or was replaced (renamed, archived) between opening and locking.
    Gone,
    /// Any other failure (permissions, a file system without lock support, ...).
    Io(io::Error),
}

impl Claim {
    /// Try to claim `path` without waiting.
    ///
    /// After the lock is taken, the path is checked to still name the locked file: a server that
    /// finished the file meanwhile has removed or archived it, and its name may even hold a new file.
    pub fn try_take(path: &Path) -> Result<Claim, ClaimError> {
        use std::os::unix::fs::OpenOptionsExt;
        // A write lock needs a descriptor open for writing. O_NOFOLLOW: a symlink is never claimed (the
        // visit refuses it after reading it anyway).
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(path)
        {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Err(ClaimError::Gone),
            Err(err) => return Err(ClaimError::Io(err)),
        };
        lock(&file)?;
        let locked = file.metadata().map_err(ClaimError::Io)?;
        match std::fs::symlink_metadata(path) {
            Ok(now) if now.ino() == locked.ino() && now.dev() == locked.dev() => Ok(Claim { file }),
            Ok(_) => Err(ClaimError::Gone),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Err(ClaimError::Gone),
            Err(err) => Err(ClaimError::Io(err)),
        }
    }

    /// The claimed file, e.g. to read it under the lock.
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl Drop for Claim {
    /// Unlocked explicitly before the descriptor closes: on FUSE file systems (GlusterFS) the release that
    /// a close sends is asynchronous, and other servers would find the file still claimed for a moment.
    fn drop(&mut self) {
        let _ = set_lock(&self.file, libc::F_UNLCK);
    }
}

/// Whether another open file description holds a lock on `path` right now (for tests and diagnostics).
pub fn is_taken(path: &Path) -> io::Result<bool> {
    match Claim::try_take(path) {
        Ok(_) => Ok(false),
        Err(ClaimError::Taken) => Ok(true),
        Err(ClaimError::Gone) => Ok(false),
        Err(ClaimError::Io(err)) => Err(err),
    }
}

fn lock(file: &File) -> Result<(), ClaimError> {
    set_lock(file, libc::F_WRLCK).map_err(|err| match err.raw_os_error() {
        Some(libc::EAGAIN | libc::EACCES) => ClaimError::Taken,
        _ => ClaimError::Io(err),
    })
}

/// `F_OFD_SETLK` of `kind` (`F_WRLCK` or `F_UNLCK`) over the whole file, without waiting.
fn set_lock(file: &File, kind: libc::c_int) -> io::Result<()> {
    // SAFETY: an all-zero `flock` is a valid value of this plain C struct; every field that matters is set below.
    let mut request: libc::flock = unsafe { std::mem::zeroed() };
    request.l_type = kind as libc::c_short;
    request.l_whence = libc::SEEK_SET as libc::c_short;
    request.l_start = 0;
    request.l_len = 0; // the whole file, however it grows
    request.l_pid = 0; // required by OFD locks
                       // SAFETY: a valid descriptor owned by `file` and a valid `flock` for the duration of the call.
    let result = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &request) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("pbx-spool-claim-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.call");
        std::fs::write(&path, "Channel: Local/s@c\n").unwrap();
        path
    }

    #[test]
    fn a_claimed_file_cannot_be_claimed_again_until_released() {
        let path = temp_file("twice");
        let first = Claim::try_take(&path).expect("first claim");
        assert!(matches!(Claim::try_take(&path), Err(ClaimError::Taken)));
        assert!(is_taken(&path).unwrap());
        drop(first);
        assert!(Claim::try_take(&path).is_ok());
    }

    #[test]
    fn closing_another_descriptor_of_the_file_keeps_the_claim() {
        // What POSIX (process-owned) locks would get wrong: the bookkeeping opens and closes the file
        // while the claim is held.
        let path = temp_file("other-fd");
        let _claim = Claim::try_take(&path).unwrap();
        drop(std::fs::OpenOptions::new().append(true).open(&path).unwrap());
        assert!(is_taken(&path).unwrap());
    }

    #[test]
    fn a_file_gone_or_replaced_is_not_claimed() {
        let path = temp_file("gone");
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(Claim::try_take(&path), Err(ClaimError::Gone)));
        std::fs::write(&path, "x").unwrap();
        let claim = Claim::try_take(&path).unwrap();
        assert!(claim.file().metadata().unwrap().len() == 1);
    }
}
