//! What an `Application:` line asks Asterisk to do, read from the application's name and data the way
//! the application itself reads them: which channels it will dial (Dial, Page, Originate, RetryDial,
//! AddQueueMember), which applications it runs in turn (Exec, TryExec, ExecIf, ExecIfTime, Originate),
//! which AGI program it starts (AGI, EAGI, DeadAGI, Queue's AGI argument) and which variables or
//! functions it writes (Set, MSet, Read, Originate's `v()` option). The policy judges these.
//!
//! Pure: bytes in, a list out. No I/O, no FFI. Never panics.

use crate::app_data;
use crate::channel::{self, Channel};
use crate::text::trim_blanks;

/// The applications a call file may run when pbx_spool_rs.conf says nothing: what call files are used
/// for (prompts and playback, voicemail, conferences, calls to permitted destinations, AGI scripts
/// from agi-bin, queues) and nothing that reaches a shell, the file system, another host or state
/// shared by the whole PBX. Compared ASCII case-insensitively, as Asterisk finds applications.
pub const DEFAULT_ALLOWED_APPLICATIONS: [&str; 30] = [
    "AGI",
    "Answer",
    "BackGround",
    "Busy",
    "ConfBridge",
    "Congestion",
    "Dial",
    "EAGI",
    "Echo",
    "Hangup",
    "Milliwatt",
    "MusicOnHold",
    "NoOp",
    "Originate",
    "Page",
    "Playback",
    "PlayTones",
    "Progress",
    "Queue",
    "Ringing",
    "SayAlpha",
    "SayDigits",
    "SayNumber",
    "SayPhonetic",
    "SendDTMF",
    "StopPlayTones",
    "UserEvent",
    "VoiceMail",
    "VoiceMailMain",
    "Wait",
];

/// Something an application will do that the policy has a rule for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Dial this channel (a second leg).
    Dials(Channel),
    /// Run this application with this data (Exec and friends, Originate's `app` type).
    Runs { application: Vec<u8>, data: Vec<u8> },
    /// Start this AGI program (the first AGI argument as Asterisk will see it).
    StartsAgi(Vec<u8>),
    /// Write this variable name, which may name a function (`GLOBAL(x)`).
    Writes(Vec<u8>),
}

fn is(application: &[u8], name: &str) -> bool {
    application.eq_ignore_ascii_case(name.as_bytes())
}

/// What `application` with `data` will do, as far as the policy cares.
pub fn actions(application: &[u8], data: &[u8]) -> Vec<Action> {
    let arg = |args: &[Vec<u8>], index: usize| args.get(index).cloned().unwrap_or_default();
    let dials = |list: &[u8]| channel::dial_list(list).into_iter().map(Action::Dials).collect::<Vec<_>>();
    if is(application, "Dial") {
        // Dial(peers,timeout,options,URL)
        dials(&arg(&channel::app_args(data, 4), 0))
    } else if is(application, "Page") {
        // Page(devices,options,timeout)
        dials(&arg(&channel::app_args(data, 3), 0))
    } else if is(application, "RetryDial") {
        // RetryDial(announce,sleep,retries,dialargs): dialargs is Dial's data.
        let dial_data = arg(&channel::app_args(data, 4), 3);
        dials(&arg(&channel::app_args(&dial_data, 4), 0))
    } else if is(application, "Originate") {
        originate_actions(data)
    } else if is(application, "AddQueueMember") {
        // AddQueueMember(queuename,interface,penalty,options,membername,stateinterface)
        let args = channel::app_args(data, 6);
        let mut actions = vec![Action::Dials(Channel::parse(&arg(&args, 1)))];
        let state_interface = arg(&args, 5);
        if !state_interface.is_empty() {
            actions.push(Action::Dials(Channel::parse(&state_interface)));
        }
        actions
    } else if is(application, "Queue") {
        // Queue(queuename,options,URL,announceoverride,timeout,AGI,gosub,rule,position)
        let agi = arg(&channel::app_args(data, 9), 5);
        if agi.is_empty() {
            Vec::new()
        } else {
            vec![Action::StartsAgi(arg(&channel::app_args(&agi, 2), 0))]
        }
    } else if is(application, "AGI") || is(application, "EAGI") || is(application, "DeadAGI") {
        vec![Action::StartsAgi(arg(&channel::app_args(data, 2), 0))]
    } else if is(application, "Exec") || is(application, "TryExec") {
        exec_target(data).into_iter().collect()
    } else if is(application, "ExecIf") {
        // ExecIf(expression?appiftrue(args)[:appiffalse(args)])
        let Some(branches) = after_first(data, b'?') else {
            return Vec::new();
        };
        let (when_true, when_false) = split_outside_parens(branches, b':');
        [Some(when_true), when_false].into_iter().flatten().filter_map(exec_target).collect()
    } else if is(application, "ExecIfTime") {
        // ExecIfTime(times,weekdays,mdays,months[,timezone]?appname[(appargs)])
        after_first(data, b'?').and_then(exec_target).into_iter().collect()
    } else if is(application, "Set") {
        written_name(data).into_iter().map(Action::Writes).collect()
    } else if is(application, "MSet") {
        channel::app_args(data, usize::MAX).iter().filter_map(|pair| written_name(pair)).map(Action::Writes).collect()
    } else if is(application, "Read") || is(application, "ReadExten") {
        let variable = arg(&channel::app_args(data, 2), 0);
        vec![Action::Writes(variable)]
    } else {
        Vec::new()
    }
}

