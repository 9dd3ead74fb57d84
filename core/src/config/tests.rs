//! Unit tests of the config module: pbx_spool_rs.conf entries in, settings or problems out.

use super::keys::{Key, GENERAL_CATEGORY, KEYS};
use super::*;
use crate::policy::{self, FirstLegMode, RuleAction, DEFAULT_MAX_SET_LINES, DEFAULT_MAX_VALUE_LEN};

fn general(lines: &[(&str, &str)]) -> Vec<ConfigEntry> {
    lines
        .iter()
        .enumerate()
        .map(|(index, (key, value))| ConfigEntry {
            category: GENERAL_CATEGORY.to_string(),
            key: (*key).to_string(),
            value: (*value).to_string(),
            line: index as u32 + 2,
        })
        .collect()
}

fn accepted(lines: &[(&str, &str)]) -> SpoolConfig {
    match from_entries(&general(lines)) {
        Ok((config, warnings)) => {
            assert!(warnings.is_empty(), "{warnings:?}");
            config
        }
        Err(problems) => panic!("rejected: {problems:?}"),
    }
}

fn rejected(lines: &[(&str, &str)]) -> Vec<ConfigProblem> {
    match from_entries(&general(lines)) {
        Ok((config, _)) => panic!("accepted: {config:?}"),
        Err(problems) => problems,
    }
}

fn rules(config: &SpoolConfig) -> Vec<(RuleAction, &str)> {
    config.policy.channel_rules.iter().map(|rule| (rule.action, rule.pattern.as_str())).collect()
}

#[test]
fn no_entries_means_the_defaults() {
    let config = accepted(&[]);
    assert_eq!(config, SpoolConfig::default());
    assert_eq!(config.policy.first_leg, FirstLegMode::Local);
    assert!(config.policy.channel_rules.is_empty());
    assert_eq!(config.policy.denied_applications, vec!["System", "TrySystem"]);
    assert_eq!(config.policy.max_set_lines, DEFAULT_MAX_SET_LINES);
    assert_eq!(config.policy.max_value_len, DEFAULT_MAX_VALUE_LEN);
    assert_eq!(config.max_file_size, 65536);
    assert!(config.owner_check);
    assert!(config.allowed_owners.is_empty());
    assert_eq!(config.max_calls, None);
    assert_eq!(config.max_rate, None);
}

#[test]
fn every_key_is_read() {
    let config = accepted(&[
        ("first_leg", "strict"),
        ("deny", "Local/*"),
        ("allow", "Local/*@campaign"),
        ("deny_application", "Exec"),
        ("max_set_lines", "10"),
        ("max_value_len", "512"),
        ("max_file_size", "4096"),
        ("owner_check", "no"),
        ("maxcalls", "20"),
        ("maxrate", "2.5"),
    ]);
    assert_eq!(config.policy.first_leg, FirstLegMode::Strict);
    assert_eq!(rules(&config), vec![(RuleAction::Deny, "Local/*"), (RuleAction::Allow, "Local/*@campaign")]);
    assert_eq!(config.policy.denied_applications, vec!["Exec"]);
    assert_eq!(config.policy.max_set_lines, 10);
    assert_eq!(config.policy.max_value_len, 512);
    assert_eq!(config.max_file_size, 4096);
    assert!(!config.owner_check);
    assert_eq!(config.max_calls, Some(20));
    assert_eq!(config.max_rate, Some(2.5));
}

#[test]
fn keys_categories_and_words_ignore_case_and_blanks() {
    let entries = vec![ConfigEntry {
        category: " General ".to_string(),
        key: " First_Leg ".to_string(),
        value: " ANY ".to_string(),
        line: 3,
    }];
    let (config, warnings) = from_entries(&entries).expect("valid");
    assert!(warnings.is_empty());
    assert_eq!(config.policy.first_leg, FirstLegMode::Any);
}

#[test]
fn first_leg_words() {
    let table = [
        ("local", Some(FirstLegMode::Local)),
        ("Strict", Some(FirstLegMode::Strict)),
        ("any", Some(FirstLegMode::Any)),
        ("locale", None),
        ("", None),
        ("yes", None),
    ];
    for (word, expected) in table {
        let result = from_entries(&general(&[("first_leg", word)]));
        assert_eq!(result.ok().map(|(config, _)| config.policy.first_leg), expected, "{word}");
    }
}

