//! Turns the entries of pbx_spool_rs.conf (read by Asterisk's config loader elsewhere) into
//! validated [`SpoolConfig`] settings, and describes the settings in force for the admin.
//!
//! Pure: entries in, settings or problems out. No I/O, no FFI, no logging. An invalid value
//! rejects the whole file, so the caller keeps the settings it had; unknown keys and categories
//! are only warned about.

use std::fmt;

use crate::campaign::{self, Campaign};
use crate::contexts::{ConferenceRule, ContextRule};
use crate::policy::{ChannelRule, FirstLegMode, Policy, RuleAction};
use crate::text::yes_no;

pub const DEFAULT_MAX_FILE_SIZE: u64 = 65536;
/// Smaller than the shortest useful call file, so surely a typo.
const MIN_MAX_FILE_SIZE: u64 = 128;
/// Far above what any PBX can originate; a larger value is a typo, not a wish.
const MAX_MAX_RATE: f64 = 100_000.0;
const GENERAL_CATEGORY: &str = "general";
/// The `deny_application` value that empties the list.
const NO_APPLICATIONS: &str = "none";

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
/// Below this a scan of a large spool would do nothing but scan.
const MIN_SCAN_INTERVAL_MS: u64 = 50;

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

/// How the last read of pbx_spool_rs.conf ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Read and in force, with this many warnings (each logged).
    Loaded { warnings: usize },
    /// No such file: the defaults are in force.
    NotFound,
    /// Not used (cannot be read, cannot be parsed, invalid values): why, for the admin.
    Failed(String),
}

/// The last read of pbx_spool_rs.conf and where the settings in force come from, for `spool show status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRead {
    /// The file, as Asterisk's configuration directory names it.
    pub path: String,
    pub outcome: ReadOutcome,
    /// When it was read (Unix milliseconds), and on which occasion (`load`, `reload`).
    pub at: crate::bookkeeping::Millis,
    pub occasion: &'static str,
    /// When the settings in force were read; `None`: the defaults are in force.
    pub in_force_since: Option<crate::bookkeeping::Millis>,
}

impl ConfigRead {
    /// The record of a read that ended with `outcome`, after `previous` (`None` at load): a failed read
    /// leaves the settings read before in force, a missing file puts the defaults in force.
    pub fn after(
        previous: Option<&ConfigRead>,
        path: String,
        outcome: ReadOutcome,
        at: crate::bookkeeping::Millis,
        occasion: &'static str,
    ) -> ConfigRead {
        let in_force_since = match &outcome {
            ReadOutcome::Loaded { .. } => Some(at),
            ReadOutcome::NotFound => None,
            ReadOutcome::Failed(_) => previous.and_then(|previous| previous.in_force_since),
        };
        ConfigRead { path, outcome, at, occasion, in_force_since }
    }

    /// (label, value) rows for `spool show status`.
    pub fn describe(&self) -> Vec<(String, String)> {
        let result = match &self.outcome {
            ReadOutcome::Loaded { warnings: 0 } => "loaded".to_string(),
            ReadOutcome::Loaded { warnings } => format!("loaded, {warnings} warning(s) (see the log)"),
            ReadOutcome::NotFound => "not found: the defaults apply".to_string(),
            ReadOutcome::Failed(reason) => format!("FAILED: {reason}"),
        };
        let in_force = match (self.in_force_since, &self.outcome) {
            (None, _) => "the defaults".to_string(),
            (Some(at), ReadOutcome::Failed(_)) => {
                format!("the previous ones, read {}", crate::text::utc_time(at))
            }
            (Some(at), _) => format!("read {}", crate::text::utc_time(at)),
        };
        vec![
            ("File".to_string(), self.path.clone()),
            ("Last read".to_string(), result),
            ("When".to_string(), format!("{} ({})", crate::text::utc_time(self.at), self.occasion)),
            ("Settings in force".to_string(), in_force),
        ]
    }
}

/// Reads the settings from the entries of pbx_spool_rs.conf. All keys live in `[general]`:
/// `first_leg` (local|strict|any); `allow`/`deny` (repeatable channel patterns, order kept);
/// `allow_application` (repeatable; each adds to the default list); `deny_application` (repeatable;
/// the first occurrence replaces the default list, `none` empties it); `allow_function` (repeatable:
/// `NAME` or `NAME(field)`, a function write call files may make besides the default ones);
/// `allow_variable` (repeatable: a variable Asterisk reads as configuration, or a dialplan global, that
/// call files may set); `max_set_lines`, `max_value_len`, `max_file_size`, `owner_check` (Asterisk's true/false
/// words), `allowed_owner` (repeatable), `maxcalls`, `maxrate`. A single-valued key given twice
/// takes its last value, with a warning.
///
/// # Errors
///
/// When any value is invalid: every problem found (errors and warnings, in line order), so the
/// caller can report them all and keep its previous settings.
pub fn from_entries(entries: &[ConfigEntry]) -> Result<(SpoolConfig, Vec<ConfigProblem>), Vec<ConfigProblem>> {
    let mut reader = Reader::default();
    for entry in entries {
        reader.read(entry);
    }
    reader.finish()
}

