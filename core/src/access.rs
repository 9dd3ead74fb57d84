//! What the user Asterisk runs as cannot do with a file the spool must handle (a call file, the
//! outgoing directories, pbx_spool_rs.conf), and the sentence that says how to fix it, with the real
//! user and group names (`chown asterisk:asterisk <file>`). Reads metadata and asks access(2) as the
//! process's effective ids; never changes anything and never logs: callers log the sentence.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::os::{self, Identity};

/// What the spool needs to do with a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Read it (a call file being examined, pbx_spool_rs.conf).
    Read,
    /// Read it and append bookkeeping lines (a call file about to be dialled).
    ReadWrite,
    /// Create, remove and rename names in it (outgoing/, outgoing_done/).
    DirWrite,
}

impl Need {
    fn mode(self) -> libc::c_int {
        match self {
            Need::Read => libc::R_OK,
            Need::ReadWrite => libc::R_OK | libc::W_OK,
            Need::DirWrite => libc::W_OK | libc::X_OK,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Need::Read => "read",
            Need::ReadWrite => "write",
            Need::DirWrite => "write in the directory",
        }
    }

    /// The `chmod` that gives the owner what is needed.
    fn owner_mode(self) -> &'static str {
        match self {
            Need::Read => "u+r",
            Need::ReadWrite => "u+rw",
            Need::DirWrite => "u+rwx",
        }
    }
}

/// How access is asked: [`effective_access`] outside tests, a stand-in in unit tests (which run as root,
/// whom access(2) never refuses).
pub type Access<'a> = &'a dyn Fn(&Path, Need) -> io::Result<()>;

/// access(2) as this process's effective ids: what Asterisk's own user may do.
pub fn effective_access(path: &Path, need: Need) -> io::Result<()> {
    os::access_as_effective(path, need.mode())
}

/// Whether `err` is a refusal on permissions, which owner or mode fix.
fn is_permission(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::PermissionDenied
}

/// The sentence for `path`, which the process running as `me` could not use for `need` (`err`): what
/// failed and why, who owns the path with which mode, and the fix. For example: `cannot write
/// /s/outgoing/a.call: Permission denied (Asterisk runs as uid 101 user asterisk; the file is owned by
/// root:root mode 0644). Fix: chown asterisk:asterisk /s/outgoing/a.call`.
pub fn explain(path: &Path, need: Need, err: &io::Error, me: &Identity) -> String {
    let shown = crate::text::printable(path.as_os_str().as_encoded_bytes());
    let what = if need == Need::DirWrite { "the directory" } else { "the file" };
    let metadata = fs::metadata(path).ok();
    let ownership = match &metadata {
        Some(meta) => format!(
            "; {what} is owned by {} mode {:04o}",
            os::owner_label(meta.uid(), meta.gid()),
            meta.mode() & 0o7777
        ),
        None => String::new(),
    };
    let mut sentence =
        format!("cannot {} {shown}: {} (Asterisk runs as {}{ownership})", need.verb(), os::reason(err), me.describe());
    let fix = match (&metadata, err.raw_os_error()) {
        (_, Some(libc::EROFS)) => Some("the file system is mounted read-only; remount it read-write".to_string()),
        (Some(meta), _) if is_permission(err) && me.uid != 0 => Some(if meta.uid() == me.uid {
            format!("chmod {} {shown}", need.owner_mode())
        } else {
            format!("chown {} {shown}", me.chown_spec())
        }),
        (None, _) if is_permission(err) && me.uid != 0 => {
            Some(format!("make every directory above {shown} searchable by {}", me.chown_spec()))
        }
        _ => None,
    };
    if let Some(fix) = fix {
        sentence.push_str(". Fix: ");
        sentence.push_str(&fix);
    }
    sentence
}

/// Said after the fix for a call file: the admin's tool gives the files it writes to Asterisk's user.
pub const SUBMIT_HINT: &str = " (callfile submit gives the files it writes to Asterisk's user)";

