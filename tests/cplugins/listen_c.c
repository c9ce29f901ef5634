/*
 * listen_c: capture listening + parsing (for the tables input) + metrics.
 * The init config is a list of words:
 *   routines=N     capture_open subscribes N routines (default 1); each run sleeps sleep_us
 *   sleep_us=U     (default 1000) and returns true, or false after stop_after=K runs of it
 *   unsub=MODE     capture_close: "close" unsubscribes every routine (default), "none" does
 *                  not, "twice" unsubscribes each twice (the second is logged); "self": each
 *                  routine unsubscribes itself at its 3rd run (and returns true)
 *   fail_open / fail_close   capture_open / capture_close fail ("refusing to open/close")
 *   wait_run       capture_close first waits (up to 5 s) for at least one routine run
 *   tables         capture_open logs the size of "threads" (read through its _ext reader);
 *                  the first routine run tries the same from the pool thread (must fail)
 *   metrics=MODE   "ok" (default): runs (u64, monotonic), parsed (u64), ratio (d, 0.5),
 *                  level (s32, -3), small (u32, 7), f (f, 1.5), i (i, -9), big (s64,
 *                  -1234567890123), calls (u64: get_metrics calls so far); "nullname",
 *                  "badtype", "badvt", "nullarr" break one rule
 * Logs: "capture_open ...", "capture_close ...", "unsubscribe ...", and at destroy
 * "destroy runs=R after_close=A subscribed=S" (A: runs that started after capture_close
 * returned).
 */
#include <pthread.h>
#include <time.h>

#include "common.h"

#define MAXR 8

struct lstate;
typedef struct {
	struct lstate *s;
	int id;
	uint64_t runs;
	ss_plugin_routine_t *handle;
} lroutine;

typedef struct lstate {
	char lasterr[512];
	ss_plugin_owner_t *owner;
	ss_plugin_log_fn_t log_fn;
	ss_plugin_get_owner_last_error_fn oerr;
	char config[256];
	int nroutines, stop_after, sleep_us;
	char unsub[16], metrics_mode[16];
	lroutine r[MAXR];
	ss_plugin_routine_vtable rvt; /* copied from capture_open (the struct is a stack object) */
	ss_plugin_table_t *threads;
	const ss_plugin_table_reader_vtable_ext *stashed_rd;
	int tried_in_routine;
	uint64_t runs, after_close, parsed, metric_calls;
	int closed;
	ss_plugin_metric m[9];
} lstate;

#define LOG(s, ...) host_logf((s)->log_fn, (s)->owner, SS_PLUGIN_LOG_SEV_INFO, __VA_ARGS__)

DEFINE_META("listen_c", "0.1.0", "3.12.0")
DEFINE_CONTACT
const char *plugin_get_last_error(ss_plugin_t *s) { return ((lstate *)s)->lasterr; }

static int word_int(const char *cfg, const char *key, int dflt)
{
	const char *p = strstr(cfg, key);
	return p ? atoi(p + strlen(key)) : dflt;
}

static void word_str(const char *cfg, const char *key, char *out, size_t n, const char *dflt)
{
	const char *p = strstr(cfg, key);
	if (!p) {
		snprintf(out, n, "%s", dflt);
		return;
	}
	p += strlen(key);
	size_t k = 0;
	while (p[k] && p[k] != ' ' && k + 1 < n)
		k++;
	memcpy(out, p, k);
	out[k] = '\0';
}

ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
	lstate *s = calloc(1, sizeof *s);
	s->owner = in->owner;
	s->log_fn = in->log_fn;
	s->oerr = in->get_owner_last_error;
	snprintf(s->config, sizeof s->config, "%s", in->config ? in->config : "");
	s->nroutines = word_int(s->config, "routines=", 1);
	if (s->nroutines > MAXR)
		s->nroutines = MAXR;
	s->sleep_us = word_int(s->config, "sleep_us=", 1000);
	s->stop_after = word_int(s->config, "stop_after=", 0);
	word_str(s->config, "unsub=", s->unsub, sizeof s->unsub, "close");
	word_str(s->config, "metrics=", s->metrics_mode, sizeof s->metrics_mode, "ok");
	if (in->tables)
		s->threads = in->tables->get_table(s->owner, "threads", SS_PLUGIN_ST_INT64);
	*rc = SS_PLUGIN_SUCCESS;
	return s;
}

