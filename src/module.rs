//! The module's entry points, called by the C shim's load/unload/reload (src/shim.c). This is the FFI
//! wall: each entry point catches panics and reports them through Asterisk's logger, so no unwind ever
//! crosses into C. The single [`Runtime`] is created at load and torn down at unload, which joins every
//! thread the module started.
//!
//! Unload refuses while calls placed by the module are in progress (rather than waiting): a call can
//! last an hour, and a `module unload` that hangs the CLI that long is worse than a clear refusal; the
//! admin can retry when `core show channels` is quiet. Nothing is left running in unmapped code either way.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::asterisk::{self, Asterisk};
use crate::attempt::{SpoolPaths, VisitRules};
use crate::config::{self, SpoolConfig};
use crate::host::{Host, Level};
use crate::host_log;
use crate::runtime_slot::RuntimeSlot;
use crate::scheduler::{self, Control, Settings, StopAnswer};

/// `enum ast_module_load_result`.
const LOAD_SUCCESS: i32 = 0;
const LOAD_DECLINE: i32 = 1;
const LOAD_FAILURE: i32 = -1;

/// Everything the module runs, owned in one place.
struct Runtime {
    control: Arc<Control>,
    thread: libc::pthread_t,
    outgoing: std::path::PathBuf,
}

// SAFETY: pthread_t is an opaque thread id; it is only passed to pthread_join, from any thread.
unsafe impl Send for Runtime {}

/// std's Mutex (inside) is futex-based and registers no thread-local destructors on Asterisk's threads.
static RUNTIME: RuntimeSlot<Runtime> = RuntimeSlot::new();

/// Run an entry point, turning a panic into an ERROR log line and `on_panic`.
fn guarded(entry: &str, on_panic: i32, body: impl FnOnce() -> i32) -> i32 {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(code) => code,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            host_log!(Asterisk, Level::Error, "pbx_spool_rs: internal error in {entry}: {what}");
            on_panic
        }
    }
}

fn install_panic_hook() {
    // Panics are caught and logged at the wall; the hook only keeps std from printing to stderr/stdout.
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        host_log!(Asterisk, Level::Error, "pbx_spool_rs: panic{location}: {info}");
    }));
}

#[no_mangle]
pub extern "C" fn pbx_spool_rs_load() -> i32 {
    guarded("load", LOAD_FAILURE, load)
}

#[no_mangle]
pub extern "C" fn pbx_spool_rs_unload() -> i32 {
    guarded("unload", -1, unload)
}

#[no_mangle]
pub extern "C" fn pbx_spool_rs_reload() -> i32 {
    guarded("reload", -1, reload)
}

fn load() -> i32 {
    install_panic_hook();
    let Some(spool) = asterisk::spool_dir() else {
        host_log!(
            Asterisk,
            Level::Error,
            "Asterisk has no spool directory (astspooldir in asterisk.conf is empty) -- outgoing spool disabled"
        );
        return LOAD_DECLINE;
    };
    let paths = SpoolPaths { outgoing: spool.join("outgoing"), done: spool.join("outgoing_done") };
    if let Err(err) = create_dir_mode(&paths.outgoing) {
        host_log!(
            Asterisk,
            Level::Warning,
            "Unable to create queue directory {} -- outgoing spool disabled ({err})",
            paths.outgoing.display()
        );
        return LOAD_DECLINE;
    }
    if Asterisk.stock_spooler_loaded() {
        host_log!(
            Asterisk,
            Level::Error,
            "pbx_spool.so is loaded: two spoolers on {} would dial every call file twice, so pbx_spool_rs \
             declines to load. Add this line to modules.conf and restart Asterisk:  noload => pbx_spool.so",
            paths.outgoing.display()
        );
        return LOAD_DECLINE;
    }
    // Before taking the slot: reading the configuration and resolving allowed_owner names (NSS) can be slow.
    let settings = load_settings(None).unwrap_or_default();
    let mut runtime = RUNTIME.lock();
    if runtime.is_some() {
        return LOAD_SUCCESS;
    }
    let control = match Control::new(settings) {
        Ok(control) => control,
        Err(err) => {
            host_log!(Asterisk, Level::Error, "Unable to set up the outgoing spool: {err}");
            return LOAD_FAILURE;
        }
    };
    let thread_control = control.clone();
    let outgoing = paths.outgoing.clone();
    let thread = match spawn_joinable(Box::new(move || {
        // scheduler::run marks the control exited however it ends, a panic included.
        let run = AssertUnwindSafe(|| scheduler::run(Arc::new(Asterisk), thread_control, paths));
        if catch_unwind(run).is_err() {
            host_log!(
                Asterisk,
                Level::Error,
                "pbx_spool_rs: the spool scheduler stopped after an internal error; nothing more is dialled \
                 until the module is loaded again"
            );
        }
    })) {
        Ok(thread) => thread,
        Err(err) => {
            host_log!(Asterisk, Level::Error, "Unable to create the spool thread: {err}");
            return LOAD_FAILURE;
        }
    };
    *runtime = Some(Runtime { control, thread, outgoing });
    drop(runtime);
    // SAFETY: registers the shim's static CLI entries once per load; unregistered in unload.
    unsafe { asterisk::sys::prs_cli_register() };
    LOAD_SUCCESS
}

