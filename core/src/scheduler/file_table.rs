//! Every name the scheduler follows in outgoing/, its [`FileState`] and its place in the timer wheel, in
//! one table that stores each name once. A queued file costs a 40-byte slot (its name, inline up to 22
//! bytes ([`StoredName`]), and its state), 4 bytes of name index (open addressing over slot numbers, load
//! at most 4/5) and the wheel's 24-byte node plus 4 bytes of its slot-number index; no allocation but a
//! long name's box. Insertion, lookup and removal are O(1) expected, as in a hash map.
//!
//! Plain data, like the wheel it wraps: no I/O, no clock. Names handed out (`expire`, `earliest`) are
//! fresh `Arc<OsStr>`s owned by the caller; the table keeps its own copy.

use std::collections::hash_map::RandomState;
use std::ffi::OsStr;
use std::hash::BuildHasher;
use std::sync::Arc;

use super::files::FileState;
use super::stored_name::StoredName;
use crate::wheel::{DenseIndex, TimerWheel};

/// An empty bucket of the name index.
const EMPTY: u32 = u32::MAX;
/// When the table empties, memory beyond this many slots is given back.
const KEEP_SLOTS_WHEN_EMPTY: usize = 4096;

/// The names the scheduler follows, their states and due times.
pub(super) struct FileTable {
    /// Slot number to name and state; `None` for a free slot (listed in `free`).
    slots: Vec<Option<(StoredName, FileState)>>,
    free: Vec<u32>,
    /// Open addressing with linear probing over slot numbers, hashed by name; a power of two long.
    buckets: Vec<u32>,
    hasher: RandomState,
    len: usize,
    /// When each slot's file is next looked at.
    wheel: TimerWheel<u32, DenseIndex>,
}

impl FileTable {
    pub(super) fn new(now_ms: u64) -> Self {
        FileTable {
            slots: Vec::new(),
            free: Vec::new(),
            buckets: Vec::new(),
            hasher: RandomState::new(),
            len: 0,
            wheel: TimerWheel::with_index(now_ms, DenseIndex::default()),
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    fn hash(&self, name: &OsStr) -> usize {
        self.hasher.hash_one(name.as_encoded_bytes()) as usize
    }

    fn name_of(&self, slot: u32) -> Option<&OsStr> {
        self.slots.get(slot as usize).and_then(|s| s.as_ref()).map(|(name, _)| name.as_os_str())
    }

    /// The bucket holding `name`'s slot, if known.
    fn find(&self, name: &OsStr) -> Option<usize> {
        if self.buckets.is_empty() {
            return None;
        }
        let mask = self.buckets.len() - 1;
        let mut bucket = self.hash(name) & mask;
        loop {
            let slot = self.buckets[bucket];
            if slot == EMPTY {
                return None;
            }
            if self.name_of(slot) == Some(name) {
                return Some(bucket);
            }
            bucket = (bucket + 1) & mask;
        }
    }

    fn slot_of(&self, name: &OsStr) -> Option<u32> {
        self.find(name).map(|bucket| self.buckets[bucket])
    }

    pub(super) fn contains_key(&self, name: &OsStr) -> bool {
        self.find(name).is_some()
    }

    pub(super) fn get(&self, name: &OsStr) -> Option<&FileState> {
        let slot = self.slot_of(name)?;
        self.slots[slot as usize].as_ref().map(|(_, state)| state)
    }

    pub(super) fn get_mut(&mut self, name: &OsStr) -> Option<&mut FileState> {
        let slot = self.slot_of(name)?;
        self.slots[slot as usize].as_mut().map(|(_, state)| state)
    }

    /// Set `name`'s state; returns the previous one. A new name takes a slot (and its own copy of the
    /// name); its due time, if any, is unchanged for a known one.
    pub(super) fn insert(&mut self, name: impl AsRef<OsStr>, state: FileState) -> Option<FileState> {
        let name = name.as_ref();
        if let Some(slot) = self.slot_of(name) {
            return self.slots[slot as usize].as_mut().map(|(_, old)| std::mem::replace(old, state));
        }
        self.grow_if_full();
        let entry = Some((StoredName::new(name), state));
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = entry;
                slot
            }
            None => {
                // Past four billion names (far beyond memory) the newest is not followed.
                let Ok(slot) = u32::try_from(self.slots.len()) else { return None };
                if self.slots.len() == self.slots.capacity() {
                    // Grow by a quarter rather than doubling: still amortised O(1), and at most a fifth
                    // of the slots are slack at 100,000 files.
                    self.slots.reserve_exact((self.slots.len() / 4).max(16));
                }
                self.slots.push(entry);
                slot
            }
        };
        self.place(slot);
        self.len += 1;
        None
    }

