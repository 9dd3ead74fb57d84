//! Helpers for tests and benchmarks that move many call files at once: staging and renaming them into
//! outgoing/, stopping Asterisk so the kernel's inotify queue overflows for certain, the spooler's
//! inotify watch, and /proc readings (CPU, RSS, threads). Used by the scale test and the benchmark.

use std::collections::HashMap;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::{Asterisk, Message};

const MAX_QUEUED_EVENTS: &str = "/proc/sys/fs/inotify/max_queued_events";

/// The kernel's limit on queued events per inotify instance (`fs.inotify.max_queued_events`), copied
/// into each instance when it is created.
pub fn max_queued_events() -> usize {
    fs::read_to_string(MAX_QUEUED_EVENTS)
        .unwrap_or_else(|e| panic!("cannot read {MAX_QUEUED_EVENTS}: {e}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{MAX_QUEUED_EVENTS} is not a number: {e}"))
}

/// Stops a process with SIGSTOP while alive and lets it go on (SIGCONT) on drop, also when the test
/// panics. A stopped spooler reads no inotify event, so every event the kernel queues meanwhile stays
/// queued: more renames than the queue holds overflow it for certain, however fast the spooler is.
pub struct Stopped {
    pid: u32,
}

impl Stopped {
    pub fn stop(pid: u32) -> Stopped {
        super::process::signal(pid, libc::SIGSTOP);
        let stopped = super::wait_until(Duration::from_secs(10), || process_state(pid) == Some('T'));
        assert!(stopped, "process {pid} did not stop on SIGSTOP (state {:?})", process_state(pid));
        Stopped { pid }
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        super::process::signal(self.pid, libc::SIGCONT);
    }
}

/// The state letter of `/proc/<pid>/stat` (`R`, `S`, `T` for stopped, ...).
fn process_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// Whether process `pid` holds an inotify instance watching the directory `dir` (its
/// `/proc/<pid>/fdinfo` lists `inotify wd:.. ino:<inode, hex>`). Both spoolers add their watch right
/// after creating the instance, once Asterisk is fully booted, so this says "the spooler is live".
pub fn watches_dir(pid: u32, dir: &Path) -> bool {
    let Ok(meta) = fs::metadata(dir) else {
        return false;
    };
    let needle = format!(" ino:{:x} ", meta.ino());
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        let is_inotify = fs::read_link(fd.path()).is_ok_and(|t| t.to_string_lossy().contains("inotify"));
        is_inotify
            && fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy()))
                .is_ok_and(|info| info.lines().any(|l| l.starts_with("inotify ") && l.contains(&needle)))
    })
}

/// Waits until the instance's spooler watches outgoing/, panicking with diagnostics otherwise.
pub fn expect_spool_watch(ast: &Asterisk) {
    let outgoing = ast.outgoing_dir();
    ast.expect_until("the spooler's inotify watch on outgoing/", Duration::from_secs(15), || {
        watches_dir(ast.pid(), &outgoing)
    });
}

/// Call files written under [`Asterisk::staging_dir`] (same file system as outgoing/), ready to be renamed in.
pub struct Staged {
    pub moves: Vec<(PathBuf, PathBuf)>,
}

/// Writes `count` call files `f000000.call`... into the staging directory, `contents(i)` each, dated
/// `mtime` when given (the date survives the rename).
pub fn stage(ast: &Asterisk, count: usize, mtime: Option<SystemTime>, contents: impl Fn(usize) -> String) -> Staged {
    stage_range(ast, 0..count, mtime, contents)
}

/// As [`stage`], for the file numbers in `numbers` only.
pub fn stage_range(
    ast: &Asterisk,
    numbers: std::ops::Range<usize>,
    mtime: Option<SystemTime>,
    contents: impl Fn(usize) -> String,
) -> Staged {
    let count = numbers.len();
    let staging = ast.staging_dir();
    fs::create_dir_all(&staging).unwrap_or_else(|e| panic!("cannot create {}: {e}", staging.display()));
    let outgoing = ast.outgoing_dir();
    let mut moves = Vec::with_capacity(count);
    for i in numbers {
        let name = file_name(i);
        let from = staging.join(&name);
        let mut file = fs::File::create(&from).unwrap_or_else(|e| panic!("cannot create {}: {e}", from.display()));
        file.write_all(contents(i).as_bytes()).unwrap_or_else(|e| panic!("cannot write {}: {e}", from.display()));
        if let Some(time) = mtime {
            file.set_times(fs::FileTimes::new().set_modified(time).set_accessed(time))
                .unwrap_or_else(|e| panic!("cannot date {}: {e}", from.display()));
        }
        moves.push((from, outgoing.join(name)));
    }
    Staged { moves }
}

impl Staged {
    /// Dates every staged file `time` (the date survives the rename).
    pub fn date_all(&self, time: SystemTime) {
        for (from, _) in &self.moves {
            super::set_mtime(from, time);
        }
    }

    /// Renames the `index`th staged file into outgoing/ (none when there are fewer).
    pub fn rename_one(&self, index: usize) {
        if let Some((from, to)) = self.moves.get(index) {
            fs::rename(from, to).unwrap_or_else(|e| panic!("cannot rename {} into outgoing/: {e}", from.display()));
        }
    }

