//! What each application on the default allow list accepts in each of its arguments and options, as
//! data: for every argument that names a channel, a file, a URL or host, a context, a conference or a
//! command, and every option that records, spies, runs dialplan or reaches another channel, the class
//! of value a call file may give. The policy asks [`judge`] for every application a call file runs;
//! the table in docs/security.md is this table.
//!
//! Arguments are split as the application splits them ([`crate::app_data`]): `AST_STANDARD_APP_ARGS`
//! with the application's own number of fields, options with `ast_app_parse_options`.
//!
//! Pure: bytes in, a verdict out. No I/O, no FFI. Never panics.

use crate::app_data::{self, Options};
use crate::text::escaped;

/// What an argument (or an option's argument) may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepts {
    /// Anything: numbers, digits, text, names the application looks up in its own configuration.
    Anything,
    /// Sound files (`&`-separated, `:` in announcements): names under Asterisk's sounds directory,
    /// never a URL (`://`: the media cache fetches it), an absolute path or a `..` component.
    Prompts,
    /// A name Asterisk makes part of a path or looks up by name: `[A-Za-z0-9_-]` only (or empty).
    Name,
    /// Channels to dial: judged by the channel rules, as second legs.
    Channels,
    /// An AGI script: a bare name in agi-bin (judged with the other AGI programs).
    AgiScript,
    /// A dialplan context entered at priority 1: judged by the context rules.
    Context,
    /// A conference: a name (`[A-Za-z0-9_.@+-]`), judged by the conference rules. ConfBridge hands the
    /// name to MixMonitor as part of its data when the conference is recorded, so a `,` would give
    /// MixMonitor options and a shell command.
    Conference,
    /// Voicemail boxes, `&`-separated `box[@vmcontext]`: no `/` and no `..`.
    Mailboxes,
    /// VoiceMailMain's mailbox: a `box[@vmcontext]`; with no options argument a leading `s` skips the
    /// password (old syntax), so that form is refused.
    MainMailbox,
    /// Originate's first target argument: a context (type `exten`) or an application (type `app`).
    OriginateTarget,
    /// Options, each letter with its own class; letters not listed are accepted (Asterisk ignores
    /// letters it does not know).
    Options(&'static [OptionClass]),
    /// Nothing: the argument must be empty (`allow_argument` admits it as written).
    Nothing,
    /// A field of a manager event (`Name: value`) that does not name one of AMI's own envelope headers
    /// (`Event`, `Response`, `ActionID`, `Privilege`): a second `Event:` line would let the event pass
    /// for another one (a forged `SpoolFinished`) in a client that keeps the last value.
    EventField,
}

/// One option letter and what it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionClass {
    pub letter: u8,
    pub accepts: Accepts,
    pub why: &'static str,
}

/// One argument of an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argument {
    pub name: &'static str,
    pub accepts: Accepts,
    pub why: &'static str,
}

/// An application's arguments in order; `rest` classes any further ones (AGI's, NoOp's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplicationArguments {
    pub application: &'static str,
    pub arguments: &'static [Argument],
    pub rest: Option<Argument>,
}

const fn arg(name: &'static str, accepts: Accepts, why: &'static str) -> Argument {
    Argument { name, accepts, why }
}

const fn opt(letter: u8, accepts: Accepts, why: &'static str) -> OptionClass {
    OptionClass { letter, accepts, why }
}

const fn app(application: &'static str, arguments: &'static [Argument]) -> ApplicationArguments {
    ApplicationArguments { application, arguments, rest: None }
}

const fn app_with_rest(
    application: &'static str,
    arguments: &'static [Argument],
    rest: Argument,
) -> ApplicationArguments {
    ApplicationArguments { application, arguments, rest: Some(rest) }
}

use Accepts::{
    AgiScript, Anything, Channels, Conference, Context, EventField, Mailboxes, MainMailbox, Name, Nothing,
    OriginateTarget, Prompts,
};

const RUNS_DIALPLAN: &str = "runs a dialplan subroutine or continues in a context at any priority, past its guards";
const RECORDS: &str = "lets a party record the call to a file";
const SENDS_URL: &str = "sends a URL to the far end's device";
const PROMPT: &str = "a sound file: a URL would be fetched, a path could read any file";
const MOH_CLASS: &str = "a music class name: Asterisk looks it up by name";

