//! Where a call file enters the dialplan and which conferences it joins, and the per-argument check of
//! every application it runs: `Context:` with `Priority:`, Local channels (first leg and second legs,
//! always at priority 1), Originate's `exten` target, the contexts applications send digits to; and
//! ConfBridge's conference. Judged by `allow_context`/`deny_context` and
//! `allow_conference`/`deny_conference` (pbx_spool_rs.conf), and each argument by [`crate::arguments`].
//!
//! Default: every context at priority 1 (a call file's entry point is where a context starts, where
//! the admin puts its guards), every conference. Entering at another priority or a label needs a rule
//! that names that entry.
//!
//! Pure: a call file and a policy in, a verdict out. No I/O, no FFI. Never panics.

use crate::arguments::{self, Entry, Priority};
use crate::callfile::CallFile;
use crate::channel::Channel;
use crate::policy::{glob_matches, Policy, Rejection, RuleAction};
use crate::text::escaped;

/// The rule names a refusal here gives.
pub mod rule {
    pub const ARGUMENT: &str = "argument";
    pub const CONTEXT: &str = "context";
    pub const CONFERENCE: &str = "conference";
}

/// Which entry points of a context a rule covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryPoints {
    /// Every priority and label (`allow_context = sales,*`).
    Any,
    /// One priority (`allow_context = sales` is priority 1).
    Priority(i64),
    /// One label, compared exactly.
    Label(String),
}

/// One `allow_context` / `deny_context` line: `<context glob>[,<priority|label|*>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextRule {
    pub action: RuleAction,
    /// Glob (`*`, `?`) over the context name, compared exactly (Asterisk's context names are
    /// case-sensitive).
    pub context: String,
    pub entry: EntryPoints,
}

/// One `allow_conference` / `deny_conference` line: a glob over ConfBridge's conference name, compared
/// ASCII case-insensitively (ConfBridge finds conferences with `strcasecmp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConferenceRule {
    pub action: RuleAction,
    pub pattern: String,
}

impl ContextRule {
    /// Parses the value of an `allow_context` / `deny_context` line.
    ///
    /// # Errors
    ///
    /// A sentence for the admin when the value is empty or its entry point is not a positive
    /// number, a label or `*`.
    pub fn parse(action: RuleAction, value: &str) -> Result<ContextRule, String> {
        let (context, entry) = match value.split_once(',') {
            Some((context, entry)) => (context.trim(), Some(entry.trim())),
            None => (value.trim(), None),
        };
        if context.is_empty() {
            return Err("expected <context>[,<priority|label|*>]".to_string());
        }
        let entry = match entry {
            None => EntryPoints::Priority(1),
            Some("*") => EntryPoints::Any,
            Some(text) => match text.parse::<i64>() {
                Ok(number) if number >= 1 => EntryPoints::Priority(number),
                Ok(_) => return Err("a priority is 1 or more".to_string()),
                Err(_) if !text.is_empty() && !text.contains([',', ' ', '\t']) => EntryPoints::Label(text.to_string()),
                Err(_) => return Err("expected a priority, a label or * after the comma".to_string()),
            },
        };
        Ok(ContextRule { action, context: context.to_string(), entry })
    }

    fn matches(&self, entry: &Entry) -> bool {
        let entry_matches = match (&self.entry, &entry.priority) {
            (EntryPoints::Any, _) => true,
            (EntryPoints::Priority(wanted), Priority::Number(number)) => wanted == number,
            (EntryPoints::Label(wanted), Priority::Label(label)) => wanted.as_bytes() == label.as_slice(),
            _ => false,
        };
        entry_matches && glob_matches(self.context.as_bytes(), &entry.context, 0)
    }

    /// The line as pbx_spool_rs.conf writes it.
    pub fn written(&self) -> String {
        let entry = match &self.entry {
            EntryPoints::Any => ",*".to_string(),
            EntryPoints::Priority(1) => String::new(),
            EntryPoints::Priority(number) => format!(",{number}"),
            EntryPoints::Label(label) => format!(",{label}"),
        };
        format!("{}_context = {}{entry}", self.action.keyword(), self.context)
    }
}

impl ConferenceRule {
    /// The line as pbx_spool_rs.conf writes it.
    pub fn written(&self) -> String {
        format!("{}_conference = {}", self.action.keyword(), self.pattern)
    }
}

fn priority_text(priority: &Priority) -> String {
    match priority {
        Priority::Number(number) => number.to_string(),
        Priority::Label(label) => shown(label),
    }
}

fn shown(bytes: &[u8]) -> String {
    escaped(bytes, 200)
}

