//! Campaigns: the sections of pbx_spool_rs.conf other than `[general]`. A call file joins the first
//! campaign (in the order of the file) whose `match` glob fits its name; call files themselves are
//! unchanged. Each campaign may add its own `maxcalls`/`maxrate` on top of the global ones, calling
//! windows (`hours`, see [`crate::hours`]) in its `timezone`, and can be paused.
//!
//! Pure model and parsing, plus one lookup: whether a `timezone` names a file in the system's tz
//! database (plain `std::fs`, safe on Asterisk's threads). Zone arithmetic itself happens on the
//! scheduler thread ([`crate::hours`]); nothing here keeps state or logs.

use std::path::{Path, PathBuf};

use crate::hours::Hours;

/// Reserved: `spool pause all` means every campaign.
pub const ALL: &str = "all";

/// One `[section]` of pbx_spool_rs.conf other than `[general]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    pub name: String,
    /// Globs on the file name (`*`, `?`), in the order written.
    pub matches: Vec<String>,
    /// Patterns on the file's `Channel:` (`Tech/Dest`, as `allow`/`deny` match it); when any is given,
    /// a file must fit one of them as well as a `match` glob.
    pub channels: Vec<String>,
    /// Calls of this campaign in progress at once; `None` = only the global limit.
    pub max_calls: Option<usize>,
    /// Calls of this campaign started per second; `None` = only the global limit.
    pub max_rate: Option<f64>,
    /// When its files may be dialled; `None` = at any time.
    pub hours: Option<Hours>,
    /// IANA name of the zone `hours` are in; `None` = the system's zone.
    pub timezone: Option<String>,
    /// Its own do-not-call lists, besides `[general]`'s (see [`crate::dnc`]).
    pub dnc: Vec<String>,
    /// The delay after each outcome for this campaign's files, before `[general]`'s rules.
    pub retry_rules: crate::retry_rules::RetryRules,
}

impl Campaign {
    pub fn new(name: &str) -> Self {
        Campaign {
            name: name.to_string(),
            matches: Vec::new(),
            channels: Vec::new(),
            max_calls: None,
            max_rate: None,
            hours: None,
            timezone: None,
            dnc: Vec::new(),
            retry_rules: crate::retry_rules::RetryRules::default(),
        }
    }

    /// Whether a file named `file_name` belongs to this campaign by its name (its `channel` patterns
    /// aside).
    pub fn matches(&self, file_name: &[u8]) -> bool {
        self.matches.iter().any(|pattern| crate::policy::glob_matches(pattern.as_bytes(), file_name, 0))
    }

    /// Whether a file's channel `tech/dest` fits this campaign's `channel` patterns (any, if none).
    pub fn matches_channel(&self, tech: &[u8], dest: &[u8]) -> bool {
        self.channels.is_empty()
            || self.channels.iter().any(|pattern| {
                let rule =
                    crate::policy::ChannelRule { action: crate::policy::RuleAction::Allow, pattern: pattern.clone() };
                rule.matches(tech, dest)
            })
    }

    /// The campaign's settings in force, for `spool show status`.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("match {}", self.matches.join(" "))];
        if !self.channels.is_empty() {
            parts.push(format!("channel {}", self.channels.join(" ")));
        }
        if let Some(calls) = self.max_calls {
            parts.push(format!("maxcalls {calls}"));
        }
        if let Some(rate) = self.max_rate {
            parts.push(format!("maxrate {rate} calls/s"));
        }
        if let Some(hours) = &self.hours {
            let zone = self.timezone.as_deref().unwrap_or("system zone");
            parts.push(format!("hours {hours} ({zone})"));
        }
        if !self.dnc.is_empty() {
            parts.push(format!("dnc {}", self.dnc.join(" ")));
        }
        if !self.retry_rules.is_empty() {
            parts.push(format!("retry_rules {}", self.retry_rules));
        }
        parts.join("; ")
    }
}

/// The campaign a file belongs to by its name alone: the index of the first that matches, in
/// configuration order, skipping campaigns that also need a `channel` match.
pub fn find(campaigns: &[Campaign], file_name: &[u8]) -> Option<usize> {
    campaigns.iter().position(|campaign| campaign.channels.is_empty() && campaign.matches(file_name))
}

/// Whether any campaign that `file_name` could join needs its channel to decide.
pub fn needs_channel(campaigns: &[Campaign], file_name: &[u8]) -> bool {
    campaigns.iter().any(|campaign| !campaign.channels.is_empty() && campaign.matches(file_name))
}

/// The campaign a file with channel `tech/dest` belongs to: the first whose `match` and `channel`
/// both fit.
pub fn find_with_channel(campaigns: &[Campaign], file_name: &[u8], tech: &[u8], dest: &[u8]) -> Option<usize> {
    campaigns.iter().position(|campaign| campaign.matches(file_name) && campaign.matches_channel(tech, dest))
}

