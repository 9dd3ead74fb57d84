//! The spool's metrics in res_prometheus, when it is loaded: a callback that appends the spool's text
//! exposition (rendered by `pbx_spool_core::metrics`) to each scrape, and the [`Exporter`] that keeps it
//! registered while res_prometheus comes and goes. The module loads and works exactly the same without
//! res_prometheus. No decision about call files here, and no Asterisk call but through
//! `crate::asterisk::prometheus`.
//!
//! Why this design (Asterisk's loader, main/loader.c, and res/res_prometheus.c):
//! - Not linked: a module with undefined `prometheus_*` symbols fails to load without res_prometheus,
//!   and one that listed it in `.requires` or `.optional_modules` would hold a use count on it (when it
//!   was loaded first), so `module unload res_prometheus.so` would be refused. Its functions are looked
//!   up with `dlsym` through a handle that pins the library for the length of one call (`Pin`), so a
//!   concurrent unload can never unmap code we are in.
//! - No provider (`prometheus_metrics_provider_register`): res_prometheus has no way to remove one, so it
//!   would call into this module after `module unload pbx_spool_rs.so`. A callback can be removed.
//! - res_prometheus's unload simply forgets its callbacks; its next load starts with none. The loader's
//!   use-count callback (`ast_loader_register`) runs after every module load and unload; it only wakes
//!   the watcher thread, which registers the callback again when res_prometheus is mapped (dropping any
//!   earlier registration first, so it is never listed twice). It takes no lock of Asterisk's: the loader
//!   may call it holding its module list lock, and `module unload pbx_spool_rs.so` holds that lock while
//!   it joins the watcher, so the watcher asks `dl_iterate_phdr`, not `ast_module_check`.
//! - A registration can still be lost without the watcher seeing a change (res_prometheus unloaded and
//!   loaded again before the watcher looked, or registered between its `dlopen` and its load function):
//!   the watcher also looks every [`LIVENESS_CHECK`] whether res_prometheus has served an HTTP scrape
//!   since our callback last ran, and registers again if so. At most one scrape then lacks our metrics.
//! - At unload the callback is unregistered while res_prometheus's library is pinned; unregistering takes
//!   its scrape lock, so no scrape is inside our callback afterwards. A scrape asks the scheduler with a
//!   bounded wait ([`SCRAPE_WAIT`]), cut short as soon as the module starts unloading.
//! - One window is left: `dlopen`/`dlclose` take glibc's loader lock, and the loader's `dlclose` of
//!   res_prometheus runs its destructor, which takes Asterisk's module list lock. `module unload
//!   pbx_spool_rs.so` typed in another console within the microseconds between res_prometheus's unload
//!   and its `dlclose` could then wait on each other. Module commands are not run that way in practice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::asterisk::prometheus::{self, LoaderCallback, Pin};
use crate::asterisk::wall::entry_points;
use crate::asterisk::Asterisk;
use crate::process::JoinableThread;
use pbx_spool_core::host::{Host, Level};
use pbx_spool_core::host_log;
use pbx_spool_core::metrics::{self, Scrape};
use pbx_spool_core::scheduler::SnapshotQuery;

/// How long a scrape waits for the scheduler's figures before it renders the counters alone.
const SCRAPE_WAIT: Duration = Duration::from_secs(2);

/// How often the watcher checks that res_prometheus still has our callback, besides after module changes.
const LIVENESS_CHECK: Duration = Duration::from_secs(5);

/// The watcher thread's body, reported as one ERROR if it panics.
const WATCHER: crate::asterisk::wall::Entry = crate::asterisk::wall::Entry {
    name: "the metrics watcher",
    consequence: "; spool metrics may be missing from res_prometheus until the module is loaded again",
};

/// What the watcher waits on. A static because neither Asterisk callback carries data; only atomics and
/// std's futex-based lock and condition variable, as for `Control` (no thread-local state on Asterisk's
/// threads).
struct Watch {
    state: Mutex<WatchState>,
    wake: Condvar,
    /// Set from the start of unload: a scrape stops waiting for the scheduler.
    closing: AtomicBool,
    /// When our callback last served a scrape.
    last_served: Mutex<Option<SystemTime>>,
}

struct WatchState {
    /// Modules may have been loaded or unloaded since the watcher last looked.
    changed: bool,
    stop: bool,
}

static WATCH: Watch = Watch {
    state: Mutex::new(WatchState { changed: false, stop: false }),
    wake: Condvar::new(),
    closing: AtomicBool::new(false),
    last_served: Mutex::new(None),
};

entry_points! {
    /// res_prometheus's callback: appends the spool's metrics to a scrape.
    ///
    /// # Safety
    ///
    /// `output` is the scrape's output string, valid for the call (res_prometheus's contract).
    unsafe fn pbx_spool_rs_metrics(output: prometheus::RawOutput) -> () [entry "metrics scrape", on panic ()] {
        *WATCH.last_served.lock().unwrap_or_else(|p| p.into_inner()) = Some(SystemTime::now());
        let text = exposition();
        // SAFETY: the C caller's contract above is `append`'s.
        unsafe { prometheus::append(output, &text) };
    }

    /// The loader's use-count callback: only wakes the watcher (see the module documentation).
    fn pbx_spool_rs_modules_changed() -> libc::c_int [entry "module change", on panic 0] {
        let mut state = WATCH.state.lock().unwrap_or_else(|p| p.into_inner());
        if !state.changed {
            state.changed = true;
            WATCH.wake.notify_one();
        }
        0
    }
}

