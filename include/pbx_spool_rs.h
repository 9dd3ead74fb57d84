/*
 * pbx_spool_rs: the boundary between the C shim (src/shim.c) and the Rust library.
 *
 * prs_*: helpers the shim implements because the Asterisk API they wrap is a macro or an inline
 *        function (logging with file/line/function, verbose and debug levels, ao2 references, ...).
 * pbx_spool_rs_*: the Rust entry points the shim's load/unload/reload call. They never unwind: every one
 *        catches panics and reports them through Asterisk's logger.
 */
#ifndef PBX_SPOOL_RS_H
#define PBX_SPOOL_RS_H

struct ast_format_cap;
struct ast_variable;

/* Implemented in Rust (src/module.rs). Return values follow enum ast_module_load_result / 0 = success. */
int pbx_spool_rs_load(void);
int pbx_spool_rs_unload(void);
int pbx_spool_rs_reload(void);

/* Implemented in C (src/shim.c). */
void prs_log(int level, const char *file, int line, const char *function, const char *message);
void prs_verbose(int level, const char *file, int line, const char *function, const char *message);
int prs_debug_enabled(int level);
int prs_fully_booted(void);
struct ast_format_cap *prs_format_cap_new_slin(void);
void prs_format_cap_release(struct ast_format_cap *cap);
struct ast_variable *prs_variable_new(const char *name, const char *value, const char *file);

#endif
