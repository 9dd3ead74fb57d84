//! Every `spool ...` CLI command and every AMI action, declared once: the module registers, documents
//! and unregisters them from these two tables, and the core checks a command's word count and offers
//! its completions from them. Adding a command is one [`CliCommand`] entry (with its [`CommandId`]),
//! then its logic: its words in `cli_args::parse` and what it does in `cli::run`; adding an action is
//! one [`AmiCommand`] entry (with its [`AmiAction`]) and its answer in `ami::answer`.
//!
//! Only data here: no FFI, no Asterisk types. The texts are what Asterisk shows (`core show help`,
//! `help spool ...`, `manager show command`), byte for byte.

use std::ffi::CStr;

use crate::ami::AmiAction;
use crate::cli_args::{CommandId, Completion};
use crate::events::EventField;

/// One `spool ...` CLI command as Asterisk registers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CliCommand {
    pub id: CommandId,
    /// Its fixed words, as Asterisk matches them ("spool show file").
    pub command: &'static str,
    /// One line for `core show help` (under 60 characters).
    pub summary: &'static str,
    /// `help <command>`, and what Asterisk prints when the words do not fit.
    pub usage: &'static str,
    /// How many words the whole line may have, the fixed ones included.
    pub min_words: usize,
    pub max_words: usize,
    /// What the word at a position (0-based, `spool` is 0) completes to.
    pub completes: &'static [(usize, Completion)],
}

