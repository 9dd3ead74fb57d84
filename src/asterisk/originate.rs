//! Placing one call attempt with `ast_pbx_outgoing_exten` / `ast_pbx_outgoing_app`, waiting for it to
//! complete, with caller id, account, variables and codecs from the call file. Owns the Asterisk objects
//! the call needs (format capabilities, variable list) and releases them on every path.

use std::ffi::CStr;
use std::ptr;

use super::{c_string, sys};
use pbx_spool_core::callfile::CallFile;
use pbx_spool_core::host::{CallResult, Level, Origin};

/// Wait until the call has finished, as pbx_spool does ("2 /* wait to finish */").
const WAIT_COMPLETE: libc::c_int = sys::ast_pbx_outgoing_sync::AST_OUTGOING_WAIT_COMPLETE as libc::c_int;

/// How long an unanswered attempt waits for its channel's last update (delivered on Asterisk's stasis
/// thread just after the dial returns) before its outcome is decided without a cause.
const CAUSE_PATIENCE: std::time::Duration = std::time::Duration::from_millis(500);

/// The slin capabilities plus the file's `Codecs:` lines; released on drop.
struct FormatCaps(*mut sys::ast_format_cap);

impl FormatCaps {
    fn for_call(call: &CallFile) -> Option<Self> {
        // SAFETY: allocates a new capabilities object owned by the returned wrapper (or NULL on failure).
        let caps = unsafe { sys::prs_format_cap_new_slin() };
        if caps.is_null() {
            return None;
        }
        let caps = FormatCaps(caps);
        for list in &call.codecs {
            let list = c_string(list.clone());
            // SAFETY: `caps.0` is a live capabilities object we own; `list` is a valid C string for the call.
            unsafe { sys::ast_format_cap_update_by_allow_disallow(caps.0, list.as_ptr(), 1) };
        }
        Some(caps)
    }
}

impl Drop for FormatCaps {
    fn drop(&mut self) {
        // SAFETY: releases the one reference this wrapper owns.
        unsafe { sys::prs_format_cap_release(self.0) };
    }
}

/// A linked `ast_variable` list in file order; destroyed on drop unless handed to Asterisk.
struct Variables(*mut sys::ast_variable);

impl Variables {
    fn for_call(call: &CallFile, attempt: i32, file: &CStr) -> Self {
        let mut list = Variables(ptr::null_mut());
        let mut tail: *mut sys::ast_variable = ptr::null_mut();
        let attempt_value = attempt.to_string();
        let pairs = call
            .variables
            .iter()
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
            .chain(std::iter::once((&b"AST_OUTGOING_ATTEMPT"[..], attempt_value.as_bytes())));
        for (name, value) in pairs {
            let name = c_string(name);
            let value = c_string(value);
            // SAFETY: the strings are valid for the call; Asterisk copies them into the new node.
            let node = unsafe { sys::prs_variable_new(name.as_ptr(), value.as_ptr(), file.as_ptr()) };
            if node.is_null() {
                continue;
            }
            if tail.is_null() {
                list.0 = node;
            } else {
                // SAFETY: `tail` is the last node of the list we own; appending keeps file order, which the dialplan relies on ("some people treat the spool file as a script").
                unsafe { (*tail).next = node };
            }
            tail = node;
        }
        list
    }
}

impl Drop for Variables {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: destroys the list we own exactly once.
            unsafe { sys::ast_variables_destroy(self.0) };
        }
    }
}

/// Escalations (dangerous dialplan functions) refused on this thread while alive, restored on drop.
///
/// With `AST_OUTGOING_WAIT_COMPLETE`, `ast_pbx_outgoing_app` runs the dial and then the application on
/// the calling thread (`pbx_outgoing_exec` is called directly, not in a thread of its own), so a
/// function the call file's application expands (`Exec`'s data, an AGI `GET FULL VARIABLE`) is checked
/// by Asterisk against this thread's flag.
struct EscalationsInhibited {
    previous: i32,
}

impl EscalationsInhibited {
    /// `None` when Asterisk could not set the flag (it has logged why).
    fn on_this_thread() -> Option<Self> {
        // SAFETY: sets this thread's flag in Asterisk's thread storage; no pointers involved.
        let previous = unsafe { sys::ast_thread_inhibit_escalations_swap(1) };
        (previous >= 0).then_some(EscalationsInhibited { previous })
    }
}