/// The settings in force as (key, value) lines for the admin's `spool show status`, with the
/// keys pbx_spool_rs.conf uses.
pub fn describe(config: &SpoolConfig) -> Vec<(String, String)> {
    let policy = &config.policy;
    let channel_rules = if policy.channel_rules.is_empty() {
        "none".to_string()
    } else {
        policy
            .channel_rules
            .iter()
            .map(|rule| format!("{} {}", rule.action.keyword(), rule.pattern))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let denied_applications = if policy.denied_applications.is_empty() {
        NO_APPLICATIONS.to_string()
    } else {
        policy.denied_applications.join(", ")
    };
    let allowed_functions =
        if policy.allowed_functions.is_empty() { "none".to_string() } else { policy.allowed_functions.join(", ") };
    let allowed_variables =
        if policy.allowed_variables.is_empty() { "none".to_string() } else { policy.allowed_variables.join(", ") };
    let allowed_owners = if config.allowed_owners.is_empty() {
        "the user Asterisk runs as, or root".to_string()
    } else {
        config.allowed_owners.join(", ")
    };
    let max_calls = config.max_calls.map_or_else(|| "unlimited".to_string(), |calls| calls.to_string());
    let max_rate = config.max_rate.map_or_else(|| "unlimited".to_string(), |rate| format!("{rate} calls/s"));
    [
        ("first_leg", policy.first_leg.keyword().to_string()),
        ("allow/deny", channel_rules),
        ("allow_application", policy.allowed_applications.join(", ")),
        ("deny_application", denied_applications),
        ("allow_function", allowed_functions),
        ("allow_argument", list_or_none(&policy.allowed_arguments)),
        (
            "allow_context/deny_context",
            if policy.context_rules.is_empty() {
                "none (every context, at priority 1)".to_string()
            } else {
                policy.context_rules.iter().map(ContextRule::written).collect::<Vec<_>>().join(", ")
            },
        ),
        (
            "allow_conference/deny_conference",
            if policy.conference_rules.is_empty() {
                "none (every conference)".to_string()
            } else {
                policy.conference_rules.iter().map(ConferenceRule::written).collect::<Vec<_>>().join(", ")
            },
        ),
        ("allow_variable", allowed_variables),
        ("max_set_lines", policy.max_set_lines.to_string()),
        ("max_value_len", format!("{} bytes", policy.max_value_len)),
        ("max_file_size", format!("{} bytes", config.max_file_size)),
        ("owner_check", yes_no(config.owner_check).to_string()),
        ("allowed_owner", allowed_owners),
        ("maxcalls", max_calls),
        ("maxrate", max_rate),
    ]
    .into_iter()
    .chain(describe_discovery(config))
    .map(|(key, value)| (key.to_string(), value))
    .collect()
}

/// The shared-spool and discovery lines, shown only when they differ from a lone spool's defaults, so a
/// lone spool's status reads as it always did.
fn describe_discovery(config: &SpoolConfig) -> Vec<(&'static str, String)> {
    let mut lines = Vec::new();
    if config.shared {
        lines.push(("shared", "yes".to_string()));
        lines.push(("node", config.node.clone().unwrap_or_else(|| "the host name".to_string())));
    }
    let mode = config.watch_mode();
    if mode != WatchMode::Inotify {
        lines.push(("watch", mode.keyword().to_string()));
        lines.push(("scan_interval", format!("{} ms", config.scan_interval_ms)));
    }
    lines
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    FirstLeg,
    Allow,
    Deny,
    AllowApplication,
    DenyApplication,
    AllowFunction,
    AllowArgument,
    AllowContext,
    DenyContext,
    AllowConference,
    DenyConference,
    AllowVariable,
    MaxSetLines,
    MaxValueLen,
    MaxFileSize,
    OwnerCheck,
    AllowedOwner,
    MaxCalls,
    MaxRate,
    Shared,
    Watch,
    ScanInterval,
    Node,
}

const KEYS: [(&str, Key); 23] = [
    ("first_leg", Key::FirstLeg),
    ("allow", Key::Allow),
    ("deny", Key::Deny),
    ("allow_application", Key::AllowApplication),
    ("deny_application", Key::DenyApplication),
    ("allow_function", Key::AllowFunction),
    ("allow_argument", Key::AllowArgument),
    ("allow_context", Key::AllowContext),
    ("deny_context", Key::DenyContext),
    ("allow_conference", Key::AllowConference),
    ("deny_conference", Key::DenyConference),
    ("allow_variable", Key::AllowVariable),
    ("max_set_lines", Key::MaxSetLines),
    ("max_value_len", Key::MaxValueLen),
    ("max_file_size", Key::MaxFileSize),
    ("owner_check", Key::OwnerCheck),
    ("allowed_owner", Key::AllowedOwner),
    ("maxcalls", Key::MaxCalls),
    ("maxrate", Key::MaxRate),
    ("shared", Key::Shared),
    ("watch", Key::Watch),
    ("scan_interval", Key::ScanInterval),
    ("node", Key::Node),
];

impl Key {
    /// Case-insensitive, as Asterisk modules compare their keys.
    fn recognise(key: &str) -> Option<Key> {
        KEYS.iter().find(|(name, _)| key.eq_ignore_ascii_case(name)).map(|&(_, known)| known)
    }

    fn is_repeatable(self) -> bool {
        matches!(
            self,
            Key::Allow
                | Key::Deny
                | Key::AllowApplication
                | Key::DenyApplication
                | Key::AllowFunction
                | Key::AllowArgument
                | Key::AllowContext
                | Key::DenyContext
                | Key::AllowConference
                | Key::DenyConference
                | Key::AllowVariable
                | Key::AllowedOwner
        )
    }
}

/// The state of one pass over the entries.
#[derive(Default)]
struct Reader {
    config: SpoolConfig,
    errors: Vec<ConfigProblem>,
    warnings: Vec<ConfigProblem>,
    /// Line where each single-valued key was last set, to warn when it is set again.
    single_keys_set_at: Vec<(Key, u32)>,
    /// `None` while no `deny_application` line was read: the default list stays.
    denied_applications: Option<Vec<String>>,
    deny_application_none_at: Option<u32>,
    first_allowed_owner_at: Option<u32>,
    /// Lower-cased, so each unknown category is reported once.
    unknown_categories: Vec<String>,
}

impl Reader {
    fn read(&mut self, entry: &ConfigEntry) {
        let category = entry.category.trim();
        if looks_like_general(category) {
            self.report_misspelt_general(category, entry.line);
            return;
        }
        if !category.eq_ignore_ascii_case(GENERAL_CATEGORY) {
            self.read_campaign(category, entry);
            return;
        }
        let key_text = entry.key.trim();
        let value = entry.value.trim();
        let Some(key) = Key::recognise(key_text) else {
            self.warn(entry, format!("unknown key '{key_text}' ignored (see pbx_spool_rs.conf.sample)"));
            return;
        };
        if !key.is_repeatable() {
            self.note_single_key(key, entry);
        }
        if let Err(reason) = self.apply(key, value, entry.line) {
            let problem = ConfigProblem {
                line: entry.line,
                key: entry.key.clone(),
                message: format!("{key_text} = {value}: {reason}"),
            };
            self.errors.push(problem);
        }
    }

    fn apply(&mut self, key: Key, value: &str, line: u32) -> Result<(), String> {
        let policy = &mut self.config.policy;
        match key {
            Key::FirstLeg => policy.first_leg = parse_first_leg(value)?,
            Key::Allow | Key::Deny => {
                let action = if key == Key::Allow { RuleAction::Allow } else { RuleAction::Deny };
                policy.channel_rules.push(ChannelRule { action, pattern: parse_channel_pattern(value)? });
            }
            Key::AllowApplication => {
                // Added to the defaults: allowing one more application must not take the usual ones away.
                let name = parse_application_name(value)?;
                if !policy.allowed_applications.iter().any(|known| known.eq_ignore_ascii_case(&name)) {
                    policy.allowed_applications.push(name);
                }
            }
            Key::AllowFunction => {
                let name = parse_function_name(value)?;
                if !policy.allowed_functions.iter().any(|known| known.eq_ignore_ascii_case(&name)) {
                    policy.allowed_functions.push(name);
                }
            }
            Key::AllowArgument => {
                let key = parse_argument_key(value)?;
                if !policy.allowed_arguments.contains(&key) {
                    policy.allowed_arguments.push(key);
                }
            }
            Key::AllowContext | Key::DenyContext => {
                let action = if key == Key::AllowContext { RuleAction::Allow } else { RuleAction::Deny };
                policy.context_rules.push(ContextRule::parse(action, value)?);
            }
            Key::AllowConference | Key::DenyConference => {
                let action = if key == Key::AllowConference { RuleAction::Allow } else { RuleAction::Deny };
                if value.is_empty() {
                    return Err("expected a conference name or pattern".to_string());
                }
                policy.conference_rules.push(ConferenceRule { action, pattern: value.to_string() });
            }
            Key::AllowVariable => {
                let name = parse_variable_name(value)?;
                if !policy.allowed_variables.contains(&name) {
                    policy.allowed_variables.push(name);
                }
            }
            Key::DenyApplication => {
                // The first line replaces the defaults, so a list written out is the whole list.
                let names = self.denied_applications.get_or_insert_with(Vec::new);
                if value.eq_ignore_ascii_case(NO_APPLICATIONS) {
                    self.deny_application_none_at.get_or_insert(line);
                } else {
                    let name = parse_application_name(value)?;
                    if !names.iter().any(|known| known.eq_ignore_ascii_case(&name)) {
                        names.push(name);
                    }
                }
            }
            Key::MaxSetLines => policy.max_set_lines = parse_count(value)?,
            Key::MaxValueLen => {
                let length = parse_count(value)?;
                if length == 0 {
                    return Err("must be at least 1 (there is no unlimited)".to_string());
                }
                policy.max_value_len = length;
            }
            Key::MaxFileSize => {
                let size = parse_count(value)?;
                let size = u64::try_from(size).map_err(|_| "too large".to_string())?;
                if size < MIN_MAX_FILE_SIZE {
                    return Err(format!("must be at least {MIN_MAX_FILE_SIZE} bytes"));
                }
                self.config.max_file_size = size;
            }
            Key::OwnerCheck => self.config.owner_check = parse_yes_no(value)?,
            Key::AllowedOwner => {
                self.first_allowed_owner_at.get_or_insert(line);
                let owner = parse_owner(value)?;
                if !self.config.allowed_owners.contains(&owner) {
                    self.config.allowed_owners.push(owner);
                }
            }
            Key::MaxCalls => {
                let calls = parse_count(value)?;
                self.config.max_calls = (calls != 0).then_some(calls);
            }
            Key::MaxRate => self.config.max_rate = parse_rate(value)?,
            Key::Shared => self.config.shared = parse_yes_no(value)?,
            Key::Watch => self.config.watch = Some(parse_watch(value)?),
            Key::ScanInterval => {
                let interval = parse_count(value)? as u64;
                if interval < MIN_SCAN_INTERVAL_MS {
                    return Err(format!("must be at least {MIN_SCAN_INTERVAL_MS} (milliseconds)"));
                }
                self.config.scan_interval_ms = interval;
            }
            Key::Node => {
                if value.is_empty() || value.len() > 64 || !value.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err("must be 1 to 64 printable characters without blanks".to_string());
                }
                self.config.node = Some(value.to_string());
            }
        }
        Ok(())
    }

    fn note_single_key(&mut self, key: Key, entry: &ConfigEntry) {
        let earlier = self.single_keys_set_at.iter_mut().find(|(seen, _)| *seen == key);
        match earlier {
            Some((_, earlier_line)) => {
                let message = format!(
                    "{} was already set at line {earlier_line}; this later value replaces it",
                    entry.key.trim()
                );
                *earlier_line = entry.line;
                self.warn(entry, message);
            }
            None => self.single_keys_set_at.push((key, entry.line)),
        }
    }

    /// A line of a campaign's section (any section but `[general]`).
    fn read_campaign(&mut self, category: &str, entry: &ConfigEntry) {
        if category.eq_ignore_ascii_case(campaign::ALL) {
            self.report_unknown_category(category, entry.line);
            return;
        }
        let index = match self.config.campaigns.iter().position(|c| c.name.eq_ignore_ascii_case(category)) {
            Some(index) => index,
            None => {
                self.config.campaigns.push(Campaign::new(category));
                self.config.campaigns.len() - 1
            }
        };
        let (key, value) = (entry.key.trim(), entry.value.trim());
        match campaign::apply(&mut self.config.campaigns[index], key, value) {
            Ok(true) => {}
            Ok(false) if Key::recognise(key).is_some() => self.warn(
                entry,
                format!(
                    "[{category}]: '{key}' is a [general] key, not a campaign's: ignored here (move it to [general])"
                ),
            ),
            Ok(false) => {
                self.warn(entry, format!("[{category}]: unknown key '{key}' ignored (see pbx_spool_rs.conf.sample)"))
            }
            Err(reason) => self.errors.push(ConfigProblem {
                line: entry.line,
                key: entry.key.clone(),
                message: format!("[{category}] {key} = {value}: {reason}"),
            }),
        }
    }

    /// A section named like `[general]` but misspelt (see [`looks_like_general`]): one WARNING, and none
    /// of its lines is read, neither as general settings nor as a campaign.
    fn report_misspelt_general(&mut self, category: &str, line: u32) {
        let folded = category.to_ascii_lowercase();
        if self.unknown_categories.contains(&folded) {
            return;
        }
        self.unknown_categories.push(folded);
        self.warnings.push(ConfigProblem {
            line,
            key: format!("[{category}]"),
            message: format!(
                "[{category}] looks like a misspelt [{GENERAL_CATEGORY}]: it is not read as a campaign, and none of \
                 its settings is in force; write [{GENERAL_CATEGORY}] (a campaign needs a name further from \
                 '{GENERAL_CATEGORY}')"
            ),
        });
    }

    fn report_unknown_category(&mut self, category: &str, line: u32) {
        let folded = category.to_ascii_lowercase();
        if self.unknown_categories.contains(&folded) {
            return;
        }
        self.unknown_categories.push(folded);
        self.warnings.push(ConfigProblem {
            line,
            key: format!("[{category}]"),
            message: format!(
                "[{category}] cannot be a campaign ('{}' means every campaign); its settings are ignored",
                campaign::ALL
            ),
        });
    }

    fn warn(&mut self, entry: &ConfigEntry, message: String) {
        self.warnings.push(ConfigProblem { line: entry.line, key: entry.key.clone(), message });
    }

    fn finish(mut self) -> Result<(SpoolConfig, Vec<ConfigProblem>), Vec<ConfigProblem>> {
        if let Some(names) = self.denied_applications.take() {
            match self.deny_application_none_at {
                Some(line) if !names.is_empty() => self.errors.push(ConfigProblem {
                    line,
                    key: "deny_application".to_string(),
                    message: format!(
                        "deny_application = {NO_APPLICATIONS}: cannot be combined with \
                         application names ({})",
                        names.join(", ")
                    ),
                }),
                _ => self.config.policy.denied_applications = names,
            }
        }
        if let (false, Some(line)) = (self.config.owner_check, self.first_allowed_owner_at) {
            self.warnings.push(ConfigProblem {
                line,
                key: "allowed_owner".to_string(),
                message: "allowed_owner has no effect while owner_check = no".to_string(),
            });
        }
        for campaign in self.config.campaigns.iter().filter(|c| c.matches.is_empty()) {
            self.warnings.push(ConfigProblem {
                line: 0,
                key: format!("[{}]", campaign.name),
                message: format!("[{}] has no match line: no call file joins it", campaign.name),
            });
        }
        self.warnings.sort_by_key(|problem| problem.line);
        if self.errors.is_empty() {
            return Ok((self.config, self.warnings));
        }
        let mut problems = self.errors;
        problems.append(&mut self.warnings);
        problems.sort_by_key(|problem| problem.line);
        Err(problems)
    }
}

