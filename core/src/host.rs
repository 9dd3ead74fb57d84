//! What the spooler needs from its host (Asterisk in production, a fake in unit tests): logging, placing
//! a call, and a few facts about the running process. Pure interface; no FFI here.

use crate::callfile::CallFile;

/// Log severities, mapped onto Asterisk's levels by the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `ast_debug(n, ...)`: only emitted when core debug is at least `n`.
    Debug(u8),
    /// `ast_verb(n, ...)`.
    Verbose(u8),
    Notice,
    Warning,
    Error,
}

/// Where a log line comes from, for Asterisk's `file:line function` prefix.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    pub file: &'static str,
    pub line: u32,
    pub function: &'static str,
}

/// The result of one call attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallResult {
    /// The call was answered and ran to completion.
    pub answered: bool,
    /// Asterisk's `reason` (AST_CONTROL_* / hangup cause family, see `ast_channel_reason2str`).
    pub reason: i32,
    pub reason_text: String,
    /// The dialled channel's hangup cause (Q.850) and its text, where the host can tell it (Asterisk's
    /// originate API folds it into `reason`; see [`crate::outcome_names`]).
    pub cause: Option<(i32, String)>,
}

/// The host the spooler runs in. Implementations must be callable from any thread.
pub trait Host: Send + Sync + 'static {
    fn log(&self, level: Level, origin: Origin, message: &str);
    /// Place one attempt of `call` and block until it has completed (pbx_spool's "wait to finish").
    /// `attempt` is the attempt number (1-based), exposed to the dialplan as `AST_OUTGOING_ATTEMPT`.
    /// `uniqueid` is the id to give the call's channel (announced in the manager events).
    fn place_call(&self, call: &CallFile, attempt: i32, uniqueid: &str) -> CallResult;
    /// Send an AMI event (category "call").
    fn manager_event(&self, event: &str, fields: &[(&str, String)]);
    /// The process id written into `StartRetry` lines (`ast_mainpid`).
    fn main_pid(&self) -> i64;
    /// Whether the host has finished booting; the spool is not processed before that.
    fn fully_booted(&self) -> bool;
    /// Whether the stock pbx_spool module is loaded in the same process (two spoolers would dial every
    /// call file twice). Asked before every dispatch and every attempt: must be cheap.
    fn stock_spooler_loaded(&self) -> bool;
    /// Whether the dialplan function `name` is registered as dangerous to write (Asterisk's own flag).
    fn function_writes_are_dangerous(&self, name: &str) -> bool;
    /// Hang up the call whose channel has `uniqueid` (`spool cancel <file> hangup`); false if there is
    /// no such channel (any more).
    fn hang_up(&self, uniqueid: &str) -> bool;
    /// Whether the channel driver of `tech` knows `dest` as one of this PBX's endpoints (a configured
    /// endpoint or peer), asked of the driver itself.
    fn endpoint(&self, tech: &[u8], dest: &[u8]) -> crate::policy::Endpoint;
    /// Asterisk's own `__ast_app_separate_args(data, ',', 1, array, fields)` (`AST_STANDARD_APP_ARGS`),
    /// for `spool check args`; `None` where there is no Asterisk to ask.
    fn asterisk_separate_args(&self, _data: &[u8], _fields: usize) -> Option<Vec<Vec<u8>>> {
        None
    }
    /// Asterisk's own `ast_app_parse_options` over `options`, every letter given an argument slot, for
    /// `spool check args`; `None` where there is no Asterisk to ask.
    fn asterisk_parse_options(&self, _options: &[u8]) -> Option<crate::app_data::Options> {
        None
    }
    /// Whether `name` is a dialplan global now (`[globals]`, `Set(GLOBAL(...))`), compared exactly as
    /// Asterisk compares variable names.
    fn dialplan_global(&self, name: &[u8]) -> bool;
}

/// Log through a [`Host`] with the caller's file, line and module as origin.
#[macro_export]
macro_rules! host_log {
    ($host:expr, $level:expr, $($arg:tt)+) => {
        $host.log(
            $level,
            $crate::host::Origin { file: file!(), line: line!(), function: module_path!() },
            &format!($($arg)+),
        )
    };
}
