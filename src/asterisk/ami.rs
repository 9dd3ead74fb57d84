//! The AMI actions' FFI side: one action registered per entry of `pbx_spool_core::commands::AMI_ACTIONS`
//! for as long as a [`Registration`] lives, the request's headers read as text, and an [`AmiAnswer`]
//! sent with Asterisk's `astman_*` functions. An action in Asterisk's loaded XML documentation is registered
//! without texts, so the manager shows its structured help; otherwise the table's plain texts are its help.
//! What each action answers is `pbx_spool_core::ami`. Runs on
//! Asterisk's manager threads: no jiff, nothing that registers thread-local destructors.

use std::ffi::{CStr, CString};

use pbx_spool_core::ami::AmiAnswer;
use pbx_spool_core::commands::{AmiPermission, AMI_ACTIONS};

use super::{sys, Asterisk};
use pbx_spool_core::host::{Host, Level};
use pbx_spool_core::host_log;

pub(crate) type RawSession = sys::mansession;
pub(crate) type RawMessage = sys::message;
/// An action's handler as `ast_manager_register2` takes it.
pub(crate) type Handler = unsafe extern "C" fn(*mut RawSession, *const RawMessage) -> libc::c_int;

/// The table's actions, registered on creation and unregistered on drop. Asterisk's manager hands a
/// handler no data of its own, so `handlers[i]` serves `AMI_ACTIONS[i]` and knows it by its index.
pub(crate) struct Registration(());

impl Registration {
    pub(crate) fn new(handlers: &[Handler]) -> Self {
        // SAFETY: AST_MODULE_INFO in the shim defines this function; it returns this module's handle.
        let module = unsafe { sys::__internal_pbx_spool_rs_self() };
        for (i, spec) in AMI_ACTIONS.iter().enumerate() {
            let Some(&handler) = handlers.get(i) else {
                host_log!(Asterisk, Level::Error, "pbx_spool_rs: AMI action {:?} has no handler", spec.name);
                continue;
            };
            let authority = spec.permissions.iter().fold(0, |flags, permission| {
                flags
                    | match permission {
                        AmiPermission::System => sys::EVENT_FLAG_SYSTEM,
                        AmiPermission::Originate => sys::EVENT_FLAG_ORIGINATE,
                    }
            });
            // With the action in Asterisk's XML documentation (documentation/thirdparty/pbx_spool_rs-en_US.xml,
            // read at startup), an empty synopsis and description make the manager build its structured help
            // from it; without, the plain texts are its help.
            // SAFETY: two NUL-terminated strings, only read during the call.
            let documented = unsafe { sys::prs_xmldoc_has(c"manager".as_ptr(), spec.name.as_ptr()) } == 1;
            let (synopsis, description) = if documented {
                (CString::default(), CString::default())
            } else {
                (c_text(spec.synopsis), c_multiline(spec.description))
            };
            // SAFETY: the name is a static C string (Asterisk keeps the pointer), synopsis and description valid for the call (Asterisk copies them), the handler a function of this module, which holds a reference on it while it runs.
            unsafe {
                sys::ast_manager_register2(
                    spec.name.as_ptr(),
                    authority as libc::c_int,
                    Some(handler),
                    module,
                    synopsis.as_ptr(),
                    description.as_ptr(),
                )
            };
        }
        Registration(())
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        for spec in AMI_ACTIONS {
            // SAFETY: a static C string; unregistering an action that is not registered only fails.
            unsafe { sys::ast_manager_unregister(spec.name.as_ptr()) };
        }
    }
}

/// The request being answered: the session and message Asterisk handed the handler.
pub(crate) struct Request {
    session: *mut RawSession,
    message: *const RawMessage,
}

impl Request {
    /// # Safety
    ///
    /// `session` and `message` are the handler's arguments, valid for as long as the returned value is
    /// used (the handler).
    pub(crate) unsafe fn new(session: *mut RawSession, message: *const RawMessage) -> Self {
        Request { session, message }
    }

    /// A header's value as given (empty when absent).
    fn header_bytes(&self, name: &CStr) -> Vec<u8> {
        // SAFETY: the message is valid during the handler (Request::new's contract); Asterisk only reads the name, and returns "" or a string inside the message.
        let value = unsafe { sys::astman_get_header(self.message, name.as_ptr().cast_mut()) };
        if value.is_null() {
            return Vec::new();
        }
        // SAFETY: non-NULL, NUL-terminated and valid during the handler.
        unsafe { CStr::from_ptr(value) }.to_bytes().to_vec()
    }

