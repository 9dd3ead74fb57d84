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
use std::sync::{Arc, Mutex};

use crate::asterisk::{self, Asterisk};
use crate::attempt::SpoolPaths;
use crate::host::{Host, Level};
use crate::host_log;
use crate::scheduler::{self, Control, Settings, StopAnswer};

/// `enum ast_module_load_result`.
const LOAD_SUCCESS: i32 = 0;
const LOAD_DECLINE: i32 = 1;
const LOAD_FAILURE: i32 = -1;

/// Everything the module runs, owned in one place.
struct Runtime {
    control: Arc<Control>,
    thread: libc::pthread_t,
}

// SAFETY: pthread_t is an opaque thread id; it is only passed to pthread_join, from any thread.
unsafe impl Send for Runtime {}

/// std's Mutex is futex-based and registers no thread-local destructors on Asterisk's threads.
static RUNTIME: Mutex<Option<Runtime>> = Mutex::new(None);

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
            host_log!(
                Asterisk,
                Level::Error,
                "pbx_spool_rs: internal error in {entry}: {what}"
            );
            on_panic
        }
    }
}

fn install_panic_hook() {
    // Panics are caught and logged at the wall; the hook only keeps std from printing to stderr/stdout.
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        host_log!(
            Asterisk,
            Level::Error,
            "pbx_spool_rs: panic{location}: {info}"
        );
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
    let spool = asterisk::spool_dir();
    let paths = SpoolPaths {
        outgoing: spool.join("outgoing"),
        done: spool.join("outgoing_done"),
    };
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
    let mut runtime = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    if runtime.is_some() {
        return LOAD_SUCCESS;
    }
    let control = match Control::new(Settings::default()) {
        Ok(control) => control,
        Err(err) => {
            host_log!(
                Asterisk,
                Level::Error,
                "Unable to set up the outgoing spool: {err}"
            );
            return LOAD_FAILURE;
        }
    };
    let thread_control = control.clone();
    let thread = match spawn_joinable(Box::new(move || {
        let exited = thread_control.clone();
        let run = AssertUnwindSafe(|| scheduler::run(Arc::new(Asterisk), thread_control, paths));
        if catch_unwind(run).is_err() {
            host_log!(
                Asterisk,
                Level::Error,
                "pbx_spool_rs: the spool scheduler stopped after an internal error"
            );
        }
        exited.mark_exited();
    })) {
        Ok(thread) => thread,
        Err(err) => {
            host_log!(
                Asterisk,
                Level::Error,
                "Unable to create the spool thread: {err}"
            );
            return LOAD_FAILURE;
        }
    };
    *runtime = Some(Runtime { control, thread });
    LOAD_SUCCESS
}

fn unload() -> i32 {
    let mut slot = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    let Some(runtime) = slot.take() else { return 0 };
    match runtime.control.request_stop() {
        StopAnswer::Busy { calls_in_progress } => {
            host_log!(
                Asterisk,
                Level::Warning,
                "pbx_spool_rs: {calls_in_progress} call(s) placed from the spool are still in progress; not unloading. \
                 Nothing was stopped; try again when they have finished"
            );
            *slot = Some(runtime);
            -1
        }
        StopAnswer::Stopped => {
            // SAFETY: `thread` was created joinable by spawn_joinable and is joined exactly once, here.
            unsafe { libc::pthread_join(runtime.thread, std::ptr::null_mut()) };
            0
        }
    }
}

fn reload() -> i32 {
    let slot = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(runtime) = slot.as_ref() {
        runtime.control.update_settings(Settings::default());
    }
    0
}

fn create_dir_mode(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o777)
        .create(dir)
    {
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
        let _ = catch_unwind(AssertUnwindSafe(move || body()));
        std::ptr::null_mut()
    }
    let arg = Box::into_raw(Box::new(body));
    // SAFETY: an all-zero pthread_t is a valid placeholder that pthread_create overwrites.
    let mut thread: libc::pthread_t = unsafe { std::mem::zeroed() };
    // SAFETY: `trampoline` has the signature pthread expects and takes ownership of `arg`; default attributes
    // make the thread joinable.
    let rc = unsafe { libc::pthread_create(&mut thread, std::ptr::null(), trampoline, arg.cast()) };
    if rc != 0 {
        // SAFETY: the thread was not created, so `arg` is still ours to free.
        drop(unsafe { Box::from_raw(arg) });
        return Err(std::io::Error::from_raw_os_error(rc));
    }
    Ok(thread)
}