    /// Renames every staged file into outgoing/ in a tight loop; returns how long that took.
    pub fn rename_all(&self) -> Duration {
        let started = Instant::now();
        for (from, to) in &self.moves {
            fs::rename(from, to).unwrap_or_else(|e| panic!("cannot rename {} into outgoing/: {e}", from.display()));
        }
        started.elapsed()
    }
}

/// `f000123.call`.
pub fn file_name(i: usize) -> String {
    format!("f{i:06}.call")
}

/// The file number in a `File` header (a path or a name ending in `f000123.call`).
pub fn file_number(file: &str) -> Option<usize> {
    let name = file.rsplit('/').next()?;
    name.strip_prefix('f')?.strip_suffix(".call")?.parse().ok()
}

/// Entries in `dir` right now (0 when it does not exist).
pub fn count_entries(dir: &Path) -> usize {
    fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// User + system CPU seconds the process has used so far, all its threads (live and exited) included.
pub fn cpu_seconds(pid: u32) -> f64 {
    stat_cpu_seconds(&fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default())
}

/// CPU seconds (user + system) of the process's live threads named `name` (as `pthread_setname_np` set
/// it: at most 15 bytes), summed; 0 when none is.
pub fn thread_cpu_seconds(pid: u32, name: &str) -> f64 {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else { return 0.0 };
    tasks
        .flatten()
        .filter(|task| fs::read_to_string(task.path().join("comm")).is_ok_and(|comm| comm.trim_end() == name))
        .map(|task| stat_cpu_seconds(&fs::read_to_string(task.path().join("stat")).unwrap_or_default()))
        .sum()
}

/// utime + stime of a `/proc/.../stat` line, in seconds.
fn stat_cpu_seconds(stat: &str) -> f64 {
    let fields: Vec<&str> = stat.rsplit_once(") ").map(|(_, rest)| rest.split(' ').collect()).unwrap_or_default();
    // After "(comm) ": state is field 3, utime field 14, stime field 15 (proc(5)).
    let ticks = |index: usize| fields.get(index - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf takes a constant name and has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(14) + ticks(15)) as f64 / hz
}

/// Resident set size in bytes (`/proc/<pid>/status` VmRSS).
pub fn rss_bytes(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Threads of process `pid` (0 once it is gone).
pub fn threads(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/task")).map(|d| d.count()).unwrap_or(0)
}

/// Threads of process `pid` by name (`/proc/<pid>/task/*/comm`), most numerous first.
pub fn thread_names(pid: u32) -> Vec<(String, usize)> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for task in fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
        let name = fs::read_to_string(task.path().join("comm")).unwrap_or_default().trim().to_owned();
        *counts.entry(name).or_insert(0) += 1;
    }
    let mut counts: Vec<(String, usize)> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts
}

/// Restricts this AMI session to the events whose text matches one of `filters` (regexes such as
/// `Event: SpoolAttempt`): tens of thousands of calls raise millions of channel events otherwise, all
/// kept in the harness's history. An empty list turns events off.
pub fn ami_only(ast: &Asterisk, filters: &[&str]) {
    let timeout = Duration::from_secs(10);
    if filters.is_empty() {
        let reply = ast.ami().action("Events", &[("EventMask", "off")], timeout);
        assert!(reply.has("Response", "Success"), "Events off refused:\n{reply}");
        return;
    }
    for filter in filters {
        let reply = ast.ami().action("Filter", &[("Operation", "Add"), ("Filter", filter)], timeout);
        assert!(reply.has("Response", "Success"), "AMI Filter {filter:?} refused:\n{reply}");
    }
}

/// The `Queued (waiting for their time)` count of pbx_spool_rs's `spool show status`.
pub fn queued_count(ast: &Asterisk) -> Option<usize> {
    let status = ast.try_cli("spool show status", Duration::from_secs(10))?;
    status.lines().find_map(|l| l.trim_start().strip_prefix("Queued")?.split_whitespace().last()?.parse().ok())
}

/// How many of `events` match `predicate`, per file number (their `File:`, named by [`file_name`]); an
/// event about any other file panics with it.
pub fn per_file<'a>(
    events: impl IntoIterator<Item = &'a Message>,
    predicate: impl Fn(&Message) -> bool,
) -> HashMap<usize, usize> {
    let mut counts = HashMap::new();
    for event in events.into_iter().filter(|e| predicate(e)) {
        let file = event.get("File").unwrap_or_default();
        let number = file_number(file).unwrap_or_else(|| panic!("unexpected File {file:?} in\n{event}"));
        *counts.entry(number).or_insert(0) += 1;
    }
    counts
}

/// Files (by number, of `files`) not seen exactly once in `counts` (times seen per file number), with how
/// often they were seen; at most ten listed.
pub fn not_exactly_once(counts: &HashMap<usize, usize>, files: usize) -> Vec<(usize, usize)> {
    let mut odd: Vec<(usize, usize)> =
        (0..files).map(|i| (i, counts.get(&i).copied().unwrap_or(0))).filter(|&(_, n)| n != 1).collect();
    odd.truncate(10);
    odd
}
