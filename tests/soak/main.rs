//! The soak test (`#[ignore]`, not in CI; `make soak`): one Asterisk running pbx_spool_rs receives a
//! steady stream of call files for `SOAK_MINUTES` (default 30) while random faults hit it: `module
//! unload`/`load` (an unload refused while calls are in progress is documented; it is retried),
//! `module reload`, files written in place (some in two chunks), future-dated files deleted while
//! queued, and Asterisk restarted on the same spool by `core stop now` or `kill -9`. The PRNG is seeded
//! (`SOAK_SEED`, else the clock) and the seed is printed.
//!
//! Every file written is kept in a ledger. What happened to it is counted from four sources, because
//! AMI events die with the connection at a restart: the `messages` log of every run (kept as
//! `log-run<N>/` by [`Asterisk::restart`]), the far ends' `lib/far.log` (written by `FILE()` as each
//! attempt reaches them, so it survives `kill -9`), the archived file in `outgoing_done/` (every file says
//! `Archive: yes`, so its bookkeeping lines and `Status:` are on disk) and the AMI events of each run.
//! The end is an exact account table and the invariants: every file not deleted finished exactly once
//! (a file in flight at a restart is answered by `AbortRetry` and retried; that is accounted for),
//! nothing is left in `outgoing/`, no file is dialled more often than it allows (+1 per aborted
//! attempt), and the thread count of the idle Asterisk is back to its baseline. Attempts that a
//! `core stop now` hangs up or refuses ("Refusing due to active shutdown") are failed attempts, as
//! under pbx_spool; the account shows them (`shut`) and the exact per-file attempt counts exempt them.
//! Run it on a quiet machine: tests that fill the host's pid space make thread creation fail.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use harness::files::marks;
use harness::{wait_stable, wait_until, Asterisk, Message, Spooler, RUST_SO};

/// Where the far ends report (`${SOAKN}` is the file's number, set by the call file).
const DIALPLAN: &str = r#"
[soak-answer]
exten => _X.,1,Set(FILE(${ASTVARLIBDIR}/far.log,,,al,u)=Begin ${SOAKN} ${AST_OUTGOING_ATTEMPT})
 same => n,UserEvent(SoakBegin,N: ${SOAKN},Attempt: ${AST_OUTGOING_ATTEMPT})
 same => n,Wait(${RING})
 same => n,Answer()
 same => n,Wait(30)

[soak-busy]
exten => _X.,1,Set(FILE(${ASTVARLIBDIR}/far.log,,,al,u)=Begin ${SOAKN} ${AST_OUTGOING_ATTEMPT})
 same => n,UserEvent(SoakBegin,N: ${SOAKN},Attempt: ${AST_OUTGOING_ATTEMPT})
 same => n,Busy()

; Never answers: the call file's WaitTime ends the attempt.
[soak-ringout]
exten => _X.,1,Set(FILE(${ASTVARLIBDIR}/far.log,,,al,u)=Begin ${SOAKN} ${AST_OUTGOING_ATTEMPT})
 same => n,UserEvent(SoakBegin,N: ${SOAKN},Attempt: ${AST_OUTGOING_ATTEMPT})
 same => n,Wait(60)

; Where answered calls are connected.
[soak-done]
exten => s,1,UserEvent(SoakDone,N: ${SOAKN})
 same => n,Wait(${HOLD})
 same => n,Hangup()
"#;

/// Module warnings the stream provokes on purpose (the invalid files' companion line).
const EXPECTED_WARNINGS: &[&str] = &["At least one of app or extension must be specified"];

/// File numbers start here (the far ends' `_X.` pattern wants two digits or more).
const FIRST_NUMBER: u64 = 100_001;

// ----- a small seeded PRNG (splitmix64): no dependency, reproducible from the printed seed -------

struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(self.range(lo, hi))
    }
}

// ----- the ledger ---------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// Answered after 0-2 s of ringing, up to 2 s of call.
    Answered,
    /// Busy at every attempt: MaxRetries 1-2, RetryTime 1-3.
    Busy,
    /// Rings until WaitTime (2 s) at every attempt: MaxRetries 1-2, RetryTime 1-3.
    RingOut,
    /// Answered, dated 5-60 s ahead (some deleted while queued).
    Future,
    /// No destination or no channel: `Invalid file contents`.
    Invalid,
    /// `PJSIP/<n>@trunk`: refused by the first-leg policy.
    Rejected,
}

const KINDS: [Kind; 6] = [Kind::Answered, Kind::Busy, Kind::RingOut, Kind::Future, Kind::Invalid, Kind::Rejected];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Answered => "answered",
            Kind::Busy => "busy",
            Kind::RingOut => "ring-out",
            Kind::Future => "future",
            Kind::Invalid => "invalid",
            Kind::Rejected => "rejected",
        }
    }

    /// The final statuses (log / AMI wording) allowed, given whether an attempt was aborted by a
    /// restart (an aborted attempt counts as made, so an answered file may run out of attempts).
    fn allowed_statuses(self, aborted: bool) -> &'static [&'static str] {
        match (self, aborted) {
            (Kind::Answered | Kind::Future, false) => &["Completed"],
            (Kind::Answered | Kind::Future, true) => &["Completed", "Expired"],
            (Kind::Busy | Kind::RingOut, _) => &["Expired"],
            (Kind::Invalid, _) => &["Failed"],
            (Kind::Rejected, _) => &["Rejected"],
        }
    }

    fn dials(self) -> bool {
        !matches!(self, Kind::Invalid | Kind::Rejected)
    }
}

/// `Status:` of the archived file for a log/AMI status (pbx_spool knows no "Rejected").
fn archive_status(status: &str) -> &str {
    if status == "Rejected" {
        "Failed"
    } else {
        status
    }
}

#[derive(Clone, Debug)]
struct Entry {
    n: u64,
    kind: Kind,
    max_retries: u32,
    in_place: bool,
    chunked: bool,
    written: Instant,
    /// For future-dated files: the mtime written.
    due: Option<SystemTime>,
    deleted: bool,
}

impl Entry {
    fn name(&self) -> String {
        format!("soak-{}.call", self.n)
    }

    /// Attempts the file may make (without aborted ones).
    fn allowed_attempts(&self) -> usize {
        if self.kind.dials() {
            self.max_retries as usize + 1
        } else {
            0
        }
    }
}

