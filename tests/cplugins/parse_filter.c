/*
 * parse_filter: a parse-only plugin that logs every event it parses as
 * "parsed evtnum=<n> type=<t> src=<source>".
 * Its parse sources come from the environment variable FPH_PARSE_SOURCES (a JSON array;
 * unset: the symbol returns NULL, i.e. all sources). Its parse types come from the init config
 * "types=T1,T2,..." ("types=" alone: an empty array; no "types=": NULL). With "fail" in the
 * config every parse fails, alternating two messages ("failure A"/"failure B").
 */
#include "common.h"

typedef struct {
	char lasterr[512];
	ss_plugin_owner_t *owner;
	ss_plugin_log_fn_t log_fn;
	int has_types, fail;
	uint16_t types[64];
	uint32_t ntypes;
	uint64_t calls;
} pstate;

DEFINE_META("parse_filter", "0.1.0", "3.12.0")
DEFINE_CONTACT
const char *plugin_get_last_error(ss_plugin_t *s) { return ((pstate *)s)->lasterr; }
const char *plugin_get_parse_event_sources(void) { return getenv("FPH_PARSE_SOURCES"); }

ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
	pstate *s = calloc(1, sizeof *s);
	s->owner = in->owner;
	s->log_fn = in->log_fn;
	const char *cfg = in->config ? in->config : "";
	const char *t = strstr(cfg, "types=");
	if (t) {
		s->has_types = 1;
		t += 6;
		while (*t >= '0' && *t <= '9' && s->ntypes < 64) {
			char *end;
			s->types[s->ntypes++] = (uint16_t)strtoul(t, &end, 10);
			t = *end == ',' ? end + 1 : end;
		}
	}
	s->fail = strstr(cfg, "fail") != NULL;
	*rc = SS_PLUGIN_SUCCESS;
	return s;
}

void plugin_destroy(ss_plugin_t *s) { free(s); }

uint16_t *plugin_get_parse_event_types(uint32_t *n, ss_plugin_t *st)
{
	pstate *s = st;
	*n = s->ntypes;
	return s->has_types ? s->types : NULL;
}

ss_plugin_rc plugin_parse_event(ss_plugin_t *st, const ss_plugin_event_input *ev, const ss_plugin_event_parse_input *in)
{
	pstate *s = st;
	(void)in;
	host_logf(s->log_fn, s->owner, SS_PLUGIN_LOG_SEV_INFO, "parsed evtnum=%llu type=%u src=%s",
		  (unsigned long long)ev->evtnum, ev->evt->type, ev->evtsrc);
	if (s->fail) {
		snprintf(s->lasterr, sizeof s->lasterr, "failure %s", s->calls++ % 2 ? "B" : "A");
		return SS_PLUGIN_FAILURE;
	}
	return SS_PLUGIN_SUCCESS;
}
