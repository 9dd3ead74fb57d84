//! The keys `[general]` accepts and which of them may repeat, and the names pbx_spool_rs.conf
//! reserves (the `[general]` section, `deny_application = none`).
//!
//! Names and what each is for ([`KeyDoc`], rendered into the XML documentation): what a key does to the
//! settings is `reader.rs`'s, what its value may be `values.rs`'s.

use super::settings::SpoolConfig;

pub const GENERAL_CATEGORY: &str = "general";
/// The `deny_application` value that empties the list.
pub(super) const NO_APPLICATIONS: &str = "none";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Key {
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
    Dnc,
    RetryRules,
}

pub(super) const KEYS: [(&str, Key); 25] = [
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
    ("dnc", Key::Dnc),
    ("retry_rules", Key::RetryRules),
];

impl Key {
    /// Case-insensitive, as Asterisk modules compare their keys.
    pub(super) fn recognise(key: &str) -> Option<Key> {
        KEYS.iter().find(|(name, _)| key.eq_ignore_ascii_case(name)).map(|&(_, known)| known)
    }

    pub(super) fn is_repeatable(self) -> bool {
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
                | Key::Dnc
        )
    }
}

/// What one key of pbx_spool_rs.conf is for, as `config show help` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDoc {
    pub name: &'static str,
    /// One line.
    pub synopsis: &'static str,
    /// Paragraphs.
    pub description: &'static [&'static str],
    /// The value in force when the key is not written, as an admin would write it (or says it).
    pub default: String,
    /// Whether the key may be written several times, each line adding to the last.
    pub repeatable: bool,
    /// The kind of value, in the words `config show help` uses for Asterisk's own options.
    pub value_type: &'static str,
}

