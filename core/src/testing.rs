//! Unit-test support, compiled into tests only: a [`Host`] that records log lines, placed calls and
//! manager events and answers calls as the test chooses; temporary spools; a seeded PRNG for
//! property-style tests (no crate needed for that).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::callfile::CallFile;
use crate::host::{CallResult, Host, Level, Origin};

type Answer = dyn Fn(&CallFile, i32, &str) -> CallResult + Send + Sync;

pub struct FakeHost {
    pub pid: i64,
    pub dangerous: Vec<&'static str>,
    answer: Box<Answer>,
    /// Log lines containing this make the logging thread panic (after recording them): a way to force a
    /// panic in the scheduler at a chosen point.
    panic_on: Mutex<Option<&'static str>>,
    /// What `stock_spooler_loaded` answers; switched by the test at run time.
    stock_spooler: AtomicBool,
    /// Log lines containing this "load" the fake stock pbx_spool (after recording them): a way to load
    /// it at a chosen point of a visit.
    load_stock_spooler_on: Mutex<Option<&'static str>>,
    /// How many times `stock_spooler_loaded` was asked.
    stock_spooler_checks: AtomicUsize,
    state: Mutex<Recorded>,
    changed: Condvar,
}

#[derive(Default)]
pub struct Recorded {
    pub logs: Vec<(Level, String)>,
    /// (channel, attempt, uniqueid) of each placed call.
    pub calls: Vec<(String, i32, String)>,
    pub events: Vec<(String, Vec<(String, String)>)>,
}

pub fn answered() -> CallResult {
    CallResult { answered: true, reason: 4, reason_text: "Remote end has answered".into(), cause: None }
}

pub fn busy() -> CallResult {
    CallResult { answered: false, reason: 5, reason_text: "Remote end is busy".into(), cause: None }
}

impl FakeHost {
    pub fn new(answer: impl Fn(&CallFile, i32) -> CallResult + Send + Sync + 'static) -> Arc<Self> {
        FakeHost::answering_channel(move |call, attempt, _| answer(call, attempt))
    }

    /// A host whose calls are answered by `answer`, which is also given the uniqueid of the call's
    /// channel (as a dialplan running on that channel would know it).
    pub fn answering_channel(answer: impl Fn(&CallFile, i32, &str) -> CallResult + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(FakeHost {
            pid: 4242,
            dangerous: vec!["FILE", "DB", "SHELL"],
            answer: Box::new(answer),
            panic_on: Mutex::new(None),
            stock_spooler: AtomicBool::new(false),
            load_stock_spooler_on: Mutex::new(None),
            stock_spooler_checks: AtomicUsize::new(0),
            state: Mutex::new(Recorded::default()),
            changed: Condvar::new(),
        })
    }

    pub fn with<T>(&self, f: impl FnOnce(&Recorded) -> T) -> T {
        f(&self.state.lock().unwrap())
    }

    /// Wait until `condition` holds on what was recorded, or panic after `timeout`.
    pub fn wait_for(&self, what: &str, timeout: Duration, condition: impl Fn(&Recorded) -> bool) {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().unwrap();
        while !condition(&state) {
            let now = Instant::now();
            assert!(now < deadline, "timed out waiting for {what}; logs: {:#?}", state.logs);
            state = self.changed.wait_timeout(state, deadline - now).unwrap().0;
        }
    }

    pub fn logged(&self, needle: &str) -> bool {
        self.with(|r| r.logs.iter().any(|(_, line)| line.contains(needle)))
    }

    /// Make whichever thread logs a line containing `needle` panic, once the line is recorded.
    pub fn panic_when_logging(&self, needle: &'static str) {
        *self.panic_on.lock().unwrap() = Some(needle);
    }

    /// Load (true) or unload (false) the fake stock pbx_spool, as `module load|unload pbx_spool.so` would.
    pub fn set_stock_spooler_loaded(&self, loaded: bool) {
        self.stock_spooler.store(loaded, Ordering::SeqCst);
    }

    /// Load the fake stock pbx_spool when any thread logs a line containing `needle`.
    pub fn load_stock_spooler_when_logging(&self, needle: &'static str) {
        *self.load_stock_spooler_on.lock().unwrap() = Some(needle);
    }

    /// How many times the spooler has asked whether the stock pbx_spool is loaded.
    pub fn stock_spooler_checks(&self) -> usize {
        self.stock_spooler_checks.load(Ordering::SeqCst)
    }

    fn record(&self, f: impl FnOnce(&mut Recorded)) {
        f(&mut self.state.lock().unwrap());
        self.changed.notify_all();
    }
}

impl Host for FakeHost {
    fn log(&self, level: Level, _origin: Origin, message: &str) {
        self.record(|r| r.logs.push((level, message.to_string())));
        let load_on = *self.load_stock_spooler_on.lock().unwrap();
        if load_on.is_some_and(|needle| message.contains(needle)) {
            self.set_stock_spooler_loaded(true);
        }
        let panic_on = *self.panic_on.lock().unwrap();
        if panic_on.is_some_and(|needle| message.contains(needle)) {
            panic!("forced by the test on: {message}");
        }
    }

    fn place_call(&self, call: &CallFile, attempt: i32, uniqueid: &str) -> CallResult {
        let channel = String::from_utf8_lossy(&call.channel()).into_owned();
        self.record(|r| r.calls.push((channel, attempt, uniqueid.to_string())));
        (self.answer)(call, attempt, uniqueid)
    }

    fn manager_event(&self, event: &str, fields: &[(&str, String)]) {
        let names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
        if let Err(undeclared) = crate::events::check_declared(event, &names) {
            panic!("{undeclared}");
        }
        let fields = fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        self.record(|r| r.events.push((event.to_string(), fields)));
    }

    fn main_pid(&self) -> i64 {
        self.pid
    }

    fn fully_booted(&self) -> bool {
        true
    }

    fn stock_spooler_loaded(&self) -> bool {
        // Counted under the state lock and announced, so `wait_for` can wait for a check.
        self.record(|_| {
            self.stock_spooler_checks.fetch_add(1, Ordering::SeqCst);
        });
        self.stock_spooler.load(Ordering::SeqCst)
    }

    fn function_writes_are_dangerous(&self, name: &str) -> bool {
        self.dangerous.contains(&name)
    }

    fn hang_up(&self, _uniqueid: &str) -> bool {
        false
    }

    fn dialplan_global(&self, name: &[u8]) -> bool {
        // The fake PBX's dialplan has one global, TRUNKVAR.
        name == b"TRUNKVAR"
    }

    fn endpoint(&self, tech: &[u8], dest: &[u8]) -> crate::policy::Endpoint {
        // The fake PBX has the PJSIP endpoints 100 and alice, and nothing else.
        if !tech.eq_ignore_ascii_case(b"PJSIP") {
            return crate::policy::Endpoint::NoSuchTechnology;
        }
        if dest == b"100" || dest == b"alice" {
            crate::policy::Endpoint::Known
        } else {
            crate::policy::Endpoint::Unknown
        }
    }
}

/// A fresh temporary spool (`outgoing/` created) for one test.
pub fn temp_spool(name: &str) -> crate::attempt::SpoolPaths {
    let dir = std::env::temp_dir().join(format!("prs-unit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("outgoing")).unwrap();
    crate::attempt::SpoolPaths { outgoing: dir.join("outgoing"), done: dir.join("outgoing_done") }
}

/// xorshift64: a small deterministic generator for property-style tests.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}
