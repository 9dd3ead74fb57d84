//! A dialer's own ID for a call file (its tag): the value of the file's `SPOOL_TAG` channel variable,
//! written `Set: SPOOL_TAG=<id>` (or `_SPOOL_TAG`, `__SPOOL_TAG`: the inheritance marks, which name the same
//! variable). Under the stock pbx_spool it is just a channel variable the dialplan reads as `${SPOOL_TAG}`;
//! pbx_spool_rs also names it in every event about the file (`Tag:`), in `spool show file|queue` and in
//! SpoolShow, so a dialer matches events to its own records without keeping file names.
//!
//! A tag is at most [`MAX_TAG_BYTES`] bytes of printable ASCII (space allowed inside, not at either end):
//! it goes into AMI headers and log lines as it is. A tag outside that is not used: the file is dialled as
//! written (the variable is set on the channel as usual), its events carry an empty `Tag:`, and the visit
//! logs a WARNING saying why ([`TagRead::Unusable`]).
//!
//! Pure: a parsed call file in, a tag out. No I/O, no FFI.

use crate::callfile::CallFile;
use crate::variables::read_name;

/// The channel variable a call file names its tag with.
pub const TAG_VARIABLE: &str = "SPOOL_TAG";

/// The longest tag used, in bytes.
pub const MAX_TAG_BYTES: usize = 128;

/// What a call file says about its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagRead {
    /// No `SPOOL_TAG` is set.
    Absent,
    /// The tag, valid.
    Tag(String),
    /// Set, but not usable as a tag: why (for the WARNING).
    Unusable(String),
}

/// The tag `call` sets: its last `SPOOL_TAG` assignment (in any of its three forms), as Asterisk keeps
/// the last value of a variable set twice.
pub fn read(call: &CallFile) -> TagRead {
    let Some((_, value)) = call.variables.iter().rev().find(|(name, _)| read_name(name) == TAG_VARIABLE.as_bytes())
    else {
        return TagRead::Absent;
    };
    match check(value) {
        Ok(tag) => TagRead::Tag(tag),
        Err(why) => TagRead::Unusable(why),
    }
}

/// The valid tag of `call`, if it has one (empty when none or unusable: what events carry).
pub fn of(call: &CallFile) -> String {
    match read(call) {
        TagRead::Tag(tag) => tag,
        TagRead::Absent | TagRead::Unusable(_) => String::new(),
    }
}

