//! `callfile submit --ami HOST:PORT`: the call file sent to pbx_spool_rs's `SpoolSubmit` AMI action instead
//! of being written into a local spool, for a dialer on another host. The file's `Key: value` lines become
//! the action's headers (each `Set:` one header), the due time becomes `Due:` (Unix seconds), and the
//! server checks it with its own rules and answers at once: accepted with the file's name, or refused with
//! the rule.
//!
//! A plain AMI client over TCP (login, one action, logoff). It reads no spool and writes no file.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use pbx_spool_core::bookkeeping::Millis;

use crate::error::{Error, Exit};

/// How long connecting, and each answer, may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Where and as whom to submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmiTarget {
    /// `host:port` of the Asterisk manager.
    pub address: String,
    pub user: String,
    pub secret: String,
    /// `SubmitID`: the same ID again is answered with the first file, never a second call.
    pub submit_id: Option<String>,
}

/// The headers of `SpoolSubmit` for the call file `bytes` due at `due`: every `Key: value` line in order
/// (comments, blank lines and bookkeeping lines left out), then `Due` and `SubmitID`.
pub fn headers(bytes: &[u8], due: Millis, submit_id: Option<&str>) -> Result<Vec<(String, String)>, Error> {
    let text = std::str::from_utf8(bytes).map_err(|_| Error::usage("The call file is not UTF-8 text"))?;
    let mut headers = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(Error::usage(format!("Line {}: {line:?} is not Key: value", number + 1)));
        };
        let key = key.trim();
        // A file's own bookkeeping is the spool's business, not a new call's.
        if ["StartRetry", "EndRetry", "AbortRetry", "DelayedRetry", "Status"]
            .iter()
            .any(|k| key.eq_ignore_ascii_case(k))
        {
            continue;
        }
        headers.push((key.to_string(), value.trim().to_string()));
    }
    headers.push(("Due".into(), (due.div_euclid(1000)).to_string()));
    if let Some(id) = submit_id {
        headers.push(("SubmitID".into(), id.to_string()));
    }
    Ok(headers)
}

/// One AMI message: its header lines, up to the blank line.
fn read_message(reader: &mut impl BufRead) -> Result<Vec<(String, String)>, Error> {
    let mut fields = Vec::new();
    loop {
        let mut line = String::new();
        let read = reader.read_line(&mut line).map_err(|err| Error::io("Reading the manager's answer", &err))?;
        if read == 0 {
            return Err(Error::usage("The manager closed the connection"));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if fields.is_empty() {
                continue;
            }
            return Ok(fields);
        }
        if let Some((key, value)) = line.split_once(':') {
            fields.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
}

fn field<'a>(message: &'a [(String, String)], name: &str) -> Option<&'a str> {
    message.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
}

fn send(stream: &mut TcpStream, action: &str, headers: &[(String, String)], id: &str) -> Result<(), Error> {
    let mut text = format!("Action: {action}\r\nActionID: {id}\r\n");
    for (key, value) in headers {
        if value.contains(['\r', '\n']) {
            return Err(Error::usage(format!("{key}: a value must be one line")));
        }
        text.push_str(&format!("{key}: {value}\r\n"));
    }
    text.push_str("\r\n");
    stream.write_all(text.as_bytes()).map_err(|err| Error::io("Writing to the manager", &err))
}

/// The answer to the action sent with ActionID `id` (events in between are skipped).
fn answer_to(reader: &mut impl BufRead, id: &str) -> Result<Vec<(String, String)>, Error> {
    loop {
        let message = read_message(reader)?;
        if field(&message, "ActionID") == Some(id) && field(&message, "Response").is_some() {
            return Ok(message);
        }
    }
}

