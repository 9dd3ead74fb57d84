//! Fuzz target: any bytes through the call-file parser and the security policy must give a verdict,
//! never a panic, a hang or unbounded memory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbx_spool_core::{callfile, policy};

struct Registry;

impl policy::FunctionRegistry for Registry {
    fn writes_are_dangerous(&self, name: &str) -> bool {
        matches!(name, "FILE" | "DB" | "SHELL")
    }

    fn live_dangerously(&self) -> bool {
        false
    }
}

fuzz_target!(|data: &[u8]| {
    let parsed = callfile::parse(data);
    for diagnostic in &parsed.diagnostics {
        let _ = diagnostic.message("/var/spool/asterisk/outgoing/fuzz.call");
    }
    let _ = parsed.call.validate();
    let _ = parsed.call.channel();
    let policy = policy::Policy::default();
    if let Err(rejection) = policy::check(&parsed.call, &policy, &Registry) {
        let _ = rejection.message("fuzz.call");
    }
    let _ = policy::first_leg_verdict(&parsed.call.tech, &parsed.call.dest, &policy);
});
