//! The spooler's engine: one scheduler thread that owns every piece of state (which files are known,
//! their due times in a [`TimerWheel`](crate::wheel::TimerWheel) inside the [`FileTable`], which are
//! running), sleeping on inotify, a wake-up eventfd and a wall-clock timer, and handing due files to the
//! [`pool`]. No lock is held across file I/O or a call,
//! and the scheduler never waits on a worker.
//!
//! While inotify events keep coming, they are read at most once per [`ARRIVAL_BATCH`]: a script
//! renaming 30,000 files a second into outgoing/ would otherwise wake the scheduler for almost every
//! file, and the wake-up (a context switch and four system calls) costs more than the file. The first
//! event after a quiet spell is read at once, so a file dropped into an idle spool waits for nothing.
//!
//! This file holds the [`Scheduler`] itself: its state, start-up, the loop, and the requests from
//! Asterisk's threads. The scheduler's work is split by job, each file adding its own `impl` block:
//!
//! - [`events`]: inotify events, and outgoing/ lost and back;
//! - [`arrivals`]: reading outgoing/ (rescans, periodic scans) and what a new name becomes;
//! - [`dispatch`]: from due to done: firing, campaigns and limits, hand-off to workers, their reports;
//! - [`suspension`]: standing aside while the stock pbx_spool is loaded;
//! - [`kept`]: files that stay after their call (kept, parked), and writing and reading back the state file;
//! - [`snapshot`]: `spool show`'s figures and sentences;
//! - [`cancel`]: what `spool cancel` does to a file;
//! - [`heartbeat`]: on a shared spool, this node's heartbeat, the live nodes, and whose turn a due file is.
//!
//! Its helpers, plain data or I/O with no scheduler state of their own:
//!
//! - [`control`]: what Asterisk's threads may touch ([`Control`]: requests, settings, stop);
//! - [`files`]: the state of each name in outgoing/;
//! - [`file_table`]: every name followed, its state and due time, each name stored once;
//! - [`stored_name`]: a name as the table keeps it, inline when short;
//! - [`held`]: due files waiting behind a limit, a queue per campaign;
//! - [`pool`]: the worker threads that visit due files;
//! - [`pacer`]: `maxrate`'s arithmetic;
//! - [`scan`]: discovery by periodic scans, for spools inotify cannot see (network file systems).
//! - [`campaigns`]: campaigns' pauses, calling windows and own limits;
//! - [`state`]: the records that outlive a restart (kept files, cancellations of calls in progress).
//!
//! (These links name the engine's private files: the docs are built with `--document-private-items`,
//! as `make check` does, for contributors.)
#![allow(rustdoc::private_intra_doc_links)]

mod arrivals;
mod campaigns;
mod cancel;
mod control;
mod dispatch;
mod events;
mod file_table;
mod files;
mod heartbeat;
mod held;
mod kept;
mod pacer;
mod pool;
mod scan;
mod snapshot;
mod state;
mod stored_name;
mod suspension;

pub use campaigns::CampaignFigures;
pub use control::{CancelTarget, Via};
pub use control::{Control, QueuedFile, Snapshot, SnapshotQuery, SpoolSettings, StopAnswer};
pub use heartbeat::NodesReport;
pub use scan::ScanReport;

/// After a wake-up that read inotify events, how long the next read waits so that events arriving in a
/// burst are read together (control requests and the timer are still answered at once meanwhile).
const ARRIVAL_BATCH: Duration = Duration::from_millis(1);

use std::collections::{HashMap, VecDeque};
use std::ffi::OsStr;
use std::fs;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::attempt::SpoolPaths;
use crate::bookkeeping::{self, Millis};
use crate::host::{Host, Level};
use crate::host_log;
use crate::text::printable;
use crate::watcher::{self, Inotify, WallTimer};
use campaigns::CampaignBook;
use control::Request;
use file_table::FileTable;
use files::FileState;
use held::HeldQueues;
use pacer::Pacer;
use pool::WorkerPool;
use state::{FileIdentity, Record};
use suspension::Suspension;

/// A wall-clock time in milliseconds as the timer wheel keeps it: times before 1970 (a badly set clock,
/// a file dated in the past) are due at once.
fn wheel_time(ms: Millis) -> u64 {
    u64::try_from(ms).unwrap_or(0)
}

