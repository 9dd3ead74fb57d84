//! (f) A campaign of 100,000 files held by its closed calling window, then opened: how long placing them
//! takes at the campaign's `maxrate`, the start rate reached, and Asterisk's CPU per file, against the
//! same files in the same campaign with no window (placed at once, behind the same `maxrate`).
//! pbx_spool_rs only: stock pbx_spool has no campaigns.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{instance, thousands, wait_quiet, RemovalCounter, FAIL_CALL};
use harness::bulk::{ami_only, count_entries, cpu_seconds, stage};
use harness::Spooler;

const FILES: usize = 100_000;
/// The campaign's `maxrate`: the limit the files are placed at (a call failing at once costs far less
/// than a millisecond of Asterisk's time), and 100,000 files take 100 s.
const RATE: usize = 1000;
/// How far ahead of the start the window opens: time to stage, rename and absorb 100,000 files.
const OPEN_AFTER: Duration = Duration::from_secs(90);

struct Placement {
    /// From the window's opening (or the renames, with no window) to the last file gone.
    seconds: Option<f64>,
    /// Asterisk CPU from before the renames until the last file is gone, per file.
    cpu_ms_per_file: f64,
    left: usize,
}

/// `hours = start-end` (UTC, to the second) for a window opening at `open` for six hours.
fn window_from(open: SystemTime) -> String {
    let clock = |t: SystemTime| {
        let s = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) % 86_400;
        format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    };
    format!("hours = {}-{}\ntimezone = UTC\n", clock(open), clock(open + Duration::from_secs(6 * 3600)))
}

fn place(held_by_window: bool) -> Placement {
    let open = SystemTime::now() + OPEN_AFTER;
    let window = if held_by_window { window_from(open) } else { String::new() };
    let conf = format!("[general]\n\n[bulk]\nmatch = f*.call\nmaxrate = {RATE}\n{window}");
    let ast = instance(Spooler::Rust, Some(&conf));
    ami_only(&ast, &[]);
    let pid = ast.pid();
    let outgoing = ast.outgoing_dir();
    let staged = stage(&ast, FILES, Some(SystemTime::now() - Duration::from_secs(1)), |_| FAIL_CALL.to_owned());
    let mut removals = RemovalCounter::new(&outgoing);
    let cpu0 = cpu_seconds(pid);
    // Unheld files start as soon as they arrive: the time runs from the first rename.
    let mut start = Instant::now();
    staged.rename_all();
    if held_by_window {
        // All absorbed and waiting for the window before it opens; nothing placed early.
        wait_quiet(pid, Instant::now() + Duration::from_secs(60));
        assert_eq!(removals.poll(), 0, "files placed before their window opened");
        let until_open = open.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO);
        assert!(until_open > Duration::ZERO, "the window opened before the files were absorbed");
        std::thread::sleep(until_open);
        start = Instant::now();
    }
    let limit = Duration::from_secs((FILES / RATE) as u64 * 3 + 60);
    let mut seconds = None;
    while start.elapsed() < limit && ast.is_alive() {
        std::thread::sleep(Duration::from_millis(100));
        if removals.poll() >= FILES || (removals.overflowed && count_entries(&outgoing) == 0) {
            seconds = Some(start.elapsed().as_secs_f64());
            break;
        }
    }
    Placement {
        seconds,
        cpu_ms_per_file: (cpu_seconds(pid) - cpu0) * 1000.0 / FILES as f64,
        left: count_entries(&outgoing),
    }
}

#[test]
#[ignore = "benchmark: make bench"]
fn f_held_campaign() {
    let load_before = crate::load_average();
    let mut out = format!("### (f) A campaign of {} files at maxrate = {RATE} (pbx_spool_rs)\n\n", thousands(FILES));
    out.push_str("| workload | time to place | start rate | Asterisk CPU per file | files left |\n");
    out.push_str("|---|---:|---:|---:|---:|\n");
    let mut cpu = Vec::new();
    for (held, workload) in [(false, "due at once, no window"), (true, "held by a closed window, then opened")] {
        eprintln!("bench f: {} files, {workload}", thousands(FILES));
        let run = place(held);
        cpu.push(run.cpu_ms_per_file);
        let (time, rate) = match run.seconds {
            Some(s) => (format!("{s:.1} s"), format!("{:.0}/s", FILES as f64 / s)),
            None => ("did not finish".to_string(), String::new()),
        };
        out.push_str(&format!(
            "| {workload} | {time} | {rate} | {:.3} ms | {} |\n",
            run.cpu_ms_per_file,
            thousands(run.left)
        ));
    }
    let same = cpu[1] <= cpu[0] * 1.2 + 0.01;
    out.push_str(&format!(
        "\nTarget: placed at the campaign's maxrate, CPU per held file within 20 % of an unheld one: {}\n",
        crate::met(same)
    ));
    out.push_str(&format!("{}\n", crate::machine_note(&load_before)));
    println!("{out}");
}
