//! Parity scenarios about when and how a call file arrives: future dates, re-dating, slow writers, hard
//! links, readers, and a burst of files. Shared dialplan and helpers are in `parity`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::time::{Duration, Instant, SystemTime};

use harness::events::{assert_no_more, events, expect_log_count, ue};
use harness::files::{drop_dated, expect_gone, outgoing_names};
use harness::fixtures::parity::{setup, spooler_caught_up, spooler_ready};
use harness::{both_spoolers, set_mtime, Spooler, SOON};

fn call(file: &str) -> String {
    format!("Channel: Local/s@answer\nContext: report\nExtension: s\nSet: FILE={file}\n")
}

both_spoolers! {
    /// Scenario 9: a file dated 3 s ahead waits for its date. pbx_spool works in whole seconds, so it
    /// may start up to a second early: "not before" is checked at 1.8 s.
    fn future_dated_file_waits(ast: &Asterisk, spooler: Spooler) configure(setup) {
        spooler_ready(ast);
        let dropped = Instant::now();
        let file = drop_dated(ast, "future.call", &call("future"),
            SystemTime::now() + Duration::from_secs(3));
        let dialed = ue("Dialed", "future");
        assert_no_more(ast, 0, Duration::from_millis(1800), "early placements", &dialed);
        ast.expect_event("the call at its date", SOON, &dialed);
        let after = dropped.elapsed();
        assert!(after >= Duration::from_millis(1800) && after <= Duration::from_secs(5),
            "placed {after:?} after dropping a file dated 3 s ahead");
        ast.expect_event("the answered side", SOON, ue("Report", "future"));
        expect_gone(ast, &file, SOON);
        assert_no_more(ast, 1, Duration::from_secs(1), "placements", &dialed);
    }
}

both_spoolers! {
    /// Scenario 10: a careless writer creates the file in outgoing/ and writes it in two halves 1.5 s
    /// apart. Both wait for the close and place it once, with the whole content (a variable from the
    /// second half is seen).
    fn slow_in_place_write(ast: &Asterisk, spooler: Spooler) configure(setup) {
        spooler_ready(ast);
        let path = ast.outgoing_dir().join("slow.call");
        let mut f = fs::File::create(&path).expect("create in outgoing/");
        f.write_all(b"Channel: Local/s@answer\nContext: report\n").unwrap();
        f.flush().unwrap();
        // Deliberate: the writer is slow; this is the scenario, not a wait for the spooler.
        std::thread::sleep(Duration::from_millis(1500));
        assert!(events(ast, ue("Dialed", "slow")).is_empty(), "placed while half written");
        f.write_all(b"Extension: s\nSet: FILE=slow\nSet: A=second-half\n").unwrap();
        drop(f);
        let e = ast.expect_event("the call", SOON, ue("Report", "slow"));
        assert_eq!(e.get("A"), Some("second-half"), "{e}");
        expect_gone(ast, &path, SOON);
        assert_no_more(ast, 1, Duration::from_secs(3), "placements", ue("Dialed", "slow"));
        assert_eq!(harness::events::log_count(ast, &["Invalid file contents"]), 0, "{}", ast.diagnostics());
    }
}

both_spoolers! {
    /// Scenario 11: a call file hard-linked into outgoing/ (IN_CREATE without IN_OPEN, as smsq does) is
    /// placed once. pbx_spool waits up to 2 s for an IN_OPEN that never comes.
    fn hard_link_is_placed(ast: &Asterisk, spooler: Spooler) configure(setup) {
        spooler_ready(ast);
        let src = ast.spool_dir().join("link-src.call");
        fs::write(&src, call("link")).unwrap();
        let target = ast.outgoing_dir().join("link.call");
        fs::hard_link(&src, &target).unwrap();
        ast.expect_event("the linked call", SOON, ue("Report", "link"));
        expect_gone(ast, &target, SOON);
        assert!(src.exists(), "only the link in outgoing/ is removed");
        assert_no_more(ast, 1, Duration::from_secs(3), "placements", ue("Dialed", "link"));
    }
}

both_spoolers! {
    /// Intentional difference (b): a file that appears in outgoing/ without being opened for writing
    /// there (a hard link), and is then only read by another process (a backup tool, a virus scanner, an
    /// admin's `cat`) before the spooler got to it. pbx_spool takes the reader's IN_OPEN for a writer and
    /// waits for an IN_CLOSE_WRITE that never comes: the file is never placed (until a restart).
    /// pbx_spool_rs places it. Stock is given 6 s, three times what a plain hard link needs.
    fn created_then_only_read(ast: &Asterisk, spooler: Spooler) configure(setup) {
        spooler_ready(ast);
        let src = ast.spool_dir().join("read-src.call");
        fs::write(&src, call("readonly")).unwrap();
        let target = ast.outgoing_dir().join("readonly.call");
        fs::hard_link(&src, &target).unwrap();
        let mut text = String::new();
        // pbx_spool_rs takes a hard link at once, so it may already have placed and removed the file: then
        // there is nothing left to read, and the scenario still checks it was placed exactly once.
        match fs::File::open(&target) {
            Ok(mut file) => {
                file.read_to_string(&mut text).unwrap();
            }
            Err(err) => assert!(
                spooler == Spooler::Rust && err.kind() == std::io::ErrorKind::NotFound,
                "{spooler:?}: {err}"
            ),
        }
        let dialed = ue("Dialed", "readonly");
        match spooler {
            Spooler::Stock => {
                assert_no_more(ast, 0, Duration::from_secs(6), "placements", &dialed);
                assert!(target.exists());
            }
            _ => {
                ast.expect_event("the call", SOON, ue("Report", "readonly"));
                expect_gone(ast, &target, SOON);
                assert_no_more(ast, 1, Duration::from_secs(2), "placements", &dialed);
            }
        }
    }
}

