//! The scheduler's book of campaigns: which campaign a file is in, whether it may start now (paused,
//! outside its calling window, over the campaign's own `maxcalls`/`maxrate`), and the paused set,
//! persisted in `<astspooldir>/pbx_spool_rs.paused` (one campaign name a line, `all` for everything) so
//! a pause survives `module reload` and an Asterisk restart.
//!
//! Membership: a file joins by its name (`match`), and where a `channel =` campaign's `match` fits its
//! name, by its `Channel:` line too. That line is read (the whole file, parsed as the visit parses it,
//! within the size cap) when the file is queued, so the campaign counts it from its arrival, and again
//! when it falls due, so the campaign that gates and limits it is the one its visit names.
//!
//! Lives on the scheduler thread only: it resolves time zones and does window arithmetic with jiff,
//! which must never run on Asterisk's own threads. The only call file contents it reads are those
//! `Channel:` lines; it writes no call file.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;

use jiff::tz::TimeZone;

use super::pacer::Pacer;
use crate::bookkeeping::Millis;
use crate::campaign::{self, Campaign};

/// The name of the pause file, next to `outgoing/`.
pub(super) const PAUSE_FILE: &str = "pbx_spool_rs.paused";
/// How soon a campaign whose zone cannot be resolved, or whose windows never open, is looked at again.
const RECHECK_MS: Millis = 60_000;

/// Whether a due file may go on to the global limits now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Gate {
    Open,
    /// Its campaign (or `all`) is paused: it waits, out of the wheel, until resumed.
    Paused,
    /// Outside its campaign's windows: it waits until this time (ms).
    Closed(Millis),
}

#[derive(Default)]
struct Live {
    running: usize,
    pacer: Pacer,
}

pub(super) struct CampaignBook {
    campaigns: Arc<Vec<Campaign>>,
    /// Per campaign (same index): the zone its hours are in, `Err` with the reason if it could not be read.
    zones: Vec<Result<TimeZone, String>>,
    /// By campaign name (lower case): calls in progress and starts, kept across reloads.
    live: HashMap<String, Live>,
    /// The campaign each running file was started under, so the right count goes down when it ends.
    running_in: HashMap<Arc<OsStr>, String>,
    /// The campaign each file joins where a `channel` pattern needed its `Channel:` line (read when it
    /// was queued, and again when it fell due); files without such a campaign are judged by name alone.
    /// Cleared by a reload (the indexes change), until the scheduler has read them again.
    assigned: HashMap<Arc<OsStr>, Option<usize>>,
    /// Lower-case campaign names, or `all`.
    paused: BTreeSet<String>,
    pause_file: PathBuf,
}

/// A campaign's figures for `spool show status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignFigures {
    pub name: String,
    pub paused: bool,
    pub in_progress: usize,
    /// The campaign's settings (match, limits, hours).
    pub settings: String,
    /// Counts filled in by the scheduler from its file states.
    pub queued: usize,
    pub waiting_window: usize,
    pub waiting_paused: usize,
    pub held: usize,
    /// When its calling window opens next (ms on the wall clock); `None` while open, or with no hours.
    pub next_open: Option<Millis>,
}

impl CampaignBook {
    /// The book for `campaigns`, with the pause set read back from `spool_dir`; problems for the log.
    pub(super) fn new(campaigns: Arc<Vec<Campaign>>, spool_dir: PathBuf) -> (Self, Vec<String>) {
        let pause_file = spool_dir.join(PAUSE_FILE);
        let mut problems = Vec::new();
        let paused = match std::fs::read_to_string(&pause_file) {
            Ok(text) => text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_ascii_lowercase).collect(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
            Err(err) => {
                // Unreadable: safer to dial nothing than to dial a paused campaign.
                problems.push(format!(
                    "Unable to read {}: {err}; every campaign stays paused until it can be read (spool resume all)",
                    pause_file.display()
                ));
                [campaign::ALL.to_string()].into_iter().collect()
            }
        };
        let mut book = CampaignBook {
            campaigns: Arc::new(Vec::new()),
            zones: Vec::new(),
            live: HashMap::new(),
            running_in: HashMap::new(),
            assigned: HashMap::new(),
            paused,
            pause_file,
        };
        problems.extend(book.reconfigure(campaigns));
        (book, problems)
    }

