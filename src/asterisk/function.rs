//! The dialplan function `SPOOL()`'s FFI side: registered for as long as a [`Registration`] lives (the
//! `ast_custom_function` itself is a static struct in src/shim.c naming the two entry points of
//! src/module.rs), the calling channel's identity, and the read's answer copied into Asterisk's buffer.
//! What a key means and whether the call may use it is `pbx_spool_core::steering`. Runs on whichever
//! Asterisk thread evaluates the function: nothing here registers thread-local destructors.

use std::ffi::CStr;

use super::{sys, Asterisk};
use pbx_spool_core::host::{Host, Level};
use pbx_spool_core::host_log;

pub(crate) type RawChannel = sys::ast_channel;

/// `SPOOL()`, registered on creation and unregistered on drop.
pub(crate) struct Registration {
    registered: bool,
}

impl Registration {
    pub(crate) fn new() -> Self {
        // SAFETY: registers the shim's static ast_custom_function, whose callbacks are this module's entry points; no pointers passed.
        let registered = unsafe { sys::prs_spool_function_register() } == 0;
        if !registered {
            host_log!(
                Asterisk,
                Level::Error,
                "pbx_spool_rs: the dialplan function SPOOL() could not be registered (see the line above); \
                 call files are dialled as usual, but their dialplans cannot steer them"
            );
        }
        Registration { registered }
    }
}

impl Drop for Registration {
    /// Asterisk holds a reference on the module while the function runs, so it is not running now
    /// (unload waits for no user of the module).
    fn drop(&mut self) {
        if self.registered {
            // SAFETY: unregisters the shim's static struct registered by `new`; no pointers passed.
            unsafe { sys::prs_spool_function_unregister() };
        }
    }
}

/// The calling channel's uniqueid and name; `None` without a channel.
///
/// # Safety
///
/// `chan` is NULL or a channel Asterisk passed to the function, valid for the call.
pub(crate) unsafe fn caller(chan: *mut RawChannel) -> Option<(String, String)> {
    if chan.is_null() {
        return None;
    }
    // SAFETY: a live channel (the caller's contract); both return pointers into the channel's own strings, valid while the channel is.
    let (uniqueid, name) = unsafe { (sys::ast_channel_uniqueid(chan), sys::ast_channel_name(chan)) };
    Some((text(uniqueid), text(name)))
}

/// A C string Asterisk passed, as text (NULL: empty).
pub(crate) fn text(pointer: *const libc::c_char) -> String {
    if pointer.is_null() {
        return String::new();
    }
    // SAFETY: non-NULL, and a NUL-terminated string valid for the call (Asterisk's argument).
    unsafe { CStr::from_ptr(pointer) }.to_string_lossy().into_owned()
}

/// Copy `value` into Asterisk's read buffer `buf` of `len` bytes, cut to fit, NUL-terminated.
///
/// # Safety
///
/// `buf` is NULL or points to `len` writable bytes (the read callback's contract).
pub(crate) unsafe fn answer(buf: *mut libc::c_char, len: usize, value: &str) {
    if buf.is_null() || len == 0 {
        return;
    }
    let bytes = value.as_bytes();
    let count = bytes.len().min(len - 1);
    // SAFETY: `count + 1 <= len` bytes of the caller's buffer; the source is our own slice, which cannot overlap it.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), count);
        *buf.add(count) = 0;
    }
}
