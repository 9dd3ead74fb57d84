//! The worker pool: reusable threads that visit due files ([`attempt::visit`]) one at a time and report
//! back to the scheduler. It grows at once to [`BASE_POOL`] and beyond only behind long calls, shrinks
//! when idle, and is closed without ever waiting for a call. Owned by the scheduler thread; workers
//! touch nothing but their job, the file it names, atomics shared with the pool, and their attempt's
//! entry in the `SPOOL()` book (`Control::steering`) while its call is placed.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::control::Control;
use crate::attempt::{self, AttemptStart, Outcome, SpoolPaths, VisitRules};
use crate::bookkeeping::{self, Millis};
use crate::host::{Host, Level};
use crate::host_log;
use crate::text::printable;

/// `busy_since` of a worker that is leaving the pool (its thread is about to return).
const LEAVING: Millis = -1;

/// A pool thread and when it started its current job (0 = idle, [`LEAVING`]).
struct WorkerHandle {
    thread: std::thread::JoinHandle<()>,
    busy_since: Arc<AtomicI64>,
}

/// Workers started as soon as a job waits, without further ado.
pub(super) const BASE_POOL: usize = 4;
/// A worker busy this long is taken to be in a real call (a failing one returns within milliseconds, even
/// on a loaded machine): jobs waiting behind such workers get new workers, so that, as with pbx_spool,
/// concurrency is unlimited by default, but without one thread per queued file.
const STUCK_AFTER_MS: Millis = 200;
/// New workers per scheduler iteration, so a burst cannot stall the scheduler in thread creation.
const MAX_SPAWN_PER_STEP: usize = 256;
/// A worker idle this long leaves the pool, down to one, so a burst's threads do not stay for good.
pub(super) const WORKER_IDLE_EXIT: std::time::Duration = std::time::Duration::from_secs(2);

/// What workers tell the scheduler.
pub(super) enum WorkerReport {
    Started(Arc<OsStr>, AttemptStart),
    Finished(Arc<OsStr>, Outcome),
    /// A worker left the pool after being idle (the scheduler joins it).
    WorkerExited,
}

/// A due file handed to a worker, with the rules in force when it fell due.
pub(super) struct Job {
    pub(super) name: Arc<OsStr>,
    pub(super) rules: Arc<VisitRules>,
}

/// The pool, as the scheduler sees it.
pub(super) struct WorkerPool<H: Host> {
    host: Arc<H>,
    paths: SpoolPaths,
    control: Arc<Control>,
    /// `None` once closed.
    jobs: Option<Sender<Job>>,
    job_source: Receiver<Job>,
    reports: Receiver<WorkerReport>,
    report_sink: Sender<WorkerReport>,
    idle_workers: Arc<AtomicUsize>,
    /// Jobs sent to the pool and not yet picked up by a worker.
    waiting_jobs: Arc<AtomicUsize>,
    /// Workers that have not left the pool.
    live_workers: Arc<AtomicUsize>,
    workers: Vec<WorkerHandle>,
    /// When the pool may grow again behind long calls.
    next_growth: Millis,
}

