//! The core of pbx_spool_rs: everything that decides what happens to a call file, with no FFI to
//! Asterisk. The module (the workspace's root crate) implements [`host::Host`] over Asterisk's API and
//! calls in here; the `callfile` tool and the fuzzer use the parser and policy directly. Nothing here
//! may link to Asterisk or need its headers: `cargo test -p pbx_spool_core` runs on any machine.
//!
//! - what a call file says: [`callfile`] (parser), [`callerid`], [`policy`] (the security rules),
//!   [`config`] (pbx_spool_rs.conf as a model);
//! - pbx_spool's rules on disk: [`bookkeeping`] (retry lines, mtimes, archive), [`attempt`] (one visit);
//! - time and events: [`wheel`] (timer wheel), [`watcher`] (inotify, eventfd, timerfd over libc);
//! - the engine: [`scheduler`], generic over the [`host::Host`] trait;
//! - what admins read: [`report`].
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod attempt;
pub mod bookkeeping;
pub mod callerid;
pub mod callfile;
pub mod config;
pub mod host;
pub mod policy;
pub mod report;
pub mod scheduler;
pub mod watcher;
pub mod wheel;

#[cfg(test)]
mod testing;
