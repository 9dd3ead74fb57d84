//! Unit tests of the timer wheel: its structural invariants, a reference model (a `BTreeMap`) over random
//! schedules, cancels and clock jumps both ways, and 100,000 and 1,000,000 entries fired in order. The
//! wheel's times are made up (a fixed start, a seeded generator); the only clock read times a run for its
//! log line. No I/O.

use super::slot_lists::SLOT_LISTS;
use super::*;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

/// 2026-01-01T00:00:00Z.
const START_MS: u64 = 1_767_225_600_000;
const YEAR_MS: u64 = 365 * 24 * 3600 * 1000;

/// xorshift64*: deterministic, good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            0
        } else {
            self.next() % bound
        }
    }
}

/// The reference: due order is (due time, insertion sequence).
#[derive(Default)]
struct Model {
    by_due: BTreeMap<(u64, u64), u32>,
    by_key: HashMap<u32, (u64, u64)>,
    sequence: u64,
}

impl Model {
    fn schedule(&mut self, key: u32, due_ms: u64) -> Option<u64> {
        if let Some(&(unchanged, _)) = self.by_key.get(&key).filter(|&&(at, _)| at == due_ms) {
            return Some(unchanged);
        }
        let previous = self.cancel(key);
        self.sequence += 1;
        self.by_due.insert((due_ms, self.sequence), key);
        self.by_key.insert(key, (due_ms, self.sequence));
        previous
    }

    fn cancel(&mut self, key: u32) -> Option<u64> {
        let (due_ms, sequence) = self.by_key.remove(&key)?;
        self.by_due.remove(&(due_ms, sequence));
        Some(due_ms)
    }

    fn expire(&mut self, now_ms: u64) -> Vec<(u32, u64)> {
        let mut fired = Vec::new();
        while let Some((&(due_ms, sequence), &key)) = self.by_due.iter().next() {
            if due_ms > now_ms {
                break;
            }
            self.by_due.remove(&(due_ms, sequence));
            self.by_key.remove(&key);
            fired.push((key, due_ms));
        }
        fired
    }

    fn earliest(&self, limit: usize) -> Vec<(u32, u64)> {
        self.by_due.iter().take(limit).map(|(&(due_ms, _), &key)| (key, due_ms)).collect()
    }
}

/// Every structural invariant: links, bitmaps, placement by `list_for`, index and free list.
fn check_invariants<K: Eq + Hash + Clone + fmt::Debug>(wheel: &TimerWheel<K>) {
    let lists = &wheel.lists;
    let mut linked = 0usize;
    for list in 0..SENTINELS {
        let mut previous = list;
        let mut node = lists.next_of(list);
        while node != list {
            assert!(node >= SENTINELS, "list {list} links another head");
            assert_eq!(lists.node(node).prev, previous, "broken back link in list {list}");
            let due_ms = lists.due_of(node);
            assert_eq!(list_for(wheel.now_ms, due_ms), list, "due {due_ms} misplaced at now {}", wheel.now_ms);
            let key = lists.node(node).key.as_ref().expect("linked node without key");
            assert_eq!(wheel.index.get(key), Some(&node));
            linked += 1;
            previous = node;
            node = lists.next_of(node);
        }
        assert_eq!(lists.node(list).prev, previous);
        if list < SLOT_LISTS {
            let bit = lists.occupied[(list / SLOTS_PER_LEVEL) as usize] >> (list % SLOTS_PER_LEVEL) & 1;
            assert_eq!(bit == 1, lists.first_in(list).is_some(), "bitmap wrong for list {list}");
        }
    }
    assert_eq!(linked, wheel.len());
    let mut free = 0usize;
    let mut node = lists.free_head;
    while node != NIL {
        assert!(lists.node(node).key.is_none());
        free += 1;
        node = lists.next_of(node);
    }
    assert_eq!(SENTINELS as usize + linked + free, lists.nodes.len());
    assert_eq!(wheel.iter().count(), wheel.len());
}

fn expired<K: Eq + Hash + Clone>(wheel: &mut TimerWheel<K>, now_ms: u64) -> Vec<(K, u64)> {
    let mut out = Vec::new();
    wheel.expire(now_ms, &mut out);
    out
}

