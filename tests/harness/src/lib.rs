//! The integration-test harness: real Asterisk instances in the Debian sid chroot, one per test,
//! isolated (own directory, own AMI port), loading exactly the spooler the test asks for. The Asterisk is
//! the chroot's packaged 22, or a source build named by `PBX_SPOOL_RS_ASTERISK` (the version matrix).
//!
//! - [`env`](mod@env): where the chroot, the Asterisk under test, its stock modules and our built module are;
//! - [`config`]: what an instance looks like ([`Builder`], [`Spooler`]) and its config files' text;
//! - [`instance`]: a running [`Asterisk`]: start, CLI, call files, log, threads, teardown;
//! - [`ami`]: the Manager Interface client that records every event;
//! - [`bulk`]: many call files at once (staging, forced inotify overflow, /proc readings);
//! - [`process`] and [`wait`]: child processes and deadline-bound waiting ([`SOON`], [`ABSENCE`]);
//! - [`events`] and [`files`]: the events and log lines tests await, call files in and out;
//! - [`fixtures`]: what a family of test files shares (the parity and the security scenarios);
//! - [`scenario`]: `both_spoolers!`, one scenario run against pbx_spool and pbx_spool_rs;
//! - [`shared`]: one spool directory for several instances (a shared spool).
//!
//! A crate of its own, so the integration suite (`tests/testsuite/`), the benchmark (`tests/bench/`) and the
//! soak test (`tests/soak/`) share one harness by dependency; the root package imports it as `harness`.
//! It starts Asterisk binaries inside the chroot and does not link to Asterisk.

pub mod ami;
pub mod bulk;
pub mod config;
pub mod env;
pub mod events;
pub mod files;
pub mod fixtures;
pub mod instance;
pub mod process;
pub mod scenario;
pub mod shared;
pub mod wait;

// The harness's API; each test file uses a part of it. (`both_spoolers!` is exported at the crate root.)
pub use ami::{Ami, Message};
pub use config::{Builder, Spooler, BASE_MODULES, RUST_SO, STOCK_SO};
pub use instance::{set_mtime, Asterisk};
pub use scenario::configure;
pub use shared::SharedSpool;
pub use wait::{wait_for, wait_stable, wait_until, ABSENCE, SOON};
