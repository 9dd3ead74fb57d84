//! Every AMI event pbx_spool_rs sends, declared once with its fields: the XML documentation
//! (`manager show event <name>`) is rendered from this table, and the fake host of the unit tests refuses
//! an event or a field that is not in it, so what the code sends and what the documentation says cannot
//! part.
//!
//! Only data here: no FFI, no I/O.

/// `SpoolQueueEntry`: one per file in SpoolShow's list.
pub const QUEUE_ENTRY: &str = "SpoolQueueEntry";
/// `SpoolShowComplete`: the end of SpoolShow's list.
pub const SHOW_COMPLETE: &str = "SpoolShowComplete";

/// One header of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventField {
    pub name: &'static str,
    /// What it holds, one sentence or more.
    pub text: &'static str,
}

/// One AMI event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmiEvent {
    pub name: &'static str,
    /// Asterisk's class it is sent under (`EVENT_FLAG_*`): who receives it.
    pub class: &'static str,
    /// One line for `manager show event`.
    pub synopsis: &'static str,
    /// Paragraphs: when it is sent.
    pub description: &'static [&'static str],
    pub fields: &'static [EventField],
}

const FILE: EventField = EventField { name: "File", text: "The call file's name in the outgoing spool directory." };
const CAMPAIGN: EventField = EventField {
    name: "Campaign",
    text: "The campaign (a section of pbx_spool_rs.conf) the file belongs to; absent or empty when none.",
};
const NODE: EventField =
    EventField { name: "Node", text: "On a shared spool (shared = yes): the name of the server that sent the event." };
const UNIQUEID: EventField = EventField {
    name: "Uniqueid",
    text: "The uniqueid given to the call's channel, to follow it in other events and the CDR.",
};
const TAG: EventField = EventField {
    name: "Tag",
    text: "The dialer's own ID for the file: its SPOOL_TAG variable (Set: SPOOL_TAG=<id>, or _SPOOL_TAG, \
           __SPOOL_TAG), up to 128 bytes of printable ASCII. Always present; empty when the file sets none, or \
           one that is not usable (logged as a WARNING).",
};
const VIA: EventField =
    EventField { name: "Via", text: "Who asked: CLI (an Asterisk console) or AMI (a manager session)." };
const MAX_RETRIES: EventField = EventField {
    name: "MaxRetries",
    text: "The call file's MaxRetries: how many retries it allows after the first attempt.",
};

const OUTCOME: EventField = EventField {
    name: "Outcome",
    text: "The attempt's outcome: answered, busy, congestion, noanswer, hangup or failed (from Reason), \
           unallocated or rejected (from Cause, where known), or the word the call's dialplan wrote with \
           Set(SPOOL(outcome)=word).",
};
const CAUSE: EventField = EventField {
    name: "Cause",
    text: "The dialled channel's hangup cause (Q.850), read from the channel's last update (Asterisk's \
           originate reports only Reason); absent when the channel ended without one.",
};
const CAUSE_TEXT: EventField = EventField { name: "CauseText", text: "The hangup cause in words, with Cause." };