/// Logs in to `target`, sends `SpoolSubmit` with `headers`, and logs off. The file's name goes to `out`;
/// a refusal is an error with the server's sentence (the rule and its fix).
pub fn submit(target: &AmiTarget, headers: &[(String, String)], out: &mut dyn Write) -> Result<Exit, Error> {
    let address = target
        .address
        .to_socket_addrs()
        .map_err(|err| Error::io(format!("--ami {}", target.address), &err))?
        .next()
        .ok_or_else(|| Error::usage(format!("--ami {}: no address", target.address)))?;
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT)
        .map_err(|err| Error::io(format!("Connecting to the manager at {address}"), &err))?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(|err| Error::io("Setting a timeout", &err))?;
    let mut reader = BufReader::new(stream.try_clone().map_err(|err| Error::io("Using the connection", &err))?);
    let mut banner = String::new();
    reader.read_line(&mut banner).map_err(|err| Error::io("Reading the manager's greeting", &err))?;
    if !banner.starts_with("Asterisk Call Manager") {
        return Err(Error::usage(format!("{address} is not an Asterisk manager (it said {:?})", banner.trim())));
    }
    let login = [
        ("Username".to_string(), target.user.clone()),
        ("Secret".to_string(), target.secret.clone()),
        ("Events".to_string(), "off".to_string()),
    ];
    send(&mut stream, "Login", &login, "callfile-login")?;
    let answer = answer_to(&mut reader, "callfile-login")?;
    if field(&answer, "Response") != Some("Success") {
        return Err(Error::usage(format!(
            "Login to the manager at {address} as {} failed: {}",
            target.user,
            field(&answer, "Message").unwrap_or("no reason given")
        )));
    }
    send(&mut stream, "SpoolSubmit", headers, "callfile-submit")?;
    let answer = answer_to(&mut reader, "callfile-submit")?;
    let _ = send(&mut stream, "Logoff", &[], "callfile-logoff");
    let message = field(&answer, "Message").unwrap_or_default();
    match field(&answer, "Response") {
        Some("Success") => {
            let file = field(&answer, "File").unwrap_or_default();
            let duplicate = if field(&answer, "Duplicate") == Some("yes") { " (already submitted)" } else { "" };
            let _ = writeln!(out, "{file}{duplicate}");
            Ok(Exit::Success)
        }
        _ if message.starts_with("Refused: ") => Err(Error::refused(message.to_string())),
        _ if message.contains("Invalid/unknown command") => Err(Error::usage(format!(
            "The manager at {address} has no SpoolSubmit action: is pbx_spool_rs.so loaded there? ({message})"
        ))),
        _ => Err(Error::usage(format!("SpoolSubmit failed: {message}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_files_lines_become_the_actions_headers() {
        let text = b"; a reminder\nChannel: Local/100@dialer\nContext: reminders\nExtension: s\n\
                     Set: LANG=de\nSet: SPOOL_TAG=crm-1\n\nStartRetry: 1 1 (5)\n";
        let headers = headers(text, 1_767_225_600_500, Some("crm-1")).unwrap();
        let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("Channel", "Local/100@dialer"),
                ("Context", "reminders"),
                ("Extension", "s"),
                ("Set", "LANG=de"),
                ("Set", "SPOOL_TAG=crm-1"),
                ("Due", "1767225600"),
                ("SubmitID", "crm-1"),
            ]
        );
        assert!(super::headers(b"Channel Local/1@x\n", 0, None).is_err(), "a line without a colon");
    }

    #[test]
    fn answers_are_read_past_events_to_their_action_id() {
        let wire = "Event: FullyBooted\r\nStatus: up\r\n\r\nResponse: Success\r\nActionID: other\r\n\r\n\
                    Response: Error\r\nActionID: callfile-submit\r\nMessage: Refused: no\r\n\r\n";
        let mut reader = std::io::Cursor::new(wire.as_bytes());
        let answer = answer_to(&mut reader, "callfile-submit").unwrap();
        assert_eq!(field(&answer, "Message"), Some("Refused: no"));
        assert!(answer_to(&mut reader, "callfile-submit").is_err(), "the stream ended");
    }
}
