//! Which server of a shared spool (`shared = yes`) takes a due call file first: the live servers
//! ("nodes"), known from the heartbeats they write beside `outgoing/`, and each file's owner among them by
//! rendezvous (highest random weight) hashing of its name. The owner claims a file at its due time; the
//! others leave it for a grace period and then, only if the owner has not got to it, try the claim as
//! before. The claim itself (`claim.rs`, an OFD lock) still decides who dials: ownership only spares the
//! others a race they would lose, so a view of the members that is wrong or late costs lost claims, never
//! a second call.
//!
//! Pure logic: no I/O, no clock reads. Times come in as milliseconds: `mono` ones from a monotonic clock
//! (heartbeat ages, as this server saw them change: no other host's clock is ever compared with ours),
//! `wall` ones from the wall clock (due times are file mtimes). Reading and writing the heartbeat files is
//! the scheduler's (`scheduler/heartbeat.rs`).

use std::collections::BTreeMap;

/// How often a node rewrites its heartbeat and reads the others'.
pub const HEARTBEAT_INTERVAL_MS: u64 = 1000;
/// A node is live while its heartbeat changed, as seen here, within this long.
pub const HEARTBEAT_EXPIRY_MS: u64 = 3 * HEARTBEAT_INTERVAL_MS;
/// How long the others leave a due file to its owner before they look at it themselves: the heartbeat
/// expiry and one more interval, so that by then a dead owner is seen dead and its share has new owners.
pub const OWNER_GRACE_MS: u64 = HEARTBEAT_EXPIRY_MS + HEARTBEAT_INTERVAL_MS;
/// A heartbeat file unchanged this long is a dead node's and may be removed by any node.
pub const HEARTBEAT_STALE_MS: u64 = 60_000;

/// 64-bit FNV-1a over `parts`, each followed by a 0xff byte (which no UTF-8 text contains, so `("ab", "c")`
/// and `("a", "bc")` differ), then a SplitMix64 finaliser so that names differing in their last bytes
/// spread over the whole range. Fixed by this code alone, the same on every server and every build (std's
/// `DefaultHasher` is not: its algorithm may change between Rust versions).
pub fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &byte in part.iter().chain(&[0xff]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// The owner of `file` among `nodes`: the node with the highest weight `stable_hash(node, file)` (ties,
/// vanishingly rare, go to the greater name, so every server picks the same one). A node joining or
/// leaving moves only the files whose highest weight it has or had. `None` when `nodes` is empty.
pub fn owner_of<'a>(file: &[u8], nodes: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    nodes.into_iter().max_by_key(|node| (stable_hash(&[node.as_bytes(), file]), *node))
}

/// What a node writes in its heartbeat file: a counter that changes at every beat (its change is what
/// proves the node alive), and how many due files it has not yet started (held by its limits or waiting
/// for a worker), so that the others do not take its files while it is merely busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Heartbeat {
    pub beat: u64,
    pub backlog: u64,
}

impl Heartbeat {
    /// The file's contents: `beat <n> backlog <n>` and a newline.
    pub fn render(&self) -> String {
        format!("beat {} backlog {}\n", self.beat, self.backlog)
    }

    /// Parses [`Heartbeat::render`]'s text; `None` for anything else (a file being replaced, a stray file).
    pub fn parse(text: &[u8]) -> Option<Heartbeat> {
        let text = std::str::from_utf8(text).ok()?;
        let mut words = text.split_whitespace();
        let (Some("beat"), Some(beat), Some("backlog"), Some(backlog), None) =
            (words.next(), words.next(), words.next(), words.next(), words.next())
        else {
            return None;
        };
        Some(Heartbeat { beat: beat.parse().ok()?, backlog: backlog.parse().ok()? })
    }
}

/// Another node as this one sees it.
#[derive(Debug, Clone)]
struct Peer {
    last: Heartbeat,
    /// When (mono) its heartbeat was last seen to change, or first seen.
    changed_at: u64,
}

/// When a due file is to be looked at by this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Now: this node owns it, or its owner has had its grace and has not taken it.
    Now,
    /// Not before this wall-clock time (ms): the file is another live node's.
    At(i64),
}

