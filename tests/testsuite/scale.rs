//! Scale, small enough for CI: 20,000 call files (more if the kernel's inotify queue is larger) renamed
//! into outgoing/ at once while Asterisk is stopped (SIGSTOP), so the module's inotify queue overflows
//! for certain. Every file must be attempted exactly once and finished, none may stay behind, the
//! overflow must be noticed, and the module's threads must wind down afterwards.
//!
//! Runs against pbx_spool_rs only: stock pbx_spool does not handle IN_Q_OVERFLOW (it never rescans
//! while running), so every file whose event the kernel dropped stays in outgoing/ until the next
//! restart. `bench.rs` measures that.
//!
//! The bulk helpers here (staging and renaming many files, the inotify queue limit, /proc readings)
//! are shared with the benchmark.

use std::collections::HashMap;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::harness::{Asterisk, Message, Spooler};

// ----- shared bulk helpers ----------------------------------------------------------------------

const MAX_QUEUED_EVENTS: &str = "/proc/sys/fs/inotify/max_queued_events";

/// The kernel's limit on queued events per inotify instance (`fs.inotify.max_queued_events`), copied
/// into each instance when it is created.
pub(crate) fn max_queued_events() -> usize {
    fs::read_to_string(MAX_QUEUED_EVENTS)
        .unwrap_or_else(|e| panic!("cannot read {MAX_QUEUED_EVENTS}: {e}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{MAX_QUEUED_EVENTS} is not a number: {e}"))
}

/// Stops a process with SIGSTOP while alive and lets it go on (SIGCONT) on drop, also when the test
/// panics. A stopped spooler reads no inotify event, so every event the kernel queues meanwhile stays
/// queued: more renames than the queue holds overflow it for certain, however fast the spooler is.
pub(crate) struct Stopped {
    pid: u32,
}

impl Stopped {
    pub(crate) fn stop(pid: u32) -> Stopped {
        crate::harness::process::signal(pid, libc::SIGSTOP);
        let stopped = crate::harness::wait_until(Duration::from_secs(10), || process_state(pid) == Some('T'));
        assert!(stopped, "process {pid} did not stop on SIGSTOP (state {:?})", process_state(pid));
        Stopped { pid }
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        crate::harness::process::signal(self.pid, libc::SIGCONT);
    }
}