/// The CLI commands, in the order they are registered.
pub const CLI_COMMANDS: &[CliCommand] = &[
    CliCommand {
        id: CommandId::ShowStatus,
        command: "spool show status",
        summary: "Show the outgoing spool's state",
        usage: concat!(
            "Usage: spool show status\n",
            "       Shows the outgoing spool: files queued, due, in progress, waiting for a retry or held\n",
            "       back by maxcalls/maxrate, totals since load, and the effective configuration.\n",
        ),
        min_words: 3,
        max_words: 3,
        completes: &[],
    },
    CliCommand {
        id: CommandId::ShowQueue,
        command: "spool show queue",
        summary: "List the next call files by due time",
        usage: concat!(
            "Usage: spool show queue [limit]\n",
            "       Lists the next call files by due time (default 20): name, channel, destination,\n",
            "       attempt and when it is due.\n",
        ),
        min_words: 3,
        max_words: 4,
        completes: &[],
    },
    CliCommand {
        id: CommandId::ShowFile,
        command: "spool show file",
        summary: "Show one call file as the spooler sees it",
        usage: concat!(
            "Usage: spool show file <name>\n",
            "       Shows a call file in the outgoing spool as pbx_spool_rs sees it: parsed fields,\n",
            "       its state and the security policy's verdict.\n",
        ),
        min_words: 4,
        max_words: 4,
        completes: &[(3, Completion::QueuedFile)],
    },
    CliCommand {
        id: CommandId::Check,
        command: "spool check",
        summary: "Validate a call file without queueing it",
        usage: concat!(
            "Usage: spool check <path>\n",
            "       Validates a call file anywhere on disk with the same parser and policy as the spool,\n",
            "       printing every problem with its line number. Nothing is queued.\n",
        ),
        min_words: 3,
        max_words: 3,
        completes: &[],
    },
    CliCommand {
        id: CommandId::CheckArgs,
        command: "spool check args",
        summary: "Compare the policy's argument parsing with Asterisk's",
        usage: concat!(
            "Usage: spool check args <file>\n",
            "       Reads lines '<Application><TAB><data>' and splits each data as the security policy\n",
            "       splits it and as Asterisk's own parser does (arguments as AST_STANDARD_APP_ARGS,\n",
            "       options as ast_app_parse_options), printing every difference and a summary.\n",
        ),
        min_words: 4,
        max_words: 4,
        completes: &[],
    },
    CliCommand {
        id: CommandId::Rescan,
        command: "spool rescan",
        summary: "Rescan the outgoing spool directory",
        usage: concat!(
            "Usage: spool rescan\n",
            "       Reads the whole outgoing directory again and queues every call file not yet known.\n",
        ),
        min_words: 2,
        max_words: 2,
        completes: &[],
    },
    CliCommand {
        id: CommandId::ShowCampaign,
        command: "spool show campaign",
        summary: "Show one campaign's figures and statistics",
        usage: concat!(
            "Usage: spool show campaign <name>\n",
            "       Shows the campaign's calls in progress, files waiting (and why), when its calling\n",
            "       window opens next, and its attempts, answered calls, answer rate, outcomes and refusals,\n",
            "       since load (kept across module reload) and since spool reset stats.\n",
        ),
        min_words: 4,
        max_words: 4,
        completes: &[(3, Completion::Campaign)],
    },
    CliCommand {
        id: CommandId::ResetStats,
        command: "spool reset stats",
        summary: "Start the since-reset campaign statistics anew",
        usage: concat!(
            "Usage: spool reset stats\n",
            "       Starts the \"since spool reset stats\" figures of spool show campaign and SpoolCampaign\n",
            "       from zero. Totals since load and the Prometheus counters are not reset.\n",
        ),
        min_words: 3,
        max_words: 3,
        completes: &[],
    },
    CliCommand {
        id: CommandId::Pause,
        command: "spool pause",
        summary: "Pause a campaign of the outgoing spool",
        usage: concat!(
            "Usage: spool pause <campaign|all>\n",
            "       Files of the campaign (all: every call file) that fall due wait instead of being dialled;\n",
            "       calls in progress finish. Kept across module reload and Asterisk restarts\n",
            "       (<astspooldir>/pbx_spool_rs.paused) until spool resume.\n",
        ),
        min_words: 3,
        max_words: 3,
        completes: &[(2, Completion::Campaign)],
    },
    CliCommand {
        id: CommandId::Resume,
        command: "spool resume",
        summary: "Resume a paused campaign",
        usage: concat!(
            "Usage: spool resume <campaign|all>\n",
            "       Lets a paused campaign's files be dialled again, in due order (resume all lifts\n",
            "       every pause).\n",
        ),
        min_words: 3,
        max_words: 3,
        completes: &[(2, Completion::Campaign)],
    },
    CliCommand {
        id: CommandId::Cancel,
        command: "spool cancel",
        summary: "Cancel a call file in the outgoing spool",
        usage: concat!(
            "Usage: spool cancel <file> [hangup]\n",
            "       Removes a call file from the outgoing spool: deleted, or moved to outgoing_done/ with\n",
            "       'Status: Cancelled' when it says 'Archive: yes'. A file whose call is in progress is\n",
            "       removed when the call ends, without a retry; 'hangup' ends that call now.\n",
        ),
        min_words: 3,
        max_words: 4,
        completes: &[(2, Completion::QueuedFile)],
    },
    CliCommand {
        id: CommandId::CancelCampaign,
        command: "spool cancel campaign",
        summary: "Cancel every queued call file of a campaign",
        usage: concat!(
            "Usage: spool cancel campaign <name> [hangup]\n",
            "       Cancels every queued, waiting, held or running call file of the campaign, each as\n",
            "       spool cancel <file> does (deleted, or archived with 'Status: Cancelled'); 'hangup'\n",
            "       also ends its calls in progress now. One SpoolCancelled event per file.\n",
        ),
        min_words: 4,
        max_words: 5,
        completes: &[(3, Completion::CampaignName)],
    },
];

impl CommandId {
    /// This command's entry in [`CLI_COMMANDS`] (every id has one; a unit test holds the table to it).
    pub fn spec(self) -> Option<&'static CliCommand> {
        CLI_COMMANDS.iter().find(|command| command.id == self)
    }
}

