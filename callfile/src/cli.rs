//! The command line, declared with clap's derive: commands, flags, their help, and the checks clap can
//! make (values, conflicts, requirements). [`Cli::into_request`] turns it into a request for `commands`.
//!
//! No work here: nothing is read, written or checked beyond the shape of the arguments.
//!
//! The `///` comments on the arguments are clap's help text, written for `callfile --help` (where
//! `[directories]` is an asterisk.conf section, `[:SS]` an optional part and `<prefix>` a placeholder),
//! not rustdoc links or HTML.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use clap::builder::{OsStringValueParser, TypedValueParser};
use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand};

use crate::commands::bulk::{BulkRequest, Manifest};
use crate::commands::submit::{AmiRequest, Source, SubmitRequest};
use crate::conf::{ConfigChoice, Settings};
use crate::render::{CallSpec, Target};
use crate::time::{named_zone, parse_duration, parse_seconds, When};

const ABOUT: &str = "Check Asterisk call files and submit them to the outgoing spool (pbx_spool_rs)";

const LONG_ABOUT: &str = "Check Asterisk call files and submit them to the outgoing spool (pbx_spool_rs), with the \
    module's own parser and security policy. Run 'callfile <command> --help' for a command's \
    options.";

const AFTER_LONG_HELP: &str = "Not checked offline: writes to dialplan functions in Set: lines (FILE(), DB(), \
    SHELL()...) need Asterisk's function registry; they are listed as notes. Run\n\
    \n  asterisk -rx 'spool check FILE'\n\n\
    for the complete verdict; the owner check is only approximated.\n\n\
    Exit status: 0 every file would be (or was) placed; 1 some file is invalid or refused by the policy; 2 \
    usage or I/O error.";

const CHECK_ABOUT: &str = "Validate each FILE as the spool would; 'FILE: OK' for each file it would place";
const CHECK_LONG_ABOUT: &str =
    "Validate each FILE with the spool's own parser and policy: every parser diagnostic (with \
    its line), the validity rule and the policy verdict, then 'FILE: OK' for each file the \
    spool would place.";

const SUBMIT_ABOUT: &str =
    "Validate one call file (FILE, or one built from flags) and place it in <spool>/outgoing atomically, due \
     at --at/--in";
const SUBMIT_LONG_ABOUT: &str = "Validate a call file (FILE, or one built from the call flags) and place it in \
    <spool>/outgoing: written and fsynced in <spool>/tmp (or <spool>), mode 0660, owned by the \
    owner of outgoing/ when run as root, its mtime set to the due time, then renamed in \
    atomically as <prefix>-<unix ms>-<pid>-<n>.call (never replacing a file). FILE is submitted \
    byte for byte. Prints the final path. Invalid or refused files are not \
    submitted.\n\nWithout FILE: --channel, and --extension (with --context, --priority) or \
    --application (with --data).";

const BULK_ABOUT: &str =
    "One call file per number in NUMBERS.txt from a template with {number}, due times spread over --spread";
const BULK_LONG_ABOUT: &str =
    "One call file per number in NUMBERS.txt (one per line; empty lines and lines starting with \
    # or ; are skipped). Every {number} in the template is replaced by the number (Asterisk's \
    own ${...} expressions are left alone); numbers may not contain blanks, control characters \
    or ';'. The template is checked once with the first number, then every generated file; \
    refused numbers are skipped. A progress bar on stderr when it is a terminal; a summary at \
    the end with the first and last due time in the campaign's time zone and in UTC.\n\n\
    The rules are those of the installed pbx_spool_rs.conf (in astetcdir from asterisk.conf, \
    else /etc/asterisk), as the module and 'spool check' apply them, unless --config or \
    --no-config says otherwise. When the files join a campaign with calling hours (by their \
    names, <prefix>-...call, or their Channel:), --spread counts open time only: due times that \
    would fall outside the hours are moved into the next open window, keeping their spacing, \
    and a warning on stderr says how many (the spool would only hold them and dial them in a \
    burst when the window opens).\n\n\
    A manifest lists every number with its file name and due time (RFC 3339, in the campaign's \
    zone), or why it was refused: CSV with the header number,file,due,refused.";

