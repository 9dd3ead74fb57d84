//! One running Asterisk per test: its directory inside the chroot, the process (in its own mount
//! namespace, so the chroot's /proc mount vanishes with it), its AMI connection, the helpers tests use
//! to drive and observe it, and the teardown that leaves nothing behind.

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use super::ami::{Ami, Message};
use super::config::{self, Builder, Spooler, RUST_SO};
use super::env;
use super::process;
use super::wait;

/// What a failed test reports about its Asterisk: alive, hung (all stacks) or dead (signal, core backtrace).
mod postmortem;
/// `crash()` and `restart()`: the same instance booted again on its directory (see the module).
mod restart;

/// The AMI user every instance has.
const AMI_USER: &str = "prs";
/// How many times a boot is retried when the AMI port chosen turned out to be taken.
const PORT_ATTEMPTS: usize = 5;
/// Default deadline for CLI commands.
const CLI_TIMEOUT: Duration = Duration::from_secs(10);
/// Log lines and stderr lines shown in a failure message.
const TAIL_LINES: usize = 40;
/// How long a line Asterisk has logged may take to reach the log file (its logger thread is one of many on
/// a loaded machine).
const LOG_TIMEOUT: Duration = Duration::from_secs(15);

static INSTANCE_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A running Asterisk. Dropping it stops Asterisk, waits for the process, and removes the instance
/// directory (kept, with its path printed, when the test failed or `PBX_SPOOL_RS_KEEP=1`).
pub struct Asterisk {
    name: String,
    spooler: Spooler,
    chroot: PathBuf,
    /// The instance directory as seen from the host and from inside the chroot.
    host_dir: PathBuf,
    inside_dir: String,
    /// astspooldir's name in the instance directory (`spool` unless the builder said otherwise).
    spool_name: std::ffi::OsString,
    /// A spool shared with other instances (host path), instead of `spool_name` in the instance directory.
    shared_spool: Option<PathBuf>,
    /// `unshare`, our direct child; Asterisk is its child, and unshare ends the way Asterisk ended (the
    /// same exit code, or killed by the same signal).
    child: Option<Child>,
    pid: u32,
    /// Asterisk itself, by pidfd: the only way the harness signals it or asks whether it lives (see
    /// [`process::ProcessHandle`] for why a pid is not enough).
    process: Option<process::ProcessHandle>,
    /// How the last run ended, once unshare has been reaped.
    ended: Option<ExitStatus>,
    /// Set by [`Asterisk::accept_death`]: a test that measures whether Asterisk survives (the benchmarks)
    /// does not fail at teardown because it did not.
    death_accepted: bool,
    ami_port: u16,
    ami: Option<Ami>,
    boot_time: Duration,
    /// uid and gid Asterisk runs as when the builder said [`Builder::run_as`]; `None`: root.
    run_as: Option<(u32, u32)>,
}

/// Why a boot attempt failed.
enum BootFailure {
    /// The AMI port was taken by someone else: worth another try with another port.
    PortTaken(String),
    Fatal(String),
}

impl Asterisk {
    /// Settings for an instance loading `spooler`; finish with `.start()`.
    pub fn builder(spooler: Spooler) -> Builder {
        Builder::new(spooler)
    }

    /// An instance with default settings (no dialplan) loading `spooler`.
    pub fn start(spooler: Spooler) -> Asterisk {
        Builder::new(spooler).start()
    }