/// [`explain`] for a call file, with [`SUBMIT_HINT`] after a permission fix.
pub fn explain_call_file(path: &Path, need: Need, err: &io::Error, me: &Identity) -> String {
    let mut sentence = explain(path, need, err, me);
    if sentence.contains(". Fix: ch") {
        sentence.push_str(SUBMIT_HINT);
    }
    sentence
}

/// The first thing the spool could not do with the call file at `path` when it is (or will be) in
/// `outgoing`: read it (and, with `write_file`, append its bookkeeping lines), then remove or archive it
/// from `outgoing`. `None` when the process can do all of it.
pub fn call_file_problem(
    path: &Path,
    outgoing: &Path,
    write_file: bool,
    access: Access<'_>,
    me: &Identity,
) -> Option<String> {
    let need = if write_file { Need::ReadWrite } else { Need::Read };
    if let Err(err) = access(path, need) {
        return Some(explain_call_file(path, need, &err, me));
    }
    access(outgoing, Need::DirWrite).err().map(|err| explain(outgoing, Need::DirWrite, &err, me))
}

/// With `Archive: yes`: why a finished file could not be moved into `done` (it is deleted instead, as
/// pbx_spool does); `None` when it can, or when `done` does not exist yet (the spool creates it).
pub fn archive_problem(done: &Path, access: Access<'_>, me: &Identity) -> Option<String> {
    if !done.is_dir() {
        return None;
    }
    access(done, Need::DirWrite).err().map(|err| explain(done, Need::DirWrite, &err, me))
}

/// What a look at pbx_spool_rs.conf before Asterisk's loader reads it found. The loader answers
/// "missing" both for a file that is not there and for one it cannot open, so the difference is
/// made here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigProbe {
    /// Not there: the defaults apply.
    Missing,
    /// There, and this process can open it.
    Readable,
    /// There, but not usable: the sentence for the admin (reason, owner, fix).
    Unreadable(String),
}

