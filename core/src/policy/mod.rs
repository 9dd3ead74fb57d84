//! The security checks a parsed call file must pass before any call is placed: where its first
//! leg may dial, which application it may run and what that application will dial, start or write,
//! which dialplan functions its `Set:` lines may write, and how large it may be.
//!
//! Pure: a [`CallFile`] and a [`Policy`] in, a verdict out. No I/O, no FFI, no logging; the facts
//! only Asterisk knows come through [`FunctionRegistry`]. Never panics, whatever the bytes.
//! Channels are judged as Asterisk reads them ([`crate::channel`]), applications as they read their
//! data ([`crate::applications`]).

use std::fmt;

use crate::applications::{self, Action, DEFAULT_ALLOWED_APPLICATIONS};
use crate::callfile::CallFile;
use crate::channel::Channel;
use crate::contexts::{self, ConferenceRule, ContextRule};
use crate::functions;
use crate::text::escaped;

/// The names a [`Rejection`] gives for the check that refused a call file, for log lines and for
/// callers that react to one of them.
pub mod rule {
    pub const FIRST_LEG: &str = "first_leg";
    pub const CHANNEL_RULE: &str = "channel_rule";
    pub const SECOND_LEG: &str = "second_leg";
    pub const APPLICATION: &str = "application";
    pub const AGI_SCRIPT: &str = "agi_script";
    pub const DANGEROUS_FUNCTION: &str = "dangerous_function";
    pub const PERSISTENT_FUNCTION: &str = "persistent_function";
    pub use crate::variables::rule::{DIALPLAN_GLOBAL, FUNCTION, PATH_VALUE, VARIABLE};
    pub const SET_LINES: &str = "set_lines";
    pub const VALUE_LENGTH: &str = "value_length";
    pub use crate::contexts::rule::{ARGUMENT, CONFERENCE, CONTEXT};
}

/// Applications that run shell commands; pbx_spool's callers (AMI) guard these too. Refused even
/// when `allow_application` names them, unless `deny_application` is changed as well.
pub const DEFAULT_DENIED_APPLICATIONS: [&str; 2] = ["System", "TrySystem"];
pub const DEFAULT_MAX_SET_LINES: usize = 1000;
pub const DEFAULT_MAX_VALUE_LEN: usize = 4096;

/// Long enough to recognise a value in a log line, short enough that a hostile file cannot flood
/// the log.
const SHOWN_VALUE_MAX_CHARS: usize = 200;

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

    fn matches_channel(&self, channel: &Channel) -> bool {
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
    /// default function writes ([`functions::DEFAULT_FUNCTION_WRITES`]); they also admit functions whose
    /// write outlives the call.
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

/// What Asterisk says about a bare endpoint name (`PJSIP/100`, `IAX2/alice`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// The channel driver knows it: a configured endpoint or peer.
    Known,
    /// The driver does not know the name (it would resolve it as a host, or fail), or cannot say.
    Unknown,
    /// No channel driver of that technology is loaded.
    NoSuchTechnology,
    /// Nobody to ask (offline checks): taken as known, and reported as not checked.
    NotChecked,
}

/// Facts only Asterisk knows, behind a trait so tests use a fake.
pub trait FunctionRegistry {
    /// True when the dialplan function `name` (e.g. `FILE`, `DB`, `SHELL`) is registered as
    /// dangerous to write (its writes escalate privileges).
    fn writes_are_dangerous(&self, name: &str) -> bool;

    /// asterisk.conf `live_dangerously = yes`.
    fn live_dangerously(&self) -> bool;

    /// Whether the driver of `tech` knows `dest` as one of this PBX's endpoints.
    fn endpoint(&self, tech: &[u8], dest: &[u8]) -> Endpoint;

    /// Whether `name` (compared exactly, as Asterisk compares variable names) is a dialplan global
    /// now. Offline checks, which cannot know, answer false and report the name as not checked.
    fn is_dialplan_global(&self, name: &[u8]) -> bool;
}

/// Why a call file is refused: the check, the offending value and a sentence for the admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// One of the names in [`rule`].
    pub rule: &'static str,
    /// The offending value, safe to print: control characters and invalid UTF-8 escaped,
    /// shortened to about 200 characters.
    pub value: String,
    pub detail: String,
}

