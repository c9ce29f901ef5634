/*
 * async_c: the plain-C reference async plugin for `falco-plugin-host bench-async`, written
 * the way a careful C plugin would be: one reusable event buffer per thread, no allocation
 * or locking on the emit path, producer threads stopped and joined on reset.
 *
 * init config: {"events": N, "threads": K} (defaults 100000 and 1). When the handler is set,
 * K threads start and together emit N async events named "bench_async" (the first N % K
 * threads emit one more), each with an 8-byte payload: the thread's counter from 1
 * (little-endian uint64). ts and tid are UINT64_MAX. Async sources: [] (all).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_abi.h"

#define EVENT_NAME "bench_async"
#define NAME_LEN (sizeof EVENT_NAME)                /* with the NUL */
#define PAYLOAD_LEN 8
#define EVT_LEN (26 + 12 + 4 + NAME_LEN + PAYLOAD_LEN) /* header, 3 lengths, plugin id, name, data */
#define MAX_THREADS 1024

typedef struct async_c_state async_c_state;

typedef struct {
	async_c_state *s;
	uint64_t n; /* events this thread emits */
	pthread_t thread;
} producer;

struct async_c_state {
	char lasterr[FPA_MAX_ERRLEN];
	uint64_t events;
	uint32_t threads;
	/* set while producers run; read by them after pthread_create (which orders it) */
	ss_plugin_owner_t *owner;
	ss_plugin_async_event_handler_t handler;
	producer *producers;
	uint32_t nstarted;
	int stop; /* atomic */
	pthread_mutex_t err_lock;
	char thread_err[FPA_MAX_ERRLEN]; /* the first emit failure of any thread */
};

const char *plugin_get_required_api_version(void) { return "3.3.0"; }
const char *plugin_get_version(void) { return "0.1.0"; }
const char *plugin_get_name(void) { return "async_c"; }
const char *plugin_get_description(void) { return "Plain-C reference async plugin for benchmarks"; }
const char *plugin_get_contact(void) { return "github.com/falco-plugin"; }
const char *plugin_get_async_events(void) { return "[\"" EVENT_NAME "\"]"; }
const char *plugin_get_async_event_sources(void) { return "[]"; }

const char *plugin_get_last_error(ss_plugin_t *s)
{
	return ((async_c_state *)s)->lasterr;
}

/* The unsigned integer after "key": in a flat JSON object; 0 when absent, -1 when bad. */
static int config_uint(const char *cfg, const char *key, uint64_t *out)
{
	char pat[32];
	snprintf(pat, sizeof pat, "\"%s\"", key);
	const char *p = cfg ? strstr(cfg, pat) : NULL;
	if (!p)
		return 0;
	p += strlen(pat);
	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	if (*p++ != ':')
		return -1;
	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	if (*p < '0' || *p > '9')
		return -1;
	char *end;
	unsigned long long v = strtoull(p, &end, 10);
	while (*end == ' ' || *end == '\t' || *end == '\n')
		end++;
	if (*end != ',' && *end != '}')
		return -1;
	*out = v;
	return 0;
}

ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
	async_c_state *s = calloc(1, sizeof *s);
	if (!s) {
		*rc = SS_PLUGIN_FAILURE;
		return NULL;
	}
	pthread_mutex_init(&s->err_lock, NULL);
	uint64_t events = 100000, threads = 1;
	if (config_uint(in->config, "events", &events) || config_uint(in->config, "threads", &threads)) {
		snprintf(s->lasterr, sizeof s->lasterr, "invalid config %s: expected {\"events\": N, \"threads\": K}",
			 in->config);
		*rc = SS_PLUGIN_FAILURE;
		return s;
	}
	if (threads < 1 || threads > MAX_THREADS) {
		snprintf(s->lasterr, sizeof s->lasterr, "threads must be between 1 and %d", MAX_THREADS);
		*rc = SS_PLUGIN_FAILURE;
		return s;
	}
	s->events = events;
	s->threads = (uint32_t)threads;
	*rc = SS_PLUGIN_SUCCESS;
	return s;
}