#[test]
fn channel_rules_keep_their_interleaved_order() {
    let config = accepted(&[
        ("allow", "PJSIP/*@known-trunk"),
        ("deny", "Local/*"),
        ("allow", "Local/*@campaign"),
        ("deny", "Local/*@campaign/n"),
    ]);
    assert_eq!(
        rules(&config),
        vec![
            (RuleAction::Allow, "PJSIP/*@known-trunk"),
            (RuleAction::Deny, "Local/*"),
            (RuleAction::Allow, "Local/*@campaign"),
            (RuleAction::Deny, "Local/*@campaign/n")
        ]
    );
}

#[test]
fn channel_patterns_need_tech_and_dest() {
    for pattern in ["", "*", "PJSIP", "Local*", "PJSIP/1\u{7}"] {
        let problems = rejected(&[("deny", pattern)]);
        assert_eq!(problems.len(), 1, "{pattern:?}");
        assert_eq!(problems[0].key, "deny");
        assert!(problems[0].message.contains("Tech/Dest"));
    }
    assert_eq!(rules(&accepted(&[("deny", "*/*")])).len(), 1);
}

#[test]
fn context_conference_and_argument_rules_are_read() {
    let config = accepted(&[
        ("allow_context", "campaign"),
        ("allow_context", "sales, start"),
        ("deny_context", "trunk-*,*"),
        ("allow_conference", "campaign-*"),
        ("allow_argument", "dial:URL"),
        ("allow_argument", "Queue:x"),
    ]);
    let policy = &config.policy;
    assert_eq!(policy.context_rules.len(), 3);
    assert_eq!(policy.context_rules[1].written(), "allow_context = sales,start");
    assert_eq!(policy.conference_rules[0].written(), "allow_conference = campaign-*");
    assert_eq!(policy.allowed_arguments, ["Dial:URL", "Queue:x"]);
    for (key, value) in [
        ("allow_context", ""),
        ("allow_context", "c,0"),
        ("allow_conference", ""),
        ("allow_argument", "Dial"),
        ("allow_argument", "System:x"),
        ("allow_argument", "Dial:q"),
    ] {
        assert_eq!(rejected(&[(key, value)]).len(), 1, "{key} = {value}");
    }
}

#[test]
fn deny_application_replaces_the_defaults() {
    let table: &[(&[&str], &[&str])] = &[
        (&["System"], &["System"]),
        (&["Exec", "System", "TrySystem"], &["Exec", "System", "TrySystem"]),
        (&["System", "SYSTEM"], &["System"]),
        (&["none"], &[]),
        (&["NONE"], &[]),
        (&["none", "none"], &[]),
    ];
    for (lines, expected) in table {
        let entries: Vec<(&str, &str)> = lines.iter().map(|name| ("deny_application", *name)).collect();
        assert_eq!(accepted(&entries).policy.denied_applications, expected.to_vec(), "{lines:?}");
    }
}

#[test]
fn deny_application_rejects_lists_and_none_with_names() {
    for value in ["System, Exec", "System Exec", "", "Exec("] {
        let problems = rejected(&[("deny_application", value)]);
        assert!(problems[0].message.contains("one application name"), "{problems:?}");
    }
    let problems = rejected(&[("deny_application", "System"), ("deny_application", "none")]);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].line, 3);
    assert!(problems[0].message.contains("cannot be combined"));
}

#[test]
fn owner_check_takes_asterisk_true_and_false_words() {
    let table = [
        ("yes", Some(true)),
        ("TRUE", Some(true)),
        ("on", Some(true)),
        ("1", Some(true)),
        ("y", Some(true)),
        ("no", Some(false)),
        ("False", Some(false)),
        ("off", Some(false)),
        ("0", Some(false)),
        ("n", Some(false)),
        ("maybe", None),
        ("", None),
        ("2", None),
    ];
    for (word, expected) in table {
        let result = from_entries(&general(&[("owner_check", word)]));
        assert_eq!(result.ok().map(|(config, _)| config.owner_check), expected, "{word}");
    }
}

