//! Writing call files: the text for a call described by `submit`'s flags ([`render`]), and `bulk`'s
//! templates with `{number}` filled in ([`substitute`]), each checked to read back through pbx_spool's
//! parser exactly as asked.
//!
//! Pure: bytes in, bytes out. It never reads or writes files and never touches the spool.

use pbx_spool_core::callfile;

use crate::error::Error;

/// What `bulk` replaces with each number in the template. Not `${NUMBER}`: call files legitimately carry
/// Asterisk's own `${...}` expressions, which must reach Asterisk untouched.
pub const NUMBER_PLACEHOLDER: &str = "{number}";

/// Where an answered call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `Context:`/`Extension:`/`Priority:`.
    Dialplan { context: Option<Vec<u8>>, extension: Vec<u8>, priority: Option<i32> },
    /// `Application:`/`Data:`.
    Application { name: Vec<u8>, data: Option<Vec<u8>> },
}

/// A call described by `submit`'s flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSpec {
    /// `Tech/Dest`.
    pub channel: Vec<u8>,
    pub target: Target,
    /// `Set:` lines, in order.
    pub variables: Vec<(Vec<u8>, Vec<u8>)>,
    pub callerid: Option<Vec<u8>>,
    pub account: Option<Vec<u8>>,
    pub max_retries: Option<i32>,
    pub retry_time: Option<i32>,
    pub wait_time: Option<i32>,
    pub archive: bool,
}

/// `value` as it must be written after `Key: ` so that pbx_spool reads back exactly `value`: `;` escaped.
/// Values the parser cannot carry (line breaks, NUL bytes, leading or trailing blanks, a `#` after a
/// blank, which starts a comment) are refused, so what is written is always what was asked for.
fn encode_value(label: &str, value: &[u8]) -> Result<Vec<u8>, Error> {
    let mut escaped = Vec::with_capacity(value.len() + 2);
    for &byte in value {
        if byte == b';' {
            escaped.push(b'\\');
        }
        escaped.push(byte);
    }
    // Cleaning does not depend on the key, so reading the value back under any key tells.
    let mut probe = b"Data: ".to_vec();
    probe.extend_from_slice(&escaped);
    probe.push(b'\n');
    let parsed = callfile::parse(&probe);
    if parsed.diagnostics.is_empty() && parsed.call.data == value {
        return Ok(escaped);
    }
    Err(Error::usage(format!(
        "{label} {:?} cannot be written in a call file (line breaks, NUL bytes, leading or trailing blanks and \
         a '#' after a blank do not survive pbx_spool's parser)",
        String::from_utf8_lossy(value)
    )))
}

fn push_line(out: &mut Vec<u8>, key: &str, label: &str, value: &[u8]) -> Result<(), Error> {
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(&encode_value(label, value)?);
    out.push(b'\n');
    Ok(())
}

/// The call file text for `spec`.
pub fn render(spec: &CallSpec) -> Result<Vec<u8>, Error> {
    if !matches!(spec.channel.iter().position(|&byte| byte == b'/'), Some(at) if at > 0 && at + 1 < spec.channel.len())
    {
        return Err(Error::usage("--channel must be Tech/Dest, e.g. PJSIP/100"));
    }
    let mut out = Vec::new();
    push_line(&mut out, "Channel", "--channel", &spec.channel)?;
    if let Some(callerid) = &spec.callerid {
        push_line(&mut out, "CallerID", "--callerid", callerid)?;
    }
    let numbers =
        [("MaxRetries", spec.max_retries, 0), ("RetryTime", spec.retry_time, 1), ("WaitTime", spec.wait_time, 1)];
    for (key, value, minimum) in numbers {
        if let Some(value) = value {
            if value < minimum {
                return Err(Error::usage(format!("{key} must be at least {minimum}")));
            }
            out.extend_from_slice(format!("{key}: {value}\n").as_bytes());
        }
    }
    if let Some(account) = &spec.account {
        push_line(&mut out, "Account", "--account", account)?;
    }
    match &spec.target {
        Target::Dialplan { context, extension, priority } => {
            if let Some(context) = context {
                push_line(&mut out, "Context", "--context", context)?;
            }
            if extension.is_empty() {
                return Err(Error::usage("--extension must not be empty"));
            }
            push_line(&mut out, "Extension", "--extension", extension)?;
            if let Some(priority) = priority {
                if *priority < 1 {
                    return Err(Error::usage("--priority must be at least 1"));
                }
                out.extend_from_slice(format!("Priority: {priority}\n").as_bytes());
            }
        }
        Target::Application { name, data } => {
            if name.is_empty() {
                return Err(Error::usage("--application must not be empty"));
            }
            push_line(&mut out, "Application", "--application", name)?;
            if let Some(data) = data {
                push_line(&mut out, "Data", "--data", data)?;
            }
        }
    }
    for (name, value) in &spec.variables {
        if name.is_empty() || name.contains(&b'=') {
            return Err(Error::usage("--set needs NAME=VALUE with a non-empty NAME"));
        }
        let mut assignment = name.clone();
        assignment.push(b'=');
        assignment.extend_from_slice(value);
        push_line(&mut out, "Set", "--set", &assignment)?;
    }
    if spec.archive {
        out.extend_from_slice(b"Archive: yes\n");
    }
    // Each value survived on its own; the whole must too (line lengths, above all).
    let parsed = callfile::parse(&out);
    if let Some(diagnostic) = parsed.diagnostics.first() {
        return Err(Error::usage(diagnostic.message("the generated call file")));
    }
    Ok(out)
}

