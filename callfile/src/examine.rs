//! The spool's verdict on a call file, offline: the core's own parser, validity rule and policy, the size
//! limit, and notes for the checks only a running Asterisk can make (writes to dialplan functions, whether
//! a bare endpoint name is one this PBX knows, whether a variable is a dialplan global).
//!
//! Reads the file being checked and nothing else; it never writes, and never touches the spool.

use std::cell::RefCell;
use std::fs;
use std::io::Write;
use std::path::Path;

use pbx_spool_core::bookkeeping::{self, ReadError};
use pbx_spool_core::callfile::{self, DiagnosticKind};
use pbx_spool_core::config::SpoolConfig;
use pbx_spool_core::policy::{self, FunctionRegistry};

use crate::error::Error;

/// What the spool would make of one call file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Examination {
    /// The parser's diagnostics, in pbx_spool's words (warnings: the file is still placed).
    pub diagnostics: Vec<String>,
    /// Why the spool would not place it: size, validity, contents, policy. Empty when it would.
    pub problems: Vec<String>,
    /// Checks only a running Asterisk can make.
    pub notes: Vec<String>,
}

impl Examination {
    pub fn placeable(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The facts only Asterisk knows, offline: nothing is known to be dangerous, every bare endpoint name
/// is taken as known, and every endpoint asked about is recorded so that it can be reported for
/// checking inside Asterisk.
#[derive(Default)]
struct OfflineRegistry {
    endpoints: RefCell<Vec<String>>,
    variables: RefCell<Vec<String>>,
}

impl FunctionRegistry for OfflineRegistry {
    fn writes_are_dangerous(&self, _name: &str) -> bool {
        false
    }

    fn live_dangerously(&self) -> bool {
        false
    }

    fn endpoint(&self, tech: &[u8], dest: &[u8]) -> policy::Endpoint {
        let channel = pbx_spool_core::text::printable(&[tech, b"/", dest].concat());
        let mut endpoints = self.endpoints.borrow_mut();
        if !endpoints.contains(&channel) {
            endpoints.push(channel);
        }
        policy::Endpoint::NotChecked
    }

    fn is_dialplan_global(&self, name: &[u8]) -> bool {
        let name = pbx_spool_core::text::printable(name);
        let mut variables = self.variables.borrow_mut();
        if !variables.contains(&name) {
            variables.push(name);
        }
        false
    }
}

/// The dialplan functions `call` writes (Set lines and its application), as the policy sees them
/// (`_FILE` and `FILE` are one function).
fn written_functions(call: &callfile::CallFile) -> Vec<String> {
    let mut functions: Vec<String> = Vec::new();
    for name in policy::functions_written(call) {
        let name = name.trim_start_matches('_').to_string();
        if !name.is_empty() && !functions.contains(&name) {
            functions.push(name);
        }
    }
    functions
}

/// Checks `bytes` as the spool would check the file `shown`. `check_path` is the file to suggest for
/// `spool check` in notes (`None` when the content has no file yet).
pub fn examine(bytes: &[u8], shown: &str, rules: &SpoolConfig, check_path: Option<&str>) -> Examination {
    let mut examination = Examination::default();
    let size = bytes.len() as u64;
    if size > rules.max_file_size {
        examination.problems.push(format!(
            "Rejected {shown}: it is {size} bytes, over the {}-byte limit (rule max_file_size)",
            rules.max_file_size
        ));
        return examination;
    }
    let parsed = callfile::parse(bytes);
    examination.diagnostics = parsed.diagnostics.iter().map(|diagnostic| diagnostic.message(shown)).collect();
    if let Err(invalid) = parsed.call.validate() {
        examination.problems.push(invalid.message(shown));
    }
    if parsed.diagnostics.iter().any(|diagnostic| diagnostic.kind == DiagnosticKind::NulByte) {
        examination.problems.push(format!("Rejected {shown}: it contains NUL bytes (rule contents)"));
    }
    let registry = OfflineRegistry::default();
    if let Err(rejection) = policy::check(&parsed.call, &rules.policy, &registry) {
        examination.problems.push(rejection.message(shown));
    }
    let how = match check_path {
        Some(path) => format!("run `asterisk -rx 'spool check {path}'`"),
        None => "run `asterisk -rx 'spool check FILE'` on a copy of the file".to_string(),
    };
    examination.notes = written_functions(&parsed.call)
        .into_iter()
        .map(|function| {
            format!("{shown}: note: Set writes the dialplan function {function}: not checked offline: {how}")
        })
        .chain(registry.endpoints.into_inner().into_iter().map(|channel| {
            format!("{shown}: note: {channel} is taken to be an endpoint this PBX knows: not checked offline: {how}")
        }))
        .chain(registry.variables.into_inner().into_iter().map(|variable| {
            format!("{shown}: note: Set writes the variable {variable}, taken not to be a dialplan global: not checked offline: {how}")
        }))
        .collect();
    examination
}

/// Reads a call file for checking. `Ok(Err(problem))` is a file the spool would refuse unread.
pub fn read_for_check(path: &Path, rules: &SpoolConfig) -> Result<Result<Vec<u8>, String>, Error> {
    let shown = path.display();
    match bookkeeping::read_call_file(path, rules.max_file_size) {
        Ok((bytes, _)) => Ok(Ok(bytes)),
        Err(ReadError::Gone) => Err(Error::usage(format!("{shown}: no such file"))),
        Err(ReadError::Io(err)) => Err(Error::io(format!("Cannot read {shown}"), &err)),
        Err(err @ ReadError::TooLarge { .. }) => Ok(Err(format!("Rejected {shown}: {err} (rule max_file_size)"))),
        Err(err @ ReadError::NotRegular(_)) => {
            Ok(Err(format!("{shown}: {err}; the spool would leave it in place, unplaced")))
        }
    }
}

/// The path to suggest for `spool check`: absolute, since Asterisk runs elsewhere.
pub fn absolute(path: &Path) -> String {
    fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string()
}

/// Every line of `examination` (diagnostics, problems, notes), one per line.
pub fn print_examination(examination: &Examination, out: &mut dyn Write) {
    for line in examination.diagnostics.iter().chain(&examination.problems).chain(&examination.notes) {
        let _ = writeln!(out, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{rules, TempDir, VALID};

    #[test]
    fn examine_accepts_a_valid_file() {
        let examination = examine(VALID.as_bytes(), "a.call", &rules(), Some("/abs/a.call"));
        // Only Asterisk can say whether PJSIP/100 is one of its endpoints.
        let note = "a.call: note: PJSIP/100 is taken to be an endpoint this PBX knows: not checked offline: run \
                    `asterisk -rx 'spool check /abs/a.call'`";
        assert_eq!(examination, Examination { notes: vec![note.to_string()], ..Examination::default() });
        assert!(examination.placeable());
    }

    #[test]
    fn examine_reports_diagnostics_validity_and_policy() {
        let text = "Channel: PJSIP/100@trunk\nBogus: 1\nData: x\n";
        let examination = examine(text.as_bytes(), "b.call", &rules(), None);
        assert_eq!(examination.diagnostics, vec!["Unknown keyword 'Bogus' at line 2 of b.call".to_string()]);
        assert_eq!(examination.problems.len(), 2);
        assert_eq!(examination.problems[0], callfile::Invalid.message("b.call"));
        assert!(examination.problems[1].starts_with("Rejected b.call: "), "{}", examination.problems[1]);
        assert!(examination.problems[1].contains("first_leg"));
        let system = examine(b"Channel: PJSIP/100\nApplication: System\nData: rm -rf /\n", "c.call", &rules(), None);
        assert!(system.problems[0].contains("rule application"), "{:?}", system.problems);
    }

    #[test]
    fn examine_notes_functions_it_cannot_check_offline() {
        // FILE and DB are off the function allow list; only live_dangerously, which only Asterisk knows,
        // could admit them: refused offline, and noted.
        let text = format!("{VALID}Set: _FILE(/tmp/x)=1\nSet: __FILE(/tmp/y)=2\nSet: DB(a/b)=c\n");
        let examination = examine(text.as_bytes(), "d.call", &rules(), Some("/abs/d.call"));
        assert!(
            examination.problems[0].contains("(rule function, value '_FILE(/tmp/x)')"),
            "{:?}",
            examination.problems
        );
        assert_eq!(
            examination.notes,
            vec![
                "d.call: note: Set writes the dialplan function FILE: not checked offline: run \
                 `asterisk -rx 'spool check /abs/d.call'`"
                    .to_string(),
                "d.call: note: Set writes the dialplan function DB: not checked offline: run \
                 `asterisk -rx 'spool check /abs/d.call'`"
                    .to_string(),
                "d.call: note: PJSIP/100 is taken to be an endpoint this PBX knows: not checked offline: run \
                 `asterisk -rx 'spool check /abs/d.call'`"
                    .to_string(),
            ]
        );
        // A plain variable may be a dialplan global, which only Asterisk knows.
        let text = format!("{VALID}Set: CUSTOMER_ID=42\n");
        let examination = examine(text.as_bytes(), "v.call", &rules(), None);
        assert!(examination.placeable(), "{:?}", examination.problems);
        assert_eq!(
            examination.notes.last().map(String::as_str),
            Some(
                "v.call: note: Set writes the variable CUSTOMER_ID, taken not to be a dialplan global: not checked \
                 offline: run `asterisk -rx 'spool check FILE'` on a copy of the file"
            )
        );
        // Noted even when another rule refuses the file first.
        let refused = "Channel: PJSIP/1@trunk\nApplication: Echo\nSet: SHELL(x)=1\n";
        assert_eq!(examine(refused.as_bytes(), "e", &rules(), None).notes.len(), 1);
    }

    #[test]
    fn examine_refuses_nul_bytes_and_oversized_files() {
        let examination = examine(b"Channel: PJSIP/100\nApplication: Echo\nData: a\0b\n", "f", &rules(), None);
        assert_eq!(examination.problems, vec!["Rejected f: it contains NUL bytes (rule contents)".to_string()]);
        let small = SpoolConfig { max_file_size: 10, ..rules() };
        let examination = examine(VALID.as_bytes(), "g", &small, None);
        assert!(examination.problems[0].contains("rule max_file_size"));
    }

    #[test]
    fn read_for_check_tells_refusals_from_errors() {
        let dir = TempDir::new("read");
        let file = dir.file("big.call", VALID);
        assert_eq!(read_for_check(&file, &rules()).unwrap(), Ok(VALID.as_bytes().to_vec()));
        let small = SpoolConfig { max_file_size: 10, ..rules() };
        let refused = read_for_check(&file, &small).unwrap().unwrap_err();
        assert!(refused.contains("rule max_file_size"), "{refused}");
        let not_regular = read_for_check(&dir.0, &rules()).unwrap().unwrap_err();
        assert!(not_regular.contains("the spool would leave it in place"), "{not_regular}");
        let missing = read_for_check(&dir.0.join("missing.call"), &rules()).unwrap_err();
        assert!(missing.message.ends_with("no such file"), "{}", missing.message);
        assert!(absolute(&file).starts_with('/'));
        let mut out = Vec::new();
        let examination =
            Examination { diagnostics: vec!["d".into()], problems: vec!["p".into()], notes: vec!["n".into()] };
        print_examination(&examination, &mut out);
        assert_eq!(out, b"d\np\nn\n");
    }
}