impl Rejection {
    pub(crate) fn new(rule: &'static str, value: &[u8], detail: String) -> Self {
        Rejection { rule, value: shown(value), detail }
    }

    /// The log line for this rejection of the call file `file`.
    pub fn message(&self, file: &str) -> String {
        // The file name comes from whoever wrote into the spool; escaped so it cannot forge lines.
        let file = escaped(file.as_bytes(), usize::MAX);
        format!("Rejected {file}: {self}")
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} (rule {}, value '{}')", self.detail, self.rule, self.value)
    }
}

impl std::error::Error for Rejection {}

/// Applies every check to `call`; the first one that fails is the answer.
///
/// The size checks come first so that the later ones only ever see bounded input; then the
/// first leg, the application (with what it dials, runs and starts), and the dialplan functions
/// written by `Set:` lines and by the application.
///
/// # Errors
///
/// The [`Rejection`] of the first check that fails; the call must not be placed.
pub fn check(call: &CallFile, policy: &Policy, registry: &dyn FunctionRegistry) -> Result<(), Rejection> {
    check_set_line_count(call, policy)?;
    check_value_lengths(call, policy)?;
    first_leg_verdict(&call.tech, &call.dest, policy, registry)?;
    let written = check_application(call, policy, registry)?;
    let (runs, dialled) = runs_and_second_legs(call);
    contexts::check(call, &runs, &dialled, policy)?;
    check_written_functions(call, &written, policy, registry)?;
    crate::variables::check_writes(call, &written, policy, registry)
}

/// An application and its data.
type ApplicationRun = (Vec<u8>, Vec<u8>);
/// The application that dials, and the channel.
type SecondLeg = (Vec<u8>, Channel);

/// The applications `call` runs (name and data) and the channels they dial, for the argument,
/// context and conference checks; empty for a call into the dialplan.
fn runs_and_second_legs(call: &CallFile) -> (Vec<ApplicationRun>, Vec<SecondLeg>) {
    let (mut runs, mut dialled) = (Vec::new(), Vec::new());
    if call.application.is_empty() {
        return (runs, dialled);
    }
    for run in applications_run(&call.application, &call.data).unwrap_or_default() {
        for action in applications::actions(&run.application, &run.data) {
            if let Action::Dials(channel) = action {
                dialled.push((run.application.clone(), channel));
            }
        }
        runs.push((run.application, run.data));
    }
    (runs, dialled)
}

/// Decides whether the channel `tech/dest` may be dialled as a call file's first leg: the last
/// channel rule that matches decides, and without one the [`FirstLegMode`] does.
///
/// # Errors
///
/// A [`Rejection`] under [`rule::CHANNEL_RULE`] when a `deny` rule decided, or
/// [`rule::FIRST_LEG`] when the mode did.
pub fn first_leg_verdict(
    tech: &[u8],
    dest: &[u8],
    policy: &Policy,
    registry: &dyn FunctionRegistry,
) -> Result<(), Rejection> {
    let channel = Channel::from_parts(tech, dest);
    channel_verdict(&channel, policy, registry).map_err(|refusal| match refusal {
        ChannelRefusal::Rule(pattern) => Rejection::new(
            rule::CHANNEL_RULE,
            &channel.written(),
            format!("channel matches 'deny = {}'{}", shown(pattern.as_bytes()), allow_fix(&channel, true)),
        ),
        ChannelRefusal::Mode(why) => Rejection::new(
            rule::FIRST_LEG,
            &channel.written(),
            format!("{}; {}{}", why.sentence(None), mode_allows(policy.first_leg), allow_fix(&channel, false)),
        ),
    })
}

/// Decides whether an application from a call file may dial `channel` (a second leg): the same
/// rules as the first leg, refused under [`rule::SECOND_LEG`] whichever rule decided.
fn second_leg_verdict(
    application: &[u8],
    channel: &Channel,
    policy: &Policy,
    registry: &dyn FunctionRegistry,
) -> Result<(), Rejection> {
    let subject = format!("{}'s destination", shown(application));
    channel_verdict(channel, policy, registry).map_err(|refusal| {
        let detail = match refusal {
            ChannelRefusal::Rule(pattern) => {
                format!("{subject} matches 'deny = {}'{}", shown(pattern.as_bytes()), allow_fix(channel, true))
            }
            ChannelRefusal::Mode(why) => {
                let allows = mode_allows(policy.first_leg);
                format!("{}; {allows}{}", why.sentence(Some(&subject)), allow_fix(channel, false))
            }
        };
        Rejection::new(rule::SECOND_LEG, &channel.written(), detail)
    })
}

