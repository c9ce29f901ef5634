/* A source plugin (no events) whose init schema is the environment variable FPH_SCHEMA,
 * so that tests can check the host's schema validation against many schemas. */
#include "common.h"
DEFINE_META("schema_env", "0.1.0", "3.3.0")
DEFINE_CONTACT
DEFINE_OPEN_CLOSE
DEFINE_NEXT_BATCH_EOF
uint32_t plugin_get_id(void) { return 997; }
const char *plugin_get_event_source(void) { return "schemaenv"; }

const char *plugin_get_init_schema(ss_plugin_schema_type *type)
{
	const char *schema = getenv("FPH_SCHEMA");
	*type = SS_PLUGIN_SCHEMA_JSON;
	return schema ? schema : "";
}

ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
	basic_state *s = calloc(1, sizeof *s);
	char msg[1200];
	snprintf(msg, sizeof msg, "init config=%s", in->config);
	in->log_fn(in->owner, NULL, msg, SS_PLUGIN_LOG_SEV_INFO);
	*rc = SS_PLUGIN_SUCCESS;
	return s;
}
void plugin_destroy(ss_plugin_t *s) { free(s); }
const char *plugin_get_last_error(ss_plugin_t *s) { return ((basic_state *)s)->lasterr; }
