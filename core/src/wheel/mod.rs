//! The timer wheel that knows when every pending call file falls due, keyed by file name.
//!
//! Pure data structure: std only, no FFI, no I/O, no threads and no clock reads. The caller passes
//! wall-clock milliseconds in and takes due names out; that clock may jump either way.
//!
//! This file is the wheel itself: which list an entry belongs in, moving the wheel's time, firing in due
//! order and the key index. The storage those lists live in (the node slab and its intrusive slot lists)
//! is `slot_lists.rs`; the unit tests are in `tests.rs`.
//!
//! # Design
//!
//! Seven levels of 64 slots (6 bits each) cover 2^42 ms (about 139 years) around the wheel's time
//! `now`; two overflow lists hold what lies further away. An entry due at `due` lives in exactly one list,
//! chosen by the most significant bit in which `due` and `now` differ: that bit's level, and the slot given
//! by `due`'s 6-bit digit at that level. The same rule places entries in the past (`due < now`, digit below
//! `now`'s digit) and in the future (digit above it), so the wheel needs no "current slot" pointer and
//! never wraps round. Consequences, which the whole module relies on:
//!
//! - All entries of one level share every bit above that level with `now`, so a level's slots are 64
//!   adjacent, non-overlapping time ranges. Future entries at level L lie beyond the end of `now`'s level-L
//!   range, and future entries below level L lie inside it: **lower levels hold earlier future entries,
//!   higher levels earlier past entries**. Due order is therefore: past overflow, past slots from the top
//!   level down, the slot `due == now`, future slots from level 0 up, future overflow; within a level,
//!   ascending slot index. Finding the next non-empty slot is a bitmap test per level.
//! - Entries with the same due time always share a list, kept in insertion order, so ties fire in
//!   insertion order without a sequence number.
//!
//! Moving `now` (in [`TimerWheel::expire`], forwards or backwards) re-places only the entries of the one
//! slot that contains the new time (each goes down at least one level) and splices whole lower-level lists
//! up in O(1) each; `now` jumps straight to its target however far away it is. Expiry fires everything
//! then in the past, list by list in due order, sorting each list's entries with a stable LSD radix sort
//! over only the bytes in which their due times differ.
//!
//! # Complexity
//!
//! - `schedule`, `cancel`, `due_of`, `contains`, `len`: O(1) (one hash lookup and a few list links).
//! - `next_due`: O(1) when memoised (schedule keeps the memo up to date; cancelling the earliest entry or
//!   expiring forgets it), otherwise O(levels) bitmap tests plus a scan of the first non-empty slot.
//! - `expire`: O(levels) per call plus O(levels) per entry over its lifetime, amortised, while the clock
//!   moves forwards: an entry is re-placed at most once per level before it fires. A backward step of the
//!   clock lifts the entries due within the stepped span's level range back up, to be re-placed again
//!   later; far-future overflow entries are re-examined each time `now` crosses a 2^42 ms boundary
//!   (roughly once a century, or on a huge clock jump).
//! - `earliest`: O(k log k) for the k entries in the slots it has to read; `iter`: O(entries).
//!
//! # Memory per entry
//!
//! A 32-byte slab node (due time, two u32 links, the key) plus a hash map bucket (the key and a u32
//! index, 24 bytes) and a control byte: 57 bytes for a 16-byte key such as `Arc<str>` or `Box<str>`,
//! plus the key's own heap data (shared by both copies for `Arc<str>`, held twice for `Box<str>`).
//! With the slack of the slab's and the map's growth, measured with `Arc<str>` keys between 1,000 and
//! 2,000,000 entries: 61 to 104 bytes per entry, 81 on average (81 at 100,000 entries, 89 at
//! 1,000,000), not counting the strings. The fixed part is 451 list heads of 32 bytes (14 KiB). About
//! four billion entries fit (u32 indices), far beyond the memory they would need.
//!
//! A caller that keeps its keys in a table of its own can key the wheel by slot numbers with a
//! [`DenseIndex`] ([`TimerWheel::with_index`]): a 24-byte node and 4 bytes of index per entry, no hashing
//! and no copy of the key (the scheduler's `FileTable` does this).

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::ops::ControlFlow;