/// Whether the configuration file at `path` exists and this process, running as `me`, can read it.
pub fn probe_config(path: &Path, me: &Identity) -> ConfigProbe {
    let shown = crate::text::printable(path.as_os_str().as_encoded_bytes());
    match fs::metadata(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => ConfigProbe::Missing,
        Err(err) => ConfigProbe::Unreadable(explain(path, Need::Read, &err, me)),
        Ok(meta) if !meta.is_file() => ConfigProbe::Unreadable(format!("{shown} is not a regular file")),
        Ok(_) => match fs::File::open(path) {
            Ok(_) => ConfigProbe::Readable,
            Err(err) => ConfigProbe::Unreadable(explain(path, Need::Read, &err, me)),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::testing::temp_spool;

    fn asterisk() -> Identity {
        Identity { uid: 4_000_101, user: Some("asterisk".into()), gid: 4_000_102, group: Some("asterisk".into()) }
    }

    fn denied() -> io::Error {
        io::Error::from_raw_os_error(libc::EACCES)
    }

    #[test]
    fn a_file_owned_by_someone_else_is_given_to_asterisk() {
        let spool = temp_spool("access-chown");
        let file = spool.outgoing.join("a.call");
        fs::write(&file, "Channel: Local/1@x\n").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        let owner = os::owner_label(fs::metadata(&file).unwrap().uid(), fs::metadata(&file).unwrap().gid());
        let text = explain(&file, Need::ReadWrite, &denied(), &asterisk());
        assert_eq!(
            text,
            format!(
                "cannot write {0}: Permission denied (Asterisk runs as uid 4000101 user asterisk; the file is owned \
                 by {owner} mode 0644). Fix: chown asterisk:asterisk {0}",
                file.display()
            )
        );
    }

    #[test]
    fn a_file_asterisk_owns_gets_the_missing_mode_bits_and_root_gets_no_guess() {
        let spool = temp_spool("access-chmod");
        let file = spool.outgoing.join("a.call");
        fs::write(&file, "x").unwrap();
        let meta = fs::metadata(&file).unwrap();
        let owner = Identity { uid: meta.uid(), user: Some("me".into()), gid: meta.gid(), group: None };
        if owner.uid != 0 {
            let text = explain(&file, Need::ReadWrite, &denied(), &owner);
            assert!(text.ends_with(&format!(". Fix: chmod u+rw {}", file.display())), "{text}");
        }
        let root = Identity { uid: 0, user: Some("root".into()), gid: 0, group: Some("root".into()) };
        let text = explain(&file, Need::Read, &denied(), &root);
        assert!(!text.contains("Fix:"), "root is refused by something no chown fixes: {text}");
        let text = explain(&spool.outgoing, Need::DirWrite, &denied(), &asterisk());
        assert!(text.starts_with(&format!("cannot write in the directory {}: ", spool.outgoing.display())), "{text}");
        assert!(text.contains("; the directory is owned by "), "{text}");
        let read_only = explain(&file, Need::ReadWrite, &io::Error::from_raw_os_error(libc::EROFS), &asterisk());
        assert!(read_only.ends_with("Fix: the file system is mounted read-only; remount it read-write"), "{read_only}");
    }

    #[test]
    fn a_call_file_is_checked_for_reading_writing_and_its_directory() {
        let spool = temp_spool("access-call-file");
        let file = spool.outgoing.join("a.call");
        fs::write(&file, "x").unwrap();
        let me = asterisk();
        let everything = |_: &Path, _: Need| Ok(());
        assert_eq!(call_file_problem(&file, &spool.outgoing, true, &everything, &me), None);

        let read_only =
            |path: &Path, need: Need| if path == file && need != Need::Read { Err(denied()) } else { Ok(()) };
        let problem = call_file_problem(&file, &spool.outgoing, true, &read_only, &me).expect("not writable");
        assert!(problem.starts_with(&format!("cannot write {}: Permission denied", file.display())), "{problem}");
        assert!(
            problem.ends_with(&format!("Fix: chown asterisk:asterisk {}{SUBMIT_HINT}", file.display())),
            "{problem}"
        );
        assert_eq!(
            call_file_problem(&file, &spool.outgoing, false, &read_only, &me),
            None,
            "refused files are only read"
        );

        let fixed_dir = |path: &Path, _: Need| if path == spool.outgoing { Err(denied()) } else { Ok(()) };
        let problem = call_file_problem(&file, &spool.outgoing, true, &fixed_dir, &me).expect("directory");
        assert!(
            problem.starts_with(&format!("cannot write in the directory {}", spool.outgoing.display())),
            "{problem}"
        );
        assert!(!problem.contains(SUBMIT_HINT), "a directory is not the tool's business: {problem}");

        assert_eq!(archive_problem(&spool.outgoing.join("no-such-dir"), &fixed_dir, &me), None);
        assert!(archive_problem(&spool.outgoing, &fixed_dir, &me).is_some());
        assert_eq!(archive_problem(&spool.done, &fixed_dir, &me), None);
    }

    #[test]
    fn the_configuration_is_missing_readable_or_not_usable() {
        let spool = temp_spool("access-config");
        let me = Identity::current();
        let conf = spool.outgoing.join("pbx_spool_rs.conf");
        assert_eq!(probe_config(&conf, &me), ConfigProbe::Missing);
        fs::write(&conf, "[general]\n").unwrap();
        assert_eq!(probe_config(&conf, &me), ConfigProbe::Readable);
        assert_eq!(
            probe_config(&spool.outgoing, &me),
            ConfigProbe::Unreadable(format!("{} is not a regular file", spool.outgoing.display()))
        );
        // A permission problem cannot be made as root (the unit tests' user); a file under a regular file
        // stands in for "exists but cannot be opened" (ENOTDIR).
        match probe_config(&conf.join("below"), &me) {
            ConfigProbe::Unreadable(text) => assert!(text.contains("Not a directory"), "{text}"),
            other => panic!("{other:?}"),
        }
    }
}