fn unload() -> i32 {
    // Taken out of the slot so that no lock is held while waiting: CLI handlers look at the slot, and
    // unregistering the CLI waits for running handlers.
    let Some(runtime) = RUNTIME.lock().take() else { return 0 };
    match runtime.control.request_stop() {
        StopAnswer::Busy { calls_in_progress } => {
            host_log!(
                Asterisk,
                Level::Warning,
                "pbx_spool_rs: {calls_in_progress} call(s) placed from the spool are still in progress; not unloading. \
                 Nothing was stopped; try again when they have finished"
            );
            *RUNTIME.lock() = Some(runtime);
            -1
        }
        StopAnswer::Stopped => {
            // SAFETY: the entries were registered at load; unregistering waits for running handlers.
            unsafe { asterisk::sys::prs_cli_unregister() };
            // SAFETY: `thread` was created joinable by spawn_joinable and is joined exactly once, here.
            unsafe { libc::pthread_join(runtime.thread, std::ptr::null_mut()) };
            0
        }
    }
}

fn reload() -> i32 {
    // The configuration and allowed_owner names (NSS, possibly LDAP) are read with the slot unlocked, so
    // CLI commands and unload do not wait behind a slow lookup. The new settings go to the control they
    // were read for; if an unload or a new load got in between, that control is stopped or replaced,
    // and the settings are simply unused.
    let reloaded = RUNTIME.with_handle(
        |runtime| runtime.control.clone(),
        |control| match load_settings(Some(control.settings())) {
            Ok(settings) => {
                control.update_settings(settings);
                0
            }
            Err(()) => -1,
        },
    );
    reloaded.unwrap_or(0)
}

const CONFIG_FILE: &str = "pbx_spool_rs.conf";

/// Read pbx_spool_rs.conf through Asterisk's loader. A missing file means the defaults; a malformed one
/// is reported and `previous` (or the defaults) stays in force, signalled by `Err`.
fn load_settings(previous: Option<Settings>) -> Result<Settings, ()> {
    let kept = if previous.is_some() { "the previous settings stay in force" } else { "using the defaults" };
    let entries = match asterisk::config::load(CONFIG_FILE) {
        asterisk::config::Loaded::Entries(entries) => entries,
        asterisk::config::Loaded::Missing => {
            host_log!(Asterisk, Level::Debug(1), "No {CONFIG_FILE}: using the defaults");
            Vec::new()
        }
        asterisk::config::Loaded::Invalid => {
            host_log!(Asterisk, Level::Error, "{CONFIG_FILE} could not be parsed; {kept}");
            return Err(());
        }
    };
    let config = match config::from_entries(&entries) {
        Ok((config, warnings)) => {
            for problem in warnings {
                host_log!(Asterisk, Level::Warning, "{CONFIG_FILE} line {}: {}", problem.line, problem.message);
            }
            config
        }
        Err(problems) => {
            for problem in problems {
                host_log!(Asterisk, Level::Error, "{CONFIG_FILE} line {}: {}", problem.line, problem.message);
            }
            host_log!(Asterisk, Level::Error, "{CONFIG_FILE} has errors; {kept}");
            return Err(());
        }
    };
    Ok(settings_from(&config))
}

