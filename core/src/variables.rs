//! The channel variables Asterisk itself reads as configuration, and how a variable name written by a
//! call file is judged: refused when Asterisk or one of its bundled modules reads it as a command, a
//! file, a host, a signalling header, a channel, a route, or a setting of recording, billing, priority
//! or limits ([`CLASSIFIED_VARIABLES`]), or when it would shadow a dialplan global.
//!
//! Asterisk compares variable names exactly (`strcmp`), after dropping at most two leading `_` (the
//! inheritance marks, `ast_var_name`), so `MONITOR_EXEC`, `_MONITOR_EXEC` and `__MONITOR_EXEC` are one
//! variable and `monitor_exec` is another one that nothing reads.
//!
//! [`check_writes`] is the policy's last check: every name a call file writes (its `Set:` lines and what
//! its application writes) against the function allow list ([`crate::functions::judge_write`]), this
//! table, and the dialplan's globals (asked of [`FunctionRegistry`]).
//!
//! Pure: bytes in, a verdict out. No I/O, no FFI. Never panics.

use crate::callfile::CallFile;
use crate::functions::{self, WriteRefusal};
use crate::policy::{shown, FunctionRegistry, Policy, Rejection};

/// The rules [`check_writes`] refuses under.
pub mod rule {
    /// A function (or a field of one) that is not on the allow list.
    pub const FUNCTION: &str = "function";
    /// A value Asterisk turns into a path that is not a plain name.
    pub const PATH_VALUE: &str = "path_value";
    /// A variable Asterisk reads as configuration.
    pub const VARIABLE: &str = "variable";
    /// A variable that would shadow a dialplan global.
    pub const DIALPLAN_GLOBAL: &str = "dialplan_global";
}

/// Why Asterisk's reading of a variable makes it configuration rather than data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Run as a program or an AGI script.
    Command,
    /// A file or directory Asterisk reads or writes, or a file format it opens one with.
    File,
    /// A host or domain Asterisk contacts or puts in signalling.
    Host,
    /// Becomes a signalling header or parameter sent to the far end (what its phone does).
    Signalling,
    /// Names a context, extension, subroutine or route the call, or a transfer, goes to.
    Route,
    /// Starts or configures recording, spying, pickup or in-call features.
    Recording,
    /// Changes billing, queue priority, call groups, or loop and time limits.
    Limits,
}

impl Class {
    /// The reason, for the log line and the table in docs/security.md.
    pub fn reason(self) -> &'static str {
        match self {
            Class::Command => "runs as a command",
            Class::File => "reads as a file or directory",
            Class::Host => "reads as a host",
            Class::Signalling => "sends as signalling to the far end",
            Class::Route => "reads as a context, extension or route",
            Class::Recording => "reads as a recording, spying or feature setting",
            Class::Limits => "reads as a billing, priority or limit setting",
        }
    }
}

/// One variable (or, when `prefix`, every variable starting with `name`) that Asterisk reads as
/// configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classified {
    pub name: &'static str,
    pub prefix: bool,
    /// The source file of Asterisk (20 to 23) that reads it.
    pub module: &'static str,
    pub class: Class,
}

const fn var(name: &'static str, module: &'static str, class: Class) -> Classified {
    Classified { name, prefix: false, module, class }
}

const fn prefix(name: &'static str, module: &'static str, class: Class) -> Classified {
    Classified { name, prefix: true, module, class }
}

