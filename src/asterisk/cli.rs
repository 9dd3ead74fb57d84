//! Asterisk's CLI as the module uses it: one `ast_cli_entry` per entry of
//! `pbx_spool_core::commands::CLI_COMMANDS`, registered for as long as a [`Registration`] lives, all
//! served by one handler that finds its command from the entry Asterisk calls it for ([`serve`]), and
//! output through `ast_cli`. What the commands do is in the core (`pbx_spool_core::cli`), not here.

use std::ffi::{CStr, CString};
use std::ptr;

use super::{c_string, sys, Asterisk};
use pbx_spool_core::cli::Status;
use pbx_spool_core::cli_args::CommandId;
use pbx_spool_core::commands::CLI_COMMANDS;
use pbx_spool_core::host::{Host, Level};
use pbx_spool_core::host_log;

pub(crate) type RawEntry = sys::ast_cli_entry;
pub(crate) type RawArgs = sys::ast_cli_args;
/// `ast_cli_entry.handler`.
pub(crate) type Handler = unsafe extern "C" fn(*mut RawEntry, libc::c_int, *mut RawArgs) -> *mut libc::c_char;

/// An `ast_cli_entry` with the command it stands for. `raw` comes first in a `repr(C)` struct, so the
/// entry pointer Asterisk hands the handler also points to the `Entry` around it.
#[repr(C)]
struct Entry {
    raw: RawEntry,
    id: CommandId,
    /// Handed to Asterisk at `CLI_INIT` (it keeps a copy of the words, and the usage pointer itself).
    command: CString,
    usage: CString,
    /// `raw.summary` points here.
    _summary: CString,
}

/// The `spool ...` entries, registered on creation and unregistered on drop. Asterisk links the entries
/// into its list and writes into them, so they live at a fixed heap address, reached only through raw
/// pointers, and are freed only once Asterisk has let go of every one.
pub(crate) struct Registration {
    entries: *mut Entry,
    len: usize,
}

// SAFETY: the entries are owned by this value alone on the Rust side (Asterisk synchronises its own use of them under its CLI list lock); moving the owner to another thread moves no data.
unsafe impl Send for Registration {}

impl Registration {
    /// Registers one entry per command of the table, each served by `handler`, which must hand its
    /// calls to [`serve`].
    pub(crate) fn new(handler: Handler) -> Self {
        let entries: Box<[Entry]> = CLI_COMMANDS
            .iter()
            .map(|spec| {
                let summary = c_string(spec.summary);
                // SAFETY: ast_cli_entry is plain C data (pointers, integers, an array of pointers, a list link); all zeros is the empty entry AST_CLI_DEFINE starts from.
                let mut raw: RawEntry = unsafe { std::mem::zeroed() };
                raw.summary = summary.as_ptr();
                raw.handler = Some(handler);
                Entry {
                    raw,
                    id: spec.id,
                    command: c_string(spec.command),
                    usage: c_string(spec.usage),
                    _summary: summary,
                }
            })
            .collect();
        let len = entries.len();
        let entries = Box::into_raw(entries).cast::<Entry>();
        // SAFETY: AST_MODULE_INFO in the shim defines this function; it returns this module's handle.
        let module = unsafe { sys::__internal_pbx_spool_rs_self() };
        for i in 0..len {
            // SAFETY: `i < len` entries of a live allocation that stays put until `drop`; Asterisk calls the handler with CLI_INIT, then links the entry (or logs why not: a command already registered).
            unsafe { sys::__ast_cli_register(ptr::addr_of_mut!((*entries.add(i)).raw), module) };
        }
        Registration { entries, len }
    }
}

impl Drop for Registration {
    /// Drop it with no lock held that a CLI handler may take.
    fn drop(&mut self) {
        let mut in_use = false;
        for i in 0..self.len {
            // SAFETY: one of the entries registered by `new`, still allocated; Asterisk unlinks it unless a handler is running in it.
            let raw = unsafe { ptr::addr_of_mut!((*self.entries.add(i)).raw) };
            // SAFETY: as above.
            unsafe { sys::ast_cli_unregister(raw) };
            // SAFETY: an unlinked entry is Asterisk's no more, and its `_full_cmd` is NULL again; a linked one keeps it, and Asterisk writes that field only when registering or unregistering.
            in_use |= unsafe { !(*raw)._full_cmd.is_null() };
        }
        if in_use {
            host_log!(
                Asterisk,
                Level::Warning,
                "pbx_spool_rs: a spool CLI command was still running at unload; its entries stay allocated"
            );
            return;
        }
        // SAFETY: the allocation `new` leaked, with its length; no entry is linked into Asterisk's list any more.
        drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(self.entries, self.len)) });
    }
}

