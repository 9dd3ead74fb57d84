//! Integration tests of pbx_spool_rs inside a real Asterisk (the Debian sid chroot made by
//! `tests/scripts/env.sh`; its packaged Asterisk 22 by default). Run as root. Every test starts its own
//! isolated instance; see the `harness` crate (tests/harness/). Env: PBX_SPOOL_RS_ENV (chroot), PBX_SPOOL_RS_SO (module to test),
//! PBX_SPOOL_RS_ASTERISK (a source-built Asterisk's prefix inside the chroot, e.g. /opt/asterisk-20.20.1,
//! made by `tests/scripts/asterisk-src.sh`), PBX_SPOOL_RS_KEEP=1 (keep instance directories),
//! PBX_SPOOL_RS_REQUIRE_ENV=1 (never skip: `make test`, `make test-matrix`).

mod ami_submit;
mod campaigns;
mod configuration;
mod demo;
mod dialer_campaign;
mod dialer_ops;
mod dialplan_function;
mod dnc;
mod documentation;
mod faults;
mod harness_selftest;
mod lifecycle;
mod metrics;
mod operability;
mod outcomes;
mod packaging;
mod parity;
mod parity_retry;
mod parity_timing;
mod scale;
mod security;
mod security_arguments;
mod security_escalations;
mod security_red_team;
mod security_values;
mod shared;
mod shared_owners;
mod survives_restart;
mod tool;
mod two_spoolers;

/// Runs before the test harness starts (a constructor in `.init_array`). A contributor's plain `cargo
/// test`, without root or without the Asterisk chroot, skips this suite with one line instead of a
/// hundred red tests; `make test` sets PBX_SPOOL_RS_REQUIRE_ENV=1 and makes the environment first, so
/// there a missing environment fails every test, never skips.
#[used]
#[link_section = ".init_array"]
static SKIP_WITHOUT_ENVIRONMENT: extern "C" fn() = skip_without_environment;

extern "C" fn skip_without_environment() {
    if std::env::var_os("PBX_SPOOL_RS_REQUIRE_ENV").is_some() {
        return;
    }
    if let Some(missing) = missing_environment() {
        eprintln!("testsuite: skipped ({missing}); `make test` makes the environment and runs it");
        std::process::exit(0);
    }
}

/// What this machine lacks to run real Asterisk instances, if anything.
fn missing_environment() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root: chroot and mount namespaces".into());
    }
    let root = std::env::var_os("PBX_SPOOL_RS_ENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| harness::env::DEFAULT_CHROOT.into());
    let asterisk = root.join("usr/sbin/asterisk");
    (!asterisk.is_file()).then(|| format!("no Asterisk chroot at {}", root.display()))
}
