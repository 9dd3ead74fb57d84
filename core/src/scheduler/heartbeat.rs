//! A shared spool's members (`shared = yes`): this node's heartbeat in `pbx_spool_rs.nodes/` beside
//! `outgoing/` (one small file per node, named after it, rewritten every
//! [`HEARTBEAT_INTERVAL_MS`] by the scheduler thread and removed at
//! a clean stop), the others' heartbeats read at the same beat, and the question the scheduler asks when a
//! file falls due: is it this node's turn ([`crate::membership::Membership::turn`])? The decisions are
//! `membership.rs`'s; this file does the I/O and keeps the figures for `spool show status`. It touches only
//! its own directory; the call files are the claim's and the visit's.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use std::os::unix::ffi::OsStrExt;

use super::state::{escape, unescape};
use super::Scheduler;
use crate::bookkeeping::Millis;
use crate::host::{Host, Level};
use crate::host_log;
use crate::membership::{Heartbeat, Membership, Turn, HEARTBEAT_INTERVAL_MS};
use crate::text::printable;

/// The directory of heartbeats, beside `outgoing/`.
pub(super) const NODES_DIR: &str = "pbx_spool_rs.nodes";
/// A heartbeat file is a line of a few words; anything longer is not one.
const MAX_HEARTBEAT_BYTES: u64 = 256;

/// What `spool show status` says about the members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodesReport {
    /// This node's name.
    pub me: String,
    /// The live nodes, this one included, sorted.
    pub live: Vec<String>,
    /// Due files this node took at once as their owner.
    pub taken_as_owner: u64,
    /// Due files this node left to their owner for its grace.
    pub left_to_owner: u64,
    /// Of those, the files this node looked at itself after the grace (their owner had not taken them).
    pub taken_after_grace: u64,
}

/// The members as this node sees them, and its heartbeat.
pub(super) struct Members {
    view: Membership,
    dir: PathBuf,
    own_file: PathBuf,
    beat: u64,
    /// The wall-clock time of the next beat.
    next_beat: Millis,
    started: Instant,
    /// Files left to their owner, with the time they first fell due here (the grace runs from then).
    deferred: HashMap<Arc<OsStr>, Millis>,
    /// The last heartbeat problem logged, so that a lasting one is logged once.
    last_problem: Option<String>,
    figures: NodesReport,
}

/// What one beat found, for the scheduler to log.
pub(super) struct BeatNews {
    /// The live set changed: the new one.
    pub(super) live_changed: Option<Vec<String>>,
    /// A new problem writing or reading the heartbeats (logged once until it changes).
    pub(super) problem: Option<String>,
    /// A problem went away.
    pub(super) recovered: bool,
}

impl Members {
    pub(super) fn new(spool_dir: &Path, node: &str) -> Members {
        let dir = spool_dir.join(NODES_DIR);
        let own_file = dir.join(escape(node.as_bytes()));
        let started = Instant::now();
        Members {
            view: Membership::new(node, 0),
            dir,
            own_file,
            beat: 0,
            next_beat: 0,
            started,
            deferred: HashMap::new(),
            last_problem: None,
            figures: NodesReport { me: node.to_string(), live: vec![node.to_string()], ..NodesReport::default() },
        }
    }

    pub(super) fn me(&self) -> &str {
        self.view.me()
    }

    fn mono(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// When the next beat is due (wall clock).
    pub(super) fn next_beat(&self) -> Millis {
        self.next_beat
    }

    /// Beat if it is time: write this node's heartbeat (`backlog`: due files not yet started here), read the
    /// others', remove those of nodes dead for long.
    pub(super) fn beat_if_due(&mut self, now: Millis, backlog: usize) -> Option<BeatNews> {
        if now < self.next_beat {
            return None;
        }
        self.next_beat = now + HEARTBEAT_INTERVAL_MS as Millis;
        self.beat += 1;
        let mine = Heartbeat { beat: self.beat, backlog: backlog as u64 };
        let mut problem = self.write_own(&mine).err().map(|err| {
            format!(
                "Unable to write this node's heartbeat {}: {err}; the other servers will take it for gone",
                self.own_file.display()
            )
        });
        let (seen, read_problem) = self.read_all();
        problem = problem.or(read_problem);
        let mono = self.mono();
        let changed = self.view.observe(&seen, mono);
        for stale in self.view.stale(mono) {
            // A dead node's file; if it comes back, its next beat writes it again.
            let _ = fs::remove_file(self.dir.join(escape(stale.as_bytes())));
        }
        self.figures.live = self.view.live().to_vec();
        let news = BeatNews {
            live_changed: changed.then(|| self.view.live().to_vec()),
            recovered: problem.is_none() && self.last_problem.is_some(),
            problem: problem.clone().filter(|p| self.last_problem.as_ref() != Some(p)),
        };
        self.last_problem = problem;
        Some(news)
    }

    /// Written aside and renamed over, so a reader never sees half a heartbeat.
    fn write_own(&self, heartbeat: &Heartbeat) -> io::Result<()> {
        match fs::create_dir(&self.dir) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(err),
        }
        let aside = self.dir.join(format!(".{}.tmp", escape(self.me().as_bytes())));
        fs::write(&aside, heartbeat.render())?;
        fs::rename(&aside, &self.own_file)
    }

