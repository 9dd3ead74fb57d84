//! The size checks that come first, so every later check sees bounded input: how many `Set:` lines a
//! call file may have, and how long any one value may be.
//!
//! Counts and lengths only: what the lines say is the later checks' to judge.

use super::rejection::Rejection;
use super::rule;
use super::rule_set::Policy;
use crate::callfile::CallFile;

pub(super) fn check_set_line_count(call: &CallFile, policy: &Policy) -> Result<(), Rejection> {
    let count = call.variables.len();
    if count <= policy.max_set_lines {
        return Ok(());
    }
    Err(Rejection::new(
        rule::SET_LINES,
        count.to_string().as_bytes(),
        format!("{count} Set/SetVar lines, more than max_set_lines ({})", policy.max_set_lines),
    ))
}

pub(super) fn check_value_lengths(call: &CallFile, policy: &Policy) -> Result<(), Rejection> {
    let channel = call.channel();
    let single_values: [(&str, &[u8]); 8] = [
        ("Channel", &channel),
        ("CallerID name", &call.cid_name),
        ("CallerID number", &call.cid_num),
        ("Application", &call.application),
        ("Data", &call.data),
        ("Context", &call.context),
        ("Extension", &call.extension),
        ("Account", &call.account),
    ];
    let codecs = call.codecs.iter().map(|codecs| ("Codecs", codecs.as_slice()));
    let variables = call
        .variables
        .iter()
        .flat_map(|(name, value)| [("Set variable name", name.as_slice()), ("Set value", value.as_slice())]);
    let too_long =
        single_values.into_iter().chain(codecs).chain(variables).find(|(_, value)| value.len() > policy.max_value_len);
    match too_long {
        None => Ok(()),
        Some((label, value)) => Err(Rejection::new(
            rule::VALUE_LENGTH,
            value,
            format!("{label} is {} bytes long, more than max_value_len ({})", value.len(), policy.max_value_len),
        )),
    }
}