const DIAL_OPTIONS: &[OptionClass] = &[
    opt(b'A', Prompts, "announcement played to the called party"),
    opt(b'b', Nothing, RUNS_DIALPLAN),
    opt(b'B', Nothing, RUNS_DIALPLAN),
    opt(b'F', Nothing, RUNS_DIALPLAN),
    opt(b'G', Nothing, RUNS_DIALPLAN),
    opt(b'U', Nothing, RUNS_DIALPLAN),
    opt(b'm', Name, MOH_CLASS),
    opt(b'p', Nothing, "call screening records the caller's name to a file"),
    opt(b'P', Nothing, "privacy manager records the caller's name and writes the privacy database"),
    opt(b'w', Nothing, RECORDS),
    opt(b'W', Nothing, RECORDS),
    opt(b'x', Nothing, RECORDS),
    opt(b'X', Nothing, RECORDS),
];

const PAGE_OPTIONS: &[OptionClass] = &[
    opt(b'A', Prompts, "announcement played to the paged devices"),
    opt(b'b', Nothing, RUNS_DIALPLAN),
    opt(b'B', Nothing, RUNS_DIALPLAN),
    opt(b'd', Nothing, "full duplex opens every paged phone's microphone to the call"),
    opt(b'r', Nothing, "records the page to a file"),
];

const QUEUE_OPTIONS: &[OptionClass] = &[
    opt(b'b', Nothing, RUNS_DIALPLAN),
    opt(b'B', Nothing, RUNS_DIALPLAN),
    opt(b'F', Nothing, RUNS_DIALPLAN),
    opt(b'm', Name, MOH_CLASS),
    opt(b'w', Nothing, RECORDS),
    opt(b'W', Nothing, RECORDS),
    opt(b'x', Nothing, RECORDS),
    opt(b'X', Nothing, RECORDS),
];

const ORIGINATE_OPTIONS: &[OptionClass] = &[
    opt(b'b', Nothing, RUNS_DIALPLAN),
    opt(b'B', Nothing, RUNS_DIALPLAN),
    opt(b'v', Anything, "variables on the new channel: judged with the Set: lines"),
];

const VOICEMAIL_OPTIONS: &[OptionClass] = &[
    opt(b'd', Context, "digits pressed during the greeting go to an extension of this context"),
    opt(b't', Prompts, "the beep: a sound file, played with ast_stream_and_wait"),
];

const VOICEMAILMAIN_OPTIONS: &[OptionClass] =
    &[opt(b's', Nothing, "skips the password: anyone's messages could be listened to")];

const BACKGROUND_OPTIONS: &[OptionClass] = &[];

