//! Waiting without sleep-and-hope: every wait is "until this condition holds or the deadline passes",
//! and the caller decides what a missed deadline means (usually a panic with diagnostics).

use std::time::{Duration, Instant};

/// Generous deadline for something that should happen within a second or two, on a loaded machine too:
/// the one deadline the suite's tests give a step that is not slow by nature.
pub const SOON: Duration = Duration::from_secs(15);
/// Bounded window used only to assert that something does NOT happen.
pub const ABSENCE: Duration = Duration::from_secs(1);

/// How often conditions that cannot be awaited (files, /proc) are re-checked.
pub const POLL: Duration = Duration::from_millis(20);

/// Re-checks `condition` every [`POLL`] until it is true (returns true) or `timeout` passes (false).
/// The condition is always checked at least once, and once more at the deadline.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(POLL.min(deadline - now));
    }
}

/// Like [`wait_until`] for a condition that yields a value.
pub fn wait_for<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let mut found = None;
    wait_until(timeout, || {
        found = probe();
        found.is_some()
    });
    found
}

/// Samples `measure` until it has returned the same value for `window` without a change, and returns
/// that value; None if it never settled before `timeout`. Used for counts that legitimately drift for
/// a moment (threads of a pool that is winding down).
pub fn wait_stable<T: PartialEq + Copy>(
    window: Duration,
    timeout: Duration,
    mut measure: impl FnMut() -> T,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    let mut value = measure();
    let mut since = Instant::now();
    loop {
        if since.elapsed() >= window {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(POLL);
        let now = measure();
        if now != value {
            value = now;
            since = Instant::now();
        }
    }
}