/// A timer wheel time back in milliseconds.
fn wall_time(t: u64) -> Millis {
    Millis::try_from(t).unwrap_or(Millis::MAX)
}

/// The scheduler thread's state.
struct Scheduler<H: Host> {
    host: Arc<H>,
    control: Arc<Control>,
    paths: SpoolPaths,
    settings: SpoolSettings,
    inotify: Inotify,
    outgoing_wd: Option<i32>,
    parent_wd: Option<i32>,
    timer: WallTimer,
    /// Every name followed, its state and due time.
    files: FileTable,
    /// Due files waiting behind a limit, per campaign in the order they were held.
    held: HeldQueues,
    /// When the last call was started (for maxrate), and when the next held one may start.
    pacer: Pacer,
    rate_wakeup: Option<Millis>,
    rescan: Option<fs::ReadDir>,
    /// When the scan in `rescan` began (for its duration in the metrics).
    rescan_started: Option<std::time::Instant>,
    /// When each file now due became due (its arrival, for a file already due when it came), until its
    /// call starts: the metrics' dial latency.
    due_since: HashMap<Arc<OsStr>, std::time::Instant>,
    /// After a reload: queued files whose `channel =` campaign is to be read again (see
    /// [`Scheduler::rejoin_campaigns`]).
    rejoining: VecDeque<Arc<OsStr>>,
    /// `watch = scan | both`: the periodic scan's state.
    scan: scan::PeriodicScan,
    running: usize,
    pool: WorkerPool<H>,
    /// When to look again whether the pool must grow (jobs waiting behind long calls).
    grow_check_at: Option<Millis>,
    book: CampaignBook,
    /// Files cancelled while their call was in progress: removed when the attempt ends, not retried.
    /// With the identity of the file cancelled (`None`: it was gone already), for the state file.
    cancelled: HashMap<Arc<OsStr>, Option<FileIdentity>>,
    /// The state file in use (per node on a shared spool), and what it held at start that no name seen
    /// since has taken up: records of files not yet met by the first scan.
    state_file: PathBuf,
    restored: HashMap<Arc<OsStr>, Record>,
    /// Kept files or cancellations changed since the state file was last written.
    state_dirty: bool,
    /// The last write of the state file failed (warned about once until one succeeds).
    state_write_failed: bool,
    /// Set while the stock pbx_spool is loaded beside us: nothing is dispatched (see [`Suspension`]).
    suspension: Option<Suspension>,
    /// When a change in outgoing/ may next make us look whether the stock pbx_spool was loaded.
    next_stock_look: Millis,
    /// A change came before `next_stock_look`: look then.
    stock_look_owed: bool,
    /// On a shared spool: the live nodes and this node's heartbeat (`None` on a spool of its own).
    members: Option<heartbeat::Members>,
}

/// Run the spooler on the current thread until a stop request is accepted. Called on the thread the
/// module starts at load.
pub fn run<H: Host>(host: Arc<H>, control: Arc<Control>, paths: SpoolPaths) {
    /// Marks the scheduler exited however `run` ends, a panic included (dropped after the scheduler,
    /// whose own drop settles the workers first).
    struct ExitMark(Arc<Control>);
    impl Drop for ExitMark {
        fn drop(&mut self) {
            self.0.mark_exited();
        }
    }
    let _exit_mark = ExitMark(control.clone());
    if !wait_until_booted(&*host, &control) {
        control.answer_stop(StopAnswer::Stopped);
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
        let _ = watcher::wait_readable([control.wakeup.as_raw_fd()], Some(Duration::from_millis(100)));
        control.wakeup.drain();
    }
}

fn take_stop_request(control: &Control) -> bool {
    let mut requests = control.requests.lock().unwrap_or_else(|p| p.into_inner());
    let stop = requests.iter().any(|r| matches!(r, Request::Stop));
    requests.retain(|r| !matches!(r, Request::Stop));
    stop
}

/// Do nothing until asked to stop (used when the spool must not be touched).
fn idle_until_stopped(control: &Control) {
    loop {
        if take_stop_request(control) {
            control.answer_stop(StopAnswer::Stopped);
            return;
        }
        let _ = watcher::wait_readable([control.wakeup.as_raw_fd()], None);
        control.wakeup.drain();
    }
}

