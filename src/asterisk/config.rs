//! Reading configuration through Asterisk's own loader (`ast_config_load2`), so `#include`, templates and
//! `module reload` behave as admins expect.

use std::ffi::CStr;

use super::{c_string, sys};
use pbx_spool_core::config::ConfigEntry;

/// What reading a configuration file produced.
pub(crate) enum Loaded {
    Entries(Vec<ConfigEntry>),
    Missing,
    Invalid,
}

fn text(ptr: *const libc::c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: Asterisk's config strings are NUL-terminated and live as long as the config object, which outlives this copy.
    unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned()
}

/// Every `key = value` of `filename` (relative to Asterisk's configuration directory), with its category
/// and line, in file order.
pub(crate) fn load(filename: &str) -> Loaded {
    let name = c_string(filename);
    let mut status = sys::prs_config_status::PRS_CONFIG_LOADED;
    // SAFETY: valid C string and a live status out-parameter; the returned config is destroyed below.
    let cfg = unsafe { sys::prs_config_load(name.as_ptr(), &mut status) };
    if cfg.is_null() {
        return if status == sys::prs_config_status::PRS_CONFIG_MISSING { Loaded::Missing } else { Loaded::Invalid };
    }
    let mut entries = Vec::new();
    let mut category: *mut libc::c_char = std::ptr::null_mut();
    loop {
        // SAFETY: `cfg` is a live config; `category` is NULL or the previous name returned by this browse.
        category = unsafe { sys::ast_category_browse(cfg, category) };
        if category.is_null() {
            break;
        }
        let category_name = text(category);
        // SAFETY: live config and a category name it returned.
        let mut variable = unsafe { sys::ast_variable_browse(cfg, category) };
        while !variable.is_null() {
            // SAFETY: `variable` is a node of the config's list, valid until ast_config_destroy.
            let node = unsafe { &*variable };
            entries.push(ConfigEntry {
                category: category_name.clone(),
                key: text(node.name),
                value: text(node.value),
                line: node.lineno.max(0) as u32,
            });
            variable = node.next;
        }
    }
    // SAFETY: destroys the config we loaded, once; nothing borrowed from it survives (all copied).
    unsafe { sys::ast_config_destroy(cfg) };
    Loaded::Entries(entries)
}

/// asterisk.conf `live_dangerously` (read at load and reload).
pub(crate) fn live_dangerously() -> bool {
    // SAFETY: reads asterisk.conf through Asterisk's loader; no pointers cross.
    unsafe { sys::prs_live_dangerously() != 0 }
}
