//! (e) A shared spool: one server against three on the same spool directory, all with
//! `shared = yes`, on N files due at once (files/s, duplicates, claims lost, CPU per file), and the cost of
//! the periodic scan (`watch = scan`) over 10,000 and 100,000 queued files. pbx_spool_rs only: stock
//! pbx_spool has no shared mode (two of them dial every file twice).

use std::time::{Duration, Instant, SystemTime};

use crate::{thousands, DIALPLAN, FAIL_CALL, LOGGER};
use harness::bulk::{ami_only, count_entries, cpu_seconds, expect_spool_watch, file_number, stage, stage_range};
use harness::{wait_until, Asterisk, SharedSpool};

fn server(spool: &SharedSpool, node: &str, extra: &str) -> Asterisk {
    spool
        .server(node, extra)
        .extensions(DIALPLAN)
        .file("logger.conf", LOGGER)
        .verbose(0)
        .boot_timeout(Duration::from_secs(60))
        .start()
}

/// A number in `spool show status` after `label`.
fn status_number(ast: &Asterisk, label: &str) -> Option<f64> {
    let status = ast.try_cli("spool show status", Duration::from_secs(10))?;
    status.lines().find_map(|l| l.trim_start().strip_prefix(label)?.split_whitespace().next()?.parse().ok())
}

struct ClusterRun {
    seconds: f64,
    duplicates: usize,
    claims_lost: f64,
    cpu_ms_per_file: f64,
}

fn cluster(servers: usize, files: usize) -> Option<ClusterRun> {
    let spool = SharedSpool::new("bench-shared");
    let all: Vec<Asterisk> = (1..=servers).map(|i| server(&spool, &format!("b{i}"), "")).collect();
    for ast in &all {
        expect_spool_watch(ast);
        ami_only(ast, &["Event: SpoolAttempt"]);
    }
    let due = SystemTime::now() + Duration::from_secs(4);
    let staged = stage(&all[0], files, Some(due), |_| FAIL_CALL.to_owned());
    staged.rename_all();
    let cpu_before: f64 = all.iter().map(|a| cpu_seconds(a.pid())).sum();
    let attempts = || all.iter().map(|a| a.ami().count_events(|e| e.is_event("SpoolAttempt"))).sum::<usize>();
    let outgoing = spool.outgoing();
    let finished = wait_until(Duration::from_secs(180), || attempts() >= files && count_entries(&outgoing) == 0);
    let seconds = SystemTime::now().duration_since(due).unwrap_or_default().as_secs_f64();
    if !finished {
        eprintln!("bench e: {servers} server(s) did not finish {files} files in 180 s");
        return None;
    }
    let cpu: f64 = all.iter().map(|a| cpu_seconds(a.pid())).sum::<f64>() - cpu_before;
    let mut seen = std::collections::HashSet::new();
    for ast in &all {
        for e in ast.ami().events().iter().filter(|e| e.is_event("SpoolAttempt")) {
            seen.insert(file_number(e.get("File").unwrap_or_default()));
        }
    }
    let claims_lost = all.iter().filter_map(|a| status_number(a, "Claims lost to other servers")).sum();
    Some(ClusterRun {
        seconds,
        duplicates: attempts() - seen.len(),
        claims_lost,
        cpu_ms_per_file: cpu * 1000.0 / files as f64,
    })
}

/// What a `watch = scan` server spends on its periodic scans over a spool of queued files.
struct ScanCost {
    /// The last full read's wall time (ms), once it found all names and none new.
    full_read_ms: f64,
    /// Asterisk CPU per scan (ms) over 10 idle scans at 1 s: the directory is stat'ed, not read.
    idle_cpu_ms: f64,
    /// Asterisk CPU per scan (ms) over 10 scans at 1 s while one new file arrives every second: every
    /// scan reads the whole directory again.
    trickle_cpu_ms: f64,
}

/// The status line "Last scan": its first number (ms).
fn last_scan_ms(status: &str) -> Option<f64> {
    status.lines().find_map(|l| l.trim_start().strip_prefix("Last scan")?.split_whitespace().next()?.parse().ok())
}

