//! The words of a `spool ...` CLI command turned into what to do, with every word looked up by checked
//! access: the word counts are the command's entry in [`crate::commands::CLI_COMMANDS`], and a missing or
//! extra word is a usage error, never a panic. Pure: words in, a [`Command`] or [`ShowUsage`] out.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Which CLI command was invoked: one per entry of [`crate::commands::CLI_COMMANDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandId {
    ShowStatus,
    ShowQueue,
    ShowFile,
    Check,
    Rescan,
    Pause,
    Resume,
    Cancel,
    CheckArgs,
    CancelCampaign,
    ShowCampaign,
    ResetStats,
}

/// What the word at a position of a command names, for tab completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// A file in the queue (`spool show file <name>`, `spool cancel <file>`).
    QueuedFile,
    /// A campaign, or `all` (`spool pause|resume <campaign|all>`).
    Campaign,
    /// A campaign, not `all` (`spool cancel campaign <name>`).
    CampaignName,
}

/// What to offer for the word at `position` (0-based, `spool` is 0) of command `id`, if anything.
pub fn completion(id: CommandId, position: usize) -> Option<Completion> {
    let completes = id.spec()?.completes;
    completes.iter().find(|(at, _)| *at == position).map(|(_, completion)| *completion)
}

/// `spool show queue` without a limit lists this many files.
pub const DEFAULT_QUEUE_LIMIT: usize = 20;

/// A command with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `spool show status`
    ShowStatus,
    /// `spool show queue [limit]`
    ShowQueue { limit: usize },
    /// `spool show file <name>`
    ShowFile { name: String },
    /// `spool check <path>`: any bytes, as paths are.
    Check { path: PathBuf },
    /// `spool check args <file>`: lines `<Application>\t<data>` to split both ways.
    CheckArgs { path: PathBuf },
    /// `spool rescan`
    Rescan,
    /// `spool pause <campaign|all>` (true) or `spool resume <campaign|all>` (false)
    Pause { campaign: String, pause: bool },
    /// `spool cancel <file> [hangup]`
    Cancel { file: String, hangup: bool },
    /// `spool cancel campaign <name> [hangup]`
    CancelCampaign { campaign: String, hangup: bool },
    /// `spool show campaign <name>`
    ShowCampaign { name: String },
    /// `spool reset stats`
    ResetStats,
}

/// The words do not fit the command: Asterisk prints the command's usage text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShowUsage;

/// `words` are the whole command line as Asterisk split it (`spool`, `show`, `file`, `<name>`).
pub fn parse(id: CommandId, words: &[&[u8]]) -> Result<Command, ShowUsage> {
    // How many words the command has, the fixed ones included.
    let spec = id.spec().ok_or(ShowUsage)?;
    if words.len() < spec.min_words || words.len() > spec.max_words {
        return Err(ShowUsage);
    }
    let word = |i: usize| words.get(i).copied().ok_or(ShowUsage);
    Ok(match id {
        CommandId::ShowStatus => Command::ShowStatus,
        CommandId::ShowQueue => {
            let limit = match words.get(3) {
                None => DEFAULT_QUEUE_LIMIT,
                Some(limit) => std::str::from_utf8(limit).ok().and_then(|l| l.parse().ok()).ok_or(ShowUsage)?,
            };
            Command::ShowQueue { limit }
        }
        CommandId::ShowFile => Command::ShowFile { name: String::from_utf8_lossy(word(3)?).into_owned() },
        CommandId::Check => Command::Check { path: PathBuf::from(OsStr::from_bytes(word(2)?)) },
        CommandId::CheckArgs => Command::CheckArgs { path: PathBuf::from(OsStr::from_bytes(word(3)?)) },
        CommandId::Rescan => Command::Rescan,
        CommandId::ShowCampaign => Command::ShowCampaign { name: String::from_utf8_lossy(word(3)?).into_owned() },
        CommandId::ResetStats => Command::ResetStats,
        CommandId::Pause | CommandId::Resume => {
            Command::Pause { campaign: String::from_utf8_lossy(word(2)?).into_owned(), pause: id == CommandId::Pause }
        }
        CommandId::Cancel => {
            Command::Cancel { file: String::from_utf8_lossy(word(2)?).into_owned(), hangup: hangup_word(words.get(3))? }
        }
        CommandId::CancelCampaign => Command::CancelCampaign {
            campaign: String::from_utf8_lossy(word(3)?).into_owned(),
            hangup: hangup_word(words.get(4))?,
        },
    })
}

