/*
 * test_src: a well-behaved source + extraction plugin (id 999, source "test") that misbehaves
 * on demand, chosen by its open params "MODE[:N]":
 *   count     N events, one per batch, then EOF alone (the default mode)
 *   eofbatch  N events returned together with EOF
 *   zero      SUCCESS with 0 events
 *   badid     an event carrying plugin id 12345
 *   fail      2 events returned together with FAILURE ("boom after 2 events")
 *   timeout3  3 TIMEOUTs with no events, then 2 events, then EOF
 *   openfail  open fails ("cannot open: openfail")
 *   id0       events with plugin id 0 (the host fills in 999)
 *   ts        events with ts=12345 and tid=42 (the host forces tid to UINT64_MAX)
 *   badtype   an event of type 402
 *   slow      N events, one per batch, 20 ms apart
 * N defaults to the init config's "count" (default 3). The init config has a JSON schema.
 * Event i's payload is the text "test event <i>".
 */
#include <stdarg.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define TEST_ID 999
#define MAX_PAYLOAD 64
#define EVT_MAX (FPA_PLUGIN_EVENT_PAYLOAD_OFFSET + MAX_PAYLOAD)
#define MAX_BATCH 16

typedef struct {
	char lasterr[512];
	ss_plugin_owner_t *owner;
	ss_plugin_log_fn_t log_fn;
	uint64_t count;
	/* extraction slots */
	uint64_t u64[2];
	const char *str;
	char strbuf[160];
	ss_plugin_bool flag;
	uint8_t ip[4];
	ss_plugin_byte_buffer buf;
	char info[160];
} test_state;

typedef struct {
	char mode[32];
	uint64_t n, next, calls;
	uint8_t events[MAX_BATCH][EVT_MAX];
	ss_plugin_event *ptrs[MAX_BATCH];
} test_instance;

#define logf_(s, sev, ...) host_logf(((test_state *)(s))->log_fn, ((test_state *)(s))->owner, (sev), __VA_ARGS__)

const char *plugin_get_required_api_version(void) { return "3.3.0"; }
const char *plugin_get_version(void) { return "1.2.3"; }
const char *plugin_get_name(void) { return "test_src"; }
const char *plugin_get_description(void) { return "test source plugin"; }
const char *plugin_get_contact(void) { return "falco-plugin tests"; }
uint32_t plugin_get_id(void) { return TEST_ID; }
const char *plugin_get_event_source(void) { return "test"; }
const char *plugin_get_last_error(ss_plugin_t *s) { return ((test_state *)s)->lasterr; }

const char *plugin_get_init_schema(ss_plugin_schema_type *type)
{
	*type = SS_PLUGIN_SCHEMA_JSON;
	return "{\"type\":\"object\",\"properties\":{\"count\":{\"type\":\"integer\",\"minimum\":1}},"
	       "\"additionalProperties\":false}";
}

const char *plugin_get_fields(void)
{
	return "["
	       "{\"type\":\"uint64\",\"name\":\"test.n\",\"desc\":\"event counter\"},"
	       "{\"type\":\"string\",\"name\":\"test.msg\",\"desc\":\"payload text\"},"
	       "{\"type\":\"uint64\",\"name\":\"test.idx\",\"desc\":\"counter times the index\","
	       "\"arg\":{\"isIndex\":true,\"isRequired\":true}},"
	       "{\"type\":\"string\",\"name\":\"test.argdump\",\"desc\":\"what the host passed as argument\","
	       "\"arg\":{\"isIndex\":true,\"isKey\":true}},"
	       "{\"type\":\"uint64\",\"name\":\"test.list\",\"desc\":\"counter and counter*10\",\"isList\":true},"
	       "{\"type\":\"bool\",\"name\":\"test.flag\",\"desc\":\"counter is odd\"},"
	       "{\"type\":\"ipaddr\",\"name\":\"test.ip\",\"desc\":\"10.0.0.<counter>\"},"
	       "{\"type\":\"string\",\"name\":\"test.na\",\"desc\":\"never has a value\"},"
	       "{\"type\":\"uint64\",\"name\":\"test.evtnum\",\"desc\":\"evtnum given by the host\"},"
	       "{\"type\":\"string\",\"name\":\"test.src\",\"desc\":\"evtsrc given by the host\"},"
	       "{\"type\":\"uint64\",\"name\":\"test.count\",\"desc\":\"count from the init config\"},"
	       "{\"type\":\"uint64\",\"name\":\"test.tid\",\"desc\":\"thread id of the extracting thread\"}"
	       "]";
}

ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
	test_state *s = calloc(1, sizeof *s);
	s->owner = in->owner;
	s->log_fn = in->log_fn;
	s->count = 3;
	const char *c = in->config ? strstr(in->config, "\"count\"") : NULL;
	if (c) {
		c = strchr(c, ':');
		if (c)
			s->count = strtoull(c + 1, NULL, 10);
	}
	logf_(s, SS_PLUGIN_LOG_SEV_INFO, "init config=%s tid=%ld", in->config ? in->config : "(null)",
	      (long)syscall(SYS_gettid));
	*rc = SS_PLUGIN_SUCCESS;
	return s;
}

