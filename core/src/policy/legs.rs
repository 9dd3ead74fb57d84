//! Where a call file's legs may go: the first leg (its `Channel:`) and the second legs its application
//! dials, judged by the channel rules (the last match decides) and then by the first-leg mode, with the
//! refusal naming the `allow` line that would admit the channel.
//!
//! Judges channels only, as [`crate::channel`] reads them; which applications dial what is `runs.rs`'s
//! (through [`crate::applications`]).

use super::rejection::{shown, Rejection};
use super::rule_set::{FirstLegMode, Policy, RuleAction};
use super::{rule, Endpoint, FunctionRegistry};
use crate::channel::Channel;

/// Decides whether the channel `tech/dest` may be dialled as a call file's first leg: the last
/// channel rule that matches decides, and without one the [`FirstLegMode`] does.
///
/// # Errors
///
/// A [`Rejection`] under [`rule::CHANNEL_RULE`] when a `deny` rule decided, or
/// [`rule::FIRST_LEG`] when the mode did.
pub fn first_leg_verdict(
    tech: &[u8],
    dest: &[u8],
    policy: &Policy,
    registry: &dyn FunctionRegistry,
) -> Result<(), Rejection> {
    let channel = Channel::from_parts(tech, dest);
    channel_verdict(&channel, policy, registry).map_err(|refusal| match refusal {
        ChannelRefusal::Rule(pattern) => Rejection::new(
            rule::CHANNEL_RULE,
            &channel.written(),
            format!("channel matches 'deny = {}'{}", shown(pattern.as_bytes()), allow_fix(&channel, true)),
        ),
        ChannelRefusal::Mode(why) => Rejection::new(
            rule::FIRST_LEG,
            &channel.written(),
            format!("{}; {}{}", why.sentence(None), mode_allows(policy.first_leg), allow_fix(&channel, false)),
        ),
    })
}

/// Decides whether an application from a call file may dial `channel` (a second leg): the same
/// rules as the first leg, refused under [`rule::SECOND_LEG`] whichever rule decided.
pub(super) fn second_leg_verdict(
    application: &[u8],
    channel: &Channel,
    policy: &Policy,
    registry: &dyn FunctionRegistry,
) -> Result<(), Rejection> {
    let subject = format!("{}'s destination", shown(application));
    channel_verdict(channel, policy, registry).map_err(|refusal| {
        let detail = match refusal {
            ChannelRefusal::Rule(pattern) => {
                format!("{subject} matches 'deny = {}'{}", shown(pattern.as_bytes()), allow_fix(channel, true))
            }
            ChannelRefusal::Mode(why) => {
                let allows = mode_allows(policy.first_leg);
                format!("{}; {allows}{}", why.sentence(Some(&subject)), allow_fix(channel, false))
            }
        };
        Rejection::new(rule::SECOND_LEG, &channel.written(), detail)
    })
}

/// The config line that would admit `channel`, for the refusal's words: the text the channel rules
/// match, as an `allow` line (placed after the `deny` that matched, when one did). Nothing when that
/// text holds a pattern character (the line would admit more than this channel) or cannot be a rule.
fn allow_fix(channel: &Channel, after_deny: bool) -> String {
    let text = channel.judged_text();
    let printable = text.iter().all(|&byte| byte.is_ascii_graphic());
    if text.is_empty() || !printable || text.iter().any(|&byte| matches!(byte, b'*' | b'?')) {
        return String::new();
    }
    let line = format!("allow = {}", String::from_utf8_lossy(&text));
    if after_deny {
        format!(" (an '{line}' line after it admits it)")
    } else {
        format!(" ('{line}' admits it)")
    }
}

fn mode_allows(mode: FirstLegMode) -> String {
    let allowed = match mode {
        FirstLegMode::Local => "Local channels and bare endpoints of this PBX",
        FirstLegMode::Strict | FirstLegMode::Any => "bare endpoints of this PBX",
    };
    format!("first_leg = {} allows only {allowed}", mode.keyword())
}

/// Why a channel is refused: a `deny` pattern, or the mode.
enum ChannelRefusal<'a> {
    Rule(&'a str),
    Mode(Why),
}

/// What is wrong with a channel under the mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    NoDestination,
    Outside,
    Group,
    MalformedLocal,
    LocalUnderStrict,
    UnknownEndpoint,
    NoSuchTechnology,
}

