//! Build script: finds Asterisk's installed headers, generates the allowlisted bindings with bindgen and
//! compiles the C shim (module registration and macro wrappers) into the cdylib only.
//!
//! Header search order (see asterisk-headers/README.md): `ASTERISK_INCLUDE_DIR`, `/usr/include`, then the
//! project's test chroot (`PBX_SPOOL_RS_ENV`, default `/var/cache/pbx_spool_rs/sid`).

use std::env;
use std::path::{Path, PathBuf};

const DEFAULT_ENV_DIR: &str = "/var/cache/pbx_spool_rs/sid";

/// Asterisk API items the Rust side uses. Keep this list exact: nothing is bound that is not called.
const FUNCTIONS: &[&str] = &[
    "ast_pbx_outgoing_exten",
    "ast_pbx_outgoing_app",
    "ast_variables_destroy",
    "ast_format_cap_update_by_allow_disallow",
    "ast_channel_reason2str",
    "ast_callid_threadassoc_remove",
    "prs_log",
    "prs_verbose",
    "prs_debug_enabled",
    "prs_fully_booted",
    "prs_format_cap_new_slin",
    "prs_format_cap_release",
    "prs_variable_new",
    "prs_config_load",
    "prs_function_write_escalates",
    "prs_live_dangerously",
    "prs_endpoint",
    "pbx_builtin_getvar_helper",
    "prs_hangup_uniqueid",
    "prs_channels_subscribe",
    "prs_channels_unsubscribe",
    "prs_channel_hangup",
    "ast_cause2str",
    "ast_thread_inhibit_escalations_swap",
    "prs_manager_event",
    "prs_xmldoc_has",
    "prs_custom_function_register",
    "ast_custom_function_unregister",
    "ast_channel_uniqueid",
    "ast_channel_name",
    "__internal_pbx_spool_rs_self",
    "__ast_cli_register",
    "ast_cli_unregister",
    "ast_cli",
    "__ast_strdup",
    "ast_manager_register2",
    "ast_manager_unregister",
    "astman_get_header",
    "astman_append",
    "astman_send_error",
    "astman_send_listack",
    "astman_send_list_complete_start",
    "astman_send_list_complete_end",
    "ast_category_browse",
    "ast_variable_browse",
    "ast_config_destroy",
    "__ast_app_separate_args",
    "ast_app_parse_options",
    "ast_loader_register",
    "ast_loader_unregister",
    "prs_metrics_callback",
    "prs_str_append",
];
const VARIABLES: &[&str] =
    &["ast_config_AST_SPOOL_DIR", "ast_config_AST_CONFIG_DIR", "ast_config_AST_MODULE_DIR", "ast_mainpid"];
const CONSTANTS: &[&str] = &[
    "__LOG_DEBUG",
    "__LOG_NOTICE",
    "__LOG_WARNING",
    "__LOG_ERROR",
    "__LOG_VERBOSE",
    "EVENT_FLAG_SYSTEM",
    "EVENT_FLAG_CALL",
    "EVENT_FLAG_ORIGINATE",
    "RESULT_SUCCESS",
    "RESULT_SHOWUSAGE",
    "RESULT_FAILURE",
];
const ENUMS: &[&str] =
    &["ast_module_load_result", "ast_cli_command", "ast_pbx_outgoing_sync", "prs_config_status", "prs_endpoint"];

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for var in ["ASTERISK_INCLUDE_DIR", "PBX_SPOOL_RS_ENV"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    for file in ["asterisk-headers/wrapper.h", "include/pbx_spool_rs.h", "src/shim.c"] {
        println!("cargo:rerun-if-changed={file}");
    }

    let asterisk_include = match find_asterisk_include() {
        Some(dir) => dir,
        None => {
            eprintln!(
                "error: Asterisk's headers (asterisk.h) were not found: install asterisk-dev, or set \
                 ASTERISK_INCLUDE_DIR to the directory holding asterisk.h, or run `make env` to create the \
                 project's Asterisk chroot."
            );
            std::process::exit(1);
        }
    };
    println!("cargo:rerun-if-changed={}", asterisk_include.join("asterisk.h").display());
    println!("cargo:rerun-if-changed={}", asterisk_include.join("asterisk/buildopts.h").display());
    // Which headers this build is for, so the integration suite can hold the Asterisk under test to the
    // build options (AST_BUILDOPTS, whose checksum Asterisk compares at load) the module was built with.
    println!("cargo:rustc-env=PBX_SPOOL_RS_ASTERISK_INCLUDE={}", asterisk_include.display());
    let private_include = private_asterisk_include(&asterisk_include, &out_dir);
    let own_include = manifest_dir.join("include");
    let defines = [
        ("AST_MODULE", "\"pbx_spool_rs\""),
        ("AST_MODULE_SELF_SYM", "__internal_pbx_spool_rs_self"),
        ("_GNU_SOURCE", "1"),
        ("_REENTRANT", "1"),
    ];

    compile_shim(&manifest_dir, &out_dir, &private_include, &own_include, &defines);
    generate_bindings(&manifest_dir, &out_dir, &private_include, &own_include, &defines);
}