/// Whether a section name is `general` misspelt: not `general` itself, but at most two edits away
/// (a letter added, dropped, changed, or two neighbours swapped), ignoring case. Such a section is never
/// a campaign: `[genral]` holding `deny` lines must not become a campaign that silently denies nothing.
pub fn looks_like_general(category: &str) -> bool {
    let name = category.to_ascii_lowercase();
    name != GENERAL_CATEGORY && edit_distance(name.as_bytes(), GENERAL_CATEGORY.as_bytes()) <= 2
}

/// Edits (insert, delete, substitute, swap two neighbours) that turn `a` into `b` (optimal string
/// alignment distance).
fn edit_distance(a: &[u8], b: &[u8]) -> usize {
    let width = b.len() + 1;
    let mut table = vec![0usize; (a.len() + 1) * width];
    let at = |i: usize, j: usize| i * width + j;
    for i in 0..=a.len() {
        table[at(i, 0)] = i;
    }
    for j in 0..=b.len() {
        table[at(0, j)] = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[at(i - 1, j)] + 1).min(table[at(i, j - 1)] + 1).min(table[at(i - 1, j - 1)] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[at(i - 2, j - 2)] + 1);
            }
            table[at(i, j)] = best;
        }
    }
    table[at(a.len(), b.len())]
}

