/*
 * The body of the async test plugins (async_src.c: async + extraction; async_both.c: also a
 * source, id 996, source "asrc"). Every handler FAILURE is logged as "emit failed: <err>",
 * every set_async_event_handler call as "set handler=<set|null> tid=<thread id>".
 *
 * Init config {"mode": M, "count": K} picks what happens when the handler is set:
 *   none        nothing (the default)
 *   sync        K events "tick" (data "tick <i>", i from 1) emitted inside the set call
 *   thread      a thread emits K events "tick", then ends; the reset joins it
 *   forever     a thread emits "tick" every millisecond until the reset stops and joins it;
 *               the reset call first emits "tock" "flush" itself (the handler is still set)
 *   order       inside the set call: ts 300, 100, UINT64_MAX, 200 and now+1h (data "o1".."o5")
 *   undeclared  one event named "nope"
 *   malformed   five malformed events (type 322, nparams 2, len 40, lengths that do not add
 *               up, a name without its NUL)
 *   tid         one event "tick" with tid 42
 *   late        nothing at set; destroy emits one event (the handler is reset by then)
 *   setfail     the set call fails ("refusing the handler")
 *   resetfail   the reset call fails ("refusing the reset")
 *   nullowner   one event sent with a NULL owner
 * Threads log "joined emitter: <accepted> accepted, <failed> failed" after the join.
 * Async events: ["tick", "tock"]. Field async.data (string): the data param of a 402 event.
 */
#include <pthread.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define EVT_CAP 256

typedef struct {
	char lasterr[512];
	ss_plugin_owner_t *owner;
	ss_plugin_log_fn_t log_fn;
	char mode[32];
	uint64_t count;
	/* handler as given by the host; the emitter thread reads it after pthread_create */
	ss_plugin_owner_t *h_owner;
	ss_plugin_async_event_handler_t handler;
	pthread_t thread;
	int running, stop;
	uint64_t accepted, failed;
	/* extraction */
	char strbuf[128];
	const char *str;
} async_state;

#define logf_(s, sev, ...) host_logf(((async_state *)(s))->log_fn, ((async_state *)(s))->owner, (sev), __VA_ARGS__)

/* Builds a 402 event into buf: name, data, ts, tid. Returns its length. */
static uint32_t make_async(uint8_t *buf, const char *name, const char *data, uint64_t ts, uint64_t tid)
{
	uint32_t nl = (uint32_t)strlen(name) + 1, dl = (uint32_t)strlen(data);
	uint32_t len = 26 + 12 + 4 + nl + dl;
	ss_plugin_event hdr = {ts, tid, len, FPA_EVT_ASYNCEVENT, 3};
	uint32_t lens[3] = {4, nl, dl}, zero = 0;
	memcpy(buf, &hdr, 26);
	memcpy(buf + 26, lens, 12);
	memcpy(buf + 38, &zero, 4);
	memcpy(buf + 42, name, nl);
	memcpy(buf + 42 + nl, data, dl);
	return len;
}

static int emit_raw(async_state *s, ss_plugin_owner_t *owner, const uint8_t *buf)
{
	char err[FPA_MAX_ERRLEN];
	err[0] = '\0';
	ss_plugin_rc rc = s->handler(owner, (const ss_plugin_event *)buf, err);
	if (rc != SS_PLUGIN_SUCCESS) {
		logf_(s, SS_PLUGIN_LOG_SEV_ERROR, "emit failed: %s", err);
		__atomic_add_fetch(&s->failed, 1, __ATOMIC_RELAXED);
		return -1;
	}
	__atomic_add_fetch(&s->accepted, 1, __ATOMIC_RELAXED);
	return 0;
}

