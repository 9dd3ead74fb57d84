//! Tests of the harness itself, against the stock pbx_spool only: if these fail, no other result of
//! the suite means anything.

use std::time::Duration;

use harness::{wait_until, Asterisk, Spooler, RUST_SO, STOCK_SO};

/// `Local/s@ctx` answers in `ctx`; once answered, the spool's side runs `ctx2`, which reports through
/// the AMI and hangs up.
const DIALPLAN: &str = "\
[ctx]
exten => s,1,Answer()
 same => n,Wait(10)

[ctx2]
exten => s,1,UserEvent(HarnessCheck,Value: 42)
 same => n,Hangup()
";

const CALL: &str = "Channel: Local/s@ctx\nContext: ctx2\nExtension: s\n";

/// The Asterisk under test (the packaged 22 unless `PBX_SPOOL_RS_ASTERISK` names a source build) boots
/// and is the version it claims to be.
#[test]
fn boots_the_asterisk_under_test_with_only_the_stock_spooler() {
    let ast = Asterisk::start(Spooler::Stock);
    eprintln!("boot took {:?}", ast.boot_time());

    let install = harness::env::Install::get();
    let version = ast.cli("core show version");
    let expected = format!("Asterisk {}", install.expected_version());
    assert!(version.contains(&expected), "unexpected version: {version} (expected {expected}, {install:?})");

    let listing = ast.cli("module show like pbx_spool");
    assert!(listing.contains(STOCK_SO), "pbx_spool.so not listed:\n{listing}");
    assert_eq!(ast.module_status(STOCK_SO).as_deref(), Some("Running"));
    assert!(!ast.module_loaded(RUST_SO), "pbx_spool_rs.so loaded without being asked for:\n{listing}");

    assert!(ast.is_alive());
    let threads = ast.thread_count();
    assert!(threads > 1, "Asterisk runs many threads; counted {threads}");
    let stable = ast.stable_thread_count(Duration::from_millis(500), Duration::from_secs(20));
    assert!(stable > 1, "stable thread count {stable}");
    ast.expect_log_lines(&["Asterisk Ready."], 1);
}

#[test]
fn stock_spooler_places_a_dropped_call_file() {
    let ast = Asterisk::builder(Spooler::Stock).extensions(DIALPLAN).start();
    let file = ast.drop_call_file("harness.call", CALL);

    let event =
        ast.expect_event("UserEvent HarnessCheck", Duration::from_secs(10), |e| e.is_user_event("HarnessCheck"));
    assert_eq!(event.get("Value"), Some("42"), "{event}");
    ast.expect_until("the call file to leave outgoing/", Duration::from_secs(10), || !file.exists());
    assert!(ast.wait_for_log("Call completed to Local/s@ctx", Duration::from_secs(10)), "{}", ast.diagnostics());
    assert_eq!(ast.ami().count_events(|e| e.is_user_event("HarnessCheck")), 1);
}

#[test]
fn instances_are_isolated_and_teardown_leaves_nothing() {
    let first = Asterisk::start(Spooler::Stock);
    let second = Asterisk::start(Spooler::Stock);
    assert_ne!(first.ami_port(), second.ami_port());
    assert_ne!(first.dir(), second.dir());
    assert_ne!(first.pid(), second.pid());
    assert!(first.cli("core show version").contains("Asterisk"));

    let (process, dir) = (first.process_handle(), first.dir().to_path_buf());
    drop(first);
    assert!(!process.is_alive(), "Asterisk pid {} still runs after drop", process.pid());
    if std::env::var("PBX_SPOOL_RS_KEEP").as_deref() != Ok("1") {
        assert!(!dir.exists(), "{} still exists after drop", dir.display());
    }
    // The other instance is untouched by its neighbour's teardown.
    second.assert_alive();
}

/// A crash is reported, not just noticed: an Asterisk killed by SIGSEGV is described with its signal and
/// the backtrace of its core file, teardown fails the test (Asterisk died although nothing asked it to),
/// and the instance directory is kept, with a marker the next run's sweep respects.
#[test]
fn a_crashed_asterisk_is_reported_with_its_signal_and_backtrace() {
    let mut ast = Asterisk::start(Spooler::Rust);
    let process = ast.process_handle();
    assert!(process.signal(libc::SIGSEGV));
    assert!(wait_until(Duration::from_secs(30), || !process.is_alive()), "Asterisk survived SIGSEGV");
    let report = ast.post_mortem();
    assert!(report.contains("killed by signal 11"), "{report}");
    assert!(report.contains("Backtrace of") && report.contains("#0 "), "no backtrace in:\n{report}");
    assert!(ast.diagnostics().contains("NOT RUNNING"), "{}", ast.diagnostics());
    let dir = ast.dir().to_path_buf();
    let teardown = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(ast)));
    let message = teardown.expect_err("teardown must fail the test when Asterisk died on its own");
    let message = message.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("Asterisk died during the test"), "{message}");
    assert!(dir.join("KEPT").is_file() && dir.join("backtrace.txt").is_file(), "{}", dir.display());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A hung Asterisk (here: stopped with SIGSTOP) is reported as alive but not answering, with every
/// thread's stack read by attaching gdb.
#[test]
fn a_hung_asterisk_is_reported_with_all_its_threads() {
    let mut ast = Asterisk::start(Spooler::Rust);
    let process = ast.process_handle();
    assert!(process.signal(libc::SIGSTOP));
    let report = ast.post_mortem();
    assert!(process.signal(libc::SIGCONT));
    assert!(report.contains("alive but does not answer"), "{report}");
    assert!(report.contains("Thread ") && report.contains("#0 "), "no thread stacks in:\n{report}");
    ast.assert_alive();
}
