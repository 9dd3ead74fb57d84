//! The scheduler's unit tests: a whole scheduler thread against the fake Host and a temporary spool.

use super::arrivals::{still_being_written, CREATE_GRACE_MS};
use super::pool::{BASE_POOL, WORKER_IDLE_EXIT};
use super::suspension::STOCK_SPOOLER_REASON;
use super::*;
use crate::testing::{answered, busy, temp_spool, FakeHost};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::AtomicUsize;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

mod dialer;

/// Where a fake call waits until the test opens it (a call "in progress" for as long as the test needs).
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn wait(&self) {
        let (open, opened) = &*self.0;
        let mut open = open.lock().unwrap_or_else(|p| p.into_inner());
        while !*open {
            open = opened.wait(open).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn open(&self) {
        *self.0 .0.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.0 .1.notify_all();
    }
}

const CALL: &str = "Channel: Local/s@ctx\nContext: dest\nExtension: s\n";
const WAIT: Duration = Duration::from_secs(10);

/// A scheduler running on its own thread over a temporary spool, stopped on drop.
struct Running {
    control: Arc<Control>,
    thread: Option<std::thread::JoinHandle<()>>,
    paths: SpoolPaths,
}

impl Running {
    fn start(host: Arc<FakeHost>, name: &str, settings: SpoolSettings) -> Running {
        Running::start_at(host, temp_spool(name), settings)
    }

    fn start_at(host: Arc<FakeHost>, paths: SpoolPaths, settings: SpoolSettings) -> Running {
        let control = Control::new(settings).unwrap();
        let (c, p) = (control.clone(), paths.clone());
        let thread = std::thread::spawn(move || run(host, c, p));
        Running { control, thread: Some(thread), paths }
    }

    fn drop_in(&self, name: &str, contents: &str) {
        let staged = self.paths.outgoing.parent().unwrap().join(format!(".{name}.tmp"));
        std::fs::write(&staged, contents).unwrap();
        std::fs::rename(staged, self.paths.outgoing.join(name)).unwrap();
    }

    fn snapshot(&self) -> Snapshot {
        self.control.snapshot(SnapshotQuery { limit: 10, file: None }).unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        while self.control.request_stop() != StopAnswer::Stopped {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.thread.take().map(|t| t.join());
    }
}

fn calls(host: &FakeHost) -> usize {
    host.with(|r| r.calls.len())
}

#[test]
fn renamed_file_is_placed_once_and_removed() {
    let host = FakeHost::new(|_, _| answered());
    let spool = Running::start(host.clone(), "sched-once", SpoolSettings::default());
    spool.drop_in("a.call", CALL);
    host.wait_for("the call", WAIT, |r| r.events.iter().any(|(e, _)| e == "SpoolFinished"));
    assert_eq!(calls(&host), 1);
    assert!(!spool.paths.outgoing.join("a.call").exists());
    // The same name again is a new call file.
    spool.drop_in("a.call", CALL);
    host.wait_for("the second call", WAIT, |r| r.events.iter().filter(|(e, _)| e == "SpoolFinished").count() == 2);
    assert_eq!(calls(&host), 2);
}

#[test]
fn future_file_waits_for_its_mtime_and_follows_a_redate() {
    let host = FakeHost::new(|_, _| answered());
    let spool = Running::start(host.clone(), "sched-future", SpoolSettings::default());
    let path = spool.paths.outgoing.join("f.call");
    let staged = spool.paths.outgoing.parent().unwrap().join("f.tmp");
    std::fs::write(&staged, CALL).unwrap();
    let in_an_hour = bookkeeping::now_ms() + 3_600_000;
    bookkeeping::set_times(&staged, in_an_hour, in_an_hour).unwrap();
    std::fs::rename(&staged, &path).unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while spool.snapshot().queued != 1 {
        assert!(std::time::Instant::now() < deadline, "never queued");
    }
    assert_eq!(calls(&host), 0);
    // touch it to now: pbx_spool would wait the hour; the new mtime counts at once.
    let now = bookkeeping::now_ms();
    bookkeeping::set_times(&path, now, now).unwrap();
    host.wait_for("the re-dated call", WAIT, |r| r.calls.len() == 1);
}

/// Waits until `spool show status` counts `n` kept files.
fn wait_kept(spool: &Running, n: usize) {
    let deadline = std::time::Instant::now() + WAIT;
    while spool.snapshot().kept != n {
        assert!(std::time::Instant::now() < deadline, "kept files never became {n}: {:?}", spool.snapshot());
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn kept_file_is_removed_at_its_date_unless_it_changes() {
    let host = FakeHost::new(|_, _| answered());
    let spool = Running::start(host.clone(), "sched-kept", SpoolSettings::default());
    // Unchanged: kept until StartRetry's date (RetryTime 1 s ahead), then removed without a call.
    spool.drop_in("k.call", &format!("{CALL}AlwaysDelete: no\nRetryTime: 1\n"));
    host.wait_for("the call", WAIT, |r| r.calls.len() == 1);
    wait_kept(&spool, 1);
    assert!(spool.paths.outgoing.join("k.call").exists());
    host.wait_for("the removal", WAIT, |r| r.logs.iter().any(|(_, l)| l.contains("was kept by AlwaysDelete")));
    assert!(!spool.paths.outgoing.join("k.call").exists());
    wait_kept(&spool, 0);
    assert_eq!(calls(&host), 1, "a kept file is not dialled again");

    // Changed while kept (re-dated 1 s ahead by the user): a new request, visited and dialled again.
    spool.drop_in("r.call", &format!("{CALL}AlwaysDelete: no\nRetryTime: 60\n"));
    host.wait_for("the first call", WAIT, |r| r.calls.len() == 2);
    wait_kept(&spool, 1);
    let soon = bookkeeping::now_ms() + 1000;
    bookkeeping::set_times(&spool.paths.outgoing.join("r.call"), soon, soon).unwrap();
    host.wait_for("the call at the new date", WAIT, |r| r.calls.len() == 3);
}

fn state_file_of(paths: &SpoolPaths) -> PathBuf {
    paths.outgoing.parent().unwrap().join(state::STATE_FILE)
}

#[test]
fn a_kept_file_stays_kept_across_a_restart_and_is_removed_at_its_date_without_a_call() {
    let host = FakeHost::new(|_, _| answered());
    let paths = temp_spool("sched-kept-restart");
    let state_file = state_file_of(&paths);
    let spool = Running::start_at(host.clone(), paths.clone(), SpoolSettings::default());
    // RetryTime 3: the date is well after the restart below.
    spool.drop_in("k.call", &format!("{CALL}AlwaysDelete: no\nRetryTime: 3\nArchive: yes\n"));
    spool.drop_in("changed.call", &format!("{CALL}AlwaysDelete: no\nRetryTime: 3\n"));
    host.wait_for("both calls", WAIT, |r| r.calls.len() == 2);
    wait_kept(&spool, 2);
    // Written at the end of the scheduler's turn that kept them.
    let deadline = std::time::Instant::now() + WAIT;
    let recorded = loop {
        let recorded = std::fs::read_to_string(&state_file).unwrap_or_default();
        if recorded.lines().count() == 3 {
            break recorded;
        }
        assert!(std::time::Instant::now() < deadline, "kept files not recorded: {recorded}");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(recorded.lines().any(|l| l.starts_with("kept k.call ") && l.contains(" Completed archive ")), "{recorded}");
    assert!(recorded.lines().any(|l| l.starts_with("kept changed.call ")), "{recorded}");
    drop(spool);

    // While it is down, the user rewrites one of them: that one is a new request.
    let changed = paths.outgoing.join("changed.call");
    let date = bookkeeping::regular_file_mtime(&changed).unwrap();
    std::fs::write(&changed, format!("{CALL}RetryTime: 3\n")).unwrap();
    bookkeeping::set_times(&changed, date, date).unwrap();
    let spool = Running::start_at(host.clone(), paths.clone(), SpoolSettings::default());
    wait_kept(&spool, 1);
    let state = spool.control.snapshot(SnapshotQuery { limit: 0, file: Some("k.call".into()) }).unwrap().file_state;
    assert!(
        state.as_deref().is_some_and(|s| s.starts_with("finished (Completed), kept by AlwaysDelete: no")),
        "{state:?}"
    );
    assert!(host.logged("k.call was kept by AlwaysDelete: no before the restart (Completed) and has not changed"));
    host.wait_for("the removal at its date", WAIT, |r| {
        r.logs.iter().any(|(_, l)| l.contains("k.call was kept by AlwaysDelete: no until its date"))
    });
    host.wait_for("the changed file's call", WAIT, |r| r.calls.len() == 3);
    let archived = std::fs::read_to_string(paths.done.join("k.call")).expect("archived");
    assert!(archived.ends_with("Status: Completed\n"), "{archived}");
    assert!(!paths.outgoing.join("k.call").exists());
    let dialled: Vec<String> = host
        .with(|r| r.logs.iter().filter(|(_, l)| l.starts_with("Attempting call")).map(|(_, l)| l.clone()).collect());
    assert_eq!(dialled.len(), 3, "k.call dialled again after the restart: {dialled:?}");
    // Both records are gone with their files' fates decided: the state file goes with them.
    let deadline = std::time::Instant::now() + WAIT;
    while state_file.exists() {
        assert!(std::time::Instant::now() < deadline, "{}", std::fs::read_to_string(&state_file).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_call_cancelled_in_progress_is_not_dialled_again_after_a_crash() {
    let gate = Gate::default();
    let g = gate.clone();
    let host = FakeHost::new(move |_, _| {
        g.wait();
        busy()
    });
    let paths = temp_spool("sched-cancel-restart");
    let state_file = state_file_of(&paths);
    let spool = Running::start_at(host.clone(), paths.clone(), SpoolSettings::default());
    spool.drop_in("c.call", &format!("{CALL}MaxRetries: 5\nRetryTime: 1\n"));
    host.wait_for("the call", WAIT, |r| r.calls.len() == 1);
    let answer = spool.control.cancel(CancelTarget::File("c.call".into()), false, Via::Cli).unwrap().unwrap();
    assert!(answer.contains("is removed when the call ends"), "{answer}");
    assert!(!answer.contains("Warning"), "{answer}");
    let recorded = std::fs::read_to_string(&state_file).expect("the cancellation recorded before the answer");
    assert!(recorded.lines().any(|l| l.starts_with("cancelled c.call ")), "{recorded}");

    // What a kill -9 now would leave: the file as it is (same inode, its attempt open) and the state
    // file. Kept aside (a hard link keeps the inode), then put back as it was after this run ends.
    let call_file = paths.outgoing.join("c.call");
    let aside = paths.outgoing.parent().unwrap().join("c.call.aside");
    std::fs::hard_link(&call_file, &aside).unwrap();
    let text_at_crash = std::fs::read(&call_file).unwrap();
    let date_at_crash = bookkeeping::regular_file_mtime(&call_file).unwrap();
    let state_at_crash = std::fs::read(&state_file).unwrap();
    gate.open();
    host.wait_for("the removal after the call", WAIT, |r| {
        r.logs.iter().any(|(_, l)| l.contains("(its call has ended)"))
    });
    drop(spool);
    assert!(!state_file.exists(), "the cancellation outlived its file");
    // Rewritten in place (this run appended EndRetry to the shared inode), then renamed back.
    std::fs::write(&aside, text_at_crash).unwrap();
    bookkeeping::set_times(&aside, date_at_crash, date_at_crash).unwrap();
    std::fs::rename(&aside, &call_file).unwrap();
    std::fs::write(&state_file, state_at_crash).unwrap();
    let text = std::fs::read_to_string(&call_file).unwrap();
    assert!(text.contains("\nStartRetry: ") && !text.contains("EndRetry"), "attempt not open:\n{text}");

    let spool = Running::start_at(host.clone(), paths.clone(), SpoolSettings::default());
    host.wait_for("the removal at start", WAIT, |r| {
        r.logs.iter().any(|(_, l)| l.contains("Cancelled") && l.contains("before the restart; not dialled again"))
    });
    assert!(!call_file.exists());
    let deadline = std::time::Instant::now() + WAIT;
    while state_file.exists() {
        assert!(std::time::Instant::now() < deadline, "record not dropped");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(calls(&host), 1, "the cancelled file was dialled after the restart");
    drop(spool);
}

#[test]
fn a_replaced_file_is_not_taken_for_the_one_cancelled_and_a_corrupt_state_file_is_reported() {
    let host = FakeHost::new(|_, _| answered());
    let paths = temp_spool("sched-state-stale");
    let state_file = state_file_of(&paths);
    // A cancellation recorded for another file that had this name, and a line that cannot be read.
    let staged = paths.outgoing.parent().unwrap().join("n.tmp");
    std::fs::write(&staged, CALL).unwrap();
    let old = std::fs::metadata(&staged).unwrap();
    let stale = state::FileIdentity::of(&old);
    std::fs::write(
        &state_file,
        format!(
            "pbx_spool_rs state 1\ncancelled n.call {} -\nkept ? nonsense\ncancelled gone.call 1 -\n",
            stale.inode + 1
        ),
    )
    .unwrap();
    std::fs::rename(&staged, paths.outgoing.join("n.call")).unwrap();
    let spool = Running::start_at(host.clone(), paths.clone(), SpoolSettings::default());
    host.wait_for("the new file's call", WAIT, |r| r.calls.len() == 1);
    assert!(host.with(|r| r.logs.iter().any(|(level, l)| *level == Level::Warning
        && l.contains("line 3: unreadable, skipped: kept ? nonsense")
        && l.contains("treated as new ones"))));
    let deadline = std::time::Instant::now() + WAIT;
    while state_file.exists() {
        assert!(std::time::Instant::now() < deadline, "stale records kept");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(spool);
}

/// `chattr <flag> <path>`; false (with a note) where chattr is missing or not permitted.
fn chattr(path: &Path, flag: &str) -> bool {
    match std::process::Command::new("chattr").arg(flag).arg(path).output() {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            eprintln!("chattr {flag} {}: {}", path.display(), String::from_utf8_lossy(&out.stderr).trim());
            false
        }
        Err(err) => {
            eprintln!("chattr: {err}");
            false
        }
    }
}

#[test]
fn a_finished_file_that_cannot_be_removed_is_not_dialled_again_after_a_restart() {
    /// Lifts the append-only attribute however the test ends, so the spool can be cleaned up.
    struct AppendOnly(PathBuf);
    impl Drop for AppendOnly {
        fn drop(&mut self) {
            chattr(&self.0, "-a");
        }
    }
    let host = FakeHost::new(|_, _| answered());
    let paths = temp_spool("sched-unremovable");
    let state_file = state_file_of(&paths);
    // An append-only outgoing/: files come in, nothing can be removed or renamed out.
    if !chattr(&paths.outgoing, "+a") {
        eprintln!("skipped: needs chattr +a (root, on ext4/xfs/btrfs)");
        return;
    }
    let append_only = AppendOnly(paths.outgoing.clone());
    let spool = Running::start_at(host.clone(), paths.clone(), SpoolSettings::default());
    // RetryTime 1: taken for an interrupted attempt, it would be dialled again a second after its start.
    spool.drop_in("u.call", &format!("{CALL}Archive: yes\nRetryTime: 1\n"));
    let stuck = |n: usize| {
        move |r: &crate::testing::Recorded| {
            r.logs.iter().filter(|(_, l)| l.starts_with("Unable to remove finished call file")).count() == n
        }
    };
    host.wait_for("the removal to fail", WAIT, stuck(1));
    let deadline = std::time::Instant::now() + WAIT;
    while !std::fs::read_to_string(&state_file).unwrap_or_default().contains("\nunremovable u.call Completed archive ")
    {
        assert!(std::time::Instant::now() < deadline, "not recorded");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(spool);

    // Still impossible to remove: tried once at start, left for the admin again, not dialled.
    let spool = Running::start_at(host.clone(), paths.clone(), SpoolSettings::default());
    host.wait_for("the removal to fail again", WAIT, stuck(2));
    wait_snapshot(&spool, "left for the admin", |s| s.parked == 1);
    // Past its StartRetry date: still not dialled.
    std::thread::sleep(Duration::from_millis(1200));
    wait_snapshot(&spool, "left for the admin", |s| s.parked == 1);
    drop(spool);
    assert_eq!(calls(&host), 1, "dialled again after the restart");

    // The admin fixes the directory (the file itself unchanged): the next start removes it.
    drop(append_only);
    let spool = Running::start_at(host.clone(), paths.clone(), SpoolSettings::default());
    host.wait_for("the removal", WAIT, |r| {
        r.logs
            .iter()
            .any(|(_, l)| l.contains("u.call could not be removed when its call ended") && l.contains("archived as"))
    });
    let archived = std::fs::read_to_string(paths.done.join("u.call")).unwrap();
    assert!(archived.ends_with("Status: Completed\n"), "{archived}");
    assert_eq!(archived.matches("StartRetry").count(), 1, "{archived}");
    assert!(!archived.contains("AbortRetry"), "{archived}");
    assert_eq!(calls(&host), 1);
    let deadline = std::time::Instant::now() + WAIT;
    while state_file.exists() {
        assert!(std::time::Instant::now() < deadline, "record not dropped");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(spool);
}

#[test]
fn file_written_in_place_is_taken_only_when_closed() {
    let host = FakeHost::new(|_, _| answered());
    let spool = Running::start(host.clone(), "sched-inplace", SpoolSettings::default());
    // wait until the scheduler watches the directory
    let deadline = std::time::Instant::now() + WAIT;
    while spool.control.snapshot(SnapshotQuery { limit: 0, file: None }).is_none() {
        assert!(std::time::Instant::now() < deadline);
    }
    let path = spool.paths.outgoing.join("w.call");
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(b"Channel: Local/s@ctx\n").unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while spool.snapshot().being_written != 1 {
        assert!(std::time::Instant::now() < deadline, "not seen as being written");
    }
    // Read by someone else meanwhile: still waits for the writer (pbx_spool would lose it).
    let _ = std::fs::read(&path).unwrap();
    assert_eq!(calls(&host), 0);
    file.write_all(b"Context: dest\nExtension: s\n").unwrap();
    drop(file);
    host.wait_for("the call", WAIT, |r| r.calls.len() == 1);
    assert!(host.with(|r| r.logs.iter().all(|(_, l)| !l.contains("Invalid file contents"))));
}

#[test]
fn a_file_counts_as_being_written_while_modified_within_the_grace() {
    let now = 1_000_000;
    assert!(still_being_written(now, now));
    assert!(still_being_written(now - CREATE_GRACE_MS + 1, now));
    assert!(!still_being_written(now - CREATE_GRACE_MS, now));
    assert!(!still_being_written(now + 1, now), "a future mtime is a due date, not a write");
}

#[test]
fn a_file_whose_writer_goes_quiet_without_closing_it_is_taken_after_the_grace() {
    let host = FakeHost::new(|_, _| answered());
    let spool = Running::start(host.clone(), "sched-quiet-writer", SpoolSettings::default());
    let deadline = std::time::Instant::now() + WAIT;
    while spool.control.snapshot(SnapshotQuery { limit: 0, file: None }).is_none() {
        assert!(std::time::Instant::now() < deadline);
    }
    let path = spool.paths.outgoing.join("q.call");
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(CALL.as_bytes()).unwrap();
    let created = std::time::Instant::now();
    host.wait_for("the call", WAIT, |r| r.calls.len() == 1);
    let waited = created.elapsed();
    assert!(waited >= Duration::from_millis(CREATE_GRACE_MS as u64 / 2), "taken after {waited:?}");
    drop(file);
}

#[test]
fn maxcalls_holds_files_in_due_order_and_unload_refuses_while_busy() {
    let gate = Gate::default();
    let g = gate.clone();
    let host = FakeHost::new(move |_, _| {
        g.wait();
        answered()
    });
    let settings = SpoolSettings { max_calls: Some(1), ..SpoolSettings::default() };
    let spool = Running::start(host.clone(), "sched-maxcalls", settings);
    // All three in the spool before any falls due, so the order is the wheel's, not the arrival's.
    let base = bookkeeping::now_ms() + 500;
    for (i, name) in ["c.call", "a.call", "b.call"].iter().enumerate() {
        let staged = spool.paths.outgoing.parent().unwrap().join(format!("{name}.tmp"));
        std::fs::write(&staged, CALL.replace("s@ctx", &format!("{i}@ctx"))).unwrap();
        // due order: a (i=1) first, then b, then c
        let due = base + [30, 10, 20][i];
        bookkeeping::set_times(&staged, due, due).unwrap();
        std::fs::rename(&staged, spool.paths.outgoing.join(name)).unwrap();
    }
    host.wait_for("the first call", WAIT, |r| r.calls.len() == 1);
    let deadline = std::time::Instant::now() + WAIT;
    while spool.snapshot().held != 2 {
        assert!(std::time::Instant::now() < deadline, "others not held: {:?}", spool.snapshot());
    }
    assert!(matches!(spool.control.request_stop(), StopAnswer::Busy { calls_in_progress: 1 }));
    gate.open();
    host.wait_for("all calls", WAIT, |r| r.calls.len() == 3);
    let order: Vec<String> = host.with(|r| r.calls.iter().map(|c| c.0.clone()).collect());
    assert_eq!(order, ["Local/1@ctx", "Local/2@ctx", "Local/0@ctx"]);
}

#[test]
fn retries_follow_retry_time_until_expiry() {
    let host = FakeHost::new(|_, _| busy());
    let spool = Running::start(host.clone(), "sched-retry", SpoolSettings::default());
    spool.drop_in("r.call", &format!("{CALL}MaxRetries: 1\nRetryTime: 1\n"));
    host.wait_for("expiry", WAIT, |r| r.events.iter().any(|(e, _)| e == "SpoolFinished"));
    let attempts: Vec<i32> = host.with(|r| r.calls.iter().map(|c| c.1).collect());
    assert_eq!(attempts, [1, 2]);
    assert!(host.logged("expired without completion after 2 attempts"));
}

#[test]
fn far_future_files_keep_exact_due_times_and_do_not_block_nearer_ones() {
    // pbx_spool computes its poll timeout in milliseconds in an int: 25-50 days ahead it blocks forever,
    // and times past 2038 are truncated. Here due times are u64 ms on an absolute wall-clock timer.
    let host = FakeHost::new(|_, _| answered());
    let spool = Running::start(host.clone(), "sched-far", SpoolSettings::default());
    let now = bookkeeping::now_ms();
    let forty_days = now + 40 * 86_400_000;
    let year_2040 = 2_208_988_800_000; // 2040-01-01T00:00:00Z
    for (name, due) in [("far.call", forty_days), ("y2040.call", year_2040), ("near.call", now + 300)] {
        let staged = spool.paths.outgoing.parent().unwrap().join(format!("{name}.tmp"));
        std::fs::write(&staged, CALL).unwrap();
        bookkeeping::set_times(&staged, due, due).unwrap();
        std::fs::rename(&staged, spool.paths.outgoing.join(name)).unwrap();
    }
    host.wait_for("the near call", WAIT, |r| r.calls.len() == 1);
    let queued: Vec<(String, Millis)> = spool.snapshot().next.into_iter().map(|f| (f.name, f.due)).collect();
    assert_eq!(queued, [("far.call".to_string(), forty_days), ("y2040.call".to_string(), year_2040)]);
}

#[test]
fn long_calls_due_together_all_run_at_once_on_reused_threads() {
    // Unlimited by default like pbx_spool: 40 calls of 3 s due at once must overlap, not queue; the pool
    // doubles every 200 ms while calls wait behind long ones, so all 40 are up well within a call's time.
    let in_call = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (c, p) = (in_call.clone(), peak.clone());
    let host = FakeHost::new(move |_, _| {
        let now = c.fetch_add(1, Ordering::SeqCst) + 1;
        p.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_secs(3));
        c.fetch_sub(1, Ordering::SeqCst);
        answered()
    });
    let spool = Running::start(host.clone(), "sched-concurrency", SpoolSettings::default());
    let due = bookkeeping::now_ms() + 300;
    for i in 0..40 {
        let staged = spool.paths.outgoing.parent().unwrap().join(format!("{i}.tmp"));
        std::fs::write(&staged, CALL).unwrap();
        bookkeeping::set_times(&staged, due, due).unwrap();
        std::fs::rename(&staged, spool.paths.outgoing.join(format!("{i}.call"))).unwrap();
    }
    host.wait_for("all calls", WAIT, |r| r.events.iter().filter(|(e, _)| e == "SpoolFinished").count() == 40);
    assert_eq!(peak.load(Ordering::SeqCst), 40, "calls were serialised behind busy workers");
    assert!(spool.snapshot().workers <= 40, "one thread per call at most: {:?}", spool.snapshot());
    // Idle workers leave the pool, down to one.
    let deadline = std::time::Instant::now() + WORKER_IDLE_EXIT * 5;
    while spool.snapshot().workers != 1 {
        assert!(std::time::Instant::now() < deadline, "the pool did not shrink: {:?}", spool.snapshot());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Places `name` in the spool due at `due` (ms), written aside and renamed in.
fn stage(spool: &Running, name: &str, contents: &str, due: Millis) {
    let staged = spool.paths.outgoing.parent().unwrap().join(format!("{name}.tmp"));
    std::fs::write(&staged, contents).unwrap();
    bookkeeping::set_times(&staged, due, due).unwrap();
    std::fs::rename(&staged, spool.paths.outgoing.join(name)).unwrap();
}

#[test]
fn concurrent_snapshot_requests_each_get_the_answer_to_their_own_query() {
    // The console and an AMI `Command` can ask at the same moment: no caller may get another's answer
    // (or none, and time out).
    const FILES: usize = 8;
    const THREADS: usize = 16;
    const ROUNDS: usize = 25;
    let host = FakeHost::new(|_, _| answered());
    let spool = Running::start(host.clone(), "sched-snapshots", SpoolSettings::default());
    let first_due = bookkeeping::now_ms() + 3_600_000;
    for i in 0..FILES {
        stage(&spool, &format!("f{i}.call"), CALL, first_due + 1000 * i as Millis);
    }
    let deadline = std::time::Instant::now() + WAIT;
    while spool.snapshot().queued != FILES {
        assert!(std::time::Instant::now() < deadline, "never all queued: {:?}", spool.snapshot());
    }
    let start = Arc::new(std::sync::Barrier::new(THREADS));
    let askers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (control, start) = (spool.control.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for round in 0..ROUNDS {
                    let i = (t + round) % FILES;
                    let (limit, file) = (i + 1, format!("f{i}.call"));
                    let query = SnapshotQuery { limit, file: Some(file.clone()) };
                    let answer = control.snapshot(query).unwrap_or_else(|| panic!("{t}: no answer in round {round}"));
                    assert_eq!(answer.next.len(), limit, "{t}: another query's answer in round {round}");
                    let due = crate::text::utc_time(first_due + 1000 * i as Millis);
                    let expected = format!("queued, due at {due}");
                    assert_eq!(answer.file_state.as_deref(), Some(expected.as_str()), "{t}: not about {file}");
                }
            })
        })
        .collect();
    for asker in askers {
        asker.join().expect("an asker got a wrong answer or none (see above)");
    }
}

#[test]
fn after_a_scheduler_panic_stop_answers_at_once_and_nothing_more_is_dialled() {
    // Every pool worker sits in a long call, one more file waits for a worker, and the scheduler then
    // dies. Unload must not wait for the calls (it would hold Asterisk's module lock for their whole
    // length): it refuses, as while calls run normally, and the waiting file is never dialled.
    struct OpenOnDrop(Gate);
    impl Drop for OpenOnDrop {
        fn drop(&mut self) {
            self.0.open();
        }
    }
    let gate = Gate::default();
    let g = gate.clone();
    let host = FakeHost::new(move |_, _| {
        g.wait();
        answered()
    });
    // Logged by the scheduler when a due file waits behind long calls, after its job was queued.
    host.panic_when_logging("wait behind");
    let spool = Running::start(host.clone(), "sched-panic", SpoolSettings::default());
    let gate = OpenOnDrop(gate); // dropped before `spool`, so its stop never waits on a closed gate
    let now = bookkeeping::now_ms();
    for i in 0..BASE_POOL {
        stage(&spool, &format!("long{i}.call"), CALL, now);
    }
    host.wait_for("every worker in a call", WAIT, |r| r.calls.len() == BASE_POOL);
    spool.drop_in("late.call", CALL);
    host.wait_for("the forced panic", WAIT, |r| r.logs.iter().any(|(_, l)| l.contains("wait behind")));

    let (answer_tx, answer_rx) = std::sync::mpsc::channel();
    let control = spool.control.clone();
    std::thread::spawn(move || {
        let _ = answer_tx.send(control.request_stop());
    });
    let answer = answer_rx.recv_timeout(WAIT).expect("stop blocked behind the calls in progress");
    assert_eq!(answer, StopAnswer::Busy { calls_in_progress: BASE_POOL });

    drop(gate);
    let deadline = std::time::Instant::now() + WAIT;
    while spool.control.request_stop() != StopAnswer::Stopped {
        assert!(std::time::Instant::now() < deadline, "never stopped after the calls ended");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(calls(&host), BASE_POOL, "a file queued for the pool was dialled after the scheduler died");
    let late = std::fs::read_to_string(spool.paths.outgoing.join("late.call")).expect("late.call left in place");
    assert_eq!(late, CALL, "late.call was touched");
}

/// A campaign `sales` for `sales-*` with the given hours (UTC), if any.
fn sales(hours: Option<&str>) -> SpoolSettings {
    let mut campaign = crate::campaign::Campaign::new("sales");
    crate::campaign::apply(&mut campaign, "match", "sales-*").unwrap();
    crate::campaign::apply(&mut campaign, "timezone", "UTC").unwrap();
    if let Some(hours) = hours {
        crate::campaign::apply(&mut campaign, "hours", hours).unwrap();
    }
    SpoolSettings { campaigns: Arc::new(vec![campaign]), ..SpoolSettings::default() }
}

fn wait_snapshot(spool: &Running, what: &str, ready: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let snapshot = spool.snapshot();
        if ready(&snapshot) {
            return snapshot;
        }
        assert!(std::time::Instant::now() < deadline, "never {what}: {snapshot:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_file_outside_its_window_waits_untouched_and_others_go_on() {
    // A one-hour window starting two hours from now (UTC): closed now, whatever the time of day.
    let now_min = (bookkeeping::now_ms() / 60_000 % 1440) as u16;
    let (start, end) = ((now_min + 120) % 1440, (now_min + 180) % 1440);
    let hours = format!("{:02}:{:02}-{:02}:{:02}", start / 60, start % 60, end / 60, end % 60);
    let host = FakeHost::new(|_, _| answered());
    let spool = Running::start(host.clone(), "sched-window", sales(Some(&hours)));
    spool.drop_in("sales-1.call", CALL);
    spool.drop_in("other.call", CALL);
    host.wait_for("the call outside any campaign", WAIT, |r| r.calls.len() == 1);
    let snapshot = wait_snapshot(&spool, "waiting for the window", |s| s.waiting_window == 1);
    assert_eq!(snapshot.campaigns[0].waiting_window, 1);
    let state = spool
        .control
        .snapshot(SnapshotQuery { limit: 0, file: Some("sales-1.call".into()) })
        .and_then(|s| s.file_state)
        .unwrap();
    assert!(state.starts_with("due, waiting for its campaign's calling window"), "{state}");
    assert_eq!(std::fs::read_to_string(spool.paths.outgoing.join("sales-1.call")).unwrap(), CALL);
    // The window widened by a reload: dialled at once.
    spool.control.update_settings(sales(Some("00:00-24:00")));
    host.wait_for("the campaign's call", WAIT, |r| r.calls.len() == 2);
}

/// A retry the call's dialplan asked for through SPOOL() goes the way of every requeue: when it falls
/// due outside its campaign's window, it waits for the window.
#[test]
fn a_retry_asked_by_the_dialplan_waits_for_its_campaigns_window() {
    let control_slot: Arc<std::sync::OnceLock<Arc<Control>>> = Arc::default();
    let slot = control_slot.clone();
    let host = FakeHost::answering_channel(move |_, attempt, uniqueid| {
        if attempt == 1 {
            let control = slot.get().expect("the scheduler's control");
            let channel = crate::steering::Caller { uniqueid, name: "Local/s@ctx-00000001;1" };
            control.steering.write(Some(channel), "retry", "2", bookkeeping::now_ms()).expect("SPOOL(retry)=2");
        }
        answered()
    });
    let spool = Running::start(host.clone(), "sched-steered-window", sales(Some("00:00-24:00")));
    control_slot.set(spool.control.clone()).ok().expect("set once");
    spool.drop_in("sales-1.call", &format!("{CALL}MaxRetries: 1\n"));
    host.wait_for("the first attempt", WAIT, |r| r.calls.len() == 1);
    // Closed from now on (a one-hour window two hours ahead), before the retry falls due 2 s later.
    let now_min = (bookkeeping::now_ms() / 60_000 % 1440) as u16;
    let (start, end) = ((now_min + 120) % 1440, (now_min + 180) % 1440);
    let closed = format!("{:02}:{:02}-{:02}:{:02}", start / 60, start % 60, end / 60, end % 60);
    spool.control.update_settings(sales(Some(&closed)));
    wait_snapshot(&spool, "the retry waiting for the window", |s| s.waiting_window == 1);
    assert_eq!(calls(&host), 1, "the retry was dialled outside the window");
    spool.control.update_settings(sales(Some("00:00-24:00")));
    host.wait_for("the retry once the window is open", WAIT, |r| r.calls.len() == 2);
}

#[test]
fn a_paused_campaign_waits_across_a_restart_and_resumes_in_due_order() {
    let host = FakeHost::new(|_, _| answered());
    let paths = temp_spool("sched-pause");
    // maxcalls 1: calls start one after another, so the order they are dialled in is the resume order.
    let one_at_a_time = || SpoolSettings { max_calls: Some(1), ..sales(None) };
    let spool = Running::start_at(host.clone(), paths.clone(), one_at_a_time());
    assert_eq!(spool.control.set_paused("sales", true, Via::Cli), Some(Ok("Campaign sales paused\n".into())));
    assert!(spool.control.set_paused("nope", true, Via::Cli).unwrap().is_err());
    let now = bookkeeping::now_ms();
    stage(&spool, "sales-b.call", &CALL.replace("s@ctx", "b@ctx"), now - 1000);
    stage(&spool, "sales-a.call", &CALL.replace("s@ctx", "a@ctx"), now - 2000);
    spool.drop_in("other.call", CALL);
    host.wait_for("the other call", WAIT, |r| r.calls.len() == 1);
    wait_snapshot(&spool, "both paused", |s| s.waiting_paused == 2 && s.campaigns[0].paused);
    // A restart (new scheduler over the same spool) finds the pause.
    drop(spool);
    let spool = Running::start_at(host.clone(), paths, one_at_a_time());
    wait_snapshot(&spool, "both paused after the restart", |s| s.waiting_paused == 2);
    assert_eq!(calls(&host), 1, "dialled while paused");
    assert_eq!(spool.control.set_paused("sales", false, Via::Cli), Some(Ok("Campaign sales resumed\n".into())));
    host.wait_for("both calls", WAIT, |r| r.calls.len() == 3);
    let order: Vec<String> = host.with(|r| r.calls.iter().skip(1).map(|c| c.0.clone()).collect());
    assert_eq!(order, ["Local/a@ctx", "Local/b@ctx"]);
}

#[test]
fn a_file_held_by_maxcalls_does_not_start_after_its_window_closed() {
    let gate = Gate::default();
    let g = gate.clone();
    let host = FakeHost::new(move |call, _| {
        if call.dest.starts_with(b"long") {
            g.wait();
        }
        answered()
    });
    // A window (UTC, to the second) open from a minute ago until two seconds from now.
    let now = bookkeeping::now_ms();
    let second = |ms: Millis| {
        let s = ms.div_euclid(1000).rem_euclid(86_400);
        format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    };
    let window_end = now + 2000;
    let hours = format!("{}-{}", second(now - 60_000), second(window_end));
    let settings = SpoolSettings { max_calls: Some(1), ..sales(Some(&hours)) };
    let spool = Running::start(host.clone(), "sched-held-window", settings);
    stage(&spool, "long.call", &CALL.replace("s@ctx", "long@ctx"), now - 2000);
    host.wait_for("the long call", WAIT, |r| r.calls.len() == 1);
    stage(&spool, "sales-1.call", CALL, now - 1000);
    wait_snapshot(&spool, "the sales file held by maxcalls", |s| s.held == 1);
    // The window closes while the file is held; then the long call ends and frees the line.
    while bookkeeping::now_ms() < window_end + 1000 {
        std::thread::sleep(Duration::from_millis(20));
    }
    gate.open();
    wait_snapshot(&spool, "the sales file waiting for its window", |s| s.waiting_window == 1 && s.held == 0);
    assert_eq!(calls(&host), 1, "the held file was dialled after its window closed");
    assert_eq!(std::fs::read_to_string(spool.paths.outgoing.join("sales-1.call")).unwrap(), CALL);
}

#[test]
fn a_campaign_at_its_maxcalls_does_not_hold_back_other_files() {
    let gate = Gate::default();
    let g = gate.clone();
    let host = FakeHost::new(move |call, _| {
        if call.dest.starts_with(b"sales") {
            g.wait();
        }
        answered()
    });
    let mut settings = sales(None);
    let mut campaign = settings.campaigns[0].clone();
    campaign.max_calls = Some(1);
    settings.campaigns = Arc::new(vec![campaign]);
    let spool = Running::start(host.clone(), "sched-campaign-maxcalls", settings);
    let now = bookkeeping::now_ms();
    stage(&spool, "sales-1.call", &CALL.replace("s@ctx", "sales1@ctx"), now - 3000);
    stage(&spool, "sales-2.call", &CALL.replace("s@ctx", "sales2@ctx"), now - 2000);
    stage(&spool, "other.call", &CALL.replace("s@ctx", "other@ctx"), now - 1000);
    host.wait_for("the first sales call and the other call", WAIT, |r| r.calls.len() == 2);
    let snapshot = wait_snapshot(&spool, "the second sales file held", |s| s.campaigns[0].held == 1);
    assert_eq!(snapshot.campaigns[0].in_progress, 1);
    gate.open();
    host.wait_for("all calls", WAIT, |r| r.calls.len() == 3);
    let mut order: Vec<String> = host.with(|r| r.calls.iter().map(|c| c.0.clone()).collect());
    // The first two start together on two workers; the held one only after the first ended.
    order[..2].sort();
    assert_eq!(order, ["Local/other@ctx", "Local/sales1@ctx", "Local/sales2@ctx"]);
}

#[test]
fn a_campaign_with_a_channel_pattern_takes_only_files_dialling_it() {
    let mut trunk = crate::campaign::Campaign::new("trunk1");
    crate::campaign::apply(&mut trunk, "match", "*.call").unwrap();
    crate::campaign::apply(&mut trunk, "channel", "Local/*@trunk1").unwrap();
    let campaigns = Arc::new(vec![trunk]);
    // As the module builds them: the workers name the campaign in events from their rules.
    let rules = Arc::new(crate::attempt::VisitRules { campaigns: campaigns.clone(), ..Default::default() });
    let settings = SpoolSettings { campaigns, rules, ..SpoolSettings::default() };
    let host = FakeHost::new(|_, _| answered());
    let spool = Running::start(host.clone(), "sched-channel", settings);
    assert!(spool.control.set_paused("trunk1", true, Via::Cli).unwrap().is_ok());
    spool.drop_in("a.call", &CALL.replace("s@ctx", "s@trunk1"));
    spool.drop_in("b.call", CALL);
    host.wait_for("the call on another channel", WAIT, |r| r.calls.len() == 1);
    let snapshot = wait_snapshot(&spool, "a.call paused", |s| s.waiting_paused == 1);
    assert_eq!(snapshot.campaigns[0].waiting_paused, 1);
    assert_eq!(host.with(|r| r.calls[0].0.clone()), "Local/s@ctx");
    assert!(spool.control.set_paused("trunk1", false, Via::Cli).unwrap().is_ok());
    host.wait_for("the campaign's call", WAIT, |r| r.calls.len() == 2);
    let campaign_of_events: Vec<Option<String>> = host.with(|r| {
        r.events
            .iter()
            .filter(|(event, _)| event == "SpoolAttempt")
            .map(|(_, fields)| fields.iter().find(|(key, _)| key == "Campaign").map(|(_, value)| value.clone()))
            .collect()
    });
    assert_eq!(campaign_of_events, [None, Some("trunk1".to_string())]);
}

/// Settings with one campaign `trunk1` for the files (`*.call`) dialling `Local/*@trunk1`, named in the
/// workers' events as the module builds them.
fn trunk1() -> SpoolSettings {
    let mut trunk = crate::campaign::Campaign::new("trunk1");
    crate::campaign::apply(&mut trunk, "match", "*.call").unwrap();
    crate::campaign::apply(&mut trunk, "channel", "Local/*@trunk1").unwrap();
    let campaigns = Arc::new(vec![trunk]);
    let rules = Arc::new(crate::attempt::VisitRules { campaigns: campaigns.clone(), ..Default::default() });
    SpoolSettings { campaigns, rules, ..SpoolSettings::default() }
}

/// Each listed file's campaign, by name, soonest first.
fn listed_campaigns(snapshot: &Snapshot) -> Vec<(String, Option<String>)> {
    snapshot.next.iter().map(|f| (f.name.clone(), f.campaign.clone())).collect()
}

#[test]
fn a_channel_campaign_counts_its_files_from_their_arrival_and_follows_a_rewrite() {
    let host = FakeHost::new(|_, _| answered());
    let spool = Running::start(host.clone(), "sched-channel-arrival", trunk1());
    let later = bookkeeping::now_ms() + 3_600_000;
    let on_trunk = CALL.replace("s@ctx", "s@trunk1");
    stage(&spool, "a.call", &on_trunk, later);
    stage(&spool, "b.call", CALL, later + 1000);
    // Long before either falls due, the campaign counts the file dialling its channel.
    let snapshot = wait_snapshot(&spool, "both queued", |s| s.queued == 2);
    assert_eq!(snapshot.campaigns[0].queued, 1, "{snapshot:?}");
    let a_in_trunk = ("a.call".to_string(), Some("trunk1".to_string()));
    assert_eq!(listed_campaigns(&snapshot), [a_in_trunk, ("b.call".to_string(), None)]);

    // Rewritten (replaced by a rename): each follows its new Channel: line.
    stage(&spool, "a.call", CALL, later);
    stage(&spool, "b.call", &on_trunk, later + 1000);
    let snapshot = wait_snapshot(&spool, "the rewrites followed", |s| {
        listed_campaigns(s) == [("a.call".to_string(), None), ("b.call".to_string(), Some("trunk1".to_string()))]
    });
    assert_eq!(snapshot.campaigns[0].queued, 1, "{snapshot:?}");
    // Rewritten in place (no rename), its date set again before the writer closes it: it is never due.
    let path = spool.paths.outgoing.join("b.call");
    let mut writer = std::fs::OpenOptions::new().write(true).truncate(true).open(&path).unwrap();
    writer.write_all(CALL.as_bytes()).unwrap();
    bookkeeping::set_times(&path, later + 1000, later + 1000).unwrap();
    drop(writer);
    let snapshot = wait_snapshot(&spool, "the in-place rewrite followed", |s| s.campaigns[0].queued == 0);
    assert_eq!(listed_campaigns(&snapshot), [("a.call".to_string(), None), ("b.call".to_string(), None)]);
    assert_eq!(calls(&host), 0, "a file due in an hour was dialled");
}

/// The campaign counted at arrival is the one that gates the file and the one its visit names; a file
/// waiting for its retry stays counted.
#[test]
fn a_channel_campaign_file_is_counted_as_its_visit_names_it_and_while_it_waits_for_a_retry() {
    let host = FakeHost::new(|_, _| busy());
    let spool = Running::start(host.clone(), "sched-channel-retry", trunk1());
    assert!(spool.control.set_paused("trunk1", true, Via::Cli).unwrap().is_ok());
    let on_trunk = CALL.replace("s@ctx", "s@trunk1");
    spool.drop_in("a.call", &format!("{on_trunk}MaxRetries: 1\nRetryTime: 3600\n"));
    let snapshot = wait_snapshot(&spool, "a.call paused", |s| s.waiting_paused == 1);
    assert_eq!(snapshot.campaigns[0].waiting_paused, 1, "{snapshot:?}");
    assert!(spool.control.set_paused("trunk1", false, Via::Cli).unwrap().is_ok());
    host.wait_for("the attempt", WAIT, |r| r.calls.len() == 1);
    let snapshot = wait_snapshot(&spool, "a.call waiting for its retry", |s| s.waiting_retry == 1);
    assert_eq!(snapshot.campaigns[0].queued, 1, "{snapshot:?}");
    assert_eq!(listed_campaigns(&snapshot), [("a.call".to_string(), Some("trunk1".to_string()))]);
    let named = host.with(|r| {
        r.events
            .iter()
            .filter(|(event, _)| event == "SpoolAttempt")
            .all(|(_, fields)| fields.iter().any(|(key, value)| key == "Campaign" && value == "trunk1"))
    });
    assert!(named, "the visit named another campaign");
}

/// A reload that adds a `channel =` campaign places the files already queued in it (read in batches
/// after the reload), not only those that arrive later.
#[test]
fn a_reload_places_queued_files_in_a_new_channel_campaign() {
    let host = FakeHost::new(|_, _| answered());
    let spool = Running::start(host.clone(), "sched-channel-reload", SpoolSettings::default());
    let later = bookkeeping::now_ms() + 3_600_000;
    for i in 0..3 {
        stage(&spool, &format!("t{i}.call"), &CALL.replace("s@ctx", "s@trunk1"), later + i);
    }
    stage(&spool, "other.call", CALL, later + 10);
    wait_snapshot(&spool, "all queued", |s| s.queued == 4);
    spool.control.update_settings(trunk1());
    let snapshot = wait_snapshot(&spool, "the campaign counting its files", |s| {
        s.campaigns.first().is_some_and(|c| c.queued == 3)
    });
    let members: Vec<_> = listed_campaigns(&snapshot).into_iter().filter(|(_, c)| c.is_some()).collect();
    assert_eq!(members.len(), 3, "{snapshot:?}");
    assert_eq!(calls(&host), 0);
}

#[test]
fn a_spool_directory_whose_name_is_not_utf8_is_used_as_it_is() {
    // astspooldir arrives as C string bytes; Linux paths are bytes. It used to be replaced, silently,
    // by /var/spool/asterisk when not UTF-8.
    let mut raw = std::env::temp_dir().as_os_str().as_bytes().to_vec();
    raw.extend_from_slice(b"/prs-unit-spool-\xff\xfe-caf\xe9-");
    raw.extend_from_slice(std::process::id().to_string().as_bytes());
    let c_text = std::ffi::CString::new(raw.clone()).unwrap();
    let spool_dir = crate::os::path_from_c(&c_text);
    assert_eq!(spool_dir.as_os_str().as_bytes(), raw.as_slice());
    let paths = SpoolPaths { outgoing: spool_dir.join("outgoing"), done: spool_dir.join("outgoing_done") };
    let _ = std::fs::remove_dir_all(&spool_dir);
    std::fs::create_dir_all(&paths.outgoing).unwrap();

    let host = FakeHost::new(|_, _| answered());
    let spool = Running::start_at(host.clone(), paths.clone(), SpoolSettings::default());
    spool.drop_in("a.call", &format!("{CALL}Archive: yes\n"));
    host.wait_for("the call", WAIT, |r| r.events.iter().any(|(e, _)| e == "SpoolFinished"));
    assert_eq!(calls(&host), 1);
    assert!(paths.done.join("a.call").exists(), "not archived under the non-UTF-8 spool directory");
    drop(spool);
    std::fs::remove_dir_all(&spool_dir).unwrap();
}

fn errors_logged(host: &FakeHost, needle: &str) -> usize {
    host.with(|r| r.logs.iter().filter(|(level, line)| *level == Level::Error && line.contains(needle)).count())
}

fn events_named(host: &FakeHost, name: &str) -> Vec<Vec<(String, String)>> {
    host.with(|r| r.events.iter().filter(|(e, _)| e == name).map(|(_, fields)| fields.clone()).collect())
}

#[test]
fn the_stock_spooler_loaded_at_run_time_suspends_dispatch_until_it_is_gone() {
    // One call in progress when pbx_spool appears: it finishes. Files falling due meanwhile are not
    // touched (left for pbx_spool), the status says why, and dispatch resumes by itself without it.
    let gate = Gate::default();
    let g = gate.clone();
    let host = FakeHost::new(move |call, _| {
        if call.channel() == b"Local/long@ctx" {
            g.wait();
        }
        answered()
    });
    let spool = Running::start(host.clone(), "sched-stock-runtime", SpoolSettings::default());
    spool.drop_in("long.call", &format!("{}Archive: yes\n", CALL.replace("s@ctx", "long@ctx")));
    host.wait_for("the long call", WAIT, |r| r.calls.len() == 1);

    host.set_stock_spooler_loaded(true);
    let waiting = CALL.replace("s@ctx", "later@ctx");
    spool.drop_in("b.call", &waiting);
    spool.drop_in("c.call", &waiting);
    host.wait_for("the suspension", WAIT, |r| r.events.iter().any(|(e, _)| e == "SpoolSuspended"));
    let snapshot = wait_snapshot(&spool, "both files held", |s| s.due_suspended == 2);
    assert_eq!(snapshot.held, 0, "not held back by maxcalls/maxrate");
    assert_eq!(snapshot.suspended.as_deref(), Some(STOCK_SPOOLER_REASON));
    assert_eq!(snapshot.in_progress, 1);
    let status = crate::report::status(&snapshot, Default::default(), &[], &[]);
    assert!(status.contains("DISPATCH SUSPENDED: pbx_spool.so is loaded too"), "{status}");
    let file_state = spool.control.snapshot(SnapshotQuery { limit: 10, file: Some("b.call".into()) }).unwrap();
    assert_eq!(file_state.file_state.as_deref(), Some("due, not dispatched while pbx_spool.so is loaded"));
    let suspended = events_named(&host, "SpoolSuspended");
    assert_eq!(suspended.len(), 1);
    assert!(suspended[0].contains(&("Reason".to_string(), STOCK_SPOOLER_REASON.to_string())), "{suspended:?}");
    assert!(suspended[0].contains(&("InProgress".to_string(), "1".to_string())), "{suspended:?}");

    // The call in progress finishes and is archived; nothing else is dialled, nothing else written.
    gate.open();
    host.wait_for("the long call's end", WAIT, |r| r.events.iter().any(|(e, _)| e == "SpoolFinished"));
    assert!(spool.paths.done.join("long.call").exists());
    wait_snapshot(&spool, "the call's end noted", |s| s.in_progress == 0 && s.due_suspended == 2);
    assert_eq!(calls(&host), 1);
    for name in ["b.call", "c.call"] {
        assert_eq!(std::fs::read_to_string(spool.paths.outgoing.join(name)).unwrap(), waiting, "{name} touched");
    }
    assert_eq!(errors_logged(&host, "noload => pbx_spool.so"), 1, "one ERROR line per suspension");
    assert!(host.logged("module unload pbx_spool.so"));
    assert!(events_named(&host, "SpoolResumed").is_empty());

    // Looked at again while suspended (about once a second), and resumed once it is gone.
    let checks = host.stock_spooler_checks();
    host.wait_for("another look for pbx_spool", WAIT, |_| host.stock_spooler_checks() > checks);
    host.set_stock_spooler_loaded(false);
    host.wait_for("both held files placed", WAIT, |r| r.calls.len() == 3);
    assert_eq!(events_named(&host, "SpoolResumed").len(), 1);
    assert!(host
        .with(|r| r.logs.iter().any(|(level, line)| *level == Level::Notice && line.contains("resumes dispatching"))));
    assert!(spool.snapshot().suspended.is_none());
    assert_eq!(errors_logged(&host, "noload => pbx_spool.so"), 1);
}

#[test]
fn the_stock_spooler_loaded_while_nothing_is_due_is_reported_when_outgoing_changes() {
    // pbx_spool loaded at run time takes every file there at once; our next dispatch may never come, but
    // the change in outgoing/ (here: a file dated an hour ahead) makes us look, and say so.
    let host = FakeHost::new(|_, _| answered());
    let spool = Running::start(host.clone(), "sched-stock-idle", SpoolSettings::default());
    wait_snapshot(&spool, "the scheduler running", |_| true);
    host.set_stock_spooler_loaded(true);
    let later = bookkeeping::now_ms() + 3_600_000;
    let staged = spool.paths.outgoing.parent().unwrap().join("later.call.tmp");
    std::fs::write(&staged, CALL).unwrap();
    bookkeeping::set_times(&staged, later, later).unwrap();
    std::fs::rename(&staged, spool.paths.outgoing.join("later.call")).unwrap();
    host.wait_for("the suspension", WAIT, |r| r.events.iter().any(|(e, _)| e == "SpoolSuspended"));
    assert_eq!(errors_logged(&host, "noload => pbx_spool.so"), 1);
    assert_eq!(calls(&host), 0);
    assert!(spool.snapshot().suspended.is_some());
}

#[test]
fn the_stock_spooler_loaded_before_the_scheduler_starts_suspends_it_from_the_start() {
    let host = FakeHost::new(|_, _| answered());
    host.set_stock_spooler_loaded(true);
    let paths = temp_spool("sched-stock-start");
    std::fs::write(paths.outgoing.join("a.call"), CALL).unwrap();
    let spool = Running::start_at(host.clone(), paths, SpoolSettings::default());
    host.wait_for("the suspension", WAIT, |r| r.events.iter().any(|(e, _)| e == "SpoolSuspended"));
    wait_snapshot(&spool, "the file held", |s| s.due_suspended == 1 && s.suspended.is_some());
    assert_eq!(calls(&host), 0);
    assert_eq!(errors_logged(&host, "noload => pbx_spool.so"), 1);
    host.set_stock_spooler_loaded(false);
    host.wait_for("the call", WAIT, |r| r.calls.len() == 1);
    assert_eq!(events_named(&host, "SpoolResumed").len(), 1);
}

#[test]
fn a_worker_that_meets_the_stock_spooler_before_starting_leaves_the_file_to_it() {
    // pbx_spool appears after the scheduler dispatched b.call and before its worker records the
    // attempt: the worker leaves it as it was, the scheduler suspends, and b.call is dialled once,
    // after pbx_spool is gone.
    let host = FakeHost::new(|_, _| answered());
    host.load_stock_spooler_when_logging("b.call, Retries");
    let spool = Running::start(host.clone(), "sched-stock-worker", SpoolSettings::default());
    spool.drop_in("b.call", CALL);
    host.wait_for("the suspension", WAIT, |r| r.events.iter().any(|(e, _)| e == "SpoolSuspended"));
    wait_snapshot(&spool, "b.call held", |s| s.due_suspended == 1 && s.in_progress == 0);
    assert_eq!(calls(&host), 0);
    assert_eq!(std::fs::read_to_string(spool.paths.outgoing.join("b.call")).unwrap(), CALL);
    assert_eq!(errors_logged(&host, "noload => pbx_spool.so"), 1);
    host.load_stock_spooler_when_logging("a line never logged");
    host.set_stock_spooler_loaded(false);
    host.wait_for("the call", WAIT, |r| r.events.iter().any(|(e, _)| e == "SpoolFinished"));
    assert_eq!(calls(&host), 1);
    assert!(!spool.paths.outgoing.join("b.call").exists());
}

#[test]
fn files_the_stock_spooler_retried_meanwhile_are_met_at_their_new_date_on_resume() {
    // While suspended, pbx_spool dials a held file and records a retry (EndRetry, mtime moved ahead):
    // on resume the file is not dialled at once but at the date pbx_spool gave it.
    let host = FakeHost::new(|_, _| answered());
    host.set_stock_spooler_loaded(true);
    let spool = Running::start(host.clone(), "sched-stock-retry", SpoolSettings::default());
    spool.drop_in("r.call", &format!("{CALL}MaxRetries: 2\n"));
    wait_snapshot(&spool, "r.call held", |s| s.due_suspended == 1);
    let path = spool.paths.outgoing.join("r.call");
    let now = bookkeeping::now_ms();
    let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    write!(file, "\nStartRetry: 4242 1 ({})\n\nEndRetry: 4242 1 ({})\n", now / 1000, now / 1000).unwrap();
    drop(file);
    let retry_at = now + 1500;
    bookkeeping::set_times(&path, retry_at, retry_at).unwrap();
    wait_snapshot(&spool, "r.call queued at its new date", |s| s.due_suspended == 0 && s.waiting_retry + s.queued == 1);
    host.set_stock_spooler_loaded(false);
    host.wait_for("the resume", WAIT, |r| r.events.iter().any(|(e, _)| e == "SpoolResumed"));
    host.wait_for("the retry", WAIT, |r| r.calls.len() == 1);
    assert!(bookkeeping::now_ms() >= retry_at, "dialled before the date pbx_spool gave it");
    assert_eq!(host.with(|r| r.calls[0].1), 2, "the attempt pbx_spool made counts");
}

#[test]
fn an_idle_scanned_spool_is_not_read_until_its_directory_changes() {
    use crate::config::WatchMode;
    let host = FakeHost::new(|_, _| answered());
    let settings = SpoolSettings { watch: WatchMode::Scan, scan_interval_ms: 100, ..SpoolSettings::default() };
    let spool = Running::start(host.clone(), "sched-idle-scan", settings);
    let later = std::time::SystemTime::now() + Duration::from_secs(3600);
    spool.drop_in("later.call", CALL);
    std::fs::File::options()
        .write(true)
        .open(spool.paths.outgoing.join("later.call"))
        .unwrap()
        .set_modified(later)
        .unwrap();
    let last_scan = || spool.snapshot().last_scan;
    // Read, read again under the same directory stamp after CONFIRM_AFTER, then skipped.
    let deadline = std::time::Instant::now() + WAIT;
    while !last_scan().is_some_and(|scan| scan.unchanged) {
        assert!(std::time::Instant::now() < deadline, "an idle directory is still read: {:?}", last_scan());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(last_scan().map(|scan| scan.names), Some(1));
    assert_eq!(spool.snapshot().queued, 1);
    // A new name changes the directory: read at the next interval, and the due file is placed.
    spool.drop_in("now.call", CALL);
    host.wait_for("the new file's call", WAIT, |r| r.calls.len() == 1);
    // A name removed by someone else is forgotten too.
    std::fs::remove_file(spool.paths.outgoing.join("later.call")).unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while spool.snapshot().queued != 0 {
        assert!(std::time::Instant::now() < deadline, "a removed name is still queued");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_start_scan_and_each_due_file_are_measured_for_the_metrics() {
    let host = FakeHost::new(|_, _| answered());
    let spool = Running::start(host.clone(), "sched-metrics", SpoolSettings::default());
    host.wait_for("the start-up scan", WAIT, |_| spool.control.stats.tallies.counts().scan_duration.count() == 1);
    spool.drop_in("a.call", CALL);
    spool.drop_in("b.call", CALL);
    host.wait_for("two calls", WAIT, |r| r.events.iter().filter(|(e, _)| e == "SpoolFinished").count() == 2);
    // The report of a call's start reaches the scheduler before its end does.
    let _ = spool.snapshot();
    let counts = spool.control.stats.tallies.counts();
    assert_eq!(counts.dial_latency.count(), 2);
    assert_eq!(counts.rescans.values().sum::<u64>(), 1, "{:?}", counts.rescans);
    assert_eq!(counts.inotify_overflows, 0);
    assert_eq!(counts.attempts.get(""), Some(&2));
}

/// A peer node "peer" beside this one ("me") on a shared spool: it beats every 200 ms (backlog 0, so it
/// never looks busy) until it dies, and never takes a file itself.
struct PeerNode {
    beating: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PeerNode {
    /// A spool run by "me", once it sees "peer" live.
    fn beside_me(host: &Arc<FakeHost>, name: &str) -> (Running, PeerNode) {
        use crate::membership::Heartbeat;
        let paths = temp_spool(name);
        let nodes_dir = paths.outgoing.parent().unwrap().join(heartbeat::NODES_DIR);
        std::fs::create_dir_all(&nodes_dir).unwrap();
        let beating = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let thread = {
            let (beating, file) = (beating.clone(), nodes_dir.join("peer"));
            std::thread::spawn(move || {
                for beat in 1.. {
                    if !beating.load(Ordering::SeqCst) {
                        return;
                    }
                    std::fs::write(&file, Heartbeat { beat, backlog: 0 }.render()).unwrap();
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        };
        let rules = crate::attempt::VisitRules { node: Some(Arc::from("me")), ..Default::default() };
        let settings = SpoolSettings { rules: Arc::new(rules), ..Default::default() };
        let spool = Running::start_at(host.clone(), paths, settings);
        let deadline = std::time::Instant::now() + WAIT;
        while spool.snapshot().nodes.map(|n| n.live) != Some(vec!["me".to_string(), "peer".to_string()]) {
            assert!(std::time::Instant::now() < deadline, "the peer never seen live: {:?}", spool.snapshot().nodes);
            std::thread::sleep(Duration::from_millis(20));
        }
        (spool, PeerNode { beating, thread: Some(thread) })
    }

    /// The peer stops beating, as a server that dies.
    fn die(mut self) {
        self.beating.store(false, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap();
    }
}

impl Drop for PeerNode {
    fn drop(&mut self) {
        self.beating.store(false, Ordering::SeqCst);
    }
}

/// A file name whose owner between "me" and "peer" is `owner`.
fn owned_by(owner: &str) -> String {
    use crate::membership::owner_of;
    (0..).map(|i| format!("f{i}.call")).find(|f| owner_of(f.as_bytes(), ["me", "peer"]) == Some(owner)).unwrap()
}

#[test]
fn on_a_shared_spool_this_nodes_file_goes_at_once_and_a_live_peers_only_after_the_grace() {
    use crate::membership::OWNER_GRACE_MS;
    let host = FakeHost::new(|_, _| answered());
    let (spool, peer) = PeerNode::beside_me(&host, "owners-grace");
    let nodes_dir = spool.paths.outgoing.parent().unwrap().join(heartbeat::NODES_DIR);
    let dropped = std::time::Instant::now();
    spool.drop_in(&owned_by("peer"), &CALL.replace("s@ctx", "peer@ctx"));
    spool.drop_in(&owned_by("me"), &CALL.replace("s@ctx", "me@ctx"));
    host.wait_for("this node's file", WAIT, |r| r.calls.len() == 1);
    assert_eq!(host.with(|r| r.calls[0].0.clone()), "Local/me@ctx", "this node's own file first");
    // The peer dies: its file is placed here once it is seen gone and the grace is over.
    peer.die();
    host.wait_for("the peer's file", WAIT, |r| r.calls.len() == 2);
    let waited = dropped.elapsed();
    assert_eq!(host.with(|r| r.calls[1].0.clone()), "Local/peer@ctx");
    assert!(waited >= Duration::from_millis(OWNER_GRACE_MS - 500), "the peer's file waited its grace: {waited:?}");
    let nodes = spool.snapshot().nodes.unwrap();
    assert_eq!((nodes.taken_as_owner, nodes.left_to_owner, nodes.taken_after_grace), (1, 1, 1), "{nodes:?}");
    // The grace alone let this node take the file; the peer is seen gone at the first look at the
    // heartbeats (one a second) after its beat is 3 s old, which may come a little later.
    let deadline = std::time::Instant::now() + WAIT;
    while spool.snapshot().nodes.map(|n| n.live) != Some(vec!["me".to_string()]) {
        assert!(std::time::Instant::now() < deadline, "the peer never seen gone: {:?}", spool.snapshot().nodes);
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(spool);
    assert!(!nodes_dir.join("me").exists(), "this node's heartbeat is removed at a clean stop");
}

#[test]
fn a_peers_file_its_owner_re_dates_gets_a_whole_new_grace_at_its_new_date() {
    use crate::membership::OWNER_GRACE_MS;
    let host = FakeHost::new(|_, _| answered());
    let (spool, _peer) = PeerNode::beside_me(&host, "owners-redated");
    let name = owned_by("peer");
    spool.drop_in(&name, CALL);
    let deadline = std::time::Instant::now() + WAIT;
    while spool.snapshot().nodes.map(|n| n.left_to_owner) != Some(1) {
        assert!(std::time::Instant::now() < deadline, "the peer's file never left to it: {:?}", spool.snapshot().nodes);
        std::thread::sleep(Duration::from_millis(20));
    }
    // The owner's attempt re-dates the file 2 s ahead (its StartRetry), within the grace.
    let new_date = bookkeeping::now_ms() + 2000;
    bookkeeping::set_times(&spool.paths.outgoing.join(&name), new_date, new_date).unwrap();
    // The owner does not come back to it: this node takes it, but only a whole grace after the new date,
    // not when the grace counted from the first date ends.
    host.wait_for("the peer's file", WAIT + Duration::from_millis(OWNER_GRACE_MS), |r| r.calls.len() == 1);
    let taken_at = bookkeeping::now_ms();
    assert!(
        taken_at >= new_date + OWNER_GRACE_MS as i64 - 500,
        "taken {} ms after its new date, before a whole grace of {OWNER_GRACE_MS} ms",
        taken_at - new_date
    );
    let nodes = spool.snapshot().nodes.unwrap();
    assert_eq!((nodes.taken_as_owner, nodes.left_to_owner, nodes.taken_after_grace), (0, 2, 1), "{nodes:?}");
}