void plugin_destroy(ss_plugin_t *s)
{
	logf_(s, SS_PLUGIN_LOG_SEV_DEBUG, "destroy");
	free(s);
}

ss_instance_t *plugin_open(ss_plugin_t *st, const char *params, ss_plugin_rc *rc)
{
	test_state *s = st;
	static const char *const modes[] = {"count", "eofbatch", "zero", "badid", "fail", "timeout3",
					    "openfail", "id0", "ts", "badtype", "slow"};
	char mode[32] = "count";
	uint64_t n = s->count;
	if (params && params[0]) {
		const char *colon = strchr(params, ':');
		size_t len = colon ? (size_t)(colon - params) : strlen(params);
		if (len >= sizeof mode)
			len = sizeof mode - 1;
		memcpy(mode, params, len);
		mode[len] = '\0';
		if (colon)
			n = strtoull(colon + 1, NULL, 10);
	}
	int known = 0;
	for (size_t i = 0; i < sizeof modes / sizeof *modes; i++)
		known |= strcmp(mode, modes[i]) == 0;
	if (!known || strcmp(mode, "openfail") == 0) {
		snprintf(s->lasterr, sizeof s->lasterr, "cannot open: %s", params);
		*rc = SS_PLUGIN_FAILURE;
		return NULL;
	}
	test_instance *h = calloc(1, sizeof *h);
	memcpy(h->mode, mode, sizeof mode);
	h->n = n;
	h->next = 1;
	for (int i = 0; i < MAX_BATCH; i++)
		h->ptrs[i] = (ss_plugin_event *)h->events[i];
	logf_(s, SS_PLUGIN_LOG_SEV_DEBUG, "open mode=%s n=%llu", mode, (unsigned long long)n);
	*rc = SS_PLUGIN_SUCCESS;
	return h;
}

void plugin_close(ss_plugin_t *s, ss_instance_t *h)
{
	logf_(s, SS_PLUGIN_LOG_SEV_DEBUG, "close h=%s", h ? "set" : "null");
	free(h);
}

/* Writes event number i into slot k. */
static void make_event(test_instance *h, int k, uint64_t i, uint32_t pid, uint16_t type)
{
	uint8_t *e = h->events[k];
	char text[MAX_PAYLOAD];
	int len = snprintf(text, sizeof text, "test event %llu", (unsigned long long)i);
	ss_plugin_event hdr = {UINT64_MAX, UINT64_MAX, (uint32_t)(FPA_PLUGIN_EVENT_PAYLOAD_OFFSET + len), type, 2};
	uint32_t params[3] = {4, (uint32_t)len, pid};
	memcpy(e, &hdr, sizeof hdr);
	memcpy(e + sizeof hdr, params, sizeof params);
	memcpy(e + FPA_PLUGIN_EVENT_PAYLOAD_OFFSET, text, (size_t)len);
}

