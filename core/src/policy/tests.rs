//! Unit tests of the policy: each check on call files built in place, with fake registries of what
//! Asterisk knows.

use super::rejection::SHOWN_VALUE_MAX_CHARS;
use super::*;
use crate::text::split_at_first;
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

    fn is_dialplan_global(&self, _name: &[u8]) -> bool {
        false
    }

    /// The PBX has the PJSIP, SIP and IAX2 drivers (technology names compare case-insensitively),
    /// and these endpoints in each.
    fn endpoint(&self, tech: &[u8], dest: &[u8]) -> Endpoint {
        let drivers: [&[u8]; 3] = [b"PJSIP", b"SIP", b"IAX2"];
        if !drivers.iter().any(|driver| tech.eq_ignore_ascii_case(driver)) {
            return Endpoint::NoSuchTechnology;
        }
        let endpoints: [&[u8]; 6] = [b"100", b"101", b"alice", b"alice.desk", b"\xff\xfe", b"caf\xc3\xa9"];
        if endpoints.contains(&dest) {
            Endpoint::Known
        } else {
            Endpoint::Unknown
        }
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
    first_leg_verdict(tech, dest, policy, &asterisk_functions()).err().map(|rejection| rejection.rule)
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
    let rejection = first_leg_verdict(b"PJSIP", b"123@trunk", &Policy::default(), &asterisk_functions())
        .expect_err("a trunk call must be refused");
    assert_eq!(rejection.value, "PJSIP/123@trunk");
    assert_eq!(
        rejection.detail,
        "the first leg dials out of this PBX directly; first_leg = local allows only \
         Local channels and bare endpoints of this PBX ('allow = PJSIP/123@trunk' admits it)"
    );
    let rejection = first_leg_verdict(b"Local", b"1@ctx", &with_mode(FirstLegMode::Strict), &asterisk_functions())
        .expect_err("Local is refused in strict mode");
    assert_eq!(
        rejection.detail,
        "the first leg is a Local channel; first_leg = strict allows only bare endpoints \
         of this PBX ('allow = Local/1@ctx' admits it)"
    );
    let rejection = first_leg_verdict(b"Local", b"@", &Policy::default(), &asterisk_functions())
        .expect_err("an empty Local target is refused");
    assert!(rejection.detail.starts_with("malformed Local channel"));
    let rejection = first_leg_verdict(b"PJSIP", b"", &Policy::default(), &asterisk_functions())
        .expect_err("an empty destination is refused");
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
    let rejection =
        first_leg_verdict(b"Local", b"1@other", &policy, &asterisk_functions()).expect_err("denied by the rule");
    assert_eq!(rejection.rule, rule::CHANNEL_RULE);
    assert_eq!(
        rejection.detail,
        "channel matches 'deny = Local/*' (an 'allow = Local/1@other' line after it admits it)"
    );
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
        // Neither denied nor allowed: refused as not allowed.
        (b"Sys\xfftem", Some(rule::APPLICATION)),
    ];
    // Everything in the table allowed, so only deny_application decides.
    let mut policy = Policy::default();
    policy.allowed_applications.extend(["System", "TrySystem", "Systems", "MySystem"].map(String::from));
    for (application, expected) in table {
        let call = CallFile { application: application.to_vec(), ..call_to(b"PJSIP/100") };
        assert_eq!(
            check(&call, &policy, &registry).err().map(|rejection| rejection.rule),
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
    let system = CallFile { application: b"System".to_vec(), ..call_to(b"PJSIP/100") };
    let rejection = check(&system, &Policy::default(), &registry).expect_err("System is denied");
    assert_eq!(
        rejection.detail,
        "application 'System' is denied by deny_application (a deny_application list without it, or \
         'deny_application = none', admits it; the first such line replaces the defaults)"
    );
    // Allowing is not enough while it is denied, and no longer denying is not enough while it is
    // not allowed: both lines are needed.
    let mut allowed = Policy::default();
    allowed.allowed_applications.push("System".to_string());
    assert_eq!(check(&system, &allowed, &registry).err().map(|rejection| rejection.rule), Some(rule::APPLICATION));
    let nothing_denied = Policy { denied_applications: Vec::new(), ..Policy::default() };
    let rejection = check(&system, &nothing_denied, &registry).expect_err("System is not allowed");
    assert_eq!(
        rejection.detail,
        "application 'System' is not allowed for call files ('allow_application = System' admits it)"
    );
    let both = Policy { denied_applications: Vec::new(), ..allowed };
    assert_eq!(check(&system, &both, &registry), Ok(()));

    let mut exec_denied = Policy { denied_applications: vec!["Exec".to_string()], ..Policy::default() };
    exec_denied.allowed_applications.push("Exec".to_string());
    let exec = CallFile { application: b"EXEC".to_vec(), ..call_to(b"PJSIP/100") };
    let rejection = check(&exec, &exec_denied, &registry).expect_err("Exec is denied");
    assert_eq!(rejection.rule, rule::APPLICATION);
    assert_eq!(rejection.value, "EXEC");
    assert!(
        rejection.detail.starts_with("application 'EXEC' is denied by deny_application (a "),
        "{}",
        rejection.detail
    );
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
            // Not this rule's: the function allow list judges them (CALLERID passes, `file` does not).
            None => assert_ne!(
                result.err().map(|rejection| rejection.rule),
                Some(rule::DANGEROUS_FUNCTION),
                "{}",
                String::from_utf8_lossy(name)
            ),
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
    let call = with_variables(&[b"FILE(/tmp/x)", b"CALLERID(num)"]);
    assert_eq!(check(&call, &Policy::default(), &registry), Ok(()));
    // A function Asterisk does not flag is not live_dangerously's to admit: the allow list decides.
    let call = with_variables(&[b"FILE(/tmp/x)", b"DB(a/b)"]);
    assert_eq!(check(&call, &Policy::default(), &registry).map_err(|rejection| rejection.rule), Err(rule::FUNCTION));
}

#[test]
fn the_registry_is_asked_with_the_name_as_written() {
    let registry = asterisk_functions();
    let call = with_variables(&[b"file(x)", b"__Db(x)", b"PLAIN", b"_INHERITED"]);
    // Not flagged dangerous under these names, and not on the function allow list either.
    let rejection = check(&call, &Policy::default(), &registry).expect_err("file is not an allowed function");
    assert_eq!((rejection.rule, rejection.value.as_str()), (rule::FUNCTION, "file(x)"));
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
    let rejection = check(&with_variables(&names), &Policy::default(), &registry).expect_err("one Set line too many");
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

/// The default policy plus Exec, TryExec, Set and MSet (which the default does not allow).
fn rule_of(call: &CallFile, registry: &FakeRegistry) -> Option<&'static str> {
    let mut policy = Policy::default();
    policy.allowed_applications.extend(["Exec", "TryExec", "Set", "MSet"].map(String::from));
    check(call, &policy, registry).err().map(|rejection| rejection.rule)
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

/// What an application will dial, start and write, endpoints asked of their driver, writes that outlive
/// the call, and channels judged as Asterisk reads them.
mod applications_and_second_legs {
    use crate::policy::*;

    /// PJSIP knows 100 and alice; IAX2 knows the peer `office`; DAHDI is loaded (its driver says
    /// nothing is invalid, as chan_dahdi does); nothing else is loaded.
    struct Pbx;

    impl FunctionRegistry for Pbx {
        fn writes_are_dangerous(&self, name: &str) -> bool {
            matches!(name, "FILE" | "DB" | "SHELL")
        }

        fn live_dangerously(&self) -> bool {
            false
        }

        /// The dialplan has one global, TRUNKVAR.
        fn is_dialplan_global(&self, name: &[u8]) -> bool {
            name == b"TRUNKVAR"
        }

        fn endpoint(&self, tech: &[u8], dest: &[u8]) -> Endpoint {
            let known: &[&[u8]] = if tech.eq_ignore_ascii_case(b"PJSIP") {
                &[b"100", b"alice"]
            } else if tech.eq_ignore_ascii_case(b"IAX2") {
                &[b"office"]
            } else if tech.eq_ignore_ascii_case(b"DAHDI") {
                return Endpoint::Known;
            } else {
                return Endpoint::NoSuchTechnology;
            };
            if known.contains(&dest) {
                Endpoint::Known
            } else {
                Endpoint::Unknown
            }
        }
    }

    fn app_call(channel: &str, application: &str, data: &str) -> CallFile {
        let (tech, dest) = channel.split_once('/').unwrap_or((channel, ""));
        CallFile {
            tech: tech.as_bytes().to_vec(),
            dest: dest.as_bytes().to_vec(),
            application: application.as_bytes().to_vec(),
            data: data.as_bytes().to_vec(),
            ..CallFile::default()
        }
    }

    fn refusal(call: &CallFile, policy: &Policy) -> Option<(&'static str, String, String)> {
        check(call, policy, &Pbx).err().map(|rejection| (rejection.rule, rejection.value, rejection.detail))
    }

    fn rule(call: &CallFile, policy: &Policy) -> Option<&'static str> {
        refusal(call, policy).map(|(rule, _, _)| rule)
    }

    fn allowing(applications: &[&str]) -> Policy {
        let mut policy = Policy::default();
        policy.allowed_applications.extend(applications.iter().map(|name| (*name).to_string()));
        policy
    }

    #[test]
    fn only_allowed_applications_run_by_default() {
        let policy = Policy::default();
        for application in ["Playback", "playback", "Dial", "VoiceMail", "ConfBridge", "Wait", "Echo", "AGI", "Queue"] {
            let data = if application == "Dial" { "PJSIP/100" } else { "x" };
            assert_eq!(rule(&app_call("Local/s@ctx", application, data), &policy), None, "{application}");
        }
        for application in [
            "Exec",
            "TryExec",
            "ExecIf",
            "ExecIfTime",
            "System",
            "TrySystem",
            "ExternalIVR",
            "MixMonitor",
            "Monitor",
            "Record",
            "Set",
            "MSet",
            "Read",
            "AddQueueMember",
            "ChanSpy",
            "Gosub",
            "Goto",
            "DeadAGI",
            "Playback ",
            "",
        ] {
            let expected = if application.is_empty() { None } else { Some(rule::APPLICATION) };
            assert_eq!(rule(&app_call("Local/s@ctx", application, "x"), &policy), expected, "{application}");
        }
        let (_, value, detail) = refusal(&app_call("Local/s@ctx", "ExecIf", "1?System(id)"), &policy).unwrap();
        assert_eq!(value, "ExecIf");
        assert_eq!(
            detail,
            "application 'ExecIf' is not allowed for call files ('allow_application = ExecIf' admits it)"
        );
    }

    #[test]
    fn applications_run_by_allowed_applications_are_judged_too() {
        let policy = allowing(&["Exec", "ExecIf", "ExecIfTime"]);
        let table = [
            ("ExecIf", "1?System(touch /tmp/x)", Some("application 'System' (run through ExecIf) is denied by deny_application (a deny_application list without it, or 'deny_application = none', admits it; the first such line replaces the defaults)")),
            ("ExecIf", "0?Playback(a):MixMonitor(x,,rm -rf /)", Some("application 'MixMonitor' (run through ExecIf) is not allowed for call files ('allow_application = MixMonitor' admits it)")),
            ("ExecIfTime", "*,*,*,*?ExternalIVR(/bin/sh)", Some("application 'ExternalIVR' (run through ExecIfTime) is not allowed for call files ('allow_application = ExternalIVR' admits it)")),
            ("Exec", "Exec(Exec(Exec(Exec(Playback(x)))))", Some("applications nested more than 4 deep (Exec, ExecIf, Originate)")),
            ("Exec", "Playback(hello)", None),
            ("Originate", "Local/s@ctx,app,System,id", Some("application 'System' (run through Originate) is denied by deny_application (a deny_application list without it, or 'deny_application = none', admits it; the first such line replaces the defaults)")),
            ("Originate", "Local/s@ctx,app,Playback,hello", None),
            ("Originate", "Local/s@ctx,exten,ctx,s,1", None),
        ];
        for (application, data, expected) in table {
            let detail = refusal(&app_call("Local/s@ctx", application, data), &policy).map(|(_, _, detail)| detail);
            assert_eq!(detail.as_deref(), expected, "{application}({data})");
        }
        // Without Exec allowed, the outer application is what is refused.
        assert_eq!(
            refusal(&app_call("Local/s@ctx", "Exec", "Playback(x)"), &Policy::default()).map(|(_, value, _)| value),
            Some("Exec".to_string())
        );
    }

    #[test]
    fn second_legs_pass_the_channel_rules() {
        let policy = allowing(&["AddQueueMember", "RetryDial"]);
        let table: &[(&str, &str, Option<&str>)] = &[
            ("Dial", "PJSIP/100", None),
            ("Dial", "Local/100@internal&PJSIP/alice,30,tT", None),
            ("Dial", "PJSIP/0900123@trunk", Some("PJSIP/0900123@trunk")),
            ("Dial", "PJSIP/100&PJSIP/0900123@trunk", Some("PJSIP/0900123@trunk")),
            ("Dial", "\"IAX2/evil.example/1\"", Some("IAX2/evil.example/1")),
            ("Dial", "IAX2/evil.example", Some("IAX2/evil.example")),
            ("Dial", "IAX2/office", None),
            ("Dial", "DAHDI/g1", Some("DAHDI/g1")),
            ("Dial", "DAHDI/1", None),
            ("Dial", "UnicastRTP/10.0.0.1:5000", Some("UnicastRTP/10.0.0.1:5000")),
            ("Dial", "Motif/evil", Some("Motif/evil")),
            ("Page", "Local/1@paging&PJSIP/1@trunk", Some("PJSIP/1@trunk")),
            ("Originate", "PJSIP/1@trunk,exten,ctx,s,1", Some("PJSIP/1@trunk")),
            ("Originate", "Local/s@ctx,app,Dial,PJSIP/1@trunk", Some("PJSIP/1@trunk")),
            ("RetryDial", "beep,5,3,PJSIP/1@trunk,30", Some("PJSIP/1@trunk")),
            ("AddQueueMember", "support,PJSIP/1@trunk", Some("PJSIP/1@trunk")),
            ("AddQueueMember", "support,Local/100@agents/n", None),
        ];
        for (application, data, refused) in table {
            let result = refusal(&app_call("Local/s@ctx", application, data), &policy);
            match refused {
                None => assert_eq!(result, None, "{application}({data})"),
                Some(channel) => {
                    let (rule, value, _) = result.unwrap_or_else(|| panic!("{application}({data}) must be refused"));
                    assert_eq!((rule, value.as_str()), (rule::SECOND_LEG, *channel), "{application}({data})");
                }
            }
        }
        let (_, _, detail) = refusal(&app_call("PJSIP/100", "Dial", "PJSIP/0900123@trunk"), &policy).unwrap();
        assert_eq!(
            detail,
            "Dial's destination dials out of this PBX directly; first_leg = local allows only Local channels and \
             bare endpoints of this PBX ('allow = PJSIP/0900123@trunk' admits it)"
        );
    }

    #[test]
    fn an_allow_rule_admits_a_second_leg_and_a_deny_rule_refuses_one() {
        let mut policy = Policy::default();
        policy.channel_rules.push(ChannelRule { action: RuleAction::Allow, pattern: "PJSIP/*@trunk".to_string() });
        policy.channel_rules.push(ChannelRule { action: RuleAction::Deny, pattern: "Local/*@secret".to_string() });
        assert_eq!(rule(&app_call("PJSIP/100", "Dial", "PJSIP/0900123@trunk"), &policy), None);
        let (rule, value, detail) = refusal(&app_call("PJSIP/100", "Dial", "Local/1@secret"), &policy).unwrap();
        assert_eq!((rule, value.as_str()), (rule::SECOND_LEG, "Local/1@secret"));
        assert!(
            detail.starts_with("Dial's destination matches 'deny = Local/*@secret' (an 'allow = Local/"),
            "{detail}"
        );
        // first_leg = any opens the second leg as it opens the first.
        let any = Policy { first_leg: FirstLegMode::Any, ..Policy::default() };
        assert_eq!(check(&app_call("PJSIP/1@trunk", "Dial", "IAX2/h/1"), &any, &Pbx), Ok(()));
    }

    #[test]
    fn bare_names_must_be_endpoints_the_driver_knows() {
        let local = Policy::default();
        let strict = Policy { first_leg: FirstLegMode::Strict, ..Policy::default() };
        let table: &[(&str, Option<&str>)] = &[
            ("PJSIP/100", None),
            ("pjsip/alice", None),
            ("IAX2/office", None),
            ("PJSIP/bob", Some("the first leg is not an endpoint this PBX knows")),
            ("IAX2/pbx.example.com", Some("the first leg is not an endpoint this PBX knows")),
            ("IAX2/192.0.2.1", Some("the first leg is not an endpoint this PBX knows")),
            ("DAHDI/g1", Some("the first leg is a trunk or channel group")),
            ("DAHDI/R2", Some("the first leg is a trunk or channel group")),
            ("SIP/alice", Some("the first leg uses a channel technology that is not loaded")),
            ("AudioSocket/x", Some("the first leg uses a channel technology that is not loaded")),
        ];
        for policy in [&local, &strict] {
            for (channel, refused) in table {
                let result = refusal(&app_call(channel, "Playback", "x"), policy);
                match refused {
                    None => assert_eq!(result, None, "{channel}"),
                    Some(start) => {
                        let (rule, value, detail) = result.unwrap_or_else(|| panic!("{channel} must be refused"));
                        assert_eq!((rule, value.as_str()), (rule::FIRST_LEG, *channel));
                        assert!(detail.starts_with(start), "{channel}: {detail}");
                    }
                }
            }
        }
        // An allow rule still admits a name the driver does not know.
        let mut admitted = Policy::default();
        admitted
            .channel_rules
            .push(ChannelRule { action: RuleAction::Allow, pattern: "IAX2/pbx.example.com".to_string() });
        assert_eq!(rule(&app_call("IAX2/pbx.example.com", "Playback", "x"), &admitted), None);
    }

    #[test]
    fn rules_judge_local_channels_as_asterisk_reads_them() {
        let mut policy = Policy::default();
        policy.channel_rules.push(ChannelRule { action: RuleAction::Deny, pattern: "Local/*".to_string() });
        policy.channel_rules.push(ChannelRule { action: RuleAction::Allow, pattern: "Local/*@campaign".to_string() });
        policy.channel_rules.push(ChannelRule { action: RuleAction::Allow, pattern: "Local/*@campaign/n".to_string() });
        let table: &[(&str, Option<&str>)] = &[
            ("Local/s@campaign", None),
            ("Local/s@campaign/n", None),
            // Runs in context `other` (options after the last '/'), whatever the text says at its end.
            ("Local/s@other/@campaign", Some(rule::CHANNEL_RULE)),
            ("Local/s@other/n@campaign", Some(rule::CHANNEL_RULE)),
            // No context: Asterisk uses `default`.
            ("Local/campaign", Some(rule::CHANNEL_RULE)),
            // Options Asterisk ignores are ignored here too.
            ("Local/s@campaign/xyz", None),
        ];
        for (channel, expected) in table {
            assert_eq!(rule(&app_call(channel, "Playback", "x"), &policy), *expected, "{channel}");
            let dialled = app_call("PJSIP/100", "Dial", channel);
            let expected_second = expected.map(|_| rule::SECOND_LEG);
            assert_eq!(rule(&dialled, &policy), expected_second, "Dial({channel})");
        }
    }

    #[test]
    fn agi_runs_only_scripts_from_agi_bin() {
        let policy = Policy::default();
        let table: &[(&str, &str, Option<&str>)] = &[
            ("AGI", "reminder.agi,1,2", None),
            ("EAGI", "speech.py", None),
            ("AGI", "/bin/sh,-c,touch /tmp/x", Some("/bin/sh")),
            ("AGI", "agi://evil.example/x", Some("agi://evil.example/x")),
            ("AGI", "hagi://evil.example/x", Some("hagi://evil.example/x")),
            ("AGI", "../../../bin/sh,-c,id", Some("../../../bin/sh")),
            ("AGI", "", Some("")),
            ("Queue", "support,t,,,,/bin/sh", Some("/bin/sh")),
            ("Queue", "support,t,,,,survey.agi", None),
            ("Queue", "support", None),
        ];
        for (application, data, refused) in table {
            let result = refusal(&app_call("Local/s@ctx", application, data), &policy);
            match refused {
                None => assert_eq!(result, None, "{application}({data})"),
                Some(script) => {
                    let (rule, value, detail) = result.unwrap_or_else(|| panic!("{application}({data})"));
                    assert_eq!((rule, value.as_str()), (rule::AGI_SCRIPT, *script), "{application}({data})");
                    assert!(detail.contains("not a script in Asterisk's agi-bin directory"), "{detail}");
                }
            }
        }
    }

    #[test]
    fn writes_that_outlive_the_call_are_refused_unless_allowed() {
        let with_set = |names: &[&str]| CallFile {
            variables: names.iter().map(|name| (name.as_bytes().to_vec(), b"x".to_vec())).collect(),
            ..app_call("PJSIP/100", "Playback", "x")
        };
        let policy = Policy::default();
        for name in [
            "GLOBAL(TRUNK)",
            "_GLOBAL(X)",
            "SHARED(x)",
            "ENV(LD_PRELOAD)",
            "DEVICE_STATE(Custom:a)",
            "ARRAY(GLOBAL(A),B)",
            "HASH(h,ENV(x))",
            "global(x)",
        ] {
            assert_eq!(rule(&with_set(&[name]), &policy), Some(rule::PERSISTENT_FUNCTION), "{name}");
        }
        for name in ["CALLERID(num)", "CDR(userfield)", "PLAIN", "GLOBALS"] {
            assert_eq!(rule(&with_set(&[name]), &policy), None, "{name}");
        }
        assert_eq!(rule(&with_set(&["ARRAY(A,B)"]), &policy), Some(rule::FUNCTION));
        let (_, value, detail) = refusal(&with_set(&["A", "GLOBAL(TRUNK)"]), &policy).unwrap();
        assert_eq!(value, "GLOBAL(TRUNK)");
        assert_eq!(
            detail,
            "Set writes the dialplan function GLOBAL, whose write outlives the call and changes the whole PBX \
             ('allow_function = GLOBAL' admits it)"
        );
        // A dangerous function nested the same way is found by Asterisk's own flag.
        assert_eq!(rule(&with_set(&["ARRAY(FILE(/tmp/x))"]), &policy), Some(rule::DANGEROUS_FUNCTION));
        let relaxed = Policy { allowed_functions: vec!["global".to_string()], ..Policy::default() };
        assert_eq!(rule(&with_set(&["GLOBAL(TRUNK)"]), &relaxed), None);
        assert_eq!(rule(&with_set(&["ENV(X)"]), &relaxed), Some(rule::PERSISTENT_FUNCTION));
        // The same writes through an application.
        let apps = allowing(&["Set", "MSet", "Read"]);
        for (application, data) in [
            ("Set", "GLOBAL(X)=1"),
            ("MSet", "A=1,ENV(X)=2"),
            ("Read", "SHARED(X),beep"),
            ("Originate", "Local/s@ctx,exten,ctx,s,1,30,v(A=1^GLOBAL(T)=x)"),
        ] {
            assert_eq!(
                rule(&app_call("Local/s@ctx", application, data), &apps),
                Some(rule::PERSISTENT_FUNCTION),
                "{application}"
            );
        }
    }

    #[test]
    fn functions_written_lists_every_write() {
        let call = CallFile {
            variables: vec![(b"ARRAY(FILE(x))".to_vec(), b"1".to_vec())],
            ..app_call("Local/s@ctx", "Originate", "Local/s@ctx,app,Set,DB(a/b)=1")
        };
        assert_eq!(functions_written(&call), ["ARRAY", "FILE", "DB"]);
    }
}
