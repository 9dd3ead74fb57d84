//! One pass over the entries of pbx_spool_rs.conf: each `[general]` line applied to the settings, then
//! the checks across lines (`deny_application = none` beside names, `allowed_owner` without
//! `owner_check`, campaigns no file can join).
//!
//! Pure: entries in, settings or problems out; no I/O, no logging. The syntax of each value is
//! `values.rs`'s, the sections other than `[general]` are `sections.rs`'s.

use super::keys::{Key, GENERAL_CATEGORY, NO_APPLICATIONS};
use super::sections::looks_like_general;
use super::settings::{ConfigEntry, ConfigProblem, SpoolConfig};
use super::values::{
    parse_application_name, parse_argument_key, parse_channel_pattern, parse_count, parse_first_leg,
    parse_function_name, parse_owner, parse_rate, parse_variable_name, parse_watch, parse_yes_no,
};
use crate::contexts::{ConferenceRule, ContextRule};
use crate::policy::{ChannelRule, RuleAction};

/// Smaller than the shortest useful call file, so surely a typo.
const MIN_MAX_FILE_SIZE: u64 = 128;

/// Below this a scan of a large spool would do nothing but scan.
const MIN_SCAN_INTERVAL_MS: u64 = 50;

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

/// The state of one pass over the entries.
#[derive(Default)]
pub(super) struct Reader {
    pub(super) config: SpoolConfig,
    pub(super) errors: Vec<ConfigProblem>,
    pub(super) warnings: Vec<ConfigProblem>,
    /// Line where each single-valued key was last set, to warn when it is set again.
    single_keys_set_at: Vec<(Key, u32)>,
    /// `None` while no `deny_application` line was read: the default list stays.
    denied_applications: Option<Vec<String>>,
    deny_application_none_at: Option<u32>,
    first_allowed_owner_at: Option<u32>,
    /// Lower-cased, so each unknown category is reported once.
    pub(super) unknown_categories: Vec<String>,
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
            Key::Dnc => {
                let path = crate::dnc::parse_path(value)?;
                if !self.config.dnc.contains(&path) {
                    self.config.dnc.push(path);
                }
            }
            Key::Node => {
                if value.is_empty() || value.len() > 64 || !value.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err("must be 1 to 64 printable characters without blanks".to_string());
                }
                self.config.node = Some(value.to_string());
            }
            Key::RetryRules => self.config.retry_rules = crate::retry_rules::RetryRules::parse(value)?,
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

    pub(super) fn warn(&mut self, entry: &ConfigEntry, message: String) {
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