ss_plugin_rc plugin_next_batch(ss_plugin_t *st, ss_instance_t *ih, uint32_t *nevts, ss_plugin_event ***evts)
{
	test_state *s = st;
	test_instance *h = ih;
	const char *m = h->mode;
	h->calls++;
	*evts = h->ptrs;
	*nevts = 0;
	if (!strcmp(m, "zero"))
		return SS_PLUGIN_SUCCESS;
	if (!strcmp(m, "badid")) {
		make_event(h, 0, h->next++, 12345, FPA_EVT_PLUGINEVENT);
		*nevts = 1;
		return SS_PLUGIN_SUCCESS;
	}
	if (!strcmp(m, "badtype")) {
		make_event(h, 0, h->next++, TEST_ID, FPA_EVT_ASYNCEVENT);
		*nevts = 1;
		return SS_PLUGIN_SUCCESS;
	}
	if (!strcmp(m, "fail")) {
		make_event(h, 0, h->next++, TEST_ID, FPA_EVT_PLUGINEVENT);
		make_event(h, 1, h->next++, TEST_ID, FPA_EVT_PLUGINEVENT);
		*nevts = 2;
		snprintf(s->lasterr, sizeof s->lasterr, "boom after 2 events");
		return SS_PLUGIN_FAILURE;
	}
	if (!strcmp(m, "timeout3")) {
		if (h->calls <= 3)
			return SS_PLUGIN_TIMEOUT;
		if (h->calls == 4) {
			make_event(h, 0, h->next++, TEST_ID, FPA_EVT_PLUGINEVENT);
			make_event(h, 1, h->next++, TEST_ID, FPA_EVT_PLUGINEVENT);
			*nevts = 2;
			return SS_PLUGIN_SUCCESS;
		}
		return SS_PLUGIN_EOF;
	}
	if (!strcmp(m, "eofbatch")) {
		uint32_t k = 0;
		while (h->next <= h->n && k < MAX_BATCH)
			make_event(h, (int)k++, h->next++, TEST_ID, FPA_EVT_PLUGINEVENT);
		*nevts = k;
		return h->next > h->n ? SS_PLUGIN_EOF : SS_PLUGIN_SUCCESS;
	}
	/* count, id0, ts, slow: one event per call, then EOF alone */
	if (h->next > h->n)
		return SS_PLUGIN_EOF;
	if (!strcmp(m, "slow")) {
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	make_event(h, 0, h->next++, strcmp(m, "id0") ? TEST_ID : 0, FPA_EVT_PLUGINEVENT);
	if (!strcmp(m, "ts")) {
		h->ptrs[0]->ts = 12345;
		h->ptrs[0]->tid = 42;
	}
	*nevts = 1;
	return SS_PLUGIN_SUCCESS;
}

const char *plugin_event_to_string(ss_plugin_t *st, const ss_plugin_event_input *evt)
{
	test_state *s = st;
	const ss_plugin_event *e = evt->evt;
	uint32_t len = e->len - FPA_PLUGIN_EVENT_PAYLOAD_OFFSET;
	snprintf(s->info, sizeof s->info, "to_string: %.*s", (int)len,
		 (const char *)e + FPA_PLUGIN_EVENT_PAYLOAD_OFFSET);
	return s->info;
}

ss_plugin_rc plugin_extract_fields(ss_plugin_t *st, const ss_plugin_event_input *evt,
				   const ss_plugin_field_extract_input *in)
{
	test_state *s = st;
	const ss_plugin_event *e = evt->evt;
	const char *payload = (const char *)e + FPA_PLUGIN_EVENT_PAYLOAD_OFFSET;
	uint32_t plen = e->len - FPA_PLUGIN_EVENT_PAYLOAD_OFFSET;
	uint64_t n = strtoull(payload + 11, NULL, 10); /* after "test event " */
	if (in->num_fields != 1) {
		snprintf(s->lasterr, sizeof s->lasterr, "expected num_fields 1");
		return SS_PLUGIN_FAILURE;
	}
	ss_plugin_extract_field *f = &in->fields[0];
	f->res_len = 1;
	switch (f->field_id) {
	case 0: /* test.n */
		s->u64[0] = n;
		f->res.u64 = s->u64;
		break;
	case 1: /* test.msg */
		snprintf(s->strbuf, sizeof s->strbuf, "%.*s", (int)plen, payload);
		s->str = s->strbuf;
		f->res.str = &s->str;
		break;
	case 2: /* test.idx */
		s->u64[0] = n * f->arg_index;
		f->res.u64 = s->u64;
		break;
	case 3: /* test.argdump */
		snprintf(s->strbuf, sizeof s->strbuf, "present=%u index=%llu key=%s", f->arg_present,
			 (unsigned long long)f->arg_index, f->arg_key ? f->arg_key : "(null)");
		s->str = s->strbuf;
		f->res.str = &s->str;
		break;
	case 4: /* test.list */
		s->u64[0] = n;
		s->u64[1] = n * 10;
		f->res.u64 = s->u64;
		f->res_len = 2;
		break;
	case 5: /* test.flag */
		s->flag = n % 2 == 1;
		f->res.boolean = &s->flag;
		break;
	case 6: /* test.ip */
		s->ip[0] = 10;
		s->ip[1] = 0;
		s->ip[2] = 0;
		s->ip[3] = (uint8_t)n;
		s->buf.len = 4;
		s->buf.ptr = s->ip;
		f->res.buf = &s->buf;
		break;
	case 8: /* test.evtnum */
		s->u64[0] = evt->evtnum;
		f->res.u64 = s->u64;
		break;
	case 9: /* test.src */
		s->str = evt->evtsrc;
		f->res.str = &s->str;
		break;
	case 10: /* test.count */
		s->u64[0] = s->count;
		f->res.u64 = s->u64;
		break;
	case 11: /* test.tid */
		s->u64[0] = (uint64_t)syscall(SYS_gettid);
		f->res.u64 = s->u64;
		break;
	default: /* test.na */
		f->res_len = 0;
	}
	return SS_PLUGIN_SUCCESS;
}