/// Bits of the due time each level resolves.
const LEVEL_BITS: u32 = 6;
const SLOTS_PER_LEVEL: u32 = 1 << LEVEL_BITS;
const DIGIT_MASK: u64 = SLOTS_PER_LEVEL as u64 - 1;
/// 7 levels reach 2^42 ms ≈ 139 years, so real due times never need the overflow lists.
const LEVELS: usize = 7;
/// When the wheel empties, slab and map memory beyond this many entries is given back (a campaign's
/// 100,000 files should not pin their peak memory forever).
const KEEP_CAPACITY_WHEN_EMPTY: usize = 4096;

mod slot_lists;
#[cfg(test)]
mod tests;

use slot_lists::{slot_list, SlotLists, NIL, OVERFLOW_FUTURE, OVERFLOW_PAST, SCRATCH, SENTINELS};

/// How a wheel finds the node of a key: a hash map for any key, or [`DenseIndex`] for keys that are a
/// caller's own small slot numbers.
pub trait KeyIndex<K> {
    fn get(&self, key: &K) -> Option<u32>;
    fn insert(&mut self, key: K, node: u32);
    fn remove(&mut self, key: &K) -> Option<u32>;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Called when the wheel is empty: give memory back beyond room for `keep` keys.
    fn reclaim(&mut self, keep: usize);
    /// The bytes the index holds (its capacity), for memory accounting.
    fn memory_bytes(&self) -> usize;
}

impl<K: Eq + Hash> KeyIndex<K> for HashMap<K, u32> {
    fn get(&self, key: &K) -> Option<u32> {
        HashMap::get(self, key).copied()
    }
    fn insert(&mut self, key: K, node: u32) {
        HashMap::insert(self, key, node);
    }
    fn remove(&mut self, key: &K) -> Option<u32> {
        HashMap::remove(self, key)
    }
    fn len(&self) -> usize {
        HashMap::len(self)
    }
    fn reclaim(&mut self, keep: usize) {
        if self.capacity() > keep {
            *self = HashMap::new();
        }
    }
    fn memory_bytes(&self) -> usize {
        // A bucket per slot and a control byte, at hashbrown's load of at most 7/8.
        (self.capacity() * 8).div_ceil(7) * (std::mem::size_of::<(K, u32)>() + 1)
    }
}

/// A [`KeyIndex`] for `u32` keys that are slot numbers of the caller's own table (dense, reused): a
/// vector indexed by key, 4 bytes a key, no hashing.
#[derive(Debug, Default)]
pub struct DenseIndex {
    nodes: Vec<u32>,
    len: usize,
}

impl KeyIndex<u32> for DenseIndex {
    fn get(&self, key: &u32) -> Option<u32> {
        self.nodes.get(*key as usize).copied().filter(|&node| node != NIL)
    }
    fn insert(&mut self, key: u32, node: u32) {
        let at = key as usize;
        if at >= self.nodes.len() {
            if at >= self.nodes.capacity() {
                // Grow by a quarter, as the caller's table does.
                self.nodes.reserve_exact((at + 1 - self.nodes.len()).max(self.nodes.len() / 4));
            }
            self.nodes.resize(at + 1, NIL);
        }
        if self.nodes[at] == NIL {
            self.len += 1;
        }
        self.nodes[at] = node;
    }
    fn remove(&mut self, key: &u32) -> Option<u32> {
        let node = self.get(key)?;
        self.nodes[*key as usize] = NIL;
        self.len -= 1;
        Some(node)
    }
    fn len(&self) -> usize {
        self.len
    }
    fn reclaim(&mut self, keep: usize) {
        self.nodes.clear();
        if self.nodes.capacity() > keep {
            self.nodes = Vec::new();
        }
    }
    fn memory_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<u32>()
    }
}

