//! The timer wheel's storage: a slab of nodes linked into circular intrusive lists, one per slot of every
//! level plus the overflow and scratch lists, each headed by a sentinel node, with an occupancy bitmap per
//! level. It links, unlinks and splices nodes and hands keys back; it must not decide which list an entry
//! belongs in (that is the wheel's placement rule in `mod.rs`), and it never touches the key index or a
//! clock.

use super::{KEEP_CAPACITY_WHEN_EMPTY, LEVELS, SLOTS_PER_LEVEL};

// The slab's first nodes are list heads (sentinels): one per slot, then the overflow lists and a scratch
// list used while re-placing entries. Circular lists with sentinels let an entry be unlinked without
// knowing which list it is in, so nodes need not store their slot, and whole lists splice in O(1).
pub(super) const SLOT_LISTS: u32 = LEVELS as u32 * SLOTS_PER_LEVEL;
/// Entries more than the wheel's range before `now`.
pub(super) const OVERFLOW_PAST: u32 = SLOT_LISTS;
/// Entries more than the wheel's range after `now`.
pub(super) const OVERFLOW_FUTURE: u32 = SLOT_LISTS + 1;
/// Entries being re-placed after `now` moved.
pub(super) const SCRATCH: u32 = SLOT_LISTS + 2;
pub(super) const SENTINELS: u32 = SLOT_LISTS + 3;
/// End of the free list and of the chains used while firing.
pub(super) const NIL: u32 = u32::MAX;

/// One slab node: a scheduled entry, a free node (key `None`, `next` links the free list) or a list head
/// (key `None`, the first `SENTINELS` nodes).
pub(super) struct Node<K> {
    pub(super) due_ms: u64,
    pub(super) prev: u32,
    pub(super) next: u32,
    pub(super) key: Option<K>,
}

/// The slab and the intrusive lists its nodes are linked into, with the occupancy bitmap of each level.
/// Kept apart from the key index so both can be borrowed at once.
pub(super) struct SlotLists<K> {
    pub(super) nodes: Vec<Node<K>>,
    pub(super) free_head: u32,
    /// Bit s of `occupied[level]` is set iff slot s of that level is non-empty.
    pub(super) occupied: [u64; LEVELS],
}

/// The list head of slot `slot` at `level`.
pub(super) fn slot_list(level: usize, slot: u64) -> u32 {
    level as u32 * SLOTS_PER_LEVEL + slot as u32
}

impl<K> SlotLists<K> {
    pub(super) fn new() -> Self {
        // Room for the first entries, so the first schedule does not double the heads' 14 KiB.
        let mut nodes = Vec::with_capacity(SENTINELS as usize + SLOTS_PER_LEVEL as usize);
        nodes.extend((0..SENTINELS).map(|head| Node { due_ms: 0, prev: head, next: head, key: None }));
        SlotLists { nodes, free_head: NIL, occupied: [0; LEVELS] }
    }

    // Node indices come only from this slab (list links, the key index, the sentinel constants), so
    // indexing cannot go out of bounds.
    pub(super) fn node(&self, index: u32) -> &Node<K> {
        &self.nodes[index as usize]
    }

    pub(super) fn node_mut(&mut self, index: u32) -> &mut Node<K> {
        &mut self.nodes[index as usize]
    }

    pub(super) fn due_of(&self, index: u32) -> u64 {
        self.node(index).due_ms
    }

    pub(super) fn set_due(&mut self, index: u32, due_ms: u64) {
        self.node_mut(index).due_ms = due_ms;
    }

    pub(super) fn next_of(&self, index: u32) -> u32 {
        self.node(index).next
    }

    pub(super) fn allocate(&mut self, key: K, due_ms: u64) -> Option<u32> {
        if self.free_head != NIL {
            let index = self.free_head;
            let node = self.node_mut(index);
            let following = node.next;
            node.key = Some(key);
            node.due_ms = due_ms;
            self.free_head = following;
            return Some(index);
        }
        let index = u32::try_from(self.nodes.len()).ok().filter(|&index| index != NIL)?;
        if self.nodes.len() == self.nodes.capacity() {
            // Grow by half rather than doubling: still amortised O(1), but at most a third of the
            // slab is slack, which matters at a campaign's 100,000 files times 32 bytes.
            self.nodes.reserve_exact(self.nodes.len() / 2);
        }
        self.nodes.push(Node { due_ms, prev: NIL, next: NIL, key: Some(key) });
        Some(index)
    }