    /// New campaigns from a reload; counts of calls in progress stay with the campaign names.
    pub(super) fn reconfigure(&mut self, campaigns: Arc<Vec<Campaign>>) -> Vec<String> {
        let mut problems = Vec::new();
        self.zones = campaigns
            .iter()
            .map(|c| {
                let zone = match &c.timezone {
                    Some(name) => TimeZone::get(name).map_err(|err| format!("time zone {name}: {err}")),
                    None => Ok(TimeZone::system()),
                };
                if let Err(reason) = &zone {
                    problems.push(format!("Campaign [{}]: {reason}; its files wait until it is fixed", c.name));
                }
                zone
            })
            .collect();
        self.campaigns = campaigns;
        self.assigned.clear();
        problems
    }

    /// The campaign index of `name`: as assigned when it fell due, else by its name.
    fn index(&self, name: &OsStr) -> Option<usize> {
        match self.assigned.get(name) {
            Some(assigned) => *assigned,
            None => campaign::find(&self.campaigns, name.as_bytes()),
        }
    }

    /// Whether the campaign `name` joins depends on its `Channel:` line: a campaign with `channel`
    /// patterns has a `match` glob that fits the name.
    pub(super) fn needs_channel(&self, name: &OsStr) -> bool {
        campaign::needs_channel(&self.campaigns, name.as_bytes())
    }

    /// Whether the campaign of `name` was read from its `Channel:` line since the last reload.
    pub(super) fn is_assigned(&self, name: &OsStr) -> bool {
        self.assigned.contains_key(name)
    }

    /// When a campaign with `channel` patterns could take `name`: read its `Channel:` (when the file is
    /// queued, and again when it falls due: a rewritten file follows its new line) and remember which
    /// campaign it joins, decided as the visit decides it ([`campaign::find_with_channel`] over the
    /// file as [`crate::callfile::parse`] reads it). `path` is the file, `max_size` the read limit.
    pub(super) fn assign(&mut self, name: &Arc<OsStr>, path: &std::path::Path, max_size: u64) {
        if !self.needs_channel(name) {
            self.assigned.remove(name);
            return;
        }
        let call = crate::bookkeeping::read_call_file(path, max_size)
            .ok()
            .map(|(bytes, _)| crate::callfile::parse(&bytes).call);
        let index = match call {
            Some(call) => campaign::find_with_channel(&self.campaigns, name.as_bytes(), &call.tech, &call.dest),
            // Unreadable now: the visit will say why; by name meanwhile.
            None => campaign::find(&self.campaigns, name.as_bytes()),
        };
        self.assigned.insert(name.clone(), index);
    }

    /// The file is gone from the spool's view.
    pub(super) fn forget(&mut self, name: &OsStr) {
        self.assigned.remove(name);
    }

    pub(super) fn campaign_of(&self, name: &OsStr) -> Option<&Campaign> {
        self.index(name).map(|i| &self.campaigns[i])
    }

    fn is_paused(&self, campaign: Option<&Campaign>) -> bool {
        self.paused.contains(campaign::ALL)
            || campaign.is_some_and(|c| self.paused.contains(&c.name.to_ascii_lowercase()))
    }

    /// Whether `name` may go on now (`now` ms on the wall clock).
    pub(super) fn gate(&self, name: &OsStr, now: Millis) -> Gate {
        let index = self.index(name);
        let campaign = index.map(|i| &self.campaigns[i]);
        if self.is_paused(campaign) {
            return Gate::Paused;
        }
        let (Some(index), Some(campaign)) = (index, campaign) else { return Gate::Open };
        let Some(hours) = &campaign.hours else { return Gate::Open };
        match &self.zones[index] {
            Ok(zone) => match hours.next_open(zone, now) {
                Some(open) if open <= now => Gate::Open,
                Some(open) => Gate::Closed(open),
                None => Gate::Closed(now + RECHECK_MS),
            },
            Err(_) => Gate::Closed(now + RECHECK_MS),
        }
    }

    /// Whether the campaign's own limits let `name` start now; `Err` with the limit's name and, for
    /// maxrate, how long until it may.
    pub(super) fn capacity(
        &self,
        name: &OsStr,
        now: std::time::Instant,
    ) -> Result<(), (&'static str, Option<std::time::Duration>)> {
        self.capacity_of(self.index(name), now)
    }

