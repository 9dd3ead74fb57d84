//! The `callfile` binary's exit status for time zones it cannot use, run as an admin would run it: an
//! unknown `--tz` (also beside `--in`, where it once was accepted and ignored) and an unknown `TZ` are
//! usage errors (exit 2) and nothing reaches the spool.
//!
//! Writes only below the system's temp directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A spool (`outgoing/`, `tmp/`), an asterisk.conf pointing at it and at an empty etc/, a template and
/// two numbers, in a fresh directory.
fn scene(name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("callfile-exit-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    for sub in ["spool/outgoing", "spool/tmp", "etc"] {
        fs::create_dir_all(root.join(sub)).unwrap();
    }
    let directories = format!("[directories]\nastetcdir => {0}/etc\nastspooldir => {0}/spool\n", root.display());
    fs::write(root.join("etc/asterisk.conf"), directories).unwrap();
    fs::write(root.join("sales.call"), "Channel: PJSIP/{number}\nApplication: Playback\nData: promo\n").unwrap();
    fs::write(root.join("numbers.txt"), "100\n101\n").unwrap();
    root
}

fn bulk(root: &Path, extra: &[&str], tz: Option<&str>) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_callfile"));
    command.current_dir(root).args(["bulk", "--asterisk-conf", "etc/asterisk.conf", "--template", "sales.call"]);
    command.args(extra).arg("numbers.txt");
    if let Some(tz) = tz {
        command.env("TZ", tz);
    }
    let output = command.output().unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned())
}

fn outgoing(root: &Path) -> usize {
    fs::read_dir(root.join("spool/outgoing")).unwrap().count()
}

#[test]
fn unknown_time_zones_exit_2_and_place_nothing() {
    let root = scene("zones");
    for (extra, tz) in [
        (&["--tz", "Mars/Olympus", "--in", "1h"][..], None),
        (&["--tz", "Mars/Olympus", "--at", "2026-12-01 09:30"], None),
        (&["--at", "2026-12-01 09:30[Mars/Olympus]"], None),
        (&["--tz", "Europe/Berlin", "--in", "1h"], None),
        (&["--in", "1h"], Some("Mars/Olympus")),
    ] {
        let (code, stderr) = bulk(&root, extra, tz);
        assert_eq!(code, 2, "{extra:?} TZ={tz:?}: {stderr}");
        assert!(stderr.contains("Mars/Olympus") || stderr.contains("--tz"), "{extra:?}: {stderr}");
        assert_eq!(outgoing(&root), 0, "{extra:?} TZ={tz:?} placed files");
    }
    // The same run with a zone that exists places both calls.
    let (code, stderr) = bulk(&root, &["--in", "1h"], Some("Europe/Berlin"));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(outgoing(&root), 2);
    let _ = fs::remove_dir_all(&root);
}
