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
const MAX_RETRIES: EventField = EventField {
    name: "MaxRetries",
    text: "The call file's MaxRetries: how many retries it allows after the first attempt.",
};

const OUTCOME: EventField = EventField {
    name: "Outcome",
    text: "The attempt's outcome: answered, busy, congestion, noanswer, hangup or failed (from Reason), \
           unallocated or rejected (from Cause, where known), or a name the dialplan chose.",
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
                       or not readable as a call file), or Rejected (refused by the security policy or the owner \
                       check; archived as Status: Failed, as pbx_spool writes it).",
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
        synopsis: "Raised when pbx_spool_rs dispatches call files again after SpoolSuspended.",
        description: &["Sent once pbx_spool.so is no longer loaded; the spool directory is rescanned."],
        fields: &[EventField { name: "Reason", text: "Why dispatching resumed." }],
    },
    AmiEvent {
        name: QUEUE_ENTRY,
        class: "EVENT_FLAG_ORIGINATE",
        synopsis: "One call file waiting in the outgoing spool, in answer to SpoolShow.",
        description: &["Sent only to the session that asked, soonest due first."],
        fields: &[
            FILE,
            CAMPAIGN,
            EventField { name: "Due", text: "When it is due, in seconds since the epoch (with milliseconds)." },
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