    pub(super) fn launch(builder: Builder) -> Asterisk {
        env::sweep_stale_instances();
        let chroot = env::chroot();
        let name = sanitize(&builder.name.clone().unwrap_or_else(test_name));
        let dir_name = format!("{name}-{}-{}", std::process::id(), INSTANCE_COUNTER.fetch_add(1, Ordering::Relaxed));
        let inside_dir = format!("{}/{dir_name}", env::INSIDE_TESTS_DIR);
        let host_dir = env::host_path(&inside_dir);
        let mut ast = Asterisk {
            name,
            spooler: builder.spooler,
            chroot,
            host_dir,
            inside_dir,
            spool_name: std::os::unix::ffi::OsStringExt::from_vec(builder.spool_name.clone()),
            shared_spool: builder.shared_spool.as_ref().map(|(host, _)| host.clone()),
            child: None,
            pid: 0,
            process: None,
            ended: None,
            death_accepted: false,
            ami_port: 0,
            ami: None,
            boot_time: Duration::ZERO,
            run_as: builder.run_as.as_deref().map(chroot_user_ids),
        };
        // From here on, a panic drops `ast`, which cleans up (and keeps the directory for inspection).
        ast.lay_out(&builder);
        let secret = format!("secret-{dir_name}");
        for attempt in 1..=PORT_ATTEMPTS {
            let port = free_port();
            ast.write_etc("manager.conf", &config::manager_conf(port, AMI_USER, &secret));
            ast.ami_port = port;
            match ast.boot(&builder, &secret) {
                Ok(()) => return ast,
                Err(BootFailure::PortTaken(why)) if attempt < PORT_ATTEMPTS => {
                    eprintln!("[{}] AMI port {port} taken ({why}); retrying with another", ast.name);
                    ast.stop();
                }
                Err(BootFailure::PortTaken(why) | BootFailure::Fatal(why)) => {
                    panic!("Asterisk did not boot: {why}\n{}", ast.diagnostics())
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Creates the instance directory: etc/ with every config file, modules/ with links to the stock
    /// modules and a copy of ours, and the empty working directories.
    fn lay_out(&self, builder: &Builder) {
        for sub in ["etc", "modules", "run", "log", "lib/cache", "data"] {
            let path = self.host_dir.join(sub);
            fs::create_dir_all(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        }
        let outgoing = self.outgoing_dir();
        fs::create_dir_all(&outgoing).unwrap_or_else(|e| panic!("cannot create {}: {e}", outgoing.display()));
        for writable in ["lib", "lib/cache"] {
            self.give_to_run_user(&self.host_dir.join(writable));
        }
        if self.shared_spool.is_none() {
            self.give_to_run_user(&self.spool_dir());
            self.give_to_run_user(&outgoing);
        }
        // data/ mirrors the package's shared data (the XML documentation is required: without it
        // stasis refuses to initialise and Asterisk exits).
        let install = env::Install::get();
        let data = env::host_path(&install.data_dir);
        for entry in fs::read_dir(&data).unwrap_or_else(|e| panic!("cannot list {}: {e}", data.display())) {
            let entry_name = entry.expect("readdir").file_name();
            if entry_name == "documentation" && !builder.third_party_docs.is_empty() {
                self.lay_out_documentation(builder, &install.data_dir);
                continue;
            }
            let target = Path::new(&install.data_dir).join(&entry_name);
            let link = self.host_dir.join("data").join(&entry_name);
            symlink(&target, &link).unwrap_or_else(|e| panic!("cannot link {}: {e}", link.display()));
        }

        let asterisk_conf = self.host_dir.join("etc/asterisk.conf");
        fs::write(&asterisk_conf, builder.asterisk_conf(&self.inside_dir, &install.sbin_dir))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", asterisk_conf.display()));
        self.write_etc("modules.conf", &builder.modules_conf());
        self.write_etc("logger.conf", &config::logger_conf());
        self.write_etc("extensions.conf", &builder.extensions_conf());
        for (file, text) in config::quiet_defaults() {
            self.write_etc(file, text);
        }
        let indications = env::host_path(&format!("{}/indications.conf", install.etc_dir));
        if let Ok(text) = fs::read_to_string(indications) {
            self.write_etc("indications.conf", &text);
        }
        for (file, text) in &builder.files {
            self.write_etc(file, text);
        }
        for (file, mode) in &builder.file_modes {
            let path = self.host_dir.join("etc").join(file);
            fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(*mode))
                .unwrap_or_else(|e| panic!("cannot set the mode of {}: {e}", path.display()));
        }

        for (module, file) in builder.installed_files() {
            let link = self.host_dir.join("modules").join(&module);
            if file == RUST_SO {
                let ours = env::our_module();
                fs::copy(&ours, &link)
                    .unwrap_or_else(|e| panic!("cannot copy {} to {}: {e}", ours.display(), link.display()));
            } else {
                let target = env::stock_module(&file);
                symlink(&target, &link).unwrap_or_else(|e| panic!("cannot link {}: {e}", link.display()));
            }
        }
    }

    /// data/documentation as a directory of its own: links to the package's documentation (the core XML
    /// and its DTD), and a `thirdparty/` holding the builder's files instead of the package's.
    fn lay_out_documentation(&self, builder: &Builder, data_dir: &str) {
        let inside = format!("{data_dir}/documentation");
        let package = env::host_path(&inside);
        let own = self.host_dir.join("data/documentation");
        let third_party = own.join("thirdparty");
        fs::create_dir_all(&third_party).unwrap_or_else(|e| panic!("cannot create {}: {e}", third_party.display()));
        for entry in fs::read_dir(&package).unwrap_or_else(|e| panic!("cannot list {}: {e}", package.display())) {
            let entry_name = entry.expect("readdir").file_name();
            if entry_name == "thirdparty" {
                continue;
            }
            let link = own.join(&entry_name);
            symlink(Path::new(&inside).join(&entry_name), &link)
                .unwrap_or_else(|e| panic!("cannot link {}: {e}", link.display()));
        }
        for (name, contents) in &builder.third_party_docs {
            let path = third_party.join(name);
            fs::write(&path, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        }
    }

    /// Starts Asterisk and waits until it is fully booted and we are logged in to its AMI.
    fn boot(&mut self, builder: &Builder, secret: &str) -> Result<(), BootFailure> {
        for sub in ["run", "log"] {
            let dir = self.host_dir.join(sub);
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
            self.give_to_run_user(&dir);
        }
        let started = Instant::now();
        self.spawn();
        let deadline = started + builder.boot_timeout;
        let remaining = || deadline.saturating_duration_since(Instant::now());

        // Connect as soon as the port accepts; watch for an early exit or a bind failure meanwhile.
        let mut failure = None;
        let ami = wait::wait_for(remaining(), || {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                failure = Some(BootFailure::Fatal(format!("Asterisk exited during boot ({status})")));
                return Some(None);
            }
            if self.log_text().contains("Unable to bind AMI server") {
                failure = Some(BootFailure::PortTaken("Asterisk could not bind it".into()));
                return Some(None);
            }
            Ami::connect(self.ami_port, Duration::from_secs(2)).ok().map(Some)
        });
        let ami = match (ami, failure) {
            (Some(Some(ami)), _) => ami,
            (_, Some(failure)) => return Err(failure),
            _ => return Err(BootFailure::Fatal(format!("AMI port {} never accepted a connection", self.ami_port))),
        };
        if let Err(why) = ami.login(AMI_USER, secret, remaining()) {
            // Only our instance knows this secret: a refusal means somebody else owns the port.
            return Err(BootFailure::PortTaken(why));
        }
        // Sent on login when already booted, else when boot completes.
        if ami.wait_for_event(remaining(), |e| e.is_event("FullyBooted")).is_none() {
            return Err(BootFailure::Fatal("no FullyBooted event".into()));
        }
        self.ami = Some(ami);
        let pid_file = self.host_dir.join("run/asterisk.pid");
        self.pid = wait::wait_for(remaining(), || fs::read_to_string(&pid_file).ok()?.trim().parse().ok())
            .ok_or_else(|| BootFailure::Fatal(format!("no pid in {}", pid_file.display())))?;
        let unshare = self.child.as_ref().map_or(0, Child::id);
        self.process = Some(process::ProcessHandle::open_child_of(self.pid, unshare).map_err(BootFailure::Fatal)?);
        self.boot_time = started.elapsed();
        Ok(())
    }

    /// Spawns `unshare` → `sh` (mounts /proc inside the chroot, in the new mount namespace, and lifts the
    /// core size limit) → `chroot` → `sh` (enters the instance directory) → `asterisk -f`, so a crash
    /// leaves `<instance>/core` for [`Asterisk::post_mortem`]. `--kill-child` makes Asterisk die with
    /// unshare, which dies with the test thread (PDEATHSIG).
    fn spawn(&mut self) {
        self.process = None;
        self.ended = None;
        let stdout = self.create_file("stdout");
        let stderr = self.create_file("stderr");
        let mut command = Command::new("unshare");
        command
            .args(["--mount", "--fork", "--kill-child", "--", "sh", "-c"])
            .arg(concat!(
                r#"mount -t proc proc "$1/proc" && ulimit -c unlimited && "#,
                r#"exec chroot "$1" /bin/sh -c 'cd "$1" && exec "$2" -f -C "$3"' sh "$4" "$3" "$2""#
            ))
            .arg("sh")
            .arg(&self.chroot)
            .arg(self.conf_inside())
            .arg(&env::Install::get().binary)
            .arg(&self.inside_dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let child = process::die_with_parent(&mut command)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn unshare (util-linux): {e}"));
        self.child = Some(child);
    }

    fn create_file(&self, name: &str) -> fs::File {
        let path = self.host_dir.join(name);
        fs::File::create(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()))
    }

    fn conf_inside(&self) -> String {
        format!("{}/etc/asterisk.conf", self.inside_dir)
    }

    /// Gives `path` to the user Asterisk runs as ([`Builder::run_as`]); nothing when it runs as root.
    fn give_to_run_user(&self, path: &Path) {
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("cannot give {} to uid {uid}: {e}", path.display()));
        }
    }

    /// The uid and gid Asterisk runs as ([`Builder::run_as`]), `None` when it runs as root.
    pub fn run_as_ids(&self) -> Option<(u32, u32)> {
        self.run_as
    }

    /// Writes `etc/<file>`.
    pub fn write_etc(&self, file: &str, contents: &str) {
        let path = self.host_dir.join("etc").join(file);
        fs::write(&path, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    // ----- identity and paths -------------------------------------------------------------------

    /// The (sanitised) test name this instance belongs to.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn spooler(&self) -> Spooler {
        self.spooler
    }

    /// Asterisk's pid (a host pid: there is no pid namespace).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn ami_port(&self) -> u16 {
        self.ami_port
    }

    /// The manager user every instance has and its secret (allowed everything), for a client of the
    /// test's own, such as `callfile submit --ami`.
    pub fn ami_login(&self) -> (&'static str, String) {
        let dir_name = self.host_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        (AMI_USER, format!("secret-{dir_name}"))
    }

    /// The AMI connection, logged in, receiving every event since boot.
    pub fn ami(&self) -> &Ami {
        self.ami.as_ref().expect("AMI connection is open while the instance lives")
    }

    /// From spawn to FullyBooted.
    pub fn boot_time(&self) -> Duration {
        self.boot_time
    }

    /// The instance directory on the host.
    pub fn dir(&self) -> &Path {
        &self.host_dir
    }

    /// The instance directory as Asterisk sees it (inside the chroot).
    pub fn inside_dir(&self) -> &str {
        &self.inside_dir
    }

    /// Host path of `relative` (to the instance directory).
    pub fn path(&self, relative: &str) -> PathBuf {
        self.host_dir.join(relative)
    }

    /// The path Asterisk sees for a host path inside the instance directory.
    pub fn inside_path(&self, host: &Path) -> String {
        let relative = host
            .strip_prefix(&self.host_dir)
            .unwrap_or_else(|_| panic!("{} is not inside {}", host.display(), self.host_dir.display()));
        format!("{}/{}", self.inside_dir, relative.display())
    }

    /// astspooldir.
    pub fn spool_dir(&self) -> PathBuf {
        if let Some(shared) = &self.shared_spool {
            return shared.clone();
        }
        self.host_dir.join(&self.spool_name)
    }

    /// Where call files are written before they are renamed into outgoing/: the instance's `staging/`, or,
    /// on a shared spool (which may be another file system), `staging-<instance>` in the spool.
    pub fn staging_dir(&self) -> PathBuf {
        match &self.shared_spool {
            Some(shared) => shared.join(format!("staging-{}", self.name)),
            None => self.path("staging"),
        }
    }

    /// Where call files are dropped.
    pub fn outgoing_dir(&self) -> PathBuf {
        self.spool_dir().join("outgoing")
    }

    /// Where archived call files (`Archive: yes`) go; created by the spooler, not by the harness.
    pub fn outgoing_done_dir(&self) -> PathBuf {
        self.spool_dir().join("outgoing_done")
    }

    pub fn etc_dir(&self) -> PathBuf {
        self.path("etc")
    }

    /// The `messages` log file.
    pub fn log_path(&self) -> PathBuf {
        self.path("log/messages")
    }

    // ----- call files ---------------------------------------------------------------------------

    /// The safe way to hand over a call file: written under spool/, then renamed into outgoing/ so the
    /// spooler never sees it half-written. Returns its path in outgoing/.
    pub fn drop_call_file(&self, name: &str, contents: &str) -> PathBuf {
        static TMP_COUNTER: AtomicUsize = AtomicUsize::new(0);
        let tmp = self.spool_dir().join(format!("tmp-{}-{name}", TMP_COUNTER.fetch_add(1, Ordering::Relaxed)));
        let target = self.outgoing_dir().join(name);
        fs::write(&tmp, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", tmp.display()));
        fs::rename(&tmp, &target)
            .unwrap_or_else(|e| panic!("cannot rename {} to {}: {e}", tmp.display(), target.display()));
        target
    }

    /// Sets a file's modification (and access) time: pbx_spool reads a call file's mtime as the time
    /// it is due.
    pub fn set_mtime(&self, path: &Path, time: SystemTime) {
        set_mtime(path, time);
    }

    // ----- log ----------------------------------------------------------------------------------

    /// The whole `messages` log so far (empty before Asterisk opens it).
    /// Panics if Asterisk's logger discarded messages: an incomplete log would make any check on it
    /// pass or fail at random.
    pub fn log_text(&self) -> String {
        let text = fs::read(self.log_path()).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        assert!(
            !text.contains(super::config::LOGGER_DISCARDING),
            "Asterisk's logger discarded messages (its queue limit was reached): the log is incomplete\n{}",
            self.diagnostics()
        );
        text
    }

    /// The log's current length: pass it to [`Asterisk::wait_for_log_since`] / [`Asterisk::log_since`].
    pub fn log_mark(&self) -> usize {
        fs::metadata(self.log_path()).map(|m| m.len() as usize).unwrap_or(0)
    }

    /// The part of the log written after `mark`.
    pub fn log_since(&self, mark: usize) -> String {
        let bytes = fs::read(self.log_path()).unwrap_or_default();
        String::from_utf8_lossy(bytes.get(mark..).unwrap_or_default()).into_owned()
    }

    /// Waits until the log contains `needle`; false if it did not within `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        self.wait_for_log_since(0, needle, timeout)
    }

    /// Waits until the log written after `mark` contains `needle`.
    pub fn wait_for_log_since(&self, mark: usize, needle: &str, timeout: Duration) -> bool {
        wait::wait_until(timeout, || self.log_since(mark).contains(needle))
    }

    /// Like [`Asterisk::wait_for_log`], panicking with diagnostics on timeout.
    pub fn expect_log(&self, needle: &str, timeout: Duration) {
        if !self.wait_for_log(needle, timeout) {
            panic!("log never contained {needle:?} within {timeout:?}\n{}", self.diagnostics());
        }
    }

    /// Log lines containing all of `needles`.
    pub fn log_lines_with(&self, needles: &[&str]) -> Vec<String> {
        self.log_text().lines().filter(|line| needles.iter().all(|n| line.contains(n))).map(str::to_owned).collect()
    }

    /// Waits until the log holds at least `count` lines containing all of `needles`, then returns them
    /// all. Asterisk's logger writes on its own thread, so a line logged before an AMI event or a CLI
    /// answer can reach the file after it: a test that expects a line waits for it, never reads once.
    pub fn expect_log_lines(&self, needles: &[&str], count: usize) -> Vec<String> {
        self.expect_until(&format!("{count} log line(s) with {needles:?}"), LOG_TIMEOUT, || {
            self.log_lines_with(needles).len() >= count
        });
        self.log_lines_with(needles)
    }

    /// Waits until the log written after `mark` has a line containing all of `needles`, and returns
    /// that part of the log (see [`Asterisk::expect_log_lines`] for why it waits).
    pub fn expect_log_since(&self, mark: usize, needles: &[&str]) -> String {
        let has = |text: &str| text.lines().any(|line| needles.iter().all(|n| line.contains(n)));
        self.expect_until(&format!("a log line with {needles:?}"), LOG_TIMEOUT, || has(&self.log_since(mark)));
        self.log_since(mark)
    }

    // ----- waiting --------------------------------------------------------------------------------

    /// Waits for `condition`, panicking with `what` and diagnostics if it is not met within `timeout`.
    pub fn expect_until(&self, what: &str, timeout: Duration, condition: impl FnMut() -> bool) {
        if !wait::wait_until(timeout, condition) {
            panic!("timed out after {timeout:?} waiting for {what}\n{}", self.diagnostics());
        }
    }

    /// Waits for an AMI event matching `predicate` (anywhere in the history), panicking with `what` and
    /// diagnostics if none arrives within `timeout`.
    pub fn expect_event(&self, what: &str, timeout: Duration, predicate: impl Fn(&Message) -> bool) -> Message {
        self.ami().wait_for_event(timeout, predicate).unwrap_or_else(|| {
            panic!("timed out after {timeout:?} waiting for AMI event: {what}\n{}", self.diagnostics())
        })
    }

    // ----- CLI and process state ----------------------------------------------------------------

    /// Runs a CLI command (`asterisk -rx`) and returns its output; panics if it takes over 10 s.
    pub fn cli(&self, cmd: &str) -> String {
        // `asterisk -rx` is the harness's client, not the thing under test: when it exits with an error
        // without output (it could not connect to the control socket; seen once under heavy load, as an
        // empty answer to `spool show status`), it is run again, at most three times in all, each failure
        // reported on stderr. A command that still fails panics with the client's own words instead of
        // passing an empty string off as Asterisk's answer.
        let deadline = std::time::Instant::now() + CLI_TIMEOUT;
        let mut failures = Vec::new();
        for _ in 0..3 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let output = self.run_cli_output(cmd, left);
            if let Some(why) = &output.not_started {
                panic!("CLI command {cmd:?} could not be run: {why}\n{}", self.diagnostics())
            }
            if output.status.is_none() {
                panic!("CLI command {cmd:?} did not finish within {CLI_TIMEOUT:?}\n{}", self.diagnostics())
            }
            let succeeded = output.status.is_some_and(|status| status.success());
            if succeeded || !output.stdout.is_empty() {
                return output.stdout;
            }
            let failure = format!("asterisk -rx {cmd:?} failed ({:?}): {}", output.status, output.stderr.trim());
            eprintln!("[{}] {failure}; running it again", self.name());
            failures.push(failure);
        }
        panic!("the CLI client failed three times:\n{}\n{}", failures.join("\n"), self.diagnostics());
    }

    /// Runs a CLI command; None if it did not finish within `timeout`. The client's own failures (it
    /// could not connect, Asterisk is gone) come back as its empty output: see [`Asterisk::cli`].
    pub fn try_cli(&self, cmd: &str, timeout: Duration) -> Option<String> {
        self.run_cli(cmd, timeout).map(|output| output.stdout)
    }

    fn run_cli(&self, cmd: &str, timeout: Duration) -> Option<process::Output> {
        let output = self.run_cli_output(cmd, timeout);
        output.status.is_some().then_some(output)
    }

    fn run_cli_output(&self, cmd: &str, timeout: Duration) -> process::Output {
        let mut command = Command::new("chroot");
        command.arg(&self.chroot).args([env::Install::get().binary.as_str(), "-C", &self.conf_inside(), "-rx", cmd]);
        process::run_with_timeout(&mut command, timeout)
    }

    /// Whether the Asterisk process is running.
    pub fn is_alive(&self) -> bool {
        self.process.as_ref().is_some_and(process::ProcessHandle::is_alive)
    }

    /// A handle on the running Asterisk process that outlives this instance (to check that teardown ended
    /// it, or to send it a signal as a crash would).
    pub fn process_handle(&self) -> process::ProcessHandle {
        let process = self.process.as_ref().unwrap_or_else(|| panic!("no Asterisk process\n{}", self.diagnostics()));
        process.try_clone().unwrap_or_else(|e| panic!("cannot duplicate the pidfd: {e}"))
    }

    /// How Asterisk's last run ended, once it has (None while it runs, or when not known).
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.ended.is_none() {
            self.ended = self.child.as_mut().and_then(|child| child.try_wait().ok().flatten());
        }
        self.ended
    }

