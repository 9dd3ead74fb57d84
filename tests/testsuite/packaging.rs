//! The Debian package (`make deb`) on a Debian system: installed with `dpkg -i` into a copy of the chroot
//! with Debian's own configuration (an overlayfs over the chroot, so the chroot itself is never written),
//! switched on as its README.Debian says, Asterisk started as Debian's asterisk.service starts it (user
//! asterisk), and a call file submitted with the installed `callfile` is dialled. Also the package's
//! promises on disk: the ABI dependency, pbx_spool_rs.conf as asterisk:asterisk 0640, the manual page, the
//! module and its XML documentation where Debian's Asterisk reads them.
//!
//! The package is the one `make test` built (`PBX_SPOOL_RS_DEB`), else built here from the module under
//! test with `packaging/debian/build-deb.sh --no-build`. Touches only a temporary directory of its own
//! (the overlay's layers and mount point) and the processes it starts: the overlay is unmounted when the
//! test ends, failed or not, and the directory removed unless the test failed.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use harness::{env, process, wait, SOON};

const PACKAGE: &str = "asterisk-pbx-spool-rs";
const CONFIG: &str = "/etc/asterisk/pbx_spool_rs.conf";
/// Debian's full `autoload=yes` boot, on a machine shared with other tests.
const BOOT_TIMEOUT: Duration = Duration::from_secs(90);
/// dpkg, man, callfile and `asterisk -rx` inside the copy.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Building the package from what cargo built: stripping, man pages, dpkg-shlibdeps, xz.
const BUILD_TIMEOUT: Duration = Duration::from_secs(300);
/// The dialplan the test call runs: the Local channel's far end answers, the near end logs and hangs up.
const DIALPLAN: &str = "
[prs-packaging]
exten => answer,1,Answer()
 same => n,Wait(1)
 same => n,Hangup()
exten => placed,1,Log(NOTICE,packaging test call placed)
 same => n,Hangup()
";