    /// [`Self::capacity`] for the campaign at `index` in the configuration (`None`: no campaign).
    pub(super) fn capacity_of(
        &self,
        index: Option<usize>,
        now: std::time::Instant,
    ) -> Result<(), (&'static str, Option<std::time::Duration>)> {
        let Some(campaign) = index.and_then(|i| self.campaigns.get(i)) else { return Ok(()) };
        let live = self.live.get(&campaign.name.to_ascii_lowercase());
        if let Some(max) = campaign.max_calls {
            if live.is_some_and(|l| l.running >= max) {
                return Err(("the campaign's maxcalls", None));
            }
        }
        if let (Some(rate), Some(live)) = (campaign.max_rate, live) {
            if let Some(wait) = live.pacer.wait(rate, now) {
                return Err(("the campaign's maxrate", Some(wait)));
            }
        }
        Ok(())
    }

    pub(super) fn started(&mut self, name: &Arc<OsStr>, now: std::time::Instant) {
        let Some(campaign) = self.campaign_of(name) else { return };
        let key = campaign.name.to_ascii_lowercase();
        let rate = campaign.max_rate;
        let live = self.live.entry(key.clone()).or_default();
        live.running += 1;
        if let Some(rate) = rate {
            live.pacer.started(now, rate);
        }
        self.running_in.insert(name.clone(), key);
    }

    pub(super) fn finished(&mut self, name: &OsStr) {
        // Assigned again if it is queued for a retry (the attempt wrote to it; the dialplan may have too).
        self.assigned.remove(name);
        if let Some(key) = self.running_in.remove(name) {
            if let Some(live) = self.live.get_mut(&key) {
                live.running = live.running.saturating_sub(1);
            }
        }
    }

    /// `spool pause|resume <campaign|all>`: the answer for the admin, or why not. Persisted at once.
    pub(super) fn set_paused(&mut self, which: &str, pause: bool) -> Result<String, String> {
        let key = which.to_ascii_lowercase();
        let known = key == campaign::ALL || self.campaigns.iter().any(|c| c.name.eq_ignore_ascii_case(which));
        if !known {
            let names: Vec<&str> = self.campaigns.iter().map(|c| c.name.as_str()).collect();
            let names = if names.is_empty() { "none configured".to_string() } else { names.join(", ") };
            return Err(format!("No campaign named '{which}' (campaigns: {names}; or all)\n"));
        }
        let before = self.paused.clone();
        if pause {
            self.paused.insert(key.clone());
        } else if key == campaign::ALL {
            self.paused.clear();
        } else {
            self.paused.remove(&key);
        }
        if let Err(err) = self.persist() {
            self.paused = before;
            return Err(format!("Unable to write {}: {err}; nothing changed\n", self.pause_file.display()));
        }
        let verb = if pause { "paused" } else { "resumed" };
        let note = if !pause && key != campaign::ALL && self.paused.contains(campaign::ALL) {
            " (but 'all' is still paused)"
        } else {
            ""
        };
        Ok(format!("Campaign {which} {verb}{note}\n"))
    }

    /// Written aside and renamed over, so a crash never leaves half a list.
    fn persist(&self) -> std::io::Result<()> {
        let text: String = self.paused.iter().map(|name| format!("{name}\n")).collect();
        let staged = self.pause_file.with_extension("paused.tmp");
        std::fs::write(&staged, text)?;
        std::fs::rename(&staged, &self.pause_file)
    }

    /// Per campaign: name, paused, calls in progress and settings; the scheduler adds the file counts.
    pub(super) fn figures(&self, now: Millis) -> Vec<CampaignFigures> {
        self.campaigns
            .iter()
            .zip(&self.zones)
            .map(|(c, zone)| CampaignFigures {
                name: c.name.clone(),
                paused: self.is_paused(Some(c)),
                in_progress: self.live.get(&c.name.to_ascii_lowercase()).map_or(0, |l| l.running),
                settings: c.describe(),
                next_open: match (&c.hours, zone) {
                    (Some(hours), Ok(zone)) => hours.next_open(zone, now).filter(|&open| open > now),
                    _ => None,
                },
                ..CampaignFigures::default()
            })
            .collect()
    }

    /// The index in [`Self::figures`] of the campaign `name` belongs to.
    pub(super) fn index_of(&self, name: &OsStr) -> Option<usize> {
        self.index(name)
    }

    pub(super) fn all_paused(&self) -> bool {
        self.paused.contains(campaign::ALL)
    }
}