/// `value` as a tag, or why it cannot be one.
pub fn check(value: &[u8]) -> Result<String, String> {
    if value.is_empty() {
        return Err("it is empty".into());
    }
    if value.len() > MAX_TAG_BYTES {
        return Err(format!("it is {} bytes long, more than {MAX_TAG_BYTES}", value.len()));
    }
    if let Some(bad) = value.iter().find(|&&b| !(b' '..=b'~').contains(&b)) {
        return Err(format!("it holds the byte 0x{bad:02x}: a tag is printable ASCII"));
    }
    if value.first() == Some(&b' ') || value.last() == Some(&b' ') {
        return Err("it starts or ends with a space".into());
    }
    Ok(String::from_utf8_lossy(value).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(lines: &str) -> CallFile {
        crate::callfile::parse(format!("Channel: Local/1@c\nContext: x\nExtension: s\n{lines}").as_bytes()).call
    }

    #[test]
    fn the_tag_is_spool_tag_in_any_inheritance_form_and_the_last_one_wins() {
        assert_eq!(read(&call("")), TagRead::Absent);
        assert_eq!(read(&call("Set: OTHER=1\n")), TagRead::Absent);
        assert_eq!(read(&call("Set: SPOOL_TAG=crm-42\n")), TagRead::Tag("crm-42".into()));
        assert_eq!(read(&call("Set: _SPOOL_TAG=crm-43\n")), TagRead::Tag("crm-43".into()));
        assert_eq!(read(&call("SetVar: __SPOOL_TAG=lead 7/b\n")), TagRead::Tag("lead 7/b".into()));
        assert_eq!(read(&call("Set: SPOOL_TAG=one\nSet: __SPOOL_TAG=two\n")), TagRead::Tag("two".into()));
        // Three marks are not an inheritance form, and names compare exactly, as Asterisk compares them.
        assert_eq!(read(&call("Set: ___SPOOL_TAG=x\nSet: spool_tag=y\n")), TagRead::Absent);
        assert_eq!(of(&call("Set: SPOOL_TAG=abc\n")), "abc");
    }

    #[test]
    fn a_tag_is_short_printable_ascii_or_it_is_not_used() {
        let longest = "t".repeat(MAX_TAG_BYTES);
        assert_eq!(check(longest.as_bytes()), Ok(longest.clone()));
        let too_long = format!("{longest}x");
        assert!(check(too_long.as_bytes()).unwrap_err().contains("129 bytes long, more than 128"));
        assert!(check(b"").unwrap_err().contains("empty"));
        assert!(check(b"a\x01b").unwrap_err().contains("0x01"));
        assert!(check("caf\u{e9}".as_bytes()).unwrap_err().contains("printable ASCII"));
        assert!(check(b" a").is_err() && check(b"a ").is_err());
        let unusable = call(&format!("Set: SPOOL_TAG={too_long}\n"));
        assert!(matches!(read(&unusable), TagRead::Unusable(_)));
        assert_eq!(of(&unusable), "");
    }

    /// Manager events as the fake host records them: name and fields.
    type Events = Vec<(String, Vec<(String, String)>)>;

    /// The events of one visit to a file with `lines`, answered or busy on every attempt, and whether the
    /// tag was warned about.
    fn visit_events(name: &str, lines: &str, answer: bool) -> (Events, bool) {
        use crate::attempt::{visit, Stats, VisitRules};
        use crate::testing::{answered, busy, temp_spool, FakeHost};
        let host = FakeHost::new(move |_, _| if answer { answered() } else { busy() });
        let paths = temp_spool(name);
        let path = paths.outgoing.join("t.call");
        let text = format!("Channel: Local/1@c\nContext: x\nExtension: s\nMaxRetries: 0\n{lines}");
        std::fs::write(&path, text).unwrap();
        visit(&*host, &paths, &VisitRules::default(), &Stats::default(), &path, &mut |_| {});
        let warned = host.logged("is not used as its tag");
        (host.with(|r| r.events.clone()), warned)
    }

    fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
        fields.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    #[test]
    fn every_event_of_a_visit_carries_the_tag_and_is_declared() {
        for answer in [true, false] {
            let (events, warned) = visit_events("tag-events", "Set: __SPOOL_TAG=crm-42\n", answer);
            let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
            assert_eq!(names, ["SpoolAttempt", "SpoolAttemptEnded", "SpoolFinished"], "answered {answer}");
            for (name, fields) in &events {
                assert_eq!(field(fields, "Tag"), Some("crm-42"), "{name}");
                let keys: Vec<&str> = fields.iter().map(|(key, _)| key.as_str()).collect();
                assert_eq!(crate::events::check_declared(name, &keys), Ok(()));
            }
            assert!(!warned);
        }
    }

    #[test]
    fn an_untagged_or_badly_tagged_file_has_an_empty_tag_and_a_bad_one_a_warning() {
        let (events, warned) = visit_events("tag-none", "", true);
        assert!(events.iter().all(|(_, fields)| field(fields, "Tag") == Some("")));
        assert!(!warned);
        let long = "x".repeat(MAX_TAG_BYTES + 1);
        let (events, warned) = visit_events("tag-bad", &format!("Set: SPOOL_TAG={long}\n"), true);
        assert_eq!(events.len(), 3, "the call is placed as written");
        assert!(events.iter().all(|(_, fields)| field(fields, "Tag") == Some("")));
        assert!(warned, "the admin is told why the tag is not used");
    }
}