impl<H: Host> Scheduler<H> {
    fn new(host: Arc<H>, control: Arc<Control>, paths: SpoolPaths) -> std::io::Result<Self> {
        let settings = control.settings();
        // Read once now, so the log and `spool show status` tell at load whether each list is in force.
        settings.rules.dnc.refresh(&*host);
        let spool_dir = paths.outgoing.parent().map_or_else(|| paths.outgoing.clone(), Path::to_path_buf);
        let (book, problems) = CampaignBook::new(settings.campaigns.clone(), spool_dir.clone());
        for problem in problems {
            host_log!(host, Level::Error, "{problem}");
        }
        let state_file = state::path_for(&spool_dir, settings.rules.node.as_deref());
        let (restored, problems) = state::load(&state_file);
        for problem in problems {
            host_log!(
                host,
                Level::Warning,
                "{problem}; what it says is lost, so the files it names are treated as new ones"
            );
        }
        if !restored.is_empty() {
            host_log!(
                host,
                Level::Verbose(3),
                "Read {} record(s) of kept, cancelled or unremovable call files from {}",
                restored.len(),
                state_file.display()
            );
        }
        let members = settings.rules.node.as_deref().map(|node| heartbeat::Members::new(&spool_dir, node));
        Ok(Scheduler {
            members,
            book,
            cancelled: HashMap::new(),
            state_file,
            restored,
            state_dirty: false,
            state_write_failed: false,
            pool: WorkerPool::new(host.clone(), paths.clone(), control.clone()),
            host,
            control,
            paths,
            settings,
            inotify: Inotify::new()?,
            outgoing_wd: None,
            parent_wd: None,
            timer: WallTimer::new()?,
            files: FileTable::new(wheel_time(bookkeeping::now_ms())),
            held: HeldQueues::default(),
            pacer: Pacer::default(),
            rate_wakeup: None,
            rescan: None,
            rescan_started: None,
            due_since: HashMap::new(),
            rejoining: VecDeque::new(),
            scan: scan::PeriodicScan::default(),
            running: 0,
            grow_check_at: None,
            suspension: None,
            next_stock_look: 0,
            stock_look_owed: false,
        })
    }