fn random_due(rng: &mut Rng, now_ms: u64) -> u64 {
    match rng.below(14) {
        0..=2 => now_ms.saturating_add(rng.below(64)),
        3..=4 => now_ms.saturating_add(rng.below(10_000)),
        5 => now_ms.saturating_add(rng.below(100_000_000)),
        6 => now_ms.saturating_add(rng.below(1 << 46)),
        7 => now_ms.saturating_sub(rng.below(100)),
        8 => now_ms.saturating_sub(rng.below(1 << 30)),
        9 => now_ms.saturating_sub(rng.below(1 << 46)),
        10 => [0, 1, u64::MAX / 2, u64::MAX, now_ms][rng.below(5) as usize],
        11 => rng.next(),
        _ => now_ms.saturating_add(rng.below(300)),
    }
}

fn random_now(rng: &mut Rng, now_ms: u64) -> u64 {
    match rng.below(16) {
        0..=4 => now_ms.saturating_add(rng.below(40)),
        5..=7 => now_ms.saturating_add(rng.below(5_000)),
        8 => now_ms.saturating_add(rng.below(1 << 36)),
        9 => now_ms.saturating_add(rng.below(1 << 50)),
        10 => now_ms.saturating_sub(rng.below(50)),
        11 => now_ms.saturating_sub(rng.below(10_000_000)),
        12 => now_ms.saturating_sub(rng.below(1 << 45)),
        13 => [0, u64::MAX / 2, u64::MAX, START_MS][rng.below(4) as usize],
        14 => rng.next(),
        _ => now_ms,
    }
}

/// `expire_odds`: an operation drawn as an expiry runs as one only one time in this many, and as a
/// schedule otherwise, so that lists grow long between expiries.
fn run_model_test(seed: u64, operations: usize, key_space: u64, expire_odds: u64) {
    let mut rng = Rng(seed);
    let mut now_ms = START_MS;
    let mut wheel: TimerWheel<u32> = TimerWheel::new(now_ms);
    let mut model = Model::default();
    for step in 0..operations {
        let mut roll = rng.below(100);
        if (55..=79).contains(&roll) && rng.below(expire_odds) != 0 {
            roll = 0;
        }
        match roll {
            0..=44 => {
                let key = rng.below(key_space) as u32;
                let due_ms = random_due(&mut rng, now_ms);
                assert_eq!(wheel.schedule(key, due_ms), model.schedule(key, due_ms), "schedule, step {step}");
            }
            45..=54 => {
                let key = rng.below(key_space) as u32;
                assert_eq!(wheel.cancel(&key), model.cancel(key), "cancel, step {step}");
            }
            55..=79 => {
                now_ms = random_now(&mut rng, now_ms);
                assert_eq!(expired(&mut wheel, now_ms), model.expire(now_ms), "expire at {now_ms}, step {step}");
            }
            80..=89 => {
                let key = rng.below(key_space) as u32;
                let expected = model.by_key.get(&key).map(|&(due_ms, _)| due_ms);
                assert_eq!(wheel.due_of(&key), expected);
                assert_eq!(wheel.contains(&key), expected.is_some());
            }
            90..=94 => {
                let limit = rng.below(20) as usize;
                assert_eq!(wheel.earliest(limit), model.earliest(limit), "earliest, step {step}");
            }
            _ => {}
        }
        assert_eq!(wheel.next_due(), model.by_due.keys().next().map(|&(due_ms, _)| due_ms), "next_due, step {step}");
        assert_eq!(wheel.len(), model.by_key.len());
        assert_eq!(wheel.is_empty(), model.by_key.is_empty());
        // The full check walks every entry, so it runs less often when there are many.
        if step as u64 % (7 + key_space / 100) == 0 {
            check_invariants(&wheel);
        }
    }
    let mut listed: Vec<(u32, u64)> = wheel.iter().map(|(&key, due_ms)| (key, due_ms)).collect();
    listed.sort_unstable();
    let mut expected: Vec<(u32, u64)> = model.by_key.iter().map(|(&key, &(due_ms, _))| (key, due_ms)).collect();
    expected.sort_unstable();
    assert_eq!(listed, expected);
    assert_eq!(expired(&mut wheel, u64::MAX), model.expire(u64::MAX));
    assert!(wheel.is_empty());
    check_invariants(&wheel);
}

#[test]
fn matches_reference_model_with_many_keys() {
    for seed in 1..=12u64 {
        run_model_test(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15), 6_000, 400, 1);
    }
}

#[test]
fn matches_reference_model_with_few_keys_and_many_ties() {
    for seed in 100..=110u64 {
        run_model_test(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15), 4_000, 12, 1);
    }
}

