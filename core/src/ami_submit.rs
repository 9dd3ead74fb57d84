//! The answer to `SpoolSubmit`: the request built into a call file ([`crate::submit`]), checked with the
//! rules in force exactly as a file in `outgoing/` is checked before it is dialled
//! ([`crate::attempt::preflight`]), and on acceptance written into `outgoing/` with
//! [`crate::spool_writer`], so it is durable, paced, windowed, retried and cancellable like any call file.
//! A request with a `SubmitID` names its file after it, and the ID is recorded in
//! `pbx_spool_rs.submitted/` beside `outgoing/` (one empty file per ID, created exclusively, so two
//! requests with one ID cannot both win): for [`SUBMITTED_KEPT_DAYS`] days the same ID is answered with
//! that file instead of a second call, whether the call is queued, in progress, finished and archived, or
//! finished and deleted.
//!
//! Runs on Asterisk's manager threads: the policy and file I/O only (no jiff, no threads, nothing that
//! leaves thread-local destructors behind).

use std::path::Path;

use crate::ami::AmiAnswer;
use crate::attempt::{preflight, refusal_if_listed};
use crate::bookkeeping::Millis;
use crate::callfile;
use crate::host::{Host, Level};
use crate::host_log;
use crate::scheduler::SpoolSettings;
use crate::spool_writer::{NewName, PlaceError, SpoolWriter};
use crate::submit::{self, NAME_PREFIX};
use crate::text::utc_time;

/// How long a SubmitID is remembered after its submission.
pub const SUBMITTED_KEPT_DAYS: i64 = 30;
/// The directory of submitted IDs, beside `outgoing/`.
pub const SUBMITTED_DIR: &str = "pbx_spool_rs.submitted";
const DAY_MS: i64 = 86_400_000;

/// The answer to a `SpoolSubmit` with `headers` (every header of the request, in order), for the spool
/// whose `outgoing/` is `outgoing`, under `settings` (`None`: the spooler is not running).
pub fn answer<H: Host>(
    host: &H,
    headers: &[(String, String)],
    settings: Option<&SpoolSettings>,
    outgoing: &Path,
    now: Millis,
) -> AmiAnswer {
    let Some(settings) = settings else { return AmiAnswer::Error("pbx_spool_rs is not running".into()) };
    let refused = |why: String| {
        host_log!(host, Level::Notice, "SpoolSubmit refused: {why}");
        AmiAnswer::Error(format!("Refused: {why}"))
    };
    let submission = match submit::build(headers, now) {
        Ok(submission) => submission,
        Err(why) => return refused(why),
    };
    let spool = outgoing.parent().unwrap_or(outgoing);
    let writer = match SpoolWriter::open(spool) {
        Ok(writer) => writer,
        Err(err) => return refused(err.to_string()),
    };
    if let Some(name) = &submission.name {
        if let Some(answer) = already_submitted(spool, name) {
            return answer;
        }
    }
    let parsed = callfile::parse(submission.text.as_bytes());
    let shown = submission.name.as_deref().unwrap_or("SpoolSubmit");
    // The file's name picks its campaign (and so its do-not-call lists): a SubmitID's, else the prefix every
    // unnamed submission's name starts with.
    let name = submission.name.as_deref().unwrap_or(NAME_PREFIX);
    let checked = preflight(host, &settings.rules, &parsed.call, &parsed.diagnostics, writer.file_owner(), shown)
        .and_then(|()| refusal_if_listed(host, &settings.rules, name.as_bytes(), &parsed.call, shown));
    if let Err(refusal) = checked {
        return refused(refusal.lines.join("; "));
    }
    // The ID is taken before the file is written: of two requests with one ID, one creates the record.
    let record = match &submission.name {
        Some(name) => match Record::take(spool, name, now) {
            Ok(Some(record)) => Some(record),
            Ok(None) => return already_submitted(spool, name).unwrap_or_else(|| duplicate(name)),
            Err(err) => {
                host_log!(host, Level::Error, "SpoolSubmit: cannot record the submission ID of {name}: {err}");
                return AmiAnswer::Error(format!("Cannot record the submission ID: {err}"));
            }
        },
        None => None,
    };
    let name = match &submission.name {
        Some(name) => NewName::Exact(name),
        None => NewName::Unique { prefix: NAME_PREFIX },
    };
    match writer.place(submission.text.as_bytes(), submission.due, name) {
        Ok(path) => {
            if let Some(record) = record {
                record.keep();
            }
            let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            host_log!(host, Level::Notice, "SpoolSubmit: accepted as {file}, due {}", utc_time(submission.due));
            accepted("Accepted", &file, submission.due, false)
        }
        // A file of that name was put there by hand: the ID is its.
        Err(PlaceError::Exists(_)) => {
            if let Some(record) = record {
                record.keep();
            }
            already_submitted(spool, shown).unwrap_or_else(|| duplicate(shown))
        }
        Err(err) => {
            host_log!(host, Level::Error, "SpoolSubmit: cannot write the call file: {err}");
            AmiAnswer::Error(format!("Cannot write the call file: {err}"))
        }
    }
}

