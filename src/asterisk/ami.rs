//! The AMI actions' FFI side: headers from C strings, and an [`AmiAnswer`] sent through the shim's
//! `prs_ami_*` wrappers (astman_*). What each action answers is `pbx_spool_core::ami`. Runs on
//! Asterisk's manager threads: no jiff, nothing that registers thread-local destructors.

use std::ffi::{CStr, CString};

use pbx_spool_core::ami::{self, AmiAction, AmiAnswer};
use pbx_spool_core::scheduler::Control;

use super::sys;

pub(crate) type RawReply = sys::prs_ami_reply;

/// The shim's handle on the request being answered.
pub(crate) struct Reply(*mut RawReply);

impl Reply {
    /// # Safety
    ///
    /// `raw` is the shim's reply handle, valid for as long as the returned value is used (the handler).
    pub(crate) unsafe fn new(raw: *mut RawReply) -> Self {
        Reply(raw)
    }
}

/// A header's value ("" for NULL or absent).
///
/// # Safety
///
/// `value` is NULL or a NUL-terminated string valid for the call.
pub(crate) unsafe fn header(value: *const libc::c_char) -> String {
    if value.is_null() {
        return String::new();
    }
    // SAFETY: non-NULL and NUL-terminated (the caller's contract).
    unsafe { CStr::from_ptr(value) }.to_string_lossy().into_owned()
}

/// No NUL may cut a value short, and no line break may start a header of its own.
fn c_text(text: &str) -> CString {
    CString::new(text.replace(['\0', '\r', '\n'], " ")).unwrap_or_default()
}

fn fields_text(fields: &[(String, String)]) -> CString {
    let text: String =
        fields.iter().map(|(key, value)| format!("{key}: {}\r\n", value.replace(['\0', '\r', '\n'], " "))).collect();
    CString::new(text).unwrap_or_default()
}

fn action_of(action: i32) -> Option<AmiAction> {
    use sys::prs_ami_action as id;
    Some(match u32::try_from(action).ok()? {
        id::PRS_AMI_SHOW => AmiAction::Show,
        id::PRS_AMI_STATUS => AmiAction::Status,
        id::PRS_AMI_PAUSE => AmiAction::Pause,
        id::PRS_AMI_RESUME => AmiAction::Resume,
        id::PRS_AMI_CANCEL => AmiAction::Cancel,
        _ => return None,
    })
}

/// Answer action number `action` for the running spooler (`None`: not running).
pub(crate) fn answer(action: i32, campaign: &str, file: &str, hangup: &str, control: Option<&Control>, reply: &Reply) {
    let answer = match action_of(action) {
        Some(action) => ami::answer(action, campaign, file, hangup, control),
        None => AmiAnswer::Error("unknown action".into()),
    };
    match answer {
        AmiAnswer::Ack { message, fields } => {
            let (message, fields) = (c_text(&message), fields_text(&fields));
            // SAFETY: the reply handle is valid during the handler (Reply::new's contract); the strings live across the call and the shim prints them with "%s".
            unsafe { sys::prs_ami_ack(reply.0, message.as_ptr(), fields.as_ptr()) };
        }
        AmiAnswer::Error(message) => {
            let message = c_text(&message);
            // SAFETY: as above.
            unsafe { sys::prs_ami_error(reply.0, message.as_ptr()) };
        }
        AmiAnswer::List { message, event, items, complete_event } => {
            let (message, event, complete_event) = (c_text(&message), c_text(&event), c_text(&complete_event));
            // SAFETY: as above.
            unsafe { sys::prs_ami_list_start(reply.0, message.as_ptr()) };
            for item in &items {
                let fields = fields_text(item);
                // SAFETY: as above.
                unsafe { sys::prs_ami_list_item(reply.0, event.as_ptr(), fields.as_ptr()) };
            }
            let count = i32::try_from(items.len()).unwrap_or(i32::MAX);
            // SAFETY: as above.
            unsafe { sys::prs_ami_list_complete(reply.0, complete_event.as_ptr(), count) };
        }
    }
}