/// The variables Asterisk 20 to 23 and its bundled modules read as configuration (found by their
/// `pbx_builtin_getvar_helper(chan, "NAME")` reads in apps/, res/, funcs/, channels/, main/, bridges/
/// and pbx/). Variables read only as data (results like DIALSTATUS, texts like SENDTEXT_BODY, prompts'
/// digits) are not listed: a call file may set them, as the admin's dialplan may read them.
pub const CLASSIFIED_VARIABLES: [Classified; 86] = [
    // Programs.
    var("MONITOR_EXEC", "apps/app_queue.c", Class::Command),
    var("MONITOR_EXEC_ARGS", "apps/app_queue.c (Asterisk 20)", Class::Command),
    var("MEETME_AGI_BACKGROUND", "apps/app_meetme.c", Class::Command),
    var("AGIEXECFULL", "res/res_agi.c", Class::Command),
    var("DYNAMIC_FEATURES", "main/features_config.c", Class::Command),
    // Files, directories and formats.
    var("MONITOR_FILENAME", "apps/app_queue.c", Class::File),
    var("MONITOR_OPTIONS", "apps/app_queue.c", Class::File),
    var("TOUCH_MIXMONITOR", "bridges/bridge_builtin_features.c", Class::File),
    var("TOUCH_MIXMONITOR_PREFIX", "bridges/bridge_builtin_features.c", Class::File),
    var("TOUCH_MIXMONITOR_FORMAT", "bridges/bridge_builtin_features.c", Class::File),
    var("TOUCH_MIXMONITOR_BEEP", "bridges/bridge_builtin_features.c", Class::Recording),
    var("TOUCH_MIXMONITOR_MESSAGE_START", "bridges/bridge_builtin_features.c", Class::File),
    var("TOUCH_MIXMONITOR_MESSAGE_STOP", "bridges/bridge_builtin_features.c", Class::File),
    var("LIMIT_WARNING_FILE", "main/features.c", Class::File),
    var("LIMIT_TIMEOUT_FILE", "main/features.c", Class::File),
    var("LIMIT_CONNECT_FILE", "main/features.c", Class::File),
    var("BRIDGE_PLAY_SOUND", "main/bridge.c", Class::File),
    var("ATTENDED_TRANSFER_COMPLETE_SOUND", "main/bridge.c", Class::File),
    var("CONF_LIMIT_WARNING_FILE", "apps/app_meetme.c", Class::File),
    var("CONF_LIMIT_TIMEOUT_FILE", "apps/app_meetme.c", Class::File),
    var("MEETME_RECORDINGFILE", "apps/app_meetme.c", Class::File),
    var("MEETME_RECORDINGFORMAT", "apps/app_meetme.c", Class::File),
    var("MVM_FILENAME", "apps/app_minivm.c", Class::File),
    var("MVM_FORMAT", "apps/app_minivm.c", Class::File),
    var("MVM_COUNTER", "apps/app_minivm.c", Class::File),
    var("EAGI_AUDIO_FORMAT", "res/res_agi.c", Class::File),
    var("CALLWAITDELUXEANNOUNCEMENT", "channels/sig_analog.c", Class::File),
    // Hosts.
    var("SIPFROMDOMAIN", "res/res_pjsip_session.c", Class::Host),
    var("DUNDIDIALARGS", "pbx/pbx_dundi.c", Class::Host),
    var("IAX2OSPTOKEN", "channels/chan_iax2.c", Class::Host),
    // Signalling to the far end.
    var("SIPREFERREDBYHDR", "channels/chan_pjsip.c, res/res_pjsip_refer.c", Class::Signalling),
    var("SIPREPLACESHDR", "res/res_pjsip_refer.c", Class::Signalling),
    var("GET_TRANSFERRER_DATA", "res/res_pjsip_refer.c", Class::Signalling),
    prefix("SIPADDHEADER", "channels/chan_sip.c (Asterisk 20)", Class::Signalling),
    var("SIP_URI_OPTIONS", "channels/chan_sip.c (Asterisk 20)", Class::Signalling),
    var("ALERT_INFO", "channels/chan_mgcp.c (Asterisk 20)", Class::Signalling),
    var("SIP_CODEC", "channels/chan_sip.c (Asterisk 20)", Class::Signalling),
    var("SIP_CODEC_INBOUND", "channels/chan_sip.c (Asterisk 20)", Class::Signalling),
    var("SIP_CODEC_OUTBOUND", "channels/chan_sip.c (Asterisk 20)", Class::Signalling),
    prefix("CALLER_H323", "addons/chan_ooh323.c", Class::Signalling),
    var("USERUSERINFO", "channels/sig_pri.c", Class::Signalling),
    prefix("SS7_", "channels/sig_ss7.c", Class::Signalling),
    prefix("MFCR2_", "channels/chan_dahdi.c", Class::Signalling),
    var("PRI_CAUSE", "channels/sig_pri.c", Class::Signalling),
    var("FEATDMF_CIC", "channels/sig_analog.c", Class::Signalling),
    var("FEATDMF_OZZ", "channels/sig_analog.c", Class::Signalling),
    var("CALL_QUALIFIER", "channels/sig_analog.c", Class::Signalling),
    // Routes: contexts, extensions, subroutines.
    var("FORWARD_CONTEXT", "apps/app_dial.c, apps/app_queue.c, main/channel.c, main/dial.c", Class::Route),
    var("TRANSFER_CONTEXT", "main/bridge_basic.c, res/res_pjsip_refer.c, apps/app_attended_transfer.c", Class::Route),
    var("TRANSFER_EXTEN", "main/bridge_basic.c", Class::Route),
    var("GOTO_ON_BLINDXFR", "main/bridge_basic.c", Class::Route),
    var("EXITCONTEXT", "apps/app_dial.c", Class::Route),
    var("SPY_EXIT_CONTEXT", "apps/app_chanspy.c", Class::Route),
    var("MEETME_EXIT_CONTEXT", "apps/app_meetme.c", Class::Route),
    var("GOSUB_RESULT", "apps/app_dial.c", Class::Route),
    var("GOSUB_RETVAL", "apps/app_dial.c, apps/app_stack.c", Class::Route),
    var("CONNECTED_LINE_SEND_SUB", "main/channel.c", Class::Route),
    var("CONNECTED_LINE_SEND_SUB_ARGS", "main/channel.c", Class::Route),
    var("REDIRECTING_SEND_SUB", "main/channel.c", Class::Route),
    var("REDIRECTING_SEND_SUB_ARGS", "main/channel.c", Class::Route),
    prefix("MACRO_", "apps/app_macro.c (Asterisk 20)", Class::Route),
    var("PARKINGLOT", "res/res_parking.c", Class::Route),
    var("PARKINGEXTEN", "res/parking/parking_bridge.c", Class::Route),
    var("PARKINGDYNAMIC", "res/res_parking.c", Class::Route),
    var("PARKINGDYNCONTEXT", "res/res_parking.c", Class::Route),
    var("PARKINGDYNEXTEN", "res/res_parking.c", Class::Route),
    var("PARKINGDYNPOS", "res/res_parking.c", Class::Route),
    var("TESTTIME", "main/pbx_builtins.c", Class::Route),
    // Recording, spying, pickup and in-call features.
    var("AUTO_MONITOR", "main/features.c (Asterisk 20)", Class::Recording),
    var("BRIDGE_FEATURES", "main/features.c", Class::Recording),
    var("SPYGROUP", "apps/app_chanspy.c", Class::Recording),
    var("PICKUPMARK", "apps/app_directed_pickup.c", Class::Recording),
    // Billing, priority, groups and limits.
    var("OUTBOUND_GROUP", "apps/app_dial.c", Class::Limits),
    var("OUTBOUND_GROUP_ONCE", "apps/app_dial.c", Class::Limits),
    var("QUEUE_PRIO", "apps/app_queue.c", Class::Limits),
    var("QUEUE_MAX_PENALTY", "apps/app_queue.c", Class::Limits),
    var("QUEUE_MIN_PENALTY", "apps/app_queue.c", Class::Limits),
    var("QUEUE_RAISE_PENALTY", "apps/app_queue.c", Class::Limits),
    var("LIMIT_PLAYAUDIO_CALLER", "main/features.c", Class::Limits),
    var("LIMIT_PLAYAUDIO_CALLEE", "main/features.c", Class::Limits),
    var("BRIDGE_NOANSWER", "main/bridge.c, main/features.c", Class::Limits),
    var("AGENTACCEPTDTMF", "apps/app_agent_pool.c", Class::Limits),
    var("AGENTACKCALL", "apps/app_agent_pool.c", Class::Limits),
    var("AGENTAUTOLOGOFF", "apps/app_agent_pool.c", Class::Limits),
    var("AGENTWRAPUPTIME", "apps/app_agent_pool.c", Class::Limits),
    var("DIALEDPEERNUMBER", "apps/app_dial.c", Class::Limits),
];