/// Every application on the default allow list, with what each argument accepts.
pub const APPLICATION_ARGUMENTS: &[ApplicationArguments] = &[
    app_with_rest(
        "AGI",
        &[arg("command", AgiScript, "res_agi runs paths and agi:// servers as well as agi-bin scripts")],
        arg("arg", Anything, "passed to the script"),
    ),
    app("Answer", &[arg("delay", Anything, "a number")]),
    app(
        "BackGround",
        &[
            arg("filenames", Prompts, PROMPT),
            arg("options", Accepts::Options(BACKGROUND_OPTIONS), "s, n, m, p"),
            arg("langoverride", Name, "a language: part of the sound file's path"),
            arg("context", Context, "digits pressed go to an extension of this context"),
        ],
    ),
    app("Busy", &[arg("timeout", Anything, "a number")]),
    app(
        "ConfBridge",
        &[
            arg("conference", Conference, "people already in it hear and are heard"),
            arg("bridge_profile", Nothing, "a profile can record the whole conference"),
            arg("user_profile", Nothing, "a profile can make the caller admin or marked (locks, kicks, starts it)"),
            arg("menu", Nothing, "a menu can run dialplan (dialplan_exec)"),
        ],
    ),
    app("Congestion", &[arg("timeout", Anything, "a number")]),
    app(
        "Dial",
        &[
            arg("peers", Channels, "second legs: the channel rules"),
            arg("timeout", Anything, "a number"),
            arg("options", Accepts::Options(DIAL_OPTIONS), "see the options"),
            arg("URL", Nothing, SENDS_URL),
        ],
    ),
    app_with_rest(
        "EAGI",
        &[arg("command", AgiScript, "res_agi runs paths and agi:// servers as well as agi-bin scripts")],
        arg("arg", Anything, "passed to the script"),
    ),
    app("Echo", &[]),
    app("Hangup", &[arg("causecode", Anything, "a cause")]),
    app("Milliwatt", &[arg("options", Anything, "o")]),
    app("MusicOnHold", &[arg("class", Name, MOH_CLASS), arg("duration", Anything, "a number")]),
    app_with_rest("NoOp", &[], arg("text", Anything, "logged only")),
    app(
        "Originate",
        &[
            arg("tech_data", Channels, "the channel it creates: the channel rules"),
            arg("type", Anything, "exten or app"),
            arg("arg1", OriginateTarget, "a context (the context rules) or an application (the application rules)"),
            arg("arg2", Anything, "an extension, or the application's data (judged with the application)"),
            arg("arg3", Anything, "a priority (the context rules)"),
            arg("timeout", Anything, "a number"),
            arg("options", Accepts::Options(ORIGINATE_OPTIONS), "see the options"),
        ],
    ),
    app(
        "Page",
        &[
            arg("devices", Channels, "second legs: the channel rules"),
            arg("options", Accepts::Options(PAGE_OPTIONS), "see the options"),
            arg("timeout", Anything, "a number"),
        ],
    ),
    app("Playback", &[arg("filenames", Prompts, PROMPT), arg("options", Anything, "skip, noanswer, say, mix")]),
    app("PlayTones", &[arg("arg", Anything, "a tone name or tone list")]),
    app("Progress", &[]),
    app(
        "Queue",
        &[
            arg("queuename", Anything, "a queue the admin configured"),
            arg("options", Accepts::Options(QUEUE_OPTIONS), "see the options"),
            arg("URL", Nothing, SENDS_URL),
            arg("announceoverride", Prompts, PROMPT),
            arg("timeout", Anything, "a number"),
            arg("AGI", AgiScript, "run on the agent's channel"),
            arg("gosub", Nothing, RUNS_DIALPLAN),
            arg("rule", Anything, "a penalty rule the admin configured"),
            arg("position", Anything, "a number"),
        ],
    ),
    app("Ringing", &[]),
    app("SayAlpha", &[arg("string", Anything, "spoken")]),
    app("SayDigits", &[arg("digits", Anything, "spoken")]),
    app("SayNumber", &[arg("digits", Anything, "spoken"), arg("gender", Anything, "f, m, c, n")]),
    app("SayPhonetic", &[arg("string", Anything, "spoken")]),
    app(
        "SendDTMF",
        &[
            arg("digits", Anything, "sent on the call's own channel"),
            arg("timeout_ms", Anything, "a number"),
            arg("duration_ms", Anything, "a number"),
            arg("channel", Nothing, "another channel: a call that has nothing to do with the call file"),
            arg("options", Anything, "a"),
        ],
    ),
    app("StopPlayTones", &[]),
    app_with_rest(
        "UserEvent",
        &[arg("eventname", Anything, "a manager event")],
        arg("body", EventField, "its fields, never AMI's own headers"),
    ),
    app(
        "VoiceMail",
        &[
            arg("mailboxes", Mailboxes, "mailbox and voicemail context become directory names"),
            arg("options", Accepts::Options(VOICEMAIL_OPTIONS), "see the options"),
        ],
    ),
    app(
        "VoiceMailMain",
        &[
            arg("mailbox", MainMailbox, "the old syntax's leading s skips the password"),
            arg("options", Accepts::Options(VOICEMAILMAIN_OPTIONS), "see the options"),
        ],
    ),
    app("Wait", &[arg("seconds", Anything, "a number")]),
];

/// The classification of `application`, found ASCII case-insensitively as Asterisk finds applications.
pub fn arguments_of(application: &[u8]) -> Option<&'static ApplicationArguments> {
    APPLICATION_ARGUMENTS.iter().find(|known| application.eq_ignore_ascii_case(known.application.as_bytes()))
}

