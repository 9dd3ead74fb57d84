//! pbx_spool_rs.so: Asterisk's outgoing call spool (`<astspooldir>/outgoing/*.call`), in Rust.
//!
//! This crate is the thin wall between Asterisk and the pure core (`pbx_spool_core`): `asterisk`
//! (bindings, small safe wrappers over Asterisk's API, and the panic guard of every C entry point),
//! `process` (a joinable pthread, the effective uid), `metrics` (the spool's metrics in res_prometheus) and `module` (load, unload and reload, which
//! the C shim in `src/shim.c` names in `AST_MODULE_INFO`, and the CLI and AMI handlers). Everything that decides what happens to a call file, or what a CLI command
//! or an AMI action answers, lives in the core.

mod asterisk;
mod metrics;
mod module;
mod process;
