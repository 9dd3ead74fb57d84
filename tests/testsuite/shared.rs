//! Several Asterisk servers on one shared spool: three instances, each with its own
//! configuration, run directory and AMI port, all with `shared = yes` on one spool directory. Every file
//! must be dialled exactly once across the three, with inotify and with scans only, through a kill -9
//! (the dead server's attempts aborted and finished by the others), an unload/reload and a late start.
//!
//! Counts come from each server's AMI history (`SpoolAttempt`/`SpoolFinished`, which carry `Node:`), and
//! from the archived files' own bookkeeping lines: a file whose lines show two attempts started without
//! one ended in between had two calls up at once.

use std::collections::HashMap;
use std::fs;
use std::time::{Duration, Instant, SystemTime};

use harness::bulk::{ami_only, count_entries, expect_spool_watch, file_number, not_exactly_once, per_file, stage};
use harness::{wait_until, Asterisk, Message, SharedSpool, RUST_SO};

const DIALPLAN: &str = "\
[fail]
exten => s,1,Hangup()

[ring]
exten => s,1,Wait(4)
 same => n,Hangup()

[answer]
exten => s,1,Answer()
 same => n,Wait(1)
 same => n,Hangup()
";

/// Fails at once and expires (one attempt): the cheapest file a spooler can finish.
fn quick_file(_: usize) -> String {
    "Channel: Local/s@fail\nApplication: NoOp\nMaxRetries: 0\nArchive: no\n".to_owned()
}

const NODES: [&str; 3] = ["ast1", "ast2", "ast3"];

fn server(spool: &SharedSpool, node: &str, extra: &str) -> Asterisk {
    spool.server(node, extra).name(&format!("shared-{node}")).extensions(DIALPLAN).start()
}

fn only_spool_events(ast: &Asterisk) {
    ami_only(ast, &["Event: SpoolAttempt", "Event: SpoolFinished"]);
}

/// How many times each file number appears in the events named `event` of every server.
fn per_file_across(servers: &[&Asterisk], event: &str) -> HashMap<usize, usize> {
    let events: Vec<Message> = servers.iter().flat_map(|ast| ast.ami().events()).collect();
    per_file(&events, |e| e.is_event(event))
}

fn count(ast: &Asterisk, event: &str) -> usize {
    ast.ami().count_events(|e: &Message| e.is_event(event))
}

fn total(servers: &[&Asterisk], event: &str) -> usize {
    servers.iter().map(|ast| count(ast, event)).sum()
}

fn diagnostics(servers: &[&Asterisk]) -> String {
    servers.iter().map(|ast| ast.diagnostics()).collect::<Vec<_>>().join("\n")
}

/// `files` quick files through `servers`: each dialled and finished exactly once, nothing left, every
/// server's events named after it. Returns each server's share of the attempts.
fn expect_exactly_once(spool: &SharedSpool, servers: &[&Asterisk], files: usize, timeout: Duration) -> Vec<usize> {
    let outgoing = spool.outgoing();
    let done = wait_until(timeout, || total(servers, "SpoolFinished") >= files && count_entries(&outgoing) == 0);
    assert!(
        done,
        "after {timeout:?}: {} files left, {} of {files} finished\n{}",
        count_entries(&outgoing),
        total(servers, "SpoolFinished"),
        diagnostics(servers)
    );
    assert_eq!(not_exactly_once(&per_file_across(servers, "SpoolAttempt"), files), vec![], "attempted other than once");
    assert_eq!(not_exactly_once(&per_file_across(servers, "SpoolFinished"), files), vec![], "finished other than once");
    for ast in servers {
        let node = ast.name().trim_start_matches("shared_").to_string();
        let events = ast.ami().events();
        let foreign = events.iter().filter(|e| e.is_event("SpoolAttempt")).find(|e| !e.has("Node", &node));
        assert!(foreign.is_none(), "{node}'s events carry Node: {node}: {foreign:?}");
    }
    servers.iter().map(|ast| count(ast, "SpoolAttempt")).collect()
}

#[test]
fn three_servers_dial_five_thousand_files_exactly_once() {
    const FILES: usize = 5_000;
    let spool = SharedSpool::new("five-thousand");
    let servers: Vec<Asterisk> = NODES.iter().map(|node| server(&spool, node, "")).collect();
    let all: Vec<&Asterisk> = servers.iter().collect();
    for ast in &all {
        expect_spool_watch(ast);
        only_spool_events(ast);
    }
    let staged = stage(all[0], FILES, None, quick_file);
    let started = Instant::now();
    staged.rename_all();
    let shares = expect_exactly_once(&spool, &all, FILES, Duration::from_secs(120));
    eprintln!("{FILES} files through three servers in {:?}; attempts per server {shares:?}", started.elapsed());
    assert!(shares.iter().all(|&share| share > 0), "the work is spread over the three: {shares:?}");
    let status = all[0].cli("spool show status");
    assert!(status.contains("Claims lost to other servers"), "{status}");
    assert!(status.contains("node") && status.contains("ast1"), "{status}");
}

