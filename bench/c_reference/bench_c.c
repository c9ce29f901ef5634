/*
 * bench_c: the plain-C reference plugin for `make bench`, written the way a careful C/C++
 * SDK plugin would be: reusable per-instance event buffers, per-state extraction slots, no
 * allocation on the hot path. The Python SDK's benchmark plugin mirrors it.
 *
 * init config: {"batch": B} (default 64). open params: N, the number of events.
 * Event i (1..N): a 322 plugin event whose 64-byte payload is i (little-endian uint64)
 * followed by 56 zero bytes. Fields: bench.value (i), bench.str (i in decimal),
 * bench.div[n] (1 if i % n == 0 else 0).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_abi.h"

#define BENCH_ID 998
#define BENCH_SOURCE "bench_c"
#define PAYLOAD_LEN 64
#define EVT_LEN (FPA_PLUGIN_EVENT_PAYLOAD_OFFSET + PAYLOAD_LEN)
#define DEFAULT_BATCH 64
#define MAX_BATCH 1000000

enum { F_VALUE, F_STR, F_DIV };

typedef struct {
	char lasterr[256];
	uint32_t batch;
	/* extraction results: one slot per requested field, valid until the next call */
	uint32_t cap;
	uint64_t *u64;
	const char **str;
	char (*digits)[24];
} bench_state;

typedef struct {
	uint64_t n;    /* events to produce */
	uint64_t next; /* counter of the next event, from 1 */
	uint32_t batch;
	uint8_t *buf;  /* batch events of EVT_LEN bytes */
	ss_plugin_event **evts;
} bench_instance;

const char *plugin_get_required_api_version(void) { return "3.3.0"; }
const char *plugin_get_version(void) { return "0.1.0"; }
const char *plugin_get_name(void) { return "bench_c"; }
const char *plugin_get_description(void) { return "Plain-C reference plugin for benchmarks"; }
const char *plugin_get_contact(void) { return "github.com/falco-plugin"; }
uint32_t plugin_get_id(void) { return BENCH_ID; }
const char *plugin_get_event_source(void) { return BENCH_SOURCE; }

const char *plugin_get_fields(void)
{
	return "["
	       "{\"type\":\"uint64\",\"name\":\"bench.value\",\"desc\":\"The event counter\"},"
	       "{\"type\":\"string\",\"name\":\"bench.str\",\"desc\":\"The event counter in decimal\"},"
	       "{\"type\":\"uint64\",\"name\":\"bench.div\",\"desc\":\"1 if the counter is a multiple of the "
	       "argument, else 0\",\"arg\":{\"isIndex\":true,\"isRequired\":true}}"
	       "]";
}

const char *plugin_get_extract_event_sources(void) { return "[\"" BENCH_SOURCE "\"]"; }

uint16_t *plugin_get_extract_event_types(uint32_t *numtypes, ss_plugin_t *s)
{
	static uint16_t types[] = {FPA_EVT_PLUGINEVENT};
	(void)s;
	*numtypes = 1;
	return types;
}

const char *plugin_get_last_error(ss_plugin_t *s)
{
	return ((bench_state *)s)->lasterr;
}

/* {"batch": B}: an integer after "batch"; anything else keeps the default. */
static int parse_config(const char *cfg, uint32_t *batch, char *err, size_t errlen)
{
	*batch = DEFAULT_BATCH;
	const char *p = cfg ? strstr(cfg, "\"batch\"") : NULL;
	if (!p)
		return 0;
	p += 7;
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ':')
		p++;
	char *end;
	unsigned long long v = strtoull(p, &end, 10);
	if (end == p || v < 1 || v > MAX_BATCH) {
		snprintf(err, errlen, "invalid config: batch must be an integer in 1..%d", MAX_BATCH);
		return -1;
	}
	*batch = (uint32_t)v;
	return 0;
}

ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
	bench_state *s = calloc(1, sizeof *s);
	if (!s) {
		*rc = SS_PLUGIN_FAILURE;
		return NULL;
	}
	*rc = parse_config(in->config, &s->batch, s->lasterr, sizeof s->lasterr) ? SS_PLUGIN_FAILURE
										     : SS_PLUGIN_SUCCESS;
	return s;
}

void plugin_destroy(ss_plugin_t *st)
{
	bench_state *s = st;
	free(s->u64);
	free(s->str);
	free(s->digits);
	free(s);
}

