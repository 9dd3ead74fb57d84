//! What the tool's unit tests share: scratch directories laid out like a spool, the default rules with
//! `owner_check` off, and a valid call file and call description.
//!
//! Test-only (`#[cfg(test)]`); it writes below the system's temp directory and nowhere else.

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use pbx_spool_core::config::SpoolConfig;

use crate::conf::{ConfigChoice, Settings};
use crate::render::{CallSpec, Target};

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "callfile-test-{}-{}-{name}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    /// A spool layout: `outgoing/` and `tmp/`.
    pub fn spool(name: &str) -> TempDir {
        let dir = TempDir::new(name);
        fs::create_dir(dir.0.join("outgoing")).unwrap();
        fs::create_dir(dir.0.join("tmp")).unwrap();
        dir
    }

    pub fn settings(&self) -> Settings {
        Settings { spool: Some(self.0.clone()), ..Settings::default() }
    }

    /// Settings as on an installed system, with this spool: an asterisk.conf whose `astetcdir` is `etc/`
    /// here and `astspooldir` this directory, `--spool` and `--config` not given, and `etc/pbx_spool_rs.conf`
    /// holding `config` (absent for `None`).
    pub fn installed(&self, config: Option<&str>) -> Settings {
        fs::create_dir_all(self.0.join("etc")).unwrap();
        let root = self.0.display();
        let asterisk_conf =
            self.file("etc/asterisk.conf", format!("[directories]\nastetcdir => {root}/etc\nastspooldir => {root}\n"));
        let installed = self.0.join("etc/pbx_spool_rs.conf");
        match config {
            Some(text) => fs::write(&installed, text).unwrap(),
            None => {
                let _ = fs::remove_file(&installed);
            }
        }
        Settings { spool: None, asterisk_conf: Some(asterisk_conf), config: ConfigChoice::Installed }
    }

    /// Writes `contents` to `name` in this directory, and returns its path.
    pub fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        fs::write(&path, contents).unwrap();
        path
    }

    pub fn names(&self, sub: &str) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.0.join(sub))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// pbx_spool_rs's defaults, except `owner_check`: test files belong to whoever runs the tests.
pub fn rules() -> SpoolConfig {
    SpoolConfig { owner_check: false, ..SpoolConfig::default() }
}

pub const VALID: &str = "Channel: PJSIP/100\nApplication: Playback\nData: hello-world\n";

pub fn spec() -> CallSpec {
    CallSpec {
        channel: b"PJSIP/100".to_vec(),
        target: Target::Application { name: b"Playback".to_vec(), data: Some(b"hello-world".to_vec()) },
        variables: Vec::new(),
        callerid: None,
        account: None,
        max_retries: None,
        retry_time: None,
        wait_time: None,
        archive: false,
    }
}
