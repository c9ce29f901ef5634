/*
 * parse_noop_c: the plain-C reference for `make bench` section P: a parse-only plugin whose
 * parse_event does nothing (every event of every source), to measure the host's parse
 * dispatch and the bare call next to an SDK plugin doing the same.
 */
#include <stdlib.h>

#include "plugin_abi.h"

typedef struct {
	char lasterr[8];
} noop_state;

const char *plugin_get_required_api_version(void) { return "3.0.0"; }
const char *plugin_get_version(void) { return "0.1.0"; }
const char *plugin_get_name(void) { return "parse_noop_c"; }
const char *plugin_get_description(void) { return "parses every event and does nothing (C reference)"; }
const char *plugin_get_contact(void) { return "falco-plugin bench"; }
const char *plugin_get_last_error(ss_plugin_t *s) { return ((noop_state *)s)->lasterr; }

ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
	(void)in;
	*rc = SS_PLUGIN_SUCCESS;
	return calloc(1, sizeof(noop_state));
}

void plugin_destroy(ss_plugin_t *s) { free(s); }

ss_plugin_rc plugin_parse_event(ss_plugin_t *s, const ss_plugin_event_input *evt, const ss_plugin_event_parse_input *in)
{
	(void)s;
	(void)evt;
	(void)in;
	return SS_PLUGIN_SUCCESS;
}