    /// Forget `name`: its state and its due time.
    pub(super) fn remove(&mut self, name: &OsStr) -> Option<FileState> {
        let bucket = self.find(name)?;
        let slot = self.buckets[bucket];
        self.wheel.cancel(&slot);
        self.unplace(bucket);
        let (_, state) = self.slots[slot as usize].take()?;
        self.free.push(slot);
        self.len -= 1;
        if self.len == 0 && self.slots.len() > KEEP_SLOTS_WHEN_EMPTY {
            // A campaign's 100,000 files should not pin their peak memory forever.
            self.slots = Vec::new();
            self.free = Vec::new();
            self.buckets = Vec::new();
        }
        Some(state)
    }

    /// Every name and its state, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&OsStr, &FileState)> {
        self.slots.iter().filter_map(|s| s.as_ref().map(|(name, state)| (name.as_os_str(), state)))
    }

    /// Look at `name` again at `due_ms` (a known name only); the previous due time if it had one.
    pub(super) fn schedule(&mut self, name: impl AsRef<OsStr>, due_ms: u64) -> Option<u64> {
        let slot = self.slot_of(name.as_ref())?;
        self.wheel.schedule(slot, due_ms)
    }

    /// Take `name`'s due time away, keeping its state.
    pub(super) fn cancel(&mut self, name: &OsStr) -> Option<u64> {
        let slot = self.slot_of(name)?;
        self.wheel.cancel(&slot)
    }

    pub(super) fn due_of(&self, name: &OsStr) -> Option<u64> {
        self.wheel.due_of(&self.slot_of(name)?)
    }

    pub(super) fn next_due(&self) -> Option<u64> {
        self.wheel.next_due()
    }

    /// Every name due at `now_ms` or before, in due order (see [`TimerWheel::expire`]); they keep their
    /// states and have no due time any more.
    pub(super) fn expire(&mut self, now_ms: u64, out: &mut Vec<(Arc<OsStr>, u64)>) {
        let mut due = Vec::new();
        self.wheel.expire(now_ms, &mut due);
        out.extend(due.into_iter().filter_map(|(slot, at)| self.name_of(slot).map(|name| (Arc::from(name), at))));
    }

    /// Up to `limit` names in due order, with their due times.
    pub(super) fn earliest(&self, limit: usize) -> Vec<(Arc<OsStr>, u64)> {
        let listed = self.wheel.earliest(limit);
        listed.into_iter().filter_map(|(slot, at)| self.name_of(slot).map(|name| (Arc::from(name), at))).collect()
    }

    /// Put `slot` (a new name) into the name index.
    fn place(&mut self, slot: u32) {
        let Some(name) = self.name_of(slot) else { return };
        let mask = self.buckets.len() - 1;
        let mut bucket = self.hash(name) & mask;
        while self.buckets[bucket] != EMPTY {
            bucket = (bucket + 1) & mask;
        }
        self.buckets[bucket] = slot;
    }

    /// Empty `bucket`, moving back the entries after it whose probe passed through it (backward-shift
    /// deletion: no tombstones, so lookups never slow down with removals).
    fn unplace(&mut self, mut hole: usize) {
        let mask = self.buckets.len() - 1;
        let mut bucket = hole;
        loop {
            bucket = (bucket + 1) & mask;
            let slot = self.buckets[bucket];
            if slot == EMPTY {
                break;
            }
            let home = self.name_of(slot).map_or(bucket, |name| self.hash(name) & mask);
            // The entry may fill the hole if its home is not cyclically within (hole, bucket].
            let distance_home = bucket.wrapping_sub(home) & mask;
            let distance_hole = bucket.wrapping_sub(hole) & mask;
            if distance_home >= distance_hole {
                self.buckets[hole] = slot;
                hole = bucket;
            }
        }
        self.buckets[hole] = EMPTY;
    }

    /// Room for one more name at a load of at most 4/5.
    fn grow_if_full(&mut self) {
        if (self.len + 1) * 5 <= self.buckets.len() * 4 {
            return;
        }
        let size = (self.buckets.len() * 2).max(16);
        self.buckets = vec![EMPTY; size];
        for slot in 0..self.slots.len() as u32 {
            if self.slots[slot as usize].is_some() {
                self.place(slot);
            }
        }
    }
}