    /// Says that this test measures whether Asterisk survives, so an Asterisk that died on its own does
    /// not fail the test at teardown (it is still reported there).
    pub fn accept_death(&mut self) {
        self.death_accepted = true;
    }

    /// Panics with diagnostics unless Asterisk is running and answers the CLI.
    pub fn assert_alive(&self) {
        let answers =
            self.is_alive() && self.try_cli("core show version", CLI_TIMEOUT).is_some_and(|v| v.contains("Asterisk"));
        assert!(answers, "Asterisk (pid {}) is not alive and answering\n{}", self.pid, self.diagnostics());
    }

    /// Threads of the Asterisk process right now (`/proc/<pid>/task`).
    pub fn thread_count(&self) -> usize {
        fs::read_dir(format!("/proc/{}/task", self.pid))
            .unwrap_or_else(|e| panic!("cannot list threads of pid {}: {e}\n{}", self.pid, self.diagnostics()))
            .count()
    }

    /// The thread count once it has stayed unchanged for `window` (pools winding down settle).
    pub fn stable_thread_count(&self, window: Duration, timeout: Duration) -> usize {
        wait::wait_stable(window, timeout, || self.thread_count()).unwrap_or_else(|| {
            panic!("thread count never stayed stable for {window:?} within {timeout:?}\n{}", self.diagnostics())
        })
    }