static int emit(async_state *s, const char *name, const char *data, uint64_t ts, uint64_t tid)
{
	uint8_t buf[EVT_CAP];
	make_async(buf, name, data, ts, tid);
	return emit_raw(s, s->h_owner, buf);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *emitter(void *arg)
{
	async_state *s = arg;
	int forever = strcmp(s->mode, "forever") == 0;
	char data[32];
	for (uint64_t i = 1; forever || i <= s->count; i++) {
		if (__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE))
			break;
		snprintf(data, sizeof data, "tick %llu", (unsigned long long)i);
		emit(s, "tick", data, UINT64_MAX, UINT64_MAX);
		if (forever) {
			struct timespec ts = {0, 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

static void emit_malformed(async_state *s)
{
	uint8_t buf[EVT_CAP];
	uint32_t len = make_async(buf, "tick", "x", UINT64_MAX, UINT64_MAX), v;
	uint16_t t = FPA_EVT_PLUGINEVENT;
	memcpy(buf + 24, &t, 2); /* type 322 */
	emit_raw(s, s->h_owner, buf);
	make_async(buf, "tick", "x", UINT64_MAX, UINT64_MAX);
	t = 2;
	memcpy(buf + 24 + 2, &t, 2); /* nparams 2 */
	emit_raw(s, s->h_owner, buf);
	make_async(buf, "tick", "x", UINT64_MAX, UINT64_MAX);
	v = 40;
	memcpy(buf + 16, &v, 4); /* len 40 */
	emit_raw(s, s->h_owner, buf);
	make_async(buf, "tick", "x", UINT64_MAX, UINT64_MAX);
	v = 7;
	memcpy(buf + 34, &v, 4); /* data length 7, len says 1 */
	emit_raw(s, s->h_owner, buf);
	make_async(buf, "tick", "x", UINT64_MAX, UINT64_MAX);
	v = 42 + 3;
	memcpy(buf + 16, &v, 4); /* len ends inside the name: no NUL */
	emit_raw(s, s->h_owner, buf);
	(void)len;
}

ss_plugin_rc plugin_set_async_event_handler(ss_plugin_t *st, ss_plugin_owner_t *owner,
					    const ss_plugin_async_event_handler_t handler)
{
	async_state *s = st;
	const char *m = s->mode;
	logf_(s, SS_PLUGIN_LOG_SEV_INFO, "set handler=%s tid=%ld", handler ? "set" : "null",
	      (long)syscall(SYS_gettid));
	if (!handler) {
		if (!strcmp(m, "resetfail")) {
			snprintf(s->lasterr, sizeof s->lasterr, "refusing the reset");
			return SS_PLUGIN_FAILURE;
		}
		if (!strcmp(m, "forever") && s->handler)
			emit(s, "tock", "flush", UINT64_MAX, UINT64_MAX);
		if (s->running) {
			__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
			pthread_join(s->thread, NULL);
			s->running = 0;
			logf_(s, SS_PLUGIN_LOG_SEV_INFO, "joined emitter: %llu accepted, %llu failed",
			      (unsigned long long)s->accepted, (unsigned long long)s->failed);
		}
		if (strcmp(m, "late") != 0) /* late keeps the old handler to misuse it in destroy */
			s->handler = NULL;
		return SS_PLUGIN_SUCCESS;
	}
	if (!strcmp(m, "setfail")) {
		snprintf(s->lasterr, sizeof s->lasterr, "refusing the handler");
		return SS_PLUGIN_FAILURE;
	}
	s->h_owner = owner;
	s->handler = handler;
	s->stop = 0;
	if (!strcmp(m, "thread") || !strcmp(m, "forever")) {
		if (pthread_create(&s->thread, NULL, emitter, s) != 0) {
			snprintf(s->lasterr, sizeof s->lasterr, "cannot start the emitter thread");
			return SS_PLUGIN_FAILURE;
		}
		s->running = 1;
	} else if (!strcmp(m, "sync")) {
		emitter(s);
	} else if (!strcmp(m, "order")) {
		static const uint64_t ts[4] = {300, 100, UINT64_MAX, 200};
		char data[8];
		for (int i = 0; i < 4; i++) {
			snprintf(data, sizeof data, "o%d", i + 1);
			emit(s, i % 2 ? "tock" : "tick", data, ts[i], UINT64_MAX);
		}
		emit(s, "tick", "o5", now_ns() + 3600ull * 1000000000ull, UINT64_MAX);
	} else if (!strcmp(m, "undeclared")) {
		emit(s, "nope", "x", UINT64_MAX, UINT64_MAX);
	} else if (!strcmp(m, "malformed")) {
		emit_malformed(s);
	} else if (!strcmp(m, "tid")) {
		emit(s, "tick", "with tid", UINT64_MAX, 42);
	} else if (!strcmp(m, "nullowner")) {
		uint8_t buf[EVT_CAP];
		make_async(buf, "tick", "x", UINT64_MAX, UINT64_MAX);
		emit_raw(s, NULL, buf);
	}
	return SS_PLUGIN_SUCCESS;
}

const char *plugin_get_async_events(void) { return "[\"tick\", \"tock\"]"; }

/* "key": "value" or "key": number, from a flat JSON object (enough for the tests). */
static const char *config_value(const char *cfg, const char *key, char *out, size_t outlen)
{
	char pat[40];
	snprintf(pat, sizeof pat, "\"%s\"", key);
	const char *p = cfg ? strstr(cfg, pat) : NULL;
	if (!p || !(p = strchr(p + strlen(pat), ':')))
		return NULL;
	p++;
	while (*p == ' ')
		p++;
	size_t n = 0;
	if (*p == '"')
		for (p++; p[n] && p[n] != '"'; n++)
			;
	else
		for (; p[n] && p[n] != ',' && p[n] != '}' && p[n] != ' '; n++)
			;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, p, n);
	out[n] = '\0';
	return out;
}

ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
	async_state *s = calloc(1, sizeof *s);
	char v[32];
	s->owner = in->owner;
	s->log_fn = in->log_fn;
	snprintf(s->mode, sizeof s->mode, "%s", config_value(in->config, "mode", v, sizeof v) ? v : "none");
	s->count = config_value(in->config, "count", v, sizeof v) ? strtoull(v, NULL, 10) : 3;
	logf_(s, SS_PLUGIN_LOG_SEV_INFO, "init mode=%s tid=%ld", s->mode, (long)syscall(SYS_gettid));
	*rc = SS_PLUGIN_SUCCESS;
	return s;
}

void plugin_destroy(ss_plugin_t *st)
{
	async_state *s = st;
	if (!strcmp(s->mode, "late") && s->handler)
		emit(s, "tick", "late", UINT64_MAX, UINT64_MAX);
	if (s->running) { /* never reset: stop the thread anyway */
		__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
		pthread_join(s->thread, NULL);
	}
	logf_(s, SS_PLUGIN_LOG_SEV_DEBUG, "destroy");
	free(s);
}

const char *plugin_get_last_error(ss_plugin_t *s) { return ((async_state *)s)->lasterr; }

const char *plugin_get_fields(void)
{
	return "[{\"type\":\"string\",\"name\":\"async.data\",\"desc\":\"data of an async event\"}]";
}

uint16_t *plugin_get_extract_event_types(uint32_t *numtypes, ss_plugin_t *s)
{
	static uint16_t types[] = {FPA_EVT_ASYNCEVENT};
	(void)s;
	*numtypes = 1;
	return types;
}

ss_plugin_rc plugin_extract_fields(ss_plugin_t *st, const ss_plugin_event_input *evt,
				   const ss_plugin_field_extract_input *in)
{
	async_state *s = st;
	const uint8_t *e = (const uint8_t *)evt->evt;
	uint32_t lens[3];
	memcpy(lens, e + 26, 12);
	for (uint32_t i = 0; i < in->num_fields; i++) {
		snprintf(s->strbuf, sizeof s->strbuf, "%.*s", (int)lens[2], (const char *)e + 42 + lens[1]);
		s->str = s->strbuf;
		in->fields[i].res.str = &s->str;
		in->fields[i].res_len = 1;
	}
	return SS_PLUGIN_SUCCESS;
}