/// A class of AMI permission (Asterisk's `EVENT_FLAG_*`) an action accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmiPermission {
    /// `system`
    System,
    /// `originate`
    Originate,
}

/// Like Asterisk's own Originate: the originate (or system) write permission.
const ORIGINATE_OR_SYSTEM: &[AmiPermission] = &[AmiPermission::Originate, AmiPermission::System];

/// One header an AMI action reads (besides ActionID, which every action echoes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmiHeader {
    pub name: &'static str,
    pub required: bool,
    /// What it means, for `manager show command <name>`.
    pub text: &'static str,
}

/// One AMI action as Asterisk registers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmiCommand {
    pub action: AmiAction,
    /// Its name. A C string: Asterisk keeps the pointer, not a copy, until the module is unmapped.
    pub name: &'static CStr,
    /// The write permissions that may run it (any one of them).
    pub permissions: &'static [AmiPermission],
    /// `manager show commands`, `manager show command <name>`.
    pub synopsis: &'static str,
    /// `manager show command <name>`: its headers and what it answers (the text Asterisk shows when the
    /// XML documentation is not installed).
    pub description: &'static str,
    /// The headers it reads, for the XML documentation's syntax.
    pub headers: &'static [AmiHeader],
    /// An action that answers with a list: the name of each item's event and of the closing event
    /// (both declared in [`crate::events::AMI_EVENTS`]).
    pub list: Option<(&'static str, &'static str)>,
    /// The fields of its `Response: Success` beyond Message (`N` in a name stands for 0, 1, ...).
    pub answer_fields: &'static [EventField],
}

const CAMPAIGN_OR_ALL: AmiHeader = AmiHeader {
    name: "Campaign",
    required: true,
    text: "A campaign's name (a section of pbx_spool_rs.conf), or all for every call file.",
};

const fn field(name: &'static str, text: &'static str) -> EventField {
    EventField { name, text }
}

/// SpoolStatus's answer, as `spool show status` counts.
const STATUS_FIELDS: &[EventField] = &[
    field("Queued", "Files waiting for their due time (first attempt)."),
    field("WaitingRetry", "Files waiting for their next attempt after a failed one."),
    field("Held", "Files due but held back by maxcalls or maxrate."),
    field("WaitingWindow", "Files due but waiting for their campaign's calling window (hours) to open."),
    field("WaitingPaused", "Files due but waiting for their campaign (or all) to be resumed."),
    field("DueSuspended", "Files due but not dispatched while pbx_spool.so is loaded too."),
    field("InProgress", "Calls in progress."),
    field("BeingWritten", "Files created in place and still being written."),
    field("LeftForAdmin", "Files left for the admin: unreadable, not writable or not a regular file."),
    field("Kept", "Finished files kept in outgoing by AlwaysDelete: no until their date."),
    field("Workers", "Threads in the worker pool."),
    field("Attempts", "Attempts since the module was loaded."),
    field("Completed", "Files completed (answered) since load."),
    field("Expired", "Files expired (no answer on the last attempt) since load."),
    field("Failed", "Files failed since load."),
    field("Rejected", "Files refused by the security policy or the owner check since load."),
    field("ClaimsLost", "Due files another server claimed first (shared = yes) since load."),
    field("AllPaused", "yes while spool pause all is in force."),
    field("DispatchSuspended", "yes while nothing is dispatched because pbx_spool.so is loaded."),
    field("SuspendedReason", "Why, while DispatchSuspended is yes."),
    field("Campaigns", "How many campaigns pbx_spool_rs.conf defines."),
    field(
        "CampaignN",
        "One per campaign (N from 0): its name, active or paused, and queued=, window=, paused=, held=, \
         inprogress= counts.",
    ),
];