/// The config line that would admit `channel`, for the refusal's words: the text the channel rules
/// match, as an `allow` line (placed after the `deny` that matched, when one did). Nothing when that
/// text holds a pattern character (the line would admit more than this channel) or cannot be a rule.
fn allow_fix(channel: &Channel, after_deny: bool) -> String {
    let text = channel.judged_text();
    let printable = text.iter().all(|&byte| byte.is_ascii_graphic());
    if text.is_empty() || !printable || text.iter().any(|&byte| matches!(byte, b'*' | b'?')) {
        return String::new();
    }
    let line = format!("allow = {}", String::from_utf8_lossy(&text));
    if after_deny {
        format!(" (an '{line}' line after it admits it)")
    } else {
        format!(" ('{line}' admits it)")
    }
}

fn mode_allows(mode: FirstLegMode) -> String {
    let allowed = match mode {
        FirstLegMode::Local => "Local channels and bare endpoints of this PBX",
        FirstLegMode::Strict | FirstLegMode::Any => "bare endpoints of this PBX",
    };
    format!("first_leg = {} allows only {allowed}", mode.keyword())
}

/// Why a channel is refused: a `deny` pattern, or the mode.
enum ChannelRefusal<'a> {
    Rule(&'a str),
    Mode(Why),
}

/// What is wrong with a channel under the mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    NoDestination,
    Outside,
    Group,
    MalformedLocal,
    LocalUnderStrict,
    UnknownEndpoint,
    NoSuchTechnology,
}

impl Why {
    /// The reason about the first leg (`None`, in the words of the first release) or about
    /// `subject`, a second leg.
    fn sentence(self, subject: Option<&str>) -> String {
        let first_leg = subject.is_none();
        let subject = subject.unwrap_or("the first leg");
        match self {
            Why::NoDestination if first_leg => "the channel has no destination".to_string(),
            Why::NoDestination => format!("{subject} has no destination"),
            Why::Outside => format!("{subject} dials out of this PBX directly"),
            Why::Group => format!("{subject} is a trunk or channel group"),
            Why::MalformedLocal if first_leg => {
                "malformed Local channel (expected Local/exten@context[/options])".to_string()
            }
            Why::MalformedLocal => {
                format!("{subject} is a malformed Local channel (expected Local/exten@context[/options])")
            }
            Why::LocalUnderStrict => format!("{subject} is a Local channel"),
            Why::UnknownEndpoint => format!(
                "{subject} is not an endpoint this PBX knows (its channel driver has no endpoint or peer of \
                 that name; it could be a host name or address)"
            ),
            Why::NoSuchTechnology => format!("{subject} uses a channel technology that is not loaded"),
        }
    }
}

fn channel_verdict<'a>(
    channel: &Channel,
    policy: &'a Policy,
    registry: &dyn FunctionRegistry,
) -> Result<(), ChannelRefusal<'a>> {
    let deciding_rule = policy.channel_rules.iter().rev().find(|channel_rule| channel_rule.matches_channel(channel));
    if let Some(channel_rule) = deciding_rule {
        return match channel_rule.action {
            RuleAction::Allow => Ok(()),
            RuleAction::Deny => Err(ChannelRefusal::Rule(&channel_rule.pattern)),
        };
    }
    mode_verdict(channel, policy.first_leg, registry).map_err(ChannelRefusal::Mode)
}

/// What a channel reaches, as far as its text tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// `Local/exten[@context][/options]`: this PBX's own dialplan.
    Dialplan,
    /// A Local channel Asterisk cannot place (`Local/@ctx`, `Local/1@`).
    MalformedLocal,
    /// A name without `/`, `@` or `:` that only the channel driver can place (`PJSIP/100`).
    BareName,
    /// Nothing after the `/`.
    NoDestination,
    /// A trunk or channel group (`DAHDI/g1`, `DAHDI/r2`).
    Group,
    /// A trunk, a host, a group or a number: a call out of this PBX.
    Outside,
}

