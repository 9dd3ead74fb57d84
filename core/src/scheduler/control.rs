//! How Asterisk's threads (load, unload, reload, CLI, AMI) talk to the scheduler thread: [`Control`],
//! made of atomics, futex-based std mutexes and an eventfd write. These threads never use crossbeam or
//! spawn std threads here, so they are left with no Rust thread-local destructors that would keep the
//! module mapped after unload. Requests carry their own reply slot; nothing here touches files or calls.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::attempt::{Stats, VisitRules};
use crate::bookkeeping::Millis;
use crate::watcher::EventFd;

/// What the scheduler applies, from pbx_spool_rs.conf; replaced on `module reload`.
#[derive(Debug, Clone, Default)]
pub struct SpoolSettings {
    pub rules: Arc<VisitRules>,
    /// Calls in progress at once; `None` = unlimited (pbx_spool's behaviour).
    pub max_calls: Option<usize>,
    /// Calls started per second; `None` = unlimited.
    pub max_rate: Option<f64>,
    /// The effective pbx_spool_rs.conf, described for `spool show status`.
    pub description: Arc<Vec<(String, String)>>,
    /// How new files are found (`watch`), and the scan's period (`scan_interval`).
    pub watch: crate::config::WatchMode,
    pub scan_interval_ms: u64,
    /// pbx_spool_rs.conf's campaigns, in order (see [`crate::campaign`]).
    pub campaigns: Arc<Vec<crate::campaign::Campaign>>,
}

/// Requests from Asterisk's threads to the scheduler.
pub(super) enum Request {
    Stop,
    Rescan,
    /// Answered into the asker's own slot, so concurrent askers (console and AMI) never get each
    /// other's answer.
    Snapshot(SnapshotQuery, Arc<Reply<Snapshot>>),
    /// `spool pause|resume <campaign|all>` (true = pause): the admin's answer, or why not.
    Pause(String, bool, Via, Arc<Reply<Result<String, String>>>),
    /// `spool cancel <file>|campaign <name> [hangup]` (true = hang up calls in progress).
    Cancel(CancelTarget, bool, Via, Arc<Reply<Result<String, String>>>),
}

/// Who asked for an operation, as its events say (`Via:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// An Asterisk console (`spool ...`).
    Cli,
    /// A manager session (`Action: Spool...`).
    Ami,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Cli => "CLI",
            Via::Ami => "AMI",
        }
    }
}

/// What `spool cancel` / SpoolCancel cancels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelTarget {
    /// One call file, by its name in outgoing/.
    File(String),
    /// Every queued, waiting, held or running file of a campaign.
    Campaign(String),
}

/// A one-shot answer slot, owned by one request.
pub(super) struct Reply<T> {
    value: Mutex<Option<T>>,
    ready: Condvar,
}

impl<T> Reply<T> {
    fn new() -> Arc<Self> {
        Arc::new(Reply { value: Mutex::new(None), ready: Condvar::new() })
    }

    pub(super) fn answer(&self, value: T) {
        *self.value.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
        self.ready.notify_all();
    }

    /// The answer, or `None` once `deadline` passes or `gave_up()` holds (checked at each wake-up).
    fn wait(&self, deadline: std::time::Instant, gave_up: impl Fn() -> bool) -> Option<T> {
        let mut slot = self.value.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(value) = slot.take() {
                return Some(value);
            }
            let now = std::time::Instant::now();
            if now >= deadline || gave_up() {
                return None;
            }
            // Short slices so that a scheduler that exits meanwhile is noticed without waiting out the deadline.
            let slice = (deadline - now).min(std::time::Duration::from_millis(100));
            slot = self.ready.wait_timeout(slot, slice).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}

/// What an admin command wants to see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotQuery {
    /// How many of the next due files to list.
    pub limit: usize,
    /// A file whose state to report.
    pub file: Option<String>,
}