/// The state letter of /proc/<pid>/stat (`R`, `S`, `T` for stopped, ...).
fn process_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// Whether process `pid` holds an inotify instance watching the directory `dir` (its
/// /proc/<pid>/fdinfo lists `inotify wd:.. ino:<inode, hex>`). Both spoolers add their watch right
/// after creating the instance, once Asterisk is fully booted, so this says "the spooler is live".
pub(crate) fn watches_dir(pid: u32, dir: &Path) -> bool {
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
pub(crate) fn expect_spool_watch(ast: &Asterisk) {
    let outgoing = ast.outgoing_dir();
    ast.expect_until("the spooler's inotify watch on outgoing/", Duration::from_secs(15), || {
        watches_dir(ast.pid(), &outgoing)
    });
}

/// Call files written under `<instance>/staging` (same file system as outgoing/), ready to be renamed in.
pub(crate) struct Staged {
    pub moves: Vec<(PathBuf, PathBuf)>,
}

/// Writes `count` call files `f000000.call`... into the staging directory, `contents(i)` each, dated
/// `mtime` when given (the date survives the rename).
pub(crate) fn stage(
    ast: &Asterisk,
    count: usize,
    mtime: Option<SystemTime>,
    contents: impl Fn(usize) -> String,
) -> Staged {
    let staging = ast.path("staging");
    fs::create_dir_all(&staging).unwrap_or_else(|e| panic!("cannot create {}: {e}", staging.display()));
    let outgoing = ast.outgoing_dir();
    let mut moves = Vec::with_capacity(count);
    for i in 0..count {
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
    pub(crate) fn date_all(&self, time: SystemTime) {
        for (from, _) in &self.moves {
            crate::harness::set_mtime(from, time);
        }
    }

    /// Renames every staged file into outgoing/ in a tight loop; returns how long that took.
    pub(crate) fn rename_all(&self) -> Duration {
        let started = Instant::now();
        for (from, to) in &self.moves {
            fs::rename(from, to).unwrap_or_else(|e| panic!("cannot rename {} into outgoing/: {e}", from.display()));
        }
        started.elapsed()
    }
}

/// `f000123.call`.
pub(crate) fn file_name(i: usize) -> String {
    format!("f{i:06}.call")
}

/// The file number in a `File` header (a path or a name ending in `f000123.call`).
pub(crate) fn file_number(file: &str) -> Option<usize> {
    let name = file.rsplit('/').next()?;
    name.strip_prefix('f')?.strip_suffix(".call")?.parse().ok()
}

/// Entries in `dir` right now (0 when it does not exist).
pub(crate) fn count_entries(dir: &Path) -> usize {
    fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// User + system CPU seconds the process has used so far, all its threads (live and exited) included.
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(") ").map(|(_, rest)| rest.split(' ').collect()).unwrap_or_default();
    // After "(comm) ": state is field 3, utime field 14, stime field 15 (proc(5)).
    let ticks = |index: usize| fields.get(index - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf takes a constant name and has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(14) + ticks(15)) as f64 / hz
}

/// Resident set size in bytes (/proc/<pid>/status VmRSS).
pub(crate) fn rss_bytes(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Threads of process `pid` (0 once it is gone).
pub(crate) fn threads(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/task")).map(|d| d.count()).unwrap_or(0)
}

/// Threads of process `pid` by name (/proc/<pid>/task/*/comm), most numerous first.
pub(crate) fn thread_names(pid: u32) -> Vec<(String, usize)> {
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
pub(crate) fn ami_only(ast: &Asterisk, filters: &[&str]) {
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
pub(crate) fn queued_count(ast: &Asterisk) -> Option<usize> {
    let status = ast.try_cli("spool show status", Duration::from_secs(10))?;
    status.lines().find_map(|l| l.trim_start().strip_prefix("Queued")?.split_whitespace().last()?.parse().ok())
}

// ----- the CI scale test ------------------------------------------------------------------------

/// At least this many files; more when the kernel's inotify queue is larger, so the renames always
/// overflow it.
const MIN_FILES: usize = 20_000;
/// Measured on the 2-core reference machine: about 9 s from the first rename to an empty spool (the
/// whole test takes about 20 s).
const FINISH_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the module's threads may take to return to the idle count once the spool is empty.
const THREADS_RETURN: Duration = Duration::from_secs(60);

const DIALPLAN: &str = "\
[fail]
exten => s,1,Hangup()

[warm]
exten => s,1,Hangup()
";

/// One call before the baseline is taken, so that whatever a spooler keeps after its first call (a
/// resident worker, Asterisk's lazily started pools) is part of the idle state the burst must return to.
const WARM_UP: &str = "Channel: Local/s@warm\nApplication: NoOp\nMaxRetries: 0\nArchive: no\n";

fn call_file(_: usize) -> String {
    "Channel: Local/s@fail\nApplication: NoOp\nMaxRetries: 0\nArchive: no\n".to_owned()
}

fn is_attempt(e: &Message) -> bool {
    e.is_event("SpoolAttempt")
}

fn is_finished(e: &Message) -> bool {
    e.is_event("SpoolFinished")
}

/// How many times each file number appears in events matching `predicate`.
fn per_file(events: &[Message], predicate: impl Fn(&Message) -> bool) -> HashMap<usize, usize> {
    let mut counts = HashMap::new();
    for event in events.iter().filter(|e| predicate(e)) {
        let file = event.get("File").unwrap_or_default();
        if file.ends_with("warm-up.call") {
            continue;
        }
        let number = file_number(file).unwrap_or_else(|| panic!("unexpected File {file:?} in\n{event}"));
        *counts.entry(number).or_insert(0) += 1;
    }
    counts
}

/// Files (by number, of `files`) not seen exactly once, with how often they were seen; at most a few listed.
fn not_exactly_once(counts: &HashMap<usize, usize>, files: usize) -> Vec<(usize, usize)> {
    let mut odd: Vec<(usize, usize)> =
        (0..files).map(|i| (i, counts.get(&i).copied().unwrap_or(0))).filter(|&(_, n)| n != 1).collect();
    odd.truncate(10);
    odd
}

#[test]
fn twenty_thousand_files_through_an_inotify_overflow() {
    let started = Instant::now();
    // The queue the module's inotify instance got (the limit is copied at creation; nothing here changes
    // it): renaming more files than it holds while the module cannot read overflows it for certain.
    let queue = max_queued_events();
    let files = MIN_FILES.max(queue + MIN_FILES / 5);
    let ast = Asterisk::builder(Spooler::Rust).extensions(DIALPLAN).start();
    expect_spool_watch(&ast);
    ami_only(&ast, &["Event: SpoolAttempt", "Event: SpoolFinished"]);
    let staged = stage(&ast, files, None, call_file);
    let warm_up = ast.drop_call_file("warm-up.call", WARM_UP);
    ast.expect_until("the warm-up call to finish", Duration::from_secs(10), || {
        !warm_up.exists() && ast.ami().count_events(is_finished) == 1
    });
    // Threads once the idle instance has settled (a pool winding down after the warm-up call).
    let baseline = ast.stable_thread_count(Duration::from_secs(5), Duration::from_secs(60));
    let baseline_names = thread_names(ast.pid());
    let rss_before = rss_bytes(ast.pid());

    let renamed_at = Instant::now();
    let renaming = {
        let _stopped = Stopped::stop(ast.pid());
        staged.rename_all()
    };
    let outgoing = ast.outgoing_dir();
    let mut peak_threads = 0;
    let all_done = crate::harness::wait_until(FINISH_TIMEOUT, || {
        peak_threads = peak_threads.max(threads(ast.pid()));
        // The cheap check first: listing 20,000 entries every 20 ms would compete with Asterisk.
        ast.ami().count_events(is_finished) > files && count_entries(&outgoing) == 0
    });
    let finished_in = renamed_at.elapsed();
    let left = count_entries(&outgoing);
    assert!(
        all_done,
        "after {FINISH_TIMEOUT:?}: {left} files left in outgoing/, {} of {files} finished\n{}",
        ast.ami().count_events(is_finished) - 1,
        ast.diagnostics()
    );

    // Exactly once: no file attempted twice (a rescan racing the events) or finished twice.
    let events = ast.ami().events();
    let attempts = per_file(&events, is_attempt);
    let finishes = per_file(&events, is_finished);
    assert_eq!(not_exactly_once(&attempts, files), vec![], "files attempted other than once (file, attempts)");
    assert_eq!(not_exactly_once(&finishes, files), vec![], "files finished other than once (file, finishes)");
    let expired = events.iter().filter(|e| is_finished(e) && e.has("Status", "Expired")).count();
    assert_eq!(
        expired,
        files + 1,
        "every file (and the warm-up) fails once and expires (MaxRetries 0)\n{}",
        ast.diagnostics()
    );
    // The log says the same, independently of the AMI.
    let attempted = ast.log_lines_with(&["Attempting call on Local/s@fail"]).len();
    assert_eq!(attempted, files, "`Attempting call` log lines\n{}", ast.diagnostics());
    assert_eq!(count_entries(&ast.outgoing_done_dir()), 0, "Archive: no must archive nothing");
    let overflows = ast.log_lines_with(&["inotify queue overflowed"]).len();
    assert!(
        overflows > 0,
        "{files} renames while the module was stopped did not overflow a queue of {queue}, or the overflow \
         was not noticed\n{}",
        ast.diagnostics()
    );

    // Everything the burst started winds down: a pool may keep idle workers for a while, not for ever.
    let rss_after = rss_bytes(ast.pid());
    let returned = crate::harness::wait_until(THREADS_RETURN, || ast.thread_count() == baseline);
    let after = ast.thread_count();
    eprintln!(
        "scale: {files} files renamed in {renaming:.2?}, all finished {finished_in:.2?} after the first rename \
         (test running {:.2?}); {overflows} overflow(s); threads {baseline} idle, {peak_threads} peak, {after} \
         after; RSS {} -> {} MiB",
        started.elapsed(),
        rss_before >> 20,
        rss_after >> 20
    );
    assert!(
        returned,
        "threads did not return to the idle count ({baseline}) within {THREADS_RETURN:?} after the burst: {after}\n\
         idle, by name: {baseline_names:?}\nafter, by name: {:?}\n{}",
        thread_names(ast.pid()),
        ast.diagnostics()
    );
    ast.assert_alive();
}