fn reach_of(channel: &Channel) -> Reach {
    if channel.dest.is_empty() {
        return Reach::NoDestination;
    }
    if let Some(local) = &channel.local {
        return if local.is_well_formed(&channel.dest) { Reach::Dialplan } else { Reach::MalformedLocal };
    }
    // `/` and `@` carry a trunk, host or number (`PJSIP/1@trunk`, `IAX2/host/1`, `DAHDI/g1/1`);
    // `:` carries a port or URI scheme (`UnicastRTP/10.0.0.1:5000`, `IAX2/host:4569`), which
    // reaches a host of the file's choosing without either.
    if channel.dest.iter().any(|&byte| matches!(byte, b'/' | b'@' | b':')) {
        return Reach::Outside;
    }
    // chan_dahdi's group and round-robin dial strings pick any free channel of a trunk group.
    let dahdi = channel.tech.eq_ignore_ascii_case(b"DAHDI");
    if dahdi && channel.dest.first().is_some_and(|first| matches!(first, b'g' | b'G' | b'r' | b'R')) {
        return Reach::Group;
    }
    Reach::BareName
}

fn mode_verdict(channel: &Channel, mode: FirstLegMode, registry: &dyn FunctionRegistry) -> Result<(), Why> {
    let reach = reach_of(channel);
    match (mode, reach) {
        (FirstLegMode::Any, _) | (FirstLegMode::Local, Reach::Dialplan) => Ok(()),
        (_, Reach::NoDestination) => Err(Why::NoDestination),
        (_, Reach::Outside) => Err(Why::Outside),
        (_, Reach::Group) => Err(Why::Group),
        (FirstLegMode::Local, Reach::MalformedLocal) => Err(Why::MalformedLocal),
        (FirstLegMode::Strict, Reach::Dialplan | Reach::MalformedLocal) => Err(Why::LocalUnderStrict),
        // Only the driver knows whether a bare name is one of its endpoints or a host to resolve.
        (_, Reach::BareName) => match registry.endpoint(&channel.tech, &channel.dest) {
            Endpoint::Known | Endpoint::NotChecked => Ok(()),
            Endpoint::Unknown => Err(Why::UnknownEndpoint),
            Endpoint::NoSuchTechnology => Err(Why::NoSuchTechnology),
        },
    }
}

fn check_set_line_count(call: &CallFile, policy: &Policy) -> Result<(), Rejection> {
    let count = call.variables.len();
    if count <= policy.max_set_lines {
        return Ok(());
    }
    Err(Rejection::new(
        rule::SET_LINES,
        count.to_string().as_bytes(),
        format!("{count} Set/SetVar lines, more than max_set_lines ({})", policy.max_set_lines),
    ))
}

fn check_value_lengths(call: &CallFile, policy: &Policy) -> Result<(), Rejection> {
    let channel = call.channel();
    let single_values: [(&str, &[u8]); 8] = [
        ("Channel", &channel),
        ("CallerID name", &call.cid_name),
        ("CallerID number", &call.cid_num),
        ("Application", &call.application),
        ("Data", &call.data),
        ("Context", &call.context),
        ("Extension", &call.extension),
        ("Account", &call.account),
    ];
    let codecs = call.codecs.iter().map(|codecs| ("Codecs", codecs.as_slice()));
    let variables = call
        .variables
        .iter()
        .flat_map(|(name, value)| [("Set variable name", name.as_slice()), ("Set value", value.as_slice())]);
    let too_long =
        single_values.into_iter().chain(codecs).chain(variables).find(|(_, value)| value.len() > policy.max_value_len);
    match too_long {
        None => Ok(()),
        Some((label, value)) => Err(Rejection::new(
            rule::VALUE_LENGTH,
            value,
            format!("{label} is {} bytes long, more than max_value_len ({})", value.len(), policy.max_value_len),
        )),
    }
}

/// How deep applications that run applications (`Exec(Exec(...))`, Originate's `app`) are followed;
/// deeper nesting is refused outright.
const MAX_NESTING: usize = 4;

/// One application a call file would run: its name and data, and the application that runs it
/// (`None` for the `Application:` line itself).
struct Run {
    application: Vec<u8>,
    data: Vec<u8>,
    run_by: Option<Vec<u8>>,
}

