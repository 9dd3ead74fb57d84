//! The slot that holds the running spooler between load and unload, and its one locking rule: the lock
//! guards the slot, never slow work. Reading the configuration and resolving `allowed_owner` names
//! (NSS: an LDAP backend can stall for seconds) happen on a handle cloned out of the slot, so CLI
//! commands and unload, which look at the slot, never wait behind them. Generic so the rule is unit-tested
//! without Asterisk.

use std::sync::{Mutex, MutexGuard};

pub struct RuntimeSlot<R> {
    slot: Mutex<Option<R>>,
}

impl<R> RuntimeSlot<R> {
    pub const fn new() -> Self {
        RuntimeSlot { slot: Mutex::new(None) }
    }

    /// The slot itself, for installing or taking the runtime (quick operations only).
    pub fn lock(&self) -> MutexGuard<'_, Option<R>> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A handle on the running value, taken with the lock held only to take it.
    pub fn handle<H>(&self, handle: impl FnOnce(&R) -> H) -> Option<H> {
        self.lock().as_ref().map(handle)
    }

    /// Runs `work` on a handle of the running value with the slot unlocked; `None` if nothing runs.
    pub fn with_handle<H, T>(&self, handle: impl FnOnce(&R) -> H, work: impl FnOnce(H) -> T) -> Option<T> {
        let handle = self.handle(handle)?;
        Some(work(handle))
    }
}

impl<R> Default for RuntimeSlot<R> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn slow_work_on_the_runtime_leaves_the_slot_free() {
        // `work` stands for a reload reading its configuration through a stalled NSS backend: while it
        // runs, another thread (a CLI command, unload) must be able to take the slot.
        let slot = Arc::new(RuntimeSlot::new());
        *slot.lock() = Some(7_u32);
        let done = slot.with_handle(
            |running| *running,
            |handle| {
                let (taken_tx, taken_rx) = mpsc::channel();
                let other = slot.clone();
                let cli = std::thread::spawn(move || {
                    let seen = other.handle(|running| *running);
                    let _ = taken_tx.send(seen);
                });
                let seen = taken_rx.recv_timeout(Duration::from_secs(10));
                assert_eq!(seen, Ok(Some(7)), "the slot stayed locked during the slow work");
                cli.join().unwrap();
                handle + 1
            },
        );
        assert_eq!(done, Some(8));
        assert_eq!(RuntimeSlot::<u32>::new().with_handle(|r| *r, |h| h), None, "nothing runs");
    }
}
