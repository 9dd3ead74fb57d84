//! The settings in force as (key, value) lines for the admin's `spool show status`, with the keys
//! pbx_spool_rs.conf uses.
//!
//! Reads a [`SpoolConfig`] and never changes it.

use super::keys::NO_APPLICATIONS;
use super::settings::{SpoolConfig, WatchMode};
use crate::contexts::{ConferenceRule, ContextRule};
use crate::text::yes_no;

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
    .chain((!config.retry_rules.is_empty()).then(|| ("retry_rules", config.retry_rules.to_string())))
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

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}