#[test]
fn the_package_installs_and_places_a_call_as_debian_runs_asterisk() {
    if env::not_applicable_unless_packaged("the package depends on the packaged Asterisk's ABI") {
        return;
    }
    let root = DebianRoot::over(&env::chroot());
    let deb = package_under_test(&root);

    // Built for this Asterisk: the ABI the chroot's asterisk package provides, read from its dpkg status.
    let provides = run_ok(
        Command::new("dpkg-query").arg(format!("--admindir={}", env::host_path("/var/lib/dpkg").display())).args([
            "-W",
            "-f=${Provides}",
            "asterisk",
        ]),
    );
    let abi = provides
        .split(',')
        .map(str::trim)
        .find(|p| p.starts_with("asterisk-abi-"))
        .unwrap_or_else(|| panic!("the chroot's asterisk provides no asterisk-abi-*: {provides:?}"));
    let depends = run_ok(Command::new("dpkg-deb").arg("--field").arg(&deb).arg("Depends"));
    assert!(
        depends.split(',').any(|d| d.trim() == abi),
        "the package does not depend on {abi}, the chroot's Asterisk ABI: Depends: {depends}"
    );

    // dpkg -i, as an admin would.
    let inside_deb = format!("/tmp/{}", deb.file_name().and_then(|n| n.to_str()).expect("a .deb file name"));
    fs::copy(&deb, root.path(&inside_deb)).unwrap_or_else(|e| panic!("cannot copy {}: {e}", deb.display()));
    root.run_ok(&["dpkg", "-i", &inside_deb]);
    assert_eq!(root.run_ok(&["dpkg-query", "-W", "-f=${Status}", PACKAGE]), "install ok installed");

    // What the package promises on disk.
    assert_eq!(root.run_ok(&["stat", "-c", "%U:%G %a", CONFIG]).trim(), "asterisk:asterisk 640");
    let conffiles = root.run_ok(&["dpkg-query", "-W", "-f=${Conffiles}", PACKAGE]);
    assert!(conffiles.contains(CONFIG), "{CONFIG} is not a conffile: {conffiles:?}");
    let install = env::Install::get();
    for file in [
        format!("{}/pbx_spool_rs.so", install.module_dir),
        format!("{}/documentation/thirdparty/pbx_spool_rs-en_US.xml", install.data_dir),
        "/usr/bin/callfile".to_owned(),
        format!("/usr/share/doc/{PACKAGE}/copyright"),
        format!("/usr/share/doc/{PACKAGE}/changelog.Debian.gz"),
    ] {
        assert!(root.path(&file).is_file(), "the package did not install {file}");
    }
    let help = root.run_ok(&["callfile", "--help"]);
    assert!(help.contains("Usage: callfile") && help.contains("submit"), "callfile --help:\n{help}");
    assert_eq!(root.run_ok(&["man", "-w", "callfile"]).trim(), "/usr/share/man/man1/callfile.1.gz");
    let page = root.run_ok(&["env", "MANPAGER=cat", "MANWIDTH=200", "man", "callfile"]);
    assert!(page.contains("NAME") && page.contains("callfile-submit(1)"), "man callfile:\n{page}");

    // README.Debian's two modules.conf lines, into the [modules] section of Debian's modules.conf.
    let readme = fs::read_to_string(root.path(&format!("/usr/share/doc/{PACKAGE}/README.Debian")))
        .unwrap_or_else(|e| panic!("no README.Debian: {e}"));
    let module_lines: Vec<&str> =
        readme.lines().filter(|l| l.starts_with("noload =>") || l.starts_with("load =>")).collect();
    assert_eq!(module_lines, ["noload => pbx_spool.so", "load => pbx_spool_rs.so"], "README.Debian:\n{readme}");
    let modules_conf = root.path("/etc/asterisk/modules.conf");
    let text = fs::read_to_string(&modules_conf).expect("Debian's modules.conf");
    assert!(text.lines().any(|l| l.trim() == "[modules]"), "no [modules] in Debian's modules.conf:\n{text}");
    let edited: String = text
        .lines()
        .flat_map(|line| {
            let added = if line.trim() == "[modules]" { module_lines.clone() } else { Vec::new() };
            std::iter::once(line).chain(added)
        })
        .map(|line| format!("{line}\n"))
        .collect();
    fs::write(&modules_conf, edited).expect("write modules.conf");
    let extensions = root.path("/etc/asterisk/extensions.conf");
    fs::OpenOptions::new()
        .append(true)
        .open(&extensions)
        .and_then(|mut f| f.write_all(DIALPLAN.as_bytes()))
        .unwrap_or_else(|e| panic!("cannot add the test's context to {}: {e}", extensions.display()));

    let asterisk = DebianAsterisk::start(&root);
    let asterisk_uid = root.run_ok(&["id", "-u", "asterisk"]);
    assert_eq!(asterisk.uid(), asterisk_uid.trim(), "Asterisk does not run as the user asterisk");
    let loaded = asterisk.cli("module show like pbx_spool");
    let status = |module: &str| loaded.lines().find(|l| l.split_whitespace().next() == Some(module));
    assert!(
        status("pbx_spool_rs.so").is_some_and(|l| l.contains(" Running") && !l.contains("Not Running")),
        "pbx_spool_rs.so is not running:\n{loaded}\n{}",
        asterisk.diagnostics()
    );
    assert!(status("pbx_spool.so").is_none(), "pbx_spool.so is loaded despite noload:\n{loaded}");
    let docs = asterisk.cli("manager show command SpoolStatus");
    assert!(docs.contains("[Syntax]"), "the installed XML documentation was not read:\n{docs}");

    // A call file through the installed tool, dialled by the installed module.
    let submitted = root.run_ok(&[
        "callfile",
        "submit",
        "--channel",
        "Local/answer@prs-packaging",
        "--context",
        "prs-packaging",
        "--extension",
        "placed",
        "--priority",
        "1",
        "--archive",
    ]);
    let name = Path::new(submitted.trim()).file_name().and_then(|n| n.to_str()).unwrap_or_else(|| {
        panic!("callfile submit printed no file: {submitted:?}");
    });
    let archived = root.path(&format!("/var/spool/asterisk/outgoing_done/{name}"));
    if !wait::wait_until(SOON, || fs::read_to_string(&archived).is_ok_and(|t| t.contains("Status: Completed"))) {
        panic!("{name} was not archived as Completed within {SOON:?}\n{}", asterisk.diagnostics());
    }
    for line in ["Ext. placed: packaging test call placed", "Call completed to Local/answer@prs-packaging"] {
        if !wait::wait_until(SOON, || asterisk.messages().contains(line)) {
            panic!("messages.log never said {line:?}\n{}", asterisk.diagnostics());
        }
    }
}