void plugin_destroy(ss_plugin_t *st)
{
	lstate *s = st;
	uint64_t subscribed = 0;
	for (int i = 0; i < s->nroutines; i++)
		subscribed += s->r[i].handle != NULL;
	LOG(s, "destroy runs=%llu after_close=%llu subscribed=%llu", (unsigned long long)__atomic_load_n(&s->runs, __ATOMIC_SEQ_CST),
	    (unsigned long long)__atomic_load_n(&s->after_close, __ATOMIC_SEQ_CST), (unsigned long long)subscribed);
	free(s);
}

ss_plugin_rc plugin_parse_event(ss_plugin_t *st, const ss_plugin_event_input *ev, const ss_plugin_event_parse_input *in)
{
	(void)ev;
	(void)in;
	__atomic_add_fetch(&((lstate *)st)->parsed, 1, __ATOMIC_SEQ_CST);
	return SS_PLUGIN_SUCCESS;
}

static ss_plugin_bool routine(ss_plugin_t *st, ss_plugin_routine_state_t *rs)
{
	lstate *s = st;
	lroutine *r = rs;
	if (__atomic_load_n(&s->closed, __ATOMIC_SEQ_CST))
		__atomic_add_fetch(&s->after_close, 1, __ATOMIC_SEQ_CST);
	uint64_t n = __atomic_add_fetch(&r->runs, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&s->runs, 1, __ATOMIC_SEQ_CST);
	if (s->stashed_rd && r->id == 0 && !s->tried_in_routine) {
		s->tried_in_routine = 1;
		uint64_t size = s->stashed_rd->get_table_size(s->threads);
		const char *e = s->oerr(s->owner);
		LOG(s, "routine get_table_size=%lld: %s", (long long)size, e ? e : "NO ERROR");
	}
	if (!strcmp(s->unsub, "self") && n == 3) {
		ss_plugin_rc rc = s->rvt.unsubscribe(s->owner, r->handle);
		LOG(s, "unsubscribe self routine %d: %s", r->id, rc == SS_PLUGIN_SUCCESS ? "ok" : "failed");
	}
	if (s->sleep_us > 0) {
		struct timespec ts = {s->sleep_us / 1000000, (long)(s->sleep_us % 1000000) * 1000};
		nanosleep(&ts, NULL);
	}
	if (s->stop_after && n >= (uint64_t)s->stop_after)
		return 0;
	return 1;
}

ss_plugin_rc plugin_capture_open(ss_plugin_t *st, const ss_plugin_capture_listen_input *in)
{
	lstate *s = st;
	if (strstr(s->config, "fail_open")) {
		snprintf(s->lasterr, sizeof s->lasterr, "refusing to open");
		return SS_PLUGIN_FAILURE;
	}
	s->rvt = *in->routine;
	if (strstr(s->config, "tables") && s->threads) {
		LOG(s, "capture_open threads=%llu", (unsigned long long)in->table_reader_ext->get_table_size(s->threads));
		s->stashed_rd = in->table_reader_ext;
	}
	for (int i = 0; i < s->nroutines; i++) {
		s->r[i].s = s;
		s->r[i].id = i;
		/* the handle is written before the routine can use it (unsub=self) */
		__atomic_store_n(&s->r[i].handle, NULL, __ATOMIC_SEQ_CST);
	}
	for (int i = 0; i < s->nroutines; i++) {
		ss_plugin_routine_t *h = s->rvt.subscribe(s->owner, routine, &s->r[i]);
		__atomic_store_n(&s->r[i].handle, h, __ATOMIC_SEQ_CST);
		if (!h) {
			const char *e = in->get_owner_last_error(s->owner);
			snprintf(s->lasterr, sizeof s->lasterr, "subscribe failed: %s", e ? e : "?");
			return SS_PLUGIN_FAILURE;
		}
	}
	LOG(s, "capture_open subscribed=%d", s->nroutines);
	return SS_PLUGIN_SUCCESS;
}

