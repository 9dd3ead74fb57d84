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

struct ast_config;
struct ast_format_cap;
struct ast_variable;

/* prs_config_load's status */
enum prs_config_status { PRS_CONFIG_LOADED = 0, PRS_CONFIG_MISSING = 1, PRS_CONFIG_INVALID = 2 };

/* prs_endpoint's answer. */
enum prs_endpoint { PRS_ENDPOINT_KNOWN = 0, PRS_ENDPOINT_UNKNOWN = 1, PRS_ENDPOINT_NO_TECHNOLOGY = 2 };

/* The CLI commands, identified to Rust by number. */
enum prs_cli_command {
	PRS_CLI_SHOW_STATUS = 0,
	PRS_CLI_SHOW_QUEUE = 1,
	PRS_CLI_SHOW_FILE = 2,
	PRS_CLI_CHECK = 3,
	PRS_CLI_RESCAN = 4,
};

/* Implemented in Rust (src/module.rs). Return values follow enum ast_module_load_result / 0 = success. */
int pbx_spool_rs_load(void);
int pbx_spool_rs_unload(void);
int pbx_spool_rs_reload(void);
/* Runs a CLI command: 0 success, 1 show usage, 2 failure. Output goes through prs_cli_write(fd, ...). */
int pbx_spool_rs_cli(int command, int fd, int argc, const char *const *argv);
/* Completion for `spool show file`: writes the n-th queued name starting with `word` into `out`;
 * returns 1 if there is one, 0 otherwise. */
int pbx_spool_rs_cli_complete(const char *word, int n, char *out, int out_len);

/* Implemented in C (src/shim.c). */
void prs_log(int level, const char *file, int line, const char *function, const char *message);
void prs_verbose(int level, const char *file, int line, const char *function, const char *message);
int prs_debug_enabled(int level);
int prs_fully_booted(void);
struct ast_format_cap *prs_format_cap_new_slin(void);
void prs_format_cap_release(struct ast_format_cap *cap);
struct ast_variable *prs_variable_new(const char *name, const char *value, const char *file);
/* ast_config_load2 with CONFIG_STATUS_* (pointer sentinels) turned into a status code. */
struct ast_config *prs_config_load(const char *filename, int *status);
/* 1: the dialplan function is registered as dangerous to write (escalating), 0: not, -1: no such function. */
int prs_function_write_escalates(const char *name);
/* Whether the channel driver of `tech` knows `dest` as an endpoint: asks the driver's own device state
 * callback, which answers AST_DEVICE_INVALID for a name it has no endpoint or peer for. A driver without
 * that callback cannot say, and the answer is PRS_ENDPOINT_UNKNOWN. Returns an enum prs_endpoint. */
int prs_endpoint(const char *tech, const char *dest);
/* asterisk.conf [options] live_dangerously, read from the file Asterisk was started with. */
int prs_live_dangerously(void);
/* manager_event(category, event, "%s", body); body is "Key: value\r\n" lines. */
void prs_manager_event(int category, const char *event, const char *body);
void prs_cli_write(int fd, const char *text);
void prs_cli_register(void);
void prs_cli_unregister(void);

#endif