impl ApplicationArguments {
    /// How many fields the application declares, as `AST_STANDARD_APP_ARGS` separates them
    /// (variadic applications: as many as there are).
    pub fn field_count(&self) -> usize {
        if self.rest.is_some() {
            usize::MAX
        } else {
            self.arguments.len().max(1)
        }
    }

    /// The index of the argument holding options, if any.
    pub fn options_index(&self) -> Option<usize> {
        self.arguments.iter().position(|argument| matches!(argument.accepts, Accepts::Options(_)))
    }
}

/// Where a call file would enter the dialplan, for the context rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub context: Vec<u8>,
    pub priority: Priority,
    /// What leads there, for messages (`Originate`, `BackGround's context`).
    pub by: String,
}

/// A priority as the entering code reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Priority {
    Number(i64),
    /// Text that is no number: a label, where the entering code resolves labels.
    Label(Vec<u8>),
}

/// What an application's arguments lead to that other rules judge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reading {
    pub entries: Vec<Entry>,
    pub conferences: Vec<Vec<u8>>,
}

/// An argument refused by its class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `Dial:URL` or `Dial:b`: what `allow_argument` takes to admit it.
    pub key: String,
    pub value: Vec<u8>,
    pub detail: String,
}

/// Judges `data` as `application`'s arguments. `allowed` are the `allow_argument` keys
/// (`Dial:URL`, `Dial:b`), which admit that argument or option as written.
///
/// # Errors
///
/// The first argument or option whose value its class refuses.
pub fn judge(application: &[u8], data: &[u8], allowed: &[String]) -> Result<Reading, Refusal> {
    let mut reading = Reading::default();
    let Some(spec) = arguments_of(application) else {
        return Ok(reading);
    };
    let args = app_data::standard_args(data, spec.field_count());
    let argument_at = |index: usize| spec.arguments.get(index).copied().or(spec.rest);
    for (index, value) in args.iter().enumerate() {
        let Some(argument) = argument_at(index) else { break };
        let key = format!("{}:{}", spec.application, argument.name);
        // allow_argument admits a value as written; where the value enters a context or joins a
        // conference, the context and conference rules still judge it.
        let admitted = is_allowed(allowed, &key);
        if admitted && !leads_somewhere(argument.accepts) {
            continue;
        }
        let refuse = |what: String| Refusal {
            key: key.clone(),
            value: value.clone(),
            detail: format!(
                "{}'s {} argument {what} ('allow_argument = {key}' admits it)",
                spec.application, argument.name
            ),
        };
        match argument.accepts {
            Accepts::Options(classes) => {
                judge_options(spec, classes, value, allowed, &mut reading)?;
            }
            Accepts::MainMailbox => {
                // vm_execmain: with one argument, leading `s` and `p` letters are options.
                let silent =
                    args.len() < 2 && value.iter().take_while(|&&byte| matches!(byte, b's' | b'p')).any(|&b| b == b's');
                if silent {
                    return Err(refuse(format!("starts with 's', which {}", VOICEMAILMAIN_OPTIONS[0].why)));
                }
                check_value(Accepts::Mailboxes, value).map_err(refuse)?;
            }
            Accepts::Context => {
                if !value.is_empty() {
                    reading.entries.push(Entry {
                        context: value.clone(),
                        priority: Priority::Number(1),
                        by: format!("{}'s {} argument", spec.application, argument.name),
                    });
                }
            }
            Accepts::Conference => {
                if !admitted {
                    check_conference_name(value).map_err(refuse)?;
                }
                reading.conferences.push(value.clone());
            }
            Accepts::OriginateTarget => {
                let kind = args.get(1).map(|kind| app_data::strip(kind)).unwrap_or_default();
                if kind.eq_ignore_ascii_case(b"exten") {
                    let priority = args.get(4).map(|text| originate_priority(text)).unwrap_or(Priority::Number(1));
                    reading.entries.push(Entry {
                        context: value.clone(),
                        priority,
                        by: format!("{}'s exten target", spec.application),
                    });
                }
            }
            accepts => check_value(accepts, value).map_err(refuse)?,
        }
    }
    Ok(reading)
}