/// The .deb to test: `PBX_SPOOL_RS_DEB` (set by `make test`, which built it), else one built now from the
/// module under test into `root`'s directory.
fn package_under_test(root: &DebianRoot) -> PathBuf {
    if let Some(deb) = std::env::var_os("PBX_SPOOL_RS_DEB") {
        let deb = PathBuf::from(deb);
        assert!(deb.is_file(), "PBX_SPOOL_RS_DEB={} does not exist", deb.display());
        return deb;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/debian/build-deb.sh");
    let out_dir = root.dir.join("deb");
    let mut command = Command::new("bash");
    command.arg(&script).arg("--no-build").env("DEB_OUT_DIR", &out_dir).env("PBX_SPOOL_RS_SO", env::our_module());
    let output = process::run_with_timeout(&mut command, BUILD_TIMEOUT);
    assert!(
        output.status.is_some_and(|s| s.success()),
        "{} failed ({:?}):\n{}",
        script.display(),
        output.status,
        output.stderr
    );
    let deb = PathBuf::from(output.stdout.trim());
    assert!(deb.is_file(), "{} printed {:?}, not a .deb:\n{}", script.display(), output.stdout, output.stderr);
    deb
}

/// Runs a host command that must succeed; its stdout.
fn run_ok(command: &mut Command) -> String {
    let output = process::run_with_timeout(command, COMMAND_TIMEOUT);
    assert!(
        output.status.is_some_and(|s| s.success()),
        "{command:?} failed ({:?}):\n{}{}",
        output.status,
        output.stdout,
        output.stderr
    );
    output.stdout
}

/// A writable copy of the chroot: an overlayfs with the chroot as its lower layer, mounted on the host in a
/// temporary directory. Dropping it unmounts it (lazily when a process still holds it) and removes the
/// directory, which is kept, with its path printed, when the test failed (its upper layer holds what the
/// test changed, Asterisk's logs included).
struct DebianRoot {
    dir: PathBuf,
    merged: PathBuf,
}

impl DebianRoot {
    fn over(chroot: &Path) -> DebianRoot {
        let dir = std::env::temp_dir().join(format!("prs-packaging-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for sub in ["upper", "work", "merged", "deb"] {
            fs::create_dir_all(dir.join(sub)).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        }
        let merged = dir.join("merged");
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            chroot.display(),
            dir.join("upper").display(),
            dir.join("work").display()
        );
        let mount = process::run_with_timeout(
            Command::new("mount").args(["-t", "overlay", "overlay", "-o", &options]).arg(&merged),
            COMMAND_TIMEOUT,
        );
        if !mount.status.is_some_and(|s| s.success()) {
            let _ = fs::remove_dir_all(&dir);
            panic!("cannot mount an overlay over {} ({:?}): {}", chroot.display(), mount.status, mount.stderr);
        }
        DebianRoot { dir, merged }
    }

    /// Host path of a path inside the copy.
    fn path(&self, inside: &str) -> PathBuf {
        self.merged.join(inside.trim_start_matches('/'))
    }

    /// `chroot <copy> args...`, which must succeed; its stdout.
    fn run_ok(&self, args: &[&str]) -> String {
        run_ok(Command::new("chroot").arg(&self.merged).args(args))
    }
}

impl Drop for DebianRoot {
    fn drop(&mut self) {
        let unmount = |lazy: bool| {
            let mut command = Command::new("umount");
            if lazy {
                command.arg("--lazy");
            }
            process::run_with_timeout(command.arg(&self.merged), COMMAND_TIMEOUT).status.is_some_and(|s| s.success())
        };
        if !unmount(false) && !unmount(true) {
            eprintln!("cannot unmount {}: unmount it by hand", self.merged.display());
            return;
        }
        if std::thread::panicking() {
            eprintln!(
                "the packaging test failed; its overlay's upper layer is kept: {}",
                self.dir.join("upper").display()
            );
        } else if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("cannot remove {}: {e}", self.dir.display());
        }
    }
}

/// Debian's Asterisk in the copy, started as asterisk.service starts it (`asterisk -g -f -U asterisk -G
/// asterisk` in /var/lib/asterisk; without `-p`, whose realtime priority would starve the other tests on a
/// shared machine), in a mount namespace of its own that holds the copy's /proc. Dropping it stops
/// Asterisk (`core stop now`, then SIGKILL to the unshare we started, which takes Asterisk with it).
struct DebianAsterisk<'a> {
    root: &'a DebianRoot,
    unshare: Child,
}

