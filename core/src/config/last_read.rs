//! The record of the last read of pbx_spool_rs.conf: when, on which occasion, how it ended, and where
//! the settings in force come from, for `spool show status`.
//!
//! A record only: it neither reads the file nor changes the settings.

/// How the last read of pbx_spool_rs.conf ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Read and in force, with this many warnings (each logged).
    Loaded { warnings: usize },
    /// No such file: the defaults are in force.
    NotFound,
    /// Not used (cannot be read, cannot be parsed, invalid values): why, for the admin.
    Failed(String),
}

/// The last read of pbx_spool_rs.conf and where the settings in force come from, for `spool show status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRead {
    /// The file, as Asterisk's configuration directory names it.
    pub path: String,
    pub outcome: ReadOutcome,
    /// When it was read (Unix milliseconds), and on which occasion (`load`, `reload`).
    pub at: crate::bookkeeping::Millis,
    pub occasion: &'static str,
    /// When the settings in force were read; `None`: the defaults are in force.
    pub in_force_since: Option<crate::bookkeeping::Millis>,
}

impl ConfigRead {
    /// The record of a read that ended with `outcome`, after `previous` (`None` at load): a failed read
    /// leaves the settings read before in force, a missing file puts the defaults in force.
    pub fn after(
        previous: Option<&ConfigRead>,
        path: String,
        outcome: ReadOutcome,
        at: crate::bookkeeping::Millis,
        occasion: &'static str,
    ) -> ConfigRead {
        let in_force_since = match &outcome {
            ReadOutcome::Loaded { .. } => Some(at),
            ReadOutcome::NotFound => None,
            ReadOutcome::Failed(_) => previous.and_then(|previous| previous.in_force_since),
        };
        ConfigRead { path, outcome, at, occasion, in_force_since }
    }

    /// (label, value) rows for `spool show status`.
    pub fn describe(&self) -> Vec<(String, String)> {
        let result = match &self.outcome {
            ReadOutcome::Loaded { warnings: 0 } => "loaded".to_string(),
            ReadOutcome::Loaded { warnings } => format!("loaded, {warnings} warning(s) (see the log)"),
            ReadOutcome::NotFound => "not found: the defaults apply".to_string(),
            ReadOutcome::Failed(reason) => format!("FAILED: {reason}"),
        };
        let in_force = match (self.in_force_since, &self.outcome) {
            (None, _) => "the defaults".to_string(),
            (Some(at), ReadOutcome::Failed(_)) => {
                format!("the previous ones, read {}", crate::text::utc_time(at))
            }
            (Some(at), _) => format!("read {}", crate::text::utc_time(at)),
        };
        vec![
            ("File".to_string(), self.path.clone()),
            ("Last read".to_string(), result),
            ("When".to_string(), format!("{} ({})", crate::text::utc_time(self.at), self.occasion)),
            ("Settings in force".to_string(), in_force),
        ]
    }
}