fn judge_options(
    spec: &ApplicationArguments,
    classes: &[OptionClass],
    value: &[u8],
    allowed: &[String],
    reading: &mut Reading,
) -> Result<(), Refusal> {
    let options: Options = app_data::parse_options(value);
    for class in classes {
        let Some(argument) = options.argument(class.letter) else { continue };
        let letter = char::from(class.letter);
        let key = format!("{}:{letter}", spec.application);
        if is_allowed(allowed, &key) && !leads_somewhere(class.accepts) {
            continue;
        }
        let refuse = |what: String| Refusal {
            key: key.clone(),
            value: value.to_vec(),
            detail: format!("{}'s option {letter} {what} ('allow_argument = {key}' admits it)", spec.application),
        };
        match class.accepts {
            Accepts::Nothing => return Err(refuse(format!("is refused: it {}", class.why))),
            Accepts::Context => {
                let context = if argument.is_empty() { None } else { Some(argument.to_vec()) };
                if let Some(context) = context {
                    reading.entries.push(Entry {
                        context,
                        priority: Priority::Number(1),
                        by: format!("{}'s option {letter}", spec.application),
                    });
                }
            }
            accepts => check_value(accepts, argument).map_err(refuse)?,
        }
    }
    Ok(())
}

/// Classes whose value the context or conference rules judge as well, whatever `allow_argument` says.
fn leads_somewhere(accepts: Accepts) -> bool {
    matches!(accepts, Accepts::Context | Accepts::Conference | Accepts::OriginateTarget)
}

fn is_allowed(allowed: &[String], key: &str) -> bool {
    // Application names compare case-insensitively, argument names too, option letters exactly.
    allowed.iter().any(|entry| match (entry.split_once(':'), key.split_once(':')) {
        (Some((app, what)), Some((key_app, key_what))) => {
            app.trim().eq_ignore_ascii_case(key_app)
                && if key_what.len() == 1 {
                    what.trim() == key_what
                } else {
                    what.trim().eq_ignore_ascii_case(key_what)
                }
        }
        _ => false,
    })
}

/// `sscanf("%30d")` as Originate reads its priority: blanks, a sign, digits.
fn originate_priority(text: &[u8]) -> Priority {
    let trimmed = crate::text::trim_blanks_start(text);
    let (negative, digits) = match trimmed.first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let digits: Vec<u8> = digits.iter().copied().take(30).take_while(u8::is_ascii_digit).collect();
    if text.is_empty() {
        return Priority::Number(1);
    }
    match std::str::from_utf8(&digits).ok().and_then(|digits| digits.parse::<i64>().ok()) {
        Some(number) => Priority::Number(if negative { -number } else { number }),
        None => Priority::Label(text.to_vec()),
    }
}

/// Whether `value` is acceptable to a class that looks only at the value; `Err` says why not.
fn check_value(accepts: Accepts, value: &[u8]) -> Result<(), String> {
    match accepts {
        Accepts::Nothing if !value.is_empty() => Err("must be empty".to_string()),
        Accepts::Prompts => check_prompts(value),
        Accepts::Name if !value.iter().all(|&byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-')) => {
            Err("must be a name (letters, digits, '_' and '-')".to_string())
        }
        Accepts::Mailboxes if value.contains(&b'/') || has_dot_dot(value) => {
            Err("must be mailbox names (no '/' or '..')".to_string())
        }
        Accepts::EventField => check_event_field(value),
        _ => Ok(()),
    }
}

/// A conference name ConfBridge can use safely: it becomes part of MixMonitor's data
/// (`confbridge-<name>-<time>.wav`) when the conference is recorded, and of channel names.
fn check_conference_name(value: &[u8]) -> Result<(), String> {
    let safe = |byte: &u8| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.' | b'@' | b'+');
    if value.iter().all(safe) {
        Ok(())
    } else {
        Err("must be a conference name (letters, digits and '_', '-', '.', '@', '+'): ConfBridge passes it to \
             MixMonitor when the conference is recorded, where ',' starts options and a shell command"
            .to_string())
    }
}

/// AMI's own headers, which a manager event must not carry twice.
const AMI_ENVELOPE_HEADERS: [&str; 4] = ["Event", "Response", "ActionID", "Privilege"];