/// The nodes of a shared spool as this node sees them.
#[derive(Debug, Clone)]
pub struct Membership {
    me: String,
    peers: BTreeMap<String, Peer>,
    /// When (mono) the set of live nodes last changed: files that changed owner then get a new grace.
    changed_at: u64,
    /// The live nodes, this one included, sorted (kept up to date by [`Membership::observe`]).
    live: Vec<String>,
}

impl Membership {
    /// This node alone, as at start before any heartbeat is read.
    pub fn new(me: &str, now_mono: u64) -> Membership {
        Membership { me: me.to_string(), peers: BTreeMap::new(), changed_at: now_mono, live: vec![me.to_string()] }
    }

    pub fn me(&self) -> &str {
        &self.me
    }

    /// The heartbeats read now (node name and contents; this node's own is ignored). A node seen for the
    /// first time counts as live (it may have beaten just now; if it is dead it expires like any other),
    /// one whose heartbeat file is gone has left (a clean unload removes it). Returns true when the set of
    /// live nodes changed.
    pub fn observe(&mut self, seen: &[(String, Heartbeat)], now_mono: u64) -> bool {
        self.peers.retain(|name, _| seen.iter().any(|(seen_name, _)| seen_name == name));
        for (name, heartbeat) in seen {
            if *name == self.me {
                continue;
            }
            match self.peers.get_mut(name) {
                Some(peer) if peer.last == *heartbeat => {}
                Some(peer) => {
                    peer.last = *heartbeat;
                    peer.changed_at = now_mono;
                }
                None => {
                    self.peers.insert(name.clone(), Peer { last: *heartbeat, changed_at: now_mono });
                }
            }
        }
        let mut live: Vec<String> = self
            .peers
            .iter()
            .filter(|(_, peer)| now_mono.saturating_sub(peer.changed_at) < HEARTBEAT_EXPIRY_MS)
            .map(|(name, _)| name.clone())
            .chain(std::iter::once(self.me.clone()))
            .collect();
        live.sort();
        if live == self.live {
            return false;
        }
        self.live = live;
        self.changed_at = now_mono;
        true
    }

    /// The live nodes, this one included, sorted by name.
    pub fn live(&self) -> &[String] {
        &self.live
    }

