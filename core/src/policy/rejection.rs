//! A refusal as the admin reads it: the rule that refused, the offending value made safe for one log
//! line, and the sentence; and [`shown`], which makes any bytes from a call file safe to print.
//!
//! Words only: which check refuses, and when, is the checks' to decide.

use std::fmt;

use crate::text::escaped;

/// Long enough to recognise a value in a log line, short enough that a hostile file cannot flood
/// the log.
pub(super) const SHOWN_VALUE_MAX_CHARS: usize = 200;

/// Why a call file is refused: the check, the offending value and a sentence for the admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// One of the names in [`rule`](super::rule).
    pub rule: &'static str,
    /// The offending value, safe to print: control characters and invalid UTF-8 escaped,
    /// shortened to about 200 characters.
    pub value: String,
    pub detail: String,
}

impl Rejection {
    pub(crate) fn new(rule: &'static str, value: &[u8], detail: String) -> Self {
        Rejection { rule, value: shown(value), detail }
    }

    /// The log line for this rejection of the call file `file`.
    pub fn message(&self, file: &str) -> String {
        // The file name comes from whoever wrote into the spool; escaped so it cannot forge lines.
        let file = escaped(file.as_bytes(), usize::MAX);
        format!("Rejected {file}: {self}")
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} (rule {}, value '{}')", self.detail, self.rule, self.value)
    }
}

impl std::error::Error for Rejection {}

/// `bytes` made safe for one log line and shortened to [`SHOWN_VALUE_MAX_CHARS`].
pub(crate) fn shown(bytes: &[u8]) -> String {
    escaped(bytes, SHOWN_VALUE_MAX_CHARS)
}