/// A `Name: value` field of UserEvent's body: anything but a second copy of an envelope header (the
/// name before the `:`, blanks trimmed, any case).
fn check_event_field(value: &[u8]) -> Result<(), String> {
    let name = value.split(|&byte| byte == b':').next().unwrap_or_default();
    let name = String::from_utf8_lossy(app_data::strip(name)).into_owned();
    match AMI_ENVELOPE_HEADERS.iter().find(|header| header.eq_ignore_ascii_case(&name)) {
        Some(header) => Err(format!(
            "names AMI's own {header} header: the event would carry it twice and could pass for another event"
        )),
        None => Ok(()),
    }
}

fn has_dot_dot(value: &[u8]) -> bool {
    value.windows(2).any(|pair| pair == b"..")
}

/// Sound file names: never a URL, an absolute path or a climb out of the sounds directory.
fn check_prompts(value: &[u8]) -> Result<(), String> {
    if value.windows(3).any(|window| window == b"://") {
        return Err("is a URL (Asterisk would fetch it); give a sound file's name".to_string());
    }
    for piece in value.split(|&byte| matches!(byte, b'&' | b':')) {
        // Playback and BackGround split with ast_strsep(AST_STRSEP_STRIP | AST_STRSEP_TRIM), which
        // removes blanks and a pair of quotes around each name: `'/var/x'` is an absolute path there.
        let piece = strip_blanks_and_quotes(piece);
        if piece.first() == Some(&b'/') {
            return Err(
                "is an absolute path; give the sound file's name relative to Asterisk's sounds directory".to_string()
            );
        }
        if piece.split(|&byte| byte == b'/').any(|component| component == b"..") {
            return Err("climbs out of Asterisk's sounds directory ('..')".to_string());
        }
    }
    Ok(())
}

/// `piece` without Asterisk's blanks and quote characters at either end, however many: at least
/// what `ast_strip_quoted` followed by `ast_strip` leaves.
fn strip_blanks_and_quotes(mut piece: &[u8]) -> &[u8] {
    loop {
        let stripped = app_data::strip(piece);
        let stripped = stripped.strip_prefix(b"'").or_else(|| stripped.strip_prefix(b"\"")).unwrap_or(stripped);
        let stripped = stripped.strip_suffix(b"'").or_else(|| stripped.strip_suffix(b"\"")).unwrap_or(stripped);
        if stripped.len() == piece.len() {
            return piece;
        }
        piece = stripped;
    }
}