/// What the writer does, and the call file text.
fn call_file(rng: &mut Rng, n: u64, kind: Kind) -> (String, u32) {
    let tenths = |rng: &mut Rng, max: u64| {
        let t = rng.range(0, max * 10);
        format!("{}.{}", t / 10, t % 10)
    };
    match kind {
        Kind::Answered | Kind::Future => {
            let max_retries = rng.range(0, 2) as u32;
            let text = format!(
                "Channel: Local/{n}@soak-answer\nContext: soak-done\nExtension: s\nPriority: 1\n\
                 MaxRetries: {max_retries}\nRetryTime: {}\nSet: RING={}\nSet: HOLD={}\nSet: SOAKN={n}\nArchive: yes\n",
                rng.range(1, 3),
                tenths(rng, 2),
                tenths(rng, 2)
            );
            (text, max_retries)
        }
        Kind::Busy | Kind::RingOut => {
            let max_retries = rng.range(1, 2) as u32;
            let (far, wait) = if kind == Kind::Busy { ("soak-busy", "") } else { ("soak-ringout", "WaitTime: 2\n") };
            let text = format!(
                "Channel: Local/{n}@{far}\nContext: soak-done\nExtension: s\n{wait}MaxRetries: {max_retries}\n\
                 RetryTime: {}\nSet: SOAKN={n}\nSet: HOLD=0\nArchive: yes\n",
                rng.range(1, 3)
            );
            (text, max_retries)
        }
        Kind::Invalid => {
            let text = match rng.range(0, 2) {
                0 => format!("Channel: Local/{n}@soak-answer\nSet: SOAKN={n}\nArchive: yes\n"),
                1 => format!("Context: soak-done\nExtension: s\nSet: SOAKN={n}\nArchive: yes\n"),
                _ => format!("Channel: Local/{n}@soak-answer\nApplication:\nthis is not a call file\nSet: SOAKN={n}\nArchive: yes\n"),
            };
            (text, 0)
        }
        Kind::Rejected => {
            (format!("Channel: PJSIP/{n}@trunk\nContext: soak-done\nExtension: s\nSet: SOAKN={n}\nArchive: yes\n"), 0)
        }
    }
}

fn pick_kind(rng: &mut Rng) -> Kind {
    // answered 35, busy 13, ring-out 10, future 22, invalid 10, rejected 10
    match rng.range(0, 99) {
        0..=34 => Kind::Answered,
        35..=47 => Kind::Busy,
        48..=57 => Kind::RingOut,
        58..=79 => Kind::Future,
        80..=89 => Kind::Invalid,
        _ => Kind::Rejected,
    }
}

/// The writer thread's shared state.
struct Stream {
    ledger: Mutex<Vec<Entry>>,
    stop: AtomicBool,
    /// Held by the writer while it writes a file in place, and by the fault thread around anything that
    /// makes the module scan the directory (load, boot): a scan can read a file half-written in place,
    /// under pbx_spool as well, which is why careful tools rename. The writer renames while it is held.
    in_place_gate: Mutex<()>,
    /// Problems the writer saw (a future-dated file gone before its time).
    problems: Mutex<Vec<String>>,
    spool: PathBuf,
    outgoing: PathBuf,
}

/// Sets the stop flag when dropped, so a panicking fault thread does not leave the writer running.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn set_times(file: &fs::File, time: SystemTime) -> std::io::Result<()> {
    file.set_times(fs::FileTimes::new().set_modified(time).set_accessed(time))
}

fn writer(stream: &Stream, mut rng: Rng, until: Instant) {
    let mut n = FIRST_NUMBER;
    while Instant::now() < until && !stream.stop.load(Ordering::SeqCst) {
        std::thread::sleep(rng.millis(200, 1400));
        if rng.chance(0.10) {
            delete_a_queued_future_file(stream, &mut rng);
        }
        let kind = pick_kind(&mut rng);
        let (text, max_retries) = call_file(&mut rng, n, kind);
        let due = (kind == Kind::Future).then(|| SystemTime::now() + Duration::from_secs(rng.range(5, 60)));
        let name = format!("soak-{n}.call");
        let target = stream.outgoing.join(&name);
        let want_in_place = rng.chance(0.25);
        let chunked = rng.chance(0.5);
        let pause = rng.millis(20, 300);
        let gate = if want_in_place { stream.in_place_gate.try_lock().ok() } else { None };
        let in_place = gate.is_some();
        let written = Instant::now();
        if in_place {
            let mut file = fs::File::create(&target).unwrap_or_else(|e| panic!("create {}: {e}", target.display()));
            let bytes = text.as_bytes();
            if chunked {
                let half = bytes.len() / 2;
                file.write_all(&bytes[..half]).expect("write");
                std::thread::sleep(pause);
                file.write_all(&bytes[half..]).expect("write");
            } else {
                file.write_all(bytes).expect("write");
            }
            if let Some(due) = due {
                set_times(&file, due).expect("set mtime");
            }
            drop(file);
        } else {
            let tmp = stream.spool.join(format!("soak-tmp-{n}"));
            let mut file = fs::File::create(&tmp).unwrap_or_else(|e| panic!("create {}: {e}", tmp.display()));
            file.write_all(text.as_bytes()).expect("write");
            if let Some(due) = due {
                set_times(&file, due).expect("set mtime");
            }
            drop(file);
            fs::rename(&tmp, &target).unwrap_or_else(|e| panic!("rename into {}: {e}", target.display()));
        }
        drop(gate);
        stream.ledger.lock().unwrap().push(Entry {
            n,
            kind,
            max_retries,
            in_place,
            chunked: in_place && chunked,
            written,
            due,
            deleted: false,
        });
        n += 1;
    }
}

/// Deletes one future-dated file due more than 3 s from now, if there is one.
fn delete_a_queued_future_file(stream: &Stream, rng: &mut Rng) {
    let margin = SystemTime::now() + Duration::from_secs(3);
    let mut ledger = stream.ledger.lock().unwrap();
    let candidates: Vec<usize> = ledger
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.deleted && e.due.is_some_and(|d| d > margin))
        .map(|(i, _)| i)
        .collect();
    if candidates.is_empty() {
        return;
    }
    let i = candidates[rng.range(0, candidates.len() as u64 - 1) as usize];
    let path = stream.outgoing.join(ledger[i].name());
    match fs::remove_file(&path) {
        Ok(()) => ledger[i].deleted = true,
        Err(e) => stream.problems.lock().unwrap().push(format!(
            "{}: future-dated file (due in {:?}) could not be deleted while queued: {e}",
            ledger[i].name(),
            ledger[i].due.unwrap().duration_since(SystemTime::now()).unwrap_or_default()
        )),
    }
}

