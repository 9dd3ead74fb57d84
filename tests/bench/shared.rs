//! (e) A shared spool: one server against three and five on the same spool directory, all with
//! `shared = yes`, on N files due at once (files/s, duplicates, claims lost, CPU per file, each server's
//! share of the attempts), three servers of which one is killed (kill -9) mid-run, and the cost of
//! the periodic scan (`watch = scan`) over 10,000 and 100,000 queued files. pbx_spool_rs only: stock
//! pbx_spool has no shared mode (two of them dial every file twice).

use std::time::{Duration, Instant, SystemTime};

use crate::{load_average, thousands, DIALPLAN, FAIL_CALL, LOGGER};
use harness::bulk::{
    ami_only, count_entries, cpu_seconds, expect_spool_watch, file_number, stage, stage_range, thread_cpu_seconds,
};
use harness::{wait_until, Asterisk, SharedSpool};

/// The module's spool thread, as it names itself.
const SPOOL_THREAD: &str = "pbx_spool_rs";

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
    /// Of that, the spool threads' (named `pbx_spool_rs`): watching, due times, whose turn, hand-off; the
    /// calls themselves run on the workers and Asterisk's own threads.
    spool_thread_ms_per_file: f64,
    /// Each server's attempts over the files.
    shares: Vec<f64>,
    /// The last rename came after the files' due time (the machine was too slow for the lead time): then
    /// some files were dialled while others were still being renamed in.
    renames_overran: bool,
    /// Kill run: attempts in progress at the killed server (their files are aborted and expired by the
    /// others; one dialled again would be a takeover, not a duplicate).
    in_progress_at_kill: usize,
}

/// Until every server counts `servers` live nodes (their heartbeats read), so the run starts with owners.
fn expect_live_nodes(all: &[Asterisk]) -> bool {
    all.iter()
        .all(|ast| wait_until(Duration::from_secs(30), || status_number(ast, "Live nodes") == Some(all.len() as f64)))
}