    fn run(&mut self) {
        // pbx_spool may have been loaded between our load and the end of boot: then nothing is dispatched
        // from the start, and the log says so before the spool is read.
        self.dispatch_suspended();
        self.watch_outgoing();
        let mut events = Vec::new();
        let mut expired = Vec::new();
        let mut events_read_at: Option<Instant> = None;
        loop {
            if self.handle_requests() {
                break;
            }
            if self.control.settings_changed.swap(false, Ordering::SeqCst) {
                let previous = std::mem::replace(&mut self.settings, self.control.settings());
                // Unchanged list files are not read again; a good copy stays in force if one became unreadable.
                self.settings.rules.dnc.adopt(&previous.rules.dnc);
                self.settings.rules.dnc.refresh(&*self.host);
                self.follow_node_setting();
                for problem in self.book.reconfigure(self.settings.campaigns.clone()) {
                    host_log!(self.host, Level::Error, "{problem}");
                }
                // Files may have changed campaign, or their campaign its windows or pause.
                self.rejoin_campaigns();
                self.recheck_waiting();
                self.dispatch_held();
            }
            self.drain_reports();

            events.clear();
            if let Err(err) = self.inotify.read_events(&mut events) {
                host_log!(self.host, Level::Error, "Unable to read inotify events: {err}");
            }
            if !events.is_empty() {
                events_read_at = Some(Instant::now());
                self.notice_stock_spooler(bookkeeping::now_ms());
            }
            for event in events.drain(..) {
                self.handle_event(event);
            }
            self.continue_rescan();
            self.continue_rejoining();
            if self.rescan.is_none() && self.scan.due(self.settings.watch.scans(), bookkeeping::now_ms()) {
                self.notice_stock_spooler(bookkeeping::now_ms());
                self.periodic_scan();
            }

            let now = bookkeeping::now_ms();
            self.beat(now);
            self.check_suspension(now);
            if self.stock_look_due().is_some_and(|at| at <= now) {
                self.notice_stock_spooler(now);
            }
            expired.clear();
            self.files.expire(wheel_time(now), &mut expired);
            for (name, _) in expired.drain(..) {
                self.fire(name, now);
            }

            self.dispatch_held();
            self.grow_check_at = self.pool.grow(bookkeeping::now_ms());
            self.save_state_if_dirty();
            if self.rescan.is_some() || !self.rejoining.is_empty() {
                continue; // more of the directory, or more Channel: lines, to read: do not sleep
            }
            let scan_at = self.scan.wakeup(self.settings.watch.scans());
            let suspension_check = self.suspension.map(|s| s.next_check).or(self.stock_look_due());
            let next_beat = self.members.as_ref().map(heartbeat::Members::next_beat);
            let next = [
                self.files.next_due().map(wall_time),
                self.rate_wakeup,
                self.grow_check_at,
                scan_at,
                suspension_check,
                next_beat,
            ]
            .into_iter()
            .flatten()
            .min();
            if let Err(err) = self.timer.arm(next) {
                host_log!(self.host, Level::Error, "Unable to arm the spool timer: {err}");
            }
            let batch_left = events_read_at.take().and_then(|at| ARRIVAL_BATCH.checked_sub(at.elapsed()));
            let (wakeup, timer) = (self.control.wakeup.as_raw_fd(), self.timer.as_raw_fd());
            let woken = match batch_left {
                Some(left) if !left.is_zero() => watcher::wait_readable([wakeup, timer], Some(left)),
                _ => watcher::wait_readable([self.inotify.as_raw_fd(), wakeup, timer], None)
                    .map(|[_, wakeup, timer]| [wakeup, timer]),
            };
            match woken {
                Ok([by_request, by_timer]) => {
                    if by_request {
                        self.control.wakeup.drain();
                    }
                    if by_timer {
                        self.timer.drain();
                    }
                }
                Err(err) => {
                    host_log!(self.host, Level::Error, "poll failed in the spool scheduler: {err}");
                    self.control.wakeup.drain();
                    self.timer.drain();
                }
            }
        }
        self.save_state_if_dirty();
        self.pool.close();
        self.leave_members();
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
                Request::Snapshot(query, reply) => {
                    self.drain_reports();
                    self.notice_stock_spooler(bookkeeping::now_ms());
                    reply.answer(self.snapshot(&query));
                }
                Request::Pause(campaign, pause, via, reply) => {
                    let answer = self.book.set_paused(&campaign, pause);
                    if answer.is_ok() {
                        host_log!(
                            self.host,
                            Level::Notice,
                            "Campaign {} {} from the {}",
                            printable(campaign.as_bytes()),
                            if pause { "paused" } else { "resumed" },
                            via.as_str()
                        );
                        self.announce_pause(&campaign, pause, via);
                        self.recheck_waiting();
                    }
                    reply.answer(answer);
                }
                Request::Cancel(target, hangup, via, reply) => {
                    self.drain_reports();
                    let mut answer = match &target {
                        CancelTarget::File(file) => self.cancel(file, hangup, via),
                        CancelTarget::Campaign(campaign) => self.cancel_campaign(campaign, hangup, via),
                    };
                    // Recorded before the admin is told, so the answer holds across a restart.
                    if let (Some(why), Ok(text)) = (self.save_state_if_dirty(), answer.as_mut()) {
                        text.push_str(&format!("Warning: {why}: a restart before the call ends would dial it again\n"));
                    }
                    if let Ok(text) = &answer {
                        host_log!(self.host, Level::Notice, "{}", text.trim_end());
                    }
                    reply.answer(answer);
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

    /// Where `name` lives: in outgoing/.
    fn path_of(&self, name: &OsStr) -> PathBuf {
        self.paths.outgoing.join(name)
    }

    /// Stop following `name` (gone, or no longer ours): out of the wheel, the held queue and its campaign.
    fn forget(&mut self, name: &Arc<OsStr>) {
        self.due_since.remove(name);
        if let Some(members) = self.members.as_mut() {
            members.forget(name);
        }
        self.book.forget(name);
        self.files.cancel(name);
        match self.files.remove(name) {
            Some(FileState::Held) => {
                self.held.remove(name);
            }
            Some(FileState::Kept(_) | FileState::Parked { finished: Some(_), .. }) => self.state_dirty = true,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