ss_plugin_rc plugin_capture_close(ss_plugin_t *st, const ss_plugin_capture_listen_input *in)
{
	lstate *s = st;
	for (int i = 0; strstr(s->config, "wait_run") && i < 5000 && !__atomic_load_n(&s->runs, __ATOMIC_SEQ_CST); i++) {
		struct timespec ts = {0, 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	LOG(s, "capture_close runs=%llu", (unsigned long long)__atomic_load_n(&s->runs, __ATOMIC_SEQ_CST));
	if (!strcmp(s->unsub, "close") || !strcmp(s->unsub, "twice")) {
		for (int i = 0; i < s->nroutines; i++) {
			ss_plugin_rc rc = in->routine->unsubscribe(s->owner, s->r[i].handle);
			LOG(s, "unsubscribe %d: %s", i, rc == SS_PLUGIN_SUCCESS ? "ok" : "failed");
			if (!strcmp(s->unsub, "twice")) {
				rc = in->routine->unsubscribe(s->owner, s->r[i].handle);
				const char *e = in->get_owner_last_error(s->owner);
				LOG(s, "unsubscribe again %d: %s %s", i, rc == SS_PLUGIN_SUCCESS ? "ok" : "failed", e ? e : "");
			}
		}
	}
	__atomic_store_n(&s->closed, 1, __ATOMIC_SEQ_CST);
	if (strstr(s->config, "fail_close")) {
		snprintf(s->lasterr, sizeof s->lasterr, "refusing to close");
		return SS_PLUGIN_FAILURE;
	}
	return SS_PLUGIN_SUCCESS;
}

static void metric(ss_plugin_metric *m, const char *name, ss_plugin_metric_type type, ss_plugin_metric_value_type vt)
{
	m->name = name;
	m->type = type;
	m->value_type = vt;
}

ss_plugin_metric *plugin_get_metrics(ss_plugin_t *st, uint32_t *n)
{
	lstate *s = st;
	uint64_t calls = __atomic_add_fetch(&s->metric_calls, 1, __ATOMIC_SEQ_CST);
	ss_plugin_metric *m = s->m;
	metric(&m[0], "runs", SS_PLUGIN_METRIC_TYPE_MONOTONIC, SS_PLUGIN_METRIC_VALUE_TYPE_U64);
	m[0].value.u64 = __atomic_load_n(&s->runs, __ATOMIC_SEQ_CST);
	metric(&m[1], "parsed", SS_PLUGIN_METRIC_TYPE_MONOTONIC, SS_PLUGIN_METRIC_VALUE_TYPE_U64);
	m[1].value.u64 = __atomic_load_n(&s->parsed, __ATOMIC_SEQ_CST);
	metric(&m[2], "ratio", SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC, SS_PLUGIN_METRIC_VALUE_TYPE_D);
	m[2].value.d = 0.5;
	metric(&m[3], "level", SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC, SS_PLUGIN_METRIC_VALUE_TYPE_S32);
	m[3].value.s32 = -3;
	metric(&m[4], "small", SS_PLUGIN_METRIC_TYPE_MONOTONIC, SS_PLUGIN_METRIC_VALUE_TYPE_U32);
	m[4].value.u32 = 7;
	metric(&m[5], "f", SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC, SS_PLUGIN_METRIC_VALUE_TYPE_F);
	m[5].value.f = 1.5f;
	metric(&m[6], "i", SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC, SS_PLUGIN_METRIC_VALUE_TYPE_I);
	m[6].value.i = -9;
	metric(&m[7], "big", SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC, SS_PLUGIN_METRIC_VALUE_TYPE_S64);
	m[7].value.s64 = -1234567890123LL;
	metric(&m[8], "calls", SS_PLUGIN_METRIC_TYPE_MONOTONIC, SS_PLUGIN_METRIC_VALUE_TYPE_U64);
	m[8].value.u64 = calls;
	*n = 9;
	if (!strcmp(s->metrics_mode, "nullname"))
		m[2].name = NULL;
	else if (!strcmp(s->metrics_mode, "badtype"))
		m[3].type = (ss_plugin_metric_type)7;
	else if (!strcmp(s->metrics_mode, "badvt"))
		m[4].value_type = (ss_plugin_metric_value_type)42;
	else if (!strcmp(s->metrics_mode, "nullarr"))
		return NULL;
	return m;
}
