//! Where things are: the Debian sid chroot, the Asterisk under test inside it (the packaged Asterisk 22 by
//! default, or one built from source by `asterisk-src.sh`, named by `PBX_SPOOL_RS_ASTERISK`), its stock
//! modules, our freshly built `libpbx_spool_rs.so`, and the per-test instance directories inside the chroot.
//! Only paths, the Asterisk's version and the one-time sweep of stale instance directories live here;
//! nothing is started.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Once, OnceLock};

/// Default location of the chroot made by `tests/scripts/env.sh`.
pub const DEFAULT_CHROOT: &str = "/var/cache/pbx_spool_rs/sid";
/// Parent of all instance directories, as seen from inside the chroot.
pub const INSIDE_TESTS_DIR: &str = "/tmp/prs-tests";
/// The completion marker `asterisk-src.sh` leaves in a source-built install (holding its version).
const SOURCE_MARKER: &str = ".pbx_spool_rs-asterisk-complete";
/// The Asterisk series the chroot's package provides.
const PACKAGED_MAJOR: u32 = 22;

/// The Asterisk under test, as laid out inside the chroot. Every path is an inside-chroot path.
#[derive(Debug)]
pub struct Install {
    /// `/opt/asterisk-20.20.1` for a source build, None for the chroot's Debian package.
    pub prefix: Option<String>,
    /// The `asterisk` binary.
    pub binary: String,
    pub sbin_dir: String,
    /// Stock modules.
    pub module_dir: String,
    /// Shared data (documentation XML, ...): astdatadir.
    pub data_dir: String,
    /// The sample/stock configuration (indications.conf is taken from there).
    pub etc_dir: String,
    /// The version the binary reports (`asterisk -V`), e.g. `20.20.1` or `22.10.1~dfsg+...`.
    pub version: String,
    /// Its major version (20, 22, 23, ...): what tests compare against when a feature depends on it.
    pub major: u32,
}