#[test]
fn expires_in_due_order_with_ties_in_insertion_order() {
    let mut wheel = TimerWheel::new(START_MS);
    // "old" and "moved" are inserted first, at a high level; the others arrive after the wheel moved
    // on, at lower levels, with the same due time: insertion order must still win.
    let due_ms = START_MS + 100_000;
    wheel.schedule("old", due_ms);
    wheel.schedule("moved", due_ms);
    wheel.schedule("first", START_MS + 5);
    assert_eq!(expired(&mut wheel, START_MS + 99_990), vec![("first", START_MS + 5)]);
    wheel.schedule("second", due_ms);
    wheel.schedule("early", due_ms - 1);
    wheel.schedule("third", due_ms);
    // Scheduling again at the same time keeps the place; moving away and back makes it the newest.
    assert_eq!(wheel.schedule("old", due_ms), Some(due_ms));
    wheel.schedule("moved", due_ms + 1);
    wheel.schedule("moved", due_ms);
    assert_eq!(wheel.next_due(), Some(due_ms - 1));
    assert_eq!(
        expired(&mut wheel, u64::MAX),
        vec![("early", due_ms - 1), ("old", due_ms), ("second", due_ms), ("third", due_ms), ("moved", due_ms)]
    );
}

#[test]
fn lower_levels_hold_earlier_future_entries_and_higher_levels_earlier_past_ones() {
    // A slot index says nothing across levels: here the level-2 entry sits in slot 6 and the level-0
    // one in slot 60, yet the level-0 one is due first. Mirrored for the past.
    let base = START_MS & !((1 << 18) - 1);
    let now_ms = base + 5 * 4096 + 62 * 64 + 10;
    let mut wheel = TimerWheel::new(now_ms);
    let (level0, level1, level2) = (now_ms + 50, now_ms + 64, now_ms + 128);
    assert_eq!(list_for(now_ms, level0), slot_list(0, 60));
    assert_eq!(list_for(now_ms, level1), slot_list(1, 63));
    assert_eq!(list_for(now_ms, level2), slot_list(2, 6));
    wheel.schedule("level2", level2);
    wheel.schedule("level1", level1);
    wheel.schedule("level0", level0);
    wheel.next_due_memo.set(NextDueMemo::Unknown);
    assert_eq!(wheel.next_due(), Some(level0));
    wheel.cancel(&"level0");
    assert_eq!(wheel.next_due(), Some(level1));
    wheel.schedule("level0", level0);
    assert_eq!(expired(&mut wheel, u64::MAX), vec![("level0", level0), ("level1", level1), ("level2", level2)]);

    let now_ms = base + 5 * 4096 + 64 + 10;
    let mut wheel = TimerWheel::new(now_ms);
    let (level0, level1, level2) = (now_ms - 5, now_ms - 64, now_ms - 128);
    assert_eq!(list_for(now_ms, level0), slot_list(0, 5));
    assert_eq!(list_for(now_ms, level1), slot_list(1, 0));
    assert_eq!(list_for(now_ms, level2), slot_list(2, 4));
    wheel.schedule("level0", level0);
    wheel.schedule("level1", level1);
    wheel.schedule("level2", level2);
    wheel.next_due_memo.set(NextDueMemo::Unknown);
    assert_eq!(wheel.next_due(), Some(level2));
    assert_eq!(expired(&mut wheel, now_ms), vec![("level2", level2), ("level1", level1), ("level0", level0)]);
}

#[test]
fn next_due_is_exact_inside_a_higher_level_slot() {
    let mut wheel = TimerWheel::new(START_MS);
    for offset in [900_000u64, 5_000, 123_456, 5_001, 4_999_999] {
        wheel.schedule(offset, START_MS + offset);
    }
    wheel.cancel(&5_000);
    assert_eq!(wheel.next_due(), Some(START_MS + 5_001));
    assert!(expired(&mut wheel, START_MS + 5_000).is_empty());
    assert_eq!(wheel.next_due(), Some(START_MS + 5_001));
    assert_eq!(expired(&mut wheel, START_MS + 5_001), vec![(5_001, START_MS + 5_001)]);
    assert_eq!(wheel.next_due(), Some(START_MS + 123_456));
}

#[test]
fn clock_stepping_back_fires_only_what_is_due() {
    let mut wheel = TimerWheel::new(START_MS);
    wheel.schedule("a", START_MS + 1_000);
    wheel.schedule("b", START_MS + 3_600_000);
    assert_eq!(expired(&mut wheel, START_MS + 2_000), vec![("a", START_MS + 1_000)]);
    // The clock steps back an hour; files written now carry mtimes before the wheel's old time.
    let back_ms = START_MS - 3_600_000;
    assert!(expired(&mut wheel, back_ms).is_empty());
    wheel.schedule("c", back_ms + 10);
    wheel.schedule("d", back_ms - 10);
    assert_eq!(wheel.next_due(), Some(back_ms - 10));
    assert_eq!(expired(&mut wheel, back_ms + 5), vec![("d", back_ms - 10)]);
    assert!(expired(&mut wheel, back_ms).is_empty());
    assert_eq!(expired(&mut wheel, back_ms + 10), vec![("c", back_ms + 10)]);
    assert_eq!(wheel.due_of(&"b"), Some(START_MS + 3_600_000));
    assert_eq!(expired(&mut wheel, START_MS + 3_600_000), vec![("b", START_MS + 3_600_000)]);
}