/// One call of the handler for entry `e`: `CLI_INIT` gives Asterisk the command's words and usage,
/// `CLI_GENERATE` offers `complete`'s candidate, and anything else runs the command through `run` (which
/// writes its output with [`write()`]). Returns what the handler returns to Asterisk.
///
/// # Safety
///
/// `e` is one of a [`Registration`]'s entries and `a` NULL or Asterisk's arguments for this call, both
/// valid for the call (the handler's contract with Asterisk).
pub(crate) unsafe fn serve(
    e: *mut RawEntry,
    cmd: libc::c_int,
    a: *mut RawArgs,
    run: impl FnOnce(CommandId, i32, &[&[u8]]) -> Status,
    complete: impl FnOnce(CommandId, usize, &str, usize) -> Option<String>,
) -> *mut libc::c_char {
    if e.is_null() {
        return result(Status::Failure);
    }
    let entry = e.cast::<Entry>();
    // SAFETY: `e` is the `raw` field at the start of one of our `repr(C)` entries (the caller's contract); `id` is never written after registration.
    let id = unsafe { (*entry).id };
    if cmd == sys::ast_cli_command::CLI_INIT {
        // SAFETY: as above; registration is the one writer of these two fields now, and the strings live as long as the entry.
        unsafe {
            (*e).command = (*entry).command.as_ptr().cast_mut();
            (*e).usage = (*entry).usage.as_ptr();
        }
        return ptr::null_mut();
    }
    if a.is_null() {
        return result(Status::Failure);
    }
    // SAFETY: Asterisk's arguments, valid and unchanged during the call (the caller's contract).
    let args = unsafe { &*a };
    if cmd == sys::ast_cli_command::CLI_GENERATE {
        if args.word.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: a non-NULL word is a NUL-terminated string valid for the call.
        let word = unsafe { CStr::from_ptr(args.word) }.to_string_lossy();
        let (Ok(position), Ok(n)) = (usize::try_from(args.pos), usize::try_from(args.n)) else {
            return ptr::null_mut();
        };
        return match complete(id, position, &word, n).and_then(|candidate| CString::new(candidate).ok()) {
            // SAFETY: a valid C string; Asterisk frees the copy with ast_free, so it is made by its allocator.
            Some(candidate) => unsafe {
                sys::__ast_strdup(
                    candidate.as_ptr(),
                    c"src/asterisk/cli.rs".as_ptr(),
                    line!() as i32,
                    c"serve".as_ptr(),
                )
            },
            None => ptr::null_mut(),
        };
    }
    // SAFETY: Asterisk's `argv` holds `argc` words valid during the call (the caller's contract).
    let words = unsafe { words(args.argc, args.argv) };
    result(run(id, args.fd, &words))
}

/// `CLI_SUCCESS`, `CLI_SHOWUSAGE` or `CLI_FAILURE`: Asterisk's result codes as the pointers it compares.
pub(crate) fn result(status: Status) -> *mut libc::c_char {
    let code = match status {
        Status::Success => sys::RESULT_SUCCESS,
        Status::ShowUsage => sys::RESULT_SHOWUSAGE,
        Status::Failure => sys::RESULT_FAILURE,
    };
    code as usize as *mut libc::c_char
}

/// Write `text` to the console `fd` of the running command.
pub(crate) fn write(fd: i32, text: &str) {
    let text = c_string(text);
    // SAFETY: a valid C string for the call, passed as the argument of a "%s" format, never as the format.
    unsafe { sys::ast_cli(fd, c"%s".as_ptr(), text.as_ptr()) };
}

/// A handler's `argc`/`argv` as byte strings (a NULL `argv` is no words, a NULL word an empty one).
///
/// # Safety
///
/// `argv` is NULL or points to `argc` pointers, each NULL or a NUL-terminated string, all valid and
/// unchanged for `'a` (Asterisk's `ast_cli_args` for the duration of the handler).
unsafe fn words<'a>(argc: i32, argv: *const *const libc::c_char) -> Vec<&'a [u8]> {
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