/// Whether `entry` may be entered: the last matching rule decides; without one, priority 1 of any
/// context when no `allow_context` line is written, nothing otherwise.
fn entry_verdict(entry: &Entry, policy: &Policy) -> Result<(), Rejection> {
    let place = format!(
        "{} enters context '{}' at priority {}",
        entry.by,
        shown(&entry.context),
        priority_text(&entry.priority)
    );
    let admit = match &entry.priority {
        Priority::Number(1) => format!("allow_context = {}", shown(&entry.context)),
        other => format!("allow_context = {},{}", shown(&entry.context), priority_text(other)),
    };
    let deciding = policy.context_rules.iter().rev().find(|rule| rule.matches(entry));
    let detail = match deciding {
        Some(rule) if rule.action == RuleAction::Allow => return Ok(()),
        Some(rule) => format!("{place}, which '{}' refuses", rule.written()),
        None if policy.context_rules.iter().any(|rule| rule.action == RuleAction::Allow) => {
            format!("{place}, which no allow_context line admits ('{admit}' would)")
        }
        None if entry.priority == Priority::Number(1) => return Ok(()),
        None => format!(
            "{place}: a call file starts a context at its first priority, before the guards an admin puts there \
             ('{admit}' admits this entry)"
        ),
    };
    Err(Rejection::new(rule::CONTEXT, &entry.context, detail))
}

fn conference_verdict(application: &[u8], conference: &[u8], policy: &Policy) -> Result<(), Rejection> {
    // ConfBridge finds conferences with strcasecmp: `BOARD` is the conference `board`.
    let deciding = policy
        .conference_rules
        .iter()
        .rev()
        .find(|rule| glob_matches(rule.pattern.as_bytes(), conference, conference.len()));
    let subject = format!("{} joins conference '{}'", shown(application), shown(conference));
    let detail = match deciding {
        Some(rule) if rule.action == RuleAction::Allow => return Ok(()),
        Some(rule) => format!("{subject}, which '{}' refuses", rule.written()),
        None if policy.conference_rules.iter().any(|rule| rule.action == RuleAction::Allow) => {
            format!("{subject}, which no allow_conference line admits")
        }
        None => return Ok(()),
    };
    Err(Rejection::new(rule::CONFERENCE, conference, detail))
}

fn local_entry(channel: &Channel, by: String) -> Option<Entry> {
    let local = channel.local.as_ref()?;
    Some(Entry { context: local.context.clone(), priority: Priority::Number(1), by })
}