fn find_asterisk_include() -> Option<PathBuf> {
    let has_headers = |dir: &Path| dir.join("asterisk.h").is_file() && dir.join("asterisk").is_dir();
    if let Some(dir) = env::var_os("ASTERISK_INCLUDE_DIR").map(PathBuf::from) {
        if has_headers(&dir) {
            return Some(dir);
        }
        eprintln!("warning: ASTERISK_INCLUDE_DIR={} has no asterisk.h; looking elsewhere", dir.display());
    }
    let system = PathBuf::from("/usr/include");
    if has_headers(&system) {
        return Some(system);
    }
    let env_dir = env::var_os("PBX_SPOOL_RS_ENV").map(PathBuf::from).unwrap_or_else(|| DEFAULT_ENV_DIR.into());
    let chroot = env_dir.join("usr/include");
    has_headers(&chroot).then_some(chroot)
}

/// A directory holding only `asterisk.h` and `asterisk/` (as symlinks), so that adding it to the include
/// path does not also pull in the C library headers of wherever Asterisk's headers live.
fn private_asterisk_include(asterisk_include: &Path, out_dir: &Path) -> PathBuf {
    let dir = out_dir.join("asterisk-include");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create OUT_DIR/asterisk-include");
    for name in ["asterisk.h", "asterisk"] {
        std::os::unix::fs::symlink(asterisk_include.join(name), dir.join(name))
            .expect("symlink Asterisk headers into OUT_DIR");
    }
    dir
}

fn compile_shim(
    manifest_dir: &Path,
    out_dir: &Path,
    private_include: &Path,
    own_include: &Path,
    defines: &[(&str, &str)],
) {
    let mut build = cc::Build::new();
    build
        .file(manifest_dir.join("src/shim.c"))
        // Asterisk's own headers as system headers: their warnings are not ours to fix.
        .flag("-isystem")
        .flag(private_include.to_str().expect("UTF-8 OUT_DIR"))
        .include(own_include)
        .flag_if_supported("-fno-strict-aliasing")
        .warnings(true)
        .cargo_metadata(false);
    for (name, value) in defines {
        if *name != "AST_MODULE" && *name != "AST_MODULE_SELF_SYM" {
            build.define(name, Some(*value));
        }
    }
    build.compile("pbx_spool_rs_shim");
    // Only the cdylib (the module Asterisk loads) gets the shim, whole, so that its constructor (module
    // registration) is kept; unit tests and tools link the pure Rust library without it.
    println!(
        "cargo:rustc-cdylib-link-arg=-Wl,--whole-archive,{}/libpbx_spool_rs_shim.a,--no-whole-archive",
        out_dir.display()
    );
}

fn generate_bindings(
    manifest_dir: &Path,
    out_dir: &Path,
    private_include: &Path,
    own_include: &Path,
    defines: &[(&str, &str)],
) {
    let mut builder = bindgen::Builder::default()
        .header(manifest_dir.join("asterisk-headers/wrapper.h").to_string_lossy())
        .clang_arg(format!("-I{}", private_include.display()))
        .clang_arg(format!("-I{}", own_include.display()))
        // Asterisk's RAII_VAR uses clang blocks when compiled by clang.
        .clang_arg("-fblocks")
        .allowlist_recursively(false)
        .derive_debug(false)
        .derive_default(false)
        .layout_tests(false)
        .default_enum_style(bindgen::EnumVariation::ModuleConsts)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for (name, value) in defines {
        builder = builder.clang_arg(format!("-D{name}={value}"));
    }
    for item in FUNCTIONS {
        builder = builder.allowlist_function(item);
    }
    for item in VARIABLES.iter().chain(CONSTANTS) {
        builder = builder.allowlist_var(item);
    }
    for item in ENUMS {
        builder = builder.allowlist_type(item);
    }
    // Opaque handles and the few structs the signatures mention.
    for item in [
        "ast_format_cap",
        "ast_variable",
        "ast_channel",
        "ast_assigned_ids",
        "ast_app_option",
        "ast_flags",
        "ast_comment",
        "ast_config",
        "ast_cli_entry",
        "ast_cli_entry__bindgen_ty_1",
        "ast_cli_args",
        "ast_custom_function",
        "ast_custom_function__bindgen_ty_1",
        "ast_string_field_mgr",
        "ast_string_field_pool",
        "ast_string_field",
        "ast_doc_src",
        "ast_acf_read_fn_t",
        "ast_acf_read2_fn_t",
        "ast_acf_write_fn_t",
        "ast_str",
        "ast_module",
        "stasis_message",
        "stasis_subscription",
        "mansession",
        "message",
        "pid_t",
        "__pid_t",
        "ast_str",
        "prometheus_callback",
    ] {
        builder = builder.allowlist_type(item);
    }
    // `message` stays transparent: SpoolSubmit reads every header of a request (hdrcount, headers[]), a
    // layout that is the same in every supported Asterisk.
    for item in [
        "ast_format_cap",
        "ast_channel",
        "ast_comment",
        "ast_config",
        "ast_module",
        "mansession",
        "ast_string_field_pool",
        "ast_string_field_mgr",
        "ast_str",
        "stasis_message",
        "stasis_subscription",
        "prometheus_callback",
    ] {
        builder = builder.opaque_type(item);
    }
    let bindings = builder.generate().unwrap_or_else(|err| {
        eprintln!("error: bindgen could not read Asterisk's headers: {err}");
        std::process::exit(1);
    });
    bindings.write_to_file(out_dir.join("bindings.rs")).expect("write bindings.rs");
}