#[test]
fn three_servers_without_inotify_find_every_file_by_scanning() {
    const FILES: usize = 2_000;
    const INTERVAL_MS: u64 = 500;
    let spool = SharedSpool::new("scan-only");
    let extra = format!("watch = scan\nscan_interval = {INTERVAL_MS}\n");
    let servers: Vec<Asterisk> = NODES.iter().map(|node| server(&spool, node, &extra)).collect();
    let all: Vec<&Asterisk> = servers.iter().collect();
    for ast in &all {
        only_spool_events(ast);
    }
    // Dated 3 s ahead: the first attempt must come at that date, at the latest a scan interval after it
    // (plus the time a loaded 2-core machine takes to get there).
    // Dated once staged (writing them takes long on a network file system). Lateness counts from when the
    // files were both due and in outgoing/.
    let staged = stage(all[0], FILES, None, quick_file);
    let due = SystemTime::now() + Duration::from_secs(3);
    staged.date_all(due);
    staged.rename_all();
    let in_place = SystemTime::now().max(due);
    let first = wait_until(Duration::from_secs(60), || total(&all, "SpoolAttempt") > 0);
    let first_at = SystemTime::now();
    assert!(first, "no attempt within 60 s\n{}", diagnostics(&all));
    assert!(first_at + Duration::from_millis(50) >= due, "attempted before its date");
    let late = first_at.duration_since(in_place).unwrap_or_default();
    assert!(late < Duration::from_millis(INTERVAL_MS + 2_000), "first attempt {late:?} after its date");
    let shares = expect_exactly_once(&spool, &all, FILES, Duration::from_secs(120));
    eprintln!("scan only: attempts per server {shares:?}");
    assert!(shares.iter().all(|&share| share > 0), "the work is spread over the three: {shares:?}");
    let status = all[1].cli("spool show status");
    assert!(status.contains("Last scan") && status.contains("watch"), "{status}");
}

/// The bookkeeping lines of a finished file: every attempt started must be ended (EndRetry) or aborted
/// before the next one starts, else two calls were up at once.
fn attempts_never_overlap(text: &str) -> Result<(), String> {
    let mut open = false;
    for line in text.lines() {
        if line.starts_with("StartRetry:") {
            if open {
                return Err(format!("two attempts up at once:\n{text}"));
            }
            open = true;
        } else if line.starts_with("EndRetry:") || line.starts_with("AbortRetry:") {
            open = false;
        }
    }
    Ok(())
}