#[test]
fn unusable_allowed_owners_are_each_named_with_the_reason() {
    use crate::os::UidLookupError;
    let lookup = |name: &str| match name {
        "asterisk" => Ok(110),
        "ldapuser" => Err(UidLookupError::Failed(libc::EIO)),
        _ => Err(UidLookupError::Unknown),
    };
    let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let (uids, problems) = allowed_owner_uids(&names(&["asterisk", "nobodyknows"]), lookup);
    assert_eq!(uids, [110]);
    assert_eq!(problems, ["allowed_owner = nobodyknows: no such user; ignored"]);
    let (uids, problems) = allowed_owner_uids(&names(&["ldapuser"]), lookup);
    assert!(uids.is_empty());
    assert_eq!(problems.len(), 1);
    assert!(problems[0].starts_with("allowed_owner = ldapuser: the user lookup failed ("), "{problems:?}");
    assert!(problems[0].ends_with("; no allowed_owner is usable, so owner_check rejects every call file"));
    let (uids, problems) = allowed_owner_uids(&names(&["root", "0"]), crate::os::uid_of);
    assert_eq!((uids, problems), (vec![0, 0], Vec::<String>::new()));
}

#[test]
fn allowed_owners_accumulate() {
    let config = accepted(&[
        ("allowed_owner", "asterisk"),
        ("allowed_owner", "1001"),
        ("allowed_owner", "asterisk"),
        ("allowed_owner", "svc.dialer-1"),
        ("allowed_owner", "machine$"),
    ]);
    assert_eq!(config.allowed_owners, vec!["asterisk", "1001", "svc.dialer-1", "machine$"]);
    for owner in ["", "a b", "root,asterisk", "-rf", "$"] {
        assert_eq!(rejected(&[("allowed_owner", owner)]).len(), 1, "{owner:?}");
    }
}

#[test]
fn allowed_owner_without_owner_check_is_a_warning() {
    let (config, warnings) =
        from_entries(&general(&[("allowed_owner", "asterisk"), ("owner_check", "no")])).expect("valid");
    assert_eq!(config.allowed_owners, vec!["asterisk"]);
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].line, 2);
    assert_eq!(warnings[0].message, "allowed_owner has no effect while owner_check = no");
}

#[test]
fn numeric_keys() {
    // (key, value, accepted value as text or None when rejected)
    let table = [
        ("max_set_lines", "0", Some("0")),
        ("max_set_lines", "1000000", Some("1000000")),
        ("max_set_lines", "-1", None),
        ("max_set_lines", "+5", None),
        ("max_set_lines", "1e3", None),
        ("max_set_lines", "99999999999999999999999", None),
        ("max_value_len", "1", Some("1")),
        ("max_value_len", "0", None),
        ("max_value_len", "big", None),
        ("max_file_size", "128", Some("128")),
        ("max_file_size", "127", None),
        ("max_file_size", "0", None),
        ("max_file_size", "1048576", Some("1048576")),
        ("maxcalls", "0", Some("None")),
        ("maxcalls", "7", Some("Some(7)")),
        ("maxcalls", "-1", None),
        ("maxcalls", "", None),
        ("maxrate", "0", Some("None")),
        ("maxrate", "0.0", Some("None")),
        ("maxrate", "0.5", Some("Some(0.5)")),
        ("maxrate", "100000", Some("Some(100000.0)")),
        ("maxrate", "100000.5", None),
        ("maxrate", "-1", None),
        ("maxrate", "NaN", None),
        ("maxrate", "inf", None),
        ("maxrate", "fast", None),
        ("maxrate", "", None),
    ];
    for (key, value, expected) in table {
        let result = from_entries(&general(&[(key, value)]));
        let got = result.ok().map(|(config, _)| match key {
            "max_set_lines" => config.policy.max_set_lines.to_string(),
            "max_value_len" => config.policy.max_value_len.to_string(),
            "max_file_size" => config.max_file_size.to_string(),
            "maxcalls" => format!("{:?}", config.max_calls),
            _ => format!("{:?}", config.max_rate),
        });
        assert_eq!(got.as_deref(), expected, "{key} = {value}");
    }
}

#[test]
fn invalid_value_problem_names_key_value_and_line() {
    let problems = rejected(&[("first_leg", "local"), ("maxrate", "fast")]);
    assert_eq!(
        problems,
        vec![ConfigProblem {
            line: 3,
            key: "maxrate".to_string(),
            message: "maxrate = fast: expected a number of calls per second".to_string(),
        }]
    );
    assert_eq!(problems[0].to_string(), "line 3: maxrate = fast: expected a number of calls per second");
}