impl Install {
    /// The one this process tests: `PBX_SPOOL_RS_ASTERISK` (a source build's prefix inside the chroot, as
    /// made by `tests/scripts/asterisk-src.sh`), else the chroot's packaged Asterisk 22. Panics with the
    /// fix when it is not there, since no test can run without it.
    pub fn get() -> &'static Install {
        static INSTALL: OnceLock<Install> = OnceLock::new();
        INSTALL.get_or_init(|| {
            let prefix = std::env::var("PBX_SPOOL_RS_ASTERISK").ok().filter(|p| !p.is_empty() && p != "/usr");
            Install::at(prefix)
        })
    }

    fn at(prefix: Option<String>) -> Install {
        let root = chroot();
        let mut install = match &prefix {
            None => Install {
                prefix: None,
                binary: "/usr/sbin/asterisk".into(),
                sbin_dir: "/usr/sbin".into(),
                module_dir: "/usr/lib/x86_64-linux-gnu/asterisk/modules".into(),
                data_dir: "/usr/share/asterisk".into(),
                etc_dir: "/etc/asterisk".into(),
                version: String::new(),
                major: 0,
            },
            Some(prefix) => {
                let prefix = prefix.trim_end_matches('/');
                let marker = root.join(prefix.trim_start_matches('/')).join(SOURCE_MARKER);
                assert!(
                    marker.is_file(),
                    "PBX_SPOOL_RS_ASTERISK={prefix}: no complete source-built Asterisk there ({} missing); \
                     build it with `sudo tests/scripts/asterisk-src.sh <version>` (prefix /opt/asterisk-<version>)",
                    marker.display()
                );
                Install {
                    prefix: Some(prefix.to_owned()),
                    binary: format!("{prefix}/sbin/asterisk"),
                    sbin_dir: format!("{prefix}/sbin"),
                    module_dir: format!("{prefix}/lib/asterisk/modules"),
                    data_dir: format!("{prefix}/var/lib/asterisk"),
                    etc_dir: format!("{prefix}/etc/asterisk"),
                    version: String::new(),
                    major: 0,
                }
            }
        };
        let output = Command::new("chroot")
            .arg(&root)
            .args([install.binary.as_str(), "-V"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run chroot {} {} -V: {e}", root.display(), install.binary));
        let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        install.version = text
            .strip_prefix("Asterisk ")
            .unwrap_or_else(|| {
                panic!("`{} -V` in the chroot printed {text:?}, not `Asterisk <version>`", install.binary)
            })
            .to_owned();
        install.major = install
            .version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or_else(|| panic!("cannot read a major version in {:?}", install.version));
        install
    }

    /// The major version this install must report: 22 for the package, the version recorded by
    /// `asterisk-src.sh` for a source build. The harness self-test holds the binary to it.
    pub fn expected_version(&self) -> String {
        match &self.prefix {
            None => PACKAGED_MAJOR.to_string(),
            Some(prefix) => {
                let marker = host_path(&format!("{prefix}/{SOURCE_MARKER}"));
                fs::read_to_string(&marker)
                    .unwrap_or_else(|e| panic!("cannot read {}: {e}", marker.display()))
                    .trim()
                    .to_owned()
            }
        }
    }

    /// A short name for reports: `22 (packaged)`, `20.20.1 (source)`.
    pub fn label(&self) -> String {
        match self.prefix {
            None => format!("{} (packaged)", self.version),
            Some(_) => format!("{} (source)", self.version),
        }
    }
}

/// For a scenario that cannot hold on the Asterisk under test because that version lacks what it checks:
/// true (the test then returns without asserting) when the Asterisk under test is older than `major`, after
/// saying so with `why` on stderr and in the version matrix's report (the file `PBX_SPOOL_RS_NOT_APPLICABLE`
/// names), so the table counts it as not applicable instead of a silent pass. False otherwise.
///
/// ```ignore
/// if env::not_applicable_before(21, "ExampleFeature appeared in Asterisk 21") { return; }
/// ```
pub fn not_applicable_before(major: u32, why: &str) -> bool {
    let install = Install::get();
    if install.major >= major {
        return false;
    }
    report_not_applicable(&format!("needs Asterisk {major} or later, this is {}: {why}", install.label()));
    true
}

/// For a scenario whose effect can only be observed with stock modules the Asterisk under test was built
/// without (the matrix's source builds have no bundled pjproject and no libcurl, so no `res_pjsip.so` or
/// `res_curl.so`): true, reported like [`not_applicable_before`], when one of `modules` is missing; false
/// when all are there (the packaged Asterisk of `make test` has them all, so there the test always runs).
pub fn not_applicable_without(modules: &[&str], why: &str) -> bool {
    let missing: Vec<&str> = modules.iter().copied().filter(|module| !has_stock_module(module)).collect();
    if missing.is_empty() {
        return false;
    }
    let label = Install::get().label();
    report_not_applicable(&format!("needs {}, which {label} was built without: {why}", missing.join(", ")));
    true
}

/// For a scenario about the chroot's packaged Asterisk itself (the Debian package, built for its ABI): true,
/// reported like [`not_applicable_before`], when the Asterisk under test is a source build; false for the
/// packaged Asterisk of `make test`.
pub fn not_applicable_unless_packaged(why: &str) -> bool {
    let install = Install::get();
    if install.prefix.is_none() {
        return false;
    }
    report_not_applicable(&format!("needs the chroot's packaged Asterisk, this is {}: {why}", install.label()));
    true
}

/// Says on stderr and in the version matrix's report that the running test is not applicable, and why.
fn report_not_applicable(reason: &str) {
    let test = std::thread::current().name().unwrap_or("test").to_owned();
    let line = not_applicable_line(&test, reason);
    eprintln!("NOT APPLICABLE {}", line.replace('\t', ": "));
    if let Some(report) = std::env::var_os("PBX_SPOOL_RS_NOT_APPLICABLE") {
        use std::io::Write as _;
        // One write of one line with O_APPEND: lines from parallel tests never interleave.
        let written = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&report)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            panic!("cannot append to PBX_SPOOL_RS_NOT_APPLICABLE={}: {e}", Path::new(&report).display());
        }
    }
}

