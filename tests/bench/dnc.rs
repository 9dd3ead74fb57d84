//! `f_dnc_list`: a do-not-call list of 1,000,000 numbers read, kept and searched with the spool's own code
//! (`pbx_spool_core::dnc`), without Asterisk: time to read and sort the file, heap bytes per number, the
//! cost of one lookup (listed and not listed numbers, in random order), and of the stat every attempt makes
//! to see whether the file changed. Stock pbx_spool has no such lists. Run alone with
//! `cargo test --release -p pbx_spool_rs --test bench dnc -- --ignored --nocapture`.

use std::fmt::Write as _;
use std::fs;
use std::hint::black_box;
use std::time::Instant;

use pbx_spool_core::dnc::{normalise, parse_list};

const NUMBERS: usize = 1_000_000;

/// xorshift64: the same list on every run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `count` numbers as an admin's export has them: national (`030...`, 10 or 11 digits) and international
/// (`+49 ...`) forms, a comment now and then.
fn list_text(count: usize, random: &mut Random) -> (String, Vec<Vec<u8>>) {
    let mut text = String::with_capacity(count * 16);
    let mut numbers = Vec::with_capacity(count);
    text.push_str("; do-not-call list, generated\n");
    for i in 0..count {
        let value = random.next() % 10_000_000_000;
        let written = match i % 4 {
            0 => format!("+49 {value:010}"),
            1 => format!("0{value:010} ; request {i}"),
            _ => format!("0{value:09}"),
        };
        let _ = writeln!(text, "{written}");
        let without_comment = written.split(';').next().unwrap_or_default();
        numbers.push(normalise(without_comment.as_bytes()).expect("a number"));
    }
    (text, numbers)
}

#[test]
#[ignore = "benchmark: make bench"]
fn f_dnc_list() {
    let load_before = super::load_average();
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    let (text, listed) = list_text(NUMBERS, &mut random);
    let path = std::env::temp_dir().join(format!("prs-bench-dnc-{}.txt", std::process::id()));
    fs::write(&path, &text).expect("write the list");

    // Read and sort, as a list is loaded: best of three (the first also warms the page cache).
    let mut load_ms = f64::MAX;
    let mut set = None;
    for _ in 0..3 {
        let started = Instant::now();
        let parsed = parse_list(&fs::read(&path).expect("read the list"));
        load_ms = load_ms.min(started.elapsed().as_secs_f64() * 1000.0);
        set = Some(parsed.numbers);
    }
    let set = set.expect("loaded");
    let distinct = set.len();
    let bytes_per_number = set.heap_bytes() as f64 / distinct as f64;

    // Lookups in random order: every listed number, then as many that are not listed.
    let mut order: Vec<usize> = (0..listed.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, (random.next() % (i as u64 + 1)) as usize);
    }
    // Copied in that order first, so both loops read their numbers from memory the same way.
    let hits: Vec<Vec<u8>> = order.iter().map(|&i| listed[i].clone()).collect();
    let started = Instant::now();
    let mut found = 0usize;
    for number in &hits {
        found += usize::from(set.line_of(black_box(number)).is_some());
    }
    let hit_ns = started.elapsed().as_secs_f64() * 1e9 / hits.len() as f64;
    assert_eq!(found, hits.len(), "every listed number is found");
    // National numbers of the same length as a quarter of the list, spread over the same keys: a random
    // one is listed with odds of 1 in 40,000.
    let misses: Vec<Vec<u8>> =
        (0..NUMBERS).map(|_| format!("0{:010}", random.next() % 10_000_000_000).into_bytes()).collect();
    let started = Instant::now();
    let mut wrongly = 0usize; // listed by chance
    for number in &misses {
        wrongly += usize::from(set.line_of(black_box(number)).is_some());
    }
    let miss_ns = started.elapsed().as_secs_f64() * 1e9 / misses.len() as f64;
    assert!(wrongly < 100, "{wrongly} random numbers found listed");

    // The stat each attempt makes per list.
    const STATS: usize = 100_000;
    let started = Instant::now();
    for _ in 0..STATS {
        black_box(fs::metadata(&path).expect("stat"));
    }
    let stat_ns = started.elapsed().as_secs_f64() * 1e9 / STATS as f64;
    let _ = fs::remove_file(&path);

    let mut out =
        String::from("### (f) Do-not-call list of 1,000,000 numbers (pbx_spool_rs; stock pbx_spool has none)\n\n");
    out.push_str("| metric | pbx_spool_rs |\n|---|---:|\n");
    let _ = writeln!(
        out,
        "| file ({} lines, {:.1} MB) read, parsed and sorted (best of 3) | {load_ms:.0} ms |",
        NUMBERS + 1,
        text.len() as f64 / 1e6
    );
    let _ = writeln!(out, "| distinct numbers kept | {} |", super::thousands(distinct));
    let _ = writeln!(out, "| heap per number | {bytes_per_number:.1} B |");
    let _ = writeln!(out, "| lookup, listed number (random order) | {hit_ns:.0} ns |");
    let _ = writeln!(out, "| lookup, number not listed | {miss_ns:.0} ns |");
    let _ = writeln!(out, "| stat of the list file before an attempt | {stat_ns:.0} ns |");
    let _ = writeln!(out, "\n- {}", super::machine_note(&load_before));
    println!("{out}");
}
