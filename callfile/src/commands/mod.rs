//! The tool's three commands, one file each: [`check`], [`submit`] and [`bulk`], and [`man`], the
//! hidden `generate-man` that writes the manual pages when the Debian package is built. Each takes its request
//! and the streams to write to, and returns the exit status; argument parsing is `cli`'s job.
//!
//! What they share: the checks `submit` and `bulk` make before reading any call file ([`Start`]), and
//! opening the spool with the owner check's verdict.

use std::io::Write;
use std::path::PathBuf;

use pbx_spool_core::bookkeeping::{self, Millis};
use pbx_spool_core::config::SpoolConfig;

use crate::conf::{self, Settings};
use crate::error::Error;
use crate::owner;
use crate::spool::{check_prefix, Spool};
use crate::time::When;

pub mod bulk;
pub mod check;
pub mod man;
pub mod submit;

/// The spool `settings` name, with a note on `err` when owner_check will probably refuse its files.
fn open_spool(settings: &Settings, rules: &SpoolConfig, err: &mut dyn Write) -> Result<Spool, Error> {
    let spool = Spool::open(&conf::resolve_spool_dir(settings)?)?;
    if let Some(note) = owner::owner_verdict(rules, &spool)? {
        let _ = writeln!(err, "callfile: note: {note}");
    }
    Ok(spool)
}

/// What `submit` and `bulk` settle first, before any call file is read: the `--name` prefix is valid,
/// the rules are loaded and the due time (the first one, for `bulk`) is known.
struct Start {
    rules: SpoolConfig,
    /// The pbx_spool_rs.conf the rules came from; `None` for the built-in defaults.
    config_path: Option<PathBuf>,
    now: Millis,
    due: Millis,
}

impl Start {
    fn new(settings: &Settings, prefix: Option<&str>, when: &When, err: &mut dyn Write) -> Result<Start, Error> {
        if let Some(prefix) = prefix {
            check_prefix(prefix)?;
        }
        let loaded = conf::load_config(settings, err)?;
        let now = bookkeeping::now_ms();
        let due = when.resolve(now)?;
        Ok(Start { rules: loaded.rules, config_path: loaded.path, now, due })
    }
}
