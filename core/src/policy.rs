//! The security checks a parsed call file must pass before any call is placed: where its first
//! leg may dial, which application it may run, which dialplan functions its `Set:` lines may
//! write, and how large it may be.
//!
//! Pure: a [`CallFile`] and a [`Policy`] in, a verdict out. No I/O, no FFI, no logging; the two
//! facts only Asterisk knows come through [`FunctionRegistry`]. Never panics, whatever the bytes.

use std::fmt;

use crate::callfile::CallFile;

/// The names a [`Rejection`] gives for the check that refused a call file, for log lines and for
/// callers that react to one of them.
pub mod rule {
    pub const FIRST_LEG: &str = "first_leg";
    pub const CHANNEL_RULE: &str = "channel_rule";
    pub const APPLICATION: &str = "application";
    pub const DANGEROUS_FUNCTION: &str = "dangerous_function";
    pub const SET_LINES: &str = "set_lines";
    pub const VALUE_LENGTH: &str = "value_length";
}

/// Applications that run shell commands; pbx_spool's callers (AMI) guard these too.
pub const DEFAULT_DENIED_APPLICATIONS: [&str; 2] = ["System", "TrySystem"];
pub const DEFAULT_MAX_SET_LINES: usize = 1000;
pub const DEFAULT_MAX_VALUE_LEN: usize = 4096;

/// Long enough to recognise a value in a log line, short enough that a hostile file cannot flood
/// the log.
const SHOWN_VALUE_MAX_CHARS: usize = 200;

/// Where the first leg (the `Channel:` of a call file) may go when no channel rule decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FirstLegMode {
    /// Local channels into this PBX's dialplan, and bare endpoints of this PBX (`PJSIP/100`).
    #[default]
    Local,
    /// Bare endpoints of this PBX only.
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
    /// looks up channel technologies; the destination compares exactly.
    pub pattern: String,
}

impl ChannelRule {
    /// True when this rule's pattern matches the channel `tech/dest`.
    pub fn matches(&self, tech: &[u8], dest: &[u8]) -> bool {
        let mut channel = Vec::with_capacity(tech.len() + 1 + dest.len());
        channel.extend_from_slice(tech);
        channel.push(b'/');
        channel.extend_from_slice(dest);
        glob_matches(self.pattern.as_bytes(), &channel, tech.len())
    }
}

/// What a call file may ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub first_leg: FirstLegMode,
    /// In configuration order; the last matching rule decides.
    pub channel_rules: Vec<ChannelRule>,
    /// `Application:` names refused, compared ASCII case-insensitively on the whole name (as
    /// Asterisk finds applications).
    pub denied_applications: Vec<String>,
    /// Most `Set:`/`SetVar:` lines a call file may have.
    pub max_set_lines: usize,
    /// Most bytes any single value may have.
    pub max_value_len: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            first_leg: FirstLegMode::default(),
            channel_rules: Vec::new(),
            denied_applications: DEFAULT_DENIED_APPLICATIONS.iter().map(|name| (*name).to_string()).collect(),
            max_set_lines: DEFAULT_MAX_SET_LINES,
            max_value_len: DEFAULT_MAX_VALUE_LEN,
        }
    }
}

/// Facts only Asterisk knows, behind a trait so tests use a fake.
pub trait FunctionRegistry {
    /// True when the dialplan function `name` (e.g. `FILE`, `DB`, `SHELL`) is registered as
    /// dangerous to write (its writes escalate privileges).
    fn writes_are_dangerous(&self, name: &str) -> bool;