/// The answer for a submission whose file `name` exists already: in `outgoing/` (queued or in progress)
/// or archived in `outgoing_done/`; or whose ID alone is recorded ([`duplicate`]): `None` when neither.
fn already_submitted(spool: &Path, name: &str) -> Option<AmiAnswer> {
    let due_of = |path: &Path| std::fs::symlink_metadata(path).ok().map(|meta| crate::bookkeeping::mtime_ms(&meta));
    if let Some(due) = due_of(&spool.join("outgoing").join(name)) {
        return Some(accepted("Already submitted: the file is in the spool", name, due, true));
    }
    if due_of(&spool.join("outgoing_done").join(name)).is_some() {
        return Some(accepted("Already submitted: the file has finished (see outgoing_done/)", name, 0, true));
    }
    Record::exists(spool, name).then(|| duplicate(name))
}

/// A recorded ID whose file is gone: its call has finished and the file was deleted.
fn duplicate(name: &str) -> AmiAnswer {
    accepted("Already submitted: the call has finished and its file was deleted", name, 0, true)
}

/// A submission ID recorded in [`SUBMITTED_DIR`]: removed again unless [`Record::keep`] is called (the
/// file could not be written).
struct Record {
    path: std::path::PathBuf,
    keep: bool,
}

impl Record {
    fn path(spool: &Path, name: &str) -> std::path::PathBuf {
        spool.join(SUBMITTED_DIR).join(name)
    }

    fn exists(spool: &Path, name: &str) -> bool {
        Record::path(spool, name).symlink_metadata().is_ok()
    }

    /// Creates the record of `name`; `Ok(None)` when it exists already. Records older than
    /// [`SUBMITTED_KEPT_DAYS`] are pruned first, at most once an hour.
    fn take(spool: &Path, name: &str, now: Millis) -> std::io::Result<Option<Record>> {
        let dir = spool.join(SUBMITTED_DIR);
        crate::os::create_dir_all_mode(&dir, 0o770)?;
        prune(&dir, now);
        let path = dir.join(name);
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(_) => Ok(Some(Record { path, keep: false })),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Removes records older than [`SUBMITTED_KEPT_DAYS`], at most once an hour (per process).
fn prune(dir: &Path, now: Millis) {
    static LAST: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(i64::MIN);
    let last = LAST.load(std::sync::atomic::Ordering::Relaxed);
    if last != i64::MIN && now - last < DAY_MS / 24 {
        return;
    }
    LAST.store(now, std::sync::atomic::Ordering::Relaxed);
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let old =
            entry.metadata().is_ok_and(|meta| now - crate::bookkeeping::mtime_ms(&meta) > SUBMITTED_KEPT_DAYS * DAY_MS);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn accepted(message: &str, file: &str, due: Millis, duplicate: bool) -> AmiAnswer {
    let mut fields = vec![("File".to_string(), file.to_string())];
    if due > 0 {
        fields.push(("Due".to_string(), utc_time(due)));
    }
    fields.push(("Duplicate".to_string(), crate::text::yes_no(duplicate).to_string()));
    AmiAnswer::Ack { message: message.to_string(), fields }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{answered, temp_spool, FakeHost};

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn field<'a>(answer: &'a AmiAnswer, name: &str) -> Option<&'a str> {
        match answer {
            AmiAnswer::Ack { fields, .. } => fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()),
            _ => None,
        }
    }

