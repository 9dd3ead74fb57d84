//! What tests await and count: the AMI events the spoolers (`SpoolAttempt`, `SpoolFinished`) and the test
//! dialplans (`UserEvent`s) raise, and Asterisk's log lines.

use std::time::Duration;

use crate::files::shown;
use crate::wait::SOON;
use crate::{Asterisk, Message};

/// The `Placed` UserEvent of the call tagged `tag`.
pub fn placed(tag: &str) -> impl Fn(&Message) -> bool + Clone {
    let tag = tag.to_owned();
    move |e: &Message| e.is_user_event("Placed") && e.has("Tag", &tag)
}

/// A UserEvent `name` whose `File` header is `file` (every call file sets `FILE` for this).
pub fn ue(name: &str, file: &str) -> impl Fn(&Message) -> bool + Clone {
    let (name, file) = (name.to_owned(), file.to_owned());
    move |e: &Message| e.is_user_event(&name) && e.has("File", &file)
}

/// A `<event>` manager event (SpoolAttempt, SpoolFinished) about `outgoing/<name>`.
pub fn spool_event(ast: &Asterisk, event: &str, name: &str) -> impl Fn(&Message) -> bool + Clone {
    let (event, file) = (event.to_owned(), shown(ast, name));
    move |e: &Message| e.is_event(&event) && e.has("File", &file)
}

/// Every event so far matching `predicate`.
pub fn events(ast: &Asterisk, predicate: impl Fn(&Message) -> bool) -> Vec<Message> {
    ast.ami().events().into_iter().filter(|e| predicate(e)).collect()
}

/// Waits for the `SpoolFinished` event of `outgoing/<name>`.
pub fn expect_finished(ast: &Asterisk, name: &str) -> Message {
    ast.expect_event(&format!("SpoolFinished for {name}"), SOON, spool_event(ast, "SpoolFinished", name))
}

/// Asserts that no attempt was made for `outgoing/<name>` (no SpoolAttempt event).
pub fn assert_never_attempted(ast: &Asterisk, name: &str) {
    let attempts = ast.ami().count_events(spool_event(ast, "SpoolAttempt", name));
    assert_eq!(attempts, 0, "{name} must never be attempted\n{}", ast.diagnostics());
}

/// Bounded absence check: asserts that no more than `expected` events match within `window`.
pub fn assert_no_more(
    ast: &Asterisk,
    expected: usize,
    window: Duration,
    what: &str,
    predicate: impl Fn(&Message) -> bool,
) {
    let seen = ast.ami().wait_for_count(expected + 1, window, predicate);
    assert_eq!(seen, expected, "{what}: expected exactly {expected}, saw {seen}\n{}", ast.diagnostics());
}

/// Waits for the `count`-th event matching `predicate` (each within `each`), returning when the dialplan
/// raised each one by Asterisk's own clock (the event's `At:` field). The time the test received an event
/// is no measure of when it happened: a loaded machine delays the first and the second by different
/// amounts (seen once: a re-dated file's second call measured 2.986 s after the first, where Asterisk's
/// clock puts it at least 3 s later).
pub fn arrival_times(
    ast: &Asterisk,
    count: usize,
    each: Duration,
    predicate: impl Fn(&Message) -> bool,
) -> Vec<Duration> {
    for i in 1..=count {
        let seen = ast.ami().wait_for_count(i, each, &predicate);
        assert!(seen >= i, "only {seen} of {count} expected events arrived\n{}", ast.diagnostics());
    }
    events(ast, &predicate)
        .iter()
        .take(count)
        .map(|event| {
            let at = event.get("At").unwrap_or_else(|| panic!("event without At: {event}"));
            let seconds: f64 = at.parse().unwrap_or_else(|_| panic!("At: {at:?} is not seconds: {event}"));
            Duration::from_secs_f64(seconds)
        })
        .collect()
}

/// Log lines (anywhere so far) containing all of `needles`, counted.
pub fn log_count(ast: &Asterisk, needles: &[&str]) -> usize {
    ast.log_lines_with(needles).len()
}

/// Waits until the log holds at least `count` lines containing all of `needles`.
pub fn expect_log_count(ast: &Asterisk, needles: &[&str], count: usize, timeout: Duration) {
    ast.expect_until(&format!("{count} log line(s) with {needles:?}"), timeout, || log_count(ast, needles) >= count);
}
