//! Retry rules by outcome (`retry_rules = busy:5m, noanswer:1h, unallocated:never`), in `[general]` and
//! per campaign: how long after an attempt with that outcome the next one comes, or `never`. The rules
//! only space the attempts a call file's MaxRetries allows; outcomes without a rule wait the file's own
//! RetryTime, as under pbx_spool. Outcome names are any valid name ([`crate::outcome_names::is_valid`]),
//! so names the dialplan chooses get rules too.
//!
//! Parsing and the choice of a delay: pure, no I/O, no logging.

use std::fmt;

use crate::outcome_names;

/// The longest delay a rule may give: 30 days.
pub const MAX_DELAY_S: u32 = 30 * 24 * 3600;

/// What a rule says about an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDelay {
    /// The next attempt this many seconds after the end of this one.
    After(u32),
    /// No further attempt: the file is finished.
    Never,
}

impl fmt::Display for RetryDelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryDelay::After(seconds) => write!(f, "{seconds}s"),
            RetryDelay::Never => write!(f, "never"),
        }
    }
}

/// One `retry_rules` value: outcome names with their delay, in the order written (a name written twice
/// takes its last delay).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryRules {
    rules: Vec<(String, RetryDelay)>,
}

impl RetryRules {
    /// Reads `busy:300, noanswer:1h, unallocated:never`: comma-separated `outcome:delay` pairs, the delay
    /// in seconds with an optional `s`, `m` or `h` suffix (at least 1 s, at most 30 days), or `never`.
    ///
    /// # Errors
    ///
    /// A sentence for the admin naming the pair that is wrong.
    pub fn parse(value: &str) -> Result<RetryRules, String> {
        let mut rules = RetryRules::default();
        if value.trim().is_empty() {
            return Err("expected outcome:delay pairs, such as busy:300, noanswer:1h, unallocated:never".into());
        }
        for pair in value.split(',') {
            let pair = pair.trim();
            let Some((name, delay)) = pair.split_once(':') else {
                return Err(format!("'{pair}': expected outcome:delay, such as busy:300"));
            };
            let (name, delay) = (name.trim(), delay.trim());
            if !outcome_names::is_valid(name) {
                return Err(format!(
                    "'{pair}': '{name}' is not an outcome name (1 to {} of a-z, 0-9, _ and -; built in: {})",
                    outcome_names::MAX_NAME_LEN,
                    outcome_names::BUILT_IN.iter().map(|(known, _)| *known).collect::<Vec<_>>().join(", ")
                ));
            }
            if name == outcome_names::ANSWERED {
                return Err(format!("'{pair}': an answered call is finished, never retried"));
            }
            let delay = parse_delay(delay).map_err(|why| format!("'{pair}': {why}"))?;
            rules.rules.retain(|(known, _)| known != name);
            rules.rules.push((name.to_string(), delay));
        }
        Ok(rules)
    }

    /// The rule for `outcome`, if any.
    pub fn get(&self, outcome: &str) -> Option<RetryDelay> {
        self.rules.iter().find(|(name, _)| name == outcome).map(|&(_, delay)| delay)
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

impl fmt::Display for RetryRules {
    /// As an admin writes it: `busy:300s, unallocated:never`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs: Vec<String> = self.rules.iter().map(|(name, delay)| format!("{name}:{delay}")).collect();
        write!(f, "{}", pairs.join(", "))
    }
}

/// `300`, `300s`, `5m`, `1h` or `never`.
fn parse_delay(text: &str) -> Result<RetryDelay, String> {
    if text.eq_ignore_ascii_case("never") {
        return Ok(RetryDelay::Never);
    }
    let (digits, unit) = match text.char_indices().last() {
        Some((at, 's' | 'S')) => (&text[..at], 1),
        Some((at, 'm' | 'M')) => (&text[..at], 60),
        Some((at, 'h' | 'H')) => (&text[..at], 3600),
        _ => (text, 1),
    };
    let expected = || format!("'{text}' is not a delay (seconds, or with s, m or h: 300, 5m, 1h; or never)");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(expected());
    }
    let seconds = digits.parse::<u64>().map_err(|_| expected())?.saturating_mul(unit);
    if seconds == 0 || seconds > u64::from(MAX_DELAY_S) {
        return Err(format!("'{text}': a delay is 1 second to 30 days"));
    }
    Ok(RetryDelay::After(seconds as u32))
}

/// Where the delay before the next attempt comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSource {
    /// The campaign's `retry_rules` (its name).
    Campaign(String),
    /// `[general]`'s `retry_rules`.
    General,
    /// No rule for the outcome: the call file's RetryTime.
    RetryTime,
    /// The call's dialplan asked for the next attempt (`SPOOL(retry)`, `SPOOL(retry_at)`).
    Dialplan,
}

impl fmt::Display for RuleSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleSource::Campaign(name) => write!(f, "[{name}] retry_rules"),
            RuleSource::General => write!(f, "[general] retry_rules"),
            RuleSource::RetryTime => write!(f, "RetryTime"),
            RuleSource::Dialplan => write!(f, "the dialplan's SPOOL(retry)"),
        }
    }
}