    /// Every header of the request, in order, as (name, value) text.
    pub(crate) fn headers(&self) -> Vec<(String, String)> {
        // SAFETY: the message is valid during the handler (Request::new's contract).
        let message = unsafe { &*self.message };
        let count = (message.hdrcount as usize).min(message.headers.len());
        message.headers[..count]
            .iter()
            .filter(|header| !header.is_null())
            .filter_map(|&header| {
                // SAFETY: Asterisk's parser fills the first `hdrcount` slots with NUL-terminated lines that live as long as the message.
                let line = unsafe { CStr::from_ptr(header) }.to_string_lossy().into_owned();
                let (name, value) = line.split_once(':')?;
                Some((name.trim().to_string(), value.trim_start().to_string()))
            })
            .collect()
    }

    /// A header's value as text ("" when absent).
    pub(crate) fn header(&self, name: &CStr) -> String {
        String::from_utf8_lossy(&self.header_bytes(name)).into_owned()
    }

    /// `ActionID: <id>\r\n` when the request has one, as Asterisk's own replies echo it.
    fn action_id_line(&self) -> Vec<u8> {
        let id = self.header_bytes(c"ActionID");
        if id.is_empty() {
            return Vec::new();
        }
        [b"ActionID: ".as_slice(), &id, b"\r\n"].concat()
    }

    /// Send `text` as it is.
    fn append(&self, text: Vec<u8>) {
        let text = CString::new(text).unwrap_or_default();
        // SAFETY: the session is valid during the handler; `text` is passed to a "%s" format, never as the format.
        unsafe { sys::astman_append(self.session, c"%s".as_ptr(), text.as_ptr()) };
    }

    /// Send `answer`.
    pub(crate) fn send(&self, answer: AmiAnswer) {
        match answer {
            AmiAnswer::Ack { message, fields } => {
                let mut text = b"Response: Success\r\n".to_vec();
                text.extend(self.action_id_line());
                text.extend(format!("Message: {}\r\n{}\r\n", one_line(&message), fields_text(&fields)).into_bytes());
                self.append(text);
            }
            AmiAnswer::Error(message) => {
                let message = c_text(&message);
                // SAFETY: session and message valid during the handler; Asterisk only reads the text.
                unsafe { sys::astman_send_error(self.session, self.message, message.as_ptr().cast_mut()) };
            }
            AmiAnswer::List { message, event, items, complete_event } => {
                let message = c_text(&message);
                // SAFETY: as above; Asterisk only reads both texts.
                unsafe {
                    sys::astman_send_listack(
                        self.session,
                        self.message,
                        message.as_ptr().cast_mut(),
                        c"start".as_ptr().cast_mut(),
                    )
                };
                for item in &items {
                    let mut text = format!("Event: {}\r\n", one_line(&event)).into_bytes();
                    text.extend(self.action_id_line());
                    text.extend(format!("{}\r\n", fields_text(item)).into_bytes());
                    self.append(text);
                }
                let complete_event = c_text(&complete_event);
                let count = libc::c_int::try_from(items.len()).unwrap_or(libc::c_int::MAX);
                // SAFETY: as above.
                unsafe {
                    sys::astman_send_list_complete_start(self.session, self.message, complete_event.as_ptr(), count);
                    sys::astman_send_list_complete_end(self.session);
                }
            }
        }
    }
}

/// No NUL may cut a value short, and no line break may start a header of its own.
fn one_line(text: &str) -> String {
    text.replace(['\0', '\r', '\n'], " ")
}

fn c_text(text: &str) -> CString {
    CString::new(one_line(text)).unwrap_or_default()
}

/// A registered description keeps its line breaks (no NUL can be in the table's texts).
fn c_multiline(text: &str) -> CString {
    CString::new(text.replace('\0', " ")).unwrap_or_default()
}

fn fields_text(fields: &[(String, String)]) -> String {
    fields.iter().map(|(key, value)| format!("{key}: {}\r\n", one_line(value))).collect()
}
