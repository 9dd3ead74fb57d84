//! Owners on a shared spool: three servers with `shared = yes` on one spool, each due file first its
//! owner's (rendezvous hashing of its name over the live nodes, known from their heartbeats). Each server
//! takes about a third of the files, claims lost stay few, nothing is dialled twice; and when a server dies
//! (kill -9), the files it owned that fall due afterwards are placed by the others within the heartbeat
//! expiry and the owner's grace, each once.
//!
//! Who owns what is computed here with the core's own `owner_of`, so the test knows each file's owner.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use harness::bulk::{
    ami_only, count_entries, expect_spool_watch, file_name, file_number, not_exactly_once, per_file, stage,
};
use harness::{wait_until, Asterisk, Message, SharedSpool};
use pbx_spool_core::membership::{owner_of, HEARTBEAT_EXPIRY_MS, HEARTBEAT_INTERVAL_MS, OWNER_GRACE_MS};

const DIALPLAN: &str = "\
[fail]
exten => s,1,Hangup()
";

const NODES: [&str; 3] = ["own1", "own2", "own3"];

/// Fails at once and expires (one attempt), removed when done.
fn quick_file(_: usize) -> String {
    "Channel: Local/s@fail\nApplication: NoOp\nMaxRetries: 0\n".to_owned()
}

fn server(spool: &SharedSpool, node: &str) -> Asterisk {
    let ast = spool.server(node, "").name(&format!("owners-{node}")).extensions(DIALPLAN).start();
    expect_spool_watch(&ast);
    ami_only(&ast, &["Event: SpoolAttempt", "Event: SpoolFinished"]);
    ast
}

/// The first number after `label` in `spool show status`.
fn status_number(ast: &Asterisk, label: &str) -> Option<usize> {
    let status = ast.try_cli("spool show status", Duration::from_secs(10))?;
    status.lines().find_map(|l| l.trim_start().strip_prefix(label)?.split_whitespace().next()?.parse().ok())
}

/// Until every server in `servers` counts `live` live nodes.
fn expect_live_nodes(servers: &[&Asterisk], live: usize) {
    for ast in servers {
        let seen = wait_until(Duration::from_secs(30), || status_number(ast, "Live nodes") == Some(live));
        assert!(seen, "{} never saw {live} live nodes:\n{}", ast.name(), ast.cli("spool show status"));
    }
}

fn attempts_by_file(servers: &[&Asterisk]) -> HashMap<usize, usize> {
    let events: Vec<Message> = servers.iter().flat_map(|ast| ast.ami().events()).collect();
    per_file(&events, |e| e.is_event("SpoolAttempt"))
}

fn count(ast: &Asterisk, event: &str) -> usize {
    ast.ami().count_events(|e: &Message| e.is_event(event))
}