/// `callfile`'s command line.
#[derive(Debug, Parser)]
#[command(
    name = "callfile",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_long_help = AFTER_LONG_HELP,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per run and turned into a `Request` at once: the size of its largest variant (`submit`
// with its call and --ami flags) costs nothing, and clap's `flatten` cannot take a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(about = CHECK_ABOUT, long_about = CHECK_LONG_ABOUT, after_long_help = AFTER_LONG_HELP)]
    Check {
        #[command(flatten)]
        config: ConfigArg,
        /// Call files to check.
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
    },
    #[command(about = SUBMIT_ABOUT, long_about = SUBMIT_LONG_ABOUT, after_long_help = AFTER_LONG_HELP)]
    Submit {
        #[command(flatten)]
        spool: SpoolArgs,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        when: WhenArgs,
        #[command(flatten)]
        name: NameArg,
        #[command(flatten)]
        call: CallArgs,
        #[command(flatten)]
        ami: AmiArgs,
        /// A call file to submit byte for byte (instead of the call flags).
        #[arg(value_name = "FILE", conflicts_with = "call_flags")]
        file: Option<PathBuf>,
    },
    #[command(about = BULK_ABOUT, long_about = BULK_LONG_ABOUT, after_long_help = AFTER_LONG_HELP)]
    Bulk {
        #[command(flatten)]
        spool: SpoolArgs,
        #[command(flatten)]
        config: BulkConfigArgs,
        /// The call file template; every {number} in it is replaced by each number.
        #[arg(long, value_name = "CAMPAIGN.call")]
        template: PathBuf,
        #[command(flatten)]
        when: WhenArgs,
        /// Spread the due times evenly over DURATION from the start time (--at, --in or now).
        #[arg(long, value_name = "DURATION", value_parser = check_duration)]
        spread: Option<String>,
        #[command(flatten)]
        name: NameArg,
        /// Put the number in each file name: <prefix>-<number>-<unix ms>-<pid>-<n>.call; characters
        /// other than letters, digits, '+', '-', '_' and '.' become '_'; at most 40 characters of it.
        #[arg(long)]
        name_with_number: bool,
        #[command(flatten)]
        manifest: ManifestArgs,
        /// The numbers, one per line.
        #[arg(value_name = "NUMBERS.txt")]
        numbers: PathBuf,
    },
    /// Writes the manual pages (callfile.1 and one per command) into DIR: run by `make deb` when it
    /// builds the package, not by admins, so it is hidden from --help and from the pages themselves.
    #[command(name = "generate-man", hide = true)]
    GenerateMan {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct BulkConfigArgs {
    /// pbx_spool_rs.conf whose policy and campaigns to apply. Default: the installed one,
    /// <astetcdir>/pbx_spool_rs.conf (astetcdir from asterisk.conf, else /etc/asterisk); when it does
    /// not exist the built-in defaults apply (a note says so); unreadable or invalid, nothing is
    /// submitted. Read offline: only [category] and 'key = value' / 'key => value' lines and ;
    /// comments; #include, #exec and templates are not supported.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Apply the built-in defaults, not the installed pbx_spool_rs.conf: no campaign, no calling hours.
    #[arg(long, conflicts_with = "config")]
    no_config: bool,
}

#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// Where to write the manifest (replaced if it exists). Default: beside NUMBERS.txt, named
    /// <NUMBERS>.manifest.csv, or <NUMBERS>.manifest-2.csv and so on when that exists (an earlier
    /// manifest is never replaced). It is created before any call file is placed.
    #[arg(long, value_name = "PATH")]
    manifest: Option<PathBuf>,
    /// Write no manifest.
    #[arg(long, conflicts_with = "manifest")]
    no_manifest: bool,
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// pbx_spool_rs.conf whose policy to apply; default: the built-in defaults. Read offline: only
    /// [category] and 'key = value' / 'key => value' lines and ; comments; #include, #exec and templates
    /// are not supported.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SpoolArgs {
    /// Spool directory, the parent of outgoing/. Default: astspooldir from asterisk.conf, else
    /// /var/spool/asterisk.
    #[arg(long, value_name = "DIR")]
    spool: Option<PathBuf>,
    /// asterisk.conf to take astspooldir (and, for bulk, astetcdir) from ([directories] section).
    /// Default: /etc/asterisk/asterisk.conf.
    #[arg(long, value_name = "PATH")]
    asterisk_conf: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct WhenArgs {
    /// Due time: 'YYYY-MM-DD HH:MM[:SS]' (also with T between date and time), in the system's time zone
    /// unless --tz names one or the time carries an offset or zone: '2026-12-01T09:30+03:00',
    /// '2026-12-01 09:30[Europe/Moscow]'. A time skipped by a clock change is refused.
    #[arg(long, value_name = "TIME", conflicts_with = "delay")]
    at: Option<String>,
    /// The time zone of --at (not of --in, which counts from now), e.g. Europe/Moscow or UTC (IANA names;
    /// an unknown one is an error).
    /// Default: the system's (TZ, else /etc/localtime).
    #[arg(long, value_name = "ZONE", requires = "at", conflicts_with = "delay", value_parser = check_zone)]
    tz: Option<String>,
    /// Due after DURATION: 90s, 10m, 1h30m, 2d (also '1h 30m', '1.5h'); a bare number is seconds.
    /// Without --at or --in, the call is due at once.
    #[arg(long = "in", id = "delay", value_name = "DURATION", value_parser = check_duration)]
    delay: Option<String>,
}

#[derive(Debug, Args)]
pub struct NameArg {
    /// File name prefix: letters, digits, '_', '.', '-'. Default: the name of FILE or of the template
    /// without .call, else 'callfile'.
    #[arg(long, value_name = "PREFIX")]
    name: Option<String>,
}

/// `submit --ami`: through the manager's `SpoolSubmit` instead of a local spool.
#[derive(Debug, Args)]
pub struct AmiArgs {
    /// Submit through pbx_spool_rs's SpoolSubmit AMI action at HOST:PORT instead of writing into a local
    /// spool (for a dialer on another host). The server checks the call with its own rules and answers
    /// with the file's name, or the rule that refused it.
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "name")]
    ami: Option<String>,
    /// The manager user (manager.conf) for --ami; it needs the originate write permission.
    #[arg(long, value_name = "USER", requires = "ami")]
    ami_user: Option<String>,
    /// A file holding the manager user's secret. Default: the CALLFILE_AMI_SECRET environment variable.
    #[arg(long, value_name = "FILE", requires = "ami")]
    ami_secret_file: Option<PathBuf>,
    /// With --ami: the dialer's own ID for this call (SubmitID). Sending the same ID again never places a
    /// second call: the server answers with the first file.
    #[arg(long, value_name = "ID", requires = "ami")]
    submit_id: Option<String>,
}