    /// Every node's heartbeat (names of other shapes, and `.<node>.tmp` files being written, are skipped).
    fn read_all(&self) -> (Vec<(String, Heartbeat)>, Option<String>) {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(err) => return (Vec::new(), Some(format!("Unable to read {}: {err}", self.dir.display()))),
        };
        let mut seen = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str().filter(|n| !(n.starts_with('.') && n.ends_with(".tmp"))) else {
                continue;
            };
            let Some(node) = unescape(name).and_then(|bytes| String::from_utf8(bytes).ok()) else { continue };
            let mut text = Vec::new();
            let read =
                fs::File::open(entry.path()).and_then(|file| file.take(MAX_HEARTBEAT_BYTES).read_to_end(&mut text));
            if let Some(heartbeat) = read.ok().and_then(|_| Heartbeat::parse(&text)) {
                seen.push((node, heartbeat));
            }
        }
        (seen, None)
    }

    /// Whether this node is to look at `name`, due (by its mtime) now: `None` to go ahead, or the time to
    /// look again (the file is then left to its owner until that time, and counted so once).
    pub(super) fn later(&mut self, name: &Arc<OsStr>, now: Millis) -> Option<Millis> {
        let first_due = self.deferred.get(name).copied();
        match self.view.turn(name.as_bytes(), first_due.unwrap_or(now), now, self.mono()) {
            Turn::Now => None,
            Turn::At(at) => {
                if first_due.is_none() {
                    self.deferred.insert(name.clone(), now);
                    self.figures.left_to_owner += 1;
                }
                Some(at)
            }
        }
    }

    /// This node goes ahead with `name`, which [`Members::later`] said was its turn: counted as taken as
    /// its owner, or after the owner's grace.
    pub(super) fn taking(&mut self, name: &Arc<OsStr>) {
        if self.deferred.remove(name).is_some() {
            self.figures.taken_after_grace += 1;
        } else {
            self.figures.taken_as_owner += 1;
        }
    }

    /// `name` is no longer due here (gone, re-dated, no longer followed): its grace, if any, is over.
    pub(super) fn forget(&mut self, name: &Arc<OsStr>) {
        self.deferred.remove(name);
    }

    /// The owner of `name` among the live nodes.
    pub(super) fn owner(&self, name: &OsStr) -> &str {
        self.view.owner(name.as_bytes())
    }

    pub(super) fn report(&self) -> NodesReport {
        self.figures.clone()
    }

    /// At a clean stop: this node's heartbeat goes, and the others give its share new owners at their next
    /// beat instead of after the expiry.
    pub(super) fn leave(&self) -> io::Result<()> {
        match fs::remove_file(&self.own_file) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }
}

impl<H: Host> Scheduler<H> {
    /// The heartbeat, at its interval: logs a change in the live nodes, and a heartbeat problem once.
    pub(super) fn beat(&mut self, now: Millis) {
        // While dispatch is suspended (pbx_spool.so loaded) nothing here will start: files held meanwhile
        // must not keep the others waiting.
        let backlog = if self.suspension.is_some() { 0 } else { self.held.len() + self.pool.waiting() };
        let Some(news) = self.members.as_mut().and_then(|members| members.beat_if_due(now, backlog)) else {
            return;
        };
        if let Some(live) = news.live_changed {
            host_log!(
                self.host,
                Level::Verbose(3),
                "Shared spool: live nodes now {} (each due file is first its owner's among them)",
                live.join(", ")
            );
        }
        if let Some(problem) = news.problem {
            host_log!(self.host, Level::Warning, "{problem}");
        }
        if news.recovered {
            host_log!(self.host, Level::Notice, "Shared spool: heartbeats written and read again");
        }
    }

    /// This node goes ahead with a due file whose turn it is (see [`Scheduler::not_my_turn_until`]).
    pub(super) fn taking_my_turn(&mut self, name: &Arc<OsStr>) {
        if let Some(members) = self.members.as_mut() {
            members.taking(name);
        }
    }

    /// Whether a due file is this node's to look at now (always on a spool of its own): `None`, or when to
    /// look again.
    pub(super) fn not_my_turn_until(&mut self, name: &Arc<OsStr>, now: Millis) -> Option<Millis> {
        let members = self.members.as_mut()?;
        let later = members.later(name, now)?;
        host_log!(
            self.host,
            Level::Debug(3),
            "{} is due; left to its owner {} until {}",
            printable(name.as_bytes()),
            printable(members.owner(name).as_bytes()),
            crate::text::utc_time(later)
        );
        Some(later)
    }

    /// After a reload: `shared` or `node` may have changed; the heartbeat follows.
    pub(super) fn follow_node_setting(&mut self) {
        let node = self.settings.rules.node.clone();
        if self.members.as_ref().map(Members::me) == node.as_deref() {
            return;
        }
        self.leave_members();
        let spool_dir = self.paths.outgoing.parent().map_or_else(|| self.paths.outgoing.clone(), Path::to_path_buf);
        self.members = node.as_deref().map(|node| Members::new(&spool_dir, node));
    }

    /// This node's heartbeat removed (a clean stop, or `shared`/`node` changed).
    pub(super) fn leave_members(&mut self) {
        if let Some(members) = self.members.take() {
            if let Err(err) = members.leave() {
                host_log!(
                    self.host,
                    Level::Warning,
                    "Unable to remove this node's heartbeat {}: {err}; the other servers take it for gone within {} s",
                    members.own_file.display(),
                    crate::membership::HEARTBEAT_EXPIRY_MS / 1000
                );
            }
        }
    }

    /// `spool show status`'s figures about the members, on a shared spool.
    pub(super) fn nodes_report(&self) -> Option<NodesReport> {
        self.members.as_ref().map(Members::report)
    }
}