impl<H: Host> WorkerPool<H> {
    pub(super) fn new(host: Arc<H>, paths: SpoolPaths, control: Arc<Control>) -> Self {
        let (jobs, job_source) = crossbeam_channel::unbounded();
        let (report_sink, reports) = crossbeam_channel::unbounded();
        WorkerPool {
            host,
            paths,
            control,
            jobs: Some(jobs),
            job_source,
            reports,
            report_sink,
            idle_workers: Arc::new(AtomicUsize::new(0)),
            waiting_jobs: Arc::new(AtomicUsize::new(0)),
            live_workers: Arc::new(AtomicUsize::new(0)),
            workers: Vec::new(),
            next_growth: 0,
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.jobs.is_none()
    }

    /// Jobs handed to the pool that no worker has taken yet.
    pub(super) fn waiting(&self) -> usize {
        self.waiting_jobs.load(Ordering::SeqCst)
    }

    /// Threads in the pool.
    pub(super) fn len(&self) -> usize {
        self.workers.len()
    }

    /// Hand a job to the pool; a worker takes it as soon as one is free (see [`WorkerPool::grow`]).
    pub(super) fn submit(&self, job: Job) {
        if let Some(jobs) = self.jobs.as_ref() {
            self.waiting_jobs.fetch_add(1, Ordering::SeqCst);
            let _ = jobs.send(job);
        }
    }

    /// The next report from a worker, if one is waiting.
    pub(super) fn try_report(&self) -> Option<WorkerReport> {
        self.reports.try_recv().ok()
    }

    /// Join the workers that left the pool (joined, not dropped: a thread still running its exit code
    /// must not be left behind).
    pub(super) fn reap(&mut self) {
        let (gone, alive): (Vec<_>, Vec<_>) =
            self.workers.drain(..).partition(|w| w.busy_since.load(Ordering::SeqCst) == LEAVING);
        self.workers = alive;
        for worker in gone {
            let _ = worker.thread.join();
        }
    }

    /// Close the pool without ever waiting for a call: jobs not yet started are dropped (their files are
    /// untouched and found again at the next start), idle workers are joined (they return at once), and
    /// workers in a call are handed to [`Control`], whose stop requests answer busy until they finish.
    /// After a normal stop no call is in progress, so every worker is joined here.
    pub(super) fn close(&mut self) {
        // Before reading any worker's busy_since; a worker sets busy_since before reading `closing`, so
        // a worker seen idle here sees `closing` and drops any job it has just taken (SeqCst both sides).
        self.control.closing.store(true, Ordering::SeqCst);
        self.jobs = None; // workers see the channel close and exit
        while self.job_source.try_recv().is_ok() {}
        for worker in self.workers.drain(..) {
            if worker.busy_since.load(Ordering::SeqCst) > 0 {
                self.control.orphans.lock().unwrap_or_else(|p| p.into_inner()).push(worker.thread);
            } else {
                let _ = worker.thread.join();
            }
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
            control: self.control.clone(),
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
    /// Returns when to look again, if jobs are still waiting.
    pub(super) fn grow(&mut self, now: Millis) -> Option<Millis> {
        let waiting = self.waiting_jobs.load(Ordering::SeqCst);
        let idle = self.idle_workers.load(Ordering::SeqCst);
        let mut needed = waiting.saturating_sub(idle);
        while needed > 0 && self.workers.len() < BASE_POOL {
            self.spawn_worker();
            needed -= 1;
        }
        if needed == 0 {
            return None;
        }
        if now < self.next_growth {
            return Some(self.next_growth);
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
            return Some(now + STUCK_AFTER_MS / 2);
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
        (needed > spawn).then_some(self.next_growth)
    }
}

impl<H: Host> Drop for WorkerPool<H> {
    /// Also on the way out of a panic: no worker is left unaccounted for (unload would unmap code it
    /// runs), and none is waited for while in a call (unload would hang with Asterisk's module lock).
    fn drop(&mut self) {
        self.close();
    }
}

/// A pool thread: visits due files one at a time and reports the outcome.
struct Worker<H: Host> {
    host: Arc<H>,
    paths: SpoolPaths,
    jobs: Receiver<Job>,
    reports: Sender<WorkerReport>,
    idle: Arc<AtomicUsize>,
    waiting: Arc<AtomicUsize>,
    live: Arc<AtomicUsize>,
    busy_since: Arc<AtomicI64>,
    control: Arc<Control>,
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
                        let _ = self.reports.send(WorkerReport::WorkerExited);
                        self.control.wake_scheduler();
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
            if self.control.closing.load(Ordering::SeqCst) {
                // The scheduler is gone (see shut_down_workers): nothing more is dialled.
                self.busy_since.store(0, Ordering::SeqCst);
                continue;
            }
            let path = self.paths.outgoing.join(&*name);
            let outcome = {
                let reports = &self.reports;
                let control = &self.control;
                let started_name = name.clone();
                let mut on_start = |start: AttemptStart| {
                    let _ = reports.send(WorkerReport::Started(started_name.clone(), start));
                    control.wake_scheduler();
                };
                let visit = std::panic::AssertUnwindSafe(|| {
                    let (stats, steering) = (&self.control.stats, &self.control.steering);
                    attempt::visit_steered(&*self.host, &self.paths, &rules, stats, steering, &path, &mut on_start)
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
            let _ = self.reports.send(WorkerReport::Finished(name, outcome));
            self.control.wake_scheduler();
        }
    }
}