impl AmiArgs {
    fn request(self) -> Option<AmiRequest> {
        let address = self.ami?;
        Some(AmiRequest {
            address,
            user: self.ami_user.unwrap_or_else(|| "callfile".to_string()),
            secret_file: self.ami_secret_file,
            submit_id: self.submit_id,
        })
    }
}

/// The flags that describe a call (`submit` without FILE).
#[derive(Debug, Args)]
#[group(id = "call_flags", multiple = true)]
pub struct CallArgs {
    /// The first leg, e.g. PJSIP/100 or Local/100@from-internal.
    #[arg(long, value_name = "TECH/DEST")]
    channel: Option<OsString>,
    /// Enter the dialplan at EXTEN (with --context and --priority).
    #[arg(long, value_name = "EXTEN")]
    extension: Option<OsString>,
    /// Dialplan context for --extension.
    #[arg(long, value_name = "CTX")]
    context: Option<OsString>,
    /// Dialplan priority for --extension.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    priority: Option<i32>,
    /// Or run APP (with --data).
    #[arg(long, value_name = "APP")]
    application: Option<OsString>,
    /// Arguments of --application.
    #[arg(long, value_name = "DATA")]
    data: Option<OsString>,
    /// A channel variable (Set: line); repeatable, order kept.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = OsStringValueParser::new().try_map(assignment))]
    variables: Vec<(Vec<u8>, Vec<u8>)>,
    /// The dialer's own ID for the call (a Set: SPOOL_TAG=ID line): named as Tag in pbx_spool_rs's events;
    /// up to 128 bytes of printable ASCII.
    #[arg(long, value_name = "ID", value_parser = check_tag)]
    tag: Option<String>,
    /// Caller id, e.g. '"Reception" <100>'.
    #[arg(long, value_name = "CID")]
    callerid: Option<OsString>,
    /// CDR account code.
    #[arg(long, value_name = "ACCT")]
    account: Option<OsString>,
    /// MaxRetries: redials after the first attempt (default 0).
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = clap::value_parser!(i32).range(0..))]
    retries: Option<i32>,
    /// RetryTime: seconds between attempts (default 300; 5m also works).
    #[arg(long, value_name = "S", value_parser = parse_seconds)]
    retry_time: Option<i32>,
    /// WaitTime: seconds to ring (default 45).
    #[arg(long, value_name = "S", value_parser = parse_seconds)]
    wait_time: Option<i32>,
    /// Archive: yes (keep the finished file in outgoing_done/).
    #[arg(long)]
    archive: bool,
}

