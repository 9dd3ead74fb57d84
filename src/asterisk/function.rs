//! The dialplan function `SPOOL()`'s FFI side: an `ast_custom_function` naming the two entry points of
//! src/module.rs, registered for as long as a [`Registration`] lives, the calling channel's identity, and
//! the read's answer copied into Asterisk's buffer.
//! What a key means and whether the call may use it is `pbx_spool_core::steering`. Runs on whichever
//! Asterisk thread evaluates the function: nothing here registers thread-local destructors.

use std::ffi::{CStr, CString};

use super::{c_string, sys, Asterisk};
use pbx_spool_core::host::{Host, Level};
use pbx_spool_core::host_log;
use pbx_spool_core::steering;

pub(crate) type RawChannel = sys::ast_channel;

/// The read callback `ast_custom_function` takes.
pub(crate) type ReadFn = unsafe extern "C" fn(
    *mut RawChannel,
    *const libc::c_char,
    *mut libc::c_char,
    *mut libc::c_char,
    usize,
) -> libc::c_int;
/// The write callback `ast_custom_function` takes.
pub(crate) type WriteFn =
    unsafe extern "C" fn(*mut RawChannel, *const libc::c_char, *mut libc::c_char, *const libc::c_char) -> libc::c_int;

/// `SPOOL()`, registered on creation and unregistered on drop. Asterisk links the struct into its list
/// of functions and writes into it, so it lives at a fixed heap address, reached only through a raw
/// pointer, and is freed only once unregistered.
pub(crate) struct Registration {
    raw: *mut sys::ast_custom_function,
    registered: bool,
    /// The name and, without the XML documentation, the plain help (synopsis, description, syntax) the
    /// struct points to.
    _texts: Vec<CString>,
}

// SAFETY: the struct is owned by this value alone on the Rust side (Asterisk synchronises its own use of it under its function list lock); moving the owner to another thread moves no data.
unsafe impl Send for Registration {}

impl Registration {
    pub(crate) fn new(read: ReadFn, write: WriteFn) -> Self {
        let name = c_string(steering::FUNCTION);
        // SAFETY: two NUL-terminated strings, only read during the call.
        let documented = unsafe { sys::prs_xmldoc_has(c"function".as_ptr(), name.as_ptr()) } == 1;
        // SAFETY: ast_custom_function is plain C data (pointers, integers, a bit field, a list link, an empty string-field manager); all zeros is the empty struct a module's static definition starts from.
        let mut raw: sys::ast_custom_function = unsafe { std::mem::zeroed() };
        raw.name = name.as_ptr();
        raw.read = Some(read);
        raw.write = Some(write);
        let mut texts = vec![name];
        // With the function in Asterisk's XML documentation, empty texts make Asterisk read its help from
        // there; otherwise the plain texts are its help (and Asterisk warns of nothing missing).
        if !documented {
            let (synopsis, description) = steering::plain_help();
            let syntax = format!("{}(key)", steering::FUNCTION);
            let [synopsis, description, syntax] = [synopsis, description, syntax].map(c_string);
            (raw.synopsis, raw.desc, raw.syntax) = (synopsis.as_ptr(), description.as_ptr(), syntax.as_ptr());
            texts.extend([synopsis, description, syntax]);
        }
        let raw = Box::into_raw(Box::new(raw));
        // SAFETY: a live struct that stays put until `drop` unregisters it; the strings it points to are in `texts`, kept as long.
        let registered = unsafe { sys::prs_custom_function_register(raw) } == 0;
        if !registered {
            host_log!(
                Asterisk,
                Level::Error,
                "pbx_spool_rs: the dialplan function SPOOL() could not be registered (see the line above); \
                 call files are dialled as usual, but their dialplans cannot steer them"
            );
        }
        Registration { raw, registered, _texts: texts }
    }
}

impl Drop for Registration {
    /// Asterisk holds a reference on the module while the function runs, so it is not running when the
    /// module unloads.
    fn drop(&mut self) {
        if self.registered {
            // SAFETY: the struct `new` registered, still allocated; Asterisk unlinks it (and frees the texts it read from the XML documentation).
            if unsafe { sys::ast_custom_function_unregister(self.raw) } != 0 {
                host_log!(Asterisk, Level::Warning, "pbx_spool_rs: SPOOL() was not registered any more at unload");
            }
        }
        // SAFETY: the allocation `new` leaked; it is no longer linked into Asterisk's list.
        drop(unsafe { Box::from_raw(self.raw) });
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