    /// asterisk.conf `live_dangerously = yes`.
    fn live_dangerously(&self) -> bool;
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
    fn new(rule: &'static str, value: &[u8], detail: String) -> Self {
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
/// first leg, the application, and the dialplan functions written by `Set:` lines.
///
/// # Errors
///
/// The [`Rejection`] of the first check that fails; the call must not be placed.
pub fn check(call: &CallFile, policy: &Policy, registry: &dyn FunctionRegistry) -> Result<(), Rejection> {
    check_set_line_count(call, policy)?;
    check_value_lengths(call, policy)?;
    first_leg_verdict(&call.tech, &call.dest, policy)?;
    check_application(call, policy)?;
    check_written_functions(call, registry)
}

/// Decides whether the channel `tech/dest` may be dialled as a call file's first leg: the last
/// channel rule that matches decides, and without one the [`FirstLegMode`] does.
///
/// # Errors
///
/// A [`Rejection`] under [`rule::CHANNEL_RULE`] when a `deny` rule decided, or
/// [`rule::FIRST_LEG`] when the mode did.
pub fn first_leg_verdict(tech: &[u8], dest: &[u8], policy: &Policy) -> Result<(), Rejection> {
    let deciding_rule = policy.channel_rules.iter().rev().find(|channel_rule| channel_rule.matches(tech, dest));
    if let Some(channel_rule) = deciding_rule {
        return match channel_rule.action {
            RuleAction::Allow => Ok(()),
            RuleAction::Deny => Err(Rejection::new(
                rule::CHANNEL_RULE,
                &channel_of(tech, dest),
                format!("channel matches 'deny = {}'", shown(channel_rule.pattern.as_bytes())),
            )),
        };
    }
    mode_verdict(tech, dest, policy.first_leg)
}

/// What a first leg reaches, as far as its text tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// `Local/exten[@context][/options]`: this PBX's own dialplan.
    Dialplan,
    /// A Local channel Asterisk cannot place (`Local/@ctx`, `Local/1@`).
    MalformedLocal,
    /// A name the channel driver looks up among its configured endpoints (`PJSIP/100`).
    BareEndpoint,
    /// Nothing after the `/`.
    NoDestination,
    /// A trunk, a host, a group or a number: a call out of this PBX.
    Outside,
}

fn reach_of(tech: &[u8], dest: &[u8]) -> Reach {
    if dest.is_empty() {
        return Reach::NoDestination;
    }
    // Asterisk finds channel technologies with strcasecmp, so `local/` is a Local channel too.
    if tech.eq_ignore_ascii_case(b"Local") {
        return if is_well_formed_local(dest) { Reach::Dialplan } else { Reach::MalformedLocal };
    }
    // `/` and `@` carry a trunk, host or number (`PJSIP/1@trunk`, `IAX2/host/1`, `DAHDI/g1/1`);
    // `:` carries a port or URI scheme (`UnicastRTP/10.0.0.1:5000`, `IAX2/host:4569`), which
    // reaches a host of the file's choosing without either.
    let names_outside = dest.iter().any(|&byte| matches!(byte, b'/' | b'@' | b':'));
    if names_outside {
        Reach::Outside
    } else {
        Reach::BareEndpoint
    }
}

/// `exten[@context][/options]` with a non-empty extension and, when an `@` is written, a
/// non-empty context. Without `@` Asterisk uses the `default` context.
fn is_well_formed_local(dest: &[u8]) -> bool {
    let target = match split_at_first(dest, b'/') {
        Some((target, _options)) => target,
        None => dest,
    };
    match split_at_first(target, b'@') {
        Some((exten, context)) => !exten.is_empty() && !context.is_empty(),
        None => !target.is_empty(),
    }
}

fn mode_verdict(tech: &[u8], dest: &[u8], mode: FirstLegMode) -> Result<(), Rejection> {
    let reach = reach_of(tech, dest);
    let refusal = match (mode, reach) {
        (FirstLegMode::Any, _)
        | (FirstLegMode::Local, Reach::Dialplan | Reach::BareEndpoint)
        | (FirstLegMode::Strict, Reach::BareEndpoint) => return Ok(()),
        (_, Reach::NoDestination) => "the channel has no destination",
        (_, Reach::Outside) => "the first leg dials out of this PBX directly",
        (FirstLegMode::Local, Reach::MalformedLocal) => {
            "malformed Local channel (expected Local/exten@context[/options])"
        }
        (FirstLegMode::Strict, Reach::Dialplan | Reach::MalformedLocal) => "the first leg is a Local channel",
    };
    let allowed = match mode {
        FirstLegMode::Local => "Local channels and bare endpoints of this PBX",
        FirstLegMode::Strict | FirstLegMode::Any => "bare endpoints of this PBX",
    };
    Err(Rejection::new(
        rule::FIRST_LEG,
        &channel_of(tech, dest),
        format!("{refusal}; first_leg = {} allows only {allowed}", mode.keyword()),
    ))
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

/// How deep `Exec(Exec(...))` is unwrapped; deeper nesting is refused outright.
const MAX_EXEC_DEPTH: usize = 4;

/// The applications an `Application:` line runs, with their data: the application itself and, through
/// `Exec`/`TryExec` (which run the application written in their data, `App(args)`), the ones it wraps.
/// `None` when the nesting is too deep to follow.
fn applications_run(application: &[u8], data: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut run = vec![(application.to_vec(), data.to_vec())];
    let (mut app, mut args) = (application.to_vec(), data.to_vec());
    for _ in 0..MAX_EXEC_DEPTH {
        if !(app.eq_ignore_ascii_case(b"Exec") || app.eq_ignore_ascii_case(b"TryExec")) {
            return Some(run);
        }
        let Some((inner_app, rest)) = split_at_first(&args, b'(') else {
            return Some(run);
        };
        let inner_args = rest.strip_suffix(b")").unwrap_or(rest);
        (app, args) = (trim_blanks(inner_app).to_vec(), inner_args.to_vec());
        run.push((app.clone(), args.clone()));
    }
    None
}

fn check_application(call: &CallFile, policy: &Policy) -> Result<(), Rejection> {
    // Only `Application:` (and what it runs through Exec): a call into the dialplan runs what the admin
    // wrote there.
    if call.application.is_empty() {
        return Ok(());
    }
    let Some(run) = applications_run(&call.application, &call.data) else {
        return Err(Rejection::new(
            rule::APPLICATION,
            &call.data,
            format!("Exec nested more than {MAX_EXEC_DEPTH} deep"),
        ));
    };
    for (application, _) in &run {
        let denied = policy.denied_applications.iter().any(|name| application.eq_ignore_ascii_case(name.as_bytes()));
        if denied {
            let how = if application == &call.application { String::new() } else { " (run through Exec)".to_string() };
            return Err(Rejection::new(
                rule::APPLICATION,
                &call.application,
                format!("application '{}'{how} is denied by deny_application", shown(application)),
            ));
        }
    }
    Ok(())
}

/// The variable names an application writes from its data: `Set(name=value)`, `MSet(n1=v1,n2=v2)`.
fn names_written_by(application: &[u8], data: &[u8]) -> Vec<Vec<u8>> {
    let name_of = |assignment: &[u8]| split_at_first(assignment, b'=').map(|(name, _)| name.to_vec());
    if application.eq_ignore_ascii_case(b"Set") {
        name_of(data).into_iter().collect()
    } else if application.eq_ignore_ascii_case(b"MSet") {
        data.split(|&b| b == b',').filter_map(name_of).collect()
    } else {
        Vec::new()
    }
}

fn check_written_functions(call: &CallFile, registry: &dyn FunctionRegistry) -> Result<(), Rejection> {
    // `Set:` lines, and what `Application: Set`/`MSet` (also through Exec) would write: the same
    // function write, whichever way the call file asks for it.
    let mut written: Vec<Vec<u8>> = call.variables.iter().map(|(name, _)| name.clone()).collect();
    if !call.application.is_empty() {
        for (application, data) in applications_run(&call.application, &call.data).unwrap_or_default() {
            written.extend(names_written_by(&application, &data));
        }
    }
    for name in &written {
        let dangerous =
            written_function_candidates(name).into_iter().find(|function| registry.writes_are_dangerous(function));
        let Some(function) = dangerous else {
            continue;
        };
        // Asked only now: the common file writes no dangerous function at all.
        if registry.live_dangerously() {
            return Ok(());
        }
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
    Ok(())
}

/// The function names a `Set:` variable name may write, for a name containing `(`: the text
/// before the first `(` with blanks trimmed, and the same without leading `_`.
///
/// Asterisk writes a function only when the name ends in `)`, and looks the text before `(` up
/// exactly, so `FILE (x)` or `_FILE(x)` write nothing today. They are still checked: refusing an
/// odd-looking name costs nothing, missing a write that a future Asterisk performs would.
/// Names keep their case, as Asterisk's lookup does.
fn written_function_candidates(variable: &[u8]) -> Vec<String> {
    let Some((before_paren, _)) = split_at_first(variable, b'(') else {
        return Vec::new();
    };
    let written = trim_blanks(before_paren);
    let without_inheritance = strip_leading(written, b'_');
    let mut candidates = Vec::with_capacity(2);
    for name in [written, without_inheritance] {
        // Lossy is enough: registered names are ASCII, so a replaced byte matches none of them.
        let name = String::from_utf8_lossy(name).into_owned();
        if !name.is_empty() && !candidates.contains(&name) {
            candidates.push(name);
        }
    }
    candidates
}

/// Matches `pattern` against `candidate`, whose first `case_insensitive_len` bytes (the channel
/// technology) compare ASCII case-insensitively.
///
/// Iterative with single-star backtracking, so it needs no stack and at most
/// pattern × candidate steps, whatever the input.
fn glob_matches(pattern: &[u8], candidate: &[u8], case_insensitive_len: usize) -> bool {
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

fn channel_of(tech: &[u8], dest: &[u8]) -> Vec<u8> {
    let mut channel = Vec::with_capacity(tech.len() + 1 + dest.len());
    channel.extend_from_slice(tech);
    channel.push(b'/');
    channel.extend_from_slice(dest);
    channel
}

fn split_at_first(bytes: &[u8], separator: u8) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|&byte| byte == separator)?;
    Some((bytes.get(..at)?, bytes.get(at + 1..)?))
}

/// Trims Asterisk's blanks (any byte below 33) on both sides.
fn trim_blanks(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&byte| byte > b' ').unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|&byte| byte > b' ').map_or(start, |last| last + 1);
    bytes.get(start..end).unwrap_or_default()
}

