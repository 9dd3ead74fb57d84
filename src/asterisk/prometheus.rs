//! res_prometheus, reached without linking to it: the module must load and run without it, and must not
//! call into it once it is unloaded. Its functions are looked up with `dlsym` in a handle that pins the
//! library ([`Pin`]) for as long as one call lasts; the loader's use-count callback
//! ([`LoaderCallback`]) says when modules may have come or gone; the appending of text to a scrape's
//! output. When and why these are used is `src/metrics.rs`'s business; no logic here.

use std::ffi::{c_void, CStr, CString};
use std::time::{Duration, SystemTime};

use super::{c_string, sys};

/// The file res_prometheus is loaded from, in Asterisk's module directory.
pub(crate) const MODULE_FILE: &str = "res_prometheus.so";

/// `prometheus_callback_register` / `prometheus_callback_unregister`.
type RegisterFn = unsafe extern "C" fn(*mut sys::prometheus_callback) -> libc::c_int;
type UnregisterFn = unsafe extern "C" fn(*mut sys::prometheus_callback);
/// `prometheus_last_scrape_time_get`.
type LastScrapeFn = unsafe extern "C" fn() -> libc::timeval;

/// res_prometheus's library, held open: while a `Pin` lives, `module unload res_prometheus.so` may run
/// its unload function but cannot unmap its code, so a function found here can be called safely (its
/// data is then freed or empty: a registration made into it is lost, never a crash).
pub(crate) struct Pin {
    handle: *mut c_void,
}

impl Pin {
    /// A handle on res_prometheus if it is mapped now (`RTLD_NOLOAD`: never loads it).
    pub(crate) fn open() -> Option<Pin> {
        let path = module_dir()?.join(MODULE_FILE);
        let path = CString::new(path.into_os_string().into_encoded_bytes()).ok()?;
        // SAFETY: a valid C path; RTLD_NOLOAD only takes a reference on a library already loaded, running no constructor.
        let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD) };
        // Built only for a real handle: a `Pin` is closed on drop.
        if handle.is_null() {
            None
        } else {
            Some(Pin { handle })
        }
    }

    fn symbol(&self, name: &CStr) -> Option<*mut c_void> {
        // SAFETY: `handle` is a live dlopen handle (closed only on drop) and `name` a valid C string.
        let address = unsafe { libc::dlsym(self.handle, name.as_ptr()) };
        (!address.is_null()).then_some(address)
    }

    /// Registers the module's metrics callback (`prs_metrics_callback`), dropping an earlier
    /// registration of it first so it is never listed twice. False if res_prometheus refused or has no
    /// such function.
    pub(crate) fn register_metrics(&self) -> bool {
        let (Some(register), Some(unregister)) =
            (self.symbol(c"prometheus_callback_register"), self.symbol(c"prometheus_callback_unregister"))
        else {
            return false;
        };
        // SAFETY: res_prometheus.h declares both functions with these signatures (the same in Asterisk 20 to 23).
        let (register, unregister) = unsafe {
            (
                std::mem::transmute::<*mut c_void, RegisterFn>(register),
                std::mem::transmute::<*mut c_void, UnregisterFn>(unregister),
            )
        };
        // SAFETY: the callback is a static of the shim, alive while the module is; the pin keeps both functions mapped during the calls; each takes res_prometheus's scrape lock.
        unsafe {
            let callback = sys::prs_metrics_callback();
            unregister(callback);
            register(callback) == 0
        }
    }

    /// Unregisters the module's metrics callback (nothing happens if it is not registered). Returns when
    /// no scrape is running it any more: res_prometheus runs the callbacks under the same lock.
    pub(crate) fn unregister_metrics(&self) {
        let Some(unregister) = self.symbol(c"prometheus_callback_unregister") else { return };
        // SAFETY: declared in res_prometheus.h with this signature.
        let unregister = unsafe { std::mem::transmute::<*mut c_void, UnregisterFn>(unregister) };
        // SAFETY: as in register_metrics: a static callback, a pinned function.
        unsafe { unregister(sys::prs_metrics_callback()) };
    }

    /// When res_prometheus's last HTTP scrape began (`None`: none yet, or no such function).
    pub(crate) fn last_scrape(&self) -> Option<SystemTime> {
        let last_scrape = self.symbol(c"prometheus_last_scrape_time_get")?;
        // SAFETY: declared in res_prometheus.h as `struct timeval prometheus_last_scrape_time_get(void)`.
        let last_scrape = unsafe { std::mem::transmute::<*mut c_void, LastScrapeFn>(last_scrape) };
        // SAFETY: a pinned function taking no arguments.
        let time = unsafe { last_scrape() };
        let since_epoch = Duration::new(u64::try_from(time.tv_sec).ok()?, u32::try_from(time.tv_usec).ok()? * 1000);
        (since_epoch > Duration::ZERO).then(|| SystemTime::UNIX_EPOCH + since_epoch)
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        // SAFETY: the handle came from dlopen and is closed exactly once, here.
        unsafe { libc::dlclose(self.handle) };
    }
}

/// Asterisk's module directory (`astmoddir`).
fn module_dir() -> Option<std::path::PathBuf> {
    // SAFETY: Asterisk sets this global before loading modules and never frees it while they are loaded.
    let raw = unsafe { sys::ast_config_AST_MODULE_DIR };
    if raw.is_null() {
        return None;
    }
    // SAFETY: non-null, NUL-terminated string owned by Asterisk for the process lifetime.
    let text = unsafe { CStr::from_ptr(raw) };
    (!text.is_empty()).then(|| pbx_spool_core::os::path_from_c(text))
}

/// A scrape's output, as res_prometheus hands it to the callback.
pub(crate) type RawOutput = *mut *mut sys::ast_str;

/// Appends `text` to a scrape's output.
///
/// # Safety
///
/// `output` is the pointer res_prometheus passed to the metrics callback, during that call.
pub(crate) unsafe fn append(output: RawOutput, text: &str) {
    let text = c_string(text);
    // SAFETY: the caller's contract; the shim appends with "%s", growing the string as needed.
    unsafe { sys::prs_str_append(output, text.as_ptr()) };
}

/// The loader's use-count callback: Asterisk calls it (on any thread, possibly holding its module list
/// lock) after a module is loaded or unloaded and whenever a use count changes. Registered while this
/// value lives; dropping it waits for a call in progress.
pub(crate) struct LoaderCallback {
    callback: unsafe extern "C" fn() -> libc::c_int,
}

impl LoaderCallback {
    pub(crate) fn register(callback: extern "C" fn() -> libc::c_int) -> Option<Self> {
        // SAFETY: a function of this module, unregistered (on drop) before the module is unloaded.
        let registered = unsafe { sys::ast_loader_register(Some(callback)) } == 0;
        registered.then_some(LoaderCallback { callback })
    }
}

impl Drop for LoaderCallback {
    fn drop(&mut self) {
        // SAFETY: the function registered in `register`; the loader removes it under the lock it calls it with.
        unsafe { sys::ast_loader_unregister(Some(self.callback)) };
    }
}