impl Key {
    /// This key's documentation; its default is read from [`SpoolConfig::default`], so it cannot differ
    /// from the value in force.
    pub(super) fn doc(self, name: &'static str) -> KeyDoc {
        let defaults = SpoolConfig::default();
        let policy = &defaults.policy;
        let none = || "none".to_string();
        let (synopsis, description, default): (&'static str, &'static [&'static str], String) = match self {
            Key::FirstLeg => (
                "Where the first leg (Channel:) may go: local, strict or any.",
                &[
                    "local: Local channels into this PBX's dialplan and bare endpoints the channel driver knows \
                     (PJSIP/100); anything that dials out directly (PJSIP/123@trunk, DAHDI/g1/555) is refused. \
                     strict: bare endpoints only. any: no check, as stock pbx_spool.",
                    "The same mode applies to the channels an application from a call file dials (Dial, Page, \
                     Originate, ...).",
                ],
                policy.first_leg.keyword().to_string(),
            ),
            Key::Allow => (
                "A channel pattern (Tech/Dest, * and ?) the first and second legs may dial despite first_leg.",
                &["Rules are read in order with deny; the last one that matches decides, else first_leg does."],
                none(),
            ),
            Key::Deny => (
                "A channel pattern (Tech/Dest, * and ?) refused to the first and second legs.",
                &["Rules are read in order with allow; the last one that matches decides, else first_leg does."],
                none(),
            ),
            Key::AllowApplication => (
                "Adds one application a call file may run (Application:, and what Exec or Originate run).",
                &["Read docs/security.md first: Exec, System, Set and others reach a shell or the whole PBX."],
                policy.allowed_applications.join(", "),
            ),
            Key::DenyApplication => (
                "Refuses an application even when allowed; none refuses nothing beyond the allow list.",
                &["The first line replaces the default list."],
                if policy.denied_applications.is_empty() {
                    NO_APPLICATIONS.to_string()
                } else {
                    policy.denied_applications.join(", ")
                },
            ),
            Key::AllowFunction => (
                "Admits writing one dialplan function (NAME) or one field of it (NAME(field)) from Set: lines.",
                &["By default only CALLERID, CONNECTEDLINE, CDR(userfield), CHANNEL(language|musicclass) and \
                   TIMEOUT may be written."],
                if policy.allowed_functions.is_empty() { none() } else { policy.allowed_functions.join(", ") },
            ),
            Key::AllowArgument => (
                "Admits one refused argument or option of a default application, as Application:option.",
                &["A refusal names the line that admits it, such as allow_argument = Queue:x."],
                none(),
            ),
            Key::AllowContext => (
                "A context a call file may enter the dialplan at: <context pattern>[,<priority|label|*>].",
                &["Without any allow_context line every context may be entered, at priority 1 only. Once one is \
                   written, only the contexts allowed are. The last matching line decides."],
                "every context, at priority 1".to_string(),
            ),
            Key::DenyContext => (
                "A context a call file may not enter: <context pattern>[,<priority|label|*>].",
                &["Read in order with allow_context; the last matching line decides."],
                none(),
            ),
            Key::AllowConference => (
                "A ConfBridge conference (pattern) a call file may join; once written, only those.",
                &["The last matching allow_conference or deny_conference line decides."],
                "every conference".to_string(),
            ),
            Key::DenyConference => (
                "A ConfBridge conference (pattern) a call file may not join.",
                &["The last matching allow_conference or deny_conference line decides."],
                none(),
            ),
            Key::AllowVariable => (
                "Admits one variable that Asterisk reads as configuration (MONITOR_EXEC, ...) or a dialplan global.",
                &["Such variables are refused in every form (X, _X, __X) unless admitted by name."],
                none(),
            ),
            Key::MaxSetLines => {
                ("Most Set:/SetVar: lines in one call file (0 = none allowed).", &[], policy.max_set_lines.to_string())
            }
            Key::MaxValueLen => (
                "Most bytes in any single value of a call file (Data, a Set value, CallerID, ...); at least 1.",
                &[],
                policy.max_value_len.to_string(),
            ),
            Key::MaxFileSize => (
                "Call files larger than this many bytes are refused unread; at least 128.",
                &[],
                defaults.max_file_size.to_string(),
            ),
            Key::OwnerCheck => (
                "Only dial call files owned by an allowed user (yes/no).",
                &[],
                crate::text::yes_no(defaults.owner_check).to_string(),
            ),
            Key::AllowedOwner => (
                "A user (name or numeric uid) whose call files are accepted.",
                &["With no allowed_owner line: the user Asterisk runs as, or root."],
                "the user Asterisk runs as, or root".to_string(),
            ),
            Key::MaxCalls => (
                "Most spool calls in progress at once; 0 = unlimited.",
                &["Separate from asterisk.conf's maxcalls, which limits all channels. Per server on a shared spool."],
                defaults.max_calls.unwrap_or(0).to_string(),
            ),
            Key::MaxRate => (
                "Most spool calls started per second (fractions allowed, 0.5 = one every two seconds); 0 = unlimited.",
                &["At most 100000. Per server on a shared spool."],
                defaults.max_rate.unwrap_or(0.0).to_string(),
            ),
            Key::Shared => (
                "yes: several Asterisk servers share the spool directory, each file claimed with a lock.",
                &["Every server on the spool must run pbx_spool_rs with shared = yes, and none may load pbx_spool.so."],
                crate::text::yes_no(defaults.shared).to_string(),
            ),
            Key::Watch => (
                "How new call files are found: inotify, scan (every scan_interval) or both.",
                &["Default: both with shared = yes, else inotify (blind to files other hosts write on a network \
                   file system)."],
                defaults.watch_mode().keyword().to_string(),
            ),
            Key::ScanInterval => (
                "Milliseconds between directory scans (watch = scan or both); at least 50.",
                &[],
                defaults.scan_interval_ms.to_string(),
            ),
            Key::Node => (
                "This server's name in log lines, AMI events (Node:) and spool show status, on a shared spool.",
                &[],
                "the host name".to_string(),
            ),
            Key::Dnc => (
                "A do-not-call list (absolute path): numbers no call file may dial. Repeatable.",
                DNC_DESCRIPTION,
                none(),
            ),
            Key::RetryRules => (
                "The delay before the next attempt after each outcome: busy:5m, noanswer:1h, unallocated:never.",
                &[
                    "Comma-separated outcome:delay pairs; the delay in seconds (300) or with s, m or h (5m, 1h), \
                     or never, which finishes the file (Status: Expired). Outcomes: answered is never retried; \
                     busy, congestion, noanswer, hangup, failed, unallocated, rejected, or a name the dialplan \
                     chooses.",
                    "Attempts stay within the file's MaxRetries; an outcome without a rule waits the file's \
                     RetryTime. A campaign's retry_rules come first for its files.",
                ],
                if defaults.retry_rules.is_empty() {
                    "none (RetryTime)".to_string()
                } else {
                    defaults.retry_rules.to_string()
                },
            ),
        };
        KeyDoc { name, synopsis, description, default, repeatable: self.is_repeatable(), value_type: self.value_type() }
    }

    fn value_type(self) -> &'static str {
        match self {
            Key::OwnerCheck | Key::Shared => "Boolean",
            Key::MaxSetLines | Key::MaxValueLen | Key::MaxFileSize | Key::MaxCalls | Key::ScanInterval => {
                "Unsigned Integer"
            }
            Key::MaxRate => "Double",
            _ => "String",
        }
    }
}

/// What a `dnc` line does, shared by `[general]` and the campaigns' sections.
pub const DNC_DESCRIPTION: &[&str] = &[
    "One number per line; ; and # start comments; blank lines are skipped. A number is its digits: +, blanks, \
     -, ., ( and ) are dropped, a leading + or 00 is kept as written (+4930123 is 4930123, not 004930123). Lines \
     with anything else are skipped and reported with their line number.",
    "Checked before every attempt against the number the Channel dials (Local: the extension; Tech/peer/number: \
     the number; Tech/number@peer: the part before @). A listed file ends as Rejected (rule dnc), archived with \
     Status: Failed. A campaign's lists apply to its files besides [general]'s.",
    "The file is read again when it changes (stat before each attempt), without a reload. An unreadable list \
     keeps its last good copy in force; one never read stops the files it applies to from being dialled \
     (tried again every minute) until it can be read.",
];

/// The documentation of every `[general]` key, in the order `[general]` keys are declared.
pub fn general_key_docs() -> Vec<KeyDoc> {
    KEYS.iter().map(|&(name, key)| key.doc(name)).collect()
}