/// The AMI actions, in the order they are registered. Asterisk shows their help from the installed XML
/// documentation (`crate::xmldoc` renders it from this table); without it, from the plain texts here.
pub const AMI_ACTIONS: &[AmiCommand] = &[
    AmiCommand {
        action: AmiAction::Show,
        name: c"SpoolShow",
        permissions: ORIGINATE_OR_SYSTEM,
        synopsis: "List the call files queued in the outgoing spool (pbx_spool_rs).",
        description: concat!(
            "Campaign: <name> (optional) lists only that campaign's files.\n",
            "One SpoolQueueEntry event per file waiting to be dialled (File, Campaign, Due in seconds since\n",
            "the epoch, Channel, Tag, AttemptsMade, AttemptsLeft, State, NextDue), soonest first, then the\n",
            "paused, held, running and kept ones, then SpoolShowComplete with ListItems.",
        ),
        headers: &[AmiHeader {
            name: "Campaign",
            required: false,
            text: "List only this campaign's files (a section of pbx_spool_rs.conf); an unknown name is an error.",
        }],
        list: Some((crate::events::QUEUE_ENTRY, crate::events::SHOW_COMPLETE)),
        answer_fields: &[],
    },
    AmiCommand {
        action: AmiAction::Status,
        name: c"SpoolStatus",
        permissions: ORIGINATE_OR_SYSTEM,
        synopsis: "The outgoing spool's figures, as 'spool show status' gives them.",
        description: concat!(
            "Queued, WaitingRetry, Held, WaitingWindow, WaitingPaused, InProgress, ..., the totals since\n",
            "load, and one CampaignN line per campaign.",
        ),
        headers: &[],
        list: None,
        answer_fields: STATUS_FIELDS,
    },
    AmiCommand {
        action: AmiAction::Pause,
        name: c"SpoolPause",
        permissions: ORIGINATE_OR_SYSTEM,
        synopsis: "Pause a campaign of the outgoing spool (or all).",
        description: concat!(
            "Campaign: <name>|all (required). Its files that fall due wait; calls in progress finish.\n",
            "Kept across module reload and restarts until SpoolResume.",
        ),
        headers: &[CAMPAIGN_OR_ALL],
        list: None,
        answer_fields: &[],
    },
    AmiCommand {
        action: AmiAction::Resume,
        name: c"SpoolResume",
        permissions: ORIGINATE_OR_SYSTEM,
        synopsis: "Resume a paused campaign (or all).",
        description: "Campaign: <name>|all (required).",
        headers: &[CAMPAIGN_OR_ALL],
        list: None,
        answer_fields: &[],
    },
    AmiCommand {
        action: AmiAction::Cancel,
        name: c"SpoolCancel",
        permissions: ORIGINATE_OR_SYSTEM,
        synopsis: "Cancel a call file, or a campaign's call files, in the outgoing spool.",
        description: concat!(
            "File: <name>, the file's name in the outgoing directory, or Campaign: <name>, every queued,\n",
            "waiting, held or running file of that campaign (one of the two). Hangup: yes ends their calls\n",
            "in progress now; without it such a file is removed when the call ends, without a retry. A queued\n",
            "file is deleted, or moved to outgoing_done/ with Status: Cancelled under Archive: yes. One\n",
            "SpoolCancelled event per file.",
        ),
        headers: &[
            AmiHeader {
                name: "File",
                required: false,
                text: "The call file's name in the outgoing spool directory (no path). File or Campaign is required.",
            },
            AmiHeader {
                name: "Campaign",
                required: false,
                text: "A campaign's name (a section of pbx_spool_rs.conf, not all): cancel every queued, waiting, \
                       held or running file of it.",
            },
            AmiHeader {
                name: "Hangup",
                required: false,
                text: "yes: hang up the file's call in progress now. Without it, such a file is removed when its \
                       call ends, without a retry.",
            },
        ],
        list: None,
        answer_fields: &[],
    },
    AmiCommand {
        action: AmiAction::Submit,
        name: c"SpoolSubmit",
        permissions: &[AmiPermission::Originate],
        synopsis: "Place a call through the outgoing spool: durable, paced, windowed and retried.",
        description: concat!(
            "The headers are a call file's keys: Channel, and Context/Extension/Priority or Application/Data,\n",
            "with CallerID, WaitTime, MaxRetries, RetryTime, Account, Codecs, EarlyMedia, Archive, AlwaysDelete\n",
            "and Set (or Variable, repeatable). Tag: the dialer's tag (Set: SPOOL_TAG). Due: Unix seconds or\n",
            "YYYY-MM-DDTHH:MM[:SS] with Z or an offset. SubmitID: the client's own ID, which names the file\n",
            "(submit-<ID>.call): the same ID again within 30 days is answered with that file (Duplicate: yes),\n",
            "not a second call.\n",
            "The request is checked against the same rules as a call file, then written into outgoing/ atomically.\n",
            "Accepted: Response Success with File, Due and Duplicate. Refused: Response Error with the rule and\n",
            "its fix. Applications that Asterisk's Originate runs only with the system permission are refused.",
        ),
        headers: &[
            AmiHeader { name: "Channel", required: true, text: "The channel to call, as in a call file." },
            AmiHeader { name: "Context", required: false, text: "Where the answered call goes (with Extension, Priority)." },
            AmiHeader { name: "Extension", required: false, text: "The extension in Context." },
            AmiHeader { name: "Priority", required: false, text: "The priority in Context (default 1)." },
            AmiHeader { name: "Application", required: false, text: "Instead of Context: the application to run." },
            AmiHeader { name: "Data", required: false, text: "The application's arguments." },
            AmiHeader { name: "CallerID", required: false, text: "As in a call file." },
            AmiHeader { name: "WaitTime", required: false, text: "Seconds to wait for an answer." },
            AmiHeader { name: "MaxRetries", required: false, text: "Retries after the first attempt." },
            AmiHeader { name: "RetryTime", required: false, text: "Seconds between attempts." },
            AmiHeader { name: "Account", required: false, text: "The channel's account code." },
            AmiHeader { name: "Codecs", required: false, text: "As in a call file." },
            AmiHeader { name: "EarlyMedia", required: false, text: "As in a call file." },
            AmiHeader { name: "Archive", required: false, text: "yes: keep the finished file in outgoing_done/." },
            AmiHeader { name: "AlwaysDelete", required: false, text: "As in a call file." },
            AmiHeader { name: "Set", required: false, text: "name=value, a channel variable (repeatable; also Variable)." },
            AmiHeader { name: "Tag", required: false, text: "The dialer's own ID for this call, carried as SPOOL_TAG." },
            AmiHeader { name: "Due", required: false, text: "When the first attempt is due: Unix seconds, or RFC 3339 with Z or an offset. Default: now." },
            AmiHeader { name: "SubmitID", required: false, text: "The client's ID (letters, digits, _ . -): names the file; the same ID again within 30 days is answered with that file, never a second call." },
        ],
        list: None,
        answer_fields: &[],
    },
    AmiCommand {
        action: AmiAction::Campaign,
        name: c"SpoolCampaign",
        permissions: ORIGINATE_OR_SYSTEM,
        synopsis: "One campaign's figures and statistics, as 'spool show campaign' gives them.",
        description: concat!(
            "Campaign: <name> (required). Its files now, when its window opens next, and its attempts,\n",
            "answered calls, answer rate, outcomes and refusals since load and since spool reset stats.",
        ),
        headers: &[AmiHeader {
            name: "Campaign",
            required: true,
            text: "The campaign's name (a section of pbx_spool_rs.conf).",
        }],
        list: None,
        answer_fields: CAMPAIGN_FIELDS,
    },
];

