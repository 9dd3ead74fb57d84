//! The sections of pbx_spool_rs.conf other than `[general]`: each one a campaign
//! ([`crate::campaign`]), except a misspelt `[general]` and the name that means every campaign, which
//! are warned about and not read.
//!
//! Must not apply `[general]` keys (that is `reader.rs`'s); a `[general]` key in a campaign's section
//! is only warned about.

use super::keys::{Key, GENERAL_CATEGORY};
use super::reader::Reader;
use super::settings::{ConfigEntry, ConfigProblem};
use crate::campaign::{self, Campaign};

impl Reader {
    /// A line of a campaign's section (any section but `[general]`).
    pub(super) fn read_campaign(&mut self, category: &str, entry: &ConfigEntry) {
        if category.eq_ignore_ascii_case(campaign::ALL) {
            self.report_unknown_category(category, entry.line);
            return;
        }
        let index = match self.config.campaigns.iter().position(|c| c.name.eq_ignore_ascii_case(category)) {
            Some(index) => index,
            None => {
                self.config.campaigns.push(Campaign::new(category));
                self.config.campaigns.len() - 1
            }
        };
        let (key, value) = (entry.key.trim(), entry.value.trim());
        match campaign::apply(&mut self.config.campaigns[index], key, value) {
            Ok(true) => {}
            Ok(false) if Key::recognise(key).is_some() => self.warn(
                entry,
                format!(
                    "[{category}]: '{key}' is a [general] key, not a campaign's: ignored here (move it to [general])"
                ),
            ),
            Ok(false) => {
                self.warn(entry, format!("[{category}]: unknown key '{key}' ignored (see pbx_spool_rs.conf.sample)"))
            }
            Err(reason) => self.errors.push(ConfigProblem {
                line: entry.line,
                key: entry.key.clone(),
                message: format!("[{category}] {key} = {value}: {reason}"),
            }),
        }
    }

    /// A section named like `[general]` but misspelt (see [`looks_like_general`]): one WARNING, and none
    /// of its lines is read, neither as general settings nor as a campaign.
    pub(super) fn report_misspelt_general(&mut self, category: &str, line: u32) {
        let message = format!(
            "[{category}] looks like a misspelt [{GENERAL_CATEGORY}]: it is not read as a campaign, and none of \
             its settings is in force; write [{GENERAL_CATEGORY}] (a campaign needs a name further from \
             '{GENERAL_CATEGORY}')"
        );
        self.warn_once_per_category(category, line, message);
    }

    pub(super) fn report_unknown_category(&mut self, category: &str, line: u32) {
        let message = format!(
            "[{category}] cannot be a campaign ('{}' means every campaign); its settings are ignored",
            campaign::ALL
        );
        self.warn_once_per_category(category, line, message);
    }

    /// One WARNING per section name that cannot be read (compared without case): each of a section's lines
    /// comes with its name, and the admin needs to hear of it once.
    fn warn_once_per_category(&mut self, category: &str, line: u32, message: String) {
        let folded = category.to_ascii_lowercase();
        if self.unknown_categories.contains(&folded) {
            return;
        }
        self.unknown_categories.push(folded);
        self.warnings.push(ConfigProblem { line, key: format!("[{category}]"), message });
    }
}

/// Whether a section name is `general` misspelt: not `general` itself, but at most two edits away
/// (a letter added, dropped, changed, or two neighbours swapped), ignoring case. Such a section is never
/// a campaign: `[genral]` holding `deny` lines must not become a campaign that silently denies nothing.
pub fn looks_like_general(category: &str) -> bool {
    let name = category.to_ascii_lowercase();
    name != GENERAL_CATEGORY && edit_distance(name.as_bytes(), GENERAL_CATEGORY.as_bytes()) <= 2
}

/// Edits (insert, delete, substitute, swap two neighbours) that turn `a` into `b` (optimal string
/// alignment distance).
fn edit_distance(a: &[u8], b: &[u8]) -> usize {
    let width = b.len() + 1;
    let mut table = vec![0usize; (a.len() + 1) * width];
    let at = |i: usize, j: usize| i * width + j;
    for i in 0..=a.len() {
        table[at(i, 0)] = i;
    }
    for j in 0..=b.len() {
        table[at(0, j)] = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[at(i - 1, j)] + 1).min(table[at(i, j - 1)] + 1).min(table[at(i - 1, j - 1)] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[at(i - 2, j - 2)] + 1);
            }
            table[at(i, j)] = best;
        }
    }
    table[at(a.len(), b.len())]
}