impl std::fmt::Debug for FileTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileTable").field("len", &self.len).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(i: usize) -> String {
        format!("f{i:06}.call")
    }

    #[test]
    fn names_states_and_due_times_follow_inserts_and_removals() {
        let mut table = FileTable::new(1_000);
        for i in 0..10_000 {
            assert!(table.insert(name(i), FileState::Queued).is_none());
            table.schedule(name(i), 2_000 + i as u64);
        }
        assert_eq!(table.len(), 10_000);
        // Every other one goes; the rest keep their states and due times.
        for i in (0..10_000).step_by(2) {
            assert!(matches!(table.remove(OsStr::new(&name(i))), Some(FileState::Queued)));
            assert!(table.remove(OsStr::new(&name(i))).is_none());
        }
        for i in 0..10_000 {
            let known = table.get(OsStr::new(&name(i))).is_some();
            assert_eq!(known, i % 2 == 1, "{}", name(i));
            assert_eq!(table.due_of(OsStr::new(&name(i))), known.then_some(2_000 + i as u64));
        }
        assert!(matches!(table.insert(name(1), FileState::Held), Some(FileState::Queued)));
        assert_eq!(table.due_of(OsStr::new(&name(1))), Some(2_001), "a new state keeps the due time");
        assert_eq!(table.cancel(OsStr::new(&name(1))), Some(2_001));
        assert!(matches!(table.get(OsStr::new(&name(1))), Some(FileState::Held)));
        // Freed slots are reused by new names without mixing up due times.
        for i in 10_000..15_000 {
            table.insert(name(i), FileState::Retrying);
            table.schedule(name(i), 100_000 + i as u64);
        }
        assert_eq!(table.len(), 10_000);
        let mut fired = Vec::new();
        table.expire(12_000, &mut fired);
        let expected: Vec<(Arc<OsStr>, u64)> = (3..10_000)
            .step_by(2)
            .map(|i| (Arc::from(OsStr::new(&name(i))), 2_000 + i as u64))
            .filter(|(_, due)| *due <= 12_000)
            .collect();
        assert_eq!(fired, expected);
        assert!(table.get(OsStr::new(&name(3))).is_some(), "a due file keeps its state");
        assert_eq!(table.earliest(1), vec![(Arc::from(OsStr::new(&name(10_000))), 110_000)]);
        let names: Vec<String> = table.iter().map(|(n, _)| n.to_string_lossy().into_owned()).collect();
        assert_eq!(names.len(), 10_000);
    }

    /// Where a queued file's bytes go. A unit-level count: the table's own parts by `size_of`, the index
    /// and the wheel at their load after 10,000 and 100,000 inserts (the bench's names, 12 bytes, are kept
    /// inline: no allocation of their own). Slots are counted by length (the unused tail of a large vector
    /// is never touched, so never resident), the wheel by capacity. Compared with the same files as a map
    /// of shared names beside a wheel keyed by them, each name's allocation as glibc's malloc rounds it (8
    /// bytes of header, 16-byte steps, 32 at least).
    #[test]
    fn a_queued_file_costs_less_than_112_bytes_name_included() {
        use std::mem::size_of;
        assert_eq!(size_of::<FileState>(), 16);
        assert_eq!(size_of::<Option<(StoredName, FileState)>>(), 40);
        let malloc_chunk = |bytes: usize| (bytes + 8).div_ceil(16).max(2) * 16;
        for files in [10_000, 100_000] {
            let mut table = FileTable::new(0);
            for i in 0..files {
                table.insert(name(i), FileState::Queued);
                table.schedule(name(i), 3_600_000 + i as u64);
            }
            assert!(name(0).len() <= super::super::stored_name::INLINE);
            let name_bytes = 0;
            let slots = size_of::<Option<(StoredName, FileState)>>() * table.slots.len();
            let index = size_of::<u32>() * table.buckets.len();
            let wheel = table.wheel.memory_bytes();
            let per_file = (slots + index + wheel) as f64 / files as f64 + name_bytes as f64;
            // The same files as a map of shared names beside a wheel keyed by them (one Arc per name,
            // with its 16-byte counts), for comparison.
            let mut map: std::collections::HashMap<Arc<OsStr>, FileState> = std::collections::HashMap::new();
            let mut by_name: TimerWheel<Arc<OsStr>> = TimerWheel::new(0);
            for i in 0..files {
                let shared: Arc<OsStr> = Arc::from(OsStr::new(&name(i)));
                map.insert(shared.clone(), FileState::Queued);
                by_name.schedule(shared, 3_600_000 + i as u64);
            }
            let map_bytes = (map.capacity() * 8).div_ceil(7) * (size_of::<(Arc<OsStr>, FileState)>() + 1);
            let shared_name = malloc_chunk(2 * size_of::<usize>() + name(0).len());
            let before = (map_bytes + by_name.memory_bytes()) as f64 / files as f64 + shared_name as f64;
            eprintln!(
                "{files} queued files: {per_file:.1} B each ({name_bytes} B name, {:.1} slot, {:.1} index, {:.1} \
                 wheel); as a map beside a wheel keyed by name: {before:.1} B",
                slots as f64 / files as f64,
                index as f64 / files as f64,
                wheel as f64 / files as f64
            );
            assert!(per_file < 112.0, "{files} files: {per_file:.1} B each");
            assert!(per_file < before, "{files} files: {per_file:.1} B each, {before:.1} B before");
        }
    }
}