#[test]
fn a_killed_servers_attempts_are_aborted_and_finished_by_the_others() {
    const FILES: usize = 60;
    let spool = SharedSpool::new("kill-9");
    let mut servers: Vec<Asterisk> = NODES.iter().map(|node| server(&spool, node, "")).collect();
    for ast in &servers {
        expect_spool_watch(ast);
        only_spool_events(ast);
    }
    // Each attempt rings 4 s and fails; RetryTime 2 s, so at any moment files are ringing, waiting for a
    // retry, and falling due at other servers while still ringing at their owner.
    let ring =
        |_: usize| "Channel: Local/s@ring\nApplication: NoOp\nMaxRetries: 2\nRetryTime: 2\nArchive: yes\n".to_owned();
    let staged = stage(&servers[0], FILES, None, ring);
    staged.rename_all();
    // ast1 must have calls up and files in retry when it dies.
    let victim_busy = wait_until(Duration::from_secs(60), || {
        count(&servers[0], "SpoolAttempt") >= 3 && count(&servers[0], "SpoolFinished") == 0
    });
    assert!(victim_busy, "ast1 never had calls in progress\n{}", servers[0].diagnostics());
    servers[0].crash();
    let victim_events = servers[0].ami().events();
    let mut in_progress: HashMap<String, usize> = HashMap::new();
    for e in &victim_events {
        let file = e.get("File").unwrap_or_default().rsplit('/').next().unwrap_or_default().to_string();
        if e.is_event("SpoolAttempt") {
            *in_progress.entry(file).or_insert(0) += 1;
        } else if e.is_event("SpoolFinished") {
            in_progress.remove(&file);
        }
    }
    assert!(!in_progress.is_empty(), "ast1 had no call in progress when killed");

    let survivors: Vec<&Asterisk> = servers[1..].iter().collect();
    let outgoing = spool.outgoing();
    let finished = wait_until(Duration::from_secs(150), || count_entries(&outgoing) == 0);
    assert!(finished, "{} files never finished\n{}", count_entries(&outgoing), diagnostics(&survivors));
    assert_eq!(count_entries(&spool.done()), FILES, "every file archived");
    for entry in fs::read_dir(spool.done()).unwrap() {
        let entry = entry.unwrap();
        let text = fs::read_to_string(entry.path()).unwrap();
        attempts_never_overlap(&text).unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if in_progress.contains_key(&name) {
            assert!(text.contains("\nAbortRetry: "), "ast1's unfinished attempt on {name} is aborted:\n{text}");
        }
    }
    // Finished exactly once, by the survivors for whatever ast1 did not finish.
    let mut finishes = per_file_across(&survivors, "SpoolFinished");
    for e in victim_events.iter().filter(|e| e.is_event("SpoolFinished")) {
        *finishes.entry(file_number(e.get("File").unwrap_or_default()).unwrap()).or_insert(0) += 1;
    }
    assert_eq!(not_exactly_once(&finishes, FILES), vec![], "finished other than once");
    for name in in_progress.keys() {
        let number = file_number(name).unwrap();
        let taken_over = per_file_across(&survivors, "SpoolAttempt").get(&number).copied().unwrap_or(0);
        assert!(taken_over > 0, "{name}, ringing at ast1 when it died, was dialled again by a survivor");
    }
    let status = survivors[0].cli("spool show status");
    eprintln!("{status}");
}

#[test]
fn a_server_unloaded_and_reloaded_and_one_started_late_lose_and_double_nothing() {
    const FILES: usize = 3_000;
    let spool = SharedSpool::new("unload-late");
    // Paced (maxrate is per server), so that work is left for the late server when it has booted.
    const PACED: &str = "maxrate = 200\n";
    let first: Vec<Asterisk> = NODES[..2].iter().map(|node| server(&spool, node, PACED)).collect();
    for ast in &first {
        expect_spool_watch(ast);
        only_spool_events(ast);
    }
    let staged = stage(&first[0], FILES, None, quick_file);
    staged.rename_all();
    let ast2 = &first[1];
    assert!(wait_until(Duration::from_secs(60), || count(ast2, "SpoolAttempt") >= 200), "{}", ast2.diagnostics());
    // Unloading is refused while a call is being placed: ask again until it goes.
    let unloaded = wait_until(Duration::from_secs(30), || {
        ast2.cli(&format!("module unload {RUST_SO}"));
        !ast2.module_loaded(RUST_SO)
    });
    assert!(unloaded, "ast2 could not unload pbx_spool_rs\n{}", ast2.diagnostics());
    let late = server(&spool, NODES[2], PACED);
    only_spool_events(&late);
    let reloaded = ast2.cli(&format!("module load {RUST_SO}"));
    assert!(ast2.module_loaded(RUST_SO), "{reloaded}");
    let all = [&first[0], &first[1], &late];
    let shares = expect_exactly_once(&spool, &all, FILES, Duration::from_secs(120));
    eprintln!("unload/reload and late start: attempts per server {shares:?}");
    assert!(shares[2] > 0, "the late server took part: {shares:?}");
}

#[test]
fn a_scan_waits_for_a_file_still_being_written_in_place() {
    // Without inotify nothing says when a local writer is done: a file still open for writing when a scan
    // finds it is left alone until its writer closes it (or the creation grace ends), not read half-written.
    let spool = SharedSpool::new("scan-in-place");
    let ast = server(&spool, "ast1", "watch = scan\nscan_interval = 200\n");
    let path = spool.outgoing().join("f000000.call");
    let mut file = fs::File::create(&path).unwrap();
    use std::io::Write;
    file.write_all(b"Channel: Local/s@fail\n").unwrap();
    file.sync_all().unwrap();
    ast.expect_until("a scan to find the file being written", Duration::from_secs(20), || {
        let status = ast.cli("spool show status");
        status.lines().any(|l| l.trim_start().starts_with("Being written") && l.trim_end().ends_with(" 1"))
    });
    file.write_all(b"Application: NoOp\nMaxRetries: 0\nArchive: no\n").unwrap();
    drop(file);
    let finished = ast.expect_event("the file to finish", Duration::from_secs(20), |e| e.is_event("SpoolFinished"));
    assert!(
        finished.has("Status", "Expired"),
        "read whole, dialled once and expired, not refused as invalid:\n{finished}"
    );
    assert_eq!(count(&ast, "SpoolAttempt"), 1);
}

