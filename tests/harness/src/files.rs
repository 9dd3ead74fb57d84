//! Call files in, out and on disk: how the spoolers name them, handing one over dated or as raw bytes,
//! what is left in `outgoing/`, and bookkeeping lines with their pids and times taken out.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::{set_mtime, Asterisk};

/// How both spoolers name `outgoing/<name>` (log lines, AMI `File:`).
pub fn shown(ast: &Asterisk, name: &str) -> String {
    ast.inside_path(&ast.outgoing_dir().join(name))
}

/// Names in outgoing/, sorted.
pub fn outgoing_names(ast: &Asterisk) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(ast.outgoing_dir())
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// Hands over a call file already dated `mtime`: written under spool/, re-dated, then renamed into
/// outgoing/ (rename keeps the mtime), so the spooler never sees it with any other date.
pub fn drop_dated(ast: &Asterisk, name: &str, contents: &str, mtime: SystemTime) -> PathBuf {
    let tmp = ast.spool_dir().join(format!("dated-{name}"));
    let target = ast.outgoing_dir().join(name);
    fs::write(&tmp, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", tmp.display()));
    set_mtime(&tmp, mtime);
    fs::rename(&tmp, &target).unwrap_or_else(|e| panic!("cannot rename into outgoing/: {e}"));
    target
}

/// Hands over a call file given as raw bytes (written under spool/, renamed into outgoing/).
pub fn drop_bytes(ast: &Asterisk, name: &str, bytes: &[u8]) -> PathBuf {
    let tmp = ast.spool_dir().join(format!("bytes-{name}"));
    fs::write(&tmp, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", tmp.display()));
    let target = ast.outgoing_dir().join(name);
    fs::rename(&tmp, &target).unwrap_or_else(|e| panic!("cannot rename into outgoing/: {e}"));
    target
}

/// Waits until `outgoing/<name>` is gone.
pub fn expect_gone(ast: &Asterisk, path: &Path, timeout: Duration) {
    ast.expect_until(&format!("{} to leave outgoing/", path.display()), timeout, || !path.exists());
}

/// `StartRetry: 1234 2 (1700000000)` → `StartRetry: PID 2 (TIME)`, for the four bookkeeping tags
/// pbx_spool appends; pbx_spool_rs's outcome lines (`# pbx_spool_rs: Outcome: ...`, comments stock
/// pbx_spool skips and never writes) are left out, so the text compares with pbx_spool's; every other
/// line is kept byte for byte. The outcome lines have tests of their own (`outcomes.rs`).
pub fn normalise(text: &str) -> String {
    text.split_inclusive('\n').filter(|line| !line.starts_with(OUTCOME_LINE)).map(normalise_line).collect()
}

/// How pbx_spool_rs's outcome comment lines start.
pub const OUTCOME_LINE: &str = "# pbx_spool_rs: Outcome: ";

fn normalise_line(line: &str) -> String {
    let body = line.trim_end_matches('\n');
    let ending = &line[body.len()..];
    for tag in ["StartRetry", "EndRetry", "AbortRetry", "DelayedRetry"] {
        let Some(rest) = body.strip_prefix(tag).and_then(|r| r.strip_prefix(": ")) else {
            continue;
        };
        let parts: Vec<&str> = rest.splitn(3, ' ').collect();
        if let [pid, n, time] = parts[..] {
            if pid.parse::<i64>().is_ok() && time.starts_with('(') && time.ends_with(')') {
                return format!("{tag}: PID {n} (TIME){ending}");
            }
        }
    }
    line.to_owned()
}

/// One bookkeeping line of a call file: `StartRetry`, `EndRetry`, `AbortRetry` or `DelayedRetry`, each
/// `<tag>: <pid> <attempt> (<seconds>)` as pbx_spool writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub tag: String,
    pub pid: u32,
    pub attempt: i32,
    pub stamp: i64,
}

/// The bookkeeping lines of a call file's text, in order.
pub fn marks(text: &str) -> Vec<Mark> {
    text.lines()
        .filter_map(|line| {
            let (tag, rest) = line.split_once(": ")?;
            if !["StartRetry", "EndRetry", "AbortRetry", "DelayedRetry"].contains(&tag) {
                return None;
            }
            let mut parts = rest.split(' ');
            let pid = parts.next()?.parse().ok()?;
            let attempt = parts.next()?.parse().ok()?;
            let stamp = parts.next()?.trim_matches(['(', ')']).parse().ok()?;
            Some(Mark { tag: tag.to_owned(), pid, attempt, stamp })
        })
        .collect()
}