// ----- runs of Asterisk ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    StopNow,
    Kill9,
    Last,
}

/// One Asterisk process on the instance directory.
struct Run {
    pid: u32,
    started: Instant,
    ended: Option<Instant>,
    end: End,
    /// Its `messages` (moved to `log-run<N>/` when the next run starts).
    log: PathBuf,
    events: Vec<Message>,
    threads_start: usize,
    threads_max: usize,
    threads_end: usize,
    /// Most `pbx_spool_rs worker` threads seen at once.
    workers_max: usize,
    /// Most tasks on the whole host (other tests share it: near pid_max, thread creation fails).
    host_tasks_max: usize,
    rss_start: u64,
    rss_max: u64,
    rss_end: u64,
}

impl Run {
    fn begin(ast: &Asterisk) -> Run {
        let pid = ast.pid();
        let (threads, rss) = (threads(pid), rss_kb(pid));
        Run {
            pid,
            started: Instant::now(),
            ended: None,
            end: End::Last,
            log: ast.log_path(),
            events: Vec::new(),
            threads_start: threads,
            threads_max: threads,
            threads_end: 0,
            workers_max: 0,
            host_tasks_max: host_tasks(),
            rss_start: rss,
            rss_max: rss,
            rss_end: 0,
        }
    }

    fn sample(&mut self) {
        let (t, r) = (threads(self.pid), rss_kb(self.pid));
        self.threads_max = self.threads_max.max(t);
        let workers = thread_names(self.pid).get(WORKER_COMM).copied().unwrap_or(0);
        self.workers_max = self.workers_max.max(workers);
        self.host_tasks_max = self.host_tasks_max.max(host_tasks());
        self.rss_max = self.rss_max.max(r);
    }

    fn abrupt(&self) -> bool {
        matches!(self.end, End::StopNow | End::Kill9)
    }
}

/// The module's worker threads as /proc shows them (comm is cut at 15 bytes).
const WORKER_COMM: &str = "pbx_spool_rs wo";

/// Tasks (threads) on the whole host: the total in /proc/loadavg's `running/total` field.
fn host_tasks() -> usize {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().nth(3)?.split_once('/')?.1.parse().ok())
        .unwrap_or(0)
}

fn threads(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/task")).map(|d| d.count()).unwrap_or(0)
}

fn thread_names(pid: u32) -> BTreeMap<String, usize> {
    let mut names = BTreeMap::new();
    if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let name = fs::read_to_string(task.path().join("comm")).unwrap_or_default().trim().to_owned();
            *names.entry(name).or_insert(0) += 1;
        }
    }
    names
}

fn rss_kb(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Only the events the account needs: tens of thousands of channel events otherwise pile up in the
/// harness's history.
fn filter_ami(ast: &Asterisk) {
    for filter in ["Event: SpoolAttempt", "Event: SpoolFinished", "Event: UserEvent"] {
        let reply = ast.ami().action("Filter", &[("Operation", "Add"), ("Filter", filter)], Duration::from_secs(10));
        assert!(reply.has("Response", "Success"), "AMI Filter {filter:?} refused:\n{reply}");
    }
}

#[derive(Default)]
struct FaultCounts {
    unloads: usize,
    unload_refusals: usize,
    unload_gave_up: usize,
    loads: usize,
    reloads: usize,
    stop_now: usize,
    kill9: usize,
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    UnloadLoad,
    Reload,
    StopNow,
    Kill9,
}

/// `module unload` (retried while refused for calls in progress), a pause, `module load`.
fn unload_load(ast: &Asterisk, rng: &mut Rng, stream: &Stream, counts: &mut FaultCounts, problems: &mut Vec<String>) {
    let _gate = stream.in_place_gate.lock().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let unloaded = loop {
        let mark = ast.log_mark();
        let out = ast.cli(&format!("module unload {RUST_SO}"));
        if !ast.module_loaded(RUST_SO) {
            break true;
        }
        if ast.wait_for_log_since(mark, "still in progress; not unloading", Duration::from_secs(2)) {
            counts.unload_refusals += 1;
        } else {
            problems.push(format!("module unload neither unloaded nor gave the documented refusal: {out:?}"));
        }
        if Instant::now() > deadline {
            counts.unload_gave_up += 1;
            break false;
        }
        std::thread::sleep(rng.millis(300, 1500));
    };
    if !unloaded {
        return;
    }
    counts.unloads += 1;
    std::thread::sleep(rng.millis(1000, 5000));
    let out = ast.cli(&format!("module load {RUST_SO}"));
    counts.loads += 1;
    ast.expect_until(&format!("{RUST_SO} Running after `module load` ({out:?})"), Duration::from_secs(10), || {
        ast.module_running(RUST_SO)
    });
    // The scan at load: no in-place write until it is surely over.
    std::thread::sleep(Duration::from_secs(1));
}

/// Stops Asterisk (`core stop now` or `kill -9`) and boots it again on the same directory.
fn restart(ast: &mut Asterisk, how: End, runs: &mut Vec<Run>, stream: &Stream, problems: &mut Vec<String>) {
    let _gate = stream.in_place_gate.lock().unwrap();
    let run = runs.last_mut().expect("a run");
    run.sample();
    run.threads_end = threads(run.pid);
    run.rss_end = rss_kb(run.pid);
    match how {
        End::Kill9 => ast.crash(),
        End::StopNow => {
            let _ = ast.try_cli("core stop now", Duration::from_secs(15));
            if !wait_until(Duration::from_secs(20), || !ast.is_alive()) {
                problems.push(format!("pid {}: still alive 20 s after `core stop now`", run.pid));
            }
        }
        End::Last => unreachable!(),
    }
    wait_until(Duration::from_secs(5), || ast.ami().closed().is_some());
    run.events = ast.ami().events();
    run.ended = Some(Instant::now());
    run.end = how;
    run.log = ast.restart();
    filter_ami(ast);
    runs.push(Run::begin(ast));
    std::thread::sleep(Duration::from_secs(1));
}

// ----- reading what happened ----------------------------------------------------------------------

/// The number right after `prefix` in `text`.
fn number_after(text: &str, prefix: &str) -> Option<u64> {
    let start = text.find(prefix)? + prefix.len();
    let digits: String = text[start..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A finish line of the log: the file's number and its status.
fn finish_line(line: &str) -> Option<(u64, &'static str)> {
    if let Some(n) = number_after(line, "Call completed to Local/") {
        return Some((n, "Completed"));
    }
    if line.contains("expired without completion") {
        return number_after(line, "Queued call to Local/").map(|n| (n, "Expired"));
    }
    if let Some(at) = line.find("Rejected /") {
        return number_after(&line[at..], "/outgoing/soak-").map(|n| (n, "Rejected"));
    }
    if let Some(at) = line.find("Invalid file contents in ") {
        return number_after(&line[at..], "/outgoing/soak-").map(|n| (n, "Failed"));
    }
    None
}

/// An attempt started this long before a `core stop now` may still be ringing when the shutdown hangs
/// up every channel (the longest ring here is 2 s).
const SHUTDOWN_REACH_MS: i64 = 3500;

/// A log line's `[YYYY-MM-DD HH:MM:SS.mmm]` stamp in ms since the epoch (of the log's clock).
fn log_time_ms(line: &str) -> Option<i64> {
    let stamp = line.strip_prefix('[')?.get(..23)?;
    let num = |range: std::ops::Range<usize>| stamp.get(range)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss, ms) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hh) * 60 + mm) * 60_000 + ss * 1000 + ms)
}