fn parse_watch(value: &str) -> Result<WatchMode, String> {
    [WatchMode::Inotify, WatchMode::Scan, WatchMode::Both]
        .into_iter()
        .find(|mode| value.eq_ignore_ascii_case(mode.keyword()))
        .ok_or_else(|| "must be inotify, scan or both".to_string())
}

fn parse_first_leg(value: &str) -> Result<FirstLegMode, String> {
    [FirstLegMode::Local, FirstLegMode::Strict, FirstLegMode::Any]
        .into_iter()
        .find(|mode| value.eq_ignore_ascii_case(mode.keyword()))
        .ok_or_else(|| "expected local, strict or any".to_string())
}

fn parse_channel_pattern(value: &str) -> Result<String, String> {
    // Without a `/` a pattern can only match through `*`, which is surely not what was meant.
    if !value.contains('/') || value.chars().any(char::is_control) {
        return Err("expected a channel pattern Tech/Dest, such as Local/*@campaign".to_string());
    }
    Ok(value.to_string())
}

fn parse_application_name(value: &str) -> Result<String, String> {
    // Strict on purpose: `System, Exec` read as one name would silently deny nothing.
    let is_name = !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !is_name {
        return Err(format!("expected one application name, such as System, per line (or {NO_APPLICATIONS})"));
    }
    Ok(value.to_string())
}

/// `NAME` or `NAME(field)`: a function name, and optionally the one argument admitted.
fn parse_function_name(value: &str) -> Result<String, String> {
    let is_name = |text: &str| !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let (name, field) = match value.strip_suffix(')').and_then(|rest| rest.split_once('(')) {
        Some((name, field)) => (name, Some(field)),
        None => (value, None),
    };
    let field_ok = field.map_or(true, |field| {
        !field.is_empty() && field.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '(' | ')'))
    });
    if !is_name(name) || !field_ok {
        return Err(
            "expected one dialplan function name, such as GLOBAL, or one function and field, such as CDR(accountcode), \
             per line"
                .to_string(),
        );
    }
    Ok(value.to_string())
}

/// A variable name as Asterisk compares it (case kept); inheritance marks (`_`, `__`) are allowed and
/// admit the same variable.
fn parse_variable_name(value: &str) -> Result<String, String> {
    let is_name =
        !value.trim_start_matches('_').is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !is_name {
        return Err("expected one variable name, such as TRUNKVAR, per line".to_string());
    }
    Ok(value.to_string())
}

fn parse_owner(value: &str) -> Result<String, String> {
    // POSIX portable user names (a trailing `$` is common for machine accounts) or a uid.
    let body = value.strip_suffix('$').unwrap_or(value);
    let is_user = !body.is_empty()
        && !body.starts_with('-')
        && body.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !is_user {
        return Err("expected one user name or numeric uid per line".to_string());
    }
    Ok(value.to_string())
}

/// A whole non-negative decimal number, digits only.
fn parse_count(value: &str) -> Result<usize, String> {
    if value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err("expected a whole number".to_string());
    }
    value.parse().map_err(|_| "too large".to_string())
}

/// Asterisk's `ast_true()`/`ast_false()` words; anything else is an error rather than "no".
fn parse_yes_no(value: &str) -> Result<bool, String> {
    const YES: [&str; 6] = ["yes", "true", "y", "t", "1", "on"];
    const NO: [&str; 6] = ["no", "false", "n", "f", "0", "off"];
    let is = |words: &[&str]| words.iter().any(|word| value.eq_ignore_ascii_case(word));
    if is(&YES) {
        Ok(true)
    } else if is(&NO) {
        Ok(false)
    } else {
        Err("expected yes or no".to_string())
    }
}

/// Calls per second; 0 means unlimited.
fn parse_rate(value: &str) -> Result<Option<f64>, String> {
    let rate: f64 = value.parse().map_err(|_| "expected a number of calls per second".to_string())?;
    // NaN and the infinities fall outside the range too.
    if !(0.0..=MAX_MAX_RATE).contains(&rate) {
        return Err(format!("must be between 0 (unlimited) and {MAX_MAX_RATE} calls per second"));
    }
    Ok((rate > 0.0).then_some(rate))
}

