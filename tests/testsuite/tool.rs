//! The `callfile` companion tool against a live spool: `submit` dials, `bulk` of 1,000 numbers makes
//! exactly 1,000 calls, `bulk` without `--config` follows the calling window of the pbx_spool_rs.conf the
//! module reads, `check` reports the same problems the module logs for the same file, and `--at` with a
//! time zone dates the file at the instant meant.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use harness::events::ue;
use harness::fixtures::parity::{setup, spooler_ready, DIALPLAN};
use harness::{Asterisk, Spooler, SOON};

/// The `callfile` binary built beside this test binary (the tool is its own package in the workspace, so
/// Cargo does not hand its path to this package's tests): `<target>/<profile>/callfile`.
fn callfile_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let bin = exe.parent().and_then(|deps| deps.parent()).expect("<target>/<profile>/deps").join("callfile");
    assert!(bin.is_file(), "{} does not exist: build it first (cargo build --release -p callfile)", bin.display());
    bin
}

fn callfile(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(callfile_bin()).args(args).output().expect("run callfile");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn spool_arg(ast: &Asterisk) -> String {
    ast.spool_dir().display().to_string()
}

/// `callfile submit` into `ast`'s spool of a call to `Local/s@answer` that goes on to `report`, where it
/// reports `FILE=file`; `extra` adds flags (due time, more variables).
fn submit_report_call(ast: &Asterisk, file: &str, extra: &[&str]) -> (i32, String, String) {
    let spool = spool_arg(ast);
    let file = format!("FILE={file}");
    let mut args =
        vec!["submit", "--spool", &spool, "--channel", "Local/s@answer", "--context", "report", "--extension", "s"];
    args.extend(["--set", &file]);
    args.extend_from_slice(extra);
    callfile(&args)
}

#[test]
fn submit_into_a_live_spool_dials() {
    let ast = setup(Asterisk::builder(Spooler::Rust)).start();
    spooler_ready(&ast);
    let (code, stdout, stderr) = submit_report_call(&ast, "submitted", &["--set", "A=from-the-tool"]);
    assert_eq!(code, 0, "stdout {stdout}\nstderr {stderr}");
    let placed = Path::new(stdout.trim());
    assert!(placed.starts_with(ast.outgoing_dir()), "printed path {stdout}");
    let report = ast.expect_event("the submitted call", SOON, ue("Report", "submitted"));
    assert_eq!(report.get("A"), Some("from-the-tool"), "{report:?}");
    ast.expect_until("the file to be finished", SOON, || !placed.exists());
    // Nothing else was left in the spool: no temporary file in outgoing/ at any time.
    let leftovers: Vec<_> = std::fs::read_dir(ast.outgoing_dir()).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// `date` (coreutils) in `zone`, else in the system's zone: the test computes wall-clock times with a tool
/// other than the one under test.
fn wall_clock(zone: Option<&str>, epoch_seconds: u64, format: &str) -> String {
    let mut date = Command::new("date");
    if let Some(zone) = zone {
        date.env("TZ", zone);
    }
    let out = date.arg("-d").arg(format!("@{epoch_seconds}")).arg(format!("+{format}")).output().expect("run date");
    assert!(out.status.success(), "date: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn mtime_seconds(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().modified().unwrap().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn submit_at_a_time_in_another_zone_is_due_then() {
    let ast = setup(Asterisk::builder(Spooler::Rust)).start();
    spooler_ready(&ast);
    let spool = spool_arg(&ast);
    // A zone whose clock differs from the machine's by hours, so that a zone ignored is a call not placed.
    let zone = if wall_clock(None, 0, "%z") == "+0900" { "America/Los_Angeles" } else { "Asia/Tokyo" };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let due = now + 3;
    let at = wall_clock(Some(zone), due, "%Y-%m-%d %H:%M:%S");
    let (code, stdout, stderr) = submit_report_call(&ast, "zoned", &["--at", &at, "--tz", zone]);
    assert_eq!(code, 0, "--at {at:?} --tz {zone}\nstdout {stdout}\nstderr {stderr}");
    let placed = Path::new(stdout.trim());
    assert_eq!(mtime_seconds(placed), due, "--at {at:?} --tz {zone} dates the file at that instant");
    ast.expect_event("the call due in 3 s, given in another zone", SOON, ue("Report", "zoned"));

    // The zone in the time itself, far ahead: dated so, and left waiting in outgoing/.
    let (code, stdout, stderr) = submit_report_call(&ast, "later", &["--at", "2036-12-01T09:30+03:00"]);
    assert_eq!(code, 0, "stdout {stdout}\nstderr {stderr}");
    let later = Path::new(stdout.trim());
    assert_eq!(mtime_seconds(later), 2_111_725_800, "2036-12-01 06:30 UTC");
    // An unknown zone is a usage error, and nothing is placed.
    let (code, stdout, stderr) = callfile(&[
        "submit",
        "--spool",
        &spool,
        "--at",
        "2036-12-01 09:30",
        "--tz",
        "Mars/Olympus",
        later.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "stdout {stdout}\nstderr {stderr}");
    assert!(stderr.contains("Mars/Olympus"), "{stderr}");
    let waiting: Vec<_> = std::fs::read_dir(ast.outgoing_dir()).unwrap().map(|entry| entry.unwrap().path()).collect();
    assert_eq!(waiting, vec![later.to_path_buf()]);
}

#[test]
fn bulk_of_1000_numbers_makes_exactly_1000_calls() {
    let ast = setup(Asterisk::builder(Spooler::Rust)).start();
    spooler_ready(&ast);
    let numbers: String = (0..1000).map(|i| format!("555{i:04}\n")).collect();
    let numbers_path = ast.path("numbers.txt");
    std::fs::write(&numbers_path, format!("# campaign\n{numbers}\n")).unwrap();
    let template = ast.path("campaign.call");
    std::fs::write(
        &template,
        "Channel: Local/s@answer\nContext: bulk\nExtension: s\nSet: FILE=bulk\nSet: N={number}\n",
    )
    .unwrap();
    let spool = spool_arg(&ast);
    // The instance has no pbx_spool_rs.conf, and the host's /etc/asterisk (read by default) is not this
    // instance's: the run must not depend on what the machine has installed.
    let (code, stdout, stderr) = callfile(&[
        "bulk",
        "--no-config",
        "--spool",
        &spool,
        numbers_path.to_str().unwrap(),
        "--template",
        template.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "stdout {stdout}\nstderr {stderr}");
    let is_bulk = |m: &harness::Message| m.is_user_event("Bulk");
    let count = ast.ami().wait_for_count(1000, Duration::from_secs(120), is_bulk);
    assert_eq!(count, 1000, "{}", ast.diagnostics());
    let distinct: BTreeSet<String> =
        ast.ami().events().iter().filter(|m| is_bulk(m)).filter_map(|m| m.get("N").map(str::to_string)).collect();
    assert_eq!(distinct.len(), 1000, "every number called once");
    ast.expect_until("outgoing/ to empty", SOON, || std::fs::read_dir(ast.outgoing_dir()).unwrap().next().is_none());
    // A bounded window for stray duplicates.
    let count = ast.ami().wait_for_count(1001, Duration::from_secs(2), is_bulk);
    assert_eq!(count, 1000, "a number was called twice");
}

/// Where the window test's calls go: each reports its number and Asterisk's clock when it ran.
const STAMP: &str = "
[stamp]
exten => s,1,UserEvent(Stamped,N: ${N},At: ${STRFTIME(,,%s.%3q)})
 same => n,Hangup()
";

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn mtime_ms(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().modified().unwrap().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// `bulk` with neither `--config` nor `--spool`, as an admin runs it: asterisk.conf names the spool and
/// astetcdir, and the pbx_spool_rs.conf there (the one the module reads) has a campaign whose window
/// (Asia/Tokyo) opens twelve seconds from now. Started now, the four calls spread over six seconds are
/// dated into the window instead, 1.5 s apart, with a warning; the summary shows the window's opening
/// in Tokyo time and UTC; the manifest lists them; and Asterisk dials them one by one from the opening,
/// not in a burst (which is what happens to files dated before their window opens).
#[test]
fn bulk_without_config_follows_the_installed_calling_window() {
    let ast = setup(Asterisk::builder(Spooler::Rust)).extensions(&format!("{DIALPLAN}{STAMP}")).start();
    spooler_ready(&ast);
    // Written once Asterisk is up, so a slow boot cannot eat the seconds before the window.
    let opens_at = now_ms() / 1000 + 12;
    let clock = |seconds: u64| wall_clock(Some("Asia/Tokyo"), seconds, "%H:%M:%S");
    let installed = format!(
        "[general]\n\n[window]\nmatch = window-*\nhours = {}-{}\ntimezone = Asia/Tokyo\n",
        clock(opens_at),
        clock(opens_at + 3600)
    );
    ast.write_etc("pbx_spool_rs.conf", &installed);
    ast.cli("module reload pbx_spool_rs.so");
    // asterisk.conf as the host sees the instance: the same etc/ and spool the module uses.
    let asterisk_conf = ast.path("host-asterisk.conf");
    let directories = format!(
        "[directories]\nastetcdir => {}\nastspooldir => {}\n",
        ast.etc_dir().display(),
        ast.spool_dir().display()
    );
    std::fs::write(&asterisk_conf, directories).unwrap();
    let numbers = ast.path("numbers.txt");
    std::fs::write(&numbers, "9001\n9002\n9003\n9004\n").unwrap();
    let template = ast.path("window.call");
    std::fs::write(&template, "Channel: Local/s@answer\nContext: stamp\nExtension: s\nSet: N={number}\n").unwrap();
    let started = now_ms();
    let (code, stdout, stderr) = callfile(&[
        "bulk",
        "--asterisk-conf",
        asterisk_conf.to_str().unwrap(),
        numbers.to_str().unwrap(),
        "--template",
        template.to_str().unwrap(),
        "--spread",
        "6s",
    ]);
    assert_eq!(code, 0, "stdout {stdout}\nstderr {stderr}");
    assert!(started + 4500 < opens_at * 1000, "the test was too slow to start the calls before the window");
    let etc_conf = ast.etc_dir().join("pbx_spool_rs.conf");
    assert!(stderr.contains("join campaign [window] ("), "{stderr}");
    assert!(stderr.contains(&format!("of {}", etc_conf.display())), "{stderr}");
    assert!(stderr.contains("warning: 4 of 4 due times"), "{stderr}");
    let shown = |seconds: u64| {
        format!(
            "{} JST ({} UTC)",
            wall_clock(Some("Asia/Tokyo"), seconds, "%Y-%m-%d %H:%M:%S"),
            wall_clock(Some("UTC"), seconds, "%Y-%m-%d %H:%M:%S")
        )
    };
    assert!(stdout.contains(&format!("First call due {}\n", shown(opens_at))), "{stdout}");
    assert!(stdout.contains(&format!("Last call due  {}\n", shown(opens_at + 4))), "{stdout}");
    let mut dues: Vec<u64> =
        std::fs::read_dir(ast.outgoing_dir()).unwrap().map(|entry| mtime_ms(&entry.unwrap().path())).collect();
    dues.sort_unstable();
    let open_ms = opens_at * 1000;
    assert_eq!(dues, [open_ms, open_ms + 1500, open_ms + 3000, open_ms + 4500], "dated into the window");
    let manifest = std::fs::read_to_string(ast.path("numbers.manifest.csv")).unwrap();
    let rows: Vec<&str> = manifest.lines().skip(1).collect();
    assert_eq!(rows.len(), 4, "{manifest}");
    assert!(rows.iter().all(|row| row.contains("+09:00,") && row.contains(",window-")), "{manifest}");

    let stamped = |m: &harness::Message| m.is_user_event("Stamped");
    let deadline = Duration::from_millis(open_ms + 4500 - now_ms().min(open_ms)) + SOON;
    let count = ast.ami().wait_for_count(4, deadline, stamped);
    assert_eq!(count, 4, "{}", ast.diagnostics());
    let mut dialled: Vec<f64> = ast
        .ami()
        .events()
        .iter()
        .filter(|m| stamped(m))
        .filter_map(|m| m.get("At").and_then(|at| at.parse().ok()))
        .collect();
    dialled.sort_by(f64::total_cmp);
    assert_eq!(dialled.len(), 4, "{dialled:?}");
    // Asterisk's clock, to the millisecond; the spool wakes within a few hundred ms of a due time.
    assert!(dialled[0] >= opens_at as f64 - 0.05, "dialled before the window opened: {dialled:?} < {opens_at}");
    assert!(dialled[3] - dialled[0] >= 3.5, "the spacing was lost (a burst at the opening): {dialled:?}");
}

#[test]
fn check_reports_what_the_module_logs() {
    let ast = setup(Asterisk::builder(Spooler::Rust)).start();
    spooler_ready(&ast);
    let contents = "Channel: Local/s@answer\nBogus line\nRetryTime: soon\nFrobnicate: yes\nContext: report\nExtension: s\nSet: FILE=checked\n";
    let outside = ast.path("checked.call");
    std::fs::write(&outside, contents).unwrap();
    let (code, stdout, _) = callfile(&["check", outside.to_str().unwrap()]);
    assert_eq!(code, 0, "warnings only: the spool would still place it\n{stdout}");
    let expected_problems =
        ["Syntax error at line 2", "Invalid retrytime at line 3", "Unknown keyword 'Frobnicate' at line 4"];
    for problem in expected_problems {
        assert!(stdout.contains(problem), "callfile check misses {problem:?}:\n{stdout}");
    }
    let mark = ast.log_mark();
    ast.drop_call_file("checked.call", contents);
    ast.expect_event("the checked call", SOON, ue("Report", "checked"));
    for problem in expected_problems {
        // Waits: the module logs before the call, but Asterisk's logger may write after the call's event.
        ast.expect_log_since(mark, &[problem]);
    }
    // And a refused file: same verdict from both.
    let refused = "Channel: PJSIP/123@trunk\nApplication: Playback\nData: x\n";
    std::fs::write(&outside, refused).unwrap();
    let (code, stdout, _) = callfile(&["check", outside.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("(rule first_leg, value 'PJSIP/123@trunk')"), "{stdout}");
    let mark = ast.log_mark();
    let dropped = ast.drop_call_file("refused.call", refused);
    ast.expect_until("the refused file to be removed", SOON, || !dropped.exists());
    ast.expect_log_since(mark, &["(rule first_leg, value 'PJSIP/123@trunk')"]);
}

/// `callfile submit --ami`: a dialer on another host submits through the manager's `SpoolSubmit`; the
/// call is placed, the same `--submit-id` again places nothing more, and a call the server's rules refuse
/// exits 1 with the rule. No spool directory is given to the tool.
#[test]
fn submit_over_ami_places_the_call_once_per_submit_id_and_reports_a_refusal() {
    let ast = setup(Asterisk::builder(Spooler::Rust)).start();
    spooler_ready(&ast);
    let (user, secret) = ast.ami_login();
    let secret_file = ast.spool_dir().parent().expect("the instance directory").join("ami-secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    let address = format!("127.0.0.1:{}", ast.ami_port());
    let secret_arg = secret_file.display().to_string();
    let ami = ["--ami", &address, "--ami-user", user, "--ami-secret-file", &secret_arg];
    let submit = |extra: &[&str]| {
        let mut args = vec!["submit", "--channel", "Local/s@answer", "--context", "report", "--extension", "s"];
        args.extend_from_slice(&ami);
        args.extend_from_slice(extra);
        callfile(&args)
    };
    let (code, stdout, stderr) = submit(&["--set", "FILE=over-ami", "--submit-id", "lead-9"]);
    assert_eq!((code, stdout.trim()), (0, "submit-lead-9.call"), "stderr {stderr}");
    ast.expect_event("the call submitted over the AMI", SOON, ue("Report", "over-ami"));
    let (code, stdout, stderr) = submit(&["--set", "FILE=over-ami", "--submit-id", "lead-9"]);
    assert_eq!((code, stdout.trim()), (0, "submit-lead-9.call (already submitted)"), "stderr {stderr}");
    let (code, _, stderr) = submit(&["--set", "SHELL(id)=1"]);
    assert_eq!(code, 1, "refused by the server's rules: {stderr}");
    assert!(stderr.contains("Refused: ") && stderr.contains("SHELL"), "{stderr}");
    let wrong = secret_file.with_file_name("wrong-secret");
    std::fs::write(&wrong, "nope\n").unwrap();
    let wrong_arg = wrong.display().to_string();
    let (code, _, stderr) = callfile(&[
        "submit",
        "--channel",
        "Local/s@answer",
        "--context",
        "report",
        "--extension",
        "s",
        "--ami",
        &address,
        "--ami-user",
        user,
        "--ami-secret-file",
        &wrong_arg,
    ]);
    assert_ne!(code, 0);
    assert!(stderr.contains("Login to the manager") && stderr.contains("failed"), "{stderr}");
    assert_eq!(ast.ami().count_events(ue("Report", "over-ami")), 1, "placed once");
}
