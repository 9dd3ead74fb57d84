//! How a `callfile` command ends: the exit status ([`Exit`]) and the one-sentence [`Error`] for stderr.
//!
//! Shared by every module of the tool; no I/O here, and nothing about what a command does.

use std::fmt;
use std::io;

/// How a command ended, as the process exit status. Ordered by severity, so results combine with `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Everything would be (or was) placed.
    Success,
    /// At least one call file is invalid or refused by the policy.
    Refused,
    /// Usage or I/O error.
    Failure,
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Success => 0,
            Exit::Refused => 1,
            Exit::Failure => 2,
        }
    }
}

/// A command that could not do its job: one sentence for stderr, and the exit status it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub exit: Exit,
    pub message: String,
}

impl Error {
    /// Bad arguments or input the tool cannot use (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Error { exit: Exit::Failure, message: message.into() }
    }

    /// The call file would not be placed (exit 1).
    pub fn refused(message: impl Into<String>) -> Self {
        Error { exit: Exit::Refused, message: message.into() }
    }

    pub fn io(what: impl fmt::Display, err: &io::Error) -> Self {
        Error::usage(format!("{what}: {err}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_combine_by_severity_and_map_to_codes() {
        assert_eq!(Exit::Success.max(Exit::Refused).max(Exit::Success), Exit::Refused);
        assert_eq!(Exit::Refused.max(Exit::Failure), Exit::Failure);
        assert_eq!([Exit::Success, Exit::Refused, Exit::Failure].map(Exit::code), [0, 1, 2]);
        assert_eq!(Error::usage("u").exit, Exit::Failure);
        assert_eq!(Error::refused("r").exit, Exit::Refused);
        let io = Error::io("Cannot read x", &io::Error::from(io::ErrorKind::NotFound));
        assert_eq!((io.exit, io.to_string().starts_with("Cannot read x: ")), (Exit::Failure, true));
    }
}