fn strip_leading(bytes: &[u8], unwanted: u8) -> &[u8] {
    let start = bytes.iter().position(|&byte| byte != unwanted).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// A file name or path as text that cannot break or forge a log line or a manager event (control and
/// invisible characters and invalid UTF-8 escaped), for every message that names a call file.
pub fn printable(bytes: &[u8]) -> String {
    escaped(bytes, PRINTABLE_PATH_MAX_CHARS)
}

/// Paths are shown whole up to this length (PATH_MAX).
const PRINTABLE_PATH_MAX_CHARS: usize = 4096;

/// `bytes` made safe for one log line and shortened to [`SHOWN_VALUE_MAX_CHARS`].
fn shown(bytes: &[u8]) -> String {
    escaped(bytes, SHOWN_VALUE_MAX_CHARS)
}

/// `bytes` as text that cannot break or disguise a log line: control characters, line and
/// paragraph separators, invisible and bidirectional formatting characters become `\xNN` or
/// `\u{N}`, and invalid UTF-8 becomes `\xNN` per byte. When the text would be longer than
/// `max_chars`, it is cut between escapes and ends in `...`.
fn escaped(bytes: &[u8], max_chars: usize) -> String {
    let mut text = String::new();
    let mut chars = 0usize;
    let mut push = |piece: &str| -> bool {
        let piece_chars = piece.chars().count();
        if chars.saturating_add(piece_chars) > max_chars {
            return false;
        }
        text.push_str(piece);
        chars += piece_chars;
        true
    };
    let mut complete = true;
    'chunks: for chunk in bytes.utf8_chunks() {
        for character in chunk.valid().chars() {
            let fits = if needs_escape(character) {
                let code = u32::from(character);
                if code < 0x100 {
                    push(&format!("\\x{code:02x}"))
                } else {
                    push(&format!("\\u{{{code:x}}}"))
                }
            } else {
                push(character.encode_utf8(&mut [0; 4]))
            };
            if !fits {
                complete = false;
                break 'chunks;
            }
        }
        for byte in chunk.invalid() {
            if !push(&format!("\\x{byte:02x}")) {
                complete = false;
                break 'chunks;
            }
        }
    }
    if !complete {
        text.push_str("...");
    }
    text
}

