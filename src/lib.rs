//! pbx_spool_rs: Asterisk's outgoing call spool (`<astspooldir>/outgoing/*.call`), in Rust.
//!
//! Layout, one concern per file:
//! - pure logic, no FFI, unit-tested without Asterisk: [`callfile`] (parser), [`callerid`],
//!   [`wheel`] (timer wheel), [`bookkeeping`] (pbx_spool's retry/archive rules and file edits),
//!   [`policy`] (the security checks) with [`channel`] (channels as Asterisk reads them),
//!   [`applications`] (what an application will do) and [`functions`] (which functions a write reaches);
//! - the threads tying them together, generic over the [`host::Host`] trait: [`watcher`] (inotify),
//!   [`scheduler`] (due times, dispatch, workers);
//! - Asterisk itself: `asterisk` (bindings and thin safe wrappers) and `module` (the entry points the
//!   C shim calls). Only these two touch FFI, and they are not built into unit tests.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod applications;
pub mod attempt;
pub mod bookkeeping;
pub mod callerid;
pub mod callfile;
pub mod channel;
pub mod config;
pub mod functions;
pub mod host;
pub mod policy;
pub mod report;
pub mod scheduler;
pub mod submit;
pub mod watcher;
pub mod wheel;

#[cfg(test)]
mod testing;

#[cfg(not(test))]
mod asterisk;
#[cfg(not(test))]
mod module;