/// What comes after an unanswered attempt with `outcome`: the campaign's rule for it, else `[general]`'s,
/// else the file's RetryTime (`retry_time_s`).
pub fn choose(
    outcome: &str,
    campaign: Option<(&str, &RetryRules)>,
    general: &RetryRules,
    retry_time_s: i32,
) -> (RetryDelay, RuleSource) {
    if let Some((name, rules)) = campaign {
        if let Some(delay) = rules.get(outcome) {
            return (delay, RuleSource::Campaign(name.to_string()));
        }
    }
    if let Some(delay) = general.get(outcome) {
        return (delay, RuleSource::General);
    }
    (RetryDelay::After(retry_time_s.max(1) as u32), RuleSource::RetryTime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_with_seconds_suffixes_and_never() {
        let rules =
            RetryRules::parse("busy:300, noanswer:1h, congestion:60s,unallocated:never, voicemail: 5m").unwrap();
        assert_eq!(rules.get("busy"), Some(RetryDelay::After(300)));
        assert_eq!(rules.get("noanswer"), Some(RetryDelay::After(3600)));
        assert_eq!(rules.get("congestion"), Some(RetryDelay::After(60)));
        assert_eq!(rules.get("unallocated"), Some(RetryDelay::Never));
        assert_eq!(rules.get("voicemail"), Some(RetryDelay::After(300)), "a dialplan-chosen name");
        assert_eq!(rules.get("failed"), None);
        assert_eq!(rules.to_string(), "busy:300s, noanswer:3600s, congestion:60s, unallocated:never, voicemail:300s");
        let twice = RetryRules::parse("busy:1, busy:2").unwrap();
        assert_eq!(twice.get("busy"), Some(RetryDelay::After(2)));
        assert_eq!(twice.to_string(), "busy:2s");
    }

    #[test]
    fn bad_values_are_named() {
        for (value, needle) in [
            ("", "outcome:delay pairs"),
            ("busy", "'busy': expected outcome:delay"),
            ("Busy:300", "'Busy' is not an outcome name"),
            ("no answer:300", "not an outcome name"),
            ("busy:soon", "'soon' is not a delay"),
            ("busy:0", "1 second to 30 days"),
            ("busy:31d", "not a delay"),
            ("busy:721h", "1 second to 30 days"),
            ("busy:-5", "not a delay"),
            ("answered:60", "never retried"),
            ("busy:300,", "expected outcome:delay"),
        ] {
            let err = RetryRules::parse(value).unwrap_err();
            assert!(err.contains(needle), "{value}: {err}");
        }
    }

    #[test]
    fn the_campaigns_rule_then_generals_then_retry_time() {
        let general = RetryRules::parse("busy:300, congestion:60").unwrap();
        let sales = RetryRules::parse("busy:120, unallocated:never").unwrap();
        let campaign = Some(("sales", &sales));
        assert_eq!(
            choose("busy", campaign, &general, 900),
            (RetryDelay::After(120), RuleSource::Campaign("sales".into()))
        );
        assert_eq!(choose("congestion", campaign, &general, 900), (RetryDelay::After(60), RuleSource::General));
        assert_eq!(
            choose("unallocated", campaign, &general, 900),
            (RetryDelay::Never, RuleSource::Campaign("sales".into()))
        );
        assert_eq!(choose("noanswer", campaign, &general, 900), (RetryDelay::After(900), RuleSource::RetryTime));
        assert_eq!(choose("busy", None, &general, 900), (RetryDelay::After(300), RuleSource::General));
        assert_eq!(choose("unallocated", None, &general, 900), (RetryDelay::After(900), RuleSource::RetryTime));
        assert_eq!(RuleSource::Campaign("sales".into()).to_string(), "[sales] retry_rules");
    }
}

#[cfg(test)]
mod config_tests {
    use super::*;
    use crate::config::{from_entries, ConfigEntry};

    fn entry(category: &str, key: &str, value: &str, line: u32) -> ConfigEntry {
        ConfigEntry { category: category.into(), key: key.into(), value: value.into(), line }
    }

    #[test]
    fn general_and_campaign_rules_are_read_and_a_bad_one_is_named_with_its_line() {
        let entries = [
            entry("general", "retry_rules", "busy:5m, unallocated:never", 3),
            entry("sales", "match", "sales-*", 7),
            entry("sales", "retry_rules", "busy:60", 8),
        ];
        let (config, warnings) = from_entries(&entries).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config.retry_rules.get("busy"), Some(RetryDelay::After(300)));
        assert_eq!(config.campaigns[0].retry_rules.get("busy"), Some(RetryDelay::After(60)));
        let status = crate::config::describe(&config);
        assert!(status.contains(&("retry_rules".into(), "busy:300s, unallocated:never".into())), "{status:?}");
        assert!(config.campaigns[0].describe().ends_with("; retry_rules busy:60s"));

        let bad = [
            entry("general", "retry_rules", "busy:soon", 4),
            entry("sales", "match", "sales-*", 8),
            entry("sales", "retry_rules", "Busy:1", 9),
        ];
        let problems = from_entries(&bad).unwrap_err();
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            shown[0].starts_with("line 4: retry_rules = busy:soon: 'busy:soon': 'soon' is not a delay"),
            "{shown:?}"
        );
        assert!(
            shown[1].starts_with("line 9: [sales] retry_rules = Busy:1: 'Busy:1': 'Busy' is not an outcome"),
            "{shown:?}"
        );
    }
}