/// Originate(tech_data,type,arg1,arg2,arg3,timeout,options): the channel it creates, the application
/// it runs there for type `app` (in a thread of its own, where nothing is inhibited), and the
/// variables its `v(name=value^...)` option sets on the new channel.
fn originate_actions(data: &[u8]) -> Vec<Action> {
    let args = channel::app_args(data, 7);
    let arg = |index: usize| args.get(index).cloned().unwrap_or_default();
    let mut actions = vec![Action::Dials(Channel::parse(&arg(0)))];
    if arg(1).eq_ignore_ascii_case(b"app") {
        actions.push(Action::Runs { application: arg(2), data: arg(3) });
    }
    // Asterisk splits v()'s argument with ast_strsep at `^`, then each pair at its first `=`.
    let variables = option_argument(&arg(6), b'v');
    if !variables.is_empty() {
        let pairs = app_data::strsep_fields(&variables, b'^').unwrap_or_else(|| vec![variables.clone()]);
        for pair in pairs {
            let name =
                app_data::strsep_fields(&pair, b'=').and_then(|fields| fields.into_iter().next()).unwrap_or(pair);
            actions.push(Action::Writes(name));
        }
    }
    actions
}

/// The argument Asterisk stores for option `letter` in an options string (`ab(x)v(y)` gives `y` for
/// `v`), parsed as `ast_app_parse_options` parses it; empty when the option is absent.
fn option_argument(options: &[u8], letter: u8) -> Vec<u8> {
    app_data::parse_options(options).argument(letter).map(<[u8]>::to_vec).unwrap_or_default()
}

/// `App(args)` as app_exec reads it: the name up to the first `(`, the arguments up to the last `)`.
fn exec_target(text: &[u8]) -> Option<Action> {
    let (name, rest) = match text.iter().position(|&byte| byte == b'(') {
        Some(at) => (&text[..at], &text[at + 1..]),
        None => (text, &b""[..]),
    };
    let args = match rest.iter().rposition(|&byte| byte == b')') {
        Some(at) => &rest[..at],
        None => rest,
    };
    let name = trim_blanks(name);
    (!name.is_empty()).then(|| Action::Runs { application: name.to_vec(), data: args.to_vec() })
}

/// The name a `name=value` assignment writes; `None` without `=`.
fn written_name(assignment: &[u8]) -> Option<Vec<u8>> {
    assignment.iter().position(|&byte| byte == b'=').map(|at| assignment[..at].to_vec())
}

fn after_first(bytes: &[u8], separator: u8) -> Option<&[u8]> {
    bytes.iter().position(|&byte| byte == separator).map(|at| &bytes[at + 1..])
}

/// Splits at the first `separator` outside parentheses.
fn split_outside_parens(bytes: &[u8], separator: u8) -> (&[u8], Option<&[u8]>) {
    let mut depth = 0usize;
    for (at, &byte) in bytes.iter().enumerate() {
        match byte {
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            _ if byte == separator && depth == 0 => return (&bytes[..at], Some(&bytes[at + 1..])),
            _ => {}
        }
    }
    (bytes, None)
}