/// A file waiting to be dialled, as `spool show queue` and SpoolShow list it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueuedFile {
    pub name: String,
    /// When it is due (ms on the wall clock): its own time, or its campaign's window opening.
    pub due: Millis,
    /// The campaign it is in (by `match`, or by `match` and `channel`), if any.
    pub campaign: Option<String>,
    /// Its state, as SpoolShow names it: queued, retrying, window, paused, held, running, kept.
    pub state: &'static str,
    /// When the scheduler next acts on it (ms): `due` for a waiting file, a running call's retry time, a
    /// kept file's removal; `None` while it waits for a resume or for capacity.
    pub next_due: Option<Millis>,
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
    /// Due, waiting for their campaign's calling window to open.
    pub waiting_window: usize,
    /// Due, waiting for their campaign (or all) to be resumed.
    pub waiting_paused: usize,
    /// Due, not dispatched while the stock pbx_spool is loaded too (see `suspended`).
    pub due_suspended: usize,
    /// Per campaign, in configuration order.
    pub campaigns: Vec<super::CampaignFigures>,
    /// `spool pause all` is in force.
    pub all_paused: bool,
    /// Why nothing is dispatched now (the stock pbx_spool is loaded too), if so.
    pub suspended: Option<String>,
    /// Why listed files (in `next`) wait, when it is their campaign: (name, reason).
    pub notes: Vec<(String, String)>,
    /// Files waiting for their paused campaign (not in `next`: they have no due time), up to the
    /// query's limit, with their campaign.
    pub paused_files: Vec<(String, String)>,
    /// Threads in the worker pool.
    pub workers: usize,
    /// The next files by due time, up to the query's limit.
    pub next: Vec<QueuedFile>,
    /// Up to the query's limit, the files not waiting for a time (paused, held, running, kept), by name;
    /// their `due` is the file's own date.
    pub others: Vec<QueuedFile>,
    /// The queried file's state, if it is known.
    pub file_state: Option<String>,
    /// The last periodic scan (`watch = scan | both`).
    pub last_scan: Option<super::ScanReport>,
    /// On a shared spool: the live nodes and this node's share.
    pub nodes: Option<super::NodesReport>,
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
    pub(super) wakeup: EventFd,
    pub(super) requests: Mutex<VecDeque<Request>>,
    pub(super) stop_answer: Mutex<Option<StopAnswer>>,
    pub(super) stop_answered: Condvar,
    pub(super) settings: Mutex<SpoolSettings>,
    pub(super) settings_changed: AtomicBool,
    pub(super) calls_in_progress: AtomicUsize,
    /// Set when the scheduler thread has returned (normally or after a caught panic).
    pub(super) exited: AtomicBool,
    /// Set when the scheduler closes its pool: a job a worker takes from then on is dropped, not visited.
    pub(super) closing: AtomicBool,
    /// Workers that were in a call when the scheduler went away (after a panic): not waited for there,
    /// joined by a later stop request once they have finished.
    pub(super) orphans: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Totals since load.
    pub stats: Arc<Stats>,
    /// The attempts in flight by their channel's uniqueid, for the dialplan function `SPOOL()`.
    pub steering: crate::steering::SteeringBook,
    /// The last read of pbx_spool_rs.conf, whether or not its settings were taken (`spool show status`).
    config_read: Mutex<Option<crate::config::ConfigRead>>,
}

impl Control {
    pub fn new(settings: SpoolSettings) -> std::io::Result<Arc<Self>> {
        Ok(Arc::new(Control {
            wakeup: EventFd::new()?,
            requests: Mutex::new(VecDeque::new()),
            stop_answer: Mutex::new(None),
            stop_answered: Condvar::new(),
            settings: Mutex::new(settings),
            settings_changed: AtomicBool::new(false),
            calls_in_progress: AtomicUsize::new(0),
            exited: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            orphans: Mutex::new(Vec::new()),
            stats: Arc::new(Stats::default()),
            steering: crate::steering::SteeringBook::new(),
            config_read: Mutex::new(None),
        }))
    }

