//! The rule set: what pbx_spool_rs.conf lets a call file ask for ([`Policy`]), with its defaults, the
//! first-leg modes and the channel rules, each with the word the configuration uses for it.
//!
//! Values only: reading them from pbx_spool_rs.conf is [`crate::config`]'s, applying them to a call
//! file the checks' (`legs.rs`, `runs.rs`, `function_writes.rs`, `limits.rs`).

use super::glob::glob_matches;
use crate::applications::DEFAULT_ALLOWED_APPLICATIONS;
use crate::channel::Channel;
use crate::contexts::{ConferenceRule, ContextRule};

/// Applications that run shell commands; pbx_spool's callers (AMI) guard these too. Refused even
/// when `allow_application` names them, unless `deny_application` is changed as well.
pub const DEFAULT_DENIED_APPLICATIONS: [&str; 2] = ["System", "TrySystem"];

pub const DEFAULT_MAX_SET_LINES: usize = 1000;

pub const DEFAULT_MAX_VALUE_LEN: usize = 4096;

/// Where the first leg (the `Channel:` of a call file), and the second legs its application dials,
/// may go when no channel rule decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FirstLegMode {
    /// Local channels into this PBX's dialplan, and endpoints this PBX knows (`PJSIP/100`).
    #[default]
    Local,
    /// Endpoints this PBX knows only.
    Strict,
    /// Anything, as pbx_spool does.
    Any,
}

impl FirstLegMode {
    /// The word pbx_spool_rs.conf uses for this mode.
    pub fn keyword(self) -> &'static str {
        match self {
            FirstLegMode::Local => "local",
            FirstLegMode::Strict => "strict",
            FirstLegMode::Any => "any",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleAction {
    Allow,
    Deny,
}

impl RuleAction {
    /// The key pbx_spool_rs.conf uses for this action.
    pub fn keyword(self) -> &'static str {
        match self {
            RuleAction::Allow => "allow",
            RuleAction::Deny => "deny",
        }
    }
}

/// One `allow = <pattern>` or `deny = <pattern>` line of pbx_spool_rs.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRule {
    pub action: RuleAction,
    /// Glob over `Tech/Dest`: `*` matches any run (also across the `/`), `?` one character, and
    /// everything else itself. The tech part compares ASCII case-insensitively, as Asterisk
    /// looks up channel technologies; the destination compares exactly. A Local channel is matched
    /// as `Local/exten@context[/options]`, as Asterisk reads it ([`Channel::judged_text`]).
    pub pattern: String,
}

impl ChannelRule {
    /// True when this rule's pattern matches the channel `tech/dest` as Asterisk reads it.
    pub fn matches(&self, tech: &[u8], dest: &[u8]) -> bool {
        self.matches_channel(&Channel::from_parts(tech, dest))
    }

    pub(super) fn matches_channel(&self, channel: &Channel) -> bool {
        glob_matches(self.pattern.as_bytes(), &channel.judged_text(), channel.tech_len())
    }
}

/// What a call file may ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub first_leg: FirstLegMode,
    /// In configuration order; the last matching rule decides.
    pub channel_rules: Vec<ChannelRule>,
    /// `Application:` names a call file may run (and the applications those run in turn), compared
    /// ASCII case-insensitively on the whole name (as Asterisk finds applications).
    pub allowed_applications: Vec<String>,
    /// `Application:` names refused even when allowed.
    pub denied_applications: Vec<String>,
    /// `allow_function` entries: `NAME` (any write to the function) or `NAME(field)`, added to the
    /// default function writes
    /// ([`functions::DEFAULT_FUNCTION_WRITES`](crate::functions::DEFAULT_FUNCTION_WRITES)); they also
    /// admit functions whose write outlives the call.
    pub allowed_functions: Vec<String>,
    /// `allow_variable` names: variables Asterisk reads as configuration, or dialplan globals, that a
    /// call file may still set ([`crate::variables`]).
    pub allowed_variables: Vec<String>,
    /// Most `Set:`/`SetVar:` lines a call file may have.
    pub max_set_lines: usize,
    /// Most bytes any single value may have.
    pub max_value_len: usize,
    /// `allow_argument` keys (`Dial:URL`, `Dial:b`): arguments and options admitted as written
    /// ([`crate::arguments`]).
    pub allowed_arguments: Vec<String>,
    /// `allow_context` / `deny_context`, in configuration order; the last matching rule decides.
    pub context_rules: Vec<ContextRule>,
    /// `allow_conference` / `deny_conference`, in configuration order; the last matching rule decides.
    pub conference_rules: Vec<ConferenceRule>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            first_leg: FirstLegMode::default(),
            channel_rules: Vec::new(),
            allowed_applications: DEFAULT_ALLOWED_APPLICATIONS.iter().map(|name| (*name).to_string()).collect(),
            denied_applications: DEFAULT_DENIED_APPLICATIONS.iter().map(|name| (*name).to_string()).collect(),
            allowed_functions: Vec::new(),
            allowed_variables: Vec::new(),
            max_set_lines: DEFAULT_MAX_SET_LINES,
            max_value_len: DEFAULT_MAX_VALUE_LEN,
            allowed_arguments: Vec::new(),
            context_rules: Vec::new(),
            conference_rules: Vec::new(),
        }
    }
}