both_spoolers! {
    /// Intentional difference (a), earlier: a file queued for 8 s ahead is re-dated to now (touch).
    /// pbx_spool does not watch attribute changes and only looks at the file again at the old date;
    /// pbx_spool_rs places it at once.
    fn redated_earlier(ast: &Asterisk, spooler: Spooler) configure(setup) {
        spooler_ready(ast);
        let dropped = Instant::now();
        let file = drop_dated(ast, "earlier.call", &call("earlier"),
            SystemTime::now() + Duration::from_secs(8));
        // The spooler has queued the file at its first date before it is re-dated.
        spooler_caught_up(ast, "earlier");
        set_mtime(&file, SystemTime::now());
        let dialed = ue("Dialed", "earlier");
        match spooler {
            Spooler::Stock => {
                assert_no_more(ast, 0, Duration::from_secs(5), "placements before the old date", &dialed);
                ast.expect_event("the call at the old date", SOON, &dialed);
                let after = dropped.elapsed();
                assert!(after >= Duration::from_millis(6500), "placed {after:?} after dropping");
            }
            _ => {
                ast.expect_event("the call right after re-dating", Duration::from_secs(2), &dialed);
                assert!(dropped.elapsed() < Duration::from_secs(4));
            }
        }
        ast.expect_event("the answered side", SOON, ue("Report", "earlier"));
        expect_gone(ast, &file, SOON);
        assert_no_more(ast, 1, Duration::from_secs(1), "placements", &dialed);
    }
}

both_spoolers! {
    /// Intentional difference (a), later: a file queued for 2 s ahead is re-dated to 8 s ahead. pbx_spool
    /// places it at the old date anyway (it never re-reads the mtime of a queued file); pbx_spool_rs
    /// waits for the new date.
    fn redated_later(ast: &Asterisk, spooler: Spooler) configure(setup) {
        spooler_ready(ast);
        let dropped = Instant::now();
        let file = drop_dated(ast, "later.call", &call("later"),
            SystemTime::now() + Duration::from_secs(2));
        // The spooler has queued the file at its first date before it is re-dated.
        spooler_caught_up(ast, "later");
        set_mtime(&file, SystemTime::now() + Duration::from_millis(7500));
        let dialed = ue("Dialed", "later");
        match spooler {
            Spooler::Stock => {
                ast.expect_event("the call at the old date", SOON, &dialed);
                let after = dropped.elapsed();
                assert!(after <= Duration::from_secs(4), "placed {after:?} after dropping");
            }
            _ => {
                assert_no_more(ast, 0, Duration::from_secs(6), "placements before the new date", &dialed);
                ast.expect_event("the call at the new date", SOON, &dialed);
                let after = dropped.elapsed();
                assert!(after >= Duration::from_millis(7500) && after <= Duration::from_secs(10),
                    "placed {after:?} after dropping, re-dated to 8 s");
            }
        }
        ast.expect_event("the answered side", SOON, ue("Report", "later"));
        expect_gone(ast, &file, SOON);
        assert_no_more(ast, 1, Duration::from_secs(1), "placements", &dialed);
    }
}

/// Scenario 15's size.
const BURST: usize = 200;

both_spoolers! {
    /// Scenario 15: 200 call files dropped at once are each placed and completed exactly once.
    fn burst_of_files(ast: &Asterisk, spooler: Spooler) configure(setup) {
        spooler_ready(ast);
        let started = Instant::now();
        for n in 0..BURST {
            ast.drop_call_file(&format!("bulk-{n:03}.call"),
                &format!("Channel: Local/s@answer\nContext: bulk\nExtension: s\nSet: FILE=bulk\nSet: N={n}\n"));
        }
        let bulk = ue("Bulk", "bulk");
        let seen = ast.ami().wait_for_count(BURST, Duration::from_secs(90), &bulk);
        assert_eq!(seen, BURST, "{}", ast.diagnostics());
        eprintln!("[{spooler:?}] {BURST} calls answered in {:?}", started.elapsed());
        ast.expect_until("outgoing/ to empty", Duration::from_secs(30), || outgoing_names(ast).is_empty());
        // One more completion: the readiness probe.
        expect_log_count(ast, &["Call completed to Local/s@answer"], BURST + 1, Duration::from_secs(30));
        assert_no_more(ast, BURST, Duration::from_secs(2), "answered calls", &bulk);
        let mut per_file: BTreeMap<String, usize> = BTreeMap::new();
        for e in events(ast, &bulk) {
            *per_file.entry(e.get("N").unwrap_or("?").to_owned()).or_default() += 1;
        }
        let expected: BTreeMap<String, usize> = (0..BURST).map(|n| (n.to_string(), 1)).collect();
        assert_eq!(per_file, expected);
        assert_eq!(events(ast, ue("Dialed", "bulk")).len(), BURST);
        assert_eq!(harness::events::log_count(ast, &["Call completed to"]), BURST + 1);
    }
}
