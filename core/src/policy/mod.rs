//! The security checks a parsed call file must pass before any call is placed: where its first
//! leg may dial, which application it may run and what that application will dial, start or write,
//! which dialplan functions its `Set:` lines may write, and how large it may be.
//!
//! Pure: a [`CallFile`] and a [`Policy`] in, a verdict out. No I/O, no FFI, no logging; the facts
//! only Asterisk knows come through [`FunctionRegistry`]. Never panics, whatever the bytes.
//! Channels are judged as Asterisk reads them ([`crate::channel`]), applications as they read their
//! data ([`crate::applications`]).
//!
//! `check` below runs the checks in order: `limits.rs` (sizes), `legs.rs` (where the first leg and
//! second legs go), `runs.rs` (the applications run), `crate::contexts`, `function_writes.rs` and
//! `crate::variables`. The settings they apply are in `rule_set.rs`, the refusal in `rejection.rs`,
//! the pattern matching in `glob.rs`.

mod function_writes;
mod glob;
mod legs;
mod limits;
mod rejection;
mod rule_set;
mod runs;

pub use function_writes::functions_written;
pub(crate) use glob::glob_matches;
pub use legs::first_leg_verdict;
pub(crate) use rejection::shown;
pub use rejection::Rejection;
pub use rule_set::{
    ChannelRule, FirstLegMode, Policy, RuleAction, DEFAULT_DENIED_APPLICATIONS, DEFAULT_MAX_SET_LINES,
    DEFAULT_MAX_VALUE_LEN,
};

use crate::callfile::CallFile;
use crate::contexts;
use function_writes::check_written_functions;
use limits::{check_set_line_count, check_value_lengths};
use runs::{check_application, runs_and_second_legs};

/// The names a [`Rejection`] gives for the check that refused a call file, for log lines and for
/// callers that react to one of them.
pub mod rule {
    pub const FIRST_LEG: &str = "first_leg";
    pub const CHANNEL_RULE: &str = "channel_rule";
    pub const SECOND_LEG: &str = "second_leg";
    pub const APPLICATION: &str = "application";
    pub const AGI_SCRIPT: &str = "agi_script";
    pub const DANGEROUS_FUNCTION: &str = "dangerous_function";
    pub const PERSISTENT_FUNCTION: &str = "persistent_function";
    pub use crate::variables::rule::{DIALPLAN_GLOBAL, FUNCTION, PATH_VALUE, VARIABLE};
    pub const SET_LINES: &str = "set_lines";
    pub const VALUE_LENGTH: &str = "value_length";
    pub use crate::contexts::rule::{ARGUMENT, CONFERENCE, CONTEXT};
}

/// What Asterisk says about a bare endpoint name (`PJSIP/100`, `IAX2/alice`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// The channel driver knows it: a configured endpoint or peer.
    Known,
    /// The driver does not know the name (it would resolve it as a host, or fail), or cannot say.
    Unknown,
    /// No channel driver of that technology is loaded.
    NoSuchTechnology,
    /// Nobody to ask (offline checks): taken as known, and reported as not checked.
    NotChecked,
}

/// Facts only Asterisk knows, behind a trait so tests use a fake.
pub trait FunctionRegistry {
    /// True when the dialplan function `name` (e.g. `FILE`, `DB`, `SHELL`) is registered as
    /// dangerous to write (its writes escalate privileges).
    fn writes_are_dangerous(&self, name: &str) -> bool;

    /// asterisk.conf `live_dangerously = yes`.
    fn live_dangerously(&self) -> bool;

    /// Whether the driver of `tech` knows `dest` as one of this PBX's endpoints.
    fn endpoint(&self, tech: &[u8], dest: &[u8]) -> Endpoint;

    /// Whether `name` (compared exactly, as Asterisk compares variable names) is a dialplan global
    /// now. Offline checks, which cannot know, answer false and report the name as not checked.
    fn is_dialplan_global(&self, name: &[u8]) -> bool;
}

/// Applies every check to `call`; the first one that fails is the answer.
///
/// The size checks come first so that the later ones only ever see bounded input; then the
/// first leg, the application (with what it dials, runs and starts), and the dialplan functions
/// written by `Set:` lines and by the application.
///
/// # Errors
///
/// The [`Rejection`] of the first check that fails; the call must not be placed.
pub fn check(call: &CallFile, policy: &Policy, registry: &dyn FunctionRegistry) -> Result<(), Rejection> {
    check_set_line_count(call, policy)?;
    check_value_lengths(call, policy)?;
    first_leg_verdict(&call.tech, &call.dest, policy, registry)?;
    let written = check_application(call, policy, registry)?;
    let (runs, dialled) = runs_and_second_legs(call);
    contexts::check(call, &runs, &dialled, policy)?;
    check_written_functions(call, &written, policy, registry)?;
    crate::variables::check_writes(call, &written, policy, registry)
}

#[cfg(test)]
mod tests;