fn settings_from(config: &SpoolConfig) -> Settings {
    let allowed_owners = config.owner_check.then(|| {
        if config.allowed_owners.is_empty() {
            // SAFETY: geteuid has no preconditions.
            let me = unsafe { libc::geteuid() };
            vec![me, 0]
        } else {
            let (uids, problems) = config::allowed_owner_uids(&config.allowed_owners, crate::os::uid_of);
            for problem in problems {
                host_log!(Asterisk, Level::Error, "{CONFIG_FILE}: {problem}");
            }
            uids
        }
    });
    let rules = VisitRules {
        max_file_size: config.max_file_size,
        allowed_owners,
        policy: config.policy.clone(),
        live_dangerously: asterisk::config::live_dangerously(),
    };
    Settings {
        rules: Arc::new(rules),
        max_calls: config.max_calls,
        max_rate: config.max_rate,
        description: Arc::new(config::describe(config)),
    }
}

fn create_dir_mode(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().recursive(true).mode(0o777).create(dir) {
        Err(_) if dir.is_dir() => Ok(()),
        other => other,
    }
}

type ThreadBody = Box<dyn FnOnce() + Send>;

/// Start a joinable thread with pthread_create directly: std::thread::spawn would register thread-local
/// destructors on the calling thread (one of Asterisk's), keeping this library mapped after unload.
fn spawn_joinable(body: ThreadBody) -> std::io::Result<libc::pthread_t> {
    extern "C" fn trampoline(arg: *mut c_void) -> *mut c_void {
        // SAFETY: `arg` is the Box<ThreadBody> leaked by spawn_joinable below, reclaimed exactly once here.
        let body = unsafe { Box::from_raw(arg.cast::<ThreadBody>()) };
        let _ = catch_unwind(AssertUnwindSafe(body));
        std::ptr::null_mut()
    }
    let arg = Box::into_raw(Box::new(body));
    // SAFETY: an all-zero pthread_t is a valid placeholder that pthread_create overwrites.
    let mut thread: libc::pthread_t = unsafe { std::mem::zeroed() };
    // SAFETY: `trampoline` has the signature pthread expects and takes ownership of `arg`; default attributes make the thread joinable.
    let rc = unsafe { libc::pthread_create(&mut thread, std::ptr::null(), trampoline, arg.cast()) };
    if rc != 0 {
        // SAFETY: the thread was not created, so `arg` is still ours to free.
        drop(unsafe { Box::from_raw(arg) });
        return Err(std::io::Error::from_raw_os_error(rc));
    }
    Ok(thread)
}

/// The control handle of the running spooler, cloned out so no lock is held while a command runs
/// (unload waits for running CLI handlers; a handler waiting on RUNTIME would deadlock it).
fn running_control() -> Option<(Arc<Control>, std::path::PathBuf)> {
    RUNTIME.handle(|r| (r.control.clone(), r.outgoing.clone()))
}

fn cli_write(fd: i32, text: &str) {
    let text = asterisk::c_string(text);
    // SAFETY: valid C string for the call; the shim prints it with "%s".
    unsafe { asterisk::sys::prs_cli_write(fd, text.as_ptr()) };
}

/// CLI result codes understood by the shim.
const CLI_SUCCESS: i32 = 0;
const CLI_SHOWUSAGE: i32 = 1;
const CLI_FAILURE: i32 = 2;