/// Whether `number` can go into a template: one word of printable bytes without `;` (which would start
/// a comment), so the substitution cannot change the file's structure.
pub fn check_number(number: &str) -> Result<(), String> {
    if number.is_empty() {
        return Err("empty number".into());
    }
    if let Some(byte) = number.bytes().find(|&byte| byte <= b' ' || byte == 0x7f || byte == b';') {
        return Err(format!("number {number:?} contains {:?}, which cannot go into a call file", byte as char));
    }
    Ok(())
}

/// `template` with every `{number}` replaced by `number`.
pub fn substitute(template: &[u8], number: &str) -> Vec<u8> {
    let placeholder = NUMBER_PLACEHOLDER.as_bytes();
    let mut out = Vec::with_capacity(template.len() + number.len());
    let mut rest = template;
    while let Some(at) = rest.windows(placeholder.len()).position(|window| window == placeholder) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(number.as_bytes());
        rest = &rest[at + placeholder.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// The numbers of a numbers file with their line numbers: one per line, blanks trimmed; empty lines and
/// lines starting with `#` or `;` skipped.
pub fn read_numbers(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#') && !line.starts_with(';'))
        .map(|(line, number)| (line, number.to_string()))
        .collect()
}

/// Whether `template` holds [`NUMBER_PLACEHOLDER`] at least once.
pub fn has_placeholder(template: &[u8]) -> bool {
    template.windows(NUMBER_PLACEHOLDER.len()).any(|window| window == NUMBER_PLACEHOLDER.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::spec;

    #[test]
    fn template_substitution_replaces_every_placeholder_only() {
        let template = b"Channel: PJSIP/{number}\nSet: DIALED={number}\nData: ${NUMBER} {num}\n";
        assert_eq!(
            substitute(template, "5550100"),
            b"Channel: PJSIP/5550100\nSet: DIALED=5550100\nData: ${NUMBER} {num}\n".to_vec()
        );
        assert_eq!(substitute(b"no placeholder", "1"), b"no placeholder".to_vec());
        assert_eq!(substitute(b"{number}{number}", "ab"), b"abab".to_vec());
    }

    #[test]
    fn numbers_file_skips_blanks_and_comments() {
        let numbers = read_numbers("# campaign\n100\r\n\n  200  \n; old\n+1555*9#\n");
        assert_eq!(numbers, vec![(2, "100".to_string()), (4, "200".to_string()), (6, "+1555*9#".to_string())]);
    }

    #[test]
    fn numbers_that_would_change_the_file_are_refused() {
        assert!(check_number("+15550100").is_ok());
        assert!(check_number("100@trunk").is_ok());
        for number in ["", "1 2", "1;x", "1\t2", "1\u{7f}"] {
            assert!(check_number(number).is_err(), "{number:?}");
        }
    }

    #[test]
    fn placeholder_is_found() {
        assert!(has_placeholder(b"Channel: PJSIP/{number}\n"));
        assert!(!has_placeholder(b"Channel: PJSIP/{num}\n"));
    }

    #[test]
    fn rendered_file_reads_back_as_asked() {
        let mut call = spec();
        call.target = Target::Dialplan {
            context: Some(b"from-internal".to_vec()),
            extension: b"200".to_vec(),
            priority: Some(2),
        };
        call.variables = vec![(b"B".to_vec(), b"2".to_vec()), (b"A".to_vec(), b"x;y=z".to_vec())];
        call.callerid = Some(b"\"Wake Up\" <5550100>".to_vec());
        call.account = Some(b"acct;7".to_vec());
        call.max_retries = Some(2);
        call.retry_time = Some(60);
        call.wait_time = Some(30);
        call.archive = true;
        let bytes = render(&call).unwrap();
        let parsed = callfile::parse(&bytes);
        assert!(parsed.diagnostics.is_empty());
        let read = parsed.call;
        assert_eq!(read.channel(), b"PJSIP/100");
        assert_eq!(
            (read.context.as_slice(), read.extension.as_slice(), read.priority),
            (&b"from-internal"[..], &b"200"[..], 2)
        );
        assert_eq!(read.variables, call.variables);
        assert_eq!(read.account, b"acct;7");
        assert_eq!((read.cid_name.as_slice(), read.cid_num.as_slice()), (&b"Wake Up"[..], &b"5550100"[..]));
        assert_eq!((read.max_retries, read.retry_time, read.wait_time, read.archive), (2, 60, 30, true));
        assert_eq!(read.validate(), Ok(()));
    }

    #[test]
    fn values_the_parser_would_change_are_refused() {
        for data in [&b"a\nChannel: x"[..], b"x #comment", b" lead", b"trail ", b"nul\0", b"tab\t#x"] {
            let mut call = spec();
            call.target = Target::Application { name: b"Playback".to_vec(), data: Some(data.to_vec()) };
            let error = render(&call).unwrap_err();
            assert!(error.message.starts_with("--data"), "{}", error.message);
        }
        let mut call = spec();
        call.target = Target::Application { name: b"Playback".to_vec(), data: Some(b"a#b ;\\; ${X}".to_vec()) };
        let parsed = callfile::parse(&render(&call).unwrap());
        assert_eq!(parsed.call.data, b"a#b ;\\; ${X}");
        let mut long = spec();
        long.target = Target::Application { name: b"Playback".to_vec(), data: Some(vec![b'x'; 1100]) };
        assert!(render(&long).is_err());
        let mut no_dest = spec();
        no_dest.channel = b"PJSIP/".to_vec();
        assert!(render(&no_dest).is_err());
    }
}