/// Every argument of every application `call` runs, every context it enters and every conference it
/// joins. `runs` are the applications the call file runs (its `Application:` and those run through it),
/// as the policy found them; the dialled channels among `dialled` are second legs.
///
/// # Errors
///
/// The first refusal, under [`rule::ARGUMENT`], [`rule::CONTEXT`] or [`rule::CONFERENCE`].
pub fn check(
    call: &CallFile,
    runs: &[(Vec<u8>, Vec<u8>)],
    dialled: &[(Vec<u8>, Channel)],
    policy: &Policy,
) -> Result<(), Rejection> {
    if call.application.is_empty() {
        let entry = Entry {
            context: call.context.clone(),
            priority: Priority::Number(i64::from(call.priority)),
            by: "the call file's Context/Priority".to_string(),
        };
        entry_verdict(&entry, policy)?;
    }
    let first_leg = Channel::from_parts(&call.tech, &call.dest);
    if let Some(entry) = local_entry(&first_leg, "the first leg (a Local channel)".to_string()) {
        entry_verdict(&entry, policy)?;
    }
    for (application, channel) in dialled {
        if let Some(entry) = local_entry(channel, format!("{}'s Local channel", shown(application))) {
            entry_verdict(&entry, policy)?;
        }
    }
    for (application, data) in runs {
        let reading = arguments::judge(application, data, &policy.allowed_arguments)
            .map_err(|refusal| Rejection::new(rule::ARGUMENT, &refusal.value, refusal.detail))?;
        for entry in &reading.entries {
            entry_verdict(entry, policy)?;
        }
        for conference in &reading.conferences {
            conference_verdict(application, conference, policy)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(context: &str, priority: Priority) -> Entry {
        Entry { context: context.as_bytes().to_vec(), priority, by: "test".to_string() }
    }

    fn rules(lines: &[(RuleAction, &str)]) -> Policy {
        Policy {
            context_rules: lines.iter().map(|(action, value)| ContextRule::parse(*action, value).unwrap()).collect(),
            ..Policy::default()
        }
    }

    #[test]
    fn by_default_every_context_at_its_first_priority() {
        let policy = Policy::default();
        assert!(entry_verdict(&entry("outbound", Priority::Number(1)), &policy).is_ok());
        let refusal = entry_verdict(&entry("outbound", Priority::Number(3)), &policy).unwrap_err();
        assert_eq!(refusal.rule, rule::CONTEXT);
        assert!(refusal.detail.contains("'allow_context = outbound,3' admits this entry"), "{}", refusal.detail);
        assert!(entry_verdict(&entry("outbound", Priority::Label(b"dial".to_vec())), &policy).is_err());
    }

    #[test]
    fn allow_context_lists_the_contexts_and_entries() {
        use RuleAction::{Allow, Deny};
        let policy = rules(&[(Allow, "campaign"), (Allow, "sales-*,start"), (Allow, "any,*"), (Deny, "any,2")]);
        let table = [
            ("campaign", Priority::Number(1), true),
            ("campaign", Priority::Number(2), false),
            ("outbound", Priority::Number(1), false),
            ("sales-east", Priority::Label(b"start".to_vec()), true),
            ("sales-east", Priority::Number(1), false),
            ("any", Priority::Number(7), true),
            ("any", Priority::Number(2), false),
            ("Campaign", Priority::Number(1), false),
        ];
        for (context, priority, admitted) in table {
            let verdict = entry_verdict(&entry(context, priority.clone()), &policy);
            assert_eq!(verdict.is_ok(), admitted, "{context} {priority:?}: {verdict:?}");
        }
        let only_deny = rules(&[(Deny, "trunk-*")]);
        assert!(entry_verdict(&entry("campaign", Priority::Number(1)), &only_deny).is_ok());
        let refusal = entry_verdict(&entry("trunk-out", Priority::Number(1)), &only_deny).unwrap_err();
        assert!(refusal.detail.ends_with("which 'deny_context = trunk-*' refuses"), "{}", refusal.detail);
    }

    #[test]
    fn rule_values_parse() {
        assert_eq!(ContextRule::parse(RuleAction::Allow, " campaign , 3 ").unwrap().entry, EntryPoints::Priority(3));
        assert_eq!(ContextRule::parse(RuleAction::Allow, "c,*").unwrap().entry, EntryPoints::Any);
        assert_eq!(ContextRule::parse(RuleAction::Allow, "c,go").unwrap().entry, EntryPoints::Label("go".to_string()));
        for bad in ["", ",1", "c,0", "c,", "c,a b"] {
            assert!(ContextRule::parse(RuleAction::Allow, bad).is_err(), "{bad}");
        }
    }

    fn call(text: &str) -> CallFile {
        crate::callfile::parse(text.as_bytes()).call
    }

    #[test]
    fn call_files_enter_where_they_say() {
        let policy = Policy::default();
        let priority_three = call("Channel: PJSIP/100\nContext: outbound\nExtension: 5551234\nPriority: 3\n");
        assert_eq!(check(&priority_three, &[], &[], &policy).unwrap_err().rule, rule::CONTEXT);
        let priority_one = call("Channel: Local/s@campaign\nContext: outbound\nExtension: 5551234\nPriority: 1\n");
        assert!(check(&priority_one, &[], &[], &policy).is_ok());
        let restricted = rules(&[(RuleAction::Allow, "campaign")]);
        let refusal = check(&priority_one, &[], &[], &restricted).unwrap_err();
        assert_eq!(refusal.value, "outbound");
        let local_elsewhere = call("Channel: Local/s@trunk\nApplication: Playback\nData: hello\n");
        assert_eq!(check(&local_elsewhere, &[], &[], &restricted).unwrap_err().value, "trunk");
    }

    #[test]
    fn conferences_follow_their_rules() {
        let mut policy = Policy::default();
        assert!(conference_verdict(b"ConfBridge", b"board", &policy).is_ok());
        policy.conference_rules.push(ConferenceRule { action: RuleAction::Allow, pattern: "campaign-*".to_string() });
        assert!(conference_verdict(b"ConfBridge", b"campaign-7", &policy).is_ok());
        let refusal = conference_verdict(b"ConfBridge", b"board", &policy).unwrap_err();
        assert_eq!(refusal.rule, rule::CONFERENCE);
    }

    #[test]
    fn conference_rules_ignore_letter_case_as_confbridge_does() {
        let mut policy = Policy::default();
        policy.conference_rules.push(ConferenceRule { action: RuleAction::Deny, pattern: "board".to_string() });
        for spelling in [&b"board"[..], b"BOARD", b"Board", b"bOaRd"] {
            assert!(conference_verdict(b"ConfBridge", spelling, &policy).is_err(), "{}", shown(spelling));
        }
        assert!(conference_verdict(b"ConfBridge", b"boards", &policy).is_ok());
        policy.conference_rules = vec![ConferenceRule { action: RuleAction::Allow, pattern: "campaign-*".to_string() }];
        assert!(conference_verdict(b"ConfBridge", b"Campaign-7", &policy).is_ok());
    }

    #[test]
    fn allow_argument_does_not_lift_the_context_and_conference_rules() {
        let policy = Policy {
            allowed_arguments: vec!["ConfBridge:conference".to_string(), "Originate:arg1".to_string()],
            conference_rules: vec![ConferenceRule { action: RuleAction::Deny, pattern: "board".to_string() }],
            ..Policy::default()
        };
        let confbridge = call("Channel: Local/s@answer\nApplication: ConfBridge\nData: BOARD\n");
        let runs = [(b"ConfBridge".to_vec(), b"BOARD".to_vec())];
        assert_eq!(check(&confbridge, &runs, &[], &policy).unwrap_err().rule, rule::CONFERENCE);
        let odd_name = [(b"ConfBridge".to_vec(), b"\"room one\"".to_vec())];
        assert!(check(&confbridge, &odd_name, &[], &policy).is_ok());
        let originate = [(b"Originate".to_vec(), b"Local/s@a,exten,outbound,s,3".to_vec())];
        assert_eq!(check(&confbridge, &originate, &[], &policy).unwrap_err().rule, rule::CONTEXT);
    }
}