/// The name Asterisk reads for the variable written as `written`: at most two leading `_` dropped, as
/// `ast_var_name` drops them.
pub fn read_name(written: &[u8]) -> &[u8] {
    let mut name = written;
    for _ in 0..2 {
        match name.split_first() {
            Some((b'_', rest)) => name = rest,
            _ => break,
        }
    }
    name
}

/// The entry that classifies the variable Asterisk reads as `name` (see [`read_name`]), if any.
pub fn classified(name: &[u8]) -> Option<&'static Classified> {
    CLASSIFIED_VARIABLES.iter().find(|entry| {
        if entry.prefix {
            name.starts_with(entry.name.as_bytes())
        } else {
            name == entry.name.as_bytes()
        }
    })
}

/// Whether an `allow_variable` entry admits the variable Asterisk reads as `name`; entries are
/// compared exactly, as Asterisk compares names, after dropping their own inheritance marks.
pub fn admitted(allowed: &[String], name: &[u8]) -> bool {
    allowed.iter().any(|entry| read_name(entry.as_bytes()) == name)
}

/// Judges every name `call` writes: its `Set:` lines (with their values) and `by_application` (the
/// names its application writes, whose values are not known before the call). Functions must be on the
/// allow list (functions Asterisk flags as dangerous are `live_dangerously`'s to admit, and were judged
/// before); plain variables must not be read by Asterisk as configuration nor be dialplan globals,
/// unless `allow_variable` names them.
///
/// # Errors
///
/// The [`Rejection`] for the first name refused.
pub fn check_writes(
    call: &CallFile,
    by_application: &[Vec<u8>],
    policy: &Policy,
    registry: &dyn FunctionRegistry,
) -> Result<(), Rejection> {
    let set_lines = call.variables.iter().map(|(name, value)| (name.as_slice(), Some(value.as_slice())));
    let applications = by_application.iter().map(|name| (name.as_slice(), None));
    for (name, value) in set_lines.chain(applications) {
        if functions::function_and_argument(name).is_some() {
            check_function_write(name, value, policy, registry)?;
        } else {
            check_variable_write(name, policy, registry)?;
        }
    }
    Ok(())
}