/// Seconds in the first `StartRetry` line's stamp (`StartRetry: <pid> <attempt> (<secs>)`).
fn first_start_stamp(text: &str) -> Option<i64> {
    let line = text.lines().find(|l| l.starts_with("StartRetry: "))?;
    line.rsplit_once('(')?.1.trim_end_matches(')').parse().ok()
}

/// Everything seen about one file.
#[derive(Default, Debug)]
struct Seen {
    /// (run index, status) of each finish line in the logs, in order.
    log_finishes: Vec<(usize, &'static str)>,
    /// (run index, status) of each SpoolFinished event.
    ami_finishes: Vec<(usize, String)>,
    ami_attempts: usize,
    ami_begins: usize,
    log_attempts: usize,
    far_begins: usize,
    /// Attempts started in the last seconds before, or during, a `core stop now`: Asterisk hangs them up
    /// or refuses their channel ("Refusing due to active shutdown"), and they count as failed attempts.
    shutdown_hits: usize,
}

#[test]
#[ignore = "soak test: minutes long; run with `make soak` (SOAK_MINUTES, default 30)"]
fn soak() {
    let minutes: f64 = std::env::var("SOAK_MINUTES").ok().and_then(|m| m.parse().ok()).unwrap_or(30.0);
    let seed: u64 = std::env::var("SOAK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 ^ u64::from(std::process::id())
    });
    eprintln!("soak: seed {seed} (SOAK_SEED={seed} repeats the choices), {minutes} minute(s) of call files");
    let mut rng = Rng(seed);
    let writer_rng = Rng(seed ^ 0x5EED_F00D_CAFE_BABE);

    let mut ast = Asterisk::builder(Spooler::Rust)
        .name("soak")
        .extensions(DIALPLAN)
        .module("func_env.so")
        .boot_timeout(Duration::from_secs(60))
        .start();
    filter_ami(&ast);
    // In lib/, which outlives restarts (log/ is moved aside); FILE()'s line mode needs it to exist.
    let far_log = ast.path("lib/far.log");
    fs::write(&far_log, "# far ends: Begin <file number> <attempt>\n").expect("create lib/far.log");
    let baseline = ast.stable_thread_count(Duration::from_secs(2), Duration::from_secs(60));
    let baseline_names = thread_names(ast.pid());
    let mut runs = vec![Run::begin(&ast)];
    runs[0].threads_start = baseline;
    eprintln!("soak: Asterisk pid {} idle with {baseline} threads, RSS {} kB", ast.pid(), runs[0].rss_start);
    if host_tasks() > 5000 {
        eprintln!(
            "soak: WARNING: {} tasks on this machine already: other tests running beside the soak can exhaust \
             pids and make thread creation fail (Asterisk's and the module's)",
            host_tasks()
        );
    }

    let stream = Stream {
        ledger: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
        in_place_gate: Mutex::new(()),
        problems: Mutex::new(Vec::new()),
        spool: ast.spool_dir(),
        outgoing: ast.outgoing_dir(),
    };
    let mut problems: Vec<String> = Vec::new();
    let mut counts = FaultCounts::default();
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(minutes * 60.0);