#[test]
fn unknown_keys_are_warnings_and_other_sections_are_campaigns() {
    let mut entries = general(&[("first_leg", "any"), ("max_calls", "5")]);
    for (line, category) in [(10, "options"), (11, "Options"), (12, "extra"), (13, "all")] {
        entries.push(ConfigEntry {
            category: category.to_string(),
            key: "first_leg".to_string(),
            value: "strict".to_string(),
            line,
        });
    }
    let (config, warnings) = from_entries(&entries).expect("only warnings");
    assert_eq!(config.policy.first_leg, FirstLegMode::Any, "a campaign's keys never change [general]");
    assert_eq!(config.max_calls, None);
    let names: Vec<&str> = config.campaigns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["options", "extra"], "sections named alike are one campaign; [all] is reserved");
    let summary: Vec<(u32, &str)> = warnings.iter().map(|problem| (problem.line, problem.key.as_str())).collect();
    assert_eq!(
        summary,
        vec![
            (0, "[options]"),
            (0, "[extra]"),
            (3, "max_calls"),
            (10, "first_leg"),
            (11, "first_leg"),
            (12, "first_leg"),
            (13, "[all]")
        ]
    );
    assert_eq!(warnings[0].message, "[options] has no match line: no call file joins it");
    assert_eq!(warnings[2].message, "unknown key 'max_calls' ignored (see pbx_spool_rs.conf.sample)");
    assert_eq!(
        warnings[3].message,
        "[options]: 'first_leg' is a [general] key, not a campaign's: ignored here (move it to [general])"
    );
    assert!(warnings[6].message.starts_with("[all] cannot be a campaign"));
}

#[test]
fn each_read_of_the_file_says_what_is_in_force_since_when() {
    let path = "/etc/asterisk/pbx_spool_rs.conf".to_string();
    let at_load = ConfigRead::after(None, path.clone(), ReadOutcome::Loaded { warnings: 0 }, 1_000, "load");
    assert_eq!(
        at_load.describe(),
        [
            ("File".to_string(), path.clone()),
            ("Last read".to_string(), "loaded".to_string()),
            ("When".to_string(), "1970-01-01 00:00:01 UTC (load)".to_string()),
            ("Settings in force".to_string(), "read 1970-01-01 00:00:01 UTC".to_string()),
        ]
    );
    let failed = ReadOutcome::Failed("cannot read it".into());
    let refused = ConfigRead::after(Some(&at_load), path.clone(), failed.clone(), 61_000, "reload");
    let rows = refused.describe();
    assert_eq!(rows[1].1, "FAILED: cannot read it");
    assert_eq!(rows[2].1, "1970-01-01 00:01:01 UTC (reload)");
    assert_eq!(rows[3].1, "the previous ones, read 1970-01-01 00:00:01 UTC");
    let failed_at_load = ConfigRead::after(None, path.clone(), failed, 1_000, "load");
    assert_eq!(failed_at_load.describe()[3].1, "the defaults");
    let gone = ConfigRead::after(Some(&refused), path.clone(), ReadOutcome::NotFound, 2_000, "reload");
    assert_eq!(gone.describe()[1].1, "not found: the defaults apply");
    assert_eq!(gone.describe()[3].1, "the defaults");
    let warned = ConfigRead::after(None, path, ReadOutcome::Loaded { warnings: 2 }, 0, "load");
    assert_eq!(warned.describe()[1].1, "loaded, 2 warning(s) (see the log)");
}

#[test]
fn a_misspelt_general_section_is_warned_about_once_and_is_no_campaign() {
    let section = |category: &str, key: &str, value: &str, line: u32| ConfigEntry {
        category: category.to_string(),
        key: key.to_string(),
        value: value.to_string(),
        line,
    };
    let entries = vec![
        section("genral", "deny", "PJSIP/*", 2),
        section("genral", "maxcalls", "5", 3),
        section("sales", "match", "sales-*", 5),
    ];
    let (config, warnings) = from_entries(&entries).expect("a warning, not an error");
    assert_eq!(config.campaigns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["sales"]);
    assert!(config.policy.channel_rules.is_empty(), "nothing of [genral] is in force");
    assert_eq!(config.max_calls, None);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!((warnings[0].line, warnings[0].key.as_str()), (2, "[genral]"));
    assert_eq!(
        warnings[0].message,
        "[genral] looks like a misspelt [general]: it is not read as a campaign, and none of its settings is \
         in force; write [general] (a campaign needs a name further from 'general')"
    );
    for misspelt in ["genral", "GENRAL", "generl", "genearl", "genreal", "gneral", "generals", "geneRAL1", "gen_eral"] {
        assert!(looks_like_general(misspelt), "{misspelt}");
    }
    for not_misspelt in ["general", "General", "sales", "reminders", "gen", "genius", "federal-x", "energy"] {
        assert!(!looks_like_general(not_misspelt), "{not_misspelt}");
    }
}

