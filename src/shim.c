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
#include "asterisk/channel.h"
#include "asterisk/cli.h"
#include "asterisk/devicestate.h"
#include "asterisk/config.h"
#include "asterisk/manager.h"
#include "asterisk/paths.h"
#include "asterisk/pbx.h"
#include "asterisk/utils.h"

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

struct ast_config *prs_config_load(const char *filename, int *status)
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

int prs_endpoint(const char *tech, const char *dest)
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

void prs_cli_write(int fd, const char *text)
{
	ast_cli(fd, "%s", text);
}

/* CLI handlers: CLI_INIT and completion here, the command itself in Rust (pbx_spool_rs_cli). */
static char *cli_dispatch(struct ast_cli_entry *e, int cmd, struct ast_cli_args *a, int id,
	const char *command, const char *usage, int min_args, int max_args)
{
	char word[256];

	switch (cmd) {
	case CLI_INIT:
		e->command = (char *) command;
		e->usage = usage;
		return NULL;
	case CLI_GENERATE:
		if (pbx_spool_rs_cli_complete(id, a->pos, a->word, a->n, word, sizeof(word))) {
			return ast_strdup(word);
		}
		return NULL;
	}
	if (a->argc < min_args || a->argc > max_args) {
		return CLI_SHOWUSAGE;
	}
	switch (pbx_spool_rs_cli(id, a->fd, a->argc, a->argv)) {
	case 0:
		return CLI_SUCCESS;
	case 1:
		return CLI_SHOWUSAGE;
	default:
		return CLI_FAILURE;
	}
}

static char *handle_show_status(struct ast_cli_entry *e, int cmd, struct ast_cli_args *a)
{
	return cli_dispatch(e, cmd, a, PRS_CLI_SHOW_STATUS, "spool show status",
		"Usage: spool show status\n"
		"       Shows the outgoing spool: files queued, due, in progress, waiting for a retry or held\n"
		"       back by maxcalls/maxrate, totals since load, and the effective configuration.\n", 3, 3);
}

static char *handle_show_queue(struct ast_cli_entry *e, int cmd, struct ast_cli_args *a)
{
	return cli_dispatch(e, cmd, a, PRS_CLI_SHOW_QUEUE, "spool show queue",
		"Usage: spool show queue [limit]\n"
		"       Lists the next call files by due time (default 20): name, channel, destination,\n"
		"       attempt and when it is due.\n", 3, 4);
}

static char *handle_show_file(struct ast_cli_entry *e, int cmd, struct ast_cli_args *a)
{
	return cli_dispatch(e, cmd, a, PRS_CLI_SHOW_FILE, "spool show file",
		"Usage: spool show file <name>\n"
		"       Shows a call file in the outgoing spool as pbx_spool_rs sees it: parsed fields,\n"
		"       its state and the security policy's verdict.\n", 4, 4);
}

static char *handle_check(struct ast_cli_entry *e, int cmd, struct ast_cli_args *a)
{
	return cli_dispatch(e, cmd, a, PRS_CLI_CHECK, "spool check",
		"Usage: spool check <path>\n"
		"       Validates a call file anywhere on disk with the same parser and policy as the spool,\n"
		"       printing every problem with its line number. Nothing is queued.\n", 3, 3);
}

static char *handle_check_args(struct ast_cli_entry *e, int cmd, struct ast_cli_args *a)
{
	return cli_dispatch(e, cmd, a, PRS_CLI_CHECK_ARGS, "spool check args",
		"Usage: spool check args <file>\n"
		"       Reads lines '<Application><TAB><data>' and splits each data as the security policy\n"
		"       splits it and as Asterisk's own parser does (arguments as AST_STANDARD_APP_ARGS,\n"
		"       options as ast_app_parse_options), printing every difference and a summary.\n", 4, 4);
}

static char *handle_rescan(struct ast_cli_entry *e, int cmd, struct ast_cli_args *a)
{
	return cli_dispatch(e, cmd, a, PRS_CLI_RESCAN, "spool rescan",
		"Usage: spool rescan\n"
		"       Reads the whole outgoing directory again and queues every call file not yet known.\n", 2, 2);
}

static char *handle_pause(struct ast_cli_entry *e, int cmd, struct ast_cli_args *a)
{
	return cli_dispatch(e, cmd, a, PRS_CLI_PAUSE, "spool pause",
		"Usage: spool pause <campaign|all>\n"
		"       Files of the campaign (all: every call file) that fall due wait instead of being dialled;\n"
		"       calls in progress finish. Kept across module reload and Asterisk restarts\n"
		"       (<astspooldir>/pbx_spool_rs.paused) until spool resume.\n", 3, 3);
}

static char *handle_resume(struct ast_cli_entry *e, int cmd, struct ast_cli_args *a)
{
	return cli_dispatch(e, cmd, a, PRS_CLI_RESUME, "spool resume",
		"Usage: spool resume <campaign|all>\n"
		"       Lets a paused campaign's files be dialled again, in due order (resume all lifts\n"
		"       every pause).\n", 3, 3);
}