const CAMPAIGN_FIELDS: &[EventField] = &[
    field("Campaign", "The campaign's name as configured."),
    field("Paused", "yes while the campaign is paused (spool pause)."),
    field("InProgress", "Its calls in progress."),
    field("Waiting", "Its files waiting: Queued + WaitingWindow + WaitingPaused + Held."),
    field("Queued", "Its files waiting for their due time."),
    field("WaitingWindow", "Its files due, waiting for the calling window to open."),
    field("WaitingPaused", "Its files due, waiting for the campaign to be resumed."),
    field("Held", "Its files due, held back by maxcalls or maxrate."),
    field("NextOpen", "When its calling window opens next (UTC); empty while open or without hours."),
    field("Attempts", "Call attempts since load."),
    field("Answered", "Files finished answered (Completed) since load."),
    field("AnswerRate", "Answered per attempt since load, in percent (empty before any attempt)."),
    field("Refused", "Files refused before an attempt since load."),
    field("Outcomes", "Finished files by outcome since load: outcome=count, comma-separated."),
    field("ResetAt", "When spool reset stats was last run (UTC); empty if never (the figures below are since load)."),
    field("AttemptsSinceReset", "Call attempts since spool reset stats."),
    field("AnsweredSinceReset", "Answered files since spool reset stats."),
    field("AnswerRateSinceReset", "Answered per attempt since spool reset stats, in percent."),
    field("RefusedSinceReset", "Files refused before an attempt since spool reset stats."),
    field("OutcomesSinceReset", "Finished files by outcome since spool reset stats."),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every id, listed where the compiler checks the list: a new variant fails to build here until it
    /// is added, and then this module's tests until it has its table entry.
    fn every_command_id() -> Vec<CommandId> {
        use CommandId::*;
        let all = vec![
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
        ];
        for id in &all {
            match id {
                ShowStatus | ShowQueue | ShowFile | Check | Rescan | Pause | Resume | Cancel | CheckArgs
                | CancelCampaign | ShowCampaign | ResetStats => {}
            }
        }
        all
    }

    fn every_ami_action() -> Vec<AmiAction> {
        use AmiAction::*;
        let all = vec![Show, Status, Pause, Resume, Cancel, Submit, Campaign];
        for action in &all {
            match action {
                Show | Status | Pause | Resume | Cancel | Submit | Campaign => {}
            }
        }
        all
    }

    #[test]
    fn every_command_has_one_entry_with_sound_texts_and_bounds() {
        let ids = every_command_id();
        assert_eq!(CLI_COMMANDS.len(), ids.len());
        for id in ids {
            assert_eq!(CLI_COMMANDS.iter().filter(|c| c.id == id).count(), 1, "{id:?}");
            let spec = id.spec().expect("in the table");
            let fixed = spec.command.split(' ').count();
            assert!(spec.command.starts_with("spool "), "{id:?}");
            assert!(fixed <= spec.min_words && spec.min_words <= spec.max_words, "{id:?}");
            assert!(spec.usage.starts_with(&format!("Usage: {}", spec.command)), "{id:?}");
            assert!(spec.usage.ends_with('\n') && spec.summary.len() < 60, "{id:?}");
            for (position, _) in spec.completes {
                assert!(*position >= fixed && *position < spec.max_words, "{id:?} completes word {position}");
            }
        }
    }

    #[test]
    fn every_action_has_one_entry_and_a_permission() {
        let actions = every_ami_action();
        assert_eq!(AMI_ACTIONS.len(), actions.len());
        for action in actions {
            let entries: Vec<_> = AMI_ACTIONS.iter().filter(|a| a.action == action).collect();
            assert_eq!(entries.len(), 1, "{action:?}");
            assert!(entries[0].name.to_bytes().starts_with(b"Spool"), "{action:?}");
            assert!(!entries[0].permissions.is_empty() && !entries[0].synopsis.is_empty(), "{action:?}");
            for header in entries[0].headers {
                assert!(!header.text.is_empty() && header.name != "ActionID", "{action:?}: {}", header.name);
            }
            if let Some((item, complete)) = entries[0].list {
                assert!(crate::events::find(item).is_some() && crate::events::find(complete).is_some(), "{action:?}");
            }
        }
    }
}