/// The keys a campaign's section accepts, with what each is for and an example value; [`apply`] reads
/// only these, so the documentation rendered from this table lists every one.
pub const CAMPAIGN_KEYS: &[CampaignKey] = &[
    CampaignKey {
        name: "match",
        synopsis: "A glob (* and ?) on the call file's name; a file joins the first campaign whose glob fits.",
        description: &["Repeatable. Call files stay unchanged: membership is by name (and channel, below)."],
        repeatable: true,
        example: "sales-*",
    },
    CampaignKey {
        name: "channel",
        synopsis: "A pattern on the file's Channel (Tech/Dest, as allow/deny match it) the file must also fit.",
        description: &["Repeatable. With channel lines a file must fit a match glob AND a channel pattern."],
        repeatable: true,
        example: "Local/*@sales",
    },
    CampaignKey {
        name: "maxcalls",
        synopsis: "This campaign's calls in progress at once, on top of [general]'s (0 = only the global limit).",
        description: &["A campaign at its limit does not hold back other campaigns' files."],
        repeatable: false,
        example: "10",
    },
    CampaignKey {
        name: "maxrate",
        synopsis: "This campaign's calls started per second, on top of [general]'s (0 = only the global limit).",
        description: &["Fractions allowed; at most 100000."],
        repeatable: false,
        example: "2",
    },
    CampaignKey {
        name: "hours",
        synopsis: "Calling windows: [days] HH:MM-HH:MM, comma separated (mon-fri 09:00-20:00, sat 10:00-14:00).",
        description: &[
            "Days mon..sun, ranges (mon-fri, fri-mon) and lists (mon,wed); no days = every day; 24:00 ends a day; \
             an end before the start runs past midnight. Several hours lines add up. A file due outside every \
             window waits until one opens; nothing is written into it.",
        ],
        repeatable: true,
        example: "mon-fri 09:00-20:00",
    },
    CampaignKey {
        name: "timezone",
        synopsis: "The IANA time zone the hours are in (Europe/Moscow), from the system's tz database.",
        description: &["Daylight-saving changes are followed."],
        repeatable: false,
        example: "UTC",
    },
    CampaignKey {
        name: "dnc",
        synopsis: "A do-not-call list (absolute path) for this campaign's files, besides [general]'s dnc lists.",
        description: crate::config::DNC_DESCRIPTION,
        repeatable: true,
        example: "/etc/asterisk/dnc-sales.txt",
    },
    CampaignKey {
        name: "retry_rules",
        synopsis: "The delay before the next attempt after each outcome, for this campaign's files.",
        description: &[
            "As [general]'s retry_rules (busy:5m, noanswer:1h, unallocated:never), which still apply to the \
             outcomes this line does not name.",
        ],
        repeatable: false,
        example: "busy:300, noanswer:1h, unallocated:never",
    },
];

/// One key of a campaign's section, documented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CampaignKey {
    pub name: &'static str,
    pub synopsis: &'static str,
    pub description: &'static [&'static str],
    pub repeatable: bool,
    /// A valid value (the unit tests apply it).
    pub example: &'static str,
}

impl CampaignKey {
    /// The value in force when the key is not written, read from [`Campaign::new`].
    pub fn default_value(&self) -> String {
        let fresh = Campaign::new("default");
        match self.name {
            "maxcalls" => fresh.max_calls.unwrap_or(0).to_string(),
            "maxrate" => fresh.max_rate.unwrap_or(0.0).to_string(),
            "hours" if fresh.hours.is_none() => "at any time".to_string(),
            "timezone" => fresh.timezone.unwrap_or_else(|| "the system's zone".to_string()),
            "retry_rules" if fresh.retry_rules.is_empty() => "[general]'s retry_rules".to_string(),
            _ => "none".to_string(),
        }
    }
}

