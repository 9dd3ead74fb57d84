//! The syntax of each key's value: the text as written in, the value or a reason for the admin out.
//!
//! Each parser judges one value alone: nothing here sees the settings, other lines, or the system.

use super::keys::NO_APPLICATIONS;
use super::settings::WatchMode;
use crate::policy::FirstLegMode;

/// Far above what any PBX can originate; a larger value is a typo, not a wish.
const MAX_MAX_RATE: f64 = 100_000.0;

pub(super) fn parse_watch(value: &str) -> Result<WatchMode, String> {
    [WatchMode::Inotify, WatchMode::Scan, WatchMode::Both]
        .into_iter()
        .find(|mode| value.eq_ignore_ascii_case(mode.keyword()))
        .ok_or_else(|| "must be inotify, scan or both".to_string())
}

pub(super) fn parse_first_leg(value: &str) -> Result<FirstLegMode, String> {
    [FirstLegMode::Local, FirstLegMode::Strict, FirstLegMode::Any]
        .into_iter()
        .find(|mode| value.eq_ignore_ascii_case(mode.keyword()))
        .ok_or_else(|| "expected local, strict or any".to_string())
}

pub(super) fn parse_channel_pattern(value: &str) -> Result<String, String> {
    // Without a `/` a pattern can only match through `*`, which is surely not what was meant.
    if !value.contains('/') || value.chars().any(char::is_control) {
        return Err("expected a channel pattern Tech/Dest, such as Local/*@campaign".to_string());
    }
    Ok(value.to_string())
}

pub(super) fn parse_application_name(value: &str) -> Result<String, String> {
    // Strict on purpose: `System, Exec` read as one name would silently deny nothing.
    let is_name = !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !is_name {
        return Err(format!("expected one application name, such as System, per line (or {NO_APPLICATIONS})"));
    }
    Ok(value.to_string())
}

/// `NAME` or `NAME(field)`: a function name, and optionally the one argument admitted.
pub(super) fn parse_function_name(value: &str) -> Result<String, String> {
    let is_name = |text: &str| !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let (name, field) = match value.strip_suffix(')').and_then(|rest| rest.split_once('(')) {
        Some((name, field)) => (name, Some(field)),
        None => (value, None),
    };
    let field_ok = field.map_or(true, |field| {
        !field.is_empty() && field.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '(' | ')'))
    });
    if !is_name(name) || !field_ok {
        return Err(
            "expected one dialplan function name, such as GLOBAL, or one function and field, such as CDR(accountcode), \
             per line"
                .to_string(),
        );
    }
    Ok(value.to_string())
}

/// A variable name as Asterisk compares it (case kept); inheritance marks (`_`, `__`) are allowed and
/// admit the same variable.
pub(super) fn parse_variable_name(value: &str) -> Result<String, String> {
    let is_name =
        !value.trim_start_matches('_').is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !is_name {
        return Err("expected one variable name, such as TRUNKVAR, per line".to_string());
    }
    Ok(value.to_string())
}

pub(super) fn parse_owner(value: &str) -> Result<String, String> {
    // POSIX portable user names (a trailing `$` is common for machine accounts) or a uid.
    let body = value.strip_suffix('$').unwrap_or(value);
    let is_user = !body.is_empty()
        && !body.starts_with('-')
        && body.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !is_user {
        return Err("expected one user name or numeric uid per line".to_string());
    }
    Ok(value.to_string())
}

/// A whole non-negative decimal number, digits only.
pub(super) fn parse_count(value: &str) -> Result<usize, String> {
    if value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err("expected a whole number".to_string());
    }
    value.parse().map_err(|_| "too large".to_string())
}

/// Asterisk's `ast_true()`/`ast_false()` words; anything else is an error rather than "no".
pub(super) fn parse_yes_no(value: &str) -> Result<bool, String> {
    const YES: [&str; 6] = ["yes", "true", "y", "t", "1", "on"];
    const NO: [&str; 6] = ["no", "false", "n", "f", "0", "off"];
    let is = |words: &[&str]| words.iter().any(|word| value.eq_ignore_ascii_case(word));
    if is(&YES) {
        Ok(true)
    } else if is(&NO) {
        Ok(false)
    } else {
        Err("expected yes or no".to_string())
    }
}

/// Calls per second; 0 means unlimited.
pub(super) fn parse_rate(value: &str) -> Result<Option<f64>, String> {
    let rate: f64 = value.parse().map_err(|_| "expected a number of calls per second".to_string())?;
    // NaN and the infinities fall outside the range too.
    if !(0.0..=MAX_MAX_RATE).contains(&rate) {
        return Err(format!("must be between 0 (unlimited) and {MAX_MAX_RATE} calls per second"));
    }
    Ok((rate > 0.0).then_some(rate))
}

/// `allow_argument = <Application>:<argument name or option letter>`, as a refusal names it.
pub(super) fn parse_argument_key(value: &str) -> Result<String, String> {
    let Some((application, what)) = value.split_once(':') else {
        return Err("expected <Application>:<argument or option letter>, as a refusal names it".to_string());
    };
    let (application, what) = (application.trim(), what.trim());
    let Some(known) = crate::arguments::arguments_of(application.as_bytes()) else {
        return Err(format!("'{application}' has no classified arguments (only the default applications do)"));
    };
    let named =
        known.arguments.iter().chain(known.rest.iter()).any(|argument| argument.name.eq_ignore_ascii_case(what));
    let option = what.len() == 1
        && known.arguments.iter().any(|argument| match argument.accepts {
            crate::arguments::Accepts::Options(letters) => {
                letters.iter().any(|letter| letter.letter == what.as_bytes()[0])
            }
            _ => false,
        });
    if !named && !option {
        return Err(format!("{} has no argument or checked option '{what}'", known.application));
    }
    Ok(format!("{}:{what}", known.application))
}