#[test]
fn a_kept_file_is_not_dialled_again_by_another_server() {
    // AlwaysDelete: no keeps a completed file until its StartRetry date; its last StartRetry looks
    // unfinished, so the server that finished it keeps it claimed until it removes it.
    let spool = SharedSpool::new("kept");
    let servers: Vec<Asterisk> = NODES[..2].iter().map(|node| server(&spool, node, "")).collect();
    let all: Vec<&Asterisk> = servers.iter().collect();
    for ast in &all {
        expect_spool_watch(ast);
        only_spool_events(ast);
    }
    let path = all[0].drop_call_file(
        "f000000.call",
        "Channel: Local/s@answer\nApplication: Wait\nData: 1\nRetryTime: 3\nAlwaysDelete: no\nArchive: yes\n",
    );
    let finished = wait_until(Duration::from_secs(30), || total(&all, "SpoolFinished") == 1);
    assert!(finished, "{}", diagnostics(&all));
    assert!(path.exists(), "kept in place until its date");
    // Removed at its date (3 s after the attempt started) by the server that finished it, not dialled again.
    assert!(wait_until(Duration::from_secs(30), || !path.exists()), "{}", diagnostics(&all));
    let archived = fs::read_to_string(spool.done().join("f000000.call")).unwrap();
    assert!(!archived.contains("AbortRetry"), "{archived}");
    assert_eq!(total(&all, "SpoolAttempt"), 1, "{}", diagnostics(&all));
    assert_eq!(total(&all, "SpoolFinished"), 1);
}

#[test]
fn a_kept_file_stays_with_its_server_across_that_servers_crash_and_restart() {
    // As above, but the server that kept the file is killed and started again before its date: it finds
    // the file in its own state file (one per node: the spool directory is shared), claims it again and
    // removes it at its date. Nobody dials it again, and nobody takes its attempt for a dead server's.
    let spool = SharedSpool::new("kept-restart");
    let mut servers: Vec<Asterisk> = NODES[..2].iter().map(|node| server(&spool, node, "")).collect();
    for ast in &servers {
        expect_spool_watch(ast);
        only_spool_events(ast);
    }
    let path = servers[0].drop_call_file(
        "f000000.call",
        "Channel: Local/s@answer\nApplication: Wait\nData: 1\nRetryTime: 12\nAlwaysDelete: no\nArchive: yes\n",
    );
    let finished =
        wait_until(Duration::from_secs(30), || total(&servers.iter().collect::<Vec<_>>(), "SpoolFinished") == 1);
    assert!(finished, "{}", diagnostics(&servers.iter().collect::<Vec<_>>()));
    let keeper = servers.iter().position(|ast| count(ast, "SpoolFinished") == 1).unwrap();
    let other = 1 - keeper;
    let state_of = |node: &str| spool.dir().join(format!("pbx_spool_rs.state.{node}"));
    let recorded = wait_until(Duration::from_secs(10), || {
        fs::read_to_string(state_of(NODES[keeper])).is_ok_and(|t| t.contains("\nkept f000000.call "))
    });
    assert!(recorded, "not in {}", state_of(NODES[keeper]).display());
    assert!(!state_of(NODES[other]).exists(), "the other server recorded a file it did not keep");
    assert!(!spool.dir().join("pbx_spool_rs.state").exists(), "a state file shared by the nodes");
    let kept = fs::read_to_string(&path).unwrap();

    servers[keeper].crash();
    servers[keeper].restart();
    expect_spool_watch(&servers[keeper]);
    only_spool_events(&servers[keeper]);
    servers[keeper].expect_log("f000000.call was kept by AlwaysDelete: no before the restart", Duration::from_secs(20));
    assert!(wait_until(Duration::from_secs(40), || !path.exists()), "{}", servers[keeper].diagnostics());
    let archived = fs::read_to_string(spool.done().join("f000000.call")).unwrap();
    assert_eq!(archived, format!("{kept}Status: Completed\n"), "dialled or aborted after the restart");
    assert_eq!(count(&servers[other], "SpoolAttempt"), 0, "{}", servers[other].diagnostics());
    assert_eq!(count(&servers[keeper], "SpoolAttempt"), 0, "attempted by the restarted server");
    assert!(wait_until(Duration::from_secs(10), || !state_of(NODES[keeper]).exists()), "record outlived its file");
}