#[test]
fn campaign_sections_are_read_in_order_and_bad_values_reject_the_file() {
    let section = |category: &str, key: &str, value: &str, line: u32| ConfigEntry {
        category: category.to_string(),
        key: key.to_string(),
        value: value.to_string(),
        line,
    };
    let entries = vec![
        section("sales", "match", "sales-*", 1),
        section("sales", "maxcalls", "3", 2),
        section("sales", "hours", "mon-fri 09:00-18:00", 3),
        section("sales", "timezone", "Europe/Moscow", 4),
        section("reminders", "match", "rem-*", 6),
        section("reminders", "maxrate", "2", 7),
    ];
    let (config, warnings) = from_entries(&entries).expect("valid");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.campaigns.len(), 2);
    assert_eq!(config.campaigns[0].max_calls, Some(3));
    assert_eq!(config.campaigns[0].timezone.as_deref(), Some("Europe/Moscow"));
    assert_eq!(config.campaigns[1].max_rate, Some(2.0));
    let mut bad = entries.clone();
    bad.push(section("reminders", "hours", "9 to 5", 8));
    let problems = from_entries(&bad).expect_err("invalid hours");
    assert_eq!(
        problems[0].to_string(),
        "line 8: [reminders] hours = 9 to 5: '9 to 5' is not a window (expected e.g. mon-fri 09:00-18:00)"
    );
}

#[test]
fn a_repeated_single_key_warns_and_the_last_value_wins() {
    let (config, warnings) =
        from_entries(&general(&[("maxcalls", "5"), ("first_leg", "strict"), ("maxcalls", "6"), ("MaxCalls", "7")]))
            .expect("valid");
    assert_eq!(config.max_calls, Some(7));
    assert_eq!(
        warnings.iter().map(|problem| problem.message.as_str()).collect::<Vec<_>>(),
        vec![
            "maxcalls was already set at line 2; this later value replaces it",
            "MaxCalls was already set at line 4; this later value replaces it"
        ]
    );
}

#[test]
fn any_error_rejects_the_whole_file_with_every_problem_in_line_order() {
    let problems = rejected(&[("maxcalls", "ten"), ("bogus", "1"), ("first_leg", "local"), ("owner_check", "perhaps")]);
    let summary: Vec<(u32, &str)> = problems.iter().map(|problem| (problem.line, problem.key.as_str())).collect();
    assert_eq!(summary, vec![(2, "maxcalls"), (3, "bogus"), (5, "owner_check")]);
}

#[test]
fn describe_the_defaults() {
    let lines = describe(&SpoolConfig::default());
    let expected = [
        ("first_leg", "local"),
        ("allow/deny", "none"),
        (
            "allow_application",
            "AGI, Answer, BackGround, Busy, ConfBridge, Congestion, Dial, EAGI, Echo, Hangup, Milliwatt, \
             MusicOnHold, NoOp, Originate, Page, Playback, PlayTones, Progress, Queue, Ringing, SayAlpha, \
             SayDigits, SayNumber, SayPhonetic, SendDTMF, StopPlayTones, UserEvent, VoiceMail, VoiceMailMain, Wait",
        ),
        ("deny_application", "System, TrySystem"),
        ("allow_function", "none"),
        ("allow_argument", "none"),
        ("allow_context/deny_context", "none (every context, at priority 1)"),
        ("allow_conference/deny_conference", "none (every conference)"),
        ("allow_variable", "none"),
        ("max_set_lines", "1000"),
        ("max_value_len", "4096 bytes"),
        ("max_file_size", "65536 bytes"),
        ("owner_check", "yes"),
        ("allowed_owner", "the user Asterisk runs as, or root"),
        ("maxcalls", "unlimited"),
        ("maxrate", "unlimited"),
    ];
    let expected: Vec<(String, String)> =
        expected.iter().map(|(key, value)| ((*key).to_string(), (*value).to_string())).collect();
    assert_eq!(lines, expected);
}