/// The events, in the order the documentation lists them.
pub const AMI_EVENTS: &[AmiEvent] = &[
    AmiEvent {
        name: "SpoolAttempt",
        class: "EVENT_FLAG_CALL",
        synopsis: "Raised when pbx_spool_rs starts dialling a call file.",
        description: &[
            "Sent once per attempt, after StartRetry is recorded in the file and before the call is placed.",
        ],
        fields: &[
            FILE,
            EventField { name: "Channel", text: "The channel dialled (the file's Channel)." },
            EventField {
                name: "Destination",
                text: "Where the answered call goes: the application and its data, or extension@context:priority.",
            },
            EventField { name: "Attempt", text: "This attempt's number, 1 for the first." },
            MAX_RETRIES,
            UNIQUEID,
            CAMPAIGN,
            TAG,
            NODE,
        ],
    },
    AmiEvent {
        name: "SpoolFinished",
        class: "EVENT_FLAG_CALL",
        synopsis: "Raised when pbx_spool_rs is done with a call file.",
        description: &[
            "Sent once per file, when it leaves the spool: answered, out of retries, failed, or refused before any \
             attempt. The file is then deleted, archived in outgoing_done (Archive: yes) or kept (AlwaysDelete: no).",
        ],
        fields: &[
            FILE,
            EventField { name: "Channel", text: "The channel the file dials (its Channel)." },
            EventField {
                name: "Status",
                text: "Completed (answered), Expired (no answer on the last attempt), Failed (could not be placed \
                       or not readable as a call file), or Rejected (refused by the security policy, the owner \
                       check or a do-not-call list; archived as Status: Failed, as pbx_spool writes it).",
            },
            EventField { name: "Attempts", text: "How many attempts were made." },
            MAX_RETRIES,
            EventField {
                name: "Reason",
                text: "The last attempt's outcome as Asterisk's AST_CONTROL number (4 = answered).",
            },
            EventField { name: "ReasonText", text: "The same outcome, or why the file was refused, in words." },
            UNIQUEID,
            EventField { name: "Linkedid", text: "The linkedid of the call's channel (its Uniqueid)." },
            OUTCOME,
            CAUSE,
            CAUSE_TEXT,
            CAMPAIGN,
            TAG,
            NODE,
        ],
    },
    AmiEvent {
        name: "SpoolAttemptEnded",
        class: "EVENT_FLAG_CALL",
        synopsis: "Raised when one attempt of a call file has ended, with its outcome and what follows.",
        description: &[
            "Sent once per attempt placed, after its end is recorded in the file (EndRetry and the file's new \
             date) and before SpoolFinished when it was the last.",
        ],
        fields: &[
            FILE,
            EventField { name: "Channel", text: "The channel dialled (the file's Channel)." },
            EventField { name: "Attempt", text: "This attempt's number, 1 for the first." },
            MAX_RETRIES,
            OUTCOME,
            EventField {
                name: "Reason",
                text: "Asterisk's reason for the attempt (an AST_CONTROL number: 4 answered, 5 busy, 8 \
                       congestion, 3 no answer, 1 hangup, 0 failed).",
            },
            EventField { name: "ReasonText", text: "The reason in words." },
            CAUSE,
            CAUSE_TEXT,
            UNIQUEID,
            EventField {
                name: "RetryDelay",
                text: "Seconds until the next attempt; never when a retry rule finishes the file for this \
                       outcome; none when this was the last attempt (answered, or MaxRetries reached).",
            },
            EventField {
                name: "RetryRule",
                text: "Where RetryDelay comes from: [<campaign>] retry_rules, [general] retry_rules, or RetryTime \
                       (the call file's own).",
            },
            EventField {
                name: "NextAttempt",
                text: "When the next attempt is due (the file's new mtime), in seconds since the epoch with \
                       milliseconds; a campaign's calling hours may hold it later.",
            },
            CAMPAIGN,
            TAG,
            NODE,
        ],
    },
    AmiEvent {
        name: "SpoolSteered",
        class: "EVENT_FLAG_CALL",
        synopsis: "Raised when a call's dialplan has steered its call file through SPOOL().",
        description: &[
            "Sent at the end of an attempt whose dialplan wrote SPOOL(outcome), SPOOL(retry) or SPOOL(retry_at), \
             once a requeued file is dated for its next attempt, or before a finished one is removed (SpoolFinished \
             follows).",
        ],
        fields: &[
            FILE,
            EventField { name: "Attempt", text: "The attempt's number, 1 for the first." },
            UNIQUEID,
            EventField { name: "Outcome", text: "What the dialplan wrote to SPOOL(outcome); empty if nothing." },
            EventField {
                name: "Retry",
                text: "What became of its retry request: none (no request), requeued, never (finished, no \
                       further attempt), or no-retries-left (finished: MaxRetries reached).",
            },
            EventField {
                name: "Due",
                text: "When requeued: the next attempt's date in seconds since the epoch (a campaign's calling \
                       window may move it later).",
            },
            CAMPAIGN,
            NODE,
        ],
    },
    AmiEvent {
        name: "SpoolSuspended",
        class: "EVENT_FLAG_CALL",
        synopsis: "Raised when pbx_spool_rs stops dispatching because pbx_spool.so is loaded.",
        description: &[
            "Two spoolers on one directory would dial every file twice: while the stock pbx_spool.so is loaded, \
             pbx_spool_rs dials nothing; calls in progress finish. SpoolResumed follows once it is gone.",
        ],
        fields: &[
            EventField { name: "Reason", text: "Why dispatching stopped." },
            EventField { name: "InProgress", text: "Calls in progress, left to finish." },
        ],
    },
    AmiEvent {
        name: "SpoolResumed",
        class: "EVENT_FLAG_CALL",
        synopsis: "Raised when pbx_spool_rs dispatches call files again: after SpoolSuspended, or SpoolPaused.",
        description: &[
            "Sent once pbx_spool.so is no longer loaded (the spool directory is rescanned; no Via), and when an \
             admin resumes a paused campaign (or all) with spool resume or SpoolResume (with Campaign and Via).",
        ],
        fields: &[
            EventField { name: "Reason", text: "Why dispatching resumed." },
            EventField { name: "Campaign", text: "The campaign resumed, or all (an admin's resume only)." },
            VIA,
        ],
    },
    AmiEvent {
        name: "SpoolPaused",
        class: "EVENT_FLAG_CALL",
        synopsis: "Raised when an admin pauses a campaign (or all) of the outgoing spool.",
        description: &[
            "Sent by spool pause and SpoolPause once the pause is recorded: the campaign's files that fall due \
             wait, calls in progress finish. SpoolResumed (with Via) follows at spool resume. The manager \
             user's name is not given: Asterisk offers a module no way to read it from the session.",
        ],
        fields: &[EventField { name: "Campaign", text: "The campaign paused, or all." }, VIA],
    },
    AmiEvent {
        name: "SpoolCancelled",
        class: "EVENT_FLAG_CALL",
        synopsis: "Raised for each call file an admin cancels.",
        description: &[
            "Sent once per file by spool cancel <file>, spool cancel campaign <name> and SpoolCancel (File: or \
             Campaign:), when the cancel is decided: a queued file is then deleted or archived (Status: \
             Cancelled); a file whose call is in progress is removed when that call ends (at once with hangup), \
             without a retry, and may still raise its SpoolFinished if the call was answered.",
        ],
        fields: &[
            FILE,
            CAMPAIGN,
            TAG,
            EventField {
                name: "Result",
                text: "deleted, archived, removed at call end, hung up (removed at call end), gone (already), \
                       or failed (the file could not be removed; see the log).",
            },
            EventField {
                name: "CampaignCancel",
                text: "yes when the file was cancelled with its whole campaign (spool cancel campaign, \
                       SpoolCancel with Campaign:), no for a single file.",
            },
            VIA,
            NODE,
        ],
    },
    AmiEvent {
        name: QUEUE_ENTRY,
        class: "EVENT_FLAG_ORIGINATE",
        synopsis: "One call file waiting in the outgoing spool, in answer to SpoolShow.",
        description: &[
            "Sent only to the session that asked: the files waiting to be dialled, soonest due first, then the \
             paused, held, running and kept ones.",
        ],
        fields: &[
            FILE,
            CAMPAIGN,
            EventField { name: "Due", text: "When it is due, in seconds since the epoch (with milliseconds)." },
            EventField { name: "Channel", text: "The channel the file dials (its Channel); empty if unreadable." },
            TAG,
            EventField { name: "AttemptsMade", text: "Attempts recorded in the file so far." },
            EventField {
                name: "AttemptsLeft",
                text: "Attempts it may still get: MaxRetries + 1 minus AttemptsMade (never below 0).",
            },
            EventField {
                name: "State",
                text: "queued, retrying (waiting for its next attempt), window (outside its campaign's hours), \
                       paused (its campaign or all is paused), held (due, behind maxcalls/maxrate or a \
                       suspension), running (a call in progress) or kept (finished, AlwaysDelete: no).",
            },
            EventField {
                name: "NextDue",
                text: "When the spooler next acts on the file, in the format of Due: its next attempt, the \
                       window's opening, a running call's retry time, a kept file's removal; empty when it waits \
                       for a resume.",
            },
        ],
    },
    AmiEvent {
        name: SHOW_COMPLETE,
        class: "EVENT_FLAG_ORIGINATE",
        synopsis: "The end of SpoolShow's list.",
        description: &["Sent only to the session that asked, after the last SpoolQueueEntry."],
        fields: &[
            EventField { name: "EventList", text: "Always Complete." },
            EventField { name: "ListItems", text: "How many SpoolQueueEntry events were sent." },
        ],
    },
];