/// A hierarchical hashed timer wheel mapping keys (call file names) to due times in wall-clock
/// milliseconds. See the module documentation for the design, complexity and memory use.
///
/// `Send` but not `Sync` (the `next_due` memo is a `Cell`): share it behind a `Mutex`.
pub struct TimerWheel<K, I = HashMap<K, u32>> {
    /// The wheel's time: the last `now_ms` given to `expire` (or to `new`).
    now_ms: u64,
    lists: SlotLists<K>,
    index: I,
    /// The exact earliest due time, when known; `next_due` is called on every poll, and scanning a
    /// higher-level slot holding a campaign's 100,000 entries each time would be too slow.
    next_due_memo: Cell<NextDueMemo>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NextDueMemo {
    Unknown,
    Known(Option<u64>),
}

/// Which part of the wheel [`TimerWheel::visit_lists_in_due_order`] walks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Past entries and those due exactly now: what `expire` fires.
    DueNow,
    Everything,
}

impl<K: Eq + Hash + Clone> TimerWheel<K> {
    /// An empty wheel whose time is `now_ms`.
    #[must_use]
    pub fn new(now_ms: u64) -> Self {
        Self::with_index(now_ms, HashMap::new())
    }
}

impl<K: Eq + Hash + Clone, I: KeyIndex<K>> TimerWheel<K, I> {
    /// An empty wheel whose time is `now_ms`, finding keys with `index` (empty).
    #[must_use]
    pub fn with_index(now_ms: u64, index: I) -> Self {
        TimerWheel { now_ms, lists: SlotLists::new(), index, next_due_memo: Cell::new(NextDueMemo::Known(None)) }
    }

    /// The bytes the wheel holds for its entries (node slab and key index, by capacity), not counting
    /// what the keys point to.
    pub fn memory_bytes(&self) -> usize {
        self.lists.nodes.capacity() * std::mem::size_of::<slot_lists::Node<K>>() + self.index.memory_bytes()
    }

    /// Insert or move `key` to fire at `due_ms`. Returns the previous due time if it was scheduled.
    ///
    /// A due time at or before the wheel's time fires at the next [`expire`](Self::expire) whose `now_ms`
    /// has reached it. A moved entry counts as newly inserted for the order of equal due times; one
    /// scheduled again at the time it already has keeps its place.
    pub fn schedule(&mut self, key: K, due_ms: u64) -> Option<u64> {
        let target = list_for(self.now_ms, due_ms);
        match self.index.get(&key) {
            Some(node) => {
                let previous = self.lists.due_of(node);
                if previous == due_ms {
                    return Some(previous);
                }
                self.lists.unlink(node);
                self.lists.set_due(node, due_ms);
                self.lists.link_at_tail(target, node);
                self.note_moved(previous, due_ms);
                Some(previous)
            }
            None => {
                // Only fails past u32::MAX entries, which memory rules out long before.
                let node = self.lists.allocate(key.clone(), due_ms)?;
                self.lists.link_at_tail(target, node);
                self.index.insert(key, node);
                self.note_added(due_ms);
                None
            }
        }
    }

    /// Remove `key`. Returns its due time if it was scheduled.
    pub fn cancel(&mut self, key: &K) -> Option<u64> {
        let node = self.index.remove(key)?;
        let due_ms = self.lists.due_of(node);
        self.lists.unlink(node);
        self.lists.release(node);
        self.note_removed(due_ms);
        self.reclaim_if_empty();
        Some(due_ms)
    }

    /// The due time of `key`, if scheduled.
    pub fn due_of(&self, key: &K) -> Option<u64> {
        self.index.get(key).map(|node| self.lists.due_of(node))
    }

