//! Where things are: the Debian sid chroot holding the real Asterisk 22, its stock modules, our freshly
//! built `libpbx_spool_rs.so`, and the per-test instance directories inside the chroot.
//! Only paths and the one-time sweep of stale instance directories live here; nothing is started.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Once;

/// Default location of the chroot made by `tests/testsuite/env.sh`.
pub const DEFAULT_CHROOT: &str = "/var/cache/pbx_spool_rs/sid";
/// Stock modules, as seen from inside the chroot.
pub const STOCK_MODULE_DIR: &str = "/usr/lib/x86_64-linux-gnu/asterisk/modules";
/// Asterisk's shared data (documentation XML, sounds...), as seen from inside the chroot.
pub const STOCK_DATA_DIR: &str = "/usr/share/asterisk";
/// Stock configuration shipped by the package, as seen from inside the chroot.
pub const STOCK_ETC_DIR: &str = "/etc/asterisk";
/// Parent of all instance directories, as seen from inside the chroot.
pub const INSIDE_TESTS_DIR: &str = "/tmp/prs-tests";

/// The chroot's root on the host (`PBX_SPOOL_RS_ENV`, else the default). Panics with the fix when the
/// chroot has not been made, since no test can run without it.
pub fn chroot() -> PathBuf {
    let root = std::env::var_os("PBX_SPOOL_RS_ENV").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(DEFAULT_CHROOT));
    let asterisk = root.join("usr/sbin/asterisk");
    assert!(
        asterisk.is_file(),
        "no Asterisk chroot at {} ({} missing): run `sudo tests/testsuite/env.sh` first \
         (or point PBX_SPOOL_RS_ENV at an existing one)",
        root.display(),
        asterisk.display()
    );
    root
}

/// Host path of something given by its path inside the chroot.
pub fn host_path(inside: &str) -> PathBuf {
    chroot().join(inside.trim_start_matches('/'))
}

/// Host path of a stock module, or a panic naming it when the chroot's Asterisk lacks it.
pub fn stock_module(file: &str) -> PathBuf {
    let inside = format!("{STOCK_MODULE_DIR}/{file}");
    let host = host_path(&inside);
    assert!(host.is_file(), "stock module {file} does not exist in the chroot ({})", host.display());
    host
}

/// Our module as built by cargo: `PBX_SPOOL_RS_SO`, else `target/release`, else `target/debug`.
/// Fails (never skips) when none exists, so a missing build shows up as a red test.
pub fn our_module() -> PathBuf {
    if let Some(path) = std::env::var_os("PBX_SPOOL_RS_SO") {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "PBX_SPOOL_RS_SO={} does not exist", path.display());
        return path;
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates =
        [manifest.join("target/release/libpbx_spool_rs.so"), manifest.join("target/debug/libpbx_spool_rs.so")];
    for candidate in &candidates {
        if candidate.is_file() {
            return candidate.clone();
        }
    }
    panic!(
        "pbx_spool_rs.so is not built: none of {} or {} exists. Build it first \
         (`cargo build --release`), or set PBX_SPOOL_RS_SO to the .so to test",
        candidates[0].display(),
        candidates[1].display()
    );
}

/// Removes, once per test process, the instance directories left by earlier runs whose owning test
/// process (the pid in the directory name) is gone. Directories of live processes, including other
/// test binaries running right now, are left alone.
pub fn sweep_stale_instances() {
    static SWEEP: Once = Once::new();
    SWEEP.call_once(|| {
        let Ok(entries) = fs::read_dir(host_path(INSIDE_TESTS_DIR)) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = owner_pid(&name) else {
                continue;
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    });
}

/// The pid in an instance directory name `<test>-<pid>-<counter>`.
fn owner_pid(dir_name: &str) -> Option<u32> {
    let mut parts = dir_name.rsplitn(3, '-');
    let _counter: u32 = parts.next()?.parse().ok()?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn owner_pid_is_the_second_last_field() {
        assert_eq!(super::owner_pid("lifecycle__loads-1234-7"), Some(1234));
        assert_eq!(super::owner_pid("a-b-c"), None);
        assert_eq!(super::owner_pid("x"), None);
    }
}