/// The applications an `Application:` line runs: itself and, through Exec, ExecIf, Originate and the
/// like, the ones it runs in turn. `None` when the nesting is too deep to follow.
fn applications_run(application: &[u8], data: &[u8]) -> Option<Vec<Run>> {
    let mut runs = vec![Run { application: application.to_vec(), data: data.to_vec(), run_by: None }];
    let mut level = vec![0usize];
    for depth in 0..=MAX_NESTING {
        let mut next = Vec::new();
        for &index in &level {
            let (parent, parent_data) = (runs[index].application.clone(), runs[index].data.clone());
            for action in applications::actions(&parent, &parent_data) {
                if let Action::Runs { application, data } = action {
                    if depth == MAX_NESTING {
                        return None;
                    }
                    runs.push(Run { application, data, run_by: Some(parent.clone()) });
                    next.push(runs.len() - 1);
                }
            }
        }
        if next.is_empty() {
            return Some(runs);
        }
        level = next;
    }
    None
}

fn listed(names: &[String], application: &[u8]) -> bool {
    names.iter().any(|name| application.eq_ignore_ascii_case(name.as_bytes()))
}

/// Checks the `Application:` line: every application it runs must be allowed and not denied, every
/// channel they dial must pass the channel rules, every AGI program must come from agi-bin. Returns
/// the variable names the applications write, for the function checks.
fn check_application(
    call: &CallFile,
    policy: &Policy,
    registry: &dyn FunctionRegistry,
) -> Result<Vec<Vec<u8>>, Rejection> {
    // Only `Application:`: a call into the dialplan runs what the admin wrote there.
    if call.application.is_empty() {
        return Ok(Vec::new());
    }
    let Some(runs) = applications_run(&call.application, &call.data) else {
        return Err(Rejection::new(
            rule::APPLICATION,
            &call.data,
            format!("applications nested more than {MAX_NESTING} deep (Exec, ExecIf, Originate)"),
        ));
    };
    for run in &runs {
        let how = match &run.run_by {
            None => String::new(),
            Some(parent) => format!(" (run through {})", shown(parent)),
        };
        let name = shown(&run.application);
        if listed(&policy.denied_applications, &run.application) {
            return Err(Rejection::new(
                rule::APPLICATION,
                &call.application,
                format!(
                    "application '{name}'{how} is denied by deny_application (a deny_application list without \
                     it, or 'deny_application = none', admits it; the first such line replaces the defaults)"
                ),
            ));
        }
        if !listed(&policy.allowed_applications, &run.application) {
            return Err(Rejection::new(
                rule::APPLICATION,
                &call.application,
                format!(
                    "application '{name}'{how} is not allowed for call files ('allow_application = {name}' \
                     admits it)"
                ),
            ));
        }
    }
    let mut written = Vec::new();
    for run in &runs {
        for action in applications::actions(&run.application, &run.data) {
            match action {
                Action::Dials(channel) => second_leg_verdict(&run.application, &channel, policy, registry)?,
                Action::StartsAgi(script) if !applications::is_agi_bin_script(&script) => {
                    return Err(Rejection::new(
                        rule::AGI_SCRIPT,
                        &script,
                        format!(
                            "{} starts an AGI program that is not a script in Asterisk's agi-bin directory \
                             (a path, or an agi:// server on another host); give the script's bare name",
                            shown(&run.application)
                        ),
                    ));
                }
                Action::StartsAgi(_) | Action::Runs { .. } => {}
                Action::Writes(name) => written.push(name),
            }
        }
    }
    Ok(written)
}

/// Every dialplan function name `call` would write, through its `Set:` lines and its application,
/// whether or not the rest of the policy lets it through: for reporting what only a running Asterisk
/// can judge (which functions it flags as dangerous).
pub fn functions_written(call: &CallFile) -> Vec<String> {
    let mut names: Vec<Vec<u8>> = call.variables.iter().map(|(name, _)| name.clone()).collect();
    if !call.application.is_empty() {
        for run in applications_run(&call.application, &call.data).unwrap_or_default() {
            for action in applications::actions(&run.application, &run.data) {
                if let Action::Writes(name) = action {
                    names.push(name);
                }
            }
        }
    }
    names.iter().flat_map(|name| functions::written_functions(name)).collect()
}