/// Reads one `key = value` of a campaign's section into `campaign`. `Ok(false)`: not a campaign key.
///
/// # Errors
///
/// A sentence for the admin when the value is invalid.
pub fn apply(campaign: &mut Campaign, key: &str, value: &str) -> Result<bool, String> {
    let key = key.to_ascii_lowercase();
    if !CAMPAIGN_KEYS.iter().any(|known| known.name == key) {
        return Ok(false);
    }
    match key.as_str() {
        "match" => {
            if value.is_empty() || value.contains('/') || value.chars().any(char::is_control) {
                return Err("expected a glob on the call file's name, such as sales-*".to_string());
            }
            campaign.matches.push(value.to_string());
        }
        "maxcalls" => {
            let calls: usize = value.parse().map_err(|_| "expected a whole number (0 = unlimited)".to_string())?;
            campaign.max_calls = (calls != 0).then_some(calls);
        }
        "maxrate" => {
            let rate: f64 = value.parse().map_err(|_| "expected calls per second (0 = unlimited)".to_string())?;
            if !rate.is_finite() || !(0.0..=100_000.0).contains(&rate) {
                return Err("expected calls per second between 0 (unlimited) and 100000".to_string());
            }
            campaign.max_rate = (rate > 0.0).then_some(rate);
        }
        "hours" => {
            let hours = Hours::parse(value)?;
            match &mut campaign.hours {
                // Several hours lines add up.
                Some(existing) => existing.windows.extend(hours.windows),
                None => campaign.hours = Some(hours),
            }
        }
        "channel" => {
            if !value.contains('/') || value.chars().any(char::is_control) {
                return Err("expected a channel pattern Tech/Dest, such as PJSIP/*@trunk1".to_string());
            }
            campaign.channels.push(value.to_string());
        }
        "dnc" => {
            let path = crate::dnc::parse_path(value)?;
            if !campaign.dnc.contains(&path) {
                campaign.dnc.push(path);
            }
        }
        "timezone" => {
            check_zone_name(value)?;
            campaign.timezone = Some(value.to_string());
        }
        "retry_rules" => campaign.retry_rules = crate::retry_rules::RetryRules::parse(value)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// Where the system's tz database lives: `$TZDIR`, as the C library and jiff read it, else
/// /usr/share/zoneinfo.
fn zoneinfo_dir() -> PathBuf {
    std::env::var_os("TZDIR").map_or_else(|| PathBuf::from("/usr/share/zoneinfo"), PathBuf::from)
}

/// An IANA name (`Europe/Moscow`, `UTC`) with a file in the system's tz database.
fn check_zone_name(name: &str) -> Result<(), String> {
    let plausible = !name.is_empty()
        && !name.starts_with('/')
        && name.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'));
    if !plausible {
        return Err("expected an IANA time zone name, such as Europe/Moscow".to_string());
    }
    let dir = zoneinfo_dir();
    if !Path::new(&dir).join(name).is_file() {
        return Err(format!("no such time zone in the system's tz database ({})", dir.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_campaign_wins() {
        let mut sales = Campaign::new("sales");
        apply(&mut sales, "match", "sales-*").unwrap();
        let mut all_calls = Campaign::new("rest");
        apply(&mut all_calls, "Match", "*.call").unwrap();
        let campaigns = [sales, all_calls];
        assert_eq!(find(&campaigns, b"sales-1.call"), Some(0));
        assert_eq!(find(&campaigns, b"wakeup.call"), Some(1));
        assert_eq!(find(&campaigns, b"wakeup"), None);
    }

    #[test]
    fn keys_are_checked() {
        let mut campaign = Campaign::new("c");
        assert_eq!(apply(&mut campaign, "maxcalls", "10"), Ok(true));
        assert_eq!(apply(&mut campaign, "maxrate", "2.5"), Ok(true));
        assert_eq!(apply(&mut campaign, "hours", "mon-fri 09:00-18:00"), Ok(true));
        assert_eq!(apply(&mut campaign, "hours", "sat 10:00-12:00"), Ok(true));
        assert_eq!(campaign.hours.as_ref().unwrap().windows.len(), 2);
        assert_eq!(apply(&mut campaign, "timezone", "Europe/Moscow"), Ok(true));
        assert_eq!(apply(&mut campaign, "frobnicate", "1"), Ok(false));
        for (key, bad) in [
            ("maxcalls", "ten"),
            ("maxrate", "-1"),
            ("hours", "9-5"),
            ("timezone", "Mars/Olympus"),
            ("timezone", "../etc/passwd"),
            ("match", "sub/dir"),
        ] {
            assert!(apply(&mut campaign, key, bad).is_err(), "{key} = {bad} accepted");
        }
        assert_eq!(
            campaign.describe(),
            "match ; maxcalls 10; maxrate 2.5 calls/s; hours mon,tue,wed,thu,fri 09:00-18:00, sat 10:00-12:00 (Europe/Moscow)"
        );
    }

    #[test]
    fn every_documented_key_is_read_and_no_other() {
        for key in CAMPAIGN_KEYS {
            let mut campaign = Campaign::new("docs");
            assert_eq!(apply(&mut campaign, key.name, key.example), Ok(true), "{}", key.name);
            assert_ne!(campaign, Campaign::new("docs"), "{} = {} changed nothing", key.name, key.example);
        }
        assert_eq!(apply(&mut Campaign::new("docs"), "colour", "red"), Ok(false));
    }
}