/// The optional last word of `spool cancel`: `hangup`, or nothing.
fn hangup_word(word: Option<&&[u8]>) -> Result<bool, ShowUsage> {
    match word {
        None => Ok(false),
        Some(word) if word.eq_ignore_ascii_case(b"hangup") => Ok(true),
        Some(_) => Err(ShowUsage),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<&[u8]> {
        line.split(' ').filter(|w| !w.is_empty()).map(str::as_bytes).collect()
    }

    #[test]
    fn missing_or_extra_words_are_usage_errors_not_panics() {
        // Every command with every word count from none to two too many: only the right counts parse.
        let full = [
            (CommandId::ShowStatus, "spool show status"),
            (CommandId::ShowQueue, "spool show queue 5"),
            (CommandId::ShowFile, "spool show file a.call"),
            (CommandId::Check, "spool check /tmp/a.call"),
            (CommandId::Rescan, "spool rescan"),
            (CommandId::Pause, "spool pause sales"),
            (CommandId::Resume, "spool resume all"),
            (CommandId::Cancel, "spool cancel a.call hangup"),
            (CommandId::CancelCampaign, "spool cancel campaign sales hangup"),
        ];
        for (id, line) in full {
            let line_with_extras = format!("{line} extra more");
            let all = words(&line_with_extras);
            for n in 0..=all.len() {
                let parsed = parse(id, &all[..n]);
                let fits = match id {
                    CommandId::ShowQueue | CommandId::Cancel => n == 3 || n == 4,
                    CommandId::CancelCampaign => n == 4 || n == 5,
                    _ => n == words(line).len(),
                };
                assert_eq!(parsed.is_ok(), fits, "{id:?} with {n} words: {parsed:?}");
            }
        }
    }

    #[test]
    fn arguments_are_taken_as_given() {
        assert_eq!(parse(CommandId::ShowQueue, &words("spool show queue")), Ok(Command::ShowQueue { limit: 20 }));
        assert_eq!(parse(CommandId::ShowQueue, &words("spool show queue 7")), Ok(Command::ShowQueue { limit: 7 }));
        assert_eq!(parse(CommandId::ShowQueue, &words("spool show queue many")), Err(ShowUsage));
        assert_eq!(
            parse(CommandId::ShowFile, &words("spool show file x.call")),
            Ok(Command::ShowFile { name: "x.call".into() })
        );
        let path: &[u8] = b"/tmp/caf\xe9.call";
        let check = parse(CommandId::Check, &[b"spool", b"check", path]);
        assert_eq!(check, Ok(Command::Check { path: PathBuf::from(OsStr::from_bytes(path)) }));
        assert_eq!(parse(CommandId::Rescan, &words("spool rescan")), Ok(Command::Rescan));
        assert_eq!(
            parse(CommandId::Cancel, &words("spool cancel a.call")),
            Ok(Command::Cancel { file: "a.call".into(), hangup: false })
        );
        assert_eq!(parse(CommandId::Cancel, &words("spool cancel a.call now")), Err(ShowUsage));
        assert_eq!(
            parse(CommandId::CancelCampaign, &words("spool cancel campaign sales HANGUP")),
            Ok(Command::CancelCampaign { campaign: "sales".into(), hangup: true })
        );
        assert_eq!(
            parse(CommandId::CancelCampaign, &words("spool cancel campaign sales")),
            Ok(Command::CancelCampaign { campaign: "sales".into(), hangup: false })
        );
        assert_eq!(parse(CommandId::CancelCampaign, &words("spool cancel campaign sales now")), Err(ShowUsage));
        assert_eq!(parse(CommandId::CancelCampaign, &words("spool cancel campaign")), Err(ShowUsage));
        assert_eq!(
            parse(CommandId::Resume, &words("spool resume sales")),
            Ok(Command::Pause { campaign: "sales".into(), pause: false })
        );
        assert_eq!(parse(CommandId::ShowStatus, &words("spool show status")), Ok(Command::ShowStatus));
    }
}
