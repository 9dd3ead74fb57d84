/*
 * pbx_spool_rs C shim: Asterisk's module registration (AST_MODULE_INFO, whose load, unload and reload are
 * the Rust entry points in src/module.rs) and one-line wrappers for the Asterisk API that exists only as
 * macros or inline functions, which bindgen cannot bind. Everything else lives in Rust, the CLI commands,
 * AMI actions and the dialplan function SPOOL() included. Keep this file small: no logic here.
 */
#define AST_MODULE "pbx_spool_rs"
#define AST_MODULE_SELF_SYM __internal_pbx_spool_rs_self

#include "asterisk.h"

#include "asterisk/format_cache.h"
#include "asterisk/format_cap.h"
#include "asterisk/logger.h"
#include "asterisk/module.h"
#include "asterisk/options.h"
#include "asterisk/channel.h"
#include "asterisk/cli.h"
#include "asterisk/devicestate.h"
#include "asterisk/config.h"
#include "asterisk/stasis.h"
#include "asterisk/stasis_channels.h"
#include "asterisk/manager.h"
#include "asterisk/paths.h"
#include "asterisk/pbx.h"
#include "asterisk/res_prometheus.h"
#include "asterisk/strings.h"
#include "asterisk/utils.h"
#include "asterisk/xml.h"
#include "asterisk/xmldoc.h"

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

struct ast_config *prs_config_load(const char *filename, enum prs_config_status *status)
{
	struct ast_flags flags = { 0 };
	struct ast_config *cfg = ast_config_load2(filename, "pbx_spool_rs", flags);

	if (cfg == CONFIG_STATUS_FILEMISSING) {
		*status = PRS_CONFIG_MISSING;
		return NULL;
	}
	if (cfg == CONFIG_STATUS_FILEINVALID || cfg == CONFIG_STATUS_FILEUNCHANGED) {
		*status = PRS_CONFIG_INVALID;
		return NULL;
	}
	*status = PRS_CONFIG_LOADED;
	return cfg;
}

int prs_function_write_escalates(const char *name)
{
	struct ast_custom_function *function = ast_custom_function_find(name);

	if (!function) {
		return -1;
	}
	return function->write_escalates ? 1 : 0;
}

enum prs_endpoint prs_endpoint(const char *tech, const char *dest)
{
	const struct ast_channel_tech *driver = ast_get_channel_tech(tech);

	if (!driver) {
		return PRS_ENDPOINT_NO_TECHNOLOGY;
	}
	/* What ast_device_state() does without its cache: the driver's own answer for this name. */
	if (!driver->devicestate || driver->devicestate(dest) == AST_DEVICE_INVALID) {
		return PRS_ENDPOINT_UNKNOWN;
	}
	return PRS_ENDPOINT_KNOWN;
}

int prs_hangup_uniqueid(const char *uniqueid)
{
	/* ast_channel_get_by_name() finds a channel by name or by uniqueid, with a reference. */
	struct ast_channel *chan = ast_channel_get_by_name(uniqueid);

	if (!chan) {
		return -1;
	}
	ast_softhangup(chan, AST_SOFTHANGUP_EXPLICIT);
	ast_channel_unref(chan);
	return 0;
}

struct stasis_subscription *prs_channels_subscribe(void (*callback)(void *data, struct stasis_subscription *sub,
	struct stasis_message *message))
{
	struct stasis_subscription *sub = stasis_subscribe(ast_channel_topic_all(), callback, NULL);

	if (sub) {
		/* Only snapshot updates reach the callback, and the subscription's own end (which the join waits for). */
		stasis_subscription_accept_message_type(sub, ast_channel_snapshot_type());
		stasis_subscription_accept_message_type(sub, stasis_subscription_change_type());
		stasis_subscription_set_filter(sub, STASIS_SUBSCRIPTION_FILTER_SELECTIVE);
	}
	return sub;
}

void prs_channels_unsubscribe(struct stasis_subscription *sub)
{
	stasis_unsubscribe_and_join(sub);
}

int prs_channel_hangup(struct stasis_message *message, const char **uniqueid, int *cause, int *gone)
{
	struct ast_channel_snapshot_update *update;

	if (stasis_message_type(message) != ast_channel_snapshot_type()) {
		return 0;
	}
	update = stasis_message_data(message);
	*uniqueid = update->new_snapshot->base->uniqueid;
	*cause = update->new_snapshot->hangup->cause;
	*gone = ast_test_flag(&update->new_snapshot->flags, AST_FLAG_DEAD) ? 1 : 0;
	return 1;
}

int prs_live_dangerously(void)
{
	struct ast_flags flags = { 0 };
	struct ast_config *cfg = ast_config_load2(ast_config_AST_CONFIG_FILE, "pbx_spool_rs", flags);
	const char *value;
	int result = 0;

	if (!cfg || cfg == CONFIG_STATUS_FILEINVALID || cfg == CONFIG_STATUS_FILEUNCHANGED) {
		return 0;
	}
	value = ast_variable_retrieve(cfg, "options", "live_dangerously");
	result = value && ast_true(value);
	ast_config_destroy(cfg);
	return result;
}

void prs_manager_event(int category, const char *event, const char *body)
{
	manager_event(category, event, "%s", body);
}

/* ast_xmldoc_query exists only in an Asterisk built with XML documentation (AST_XML_DOCS). */
int prs_xmldoc_has(const char *type, const char *name)
{
#ifdef AST_XML_DOCS
	struct ast_xml_xpath_results *results = ast_xmldoc_query("/docs/%s[@name='%s']", type, name);
	int found = results != NULL;

	ast_xml_xpath_results_free(results);
	return found;
#else
	return 0;
#endif
}

int prs_custom_function_register(struct ast_custom_function *function)
{
	return ast_custom_function_register(function);
}

/* Only the struct's layout comes from res_prometheus.h: no res_prometheus function is referenced here, so
 * the module loads without it. */
static struct prometheus_callback metrics_callback = {
	.name = "pbx_spool_rs",
	.callback_fn = pbx_spool_rs_metrics,
};

struct prometheus_callback *prs_metrics_callback(void)
{
	return &metrics_callback;
}

void prs_str_append(struct ast_str **output, const char *text)
{
	ast_str_append(output, 0, "%s", text);
}

AST_MODULE_INFO(ASTERISK_GPL_KEY, AST_MODFLAG_LOAD_ORDER, "Outgoing Spool Support (Rust)",
	.support_level = AST_MODULE_SUPPORT_EXTENDED,
	.load = pbx_spool_rs_load,
	.unload = pbx_spool_rs_unload,
	.reload = pbx_spool_rs_reload,
	.load_pri = AST_MODPRI_DEFAULT,
);