/// The text for one scrape: the scheduler's figures (bounded wait) and the counts since load.
fn exposition() -> String {
    let Some((control, node)) = crate::module::running_control() else {
        return String::new();
    };
    let query = SnapshotQuery { limit: 0, file: None };
    let snapshot = control.snapshot_within(query, SCRAPE_WAIT, || WATCH.closing.load(Ordering::SeqCst));
    let counts = control.stats.tallies.counts();
    let claims_lost = control.stats.claims_lost.load(Ordering::Relaxed);
    metrics::render(&Scrape { snapshot: snapshot.as_ref(), counts: &counts, claims_lost, node: node.as_deref() })
}

/// Keeps the metrics callback registered with res_prometheus while the module runs; unregisters it on
/// [`Exporter::stop`].
pub(crate) struct Exporter {
    loader: Option<LoaderCallback>,
    thread: Option<JoinableThread>,
}

impl Exporter {
    pub(crate) fn start() -> Exporter {
        WATCH.closing.store(false, Ordering::SeqCst);
        *WATCH.state.lock().unwrap_or_else(|p| p.into_inner()) = WatchState { changed: true, stop: false };
        let loader = LoaderCallback::register(pbx_spool_rs_modules_changed);
        if loader.is_none() {
            host_log!(
                Asterisk,
                Level::Warning,
                "pbx_spool_rs: cannot follow module loads; spool metrics reach res_prometheus only by its periodic check"
            );
        }
        let thread =
            match JoinableThread::spawn(c"pbx_spool_rs mx", || crate::asterisk::wall::guard(WATCHER, (), watch)) {
                Ok(thread) => Some(thread),
                Err(err) => {
                    host_log!(
                        Asterisk,
                        Level::Warning,
                        "pbx_spool_rs: unable to start the metrics thread ({err}); no spool metrics in res_prometheus"
                    );
                    None
                }
            };
        Exporter { loader, thread }
    }

    /// Stops following res_prometheus and takes the callback out of it. Called on unload (with the
    /// loader's module list lock held), before anything the callback uses goes away.
    pub(crate) fn stop(mut self) {
        WATCH.closing.store(true, Ordering::SeqCst);
        drop(self.loader.take());
        {
            let mut state = WATCH.state.lock().unwrap_or_else(|p| p.into_inner());
            state.stop = true;
            WATCH.wake.notify_one();
        }
        drop(self.thread.take());
        if let Some(pin) = Pin::open() {
            pin.unregister_metrics();
        }
    }
}

/// The watcher thread: after each module change, and every [`LIVENESS_CHECK`], makes sure res_prometheus
/// (when mapped) has our callback.
fn watch() {
    let mut registered_at: Option<SystemTime> = None;
    let mut next_check = Instant::now();
    loop {
        {
            let mut state = WATCH.state.lock().unwrap_or_else(|p| p.into_inner());
            while !state.stop && !state.changed && Instant::now() < next_check {
                let wait = next_check.saturating_duration_since(Instant::now());
                state = WATCH.wake.wait_timeout(state, wait).unwrap_or_else(|p| p.into_inner()).0;
            }
            if state.stop {
                return;
            }
            state.changed = false;
        }
        next_check = Instant::now() + LIVENESS_CHECK;
        // Modules load in turn while Asterisk boots: res_prometheus may be mapped and not yet started.
        if !Asterisk.fully_booted() {
            continue;
        }
        registered_at = keep_registered(registered_at);
    }
}

/// One look: registers the callback if res_prometheus is there and does not have it (as far as can be
/// told); returns when it was registered, `None` while res_prometheus is absent.
fn keep_registered(registered_at: Option<SystemTime>) -> Option<SystemTime> {
    if !crate::asterisk::module_file_mapped(prometheus::MODULE_FILE) {
        if registered_at.is_some() {
            host_log!(Asterisk, Level::Verbose(3), "res_prometheus is gone: spool metrics are no longer served");
        }
        return None;
    }
    let pin = Pin::open()?;
    let lost = registered_at.is_some_and(|registered| {
        // Asked first: it waits for a scrape in progress, which may be running our callback.
        let last_scrape = pin.last_scrape();
        let last_served = *WATCH.last_served.lock().unwrap_or_else(|p| p.into_inner());
        // A scrape began after our registration and after our callback last ran: it did not run it.
        let seen = last_served.map_or(registered, |served| served.max(registered));
        last_scrape.is_some_and(|scrape| scrape > seen)
    });
    if registered_at.is_some() && !lost {
        return registered_at;
    }
    if pin.register_metrics() {
        host_log!(Asterisk, Level::Verbose(3), "Spool metrics (asterisk_spool_*) registered with res_prometheus");
        Some(SystemTime::now())
    } else {
        host_log!(
            Asterisk,
            Level::Debug(1),
            "res_prometheus refused the spool's metrics callback (or lacks its functions); trying again later"
        );
        None
    }
}
