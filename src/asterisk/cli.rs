//! Asterisk's CLI as the module uses it: the shim's `spool ...` entries registered for as long as a
//! [`Registration`] lives, output through `ast_cli`, and the C arguments of a handler turned into words
//! and a [`CommandId`]. What the commands do is in the core (`pbx_spool_core::cli`), not here.

use std::ffi::CStr;

use super::{c_string, sys};
use pbx_spool_core::cli_args::CommandId;

/// The shim's CLI entries, registered on creation and unregistered on drop.
///
/// Drop it with no lock held that a CLI handler may take: unregistering waits for running handlers.
pub(crate) struct Registration(());

impl Registration {
    /// Registers the entries. Only one `Registration` may exist at a time (the entries are static).
    pub(crate) fn new() -> Self {
        // SAFETY: registers the shim's static entries; the one owner of the registration is this value, whose drop unregisters them, so they are never registered twice.
        unsafe { sys::prs_cli_register() };
        Registration(())
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: the entries were registered by `new`; unregistering waits for running handlers.
        unsafe { sys::prs_cli_unregister() };
    }
}

/// Write `text` to the console `fd` of the running command.
pub(crate) fn write(fd: i32, text: &str) {
    let text = c_string(text);
    // SAFETY: valid C string for the call; the shim prints it with "%s".
    unsafe { sys::prs_cli_write(fd, text.as_ptr()) };
}

/// The shim's command number (`enum prs_cli_command`) as a [`CommandId`].
pub(crate) fn command_id(command: i32) -> Option<CommandId> {
    use sys::prs_cli_command as id;
    Some(match u32::try_from(command).ok()? {
        id::PRS_CLI_SHOW_STATUS => CommandId::ShowStatus,
        id::PRS_CLI_SHOW_QUEUE => CommandId::ShowQueue,
        id::PRS_CLI_SHOW_FILE => CommandId::ShowFile,
        id::PRS_CLI_CHECK => CommandId::Check,
        id::PRS_CLI_RESCAN => CommandId::Rescan,
        id::PRS_CLI_PAUSE => CommandId::Pause,
        id::PRS_CLI_RESUME => CommandId::Resume,
        id::PRS_CLI_CANCEL => CommandId::Cancel,
        id::PRS_CLI_CHECK_ARGS => CommandId::CheckArgs,
        _ => return None,
    })
}

/// A handler's `argc`/`argv` as byte strings (a NULL `argv` is no words, a NULL word an empty one).
///
/// # Safety
///
/// `argv` is NULL or points to `argc` pointers, each NULL or a NUL-terminated string, all valid and
/// unchanged for `'a` (Asterisk's `ast_cli_args` for the duration of the handler).
pub(crate) unsafe fn words<'a>(argc: i32, argv: *const *const libc::c_char) -> Vec<&'a [u8]> {
    let argc = if argv.is_null() { 0 } else { usize::try_from(argc).unwrap_or(0) };
    (0..argc)
        .map(|i| {
            // SAFETY: `i < argc` and `argv` holds `argc` pointers (the caller's contract).
            let arg = unsafe { *argv.add(i) };
            if arg.is_null() {
                return &[][..];
            }
            // SAFETY: a non-null word is a NUL-terminated string valid for 'a (the caller's contract).
            unsafe { CStr::from_ptr(arg) }.to_bytes()
        })
        .collect()
}

/// The word being completed, as text (`None` for a NULL pointer).
///
/// # Safety
///
/// `word` is NULL or a NUL-terminated string valid for the call.
pub(crate) unsafe fn completion_word(word: *const libc::c_char) -> Option<String> {
    if word.is_null() {
        return None;
    }
    // SAFETY: non-null NUL-terminated string valid for the call (the caller's contract).
    Some(unsafe { CStr::from_ptr(word) }.to_string_lossy().into_owned())
}

/// Copy `text` NUL-terminated into `out` (room for `out_len` bytes), for a completion; `false` (and
/// nothing written) if it does not fit, contains a NUL or `out` is NULL.
///
/// # Safety
///
/// `out` is NULL or writable for `out_len` bytes, and does not overlap `text`.
pub(crate) unsafe fn copy_completion(text: &str, out: *mut libc::c_char, out_len: i32) -> bool {
    let bytes = text.as_bytes();
    let room = usize::try_from(out_len).unwrap_or(0);
    if out.is_null() || bytes.len() >= room || bytes.contains(&0) {
        return false;
    }
    // SAFETY: `out` is writable for `room` > `bytes.len()` bytes and does not overlap `bytes` (the caller's contract), so the copy and the NUL after it stay inside it.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), out.cast::<u8>(), bytes.len());
        *out.add(bytes.len()) = 0;
    }
    true
}
