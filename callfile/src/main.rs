//! `callfile`: check call files and submit them to pbx_spool_rs's spool safely.
//!
//! Argument parsing and exit codes only; the work is done by [`submit`], over the module's own parser and
//! policy from `pbx_spool_core`.

use std::ffi::{OsStr, OsString};
use std::io::{self, IsTerminal, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

mod submit;

// The core's modules under their own names, as `submit` refers to them.
use pbx_spool_core::{bookkeeping, callfile, config, policy};

use submit::{BulkRequest, CallSpec, Error, Exit, Settings, Source, SubmitRequest, Target, When};

const USAGE: &str = "\
callfile: check Asterisk call files and submit them to the outgoing spool (pbx_spool_rs)

Usage:
  callfile check [--config CONF] FILE...
  callfile submit [OPTIONS] FILE
  callfile submit [OPTIONS] --channel TECH/DEST
           (--extension EXTEN [--context CTX] [--priority N] | --application APP [--data DATA])
           [--set NAME=VALUE]... [--callerid CID] [--account ACCT]
           [--retries N] [--retry-time S] [--wait-time S] [--archive]
  callfile bulk [OPTIONS] NUMBERS.txt --template CAMPAIGN.call [--spread DURATION]
  callfile --help | --version

Commands:
  check   Validate each FILE with the spool's own parser and policy: every parser diagnostic
          (with its line), the validity rule and the policy verdict, then 'FILE: OK' for each
          file the spool would place.
  submit  Validate a call file (FILE, or one built from the flags) and place it in
          <spool>/outgoing: written and fsynced in <spool>/tmp (or <spool>), mode 0660, owned by
          the owner of outgoing/ when run as root, its mtime set to the due time, then renamed in
          atomically as <prefix>-<unix ms>-<pid>-<n>.call (never replacing a file). FILE is
          submitted byte for byte. Prints the final path. Invalid or refused files are not
          submitted.
  bulk    One call file per number in NUMBERS.txt (one per line; empty lines and lines
          starting with # or ; are skipped). Every {number} in the template is replaced by the
          number (Asterisk's own ${...} expressions are left alone); numbers may not contain
          blanks, control characters or ';'. The template is checked once with the first
          number, then every generated file; refused numbers are skipped. Progress on stderr
          when it is a terminal; a summary at the end.

Options:
  --spool DIR           Spool directory, the parent of outgoing/. Default: astspooldir from
                        asterisk.conf, else /var/spool/asterisk.
  --asterisk-conf PATH  asterisk.conf to take astspooldir from ([directories] section).
                        Default: /etc/asterisk/asterisk.conf.
  --config PATH         pbx_spool_rs.conf whose policy to apply; default: the built-in defaults.
                        Read offline: only [category] and 'key = value' / 'key => value' lines
                        and ; comments; #include, #exec and templates are not supported.
  --at 'YYYY-MM-DD HH:MM[:SS]'
                        Due time, in local time (also with T between date and time).
  --in DURATION         Due after DURATION: 90s, 10m, 1h30m, 2d; a bare number is seconds.
                        Without --at or --in, the call is due at once.
  --spread DURATION     (bulk) Spread the due times evenly over DURATION from the start time.
  --name PREFIX         File name prefix: letters, digits, '_', '.', '-'. Default: the name of
                        FILE or of the template without .call, else 'callfile'.

Call flags (submit without FILE):
  --channel TECH/DEST   The first leg, e.g. PJSIP/100 or Local/100@from-internal.
  --extension EXTEN     Enter the dialplan at EXTEN, with --context CTX and --priority N.
  --application APP     Or run APP with --data DATA.
  --set NAME=VALUE      A channel variable (Set: line); repeatable, order kept.
  --callerid CID        Caller id, e.g. '\"Reception\" <100>'.
  --account ACCT        CDR account code.
  --retries N           MaxRetries: redials after the first attempt (default 0).
  --retry-time S        RetryTime: seconds between attempts (default 300; 5m also works).
  --wait-time S         WaitTime: seconds to ring (default 45).
  --archive             Archive: yes (keep the finished file in outgoing_done/).

Not checked offline: writes to dialplan functions in Set: lines (FILE(), DB(), SHELL()...)
need Asterisk's function registry; they are listed as notes. Run
  asterisk -rx 'spool check FILE'
for the complete verdict, and the owner check is only approximated.

Exit status: 0 every file would be (or was) placed; 1 some file is invalid or refused by the
policy; 2 usage or I/O error.
";

/// Options that take a value; all others are flags.
const VALUE_OPTIONS: &[&str] = &[
    "spool",
    "asterisk-conf",
    "config",
    "channel",
    "context",
    "extension",
    "priority",
    "application",
    "data",
    "set",
    "callerid",
    "account",
    "retries",
    "retry-time",
    "wait-time",
    "at",
    "in",
    "name",
    "template",
    "spread",
];
const FLAG_OPTIONS: &[&str] = &["archive", "help", "version"];

const COMMON: &[&str] = &["spool", "asterisk-conf", "config", "help"];
const CALL_FLAGS: &[&str] = &[
    "channel",
    "context",
    "extension",
    "priority",
    "application",
    "data",
    "set",
    "callerid",
    "account",
    "retries",
    "retry-time",
    "wait-time",
    "archive",
];

/// The command line, split into options (in order) and positional arguments.
struct CommandLine {
    options: Vec<(String, Option<OsString>)>,
    positional: Vec<OsString>,
}

impl CommandLine {
    fn parse(args: Vec<OsString>) -> Result<CommandLine, Error> {
        let mut options = Vec::new();
        let mut positional = Vec::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let bytes = arg.as_bytes();
            if bytes == b"--" {
                positional.extend(args.by_ref());
                break;
            }
            if bytes == b"-h" {
                options.push(("help".to_string(), None));
                continue;
            }
            let Some(option) = bytes.strip_prefix(b"--") else {
                if bytes.len() > 1 && bytes[0] == b'-' {
                    return Err(usage(format!("unknown option {}", arg.to_string_lossy())));
                }
                positional.push(arg);
                continue;
            };
            let (name, inline) = match option.iter().position(|&byte| byte == b'=') {
                Some(at) => (&option[..at], Some(OsStr::from_bytes(&option[at + 1..]).to_os_string())),
                None => (option, None),
            };
            let name = String::from_utf8_lossy(name).into_owned();
            if VALUE_OPTIONS.contains(&name.as_str()) {
                let value = match inline {
                    Some(value) => value,
                    None => args.next().ok_or_else(|| usage(format!("--{name} needs a value")))?,
                };
                options.push((name, Some(value)));
            } else if FLAG_OPTIONS.contains(&name.as_str()) {
                if inline.is_some() {
                    return Err(usage(format!("--{name} takes no value")));
                }
                options.push((name, None));
            } else {
                return Err(usage(format!("unknown option --{name}")));
            }
        }
        Ok(CommandLine { options, positional })
    }

    fn has(&self, name: &str) -> bool {
        self.options.iter().any(|(option, _)| option == name)
    }

    /// Fails on options `command` does not take, and on repeated options other than `--set`.
    fn allow_only(&self, command: &str, allowed: &[&[&str]]) -> Result<(), Error> {
        for (index, (name, _)) in self.options.iter().enumerate() {
            if !allowed.iter().any(|group| group.contains(&name.as_str())) {
                return Err(usage(format!("{command} does not take --{name}")));
            }
            if name != "set" && self.options[..index].iter().any(|(earlier, _)| earlier == name) {
                return Err(usage(format!("--{name} given twice")));
            }
        }
        Ok(())
    }

    fn value(&self, name: &str) -> Option<&OsStr> {
        self.options.iter().find(|(option, _)| option == name).and_then(|(_, value)| value.as_deref())
    }

    fn bytes(&self, name: &str) -> Option<Vec<u8>> {
        self.value(name).map(|value| value.as_bytes().to_vec())
    }

    fn path(&self, name: &str) -> Option<PathBuf> {
        self.value(name).map(PathBuf::from)
    }

    fn text(&self, name: &str) -> Result<Option<String>, Error> {
        self.value(name)
            .map(|value| value.to_str().map(str::to_string).ok_or_else(|| usage(format!("--{name} is not valid text"))))
            .transpose()
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, Error> {
        self.text(name)?
            .map(|text| text.parse().map_err(|_| usage(format!("--{name} {text:?}: expected a whole number"))))
            .transpose()
    }

    fn seconds(&self, name: &str) -> Result<Option<i32>, Error> {
        self.text(name)?
            .map(|text| submit::parse_seconds(&text).map_err(|why| usage(format!("--{name} {text:?}: {why}"))))
            .transpose()
    }

    fn settings(&self) -> Settings {
        Settings { spool: self.path("spool"), asterisk_conf: self.path("asterisk-conf"), config: self.path("config") }
    }

    fn when(&self) -> Result<When, Error> {
        match (self.text("at")?, self.text("in")?) {
            (Some(_), Some(_)) => Err(usage("give --at or --in, not both")),
            (Some(at), None) => Ok(When::At(at)),
            (None, Some(delay)) => Ok(When::In(delay)),
            (None, None) => Ok(When::Now),
        }
    }
}

fn usage(message: impl Into<String>) -> Error {
    Error::usage(format!("{}; see callfile --help", message.into()))
}

fn call_spec(line: &CommandLine) -> Result<CallSpec, Error> {
    let channel = line
        .bytes("channel")
        .ok_or_else(|| usage("submit needs a call file, or --channel with --extension or --application"))?;
    let target = match (line.bytes("extension"), line.bytes("application")) {
        (Some(_), Some(_)) => return Err(usage("give --extension or --application, not both")),
        (None, None) => return Err(usage("submit --channel needs --extension or --application")),
        (Some(extension), None) => {
            if line.has("data") {
                return Err(usage("--data goes with --application"));
            }
            let priority = line.number::<i32>("priority")?;
            Target::Dialplan { context: line.bytes("context"), extension, priority }
        }
        (None, Some(name)) => {
            if line.has("context") || line.has("priority") {
                return Err(usage("--context and --priority go with --extension"));
            }
            Target::Application { name, data: line.bytes("data") }
        }
    };
    let mut variables = Vec::new();
    for (name, value) in &line.options {
        let (Some(value), "set") = (value, name.as_str()) else {
            continue;
        };
        let bytes = value.as_bytes();
        let Some(at) = bytes.iter().position(|&byte| byte == b'=') else {
            return Err(usage(format!("--set {:?}: expected NAME=VALUE", value.to_string_lossy())));
        };
        variables.push((bytes[..at].to_vec(), bytes[at + 1..].to_vec()));
    }
    let max_retries = match line.number::<u32>("retries")? {
        Some(retries) => Some(i32::try_from(retries).map_err(|_| usage("--retries is too large"))?),
        None => None,
    };
    Ok(CallSpec {
        channel,
        target,
        variables,
        callerid: line.bytes("callerid"),
        account: line.bytes("account"),
        max_retries,
        retry_time: line.seconds("retry-time")?,
        wait_time: line.seconds("wait-time")?,
        archive: line.has("archive"),
    })
}

fn run(args: Vec<OsString>) -> Result<Exit, Error> {
    let line = CommandLine::parse(args)?;
    if line.has("version") {
        println!("callfile (pbx_spool_rs) {}", env!("CARGO_PKG_VERSION"));
        return Ok(Exit::Success);
    }
    let command = line.positional.first().map(|command| command.to_string_lossy().into_owned());
    if line.has("help") || command.as_deref() == Some("help") {
        print!("{USAGE}");
        return Ok(Exit::Success);
    }
    let Some(command) = command else {
        return Err(usage("no command given (check, submit or bulk)"));
    };
    let operands = &line.positional[1..];
    let (mut stdout, mut stderr) = (io::stdout().lock(), io::stderr());
    match command.as_str() {
        "check" => {
            line.allow_only("check", &[&["config", "help"]])?;
            let files: Vec<PathBuf> = operands.iter().map(PathBuf::from).collect();
            submit::check_command(&line.settings(), &files, &mut stdout, &mut stderr)
        }
        "submit" => {
            line.allow_only("submit", &[COMMON, CALL_FLAGS, &["at", "in", "name"]])?;
            let source = match operands {
                [] => Source::Spec(call_spec(&line)?),
                [file] => {
                    if let Some(flag) = CALL_FLAGS.iter().find(|flag| line.has(flag)) {
                        return Err(usage(format!("give a call file or call flags such as --{flag}, not both")));
                    }
                    Source::File(PathBuf::from(file))
                }
                _ => return Err(usage("submit takes one call file")),
            };
            let request = SubmitRequest { source, when: line.when()?, prefix: line.text("name")? };
            submit::submit_command(&line.settings(), &request, &mut stdout, &mut stderr)
        }
        "bulk" => {
            line.allow_only("bulk", &[COMMON, &["template", "at", "in", "spread", "name"]])?;
            let [numbers] = operands else {
                return Err(usage("bulk takes one numbers file"));
            };
            let template = line.path("template").ok_or_else(|| usage("bulk needs --template CAMPAIGN.call"))?;
            let request = BulkRequest {
                numbers: PathBuf::from(numbers),
                template,
                when: line.when()?,
                spread: line.text("spread")?,
                prefix: line.text("name")?,
            };
            let mut progress_out = io::stderr();
            let progress: Option<&mut dyn Write> =
                if progress_out.is_terminal() { Some(&mut progress_out) } else { None };
            submit::bulk_command(&line.settings(), &request, &mut stdout, &mut stderr, progress)
        }
        other => Err(usage(format!("unknown command {other:?} (check, submit or bulk)"))),
    }
}

fn main() {
    let exit = match run(std::env::args_os().skip(1).collect()) {
        Ok(exit) => exit,
        Err(error) => {
            let _ = io::stdout().flush();
            eprintln!("callfile: {error}");
            error.exit
        }
    };
    let _ = io::stdout().flush();
    std::process::exit(exit.code());
}