#[test]
fn describe_a_configured_spool() {
    let config = accepted(&[
        ("first_leg", "any"),
        ("deny", "Local/*"),
        ("allow", "Local/*@campaign"),
        ("deny_application", "none"),
        ("owner_check", "no"),
        ("maxcalls", "3"),
        ("maxrate", "0.5"),
    ]);
    let lines = describe(&config);
    let value_of = |key: &str| lines.iter().find(|(name, _)| name == key).map(|(_, value)| value.as_str());
    assert_eq!(value_of("first_leg"), Some("any"));
    assert_eq!(value_of("allow/deny"), Some("deny Local/*, allow Local/*@campaign"));
    assert_eq!(value_of("deny_application"), Some("none"));
    assert_eq!(value_of("owner_check"), Some("no"));
    assert_eq!(value_of("maxcalls"), Some("3"));
    assert_eq!(value_of("maxrate"), Some("0.5 calls/s"));
    let owners = accepted(&[("allowed_owner", "asterisk"), ("allowed_owner", "dialer")]);
    assert_eq!(
        describe(&owners).into_iter().find(|(key, _)| key == "allowed_owner").map(|(_, value)| value),
        Some("asterisk, dialer".to_string())
    );
}

/// The sample documents every key, and its commented-out examples are valid settings.
#[test]
fn the_sample_config_documents_every_key_with_valid_examples() {
    let sample = include_str!("../../../configs/pbx_spool_rs.conf.sample");
    // Commented-out section headers (`;[sales]`) start a campaign's examples.
    let mut category = GENERAL_CATEGORY.to_string();
    let examples: Vec<ConfigEntry> = sample
        .lines()
        .enumerate()
        .filter_map(|(index, line)| {
            let text = line.strip_prefix(';')?;
            if let Some(name) = text.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
                category = name.to_string();
                return None;
            }
            let (key, value) = text.split_once('=')?;
            let in_general = category == GENERAL_CATEGORY;
            if in_general {
                Key::recognise(key.trim())?;
            } else if key.trim().contains(' ') {
                return None; // prose in a campaign's comments
            }
            Some(ConfigEntry {
                category: category.clone(),
                key: key.trim().to_string(),
                value: value.trim().to_string(),
                line: index as u32 + 1,
            })
        })
        .collect();
    for (name, _) in KEYS {
        assert!(examples.iter().any(|entry| entry.key == name), "{name} is not in the sample");
    }
    let (config, warnings) = from_entries(&examples).expect("the sample's examples are valid");
    assert!(warnings.is_empty(), "{warnings:?}");
    let defaults = SpoolConfig::default();
    assert_eq!(config.policy.first_leg, defaults.policy.first_leg);
    assert_eq!(config.policy.denied_applications, defaults.policy.denied_applications);
    assert_eq!(config.max_file_size, defaults.max_file_size);
    let sales = config.campaigns.first().expect("the sample's commented campaign");
    assert_eq!(
        (sales.name.as_str(), sales.max_calls, sales.timezone.as_deref()),
        ("sales", Some(10), Some("Europe/Moscow"))
    );
    assert_eq!(sales.matches, ["sales-*", "promo-*"]);
    assert_eq!(sales.channels, ["Local/*@sales"]);
}

#[test]
fn shared_spool_keys() {
    let lone = accepted(&[]);
    assert_eq!((lone.shared, lone.watch_mode(), lone.scan_interval_ms), (false, WatchMode::Inotify, 1000));
    let shared = accepted(&[("shared", "yes"), ("node", "ast2")]);
    assert_eq!((shared.shared, shared.watch_mode(), shared.node.as_deref()), (true, WatchMode::Both, Some("ast2")));
    let scan = accepted(&[("shared", "yes"), ("watch", "SCAN"), ("scan_interval", "250")]);
    assert_eq!((scan.watch_mode(), scan.scan_interval_ms), (WatchMode::Scan, 250));
    assert!(describe(&scan).contains(&("watch".to_string(), "scan".to_string())));
    assert!(!describe(&lone).iter().any(|(key, _)| key == "shared" || key == "watch"));
    for bad in [("watch", "poll"), ("scan_interval", "10"), ("node", "two words"), ("shared", "maybe")] {
        assert_eq!(rejected(&[bad]).len(), 1, "{bad:?}");
    }
}