/// `value` as it may appear in a log line.
pub fn shown(value: &[u8]) -> String {
    escaped(value, 200)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applications::DEFAULT_ALLOWED_APPLICATIONS;

    fn refused(application: &str, data: &str) -> Option<String> {
        judge(application.as_bytes(), data.as_bytes(), &[]).err().map(|refusal| refusal.key)
    }

    #[test]
    fn every_default_application_is_classified() {
        for application in DEFAULT_ALLOWED_APPLICATIONS {
            assert!(arguments_of(application.as_bytes()).is_some(), "{application}");
        }
    }

    #[test]
    fn prompts_are_names_under_the_sounds_directory() {
        for good in ["hello-world", "custom/welcome&digits/1", "tt-monkeys", ""] {
            assert_eq!(refused("Playback", good), None, "{good}");
            assert_eq!(refused("BackGround", good), None, "{good}");
        }
        for bad in [
            "http://127.0.0.1:8080/x",
            "hello&https://evil/x.wav",
            "/var/spool/asterisk/voicemail/default/1234/INBOX/msg0000",
            "hello& /etc/passwd",
            "../../../../etc/passwd",
            "custom/../../x",
            "\"http://evil/x\"",
            "ht\\tp://evil/x",
        ] {
            assert_eq!(refused("Playback", bad).as_deref(), Some("Playback:filenames"), "{bad}");
        }
        assert_eq!(refused("Queue", "support,,,http://evil/x").as_deref(), Some("Queue:announceoverride"));
        assert_eq!(refused("Dial", "PJSIP/100,30,A(/etc/passwd)").as_deref(), Some("Dial:A"));
        assert_eq!(refused("Dial", "PJSIP/100,30,A(beep:/etc/x)").as_deref(), Some("Dial:A"));
        assert_eq!(refused("Page", "PJSIP/100,A(http://x/y)").as_deref(), Some("Page:A"));
    }

    #[test]
    fn names_are_names() {
        assert_eq!(refused("MusicOnHold", "default,10"), None);
        assert_eq!(refused("MusicOnHold", "../../etc").as_deref(), Some("MusicOnHold:class"));
        assert_eq!(refused("BackGround", "hello,,fr_FR"), None);
        assert_eq!(refused("BackGround", "hello,,../../tmp").as_deref(), Some("BackGround:langoverride"));
        assert_eq!(refused("Dial", "PJSIP/100,30,m(../x)").as_deref(), Some("Dial:m"));
    }

    #[test]
    fn options_that_record_run_dialplan_or_reach_others_are_refused() {
        for (application, data, key) in [
            ("Dial", "PJSIP/100,30,b(ctx^s^1)", "Dial:b"),
            ("Dial", "PJSIP/100,30,tTU(sub)", "Dial:U"),
            ("Dial", "PJSIP/100,30,x", "Dial:x"),
            ("Dial", "PJSIP/100,30,\\x", "Dial:x"),
            ("Dial", "PJSIP/100,30,G(ctx^s^3)", "Dial:G"),
            ("Dial", "PJSIP/100,30,,http://evil/", "Dial:URL"),
            ("Queue", "support,X", "Queue:X"),
            ("Queue", "support,t,,,,,sub^s^1", "Queue:gosub"),
            ("Page", "PJSIP/100,d", "Page:d"),
            ("Page", "PJSIP/100,r", "Page:r"),
            ("Originate", "Local/s@ctx,exten,ctx,s,1,,b(x^y^1)", "Originate:b"),
            ("SendDTMF", "123,,,PJSIP/100-00000001", "SendDTMF:channel"),
            ("VoiceMailMain", "1234@default,s", "VoiceMailMain:s"),
            ("VoiceMailMain", "s1234@default", "VoiceMailMain:mailbox"),
            ("VoiceMailMain", "ps1234", "VoiceMailMain:mailbox"),
            ("VoiceMail", "../../x", "VoiceMail:mailboxes"),
            ("ConfBridge", "1000,,admin_user", "ConfBridge:user_profile"),
            ("ConfBridge", "1000,record_bridge", "ConfBridge:bridge_profile"),
        ] {
            assert_eq!(refused(application, data).as_deref(), Some(key), "{application}({data})");
        }
        // A byte's low seven bits are the option letter: 0xf8 is `x`.
        assert_eq!(judge(b"Dial", b"PJSIP/100,30,\xf8", &[]).unwrap_err().key, "Dial:x");
        for (application, data) in [
            ("Dial", "PJSIP/100,30,tTr"),
            ("Dial", "Local/1@ctx/n,,m(default)"),
            ("Queue", "support,t,,beep,30"),
            ("VoiceMail", "1234@default,u"),
            ("VoiceMailMain", "1234@default"),
            ("VoiceMailMain", ""),
            ("VoiceMailMain", "1234"),
            ("ConfBridge", "1000"),
            ("SendDTMF", "123,250"),
            ("Originate", "Local/s@ctx,exten,ctx,s,1,,v(A=1)"),
        ] {
            assert_eq!(refused(application, data), None, "{application}({data})");
        }
    }

    #[test]
    fn allow_argument_admits_one_argument_or_option() {
        let allowed = ["dial:b".to_string(), "Queue:URL".to_string()];
        assert!(judge(b"Dial", b"PJSIP/100,,b(x^s^1)", &allowed).is_ok());
        assert!(judge(b"Dial", b"PJSIP/100,,B(x^s^1)", &allowed).is_err());
        assert!(judge(b"Queue", b"q,,http://x", &allowed).is_ok());
        let refusal = judge(b"Dial", b"PJSIP/100,,U(x)", &allowed).unwrap_err();
        assert_eq!(
            refusal.detail,
            "Dial's option U is refused: it runs a dialplan subroutine or continues in a context at any priority, \
             past its guards ('allow_argument = Dial:U' admits it)"
        );
    }

    #[test]
    fn entries_and_conferences_are_read() {
        let reading = judge(b"Originate", b"Local/s@a,exten,outbound,s,3", &[]).unwrap();
        assert_eq!(reading.entries[0].context, b"outbound");
        assert_eq!(reading.entries[0].priority, Priority::Number(3));
        let reading = judge(b"Originate", b"Local/s@a,exten,outbound,s", &[]).unwrap();
        assert_eq!(reading.entries[0].priority, Priority::Number(1));
        let reading = judge(b"Originate", b"Local/s@a,exten,outbound,s,start", &[]).unwrap();
        assert_eq!(reading.entries[0].priority, Priority::Label(b"start".to_vec()));
        let reading = judge(b"BackGround", b"hello,,,menu", &[]).unwrap();
        assert_eq!(reading.entries[0].context, b"menu");
        let reading = judge(b"VoiceMail", b"1234,d(ivr)", &[]).unwrap();
        assert_eq!(reading.entries[0].context, b"ivr");
        let reading = judge(b"ConfBridge", b"\"sales-1\"", &[]).unwrap();
        assert_eq!(reading.conferences, [b"sales-1".to_vec()]);
    }

    #[test]
    fn quoted_prompts_are_judged_as_playback_unquotes_them() {
        // ast_strsep(AST_STRSEP_STRIP | AST_STRSEP_TRIM) removes a pair of quotes around each name.
        for bad in [
            "'/var/spool/asterisk/voicemail/default/1234/INBOX/msg0000'",
            "\\\"/var/spool/asterisk/voicemail/default/1234/INBOX/msg0000\\\"",
            "beep&' /etc/passwd '",
            "'../x'",
            "\\\"'../x'\\\"",
            "beep&\"'/etc/x'\"",
        ] {
            assert_eq!(refused("Playback", bad).as_deref(), Some("Playback:filenames"), "{bad}");
            assert_eq!(refused("BackGround", bad).as_deref(), Some("BackGround:filenames"), "{bad}");
        }
        for good in ["'beep'", "\\\"beep\\\"", "'custom/welcome'&beep", "''"] {
            assert_eq!(refused("Playback", good), None, "{good}");
        }
    }

    #[test]
    fn voicemail_beep_is_a_sound_name() {
        assert_eq!(refused("VoiceMail", "1234@default,st(http://127.0.0.1:8080/b)").as_deref(), Some("VoiceMail:t"));
        assert_eq!(refused("VoiceMail", "1234@default,t(/var/spool/x/msg0000)").as_deref(), Some("VoiceMail:t"));
        assert_eq!(refused("VoiceMail", "1234@default,t('/etc/x')").as_deref(), Some("VoiceMail:t"));
        for good in ["1234@default,st(beep)", "1234@default,t", "1234@default,t()", "1234,su"] {
            assert_eq!(refused("VoiceMail", good), None, "{good}");
        }
    }

    #[test]
    fn user_event_bodies_never_carry_amis_own_headers() {
        for bad in ["Report,Event: SpoolFinished", "Report,File: a, event :SpoolFinished", "R,actionid: 1"] {
            assert_eq!(refused("UserEvent", bad).as_deref(), Some("UserEvent:body"), "{bad}");
        }
        for good in ["Report,File: a,Events: 3", "Report", "Report,Eventually: yes,Status: ok"] {
            assert_eq!(refused("UserEvent", good), None, "{good}");
        }
    }

    #[test]
    fn conference_names_are_names() {
        for bad in ["\"r,,touch /tmp/x;\"", "a\\,b", "room one", "a/../b", "x$y", "\"a(b)\""] {
            assert_eq!(refused("ConfBridge", bad).as_deref(), Some("ConfBridge:conference"), "{bad}");
        }
        for good in ["1000", "campaign-42", "sales_meeting", "room.7@acme", "+4930"] {
            assert_eq!(refused("ConfBridge", good), None, "{good}");
        }
        let allowed = ["ConfBridge:conference".to_string()];
        let reading = judge(b"ConfBridge", b"\"room one\"", &allowed).unwrap();
        assert_eq!(reading.conferences, [b"room one".to_vec()], "admitted, and still judged by the rules");
    }
}
