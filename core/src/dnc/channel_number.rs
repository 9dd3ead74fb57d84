//! The number a call file's `Channel:` dials, as the do-not-call check reads it, per technology:
//!
//! - `Local/<exten>@<context>[/<options>]`: the extension (read as `core_local.c` reads it);
//! - `<Tech>/<peer>/<number>[...]` (`SIP/trunk/0301234`, `DAHDI/g1/0301234`, `IAX2/peer/0301234@ctx`,
//!   `PJSIP/trunk/sip:0301234@host`): the element after the first `/`, up to the next `/`, without a URI
//!   scheme (`sip:`, `sips:`, `tel:`), and only its user part (before `@`, before `;`);
//! - `<Tech>/<user>@<peer>` (`PJSIP/+4930123@trunk`, `SIP/0301234@trunk`): the part before `@`;
//! - `<Tech>/<endpoint>` (`PJSIP/100`): the endpoint's name, a number only if it is one; `IAX2/<peer>`
//!   alone dials the peer's `s` extension: no number.
//!
//! The text found is then [`normalise`](super::normalise)d as a list's line is. Anything else (letters,
//! `*`, `#`: `Local/s@ctx`, `PJSIP/alice`) is no number: `None`, and the caller says so.
//!
//! Pure: bytes in, digits out. Never panics.

use crate::channel::Channel;

/// The digits `tech/dest` dials, normalised as a list's numbers are; `None` when it names no number.
pub fn dialled_number(tech: &[u8], dest: &[u8]) -> Option<Vec<u8>> {
    let channel = Channel::from_parts(tech, dest);
    let user = match &channel.local {
        Some(local) => local.exten.as_slice(),
        None => user_part(tech, dest)?,
    };
    super::normalise(user).ok()
}

/// The part of a non-Local destination that holds the number dialled.
fn user_part<'a>(tech: &[u8], dest: &'a [u8]) -> Option<&'a [u8]> {
    match dest.iter().position(|&byte| byte == b'/') {
        Some(at) => {
            let rest = &dest[at + 1..];
            let element = rest.split(|&byte| byte == b'/').next().unwrap_or_default();
            Some(before_any(without_scheme(element), b"@;"))
        }
        // IAX2/peer dials the peer's `s` extension.
        None if tech.eq_ignore_ascii_case(b"IAX2") => None,
        None => Some(before_any(dest, b"@")),
    }
}

/// `element` without a leading `sip:`, `sips:` or `tel:` (any case).
fn without_scheme(element: &[u8]) -> &[u8] {
    for scheme in [&b"sip:"[..], b"sips:", b"tel:"] {
        if element.len() >= scheme.len() && element[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return &element[scheme.len()..];
        }
    }
    element
}

/// `text` up to the first of `stops`.
fn before_any<'a>(text: &'a [u8], stops: &[u8]) -> &'a [u8] {
    let end = text.iter().position(|byte| stops.contains(byte)).unwrap_or(text.len());
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(channel: &str) -> Option<String> {
        let parsed = Channel::parse(channel.as_bytes());
        dialled_number(&parsed.tech, &parsed.dest).map(|digits| String::from_utf8(digits).unwrap())
    }

    #[test]
    fn each_technologys_dialled_number_is_found() {
        let table: &[(&str, Option<&str>)] = &[
            ("PJSIP/+4930123@trunk", Some("4930123")),
            ("PJSIP/0301234@trunk", Some("0301234")),
            ("PJSIP/trunk/sip:0301234@host", Some("0301234")),
            ("PJSIP/trunk/sips:+49301234@host:5061", Some("49301234")),
            ("PJSIP/trunk/sip:0301234;user=phone@host", Some("0301234")),
            ("PJSIP/trunk/tel:+49-30-1234", Some("49301234")),
            ("PJSIP/100", Some("100")),
            ("PJSIP/alice", None),
            ("SIP/trunk/0301234", Some("0301234")),
            ("SIP/0301234@trunk", Some("0301234")),
            ("Local/0301234@ctx", Some("0301234")),
            ("Local/0301234@ctx/n", Some("0301234")),
            ("local/0301234", Some("0301234")),
            ("Local/s@ctx", None),
            ("Local/_X.@ctx", None),
            ("DAHDI/g1/0301234", Some("0301234")),
            ("DAHDI/1r2/(030) 123-4", Some("0301234")),
            ("DAHDI/g1", None),
            ("IAX2/peer/0301234", Some("0301234")),
            ("IAX2/user:secret@peer:4569/0301234@ctx/o", Some("0301234")),
            ("IAX2/peer", None),
            ("IAX2/5551234", None),
            ("PJSIP/@trunk", None),
            ("PJSIP/*67@trunk", None),
            ("PJSIP/", None),
        ];
        for (channel, expected) in table {
            assert_eq!(number(channel).as_deref(), *expected, "{channel}");
        }
    }
}