    std::thread::scope(|scope| {
        let _stop = StopOnDrop(&stream.stop);
        let writer_thread = scope.spawn(|| writer(&stream, writer_rng, until));
        // Every kind of fault once, in a random order, then random ones.
        let mut order = vec![Fault::UnloadLoad, Fault::Reload, Fault::StopNow, Fault::Kill9];
        for i in (1..order.len()).rev() {
            order.swap(i, rng.range(0, i as u64) as usize);
        }
        let mut next_fault = Instant::now() + rng.millis(10_000, 25_000);
        let mut next_report = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(500));
            runs.last_mut().unwrap().sample();
            if Instant::now() >= next_report {
                next_report += Duration::from_secs(60);
                let written = stream.ledger.lock().unwrap().len();
                eprintln!(
                    "soak: {:>4.1} min: {written} files written, {} run(s), faults {} reload {} unload/load {} \
                     stop-now {} kill-9; outgoing/ holds {}",
                    started.elapsed().as_secs_f64() / 60.0,
                    runs.len(),
                    counts.reloads,
                    counts.unloads,
                    counts.stop_now,
                    counts.kill9,
                    fs::read_dir(ast.outgoing_dir()).map(|d| d.count()).unwrap_or(0)
                );
            }
            if Instant::now() < next_fault {
                continue;
            }
            let fault = if order.is_empty() {
                [Fault::UnloadLoad, Fault::Reload, Fault::StopNow, Fault::Kill9][rng.range(0, 3) as usize]
            } else {
                order.remove(0)
            };
            eprintln!("soak: {:>6.1} s: {fault:?}", started.elapsed().as_secs_f64());
            match fault {
                Fault::UnloadLoad => unload_load(&ast, &mut rng, &stream, &mut counts, &mut problems),
                Fault::Reload => {
                    let out = ast.cli(&format!("module reload {RUST_SO}"));
                    counts.reloads += 1;
                    if !ast.module_running(RUST_SO) {
                        problems.push(format!("not Running after `module reload`: {out:?}"));
                    }
                }
                Fault::StopNow => {
                    restart(&mut ast, End::StopNow, &mut runs, &stream, &mut problems);
                    counts.stop_now += 1;
                }
                Fault::Kill9 => {
                    restart(&mut ast, End::Kill9, &mut runs, &stream, &mut problems);
                    counts.kill9 += 1;
                }
            }
            ast.assert_alive();
            next_fault = Instant::now() + rng.millis(15_000, 40_000);
        }
        stream.stop.store(true, Ordering::SeqCst);
        writer_thread.join().expect("writer thread panicked");
    });
    let writing_ended = Instant::now();
    problems.extend(stream.problems.lock().unwrap().drain(..));
    let ledger: Vec<Entry> = stream.ledger.lock().unwrap().clone();
    eprintln!("soak: stream ended after {:.1} min, {} files written; draining", minutes, ledger.len());

    // ----- drain: every due time passed, every retry made -----
    let latest_due = ledger.iter().filter(|e| !e.deleted).filter_map(|e| e.due).max();
    let after_due = latest_due.and_then(|d| d.duration_since(SystemTime::now()).ok()).unwrap_or_default();
    let drain_timeout = after_due + Duration::from_secs(150);
    let expected_archived: Vec<String> = ledger.iter().filter(|e| !e.deleted).map(Entry::name).collect();
    let drained = wait_until(drain_timeout, || {
        runs.last_mut().unwrap().sample();
        let empty = fs::read_dir(ast.outgoing_dir()).map(|mut d| d.next().is_none()).unwrap_or(false);
        empty && expected_archived.iter().all(|name| ast.outgoing_done_dir().join(name).exists())
    });
    let drain_time = writing_ended.elapsed();
    if !drained {
        problems.push(format!("the spool did not drain within {drain_timeout:?} after the stream ended"));
    }
    let quiet = wait_until(Duration::from_secs(60), || {
        ast.try_cli("core show channels count", Duration::from_secs(10))
            .is_some_and(|out| out.lines().any(|l| l.starts_with("0 active call")))
    });
    if !quiet {
        problems.push("channels still up 60 s after the drain".to_owned());
    }
    // Asterisk's own pools wind down after their idle timeout. pbx_spool_rs keeps exactly one idle worker
    // once it has placed a call (src/scheduler.rs: idle workers leave "down to one"), and the baseline was
    // taken at the first boot, before any call: the idle end state is the baseline plus that one worker.
    const KEPT_WORKERS: usize = 1;
    let expected_end = baseline + KEPT_WORKERS;
    let mut threads_end = 0;
    let back = wait_until(Duration::from_secs(240), || {
        threads_end = wait_stable(Duration::from_secs(2), Duration::from_secs(20), || threads(ast.pid())).unwrap_or(0);
        threads_end == expected_end
    });
    let spool_status = ast.try_cli("spool show status", Duration::from_secs(10)).unwrap_or_default();
    {
        let last = runs.last_mut().unwrap();
        last.sample();
        last.threads_end = threads_end;
        last.rss_end = rss_kb(last.pid);
        last.events = ast.ami().events();
        last.ended = Some(Instant::now());
    }
    if !back {
        let now_names = thread_names(ast.pid());
        let mut diff = String::new();
        for name in baseline_names.keys().chain(now_names.keys()).collect::<std::collections::BTreeSet<_>>() {
            let (a, b) = (baseline_names.get(name).copied().unwrap_or(0), now_names.get(name).copied().unwrap_or(0));
            if a != b {
                let _ = write!(diff, " {name}: {a} -> {b};");
            }
        }
        problems.push(format!(
            "threads not back to baseline: {baseline} at the first idle start (+{KEPT_WORKERS} kept worker expected), \
             {threads_end} at the end (by name:{diff})"
        ));
    }

    // ----- the account -----
    let mut seen: BTreeMap<u64, Seen> = BTreeMap::new();
    let mut other_log = BTreeMap::<String, usize>::new();
    let mut refusal_lines = 0;
    for (r, run) in runs.iter().enumerate() {
        let log = fs::read(&run.log).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        // A `core stop now` arrives as the last remote console connection of the run.
        let shutdown_from = (run.end == End::StopNow)
            .then(|| {
                log.lines()
                    .rfind(|l| l.contains("Remote UNIX connection") && !l.contains("disconnected"))
                    .and_then(log_time_ms)
            })
            .flatten()
            .map(|ms| ms - SHUTDOWN_REACH_MS);
        for line in log.lines() {
            if let Some((n, status)) = finish_line(line) {
                seen.entry(n).or_default().log_finishes.push((r, status));
            } else if let Some(n) = number_after(line, "Attempting call on Local/") {
                let entry = seen.entry(n).or_default();
                entry.log_attempts += 1;
                if shutdown_from.is_some_and(|from| log_time_ms(line).is_some_and(|t| t >= from)) {
                    entry.shutdown_hits += 1;
                }
            } else if line.contains("still in progress; not unloading") {
                refusal_lines += 1;
            } else if line.contains("ERROR[") || (line.contains("WARNING[") && line.contains(" src/")) {
                // Anything else the module or Asterisk complained about, grouped: `LEVEL source: text` with
                // the file names and numbers blurred.
                let text = line.split_once("] ").map_or(line, |(_, t)| t);
                let (level, rest) = text.split_once(' ').unwrap_or((text, ""));
                let level = level.split('[').next().unwrap_or(level);
                if EXPECTED_WARNINGS.iter().any(|w| rest.contains(w)) {
                    continue;
                }
                let rest: String = rest.chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).collect();
                *other_log.entry(format!("{level} {rest}")).or_insert(0) += 1;
            }
        }
        for event in &run.events {
            if event.is_event("SpoolFinished") {
                if let Some(n) = event.get("File").and_then(|f| number_after(f, "/outgoing/soak-")) {
                    seen.entry(n).or_default().ami_finishes.push((r, event.get("Status").unwrap_or("").to_owned()));
                }
            } else if event.is_event("SpoolAttempt") {
                if let Some(n) = event.get("File").and_then(|f| number_after(f, "/outgoing/soak-")) {
                    seen.entry(n).or_default().ami_attempts += 1;
                }
            } else if event.is_user_event("SoakBegin") {
                if let Some(n) = event.get("N").and_then(|v| v.parse().ok()) {
                    seen.entry(n).or_default().ami_begins += 1;
                }
            }
        }
    }
    for line in fs::read_to_string(&far_log).unwrap_or_default().lines() {
        if let Some(n) = number_after(line, "Begin ") {
            seen.entry(n).or_default().far_begins += 1;
        }
    }
    let pid_run: BTreeMap<u32, usize> = runs.iter().enumerate().map(|(i, r)| (r.pid, i)).collect();
    let left: Vec<String> = fs::read_dir(ast.outgoing_dir())
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    let mut archived: BTreeMap<String, String> = BTreeMap::new();
    if let Ok(dir) = fs::read_dir(ast.outgoing_done_dir()) {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            archived.insert(name, fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    let known: std::collections::BTreeSet<u64> = ledger.iter().map(|e| e.n).collect();
    for n in seen.keys().filter(|n| !known.contains(n)) {
        problems.push(format!("soak-{n}: seen in the log/AMI/far.log but never written: {:?}", seen[n]));
    }
    for name in archived.keys() {
        if !number_after(name, "soak-").is_some_and(|n| known.contains(&n)) {
            problems.push(format!("outgoing_done/{name}: not a file of the ledger"));
        }
    }
    // The first process alive when (or after) the file was written: it handles a file refused on sight.
    let processing_run = |e: &Entry| runs.iter().position(|r| !r.ended.is_some_and(|t| t < e.written));

    #[derive(Default, Clone)]
    struct Row {
        written: usize,
        in_place: usize,
        chunked: usize,
        deleted: usize,
        archived: usize,
        statuses: BTreeMap<&'static str, usize>,
        far_begins: usize,
        starts: usize,
        aborts: usize,
        refinished: usize,
        shutdown_hit: usize,
        line_lost: usize,
        no_status: usize,
        max_attempts_used: usize,
        left: usize,
    }
    let mut rows: BTreeMap<Kind, Row> = KINDS.iter().map(|k| (*k, Row::default())).collect();
    let empty = Seen::default();
    for e in &ledger {
        let name = e.name();
        let s = seen.get(&e.n).unwrap_or(&empty);
        let row = rows.get_mut(&e.kind).unwrap();
        row.written += 1;
        row.in_place += usize::from(e.in_place);
        row.chunked += usize::from(e.chunked);
        row.far_begins += s.far_begins;
        if left.contains(&name) {
            row.left += 1;
        }
        if e.deleted {
            row.deleted += 1;
            if archived.contains_key(&name)
                || s.far_begins + s.log_attempts + s.ami_attempts > 0
                || !s.log_finishes.is_empty()
                || !s.ami_finishes.is_empty()
            {
                problems.push(format!(
                    "{name}: deleted while queued (due {:?} after writing) but processed: {s:?}; archived: {:?}",
                    e.due.unwrap().duration_since(SystemTime::now()).map(|d| -(d.as_secs_f64())).unwrap_or(0.0),
                    archived.get(&name)
                ));
            }
            continue;
        }
        let Some(text) = archived.get(&name) else {
            problems.push(format!("{name} ({}): never archived; seen {s:?}", e.kind.name()));
            continue;
        };
        row.archived += 1;
        let ms = marks(text);
        let starts = ms.iter().filter(|m| m.tag == "StartRetry").count();
        let aborts = ms.iter().filter(|m| m.tag == "AbortRetry").count();
        row.starts += starts;
        row.aborts += aborts;
        row.shutdown_hit += usize::from(s.shutdown_hits > 0);
        // The process that finished the file: the one that made its last attempt, else (refused on sight)
        // the one that was running when it was written. Only an abruptly ended one may have lost the
        // finish line (queued for the logger) or the `Status:` line (appended after the move).
        let finisher = ms
            .iter()
            .rev()
            .find(|m| m.tag != "DelayedRetry")
            .and_then(|m| pid_run.get(&m.pid).copied())
            .or_else(|| processing_run(e));
        let finisher_abrupt = finisher.is_some_and(|r| runs[r].abrupt());
        // Bookkeeping: no attempt started while one was open; every AbortRetry answers an attempt of a
        // process that ended abruptly, from a later process.
        let mut open: Option<u32> = None;
        for m in &ms {
            match m.tag.as_str() {
                "StartRetry" if open.is_some() => {
                    problems.push(format!("{name}: StartRetry while an attempt was open:\n{text}"));
                }
                "StartRetry" => open = Some(m.pid),
                "EndRetry" => open = None,
                "AbortRetry" => {
                    let ok = open.is_some_and(|old| {
                        let (a, b) = (pid_run.get(&old), pid_run.get(&m.pid));
                        matches!((a, b), (Some(&a), Some(&b)) if a < b && runs[a].abrupt())
                    });
                    if !ok {
                        problems.push(format!(
                            "{name}: AbortRetry not answering an attempt of an earlier, abruptly ended process \
                             (run pids {:?}):\n{text}",
                            runs.iter().map(|r| r.pid).collect::<Vec<_>>()
                        ));
                    }
                    open = None;
                }
                _ => {}
            }
        }
        // Attempts within the allowed maximum (+1 per aborted attempt), and exact when nothing was aborted.
        let allowed = e.allowed_attempts() + aborts;
        row.max_attempts_used = row.max_attempts_used.max(s.far_begins);
        if starts > allowed || s.far_begins > allowed {
            problems.push(format!(
                "{name}: {starts} StartRetry, {} far-end attempts; allowed {allowed} (MaxRetries {} + 1, {aborts} aborted):\n{text}",
                s.far_begins, e.max_retries
            ));
        }
        if s.far_begins > starts {
            problems
                .push(format!("{name}: {} far-end attempts but only {starts} StartRetry lines:\n{text}", s.far_begins));
        }
        if aborts == 0 && s.shutdown_hits == 0 && e.kind.dials() {
            let exact = if matches!(e.kind, Kind::Busy | Kind::RingOut) { e.max_retries as usize + 1 } else { 1 };
            if starts != exact || s.far_begins != exact {
                problems.push(format!(
                    "{name} ({}): {starts} StartRetry and {} far-end attempts, expected exactly {exact}; seen {s:?}:\n{text}",
                    e.kind.name(),
                    s.far_begins
                ));
            }
        }
        // Never dialled before its time.
        if let (Some(due), Some(stamp)) = (e.due, first_start_stamp(text)) {
            let due_s = due.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
            if stamp < due_s {
                problems.push(format!("{name}: first attempt at {stamp}, due at {due_s}:\n{text}"));
            }
        }
        // Finished exactly once.
        let status_lines: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("Status: ")).collect();
        let last_log = s.log_finishes.last().map(|(_, st)| *st);
        let final_status: Option<&str> = last_log.or(status_lines.last().copied());
        match final_status {
            Some(st) => {
                *row.statuses
                    .entry(match st {
                        "Completed" => "Completed",
                        "Expired" => "Expired",
                        "Rejected" => "Rejected",
                        _ => "Failed",
                    })
                    .or_insert(0) += 1
            }
            None => *row.statuses.entry("unknown").or_insert(0) += 1,
        }
        match status_lines.len() {
            1 => {}
            0 if finisher_abrupt => row.no_status += 1, // moved, then killed before `Status:` was appended
            k => problems.push(format!("{name}: {k} Status lines in the archived file:\n{text}")),
        }
        if let Some(st) = final_status {
            let allowed_statuses = e.kind.allowed_statuses(aborts > 0 || s.shutdown_hits > 0);
            let fits = allowed_statuses.contains(&st) || allowed_statuses.iter().any(|a| archive_status(a) == st);
            if !fits {
                problems.push(format!(
                    "{name} ({}): finished {st}, expected {allowed_statuses:?}; seen {s:?}:\n{text}",
                    e.kind.name()
                ));
            }
            if let (Some(log_st), Some(file_st)) = (last_log, status_lines.last()) {
                if archive_status(log_st) != *file_st {
                    problems.push(format!("{name}: the log says {log_st}, the archived file {file_st}"));
                }
            }
        }
        match s.log_finishes.len() {
            0 if finisher_abrupt => row.line_lost += 1, // logged into a process killed before its logger wrote it
            0 => problems.push(format!("{name}: archived, but no finish line in any log; seen {s:?}")),
            1 => {}
            k => {
                // Earlier finishes are legitimate only in a process that ended abruptly before the file was
                // moved out (it is then still in outgoing/ and handled again by the next process).
                let excused =
                    s.log_finishes[..k - 1].iter().all(|(r, _)| runs[*r].abrupt()) && (aborts > 0 || !e.kind.dials());
                if excused {
                    row.refinished += 1;
                } else {
                    problems.push(format!("{name}: finished {k} times {:?}; seen {s:?}:\n{text}", s.log_finishes));
                }
            }
        }
        // AMI: never more finish events in a run than finish lines in its log.
        for (r, run) in runs.iter().enumerate() {
            let ami = s.ami_finishes.iter().filter(|(x, _)| *x == r).count();
            let log = s.log_finishes.iter().filter(|(x, _)| *x == r).count();
            if ami > log && !run.abrupt() {
                problems.push(format!(
                    "{name}: {ami} SpoolFinished events but {log} finish lines in run {r} (pid {})",
                    run.pid
                ));
            }
        }
        if let (Some((_, ami_st)), Some(st)) = (s.ami_finishes.last(), final_status) {
            if s.ami_finishes.last().map(|(r, _)| *r) == s.log_finishes.last().map(|(r, _)| *r) && ami_st != st {
                problems.push(format!("{name}: SpoolFinished says {ami_st}, the log {st}"));
            }
        }
    }
    for name in &left {
        let text = fs::read_to_string(ast.outgoing_dir().join(name)).unwrap_or_default();
        problems.push(format!("left in outgoing/: {name}:\n{text}"));
    }
    if other_log.keys().any(|k| k.contains("panic") || k.contains("internal error")) {
        problems.push("the module logged a panic / internal error (see the log summary)".to_owned());
    }

    // ----- print -----
    let mut out = String::new();
    let total = |f: &dyn Fn(&Row) -> usize| rows.values().map(f).sum::<usize>();
    let _ = writeln!(out, "\n================ soak account (seed {seed}) ================");
    let _ = writeln!(
        out,
        "stream {minutes} min, drain {:.0} s; {} Asterisk process(es): {} `core stop now`, {} `kill -9`",
        drain_time.as_secs_f64(),
        runs.len(),
        counts.stop_now,
        counts.kill9
    );
    let _ = writeln!(
        out,
        "faults: {} unload+load ({} refusals for calls in progress, {} log lines; {} gave up after 30 s), {} reload",
        counts.unloads, counts.unload_refusals, refusal_lines, counts.unload_gave_up, counts.reloads
    );
    let _ =
        writeln!(
        out,
        "{:<9} {:>6} {:>6} {:>5} {:>5} {:>6} {:>5} {:>5} {:>5} {:>5} {:>6} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>4}",
        "kind", "in", "inplc", "chunk", "del", "archv", "Compl", "Expir", "Fail", "Rejct", "dials", "Start", "Abort",
        "again", "shut", "lost", "noSt", "left"
    );
    let line = |out: &mut String, label: &str, r: &Row| {
        let st = |k: &str| r.statuses.get(k).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "{:<9} {:>6} {:>6} {:>5} {:>5} {:>6} {:>5} {:>5} {:>5} {:>5} {:>6} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>4}",
            label,
            r.written,
            r.in_place,
            r.chunked,
            r.deleted,
            r.archived,
            st("Completed"),
            st("Expired"),
            st("Failed"),
            st("Rejected"),
            r.far_begins,
            r.starts,
            r.aborts,
            r.refinished,
            r.shutdown_hit,
            r.line_lost,
            r.no_status,
            r.left
        );
    };
    let mut sum = Row::default();
    for (kind, r) in &rows {
        line(&mut out, kind.name(), r);
        sum.written += r.written;
        sum.in_place += r.in_place;
        sum.chunked += r.chunked;
        sum.deleted += r.deleted;
        sum.archived += r.archived;
        for (k, v) in &r.statuses {
            *sum.statuses.entry(k).or_insert(0) += v;
        }
        sum.far_begins += r.far_begins;
        sum.starts += r.starts;
        sum.aborts += r.aborts;
        sum.refinished += r.refinished;
        sum.shutdown_hit += r.shutdown_hit;
        sum.line_lost += r.line_lost;
        sum.no_status += r.no_status;
        sum.left += r.left;
    }
    line(&mut out, "total", &sum);
    let _ = writeln!(
        out,
        "(dials = attempts reaching the far end (far.log); Start/Abort = StartRetry/AbortRetry lines archived; \
         again = finished again after an abrupt stop; shut = files with an attempt hung up or refused by \
         a `core stop now` (a failed attempt, as under pbx_spool); lost = finish line lost with a killed process; \
         noSt = archived without Status: by a killed process)"
    );
    let ami_attempts: usize = seen.values().map(|s| s.ami_attempts).sum();
    let ami_begins: usize = seen.values().map(|s| s.ami_begins).sum();
    let log_attempts: usize = seen.values().map(|s| s.log_attempts).sum();
    let log_finishes: usize = seen.values().map(|s| s.log_finishes.len()).sum();
    let ami_finishes: usize = seen.values().map(|s| s.ami_finishes.len()).sum();
    let _ = writeln!(
        out,
        "attempts: {} far.log, {} StartRetry, {log_attempts} log `Attempting call`, {ami_attempts} AMI SpoolAttempt, \
         {ami_begins} AMI SoakBegin (AMI misses what happens while disconnected)",
        total(&|r| r.far_begins),
        total(&|r| r.starts)
    );
    let _ = writeln!(
        out,
        "finishes: {log_finishes} log lines, {ami_finishes} AMI SpoolFinished, {} archived; left in outgoing/: {}",
        archived.len(),
        left.len()
    );
    let _ = writeln!(
        out,
        "{:<4} {:>8} {:>9} {:>7} {:>22} {:>12} {:>24}",
        "run", "pid", "end", "secs", "threads start/max/end", "max workers", "RSS kB start/max/end"
    );
    for (i, r) in runs.iter().enumerate() {
        let _ = writeln!(
            out,
            "{:<4} {:>8} {:>9} {:>7.0} {:>22} {:>12} {:>24}",
            i + 1,
            r.pid,
            format!("{:?}", r.end),
            r.ended.unwrap_or_else(Instant::now).duration_since(r.started).as_secs_f64(),
            format!("{}/{}/{}", r.threads_start, r.threads_max, r.threads_end),
            r.workers_max,
            format!("{}/{}/{}", r.rss_start, r.rss_max, r.rss_end)
        );
    }
    let last = runs.last().unwrap();
    let _ = writeln!(
        out,
        "threads: baseline {baseline} (first process, idle); last process {} -> {} at the end; max {} over all processes",
        last.threads_start,
        last.threads_end,
        runs.iter().map(|r| r.threads_max).max().unwrap_or(0)
    );
    let _ = writeln!(
        out,
        "RSS: last process {} kB at start -> {} kB at the end; max {} kB over all processes",
        last.rss_start,
        last.rss_end,
        runs.iter().map(|r| r.rss_max).max().unwrap_or(0)
    );
    let pid_max = fs::read_to_string("/proc/sys/kernel/pid_max").unwrap_or_default();
    let _ = writeln!(
        out,
        "host: at most {} tasks on the machine during the soak (pid_max {})",
        runs.iter().map(|r| r.host_tasks_max).max().unwrap_or(0),
        pid_max.trim()
    );
    if !other_log.is_empty() {
        let _ = writeln!(out, "other ERROR lines, and WARNING lines of the module (grouped):");
        for (text, count) in &other_log {
            let _ = writeln!(out, "  {count:>5} x {}", text.chars().take(220).collect::<String>());
        }
    }
    let _ = writeln!(out, "spool show status (last process):\n{spool_status}");
    let _ = writeln!(out, "invariant violations: {}", problems.len());
    eprintln!("{out}");
    for p in &problems {
        eprintln!("VIOLATION: {p}");
    }
    assert!(
        problems.is_empty(),
        "{} invariant violation(s) (listed above); first: {}\n{}",
        problems.len(),
        problems[0],
        ast.diagnostics()
    );
}

