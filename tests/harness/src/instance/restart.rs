//! Restarting an instance on the same directory, for tests of what survives a restart: a crash
//! (`kill -9`: no module unload, files left exactly as they were) or a clean stop, then a new boot with
//! the same configuration, modules and spool. A child of `instance` so it can reuse its boot sequence.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use super::{free_port, Asterisk, BootFailure, PORT_ATTEMPTS};
use crate::config::{self, Builder};
use crate::{process, wait};

/// How long a killed Asterisk may take to disappear.
const DEATH_TIMEOUT: Duration = Duration::from_secs(10);

impl Asterisk {
    /// Kills Asterisk with SIGKILL, as a crash or an OOM kill would, and waits until it is gone. The AMI
    /// history of the run stays readable through [`Asterisk::ami`] until [`Asterisk::restart`].
    pub fn crash(&mut self) {
        let pid = self.pid;
        let asterisk = self.process.as_ref().filter(|p| p.is_alive());
        let asterisk = asterisk.unwrap_or_else(|| panic!("crash(): Asterisk is not running\n{}", self.diagnostics()));
        asterisk.signal(libc::SIGKILL);
        if !wait::wait_until(DEATH_TIMEOUT, || !asterisk.is_alive()) {
            panic!("Asterisk (pid {pid}) still alive {DEATH_TIMEOUT:?} after SIGKILL\n{}", self.diagnostics());
        }
        // unshare (our child) exits with Asterisk; reap it so the next boot starts from a clean slate.
        if let Some(mut child) = self.child.take() {
            if process::wait_child(&mut child, DEATH_TIMEOUT).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Boots Asterisk again on the same instance directory (stopping it cleanly first if it runs), logs
    /// in to the AMI again (a fresh event history) and returns once it is fully booted. The previous run's
    /// `log/` is kept as `log-run<N>/`; returns the path of its `messages`.
    pub fn restart(&mut self) -> PathBuf {
        if self.child.is_some() {
            self.stop();
        }
        self.ami = None;
        let saved =
            (1..).map(|n| self.path(&format!("log-run{n}"))).find(|p| !p.exists()).expect("some log-run<N> is free");
        if let Err(e) = fs::rename(self.path("log"), &saved) {
            panic!("cannot keep the previous log as {}: {e}", saved.display());
        }
        let manager = fs::read_to_string(self.etc_dir().join("manager.conf")).expect("manager.conf");
        let secret = manager
            .lines()
            .find_map(|l| l.trim().strip_prefix("secret").map(|v| v.trim_start_matches([' ', '=']).trim().to_owned()))
            .expect("manager.conf has a secret");
        let user = manager
            .lines()
            .find_map(|l| l.trim().strip_prefix('[').and_then(|l| l.strip_suffix(']')).filter(|s| *s != "general"))
            .expect("manager.conf has a user")
            .to_owned();
        let builder = Builder::new(self.spooler);
        for attempt in 1..=PORT_ATTEMPTS {
            match self.boot(&builder, &secret) {
                Ok(()) => return saved.join("messages"),
                Err(BootFailure::PortTaken(why)) if attempt < PORT_ATTEMPTS => {
                    eprintln!(
                        "[{}] AMI port {} taken on restart ({why}); retrying with another",
                        self.name, self.ami_port
                    );
                    self.stop();
                    let port = free_port();
                    self.write_etc("manager.conf", &config::manager_conf(port, &user, &secret));
                    self.ami_port = port;
                }
                Err(BootFailure::PortTaken(why) | BootFailure::Fatal(why)) => {
                    panic!("Asterisk did not boot again: {why}\n{}", self.diagnostics())
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }
}
