//! Small safe wrappers over the process calls only the module makes: a joinable thread started with
//! `pthread_create`, and the effective uid. No Asterisk and no logging here: callers say what a failure
//! means for them. (User-name lookup, shared with the `callfile` tool, is in the core's `os`.)

use std::ffi::{c_void, CStr};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};

type Body = Box<dyn FnOnce() + Send>;

/// A thread started with `pthread_create`, joined by [`JoinableThread::join`] or, at the latest, on drop:
/// nothing it runs can outlive its owner (after `module unload`, its code would be unmapped).
///
/// Why not `std::thread::spawn`: it is called from Asterisk's threads (the one loading the module),
/// and std would register thread-local destructors on that thread, which keep this library mapped after
/// unload. A thread created here registers nothing on its creator.
pub(crate) struct JoinableThread {
    id: libc::pthread_t,
}

impl JoinableThread {
    /// Start `body` on a new joinable thread named `name` (as `top -H`, `ps -L` and `perf` show it; at
    /// most 15 bytes are kept). A panic in `body` ends the thread quietly (it must not unwind into
    /// pthread's C frames): give it a body that reports its own panics.
    pub(crate) fn spawn(name: &'static CStr, body: impl FnOnce() + Send + 'static) -> io::Result<Self> {
        extern "C" fn trampoline(arg: *mut c_void) -> *mut c_void {
            // SAFETY: `arg` is the Box<Body> leaked by `spawn` below, handed to this thread alone and reclaimed exactly once, here.
            let body = unsafe { Box::from_raw(arg.cast::<Body>()) };
            let _ = catch_unwind(AssertUnwindSafe(body));
            std::ptr::null_mut()
        }
        let body: Body = Box::new(move || {
            name_this_thread(name);
            body()
        });
        let arg = Box::into_raw(Box::new(body));
        // SAFETY: an all-zero pthread_t is a valid placeholder that pthread_create overwrites.
        let mut id: libc::pthread_t = unsafe { std::mem::zeroed() };
        // SAFETY: `trampoline` has the signature pthread expects and takes ownership of `arg`; default attributes make the thread joinable.
        let rc = unsafe { libc::pthread_create(&mut id, std::ptr::null(), trampoline, arg.cast()) };
        if rc != 0 {
            // SAFETY: the thread was not created, so `arg` is still ours to free, once.
            drop(unsafe { Box::from_raw(arg) });
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(JoinableThread { id })
    }

    /// Wait for the thread to end.
    pub(crate) fn join(self) {
        // Drop joins.
    }
}

impl Drop for JoinableThread {
    fn drop(&mut self) {
        // SAFETY: `id` is a joinable thread created by `spawn`, joined exactly once: here, as `self` is dropped once and `join` only drops it.
        unsafe { libc::pthread_join(self.id, std::ptr::null_mut()) };
    }
}

/// Name the calling thread; a name too long for the kernel's 16 bytes is cut, not refused.
fn name_this_thread(name: &CStr) {
    let mut bytes = [0u8; 16];
    let kept = name.to_bytes().len().min(15);
    bytes[..kept].copy_from_slice(&name.to_bytes()[..kept]);
    // SAFETY: `bytes` is NUL-terminated (at most 15 bytes copied into 16 zeroed ones) and lives for the call; naming the calling thread has no other effect.
    unsafe { libc::pthread_setname_np(libc::pthread_self(), bytes.as_ptr().cast()) };
}

/// The process's effective uid.
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}
