//! The applications a call file runs: its `Application:` and, through Exec, ExecIf, Originate and the
//! like, the ones that runs in turn, each held to `allow_application`/`deny_application`; the channels
//! they dial (as second legs) and the AGI programs they start.
//!
//! What an application does with its data is [`crate::applications`]'s to say; the channels it dials
//! are judged by `legs.rs`, the functions it writes by `function_writes.rs`.

use super::legs::second_leg_verdict;
use super::rejection::{shown, Rejection};
use super::rule;
use super::rule_set::Policy;
use super::FunctionRegistry;
use crate::applications::{self, Action};
use crate::callfile::CallFile;
use crate::channel::Channel;

/// An application and its data.
type ApplicationRun = (Vec<u8>, Vec<u8>);

/// The application that dials, and the channel.
type SecondLeg = (Vec<u8>, Channel);

/// The applications `call` runs (name and data) and the channels they dial, for the argument,
/// context and conference checks; empty for a call into the dialplan.
pub(super) fn runs_and_second_legs(call: &CallFile) -> (Vec<ApplicationRun>, Vec<SecondLeg>) {
    let (mut runs, mut dialled) = (Vec::new(), Vec::new());
    if call.application.is_empty() {
        return (runs, dialled);
    }
    for run in applications_run(&call.application, &call.data).unwrap_or_default() {
        for action in applications::actions(&run.application, &run.data) {
            if let Action::Dials(channel) = action {
                dialled.push((run.application.clone(), channel));
            }
        }
        runs.push((run.application, run.data));
    }
    (runs, dialled)
}

/// How deep applications that run applications (`Exec(Exec(...))`, Originate's `app`) are followed;
/// deeper nesting is refused outright.
const MAX_NESTING: usize = 4;

/// One application a call file would run: its name and data, and the application that runs it
/// (`None` for the `Application:` line itself).
pub(super) struct Run {
    pub(super) application: Vec<u8>,
    pub(super) data: Vec<u8>,
    run_by: Option<Vec<u8>>,
}

/// The applications an `Application:` line runs: itself and, through Exec, ExecIf, Originate and the
/// like, the ones it runs in turn. `None` when the nesting is too deep to follow.
pub(super) fn applications_run(application: &[u8], data: &[u8]) -> Option<Vec<Run>> {
    let mut runs = vec![Run { application: application.to_vec(), data: data.to_vec(), run_by: None }];
    let mut level = vec![0usize];
    for depth in 0..=MAX_NESTING {
        let mut next = Vec::new();
        for &index in &level {
            let (parent, parent_data) = (runs[index].application.clone(), runs[index].data.clone());
            for action in applications::actions(&parent, &parent_data) {
                if let Action::Runs { application, data } = action {
                    if depth == MAX_NESTING {
                        return None;
                    }
                    runs.push(Run { application, data, run_by: Some(parent.clone()) });
                    next.push(runs.len() - 1);
                }
            }
        }
        if next.is_empty() {
            return Some(runs);
        }
        level = next;
    }
    None
}

fn listed(names: &[String], application: &[u8]) -> bool {
    names.iter().any(|name| application.eq_ignore_ascii_case(name.as_bytes()))
}

/// Checks the `Application:` line: every application it runs must be allowed and not denied, every
/// channel they dial must pass the channel rules, every AGI program must come from agi-bin. Returns
/// the variable names the applications write, for the function checks.
pub(super) fn check_application(
    call: &CallFile,
    policy: &Policy,
    registry: &dyn FunctionRegistry,
) -> Result<Vec<Vec<u8>>, Rejection> {
    // Only `Application:`: a call into the dialplan runs what the admin wrote there.
    if call.application.is_empty() {
        return Ok(Vec::new());
    }
    let Some(runs) = applications_run(&call.application, &call.data) else {
        return Err(Rejection::new(
            rule::APPLICATION,
            &call.data,
            format!("applications nested more than {MAX_NESTING} deep (Exec, ExecIf, Originate)"),
        ));
    };
    for run in &runs {
        let how = match &run.run_by {
            None => String::new(),
            Some(parent) => format!(" (run through {})", shown(parent)),
        };
        let name = shown(&run.application);
        if listed(&policy.denied_applications, &run.application) {
            return Err(Rejection::new(
                rule::APPLICATION,
                &call.application,
                format!(
                    "application '{name}'{how} is denied by deny_application (a deny_application list without \
                     it, or 'deny_application = none', admits it; the first such line replaces the defaults)"
                ),
            ));
        }
        if !listed(&policy.allowed_applications, &run.application) {
            return Err(Rejection::new(
                rule::APPLICATION,
                &call.application,
                format!(
                    "application '{name}'{how} is not allowed for call files ('allow_application = {name}' \
                     admits it)"
                ),
            ));
        }
    }
    let mut written = Vec::new();
    for run in &runs {
        for action in applications::actions(&run.application, &run.data) {
            match action {
                Action::Dials(channel) => second_leg_verdict(&run.application, &channel, policy, registry)?,
                Action::StartsAgi(script) if !applications::is_agi_bin_script(&script) => {
                    return Err(Rejection::new(
                        rule::AGI_SCRIPT,
                        &script,
                        format!(
                            "{} starts an AGI program that is not a script in Asterisk's agi-bin directory \
                             (a path, or an agi:// server on another host); give the script's bare name",
                            shown(&run.application)
                        ),
                    ));
                }
                Action::StartsAgi(_) | Action::Runs { .. } => {}
                Action::Writes(name) => written.push(name),
            }
        }
    }
    Ok(written)
}