#[test]
fn scheduling_in_the_past_fires_at_the_next_expire() {
    let mut wheel = TimerWheel::new(START_MS);
    wheel.schedule("recent", START_MS - 5);
    wheel.schedule("old", START_MS - 10 * YEAR_MS);
    wheel.schedule("epoch", 0);
    wheel.schedule("now", START_MS);
    assert_eq!(wheel.next_due(), Some(0));
    assert_eq!(
        expired(&mut wheel, START_MS),
        vec![("epoch", 0), ("old", START_MS - 10 * YEAR_MS), ("recent", START_MS - 5), ("now", START_MS)]
    );
    assert!(wheel.is_empty());
    assert_eq!(wheel.next_due(), None);
}

#[test]
fn far_future_and_extreme_due_times() {
    let mut wheel = TimerWheel::new(START_MS);
    let year_2100 = 4_102_444_800_000u64;
    let year_2500 = 16_725_225_600_000u64; // beyond the wheel's 139-year range: overflow
    wheel.schedule("2100", year_2100);
    wheel.schedule("2500", year_2500);
    wheel.schedule("half", u64::MAX / 2);
    wheel.schedule("max", u64::MAX);
    wheel.schedule("zero", 0);
    check_invariants(&wheel);
    assert_eq!(wheel.next_due(), Some(0));
    assert_eq!(expired(&mut wheel, START_MS), vec![("zero", 0)]);
    assert_eq!(wheel.next_due(), Some(year_2100));
    assert!(expired(&mut wheel, year_2100 - 1).is_empty());
    check_invariants(&wheel);
    assert_eq!(expired(&mut wheel, year_2100 + YEAR_MS), vec![("2100", year_2100)]);
    assert_eq!(wheel.next_due(), Some(year_2500));
    // One jump over centuries does not walk the range: it fires what is due and keeps the rest.
    assert_eq!(expired(&mut wheel, u64::MAX / 2 - 1), vec![("2500", year_2500)]);
    check_invariants(&wheel);
    assert_eq!(wheel.next_due(), Some(u64::MAX / 2));
    assert_eq!(expired(&mut wheel, u64::MAX / 2), vec![("half", u64::MAX / 2)]);
    assert_eq!(expired(&mut wheel, u64::MAX), vec![("max", u64::MAX)]);
    // And back from the end of time.
    wheel.schedule("zero", 0);
    assert!(expired(&mut wheel, 0).len() == 1 && wheel.is_empty());
}

#[test]
fn reschedule_cancel_and_lookups() {
    let mut wheel: TimerWheel<Box<str>> = TimerWheel::new(START_MS);
    let name: Box<str> = "q1.call".into();
    assert_eq!(wheel.schedule(name.clone(), START_MS + 10), None);
    assert_eq!(wheel.schedule(name.clone(), START_MS + 20), Some(START_MS + 10));
    assert_eq!(wheel.due_of(&name), Some(START_MS + 20));
    assert!(wheel.contains(&name));
    assert_eq!(wheel.next_due(), Some(START_MS + 20));
    assert_eq!(wheel.cancel(&name), Some(START_MS + 20));
    assert_eq!(wheel.cancel(&name), None);
    assert!(!wheel.contains(&name) && wheel.is_empty());
    assert_eq!(wheel.next_due(), None);
    assert!(expired(&mut wheel, u64::MAX).is_empty());
    assert!(wheel.earliest(5).is_empty());
}

#[test]
fn earliest_lists_in_due_order() {
    let mut wheel: TimerWheel<Arc<str>> = TimerWheel::new(START_MS);
    let offsets = [70_000u64, 3, 3, 900, 4_000_000, 0, 65];
    for (number, offset) in offsets.iter().enumerate() {
        wheel.schedule(Arc::from(format!("{number}.call")), START_MS + offset);
    }
    let shown: Vec<(String, u64)> =
        wheel.earliest(4).into_iter().map(|(key, due_ms)| (key.to_string(), due_ms - START_MS)).collect();
    let expected = [("5.call", 0), ("1.call", 3), ("2.call", 3), ("6.call", 65)];
    assert_eq!(shown, expected.map(|(key, offset)| (key.to_string(), offset)));
    assert_eq!(wheel.earliest(100).len(), offsets.len());
    let keys: HashSet<&str> = wheel.iter().map(|(key, _)| &**key).collect();
    assert_eq!(keys.len(), offsets.len());
}

