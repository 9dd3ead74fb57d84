//! Turns the entries of pbx_spool_rs.conf (read by Asterisk's config loader elsewhere) into
//! validated [`SpoolConfig`] settings, and describes the settings in force for the admin.
//!
//! Pure: entries in, settings or problems out. No I/O, no FFI, no logging. An invalid value
//! rejects the whole file, so the caller keeps the settings it had; unknown keys and categories
//! are only warned about.
//!
//! `settings.rs` holds the values, `reader.rs` applies `[general]`, `sections.rs` the campaigns'
//! sections, `keys.rs` and `values.rs` say which keys and values exist, `describe.rs` and `last_read.rs`
//! report for `spool show status`, `owners.rs` resolves `allowed_owner`.

mod describe;
mod keys;
mod last_read;
mod owners;
mod reader;
mod sections;
mod settings;
mod values;

pub use describe::describe;
pub use keys::{general_key_docs, KeyDoc, DNC_DESCRIPTION, GENERAL_CATEGORY};
pub use last_read::{ConfigRead, ReadOutcome};
pub use owners::allowed_owner_uids;
pub use reader::from_entries;
pub use sections::looks_like_general;
pub use settings::{
    ConfigEntry, ConfigProblem, SpoolConfig, WatchMode, DEFAULT_MAX_FILE_SIZE, DEFAULT_SCAN_INTERVAL_MS,
};

#[cfg(test)]
mod tests;