#[cfg(test)]
mod tests {
    use super::{finish_line, log_time_ms, marks, number_after};

    #[test]
    fn log_stamps_are_epoch_milliseconds() {
        // date -u -d '2026-11-26 12:40:16.730' +%s%3N
        assert_eq!(log_time_ms("[2026-11-26 12:40:16.730] VERBOSE[1] x"), Some(1_795_696_816_730));
        assert_eq!(log_time_ms("[2024-02-29 00:00:00.001] x"), Some(1_709_164_800_001));
        assert_eq!(log_time_ms("no stamp"), None);
    }

    #[test]
    fn finish_lines_name_the_file_not_the_instance() {
        let dir = "/tmp/prs-tests/soak-4242-0/spool/outgoing";
        assert_eq!(
            finish_line("NOTICE[1] src/attempt/phases.rs: Call completed to Local/100007@soak-answer"),
            Some((100_007, "Completed"))
        );
        assert_eq!(
            finish_line(
                "NOTICE[1] x: Queued call to Local/100008@soak-busy expired without completion after 3 attempts"
            ),
            Some((100_008, "Expired"))
        );
        assert_eq!(
            finish_line(&format!(
                "WARNING[1] x: Rejected {dir}/soak-100009.call: the first leg (value 'PJSIP/100009@trunk')"
            )),
            Some((100_009, "Rejected"))
        );
        assert_eq!(
            finish_line(&format!("WARNING[1] x: Invalid file contents in {dir}/soak-100010.call, deleting")),
            Some((100_010, "Failed"))
        );
        assert_eq!(finish_line("Call failed to go through, reason (5) Remote end is busy"), None);
        assert_eq!(number_after(&format!("{dir}/soak-100011.call"), "/outgoing/soak-"), Some(100_011));
    }

    #[test]
    fn bookkeeping_lines_are_parsed() {
        let m = marks(
            "Channel: x\n\nStartRetry: 31379 1 (1795696818)\n\nEndRetry: 31379 1 (1795696816)\nStatus: Expired\n",
        );
        assert_eq!(
            m.iter().map(|m| (m.tag.as_str(), m.pid)).collect::<Vec<_>>(),
            [("StartRetry", 31379), ("EndRetry", 31379)]
        );
    }
}
