//! What pbx_spool_rs.conf controls, as values: [`SpoolConfig`] and its defaults, the entries it is read
//! from, and the problems a read finds.
//!
//! Plain data: nothing here reads entries, checks values or does I/O (reading is `reader.rs`'s).

use std::fmt;

use crate::campaign::Campaign;
use crate::policy::Policy;

pub const DEFAULT_MAX_FILE_SIZE: u64 = 65536;

/// One `key = value` line of pbx_spool_rs.conf, as Asterisk's loader read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub category: String,
    pub key: String,
    pub value: String,
    pub line: u32,
}

/// Everything pbx_spool_rs.conf controls.
#[derive(Debug, Clone, PartialEq)]
pub struct SpoolConfig {
    pub policy: Policy,
    /// Call files larger than this many bytes are refused unread.
    pub max_file_size: u64,
    /// Whether a call file's owner must be one of [`SpoolConfig::allowed_owners`].
    pub owner_check: bool,
    /// User names or numeric uids; empty means the user Asterisk runs as, or root.
    pub allowed_owners: Vec<String>,
    /// Most calls in progress at once; `None` = unlimited.
    pub max_calls: Option<usize>,
    /// Most calls started per second; `None` = unlimited.
    pub max_rate: Option<f64>,
    /// `shared = yes`: several servers on one spool, each visit claimed by a lock.
    pub shared: bool,
    /// How new files are found; `None` = the default for the mode ([`SpoolConfig::watch_mode`]).
    pub watch: Option<WatchMode>,
    /// Milliseconds between directory scans when `watch` includes `scan`.
    pub scan_interval_ms: u64,
    /// This server's name on a shared spool; `None` = the host name.
    pub node: Option<String>,
    /// The other sections, in the order written (see [`crate::campaign`]).
    pub campaigns: Vec<Campaign>,
    /// `dnc` lines: do-not-call lists applied to every call file (see [`crate::dnc`]).
    pub dnc: Vec<String>,
    /// The delay after each outcome for files outside campaigns, and for outcomes a campaign has no rule for.
    pub retry_rules: crate::retry_rules::RetryRules,
}

/// How new call files are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WatchMode {
    /// inotify only: instant, but blind to what other hosts write on a network file system.
    #[default]
    Inotify,
    /// A scan every `scan_interval`: sees every writer, at the interval's delay.
    Scan,
    /// Both: inotify for local writers, the scan for the rest.
    Both,
}

impl WatchMode {
    pub fn keyword(self) -> &'static str {
        match self {
            WatchMode::Inotify => "inotify",
            WatchMode::Scan => "scan",
            WatchMode::Both => "both",
        }
    }

    pub fn uses_inotify(self) -> bool {
        self != WatchMode::Scan
    }

    pub fn scans(self) -> bool {
        self != WatchMode::Inotify
    }
}

/// `scan_interval`'s default, in milliseconds.
pub const DEFAULT_SCAN_INTERVAL_MS: u64 = 1000;

impl SpoolConfig {
    /// The watch mode in force: as configured, else `both` on a shared spool and `inotify` alone.
    pub fn watch_mode(&self) -> WatchMode {
        self.watch.unwrap_or(if self.shared { WatchMode::Both } else { WatchMode::Inotify })
    }
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            policy: Policy::default(),
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            owner_check: true,
            allowed_owners: Vec::new(),
            max_calls: None,
            max_rate: None,
            shared: false,
            watch: None,
            scan_interval_ms: DEFAULT_SCAN_INTERVAL_MS,
            node: None,
            campaigns: Vec::new(),
            dnc: Vec::new(),
            retry_rules: crate::retry_rules::RetryRules::default(),
        }
    }
}

/// Something wrong in pbx_spool_rs.conf, where it is, and a sentence for the admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub line: u32,
    /// The key as written (for a category problem, the category in brackets).
    pub key: String,
    /// Complete on its own: names the key and, for a bad value, the value.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "line {}: {}", self.line, self.message)
    }
}
