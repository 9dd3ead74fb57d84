//! Fuzz target: any bytes through the call-file parser and the security policy (first and second legs,
//! applications and what they run, dial and start, function writes, channels as Asterisk reads them)
//! must give a verdict, never a panic, a hang or unbounded memory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbx_spool_core::{applications, callfile, channel, functions, policy};

struct Registry;

impl policy::FunctionRegistry for Registry {
    fn writes_are_dangerous(&self, name: &str) -> bool {
        matches!(name, "FILE" | "DB" | "SHELL")
    }

    fn live_dangerously(&self) -> bool {
        false
    }

    fn endpoint(&self, tech: &[u8], dest: &[u8]) -> policy::Endpoint {
        match (tech.first(), dest.len() % 3) {
            (None, _) => policy::Endpoint::NoSuchTechnology,
            (_, 0) => policy::Endpoint::Known,
            (_, 1) => policy::Endpoint::Unknown,
            _ => policy::Endpoint::NotChecked,
        }
    }

    fn is_dialplan_global(&self, name: &[u8]) -> bool {
        name.len() % 2 == 0
    }
}

fuzz_target!(|data: &[u8]| {
    let parsed = callfile::parse(data);
    for diagnostic in &parsed.diagnostics {
        let _ = diagnostic.message("/var/spool/asterisk/outgoing/fuzz.call");
    }
    let _ = parsed.call.validate();
    let _ = parsed.call.channel();
    let call = &parsed.call;

    // The default policy, and one that lets every nesting application through so the deeper checks
    // (second legs, AGI scripts, writes) see the input too.
    let default = policy::Policy::default();
    let mut open = policy::Policy::default();
    open.allowed_applications.extend(
        ["Exec", "TryExec", "ExecIf", "ExecIfTime", "Set", "MSet", "Read", "AddQueueMember", "RetryDial"].map(String::from),
    );
    open.channel_rules.push(policy::ChannelRule {
        action: policy::RuleAction::Allow,
        pattern: String::from_utf8_lossy(&call.context).into_owned(),
    });
    for policy in [&default, &open] {
        if let Err(rejection) = policy::check(call, policy, &Registry) {
            let line = rejection.message("fuzz.call");
            assert!(!line.contains('\n'), "{line}");
        }
        let _ = policy::first_leg_verdict(&call.tech, &call.dest, policy, &Registry);
    }
    let _ = policy::functions_written(call);

    // The readers on their own, on the fields that carry them.
    let parsed_channel = channel::Channel::parse(&call.data);
    let _ = parsed_channel.judged_text();
    let _ = channel::dial_list(&call.data);
    for arg in channel::app_args(&call.data, 9) {
        let _ = applications::is_agi_bin_script(&arg);
    }
    let _ = applications::actions(&call.application, &call.data);
    for (name, _) in &call.variables {
        for function in functions::written_functions(name) {
            let _ = functions::is_persistent(&function);
        }
    }
});