impl Drop for EscalationsInhibited {
    fn drop(&mut self) {
        // SAFETY: restores this thread's flag to what it was; no pointers involved.
        unsafe { sys::ast_thread_inhibit_escalations_swap(self.previous) };
    }
}

/// Place one attempt and block until it has completed.
pub(crate) fn place(call: &CallFile, attempt: i32, uniqueid: &str) -> CallResult {
    let failed = |reason: i32| CallResult { answered: false, reason, reason_text: reason_text(reason), cause: None };
    let Some(caps) = FormatCaps::for_call(call) else {
        return failed(0);
    };
    let file = c_string("pbx_spool_rs");
    let variables = Variables::for_call(call, attempt, &file);
    let tech = c_string(call.tech.clone());
    let dest = c_string(call.dest.clone());
    // Empty strings rather than NULL where the file says nothing, exactly as pbx_spool passes them.
    let cid_num = c_string(call.cid_num.clone());
    let cid_name = c_string(call.cid_name.clone());
    let account = c_string(call.account.clone());
    let timeout_ms = call.wait_time.saturating_mul(1000);
    let uniqueid = c_string(uniqueid);
    let assigned = sys::ast_assigned_ids { uniqueid: uniqueid.as_ptr(), uniqueid2: ptr::null() };
    let mut reason: i32 = 0;
    // Watched from before the dial, so no update of the attempt's channel is missed.
    let watch = super::causes::Watch::start(uniqueid.to_str().unwrap_or_default());
    let res = if call.is_application() {
        // The application is the call file's, so it runs without escalations; the dialplan (the
        // Context/Extension form below, and the Local channels an application dials, which run on
        // threads of their own) keeps every function, as under pbx_spool.
        let Some(_inhibited) = EscalationsInhibited::on_this_thread() else {
            super::log(
                Level::Error,
                Origin { file: file!(), line: line!(), function: module_path!() },
                "Not placing the call: escalations could not be inhibited for its application",
            );
            return failed(0);
        };
        let app = c_string(call.application.clone());
        let data = c_string(call.data.clone());
        // SAFETY: every pointer is either NULL where Asterisk allows it or a valid C string/object that outlives the call; `vars` is only read (Asterisk copies the variables onto the channel).
        unsafe {
            sys::ast_pbx_outgoing_app(
                tech.as_ptr(),
                caps.0,
                dest.as_ptr(),
                timeout_ms,
                app.as_ptr(),
                data.as_ptr(),
                &mut reason,
                WAIT_COMPLETE,
                cid_num.as_ptr(),
                cid_name.as_ptr(),
                variables.0,
                account.as_ptr(),
                ptr::null_mut(),
                &assigned,
            )
        }
    } else {
        let context = c_string(call.context.clone());
        let exten = c_string(call.extension.clone());
        // SAFETY: as above.
        unsafe {
            sys::ast_pbx_outgoing_exten(
                tech.as_ptr(),
                caps.0,
                dest.as_ptr(),
                timeout_ms,
                context.as_ptr(),
                exten.as_ptr(),
                call.priority,
                &mut reason,
                WAIT_COMPLETE,
                cid_num.as_ptr(),
                cid_name.as_ptr(),
                variables.0,
                account.as_ptr(),
                ptr::null_mut(),
                i32::from(call.early_media),
                &assigned,
            )
        }
    };
    // The call ran its dialplan on this (pooled) thread, which left the call's id bound to the thread;
    // unbind it so later log lines from this worker are not attributed to that call.
    // SAFETY: clears this thread's callid association, if any; harmless when there is none.
    unsafe { sys::ast_callid_threadassoc_remove() };
    // Asterisk's dial folds the channel's hangup cause into `reason`; the channel's own updates tell it.
    // Only an unanswered attempt's cause names its outcome, so only that one is waited for.
    let answered = res == 0;
    let cause = if answered { None } else { watch.cause(CAUSE_PATIENCE) };
    CallResult { answered, reason, reason_text: reason_text(reason), cause }
}

fn reason_text(reason: i32) -> String {
    // SAFETY: ast_channel_reason2str returns a static string for any value.
    let text = unsafe { sys::ast_channel_reason2str(reason) };
    if text.is_null() {
        return String::new();
    }
    // SAFETY: non-null static NUL-terminated string.
    unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned()
}