#[test]
fn memory_is_given_back_when_empty() {
    let mut wheel = TimerWheel::new(START_MS);
    for key in 0..20_000u32 {
        wheel.schedule(key, START_MS + u64::from(key));
    }
    assert_eq!(expired(&mut wheel, START_MS + 30_000).len(), 20_000);
    assert_eq!(wheel.lists.nodes.len(), SENTINELS as usize);
    assert!(wheel.lists.nodes.capacity() <= KEEP_CAPACITY_WHEN_EMPTY);
    assert!(wheel.index.capacity() <= KEEP_CAPACITY_WHEN_EMPTY);
    wheel.schedule(1, START_MS);
    check_invariants(&wheel);
}

/// Schedule `entries` keys within an hour, move every one (a tenth into the past, half into the next
/// hour), then expire in steps of about 3 s, checking each key fires once, at its due time, in order.
fn schedule_move_and_expire_all(entries: u64) {
    let started = Instant::now();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut wheel = TimerWheel::new(START_MS);
    for key in 0..entries {
        assert_eq!(wheel.schedule(key, START_MS + rng.below(3_600_000)), None);
    }
    assert_eq!(wheel.len(), entries as usize);
    let mut due_times = Vec::with_capacity(entries as usize);
    for key in 0..entries {
        let due_ms = match key % 10 {
            0 => START_MS - rng.below(10_000),
            1..=5 => START_MS + 3_600_000 + rng.below(3_600_000),
            _ => START_MS + rng.below(3_600_000),
        };
        assert!(wheel.schedule(key, due_ms).is_some());
        due_times.push(due_ms);
    }
    let mut fired = Vec::new();
    let mut fired_already = vec![false; entries as usize];
    let (mut now_ms, mut last_due, mut total, mut calls) = (START_MS, 0, 0usize, 0u64);
    while !wheel.is_empty() {
        let next = wheel.next_due().expect("entries remain");
        assert!(next >= last_due);
        calls += 1;
        // Mostly 3 s steps; every seventh call straight to the next due time, as the spooler does.
        now_ms = if calls % 7 == 0 { next.max(now_ms) } else { now_ms + 3_000 };
        fired.clear();
        wheel.expire(now_ms, &mut fired);
        for &(key, due_ms) in &fired {
            assert!(due_ms >= last_due && due_ms <= now_ms);
            assert_eq!(due_times[key as usize], due_ms);
            assert!(!std::mem::replace(&mut fired_already[key as usize], true));
            last_due = due_ms;
        }
        total += fired.len();
    }
    assert_eq!(total, entries as usize);
    assert_eq!(wheel.next_due(), None);
    eprintln!("{entries} entries scheduled, moved and expired in {:?}", started.elapsed());
}

/// The size of one campaign drop.
#[test]
fn one_hundred_thousand_entries() {
    schedule_move_and_expire_all(100_000);
}

/// Over 2 s in a debug build (the unoptimised hash map alone takes most of it): run with
/// `cargo test --release`.
#[test]
#[cfg_attr(debug_assertions, ignore = "slow without optimisation; runs under --release")]
fn one_million_entries() {
    schedule_move_and_expire_all(1_000_000);
}

#[test]
fn radix_sort_is_stable_and_sorted() {
    let mut rng = Rng(77);
    for (len, spread) in [(0, 1), (5, 3), (63, 1 << 40), (64, 1), (500, 1 << 12), (5_000, 1 << 30), (3_000, u64::MAX)] {
        let mut entries: Vec<(u64, u32)> = (0..len).map(|position| (rng.below(spread), position)).collect();
        entries.push((u64::MAX, NIL - 1));
        entries.push((0, NIL - 2));
        let mut expected = entries.clone();
        expected.sort_by_key(|&(due_ms, _)| due_ms);
        sort_by_due_stable(&mut entries, &mut Vec::new());
        assert_eq!(entries, expected, "{len} entries spread over {spread}");
    }
}

#[test]
fn matches_reference_model_with_large_slots() {
    // Thousands of keys and rare expiries, so the lists being fired are long enough for the radix
    // sort path.
    for seed in 200..=204u64 {
        run_model_test(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15), 20_000, 5_000, 40);
    }
}
