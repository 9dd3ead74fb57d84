//! `callfile submit`: one call file, from a file (byte for byte) or from flags, checked as the spool
//! would check it and then placed into `outgoing/` due at `--at`/`--in`.
//!
//! Writes into the spool only through [`Spool::place`](crate::spool::Spool::place).

use std::io::Write;
use std::path::PathBuf;

use pbx_spool_core::bookkeeping;

use super::{open_spool, Start};
use crate::ami_submit::{self, AmiTarget};
use crate::conf::Settings;
use crate::error::{Error, Exit};
use crate::examine::{absolute, examine, print_examination, read_for_check};
use crate::render::{render, CallSpec};
use crate::spool::{prefix_from, DEFAULT_PREFIX};
use crate::time::{warn_if_past, When};

/// What `submit` places.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An existing call file, submitted byte for byte.
    File(PathBuf),
    /// A call described by flags.
    Spec(CallSpec),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitRequest {
    pub source: Source,
    pub when: When,
    /// `--name`; otherwise the source file's name, or [`DEFAULT_PREFIX`].
    pub prefix: Option<String>,
    /// `--ami`: submitted through the manager's `SpoolSubmit` instead of into a local spool.
    pub ami: Option<AmiRequest>,
}

/// `--ami HOST:PORT --ami-user USER [--ami-secret-file FILE] [--submit-id ID]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmiRequest {
    pub address: String,
    pub user: String,
    /// Where the secret is; `None`: the `CALLFILE_AMI_SECRET` environment variable.
    pub secret_file: Option<PathBuf>,
    pub submit_id: Option<String>,
}

/// The environment variable `--ami` takes the manager's secret from without `--ami-secret-file`.
pub const SECRET_VARIABLE: &str = "CALLFILE_AMI_SECRET";

impl AmiRequest {
    fn target(&self) -> Result<AmiTarget, Error> {
        let secret = match &self.secret_file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|err| Error::io(format!("--ami-secret-file {}", path.display()), &err))?
                .trim_end_matches(['\r', '\n'])
                .to_string(),
            None => std::env::var(SECRET_VARIABLE).map_err(|_| {
                Error::usage(format!("--ami needs the manager's secret: --ami-secret-file FILE or {SECRET_VARIABLE}"))
            })?,
        };
        Ok(AmiTarget {
            address: self.address.clone(),
            user: self.user.clone(),
            secret,
            submit_id: self.submit_id.clone(),
        })
    }
}

/// `submit --ami`: the call file (from FILE, byte for byte, or from the flags) sent to `SpoolSubmit`, due
/// at `--at`/`--in`; the server checks it with its own rules. The file's name goes to `out`.
fn submit_over_ami(request: &SubmitRequest, ami: &AmiRequest, out: &mut dyn Write) -> Result<Exit, Error> {
    let due = request.when.resolve(bookkeeping::now_ms())?;
    let bytes = match &request.source {
        Source::File(path) => std::fs::read(path).map_err(|err| Error::io(path.display(), &err))?,
        Source::Spec(spec) => render(spec)?,
    };
    let headers = ami_submit::headers(&bytes, due, ami.submit_id.as_deref())?;
    ami_submit::submit(&ami.target()?, &headers, out)
}