#[test]
fn configured_rules_drive_the_policy() {
    let config = accepted(&[("deny", "Local/*"), ("allow", "Local/*@campaign")]);
    let policy = &config.policy;
    struct NoFacts;
    impl policy::FunctionRegistry for NoFacts {
        fn writes_are_dangerous(&self, _name: &str) -> bool {
            false
        }
        fn live_dangerously(&self) -> bool {
            false
        }
        fn endpoint(&self, _tech: &[u8], _dest: &[u8]) -> policy::Endpoint {
            policy::Endpoint::NotChecked
        }
        fn is_dialplan_global(&self, _name: &[u8]) -> bool {
            false
        }
    }
    assert!(policy::first_leg_verdict(b"Local", b"123@campaign", policy, &NoFacts).is_ok());
    assert!(policy::first_leg_verdict(b"Local", b"1@other", policy, &NoFacts).is_err());
    // Judged as Asterisk reads it: options after the last '/', so this runs in context 'other'.
    assert!(policy::first_leg_verdict(b"Local", b"s@other/@campaign", policy, &NoFacts).is_err());
}

#[test]
fn allow_application_adds_to_the_defaults_and_allow_function_lists_functions() {
    let config =
        accepted(&[("allow_application", "Exec"), ("allow_application", "EXEC"), ("allow_function", "GLOBAL")]);
    let allowed = &config.policy.allowed_applications;
    assert!(allowed.iter().any(|name| name == "Playback"), "{allowed:?}");
    assert_eq!(allowed.iter().filter(|name| name.eq_ignore_ascii_case("exec")).count(), 1, "{allowed:?}");
    assert_eq!(config.policy.allowed_functions, ["GLOBAL"]);
    for (key, value) in [
        ("allow_application", "Exec, System"),
        ("allow_function", "GLOBAL("),
        ("allow_function", "GLOBAL()"),
        ("allow_function", "A(b)c"),
        ("allow_function", ""),
        ("allow_variable", "A-B"),
        ("allow_variable", "__"),
        ("allow_variable", "X(y)"),
    ] {
        let problems = rejected(&[(key, value)]);
        assert_eq!(problems.len(), 1, "{key} = {value}: {problems:?}");
        assert_eq!(problems[0].key, key);
    }
    let described = describe(&config);
    let row = |key: &str| described.iter().find(|(name, _)| name == key).map(|(_, value)| value.clone());
    assert!(row("allow_application").is_some_and(|value| value.ends_with(", Exec")), "{described:?}");
    assert_eq!(row("allow_function").as_deref(), Some("GLOBAL"));
    assert_eq!(row("allow_variable").as_deref(), Some("none"));
    let config = accepted(&[
        ("allow_function", "CDR(accountcode)"),
        ("allow_variable", "TRUNKVAR"),
        ("allow_variable", "__MONITOR_FILENAME"),
        ("allow_variable", "TRUNKVAR"),
    ]);
    assert_eq!(config.policy.allowed_functions, ["CDR(accountcode)"]);
    assert_eq!(config.policy.allowed_variables, ["TRUNKVAR", "__MONITOR_FILENAME"]);
}

#[test]
fn dnc_lists_are_absolute_paths_in_general_and_in_campaigns() {
    let config = accepted(&[("dnc", "/a.txt"), ("DNC", "/b.txt"), ("dnc", "/a.txt")]);
    assert_eq!(config.dnc, ["/a.txt", "/b.txt"], "repeatable, each file once");
    for bad in ["dnc.txt", "", "/etc/asterisk/"] {
        assert_eq!(rejected(&[("dnc", bad)]).len(), 1, "{bad:?}");
    }
    let entry = |key: &str, value: &str, line| ConfigEntry {
        category: "sales".into(),
        key: key.into(),
        value: value.into(),
        line,
    };
    let (config, _) =
        from_entries(&[entry("match", "sales-*", 2), entry("dnc", "/s.txt", 3), entry("dnc", "/t.txt", 4)]).unwrap();
    assert_eq!(config.campaigns[0].dnc, ["/s.txt", "/t.txt"]);
    assert!(config.campaigns[0].describe().ends_with("dnc /s.txt /t.txt"), "{}", config.campaigns[0].describe());
}