    pub fn contains(&self, key: &K) -> bool {
        self.index.get(key).is_some()
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The earliest due time of any entry, exact (not just a slot bound): the caller uses it as its poll
    /// timeout. It may lie before the wheel's time (entries scheduled in the past, or after the clock
    /// stepped back).
    pub fn next_due(&self) -> Option<u64> {
        if let NextDueMemo::Known(earliest) = self.next_due_memo.get() {
            return earliest;
        }
        let mut first_list = None;
        self.visit_lists_in_due_order(Scope::Everything, |list| {
            first_list = Some(list);
            ControlFlow::Break(())
        });
        // The first non-empty list holds the earliest entry; only a level-0 slot has one due time.
        let earliest = first_list.and_then(|list| self.lists.min_due_in(list));
        self.next_due_memo.set(NextDueMemo::Known(earliest));
        earliest
    }

    /// Advance (or step back) to `now_ms` and move every entry with due <= `now_ms` into `out`, in
    /// non-decreasing due-time order (ties: insertion order), removing them from the wheel.
    pub fn expire(&mut self, now_ms: u64, out: &mut Vec<(K, u64)>) {
        self.move_now_to(now_ms);
        let mut due_lists = Vec::new();
        self.visit_lists_in_due_order(Scope::DueNow, |list| {
            due_lists.push(list);
            ControlFlow::Continue(())
        });
        if due_lists.is_empty() {
            return;
        }
        let mut buffers = SortBuffers::default();
        for list in due_lists {
            self.fire_list_sorted(list, &mut buffers, out);
        }
        self.next_due_memo.set(NextDueMemo::Unknown);
        self.reclaim_if_empty();
    }

    /// Up to `limit` entries in due-time order (ties: insertion order), for an admin's "show queue".
    /// Reads whole slots until it has `limit` entries, sorting each.
    pub fn earliest(&self, limit: usize) -> Vec<(K, u64)> {
        let mut found: Vec<(K, u64)> = Vec::new();
        if limit == 0 {
            return found;
        }
        self.visit_lists_in_due_order(Scope::Everything, |list| {
            let slot_start = found.len();
            self.lists.for_each_in(list, |key, due_ms| found.push((key.clone(), due_ms)));
            // Stable: equal due times share this list in insertion order.
            if let Some(slot_entries) = found.get_mut(slot_start..) {
                slot_entries.sort_by_key(|&(_, due_ms)| due_ms);
            }
            if found.len() >= limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        found.truncate(limit);
        found
    }

    /// All entries, in no particular order, for status counts and rescans.
    pub fn iter(&self) -> impl Iterator<Item = (&K, u64)> {
        self.lists
            .nodes
            .iter()
            .skip(SENTINELS as usize)
            .filter_map(|node| node.key.as_ref().map(|key| (key, node.due_ms)))
    }

    /// Make `new_now` the wheel's time, re-placing only the entries whose list depends on the change.
    fn move_now_to(&mut self, new_now: u64) {
        let old_now = self.now_ms;
        let changed_bits = old_now ^ new_now;
        if changed_bits == 0 {
            return;
        }
        let level = top_level(changed_bits);
        if level == 0 {
            // Level-0 slots are the due times themselves; only which of them count as past changes.
            self.now_ms = new_now;
            return;
        }
        if level < LEVELS {
            // The slot that contains the new time splits into lower levels; everything below `level`
            // sat inside the old time's slot at `level` and now belongs there. Higher levels and the
            // overflow lists keep their meaning because the bits above `level` did not change.
            self.lists.move_all(slot_list(level, digit(new_now, level)), SCRATCH);
            let old_slot = slot_list(level, digit(old_now, level));
            for lower in 0..level {
                self.lists.move_level(lower, old_slot);
            }
        } else {
            // The wheel's whole range moved: every level leaves it, overflow entries may come into it.
            self.lists.move_all(OVERFLOW_PAST, SCRATCH);
            self.lists.move_all(OVERFLOW_FUTURE, SCRATCH);
            let out_of_range = if new_now > old_now { OVERFLOW_PAST } else { OVERFLOW_FUTURE };
            for any_level in 0..LEVELS {
                self.lists.move_level(any_level, out_of_range);
            }
        }
        self.now_ms = new_now;
        while let Some(node) = self.lists.first_in(SCRATCH) {
            self.lists.unlink(node);
            let target = list_for(new_now, self.lists.due_of(node));
            self.lists.link_at_tail(target, node);
        }
    }

    /// Walk the non-empty lists in due order (see the module documentation for why this is due order).
    fn visit_lists_in_due_order(&self, scope: Scope, mut visit: impl FnMut(u32) -> ControlFlow<()>) {
        let _ = self.try_visit_lists_in_due_order(scope, &mut visit);
    }

    fn try_visit_lists_in_due_order(
        &self,
        scope: Scope,
        visit: &mut impl FnMut(u32) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let now = self.now_ms;
        let occupied = &self.lists.occupied;
        if self.lists.first_in(OVERFLOW_PAST).is_some() {
            visit(OVERFLOW_PAST)?;
        }
        for level in (1..LEVELS).rev() {
            visit_slots(level, occupied[level] & slots_below(digit(now, level)), visit)?;
        }
        let now_digit = digit(now, 0);
        visit_slots(0, occupied[0] & (slots_below(now_digit) | 1 << now_digit), visit)?;
        if scope == Scope::DueNow {
            return ControlFlow::Continue(());
        }
        for (level, &level_occupied) in occupied.iter().enumerate() {
            visit_slots(level, level_occupied & slots_above(digit(now, level)), visit)?;
        }
        if self.lists.first_in(OVERFLOW_FUTURE).is_some() {
            visit(OVERFLOW_FUTURE)?;
        }
        ControlFlow::Continue(())
    }

    /// Fire every entry of `list` into `out`, sorted by due time, stable.
    fn fire_list_sorted(&mut self, list: u32, buffers: &mut SortBuffers, out: &mut Vec<(K, u64)>) {
        // Walking a long list is a cache miss per node, so it is walked once into a buffer and sorted
        // there rather than regrouped in place.
        let entries = &mut buffers.entries;
        entries.clear();
        let mut node = self.lists.take_chain(list);
        while node != NIL {
            entries.push((self.lists.due_of(node), node));
            node = self.lists.next_of(node);
        }
        sort_by_due_stable(entries, &mut buffers.spare);
        for &(due_ms, node) in entries.iter() {
            if let Some(key) = self.lists.release(node) {
                self.index.remove(&key);
                out.push((key, due_ms));
            }
        }
    }

    fn note_added(&self, due_ms: u64) {
        let memo = match self.next_due_memo.get() {
            NextDueMemo::Known(earliest) => NextDueMemo::Known(Some(earliest.map_or(due_ms, |at| at.min(due_ms)))),
            NextDueMemo::Unknown => NextDueMemo::Unknown,
        };
        self.next_due_memo.set(memo);
    }

    fn note_removed(&self, due_ms: u64) {
        if self.index.is_empty() {
            self.next_due_memo.set(NextDueMemo::Known(None));
        } else if self.next_due_memo.get() == NextDueMemo::Known(Some(due_ms)) {
            // Another entry may share that time, but finding out costs a scan: leave it to `next_due`.
            self.next_due_memo.set(NextDueMemo::Unknown);
        }
    }

    fn note_moved(&self, previous_ms: u64, due_ms: u64) {
        if let NextDueMemo::Known(Some(earliest)) = self.next_due_memo.get() {
            if previous_ms == earliest && due_ms > earliest {
                self.next_due_memo.set(NextDueMemo::Unknown);
                return;
            }
        }
        self.note_added(due_ms);
    }

    fn reclaim_if_empty(&mut self) {
        if !self.index.is_empty() {
            return;
        }
        self.lists.clear_entries();
        self.index.reclaim(KEEP_CAPACITY_WHEN_EMPTY);
    }
}

impl<K, I: KeyIndex<K>> fmt::Debug for TimerWheel<K, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerWheel")
            .field("now_ms", &self.now_ms)
            .field("len", &self.index.len())
            .finish_non_exhaustive()
    }
}

/// Scratch space for sorting the entries of a list being fired, reused across the lists of one `expire`.
#[derive(Default)]
struct SortBuffers {
    entries: Vec<(u64, u32)>,
    spare: Vec<(u64, u32)>,
}

/// Below this many entries a plain stable sort beats setting up radix passes (and is O(1) per entry
/// for so few).
const RADIX_SORT_FROM: usize = 64;

/// Stable sort of (due time, node) pairs by due time: an LSD radix sort over only the bytes in which the
/// due times differ (a slot's entries share every bit from its level up, often the lower ones too), so
/// the cost is O(entries) for at most 8 passes.
fn sort_by_due_stable(entries: &mut Vec<(u64, u32)>, spare: &mut Vec<(u64, u32)>) {
    if entries.len() < RADIX_SORT_FROM {
        entries.sort_by_key(|&(due_ms, _)| due_ms);
        return;
    }
    let (any_set, all_set) =
        entries.iter().fold((0u64, u64::MAX), |(any, all), &(due_ms, _)| (any | due_ms, all & due_ms));
    let differing = any_set ^ all_set;
    for shift in (0..u64::BITS).step_by(8).filter(|&shift| (differing >> shift) & 0xFF != 0) {
        let mut starts = [0usize; 256];
        for &(due_ms, _) in entries.iter() {
            starts[((due_ms >> shift) & 0xFF) as usize] += 1;
        }
        let mut next_start = 0;
        for start in &mut starts {
            let count = *start;
            *start = next_start;
            next_start += count;
        }
        spare.clear();
        spare.resize(entries.len(), (0, NIL));
        for &entry in entries.iter() {
            let bucket = &mut starts[((entry.0 >> shift) & 0xFF) as usize];
            if let Some(place) = spare.get_mut(*bucket) {
                *place = entry;
            }
            *bucket += 1;
        }
        std::mem::swap(entries, spare);
    }
}

fn visit_slots(level: usize, mut slots: u64, visit: &mut impl FnMut(u32) -> ControlFlow<()>) -> ControlFlow<()> {
    while slots != 0 {
        let slot = u64::from(slots.trailing_zeros());
        slots &= slots - 1;
        visit(slot_list(level, slot))?;
    }
    ControlFlow::Continue(())
}

/// The list an entry due at `due_ms` belongs in while the wheel's time is `now_ms`.
fn list_for(now_ms: u64, due_ms: u64) -> u32 {
    let differing = now_ms ^ due_ms;
    let level = if differing == 0 { 0 } else { top_level(differing) };
    if level < LEVELS {
        slot_list(level, digit(due_ms, level))
    } else if due_ms < now_ms {
        OVERFLOW_PAST
    } else {
        OVERFLOW_FUTURE
    }
}

/// The level of the most significant set bit of `bits` (non-zero); LEVELS or more means overflow.
fn top_level(bits: u64) -> usize {
    ((u64::BITS - 1 - bits.leading_zeros()) / LEVEL_BITS) as usize
}

/// The 6-bit digit of `time_ms` that selects its slot at `level`.
fn digit(time_ms: u64, level: usize) -> u64 {
    (time_ms >> (level as u32 * LEVEL_BITS)) & DIGIT_MASK
}

/// Bitmap of the slots before `slot` (0..=63).
fn slots_below(slot: u64) -> u64 {
    (1u64 << slot) - 1
}

/// Bitmap of the slots after `slot` (0..=63).
fn slots_above(slot: u64) -> u64 {
    u64::MAX.checked_shl(slot as u32 + 1).unwrap_or(0)
}