ss_instance_t *plugin_open(ss_plugin_t *st, const char *params, ss_plugin_rc *rc)
{
	bench_state *s = st;
	char *end;
	*rc = SS_PLUGIN_FAILURE;
	if (!params || params[0] < '0' || params[0] > '9') {
		snprintf(s->lasterr, sizeof s->lasterr, "open params must be the number of events, got '%s'",
			 params ? params : "");
		return NULL;
	}
	unsigned long long n = strtoull(params, &end, 10);
	if (*end) {
		snprintf(s->lasterr, sizeof s->lasterr, "open params must be the number of events, got '%s'", params);
		return NULL;
	}
	bench_instance *h = calloc(1, sizeof *h);
	if (!h)
		goto oom;
	h->n = n;
	h->next = 1;
	h->batch = s->batch;
	h->buf = calloc(h->batch, EVT_LEN);
	h->evts = calloc(h->batch, sizeof *h->evts);
	if (!h->buf || !h->evts)
		goto oom;
	/* the constant parts of every slot are written once */
	for (uint32_t i = 0; i < h->batch; i++) {
		uint8_t *e = h->buf + (size_t)i * EVT_LEN;
		ss_plugin_event hdr = {UINT64_MAX, UINT64_MAX, EVT_LEN, FPA_EVT_PLUGINEVENT, 2};
		uint32_t lens[3] = {4, PAYLOAD_LEN, BENCH_ID}; /* two param lengths, then param 0 */
		memcpy(e, &hdr, sizeof hdr);
		memcpy(e + sizeof hdr, lens, sizeof lens);
		h->evts[i] = (ss_plugin_event *)e;
	}
	*rc = SS_PLUGIN_SUCCESS;
	return h;
oom:
	if (h) {
		free(h->buf);
		free(h->evts);
		free(h);
	}
	snprintf(s->lasterr, sizeof s->lasterr, "out of memory");
	return NULL;
}

void plugin_close(ss_plugin_t *st, ss_instance_t *ih)
{
	bench_instance *h = ih;
	(void)st;
	if (!h)
		return;
	free(h->buf);
	free(h->evts);
	free(h);
}

ss_plugin_rc plugin_next_batch(ss_plugin_t *st, ss_instance_t *ih, uint32_t *nevts, ss_plugin_event ***evts)
{
	bench_instance *h = ih;
	(void)st;
	uint64_t left = h->n - (h->next - 1);
	uint32_t k = left < h->batch ? (uint32_t)left : h->batch;
	for (uint32_t i = 0; i < k; i++) {
		uint8_t *e = h->buf + (size_t)i * EVT_LEN;
		ss_plugin_event *hdr = (ss_plugin_event *)e;
		hdr->ts = UINT64_MAX; /* the host wrote "now" here last time */
		hdr->tid = UINT64_MAX;
		uint64_t v = h->next++;
		memcpy(e + FPA_PLUGIN_EVENT_PAYLOAD_OFFSET, &v, sizeof v);
	}
	*nevts = k;
	*evts = h->evts;
	return h->next > h->n ? SS_PLUGIN_EOF : SS_PLUGIN_SUCCESS;
}

static int grow(bench_state *s, uint32_t n)
{
	if (n <= s->cap)
		return 0;
	uint64_t *u = realloc(s->u64, n * sizeof *u);
	if (!u)
		return -1;
	s->u64 = u;
	const char **str = realloc(s->str, n * sizeof *str);
	if (!str)
		return -1;
	s->str = str;
	char(*d)[24] = realloc(s->digits, n * sizeof *d);
	if (!d)
		return -1;
	s->digits = d;
	s->cap = n;
	return 0;
}

static const char *u64_to_dec(uint64_t v, char buf[24])
{
	char *p = buf + 23;
	*p = '\0';
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return p;
}

ss_plugin_rc plugin_extract_fields(ss_plugin_t *st, const ss_plugin_event_input *evt,
				   const ss_plugin_field_extract_input *in)
{
	bench_state *s = st;
	const ss_plugin_event *e = evt->evt;
	if (grow(s, in->num_fields)) {
		snprintf(s->lasterr, sizeof s->lasterr, "out of memory");
		return SS_PLUGIN_FAILURE;
	}
	uint64_t v = 0;
	int ok = e->type == FPA_EVT_PLUGINEVENT && e->len >= EVT_LEN;
	if (ok)
		memcpy(&v, (const uint8_t *)e + FPA_PLUGIN_EVENT_PAYLOAD_OFFSET, sizeof v);
	for (uint32_t i = 0; i < in->num_fields; i++) {
		ss_plugin_extract_field *f = &in->fields[i];
		f->res_len = 0;
		if (!ok)
			continue;
		switch (f->field_id) {
		case F_VALUE:
			s->u64[i] = v;
			f->res.u64 = &s->u64[i];
			f->res_len = 1;
			break;
		case F_STR:
			s->str[i] = u64_to_dec(v, s->digits[i]);
			f->res.str = &s->str[i];
			f->res_len = 1;
			break;
		case F_DIV:
			if (!f->arg_present || f->arg_index == 0 || f->arg_index == UINT64_MAX)
				break;
			s->u64[i] = v % f->arg_index == 0;
			f->res.u64 = &s->u64[i];
			f->res_len = 1;
			break;
		default:
			break;
		}
	}
	return SS_PLUGIN_SUCCESS;
}
