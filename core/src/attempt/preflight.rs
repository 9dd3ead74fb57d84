//! The checks made before a call file may be dialled (owner, validity, hostile contents, the security
//! policy), shared by a visit and the admin's `spool check`. Reads no call file and logs nothing: the
//! caller logs a [`Refusal`]'s lines and ends the file. No FFI.

use super::outcome::FinalStatus;
use super::VisitRules;
use crate::callfile::{CallFile, Diagnostic, DiagnosticKind};
use crate::host::Host;
use crate::policy::{self, FunctionRegistry};

/// Asterisk's function registry as the policy sees it, with `live_dangerously` fixed at (re)load.
struct HostFunctions<'a, H: Host> {
    host: &'a H,
    live_dangerously: bool,
}

impl<H: Host> FunctionRegistry for HostFunctions<'_, H> {
    fn writes_are_dangerous(&self, name: &str) -> bool {
        self.host.function_writes_are_dangerous(name)
    }

    fn live_dangerously(&self) -> bool {
        self.live_dangerously
    }

    fn endpoint(&self, tech: &[u8], dest: &[u8]) -> policy::Endpoint {
        self.host.endpoint(tech, dest)
    }

    fn is_dialplan_global(&self, name: &[u8]) -> bool {
        self.host.dialplan_global(name)
    }
}

/// Why a call file is refused before any attempt, in the words that are logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: FinalStatus,
    /// The rule that refused it: a policy rule's name, or `owner`, `invalid`, `contents`.
    pub rule: &'static str,
    pub lines: Vec<String>,
}

/// Every check made before a call file may be dialled: owner, validity (pbx_spool's rule), hostile
/// contents, and the security policy. Shared by the spool and the admin's `spool check`.
pub fn preflight<H: Host>(
    host: &H,
    rules: &VisitRules,
    call: &CallFile,
    diagnostics: &[Diagnostic],
    owner_uid: u32,
    shown: &str,
) -> Result<(), Refusal> {
    let refuse = |status, rule, lines: Vec<String>| Err(Refusal { status, rule, lines });
    if rules.allowed_owners.as_ref().is_some_and(|owners| !owners.contains(&owner_uid)) {
        return refuse(FinalStatus::Rejected, "owner", vec![owner_refusal(shown, owner_uid)]);
    }
    if let Err(invalid) = call.validate() {
        return refuse(
            FinalStatus::Failed,
            "invalid",
            vec![invalid.message(shown), format!("Invalid file contents in {shown}, deleting")],
        );
    }
    if diagnostics.iter().any(|d| d.kind == DiagnosticKind::NulByte) {
        return refuse(
            FinalStatus::Rejected,
            "contents",
            vec![format!("Rejected {shown}: it contains NUL bytes (rule contents)")],
        );
    }
    let functions = HostFunctions { host, live_dangerously: rules.live_dangerously };
    policy::check(call, &rules.policy, &functions).map_err(|rejection| Refusal {
        status: FinalStatus::Rejected,
        rule: rejection.rule,
        lines: vec![rejection.message(shown)],
    })
}

/// The refusal of a file owned by a user not allowed to submit calls, naming the user and the line that
/// would allow it (`allowed_owner = www-data`, the uid where the user has no name).
pub(super) fn owner_refusal(shown: &str, owner_uid: u32) -> String {
    let (who, allowed) = match crate::os::user_name(owner_uid) {
        Some(name) => (format!("{name} (uid {owner_uid})"), name),
        None => (format!("uid {owner_uid}, a user without a name"), owner_uid.to_string()),
    };
    format!(
        "Rejected {shown}: owned by {who}, who is not allowed to submit calls ('allowed_owner = {allowed}' admits \
         it) (rule owner, value 'uid {owner_uid}')"
    )
}