impl Why {
    /// The reason about the first leg (`None`, in the words of the first release) or about
    /// `subject`, a second leg.
    fn sentence(self, subject: Option<&str>) -> String {
        let first_leg = subject.is_none();
        let subject = subject.unwrap_or("the first leg");
        match self {
            Why::NoDestination if first_leg => "the channel has no destination".to_string(),
            Why::NoDestination => format!("{subject} has no destination"),
            Why::Outside => format!("{subject} dials out of this PBX directly"),
            Why::Group => format!("{subject} is a trunk or channel group"),
            Why::MalformedLocal if first_leg => {
                "malformed Local channel (expected Local/exten@context[/options])".to_string()
            }
            Why::MalformedLocal => {
                format!("{subject} is a malformed Local channel (expected Local/exten@context[/options])")
            }
            Why::LocalUnderStrict => format!("{subject} is a Local channel"),
            Why::UnknownEndpoint => format!(
                "{subject} is not an endpoint this PBX knows (its channel driver has no endpoint or peer of \
                 that name; it could be a host name or address)"
            ),
            Why::NoSuchTechnology => format!("{subject} uses a channel technology that is not loaded"),
        }
    }
}

fn channel_verdict<'a>(
    channel: &Channel,
    policy: &'a Policy,
    registry: &dyn FunctionRegistry,
) -> Result<(), ChannelRefusal<'a>> {
    let deciding_rule = policy.channel_rules.iter().rev().find(|channel_rule| channel_rule.matches_channel(channel));
    if let Some(channel_rule) = deciding_rule {
        return match channel_rule.action {
            RuleAction::Allow => Ok(()),
            RuleAction::Deny => Err(ChannelRefusal::Rule(&channel_rule.pattern)),
        };
    }
    mode_verdict(channel, policy.first_leg, registry).map_err(ChannelRefusal::Mode)
}

/// What a channel reaches, as far as its text tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// `Local/exten[@context][/options]`: this PBX's own dialplan.
    Dialplan,
    /// A Local channel Asterisk cannot place (`Local/@ctx`, `Local/1@`).
    MalformedLocal,
    /// A name without `/`, `@` or `:` that only the channel driver can place (`PJSIP/100`).
    BareName,
    /// Nothing after the `/`.
    NoDestination,
    /// A trunk or channel group (`DAHDI/g1`, `DAHDI/r2`).
    Group,
    /// A trunk, a host, a group or a number: a call out of this PBX.
    Outside,
}

fn reach_of(channel: &Channel) -> Reach {
    if channel.dest.is_empty() {
        return Reach::NoDestination;
    }
    if let Some(local) = &channel.local {
        return if local.is_well_formed(&channel.dest) { Reach::Dialplan } else { Reach::MalformedLocal };
    }
    // `/` and `@` carry a trunk, host or number (`PJSIP/1@trunk`, `IAX2/host/1`, `DAHDI/g1/1`);
    // `:` carries a port or URI scheme (`UnicastRTP/10.0.0.1:5000`, `IAX2/host:4569`), which
    // reaches a host of the file's choosing without either.
    if channel.dest.iter().any(|&byte| matches!(byte, b'/' | b'@' | b':')) {
        return Reach::Outside;
    }
    // chan_dahdi's group and round-robin dial strings pick any free channel of a trunk group.
    let dahdi = channel.tech.eq_ignore_ascii_case(b"DAHDI");
    if dahdi && channel.dest.first().is_some_and(|first| matches!(first, b'g' | b'G' | b'r' | b'R')) {
        return Reach::Group;
    }
    Reach::BareName
}

fn mode_verdict(channel: &Channel, mode: FirstLegMode, registry: &dyn FunctionRegistry) -> Result<(), Why> {
    let reach = reach_of(channel);
    match (mode, reach) {
        (FirstLegMode::Any, _) | (FirstLegMode::Local, Reach::Dialplan) => Ok(()),
        (_, Reach::NoDestination) => Err(Why::NoDestination),
        (_, Reach::Outside) => Err(Why::Outside),
        (_, Reach::Group) => Err(Why::Group),
        (FirstLegMode::Local, Reach::MalformedLocal) => Err(Why::MalformedLocal),
        (FirstLegMode::Strict, Reach::Dialplan | Reach::MalformedLocal) => Err(Why::LocalUnderStrict),
        // Only the driver knows whether a bare name is one of its endpoints or a host to resolve.
        (_, Reach::BareName) => match registry.endpoint(&channel.tech, &channel.dest) {
            Endpoint::Known | Endpoint::NotChecked => Ok(()),
            Endpoint::Unknown => Err(Why::UnknownEndpoint),
            Endpoint::NoSuchTechnology => Err(Why::NoSuchTechnology),
        },
    }
}