fn check_function_write(
    name: &[u8],
    value: Option<&[u8]>,
    policy: &Policy,
    registry: &dyn FunctionRegistry,
) -> Result<(), Rejection> {
    let mut admitted = policy.allowed_functions.clone();
    if registry.live_dangerously() {
        admitted.extend(
            functions::written_functions(name).into_iter().filter(|function| registry.writes_are_dangerous(function)),
        );
    }
    let Err(refusal) = functions::judge_write(name, value, &admitted) else {
        return Ok(());
    };
    let (rule, detail) = match refusal {
        WriteRefusal::Function { function } => {
            let function = shown(function.as_bytes());
            (
                rule::FUNCTION,
                format!(
                    "Set writes the dialplan function {function}, which is not on the list of functions a call file \
                     may write ('allow_function = {function}' admits it)"
                ),
            )
        }
        WriteRefusal::Field { function, field } => {
            let write = shown(format!("{function}({field})").as_bytes());
            (
                rule::FUNCTION,
                format!(
                    "Set writes {write}, which is not on the list of function writes a call file may make \
                     ('allow_function = {write}' admits it)"
                ),
            )
        }
        WriteRefusal::NotAName { function, field } => (
            rule::PATH_VALUE,
            format!(
                "Set writes {} with a value that is not a name (letters, digits, _ and - only): Asterisk turns \
                 it into a path",
                shown(format!("{function}({field})").as_bytes())
            ),
        ),
        WriteRefusal::UnseenValue { function, field } => (
            rule::PATH_VALUE,
            format!(
                "an application writes {}, whose value Asterisk turns into a path and cannot be checked before \
                 the call; write it with a Set: line",
                shown(format!("{function}({field})").as_bytes())
            ),
        ),
    };
    Err(Rejection::new(rule, name, detail))
}