/// `--set NAME=VALUE` as bytes: anything up to the first `=` is the name.
fn assignment(value: OsString) -> Result<(Vec<u8>, Vec<u8>), String> {
    let bytes = value.as_bytes();
    match bytes.iter().position(|&byte| byte == b'=') {
        Some(at) => Ok((bytes[..at].to_vec(), bytes[at + 1..].to_vec())),
        None => Err("expected NAME=VALUE".into()),
    }
}

/// A tag is checked as pbx_spool_rs checks it (an unusable one is a usage error, exit 2).
fn check_tag(text: &str) -> Result<String, String> {
    pbx_spool_core::tag::check(text.as_bytes()).map_err(|why| format!("not usable as a tag: {why}"))
}

/// A time zone is checked when the arguments are (an unknown one is a usage error, exit 2); it is kept as
/// its name for the request.
fn check_zone(name: &str) -> Result<String, String> {
    named_zone(name).map(|_| name.to_string())
}

/// A duration is checked when the arguments are; it is kept as text for the request.
fn check_duration(text: &str) -> Result<String, String> {
    parse_duration(text).map(|_| text.to_string())
}

fn bytes(value: Option<OsString>) -> Option<Vec<u8>> {
    value.map(|value| value.as_bytes().to_vec())
}

/// What `main` is to run.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    Check { settings: Settings, files: Vec<PathBuf> },
    Submit { settings: Settings, request: SubmitRequest },
    Bulk { settings: Settings, request: BulkRequest },
    GenerateMan { dir: PathBuf },
}

impl SpoolArgs {
    fn settings(self, config: ConfigChoice) -> Settings {
        Settings { spool: self.spool, asterisk_conf: self.asterisk_conf, config }
    }
}

impl ConfigArg {
    /// `--config PATH`, else the built-in defaults.
    fn choice(self) -> ConfigChoice {
        self.config.map_or(ConfigChoice::BuiltIn, ConfigChoice::File)
    }
}

impl BulkConfigArgs {
    /// `--config PATH`, `--no-config`, else the installed pbx_spool_rs.conf.
    fn choice(self) -> ConfigChoice {
        match (self.config, self.no_config) {
            (Some(path), _) => ConfigChoice::File(path),
            (None, true) => ConfigChoice::BuiltIn,
            (None, false) => ConfigChoice::Installed,
        }
    }
}