/// `Set:` lines, and what the application writes (`Set`, `MSet`, `Read`, Originate's `v()`): the same
/// function writes, whichever way the call file asks for them. Functions Asterisk flags as dangerous
/// need `live_dangerously`; functions whose write outlives the call need `allow_function`.
fn check_written_functions(
    call: &CallFile,
    by_application: &[Vec<u8>],
    policy: &Policy,
    registry: &dyn FunctionRegistry,
) -> Result<(), Rejection> {
    let set_lines = call.variables.iter().map(|(name, _)| name);
    for name in set_lines.chain(by_application) {
        let names = functions::written_functions(name);
        let dangerous: Vec<&String> = names.iter().filter(|function| registry.writes_are_dangerous(function)).collect();
        // Asked only now: the common file writes no dangerous function at all.
        if let Some(function) = dangerous.first().filter(|_| !registry.live_dangerously()) {
            return Err(Rejection::new(
                rule::DANGEROUS_FUNCTION,
                name,
                format!(
                    "Set writes the dialplan function {}, which Asterisk only allows with \
                     live_dangerously = yes in asterisk.conf",
                    shown(function.as_bytes())
                ),
            ));
        }
        // A function Asterisk flags as dangerous is live_dangerously's to admit, not this rule's.
        let persistent = names.iter().find(|function| {
            functions::is_persistent(function)
                && !dangerous.contains(function)
                && !policy.allowed_functions.iter().any(|allowed| {
                    let name = functions::function_and_argument(allowed.as_bytes())
                        .map_or(allowed.as_bytes(), |(name, _)| name);
                    function.as_bytes().eq_ignore_ascii_case(name)
                })
        });
        if let Some(function) = persistent {
            let function = shown(function.as_bytes());
            return Err(Rejection::new(
                rule::PERSISTENT_FUNCTION,
                name,
                format!(
                    "Set writes the dialplan function {function}, whose write outlives the call and changes \
                     the whole PBX ('allow_function = {function}' admits it)"
                ),
            ));
        }
    }
    Ok(())
}

/// Matches `pattern` against `candidate`, whose first `case_insensitive_len` bytes (the channel
/// technology) compare ASCII case-insensitively.
///
/// Iterative with single-star backtracking, so it needs no stack and at most
/// pattern × candidate steps, whatever the input.
pub(crate) fn glob_matches(pattern: &[u8], candidate: &[u8], case_insensitive_len: usize) -> bool {
    let mut pattern_at = 0;
    let mut candidate_at = 0;
    // After the latest `*`: where the pattern resumes, and where in the candidate the `*`'s
    // run currently ends.
    let mut last_star: Option<(usize, usize)> = None;

    while let Some(&byte) = candidate.get(candidate_at) {
        match pattern.get(pattern_at) {
            Some(b'*') => {
                pattern_at += 1;
                last_star = Some((pattern_at, candidate_at));
                continue;
            }
            Some(b'?') => {
                pattern_at += 1;
                candidate_at += char_width(candidate, candidate_at);
                continue;
            }
            Some(&literal) => {
                let same = if candidate_at < case_insensitive_len {
                    literal.eq_ignore_ascii_case(&byte)
                } else {
                    literal == byte
                };
                if same {
                    pattern_at += 1;
                    candidate_at += 1;
                    continue;
                }
            }
            None => {}
        }
        let Some((resume_at, run_end)) = last_star else {
            return false;
        };
        let longer_run_end = run_end + char_width(candidate, run_end);
        last_star = Some((resume_at, longer_run_end));
        pattern_at = resume_at;
        candidate_at = longer_run_end;
    }
    pattern.get(pattern_at..).unwrap_or_default().iter().all(|&byte| byte == b'*')
}

/// Bytes of the character starting at `at`: a whole UTF-8 sequence when one starts there,
/// otherwise the single byte, so `?` matches one character of text and one byte of anything else.
fn char_width(bytes: &[u8], at: usize) -> usize {
    let rest = bytes.get(at..).unwrap_or_default();
    (1..=4).find(|&width| rest.get(..width).is_some_and(|sequence| std::str::from_utf8(sequence).is_ok())).unwrap_or(1)
}

/// `bytes` made safe for one log line and shortened to [`SHOWN_VALUE_MAX_CHARS`].
pub(crate) fn shown(bytes: &[u8]) -> String {
    escaped(bytes, SHOWN_VALUE_MAX_CHARS)
}

#[cfg(test)]
mod tests;
