//! Spool access: placing a call file into `<spool>/outgoing` so that the spool never sees a partial file,
//! through the core's [`pbx_spool_core::spool_writer`] (temporary file on the same file system, fsynced, owned, moded and
//! dated, renamed in under a fresh name without ever replacing an existing file), with this tool's errors.
//!
//! The only module that writes into the spool. It does not decide whether a file may be placed (that is
//! [`crate::examine`] and [`crate::owner`]) and never reads configuration.

use std::path::{Path, PathBuf};

use pbx_spool_core::bookkeeping::Millis;
use pbx_spool_core::spool_writer::{NewName, PlaceError, SpoolWriter};

use crate::error::Error;

/// Name prefix of submitted files when neither `--name` nor the source file's name gives one.
pub const DEFAULT_PREFIX: &str = "callfile";
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
pub struct Spool(SpoolWriter);

fn tool_error(error: PlaceError) -> Error {
    match error {
        PlaceError::Io { what, err } => Error::io(what, &err),
        other => Error::usage(other.to_string()),
    }
}

impl Spool {
    /// The spool at `root`, which must contain `outgoing/`.
    pub fn open(root: &Path) -> Result<Spool, Error> {
        SpoolWriter::open(root).map(Spool).map_err(tool_error)
    }

    pub fn outgoing(&self) -> &Path {
        self.0.outgoing()
    }

    /// The owner of `outgoing/`: Asterisk's own user, as far as can be told offline.
    pub fn outgoing_owner(&self) -> u32 {
        self.0.outgoing_owner()
    }

    /// The uid submitted files end up with: the outgoing directory's owner when running as root.
    pub fn file_owner(&self) -> u32 {
        self.0.file_owner()
    }

    /// Puts `bytes` into `outgoing/` as a new call file due at `due` (its mtime), named
    /// `<prefix>-<unix ms>-<pid>-<counter>.call`, and returns its path.
    pub fn place(&self, bytes: &[u8], due: Millis, prefix: &str) -> Result<PathBuf, Error> {
        self.0.place(bytes, due, NewName::Unique { prefix }).map_err(tool_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::MetadataExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use pbx_spool_core::bookkeeping;
    use pbx_spool_core::spool_writer::CALL_FILE_MODE;

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