fn check_variable_write(name: &[u8], policy: &Policy, registry: &dyn FunctionRegistry) -> Result<(), Rejection> {
    let read = read_name(name);
    if admitted(&policy.allowed_variables, read) {
        return Ok(());
    }
    let shown_name = shown(read);
    if let Some(entry) = classified(read) {
        return Err(Rejection::new(
            rule::VARIABLE,
            name,
            format!(
                "Set writes the variable {shown_name}, which Asterisk {} ({}) ('allow_variable = {shown_name}' \
                 admits it)",
                entry.class.reason(),
                entry.module
            ),
        ));
    }
    if !read.is_empty() && registry.is_dialplan_global(read) {
        return Err(Rejection::new(
            rule::DIALPLAN_GLOBAL,
            name,
            format!(
                "Set writes the variable {shown_name}, which is a dialplan global: the call's own value would \
                 replace the global's wherever the dialplan reads ${{{shown_name}}} ('allow_variable = \
                 {shown_name}' admits it)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::rule;

    #[test]
    fn inheritance_marks_are_dropped_as_asterisk_drops_them() {
        let table: &[(&[u8], &[u8])] =
            &[(b"X", b"X"), (b"_X", b"X"), (b"__X", b"X"), (b"___X", b"_X"), (b"", b""), (b"__", b"")];
        for (written, read) in table {
            assert_eq!(read_name(written), *read, "{}", String::from_utf8_lossy(written));
        }
    }

    #[test]
    fn classified_variables_match_exactly_or_by_prefix() {
        for name in ["MONITOR_EXEC", "TRANSFER_CONTEXT", "SIPADDHEADER01", "SS7_CHARGE_NUMBER", "MACRO_CONTEXT"] {
            assert!(classified(name.as_bytes()).is_some(), "{name}");
        }
        for name in ["monitor_exec", "MONITOR_EXEC2", "CUSTOMER_ID", "APPOINTMENT", "FILE", "TAG", "DIALSTATUS"] {
            assert!(classified(name.as_bytes()).is_none(), "{name}");
        }
        assert_eq!(classified(b"MONITOR_EXEC").map(|entry| entry.class), Some(Class::Command));
    }

    #[test]
    fn the_table_has_each_name_once() {
        for (at, entry) in CLASSIFIED_VARIABLES.iter().enumerate() {
            assert!(
                !CLASSIFIED_VARIABLES[at + 1..].iter().any(|other| other.name == entry.name),
                "{} listed twice",
                entry.name
            );
        }
    }

    /// The dialplan has one global, TRUNKVAR; nothing is dangerous.
    struct Dialplan;

    impl FunctionRegistry for Dialplan {
        fn writes_are_dangerous(&self, _name: &str) -> bool {
            false
        }
        fn live_dangerously(&self) -> bool {
            false
        }
        fn endpoint(&self, _tech: &[u8], _dest: &[u8]) -> crate::policy::Endpoint {
            crate::policy::Endpoint::Known
        }
        fn is_dialplan_global(&self, name: &[u8]) -> bool {
            name == b"TRUNKVAR"
        }
    }

    fn call_setting(name: &str, value: &str) -> CallFile {
        CallFile {
            tech: b"Local".to_vec(),
            dest: b"s@answer".to_vec(),
            context: b"outbound".to_vec(),
            extension: b"s".to_vec(),
            variables: vec![(name.as_bytes().to_vec(), value.as_bytes().to_vec())],
            ..CallFile::default()
        }
    }

    fn verdict(call: &CallFile, policy: &Policy) -> Result<(), (&'static str, String)> {
        crate::policy::check(call, policy, &Dialplan).map_err(|rejection| (rejection.rule, rejection.detail))
    }

    #[test]
    fn configuration_variables_and_globals_are_refused_in_every_form() {
        let policy = Policy::default();
        for name in [
            "MONITOR_EXEC",
            "_MONITOR_EXEC",
            "__MONITOR_EXEC",
            "__MONITOR_FILENAME",
            "TRANSFER_CONTEXT",
            "__SIPADDHEADER01",
            "_DYNAMIC_FEATURES",
        ] {
            assert_eq!(
                verdict(&call_setting(name, "x"), &policy).map_err(|(rule, _)| rule),
                Err(rule::VARIABLE),
                "{name}"
            );
        }
        for name in ["TRUNKVAR", "_TRUNKVAR", "__TRUNKVAR"] {
            let (rule, detail) = verdict(&call_setting(name, "evil"), &policy).expect_err(name);
            assert_eq!(rule, rule::DIALPLAN_GLOBAL, "{name}");
            assert!(detail.contains("TRUNKVAR, which is a dialplan global"), "{detail}");
        }
        for name in ["CUSTOMER_ID", "APPOINTMENT", "TAG", "trunkvar", "monitor_exec", "___TRUNKVAR", "FILE"] {
            assert_eq!(verdict(&call_setting(name, "42"), &policy), Ok(()), "{name}");
        }
        let (_, detail) = verdict(&call_setting("__MONITOR_EXEC", "x"), &policy).unwrap_err();
        assert_eq!(
            detail,
            "Set writes the variable MONITOR_EXEC, which Asterisk runs as a command (apps/app_queue.c) \
             ('allow_variable = MONITOR_EXEC' admits it)"
        );
        let relaxed = Policy {
            allowed_variables: vec!["TRUNKVAR".to_string(), "MONITOR_FILENAME".to_string()],
            ..Policy::default()
        };
        assert_eq!(verdict(&call_setting("__TRUNKVAR", "x"), &relaxed), Ok(()));
        assert_eq!(verdict(&call_setting("MONITOR_FILENAME", "x"), &relaxed), Ok(()));
        assert_eq!(
            verdict(&call_setting("MONITOR_EXEC", "x"), &relaxed).map_err(|(rule, _)| rule),
            Err(rule::VARIABLE)
        );
    }

    #[test]
    fn application_writes_are_judged_alike() {
        let call = CallFile {
            tech: b"Local".to_vec(),
            dest: b"s@answer".to_vec(),
            application: b"Originate".to_vec(),
            data: b"Local/s@answer,exten,answer,s,1,30,v(__MONITOR_EXEC=touch /tmp/x)".to_vec(),
            ..CallFile::default()
        };
        assert_eq!(verdict(&call, &Policy::default()).map_err(|(rule, _)| rule), Err(rule::VARIABLE));
        let call = CallFile { data: b"Local/s@answer,exten,answer,s,1,30,v(TRUNKVAR=x)".to_vec(), ..call };
        assert_eq!(verdict(&call, &Policy::default()).map_err(|(rule, _)| rule), Err(rule::DIALPLAN_GLOBAL));
        let call = CallFile { data: b"Local/s@answer,exten,answer,s,1,30,v(CHANNEL(language)=fr)".to_vec(), ..call };
        assert_eq!(verdict(&call, &Policy::default()).map_err(|(rule, _)| rule), Err(rule::PATH_VALUE));
        let call =
            CallFile { data: b"Local/s@answer,exten,answer,s,1,30,v(CUSTOMER_ID=42^CALLERID(num)=1)".to_vec(), ..call };
        assert_eq!(verdict(&call, &Policy::default()), Ok(()));
    }

    #[test]
    fn function_refusals_explain_themselves() {
        let policy = Policy::default();
        let (rule, detail) =
            verdict(&call_setting("PJSIP_HEADER(add,Alert-Info)", "<x>;answer-after=0"), &policy).unwrap_err();
        assert_eq!(rule, rule::FUNCTION);
        assert_eq!(
            detail,
            "Set writes the dialplan function PJSIP_HEADER, which is not on the list of functions a call file may \
             write ('allow_function = PJSIP_HEADER' admits it)"
        );
        let (rule, detail) = verdict(&call_setting("CHANNEL(language)", "../../x"), &policy).unwrap_err();
        assert_eq!(rule, rule::PATH_VALUE);
        assert!(detail.starts_with("Set writes CHANNEL(language) with a value that is not a name"), "{detail}");
        let (rule, detail) = verdict(&call_setting("CDR(amaflags)", "x"), &policy).unwrap_err();
        assert_eq!(rule, rule::FUNCTION);
        assert!(detail.contains("'allow_function = CDR(amaflags)' admits it"), "{detail}");
        assert_eq!(verdict(&call_setting("CHANNEL(language)", "de"), &policy), Ok(()));
    }

    #[test]
    fn the_security_docs_list_every_classified_variable_with_its_module() {
        let readme = include_str!("../../docs/security.md");
        for entry in &CLASSIFIED_VARIABLES {
            let name = if entry.prefix { format!("`{}*`", entry.name) } else { format!("`{}`", entry.name) };
            let row = format!("| {name} | {} | {} |", entry.module, entry.class.reason());
            assert!(readme.contains(&row), "docs/security.md lacks the row {row}");
        }
    }

    #[test]
    fn the_dialers_tag_is_admitted_by_the_default_policy_in_every_form() {
        let policy = Policy::default();
        for name in ["SPOOL_TAG", "_SPOOL_TAG", "__SPOOL_TAG"] {
            assert_eq!(verdict(&call_setting(name, "crm-42"), &policy), Ok(()), "{name}");
        }
        assert!(classified(crate::tag::TAG_VARIABLE.as_bytes()).is_none());
    }

    #[test]
    fn allow_variable_admits_every_form() {
        let allowed = vec!["__MONITOR_FILENAME".to_string(), "TRUNKVAR".to_string()];
        assert!(admitted(&allowed, b"MONITOR_FILENAME"));
        assert!(admitted(&allowed, b"TRUNKVAR"));
        assert!(!admitted(&allowed, b"trunkvar"));
        assert!(!admitted(&allowed, b"MONITOR_EXEC"));
    }
}