    /// Nodes whose heartbeat has not changed for [`HEARTBEAT_STALE_MS`]: dead, their files left behind.
    pub fn stale(&self, now_mono: u64) -> Vec<&str> {
        self.peers
            .iter()
            .filter(|(_, peer)| now_mono.saturating_sub(peer.changed_at) >= HEARTBEAT_STALE_MS)
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// The owner of `file` among the live nodes.
    pub fn owner(&self, file: &[u8]) -> &str {
        owner_of(file, self.live.iter().map(String::as_str)).unwrap_or(&self.me)
    }

    /// When this node is to look at `file`, due at `due_wall`:
    ///
    /// - its owner: now;
    /// - another live node's: not before `due + OWNER_GRACE_MS`; after that, while the owner reports due
    ///   files not yet started (it is busy, not absent), or while the live set changed less than a grace
    ///   ago (the file may have a new owner that has not looked yet), one interval later each time;
    ///   otherwise now (the owner passed it by: it never saw the file, or its limits differ).
    pub fn turn(&self, file: &[u8], due_wall: i64, now_wall: i64, now_mono: u64) -> Turn {
        let owner = self.owner(file);
        if owner == self.me {
            return Turn::Now;
        }
        let grace_over = due_wall.saturating_add(OWNER_GRACE_MS as i64);
        if now_wall < grace_over {
            return Turn::At(grace_over);
        }
        let owner_busy = self.peers.get(owner).is_some_and(|peer| peer.last.backlog > 0);
        let settling = now_mono < self.changed_at.saturating_add(OWNER_GRACE_MS);
        if owner_busy || settling {
            return Turn::At(now_wall.saturating_add(HEARTBEAT_INTERVAL_MS as i64));
        }
        Turn::Now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(beat: u64, backlog: u64) -> Heartbeat {
        Heartbeat { beat, backlog }
    }

    fn seen(nodes: &[(&str, u64, u64)]) -> Vec<(String, Heartbeat)> {
        nodes.iter().map(|(n, b, backlog)| (n.to_string(), beat(*b, *backlog))).collect()
    }

    fn files(count: usize) -> Vec<String> {
        (0..count).map(|i| format!("f{i:06}.call")).collect()
    }

    #[test]
    fn the_hash_is_fixed_by_this_code() {
        // Pinned values (checked against an independent Python rendering of the same steps): a change here
        // would make servers of different builds disagree about owners.
        assert_eq!(stable_hash(&[]), stable_hash(&[]));
        assert_eq!(stable_hash(&[b"ast1", b"f000000.call"]), 0x6eaa_b736_6aaf_8134);
        assert_eq!(stable_hash(&[b""]), 0x4f2d_b50f_1240_40cd);
        assert_ne!(stable_hash(&[b"ab", b"c"]), stable_hash(&[b"a", b"bc"]));
    }

    #[test]
    fn shares_are_even_over_three_and_five_nodes() {
        for nodes in [&["ast1", "ast2", "ast3"][..], &["b1", "b2", "b3", "b4", "b5"][..]] {
            let files = files(10_000);
            let mut counts = BTreeMap::new();
            for file in &files {
                *counts.entry(owner_of(file.as_bytes(), nodes.iter().copied()).unwrap()).or_insert(0usize) += 1;
            }
            let fair = files.len() as f64 / nodes.len() as f64;
            for node in nodes {
                let share = counts.get(node).copied().unwrap_or(0) as f64;
                assert!((share - fair).abs() < fair * 0.05, "{node}: {share} files, fair {fair}: {counts:?}");
            }
        }
    }

    #[test]
    fn a_node_joining_or_leaving_moves_only_its_own_share() {
        let three = ["ast1", "ast2", "ast3"];
        let four = ["ast1", "ast2", "ast3", "ast4"];
        let mut moved = 0;
        for file in files(3000) {
            let before = owner_of(file.as_bytes(), three).unwrap();
            let after = owner_of(file.as_bytes(), four).unwrap();
            if before != after {
                assert_eq!(after, "ast4", "{file} moved between two nodes that stayed");
                moved += 1;
            }
            // ast2 leaving: only its files move.
            let without = owner_of(file.as_bytes(), ["ast1", "ast3"]).unwrap();
            if before != "ast2" {
                assert_eq!(without, before, "{file} moved though its owner stayed");
            }
        }
        assert!((600..900).contains(&moved), "about a quarter moved to the new node: {moved}");
    }

    #[test]
    fn the_owner_does_not_depend_on_the_order_nodes_are_listed_in() {
        for file in files(200) {
            assert_eq!(
                owner_of(file.as_bytes(), ["a", "b", "c"]),
                owner_of(file.as_bytes(), ["c", "a", "b"]),
                "{file}"
            );
        }
        assert_eq!(owner_of(b"x", std::iter::empty()), None);
    }

    #[test]
    fn heartbeats_round_trip_and_junk_is_refused() {
        let heartbeat = beat(17, 3);
        assert_eq!(Heartbeat::parse(heartbeat.render().as_bytes()), Some(heartbeat));
        for junk in [&b""[..], b"beat 1", b"beat x backlog 0", b"beat 1 backlog 0 more", b"\xff"] {
            assert_eq!(Heartbeat::parse(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn a_node_is_live_while_its_heartbeat_changes_and_gone_when_it_stops_or_its_file_goes() {
        let mut view = Membership::new("ast1", 0);
        assert_eq!(view.live(), ["ast1"]);
        assert!(view.observe(&seen(&[("ast1", 5, 0), ("ast2", 1, 0), ("ast3", 1, 0)]), 100));
        assert_eq!(view.live(), ["ast1", "ast2", "ast3"]);
        // ast2 beats on, ast3 stops.
        for t in 1..=2 {
            assert!(!view.observe(&seen(&[("ast2", 1 + t, 0), ("ast3", 1, 0)]), 100 + t * 1000));
        }
        assert!(view.observe(&seen(&[("ast2", 4, 0), ("ast3", 1, 0)]), 100 + HEARTBEAT_EXPIRY_MS));
        assert_eq!(view.live(), ["ast1", "ast2"]);
        assert!(view.stale(100 + HEARTBEAT_EXPIRY_MS).is_empty());
        assert_eq!(view.stale(100 + HEARTBEAT_STALE_MS), ["ast3"]);
        // ast3 comes back; ast2's file is removed (a clean unload).
        assert!(view.observe(&seen(&[("ast3", 2, 0)]), 5000));
        assert_eq!(view.live(), ["ast1", "ast3"]);
    }

    #[test]
    fn the_owner_takes_a_file_at_once_and_the_others_after_the_grace() {
        let mut view = Membership::new("ast1", 0);
        view.observe(&seen(&[("ast2", 1, 0), ("ast3", 1, 0)]), 0);
        let files = files(30);
        let mine = files.iter().find(|f| view.owner(f.as_bytes()) == "ast1").unwrap();
        let theirs = files.iter().find(|f| view.owner(f.as_bytes()) == "ast2").unwrap();
        let settled = OWNER_GRACE_MS + 1; // the live set has not changed for a grace
        let due = 1_000_000;
        assert_eq!(view.turn(mine.as_bytes(), due, due, settled), Turn::Now);
        let grace_over = due + OWNER_GRACE_MS as i64;
        assert_eq!(view.turn(theirs.as_bytes(), due, due, settled), Turn::At(grace_over));
        assert_eq!(view.turn(theirs.as_bytes(), due, grace_over - 1, settled), Turn::At(grace_over));
        assert_eq!(view.turn(theirs.as_bytes(), due, grace_over, settled), Turn::Now);
    }

    #[test]
    fn a_busy_owner_keeps_its_files_after_the_grace() {
        let mut view = Membership::new("ast1", 0);
        view.observe(&seen(&[("ast2", 1, 250)]), 0);
        let theirs = files(30).into_iter().find(|f| view.owner(f.as_bytes()) == "ast2").unwrap();
        let now = 2_000_000;
        let settled = OWNER_GRACE_MS + 1;
        view.observe(&seen(&[("ast2", 2, 250)]), settled - 1);
        assert_eq!(view.turn(theirs.as_bytes(), 0, now, settled), Turn::At(now + HEARTBEAT_INTERVAL_MS as i64));
        view.observe(&seen(&[("ast2", 3, 0)]), settled);
        assert_eq!(view.turn(theirs.as_bytes(), 0, now, settled), Turn::Now);
    }

    #[test]
    fn a_dead_owners_files_go_to_their_new_owner_at_once_and_to_the_rest_a_grace_later() {
        let mut view = Membership::new("ast1", 0);
        view.observe(&seen(&[("ast2", 1, 0), ("ast3", 1, 0)]), 0);
        // Files of ast3's that fall to ast1 (mine) and to ast2 (theirs) once ast3 is gone.
        let of_ast3: Vec<String> = files(100).into_iter().filter(|f| view.owner(f.as_bytes()) == "ast3").collect();
        let after = |f: &String| owner_of(f.as_bytes(), ["ast1", "ast2"]).unwrap();
        let mine = of_ast3.iter().find(|f| after(f) == "ast1").unwrap();
        let theirs = of_ast3.iter().find(|f| after(f) == "ast2").unwrap();
        let due = 10_000_000;
        let now = due + OWNER_GRACE_MS as i64;
        // ast3 stops beating at mono 0; ast2 beats on.
        let mut t = 0;
        while view.live().len() == 3 {
            t += HEARTBEAT_INTERVAL_MS;
            view.observe(&seen(&[("ast2", 1 + t, 0), ("ast3", 1, 0)]), t);
        }
        assert_eq!(t, HEARTBEAT_EXPIRY_MS, "ast3 is dead after the expiry");
        assert_eq!(view.turn(mine.as_bytes(), due, now, t), Turn::Now);
        assert_eq!(view.turn(theirs.as_bytes(), due, now, t), Turn::At(now + HEARTBEAT_INTERVAL_MS as i64));
        assert_eq!(view.turn(theirs.as_bytes(), due, now, t + OWNER_GRACE_MS), Turn::Now);
    }
}