fn needs_escape(character: char) -> bool {
    character.is_control()
        || matches!(
            character,
            '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Asterisk's function registry as a list: case-sensitive, as Asterisk's lookup is.
    struct FakeRegistry {
        dangerous: Vec<&'static str>,
        live_dangerously: bool,
        asked: RefCell<Vec<String>>,
    }

    impl FakeRegistry {
        fn new(dangerous: &[&'static str], live_dangerously: bool) -> Self {
            FakeRegistry { dangerous: dangerous.to_vec(), live_dangerously, asked: RefCell::new(Vec::new()) }
        }
    }

    impl FunctionRegistry for FakeRegistry {
        fn writes_are_dangerous(&self, name: &str) -> bool {
            self.asked.borrow_mut().push(name.to_string());
            self.dangerous.contains(&name)
        }

        fn live_dangerously(&self) -> bool {
            self.live_dangerously
        }
    }

    fn asterisk_functions() -> FakeRegistry {
        FakeRegistry::new(&["FILE", "DB", "SHELL", "ODBC"], false)
    }

    fn with_mode(mode: FirstLegMode) -> Policy {
        Policy { first_leg: mode, ..Policy::default() }
    }

    fn with_rules(mode: FirstLegMode, rules: &[(RuleAction, &str)]) -> Policy {
        Policy {
            first_leg: mode,
            channel_rules: rules
                .iter()
                .map(|(action, pattern)| ChannelRule { action: *action, pattern: (*pattern).to_string() })
                .collect(),
            ..Policy::default()
        }
    }

    /// Splits like the call-file parser does: at the first `/`.
    fn split_channel(channel: &[u8]) -> (&[u8], &[u8]) {
        split_at_first(channel, b'/').unwrap_or((channel, b""))
    }

    /// `None` = allowed, `Some(rule)` = rejected by that rule.
    fn verdict(policy: &Policy, channel: &[u8]) -> Option<&'static str> {
        let (tech, dest) = split_channel(channel);
        first_leg_verdict(tech, dest, policy).err().map(|rejection| rejection.rule)
    }

    fn call_to(channel: &[u8]) -> CallFile {
        let (tech, dest) = split_channel(channel);
        CallFile {
            tech: tech.to_vec(),
            dest: dest.to_vec(),
            application: b"Playback".to_vec(),
            data: b"hello-world".to_vec(),
            ..CallFile::default()
        }
    }

    fn with_variables(names: &[&[u8]]) -> CallFile {
        CallFile {
            variables: names.iter().map(|name| (name.to_vec(), b"value".to_vec())).collect(),
            ..call_to(b"PJSIP/100")
        }
    }

    const ALLOWED: Option<&str> = None;
    const FIRST_LEG: Option<&str> = Some(rule::FIRST_LEG);
    const CHANNEL_RULE: Option<&str> = Some(rule::CHANNEL_RULE);

    // ---- First leg, by mode ----

    #[test]
    fn local_mode_allows_the_dialplan_and_bare_endpoints_only() {
        let policy = with_mode(FirstLegMode::Local);
        let table: &[(&[u8], Option<&str>)] = &[
            (b"Local/123@ctx", ALLOWED),
            (b"Local/s@ctx/n", ALLOWED),
            (b"Local/s@ctx/nj", ALLOWED),
            (b"Local/123", ALLOWED),
            (b"local/123@ctx", ALLOWED),
            (b"LOCAL/123@ctx", ALLOWED),
            (b"Local/1@2@ctx", ALLOWED),
            (b"PJSIP/100", ALLOWED),
            (b"SIP/alice", ALLOWED),
            (b"pjsip/100", ALLOWED),
            (b"PJSIP/alice.desk", ALLOWED),
            (b"PJSIP/\xff\xfe", ALLOWED),
            (b"PJSIP/caf\xc3\xa9", ALLOWED),
            (b"PJSIP/123@trunk", FIRST_LEG),
            (b"SIP/trunk/18005551234", FIRST_LEG),
            (b"DAHDI/g1/5551234", FIRST_LEG),
            (b"IAX2/user@host/123", FIRST_LEG),
            (b"IAX2/host/123", FIRST_LEG),
            (b"IAX2/host:4569", FIRST_LEG),
            (b"UnicastRTP/10.0.0.1:5000", FIRST_LEG),
            (b"PJSIP/endpoint/sip:1@evil.example", FIRST_LEG),
            (b"PJSIP/@", FIRST_LEG),
            (b"PJSIP/", FIRST_LEG),
            (b"Local/", FIRST_LEG),
            (b"Local/@", FIRST_LEG),
            (b"Local/@ctx", FIRST_LEG),
            (b"Local/123@", FIRST_LEG),
            (b"Local//n", FIRST_LEG),
            // Not the Local technology (Asterisk would not find it), so judged as an endpoint.
            (b"Local /1@ctx", FIRST_LEG),
            (b"Loc\xffal/1@ctx", FIRST_LEG),
            (b"Locale/1@ctx", FIRST_LEG),
        ];
        for (channel, expected) in table {
            assert_eq!(verdict(&policy, channel), *expected, "{}", String::from_utf8_lossy(channel));
        }
    }

    #[test]
    fn strict_mode_allows_bare_endpoints_only() {
        let policy = with_mode(FirstLegMode::Strict);
        let table: &[(&[u8], Option<&str>)] = &[
            (b"PJSIP/100", ALLOWED),
            (b"SIP/alice", ALLOWED),
            (b"Local/123@ctx", FIRST_LEG),
            (b"local/s@ctx/n", FIRST_LEG),
            (b"Local/@", FIRST_LEG),
            (b"PJSIP/123@trunk", FIRST_LEG),
            (b"DAHDI/g1/5551234", FIRST_LEG),
            (b"PJSIP/", FIRST_LEG),
        ];
        for (channel, expected) in table {
            assert_eq!(verdict(&policy, channel), *expected, "{}", String::from_utf8_lossy(channel));
        }
    }

    #[test]
    fn any_mode_allows_everything_like_pbx_spool() {
        let policy = with_mode(FirstLegMode::Any);
        let channels: &[&[u8]] = &[
            b"PJSIP/123@trunk",
            b"SIP/trunk/18005551234",
            b"DAHDI/g1/5551234",
            b"IAX2/user@host/123",
            b"Local/@",
            b"PJSIP/",
            b"\xff/\xfe",
        ];
        for channel in channels {
            assert_eq!(verdict(&policy, channel), ALLOWED);
        }
    }

    #[test]
    fn default_mode_is_local() {
        assert_eq!(Policy::default().first_leg, FirstLegMode::Local);
        assert_eq!(verdict(&Policy::default(), b"PJSIP/123@trunk"), FIRST_LEG);
    }

    #[test]
    fn first_leg_rejection_explains_itself() {
        let rejection =
            first_leg_verdict(b"PJSIP", b"123@trunk", &Policy::default()).expect_err("a trunk call must be refused");
        assert_eq!(rejection.value, "PJSIP/123@trunk");
        assert_eq!(
            rejection.detail,
            "the first leg dials out of this PBX directly; first_leg = local allows only \
             Local channels and bare endpoints of this PBX"
        );
        let rejection = first_leg_verdict(b"Local", b"1@ctx", &with_mode(FirstLegMode::Strict))
            .expect_err("Local is refused in strict mode");
        assert_eq!(
            rejection.detail,
            "the first leg is a Local channel; first_leg = strict allows only bare endpoints \
             of this PBX"
        );
        let rejection =
            first_leg_verdict(b"Local", b"@", &Policy::default()).expect_err("an empty Local target is refused");
        assert!(rejection.detail.starts_with("malformed Local channel"));
        let rejection =
            first_leg_verdict(b"PJSIP", b"", &Policy::default()).expect_err("an empty destination is refused");
        assert!(rejection.detail.starts_with("the channel has no destination"));
    }

    // ---- Channel rules ----

    #[test]
    fn channel_rules_last_match_decides_then_the_mode() {
        use RuleAction::{Allow, Deny};
        let campaign_only = with_rules(FirstLegMode::Local, &[(Deny, "Local/*"), (Allow, "Local/*@campaign")]);
        let known_trunk = with_rules(FirstLegMode::Local, &[(Allow, "PJSIP/*@known-trunk")]);
        let allow_then_deny = with_rules(FirstLegMode::Any, &[(Allow, "PJSIP/*"), (Deny, "PJSIP/*")]);
        let deny_then_allow = with_rules(FirstLegMode::Strict, &[(Deny, "PJSIP/*"), (Allow, "PJSIP/*")]);
        let deny_everything = with_rules(FirstLegMode::Any, &[(Deny, "*/*")]);
        let deny_one = with_rules(FirstLegMode::Any, &[(Deny, "PJSIP/100")]);
        let one_digit = with_rules(FirstLegMode::Local, &[(Allow, "PJSIP/?@trunk")]);
        let table: &[(&Policy, &[u8], Option<&str>)] = &[
            (&campaign_only, b"Local/123@campaign", ALLOWED),
            (&campaign_only, b"Local/1@other", CHANNEL_RULE),
            (&campaign_only, b"local/5@campaign", ALLOWED),
            (&campaign_only, b"LOCAL/5@campaign/n", CHANNEL_RULE),
            (&campaign_only, b"Local/5@CAMPAIGN", CHANNEL_RULE),
            (&campaign_only, b"PJSIP/100", ALLOWED),
            (&campaign_only, b"PJSIP/1@trunk", FIRST_LEG),
            (&known_trunk, b"PJSIP/555@known-trunk", ALLOWED),
            (&known_trunk, b"pjsip/555@known-trunk", ALLOWED),
            (&known_trunk, b"PJSIP/555@other-trunk", FIRST_LEG),
            (&known_trunk, b"PJSIP/555@known-trunk2", FIRST_LEG),
            (&allow_then_deny, b"PJSIP/100", CHANNEL_RULE),
            (&deny_then_allow, b"PJSIP/1@trunk", ALLOWED),
            (&deny_then_allow, b"Local/1@ctx", FIRST_LEG),
            (&deny_everything, b"PJSIP/100", CHANNEL_RULE),
            (&deny_everything, b"\xff/\xfe", CHANNEL_RULE),
            (&deny_one, b"PJSIP/100", CHANNEL_RULE),
            (&deny_one, b"pjsip/100", CHANNEL_RULE),
            (&deny_one, b"PJSIP/1000", ALLOWED),
            (&one_digit, b"PJSIP/5@trunk", ALLOWED),
            (&one_digit, b"PJSIP/\xc3\xa9@trunk", ALLOWED),
            (&one_digit, b"PJSIP/55@trunk", FIRST_LEG),
            (&one_digit, b"PJSIP/@trunk", FIRST_LEG),
        ];
        for (policy, channel, expected) in table {
            assert_eq!(
                verdict(policy, channel),
                *expected,
                "{} with {:?}",
                String::from_utf8_lossy(channel),
                policy.channel_rules
            );
        }
    }

    #[test]
    fn channel_rule_rejection_names_the_pattern() {
        let policy = with_rules(FirstLegMode::Any, &[(RuleAction::Deny, "Local/*")]);
        let rejection = first_leg_verdict(b"Local", b"1@other", &policy).expect_err("denied by the rule");
        assert_eq!(rejection.rule, rule::CHANNEL_RULE);
        assert_eq!(rejection.detail, "channel matches 'deny = Local/*'");
        assert_eq!(rejection.value, "Local/1@other");
    }

    #[test]
    fn glob_table() {
        // (pattern, tech, dest, matches)
        let table: &[(&str, &[u8], &[u8], bool)] = &[
            ("*", b"PJSIP", b"100", true),
            ("*/*", b"", b"", true),
            ("PJSIP/100", b"PJSIP", b"100", true),
            ("PJSIP/100", b"PJSIP", b"1000", false),
            ("PJSIP/100", b"PJSIP", b"10", false),
            ("pjsip/100", b"PjSip", b"100", true),
            ("PJSIP/abc", b"PJSIP", b"ABC", false),
            ("*@trunk", b"PJSIP", b"1@trunk", true),
            ("*@trunk", b"PJSIP", b"1@trunk/x", false),
            ("*@TRUNK", b"PJSIP", b"1@trunk", false),
            ("PJSIP*", b"PJSIP", b"1", true),
            ("P?SIP/1", b"PJSIP", b"1", true),
            ("P?SIP/1", b"PSIP", b"1", false),
            ("PJSIP/???", b"PJSIP", b"100", true),
            ("PJSIP/???", b"PJSIP", b"10", false),
            ("PJSIP/?", b"PJSIP", b"\xc3\xa9", true),
            ("PJSIP/?", b"PJSIP", b"\xff", true),
            ("PJSIP/??", b"PJSIP", b"\xc3\xa9", false),
            ("PJSIP/caf\u{e9}", b"PJSIP", b"caf\xc3\xa9", true),
            ("*a*b*c", b"x", b"aXbYc", true),
            ("*a*b*c", b"x", b"aXcYb", false),
            ("**", b"a", b"b", true),
            ("Local/*@ctx*", b"Local", b"1@ctx/n", true),
            ("", b"a", b"b", false),
            ("PJSIP/", b"PJSIP", b"", true),
        ];
        for (pattern, tech, dest, expected) in table {
            let rule = ChannelRule { action: RuleAction::Deny, pattern: (*pattern).to_string() };
            assert_eq!(
                rule.matches(tech, dest),
                *expected,
                "{pattern} against {}/{}",
                String::from_utf8_lossy(tech),
                String::from_utf8_lossy(dest)
            );
        }
    }

    #[test]
    fn glob_with_many_stars_on_a_long_candidate_finishes() {
        let pattern = "*a".repeat(50) + "b";
        let rule = ChannelRule { action: RuleAction::Deny, pattern };
        let dest = vec![b'a'; 1000];
        assert!(!rule.matches(b"PJSIP", &dest));
    }

    // ---- Applications ----

    #[test]
    fn denied_applications_match_the_whole_name_in_any_case() {
        let registry = asterisk_functions();
        let table: &[(&[u8], Option<&str>)] = &[
            (b"System", Some(rule::APPLICATION)),
            (b"system", Some(rule::APPLICATION)),
            (b"SYSTEM", Some(rule::APPLICATION)),
            (b"TrySystem", Some(rule::APPLICATION)),
            (b"trysystem", Some(rule::APPLICATION)),
            (b"Systems", None),
            (b"MySystem", None),
            (b"Playback", None),
            (b"Sys\xfftem", None),
        ];
        for (application, expected) in table {
            let call = CallFile { application: application.to_vec(), ..call_to(b"PJSIP/100") };
            assert_eq!(
                check(&call, &Policy::default(), &registry).err().map(|rejection| rejection.rule),
                *expected,
                "{}",
                String::from_utf8_lossy(application)
            );
        }
    }

    #[test]
    fn the_dialplan_is_not_subject_to_the_application_list() {
        let call = CallFile {
            application: Vec::new(),
            context: b"System".to_vec(),
            extension: b"System".to_vec(),
            ..call_to(b"PJSIP/100")
        };
        assert_eq!(check(&call, &Policy::default(), &asterisk_functions()), Ok(()));
    }

    #[test]
    fn the_application_list_is_configurable() {
        let registry = asterisk_functions();
        let nothing_denied = Policy { denied_applications: Vec::new(), ..Policy::default() };
        let system = CallFile { application: b"System".to_vec(), ..call_to(b"PJSIP/100") };
        assert_eq!(check(&system, &nothing_denied, &registry), Ok(()));

        let exec_denied = Policy { denied_applications: vec!["Exec".to_string()], ..Policy::default() };
        let exec = CallFile { application: b"EXEC".to_vec(), ..call_to(b"PJSIP/100") };
        let rejection = check(&exec, &exec_denied, &registry).expect_err("Exec is denied");
        assert_eq!(rejection.rule, rule::APPLICATION);
        assert_eq!(rejection.value, "EXEC");
        assert_eq!(rejection.detail, "application 'EXEC' is denied by deny_application");
    }

    // ---- Dangerous functions ----

    #[test]
    fn writes_to_dangerous_functions_are_refused() {
        let table: &[(&[u8], Option<&str>)] = &[
            (b"FILE(/etc/asterisk/extensions.conf)", Some("FILE")),
            (b"DB(family/key)", Some("DB")),
            (b"FILE()", Some("FILE")),
            (b"FILE(", Some("FILE")),
            (b" FILE (x)", Some("FILE")),
            (b"FILE\t(x)", Some("FILE")),
            (b"_FILE(x)", Some("FILE")),
            (b"__FILE(x)", Some("FILE")),
            (b"FILE(a(b))", Some("FILE")),
            // Asterisk's lookup is case-sensitive: `file` is not the FILE function.
            (b"file(x)", None),
            (b"CALLERID(name)", None),
            (b"FILE", None),
            (b"_FILE", None),
            (b"__FILE", None),
            (b"FILE)", None),
            (b"(x)", None),
            (b"_(x)", None),
            (b"FOO", None),
            (b"F\xffILE(x)", None),
        ];
        for (name, dangerous) in table {
            let registry = asterisk_functions();
            let result = check(&with_variables(&[name]), &Policy::default(), &registry);
            match dangerous {
                None => assert_eq!(result, Ok(()), "{}", String::from_utf8_lossy(name)),
                Some(function) => {
                    let rejection = result.expect_err("dangerous write");
                    assert_eq!(rejection.rule, rule::DANGEROUS_FUNCTION);
                    assert_eq!(rejection.value, shown(name));
                    assert!(rejection.detail.contains(&format!("function {function},")), "{}", rejection.detail);
                }
            }
        }
    }

    #[test]
    fn live_dangerously_allows_dangerous_writes() {
        let registry = FakeRegistry::new(&["FILE"], true);
        let call = with_variables(&[b"FILE(/tmp/x)", b"DB(a/b)"]);
        assert_eq!(check(&call, &Policy::default(), &registry), Ok(()));
    }

    #[test]
    fn the_registry_is_asked_with_the_name_as_written() {
        let registry = asterisk_functions();
        let call = with_variables(&[b"file(x)", b"__Db(x)", b"PLAIN", b"_INHERITED"]);
        assert_eq!(check(&call, &Policy::default(), &registry), Ok(()));
        assert_eq!(*registry.asked.borrow(), vec!["file".to_string(), "__Db".to_string(), "Db".to_string()]);
    }

    #[test]
    fn a_later_dangerous_write_is_found() {
        let call = with_variables(&[b"A", b"CALLERID(num)", b"SHELL(x)"]);
        let rejection = check(&call, &Policy::default(), &asterisk_functions()).expect_err("SHELL is dangerous");
        assert_eq!(rejection.value, "SHELL(x)");
        assert_eq!(
            rejection.detail,
            "Set writes the dialplan function SHELL, which Asterisk only allows with \
             live_dangerously = yes in asterisk.conf"
        );
    }

    // ---- Size caps ----

    #[test]
    fn set_line_cap() {
        let registry = asterisk_functions();
        let names: Vec<&[u8]> = vec![b"V"; DEFAULT_MAX_SET_LINES];
        assert_eq!(check(&with_variables(&names), &Policy::default(), &registry), Ok(()));
        let names: Vec<&[u8]> = vec![b"V"; DEFAULT_MAX_SET_LINES + 1];
        let rejection =
            check(&with_variables(&names), &Policy::default(), &registry).expect_err("one Set line too many");
        assert_eq!(rejection.rule, rule::SET_LINES);
        assert_eq!(rejection.value, "1001");
        assert_eq!(rejection.detail, "1001 Set/SetVar lines, more than max_set_lines (1000)");
        let none_allowed = Policy { max_set_lines: 0, ..Policy::default() };
        assert_eq!(check(&call_to(b"PJSIP/100"), &none_allowed, &registry), Ok(()));
        assert_eq!(
            check(&with_variables(&[b"V"]), &none_allowed, &registry).err().map(|rejection| rejection.rule),
            Some(rule::SET_LINES)
        );
    }

    #[test]
    fn value_length_cap_applies_to_every_value() {
        let registry = asterisk_functions();
        let policy = Policy { max_value_len: 20, ..Policy::default() };
        let long = b"x".repeat(21);
        let exact = b"x".repeat(20);
        let base = call_to(b"PJSIP/100");
        let with_long_variable_value = CallFile { variables: vec![(b"V".to_vec(), long.clone())], ..base.clone() };
        let with_long_variable_name = CallFile { variables: vec![(long.clone(), b"v".to_vec())], ..base.clone() };
        let table: Vec<(&str, CallFile)> = vec![
            ("Data", CallFile { data: long.clone(), ..base.clone() }),
            ("Application", CallFile { application: long.clone(), ..base.clone() }),
            ("CallerID name", CallFile { cid_name: long.clone(), ..base.clone() }),
            ("CallerID number", CallFile { cid_num: long.clone(), ..base.clone() }),
            ("Context", CallFile { context: long.clone(), ..base.clone() }),
            ("Extension", CallFile { extension: long.clone(), ..base.clone() }),
            ("Account", CallFile { account: long.clone(), ..base.clone() }),
            ("Codecs", CallFile { codecs: vec![long.clone()], ..base.clone() }),
            ("Channel", CallFile { dest: b"1".repeat(15), ..base.clone() }),
            ("Set value", with_long_variable_value),
            ("Set variable name", with_long_variable_name),
        ];
        for (label, call) in table {
            let rejection = check(&call, &policy, &registry).expect_err(label);
            assert_eq!(rejection.rule, rule::VALUE_LENGTH, "{label}");
            assert!(rejection.detail.starts_with(&format!("{label} is ")), "{}", rejection.detail);
            assert!(rejection.detail.ends_with("more than max_value_len (20)"));
        }
        let at_the_limit = CallFile { data: exact.clone(), variables: vec![(exact.clone(), exact)], ..base };
        assert_eq!(check(&at_the_limit, &policy, &registry), Ok(()));
    }

    #[test]
    fn default_value_cap_is_4096_bytes() {
        let registry = asterisk_functions();
        let ok = CallFile { data: vec![b'x'; 4096], ..call_to(b"PJSIP/100") };
        assert_eq!(check(&ok, &Policy::default(), &registry), Ok(()));
        let too_long = CallFile { data: vec![b'x'; 4097], ..call_to(b"PJSIP/100") };
        let rejection = check(&too_long, &Policy::default(), &registry).expect_err("too long");
        assert_eq!(rejection.rule, rule::VALUE_LENGTH);
        assert_eq!(rejection.value.chars().count(), SHOWN_VALUE_MAX_CHARS + 3);
        assert_eq!(rejection.detail, "Data is 4097 bytes long, more than max_value_len (4096)");
    }

    // ---- The whole check ----

    #[test]
    fn a_plain_call_passes() {
        let call = CallFile {
            cid_name: b"Campaign".to_vec(),
            cid_num: b"100".to_vec(),
            variables: vec![(b"CAMPAIGN".to_vec(), b"spring".to_vec()), (b"CALLERID(name)".to_vec(), b"x".to_vec())],
            ..call_to(b"Local/123@campaign/n")
        };
        let registry = asterisk_functions();
        assert_eq!(check(&call, &Policy::default(), &registry), Ok(()));
    }

    #[test]
    fn checks_run_in_a_fixed_order() {
        let registry = asterisk_functions();
        let policy = Policy { max_set_lines: 1, max_value_len: 100, ..Policy::default() };
        let everything_wrong = CallFile {
            application: b"System".to_vec(),
            data: vec![b'x'; 101],
            variables: vec![(b"FILE(x)".to_vec(), b"y".to_vec()), (b"FILE(z)".to_vec(), b"y".to_vec())],
            ..call_to(b"PJSIP/1@trunk")
        };
        let mut call = everything_wrong;
        let mut rules_seen = Vec::new();
        while let Err(rejection) = check(&call, &policy, &registry) {
            rules_seen.push(rejection.rule);
            match rejection.rule {
                rule::SET_LINES => call.variables.truncate(1),
                rule::VALUE_LENGTH => call.data.truncate(1),
                rule::FIRST_LEG => call.dest = b"100".to_vec(),
                rule::APPLICATION => call.application = b"Echo".to_vec(),
                rule::DANGEROUS_FUNCTION => call.variables.clear(),
                other => panic!("unexpected rule {other}"),
            }
        }
        assert_eq!(
            rules_seen,
            vec![rule::SET_LINES, rule::VALUE_LENGTH, rule::FIRST_LEG, rule::APPLICATION, rule::DANGEROUS_FUNCTION]
        );
    }

    // ---- Log text ----

    #[test]
    fn message_is_one_line_in_the_agreed_form() {
        let rejection = Rejection::new(rule::APPLICATION, b"System", "why".to_string());
        assert_eq!(
            rejection.message("/var/spool/asterisk/outgoing/a.call"),
            "Rejected /var/spool/asterisk/outgoing/a.call: why (rule application, value 'System')"
        );
        assert_eq!(
            rejection.message("a\nWARNING forged.call"),
            "Rejected a\\x0aWARNING forged.call: why (rule application, value 'System')"
        );
    }

    #[test]
    fn shown_values_are_printable_and_bounded() {
        let table: &[(&[u8], &str)] = &[
            (b"plain", "plain"),
            (b"caf\xc3\xa9", "caf\u{e9}"),
            (b"a\nb\rc\td\x1be\x7f", "a\\x0ab\\x0dc\\x09d\\x1be\\x7f"),
            (b"bad\xff\xfeutf8", "bad\\xff\\xfeutf8"),
            (b"\xc3", "\\xc3"),
            ("rtl\u{202e}txet".as_bytes(), "rtl\\u{202e}txet"),
            ("line\u{2028}sep".as_bytes(), "line\\u{2028}sep"),
            ("c1\u{85}".as_bytes(), "c1\\x85"),
            (b"", ""),
        ];
        for (bytes, expected) in table {
            assert_eq!(shown(bytes), *expected);
        }
        let long = shown(&[b'a'; 1000]);
        assert_eq!(long, format!("{}...", "a".repeat(SHOWN_VALUE_MAX_CHARS)));
        let long_escapes = shown(&[b'\n'; 1000]);
        assert!(long_escapes.ends_with("..."));
        assert!(long_escapes.chars().count() <= SHOWN_VALUE_MAX_CHARS + 3);
        assert!(!long_escapes.contains('\n'));
        // Escapes are never cut in half.
        assert!(long_escapes.trim_end_matches("...").ends_with("\\x0a"));
        assert_eq!(shown(&[b'a'; SHOWN_VALUE_MAX_CHARS]).len(), SHOWN_VALUE_MAX_CHARS);
    }

    // ---- Nothing panics ----

    use crate::testing::XorShift;

    const PIECES: [&[u8]; 14] =
        [b"Local", b"PJSIP", b"/", b"@", b":", b"*", b"?", b"(", b")", b"_", b"\xc3\xa9", b"\xff", b"\n", b"FILE"];

    fn random_bytes(random: &mut XorShift) -> Vec<u8> {
        let mut bytes = Vec::new();
        for _ in 0..random.below(12) {
            if random.below(2) == 0 {
                bytes.extend_from_slice(PIECES[random.below(PIECES.len())]);
            } else {
                bytes.push(random.next() as u8);
            }
        }
        bytes
    }

    #[test]
    fn pseudo_random_inputs_never_panic() {
        let mut random = XorShift(0x9e37_79b9_7f4a_7c15);
        let registry = asterisk_functions();
        for _ in 0..5000 {
            let pattern = String::from_utf8_lossy(&random_bytes(&mut random)).into_owned();
            let action = if random.below(2) == 0 { RuleAction::Allow } else { RuleAction::Deny };
            let mode = [FirstLegMode::Local, FirstLegMode::Strict, FirstLegMode::Any][random.below(3)];
            let policy = Policy {
                first_leg: mode,
                channel_rules: vec![ChannelRule { action, pattern }],
                max_value_len: random.below(40),
                ..Policy::default()
            };
            let call = CallFile {
                tech: random_bytes(&mut random),
                dest: random_bytes(&mut random),
                application: random_bytes(&mut random),
                variables: vec![(random_bytes(&mut random), random_bytes(&mut random))],
                ..CallFile::default()
            };
            if let Err(rejection) = check(&call, &policy, &registry) {
                let line = rejection.message("f.call");
                assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
            }
        }
    }

    // ---- What an Application: line runs and writes ----

    fn running(application: &[u8], data: &[u8]) -> CallFile {
        CallFile { application: application.to_vec(), data: data.to_vec(), ..call_to(b"Local/s@ctx") }
    }

    fn rule_of(call: &CallFile, registry: &FakeRegistry) -> Option<&'static str> {
        check(call, &Policy::default(), registry).err().map(|rejection| rejection.rule)
    }

    #[test]
    fn exec_cannot_smuggle_a_denied_application() {
        let registry = asterisk_functions();
        assert_eq!(rule_of(&running(b"Exec", b"System(rm -rf /)"), &registry), Some(rule::APPLICATION));
        assert_eq!(rule_of(&running(b"TryExec", b" trysystem (id)"), &registry), Some(rule::APPLICATION));
        assert_eq!(rule_of(&running(b"Exec", b"Exec(Exec(System(id)))"), &registry), Some(rule::APPLICATION));
        let deep = running(b"Exec", b"Exec(Exec(Exec(Exec(Exec(Playback(x))))))");
        assert_eq!(rule_of(&deep, &registry), Some(rule::APPLICATION));
        assert_eq!(rule_of(&running(b"Exec", b"Playback(hello-world)"), &registry), None);
    }

    #[test]
    fn set_and_mset_applications_are_held_to_the_dangerous_function_rule() {
        let registry = asterisk_functions();
        assert_eq!(rule_of(&running(b"Set", b"FILE(/tmp/x)=evil"), &registry), Some(rule::DANGEROUS_FUNCTION));
        assert_eq!(rule_of(&running(b"MSet", b"A=1,DB(f/k)=2"), &registry), Some(rule::DANGEROUS_FUNCTION));
        assert_eq!(rule_of(&running(b"Exec", b"Set(SHELL(x)=y)"), &registry), Some(rule::DANGEROUS_FUNCTION));
        assert_eq!(rule_of(&running(b"Set", b"GREETING=hello"), &registry), None);
        assert_eq!(rule_of(&running(b"Set", b"FILE(/tmp/x)=evil"), &FakeRegistry::new(&["FILE"], true)), None);
    }
}
