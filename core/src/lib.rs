//! The core of pbx_spool_rs: everything that decides what happens to a call file, with no FFI to
//! Asterisk. The module (the workspace's root crate) implements [`host::Host`] over Asterisk's API and
//! calls in here; the `callfile` tool and the fuzzer use the parser and policy directly. Nothing here
//! may link to Asterisk or need its headers: `cargo test -p pbx_spool_core` runs on any machine.
//!
//! - what a call file says: [`callfile`] (parser), [`callerid`], [`policy`] (the security rules)
//!   with [`channel`] (channels as Asterisk reads them), [`applications`] (what an application will
//!   dial, run, start and write), [`functions`] (which functions a write reaches, and which writes a
//!   call file may make) and [`variables`] (the variables Asterisk reads as configuration),
//!   [`config`] (pbx_spool_rs.conf as a model), [`settings`] (that model as the running spool's settings
//!   on this host), [`campaign`] (its campaign sections) and [`hours`]
//!   (calling windows in a time zone; jiff, on the scheduler thread only);
//! - pbx_spool's rules on disk: [`bookkeeping`] (retry lines, mtimes, archive), [`attempt`] (one visit),
//!   [`outcome_names`] (an attempt's outcome as a name), [`retry_rules`] (the delay after each outcome),
//!   [`claim`] (the lock that makes a visit exclusive on a shared spool);
//! - time and events: [`wheel`] (timer wheel), [`watcher`] (inotify, eventfd, timerfd over libc);
//! - the engine: [`scheduler`], generic over the [`host::Host`] trait;
//! - what admins read: [`report`], [`metrics`] (the Prometheus exposition), every CLI command and AMI action declared once: [`commands`], the
//!   words of their commands: [`cli_args`] (bounds-checked), and what
//!   each command does and answers: [`cli`] (generic over the host and the running spooler), and the
//!   AMI actions' answers: [`ami`];
//! - small helpers both sides use: [`os`] (user lookup, paths from C strings), [`access`] (what Asterisk's
//!   user cannot do with a file, and the fix), [`runtime_slot`] (where the running spooler lives, and its
//!   lock rule).

pub mod access;
pub mod ami;
pub mod ami_submit;
pub mod app_data;
pub mod applications;
pub mod arguments;
pub mod attempt;
pub mod bookkeeping;
pub mod callerid;
pub mod callfile;
pub mod campaign;
pub mod channel;
pub mod claim;
pub mod cli;
pub mod cli_args;
pub mod commands;
pub mod config;
pub mod contexts;
pub mod dnc;
pub mod events;
pub mod functions;
pub mod host;
pub mod hours;
pub mod membership;
pub mod metrics;
pub mod os;
pub mod outcome_names;
pub mod parser_check;
pub mod policy;
pub mod report;
pub mod retry_rules;
pub mod runtime_slot;
pub mod scheduler;
pub mod settings;
pub mod spool_writer;
pub mod steering;
pub mod submit;
pub mod tag;
pub mod text;
pub mod timestamp;
pub mod variables;
pub mod watcher;
pub mod wheel;
pub mod xmldoc;

#[cfg(test)]
mod testing;
