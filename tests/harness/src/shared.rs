//! One spool directory shared by several instances: created under the tests directory, named
//! `<name>-<pid>-<counter>` like an instance directory so a later run's sweep removes it if left behind,
//! and removed on drop unless the test failed or `PBX_SPOOL_RS_KEEP=1`. Point instances at it with
//! [`crate::Builder::shared_spool`].

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{env, Asterisk, Builder, Spooler};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub struct SharedSpool {
    host: PathBuf,
    inside: String,
}

impl SharedSpool {
    /// Under the tests directory, or under `PBX_SPOOL_RS_SHARED_DIR` (a path inside the chroot, e.g. where a
    /// network file system is mounted) when set.
    pub fn new(name: &str) -> SharedSpool {
        env::sweep_stale_instances();
        let dir_name = format!("{name}-shared-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let parent = std::env::var("PBX_SPOOL_RS_SHARED_DIR").unwrap_or_else(|_| env::INSIDE_TESTS_DIR.to_string());
        let inside = format!("{parent}/{dir_name}");
        let host = env::host_path(&inside);
        let outgoing = host.join("outgoing");
        fs::create_dir_all(&outgoing).unwrap_or_else(|e| panic!("cannot create {}: {e}", outgoing.display()));
        // Asterisk runs as root in the chroot; the directory is the spool of every instance.
        SharedSpool { host, inside }
    }

    /// astspooldir as the host sees it.
    pub fn dir(&self) -> &Path {
        &self.host
    }

    /// astspooldir as Asterisk (inside the chroot) sees it.
    pub fn inside(&self) -> &str {
        &self.inside
    }

    pub fn outgoing(&self) -> PathBuf {
        self.host.join("outgoing")
    }

    pub fn done(&self) -> PathBuf {
        self.host.join("outgoing_done")
    }

    /// A pbx_spool_rs server on this spool: `shared = yes`, `node = <node>` and the `extra` lines in its
    /// pbx_spool_rs.conf's `[general]`. The caller adds the dialplan and the rest, then starts it.
    pub fn server(&self, node: &str, extra: &str) -> Builder {
        Asterisk::builder(Spooler::Rust)
            .shared_spool(self)
            .file("pbx_spool_rs.conf", &format!("[general]\nshared = yes\nnode = {node}\n{extra}"))
    }
}

impl Drop for SharedSpool {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("PBX_SPOOL_RS_KEEP").is_some_and(|v| v == "1") {
            eprintln!("shared spool kept for inspection: {}", self.host.display());
            return;
        }
        let _ = fs::remove_dir_all(&self.host);
    }
    // (A spool under PBX_SPOOL_RS_SHARED_DIR left by a failed run is the admin's to remove.)
}