#[no_mangle]
pub extern "C" fn pbx_spool_rs_cli(command: i32, fd: i32, argc: i32, argv: *const *const libc::c_char) -> i32 {
    guarded("CLI", CLI_FAILURE, || {
        let argc = if argv.is_null() { 0 } else { argc.max(0) as usize };
        let words: Vec<&[u8]> = (0..argc)
            .map(|i| {
                // SAFETY: Asterisk passes `argc` valid C strings in a non-null `argv` for the duration of the handler.
                let arg = unsafe { *argv.add(i) };
                if arg.is_null() {
                    &[][..]
                } else {
                    // SAFETY: non-null NUL-terminated argument owned by Asterisk for the call.
                    unsafe { std::ffi::CStr::from_ptr(arg) }.to_bytes()
                }
            })
            .collect();
        let Some(id) = cli::command_id(command as u32) else {
            cli_write(fd, "unknown command\n");
            return CLI_FAILURE;
        };
        let Ok(command) = crate::cli_args::parse(id, &words) else { return CLI_SHOWUSAGE };
        let (code, text) = cli::run(command, running_control());
        cli_write(fd, &text);
        code
    })
}

#[no_mangle]
pub extern "C" fn pbx_spool_rs_cli_complete(
    word: *const libc::c_char,
    n: i32,
    out: *mut libc::c_char,
    out_len: i32,
) -> i32 {
    guarded("CLI completion", 0, || {
        if word.is_null() || out.is_null() || out_len <= 1 {
            return 0;
        }
        // SAFETY: Asterisk passes the word being completed as a valid C string.
        let word = unsafe { std::ffi::CStr::from_ptr(word) }.to_string_lossy().into_owned();
        let Some(name) = cli::complete_file(&word, n.max(0) as usize, running_control()) else { return 0 };
        let bytes = name.as_bytes();
        if bytes.len() + 1 > out_len as usize || bytes.contains(&0) {
            return 0;
        }
        // SAFETY: `out` has room for `out_len` bytes (checked above) and does not overlap `bytes`.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), out.cast::<u8>(), bytes.len());
            *out.add(bytes.len()) = 0;
        }
        1
    })
}

/// The admin commands, behind the C entry points above.
mod cli {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    use super::{CLI_FAILURE, CLI_SUCCESS};
    use crate::asterisk::sys::prs_cli_command as id;
    use crate::asterisk::Asterisk;
    use crate::attempt::{self, Stats};
    use crate::bookkeeping;
    use crate::callfile;
    use crate::cli_args::{Command, CommandId};
    use crate::report;
    use crate::scheduler::{Control, Settings, SnapshotQuery};

    fn totals(stats: &Stats) -> report::Totals {
        report::Totals {
            attempts: stats.attempts.load(Ordering::Relaxed),
            completed: stats.completed.load(Ordering::Relaxed),
            expired: stats.expired.load(Ordering::Relaxed),
            failed: stats.failed.load(Ordering::Relaxed),
            rejected: stats.rejected.load(Ordering::Relaxed),
        }
    }

    fn describe(settings: &Settings) -> Vec<(String, String)> {
        // The configuration as written, then what was derived from it and from asterisk.conf.
        let mut rows: Vec<(String, String)> = settings.description.iter().cloned().collect();
        if let Some(uids) = &settings.rules.allowed_owners {
            let mut uids = uids.clone();
            uids.dedup();
            rows.push(("allowed owner uids".into(), format!("{uids:?}")));
        }
        rows.push((
            "live_dangerously (asterisk.conf)".into(),
            if settings.rules.live_dangerously { "yes" } else { "no" }.into(),
        ));
        rows
    }