/// `callfile submit`: validates, then places the call file; its path goes to `out`, problems to `err`.
pub fn submit_command(
    settings: &Settings,
    request: &SubmitRequest,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, Error> {
    if let Some(ami) = &request.ami {
        return submit_over_ami(request, ami, out);
    }
    let Start { rules, now, due, .. } = Start::new(settings, request.prefix.as_deref(), &request.when, err)?;
    let (bytes, shown, check_path, default_prefix) = match &request.source {
        Source::File(path) => {
            let bytes = match read_for_check(path, &rules)? {
                Ok(bytes) => bytes,
                Err(problem) => {
                    let _ = writeln!(err, "{problem}");
                    return Err(Error::refused(format!("{} not submitted", path.display())));
                }
            };
            (bytes, path.display().to_string(), Some(absolute(path)), prefix_from(path))
        }
        Source::Spec(spec) => (render(spec)?, "the call file".to_string(), None, DEFAULT_PREFIX.to_string()),
    };
    let examination = examine(&bytes, &shown, &rules, check_path.as_deref());
    print_examination(&examination, err);
    if !examination.placeable() {
        return Err(Error::refused(format!("{shown} would be refused by the spool; not submitted")));
    }
    let spool = open_spool(settings, &rules, err)?;
    warn_if_past(due, now, &request.when.display_zone()?, err);
    let prefix = request.prefix.as_deref().unwrap_or(&default_prefix);
    let placed = spool.place(&bytes, due, prefix)?;
    let _ = writeln!(out, "{}", placed.display());
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use pbx_spool_core::bookkeeping;
    use pbx_spool_core::callfile;

    use super::*;
    use crate::test_support::{spec, TempDir, VALID};

    #[test]
    fn submit_from_flags_writes_a_due_file() {
        let dir = TempDir::spool("submit");
        let request = SubmitRequest {
            source: Source::Spec(spec()),
            when: When::In("10m".into()),
            prefix: Some("wake".into()),
            ami: None,
        };
        let before = bookkeeping::now_ms();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(submit_command(&dir.settings(), &request, &mut out, &mut err), Ok(Exit::Success));
        let path = PathBuf::from(String::from_utf8(out).unwrap().trim_end());
        assert!(path.starts_with(dir.0.join("outgoing")));
        let due = bookkeeping::mtime_ms(&fs::metadata(&path).unwrap());
        assert!(due >= before + 600_000 && due <= bookkeeping::now_ms() + 600_000);
        assert_eq!(callfile::parse(&fs::read(&path).unwrap()).call.data, b"hello-world");
    }

    #[test]
    fn invalid_or_refused_files_are_not_submitted() {
        let dir = TempDir::spool("refuse");
        let invalid = dir.file("invalid.call", "Channel: PJSIP/100\nData: x\n");
        let refused = dir.file("refused.call", "Channel: PJSIP/100\nApplication: System\nData: id\n");
        for path in [invalid, refused] {
            let request =
                SubmitRequest { source: Source::File(path.clone()), when: When::Now, prefix: None, ami: None };
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let error = submit_command(&dir.settings(), &request, &mut out, &mut err).unwrap_err();
            assert_eq!(error.exit, Exit::Refused, "{}", error.message);
            assert!(out.is_empty());
            assert!(!err.is_empty());
        }
        let mut bad_spec = spec();
        bad_spec.channel = b"PJSIP/1@trunk".to_vec();
        let request = SubmitRequest { source: Source::Spec(bad_spec), when: When::Now, prefix: None, ami: None };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(submit_command(&dir.settings(), &request, &mut out, &mut err).unwrap_err().exit, Exit::Refused);
        assert!(dir.names("outgoing").is_empty());
        assert!(dir.names("tmp").is_empty());
    }

    #[test]
    fn submit_keeps_a_file_byte_for_byte_and_names_it_after_the_source() {
        let dir = TempDir::spool("byfile");
        let source = dir.0.join("wakeup.call");
        let text = format!("{VALID}Bogus: kept\n");
        fs::write(&source, &text).unwrap();
        let request = SubmitRequest { source: Source::File(source), when: When::Now, prefix: None, ami: None };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(submit_command(&dir.settings(), &request, &mut out, &mut err), Ok(Exit::Success));
        let path = PathBuf::from(String::from_utf8(out).unwrap().trim_end());
        assert!(path.file_name().unwrap().to_str().unwrap().starts_with("wakeup-"));
        assert_eq!(fs::read(&path).unwrap(), text.as_bytes());
        assert!(String::from_utf8(err).unwrap().contains("Unknown keyword 'Bogus'"));
    }

    #[test]
    fn submit_at_a_time_in_a_named_zone_dates_the_file_so() {
        let dir = TempDir::spool("submit-tz");
        let at = |time: &str, zone: Option<&str>| When::At { time: time.into(), zone: zone.map(str::to_string) };
        // 2036-12-01 09:30 in Moscow is 06:30 UTC, whatever the machine's own zone.
        let expected = 2_111_725_800_000;
        for when in [at("2036-12-01 09:30", Some("Europe/Moscow")), at("2036-12-01T09:30+03:00", None)] {
            let request = SubmitRequest { source: Source::Spec(spec()), when, prefix: None, ami: None };
            let (mut out, mut err) = (Vec::new(), Vec::new());
            assert_eq!(submit_command(&dir.settings(), &request, &mut out, &mut err), Ok(Exit::Success));
            let path = PathBuf::from(String::from_utf8(out).unwrap().trim_end());
            assert_eq!(bookkeeping::mtime_ms(&fs::metadata(&path).unwrap()), expected);
        }
        let request = SubmitRequest {
            source: Source::Spec(spec()),
            when: at("2036-12-01 09:30", Some("Nowhere/Else")),
            prefix: None,
            ami: None,
        };
        let error = submit_command(&dir.settings(), &request, &mut Vec::new(), &mut Vec::new()).unwrap_err();
        assert_eq!(error.exit, Exit::Failure);
        assert!(error.message.starts_with("--tz \"Nowhere/Else\""), "{}", error.message);
        assert_eq!(dir.names("outgoing").len(), 2);
    }
}