/// Asterisk CPU per second (ms) over a 10 s window while `during` runs once a second.
fn cpu_per_scan(ast: &Asterisk, mut during: impl FnMut(usize)) -> f64 {
    let before = cpu_seconds(ast.pid());
    let started = Instant::now();
    for second in 0..10 {
        during(second);
        std::thread::sleep(Duration::from_secs(1)); // a measurement window, not a synchronisation
    }
    (cpu_seconds(ast.pid()) - before) * 1000.0 / started.elapsed().as_secs_f64()
}

fn scan_cost(files: usize) -> Option<ScanCost> {
    let spool = SharedSpool::new("bench-scan");
    let ast = server(&spool, "s1", "watch = scan\nscan_interval = 1000\n");
    let later = SystemTime::now() + Duration::from_secs(3600);
    let staged = stage(&ast, files, Some(later), |_| FAIL_CALL.to_owned());
    staged.rename_all();
    let mut full_read_ms = None;
    let settled = wait_until(Duration::from_secs(120), || {
        let status = ast.try_cli("spool show status", Duration::from_secs(10)).unwrap_or_default();
        let read_all = status.contains(&format!(", {files} names (0 new, 0 gone)"));
        if read_all && !status.contains("not read") {
            full_read_ms = last_scan_ms(&status);
        }
        read_all && full_read_ms.is_some()
    });
    let Some(full_read_ms) = full_read_ms.filter(|_| settled) else {
        eprintln!("bench e: the scan of {files} files never settled\n{}", ast.cli("spool show status"));
        return None;
    };
    // Idle: wait until the scans stop reading the unchanged directory, then measure.
    if !wait_until(Duration::from_secs(30), || ast.cli("spool show status").contains("directory unchanged: not read")) {
        eprintln!(
            "bench e: an idle spool of {files} files is still read at every scan\n{}",
            ast.cli("spool show status")
        );
        return None;
    }
    let idle_cpu_ms = cpu_per_scan(&ast, |_| {});
    // A trickle: one new (future-dated) file renamed in every second.
    let trickle = stage_range(&ast, files..files + 10, Some(later), |_| FAIL_CALL.to_owned());
    let trickle_cpu_ms = cpu_per_scan(&ast, |second| trickle.rename_one(second));
    Some(ScanCost { full_read_ms, idle_cpu_ms, trickle_cpu_ms })
}

#[test]
#[ignore = "benchmark: make bench"]
fn e_shared_spool() {
    const FILES: usize = 10_000;
    let mut out = String::from("### (e) Shared spool: one server against three (pbx_spool_rs, shared = yes)\n\n");
    out.push_str("| workload | servers | files/s | duplicates | claims lost | Asterisk CPU per file |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|\n");
    for servers in [1, 3] {
        eprintln!("bench e: {} files due at once, {servers} server(s)", thousands(FILES));
        match cluster(servers, FILES) {
            Some(run) => out.push_str(&format!(
                "| {} files due at once, failing at once | {servers} | {:.0} | {} | {:.0} | {:.2} ms |\n",
                thousands(FILES),
                FILES as f64 / run.seconds,
                run.duplicates,
                run.claims_lost,
                run.cpu_ms_per_file
            )),
            None => out.push_str(&format!("| {} files | {servers} | did not finish | | | |\n", thousands(FILES))),
        }
    }
    println!("{out}");
}

#[test]
#[ignore = "benchmark: make bench"]
fn e_scan_cost() {
    let mut out = String::from("### (e) Periodic scans: a `watch = scan` server over a queued spool\n\n");
    out.push_str(
        "| queued files (dated +1 h) | full read (wall) | Asterisk CPU per scan, idle | Asterisk CPU per scan, one new file a second |\n",
    );
    out.push_str("|---:|---:|---:|---:|\n");
    for files in [10_000, 100_000] {
        eprintln!("bench e: scan cost at {} files", thousands(files));
        match scan_cost(files) {
            Some(cost) => out.push_str(&format!(
                "| {} | {:.1} ms | {:.2} ms | {:.1} ms |\n",
                thousands(files),
                cost.full_read_ms,
                cost.idle_cpu_ms,
                cost.trickle_cpu_ms
            )),
            None => out.push_str(&format!("| {} | did not settle | | |\n", thousands(files))),
        }
    }
    println!("{out}");
}
