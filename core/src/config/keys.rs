//! The keys `[general]` accepts and which of them may repeat, and the names pbx_spool_rs.conf
//! reserves (the `[general]` section, `deny_application = none`).
//!
//! Names only: what a key does to the settings is `reader.rs`'s, what its value may be `values.rs`'s.

pub(super) const GENERAL_CATEGORY: &str = "general";
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
}

pub(super) const KEYS: [(&str, Key); 23] = [
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
        )
    }
}
