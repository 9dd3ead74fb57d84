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
mod tests;