static char *handle_cancel(struct ast_cli_entry *e, int cmd, struct ast_cli_args *a)
{
	return cli_dispatch(e, cmd, a, PRS_CLI_CANCEL, "spool cancel",
		"Usage: spool cancel <file> [hangup]\n"
		"       Removes a call file from the outgoing spool: deleted, or moved to outgoing_done/ with\n"
		"       'Status: Cancelled' when it says 'Archive: yes'. A file whose call is in progress is\n"
		"       removed when the call ends, without a retry; 'hangup' ends that call now.\n", 3, 4);
}

/*** DOCUMENTATION
	<manager name="SpoolShow" language="en_US">
		<synopsis>List the call files queued in the outgoing spool (pbx_spool_rs).</synopsis>
		<syntax>
			<xi:include xpointer="xpointer(/docs/manager[@name='Login']/syntax/parameter[@name='ActionID'])" />
			<parameter name="Campaign"><para>Only files of this campaign.</para></parameter>
		</syntax>
		<description><para>One <literal>SpoolQueueEntry</literal> event per file waiting to be dialled
		(File, Campaign, Due as seconds since the epoch), soonest first, then
		<literal>SpoolShowComplete</literal> with ListItems.</para></description>
	</manager>
	<manager name="SpoolStatus" language="en_US">
		<synopsis>The outgoing spool's figures, as 'spool show status' gives them.</synopsis>
		<syntax>
			<xi:include xpointer="xpointer(/docs/manager[@name='Login']/syntax/parameter[@name='ActionID'])" />
		</syntax>
	</manager>
	<manager name="SpoolPause" language="en_US">
		<synopsis>Pause a campaign of the outgoing spool (or all).</synopsis>
		<syntax>
			<xi:include xpointer="xpointer(/docs/manager[@name='Login']/syntax/parameter[@name='ActionID'])" />
			<parameter name="Campaign" required="true"><para>A campaign of pbx_spool_rs.conf, or <literal>all</literal>.</para></parameter>
		</syntax>
	</manager>
	<manager name="SpoolResume" language="en_US">
		<synopsis>Resume a paused campaign (or all).</synopsis>
		<syntax>
			<xi:include xpointer="xpointer(/docs/manager[@name='Login']/syntax/parameter[@name='ActionID'])" />
			<parameter name="Campaign" required="true"><para>A campaign of pbx_spool_rs.conf, or <literal>all</literal>.</para></parameter>
		</syntax>
	</manager>
	<manager name="SpoolCancel" language="en_US">
		<synopsis>Cancel a call file in the outgoing spool.</synopsis>
		<syntax>
			<xi:include xpointer="xpointer(/docs/manager[@name='Login']/syntax/parameter[@name='ActionID'])" />
			<parameter name="File" required="true"><para>The file's name in the outgoing directory.</para></parameter>
			<parameter name="Hangup"><para><literal>yes</literal>: end its call in progress now.</para></parameter>
		</syntax>
	</manager>
 ***/

/* AMI actions: headers read here, the answer decided in Rust (pbx_spool_rs_ami) and sent back through
 * the prs_ami_* wrappers below. */
struct prs_ami_reply {
	struct mansession *s;
	const struct message *m;
};

void prs_ami_ack(struct prs_ami_reply *reply, const char *message, const char *fields)
{
	const char *id = astman_get_header(reply->m, "ActionID");

	astman_append(reply->s, "Response: Success\r\n");
	if (!ast_strlen_zero(id)) {
		astman_append(reply->s, "ActionID: %s\r\n", id);
	}
	astman_append(reply->s, "Message: %s\r\n%s\r\n", message, fields);
}

void prs_ami_error(struct prs_ami_reply *reply, const char *message)
{
	astman_send_error(reply->s, reply->m, (char *) message);
}

void prs_ami_list_start(struct prs_ami_reply *reply, const char *message)
{
	astman_send_listack(reply->s, reply->m, (char *) message, "start");
}

void prs_ami_list_item(struct prs_ami_reply *reply, const char *event, const char *fields)
{
	const char *id = astman_get_header(reply->m, "ActionID");

	astman_append(reply->s, "Event: %s\r\n", event);
	if (!ast_strlen_zero(id)) {
		astman_append(reply->s, "ActionID: %s\r\n", id);
	}
	astman_append(reply->s, "%s\r\n", fields);
}

void prs_ami_list_complete(struct prs_ami_reply *reply, const char *event, int count)
{
	astman_send_list_complete_start(reply->s, reply->m, event, count);
	astman_send_list_complete_end(reply->s);
}

static int ami_dispatch(struct mansession *s, const struct message *m, int action)
{
	struct prs_ami_reply reply = { .s = s, .m = m };

	pbx_spool_rs_ami(action, astman_get_header(m, "Campaign"), astman_get_header(m, "File"),
		astman_get_header(m, "Hangup"), &reply);
	return 0;
}