impl ManifestArgs {
    fn manifest(self) -> Manifest {
        match (self.manifest, self.no_manifest) {
            (Some(path), _) => Manifest::At(path),
            (None, true) => Manifest::None,
            (None, false) => Manifest::BesideNumbers,
        }
    }
}

impl WhenArgs {
    fn when(self) -> When {
        match (self.at, self.delay) {
            (Some(time), _) => When::At { time, zone: self.tz },
            (None, Some(delay)) => When::In(delay),
            (None, None) => When::Now,
        }
    }
}

impl CallArgs {
    /// The call these flags describe; `Err` says what is missing or misplaced. (Not clap's `requires`:
    /// clap waives a requirement on an argument that conflicts with one given, so `--application X
    /// --context C` would pass.)
    fn spec(self) -> Result<CallSpec, (ErrorKind, &'static str)> {
        let channel = bytes(self.channel).ok_or((
            ErrorKind::MissingRequiredArgument,
            "submit needs a call file, or --channel with --extension or --application",
        ))?;
        let target = match (bytes(self.extension), bytes(self.application)) {
            (Some(_), Some(_)) => {
                return Err((ErrorKind::ArgumentConflict, "give --extension or --application, not both"))
            }
            (Some(extension), None) => {
                if self.data.is_some() {
                    return Err((ErrorKind::ArgumentConflict, "--data goes with --application"));
                }
                Target::Dialplan { context: bytes(self.context), extension, priority: self.priority }
            }
            (None, Some(name)) => {
                if self.context.is_some() || self.priority.is_some() {
                    return Err((ErrorKind::ArgumentConflict, "--context and --priority go with --extension"));
                }
                Target::Application { name, data: bytes(self.data) }
            }
            (None, None) => {
                return Err((ErrorKind::MissingRequiredArgument, "submit --channel needs --extension or --application"))
            }
        };
        Ok(CallSpec {
            channel,
            target,
            variables: {
                let mut variables = self.variables;
                if let Some(tag) = self.tag {
                    variables.push((pbx_spool_core::tag::TAG_VARIABLE.as_bytes().to_vec(), tag.into_bytes()));
                }
                variables
            },
            callerid: bytes(self.callerid),
            account: bytes(self.account),
            max_retries: self.retries,
            retry_time: self.retry_time,
            wait_time: self.wait_time,
            archive: self.archive,
        })
    }
}

