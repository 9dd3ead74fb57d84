//! Child processes the harness starts: spawning them so they die with the test, running short commands
//! under a deadline, and ending only processes we started, by pid.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::wait::POLL;

/// Makes `command` receive SIGKILL when the thread that spawns it dies (Linux ties PDEATHSIG to the
/// spawning thread, which for libtest is the test's own thread), so an aborted test takes its
/// processes with it.
pub fn die_with_parent(command: &mut Command) -> &mut Command {
    // SAFETY: the closure runs in the forked child before exec and only calls prctl(2), which is async-signal-safe; it touches no memory shared with the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// Outcome of [`run_with_timeout`].
pub struct Output {
    /// None when the command was killed at the deadline, or never started.
    pub status: Option<ExitStatus>,
    /// Why the command could not be started at all.
    pub not_started: Option<String>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` to completion or until `timeout`, whichever comes first; on timeout the child is
/// killed (by its pid: it is ours) and reaped. Output is collected by reader threads so a chatty child
/// cannot block on a full pipe. A command that cannot be started (no free pid while an Asterisk holds
/// tens of thousands of threads, say) comes back with no status and the reason in `not_started`, not as
/// a panic: teardown must still reach its signals by pid.
pub fn run_with_timeout(command: &mut Command, timeout: Duration) -> Output {
    let spawned = die_with_parent(command).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let why = format!("cannot spawn {command:?}: {e}");
            return Output { status: None, not_started: Some(why.clone()), stdout: String::new(), stderr: why };
        }
    };
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait_child(&mut child, timeout);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    Output {
        status,
        not_started: None,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits until `child` exits or `timeout` passes; returns its status if it exited.
pub fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
            Ok(None) => return None,
            Err(e) => panic!("waiting for child {}: {e}", child.id()),
        }
    }
}

/// Sends `signal` to `pid`, a process this harness started and has not reaped (so its pid cannot have been
/// reused: an unreaped child keeps its pid). Errors (already gone) are ignored. For a process that is not
/// our direct child, use a [`ProcessHandle`].
pub fn signal(pid: u32, signal: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    if pid <= 0 {
        return;
    }
    // SAFETY: kill(2) takes plain integers; a positive pid names exactly one process.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// A process this harness started but did not spawn directly (Asterisk is the child of `unshare`), held by
/// a pidfd. A bare pid is not enough to signal it or to ask whether it lives: once the process is gone its
/// pid is free, and with `kernel.pid_max` at 32768 (this machine's default) and thread ids drawn from the same
/// space, a busy test run hands it to another test's process or thread within seconds. `kill` on that pid
/// would then end a stranger (a thread id names its whole process to `kill`), and `/proc/<pid>` would say
/// "alive" for it. A pidfd names exactly the process it was opened for, for as long as it is held.
pub struct ProcessHandle {
    fd: std::os::fd::OwnedFd,
    pid: u32,
}

impl ProcessHandle {
    /// Opens a pidfd for `pid` and checks that it is the child of `parent` (so that it is ours, not a pid
    /// reused since we read it from a pid file); Err with the reason otherwise.
    pub fn open_child_of(pid: u32, parent: u32) -> Result<ProcessHandle, String> {
        let raw_pid = libc::pid_t::try_from(pid).map_err(|_| format!("pid {pid} out of range"))?;
        // SAFETY: pidfd_open(2) takes a pid and flags and returns a new descriptor or -1; no memory is shared.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, raw_pid, 0) };
        if fd < 0 {
            return Err(format!("pidfd_open({pid}): {}", std::io::Error::last_os_error()));
        }
        let fd = std::os::fd::RawFd::try_from(fd).map_err(|_| format!("pidfd {fd} out of range"))?;
        // SAFETY: `fd` was just returned by pidfd_open, is open, and is owned by nobody else.
        let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let handle = ProcessHandle { fd, pid };
        // The pidfd pins the process it was opened for; if that process is alive after the parent check,
        // the check was about it.
        let actual_parent = parent_pid(pid);
        if actual_parent != Some(parent) || !handle.is_alive() {
            return Err(format!("pid {pid} is not the child of {parent} (its parent: {actual_parent:?})"));
        }
        Ok(handle)
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// A second handle on the same process (a duplicated pidfd), usable after the first is gone.
    pub fn try_clone(&self) -> std::io::Result<ProcessHandle> {
        Ok(ProcessHandle { fd: self.fd.try_clone()?, pid: self.pid })
    }

    /// Whether the process has not exited yet (a pidfd becomes readable when it exits).
    pub fn is_alive(&self) -> bool {
        let mut poll = libc::pollfd { fd: std::os::fd::AsRawFd::as_raw_fd(&self.fd), events: libc::POLLIN, revents: 0 };
        // SAFETY: `poll` is one valid pollfd on our stack for the duration of the call; timeout 0 never blocks.
        let ready = unsafe { libc::poll(&mut poll, 1, 0) };
        ready == 0
    }

    /// Sends `signal` to exactly this process; false if it has exited already.
    pub fn signal(&self, signal: libc::c_int) -> bool {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&self.fd);
        let no_info = std::ptr::null::<libc::siginfo_t>();
        // SAFETY: pidfd_send_signal(2) with our open pidfd, a signal number, a null siginfo and no flags.
        let rc = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd, signal, no_info, 0) };
        rc == 0
    }
}

/// The parent pid of `pid` from /proc, if it exists.
fn parent_pid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state, ppid, ...
    stat[stat.rfind(')')? + 1..].split_whitespace().nth(1)?.parse().ok()
}

/// How a process ended, in words: its exit code or the signal that killed it. (Whether it dumped core is
/// not said: for Asterisk this is unshare's status, which re-raises Asterisk's signal without a core.)
pub fn describe_exit(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => {
            // SAFETY: strsignal returns a pointer to a static or thread-local string for any signal number.
            let name = unsafe { std::ffi::CStr::from_ptr(libc::strsignal(signal)) }.to_string_lossy().into_owned();
            format!("killed by signal {signal} ({name})")
        }
        _ => format!("ended ({status:?})"),
    }
}

/// Whether `pid` is a live process: it exists and is not a zombie waiting to be reaped (a reparented
/// zombie may linger if the machine's pid 1 does not reap, but it is no longer running).
pub fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the parenthesised command name, which may contain spaces.
        Ok(stat) => match stat.rfind(')') {
            Some(end) => !matches!(stat[end + 1..].trim_start().chars().next(), Some('Z' | 'X')),
            None => true,
        },
        Err(_) => false,
    }
}