    /// Put an unlinked node on the free list, handing back its key.
    pub(super) fn release(&mut self, index: u32) -> Option<K> {
        let free_head = self.free_head;
        self.free_head = index;
        let node = self.node_mut(index);
        node.next = free_head;
        node.prev = NIL;
        node.key.take()
    }

    /// Drop every entry node, keeping the list heads (all lists must already be empty).
    pub(super) fn clear_entries(&mut self) {
        self.nodes.truncate(SENTINELS as usize);
        self.free_head = NIL;
        if self.nodes.capacity() > SENTINELS as usize + KEEP_CAPACITY_WHEN_EMPTY {
            self.nodes.shrink_to_fit();
        }
    }

    pub(super) fn first_in(&self, list: u32) -> Option<u32> {
        let first = self.next_of(list);
        (first != list).then_some(first)
    }

    pub(super) fn mark_occupied(&mut self, list: u32) {
        if list < SLOT_LISTS {
            self.occupied[(list / SLOTS_PER_LEVEL) as usize] |= 1 << (list % SLOTS_PER_LEVEL);
        }
    }

    pub(super) fn mark_empty(&mut self, list: u32) {
        if list < SLOT_LISTS {
            self.occupied[(list / SLOTS_PER_LEVEL) as usize] &= !(1 << (list % SLOTS_PER_LEVEL));
        }
    }

    pub(super) fn link_at_tail(&mut self, list: u32, index: u32) {
        let tail = self.node(list).prev;
        self.node_mut(tail).next = index;
        let node = self.node_mut(index);
        node.prev = tail;
        node.next = list;
        self.node_mut(list).prev = index;
        self.mark_occupied(list);
    }

    pub(super) fn unlink(&mut self, index: u32) {
        let Node { prev, next, .. } = *self.node(index);
        self.node_mut(prev).next = next;
        self.node_mut(next).prev = prev;
        // Both neighbours are the same node only when that node is the list head, left alone.
        if prev == next {
            self.mark_empty(prev);
        }
    }

    /// Append all of `from`'s entries to `to`, keeping their order, in O(1).
    pub(super) fn move_all(&mut self, from: u32, to: u32) {
        let Some(first) = self.first_in(from) else {
            return;
        };
        let last = self.node(from).prev;
        let to_tail = self.node(to).prev;
        self.node_mut(to_tail).next = first;
        self.node_mut(first).prev = to_tail;
        self.node_mut(last).next = to;
        self.node_mut(to).prev = last;
        let head = self.node_mut(from);
        head.next = from;
        head.prev = from;
        self.mark_empty(from);
        self.mark_occupied(to);
    }

    pub(super) fn move_level(&mut self, level: usize, to: u32) {
        let mut slots = self.occupied[level];
        while slots != 0 {
            let slot = u64::from(slots.trailing_zeros());
            slots &= slots - 1;
            self.move_all(slot_list(level, slot), to);
        }
    }

    /// Empty `list`, returning its entries as a chain linked by `next` and ended by NIL.
    pub(super) fn take_chain(&mut self, list: u32) -> u32 {
        let Some(first) = self.first_in(list) else {
            return NIL;
        };
        let last = self.node(list).prev;
        self.node_mut(last).next = NIL;
        let list_head = self.node_mut(list);
        list_head.next = list;
        list_head.prev = list;
        self.mark_empty(list);
        first
    }

    pub(super) fn for_each_in(&self, list: u32, mut visit: impl FnMut(&K, u64)) {
        let mut node = self.next_of(list);
        while node != list {
            let entry = self.node(node);
            if let Some(key) = &entry.key {
                visit(key, entry.due_ms);
            }
            node = entry.next;
        }
    }

    pub(super) fn min_due_in(&self, list: u32) -> Option<u64> {
        let mut earliest = None;
        self.for_each_in(list, |_, due_ms| {
            earliest = Some(earliest.map_or(due_ms, |at: u64| at.min(due_ms)));
        });
        earliest
    }
}