/// `<test>\t<reason>\n`, the report's line for a scenario that is not applicable.
fn not_applicable_line(test: &str, reason: &str) -> String {
    format!("{test}\t{}\n", reason.replace(['\t', '\n'], " "))
}

/// The chroot's root on the host (`PBX_SPOOL_RS_ENV`, else the default). Panics with the fix when the
/// chroot has not been made, since no test can run without it.
pub fn chroot() -> PathBuf {
    let root = std::env::var_os("PBX_SPOOL_RS_ENV").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(DEFAULT_CHROOT));
    let asterisk = root.join("usr/sbin/asterisk");
    assert!(
        asterisk.is_file(),
        "no Asterisk chroot at {} ({} missing): run `sudo tests/scripts/env.sh` first \
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

/// Inside path of a stock module of the Asterisk under test, or a panic naming it when that Asterisk
/// lacks it.
pub fn stock_module(file: &str) -> String {
    let install = Install::get();
    let inside = format!("{}/{file}", install.module_dir);
    let host = host_path(&inside);
    assert!(host.is_file(), "stock module {file} does not exist in Asterisk {} ({})", install.label(), host.display());
    inside
}

/// Whether the Asterisk under test has the stock module `file`.
pub fn has_stock_module(file: &str) -> bool {
    host_path(&format!("{}/{file}", Install::get().module_dir)).is_file()
}

/// Our module as built by cargo: `PBX_SPOOL_RS_SO`, else the one cargo built beside this test binary
/// (`<target dir>/<profile>/`, so a per-Asterisk `CARGO_TARGET_DIR` finds its own build), else
/// `target/release`, else `target/debug`. Fails (never skips) when none exists, so a missing build shows up
/// as a red test. The module must have been built against the headers of the Asterisk under test
/// (`make test-matrix` builds one per version).
pub fn our_module() -> PathBuf {
    if let Some(path) = std::env::var_os("PBX_SPOOL_RS_SO") {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "PBX_SPOOL_RS_SO={} does not exist", path.display());
        return path;
    }
    // This crate is tests/harness/ in the workspace; the module is built under the workspace's target/.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // The test binary is <target dir>/<profile>/deps/testsuite-<hash>.
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("libpbx_spool_rs.so")))
        .into_iter();
    let candidates: Vec<PathBuf> = beside
        .chain([workspace.join("target/release/libpbx_spool_rs.so"), workspace.join("target/debug/libpbx_spool_rs.so")])
        .collect();
    for candidate in &candidates {
        if candidate.is_file() {
            return candidate.clone();
        }
    }
    panic!(
        "pbx_spool_rs.so is not built: none of {candidates:?} exists. Build it first \
         (`cargo build --release --workspace`), or set PBX_SPOOL_RS_SO to the .so to test"
    );
}

/// The file a kept instance directory (a failed test's, or any with `PBX_SPOOL_RS_KEEP=1`) holds, saying
/// why it was kept: the sweep leaves such directories for the admin to read and delete.
pub const KEPT_MARKER: &str = "KEPT";

/// Removes, once per test process, the instance directories left by earlier runs whose owning test
/// process (the pid in the directory name) is gone, unless they were kept on purpose ([`KEPT_MARKER`]).
/// Directories of live processes, including other test binaries running right now, are left alone.
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
            let kept = entry.path().join(KEPT_MARKER).exists();
            if !kept && !Path::new(&format!("/proc/{pid}")).exists() {
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
    fn not_applicable_lines_are_one_line_each() {
        let line =
            super::not_applicable_line("a::b", "needs Asterisk 21 or later, this is 20.20.1 (source): no X\tin\n20");
        assert_eq!(line, "a::b\tneeds Asterisk 21 or later, this is 20.20.1 (source): no X in 20\n");
    }

    #[test]
    fn owner_pid_is_the_second_last_field() {
        assert_eq!(super::owner_pid("lifecycle__loads-1234-7"), Some(1234));
        assert_eq!(super::owner_pid("a-b-c"), None);
        assert_eq!(super::owner_pid("x"), None);
    }
}