/// Whether `script` (the first AGI argument) names a program in Asterisk's agi-bin directory: res_agi
/// runs `agi://` and `hagi://` URLs on another host and absolute paths as they are, and resolves
/// anything else inside agi-bin, where a `/` could still climb out (`../../bin/sh`).
pub fn is_agi_bin_script(script: &[u8]) -> bool {
    !script.is_empty() && !script.iter().any(|&byte| matches!(byte, b'/' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialed(application: &str, data: &str) -> Vec<String> {
        actions(application.as_bytes(), data.as_bytes())
            .into_iter()
            .filter_map(|action| match action {
                Action::Dials(channel) => Some(String::from_utf8_lossy(&channel.written()).into_owned()),
                _ => None,
            })
            .collect()
    }

    fn runs(application: &str, data: &str) -> Vec<(String, String)> {
        actions(application.as_bytes(), data.as_bytes())
            .into_iter()
            .filter_map(|action| match action {
                Action::Runs { application, data } => Some((
                    String::from_utf8_lossy(&application).into_owned(),
                    String::from_utf8_lossy(&data).into_owned(),
                )),
                _ => None,
            })
            .collect()
    }

    fn writes(application: &str, data: &str) -> Vec<String> {
        actions(application.as_bytes(), data.as_bytes())
            .into_iter()
            .filter_map(|action| match action {
                Action::Writes(name) => Some(String::from_utf8_lossy(&name).into_owned()),
                _ => None,
            })
            .collect()
    }

    fn agi(application: &str, data: &str) -> Vec<String> {
        actions(application.as_bytes(), data.as_bytes())
            .into_iter()
            .filter_map(|action| match action {
                Action::StartsAgi(script) => Some(String::from_utf8_lossy(&script).into_owned()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn dialing_applications_name_their_second_legs() {
        assert_eq!(dialed("Dial", "PJSIP/1@trunk&Local/2@ctx,30,tT"), ["PJSIP/1@trunk", "Local/2@ctx"]);
        assert_eq!(dialed("dial", "\"IAX2/host/1\""), ["IAX2/host/1"]);
        assert_eq!(dialed("Page", "Local/1@a&DAHDI/g1/5,q"), ["Local/1@a", "DAHDI/g1/5"]);
        assert_eq!(dialed("RetryDial", "beep,5,3,PJSIP/9@trunk&Local/1@a,20"), ["PJSIP/9@trunk", "Local/1@a"]);
        assert_eq!(dialed("Originate", "PJSIP/9@trunk,exten,ctx,s,1"), ["PJSIP/9@trunk"]);
        assert_eq!(dialed("AddQueueMember", "support,PJSIP/9@trunk"), ["PJSIP/9@trunk"]);
        assert_eq!(dialed("AddQueueMember", "support,Local/1@a,,,,IAX2/h/1"), ["Local/1@a", "IAX2/h/1"]);
        assert_eq!(dialed("Dial", ""), ["/"]);
        assert!(dialed("Playback", "PJSIP/1@trunk").is_empty());
    }

    #[test]
    fn nested_applications_are_found() {
        assert_eq!(runs("Exec", "System(id)"), [("System".to_string(), "id".to_string())]);
        assert_eq!(runs("TryExec", " System (a(b))x"), [("System".to_string(), "a(b)".to_string())]);
        assert_eq!(
            runs("ExecIf", "1?System(a):TrySystem(b)"),
            [("System".to_string(), "a".to_string()), ("TrySystem".to_string(), "b".to_string())]
        );
        assert_eq!(runs("ExecIf", "$[1=1]?System(a:b)"), [("System".to_string(), "a:b".to_string())]);
        assert_eq!(runs("ExecIfTime", "*,*,*,*?System(id)"), [("System".to_string(), "id".to_string())]);
        assert_eq!(runs("Originate", "Local/1@a,app,System,id"), [("System".to_string(), "id".to_string())]);
        assert!(runs("Originate", "Local/1@a,exten,ctx,System,1").is_empty());
        assert!(runs("ExecIf", "no question mark").is_empty());
        assert!(runs("Exec", "").is_empty());
    }

    #[test]
    fn agi_programs_are_found() {
        assert_eq!(agi("AGI", "/bin/sh,-c,touch /tmp/x"), ["/bin/sh"]);
        assert_eq!(agi("EAGI", "agi://evil.example/x"), ["agi://evil.example/x"]);
        assert_eq!(agi("AGI", "hello.agi,arg"), ["hello.agi"]);
        assert_eq!(agi("Queue", "support,t,,,,/bin/sh"), ["/bin/sh"]);
        assert_eq!(agi("Queue", "support,t,,,,\"agi://h/x,a\""), ["agi://h/x"]);
        assert!(agi("Queue", "support,t").is_empty());
        assert!(is_agi_bin_script(b"hello.agi"));
        for bad in [&b""[..], b"/bin/sh", b"../../bin/sh", b"agi://host/", b"hagi://h"] {
            assert!(!is_agi_bin_script(bad), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn written_variables_are_found() {
        assert_eq!(writes("Set", "GLOBAL(X)=1"), ["GLOBAL(X)"]);
        assert_eq!(writes("MSet", "A=1,ENV(LD_PRELOAD)=/x"), ["A", "ENV(LD_PRELOAD)"]);
        assert_eq!(writes("Read", "GLOBAL(X),beep"), ["GLOBAL(X)"]);
        assert_eq!(writes("Originate", "Local/1@a,exten,ctx,s,1,30,v(A=1^GLOBAL(T)=x)"), ["A", "GLOBAL(T)"]);
        assert_eq!(writes("Originate", "Local/1@a,exten,ctx,s,1,30,b(ctx^s^1)v(SHARED(x)=1)"), ["SHARED(x)"]);
        assert!(writes("Originate", "Local/1@a,exten,ctx,s,1,30,b(x^y^1)").is_empty());
        assert!(writes("Set", "novalue").is_empty());
    }

    #[test]
    fn odd_inputs_never_panic() {
        for application in [
            "Dial",
            "Page",
            "RetryDial",
            "Originate",
            "AddQueueMember",
            "Queue",
            "AGI",
            "Exec",
            "ExecIf",
            "ExecIfTime",
            "Set",
            "MSet",
            "Read",
        ] {
            for data in
                [&b""[..], b"(", b")", b"((((", b"?", b"?:", b",,,,,,,,,,", b"\\", b"\"", b"v(", b"&&&", b"\xff("]
            {
                let _ = actions(application.as_bytes(), data);
            }
        }
        assert_eq!(option_argument(b"v(", b'v'), b"");
        assert_eq!(option_argument(b"v(a(b)c)", b'v'), b"a(b)c");
    }
}
