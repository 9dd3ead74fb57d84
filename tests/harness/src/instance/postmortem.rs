//! What a failed test says about its Asterisk: alive and answering, alive but not answering (then every
//! thread's stack, read by attaching gdb), or dead (its exit code or signal, and the backtrace of its
//! core file when it crashed). Instances run with core dumps enabled and the instance directory as their
//! working directory, so with the kernel's default `core_pattern` (`core`) a crash leaves
//! `<instance>/core`. Only reads the process and its files; never stops or signals it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{Asterisk, CLI_TIMEOUT};
use crate::{env, process};

/// How long gdb may take to read a core file or a live process (no debug symbols: seconds, usually).
const GDB_TIMEOUT: Duration = Duration::from_secs(120);
/// Lines of a backtrace shown in the failure message; the whole of it is kept in the instance directory.
const SHOWN_BACKTRACE_LINES: usize = 200;

impl Asterisk {
    /// The process's state for a failure message: alive and answering the CLI, alive and not answering
    /// (with all threads' stacks), or gone (with how it ended and, after a crash, its core's backtrace).
    /// Backtraces are also written to `<instance>/backtrace.txt`.
    pub fn post_mortem(&mut self) -> String {
        let name = self.name.clone();
        if self.is_alive() {
            let answered = self.try_cli("core show version", CLI_TIMEOUT).is_some_and(|v| v.contains("Asterisk"));
            if answered {
                return format!("Asterisk (pid {}) is alive and answers the CLI", self.pid);
            }
            let stacks = live_backtrace(&self.chroot, self.pid);
            let shown = self.keep_backtrace(&stacks);
            return format!(
                "Asterisk (pid {}) is alive but does not answer the CLI within {CLI_TIMEOUT:?}: hung or overloaded. \
                 All threads (gdb attached):\n{shown}",
                self.pid
            );
        }
        // unshare ends right after Asterisk; give it a moment to be reaped so its status is known.
        if let Some(child) = self.child.as_mut() {
            self.ended = process::wait_child(child, Duration::from_secs(5));
        }
        let ended = match self.exit_status() {
            Some(status) => process::describe_exit(&status),
            None => "is gone (exit status not known)".to_owned(),
        };
        let mut text = format!("[{name}] Asterisk (pid {}) {ended}", self.pid);
        let core = self.host_dir.join("core");
        if core.is_file() {
            let trace = core_backtrace(&self.chroot, &env::Install::get().binary, &core);
            let shown = self.keep_backtrace(&trace);
            let _ = write!(text, "\nBacktrace of {} (gdb):\n{shown}", core.display());
        } else if self.exit_status().is_some_and(|s| std::os::unix::process::ExitStatusExt::signal(&s).is_some()) {
            let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
            let _ = write!(
                text,
                "\nNo core file in the instance directory (kernel.core_pattern is {:?}; the harness expects `core`).",
                pattern.trim()
            );
        }
        text
    }

    /// Writes `trace` to `<instance>/backtrace.txt` and returns its first lines for a message.
    fn keep_backtrace(&self, trace: &str) -> String {
        let path = self.host_dir.join("backtrace.txt");
        let _ = std::fs::write(&path, trace);
        let lines: Vec<&str> = trace.lines().collect();
        let mut shown = lines[..lines.len().min(SHOWN_BACKTRACE_LINES)].join("\n");
        if lines.len() > SHOWN_BACKTRACE_LINES {
            let _ = write!(shown, "\n... ({} lines in all: {})", lines.len(), path.display());
        }
        shown
    }
}

/// `thread apply all bt` of a core file, with the chroot as gdb's sysroot so Asterisk's own binary,
/// libraries and modules are the ones read.
fn core_backtrace(chroot: &Path, binary_inside: &str, core: &Path) -> String {
    let binary: PathBuf = chroot.join(binary_inside.trim_start_matches('/'));
    let mut command = gdb(chroot);
    command.arg(binary).arg(core);
    run_gdb(&mut command)
}

/// `thread apply all bt` of a running process (gdb attaches, reads, detaches; the process goes on).
fn live_backtrace(chroot: &Path, pid: u32) -> String {
    let mut command = gdb(chroot);
    command.arg("-p").arg(pid.to_string());
    run_gdb(&mut command)
}

fn gdb(chroot: &Path) -> Command {
    let mut command = Command::new("gdb");
    // The chroot's libthread_db is needed to list threads; gdb loads it only from a safe path.
    command.args(["-batch", "-nx", "-iex", "set auto-load safe-path /"]);
    command.args(["-ex", &format!("set sysroot {}", chroot.display())]);
    command.args(["-ex", "set debuginfod enabled off", "-ex", "set pagination off", "-ex", "thread apply all bt"]);
    command
}

fn run_gdb(command: &mut Command) -> String {
    if Command::new("gdb").arg("--version").output().is_err() {
        return "(gdb is not installed: `apt-get install gdb`, which tests/scripts/host-deps.sh does)".to_owned();
    }
    let output = process::run_with_timeout(command, GDB_TIMEOUT);
    // One "[New LWP n]" line per thread and per-thread register notes only crowd the stacks.
    let noise = |line: &&str| line.starts_with("[New LWP") || line.starts_with("warning: Section `.reg");
    let mut text: String = output.stdout.lines().filter(|l| !noise(l)).collect::<Vec<_>>().join("\n");
    if output.status.is_none() {
        let _ = write!(text, "\n(gdb did not finish within {GDB_TIMEOUT:?})");
    }
    // gdb's stderr is mostly warnings about missing debug symbols; keep only its last lines.
    let errors: Vec<&str> = output.stderr.lines().filter(|l| !l.contains("debug")).collect();
    for line in &errors[errors.len().saturating_sub(5)..] {
        let _ = write!(text, "\n{line}");
    }
    text
}