fn owner(file: usize, nodes: &[&'static str]) -> &'static str {
    owner_of(file_name(file).as_bytes(), nodes.iter().copied()).expect("nodes")
}

fn diagnostics(servers: &[&Asterisk]) -> String {
    servers.iter().map(|ast| ast.diagnostics()).collect::<Vec<_>>().join("\n")
}

#[test]
fn each_of_three_servers_takes_its_own_third_of_files_due_at_once() {
    const FILES: usize = 600;
    let spool = SharedSpool::new("owners-share");
    let servers: Vec<Asterisk> = NODES.iter().map(|node| server(&spool, node)).collect();
    let all: Vec<&Asterisk> = servers.iter().collect();
    expect_live_nodes(&all, 3);
    // Dated ahead so that every server has queued every file before it falls due.
    let due = SystemTime::now() + Duration::from_secs(3);
    let staged = stage(all[0], FILES, Some(due), quick_file);
    staged.rename_all();
    let outgoing = spool.outgoing();
    let done = wait_until(Duration::from_secs(120), || {
        all.iter().map(|a| count(a, "SpoolFinished")).sum::<usize>() >= FILES && count_entries(&outgoing) == 0
    });
    assert!(done, "{} files left\n{}", count_entries(&outgoing), diagnostics(&all));
    assert_eq!(not_exactly_once(&attempts_by_file(&all), FILES), vec![], "attempted other than once");

    let mut lost = 0;
    for (ast, node) in all.iter().zip(NODES) {
        let attempted: Vec<usize> = ast
            .ami()
            .events()
            .iter()
            .filter(|e| e.is_event("SpoolAttempt"))
            .filter_map(|e| file_number(e.get("File").unwrap_or_default()))
            .collect();
        let owned = (0..FILES).filter(|&f| owner(f, &NODES) == node).count();
        let by_owner = attempted.iter().filter(|&&f| owner(f, &NODES) == node).count();
        eprintln!("{node}: {} attempts, owns {owned}, of its own {by_owner}", attempted.len());
        let share = attempted.len() as f64 / FILES as f64;
        assert!(
            (share - 1.0 / 3.0).abs() < 0.1,
            "{node}'s share {share:.3} is near 1/3 ({} attempts)",
            attempted.len()
        );
        // Its owner took every file at once; another server looks at one only after the owner's grace.
        assert!(by_owner * 100 >= attempted.len() * 95, "{node}: {by_owner} of {} attempts its own", attempted.len());
        lost += status_number(ast, "Claims lost to other servers").expect("claims lost in spool show status");
    }
    eprintln!("claims lost across the three: {lost}");
    assert!(lost * 100 < FILES * 5, "claims lost {lost} for {FILES} files (under 5 %)");
    let status = all[0].cli("spool show status");
    assert!(status.contains("own1, own2, own3; this node: own1"), "{status}");
    assert!(status.contains("Due files taken as their owner"), "{status}");
}

#[test]
fn files_of_a_killed_server_falling_due_later_are_placed_once_by_the_others_within_takeover_and_grace() {
    const FILES: usize = 300;
    let spool = SharedSpool::new("owners-handover");
    let mut servers: Vec<Asterisk> = NODES.iter().map(|node| server(&spool, node)).collect();
    expect_live_nodes(&servers.iter().collect::<Vec<_>>(), 3);
    // Renamed in right after own1 dies and due a second later: own2 and own3 still count own1 live then,
    // leave its files to it for the grace, and have found it gone by the end of the grace.
    let staged = stage(&servers[0], FILES, None, quick_file);
    servers[0].crash();
    let killed = Instant::now();
    staged.date_all(SystemTime::now() + Duration::from_secs(1));
    staged.rename_all();
    let survivors: Vec<&Asterisk> = servers[1..].iter().collect();
    let orphans: Vec<usize> = (0..FILES).filter(|&f| owner(f, &NODES) == "own1").collect();
    assert!(orphans.len() > FILES / 5, "own1 owned a share: {}", orphans.len());
    let outgoing = spool.outgoing();
    let placed = wait_until(Duration::from_secs(60), || {
        let attempts = attempts_by_file(&survivors);
        orphans.iter().all(|f| attempts.contains_key(f))
    });
    let took = killed.elapsed();
    assert!(placed, "own1's files never all placed\n{}", diagnostics(&survivors));
    // The takeover (own1's heartbeat expiring), then the grace; a second each for the beat and the due
    // date, and slack for a loaded two-core machine.
    let bound = Duration::from_millis(1000 + HEARTBEAT_EXPIRY_MS + OWNER_GRACE_MS + HEARTBEAT_INTERVAL_MS + 4000);
    eprintln!("own1's {} files placed by the others {took:?} after the kill (bound {bound:?})", orphans.len());
    assert!(took < bound, "own1's files placed {took:?} after the kill, over {bound:?}");
    let done = wait_until(Duration::from_secs(60), || count_entries(&outgoing) == 0);
    assert!(done, "{} files left\n{}", count_entries(&outgoing), diagnostics(&survivors));
    assert_eq!(not_exactly_once(&attempts_by_file(&survivors), FILES), vec![], "attempted other than once");
    // The survivors' own files went at their due time to their owner among the survivors.
    for (ast, node) in survivors.iter().zip(&NODES[1..]) {
        assert_eq!(status_number(ast, "Live nodes"), Some(2), "{node} saw own1 go:\n{}", ast.cli("spool show status"));
        eprintln!("{node}: {} attempts", count(ast, "SpoolAttempt"));
    }
}

#[test]
fn a_server_killed_during_a_burst_leaves_its_share_to_the_others_none_twice() {
    const FILES: usize = 3_000;
    let spool = SharedSpool::new("owners-burst-kill");
    let mut servers: Vec<Asterisk> = NODES.iter().map(|node| server(&spool, node)).collect();
    expect_live_nodes(&servers.iter().collect::<Vec<_>>(), 3);
    let due = SystemTime::now() + Duration::from_secs(3);
    // RetryTime 2: the attempts own1 had started when it died are dated 2 s ahead by their StartRetry, and
    // finished by the others then (AbortRetry first; out of retries, so expired), not 300 s later.
    let staged = stage(&servers[0], FILES, Some(due), |i| quick_file(i) + "RetryTime: 2\n");
    staged.rename_all();
    let started = wait_until(Duration::from_secs(60), || {
        servers.iter().map(|a| count(a, "SpoolAttempt")).sum::<usize>() >= FILES / 6
    });
    assert!(started, "the burst never got going\n{}", servers[0].diagnostics());
    servers[0].crash();
    let victim_events = servers[0].ami().events();
    let survivors: Vec<&Asterisk> = servers[1..].iter().collect();
    let outgoing = spool.outgoing();
    let done = wait_until(Duration::from_secs(90), || count_entries(&outgoing) == 0);
    assert!(
        done,
        "{} files left\n{}",
        count_entries(&outgoing),
        survivors.iter().map(|a| a.cli("spool show status")).collect::<String>()
    );
    let mut finishes =
        per_file(&survivors.iter().flat_map(|a| a.ami().events()).chain(victim_events).collect::<Vec<_>>(), |e| {
            e.is_event("SpoolFinished")
        });
    finishes.retain(|_, n| *n > 1);
    assert!(finishes.is_empty(), "finished twice: {finishes:?}");
}