    /// The Status column of `module show like <module>` (`Running`, `Not Running`, ...) for exactly
    /// this module, or None when it is not loaded.
    pub fn module_status(&self, module: &str) -> Option<String> {
        let listing = self.cli(&format!("module show like {module}"));
        listing.lines().find_map(|line| parse_module_status(line, module))
    }

    /// Whether `module show like` lists the module at all.
    pub fn module_loaded(&self, module: &str) -> bool {
        self.module_status(module).is_some()
    }

    /// Whether the module is listed as Running.
    pub fn module_running(&self, module: &str) -> bool {
        self.module_status(module).as_deref() == Some("Running")
    }

    /// What a failure message should show: where the instance is, and the tails of its log and
    /// stderr/stdout.
    pub fn diagnostics(&self) -> String {
        let state = if self.is_alive() { "running" } else { "NOT RUNNING (how it ended: see the post-mortem)" };
        let mut text = format!(
            "--- instance {} (pid {}, AMI port {}): Asterisk {} {state}\n",
            self.host_dir.display(),
            self.pid,
            self.ami_port,
            env::Install::get().version
        );
        for (title, path) in
            [("messages", self.log_path()), ("stderr", self.path("stderr")), ("stdout", self.path("stdout"))]
        {
            let content = fs::read(&path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
            // Every `cli()` call logs a connect/disconnect pair; they would crowd out what matters.
            let lines: Vec<&str> = content.lines().filter(|l| !l.contains("Remote UNIX connection")).collect();
            let tail = &lines[lines.len().saturating_sub(TAIL_LINES)..];
            let _ = writeln!(text, "--- tail of {title} ({} of {} lines)", tail.len(), lines.len());
            for line in tail {
                let _ = writeln!(text, "{line}");
            }
        }
        text
    }

    // ----- teardown -----------------------------------------------------------------------------

    /// Stops Asterisk: `core stop now`, then signals to unshare if it lingers (after printing every
    /// thread's stack: an Asterisk that does not stop is a finding); waits for both to be gone and keeps
    /// how Asterisk ended. Idempotent.
    fn stop(&mut self) {
        if self.child.is_none() {
            return;
        }
        if self.exit_status().is_none() {
            let _ = self.try_cli("core stop now", Duration::from_secs(3));
            let stopped = self.child.as_mut().and_then(|child| process::wait_child(child, Duration::from_secs(10)));
            if stopped.is_none() {
                let report = self.post_mortem();
                eprintln!(
                    "[{}] Asterisk did not stop within 10 s of `core stop now`; sending SIGTERM. {report}",
                    self.name
                );
                if let Some(child) = self.child.as_mut() {
                    process::signal(child.id(), libc::SIGTERM);
                    if process::wait_child(child, Duration::from_secs(3)).is_none() {
                        let _ = child.kill();
                        let _ = child.wait();
                    }
                }
            }
        }
        let _ = self.exit_status();
        self.child = None;
        // unshare --kill-child SIGKILLs Asterisk when unshare goes; make sure of it.
        if let Some(asterisk) = &self.process {
            if !wait::wait_until(Duration::from_secs(5), || !asterisk.is_alive()) {
                asterisk.signal(libc::SIGKILL);
                wait::wait_until(Duration::from_secs(5), || !asterisk.is_alive());
            }
        }
        self.ami = None;
    }

    /// Whether Asterisk ended by a signal that no test sent (a crash): checked at teardown.
    fn died_on_its_own(&mut self) -> bool {
        self.child.is_some() && {
            use std::os::unix::process::ExitStatusExt;
            self.exit_status().is_some_and(|status| status.signal().is_some())
        }
    }
}

impl Drop for Asterisk {
    fn drop(&mut self) {
        let keep_requested = std::env::var("PBX_SPOOL_RS_KEEP").is_ok_and(|v| v == "1");
        if std::thread::panicking() {
            let report = self.post_mortem();
            eprintln!("[{}] test failed. {report}", self.name);
            self.stop();
            self.keep("the test failed");
            return;
        }
        if self.died_on_its_own() && !self.death_accepted {
            let report = self.post_mortem();
            self.stop();
            self.keep("Asterisk died during the test");
            panic!("Asterisk died during the test although the test passed: {report}\n{}", self.diagnostics());
        }
        self.stop();
        if keep_requested {
            self.keep("PBX_SPOOL_RS_KEEP=1");
        } else if let Err(e) = fs::remove_dir_all(&self.host_dir) {
            eprintln!("[{}] cannot remove {}: {e}", self.name, self.host_dir.display());
        }
    }
}

impl Asterisk {
    /// Leaves the instance directory for inspection, with a marker that later test runs' sweep of stale
    /// directories respects ([`env::sweep_stale_instances`]).
    fn keep(&self, why: &str) {
        let _ = fs::write(self.host_dir.join(env::KEPT_MARKER), format!("{why}\n"));
        eprintln!("[{}] {why}; instance directory kept: {}", self.name, self.host_dir.display());
    }
}

impl Builder {
    /// Starts the instance: lays out its directory, boots Asterisk, logs in to the AMI, and returns
    /// once Asterisk is fully booted. Panics with diagnostics if it does not boot.
    pub fn start(self) -> Asterisk {
        Asterisk::launch(self)
    }
}

/// Sets `path`'s modification and access time.
pub fn set_mtime(path: &Path, time: SystemTime) {
    let file = fs::File::open(path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    file.set_times(fs::FileTimes::new().set_modified(time).set_accessed(time))
        .unwrap_or_else(|e| panic!("cannot set times of {}: {e}", path.display()));
}

/// A loopback port nobody listens on right now (bind to 0, read, close). Another process may take it
/// before Asterisk does; the boot loop detects that and retries.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// uid and gid of `user` in the chroot's /etc/passwd (Asterisk resolves runuser there, not on the host).
fn chroot_user_ids(user: &str) -> (u32, u32) {
    let passwd = env::host_path("/etc/passwd");
    let text = fs::read_to_string(&passwd).unwrap_or_else(|e| panic!("cannot read {}: {e}", passwd.display()));
    text.lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.len() > 3 && fields[0] == user)
        .and_then(|fields| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
        .unwrap_or_else(|| panic!("no user {user} in {}", passwd.display()))
}

/// libtest names each test's thread after the test (`lifecycle::loads`).
fn test_name() -> String {
    std::thread::current().name().unwrap_or("test").to_owned()
}

/// A short file-name-safe form of a test name. Kept short because the control socket
/// `<instance>/run/asterisk.ctl` must fit in a 108-byte sun_path.
fn sanitize(name: &str) -> String {
    const MAX: usize = 48;
    let clean: String =
        name.replace("::", "__").chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    let start = clean.len().saturating_sub(MAX);
    clean[start..].to_owned()
}

/// `module show like` line → status, if the line is about exactly `module`. The columns are separated
/// by runs of spaces and the description has single spaces, so split from the right:
/// `<name>  <description>  <use count>  <status>  <support level>`, where status may be `Not Running`.
fn parse_module_status(line: &str, module: &str) -> Option<String> {
    let mut words = line.split_whitespace();
    if words.next()? != module {
        return None;
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    let before_support = &words[..words.len().checked_sub(1)?];
    match before_support {
        [.., "Not", "Running"] => Some("Not Running".to_owned()),
        [.., status] => Some((*status).to_owned()),
        [] => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_module_status, sanitize};

    #[test]
    fn module_status_parses_from_the_right() {
        let line = "pbx_spool.so                   Outgoing Spool Support                   0          Running              core";
        assert_eq!(parse_module_status(line, "pbx_spool.so").as_deref(), Some("Running"));
        assert_eq!(parse_module_status(line, "pbx_spool"), None);
        let line = "pbx_spool_rs.so   Outgoing Spool   0   Not Running   extended";
        assert_eq!(parse_module_status(line, "pbx_spool_rs.so").as_deref(), Some("Not Running"));
    }

    #[test]
    fn sanitize_keeps_the_specific_tail() {
        assert_eq!(sanitize("lifecycle::loads"), "lifecycle__loads");
        let long = sanitize("a_very_long_module_name::with_a_scenario_name_that_goes_on::rust");
        assert_eq!(long.len(), 48);
        assert!(long.ends_with("__rust"));
    }
}
