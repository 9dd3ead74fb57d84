//! Small safe wrappers over the operating system that both the module and the `callfile` tool need:
//! user-name lookup (NSS) both ways, the identity this process acts as, access(2) checks as that
//! identity, paths from C strings, directory creation, and the host name. No Asterisk here, no logging:
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

/// The name of user `uid` (NSS), or `None` when there is none or the lookup fails.
pub fn user_name(uid: u32) -> Option<String> {
    let mut size = FIRST_PASSWD_BUFFER;
    loop {
        let mut buffer = vec![libc::c_char::default(); size];
        // SAFETY: `passwd` is plain old data; all-zero (null pointers) is a valid value to be overwritten.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let (buf, len) = (buffer.as_mut_ptr(), buffer.len());
        // SAFETY: every pointer is valid for the call and `len` is the buffer's real size.
        let rc = unsafe { libc::getpwuid_r(uid, &mut entry, buf, len, &mut result) };
        match rc {
            0 if !result.is_null() && !entry.pw_name.is_null() => {
                // SAFETY: on success `pw_name` points at a NUL-terminated string inside `buffer`, alive here.
                let name = unsafe { CStr::from_ptr(entry.pw_name) };
                return Some(name.to_string_lossy().into_owned());
            }
            libc::ERANGE if size < MAX_PASSWD_BUFFER => size = (size * 2).min(MAX_PASSWD_BUFFER),
            _ => return None,
        }
    }
}

/// The name of group `gid` (NSS), or `None` when there is none or the lookup fails.
pub fn group_name(gid: u32) -> Option<String> {
    let mut size = FIRST_PASSWD_BUFFER;
    loop {
        let mut buffer = vec![libc::c_char::default(); size];
        // SAFETY: `group` is plain old data; all-zero (null pointers) is a valid value to be overwritten.
        let mut entry: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        let (buf, len) = (buffer.as_mut_ptr(), buffer.len());
        // SAFETY: every pointer is valid for the call and `len` is the buffer's real size.
        let rc = unsafe { libc::getgrgid_r(gid, &mut entry, buf, len, &mut result) };
        match rc {
            0 if !result.is_null() && !entry.gr_name.is_null() => {
                // SAFETY: on success `gr_name` points at a NUL-terminated string inside `buffer`, alive here.
                let name = unsafe { CStr::from_ptr(entry.gr_name) };
                return Some(name.to_string_lossy().into_owned());
            }
            libc::ERANGE if size < MAX_PASSWD_BUFFER => size = (size * 2).min(MAX_PASSWD_BUFFER),
            _ => return None,
        }
    }
}

/// `owner:group` of a file by name (numbers where NSS knows no name), as `ls -l` shows them.
pub fn owner_label(uid: u32, gid: u32) -> String {
    let user = user_name(uid).unwrap_or_else(|| uid.to_string());
    let group = group_name(gid).unwrap_or_else(|| gid.to_string());
    format!("{user}:{group}")
}

/// The user and group a process acts as (its effective ids), with their names where NSS knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub user: Option<String>,
    pub gid: u32,
    pub group: Option<String>,
}

impl Identity {
    /// This process's effective uid and gid (inside Asterisk: the `runuser`/`rungroup` it switched to).
    pub fn current() -> Identity {
        // SAFETY: geteuid and getegid cannot fail and touch no memory of ours.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        Identity { uid, user: user_name(uid), gid, group: group_name(gid) }
    }

    /// "uid 101 user asterisk" (or "uid 101" when the user has no name).
    pub fn describe(&self) -> String {
        match &self.user {
            Some(user) => format!("uid {} user {user}", self.uid),
            None => format!("uid {}", self.uid),
        }
    }

    /// What `chown` takes to give a file to this identity: `asterisk:asterisk`, numbers where there is
    /// no name.
    pub fn chown_spec(&self) -> String {
        let user = self.user.clone().unwrap_or_else(|| self.uid.to_string());
        let group = self.group.clone().unwrap_or_else(|| self.gid.to_string());
        format!("{user}:{group}")
    }
}

/// Whether this process may access `path` with `mode` (`libc::R_OK`, `W_OK`, `X_OK`, or'ed) as its
/// effective ids, as it would when it opens the file (`faccessat` with `AT_EACCESS`).
pub fn access_as_effective(path: &std::path::Path, mode: libc::c_int) -> std::io::Result<()> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    // SAFETY: a valid NUL-terminated path for the call; faccessat only reads it.
    let rc = unsafe { libc::faccessat(libc::AT_FDCWD, c_path.as_ptr(), mode, libc::AT_EACCESS) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// An I/O error's reason alone ("Permission denied"), without the "(os error 13)" std appends.
pub fn reason(err: &std::io::Error) -> String {
    let text = err.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_string(),
        _ => text,
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
    fn names_of_ids_and_this_process() {
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert_eq!(group_name(0).as_deref(), Some("root"));
        assert_eq!(user_name(u32::MAX - 7), None);
        assert_eq!(owner_label(0, u32::MAX - 7), format!("root:{}", u32::MAX - 7));
        let me = Identity { uid: 101, user: Some("asterisk".into()), gid: 102, group: None };
        assert_eq!(me.describe(), "uid 101 user asterisk");
        assert_eq!(me.chown_spec(), "asterisk:102");
        let nameless = Identity { uid: 7, user: None, gid: 8, group: None };
        assert_eq!((nameless.describe(), nameless.chown_spec()), ("uid 7".to_string(), "7:8".to_string()));
        // SAFETY: plain queries of this process's ids.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let current = Identity::current();
        assert_eq!((current.uid, current.gid), (uid, gid));
    }

    #[test]
    fn access_is_checked_as_this_process_and_reasons_read_plainly() {
        let missing = std::path::Path::new("/nonexistent-prs/x");
        let err = access_as_effective(missing, libc::R_OK).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        assert_eq!(reason(&err), "No such file or directory");
        assert!(access_as_effective(std::path::Path::new("/"), libc::R_OK | libc::X_OK).is_ok());
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
