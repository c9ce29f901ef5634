/*
 * async_both: async_src's behaviours (async_common.h) in a source plugin (id 996, source
 * "asrc") whose async sources are ["test"]: it attaches to its own session all the same.
 * Open params "MODE[:N]":
 *   count:N  N events (payload "src <i>"), one per batch, then EOF (the default, N=3)
 *   idle     every call sleeps 5 ms and returns TIMEOUT
 *   inter:N  event 1; then a call that emits "tock" twice through the handler (on the
 *            session thread) and returns TIMEOUT; event 2; ...; event N; then a call that
 *            emits two "tock" and returns EOF
 */
#include "async_common.h"

#define BOTH_ID 996

DEFINE_META("async_both", "0.1.0", "3.3.0")
DEFINE_CONTACT

uint32_t plugin_get_id(void) { return BOTH_ID; }
const char *plugin_get_event_source(void) { return "asrc"; }
const char *plugin_get_async_event_sources(void) { return "[\"test\"]"; }

typedef struct {
	char mode[16];
	uint64_t n, next, tocks;
	int emit_next;
	uint8_t evt[64];
	ss_plugin_event *ptr;
} both_instance;

ss_instance_t *plugin_open(ss_plugin_t *s, const char *params, ss_plugin_rc *rc)
{
	(void)s;
	both_instance *h = calloc(1, sizeof *h);
	const char *colon = params ? strchr(params, ':') : NULL;
	size_t len = params && params[0] ? (colon ? (size_t)(colon - params) : strlen(params)) : 0;
	if (len >= sizeof h->mode)
		len = sizeof h->mode - 1;
	memcpy(h->mode, len ? params : "count", len ? len : 5);
	h->n = colon ? strtoull(colon + 1, NULL, 10) : 3;
	h->next = 1;
	h->ptr = (ss_plugin_event *)h->evt;
	*rc = SS_PLUGIN_SUCCESS;
	return h;
}

void plugin_close(ss_plugin_t *s, ss_instance_t *h)
{
	logf_(s, SS_PLUGIN_LOG_SEV_DEBUG, "close");
	free(h);
}

ss_plugin_rc plugin_next_batch(ss_plugin_t *st, ss_instance_t *ih, uint32_t *nevts, ss_plugin_event ***evts)
{
	async_state *s = st;
	both_instance *h = ih;
	*nevts = 0;
	*evts = &h->ptr;
	if (!strcmp(h->mode, "idle")) {
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
		return SS_PLUGIN_TIMEOUT;
	}
	if (h->emit_next) {
		char data[32];
		h->emit_next = 0;
		for (int i = 0; i < 2 && s->handler; i++) {
			snprintf(data, sizeof data, "tock %llu", (unsigned long long)++h->tocks);
			emit(s, "tock", data, UINT64_MAX, UINT64_MAX);
		}
		return h->next > h->n ? SS_PLUGIN_EOF : SS_PLUGIN_TIMEOUT;
	}
	if (h->next > h->n)
		return SS_PLUGIN_EOF;
	char text[32];
	int len = snprintf(text, sizeof text, "src %llu", (unsigned long long)h->next++);
	ss_plugin_event hdr = {UINT64_MAX, UINT64_MAX, (uint32_t)(FPA_PLUGIN_EVENT_PAYLOAD_OFFSET + len),
			       FPA_EVT_PLUGINEVENT, 2};
	uint32_t params[3] = {4, (uint32_t)len, BOTH_ID};
	memcpy(h->evt, &hdr, 26);
	memcpy(h->evt + 26, params, 12);
	memcpy(h->evt + FPA_PLUGIN_EVENT_PAYLOAD_OFFSET, text, (size_t)len);
	h->emit_next = !strcmp(h->mode, "inter");
	*nevts = 1;
	return SS_PLUGIN_SUCCESS;
}
