//! The end of one attempt as the admin and a dialer see it: the retry rule for its outcome (the file's
//! campaign first, then `[general]`), and the `SpoolAttemptEnded` event with the outcome and when the
//! next attempt comes. Must not write the file nor decide its status: that is `phases.rs`'s and
//! `outcome.rs`'s. No FFI.

use std::os::unix::ffi::OsStrExt;

use super::visit::Visit;
use super::VisitRules;
use crate::bookkeeping::Millis;
use crate::callfile::CallFile;
use crate::host::Host;
use crate::outcome_names::Recorded;
use crate::retry_rules::{RetryDelay, RuleSource};

/// The rule written for `outcome`: the campaign's the file joins, else `[general]`'s; `None` without one
/// (the file's RetryTime applies).
pub(super) fn rule_for<H: Host>(
    visit: &Visit<'_, H>,
    rules: &VisitRules,
    call: &CallFile,
    outcome: &str,
) -> Option<(RetryDelay, RuleSource)> {
    let campaign = visit.path.file_name().and_then(|name| {
        crate::campaign::find_with_channel(&rules.campaigns, name.as_bytes(), &call.tech, &call.dest)
            .map(|index| &rules.campaigns[index])
    });
    if let Some(campaign) = campaign {
        if let Some(delay) = campaign.retry_rules.get(outcome) {
            return Some((delay, RuleSource::Campaign(campaign.name.clone())));
        }
    }
    rules.retry_rules.get(outcome).map(|delay| (delay, RuleSource::General))
}

/// What follows an attempt: the delay, where it comes from, and the date written for the next attempt
/// (`None` with [`RetryDelay::Never`]). `None` altogether: the attempt was the file's last.
pub(super) type Next<'a> = Option<(RetryDelay, &'a RuleSource, Option<Millis>)>;

impl<H: Host> Visit<'_, H> {
    /// `SpoolAttemptEnded`: the attempt's outcome and what follows it.
    pub(super) fn attempt_ended(&self, call: &CallFile, recorded: &Recorded, uniqueid: &str, next: Next<'_>) {
        let mut fields = vec![
            ("File", self.shown.clone()),
            ("Channel", String::from_utf8_lossy(&call.channel()).into_owned()),
            ("Attempt", recorded.attempt.to_string()),
            ("MaxRetries", call.max_retries.to_string()),
            ("Outcome", recorded.name.clone()),
            ("Reason", recorded.reason.to_string()),
            ("ReasonText", recorded.reason_text.clone()),
        ];
        if let Some((cause, cause_text)) = &recorded.cause {
            fields.push(("Cause", cause.to_string()));
            fields.push(("CauseText", cause_text.clone()));
        }
        fields.push(("Uniqueid", uniqueid.to_string()));
        match next {
            Some((delay, source, due)) => {
                fields.push((
                    "RetryDelay",
                    match delay {
                        RetryDelay::After(seconds) => seconds.to_string(),
                        RetryDelay::Never => "never".to_string(),
                    },
                ));
                fields.push(("RetryRule", source.to_string()));
                if let Some(due) = due {
                    fields.push(("NextAttempt", format!("{}.{:03}", due.div_euclid(1000), due.rem_euclid(1000))));
                }
            }
            None => fields.push(("RetryDelay", "none".to_string())),
        }
        if let Some(campaign) = self.campaign(call) {
            fields.push(("Campaign", campaign));
        }
        fields.push(("Tag", crate::tag::of(call)));
        self.event("SpoolAttemptEnded", fields);
    }
}