static int ami_show(struct mansession *s, const struct message *m) { return ami_dispatch(s, m, PRS_AMI_SHOW); }
static int ami_status(struct mansession *s, const struct message *m) { return ami_dispatch(s, m, PRS_AMI_STATUS); }
static int ami_pause(struct mansession *s, const struct message *m) { return ami_dispatch(s, m, PRS_AMI_PAUSE); }
static int ami_resume(struct mansession *s, const struct message *m) { return ami_dispatch(s, m, PRS_AMI_RESUME); }
static int ami_cancel(struct mansession *s, const struct message *m) { return ami_dispatch(s, m, PRS_AMI_CANCEL); }

/* Like Asterisk's own Originate: the originate (or system) write permission. */
#define PRS_AMI_AUTHORITY (EVENT_FLAG_ORIGINATE | EVENT_FLAG_SYSTEM)

/* Registered with their help text as well as the XML block above: Asterisk builds its XML documentation
 * from its own source tree only, so for a module built outside it `manager show command` would say "Not
 * available". The texts say what the XML says. */
static void ami_register(void)
{
	ast_manager_register2("SpoolShow", PRS_AMI_AUTHORITY, ami_show, AST_MODULE_SELF,
		"List the call files queued in the outgoing spool (pbx_spool_rs).",
		"Campaign: <name> (optional) lists only that campaign's files.\n"
		"One SpoolQueueEntry event per file waiting to be dialled (File, Campaign, Due in seconds since\n"
		"the epoch), soonest first, then SpoolShowComplete with ListItems.");
	ast_manager_register2("SpoolStatus", PRS_AMI_AUTHORITY, ami_status, AST_MODULE_SELF,
		"The outgoing spool's figures, as 'spool show status' gives them.",
		"Queued, WaitingRetry, Held, WaitingWindow, WaitingPaused, InProgress, ..., the totals since\n"
		"load, and one CampaignN line per campaign.");
	ast_manager_register2("SpoolPause", PRS_AMI_AUTHORITY, ami_pause, AST_MODULE_SELF,
		"Pause a campaign of the outgoing spool (or all).",
		"Campaign: <name>|all (required). Its files that fall due wait; calls in progress finish.\n"
		"Kept across module reload and restarts until SpoolResume.");
	ast_manager_register2("SpoolResume", PRS_AMI_AUTHORITY, ami_resume, AST_MODULE_SELF,
		"Resume a paused campaign (or all).",
		"Campaign: <name>|all (required).");
	ast_manager_register2("SpoolCancel", PRS_AMI_AUTHORITY, ami_cancel, AST_MODULE_SELF,
		"Cancel a call file in the outgoing spool.",
		"File: <name> (required), the file's name in the outgoing directory. Hangup: yes ends its call\n"
		"in progress now; without it such a file is removed when the call ends, without a retry. A queued\n"
		"file is deleted, or moved to outgoing_done/ with Status: Cancelled under Archive: yes.");
}

static void ami_unregister(void)
{
	ast_manager_unregister("SpoolShow");
	ast_manager_unregister("SpoolStatus");
	ast_manager_unregister("SpoolPause");
	ast_manager_unregister("SpoolResume");
	ast_manager_unregister("SpoolCancel");
}

static struct ast_cli_entry cli_entries[] = {
	AST_CLI_DEFINE(handle_show_status, "Show the outgoing spool's state"),
	AST_CLI_DEFINE(handle_show_queue, "List the next call files by due time"),
	AST_CLI_DEFINE(handle_show_file, "Show one call file as the spooler sees it"),
	AST_CLI_DEFINE(handle_check, "Validate a call file without queueing it"),
	AST_CLI_DEFINE(handle_check_args, "Compare the policy's argument parsing with Asterisk's"),
	AST_CLI_DEFINE(handle_rescan, "Rescan the outgoing spool directory"),
	AST_CLI_DEFINE(handle_pause, "Pause a campaign of the outgoing spool"),
	AST_CLI_DEFINE(handle_resume, "Resume a paused campaign"),
	AST_CLI_DEFINE(handle_cancel, "Cancel a call file in the outgoing spool"),
};

void prs_cli_register(void)
{
	ast_cli_register_multiple(cli_entries, ARRAY_LEN(cli_entries));
}

void prs_cli_unregister(void)
{
	ast_cli_unregister_multiple(cli_entries, ARRAY_LEN(cli_entries));
}

static int load_module(void)
{
	int res = pbx_spool_rs_load();

	if (res == AST_MODULE_LOAD_SUCCESS) {
		ami_register();
	}
	return res;
}

static int unload_module(void)
{
	/* A refused unload (calls in progress) keeps the actions; AMI handlers running now hold a module
	 * reference, so Asterisk does not get here while one runs. */
	int res = pbx_spool_rs_unload();

	if (!res) {
		ami_unregister();
	}
	return res;
}

static int reload_module(void)
{
	return pbx_spool_rs_reload();
}

AST_MODULE_INFO(ASTERISK_GPL_KEY, AST_MODFLAG_LOAD_ORDER, "Outgoing Spool Support (Rust)",
	.support_level = AST_MODULE_SUPPORT_EXTENDED,
	.load = load_module,
	.unload = unload_module,
	.reload = reload_module,
	.load_pri = AST_MODPRI_DEFAULT,
);
