//! Small safe wrappers over the operating system that both the module and the `callfile` tool need:
//! user-name lookup (NSS), paths from C strings, directory creation, and the host name. No Asterisk here, no logging:
//! callers say what a failure means for them.

use std::ffi::{CStr, CString, OsStr};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Why a user name could not be turned into a uid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UidLookupError {
    /// No such user (NSS answered, and knows no such name).
    Unknown,
    /// The name cannot be a user name (it contains a NUL byte).
    Invalid,
    /// The lookup itself failed (an NSS backend such as LDAP unreachable, or an entry larger than
    /// [`MAX_PASSWD_BUFFER`]); `errno` as getpwnam_r returned it.
    Failed(i32),
}

impl fmt::Display for UidLookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UidLookupError::Unknown => f.write_str("no such user"),
            UidLookupError::Invalid => f.write_str("not a valid user name"),
            UidLookupError::Failed(errno) => {
                write!(f, "the user lookup failed ({})", std::io::Error::from_raw_os_error(*errno))
            }
        }
    }
}

/// The first buffer tried for a passwd entry; grown on `ERANGE`.
const FIRST_PASSWD_BUFFER: usize = 4096;
/// The largest buffer tried: entries from LDAP with many fields can be large, but not this large.
pub const MAX_PASSWD_BUFFER: usize = 1 << 20;

/// A user name, or a numeric uid, to a uid.
pub fn uid_of(name: &str) -> Result<u32, UidLookupError> {
    uid_of_with_buffer(name, FIRST_PASSWD_BUFFER)
}

/// [`uid_of`] starting from a buffer of `first` bytes (doubled on `ERANGE` up to [`MAX_PASSWD_BUFFER`]).
fn uid_of_with_buffer(name: &str, first: usize) -> Result<u32, UidLookupError> {
    if let Ok(uid) = name.parse::<u32>() {
        return Ok(uid);
    }
    let c_name = CString::new(name).map_err(|_| UidLookupError::Invalid)?;
    let mut size = first.max(1);
    loop {
        let mut buffer = vec![libc::c_char::default(); size];
        // SAFETY: `passwd` is plain old data; all-zero (null pointers) is a valid value to be overwritten.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let (name, buf, len) = (c_name.as_ptr(), buffer.as_mut_ptr(), buffer.len());
        // SAFETY: every pointer is valid for the call and `len` is the buffer's real size; only `pw_uid` (a number) is read from the entry, whose strings point into `buffer`.
        let rc = unsafe { libc::getpwnam_r(name, &mut entry, buf, len, &mut result) };
        match rc {
            0 if !result.is_null() => return Ok(entry.pw_uid),
            // "Not found" is 0 with no result; some backends say ENOENT, ESRCH, EBADF or EPERM instead.
            0 | libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => return Err(UidLookupError::Unknown),
            libc::ERANGE if size < MAX_PASSWD_BUFFER => size = (size * 2).min(MAX_PASSWD_BUFFER),
            errno => return Err(UidLookupError::Failed(errno)),
        }
    }
}

/// A path from a C string's bytes, as they are: paths on Linux are bytes, not necessarily UTF-8.
pub fn path_from_c(text: &CStr) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(text.to_bytes()))
}

/// Creates `dir` and its missing parents with `mode` (less the umask), as Asterisk's `ast_mkdir` does;
/// a directory that already exists (or that another process creates meanwhile) is fine.
pub fn create_dir_all_mode(dir: &std::path::Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().recursive(true).mode(mode).create(dir) {
        Err(_) if dir.is_dir() => Ok(()),
        other => other,
    }
}

/// This machine's host name (the default `node` on a shared spool), or `None` if it cannot be read.
pub fn host_name() -> Option<String> {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for writes of its whole length for the duration of the call.
    let result = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if result != 0 {
        return None;
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    let name = String::from_utf8_lossy(&buffer[..end]).into_owned();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passwd_entry_larger_than_the_buffer_is_looked_up_again_with_a_larger_one() {
        // A one-byte buffer is too small for any entry: getpwnam_r says ERANGE, and the lookup must grow
        // the buffer rather than report the user unknown.
        assert_eq!(uid_of_with_buffer("root", 1), Ok(0));
        assert_eq!(uid_of("root"), Ok(0));
    }

    #[test]
    fn unknown_and_invalid_names_say_why() {
        assert_eq!(uid_of("prs-no-such-user-7f3a"), Err(UidLookupError::Unknown));
        assert_eq!(uid_of("bad\0name"), Err(UidLookupError::Invalid));
        assert_eq!(uid_of("1234"), Ok(1234));
        assert_eq!(UidLookupError::Unknown.to_string(), "no such user");
        assert!(UidLookupError::Failed(libc::EIO).to_string().starts_with("the user lookup failed ("));
    }
}