static void *produce(void *arg)
{
	producer *pr = arg;
	async_c_state *s = pr->s;
	uint8_t buf[EVT_LEN]; /* thread-local: the host copies the event before returning */
	char err[FPA_MAX_ERRLEN];
	ss_plugin_event hdr = {UINT64_MAX, UINT64_MAX, (uint32_t)EVT_LEN, FPA_EVT_ASYNCEVENT, 3};
	uint32_t lens[3] = {4, (uint32_t)NAME_LEN, PAYLOAD_LEN}, plugin_id = 0;
	memcpy(buf, &hdr, 26);
	memcpy(buf + 26, lens, sizeof lens);
	memcpy(buf + 38, &plugin_id, 4);
	memcpy(buf + 42, EVENT_NAME, NAME_LEN);
	uint8_t *payload = buf + 42 + NAME_LEN;
	for (uint64_t i = 1; i <= pr->n; i++) {
		if (__atomic_load_n(&s->stop, __ATOMIC_RELAXED))
			break;
		memcpy(payload, &i, PAYLOAD_LEN);
		err[0] = '\0';
		if (s->handler(s->owner, (const ss_plugin_event *)buf, err) != SS_PLUGIN_SUCCESS) {
			pthread_mutex_lock(&s->err_lock);
			if (!s->thread_err[0])
				snprintf(s->thread_err, sizeof s->thread_err, "%s", err[0] ? err : "async handler failed");
			pthread_mutex_unlock(&s->err_lock);
			break;
		}
	}
	return NULL;
}

static void stop_producers(async_c_state *s)
{
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELAXED);
	for (uint32_t i = 0; i < s->nstarted; i++)
		pthread_join(s->producers[i].thread, NULL);
	free(s->producers);
	s->producers = NULL;
	s->nstarted = 0;
	s->handler = NULL;
	s->owner = NULL;
}

ss_plugin_rc plugin_set_async_event_handler(ss_plugin_t *st, ss_plugin_owner_t *owner,
					    const ss_plugin_async_event_handler_t handler)
{
	async_c_state *s = st;
	if (!handler) {
		/* reset: stop and wait for every producer before returning (what libsinsp's
		 * sinsp_plugin::set_async_event_handler expects of a NULL handler) */
		stop_producers(s);
		if (s->thread_err[0]) {
			snprintf(s->lasterr, sizeof s->lasterr, "an emitter failed: %.960s", s->thread_err);
			s->thread_err[0] = '\0';
		}
		return SS_PLUGIN_SUCCESS;
	}
	if (s->producers) {
		snprintf(s->lasterr, sizeof s->lasterr, "the async event handler is already set");
		return SS_PLUGIN_FAILURE;
	}
	s->producers = calloc(s->threads, sizeof *s->producers);
	if (!s->producers) {
		snprintf(s->lasterr, sizeof s->lasterr, "out of memory");
		return SS_PLUGIN_FAILURE;
	}
	s->owner = owner;
	s->handler = handler;
	__atomic_store_n(&s->stop, 0, __ATOMIC_RELAXED);
	for (uint32_t i = 0; i < s->threads; i++) {
		producer *pr = &s->producers[i];
		pr->s = s;
		pr->n = s->events / s->threads + (i < s->events % s->threads ? 1 : 0);
		if (pthread_create(&pr->thread, NULL, produce, pr) != 0) {
			snprintf(s->lasterr, sizeof s->lasterr, "cannot start producer thread %u", i);
			stop_producers(s);
			return SS_PLUGIN_FAILURE;
		}
		s->nstarted++;
	}
	return SS_PLUGIN_SUCCESS;
}

void plugin_destroy(ss_plugin_t *st)
{
	async_c_state *s = st;
	if (s->producers) /* the host should have reset the handler; be safe anyway */
		stop_producers(s);
	pthread_mutex_destroy(&s->err_lock);
	free(s);
}