impl<'a> DebianAsterisk<'a> {
    fn start(root: &'a DebianRoot) -> DebianAsterisk<'a> {
        let output = |name: &str| {
            let path = root.dir.join(name);
            fs::File::create(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()))
        };
        let mut command = Command::new("unshare");
        command
            .args(["--mount", "--fork", "--kill-child", "--", "sh", "-c"])
            .arg(concat!(
                r#"mount -t proc proc "$1/proc" && exec chroot "$1" /bin/sh -c "#,
                r#"'cd /var/lib/asterisk && exec /usr/sbin/asterisk -g -f -U asterisk -G asterisk'"#
            ))
            .arg("sh")
            .arg(&root.merged)
            .stdin(Stdio::null())
            .stdout(output("asterisk.stdout"))
            .stderr(output("asterisk.stderr"));
        let unshare = process::die_with_parent(&mut command)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn unshare (util-linux): {e}"));
        let mut asterisk = DebianAsterisk { root, unshare };
        let booted = wait::wait_until(BOOT_TIMEOUT, || {
            asterisk.unshare.try_wait().ok().flatten().is_none()
                && asterisk.try_cli("core waitfullybooted").is_some_and(|out| out.contains("fully booted"))
        });
        if !booted {
            let ended = asterisk.unshare.try_wait().ok().flatten();
            panic!(
                "Debian's Asterisk did not boot within {BOOT_TIMEOUT:?} (ended: {ended:?})\n{}",
                asterisk.diagnostics()
            );
        }
        asterisk
    }

    /// `asterisk -rx cmd` in the copy; None when the client failed (no control socket yet).
    fn try_cli(&self, cmd: &str) -> Option<String> {
        let output = process::run_with_timeout(
            Command::new("chroot").arg(&self.root.merged).args(["/usr/sbin/asterisk", "-rx", cmd]),
            COMMAND_TIMEOUT,
        );
        output.status.is_some_and(|s| s.success()).then_some(output.stdout)
    }

    fn cli(&self, cmd: &str) -> String {
        self.try_cli(cmd).unwrap_or_else(|| panic!("asterisk -rx {cmd:?} failed\n{}", self.diagnostics()))
    }

    /// The real uid of the running Asterisk: its pid file is in Debian's astrundir, read inside the copy
    /// (/var/run is a link to /run there); the pid namespace is the host's.
    fn uid(&self) -> String {
        let pid = self.root.run_ok(&["cat", "/var/run/asterisk/asterisk.pid"]);
        let status = fs::read_to_string(format!("/proc/{}/status", pid.trim()))
            .unwrap_or_else(|e| panic!("no process {} (asterisk.pid): {e}\n{}", pid.trim(), self.diagnostics()));
        let uids = status.lines().find_map(|l| l.strip_prefix("Uid:")).expect("a Uid: line in /proc/<pid>/status");
        uids.split_whitespace().next().expect("the real uid").to_owned()
    }

    /// Debian's logger.conf writes notices, warnings and errors to /var/log/asterisk/messages.log.
    fn messages(&self) -> String {
        fs::read_to_string(self.root.path("/var/log/asterisk/messages.log")).unwrap_or_default()
    }

    fn diagnostics(&self) -> String {
        let tail = |text: String| {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        };
        let stderr = fs::read_to_string(self.root.dir.join("asterisk.stderr")).unwrap_or_default();
        format!("--- tail of messages.log\n{}\n--- tail of stderr\n{}", tail(self.messages()), tail(stderr))
    }
}

impl Drop for DebianAsterisk<'_> {
    fn drop(&mut self) {
        if self.unshare.try_wait().ok().flatten().is_none() {
            let _ = process::run_with_timeout(
                Command::new("chroot").arg(&self.root.merged).args(["/usr/sbin/asterisk", "-rx", "core stop now"]),
                Duration::from_secs(5),
            );
            if process::wait_child(&mut self.unshare, Duration::from_secs(15)).is_none() {
                eprintln!("Debian's Asterisk did not stop within 15 s of `core stop now`; killing it");
                let _ = self.unshare.kill();
                let _ = self.unshare.wait();
            }
        }
    }
}
