//! The hangup cause of each attempt's channel, which `ast_pbx_outgoing_exten`/`_app` do not hand back
//! (they fold it into `reason`): read from the channel's own snapshot updates, the ones Asterisk publishes
//! for its `Hangup` manager event. One subscription to every channel's updates lives from load to unload
//! ([`Subscription`]); an attempt watches its own channel's uniqueid ([`Watch`]) while it is placed, and
//! only watched channels are looked at. Asterisk's stasis threads run the callback: they touch only a
//! std `Mutex`/`Condvar` and an atomic here (no thread-local destructor is left on them).

use std::collections::HashMap;
use std::ffi::CStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::sys;
use super::wall::entry_points;

/// What a watched channel's updates said so far: its last non-zero hangup cause, and whether it is gone.
#[derive(Clone, Copy, Default)]
struct Seen {
    cause: i32,
    gone: bool,
}

/// The watched uniqueids; `WATCHED` counts them, so the callback skips every update while there are none.
static SEEN: Mutex<Option<HashMap<String, Seen>>> = Mutex::new(None);
static CHANGED: Condvar = Condvar::new();
static WATCHED: AtomicUsize = AtomicUsize::new(0);

fn seen() -> MutexGuard<'static, Option<HashMap<String, Seen>>> {
    SEEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The subscription to every channel's updates; ended (and joined: the callback has run for the last
/// time) on drop.
pub(crate) struct Subscription(*mut sys::stasis_subscription);

// SAFETY: the handle is only passed back to Asterisk (to unsubscribe), from whichever thread drops it.
unsafe impl Send for Subscription {}
// SAFETY: as above; nothing reads through the pointer on the Rust side.
unsafe impl Sync for Subscription {}

impl Subscription {
    /// `None` when Asterisk could not subscribe: attempts then have no cause, as before.
    pub(crate) fn start() -> Option<Subscription> {
        // The callback defined below outlives the subscription: the module is mapped until unload, and
        // unload ends the subscription first.
        // SAFETY: subscribes that callback, with no data pointer.
        let handle = unsafe { sys::prs_channels_subscribe(Some(pbx_spool_rs_channel_update)) };
        (!handle.is_null()).then_some(Subscription(handle))
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // SAFETY: ends the subscription this value owns, once; returns when the callback will not run again.
        unsafe { sys::prs_channels_unsubscribe(self.0) };
    }
}

entry_points! {
    /// Asterisk's stasis callback for every channel update: notes the hangup cause of watched channels.
    ///
    /// # Safety
    ///
    /// `message` is the message Asterisk delivers, valid for the call.
    unsafe fn pbx_spool_rs_channel_update(
        _data: *mut libc::c_void,
        _subscription: *mut sys::stasis_subscription,
        message: *mut sys::stasis_message,
    ) -> () [entry "channel updates", on panic ()]
    {
        if WATCHED.load(Ordering::Acquire) == 0 {
            return;
        }
        let (mut uniqueid, mut cause, mut gone) = (std::ptr::null::<libc::c_char>(), 0, 0);
        // SAFETY: `message` is valid for the call; the outputs are local variables.
        if unsafe { sys::prs_channel_hangup(message, &mut uniqueid, &mut cause, &mut gone) } == 0 || uniqueid.is_null() {
            return;
        }
        // SAFETY: a NUL-terminated string owned by the message, valid for the call.
        let uniqueid = unsafe { CStr::from_ptr(uniqueid) };
        // Every channel of the PBX passes here: those the spool did not place are left before the lock.
        if !uniqueid.to_bytes().starts_with(pbx_spool_core::attempt::UNIQUEID_PREFIX.as_bytes()) {
            return;
        }
        let uniqueid = uniqueid.to_string_lossy();
        let mut seen = seen();
        if let Some(entry) = seen.as_mut().and_then(|map| map.get_mut(uniqueid.as_ref())) {
            if cause != 0 {
                entry.cause = cause;
            }
            entry.gone |= gone != 0;
            CHANGED.notify_all();
        }
    }
}

/// One attempt's channel, watched from before it is dialled until dropped.
pub(crate) struct Watch {
    uniqueid: String,
}

impl Watch {
    pub(crate) fn start(uniqueid: &str) -> Watch {
        seen().get_or_insert_with(HashMap::new).insert(uniqueid.to_string(), Seen::default());
        WATCHED.fetch_add(1, Ordering::AcqRel);
        Watch { uniqueid: uniqueid.to_string() }
    }

    /// The channel's hangup cause and its text, waiting at most `patience` for the update that says the
    /// channel is gone (stasis delivers it on its own thread, just after the dial returns). `None` when no
    /// cause was set (a far end that hung up without one) or the update did not come in time.
    pub(crate) fn cause(&self, patience: Duration) -> Option<(i32, String)> {
        let deadline = Instant::now() + patience;
        let mut seen = seen();
        loop {
            let state = seen.as_ref().and_then(|map| map.get(&self.uniqueid)).copied().unwrap_or_default();
            let now = Instant::now();
            if state.gone || now >= deadline {
                return (state.cause != 0).then(|| (state.cause, cause_text(state.cause)));
            }
            seen = CHANGED.wait_timeout(seen, deadline - now).unwrap_or_else(std::sync::PoisonError::into_inner).0;
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(map) = seen().as_mut() {
            map.remove(&self.uniqueid);
        }
        WATCHED.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Asterisk's words for a hangup cause (`ast_cause2str`).
fn cause_text(cause: i32) -> String {
    // SAFETY: returns a static string for any value.
    let text = unsafe { sys::ast_cause2str(cause) };
    if text.is_null() {
        return String::new();
    }
    // SAFETY: non-null static NUL-terminated string.
    unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned()
}
