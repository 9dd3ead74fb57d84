//! The spooler's engine: one scheduler thread that owns every piece of state (which files are known,
//! their due times in a [`TimerWheel`], which are running), sleeping on inotify, a wake-up eventfd and a
//! wall-clock timer; and a pool of reusable worker threads that visit due files ([`attempt::visit`]) and
//! report back. No lock is held across file I/O or a call, and the scheduler never waits on a worker.
//!
//! Threads that Asterisk owns (load, unload, reload, CLI) only touch [`Control`]: atomics, a futex-based
//! std mutex and an eventfd write. They never use crossbeam or parking_lot and never spawn std threads, so
//! they are left with no Rust thread-local destructors that would keep the module mapped after unload.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsStr;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crossbeam_channel::{Receiver, Sender};

use crate::attempt::{self, AttemptStart, Kept, Outcome, SpoolPaths, Stats, VisitRules};
use crate::bookkeeping::{self, Mark, Millis};
use crate::host::{Host, Level};
use crate::host_log;
use crate::policy::printable;
use crate::watcher::{self, EventFd, Inotify, RawEvent, WallTimer};
use crate::wheel::TimerWheel;

/// How long a file created in place may stay open without a write-close before it is taken anyway, when
/// the kernel cannot tell us whether a writer still has it open (no lease support). pbx_spool's value.
const CREATE_GRACE_MS: Millis = 2000;
/// Directory entries examined per scheduler iteration during a rescan, so that a rescan of 100,000 files
/// does not hold back calls that are already due.
const RESCAN_BATCH: usize = 512;

/// Settings the scheduler applies; replaced on `module reload`.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub rules: Arc<VisitRules>,
    /// Calls in progress at once; `None` = unlimited (pbx_spool's behaviour).
    pub max_calls: Option<usize>,
    /// Calls started per second; `None` = unlimited.
    pub max_rate: Option<f64>,
    /// The effective pbx_spool_rs.conf, described for `spool show status`.
    pub description: Arc<Vec<(String, String)>>,
}

/// Requests from Asterisk's threads to the scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Request {
    Stop,
    Rescan,
    Snapshot(SnapshotQuery),
}

/// What an admin command wants to see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotQuery {
    /// How many of the next due files to list.
    pub limit: usize,
    /// A file whose state to report.
    pub file: Option<String>,
}

/// The scheduler's state as an admin sees it (`spool show ...`).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Waiting for their due time (first attempt).
    pub queued: usize,
    /// Waiting for their next attempt after a failed one.
    pub waiting_retry: usize,
    /// Due, but held back by maxcalls/maxrate.
    pub held: usize,
    /// Attempts in progress.
    pub in_progress: usize,
    /// Created in place and still being written.
    pub being_written: usize,
    /// Left for the admin (unreadable, not writable, not a regular file).
    pub parked: usize,
    /// Finished, kept in outgoing/ by `AlwaysDelete: no` until their date.
    pub kept: usize,
    /// Threads in the worker pool.
    pub workers: usize,
    /// The next files by due time (name, due time in ms), up to the query's limit.
    pub next: Vec<(String, Millis)>,
    /// The queried file's state, if it is known.
    pub file_state: Option<String>,
}

/// The answer to a stop request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopAnswer {
    Stopped,
    /// Calls placed by the module are still in progress: stopping now would leave threads inside code
    /// about to be unmapped.
    Busy {
        calls_in_progress: usize,
    },
}

/// The handle Asterisk's threads use to talk to a running scheduler.
pub struct Control {
    wake: EventFd,
    requests: Mutex<VecDeque<Request>>,
    stop_answer: Mutex<Option<StopAnswer>>,
    stop_answered: Condvar,
    settings: Mutex<Settings>,
    settings_changed: AtomicBool,
    calls_in_progress: AtomicUsize,
    /// Set when the scheduler thread has returned (normally or after a caught panic).
    exited: AtomicBool,
    snapshot: Mutex<Option<Snapshot>>,
    snapshot_ready: Condvar,
    /// Totals since load.
    pub stats: Arc<Stats>,
}

impl Control {
    pub fn new(settings: Settings) -> std::io::Result<Arc<Self>> {
        Ok(Arc::new(Control {
            wake: EventFd::new()?,
            requests: Mutex::new(VecDeque::new()),
            stop_answer: Mutex::new(None),
            stop_answered: Condvar::new(),
            settings: Mutex::new(settings),
            settings_changed: AtomicBool::new(false),
            calls_in_progress: AtomicUsize::new(0),
            exited: AtomicBool::new(false),
            snapshot: Mutex::new(None),
            snapshot_ready: Condvar::new(),
            stats: Arc::new(Stats::default()),
        }))
    }

    fn send(&self, request: Request) {
        self.requests.lock().unwrap_or_else(|p| p.into_inner()).push_back(request);
        self.wake.wake();
    }