/// `files` due at once through `servers` servers; with `kill_one`, the first server is killed (kill -9) once a
/// sixth of the files have been attempted.
fn cluster(servers: usize, files: usize, kill_one: bool) -> Option<ClusterRun> {
    let spool = SharedSpool::new("bench-shared");
    let mut all: Vec<Asterisk> = (1..=servers).map(|i| server(&spool, &format!("b{i}"), "")).collect();
    for ast in &all {
        expect_spool_watch(ast);
        ami_only(ast, &["Event: SpoolAttempt", "Event: SpoolFinished"]);
    }
    if !expect_live_nodes(&all) {
        eprintln!("bench e: the {servers} servers never all saw each other's heartbeats");
        return None;
    }
    // Kill run: RetryTime 2, so that the attempts the killed server had started (dated RetryTime ahead by
    // their StartRetry) are finished by the others 2 s later, not after the default 300 s.
    let contents = if kill_one { format!("{FAIL_CALL}RetryTime: 2\n") } else { FAIL_CALL.to_owned() };
    let staged = stage(&all[0], files, None, |_| contents.clone());
    // Dated once written (writing 10,000 files can take longer than the lead time), so that every file
    // is in outgoing/ before it falls due: the CPU counted from the first rename is then every server's
    // whole cost per file, reading each new name included (on a shared spool every server reads every
    // name), and none of the dialling happens before it is counted.
    let due = SystemTime::now() + Duration::from_secs(4);
    staged.date_all(due);
    let cpu_before: Vec<f64> = all.iter().map(|a| cpu_seconds(a.pid())).collect();
    let spool_thread_before: Vec<f64> = all.iter().map(|a| thread_cpu_seconds(a.pid(), SPOOL_THREAD)).collect();
    staged.rename_all();
    let renames_overran = SystemTime::now() > due;
    let count = |ast: &Asterisk, event: &str| ast.ami().count_events(|e| e.is_event(event));
    let mut victim = None;
    if kill_one {
        let started = wait_until(Duration::from_secs(60), || {
            all.iter().map(|a| count(a, "SpoolAttempt")).sum::<usize>() >= files / 6
        });
        if !started {
            eprintln!("bench e: the kill run never got going");
            return None;
        }
        let cpu = cpu_seconds(all[0].pid()) - cpu_before[0];
        let spool_thread = thread_cpu_seconds(all[0].pid(), SPOOL_THREAD) - spool_thread_before[0];
        all[0].crash();
        victim = Some((all.remove(0), cpu, spool_thread));
    }
    let survivors = usize::from(kill_one);
    let victim_events = victim.as_ref().map(|(ast, _, _)| ast.ami().events()).unwrap_or_default();
    let finished_by_victim: std::collections::HashSet<Option<usize>> = victim_events
        .iter()
        .filter(|e| e.is_event("SpoolFinished"))
        .map(|e| file_number(e.get("File").unwrap_or_default()))
        .collect();
    let attempts = || {
        all.iter().map(|a| count(a, "SpoolAttempt")).sum::<usize>()
            + victim_events.iter().filter(|e| e.is_event("SpoolAttempt")).count()
    };
    let outgoing = spool.outgoing();
    // (The killed server's unfinished attempts count: their files are expired by the others, not dialled.)
    let finished = wait_until(Duration::from_secs(180), || attempts() >= files && count_entries(&outgoing) == 0);
    let seconds = SystemTime::now().duration_since(due).unwrap_or_default().as_secs_f64();
    if !finished {
        eprintln!("bench e: {servers} server(s) did not finish {files} files in 180 s");
        return None;
    }
    let spent = |of: &dyn Fn(&Asterisk) -> f64, before: &[f64], victims: f64| {
        all.iter().zip(&before[survivors..]).map(|(a, before)| of(a) - before).sum::<f64>() + victims
    };
    let cpu = spent(&|a| cpu_seconds(a.pid()), &cpu_before, victim.as_ref().map_or(0.0, |v| v.1));
    let spool_thread = spent(
        &|a| thread_cpu_seconds(a.pid(), SPOOL_THREAD),
        &spool_thread_before,
        victim.as_ref().map_or(0.0, |v| v.2),
    );
    let mut per_file: std::collections::HashMap<Option<usize>, usize> = std::collections::HashMap::new();
    let mut shares = Vec::new();
    let mut by_server: Vec<Vec<harness::Message>> = all.iter().map(|a| a.ami().events()).collect();
    if kill_one {
        by_server.insert(0, victim_events.clone());
    }
    for events in &by_server {
        let mine = events.iter().filter(|e| e.is_event("SpoolAttempt")).count();
        shares.push(mine as f64 / files as f64);
        for e in events.iter().filter(|e| e.is_event("SpoolAttempt")) {
            *per_file.entry(file_number(e.get("File").unwrap_or_default())).or_insert(0) += 1;
        }
    }
    // A file the killed server had started but not finished is dialled again by design (AbortRetry).
    let victim_unfinished: std::collections::HashSet<Option<usize>> = victim_events
        .iter()
        .filter(|e| e.is_event("SpoolAttempt"))
        .map(|e| file_number(e.get("File").unwrap_or_default()))
        .filter(|f| !finished_by_victim.contains(f))
        .collect();
    let mut duplicates = 0;
    for (file, n) in &per_file {
        let takeover = usize::from(*n > 1 && victim_unfinished.contains(file));
        duplicates += n - 1 - takeover;
    }
    let claims_lost = all.iter().filter_map(|a| status_number(a, "Claims lost to other servers")).sum();
    Some(ClusterRun {
        seconds,
        duplicates,
        claims_lost,
        cpu_ms_per_file: cpu * 1000.0 / files as f64,
        spool_thread_ms_per_file: spool_thread * 1000.0 / files as f64,
        shares,
        in_progress_at_kill: victim_unfinished.len(),
        renames_overran,
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
    let mut out =
        String::from("### (e) Shared spool: one server against three and five (pbx_spool_rs, shared = yes)\n\n");
    out.push_str(
        "| workload | servers | files/s | duplicates | claims lost | Asterisk CPU per file | of which spool threads | share per server |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---|\n");
    let load_before = load_average();
    let mut one_server = None;
    let mut targets = Vec::new();
    for (servers, kill_one) in [(1, false), (3, false), (5, false), (3, true)] {
        let workload = if kill_one {
            format!("{} files due at once, failing at once; b1 killed (kill -9) after 1/6", thousands(FILES))
        } else {
            format!("{} files due at once, failing at once", thousands(FILES))
        };
        eprintln!("bench e: {workload}, {servers} server(s)");
        match cluster(servers, FILES, kill_one) {
            Some(run) => {
                let shares: Vec<String> = run.shares.iter().map(|s| format!("{:.1} %", s * 100.0)).collect();
                let in_progress = if kill_one {
                    format!(
                        " ({} in progress at b1 when killed: aborted and expired by the others)",
                        run.in_progress_at_kill
                    )
                } else {
                    String::new()
                };
                let overran = if run.renames_overran { " (renames overran the due time)" } else { "" };
                out.push_str(&format!(
                    "| {workload}{overran} | {servers} | {:.0} ({:.1} s) | {}{in_progress} | {:.0} | {:.2} ms | {:.3} ms | {} |\n",
                    FILES as f64 / run.seconds,
                    run.seconds,
                    run.duplicates,
                    run.claims_lost,
                    run.cpu_ms_per_file,
                    run.spool_thread_ms_per_file,
                    shares.join(", ")
                ));
                match (servers, kill_one, one_server) {
                    (1, _, _) => one_server = Some(run.cpu_ms_per_file),
                    (_, false, Some(one)) => {
                        let above = (run.cpu_ms_per_file / one - 1.0) * 100.0;
                        let met = if above <= 10.0 { "met" } else { "not met" };
                        targets.push(format!(
                            "- Target: {servers} servers' summed Asterisk CPU per file within 10 % of one server's: {above:+.0} % ({met})"
                        ));
                    }
                    _ => {}
                }
            }
            None => out.push_str(&format!("| {workload} | {servers} | did not finish | | | | | |\n")),
        }
    }
    out.push('\n');
    for target in targets {
        out.push_str(&format!("{target}\n"));
    }
    out.push_str(&format!("\nLoad average before: {load_before}, after: {}\n", load_average()));
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
