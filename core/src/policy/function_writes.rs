//! The dialplan functions a call file writes, through its `Set:` lines and its applications: those
//! Asterisk flags as dangerous need `live_dangerously`, those whose write outlives the call need
//! `allow_function`.
//!
//! Which names a write touches is [`crate::functions`]'s to say; variables Asterisk reads as
//! configuration are [`crate::variables`]'.

use super::rejection::{shown, Rejection};
use super::rule;
use super::rule_set::Policy;
use super::runs::applications_run;
use super::FunctionRegistry;
use crate::applications::{self, Action};
use crate::callfile::CallFile;
use crate::functions;

/// Every dialplan function name `call` would write, through its `Set:` lines and its application,
/// whether or not the rest of the policy lets it through: for reporting what only a running Asterisk
/// can judge (which functions it flags as dangerous).
pub fn functions_written(call: &CallFile) -> Vec<String> {
    let mut names: Vec<Vec<u8>> = call.variables.iter().map(|(name, _)| name.clone()).collect();
    if !call.application.is_empty() {
        for run in applications_run(&call.application, &call.data).unwrap_or_default() {
            for action in applications::actions(&run.application, &run.data) {
                if let Action::Writes(name) = action {
                    names.push(name);
                }
            }
        }
    }
    names.iter().flat_map(|name| functions::written_functions(name)).collect()
}

/// `Set:` lines, and what the application writes (`Set`, `MSet`, `Read`, Originate's `v()`): the same
/// function writes, whichever way the call file asks for them. Functions Asterisk flags as dangerous
/// need `live_dangerously`; functions whose write outlives the call need `allow_function`.
pub(super) fn check_written_functions(
    call: &CallFile,
    by_application: &[Vec<u8>],
    policy: &Policy,
    registry: &dyn FunctionRegistry,
) -> Result<(), Rejection> {
    let set_lines = call.variables.iter().map(|(name, _)| name);
    for name in set_lines.chain(by_application) {
        let names = functions::written_functions(name);
        let dangerous: Vec<&String> = names.iter().filter(|function| registry.writes_are_dangerous(function)).collect();
        // Asked only now: the common file writes no dangerous function at all.
        if let Some(function) = dangerous.first().filter(|_| !registry.live_dangerously()) {
            return Err(Rejection::new(
                rule::DANGEROUS_FUNCTION,
                name,
                format!(
                    "Set writes the dialplan function {}, which Asterisk only allows with \
                     live_dangerously = yes in asterisk.conf",
                    shown(function.as_bytes())
                ),
            ));
        }
        // A function Asterisk flags as dangerous is live_dangerously's to admit, not this rule's.
        let persistent = names.iter().find(|function| {
            functions::is_persistent(function)
                && !dangerous.contains(function)
                && !policy.allowed_functions.iter().any(|allowed| {
                    let name = functions::function_and_argument(allowed.as_bytes())
                        .map_or(allowed.as_bytes(), |(name, _)| name);
                    function.as_bytes().eq_ignore_ascii_case(name)
                })
        });
        if let Some(function) = persistent {
            let function = shown(function.as_bytes());
            return Err(Rejection::new(
                rule::PERSISTENT_FUNCTION,
                name,
                format!(
                    "Set writes the dialplan function {function}, whose write outlives the call and changes \
                     the whole PBX ('allow_function = {function}' admits it)"
                ),
            ));
        }
    }
    Ok(())
}
