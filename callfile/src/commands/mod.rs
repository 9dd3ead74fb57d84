//! The tool's three commands, one file each: [`check`], [`submit`] and [`bulk`]. Each takes its request
//! and the streams to write to, and returns the exit status; argument parsing is `cli`'s job.
//!
//! What they share: opening the spool with the owner check's verdict.

use std::io::Write;

use pbx_spool_core::config::SpoolConfig;

use crate::conf::{self, Settings};
use crate::error::Error;
use crate::owner;
use crate::spool::Spool;

pub mod bulk;
pub mod check;
pub mod submit;

/// The spool `settings` name, with a note on `err` when owner_check will probably refuse its files.
fn open_spool(settings: &Settings, rules: &SpoolConfig, err: &mut dyn Write) -> Result<Spool, Error> {
    let spool = Spool::open(&conf::resolve_spool_dir(settings)?)?;
    if let Some(note) = owner::owner_verdict(rules, &spool)? {
        let _ = writeln!(err, "callfile: note: {note}");
    }
    Ok(spool)
}
