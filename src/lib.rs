//! pbx_spool_rs: Asterisk's outgoing call spool (`<astspooldir>/outgoing/*.call`), in Rust.
//!
//! Layout, one concern per file:
//! - pure logic, no FFI, unit-tested without Asterisk: [`callfile`] (parser), [`callerid`],
//!   [`wheel`] (timer wheel), [`bookkeeping`] (pbx_spool's retry/archive rules and file edits);
//! - the threads tying them together, generic over the [`host::Host`] trait: [`watcher`] (inotify),
//!   [`scheduler`] (due times, dispatch, workers);
//! - small helpers both sides use: [`os`] (user lookup, paths from C strings), [`cli_args`] (the admin
//!   commands' words, bounds-checked), [`runtime_slot`] (where the running spooler lives, and its lock rule);
//! - Asterisk itself: `asterisk` (bindings and thin safe wrappers) and `module` (the entry points the
//!   C shim calls). Only these two touch FFI, and they are not built into unit tests.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod attempt;
pub mod bookkeeping;
pub mod callerid;
pub mod callfile;
pub mod cli_args;
pub mod config;
pub mod host;
pub mod os;
pub mod policy;
pub mod report;
pub mod runtime_slot;
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
