//! `make samples` (part of `make install`): the sample pbx_spool_rs.conf goes in owned by the user and
//! group Asterisk runs as (asterisk.conf's runuser/rungroup, else the owner of the configuration
//! directory), mode 0640, and never over an existing file. Each test runs the Makefile's target into a
//! temporary DESTDIR with a fake asterisk.conf. Giving a file away needs root, as `make install` does;
//! run as another user, the target installs the file as that user and says how to give it to Asterisk.

use std::fs;
use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A temporary DESTDIR, removed at the end.
struct DestDir(PathBuf);

impl DestDir {
    fn new(name: &str) -> DestDir {
        let dir = std::env::temp_dir().join(format!("prs-install-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("etc/asterisk")).unwrap();
        DestDir(dir)
    }

    fn etc(&self) -> PathBuf {
        self.0.join("etc/asterisk")
    }

    fn conf(&self) -> PathBuf {
        self.etc().join("pbx_spool_rs.conf")
    }

    /// `make samples DESTDIR=<this> ASTETCDIR=/etc/asterisk`: (success, stdout and stderr).
    fn make_samples(&self) -> (bool, String) {
        let output = Command::new("make")
            .arg("-C")
            .arg(env!("CARGO_MANIFEST_DIR"))
            .arg("--no-print-directory")
            .arg("samples")
            .arg(format!("DESTDIR={}", self.0.display()))
            .arg("ASTETCDIR=/etc/asterisk")
            .output()
            .expect("make runs");
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.success(), text)
    }
}

impl Drop for DestDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

/// uid and gid of a user of this machine, from /etc/passwd.
fn ids_of(user: &str) -> (u32, u32) {
    let passwd = fs::read_to_string("/etc/passwd").unwrap();
    let fields: Vec<&str> = passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields[0] == user)
        .unwrap_or_else(|| panic!("no user {user} on this machine"));
    (fields[2].parse().unwrap(), fields[3].parse().unwrap())
}

fn owner_and_mode(path: &Path) -> (u32, u32, u32) {
    let meta = fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (meta.uid(), meta.gid(), meta.permissions().mode() & 0o7777)
}

/// What the target says when not run as root: the file is there, not given away, and the fix is named.
fn assert_installed_as_self(dest: &DestDir, text: &str, owner: &str) {
    assert!(text.contains("not root") && text.contains(&format!("chown {owner} ")), "{text}");
    assert_eq!(owner_and_mode(&dest.conf()).2, 0o640, "{text}");
}

#[test]
fn runuser_and_rungroup_in_asterisk_conf_own_the_sample() {
    let dest = DestDir::new("runuser");
    let (daemon_uid, _) = ids_of("daemon");
    let (_, nobody_gid) = ids_of("nobody");
    fs::write(
        dest.etc().join("asterisk.conf"),
        format!(
            "[directories]\nastetcdir => /etc/asterisk\n\n[options]\n;runuser = root\nrunuser => daemon ; the PBX\n\
             rungroup = {nobody_gid}\n\n[compat]\nrunuser = root\n"
        ),
    )
    .unwrap();
    let (ok, text) = dest.make_samples();
    assert!(ok, "{text}");
    if !is_root() {
        return assert_installed_as_self(&dest, &text, &format!("daemon:{nobody_gid}"));
    }
    assert_eq!(owner_and_mode(&dest.conf()), (daemon_uid, nobody_gid, 0o640), "{text}");
    assert!(text.contains("runuser/rungroup in "), "{text}");
    let sample = fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/pbx_spool_rs.conf.sample")).unwrap();
    assert_eq!(fs::read(dest.conf()).unwrap(), sample);
}

#[test]
fn without_runuser_the_owner_of_the_configuration_directory_owns_the_sample() {
    let dest = DestDir::new("dir-owner");
    fs::write(dest.etc().join("asterisk.conf"), "[options]\n;runuser = asterisk\n;rungroup = asterisk\n").unwrap();
    let (uid, gid) = ids_of("nobody");
    if is_root() {
        chown(dest.etc(), Some(uid), Some(gid)).unwrap();
    }
    let (ok, text) = dest.make_samples();
    assert!(ok, "{text}");
    if !is_root() {
        let meta = fs::metadata(dest.etc()).unwrap();
        return assert_installed_as_self(&dest, &text, &format!("{}:{}", meta.uid(), meta.gid()));
    }
    assert_eq!(owner_and_mode(&dest.conf()), (uid, gid, 0o640), "{text}");
    assert!(text.contains("the owner of "), "{text}");
}

#[test]
fn an_existing_configuration_is_left_as_it_is() {
    let dest = DestDir::new("existing");
    fs::write(dest.conf(), "[general]\nmaxcalls = 3\n").unwrap();
    fs::set_permissions(dest.conf(), fs::Permissions::from_mode(0o600)).unwrap();
    let before = owner_and_mode(&dest.conf());
    let (ok, text) = dest.make_samples();
    assert!(ok, "{text}");
    assert!(text.contains("exists: left as it is"), "{text}");
    assert_eq!(fs::read_to_string(dest.conf()).unwrap(), "[general]\nmaxcalls = 3\n");
    assert_eq!(owner_and_mode(&dest.conf()), before);
}

#[test]
fn a_runuser_that_names_no_user_installs_nothing_and_says_why() {
    let dest = DestDir::new("no-user");
    fs::write(dest.etc().join("asterisk.conf"), "[options]\nrunuser = prs-no-such-user\n").unwrap();
    let (ok, text) = dest.make_samples();
    assert!(!ok, "make must fail: {text}");
    assert!(text.contains("runuser = prs-no-such-user, but there is no such user"), "{text}");
    assert!(!dest.conf().exists());
}