/// The declared event of this name.
pub fn find(name: &str) -> Option<&'static AmiEvent> {
    AMI_EVENTS.iter().find(|event| event.name == name)
}

/// Whether an event with these fields is what [`AMI_EVENTS`] declares; `Err` names what is not.
pub fn check_declared(name: &str, fields: &[&str]) -> Result<(), String> {
    let event = find(name).ok_or_else(|| format!("event {name} is not declared in events::AMI_EVENTS"))?;
    match fields.iter().find(|field| !event.fields.iter().any(|declared| declared.name == **field)) {
        Some(field) => Err(format!("event {name}: field {field} is not declared in events::AMI_EVENTS")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_fields_are_unique_and_documented() {
        for (i, event) in AMI_EVENTS.iter().enumerate() {
            assert!(event.name.starts_with("Spool"), "{}", event.name);
            assert!(AMI_EVENTS[..i].iter().all(|other| other.name != event.name), "{} twice", event.name);
            assert!(!event.synopsis.is_empty() && !event.fields.is_empty(), "{}", event.name);
            for (j, field) in event.fields.iter().enumerate() {
                assert!(!field.text.is_empty(), "{}: {}", event.name, field.name);
                assert!(
                    event.fields[..j].iter().all(|other| other.name != field.name),
                    "{}: {}",
                    event.name,
                    field.name
                );
            }
        }
    }

    #[test]
    fn an_undeclared_event_or_field_is_named() {
        assert_eq!(check_declared("SpoolFinished", &["File", "Status"]), Ok(()));
        assert!(check_declared("SpoolFinished", &["Colour"]).unwrap_err().contains("Colour"));
        assert!(check_declared("SpoolExploded", &[]).unwrap_err().contains("SpoolExploded"));
    }
}