/// The `allowed_owner` names (or uids) as uids, with one sentence per name that cannot be used, for the
/// admin (an ERROR each: a name that silently resolves to nothing makes owner_check reject call files
/// with no word of why). `lookup` is [`crate::os::uid_of`] outside tests.
pub fn allowed_owner_uids(
    names: &[String],
    lookup: impl Fn(&str) -> Result<u32, crate::os::UidLookupError>,
) -> (Vec<u32>, Vec<String>) {
    let mut uids = Vec::new();
    let mut unusable = Vec::new();
    for name in names {
        match lookup(name) {
            Ok(uid) => uids.push(uid),
            Err(why) => unusable.push((name, why)),
        }
    }
    let consequence =
        if uids.is_empty() { "no allowed_owner is usable, so owner_check rejects every call file" } else { "ignored" };
    let problems = unusable.into_iter().map(|(name, why)| format!("allowed_owner = {name}: {why}; {consequence}"));
    (uids, problems.collect())
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// `allow_argument = <Application>:<argument name or option letter>`, as a refusal names it.
fn parse_argument_key(value: &str) -> Result<String, String> {
    let Some((application, what)) = value.split_once(':') else {
        return Err("expected <Application>:<argument or option letter>, as a refusal names it".to_string());
    };
    let (application, what) = (application.trim(), what.trim());
    let Some(known) = crate::arguments::arguments_of(application.as_bytes()) else {
        return Err(format!("'{application}' has no classified arguments (only the default applications do)"));
    };
    let named =
        known.arguments.iter().chain(known.rest.iter()).any(|argument| argument.name.eq_ignore_ascii_case(what));
    let option = what.len() == 1
        && known.arguments.iter().any(|argument| match argument.accepts {
            crate::arguments::Accepts::Options(letters) => {
                letters.iter().any(|letter| letter.letter == what.as_bytes()[0])
            }
            _ => false,
        });
    if !named && !option {
        return Err(format!("{} has no argument or checked option '{what}'", known.application));
    }
    Ok(format!("{}:{what}", known.application))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{self, DEFAULT_MAX_SET_LINES, DEFAULT_MAX_VALUE_LEN};

    fn general(lines: &[(&str, &str)]) -> Vec<ConfigEntry> {
        lines
            .iter()
            .enumerate()
            .map(|(index, (key, value))| ConfigEntry {
                category: GENERAL_CATEGORY.to_string(),
                key: (*key).to_string(),
                value: (*value).to_string(),
                line: index as u32 + 2,
            })
            .collect()
    }

    fn accepted(lines: &[(&str, &str)]) -> SpoolConfig {
        match from_entries(&general(lines)) {
            Ok((config, warnings)) => {
                assert!(warnings.is_empty(), "{warnings:?}");
                config
            }
            Err(problems) => panic!("rejected: {problems:?}"),
        }
    }

    fn rejected(lines: &[(&str, &str)]) -> Vec<ConfigProblem> {
        match from_entries(&general(lines)) {
            Ok((config, _)) => panic!("accepted: {config:?}"),
            Err(problems) => problems,
        }
    }

    fn rules(config: &SpoolConfig) -> Vec<(RuleAction, &str)> {
        config.policy.channel_rules.iter().map(|rule| (rule.action, rule.pattern.as_str())).collect()
    }

    #[test]
    fn no_entries_means_the_defaults() {
        let config = accepted(&[]);
        assert_eq!(config, SpoolConfig::default());
        assert_eq!(config.policy.first_leg, FirstLegMode::Local);
        assert!(config.policy.channel_rules.is_empty());
        assert_eq!(config.policy.denied_applications, vec!["System", "TrySystem"]);
        assert_eq!(config.policy.max_set_lines, DEFAULT_MAX_SET_LINES);
        assert_eq!(config.policy.max_value_len, DEFAULT_MAX_VALUE_LEN);
        assert_eq!(config.max_file_size, 65536);
        assert!(config.owner_check);
        assert!(config.allowed_owners.is_empty());
        assert_eq!(config.max_calls, None);
        assert_eq!(config.max_rate, None);
    }

    #[test]
    fn every_key_is_read() {
        let config = accepted(&[
            ("first_leg", "strict"),
            ("deny", "Local/*"),
            ("allow", "Local/*@campaign"),
            ("deny_application", "Exec"),
            ("max_set_lines", "10"),
            ("max_value_len", "512"),
            ("max_file_size", "4096"),
            ("owner_check", "no"),
            ("maxcalls", "20"),
            ("maxrate", "2.5"),
        ]);
        assert_eq!(config.policy.first_leg, FirstLegMode::Strict);
        assert_eq!(rules(&config), vec![(RuleAction::Deny, "Local/*"), (RuleAction::Allow, "Local/*@campaign")]);
        assert_eq!(config.policy.denied_applications, vec!["Exec"]);
        assert_eq!(config.policy.max_set_lines, 10);
        assert_eq!(config.policy.max_value_len, 512);
        assert_eq!(config.max_file_size, 4096);
        assert!(!config.owner_check);
        assert_eq!(config.max_calls, Some(20));
        assert_eq!(config.max_rate, Some(2.5));
    }

    #[test]
    fn keys_categories_and_words_ignore_case_and_blanks() {
        let entries = vec![ConfigEntry {
            category: " General ".to_string(),
            key: " First_Leg ".to_string(),
            value: " ANY ".to_string(),
            line: 3,
        }];
        let (config, warnings) = from_entries(&entries).expect("valid");
        assert!(warnings.is_empty());
        assert_eq!(config.policy.first_leg, FirstLegMode::Any);
    }

    #[test]
    fn first_leg_words() {
        let table = [
            ("local", Some(FirstLegMode::Local)),
            ("Strict", Some(FirstLegMode::Strict)),
            ("any", Some(FirstLegMode::Any)),
            ("locale", None),
            ("", None),
            ("yes", None),
        ];
        for (word, expected) in table {
            let result = from_entries(&general(&[("first_leg", word)]));
            assert_eq!(result.ok().map(|(config, _)| config.policy.first_leg), expected, "{word}");
        }
    }

    #[test]
    fn channel_rules_keep_their_interleaved_order() {
        let config = accepted(&[
            ("allow", "PJSIP/*@known-trunk"),
            ("deny", "Local/*"),
            ("allow", "Local/*@campaign"),
            ("deny", "Local/*@campaign/n"),
        ]);
        assert_eq!(
            rules(&config),
            vec![
                (RuleAction::Allow, "PJSIP/*@known-trunk"),
                (RuleAction::Deny, "Local/*"),
                (RuleAction::Allow, "Local/*@campaign"),
                (RuleAction::Deny, "Local/*@campaign/n")
            ]
        );
    }

    #[test]
    fn channel_patterns_need_tech_and_dest() {
        for pattern in ["", "*", "PJSIP", "Local*", "PJSIP/1\u{7}"] {
            let problems = rejected(&[("deny", pattern)]);
            assert_eq!(problems.len(), 1, "{pattern:?}");
            assert_eq!(problems[0].key, "deny");
            assert!(problems[0].message.contains("Tech/Dest"));
        }
        assert_eq!(rules(&accepted(&[("deny", "*/*")])).len(), 1);
    }

    #[test]
    fn context_conference_and_argument_rules_are_read() {
        let config = accepted(&[
            ("allow_context", "campaign"),
            ("allow_context", "sales, start"),
            ("deny_context", "trunk-*,*"),
            ("allow_conference", "campaign-*"),
            ("allow_argument", "dial:URL"),
            ("allow_argument", "Queue:x"),
        ]);
        let policy = &config.policy;
        assert_eq!(policy.context_rules.len(), 3);
        assert_eq!(policy.context_rules[1].written(), "allow_context = sales,start");
        assert_eq!(policy.conference_rules[0].written(), "allow_conference = campaign-*");
        assert_eq!(policy.allowed_arguments, ["Dial:URL", "Queue:x"]);
        for (key, value) in [
            ("allow_context", ""),
            ("allow_context", "c,0"),
            ("allow_conference", ""),
            ("allow_argument", "Dial"),
            ("allow_argument", "System:x"),
            ("allow_argument", "Dial:q"),
        ] {
            assert_eq!(rejected(&[(key, value)]).len(), 1, "{key} = {value}");
        }
    }

    #[test]
    fn deny_application_replaces_the_defaults() {
        let table: &[(&[&str], &[&str])] = &[
            (&["System"], &["System"]),
            (&["Exec", "System", "TrySystem"], &["Exec", "System", "TrySystem"]),
            (&["System", "SYSTEM"], &["System"]),
            (&["none"], &[]),
            (&["NONE"], &[]),
            (&["none", "none"], &[]),
        ];
        for (lines, expected) in table {
            let entries: Vec<(&str, &str)> = lines.iter().map(|name| ("deny_application", *name)).collect();
            assert_eq!(accepted(&entries).policy.denied_applications, expected.to_vec(), "{lines:?}");
        }
    }

    #[test]
    fn deny_application_rejects_lists_and_none_with_names() {
        for value in ["System, Exec", "System Exec", "", "Exec("] {
            let problems = rejected(&[("deny_application", value)]);
            assert!(problems[0].message.contains("one application name"), "{problems:?}");
        }
        let problems = rejected(&[("deny_application", "System"), ("deny_application", "none")]);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 3);
        assert!(problems[0].message.contains("cannot be combined"));
    }

    #[test]
    fn owner_check_takes_asterisk_true_and_false_words() {
        let table = [
            ("yes", Some(true)),
            ("TRUE", Some(true)),
            ("on", Some(true)),
            ("1", Some(true)),
            ("y", Some(true)),
            ("no", Some(false)),
            ("False", Some(false)),
            ("off", Some(false)),
            ("0", Some(false)),
            ("n", Some(false)),
            ("maybe", None),
            ("", None),
            ("2", None),
        ];
        for (word, expected) in table {
            let result = from_entries(&general(&[("owner_check", word)]));
            assert_eq!(result.ok().map(|(config, _)| config.owner_check), expected, "{word}");
        }
    }

    #[test]
    fn unusable_allowed_owners_are_each_named_with_the_reason() {
        use crate::os::UidLookupError;
        let lookup = |name: &str| match name {
            "asterisk" => Ok(110),
            "ldapuser" => Err(UidLookupError::Failed(libc::EIO)),
            _ => Err(UidLookupError::Unknown),
        };
        let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let (uids, problems) = allowed_owner_uids(&names(&["asterisk", "nobodyknows"]), lookup);
        assert_eq!(uids, [110]);
        assert_eq!(problems, ["allowed_owner = nobodyknows: no such user; ignored"]);
        let (uids, problems) = allowed_owner_uids(&names(&["ldapuser"]), lookup);
        assert!(uids.is_empty());
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("allowed_owner = ldapuser: the user lookup failed ("), "{problems:?}");
        assert!(problems[0].ends_with("; no allowed_owner is usable, so owner_check rejects every call file"));
        let (uids, problems) = allowed_owner_uids(&names(&["root", "0"]), crate::os::uid_of);
        assert_eq!((uids, problems), (vec![0, 0], Vec::<String>::new()));
    }

    #[test]
    fn allowed_owners_accumulate() {
        let config = accepted(&[
            ("allowed_owner", "asterisk"),
            ("allowed_owner", "1001"),
            ("allowed_owner", "asterisk"),
            ("allowed_owner", "svc.dialer-1"),
            ("allowed_owner", "machine$"),
        ]);
        assert_eq!(config.allowed_owners, vec!["asterisk", "1001", "svc.dialer-1", "machine$"]);
        for owner in ["", "a b", "root,asterisk", "-rf", "$"] {
            assert_eq!(rejected(&[("allowed_owner", owner)]).len(), 1, "{owner:?}");
        }
    }

    #[test]
    fn allowed_owner_without_owner_check_is_a_warning() {
        let (config, warnings) =
            from_entries(&general(&[("allowed_owner", "asterisk"), ("owner_check", "no")])).expect("valid");
        assert_eq!(config.allowed_owners, vec!["asterisk"]);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].line, 2);
        assert_eq!(warnings[0].message, "allowed_owner has no effect while owner_check = no");
    }

    #[test]
    fn numeric_keys() {
        // (key, value, accepted value as text or None when rejected)
        let table = [
            ("max_set_lines", "0", Some("0")),
            ("max_set_lines", "1000000", Some("1000000")),
            ("max_set_lines", "-1", None),
            ("max_set_lines", "+5", None),
            ("max_set_lines", "1e3", None),
            ("max_set_lines", "99999999999999999999999", None),
            ("max_value_len", "1", Some("1")),
            ("max_value_len", "0", None),
            ("max_value_len", "big", None),
            ("max_file_size", "128", Some("128")),
            ("max_file_size", "127", None),
            ("max_file_size", "0", None),
            ("max_file_size", "1048576", Some("1048576")),
            ("maxcalls", "0", Some("None")),
            ("maxcalls", "7", Some("Some(7)")),
            ("maxcalls", "-1", None),
            ("maxcalls", "", None),
            ("maxrate", "0", Some("None")),
            ("maxrate", "0.0", Some("None")),
            ("maxrate", "0.5", Some("Some(0.5)")),
            ("maxrate", "100000", Some("Some(100000.0)")),
            ("maxrate", "100000.5", None),
            ("maxrate", "-1", None),
            ("maxrate", "NaN", None),
            ("maxrate", "inf", None),
            ("maxrate", "fast", None),
            ("maxrate", "", None),
        ];
        for (key, value, expected) in table {
            let result = from_entries(&general(&[(key, value)]));
            let got = result.ok().map(|(config, _)| match key {
                "max_set_lines" => config.policy.max_set_lines.to_string(),
                "max_value_len" => config.policy.max_value_len.to_string(),
                "max_file_size" => config.max_file_size.to_string(),
                "maxcalls" => format!("{:?}", config.max_calls),
                _ => format!("{:?}", config.max_rate),
            });
            assert_eq!(got.as_deref(), expected, "{key} = {value}");
        }
    }

    #[test]
    fn invalid_value_problem_names_key_value_and_line() {
        let problems = rejected(&[("first_leg", "local"), ("maxrate", "fast")]);
        assert_eq!(
            problems,
            vec![ConfigProblem {
                line: 3,
                key: "maxrate".to_string(),
                message: "maxrate = fast: expected a number of calls per second".to_string(),
            }]
        );
        assert_eq!(problems[0].to_string(), "line 3: maxrate = fast: expected a number of calls per second");
    }

    #[test]
    fn unknown_keys_are_warnings_and_other_sections_are_campaigns() {
        let mut entries = general(&[("first_leg", "any"), ("max_calls", "5")]);
        for (line, category) in [(10, "options"), (11, "Options"), (12, "extra"), (13, "all")] {
            entries.push(ConfigEntry {
                category: category.to_string(),
                key: "first_leg".to_string(),
                value: "strict".to_string(),
                line,
            });
        }
        let (config, warnings) = from_entries(&entries).expect("only warnings");
        assert_eq!(config.policy.first_leg, FirstLegMode::Any, "a campaign's keys never change [general]");
        assert_eq!(config.max_calls, None);
        let names: Vec<&str> = config.campaigns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["options", "extra"], "sections named alike are one campaign; [all] is reserved");
        let summary: Vec<(u32, &str)> = warnings.iter().map(|problem| (problem.line, problem.key.as_str())).collect();
        assert_eq!(
            summary,
            vec![
                (0, "[options]"),
                (0, "[extra]"),
                (3, "max_calls"),
                (10, "first_leg"),
                (11, "first_leg"),
                (12, "first_leg"),
                (13, "[all]")
            ]
        );
        assert_eq!(warnings[0].message, "[options] has no match line: no call file joins it");
        assert_eq!(warnings[2].message, "unknown key 'max_calls' ignored (see pbx_spool_rs.conf.sample)");
        assert_eq!(
            warnings[3].message,
            "[options]: 'first_leg' is a [general] key, not a campaign's: ignored here (move it to [general])"
        );
        assert!(warnings[6].message.starts_with("[all] cannot be a campaign"));
    }

    #[test]
    fn each_read_of_the_file_says_what_is_in_force_since_when() {
        let path = "/etc/asterisk/pbx_spool_rs.conf".to_string();
        let at_load = ConfigRead::after(None, path.clone(), ReadOutcome::Loaded { warnings: 0 }, 1_000, "load");
        assert_eq!(
            at_load.describe(),
            [
                ("File".to_string(), path.clone()),
                ("Last read".to_string(), "loaded".to_string()),
                ("When".to_string(), "1970-01-01 00:00:01 UTC (load)".to_string()),
                ("Settings in force".to_string(), "read 1970-01-01 00:00:01 UTC".to_string()),
            ]
        );
        let failed = ReadOutcome::Failed("cannot read it".into());
        let refused = ConfigRead::after(Some(&at_load), path.clone(), failed.clone(), 61_000, "reload");
        let rows = refused.describe();
        assert_eq!(rows[1].1, "FAILED: cannot read it");
        assert_eq!(rows[2].1, "1970-01-01 00:01:01 UTC (reload)");
        assert_eq!(rows[3].1, "the previous ones, read 1970-01-01 00:00:01 UTC");
        let failed_at_load = ConfigRead::after(None, path.clone(), failed, 1_000, "load");
        assert_eq!(failed_at_load.describe()[3].1, "the defaults");
        let gone = ConfigRead::after(Some(&refused), path.clone(), ReadOutcome::NotFound, 2_000, "reload");
        assert_eq!(gone.describe()[1].1, "not found: the defaults apply");
        assert_eq!(gone.describe()[3].1, "the defaults");
        let warned = ConfigRead::after(None, path, ReadOutcome::Loaded { warnings: 2 }, 0, "load");
        assert_eq!(warned.describe()[1].1, "loaded, 2 warning(s) (see the log)");
    }

    #[test]
    fn a_misspelt_general_section_is_warned_about_once_and_is_no_campaign() {
        let section = |category: &str, key: &str, value: &str, line: u32| ConfigEntry {
            category: category.to_string(),
            key: key.to_string(),
            value: value.to_string(),
            line,
        };
        let entries = vec![
            section("genral", "deny", "PJSIP/*", 2),
            section("genral", "maxcalls", "5", 3),
            section("sales", "match", "sales-*", 5),
        ];
        let (config, warnings) = from_entries(&entries).expect("a warning, not an error");
        assert_eq!(config.campaigns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["sales"]);
        assert!(config.policy.channel_rules.is_empty(), "nothing of [genral] is in force");
        assert_eq!(config.max_calls, None);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!((warnings[0].line, warnings[0].key.as_str()), (2, "[genral]"));
        assert_eq!(
            warnings[0].message,
            "[genral] looks like a misspelt [general]: it is not read as a campaign, and none of its settings is \
             in force; write [general] (a campaign needs a name further from 'general')"
        );
        for misspelt in
            ["genral", "GENRAL", "generl", "genearl", "genreal", "gneral", "generals", "geneRAL1", "gen_eral"]
        {
            assert!(looks_like_general(misspelt), "{misspelt}");
        }
        for not_misspelt in ["general", "General", "sales", "reminders", "gen", "genius", "federal-x", "energy"] {
            assert!(!looks_like_general(not_misspelt), "{not_misspelt}");
        }
    }

    #[test]
    fn campaign_sections_are_read_in_order_and_bad_values_reject_the_file() {
        let section = |category: &str, key: &str, value: &str, line: u32| ConfigEntry {
            category: category.to_string(),
            key: key.to_string(),
            value: value.to_string(),
            line,
        };
        let entries = vec![
            section("sales", "match", "sales-*", 1),
            section("sales", "maxcalls", "3", 2),
            section("sales", "hours", "mon-fri 09:00-18:00", 3),
            section("sales", "timezone", "Europe/Moscow", 4),
            section("reminders", "match", "rem-*", 6),
            section("reminders", "maxrate", "2", 7),
        ];
        let (config, warnings) = from_entries(&entries).expect("valid");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config.campaigns.len(), 2);
        assert_eq!(config.campaigns[0].max_calls, Some(3));
        assert_eq!(config.campaigns[0].timezone.as_deref(), Some("Europe/Moscow"));
        assert_eq!(config.campaigns[1].max_rate, Some(2.0));
        let mut bad = entries.clone();
        bad.push(section("reminders", "hours", "9 to 5", 8));
        let problems = from_entries(&bad).expect_err("invalid hours");
        assert_eq!(
            problems[0].to_string(),
            "line 8: [reminders] hours = 9 to 5: '9 to 5' is not a window (expected e.g. mon-fri 09:00-18:00)"
        );
    }

    #[test]
    fn a_repeated_single_key_warns_and_the_last_value_wins() {
        let (config, warnings) =
            from_entries(&general(&[("maxcalls", "5"), ("first_leg", "strict"), ("maxcalls", "6"), ("MaxCalls", "7")]))
                .expect("valid");
        assert_eq!(config.max_calls, Some(7));
        assert_eq!(
            warnings.iter().map(|problem| problem.message.as_str()).collect::<Vec<_>>(),
            vec![
                "maxcalls was already set at line 2; this later value replaces it",
                "MaxCalls was already set at line 4; this later value replaces it"
            ]
        );
    }

    #[test]
    fn any_error_rejects_the_whole_file_with_every_problem_in_line_order() {
        let problems =
            rejected(&[("maxcalls", "ten"), ("bogus", "1"), ("first_leg", "local"), ("owner_check", "perhaps")]);
        let summary: Vec<(u32, &str)> = problems.iter().map(|problem| (problem.line, problem.key.as_str())).collect();
        assert_eq!(summary, vec![(2, "maxcalls"), (3, "bogus"), (5, "owner_check")]);
    }

    #[test]
    fn describe_the_defaults() {
        let lines = describe(&SpoolConfig::default());
        let expected = [
            ("first_leg", "local"),
            ("allow/deny", "none"),
            (
                "allow_application",
                "AGI, Answer, BackGround, Busy, ConfBridge, Congestion, Dial, EAGI, Echo, Hangup, Milliwatt, \
                 MusicOnHold, NoOp, Originate, Page, Playback, PlayTones, Progress, Queue, Ringing, SayAlpha, \
                 SayDigits, SayNumber, SayPhonetic, SendDTMF, StopPlayTones, UserEvent, VoiceMail, VoiceMailMain, Wait",
            ),
            ("deny_application", "System, TrySystem"),
            ("allow_function", "none"),
            ("allow_argument", "none"),
            ("allow_context/deny_context", "none (every context, at priority 1)"),
            ("allow_conference/deny_conference", "none (every conference)"),
            ("allow_variable", "none"),
            ("max_set_lines", "1000"),
            ("max_value_len", "4096 bytes"),
            ("max_file_size", "65536 bytes"),
            ("owner_check", "yes"),
            ("allowed_owner", "the user Asterisk runs as, or root"),
            ("maxcalls", "unlimited"),
            ("maxrate", "unlimited"),
        ];
        let expected: Vec<(String, String)> =
            expected.iter().map(|(key, value)| ((*key).to_string(), (*value).to_string())).collect();
        assert_eq!(lines, expected);
    }

    #[test]
    fn describe_a_configured_spool() {
        let config = accepted(&[
            ("first_leg", "any"),
            ("deny", "Local/*"),
            ("allow", "Local/*@campaign"),
            ("deny_application", "none"),
            ("owner_check", "no"),
            ("maxcalls", "3"),
            ("maxrate", "0.5"),
        ]);
        let lines = describe(&config);
        let value_of = |key: &str| lines.iter().find(|(name, _)| name == key).map(|(_, value)| value.as_str());
        assert_eq!(value_of("first_leg"), Some("any"));
        assert_eq!(value_of("allow/deny"), Some("deny Local/*, allow Local/*@campaign"));
        assert_eq!(value_of("deny_application"), Some("none"));
        assert_eq!(value_of("owner_check"), Some("no"));
        assert_eq!(value_of("maxcalls"), Some("3"));
        assert_eq!(value_of("maxrate"), Some("0.5 calls/s"));
        let owners = accepted(&[("allowed_owner", "asterisk"), ("allowed_owner", "dialer")]);
        assert_eq!(
            describe(&owners).into_iter().find(|(key, _)| key == "allowed_owner").map(|(_, value)| value),
            Some("asterisk, dialer".to_string())
        );
    }

    /// The sample documents every key, and its commented-out examples are valid settings.
    #[test]
    fn the_sample_config_documents_every_key_with_valid_examples() {
        let sample = include_str!("../../configs/pbx_spool_rs.conf.sample");
        // Commented-out section headers (`;[sales]`) start a campaign's examples.
        let mut category = GENERAL_CATEGORY.to_string();
        let examples: Vec<ConfigEntry> = sample
            .lines()
            .enumerate()
            .filter_map(|(index, line)| {
                let text = line.strip_prefix(';')?;
                if let Some(name) = text.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
                    category = name.to_string();
                    return None;
                }
                let (key, value) = text.split_once('=')?;
                let in_general = category == GENERAL_CATEGORY;
                if in_general {
                    Key::recognise(key.trim())?;
                } else if key.trim().contains(' ') {
                    return None; // prose in a campaign's comments
                }
                Some(ConfigEntry {
                    category: category.clone(),
                    key: key.trim().to_string(),
                    value: value.trim().to_string(),
                    line: index as u32 + 1,
                })
            })
            .collect();
        for (name, _) in KEYS {
            assert!(examples.iter().any(|entry| entry.key == name), "{name} is not in the sample");
        }
        let (config, warnings) = from_entries(&examples).expect("the sample's examples are valid");
        assert!(warnings.is_empty(), "{warnings:?}");
        let defaults = SpoolConfig::default();
        assert_eq!(config.policy.first_leg, defaults.policy.first_leg);
        assert_eq!(config.policy.denied_applications, defaults.policy.denied_applications);
        assert_eq!(config.max_file_size, defaults.max_file_size);
        let sales = config.campaigns.first().expect("the sample's commented campaign");
        assert_eq!(
            (sales.name.as_str(), sales.max_calls, sales.timezone.as_deref()),
            ("sales", Some(10), Some("Europe/Moscow"))
        );
        assert_eq!(sales.matches, ["sales-*", "promo-*"]);
        assert_eq!(sales.channels, ["Local/*@sales"]);
    }

    #[test]
    fn shared_spool_keys() {
        let lone = accepted(&[]);
        assert_eq!((lone.shared, lone.watch_mode(), lone.scan_interval_ms), (false, WatchMode::Inotify, 1000));
        let shared = accepted(&[("shared", "yes"), ("node", "ast2")]);
        assert_eq!((shared.shared, shared.watch_mode(), shared.node.as_deref()), (true, WatchMode::Both, Some("ast2")));
        let scan = accepted(&[("shared", "yes"), ("watch", "SCAN"), ("scan_interval", "250")]);
        assert_eq!((scan.watch_mode(), scan.scan_interval_ms), (WatchMode::Scan, 250));
        assert!(describe(&scan).contains(&("watch".to_string(), "scan".to_string())));
        assert!(!describe(&lone).iter().any(|(key, _)| key == "shared" || key == "watch"));
        for bad in [("watch", "poll"), ("scan_interval", "10"), ("node", "two words"), ("shared", "maybe")] {
            assert_eq!(rejected(&[bad]).len(), 1, "{bad:?}");
        }
    }

    #[test]
    fn configured_rules_drive_the_policy() {
        let config = accepted(&[("deny", "Local/*"), ("allow", "Local/*@campaign")]);
        let policy = &config.policy;
        struct NoFacts;
        impl policy::FunctionRegistry for NoFacts {
            fn writes_are_dangerous(&self, _name: &str) -> bool {
                false
            }
            fn live_dangerously(&self) -> bool {
                false
            }
            fn endpoint(&self, _tech: &[u8], _dest: &[u8]) -> policy::Endpoint {
                policy::Endpoint::NotChecked
            }
            fn is_dialplan_global(&self, _name: &[u8]) -> bool {
                false
            }
        }
        assert!(policy::first_leg_verdict(b"Local", b"123@campaign", policy, &NoFacts).is_ok());
        assert!(policy::first_leg_verdict(b"Local", b"1@other", policy, &NoFacts).is_err());
        // Judged as Asterisk reads it: options after the last '/', so this runs in context 'other'.
        assert!(policy::first_leg_verdict(b"Local", b"s@other/@campaign", policy, &NoFacts).is_err());
    }

    #[test]
    fn allow_application_adds_to_the_defaults_and_allow_function_lists_functions() {
        let config =
            accepted(&[("allow_application", "Exec"), ("allow_application", "EXEC"), ("allow_function", "GLOBAL")]);
        let allowed = &config.policy.allowed_applications;
        assert!(allowed.iter().any(|name| name == "Playback"), "{allowed:?}");
        assert_eq!(allowed.iter().filter(|name| name.eq_ignore_ascii_case("exec")).count(), 1, "{allowed:?}");
        assert_eq!(config.policy.allowed_functions, ["GLOBAL"]);
        for (key, value) in [
            ("allow_application", "Exec, System"),
            ("allow_function", "GLOBAL("),
            ("allow_function", "GLOBAL()"),
            ("allow_function", "A(b)c"),
            ("allow_function", ""),
            ("allow_variable", "A-B"),
            ("allow_variable", "__"),
            ("allow_variable", "X(y)"),
        ] {
            let problems = rejected(&[(key, value)]);
            assert_eq!(problems.len(), 1, "{key} = {value}: {problems:?}");
            assert_eq!(problems[0].key, key);
        }
        let described = describe(&config);
        let row = |key: &str| described.iter().find(|(name, _)| name == key).map(|(_, value)| value.clone());
        assert!(row("allow_application").is_some_and(|value| value.ends_with(", Exec")), "{described:?}");
        assert_eq!(row("allow_function").as_deref(), Some("GLOBAL"));
        assert_eq!(row("allow_variable").as_deref(), Some("none"));
        let config = accepted(&[
            ("allow_function", "CDR(accountcode)"),
            ("allow_variable", "TRUNKVAR"),
            ("allow_variable", "__MONITOR_FILENAME"),
            ("allow_variable", "TRUNKVAR"),
        ]);
        assert_eq!(config.policy.allowed_functions, ["CDR(accountcode)"]);
        assert_eq!(config.policy.allowed_variables, ["TRUNKVAR", "__MONITOR_FILENAME"]);
    }
}