    /// Ask the scheduler to stop. It refuses while calls are in progress; otherwise it stops dispatching,
    /// joins its workers and returns, after which the caller joins the scheduler thread.
    pub fn request_stop(&self) -> StopAnswer {
        *self.stop_answer.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.send(Request::Stop);
        let mut answer = self.stop_answer.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(a) = *answer {
                return a;
            }
            if self.exited.load(Ordering::SeqCst) {
                return StopAnswer::Stopped;
            }
            answer = self.stop_answered.wait(answer).unwrap_or_else(|p| p.into_inner());
        }
    }

    pub fn request_rescan(&self) {
        self.send(Request::Rescan);
    }

    pub fn update_settings(&self, settings: Settings) {
        *self.settings.lock().unwrap_or_else(|p| p.into_inner()) = settings;
        self.settings_changed.store(true, Ordering::SeqCst);
        self.wake.wake();
    }

    /// Ask the scheduler for its state. Bounded wait: an admin command must never hang the CLI (and with
    /// it `module unload`, which waits for CLI handlers) on a scheduler that is stopping.
    pub fn snapshot(&self, query: SnapshotQuery) -> Option<Snapshot> {
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.send(Request::Snapshot(query));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        let mut slot = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(snapshot) = slot.take() {
                return Some(snapshot);
            }
            let now = std::time::Instant::now();
            if now >= deadline || self.exited.load(Ordering::SeqCst) {
                return None;
            }
            slot = self.snapshot_ready.wait_timeout(slot, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    fn answer_snapshot(&self, snapshot: Snapshot) {
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = Some(snapshot);
        self.snapshot_ready.notify_all();
    }

    /// The settings in force (a copy).
    pub fn settings(&self) -> Settings {
        self.settings.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn calls_in_progress(&self) -> usize {
        self.calls_in_progress.load(Ordering::SeqCst)
    }

    /// Called on the scheduler thread as its very last act, so a stop request never waits on a dead thread.
    pub fn mark_exited(&self) {
        let _guard = self.stop_answer.lock().unwrap_or_else(|p| p.into_inner());
        self.exited.store(true, Ordering::SeqCst);
        self.stop_answered.notify_all();
    }

    fn answer_stop(&self, answer: StopAnswer) {
        *self.stop_answer.lock().unwrap_or_else(|p| p.into_inner()) = Some(answer);
        self.stop_answered.notify_all();
    }
}

/// What the scheduler knows about one name in the outgoing directory.
#[derive(Debug)]
enum FileState {
    /// In the wheel at its due time (its mtime).
    Queued,
    /// In the wheel for its next attempt after a failed one.
    Retrying,
    /// Created in place and still being written: taken when the writer closes it.
    Writing,
    /// Handed to a worker. `changed` records events seen meanwhile (the name may have been reused).
    /// Boxed: only running files need it, and it keeps every queued file's state small.
    Running { changed: bool, attempt: Option<Box<AttemptStart>> },
    /// Due but held back by `max_calls`.
    Held,
    /// Left for the admin; visited again only when the file itself changes (its [`fingerprint`] differs:
    /// events caused by our own failed writes do not count, so there is no loop).
    Parked { fingerprint: u64 },
    /// Finished, kept in place by `AlwaysDelete: no`: removed at its date if its [`fingerprint`] is still
    /// the one it had after its last attempt; visited anew as soon as it changes. Boxed, like `Running`:
    /// few files are ever kept.
    Kept(Box<KeptFile>),
}

/// A [`FileState::Kept`] file: what it looked like after its last attempt, and how to end it.
#[derive(Debug)]
struct KeptFile {
    fingerprint: u64,
    kept: Kept,
}

/// Messages from workers.
enum Report {
    Started(Arc<OsStr>, AttemptStart),
    Finished(Arc<OsStr>, Outcome),
    /// A worker left the pool after being idle (the scheduler joins it).
    WorkerExited,
}

/// The scheduler thread's state.
struct Scheduler<H: Host> {
    host: Arc<H>,
    control: Arc<Control>,
    paths: SpoolPaths,
    settings: Settings,
    inotify: Inotify,
    outgoing_wd: Option<i32>,
    parent_wd: Option<i32>,
    timer: WallTimer,
    wheel: TimerWheel<Arc<OsStr>>,
    files: HashMap<Arc<OsStr>, FileState>,
    held: VecDeque<Arc<OsStr>>,
    /// When the last call was started (for maxrate), and when the next held one may start.
    pacer: Pacer,
    rate_wakeup: Option<Millis>,
    rescan: Option<fs::ReadDir>,
    running: usize,
    jobs: Option<Sender<Job>>,
    job_source: Receiver<Job>,
    reports: Receiver<Report>,
    report_sink: Sender<Report>,
    idle_workers: Arc<AtomicUsize>,
    /// Jobs sent to the pool and not yet picked up by a worker.
    waiting_jobs: Arc<AtomicUsize>,
    /// Workers that have not left the pool.
    live_workers: Arc<AtomicUsize>,
    workers: Vec<WorkerHandle>,
    /// When to look again whether the pool must grow (jobs waiting behind long calls), and when it may.
    grow_check_at: Option<Millis>,
    next_growth: Millis,
}

/// `maxrate`: starts are spread evenly (at least 1/rate apart), and no window of one second (plus a margin
/// for the few milliseconds between our start and the channel's creation) ever holds more than `rate`
/// starts. Monotonic, full precision: whole milliseconds let a 51st start into a second at 50/s.
#[derive(Debug, Default)]
struct Pacer {
    recent: VecDeque<std::time::Instant>,
}

const PACER_WINDOW: std::time::Duration = std::time::Duration::from_millis(1010);

impl Pacer {
    /// How long to wait before the next start may happen, if at all.
    fn wait(&self, rate: f64, now: std::time::Instant) -> Option<std::time::Duration> {
        let spacing = std::time::Duration::from_secs_f64(1.0 / rate);
        let mut ready_at = self.recent.back().map(|last| *last + spacing);
        let window_limit = rate.floor() as usize;
        if window_limit >= 1 && self.recent.len() >= window_limit {
            let oldest_in_window = self.recent[self.recent.len() - window_limit];
            let window_free = oldest_in_window + PACER_WINDOW;
            ready_at = Some(ready_at.map_or(window_free, |at| at.max(window_free)));
        }
        ready_at.filter(|at| *at > now).map(|at| at - now)
    }

    fn started(&mut self, at: std::time::Instant) {
        self.recent.push_back(at);
        while self.recent.len() > 100_000 || self.recent.front().is_some_and(|first| at - *first > PACER_WINDOW * 2) {
            self.recent.pop_front();
        }
    }
}

/// `busy_since` of a worker that is leaving the pool (its thread is about to return).
const LEAVING: Millis = -1;

/// A pool thread and when it started its current job (0 = idle, [`LEAVING`]).
struct WorkerHandle {
    thread: std::thread::JoinHandle<()>,
    busy_since: Arc<AtomicI64>,
}

/// Workers started as soon as a job waits, without further ado.
const BASE_POOL: usize = 4;
/// A worker busy this long is taken to be in a real call (a failing one returns within milliseconds, even
/// on a loaded machine): jobs waiting behind such workers get new workers, so that, as with pbx_spool,
/// concurrency is unlimited by default, but without one thread per queued file.
const STUCK_AFTER_MS: Millis = 200;
/// New workers per scheduler iteration, so a burst cannot stall the scheduler in thread creation.
const MAX_SPAWN_PER_STEP: usize = 256;
/// A worker idle this long leaves the pool, down to one, so a burst's threads do not stay for good.
const WORKER_IDLE_EXIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Run the spooler on the current thread until a stop request is accepted. Called on the thread the
/// module starts at load.
pub fn run<H: Host>(host: Arc<H>, control: Arc<Control>, paths: SpoolPaths) {
    if !wait_until_booted(&*host, &control) {
        control.answer_stop(StopAnswer::Stopped);
        return;
    }
    if host.stock_spooler_loaded() {
        host_log!(
            host,
            Level::Error,
            "pbx_spool.so is loaded too: two spoolers on {} would dial every call file twice. pbx_spool_rs will \
             not touch the spool. Add this line to modules.conf and restart Asterisk:  noload => pbx_spool.so",
            paths.outgoing.display()
        );
        idle_until_stopped(&control);
        return;
    }
    let mut scheduler = match Scheduler::new(host.clone(), control.clone(), paths) {
        Ok(s) => s,
        Err(err) => {
            host_log!(host, Level::Error, "Unable to start the outgoing spool: {err}");
            idle_until_stopped(&control);
            return;
        }
    };
    scheduler.run();
}

/// pbx_spool starts only once Asterisk is fully booted; so do we. Returns false if stopped first.
fn wait_until_booted<H: Host>(host: &H, control: &Control) -> bool {
    loop {
        if take_stop_request(control) {
            return false;
        }
        if host.fully_booted() {
            return true;
        }
        // Booting is a one-off wait of seconds; Asterisk offers modules no callback for it, so look again
        // every 100 ms or as soon as we are woken.
        let mut pfd = libc::pollfd { fd: control.wake.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd for the duration of the call.
        unsafe { libc::poll(&mut pfd, 1, 100) };
        control.wake.drain();
    }
}

fn take_stop_request(control: &Control) -> bool {
    let mut requests = control.requests.lock().unwrap_or_else(|p| p.into_inner());
    let stop = requests.contains(&Request::Stop);
    requests.retain(|r| *r != Request::Stop);
    stop
}

/// Do nothing until asked to stop (used when the spool must not be touched).
fn idle_until_stopped(control: &Control) {
    loop {
        if take_stop_request(control) {
            control.answer_stop(StopAnswer::Stopped);
            return;
        }
        let mut pfd = libc::pollfd { fd: control.wake.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd for the duration of the call; blocks until woken.
        unsafe { libc::poll(&mut pfd, 1, -1) };
        control.wake.drain();
    }
}

impl<H: Host> Scheduler<H> {
    fn new(host: Arc<H>, control: Arc<Control>, paths: SpoolPaths) -> std::io::Result<Self> {
        let (jobs, job_source) = crossbeam_channel::unbounded();
        let (report_sink, reports) = crossbeam_channel::unbounded();
        let settings = control.settings.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Ok(Scheduler {
            host,
            control,
            paths,
            settings,
            inotify: Inotify::new()?,
            outgoing_wd: None,
            parent_wd: None,
            timer: WallTimer::new()?,
            wheel: TimerWheel::new(bookkeeping::now_ms().max(0) as u64),
            files: HashMap::new(),
            held: VecDeque::new(),
            pacer: Pacer::default(),
            rate_wakeup: None,
            rescan: None,
            running: 0,
            jobs: Some(jobs),
            job_source,
            reports,
            report_sink,
            idle_workers: Arc::new(AtomicUsize::new(0)),
            waiting_jobs: Arc::new(AtomicUsize::new(0)),
            live_workers: Arc::new(AtomicUsize::new(0)),
            workers: Vec::new(),
            grow_check_at: None,
            next_growth: 0,
        })
    }

    fn run(&mut self) {
        self.watch_outgoing();
        let mut events = Vec::new();
        let mut readable = Vec::new();
        let mut expired = Vec::new();
        loop {
            if self.handle_requests() {
                break;
            }
            if self.control.settings_changed.swap(false, Ordering::SeqCst) {
                self.settings = self.control.settings();
                self.dispatch_held();
            }
            self.drain_reports();

            events.clear();
            if let Err(err) = self.inotify.read_events(&mut events) {
                host_log!(self.host, Level::Error, "Unable to read inotify events: {err}");
            }
            for event in events.drain(..) {
                self.handle_event(event);
            }
            self.continue_rescan();

            let now = bookkeeping::now_ms();
            expired.clear();
            self.wheel.expire(now.max(0) as u64, &mut expired);
            for (name, _) in expired.drain(..) {
                self.fire(name, now);
            }

            self.dispatch_held();
            self.grow_pool(bookkeeping::now_ms());
            if self.rescan.is_some() {
                continue; // more of the directory to read: do not sleep
            }
            let next = [self.wheel.next_due().map(|due| due as Millis), self.rate_wakeup, self.grow_check_at]
                .into_iter()
                .flatten()
                .min();
            if let Err(err) = self.timer.arm(next) {
                host_log!(self.host, Level::Error, "Unable to arm the spool timer: {err}");
            }
            let fds = [self.inotify.as_raw_fd(), self.control.wake.as_raw_fd(), self.timer.as_raw_fd()];
            if let Err(err) = watcher::wait_readable(&fds, &mut readable) {
                host_log!(self.host, Level::Error, "poll failed in the spool scheduler: {err}");
            }
            self.control.wake.drain();
            self.timer.drain();
        }
        self.shut_down_workers();
        self.control.answer_stop(StopAnswer::Stopped);
    }

    /// Returns true when a stop has been accepted.
    fn handle_requests(&mut self) -> bool {
        let requests: Vec<Request> =
            self.control.requests.lock().unwrap_or_else(|p| p.into_inner()).drain(..).collect();
        let mut stop = false;
        for request in requests {
            match request {
                Request::Rescan => self.start_rescan("requested"),
                Request::Snapshot(query) => {
                    self.drain_reports();
                    let snapshot = self.snapshot(&query);
                    self.control.answer_snapshot(snapshot);
                }
                Request::Stop => {
                    // Reports may be pending from workers that just finished.
                    self.drain_reports();
                    if self.running > 0 {
                        self.control.answer_stop(StopAnswer::Busy { calls_in_progress: self.running });
                    } else {
                        stop = true;
                    }
                }
            }
        }
        stop
    }

    /// Join the workers that left the pool (joined, not dropped: a thread still running its exit code
    /// must not be left behind).
    fn reap_workers(&mut self) {
        let (gone, alive): (Vec<_>, Vec<_>) =
            self.workers.drain(..).partition(|w| w.busy_since.load(Ordering::SeqCst) == LEAVING);
        self.workers = alive;
        for worker in gone {
            let _ = worker.thread.join();
        }
    }

    fn shut_down_workers(&mut self) {
        self.jobs = None; // workers see the channel close and exit
        for worker in self.workers.drain(..) {
            let _ = worker.thread.join();
        }
    }

    fn watch_outgoing(&mut self) {
        let outgoing = self.paths.outgoing.clone();
        match self.inotify.add_watch(&outgoing, watcher::SPOOL_MASK) {
            Ok(wd) => {
                self.outgoing_wd = Some(wd);
                if let Some(parent_wd) = self.parent_wd.take() {
                    self.inotify.remove_watch(parent_wd);
                }
                self.start_rescan("start");
            }
            Err(err) => {
                host_log!(
                    self.host,
                    Level::Error,
                    "Unable to watch {}: {err}; waiting for it to be created",
                    outgoing.display()
                );
                self.watch_parent();
            }
        }
    }

    fn watch_parent(&mut self) {
        let Some(parent) = self.paths.outgoing.parent().map(Path::to_path_buf) else {
            return;
        };
        match self.inotify.add_watch(&parent, watcher::PARENT_MASK) {
            Ok(wd) => self.parent_wd = Some(wd),
            Err(err) => host_log!(self.host, Level::Error, "Unable to watch {}: {err}", parent.display()),
        }
    }

    fn start_rescan(&mut self, why: &str) {
        match fs::read_dir(&self.paths.outgoing) {
            Ok(dir) => {
                host_log!(self.host, Level::Debug(1), "Scanning {} ({why})", self.paths.outgoing.display());
                self.rescan = Some(dir);
            }
            Err(err) => host_log!(
                self.host,
                Level::Warning,
                "Unable to open directory {}: {err}",
                self.paths.outgoing.display()
            ),
        }
    }

    fn continue_rescan(&mut self) {
        let Some(dir) = self.rescan.as_mut() else {
            return;
        };
        let mut names = Vec::with_capacity(RESCAN_BATCH);
        let mut finished = true;
        for entry in dir.by_ref() {
            let Ok(entry) = entry else { continue };
            names.push(entry.file_name());
            if names.len() == RESCAN_BATCH {
                finished = false;
                break;
            }
        }
        if finished {
            self.rescan = None;
        }
        for name in names {
            let Some(name) = file_name_key(name.as_bytes()) else {
                continue;
            };
            match self.files.get(&name) {
                None => self.consider_new(name, false),
                // Some fixes raise no event (`chattr -i`); a rescan is how the admin says "look again".
                Some(FileState::Parked { .. }) => self.unpark_if_changed(name),
                Some(_) => {}
            }
        }
    }

    /// Visit a parked file again if it changed since it was parked (permissions, contents, replaced).
    fn unpark_if_changed(&mut self, name: Arc<OsStr>) {
        let Some(FileState::Parked { fingerprint: parked }) = self.files.get(&name) else { return };
        let now = fs::symlink_metadata(self.path_of(&name)).map(|m| fingerprint(&m)).unwrap_or(0);
        if now != *parked {
            self.files.remove(&name);
            self.consider_new(name, false);
        }
    }

    /// A kept file that changed since its last attempt (re-dated, rewritten, replaced) is the user's
    /// again: forget that it was kept and visit it like any file. Returns whether it changed.
    fn revisit_kept_if_changed(&mut self, name: &Arc<OsStr>) -> bool {
        let Some(FileState::Kept(kept)) = self.files.get(name) else { return false };
        let now = fs::symlink_metadata(self.path_of(name)).map(|m| fingerprint(&m)).unwrap_or(0);
        if now == kept.fingerprint {
            return false;
        }
        self.forget(name);
        self.consider_new(name.clone(), false);
        true
    }

    fn handle_event(&mut self, event: RawEvent) {
        if event.mask & libc::IN_Q_OVERFLOW != 0 {
            host_log!(
                self.host,
                Level::Warning,
                "inotify queue overflowed: rescanning {} so no call file is missed",
                self.paths.outgoing.display()
            );
            self.start_rescan("inotify overflow");
            return;
        }
        if Some(event.wd) == self.parent_wd {
            if event.name == b"outgoing"
                || Some(event.name.as_slice()) == self.paths.outgoing.file_name().map(|n| n.as_bytes())
            {
                host_log!(self.host, Level::Notice, "{} is back: watching it again", self.paths.outgoing.display());
                self.watch_outgoing();
            }
            return;
        }
        if Some(event.wd) != self.outgoing_wd {
            return;
        }
        if event.mask & (libc::IN_DELETE_SELF | libc::IN_MOVE_SELF | libc::IN_IGNORED) != 0 {
            self.outgoing_lost();
            return;
        }
        let Some(name) = file_name_key(&event.name) else {
            return;
        };
        let mask = event.mask;
        let gone = mask & (libc::IN_DELETE | libc::IN_MOVED_FROM) != 0;
        let created = mask & libc::IN_CREATE != 0;
        let closed = mask & libc::IN_CLOSE_WRITE != 0;
        let arrived = mask & libc::IN_MOVED_TO != 0;
        let touched = mask & libc::IN_ATTRIB != 0;

        match self.files.get_mut(&name) {
            Some(FileState::Running { changed, .. }) => *changed = true,
            Some(FileState::Queued | FileState::Retrying | FileState::Held) => {
                if gone {
                    self.forget(&name);
                } else {
                    // touch, rewrite or replacement: follow the file's (new) mtime
                    self.requeue_at_mtime(name);
                }
            }
            Some(FileState::Writing) => {
                if gone {
                    self.forget(&name);
                } else if closed || arrived {
                    self.requeue_at_mtime(name);
                }
            }
            Some(FileState::Parked { .. }) => {
                if gone {
                    self.files.remove(&name);
                } else if closed || arrived || touched {
                    self.unpark_if_changed(name);
                }
            }
            Some(FileState::Kept(_)) => {
                if gone {
                    self.forget(&name);
                } else {
                    self.revisit_kept_if_changed(&name);
                }
            }
            None => {
                if !gone && (created || closed || arrived || touched) {
                    self.consider_new(name, created);
                }
            }
        }
    }

    fn outgoing_lost(&mut self) {
        if let Some(wd) = self.outgoing_wd.take() {
            self.inotify.remove_watch(wd);
        }
        host_log!(
            self.host,
            Level::Warning,
            "The spool directory {} disappeared; call files are not processed until it is back",
            self.paths.outgoing.display()
        );
        let names: Vec<Arc<OsStr>> = self
            .files
            .iter()
            .filter(|(_, s)| !matches!(s, FileState::Running { .. }))
            .map(|(n, _)| n.clone())
            .collect();
        for name in names {
            self.forget(&name);
        }
        self.held.clear();
        self.rescan = None;
        self.watch_parent();
        // It may have come back before the parent watch was in place.
        if self.paths.outgoing.is_dir() {
            host_log!(self.host, Level::Notice, "{} is back: watching it again", self.paths.outgoing.display());
            self.watch_outgoing();
        }
    }

    fn path_of(&self, name: &OsStr) -> PathBuf {
        self.paths.outgoing.join(name)
    }

    /// A name not known before: queue it at its mtime, or wait for its writer.
    fn consider_new(&mut self, name: Arc<OsStr>, just_created: bool) {
        let path = self.path_of(&name);
        let Ok(meta) = fs::symlink_metadata(&path) else {
            return;
        };
        if !meta.file_type().is_file() {
            if meta.file_type().is_dir() {
                return; // pbx_spool ignores subdirectories silently
            }
            host_log!(
                self.host,
                Level::Warning,
                "Ignoring {}: not a regular file",
                printable(path.as_os_str().as_bytes())
            );
            self.files.insert(name, FileState::Parked { fingerprint: fingerprint(&meta) });
            return;
        }
        if just_created {
            match watcher::open_for_writing(&path) {
                Some(false) => {} // a hard link or an already closed file: take it now
                Some(true) => {
                    self.files.insert(name, FileState::Writing);
                    return;
                }
                None => {
                    // Cannot ask the kernel: wait for the write-close, but not forever.
                    self.files.insert(name.clone(), FileState::Writing);
                    self.wheel.schedule(name, (bookkeeping::now_ms() + CREATE_GRACE_MS).max(0) as u64);
                    return;
                }
            }
        }
        let due = bookkeeping::mtime_ms(&meta);
        self.files.insert(name.clone(), FileState::Queued);
        self.wheel.schedule(name, due.max(0) as u64);
    }

    /// Queue a known file again at its current mtime; a file waiting for a retry stays one.
    fn requeue_at_mtime(&mut self, name: Arc<OsStr>) {
        let retrying = matches!(self.files.get(&name), Some(FileState::Retrying));
        self.queue_at_mtime(name, retrying);
    }

    fn queue_at_mtime(&mut self, name: Arc<OsStr>, retrying: bool) {
        match bookkeeping::regular_file_mtime(&self.path_of(&name)) {
            Some(due) => {
                if matches!(self.files.get(&name), Some(FileState::Held)) {
                    self.held.retain(|n| *n != name);
                }
                let state = if retrying { FileState::Retrying } else { FileState::Queued };
                self.files.insert(name.clone(), state);
                self.wheel.schedule(name, due.max(0) as u64);
            }
            None => self.forget(&name),
        }
    }

    fn forget(&mut self, name: &Arc<OsStr>) {
        self.wheel.cancel(name);
        if let Some(FileState::Held) = self.files.remove(name) {
            self.held.retain(|n| n != name);
        }
    }

    /// A wheel entry fell due.
    fn fire(&mut self, name: Arc<OsStr>, now: Millis) {
        match self.files.get_mut(&name) {
            Some(FileState::Queued | FileState::Retrying) => {
                // The file may have been re-dated since it was queued (pbx_spool misses this).
                match bookkeeping::regular_file_mtime(&self.path_of(&name)) {
                    Some(mtime) if mtime > now => {
                        self.wheel.schedule(name, mtime as u64);
                    }
                    Some(_) => self.dispatch_or_hold(name),
                    None => self.forget(&name),
                }
            }
            Some(FileState::Writing) => self.requeue_at_mtime(name), // grace period over
            Some(FileState::Kept(_)) => self.end_kept(name, now),
            Some(FileState::Running { attempt: Some(start), .. }) => {
                // Still running RetryTime after it started: pbx_spool notes a DelayedRetry and looks again later.
                let (retries, retry_time, own_mtime) =
                    (start.retries_before, start.retry_time_s, start.own_mtime.clone());
                let path = self.path_of(&name);
                match bookkeeping::append_mark(
                    &path,
                    Mark::DelayedRetry,
                    self.host.main_pid(),
                    retries,
                    now,
                    retry_time,
                ) {
                    Ok(mtime) => {
                        own_mtime.store(mtime, Ordering::SeqCst);
                        host_log!(
                            self.host,
                            Level::Debug(1),
                            "Delaying retry since we're currently running '{}'",
                            printable(path.as_os_str().as_bytes())
                        );
                        self.wheel.schedule(name, mtime.max(0) as u64);
                    }
                    Err(err) => host_log!(
                        self.host,
                        Level::Debug(1),
                        "Unable to note DelayedRetry in {}: {err}",
                        printable(path.as_os_str().as_bytes())
                    ),
                }
            }
            _ => {}
        }
    }

    /// A kept file's date has come: unchanged, it is removed without dialling; changed, it is visited.
    fn end_kept(&mut self, name: Arc<OsStr>, now: Millis) {
        if self.revisit_kept_if_changed(&name) {
            return;
        }
        let Some(FileState::Kept(state)) = self.files.get(&name) else { return };
        let kept = state.kept;
        let path = self.path_of(&name);
        match bookkeeping::regular_file_mtime(&path) {
            // The wall clock was set back: its date has not come yet.
            Some(mtime) if mtime > now => {
                self.wheel.schedule(name, mtime as u64);
            }
            Some(_) => match attempt::remove_kept(&*self.host, &self.paths, &path, kept) {
                Outcome::Parked => {
                    let fingerprint = fs::symlink_metadata(&path).map(|m| fingerprint(&m)).unwrap_or(0);
                    self.files.insert(name, FileState::Parked { fingerprint });
                }
                _ => self.forget(&name),
            },
            None => self.forget(&name),
        }
    }

    /// Why a due file cannot start now, if it cannot: `maxcalls` reached, or `maxrate`'s spacing not yet
    /// elapsed (with the time the next start is allowed).
    fn capacity(&self, now: Millis) -> Result<(), (&'static str, Option<Millis>)> {
        if self.settings.max_calls.is_some_and(|max| self.running >= max) {
            return Err(("maxcalls", None));
        }
        if let Some(rate) = self.settings.max_rate {
            if let Some(wait) = self.pacer.wait(rate, std::time::Instant::now()) {
                let wait_ms = wait.as_micros().div_ceil(1000) as Millis;
                return Err(("maxrate", Some(now + wait_ms.max(1))));
            }
        }
        Ok(())
    }

    fn dispatch_or_hold(&mut self, name: Arc<OsStr>) {
        let now = bookkeeping::now_ms();
        if self.held.is_empty() && self.capacity(now).is_ok() {
            self.dispatch(name);
            return;
        }
        // Behind the limits, or behind files that fell due earlier: wait in due-time order.
        if let Err((limit, _)) = self.capacity(now) {
            host_log!(self.host, Level::Debug(1), "{} is due; held back by {limit}", printable(name.as_bytes()));
        }
        self.files.insert(name.clone(), FileState::Held);
        self.held.push_back(name);
    }

    /// Start held files while capacity allows; returns when the next one may start under maxrate.
    fn dispatch_held(&mut self) {
        self.rate_wakeup = None;
        while let Some(name) = self.held.front().cloned() {
            let now = bookkeeping::now_ms();
            if let Err((_, wakeup)) = self.capacity(now) {
                self.rate_wakeup = wakeup;
                return;
            }
            self.held.pop_front();
            self.dispatch(name);
        }
    }

    fn dispatch(&mut self, name: Arc<OsStr>) {
        if self.jobs.is_none() {
            return;
        }
        if self.settings.max_rate.is_some() {
            self.pacer.started(std::time::Instant::now());
        }
        self.files.insert(name.clone(), FileState::Running { changed: false, attempt: None });
        self.running += 1;
        self.control.calls_in_progress.store(self.running, Ordering::SeqCst);
        self.waiting_jobs.fetch_add(1, Ordering::SeqCst);
        if let Some(jobs) = self.jobs.as_ref() {
            let _ = jobs.send(Job { name, rules: self.settings.rules.clone() });
        }
    }

    fn spawn_worker(&mut self) {
        let busy_since = Arc::new(AtomicI64::new(0));
        let worker = Worker {
            host: self.host.clone(),
            paths: self.paths.clone(),
            jobs: self.job_source.clone(),
            reports: self.report_sink.clone(),
            idle: self.idle_workers.clone(),
            waiting: self.waiting_jobs.clone(),
            live: self.live_workers.clone(),
            busy_since: busy_since.clone(),
            wake: self.control.clone(),
        };
        self.idle_workers.fetch_add(1, Ordering::SeqCst);
        self.live_workers.fetch_add(1, Ordering::SeqCst);
        match std::thread::Builder::new().name("pbx_spool_rs worker".into()).spawn(move || worker.run()) {
            Ok(thread) => self.workers.push(WorkerHandle { thread, busy_since }),
            Err(err) => {
                self.idle_workers.fetch_sub(1, Ordering::SeqCst);
                self.live_workers.fetch_sub(1, Ordering::SeqCst);
                host_log!(self.host, Level::Error, "Unable to start a spool worker thread: {err}");
            }
        }
    }

    /// Give waiting jobs workers: at once up to [`BASE_POOL`], beyond that only when every busy worker
    /// is in a long call (quick calls free their workers soon enough, and more threads would not help).
    fn grow_pool(&mut self, now: Millis) {
        self.grow_check_at = None;
        let waiting = self.waiting_jobs.load(Ordering::SeqCst);
        let idle = self.idle_workers.load(Ordering::SeqCst);
        let mut needed = waiting.saturating_sub(idle);
        while needed > 0 && self.workers.len() < BASE_POOL {
            self.spawn_worker();
            needed -= 1;
        }
        if needed == 0 {
            return;
        }
        if now < self.next_growth {
            self.grow_check_at = Some(self.next_growth);
            return;
        }
        // Each worker held by a long call earns one more worker; at most once per STUCK_AFTER_MS, so the
        // pool at most doubles that often. Calls slowed by a busy CPU rarely last that long, and more threads
        // would only make them slower.
        let stuck = self
            .workers
            .iter()
            .filter(|w| {
                let since = w.busy_since.load(Ordering::SeqCst);
                since > 0 && now - since >= STUCK_AFTER_MS
            })
            .count();
        if stuck == 0 {
            self.grow_check_at = Some(now + STUCK_AFTER_MS / 2);
            return;
        }
        let spawn = needed.min(stuck).min(MAX_SPAWN_PER_STEP);
        host_log!(
            self.host,
            Level::Debug(1),
            "{waiting} due file(s) wait behind {stuck} long call(s): starting {spawn} worker(s)"
        );
        for _ in 0..spawn {
            self.spawn_worker();
        }
        self.next_growth = now + STUCK_AFTER_MS;
        if needed > spawn {
            self.grow_check_at = Some(self.next_growth);
        }
    }

    fn snapshot(&self, query: &SnapshotQuery) -> Snapshot {
        let mut snapshot = Snapshot { workers: self.workers.len(), ..Snapshot::default() };
        for state in self.files.values() {
            match state {
                FileState::Queued => snapshot.queued += 1,
                FileState::Retrying => snapshot.waiting_retry += 1,
                FileState::Held => snapshot.held += 1,
                FileState::Running { .. } => snapshot.in_progress += 1,
                FileState::Writing => snapshot.being_written += 1,
                FileState::Parked { .. } => snapshot.parked += 1,
                FileState::Kept(_) => snapshot.kept += 1,
            }
        }
        // Running files keep a DelayedRetry timer in the wheel; the queue lists files waiting to be dialled.
        let waiting = |name: &Arc<OsStr>| matches!(self.files.get(name), Some(FileState::Queued | FileState::Retrying));
        let listed = self.wheel.earliest(query.limit + snapshot.in_progress + snapshot.being_written);
        snapshot.next = listed
            .into_iter()
            .filter(|(name, _)| waiting(name))
            .take(query.limit)
            .map(|(name, due)| (name.to_string_lossy().into_owned(), due as Millis))
            .collect();
        if let Some(file) = &query.file {
            snapshot.file_state = self.files.get(OsStr::new(file.as_str())).map(|state| match state {
                FileState::Queued => "queued".to_string(),
                FileState::Retrying => "waiting for its next attempt".to_string(),
                FileState::Held => "due, held back by maxcalls/maxrate".to_string(),
                FileState::Running { .. } => "attempt in progress".to_string(),
                FileState::Writing => "being written (waiting for its writer to close it)".to_string(),
                FileState::Parked { .. } => "left for the admin (see the log)".to_string(),
                FileState::Kept(state) => format!(
                    "finished ({}), kept by AlwaysDelete: no until its date; removed then unless it changes",
                    state.kept.status.as_str()
                ),
            });
            if let (Some(state), Some(due)) =
                (snapshot.file_state.as_mut(), self.wheel.due_of(&Arc::from(OsStr::new(file.as_str()))))
            {
                state.push_str(&format!(", due at {} ms", due));
            }
        }
        snapshot
    }

    fn drain_reports(&mut self) {
        while let Ok(report) = self.reports.try_recv() {
            match report {
                Report::Started(name, start) => {
                    if let Some(FileState::Running { attempt, .. }) = self.files.get_mut(&name) {
                        self.wheel.schedule(name.clone(), start.recheck_at.max(0) as u64);
                        *attempt = Some(Box::new(start));
                    }
                }
                Report::Finished(name, outcome) => self.finished(name, outcome),
                Report::WorkerExited => self.reap_workers(),
            }
        }
    }

    fn finished(&mut self, name: Arc<OsStr>, outcome: Outcome) {
        self.running -= 1;
        self.control.calls_in_progress.store(self.running, Ordering::SeqCst);
        self.wheel.cancel(&name);
        let changed = matches!(self.files.remove(&name), Some(FileState::Running { changed: true, .. }));
        match outcome {
            Outcome::Requeue(due) => {
                if changed {
                    // Our own bookkeeping writes count as changes too. A later mtime (the dialplan re-dated
                    // the file) wins; an earlier one never brings a retry forward past `due`.
                    match bookkeeping::regular_file_mtime(&self.path_of(&name)) {
                        Some(mtime) => {
                            self.files.insert(name.clone(), FileState::Retrying);
                            self.wheel.schedule(name, mtime.max(due).max(0) as u64);
                        }
                        None => self.forget(&name),
                    }
                } else {
                    self.files.insert(name.clone(), FileState::Retrying);
                    self.wheel.schedule(name, due.max(0) as u64);
                }
            }
            Outcome::Kept(kept) => match fs::symlink_metadata(self.path_of(&name)) {
                // Taken now, after every write of the attempt: events those writes raised and that are
                // still queued find the file unchanged.
                Ok(meta) => {
                    let state = KeptFile { fingerprint: fingerprint(&meta), kept };
                    self.files.insert(name.clone(), FileState::Kept(Box::new(state)));
                    self.wheel.schedule(name, kept.due.max(0) as u64);
                }
                Err(_) => self.forget(&name),
            },
            Outcome::Done => {
                if changed {
                    // The name may have been reused by a new file while the old one was being handled.
                    self.consider_new(name, false);
                }
            }
            Outcome::Parked => {
                let fingerprint = fs::symlink_metadata(self.path_of(&name)).map(|m| fingerprint(&m)).unwrap_or(0);
                self.files.insert(name, FileState::Parked { fingerprint });
            }
        }
        self.dispatch_held();
    }
}

/// A due file handed to a worker, with the rules in force when it fell due.
struct Job {
    name: Arc<OsStr>,
    rules: Arc<VisitRules>,
}

impl<H: Host> Drop for Scheduler<H> {
    /// Also on the way out of a panic: no worker may outlive the scheduler, or unload could unmap code a
    /// worker is still running.
    fn drop(&mut self) {
        self.shut_down_workers();
    }
}

/// A pool thread: visits due files one at a time and reports the outcome.
struct Worker<H: Host> {
    host: Arc<H>,
    paths: SpoolPaths,
    jobs: Receiver<Job>,
    reports: Sender<Report>,
    idle: Arc<AtomicUsize>,
    waiting: Arc<AtomicUsize>,
    live: Arc<AtomicUsize>,
    busy_since: Arc<AtomicI64>,
    wake: Arc<Control>,
}

impl<H: Host> Worker<H> {
    /// The next job, or `None` when the pool is closing or this worker has been idle long enough to leave
    /// it (never the last one).
    fn next_job(&self) -> Option<Job> {
        loop {
            match self.jobs.recv_timeout(WORKER_IDLE_EXIT) {
                Ok(job) => return Some(job),
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    self.live.fetch_sub(1, Ordering::SeqCst);
                    return None;
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    let leave = self.live.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n > 1).then(|| n - 1));
                    if leave.is_ok() {
                        self.busy_since.store(LEAVING, Ordering::SeqCst);
                        self.idle.fetch_sub(1, Ordering::SeqCst);
                        let _ = self.reports.send(Report::WorkerExited);
                        self.wake.wake.wake();
                        return None;
                    }
                }
            }
        }
    }

    fn run(self) {
        while let Some(Job { name, rules }) = self.next_job() {
            self.busy_since.store(bookkeeping::now_ms().max(1), Ordering::SeqCst);
            self.idle.fetch_sub(1, Ordering::SeqCst);
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            let path = self.paths.outgoing.join(&*name);
            let outcome = {
                let reports = &self.reports;
                let wake = &self.wake;
                let started_name = name.clone();
                let mut on_start = |start: AttemptStart| {
                    let _ = reports.send(Report::Started(started_name.clone(), start));
                    wake.wake.wake();
                };
                let visit = std::panic::AssertUnwindSafe(|| {
                    attempt::visit(&*self.host, &self.paths, &rules, &self.wake.stats, &path, &mut on_start)
                });
                match std::panic::catch_unwind(visit) {
                    Ok(outcome) => outcome,
                    Err(_) => {
                        host_log!(
                            self.host,
                            Level::Error,
                            "Internal error while handling {}; leaving it for the admin",
                            printable(path.as_os_str().as_bytes())
                        );
                        Outcome::Parked
                    }
                }
            };
            self.busy_since.store(0, Ordering::SeqCst);
            self.idle.fetch_add(1, Ordering::SeqCst);
            let _ = self.reports.send(Report::Finished(name, outcome));
            self.wake.wake.wake();
        }
    }
}

/// What identifies a file's state for [`FileState::Parked`]: inode, size, mode, flags-changing ctime and
/// mtime. Any admin fix (chmod, chown, chattr, rewrite, touch, replacement) changes it; a failed write of
/// ours does not.
fn fingerprint(meta: &fs::Metadata) -> u64 {
    use std::hash::{Hash, Hasher};
    use std::os::unix::fs::MetadataExt;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (
        meta.ino(),
        meta.size(),
        meta.mode(),
        meta.uid(),
        meta.ctime(),
        meta.ctime_nsec(),
        meta.mtime(),
        meta.mtime_nsec(),
    )
        .hash(&mut hasher);
    hasher.finish().max(1)
}

/// A directory entry's name as a queue key (any bytes, as pbx_spool takes them; `.`/`..` kept out).
fn file_name_key(name: &[u8]) -> Option<Arc<OsStr>> {
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') {
        return None;
    }
    Some(Arc::from(OsStr::from_bytes(name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{answered, busy, temp_spool, FakeHost};
    use std::io::Write;
    use std::time::Duration;

    const CALL: &str = "Channel: Local/s@ctx\nContext: dest\nExtension: s\n";
    const WAIT: Duration = Duration::from_secs(10);

    /// A scheduler running on its own thread over a temporary spool, stopped on drop.
    struct Running {
        control: Arc<Control>,
        thread: Option<std::thread::JoinHandle<()>>,
        paths: SpoolPaths,
    }

    impl Running {
        fn start(host: Arc<FakeHost>, name: &str, settings: Settings) -> Running {
            let paths = temp_spool(name);
            let control = Control::new(settings).unwrap();
            let (c, p) = (control.clone(), paths.clone());
            let thread = std::thread::spawn(move || run(host, c, p));
            Running { control, thread: Some(thread), paths }
        }

        fn drop_in(&self, name: &str, contents: &str) {
            let staged = self.paths.outgoing.parent().unwrap().join(format!(".{name}.tmp"));
            std::fs::write(&staged, contents).unwrap();
            std::fs::rename(staged, self.paths.outgoing.join(name)).unwrap();
        }

        fn snapshot(&self) -> Snapshot {
            self.control.snapshot(SnapshotQuery { limit: 10, file: None }).unwrap()
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            while self.control.request_stop() != StopAnswer::Stopped {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = self.thread.take().map(|t| t.join());
        }
    }

    fn calls(host: &FakeHost) -> usize {
        host.with(|r| r.calls.len())
    }

    #[test]
    fn renamed_file_is_placed_once_and_removed() {
        let host = FakeHost::new(|_, _| answered());
        let spool = Running::start(host.clone(), "sched-once", Settings::default());
        spool.drop_in("a.call", CALL);
        host.wait_for("the call", WAIT, |r| r.events.iter().any(|(e, _)| e == "SpoolFinished"));
        assert_eq!(calls(&host), 1);
        assert!(!spool.paths.outgoing.join("a.call").exists());
        // The same name again is a new call file.
        spool.drop_in("a.call", CALL);
        host.wait_for("the second call", WAIT, |r| r.events.iter().filter(|(e, _)| e == "SpoolFinished").count() == 2);
        assert_eq!(calls(&host), 2);
    }

    #[test]
    fn future_file_waits_for_its_mtime_and_follows_a_redate() {
        let host = FakeHost::new(|_, _| answered());
        let spool = Running::start(host.clone(), "sched-future", Settings::default());
        let path = spool.paths.outgoing.join("f.call");
        let staged = spool.paths.outgoing.parent().unwrap().join("f.tmp");
        std::fs::write(&staged, CALL).unwrap();
        let in_an_hour = bookkeeping::now_ms() + 3_600_000;
        bookkeeping::set_times(&staged, in_an_hour, in_an_hour).unwrap();
        std::fs::rename(&staged, &path).unwrap();
        let deadline = std::time::Instant::now() + WAIT;
        while spool.snapshot().queued != 1 {
            assert!(std::time::Instant::now() < deadline, "never queued");
        }
        assert_eq!(calls(&host), 0);
        // touch it to now: pbx_spool would wait the hour; the new mtime counts at once.
        let now = bookkeeping::now_ms();
        bookkeeping::set_times(&path, now, now).unwrap();
        host.wait_for("the re-dated call", WAIT, |r| r.calls.len() == 1);
    }

    /// Waits until `spool show status` counts `n` kept files.
    fn wait_kept(spool: &Running, n: usize) {
        let deadline = std::time::Instant::now() + WAIT;
        while spool.snapshot().kept != n {
            assert!(std::time::Instant::now() < deadline, "kept files never became {n}: {:?}", spool.snapshot());
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn kept_file_is_removed_at_its_date_unless_it_changes() {
        let host = FakeHost::new(|_, _| answered());
        let spool = Running::start(host.clone(), "sched-kept", Settings::default());
        // Unchanged: kept until StartRetry's date (RetryTime 1 s ahead), then removed without a call.
        spool.drop_in("k.call", &format!("{CALL}AlwaysDelete: no\nRetryTime: 1\n"));
        host.wait_for("the call", WAIT, |r| r.calls.len() == 1);
        wait_kept(&spool, 1);
        assert!(spool.paths.outgoing.join("k.call").exists());
        host.wait_for("the removal", WAIT, |r| r.logs.iter().any(|(_, l)| l.contains("was kept by AlwaysDelete")));
        assert!(!spool.paths.outgoing.join("k.call").exists());
        wait_kept(&spool, 0);
        assert_eq!(calls(&host), 1, "a kept file is not dialled again");

        // Changed while kept (re-dated 1 s ahead by the user): a new request, visited and dialled again.
        spool.drop_in("r.call", &format!("{CALL}AlwaysDelete: no\nRetryTime: 60\n"));
        host.wait_for("the first call", WAIT, |r| r.calls.len() == 2);
        wait_kept(&spool, 1);
        let soon = bookkeeping::now_ms() + 1000;
        bookkeeping::set_times(&spool.paths.outgoing.join("r.call"), soon, soon).unwrap();
        host.wait_for("the call at the new date", WAIT, |r| r.calls.len() == 3);
    }

    #[test]
    fn file_written_in_place_is_taken_only_when_closed() {
        let host = FakeHost::new(|_, _| answered());
        let spool = Running::start(host.clone(), "sched-inplace", Settings::default());
        // wait until the scheduler watches the directory
        let deadline = std::time::Instant::now() + WAIT;
        while spool.control.snapshot(SnapshotQuery { limit: 0, file: None }).is_none() {
            assert!(std::time::Instant::now() < deadline);
        }
        let path = spool.paths.outgoing.join("w.call");
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(b"Channel: Local/s@ctx\n").unwrap();
        let deadline = std::time::Instant::now() + WAIT;
        while spool.snapshot().being_written != 1 {
            assert!(std::time::Instant::now() < deadline, "not seen as being written");
        }
        // Read by someone else meanwhile: still waits for the writer (pbx_spool would lose it).
        let _ = std::fs::read(&path).unwrap();
        assert_eq!(calls(&host), 0);
        file.write_all(b"Context: dest\nExtension: s\n").unwrap();
        drop(file);
        host.wait_for("the call", WAIT, |r| r.calls.len() == 1);
        assert!(host.with(|r| r.logs.iter().all(|(_, l)| !l.contains("Invalid file contents"))));
    }

    #[test]
    fn maxcalls_holds_files_in_due_order_and_unload_refuses_while_busy() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let g = gate.clone();
        let host = FakeHost::new(move |_, _| {
            let (open, cv) = &*g;
            let mut open = open.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
            answered()
        });
        let settings = Settings { max_calls: Some(1), ..Settings::default() };
        let spool = Running::start(host.clone(), "sched-maxcalls", settings);
        // All three in the spool before any falls due, so the order is the wheel's, not the arrival's.
        let base = bookkeeping::now_ms() + 500;
        for (i, name) in ["c.call", "a.call", "b.call"].iter().enumerate() {
            let staged = spool.paths.outgoing.parent().unwrap().join(format!("{name}.tmp"));
            std::fs::write(&staged, CALL.replace("s@ctx", &format!("{i}@ctx"))).unwrap();
            // due order: a (i=1) first, then b, then c
            let due = base + [30, 10, 20][i];
            bookkeeping::set_times(&staged, due, due).unwrap();
            std::fs::rename(&staged, spool.paths.outgoing.join(name)).unwrap();
        }
        host.wait_for("the first call", WAIT, |r| r.calls.len() == 1);
        let deadline = std::time::Instant::now() + WAIT;
        while spool.snapshot().held != 2 {
            assert!(std::time::Instant::now() < deadline, "others not held: {:?}", spool.snapshot());
        }
        assert!(matches!(spool.control.request_stop(), StopAnswer::Busy { calls_in_progress: 1 }));
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        host.wait_for("all calls", WAIT, |r| r.calls.len() == 3);
        let order: Vec<String> = host.with(|r| r.calls.iter().map(|c| c.0.clone()).collect());
        assert_eq!(order, ["Local/1@ctx", "Local/2@ctx", "Local/0@ctx"]);
    }

    #[test]
    fn retries_follow_retry_time_until_expiry() {
        let host = FakeHost::new(|_, _| busy());
        let spool = Running::start(host.clone(), "sched-retry", Settings::default());
        spool.drop_in("r.call", &format!("{CALL}MaxRetries: 1\nRetryTime: 1\n"));
        host.wait_for("expiry", WAIT, |r| r.events.iter().any(|(e, _)| e == "SpoolFinished"));
        let attempts: Vec<i32> = host.with(|r| r.calls.iter().map(|c| c.1).collect());
        assert_eq!(attempts, [1, 2]);
        assert!(host.logged("expired without completion after 2 attempts"));
    }

    #[test]
    fn far_future_files_keep_exact_due_times_and_do_not_block_nearer_ones() {
        // pbx_spool computes its poll timeout in milliseconds in an int: 25-50 days ahead it blocks forever,
        // and times past 2038 are truncated. Here due times are u64 ms on an absolute wall-clock timer.
        let host = FakeHost::new(|_, _| answered());
        let spool = Running::start(host.clone(), "sched-far", Settings::default());
        let now = bookkeeping::now_ms();
        let forty_days = now + 40 * 86_400_000;
        let year_2040 = 2_208_988_800_000; // 2040-01-01T00:00:00Z
        for (name, due) in [("far.call", forty_days), ("y2040.call", year_2040), ("near.call", now + 300)] {
            let staged = spool.paths.outgoing.parent().unwrap().join(format!("{name}.tmp"));
            std::fs::write(&staged, CALL).unwrap();
            bookkeeping::set_times(&staged, due, due).unwrap();
            std::fs::rename(&staged, spool.paths.outgoing.join(name)).unwrap();
        }
        host.wait_for("the near call", WAIT, |r| r.calls.len() == 1);
        let queued = spool.snapshot().next;
        assert_eq!(queued, [("far.call".to_string(), forty_days), ("y2040.call".to_string(), year_2040)]);
    }

    #[test]
    fn long_calls_due_together_all_run_at_once_on_reused_threads() {
        // Unlimited by default like pbx_spool: 40 calls of 3 s due at once must overlap, not queue; the pool
        // doubles every 200 ms while calls wait behind long ones, so all 40 are up well within a call's time.
        let in_call = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (c, p) = (in_call.clone(), peak.clone());
        let host = FakeHost::new(move |_, _| {
            let now = c.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_secs(3));
            c.fetch_sub(1, Ordering::SeqCst);
            answered()
        });
        let spool = Running::start(host.clone(), "sched-concurrency", Settings::default());
        let due = bookkeeping::now_ms() + 300;
        for i in 0..40 {
            let staged = spool.paths.outgoing.parent().unwrap().join(format!("{i}.tmp"));
            std::fs::write(&staged, CALL).unwrap();
            bookkeeping::set_times(&staged, due, due).unwrap();
            std::fs::rename(&staged, spool.paths.outgoing.join(format!("{i}.call"))).unwrap();
        }
        host.wait_for("all calls", WAIT, |r| r.events.iter().filter(|(e, _)| e == "SpoolFinished").count() == 40);
        assert_eq!(peak.load(Ordering::SeqCst), 40, "calls were serialised behind busy workers");
        assert!(spool.snapshot().workers <= 40, "one thread per call at most: {:?}", spool.snapshot());
        // Idle workers leave the pool, down to one.
        let deadline = std::time::Instant::now() + WORKER_IDLE_EXIT * 5;
        while spool.snapshot().workers != 1 {
            assert!(std::time::Instant::now() < deadline, "the pool did not shrink: {:?}", spool.snapshot());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    #[test]
    fn per_file_state_stays_small() {
        // Target: under 200 bytes per queued file plus its name. The map entry holds the name's Arc and the
        // state; the wheel's own cost per entry is measured in wheel.rs.
        assert!(std::mem::size_of::<FileState>() <= 16, "{}", std::mem::size_of::<FileState>());
        assert!(std::mem::size_of::<(Arc<OsStr>, FileState)>() <= 32);
    }

    #[test]
    fn pacer_never_lets_more_than_rate_starts_into_any_second() {
        let mut pacer = Pacer::default();
        let t0 = std::time::Instant::now();
        let mut now = t0;
        let mut starts = Vec::new();
        while now < t0 + Duration::from_secs(5) {
            match pacer.wait(50.0, now) {
                None => {
                    pacer.started(now);
                    starts.push(now);
                }
                Some(wait) => now += wait,
            }
        }
        for (i, start) in starts.iter().enumerate() {
            let in_window = starts[i..].iter().take_while(|s| **s - *start <= Duration::from_secs(1)).count();
            assert!(in_window <= 50, "{in_window} starts within one second");
        }
        assert!(starts.len() >= 240, "pacing much slower than 50/s: {}", starts.len());
    }
}