impl Cli {
    /// The request for `commands`; a usage error (as clap reports them, exit 2) when the call flags are
    /// incomplete.
    pub fn into_request(self) -> Result<Request, clap::Error> {
        Ok(match self.command {
            Command::Check { config, files } => {
                Request::Check { settings: Settings { config: config.choice(), ..Settings::default() }, files }
            }
            Command::Submit { spool, config, when, name, call, ami, file } => {
                let source = match file {
                    Some(file) => Source::File(file),
                    None => Source::Spec(call.spec().map_err(|(kind, why)| {
                        let mut command = <Cli as clap::CommandFactory>::command();
                        match command.find_subcommand_mut("submit") {
                            Some(submit) => submit.error(kind, why),
                            None => clap::Error::raw(kind, why),
                        }
                    })?),
                };
                Request::Submit {
                    settings: spool.settings(config.choice()),
                    request: SubmitRequest { source, when: when.when(), prefix: name.name, ami: ami.request() },
                }
            }
            Command::Bulk { spool, config, template, when, spread, name, name_with_number, manifest, numbers } => {
                Request::Bulk {
                    settings: spool.settings(config.choice()),
                    request: BulkRequest {
                        numbers,
                        template,
                        when: when.when(),
                        spread,
                        prefix: name.name,
                        name_with_number,
                        manifest: manifest.manifest(),
                    },
                }
            }
            Command::GenerateMan { dir } => Request::GenerateMan { dir },
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Request, clap::Error> {
        Cli::try_parse_from(std::iter::once("callfile").chain(args.iter().copied()))?.into_request()
    }

    fn kind(args: &[&str]) -> ErrorKind {
        parse(args).unwrap_err().kind()
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn check_takes_files_and_config_only() {
        let request = parse(&["check", "--config", "/c.conf", "a.call", "b.call"]).unwrap();
        let settings = Settings { config: ConfigChoice::File("/c.conf".into()), ..Settings::default() };
        assert_eq!(request, Request::Check { settings, files: vec!["a.call".into(), "b.call".into()] });
        assert_eq!(kind(&["check"]), ErrorKind::MissingRequiredArgument);
        assert_eq!(kind(&["check", "--spool", "/s", "a.call"]), ErrorKind::UnknownArgument);
    }

    #[test]
    fn submit_from_flags_builds_the_call_in_order() {
        let request = parse(&[
            "submit",
            "--spool",
            "/s",
            "--channel",
            "Local/100@c",
            "--extension",
            "s",
            "--context",
            "ctx",
            "--priority",
            "2",
            "--set",
            "B=2",
            "--set",
            "A=x=y",
            "--retries",
            "2",
            "--retry-time",
            "5m",
            "--wait-time",
            "30",
            "--archive",
            "--in",
            "10m",
            "--name",
            "wake",
        ])
        .unwrap();
        let Request::Submit { settings, request } = request else { panic!("{request:?}") };
        assert_eq!(settings.spool, Some(PathBuf::from("/s")));
        assert_eq!((request.when, request.prefix), (When::In("10m".into()), Some("wake".into())));
        let Source::Spec(spec) = request.source else { panic!() };
        assert_eq!(spec.channel, b"Local/100@c");
        assert_eq!(
            spec.target,
            Target::Dialplan { context: Some(b"ctx".to_vec()), extension: b"s".to_vec(), priority: Some(2) }
        );
        assert_eq!(spec.variables, vec![(b"B".to_vec(), b"2".to_vec()), (b"A".to_vec(), b"x=y".to_vec())]);
        assert_eq!(
            (spec.max_retries, spec.retry_time, spec.wait_time, spec.archive),
            (Some(2), Some(300), Some(30), true)
        );
    }

    #[test]
    fn submit_tag_becomes_the_last_set_line() {
        let args = ["submit", "--channel", "Local/1@c", "--application", "Echo", "--set", "A=1", "--tag", "crm-7"];
        let Request::Submit { request, .. } = parse(&args).unwrap() else { panic!() };
        let Source::Spec(spec) = request.source else { panic!() };
        assert_eq!(spec.variables, vec![(b"A".to_vec(), b"1".to_vec()), (b"SPOOL_TAG".to_vec(), b"crm-7".to_vec())]);
    }

    #[test]
    fn submit_of_a_file_with_a_zone() {
        let request = parse(&["submit", "x.call", "--at", "2026-12-01 09:30", "--tz", "Europe/Moscow"]).unwrap();
        let Request::Submit { request, .. } = request else { panic!() };
        assert_eq!(request.source, Source::File("x.call".into()));
        assert_eq!(request.when, When::At { time: "2026-12-01 09:30".into(), zone: Some("Europe/Moscow".into()) });
    }

    #[test]
    fn submit_refuses_what_the_old_parser_refused() {
        for (args, expected) in [
            (&["submit", "x.call", "--channel", "PJSIP/1"][..], ErrorKind::ArgumentConflict),
            (&["submit", "--at", "2026-12-01 09:30", "--in", "10m", "x.call"], ErrorKind::ArgumentConflict),
            (
                &["submit", "--channel", "PJSIP/1", "--extension", "s", "--application", "Echo"],
                ErrorKind::ArgumentConflict,
            ),
            (
                &["submit", "--channel", "PJSIP/1", "--application", "Echo", "--context", "c"],
                ErrorKind::ArgumentConflict,
            ),
            (
                &["submit", "--channel", "PJSIP/1", "--application", "Echo", "--priority", "1"],
                ErrorKind::ArgumentConflict,
            ),
            (&["submit", "--channel", "PJSIP/1", "--extension", "s", "--data", "d"], ErrorKind::ArgumentConflict),
            (&["submit", "--channel", "PJSIP/1"], ErrorKind::MissingRequiredArgument),
            (&["submit", "--extension", "s"], ErrorKind::MissingRequiredArgument),
            (
                &["submit", "--channel", "PJSIP/1", "--application", "Echo", "--set", "NOEQUALS"],
                ErrorKind::ValueValidation,
            ),
            (
                &["submit", "--channel", "PJSIP/1", "--application", "Echo", "--retries", "-1"],
                ErrorKind::ValueValidation,
            ),
            (
                &["submit", "--channel", "PJSIP/1", "--application", "Echo", "--wait-time", "0"],
                ErrorKind::ValueValidation,
            ),
            (
                &["submit", "--channel", "PJSIP/1", "--application", "Echo", "--tag", "has\ttab"],
                ErrorKind::ValueValidation,
            ),
            (&["submit", "x.call", "--tag", "t1"], ErrorKind::ArgumentConflict),
            (&["submit", "x.call", "--in", "soon"], ErrorKind::ValueValidation),
            (&["submit", "x.call", "--tz", "UTC"], ErrorKind::MissingRequiredArgument),
            (&["submit", "x.call", "--name", "a", "--name", "b"], ErrorKind::ArgumentConflict),
            (&["submit", "a.call", "b.call"], ErrorKind::UnknownArgument),
            (&["submit", "x.call", "--template", "t.call"], ErrorKind::UnknownArgument),
        ] {
            assert_eq!(parse(args).map_err(|error| error.kind()).err(), Some(expected), "{args:?}");
        }
    }

    #[test]
    fn bulk_takes_numbers_template_and_spread() {
        let request =
            parse(&["bulk", "n.txt", "--template", "t.call", "--at", "2026-12-01 09:30", "--spread", "30m"]).unwrap();
        let Request::Bulk { settings, request } = request else { panic!() };
        assert_eq!(
            (request.numbers.as_path(), request.template.as_path()),
            (PathBuf::from("n.txt").as_path(), PathBuf::from("t.call").as_path())
        );
        assert_eq!(request.spread.as_deref(), Some("30m"));
        assert_eq!(request.when, When::At { time: "2026-12-01 09:30".into(), zone: None });
        assert_eq!(kind(&["bulk", "n.txt"]), ErrorKind::MissingRequiredArgument);
        assert_eq!(kind(&["bulk", "--template", "t.call"]), ErrorKind::MissingRequiredArgument);
        assert_eq!(kind(&["bulk", "n.txt", "--template", "t.call", "--spread", "x"]), ErrorKind::ValueValidation);
        assert_eq!(
            kind(&["bulk", "n.txt", "--template", "t.call", "--channel", "PJSIP/1"]),
            ErrorKind::UnknownArgument
        );
        // The installed pbx_spool_rs.conf and a manifest beside the numbers by default.
        assert_eq!(settings.config, ConfigChoice::Installed);
        assert_eq!((request.manifest, request.name_with_number), (Manifest::BesideNumbers, false));
    }

    #[test]
    fn bulk_config_manifest_and_name_options() {
        let bulk = |extra: &[&str]| {
            let mut args = vec!["bulk", "n.txt", "--template", "t.call"];
            args.extend_from_slice(extra);
            match parse(&args) {
                Ok(Request::Bulk { settings, request }) => Ok((settings, request)),
                Ok(other) => panic!("{other:?}"),
                Err(error) => Err(error.kind()),
            }
        };
        let (settings, _) = bulk(&["--config", "/c.conf"]).unwrap();
        assert_eq!(settings.config, ConfigChoice::File("/c.conf".into()));
        let (settings, _) = bulk(&["--no-config", "--asterisk-conf", "/a.conf"]).unwrap();
        assert_eq!((settings.config, settings.asterisk_conf), (ConfigChoice::BuiltIn, Some("/a.conf".into())));
        assert_eq!(bulk(&["--no-config", "--config", "/c.conf"]).unwrap_err(), ErrorKind::ArgumentConflict);
        let (_, request) = bulk(&["--manifest", "/m.csv", "--name-with-number"]).unwrap();
        assert_eq!((request.manifest, request.name_with_number), (Manifest::At("/m.csv".into()), true));
        assert_eq!(bulk(&["--no-manifest"]).unwrap().1.manifest, Manifest::None);
        assert_eq!(bulk(&["--no-manifest", "--manifest", "/m.csv"]).unwrap_err(), ErrorKind::ArgumentConflict);
        // submit keeps the built-in defaults unless --config names a file, and has no --no-config.
        let Request::Submit { settings, .. } = parse(&["submit", "x.call"]).unwrap() else { panic!() };
        assert_eq!(settings.config, ConfigChoice::BuiltIn);
        assert_eq!(kind(&["submit", "x.call", "--no-config"]), ErrorKind::UnknownArgument);
    }

    #[test]
    fn unknown_zones_and_a_zone_without_at_are_usage_errors() {
        for args in [
            &["bulk", "n.txt", "--template", "t.call", "--tz", "Mars/Olympus", "--in", "1h"][..],
            &["bulk", "n.txt", "--template", "t.call", "--tz", "Europe/Berlin", "--in", "1h"],
            &["bulk", "n.txt", "--template", "t.call", "--at", "2026-12-01 09:30", "--tz", "Mars/Olympus"],
            &["submit", "x.call", "--tz", "Mars/Olympus", "--in", "1h"],
            &["submit", "x.call", "--at", "2026-12-01 09:30", "--tz", "Mars/Olympus"],
            &["submit", "x.call", "--tz", "Mars/Olympus"],
            &["submit", "x.call", "--tz", ""],
        ] {
            let error = parse(args).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
        let error = parse(&["bulk", "n.txt", "--template", "t.call", "--at", "2026-12-01", "--tz", "Mars/Olympus"])
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ValueValidation);
        assert!(error.to_string().contains("Mars/Olympus"), "{error}");
        let error = parse(&["submit", "x.call", "--tz", "Europe/Berlin", "--in", "1h"]).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ArgumentConflict);
    }

    #[test]
    fn help_says_what_the_old_usage_said() {
        // Wide enough that no needle is wrapped.
        let mut command = Cli::command().term_width(10_000);
        let top = command.render_long_help().to_string();
        for needle in ["check", "submit", "bulk", "spool check FILE", "Exit status: 0", "2 usage or I/O error"] {
            assert!(top.contains(needle), "{needle:?} missing from callfile --help:\n{top}");
        }
        let submit = command.find_subcommand_mut("submit").unwrap().render_long_help().to_string();
        for needle in [
            "--channel <TECH/DEST>",
            "--extension <EXTEN>",
            "--application <APP>",
            "--set <NAME=VALUE>",
            "--retry-time <S>",
            "--at <TIME>",
            "--tz <ZONE>",
            "Europe/Moscow",
            "--in <DURATION>",
            "1h30m",
            "mode 0660",
            "never replacing a file",
            "--asterisk-conf <PATH>",
            "#include",
        ] {
            assert!(submit.contains(needle), "{needle:?} missing from callfile submit --help:\n{submit}");
        }
        let bulk = command.find_subcommand_mut("bulk").unwrap().render_long_help().to_string();
        for needle in [
            "{number}",
            "--template <CAMPAIGN.call>",
            "--spread <DURATION>",
            "progress bar",
            "--config <PATH>",
            "--no-config",
            "<astetcdir>/pbx_spool_rs.conf",
            "--manifest <PATH>",
            "<NUMBERS>.manifest.csv",
            "--no-manifest",
            "--name-with-number",
            "number,file,due,refused",
            "in UTC",
            "moved into the next open window",
        ] {
            assert!(bulk.contains(needle), "{needle:?} missing from callfile bulk --help:\n{bulk}");
        }
    }
}
