//! The integration-test harness: real Asterisk instances in the Debian sid chroot, one per test,
//! isolated (own directory, own AMI port), loading exactly the spooler the test asks for. The Asterisk is
//! the chroot's packaged 22, or a source build named by `PBX_SPOOL_RS_ASTERISK` (the version matrix).
//!
//! - [`env`]: where the chroot, the Asterisk under test, its stock modules and our built module are;
//! - [`config`]: what an instance looks like ([`Builder`], [`Spooler`]) and its config files' text;
//! - [`instance`]: a running [`Asterisk`]: start, CLI, call files, log, threads, teardown;
//! - [`ami`]: the Manager Interface client that records every event;
//! - [`bulk`]: many call files at once (staging, forced inotify overflow, /proc readings);
//! - [`process`] and [`wait`]: child processes and deadline-bound waiting;
//! - [`scenario`]: `both_spoolers!`, one scenario run against pbx_spool and pbx_spool_rs;
//! - [`shared`]: one spool directory for several instances (a shared spool).
// A harness serves three test targets (the suite, the benchmark, the soak test), each using a part of it,
// and tests still to be written: not every helper has a user in every target.
#![allow(dead_code, unused_macros, unused_imports)]

pub mod ami;
pub mod bulk;
pub mod config;
pub mod env;
pub mod instance;
pub mod process;
pub mod scenario;
pub mod shared;
pub mod wait;

// The harness's API; each test file uses a part of it.
#[allow(unused_imports)]
pub use ami::{Ami, Message};
#[allow(unused_imports)]
pub use config::{Builder, Spooler, BASE_MODULES, RUST_SO, STOCK_SO};
#[allow(unused_imports)]
pub use instance::{set_mtime, Asterisk};
#[allow(unused_imports)]
pub(crate) use scenario::both_spoolers;
pub use scenario::configure;
#[allow(unused_imports)]
pub use shared::SharedSpool;
#[allow(unused_imports)]
pub use wait::{wait_for, wait_stable, wait_until};