    fn send(&self, request: Request) {
        self.requests.lock().unwrap_or_else(|p| p.into_inner()).push_back(request);
        self.wakeup.wake();
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
                return self.settle_orphans();
            }
            answer = self.stop_answered.wait(answer).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// After the scheduler has exited: stopped once every worker it left in a call has finished (joined
    /// here, without waiting), busy until then.
    fn settle_orphans(&self) -> StopAnswer {
        let mut orphans = self.orphans.lock().unwrap_or_else(|p| p.into_inner());
        let (finished, in_call): (Vec<_>, Vec<_>) = orphans.drain(..).partition(|t| t.is_finished());
        *orphans = in_call;
        for thread in finished {
            let _ = thread.join();
        }
        match orphans.len() {
            0 => StopAnswer::Stopped,
            calls_in_progress => StopAnswer::Busy { calls_in_progress },
        }
    }

    pub fn request_rescan(&self) {
        self.send(Request::Rescan);
    }

    /// Remembers how the last read of pbx_spool_rs.conf ended (a failed read changes no setting).
    pub fn record_config_read(&self, read: crate::config::ConfigRead) {
        *self.config_read.lock().unwrap_or_else(|p| p.into_inner()) = Some(read);
    }

    /// The last read of pbx_spool_rs.conf, once one was recorded.
    pub fn config_read(&self) -> Option<crate::config::ConfigRead> {
        self.config_read.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn update_settings(&self, settings: SpoolSettings) {
        *self.settings.lock().unwrap_or_else(|p| p.into_inner()) = settings;
        self.settings_changed.store(true, Ordering::SeqCst);
        self.wakeup.wake();
    }

    /// Ask the scheduler for its state. Bounded wait: an admin command must never hang the CLI (and with
    /// it `module unload`, which waits for CLI handlers) on a scheduler that is stopping.
    pub fn snapshot(&self, query: SnapshotQuery) -> Option<Snapshot> {
        let reply = Reply::new();
        self.send(Request::Snapshot(query, reply.clone()));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        reply.wait(deadline, || self.exited.load(Ordering::SeqCst))
    }

    /// [`Control::snapshot`] for a metrics scrape: waits at most `timeout`, and gives up as soon as
    /// `gave_up()` holds (the module is unloading), so a scrape never holds Asterisk's HTTP thread long.
    pub fn snapshot_within(
        &self,
        query: SnapshotQuery,
        timeout: std::time::Duration,
        gave_up: impl Fn() -> bool,
    ) -> Option<Snapshot> {
        let reply = Reply::new();
        self.send(Request::Snapshot(query, reply.clone()));
        let deadline = std::time::Instant::now() + timeout;
        reply.wait(deadline, || gave_up() || self.exited.load(Ordering::SeqCst))
    }

    /// Pause (`pause` true) or resume a campaign, or `all`. `None` if the scheduler did not answer.
    pub fn set_paused(&self, campaign: &str, pause: bool, via: Via) -> Option<Result<String, String>> {
        let reply = Reply::new();
        self.send(Request::Pause(campaign.to_string(), pause, via, reply.clone()));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        reply.wait(deadline, || self.exited.load(Ordering::SeqCst))
    }

    /// Cancel a call file or a campaign's files (`hangup`: end their calls in progress). `None` if no answer.
    pub fn cancel(&self, target: CancelTarget, hangup: bool, via: Via) -> Option<Result<String, String>> {
        let reply = Reply::new();
        self.send(Request::Cancel(target, hangup, via, reply.clone()));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        reply.wait(deadline, || self.exited.load(Ordering::SeqCst))
    }

    /// The settings in force (a copy).
    pub fn settings(&self) -> SpoolSettings {
        self.settings.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Wake the scheduler thread (a worker has reported, a request is waiting).
    pub(super) fn wake_scheduler(&self) {
        self.wakeup.wake();
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

    pub(super) fn answer_stop(&self, answer: StopAnswer) {
        *self.stop_answer.lock().unwrap_or_else(|p| p.into_inner()) = Some(answer);
        self.stop_answered.notify_all();
    }
}
