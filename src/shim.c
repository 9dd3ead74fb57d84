/*
 * pbx_spool_rs C shim: Asterisk's module registration (AST_MODULE_INFO) and thin wrappers for the Asterisk
 * API that exists only as macros or inline functions. Everything else lives in Rust (src/module.rs is the
 * other side of this file). Keep this file small: no logic here.
 */
#define AST_MODULE "pbx_spool_rs"
#define AST_MODULE_SELF_SYM __internal_pbx_spool_rs_self

#include "asterisk.h"

#include "asterisk/format_cache.h"
#include "asterisk/format_cap.h"
#include "asterisk/logger.h"
#include "asterisk/module.h"
#include "asterisk/options.h"
#include "asterisk/config.h"

#include "pbx_spool_rs.h"

void prs_log(int level, const char *file, int line, const char *function, const char *message)
{
	ast_log(level, file, line, function, "%s\n", message);
}

void prs_verbose(int level, const char *file, int line, const char *function, const char *message)
{
	if (VERBOSITY_ATLEAST(level)) {
		__ast_verbose(file, line, function, level, "%s\n", message);
	}
}

int prs_debug_enabled(int level)
{
	return DEBUG_ATLEAST(level);
}

int prs_fully_booted(void)
{
	return ast_fully_booted ? 1 : 0;
}

struct ast_format_cap *prs_format_cap_new_slin(void)
{
	struct ast_format_cap *cap = ast_format_cap_alloc(AST_FORMAT_CAP_FLAG_DEFAULT);

	if (cap && ast_format_cap_append(cap, ast_format_slin, 0)) {
		ao2_ref(cap, -1);
		return NULL;
	}
	return cap;
}

void prs_format_cap_release(struct ast_format_cap *cap)
{
	ao2_cleanup(cap);
}

struct ast_variable *prs_variable_new(const char *name, const char *value, const char *file)
{
	return ast_variable_new(name, value, file);
}

static int load_module(void)
{
	return pbx_spool_rs_load();
}

static int unload_module(void)
{
	return pbx_spool_rs_unload();
}

static int reload_module(void)
{
	return pbx_spool_rs_reload();
}

AST_MODULE_INFO(ASTERISK_GPL_KEY, AST_MODFLAG_LOAD_ORDER, "Outgoing Spool Support (Rust)",
	.support_level = AST_MODULE_SUPPORT_CORE,
	.load = load_module,
	.unload = unload_module,
	.reload = reload_module,
	.load_pri = AST_MODPRI_DEFAULT,
);