    #[test]
    fn an_accepted_submission_is_a_call_file_due_at_its_time_and_an_id_is_placed_once() {
        let host = FakeHost::new(|_, _| answered());
        let paths = temp_spool("submit-accept");
        let settings = SpoolSettings::default();
        let due = crate::bookkeeping::now_ms() / 1000 * 1000 + 3_600_000;
        let request = headers(&[
            ("Channel", "Local/100@dialer"),
            ("Context", "reminders"),
            ("Extension", "s"),
            ("Priority", "1"),
            ("Due", &(due / 1000).to_string()),
            ("SubmitID", "order-17"),
        ]);
        let first = answer(&*host, &request, Some(&settings), &paths.outgoing, 0);
        assert_eq!(field(&first, "File"), Some("submit-order-17.call"), "{first:?}");
        assert_eq!(field(&first, "Duplicate"), Some("no"));
        let path = paths.outgoing.join("submit-order-17.call");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("Channel: Local/100@dialer\n") && text.contains("Context: reminders\n"), "{text}");
        assert_eq!(crate::bookkeeping::mtime_ms(&std::fs::metadata(&path).unwrap()), due);
        let again = answer(&*host, &request, Some(&settings), &paths.outgoing, 0);
        assert_eq!(field(&again, "Duplicate"), Some("yes"), "{again:?}");
        assert_eq!(std::fs::read_dir(&paths.outgoing).unwrap().count(), 1, "no second file");
        // Finished and archived: still the same submission.
        std::fs::create_dir_all(&paths.done).unwrap();
        std::fs::rename(&path, paths.done.join("submit-order-17.call")).unwrap();
        let finished = answer(&*host, &request, Some(&settings), &paths.outgoing, 0);
        assert_eq!(field(&finished, "Duplicate"), Some("yes"), "{finished:?}");
        assert_eq!(std::fs::read_dir(&paths.outgoing).unwrap().count(), 0);
        // Finished and deleted (no Archive: yes): the recorded ID still answers, nothing is written.
        std::fs::remove_file(paths.done.join("submit-order-17.call")).unwrap();
        let deleted = answer(&*host, &request, Some(&settings), &paths.outgoing, 0);
        assert_eq!(field(&deleted, "Duplicate"), Some("yes"), "{deleted:?}");
        assert_eq!(std::fs::read_dir(&paths.outgoing).unwrap().count(), 0, "no second call");
        // A refused submission records no ID: the same ID may be sent again, corrected.
        let bad = headers(&[("Channel", "Local/1@x"), ("SubmitID", "order-18")]);
        assert!(matches!(answer(&*host, &bad, Some(&settings), &paths.outgoing, 0), AmiAnswer::Error(_)));
        let spool = paths.outgoing.parent().unwrap();
        assert!(!spool.join(SUBMITTED_DIR).join("submit-order-18.call").exists());
    }

    #[test]
    fn a_refused_submission_writes_nothing_and_says_why() {
        let host = FakeHost::new(|_, _| answered());
        let paths = temp_spool("submit-refuse");
        let settings = SpoolSettings::default();
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("Channel", "Local/1@x")], "is required"),
            // Refused by the policy in force, as a call file with this line would be.
            (&[("Channel", "Local/1@x"), ("Context", "x"), ("Extension", "s"), ("Set", "SHELL(id)=1")], "SHELL"),
        ];
        for (pairs, expected) in cases {
            match answer(&*host, &headers(pairs), Some(&settings), &paths.outgoing, 0) {
                AmiAnswer::Error(text) => assert!(text.starts_with("Refused: ") && text.contains(expected), "{text}"),
                other => panic!("{pairs:?}: expected a refusal, got {other:?}"),
            }
        }
        assert_eq!(std::fs::read_dir(&paths.outgoing).unwrap().count(), 0);
        assert!(host.with(|r| r.logs.iter().any(|(_, line)| line.contains("SpoolSubmit refused"))));

        // A number on the do-not-call list is refused at once, with the list and its line, and its ID is
        // not recorded.
        let list = paths.outgoing.parent().unwrap().join("dnc.txt");
        std::fs::write(&list, "0301234\n").unwrap();
        let dnc = crate::dnc::DncLists::new(&[list.display().to_string()], &[]);
        let rules = crate::attempt::VisitRules { dnc: std::sync::Arc::new(dnc), ..Default::default() };
        let listing = SpoolSettings { rules: std::sync::Arc::new(rules), ..SpoolSettings::default() };
        let listed = [("Channel", "Local/0301234@x"), ("Context", "x"), ("Extension", "s"), ("SubmitID", "dnc-1")];
        match answer(&*host, &headers(&listed), Some(&listing), &paths.outgoing, 0) {
            AmiAnswer::Error(text) => assert!(
                text.starts_with("Refused: ")
                    && text.contains(&format!("is on the do-not-call list {}, line 1", list.display()))
                    && text.contains("(rule dnc, value '0301234')"),
                "{text}"
            ),
            other => panic!("a listed number was accepted: {other:?}"),
        }
        assert_eq!(std::fs::read_dir(&paths.outgoing).unwrap().count(), 0);
        let spool = paths.outgoing.parent().unwrap();
        assert!(!spool.join(SUBMITTED_DIR).join("submit-dnc-1.call").exists());
        assert!(matches!(answer(&*host, &headers(cases[0].0), None, &paths.outgoing, 0), AmiAnswer::Error(_)));
    }
}
