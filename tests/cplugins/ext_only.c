/*
 * ext_only: an extraction-only plugin for source "test" (event type 322). Its init config
 * picks a misbehaviour: "fail" (FAILURE with a state), "null" (FAILURE without a state),
 * "norc" (never writes rc), "nores" (extract_fields returns SUCCESS without res_len).
 */
#include "common.h"

typedef struct {
	char lasterr[512];
	ss_plugin_owner_t *owner;
	ss_plugin_log_fn_t log_fn;
	int nores;
	uint64_t u64;
	const char *str;
} ext_state;

DEFINE_META("ext_only", "0.2.0", "3.0.0")
DEFINE_CONTACT

const char *plugin_get_last_error(ss_plugin_t *s) { return ((ext_state *)s)->lasterr; }

const char *plugin_get_fields(void)
{
	return "[{\"type\":\"uint64\",\"name\":\"ext.len\",\"desc\":\"event length\"},"
	       "{\"type\":\"uint64\",\"name\":\"ext.evtnum\",\"desc\":\"evtnum\"},"
	       "{\"type\":\"string\",\"name\":\"ext.src\",\"desc\":\"event source\"},"
	       "{\"type\":\"string\",\"name\":\"ext.fail\",\"desc\":\"extraction fails\"}]";
}

const char *plugin_get_extract_event_sources(void) { return "[\"test\", \"\"]"; }

uint16_t *plugin_get_extract_event_types(uint32_t *numtypes, ss_plugin_t *s)
{
	static uint16_t types[] = {FPA_EVT_PLUGINEVENT};
	(void)s;
	*numtypes = 1;
	return types;
}

ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
	const char *cfg = in->config ? in->config : "";
	if (!strcmp(cfg, "null")) {
		*rc = SS_PLUGIN_FAILURE;
		return NULL;
	}
	ext_state *s = calloc(1, sizeof *s);
	s->owner = in->owner;
	s->log_fn = in->log_fn;
	s->nores = !strcmp(cfg, "nores");
	if (!strcmp(cfg, "norc"))
		return s;
	if (!strcmp(cfg, "fail")) {
		snprintf(s->lasterr, sizeof s->lasterr, "init failed on purpose");
		*rc = SS_PLUGIN_FAILURE;
		return s;
	}
	*rc = SS_PLUGIN_SUCCESS;
	return s;
}

void plugin_destroy(ss_plugin_t *st)
{
	ext_state *s = st;
	if (s->log_fn)
		s->log_fn(s->owner, "ext_only-component", "destroy", SS_PLUGIN_LOG_SEV_WARNING);
	free(s);
}

ss_plugin_rc plugin_extract_fields(ss_plugin_t *st, const ss_plugin_event_input *evt,
				   const ss_plugin_field_extract_input *in)
{
	ext_state *s = st;
	if (s->nores)
		return SS_PLUGIN_SUCCESS;
	for (uint32_t i = 0; i < in->num_fields; i++) {
		ss_plugin_extract_field *f = &in->fields[i];
		f->res_len = 1;
		switch (f->field_id) {
		case 0:
			s->u64 = evt->evt->len;
			f->res.u64 = &s->u64;
			break;
		case 1:
			s->u64 = evt->evtnum;
			f->res.u64 = &s->u64;
			break;
		case 2:
			s->str = evt->evtsrc;
			f->res.str = &s->str;
			break;
		default:
			return SS_PLUGIN_FAILURE;
		}
	}
	return SS_PLUGIN_SUCCESS;
}
