//! Integration tests of pbx_spool_rs inside a real Asterisk (the Debian sid chroot made by
//! `tests/testsuite/env.sh`; its packaged Asterisk 22 by default). Run as root. Every test starts its own
//! isolated instance; see [`harness`]. Env: PBX_SPOOL_RS_ENV (chroot), PBX_SPOOL_RS_SO (module to test),
//! PBX_SPOOL_RS_ASTERISK (a source-built Asterisk's prefix inside the chroot, e.g. /opt/asterisk-20.20.1,
//! made by `tests/testsuite/asterisk-src.sh`), PBX_SPOOL_RS_KEEP=1 (keep instance directories).

mod harness;

mod bench;
mod demo;
mod faults;
mod harness_selftest;
mod lifecycle;
mod operability;
mod parity;
mod parity_retry;
mod parity_timing;
mod scale;
mod security;
mod soak;
mod tool;