    /// Read and check one call file as the spool would, for `spool show file` and `spool check`.
    fn examine(path: &Path, settings: &Settings) -> Result<String, String> {
        let (bytes, meta) = bookkeeping::read_call_file(path, settings.rules.max_file_size)
            .map_err(|err| format!("{}: {err}\n", path.display()))?;
        let parsed = callfile::parse(&bytes);
        let shown = crate::policy::printable(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()));
        use std::os::unix::fs::MetadataExt;
        let verdict =
            attempt::preflight(&Asterisk, &settings.rules, &parsed.call, &parsed.diagnostics, meta.uid(), &shown)
                .map_err(|refusal| refusal.lines.join("; "));
        Ok(report::call_file(&shown, &parsed.call, &parsed.diagnostics, &verdict))
    }

    /// The shim's command number as a [`CommandId`].
    pub(super) fn command_id(command: u32) -> Option<CommandId> {
        Some(match command {
            id::PRS_CLI_SHOW_STATUS => CommandId::ShowStatus,
            id::PRS_CLI_SHOW_QUEUE => CommandId::ShowQueue,
            id::PRS_CLI_SHOW_FILE => CommandId::ShowFile,
            id::PRS_CLI_CHECK => CommandId::Check,
            id::PRS_CLI_RESCAN => CommandId::Rescan,
            _ => return None,
        })
    }

    pub(super) fn run(command: Command, running: Option<(Arc<Control>, PathBuf)>) -> (i32, String) {
        let Some((control, outgoing)) = running else {
            return match command {
                // Works without a running spooler too, with the default rules.
                Command::Check { path } => check(&path, &Settings::default()),
                _ => (CLI_FAILURE, "pbx_spool_rs is not running\n".into()),
            };
        };
        match command {
            Command::Check { path } => check(&path, &control.settings()),
            Command::Rescan => {
                control.request_rescan();
                (CLI_SUCCESS, format!("Rescanning {}\n", outgoing.display()))
            }
            Command::ShowStatus => match control.snapshot(SnapshotQuery { limit: 0, file: None }) {
                Some(snapshot) => {
                    (CLI_SUCCESS, report::status(&snapshot, totals(&control.stats), &describe(&control.settings())))
                }
                None => (CLI_FAILURE, "The spool scheduler did not answer (stopping?)\n".into()),
            },
            Command::ShowQueue { limit } => {
                let Some(snapshot) = control.snapshot(SnapshotQuery { limit, file: None }) else {
                    return (CLI_FAILURE, "The spool scheduler did not answer (stopping?)\n".into());
                };
                let max = control.settings().rules.max_file_size;
                let rows: Vec<report::QueueRow> = snapshot
                    .next
                    .into_iter()
                    .map(|(name, due)| {
                        let call = bookkeeping::read_call_file(&outgoing.join(&name), max)
                            .ok()
                            .map(|(b, _)| callfile::parse(&b).call);
                        report::QueueRow { name, due, call }
                    })
                    .collect();
                (CLI_SUCCESS, report::queue(&rows, bookkeeping::now_ms()))
            }
            Command::ShowFile { name } => {
                if name.contains('/') {
                    return (
                        CLI_FAILURE,
                        "Give the name of a file in the outgoing directory (use spool check <path> for others)\n"
                            .into(),
                    );
                }
                let state = control
                    .snapshot(SnapshotQuery { limit: 0, file: Some(name.clone()) })
                    .and_then(|s| s.file_state)
                    .unwrap_or_else(|| "not queued".into());
                match examine(&outgoing.join(&name), &control.settings()) {
                    Ok(text) => (CLI_SUCCESS, format!("{text}State:       {state}\n")),
                    Err(text) => (CLI_FAILURE, text),
                }
            }
        }
    }

    fn check(path: &Path, settings: &Settings) -> (i32, String) {
        match examine(path, settings) {
            Ok(text) => (CLI_SUCCESS, text),
            Err(text) => (CLI_FAILURE, text),
        }
    }

    pub(super) fn complete_file(word: &str, n: usize, running: Option<(Arc<Control>, PathBuf)>) -> Option<String> {
        let (control, _) = running?;
        let snapshot = control.snapshot(SnapshotQuery { limit: 1000, file: None })?;
        snapshot.next.into_iter().map(|(name, _)| name).filter(|name| name.starts_with(word)).nth(n)
    }
}
